"""The casework service in a real browser: `rollcall serve` (gunicorn) on a register the
pipeline built, Debian's chromium driven by Playwright, axe-core on every page."""
from __future__ import annotations

import csv
import re
import time

import pytest
from playwright.sync_api import expect

from pipelines.cli import run_pipeline
from tests.browser import (
    PASSWORD,
    ServiceDidNotStart,
    add_user,
    built_register,
    fill_closing,
    no_accessibility_violations,
    rollcall,
    serving,
)
from tests.browser import sign_in as browser_sign_in
from tests.helpers import AS_OF
from tests.mail import LocalSmtp

PRIVACY_OFFICERS = "880=privacy880@example.gov.uk,882=privacy882@example.gov.uk"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A register of about 300 children in three authorities, two CME officers (880 and 881),
    and the service on a loopback port, stopped by its process id afterwards."""
    home = tmp_path_factory.mktemp("casework")
    db = built_register(home, children=300, seed=3)
    assert rollcall("export", "cme", "--db", db, "--out", str(home / "cme.csv")).returncode == 0
    # One user per test: a one-time code is accepted once (django-otp refuses a replayed code).
    keys = {name: add_user(db, name, role, la) for name, role, la in (
        ("anna", "cme_officer", "880"), ("cara", "cme_officer", "880"), ("dan", "cme_officer,analyst", "880"),
        ("ben", "cme_officer", "881"), ("olive", "cme_officer", "880"), ("ava", "analyst", "880,881,882"),
        ("abe", "analyst", "880,881,882"), ("amy", "analyst", "880,881,882"), ("eve", "analyst", "880,881,882"),
        ("sam", "analyst", "880,881,882"), ("ada", "authority_admin", "880"), ("sue", "cme_officer", "880"),
        ("ali", "analyst", "880"), ("otto", "cme_officer", "880"), ("aud", "auditor", "880"),
        ("ian", "cme_officer", "880"), ("gil", "cme_officer", "882"), ("abi", "authority_admin", "880"),
        ("tom", "cme_officer", "880"), ("lee", "cme_officer", "880"), ("hal", "cme_officer", "880"))}
    with open(home / "cme.csv", newline="") as fh:
        flags = list(csv.DictReader(fh))
    try:
        with LocalSmtp() as smtp, serving(db, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key"),
                                                   **smtp.env(home, PRIVACY_OFFICERS)}) as url:
            yield {"url": url, "keys": keys, "db": db, "flags": flags, "home": home, "inbox": smtp.inbox}
    except ServiceDidNotStart as exc:
        pytest.fail(f"the service did not start: {exc}")


def sign_in(browser, service, name: str, code: str | None = None):
    return browser_sign_in(browser, service["url"], name, PASSWORD, service["keys"][name], code)


def test_sign_in_needs_the_password_and_the_one_time_code(browser, service):
    wrong = sign_in(browser, service, "anna", code="000000")
    assert "There is a problem" in wrong.content()
    assert wrong.url.endswith("/sign-in")
    wrong.close()
    time.sleep(2.5)  # django-otp slows the device down after a wrong code (1 s after the first)
    page = sign_in(browser, service, "anna")
    expect(page.get_by_role("heading", name="Your work")).to_be_visible()
    assert "880" in page.content()
    page.get_by_role("button", name="Sign out").click()
    page.goto(service["url"] + "/cme")
    assert "/sign-in" in page.url
    page.close()


def test_sign_in_fields_say_what_the_browser_may_fill(browser, service):
    page = browser.new_page()
    page.goto(service["url"] + "/sign-in")
    assert page.get_by_label("User name").get_attribute("autocomplete") == "username"
    assert page.get_by_label("Password").get_attribute("autocomplete") == "current-password"
    assert page.get_by_label("One-time code").get_attribute("autocomplete") == "one-time-code"
    page.close()


def test_an_officer_sees_their_authoritys_children_and_nothing_of_anothers(browser, service):
    ours = [f["child_id"] for f in service["flags"] if f["la_code"] == "880"]
    theirs = [f["child_id"] for f in service["flags"] if f["la_code"] == "881"]
    assert ours and theirs
    page = sign_in(browser, service, "cara")
    page.goto(service["url"] + "/cme")
    listed = page.content()
    assert all(c in listed for c in ours) and not any(c in listed for c in theirs)
    assert page.goto(service["url"] + f"/children/{ours[0]}").status == 200
    other = page.goto(service["url"] + f"/children/{theirs[0]}")
    assert other.status == 404 and theirs[0] not in page.content().replace(f"/children/{theirs[0]}", "")
    assert page.goto(service["url"] + "/children/NO-SUCH-CHILD").status == 404
    export = page.request.get(service["url"] + "/cme/dfe-counts.csv")
    rows = list(csv.DictReader(export.text().splitlines()))
    assert export.status == 200 and rows and {r["la_code"] for r in rows} == {"880"}
    assert sum(int(r["children"]) for r in rows) == len(ours), "the export counts this authority's list only"
    page.close()


def test_no_page_has_a_wcag_2_2_aa_violation_that_axe_finds(browser, service):
    child = next(f["child_id"] for f in service["flags"] if f["la_code"] == "880")
    # axe is injected as an inline script, which the service's content security policy refuses.
    browser = browser.new_context(bypass_csp=True)
    page = browser.new_page()
    page.goto(service["url"] + "/sign-in")
    found = {"sign-in": no_accessibility_violations(page)}
    page.close()
    page = sign_in(browser, service, "dan", code="000000")
    assert "There is a problem" in page.content()
    found["sign-in with errors"] = no_accessibility_violations(page)
    page.close()
    time.sleep(2.5)  # django-otp slows the device down after a wrong code
    page = sign_in(browser, service, "dan")
    expect(page.get_by_role("heading", name="Your work")).to_be_visible()
    page.goto(service["url"] + "/cme")
    case = page.locator("a[href^='/cases/']").first.get_attribute("href")
    page.goto(service["url"] + "/review")
    pair = page.locator("a[href^='/review/']").first.get_attribute("href")
    page.goto(service["url"] + pair)
    record = page.get_by_role("link", name="record 1").get_attribute("href")
    for name, path in (("home", "/"), ("CME cases", "/cme"), ("closed cases", "/cme?status=closed"), ("case", case),
                       ("child", f"/children/{child}"), ("review queue", "/review"), ("review pair", pair),
                       ("review pair, score shown", pair + "?score=shown"), ("record's candidates", record),
                       ("search", f"/search?q={child}"), ("not found", "/children/NO-SUCH-CHILD")):
        page.goto(service["url"] + path)
        found[name] = no_accessibility_violations(page)
    page.goto(service["url"] + case)
    page.get_by_role("button", name="Add enquiry").click()  # with nothing written: an error summary
    found["case with errors"] = no_accessibility_violations(page)
    page.goto(service["url"] + pair)
    page.get_by_role("button", name="Save decision").click()
    found["review pair with errors"] = no_accessibility_violations(page)
    browser.close()
    assert {k: v for k, v in found.items() if v} == {}


def test_five_wrong_passwords_lock_the_user_name(browser, service):
    page = browser.new_page()
    for _ in range(5):
        page.goto(service["url"] + "/sign-in")
        page.get_by_label("User name").fill("ben")
        page.get_by_label("Password").fill("not the password")
        page.get_by_label("One-time code").fill("123456")
        page.get_by_role("button", name="Sign in").click()
    page.close()
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    locked = sign_in(context, service, "ben")  # now even the right password and code are refused
    assert "Too many attempts" in locked.content()
    assert no_accessibility_violations(locked) == []
    context.close()
    actions = [e["action"] for e in audit_entries(service, actor="ben")]
    assert actions.count("sign_in_failed") >= 5 and "locked_out" in actions, actions


def rerun(service):
    home = service["home"]
    result = run_pipeline(service["db"], str(home / "landing"), None, str(home / "archive"), AS_OF)
    assert result.success
    return {e.event_specific_data.materialization.asset_key.to_user_string():
            {k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def children_of(db: str, *keys: str) -> list[str]:
    from sqlalchemy import select

    from register.db import open_register
    from register.models import SourceRecord

    with open_register(db).connect() as conn:
        return [conn.execute(select(SourceRecord.child_id).where(SourceRecord.record_key == k)
                             .order_by(SourceRecord.active.desc(), SourceRecord.id.desc())).scalars().first()
                for k in keys]


def pair_keys(db: str, pair_id: int) -> tuple[str, str]:
    from register.db import open_register
    from register.models import CandidatePair

    with open_register(db).connect() as conn:
        from sqlalchemy import select
        return tuple(conn.execute(select(CandidatePair.key_a, CandidatePair.key_b)
                                  .where(CandidatePair.id == pair_id)).one())


def first_pair_apart(page, service) -> int:
    """The first pair in the analyst's queue whose records are two register children now."""
    page.goto(service["url"] + "/review")
    for link in page.locator("a[href^='/review/']").all():
        pair_id = int(link.get_attribute("href").rsplit("/", 1)[1])
        a, b = children_of(service["db"], *pair_keys(service["db"], pair_id))
        if a != b:
            return pair_id
    pytest.fail("no pair in the queue joins two register children")


