"""An authority's children-not-in-school register in a real browser: the register page (filters,
sorting, pages, the CSV, the DfE's termly return), an entry with its s.436C(1) items and its
duties (a provider asked twice within three months is refused, the parents' failure then the
notice), the entry on the child's page, and who may open it. axe-core checks every page."""
from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from cme import latest_cme_date
from cnis import entries_of, entry_detail
from register import open_register
from tests.browser import PASSWORD, ServiceDidNotStart, add_user, built_register, no_accessibility_violations, serving
from tests.browser import sign_in as browser_sign_in

PAGE_SIZE = 3


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """About 2,000 children in three authorities; officers of 880 and an analyst; 3 rows a page."""
    home = tmp_path_factory.mktemp("cnis-pages")
    db = built_register(home, children=2000, seed=5)
    keys = {name: add_user(db, name, role, "880") for name, role in (
        ("olga", "cme_officer"), ("owen", "cme_officer"), ("oona", "cme_officer"), ("omar", "cme_officer"),
        ("ann", "analyst"))}
    engine = open_register(db)
    try:
        with serving(db, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key"),
                              "ROLLCALL_LIST_PAGE_SIZE": str(PAGE_SIZE)}) as url:
            yield {"url": url, "keys": keys, "db": db, "engine": engine}
    except ServiceDidNotStart as exc:
        pytest.fail(f"the service did not start: {exc}")
    finally:
        engine.dispose()


@pytest.fixture
def axe_context(browser):
    context = browser.new_context(bypass_csp=True)
    yield context
    context.close()


def sign_in(browser, service, name: str):
    return browser_sign_in(browser, service["url"], name, PASSWORD, service["keys"][name])


def open_entries(service):
    return entries_of(service["engine"], ["880"], latest_cme_date(service["engine"]))


def rows_of(page) -> list:
    return page.locator("[data-testid=cnis-list] tbody tr").all()


