"""Unusual access: each rule over audit entries, each able to fail, then the asset end to end:
entries in a register, alerts raised once and mailed to the privacy officer (local SMTP)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from oversight.unusual import Limits, entries_frame, find_unusual_access
from pipelines.environment import configure_rooms

MONDAY_NOON = datetime(2026, 11, 23, 12, 0)  # UTC; London is on GMT in November
LIMITS = Limits(hourly_children=10, usual_factor=3, usual_floor=12, outside_caseload_per_day=3, viewers_per_child=3,
                bulk_export_children=50, dormant_days=60)


def frame(*entries):
    """entries: (minutes after Monday noon, actor, action, children, reason)"""
    return entries_frame([(i + 1, MONDAY_NOON + timedelta(minutes=m), actor, action, " ".join(kids) or None, reason,
                           None) for i, (m, actor, action, kids, reason) in enumerate(entries)])


def rules(window, history=None, **kwargs):
    found = find_unusual_access(window, history if history is not None else frame(), limits=LIMITS,
                                **{"shielded": set(), "surnames_of_users": {}, "surnames_of_children": {},
                                   "last_seen": {}, **kwargs})
    return {(f.rule, f.actor) for f in found}, found


def views(actor, n, start=0, step=1, action="view_child", reason=None, prefix="RC"):
    return [(start + i * step, actor, action, [f"{prefix}{i:010d}"], reason) for i in range(n)]


def test_a_quiet_working_day_raises_nothing():
    found, _ = rules(frame(*views("ann", 5, step=20)))
    assert found == set()


def test_more_children_in_an_hour_than_the_limit():
    found, _ = rules(frame(*views("ann", 11, step=3)))
    assert ("hourly_limit", "ann") in found
    found, _ = rules(frame(*views("ann", 10, step=3)))
    assert ("hourly_limit", "ann") not in found


def test_far_more_children_than_the_user_usually_sees():
    usual = frame(*[(-24 * 60 * d + i, "ann", "view_child", [f"RC{d:03d}{i:07d}"], None)
                    for d in range(1, 8) for i in range(5)])
    today = frame(*views("ann", 16, step=30))  # 16 > max(12, 3 x 5) = 15
    found, _ = rules(today, usual)
    assert ("too_many_children", "ann") in found
    busy_history = frame(*[(-24 * 60 * d + i, "ann", "view_child", [f"RC{d:03d}{i:07d}"], None)
                           for d in range(1, 8) for i in range(6)])
    assert ("too_many_children", "ann") not in rules(today, busy_history)[0], "18 is this user's usual threefold"


def test_looks_out_of_hours_and_at_weekends():
    assert ("out_of_hours", "ann") in rules(frame((9 * 60, "ann", "view_child", ["RC0000000001"], None)))[0]  # 21:00
    saturday = frame((5 * 24 * 60, "ann", "view_child", ["RC0000000001"], None))
    assert ("out_of_hours", "ann") in rules(saturday)[0]
    assert ("out_of_hours", "ann") not in rules(frame((60, "ann", "view_child", ["RC0000000001"], None)))[0]


def test_many_children_opened_outside_the_caseload():
    assert ("outside_caseload", "ann") in rules(frame(*views("ann", 3, step=30, reason="checking")))[0]
    assert ("outside_caseload", "ann") not in rules(frame(*views("ann", 2, step=30, reason="checking")))[0]


def test_looks_at_shielded_children():
    found, all_found = rules(frame(*views("ann", 3, step=30)), shielded={"RC0000000001"})
    assert ("shielded_access", "ann") in found
    assert next(f for f in all_found if f.rule == "shielded_access").children == ("RC0000000001",)


def test_a_child_who_shares_the_users_surname():
    found, _ = rules(frame(*views("ann", 3, step=30)), surnames_of_users={"ann": "OKAFOR"},
                     surnames_of_children={"RC0000000002": {"OKAFOR"}, "RC0000000001": {"SMITH"}})
    assert ("same_surname", "ann") in found
    assert ("same_surname", "ann") not in rules(frame(*views("ann", 3, step=30)), surnames_of_users={"ann": "OKAFOR"},
                                                surnames_of_children={"RC0000000002": {"OKAFORD"}})[0]


def test_many_users_looking_at_one_child():
    one = ["RC0000000009"]
    found, _ = rules(frame(*[(i * 10, user, "view_child", one, None) for i, user in enumerate(("ann", "bo", "cy"))]))
    assert ("many_viewers", "(several users)") in found
    found, _ = rules(frame(*[(i * 10, user, "view_child", one, None) for i, user in enumerate(("ann", "bo"))]))
    assert ("many_viewers", "(several users)") not in found


def test_bulk_exports():
    big = frame((10, "cli:ops", "export_cme", [f"RC{i:010d}" for i in range(50)], None))
    assert ("bulk_export", "cli:ops") in rules(big)[0]
    small = frame((10, "cli:ops", "export_cme", [f"RC{i:010d}" for i in range(49)], None))
    assert ("bulk_export", "cli:ops") not in rules(small)[0]
    assert ("bulk_export", "cli:ops") in rules(frame((10, "cli:ops", "export_register", [], None)))[0]


def test_a_dormant_account_suddenly_active():
    window = frame((10, "ann", "sign_in", [], None))
    assert ("dormant_account", "ann") in rules(window, last_seen={"ann": MONDAY_NOON - timedelta(days=61)})[0]
    assert ("dormant_account", "ann") not in rules(window, last_seen={"ann": MONDAY_NOON - timedelta(days=59)})[0]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_asset_raises_each_alert_once_and_mails_the_privacy_officer(db_url, monkeypatch, tmp_path):
    from dagster import materialize

    from assets.oversight import unusual_access
    from oversight.access_alerts import alerts_for
    from oversight.audit import record
    from pipelines.resources import rollcall_resources
    from register.db import open_register
    from tests.mail import LocalSmtp

    engine = open_register(db_url)
    for i in range(120):  # one user, 120 children within minutes: over the hourly limit of 100
        record(engine, "mallory", "view_child", children=[f"RC{i:010d}"], source="127.0.0.1")
    with LocalSmtp() as smtp:
        for name, value in smtp.env(tmp_path, "*=privacy@example.gov.uk").items():
            monkeypatch.setenv(name, value)
        configure_rooms()
        resources = rollcall_resources(db_url=db_url)
        first = materialize([unusual_access], resources=resources)
        second = materialize([unusual_access], resources=resources)
        mails = smtp.inbox.wait_for(1)
    meta = {k: v.value for k, v in first.asset_materializations_for_node("unusual_access")[0].metadata.items()}
    assert meta["rule_hourly_limit"] >= 1 and meta["alerts_sent"] >= 1, meta
    assert meta["audit_checkpoint_at_entry"] == 120, "the hourly run signs the log's newest entry"
    again = {k: v.value for k, v in second.asset_materializations_for_node("unusual_access")[0].metadata.items()}
    assert again["alerts_raised"] == 0, "an alert is raised once"
    rules_raised = {a["rule"] for a in alerts_for(engine, None)}
    assert "hourly_limit" in rules_raised
    subjects = [m["Subject"] for m in mails]
    assert any("more children in an hour" in s for s in subjects) and len(mails) == meta["alerts_sent"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_staff_surnames_and_authorities_come_from_the_services_users(db_url):
    import subprocess
    import sys

    from oversight.unusual import user_authorities, user_surnames
    from register.db import open_register
    from tests.browser import ROOT

    open_register(db_url)  # a register to add the user to (a command never makes an empty one)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "users", "add", "tom", "--role", "cme_officer",
                           "--la", "880", "--surname", "Okafor", "--db", db_url], input="Correct-horse-battery-9\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    engine = open_register(db_url)
    assert user_surnames(engine) == {"tom": "OKAFOR"}
    assert user_authorities(engine) == {"tom": {"880"}}