def test_a_review_decision_in_the_browser_changes_the_register_at_the_next_run(browser, service):
    page = sign_in(browser, service, "ava")
    pair_id = first_pair_apart(page, service)
    page.goto(service["url"] + f"/review/{pair_id}")
    assert page.get_by_test_id("score").count() == 0, "the score stays hidden until the analyst decides"
    page.get_by_label("The same child").check()
    page.get_by_label("Reason").fill("the school confirmed the change of name")
    page.get_by_role("button", name="Save decision").click()
    assert "the same child" in page.get_by_test_id("ruling").inner_text()
    assert page.get_by_test_id("score").count() == 1, "after the decision the score is shown"
    key_a, key_b = pair_keys(service["db"], pair_id)
    before = children_of(service["db"], key_a, key_b)
    ran = rerun(service)
    a, b = children_of(service["db"], key_a, key_b)
    assert a == b, ("the ruling is replayed as a must-link", ran.get("links"), ran.get("children"))
    rerun(service)
    assert len(set(children_of(service["db"], key_a, key_b))) == 1, "and never overridden by the model"
    (retired,) = set(before) - {a}
    page.goto(service["url"] + f"/children/{retired}")
    assert page.url.endswith(f"/children/{a}"), "the merged child's old id leads to the child"
    page.close()