def test_the_register_page_filters_sorts_pages_and_downloads(axe_context, service):
    page = sign_in(axe_context, service, "olga")
    ours = open_entries(service)
    page.goto(service["url"] + "/")
    assert f"{len(ours)} children on your register" in page.get_by_test_id("register-counts").inner_text()
    page.get_by_role("link", name="Not in school").click()
    expect(page.get_by_test_id("register-summary")).to_be_visible()
    assert no_accessibility_violations(page) == []
    assert f"{len(ours)} children on it" in page.get_by_test_id("register-summary").inner_text()
    pages = -(-len(ours) // PAGE_SIZE)
    assert page.get_by_test_id("page-of").inner_text() == f"Page 1 of {pages}"
    assert len(rows_of(page)) == PAGE_SIZE
    # Longest on the register first; the first row says who the child is.
    first = rows_of(page)[0].inner_text()
    top = next(i for i in ours if i.child_id in first)
    assert top.name in first and top.year_group in first
    # A filter from the form: home educated children.
    page.get_by_text("Filter the register").click()
    page.locator("#basis").select_option("EHE")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply filters").click()
    assert parse_qs(urlparse(page.url).query)["basis"] == ["EHE"]
    ehe = [i for i in ours if i.basis == "EHE"]
    assert f"{len(ehe)} child" in page.get_by_test_id("register-summary").inner_text()
    assert all("Electively home educated" in r.inner_text() for r in rows_of(page))
    assert no_accessibility_violations(page) == []
    # Sorted by name, then the CSV of the same filters.
    with page.expect_navigation():
        page.get_by_role("link", name="Name").click()
    assert "sort=name" in page.url
    answer = page.request.get(service["url"] + "/not-in-school.csv?basis=EHE")
    assert answer.status == 200 and "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert sorted(r["child_id"] for r in rows) == sorted(i.child_id for i in ehe)
    assert {r["basis"] for r in rows} == {"EHE"} and list(rows[0])[0] == "child_id"
    # A bad filter value is an error beside its field.
    page.goto(service["url"] + "/not-in-school?days_min=ten")
    expect(page.locator("#days_min-error")).to_be_visible()
    assert "whole number" in page.locator("#days_min-error").inner_text()
    # The DfE's termly return for the authority, counts only.
    ret = page.request.get(service["url"] + "/not-in-school/dfe-return.csv?la=880")
    assert ret.status == 200
    counted = list(csv.DictReader(io.StringIO(ret.text())))
    total = {(r["section"], r["measure"]): int(r["count"]) for r in counted if r["category"] == "total"}
    assert total[("EHE", "by sex")] == len(ehe)
    assert not any(i.child_id in ret.text() for i in ours)


def _entry_with_providers(service):
    for i in open_entries(service):
        if i.basis == "EHE":
            d = entry_detail(service["engine"], i)
            if d.educators and d.parents:
                return i, d
    raise AssertionError("no home-educated child with a provider")


def test_an_entry_shows_its_items_and_its_duties_run_by_the_rules(axe_context, service):
    item, detail = _entry_with_providers(service)
    page = sign_in(axe_context, service, "owen")
    page.goto(service["url"] + f"/not-in-school/{item.entry_id}")
    expect(page.get_by_test_id("entry-summary")).to_be_visible()
    assert "Electively home educated" in page.get_by_test_id("entry-basis").inner_text()
    assert detail.parents[0].name in page.get_by_test_id("parents").inner_text()
    assert detail.educators[0].name in page.get_by_test_id("educators").inner_text()
    duties = page.get_by_test_id("duties").inner_text()
    assert "Ask the parents for a home visit (s.436B)" in duties
    assert no_accessibility_violations(page) == []
    # Ask a provider; asking it again within three months is refused, saying when it may be.
    provider = detail.educators[0].name
    page.locator("#provider_name").fill(provider)
    with page.expect_navigation():
        page.get_by_role("button", name="Record the request to the provider").click()
    assert f"Request to {provider} recorded" in page.get_by_test_id("banner").inner_text()
    page.locator("#provider_name").fill(provider)
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Record the request to the provider").click()
    assert nav.value.status == 409
    assert "the next request is allowed from" in page.locator("#provider_name-error").inner_text()
    assert no_accessibility_violations(page) == []
    # The notice is refused until the parents fail to give the information.
    with page.expect_navigation():
        page.get_by_role("button", name="Record the notice served (s.437(1))").click()
    assert "only after the parents failed" in page.locator("#notice").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Record the request to the parents").click()
    assert "Request to the parents recorded" in page.get_by_test_id("banner").inner_text()
    page.locator("#step").select_option(label=next(o for o in page.locator("#step option").all_inner_texts()
                                                   if o.startswith("Ask the parents for the register")))
    page.get_by_label("The parents did not give the information").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Record the answer").click()
    assert "Answer recorded" in page.get_by_test_id("banner").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Record the notice served (s.437(1))").click()
    assert "recorded" in page.get_by_test_id("banner").inner_text()
    duties = page.get_by_test_id("duties").inner_text()
    for words in ("Ask a provider for information (s.436E): " + provider, "The parents did not give the information",
                  "Notice that starts the school attendance order process (s.437(1))"):
        assert words in duties
    # The child's page shows the entry and leads to it.
    page.get_by_role("link", name=item.child_id).click()
    expect(page.get_by_test_id("cnis-entry-summary")).to_be_visible()
    assert detail.parents[0].name in page.get_by_test_id("cnis-entry-summary").inner_text()
    assert no_accessibility_violations(page) == []


def test_only_cme_officers_open_the_register(axe_context, service):
    page = sign_in(axe_context, service, "ann")
    assert page.get_by_role("link", name="Not in school").count() == 0
    assert page.goto(service["url"] + "/not-in-school").status == 403
    item = open_entries(service)[0]
    assert page.goto(service["url"] + f"/not-in-school/{item.entry_id}").status == 403
    assert page.goto(service["url"] + "/not-in-school.csv").status == 403
