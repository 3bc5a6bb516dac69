"""Issue 14: people hear when it breaks. Late providers and stale rolls, a CME list whose counts
drop or jump, an authority with no current roll, a falling linked share, a list not refreshed
for a day, and the daily digest: each through `rollcall run` (or the Dagster sensor and asset)
on generated deliveries, to a local SMTP server, with no child's data in any message."""
from __future__ import annotations

import csv
import shutil
from datetime import timedelta

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize
from sqlalchemy import select, update

from assets.digest import daily_digest
from cme.watch import LINKED_STATE, count_moves
from pipelines.cli import CHECKS_FAILED, main, run_pipeline
from pipelines.environment import configure_rooms
from pipelines.resources import RegisterDatabase, rollcall_resources
from pipelines.sensors import cme_watch, relink_sensor
from register.clock import utc_now
from register.db import open_register
from register.models import CmeFlag, CmeList, ExtractFile
from register.state import set_state
from sources.deliveries import Cadence, CadenceError, learned_cadence, load_cadence, provider_status
from synth.extracts import generate
from tests.helpers import AS_OF
from tests.mail import LocalSmtp

GAP = 28
START = AS_OF - timedelta(days=2 * GAP)  # three deliveries, the last on AS_OF (never in the future)


@pytest.fixture(autouse=True)
def quiet(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """Three monthly deliveries of about 300 children; one school stops after the first."""
    root = tmp_path_factory.mktemp("rounds")
    summary = generate(root / "landing", root / "truth", children=300, seed=5, extract_date=START, rounds=3,
                       round_gap_days=GAP, silent_schools=1)
    return root, summary.silent_providers[0]


def deliver(rounds_root, n: int, landing) -> None:
    shutil.copytree(rounds_root / "landing" / f"round{n}", landing, dirs_exist_ok=True)


def run(landing, db, tmp_path, as_of, *extra):
    return main(["run", "--landing", str(landing), "--db", db, "--archive", str(tmp_path / "archive"),
                 "--as-of", as_of.isoformat(), *extra])


def names_in(landing) -> set[str]:
    """Every surname and forename the extracts hold: none may appear in a message."""
    found = set()
    for path in landing.rglob("*.csv"):  # a landing tree or the archive
        for row in csv.DictReader(open(path, encoding="utf-8-sig")):
            row = {k.lower(): v for k, v in row.items()}
            found |= {row.get(k, "") for k in ("surname", "forename", "family_name", "given_name")}
    return {n for n in found if len(n) > 3}


def bodies(smtp) -> list[tuple[str, str, str]]:
    return [(m["To"], m["Subject"], m.get_payload(decode=True).decode()) for m in smtp.inbox.messages]


def test_cadence_is_learned_from_a_providers_history_and_the_file_is_checked():
    d = AS_OF
    assert learned_cadence([d, d + timedelta(days=7)]) is None  # two extracts are not a history
    assert learned_cadence([d, d + timedelta(days=7), d + timedelta(days=14), d + timedelta(days=44)]) == 7
    assert load_cadence(None) == Cadence()


def test_a_broken_cadence_file_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "cadence.yaml"
    path.write_text("providers: {'8802001': -3}\n")
    with pytest.raises(CadenceError, match="providers.8802001 must be a whole number of days"):
        load_cadence(path)
    path.write_text("stale_after_days: 60\nproviders: {'8802001': 7}\ndefaults: {health: 14}\n")
    c = load_cadence(path)
    assert c.stale_after_days == 60 and c.providers == {"8802001": 7} and c.defaults["health"] == 14


def test_a_school_that_stops_sending_is_late_once_its_roll_stale_and_flags_say_so(rounds, tmp_path, sqlite_url,
                                                                                   monkeypatch):
    root, silent = rounds
    la = silent[:3]
    landing = tmp_path / "landing"
    with LocalSmtp() as smtp:
        env = smtp.routes_file(tmp_path, [
            {"alerts": ["provider_late", "no_current_roll"], "authorities": [la], "email": [f"cme-lead-{la}@example"]},
            {"alerts": ["provider_late"], "authorities": ["999"], "email": ["someone-else@example"]},
            {"alerts": ["checks_failed", "run_failed"], "email": ["data-team@example"]}])
        monkeypatch.setenv("ROLLCALL_ALERT_ROUTES", env["ROLLCALL_ALERT_ROUTES"])
        configure_rooms()  # an edge reads the environment; here the test is the edge
        for n in (1, 2):
            deliver(root, n, landing)
            assert run(landing, sqlite_url, tmp_path, START + timedelta(days=GAP * (n - 1))) == 0
        assert smtp.inbox.messages == []  # a month late is within cadence and grace: nobody is woken
        deliver(root, 3, landing)
        third = AS_OF
        assert run(landing, sqlite_url, tmp_path, third) == CHECKS_FAILED
        late = [b for b in bodies(smtp) if b[0] == f"cme-lead-{la}@example"]
        assert len(late) == 1 and "late" in late[0][1] and f"Provider: {silent}" in late[0][2]
        assert f"Newest extract: {START.isoformat()}" in late[0][2]
        assert any(b[0] == "data-team@example" and "provider_deliveries:every_provider_on_time" in b[2]
                   for b in bodies(smtp))
        assert not any(b[0] == "someone-else@example" for b in bodies(smtp))
        # The same lateness is not alerted again by the next run.
        before = len([b for b in bodies(smtp) if "late" in b[1]])
        assert run(landing, sqlite_url, tmp_path, third) == CHECKS_FAILED
        assert len([b for b in bodies(smtp) if "late" in b[1]]) == before
        planted = names_in(tmp_path / "archive")
        assert len(planted) > 100
        for to, subject, body in bodies(smtp):
            assert not any(name in body or name in subject for name in planted), to
    engine = open_register(sqlite_url)
    status = {p.provider: p for p in provider_status(engine)}
    assert status[silent].late and status[silent].stale and status[silent].last_extract == START
    others = [p for p in status.values() if p.provider != silent]
    assert all(not p.late and not p.stale for p in others)
    assert {p.cadence_source for p in others} == {"learned"} and {p.cadence_days for p in others} == {GAP}
    out = tmp_path / "cme.csv"
    assert main(["export", "cme", "--db", sqlite_url, "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    in_la = [r for r in rows if r["la_code"] == la]
    assert in_la and all(r["rests_on_stale_roll"] == "Y" for r in in_la)
    assert any(r["rests_on_stale_roll"] == "N" for r in rows if r["la_code"] != la)
    with engine.connect() as conn:
        stored = set(conn.execute(select(CmeFlag.stale_rolls).where(CmeFlag.as_of == third,
                                                                    CmeFlag.la_code == la)).scalars())
    assert stored == {silent}


def test_counts_that_drop_to_zero_and_authorities_with_no_current_roll_reach_their_leads(landing, tmp_path,
                                                                                          sqlite_url, monkeypatch):
    moves = count_moves({"880": 40, "881": 3, "882": 12}, {"880": 45, "881": 0, "882": 30}, 0.5)
    assert [(m.la_code, m.what) for m in moves] == [("881", "dropped to zero"), ("882", "moved")]
    assert count_moves({"880": 4}, {"880": 9}, 0.5) == []  # small counts move by chance
    with LocalSmtp() as smtp:
        env = smtp.routes_file(tmp_path, [
            {"alerts": ["cme_count_changed", "no_current_roll"], "authorities": [la], "email": [f"lead-{la}@example"]}
            for la in ("880", "881", "882")])
        monkeypatch.setenv("ROLLCALL_ALERT_ROUTES", env["ROLLCALL_ALERT_ROUTES"])
        configure_rooms()  # an edge reads the environment; here the test is the edge
        assert run(landing, sqlite_url, tmp_path, AS_OF) == 0
        assert smtp.inbox.messages == []
        with open_register(sqlite_url).connect() as conn:
            had_flags = set(conn.execute(select(CmeFlag.la_code).where(CmeFlag.as_of == AS_OF)).scalars())
        assert had_flags
        # Twenty years on nobody on the register is of school age and every roll is stale.
        assert run(landing, sqlite_url, tmp_path, AS_OF + timedelta(days=365 * 20)) == CHECKS_FAILED
        smtp.inbox.wait_for(3 + len(had_flags))
        mail = bodies(smtp)
    for la in ("880", "881", "882"):
        mine = [b for b in mail if b[0] == f"lead-{la}@example"]
        dropped = [b for _, s, b in mine if "flag count" in s and f"(LA {la})" in s and "Change: dropped to zero" in b]
        assert len(dropped) == (la in had_flags)
        assert any("no current school roll" in s for _, s, _ in mine)


def test_a_falling_linked_share_is_checked_and_alerted(landing, tmp_path, sqlite_url, monkeypatch):
    with LocalSmtp() as smtp:
        env = smtp.routes_file(tmp_path, [{"alerts": ["linked_share_fell"], "email": ["data-team@example"]}])
        monkeypatch.setenv("ROLLCALL_ALERT_ROUTES", env["ROLLCALL_ALERT_ROUTES"])
        configure_rooms()  # an edge reads the environment; here the test is the edge
        with DagsterInstance.ephemeral() as instance:
            first = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF, instance=instance)
            assert first.success
            # As if the last run had linked far more: this run's share is a fall from it.
            set_state(open_register(sqlite_url), LINKED_STATE, "0.99")
            second = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF,
                                  instance=instance)
        (mail,) = smtp.inbox.wait_for(1)
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed for e in second.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["linked_share_steady"] is False
    first_checks = {e.event_specific_data.check_name: e.event_specific_data.passed for e in first.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert first_checks["linked_share_steady"] is True
    assert "share of records linked fell" in mail["Subject"] and "Before: 0.99" in mail.get_payload(decode=True).decode()


def test_a_list_not_refreshed_for_a_day_alerts_each_authority_once(landing, tmp_path, sqlite_url, monkeypatch):
    assert run(landing, sqlite_url, tmp_path, AS_OF) == 0
    engine = open_register(sqlite_url)
    db = RegisterDatabase(url=sqlite_url)
    with LocalSmtp() as smtp:
        env = smtp.routes_file(tmp_path, [{"alerts": ["cme_not_refreshed"], "authorities": [la],
                                           "email": [f"lead-{la}@example"]} for la in ("880", "881", "882")])
        monkeypatch.setenv("ROLLCALL_ALERT_ROUTES", env["ROLLCALL_ALERT_ROUTES"])
        configure_rooms()  # an edge reads the environment; here the test is the edge
        context = build_sensor_context(resources={"db": db})
        assert "fresh" in cme_watch(context).skip_message
        with engine.begin() as conn:
            conn.execute(update(CmeList).values(computed_at=utc_now() - timedelta(hours=30)))
        context = build_sensor_context(resources={"db": db})
        cme_watch(context)
        smtp.inbox.wait_for(3)
        assert sorted(m["To"] for m in smtp.inbox.messages) == ["lead-880@example", "lead-881@example",
                                                                "lead-882@example"]
        assert all("not been refreshed" in m["Subject"] for m in smtp.inbox.messages)
        again = build_sensor_context(resources={"db": db}, cursor=context.cursor)
        assert "alerted already" in cme_watch(again).skip_message
    assert len(smtp.inbox.messages) == 3


def test_opening_the_ui_after_a_command_line_run_starts_no_redundant_relink(landing, tmp_path, sqlite_url):
    assert run(landing, sqlite_url, tmp_path, AS_OF) == 0
    db = RegisterDatabase(url=sqlite_url)
    result = relink_sensor(build_sensor_context(resources={"db": db}))
    assert not result.run_requests and "relinked since" in result.skip_reason.skip_message
    # A file processed after the relink started does start one.
    with open_register(sqlite_url).begin() as conn:
        conn.execute(update(ExtractFile).where(ExtractFile.id == 1).values(processed_at=utc_now()))
    assert len(relink_sensor(build_sensor_context(resources={"db": db})).run_requests) == 1


def test_a_command_line_run_is_a_named_job_and_each_provider_reports_its_own_files(landing, tmp_path, sqlite_url):
    from dagster import AssetKey

    with DagsterInstance.ephemeral() as instance:
        result = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).job_name == "pipeline_job"
        events = instance.fetch_materializations(AssetKey("validated_rows"), limit=100).records
        per_partition = {e.asset_materialization.partition: e.asset_materialization.metadata for e in events}
        # Progress is in Dagster's log too, not only on the command line.
        logged = [r.user_message for r in instance.all_logs(result.run_id)]
        assert any(m.startswith("progress: ") and "files validated" in m for m in logged)
    with open_register(sqlite_url).connect() as conn:
        ledger = dict(conn.execute(select(ExtractFile.provider, ExtractFile.rows_accepted)).all())
    assert set(per_partition) == set(ledger) and len(ledger) > 3
    for provider, metadata in per_partition.items():
        assert metadata["provider_rows_accepted"].value == ledger[provider]
        assert metadata["provider_files_accepted"].value == 1


def test_a_run_over_many_providers_reports_on_its_own_only_those_with_something_to_say(landing, tmp_path, sqlite_url,
                                                                                       monkeypatch):
    """Dagster's per-partition metadata costs a look at every targeted partition per call: over
    more providers than EVERY_PROVIDER_UP_TO, a provider whose files were simply accepted is
    covered by the run's totals, and one with rows quarantined still reports its own."""
    from dagster import AssetKey

    import assets.intake

    monkeypatch.setattr(assets.intake, "EVERY_PROVIDER_UP_TO", 3)
    # One school's extract gets a row with a bad sex code (and its sidecar the new checksum).
    import hashlib

    extract = sorted(landing.glob("*/inbox/school_*.csv"))[0]
    data = extract.read_bytes()
    last = data.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
    header = data.split(b"\r\n", 1)[0].lstrip(b"\xef\xbb\xbf").decode().lower().split(",")
    cells = last.split(b",")
    cells[header.index("sex")] = b"Z"
    data = data.rstrip(b"\r\n") + b"\r\n" + b",".join(cells) + b"\r\n"
    extract.write_bytes(data)
    extract.with_name(extract.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {extract.name}\n")
    with DagsterInstance.ephemeral() as instance:
        result = run_pipeline(sqlite_url, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF, instance=instance)
        assert result.success
        events = instance.fetch_materializations(AssetKey("validated_rows"), limit=100).records
        reported = {e.asset_materialization.partition for e in events
                    if "provider_rows_accepted" in e.asset_materialization.metadata}
    with open_register(sqlite_url).connect() as conn:
        noisy = set(conn.execute(select(ExtractFile.provider).where(ExtractFile.rows_quarantined > 0)).scalars())
        every = set(conn.execute(select(ExtractFile.provider)).scalars())
    assert noisy and len(every) > len(noisy) + 3
    assert reported == noisy


def test_each_authority_gets_its_daily_digest_with_counts_and_no_childs_data(landing, tmp_path, sqlite_url,
                                                                            monkeypatch):
    assert run(landing, sqlite_url, tmp_path, AS_OF) == 0
    engine = open_register(sqlite_url)
    with engine.connect() as conn:
        flagged = conn.execute(select(CmeFlag.child_id).where(CmeFlag.la_code == "880", CmeFlag.as_of == AS_OF)).all()
        files_880 = [f for f in conn.execute(select(ExtractFile.provider)).scalars() if f.startswith("880")]
    with LocalSmtp() as smtp:
        env = smtp.routes_file(tmp_path, [{"alerts": ["digest"], "authorities": ["880"], "email": ["lead-880@example"]},
                                          {"alerts": ["digest"], "authorities": ["881"], "email": ["lead-881@example"]}])
        monkeypatch.setenv("ROLLCALL_ALERT_ROUTES", env["ROLLCALL_ALERT_ROUTES"])
        configure_rooms()  # an edge reads the environment; here the test is the edge
        result = materialize([daily_digest], resources=rollcall_resources(db_url=sqlite_url))
        smtp.inbox.wait_for(2)
    assert result.success
    mails = {m["To"]: m for m in smtp.inbox.messages}
    assert set(mails) == {"lead-880@example", "lead-881@example"}  # 882 has no digest route: none kept
    body = mails["lead-880@example"].get_payload(decode=True).decode()
    assert f"Files received: {len(files_880)} (rejected: 0)" in body
    assert f"Children flagged: {len(flagged)} (new since the list before: {len(flagged)}" in body
    assert f"CME cases open: {len(flagged)}" in body and "Review pairs waiting:" in body
    planted = names_in(tmp_path / "archive")
    assert len(planted) > 100 and not any(name in body for name in planted)
    assert not any(f.child_id in body for f in flagged)  # counts only