def test_two_analysts_on_one_pair_the_second_gets_a_conflict(browser, service):
    first, second = sign_in(browser, service, "abe"), sign_in(browser, service, "amy")
    first.goto(service["url"] + "/review")
    pair_id = int(first.locator("a[href^='/review/']").first.get_attribute("href").rsplit("/", 1)[1])
    for page in (first, second):
        page.goto(service["url"] + f"/review/{pair_id}")
    first.get_by_label("Different children").check()
    first.get_by_label("Reason").fill("different birth certificates")
    first.get_by_role("button", name="Save decision").click()
    assert "different children" in first.get_by_test_id("ruling").inner_text()
    second.get_by_label("The same child").check()
    second.get_by_label("Reason").fill("looks like one child")
    with second.expect_response(lambda r: r.request.method == "POST") as answer:
        second.get_by_role("button", name="Save decision").click()
    assert answer.value.status == 409
    assert "another analyst decided" in second.content()
    assert "different children" in second.get_by_test_id("ruling").inner_text(), "the first decision stands"
    first.close()
    second.close()


def test_a_decision_against_the_model_needs_a_reason(browser, service):
    page = sign_in(browser, service, "eve")
    page.goto(service["url"] + "/review")
    pair_id = int(page.locator("a[href^='/review/']").first.get_attribute("href").rsplit("/", 1)[1])
    from register.db import open_register
    from register.models import CandidatePair
    with open_register(service["db"]).connect() as conn:
        from sqlalchemy import select
        probability = conn.execute(select(CandidatePair.match_probability).where(CandidatePair.id == pair_id)).scalar()
    page.goto(service["url"] + f"/review/{pair_id}")
    page.get_by_label("Different children" if probability >= 0.5 else "The same child").check()
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Save decision").click()
    assert "There is a problem" in page.content() and "goes against the model" in page.content()
    page.close()


