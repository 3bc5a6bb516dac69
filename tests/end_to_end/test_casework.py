"""A CME officer's week in a real browser: the CME list as a work list (who each child is,
filters, sorting, pages, the CSV), a case run to time (assigned, a next action due by the
authority's timescale, enquiries, closed after a check), the home page's counts, navigation by
role, the service's error pages, the cases no authority owns and an authority's timescales.
axe-core checks every page these tests open."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from cme import working_days_after
from register import CmeCase, CmeFlag, open_register, today
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

PAGE_SIZE = 2


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """About 2,000 children in three authorities (some 15 cases in 880); a case of 881's given to no authority (as a
    child no source places anywhere is); officers, an analyst, an administrator and a CME
    coordinator; the service with 2 rows a page."""
    home = tmp_path_factory.mktemp("casework-week")
    db = built_register(home, children=2000, seed=3)
    engine = open_register(db)
    with engine.begin() as conn:
        unowned = conn.execute(select(CmeCase.id, CmeCase.child_id).where(CmeCase.la_code == "881")
                               .order_by(CmeCase.id).limit(1)).one()
        conn.execute(update(CmeCase).where(CmeCase.id == unowned.id).values(la_code=""))
        conn.execute(update(CmeFlag).where(CmeFlag.child_id == unowned.child_id)
                     .values(la_code="", reason="RESIDENCE_UNKNOWN"))
    engine.dispose()
    # One user per sign-in: a one-time code is accepted once (django-otp refuses a replayed code).
    keys = {name: add_user(db, name, role, la) for name, role, la in (
        ("olga", "cme_officer", "880"), ("owen", "cme_officer", "880"), ("oona", "cme_officer", "880"),
        ("omar", "cme_officer", "880"), ("ann", "analyst", "880"), ("adam", "authority_admin", "880"),
        ("cora", "cme_coordinator", ""), ("otis", "cme_officer", "880"), ("alf", "analyst", "880"),
        ("opal", "cme_officer", "880"), ("oleg", "cme_officer", "880"), ("abby", "analyst", "880"),
        ("odin", "cme_officer", "880"), ("olly", "cme_officer", "880"), ("ozzy", "cme_officer", "880"))}
    try:
        with serving(db, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key"),
                              "ROLLCALL_LIST_PAGE_SIZE": str(PAGE_SIZE)}) as url:
            yield {"url": url, "keys": keys, "db": db, "home": home, "unowned": unowned.id}
    except ServiceDidNotStart as exc:
        pytest.fail(f"the service did not start: {exc}")


@pytest.fixture
def axe_context(browser):
    """A browser context that lets axe's inline script past the service's content security policy."""
    context = browser.new_context(bypass_csp=True)
    yield context
    context.close()


def sign_in(browser, service, name: str):
    return browser_sign_in(browser, service["url"], name, PASSWORD, service["keys"][name])


def exported(service, tmp_name: str) -> list[dict]:
    out = service["home"] / tmp_name
    done = rollcall("export", "cme", "--db", service["db"], "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def rows_of(page) -> list:
    return page.locator("[data-testid=cme-list] tbody tr").all()


def test_the_cme_list_says_who_each_child_is_and_filters_sorts_and_pages(axe_context, service):
    page = sign_in(axe_context, service, "olga")
    page.goto(service["url"] + "/cme")
    assert no_accessibility_violations(page) == []
    ours = [r for r in exported(service, "all.csv") if r["la_code"] == "880"]
    summary = page.get_by_test_id("list-summary").inner_text()
    assert f"{len(ours)} open cases" in summary
    pages = -(-len(ours) // PAGE_SIZE)
    assert page.get_by_test_id("page-of").inner_text() == f"Page 1 of {pages}"
    assert len(rows_of(page)) == PAGE_SIZE
    first = rows_of(page)[0].inner_text()
    by_id = {r["child_id"]: r for r in ours}
    child = next(c for c in by_id if c in first)
    row = by_id[child]
    assert f"{row['forename']} {row['surname']}" in first
    assert re.search(r"\d+, (Year \d+|Reception)", first), "age and year group"
    assert "(" + row["reason"] + ")" in first and "Not assigned" in first
    page.get_by_role("link", name="Page 2", exact=True).click()
    assert page.get_by_test_id("page-of").inner_text() == f"Page 2 of {pages}"
    # A filter from the form: the reason most cases share.
    reason = max({r["reason"] for r in ours}, key=lambda x: sum(r["reason"] == x for r in ours))
    page.goto(service["url"] + "/cme")
    page.get_by_text("Filter the list").click()
    page.locator("#reason").select_option(reason)
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Apply filters").click()
    assert parse_qs(urlparse(page.url).query)["reason"] == [reason]
    wanted = [r for r in ours if r["reason"] == reason]
    assert f"{len(wanted)} open case" in page.get_by_test_id("list-summary").inner_text()
    assert all(f"({reason})" in r.inner_text() for r in rows_of(page))
    assert no_accessibility_violations(page) == []
    # Sorting by name, ascending: the surnames of the first page in order.
    page.goto(service["url"] + "/cme?sort=name&order=ascending")
    names = [r.locator("td").first.locator("a").inner_text().split(",")[0].strip() for r in rows_of(page)]
    surnames = sorted(r["surname"] for r in ours)[:PAGE_SIZE]
    assert [n.split(" ")[-1] for n in names] == surnames
    # A filter value that cannot be read: an error beside its own field.
    page.goto(service["url"] + "/cme?days_missing_min=ten")
    expect(page.locator("#days_missing_min-error")).to_be_visible()
    assert "Days missing must be a whole number" in page.locator(".govuk-error-summary").inner_text()
    assert no_accessibility_violations(page) == []
    page.close()


def test_the_csv_of_a_filtered_list_is_the_cme_export_for_the_same_children(browser, service):
    page = sign_in(browser, service, "owen")
    ours = [r for r in exported(service, "for-csv.csv") if r["la_code"] == "880"]
    school = next(r["last_school"] for r in ours if r["last_school"])
    answer = page.request.get(service["url"] + f"/cme.csv?school={school}&sort=case")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    got = list(csv.DictReader(io.StringIO(answer.text())))
    want = [r for r in ours if r["last_school"] == school]
    assert want and sorted(r["child_id"] for r in got) == sorted(r["child_id"] for r in want)
    by_child = {r["child_id"]: r for r in want}
    for r in got:
        assert {k: r[k] for k in by_child[r["child_id"]]} == by_child[r["child_id"]], "the export's columns, the same"
        assert r["status"] == "open" and r["case_id"].isdigit()
    everything = list(csv.DictReader(io.StringIO(page.request.get(service["url"] + "/cme.csv").text())))
    assert sorted(r["child_id"] for r in everything) == sorted(by["child_id"] for by in ours)
    entries = open_register(service["db"])
    from oversight import entries as audit_entries

    exports = [e for e in audit_entries(entries, limit=50) if e["action"] == "export_cme_list" and e["actor"] == "owen"]
    assert len(exports) == 2, "each CSV is audited as an export"
    page.close()


def test_an_officer_takes_a_case_from_the_list_to_closed(axe_context, service):
    page = sign_in(axe_context, service, "oona")
    page.goto(service["url"] + "/cme?officer=none&sort=case")
    link = rows_of(page)[0].locator("a").first
    name = link.inner_text().split(",")[0].strip()
    link.click()
    case_url = page.url.split("?")[0]
    assert page.get_by_role("heading", level=1).inner_text() == name
    assert page.get_by_role("link", name="Back to the CME list").get_attribute("href").startswith("/cme?")
    assert "Date of birth" in page.get_by_test_id("case-summary").inner_text()
    assert no_accessibility_violations(page) == []
    page.locator("#officer").select_option("oona")
    page.get_by_role("button", name="Assign").click()
    assert page.get_by_test_id("banner").inner_text().endswith("Case assigned to oona")
    assert page.get_by_test_id("case-officer").inner_text() == "oona"
    page.locator("#next_action").select_option("contact_family")
    page.get_by_role("button", name="Set the next action").click()
    due = working_days_after(today(), 5)
    assert f"due {due.day} {due:%B %Y}" in page.get_by_test_id("case-next-action").inner_text()
    page.locator("#kind").select_option("visit")
    page.get_by_label("What was found").fill("No one at home; a neighbour says the family moved in August")
    page.get_by_role("button", name="Add enquiry").click()
    history = page.get_by_test_id("case-history").inner_text()
    assert "Home visit" in history and "Assigned" in history and "Next action set" in history
    # Closing without the details: each error beside its own field.
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#outcome-error")).to_be_visible()
    expect(page.locator("#found_on-error")).to_be_visible()
    expect(page.locator("#evidence-error")).to_be_visible()
    assert no_accessibility_violations(page) == []
    page.get_by_label("On roll in another authority").check()
    page.get_by_role("button", name="Continue").click()
    assert page.locator("#found_at-error").inner_text().endswith("Enter the school or authority where the child was found")
    fill_closing(page, "On roll in another authority", "Leeds City Council", AS_OF,
                 "Leeds CME officer confirmed the school place by email")
    expect(page.get_by_role("heading", name="Check before you close the case")).to_be_visible()
    assert "Leeds City Council" in page.get_by_test_id("closing-summary").inner_text()
    assert no_accessibility_violations(page) == []
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Confirm and close the case").click()
    assert page.url.split("?")[0] == case_url
    assert "closed: On roll in another authority" in page.get_by_test_id("banner").inner_text()
    assert page.get_by_test_id("case-status").inner_text() == "Closed"
    assert "Leeds City Council" in page.get_by_test_id("case-outcome").inner_text()
    page.close()


def test_the_home_page_counts_the_work_waiting_for_each_role(browser, service):
    page = sign_in(browser, service, "omar")
    counts = page.get_by_test_id("case-counts").inner_text()
    open_now = int(re.search(r"Open\s+(\d+)", counts).group(1))
    assert open_now >= 1 and re.search(r"Yours\s+0", counts)
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("link", name=re.compile("open cases")).click()
    assert page.url.endswith("/cme")
    page.goto(service["url"] + "/cme?officer=none&sort=case")
    with page.expect_navigation():
        rows_of(page)[0].locator("a").first.click()
    case_id = int(re.search(r"/cases/(\d+)", page.url).group(1))
    page.locator("#officer").select_option("omar")
    with page.expect_navigation():
        page.get_by_role("button", name="Assign").click()
    page.locator("#next_action").select_option("home_visit")
    with page.expect_navigation():
        page.get_by_role("button", name="Set the next action").click()
    page.goto(service["url"] + "/")
    assert re.search(r"Yours\s+1", page.get_by_test_id("case-counts").inner_text())
    assert page.get_by_test_id("pairs-waiting").count() == 0, "an officer does not review pairs"
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("cases assigned to you")).click()
    assert "officer=me" in page.url and [r.get_attribute("data-case") for r in rows_of(page)] == [str(case_id)]
    # The visit was not made in time: the case is overdue on the list, on the home page and by filter.
    with open_register(service["db"]).begin() as conn:
        conn.execute(update(CmeCase).where(CmeCase.id == case_id).values(due_on=today() - timedelta(days=1)))
    page.goto(service["url"] + "/cme?overdue=yes")
    overdue = [r for r in rows_of(page) if r.get_attribute("data-case") == str(case_id)]
    assert overdue and "Overdue" in overdue[0].inner_text()
    page.goto(service["url"] + "/")
    assert int(re.search(r"Overdue\s+(\d+)", page.get_by_test_id("case-counts").inner_text()).group(1)) >= 1
    page.close()
    analyst = sign_in(browser, service, "ann")
    assert re.search(r"\d+ pairs? waiting", analyst.get_by_test_id("pairs-waiting").inner_text())
    assert analyst.get_by_test_id("case-counts").count() == 0
    analyst.close()


def test_the_menu_shows_only_what_a_role_may_use_and_errors_keep_the_layout(axe_context, service):
    analyst = sign_in(axe_context, service, "alf")
    menu = analyst.get_by_role("navigation", name="Menu").inner_text()
    assert "Match review" in menu and "CME cases" not in menu and "Users" not in menu
    answer = analyst.goto(service["url"] + "/cme")
    assert answer.status == 403
    expect(analyst.get_by_role("heading", name="You cannot use this page")).to_be_visible()
    expect(analyst.get_by_role("button", name="Sign out")).to_be_visible()  # the service's layout, with its menu
    assert no_accessibility_violations(analyst) == []
    answer = analyst.goto(service["url"] + "/no-such-page")
    assert answer.status == 404 and analyst.get_by_role("heading", name="Page not found").is_visible()
    analyst.close()
    officer = sign_in(axe_context, service, "opal")
    menu = officer.get_by_role("navigation", name="Menu").inner_text()
    assert "CME cases" in menu and "Match review" not in menu and "Audit log" not in menu
    officer.close()


def test_an_authoritys_timescales_set_the_due_dates_of_its_cases(axe_context, service):
    admin = sign_in(axe_context, service, "adam")
    admin.goto(service["url"] + "/timescales")
    assert no_accessibility_violations(admin) == []
    admin.get_by_label("Home visit").fill("0")
    admin.get_by_role("button", name="Save timescales").click()
    assert admin.locator("#home_visit-error").is_visible() and no_accessibility_violations(admin) == []
    admin.get_by_label("Home visit").fill("3")
    admin.get_by_role("button", name="Save timescales").click()
    assert "Timescales saved for authority 880" in admin.get_by_test_id("banner").inner_text()
    admin.close()
    officer = sign_in(axe_context, service, "otis")
    officer.goto(service["url"] + "/cme?sort=case&order=descending")
    rows_of(officer)[0].locator("a").first.click()
    officer.locator("#next_action").select_option("home_visit")
    officer.get_by_role("button", name="Set the next action").click()
    due = working_days_after(today(), 3)
    assert f"due {due.day} {due:%B %Y}" in officer.get_by_test_id("case-next-action").inner_text()
    officer.close()


def test_a_cme_coordinator_works_the_cases_no_authority_owns(axe_context, service):
    officer = sign_in(axe_context, service, "oleg")
    assert officer.goto(service["url"] + f"/cases/{service['unowned']}").status == 404, "no authority's officer has it"
    assert officer.goto(service["url"] + "/unowned").status == 403
    officer.close()
    page = sign_in(axe_context, service, "cora")
    assert "1 open case" in page.get_by_test_id("unowned-count").inner_text()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="No authority").click()
    expect(page.get_by_role("heading", name="Children no authority owns")).to_be_visible()
    assert no_accessibility_violations(page) == []
    assert len(rows_of(page)) == 1 and "RESIDENCE_UNKNOWN" in rows_of(page)[0].inner_text()
    rows_of(page)[0].locator("a").first.click()
    assert page.get_by_role("link", name="Back to the CME list").get_attribute("href") == "/unowned"
    page.locator("#officer").select_option("cora")
    page.get_by_role("button", name="Assign").click()
    assert page.get_by_test_id("case-officer").inner_text() == "cora"
    page.close()


def test_an_analyst_works_a_paged_queue_and_saves_and_goes_on_to_the_next_pair(axe_context, service):
    page = sign_in(axe_context, service, "abby")
    page.goto(service["url"] + "/review")
    totals = page.get_by_test_id("queue-totals").inner_text()
    waiting = int(re.match(r"(\d+) pairs? waiting", totals).group(1))
    assert waiting > PAGE_SIZE, "enough pairs for a second page"
    assert page.get_by_test_id("page-of").inner_text() == f"Page 1 of {-(-waiting // PAGE_SIZE)}"
    assert no_accessibility_violations(page) == []
    page.locator("#touches").select_option("yes")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Apply filters").click()
    assert "touches=yes" in page.url and all(
        row.locator("td").nth(1).inner_text() == "Yes" for row in page.locator("table tbody tr").all())
    page.goto(service["url"] + "/review")
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("link", name="Start with the first pair").click()
    first = page.url
    page.get_by_label("Not sure").check()
    with page.expect_navigation():  # the next page, loaded, before it is read
        page.get_by_role("button", name="Save and go to the next pair").click()
    assert page.url != first and re.search(r"/review/\d+$", page.url)
    assert re.search(r"Decision on pair \d+ saved", page.get_by_test_id("banner").inner_text())
    page.goto(page.url + "?score=shown")
    words = page.get_by_test_id("score").inner_text()
    assert re.search(r"The model's view: (Match|Potential match|Low confidence|No match|Many)", words)
    assert no_accessibility_violations(page) == []
    page.close()


def test_deliveries_show_held_extracts_and_quarantined_rows_with_why(axe_context, service):
    from register import ExtractFile, QuarantinedRow

    engine = open_register(service["db"])
    with engine.begin() as conn:
        # 880's providers and the GP practices, which serve every authority.
        ours = ExtractFile.provider.like("880%") | ~ExtractFile.provider.like("88%")
        quarantined = conn.execute(select(ExtractFile.name, ExtractFile.rows_quarantined)
                                   .where(ExtractFile.rows_quarantined > 0, ours)).all()
        columns = set(conn.execute(select(QuarantinedRow.column)).scalars())
        # The operator's checks held one school's extract (as a sudden drop in rows would).
        held = conn.execute(select(ExtractFile.id, ExtractFile.name).where(ExtractFile.provider.like("880%"),
                                                                           ExtractFile.rows_quarantined == 0)
                            .order_by(ExtractFile.id).limit(1)).one()
        conn.execute(update(ExtractFile).where(ExtractFile.id == held.id).values(status="held"))
    assert quarantined, "the generated extracts carry bad rows"
    page = sign_in(axe_context, service, "odin")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Deliveries").click()
    assert held.name in page.get_by_test_id("held-extracts").inner_text()
    table = page.get_by_test_id("quarantined-rows").inner_text()
    for name, n in quarantined:
        assert name in table and f"{n} of " in table
    assert any(f"{c}:" in table for c in columns), "each column's reason"
    assert no_accessibility_violations(page) == []
    with engine.begin() as conn:
        conn.execute(update(ExtractFile).where(ExtractFile.id == held.id).values(status="accepted"))
    page.close()


def test_a_childs_page_says_who_the_child_is_before_the_records(axe_context, service, tmp_path):
    ours = [r for r in exported(service, "who.csv") if r["la_code"] == "880" and r["last_school"] and r["postcode"]]
    row = ours[0]
    page = sign_in(axe_context, service, "olly")
    page.goto(service["url"] + f"/children/{row['child_id']}")
    if page.get_by_role("button", name="Open the record").count():  # outside the caseload: say why
        page.get_by_label("Why are you opening this child's record?").fill("Checking the case I was given")
        page.get_by_role("button", name="Open the record").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(row["forename"])
    who = page.get_by_test_id("child-identity").inner_text()
    born = date.fromisoformat(row["dob"])
    assert f"{born.day} {born:%B %Y}" in who and row["postcode"] in who and row["address_line1"] in who
    assert f"Left {row['last_school']} on " in who or f"On the roll of {row['last_school']}" in who
    assert "Identifiers" in who and ("NHS number" in who or "UPN" in who)
    assert no_accessibility_violations(page) == []
    page.close()


def test_a_fault_in_the_service_is_a_govuk_500_page_that_says_nothing_of_the_fault(axe_context, service):
    from sqlalchemy import text

    page = sign_in(axe_context, service, "ozzy")
    engine = open_register(service["db"])
    with engine.begin() as conn:  # the register loses a table under the service (a botched migration, say)
        conn.execute(text("ALTER TABLE provider_status RENAME TO provider_status_away"))
    try:
        answer = page.goto(service["url"] + "/providers")
        assert answer.status == 500
        expect(page.get_by_role("heading", name="Sorry, there is a problem with the service")).to_be_visible()
        assert "provider_status" not in page.content() and "Traceback" not in page.content()
        assert page.locator("link[href*='govuk-frontend']").count() == 1, "in the service's layout"
        assert no_accessibility_violations(page) == []
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE provider_status_away RENAME TO provider_status"))
    page.close()