def test_a_case_closed_in_the_browser_stays_closed_across_runs(browser, service):
    page = sign_in(browser, service, "olive")
    page.goto(service["url"] + "/cme")
    case_link = page.locator("a[href^='/cases/']").first
    case_path = case_link.get_attribute("href").split("?")[0]  # the link also says which list it came from
    page.goto(service["url"] + case_path)
    page.get_by_label("What was found").fill("Family moved to Spain, confirmed by the previous school")
    page.get_by_role("button", name="Add enquiry").click()
    fill_closing(page, "Moved abroad", "", AS_OF, "The previous school's headteacher confirmed it")
    page.get_by_role("button", name="Confirm and close the case").click()
    assert page.get_by_test_id("case-status").inner_text() == "Closed"
    assert "moved to Spain" in page.content()
    rerun(service)
    page.goto(service["url"] + case_path)
    assert page.get_by_test_id("case-status").inner_text() == "Closed", "no newer evidence: it stays closed"
    page.goto(service["url"] + "/cme")
    assert f'href="{case_path}?' not in page.content()
    page.goto(service["url"] + "/cme?status=closed")
    assert f'href="{case_path}?' in page.content()
    page.close()


def test_an_analyst_takes_a_record_out_of_a_child_and_the_next_run_splits_it(browser, service):
    from sqlalchemy import func, select

    from register.db import open_register
    from register.models import SourceRecord

    with open_register(service["db"]).connect() as conn:
        child = conn.execute(select(SourceRecord.child_id).where(SourceRecord.active.is_(True))
                             .group_by(SourceRecord.child_id).having(func.count(func.distinct(SourceRecord.record_key)) == 2)
                             .order_by(SourceRecord.child_id).limit(1)).scalar()
        keys = conn.execute(select(SourceRecord.record_key).where(SourceRecord.child_id == child,
                                                                  SourceRecord.active.is_(True))
                            .order_by(SourceRecord.id)).scalars().all()
    page = sign_in(browser, service, "sam")
    page.goto(service["url"] + f"/children/{child}")
    if page.get_by_role("heading", name="Why are you opening this child's record?").count():
        page.get_by_label("Why are you opening this child's record?").fill("checking a possible wrong link")
        page.get_by_role("button", name="Open the record").click()
    # The title names the page and nothing else (waited for: the click starts a navigation).
    expect(page).to_have_title(f"Child {child} – Rollcall")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Take out of this child").first.click()
    assert "say why" in page.content(), "a split needs a reason"
    page.get_by_label("Why this record is another child").first.fill("a different child with the same name")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Take out of this child").first.click()
    assert "Your ruling is saved" in page.content()
    page.close()
    rerun(service)
    assert len(set(children_of(service["db"], *dict.fromkeys(keys)))) == 2


def test_search_finds_a_child_of_ones_own_authority_and_nothing_of_anothers(browser, service):
    ours = next(f["child_id"] for f in service["flags"] if f["la_code"] == "880")
    theirs = next(f["child_id"] for f in service["flags"] if f["la_code"] == "881")
    page = sign_in(browser, service, "sue")
    from linkage.histories import current_child_id
    from register.db import open_register

    page.goto(service["url"] + f"/search?q={ours}")
    # The child, under its id now (an earlier test's ruling may have merged it into another).
    assert page.get_by_test_id("found").inner_text() == current_child_id(open_register(service["db"]), ours)
    page.goto(service["url"] + f"/search?q={theirs}")
    assert page.get_by_test_id("found").inner_text() == "No children found."
    page.close()


def test_an_authority_administrator_manages_their_own_authoritys_users_only(browser, service):
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    page = sign_in(context, service, "ada")
    page.goto(service["url"] + "/users")
    assert no_accessibility_violations(page) == []
    # Nothing filled in: every problem at once, each beside its own field, in GOV.UK's words.
    page.get_by_role("button", name="Add the user").click()
    for field, words in (("name", "Enter a user name"), ("password", "Enter their first password"),
                         ("roles", "Select at least one role"), ("authorities", "Select at least one of your")):
        assert page.locator(f"#{field}-error").inner_text().startswith(f"Error: {words}") or \
            words in page.locator(f"#{field}-error").inner_text(), field
        assert page.locator(f".govuk-error-summary a[href='#{field}']").count() == 1, field
    assert no_accessibility_violations(page) == []
    page.get_by_label("User name").fill("newbie")
    page.get_by_label("Their first password (at least 12 characters)").fill("Another-correct-horse-4")
    page.get_by_label("cme_officer").check()
    page.get_by_label("880").check()
    page.get_by_role("button", name="Add the user").click()
    assert len(page.get_by_test_id("secret").inner_text()) >= 16
    assert no_accessibility_violations(page) == []
    # A forged form naming another authority is refused on the server.
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(service["url"] + "/users", form={
        "action": "add", "name": "intruder", "password": "Another-correct-horse-5", "roles": "analyst",
        "authorities": "881", "csrfmiddlewaretoken": token}, headers={"Referer": service["url"] + "/users"})
    assert forged.status == 400 and "Select at least one of your authorities" in forged.text()
    listed = rollcall("users", "list", "--db", service["db"]).stdout
    assert "newbie\tactive\troles: cme_officer\tauthorities: 880" in listed and "intruder" not in listed
    page.get_by_role("button", name="Disable newbie").click()
    assert "newbie\tdisabled" in rollcall("users", "list", "--db", service["db"]).stdout
    context.close()


def test_an_analyst_sees_a_record_with_its_top_candidates_and_nothing_outside_their_authorities(browser, service):
    from sqlalchemy import select

    from oversight.lookup import in_authorities
    from register.db import open_register
    from register.models import CandidatePair, SourceRecord

    with open_register(service["db"]).connect() as conn:
        ours = set(conn.execute(select(SourceRecord.record_key).where(in_authorities(["880"]))).scalars())
        pairs = conn.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b,
                                    CandidatePair.match_weight)).all()
        in_pairs = {k for p in pairs for k in (p.key_a, p.key_b)}
        elsewhere = next(k for k in conn.execute(select(SourceRecord.record_key).where(~in_authorities(["880"]))
                                                 .order_by(SourceRecord.id)).scalars() if k not in in_pairs)
    reviewable = [p for p in pairs if {p.key_a, p.key_b} & ours]
    # The record in the most pairs this analyst may review, so the order is put to the test.
    key = max(sorted(in_pairs), key=lambda k: sum(k in (p.key_a, p.key_b) for p in reviewable))
    weights = {p.id: p.match_weight for p in reviewable if key in (p.key_a, p.key_b)}
    strongest = next(i for i in sorted(weights, key=lambda i: (-weights[i], i)))
    page = sign_in(browser, service, "ali")  # an analyst of 880 only
    page.goto(service["url"] + f"/review/{strongest}")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("link", name="record 1" if pair_keys(service["db"], strongest)[0] == key else "record 2").click()
    assert page.url.endswith(f"/records/{record_ref(service, key)}")
    listed = [int(a.get_attribute("href").rsplit("/", 1)[1])
              for a in page.get_by_test_id("candidates").locator("a").all()]
    assert listed == sorted(weights, key=lambda i: (-weights[i], i))[:5], "the strongest candidates, strongest first"
    assert "match probability" not in page.content().lower(), "the scores stay hidden"
    assert page.goto(service["url"] + f"/records/{record_ref(service, elsewhere)}").status == 404
    page.close()


def record_ref(service, key: str) -> int:
    """The opaque reference a page links a record by: its newest row's id."""
    from sqlalchemy import select

    from register.db import open_register
    from register.models import SourceRecord

    with open_register(service["db"]).connect() as conn:
        return conn.execute(select(SourceRecord.id).where(SourceRecord.record_key == key)
                            .order_by(SourceRecord.active.desc(), SourceRecord.id.desc()).limit(1)).scalar()


def audit_entries(service, **kwargs) -> list[dict]:
    from oversight.audit import entries
    from register.db import open_register

    return entries(open_register(service["db"]), **kwargs)


def a_child_in_caseload(service, la: str) -> str:
    """A child with a CME case in this authority, under its own id still."""
    from sqlalchemy import select

    from linkage.histories import current_child_id
    from register.db import open_register
    from register.models import CmeCase

    engine = open_register(service["db"])
    with engine.connect() as conn:
        cases = conn.execute(select(CmeCase.child_id).where(CmeCase.la_code == la).order_by(CmeCase.id)).scalars()
        return next(c for c in cases if current_child_id(engine, c) == c)


def a_child_outside_every_caseload(service, la: str) -> str:
    """A child of this authority with no CME case and no pair waiting for review, whom no
    earlier test has looked at."""
    from sqlalchemy import select

    from oversight.lookup import in_authorities, in_caseload
    from register.db import open_register
    from register.models import SourceRecord

    engine = open_register(service["db"])
    with engine.connect() as conn:
        children = conn.execute(select(SourceRecord.child_id).where(in_authorities([la]), SourceRecord.active.is_(True))
                                .distinct().order_by(SourceRecord.child_id)).scalars().all()
    return next(c for c in children if not in_caseload(engine, c, [la])
                and not audit_entries(service, child_id=c))  # and nobody has looked at yet


def test_every_look_and_sign_in_is_on_the_record_and_the_log_verifies(browser, service):
    wrong = sign_in(browser, service, "otto", code="000000")
    assert "There is a problem" in wrong.content()  # the refusal is in before the throttle is counted
    wrong.close()
    time.sleep(2.5)  # django-otp slows the device down after a wrong code (1 s after the first)
    page = sign_in(browser, service, "otto")
    expect(page.get_by_role("heading", name="Your work")).to_be_visible()
    page.goto(service["url"] + "/cme")
    listed = audit_entries(service, actor="otto")[0]
    assert listed["action"] == "view_cme_list" and listed["children"]
    assert all(c in page.content() for c in listed["children"]), "the entry names the children the page showed"
    flagged = a_child_in_caseload(service, "880")
    page.goto(service["url"] + f"/children/{flagged}")
    page.goto(service["url"] + f"/search?q={flagged}")
    mine = audit_entries(service, actor="otto")
    actions = [e["action"] for e in reversed(mine)]
    assert actions == ["sign_in_failed", "sign_in", "view_cme_list", "view_child", "search"], actions
    assert all(e["source"] == "127.0.0.1" for e in mine)
    child, search = mine[1], mine[0]
    assert child["children"] == [flagged] and search["children"] == [flagged]
    assert search["detail"] == {"by": "child id", "found": 1}, "the kind of identifier, never the identifier"
    page.get_by_role("button", name="Sign out").click()
    assert audit_entries(service, actor="otto")[0]["action"] == "sign_out"
    page.close()
    done = rollcall("audit", "verify", "--db", service["db"])
    assert done.returncode == 0, done.stderr


def test_a_child_outside_ones_caseload_opens_only_after_a_reason_which_the_auditor_reads(browser, service):
    child = a_child_outside_every_caseload(service, "880")
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    page = sign_in(context, service, "ian")
    page.goto(service["url"] + f"/children/{child}")
    expect(page.get_by_role("heading", name="Why are you opening this child's record?")).to_be_visible()
    assert no_accessibility_violations(page) == []
    assert not [e for e in audit_entries(service, child_id=child) if e["action"] == "view_child"], "nothing seen yet"
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Open the record").click()
    assert "There is a problem" in page.content() and no_accessibility_violations(page) == []
    page.get_by_label("Why are you opening this child's record?").fill("The school asked us to check her address")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Open the record").click()
    assert page.get_by_test_id("child-identity").is_visible() and f"Child {child}" in page.inner_text("main")
    (look,) = [e for e in audit_entries(service, child_id=child) if e["action"] == "view_child"]
    assert look["actor"] == "ian" and look["reason"] == "The school asked us to check her address"
    page.goto(service["url"] + f"/children/{child}")  # the reason holds for the session
    assert page.get_by_test_id("child-identity").is_visible() and f"Child {child}" in page.inner_text("main")
    page.close()
    auditor = sign_in(context, service, "aud")
    auditor.goto(service["url"] + "/audit?user=ian")
    assert "The school asked us to check her address" in auditor.get_by_test_id("entries").inner_text()
    assert no_accessibility_violations(auditor) == []
    # The service's menu and sign-out on the audit log as on every page (a search by user once hid them).
    expect(auditor.get_by_role("navigation", name="Menu").get_by_role("link", name="Audit log")).to_be_visible()
    expect(auditor.get_by_role("button", name="Sign out")).to_be_visible()
    assert auditor.get_by_label("A user's name").input_value() == "ian"
    auditor.goto(service["url"] + f"/children/{child}")  # not in the auditor's caseload either
    auditor.get_by_label("Why are you opening this child's record?").fill("Reviewing who looked at this child")
    auditor.get_by_role("button", name="Open the record").click()
    assert "ian" in auditor.get_by_test_id("who-looked").inner_text()
    assert no_accessibility_violations(auditor) == []
    theirs = next(f["child_id"] for f in service["flags"] if f["la_code"] == "881")
    auditor.goto(service["url"] + f"/audit?child={theirs}")
    assert auditor.get_by_test_id("entries").inner_text() == "No entries found.", "another authority's child"
    auditor.goto(service["url"] + "/audit?user=ben")  # an officer of 881 only
    assert auditor.get_by_test_id("entries").inner_text() == "No entries found."
    context.close()


def test_break_glass_shows_a_shielded_location_after_a_reason_and_tells_the_privacy_officer_at_once(browser, service):
    from oversight.lookup import child_visible
    from oversight.shield import shield_scope
    from register.db import open_register
    from register.models import SourceRecord

    engine = open_register(service["db"])
    child = next(c for c in sorted(shield_scope(engine).child_ids) if child_visible(engine, c, ["882"]))
    from sqlalchemy import select
    with engine.connect() as conn:
        postcodes = {p for p in conn.execute(select(SourceRecord.postcode).where(SourceRecord.child_id == child))
                     .scalars() if p}
    assert postcodes
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    page = sign_in(context, service, "gil")
    page.goto(service["url"] + f"/children/{child}")
    if page.get_by_role("button", name="Open the record").count():
        page.get_by_label("Why are you opening this child's record?").fill("Checking the child's school place")
        with page.expect_navigation():  # the next page, loaded, before it is read
            page.get_by_role("button", name="Open the record").click()
    assert "location is withheld" in page.content() and not any(p in page.content() for p in postcodes)
    who = page.get_by_test_id("child-identity").inner_text()
    assert re.search(r"Current address\s+Withheld: the child is shielded", who) and re.search(r"School\s+Withheld", who)
    page.get_by_text("I need this child's location now (break-glass)").click()
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Show the location").click()
    assert "There is a problem" in page.content() and no_accessibility_violations(page) == []
    assert not service["inbox"].messages, "no reason, no look, no alert"
    page.get_by_label("Why you need it").fill("Police welfare check requested this afternoon")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Show the location").click()
    assert any(p in page.content() for p in postcodes), "the location is shown"
    assert any(p in page.get_by_test_id("child-identity").inner_text() for p in postcodes), "the address says who"
    assert "break-glass" in page.content() and no_accessibility_violations(page) == []
    (mail,) = service["inbox"].wait_for(1)
    assert mail["To"] == "privacy882@example.gov.uk" and "break-glass" in mail["Subject"]
    body = mail.get_payload(decode=True).decode()
    assert "gil" in body and child in body and not any(p in body for p in postcodes), "ids only, no location"
    glass = [e for e in audit_entries(service, child_id=child) if e["action"] == "break_glass"]
    assert glass and glass[0]["reason"] == "Police welfare check requested this afternoon"
    context.close()


def test_an_administrator_sees_their_authoritys_access_alerts_and_suspends_the_account(browser, service):
    from oversight.access_alerts import raise_access_alert
    from register.db import open_register

    engine = open_register(service["db"])
    mine = raise_access_alert(engine, "same_surname", "tom", "test:same_surname:tom", la_codes=["880"],
                       children=["RC0000000001"])
    theirs = raise_access_alert(engine, "hourly_limit", "ben", "test:hourly_limit:ben", la_codes=["881"])
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    page = sign_in(context, service, "abi")
    page.goto(service["url"] + "/alerts")
    listed = page.get_by_test_id("alerts").inner_text()
    assert "same_surname" in listed and "tom" in listed and "hourly_limit" not in listed, "their authority's only"
    assert no_accessibility_violations(page) == []
    forged = page.request.post(service["url"] + "/alerts", form={
        "alert": str(theirs), "action": "suspend",
        "csrfmiddlewaretoken": next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")},
        headers={"Referer": service["url"] + "/alerts"})
    assert forged.status == 404, "another authority's alert"
    page.get_by_role("button", name="Suspend tom").click()
    assert "tom\tdisabled" in rollcall("users", "list", "--db", service["db"]).stdout
    assert "same_surname" not in page.content(), "handled"
    assert audit_entries(service, actor="abi")[0]["action"] == "admin_user_suspend"
    context.close()
    assert mine


def test_an_officer_sees_late_providers_and_records_from_stale_rolls_marked(browser, service):
    from datetime import timedelta

    from sqlalchemy import select

    from register.db import open_register
    from register.models import SourceRecord
    from sources.deliveries import Cadence, provider_deliveries, save_provider_status

    engine = open_register(service["db"])
    later = AS_OF + timedelta(days=90)  # as the deliveries would be checked three months on
    save_provider_status(engine, provider_deliveries(engine, later, Cadence()), later)
    child = a_child_in_caseload(service, "880")
    with engine.connect() as conn:
        providers = set(conn.execute(select(SourceRecord.provider).where(SourceRecord.child_id == child,
                                                                        SourceRecord.active.is_(True))).scalars())
    context = browser.new_context(bypass_csp=True)  # for axe, injected inline
    page = sign_in(context, service, "lee")
    page.goto(service["url"] + "/providers")
    table = page.get_by_test_id("providers").inner_text()
    assert "8802000" in table and "Late" in table and "Stale roll" in table
    assert "8812000" not in table, "another authority's schools are not listed"
    assert no_accessibility_violations(page) == []
    page.goto(service["url"] + "/cme")
    assert "providers are late" in page.inner_text("main")
    page.goto(service["url"] + f"/children/{child}")
    assert providers and page.get_by_text("Stale", exact=True).count() >= 1
    context.close()
    save_provider_status(engine, provider_deliveries(engine, AS_OF, Cadence()), AS_OF)


def test_a_childs_page_shows_its_history_and_an_old_id_finds_the_children_it_became(browser, service):
    from sqlalchemy import select

    from register.db import open_register
    from register.models import Child, ChildEvent

    child = a_child_in_caseload(service, "880")
    page = sign_in(browser, service, "hal")
    page.goto(service["url"] + f"/children/{child}")
    table = page.get_by_test_id("history").inner_text()
    assert "Created" in table and "A record joined" in table and "run " in table
    # An id retired by a split into two children of this authority: the page lists both.
    engine = open_register(service["db"])
    with engine.connect() as conn:
        two = [c for c in conn.execute(select(ChildEvent.child_id).where(ChildEvent.event == "created")
                                       .order_by(ChildEvent.id)).scalars()
               if c != child and a_child_visible_to_880(service, c)][:1] + [child]
        keys = {c: conn.execute(select(ChildEvent.record_key).where(ChildEvent.child_id == c,
                                                                     ChildEvent.event == "record_joined")).scalars().first()
                for c in two}
    with engine.begin() as conn:
        conn.execute(Child.__table__.insert().values(child_id="RCSPLITOLD01", created_at=AS_OF, retired_at=AS_OF,
                                                     now_child_id=two[0]))
        for c in two:
            conn.execute(ChildEvent.__table__.insert().values(child_id="RCSPLITOLD01", at=AS_OF, event="record_left",
                                                              record_key=keys[c], other_child_id=c, cause="test"))
    page.goto(service["url"] + "/children/RCSPLITOLD01")
    assert "is now several children" in page.inner_text("main")
    assert all(page.get_by_role("link", name=c).count() == 1 for c in two)
    page.close()


def a_child_visible_to_880(service, child_id: str) -> bool:
    from oversight.lookup import child_visible
    from register.db import open_register

    return child_visible(open_register(service["db"]), child_id, ["880"])
