"""Playing the attacker against the casework service, through HTTP and the browser. Each test
fails if its defence is taken away: another authority's child by every URL and every search,
forged cross-site requests on every form, script arriving in names and addresses, SQL
metacharacters in every search box, session fixation, a replayed one-time code, framing by
another site, the security headers (HSTS when served over TLS), formula cells in the exports.
(Lockout after five wrong passwords is tests/end_to_end/test_browser.py; a changed audit row found by
`rollcall audit verify`, tests/oversight/test_audit.py.)"""
from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select, update

from casework.users import key_bytes
from oversight.lookup import child_visible, in_authorities
from register.db import open_register
from register.models import CandidatePair, CmeCase, SourceRecord
from tests.browser import ROOT, built_register, serving, sign_in

pytestmark = pytest.mark.attacks

PASSWORD = "Correct-horse-battery-9"
SCRIPT = '<script>window.__pwned = 1</script>'
IMG = '"><img src=x onerror="window.__pwned = 1">'


def rollcall(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def add_user(db: str, name: str, roles: tuple[str, ...], la: str) -> bytes:
    done = rollcall("users", "add", name, *[a for r in roles for a in ("--role", r)],
                    *[a for code in la.split(",") for a in ("--la", code)], "--db", db, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return key_bytes(next(x.split(": ", 1)[1] for x in done.stdout.splitlines() if x.startswith("or as a link")))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A register of three authorities with script planted in one 880 child's names and address
    (as an extract could carry them), a formula in another's surname, and the service."""
    home = tmp_path_factory.mktemp("attacks")
    db = built_register(home, children=300, seed=5)
    engine = open_register(db)
    with engine.begin() as conn:
        case = conn.execute(select(CmeCase.id, CmeCase.child_id).where(CmeCase.la_code == "880")
                            .order_by(CmeCase.id)).first()
        conn.execute(update(SourceRecord).where(SourceRecord.child_id == case.child_id).values(
            forename=SCRIPT, surname=IMG, address_line1=SCRIPT, middle_names=IMG))
        other = conn.execute(select(CmeCase.child_id).where(CmeCase.la_code == "880", CmeCase.id != case.id)
                             .order_by(CmeCase.id)).scalar()
        conn.execute(update(SourceRecord).where(SourceRecord.child_id == other).values(surname="=HYPERLINK(\"x\")"))
        theirs = next(c for c in conn.execute(select(CmeCase.id, CmeCase.child_id).where(CmeCase.la_code == "881")
                                              .order_by(CmeCase.id)) if not child_visible(engine, c.child_id, ["880"]))
        their_record = conn.execute(select(SourceRecord.id, SourceRecord.record_key, SourceRecord.upn, SourceRecord.nhs_number,
                                           SourceRecord.postcode, SourceRecord.la_child_id)
                                    .where(SourceRecord.child_id == theirs.child_id)).first()
        keys_880 = set(conn.execute(select(SourceRecord.record_key).where(in_authorities(["880"]))).scalars())
        their_pair = next((p.id for p in conn.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b))
                           if not {p.key_a, p.key_b} & keys_880), None)
    hidden = plant_shields(engine, avoid={case.child_id}, rather_not={other})
    keys = {name: add_user(db, name, ("cme_officer", "analyst", "auditor"), "880")
            for name in ("eve", "mal", "rex", "zed", "sid", "kim", "ned", "pat")}
    keys["sol"] = add_user(db, "sol", ("cme_officer", "analyst", "shielded_access"), "880")
    keys["two"] = add_user(db, "two", ("cme_officer", "analyst"), "880,881")
    log = home / "service.log"
    with serving(db, workers=2, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key")}, log=log) as url:
        yield {"url": url, "db": db, "keys": keys, "home": home, "case": case, "formula_child": other,
               "theirs": theirs, "their_record": their_record, "their_pair": their_pair, "hidden": hidden,
               "log": log}


def plant_shields(engine, avoid: set[str], rather_not: set[str]) -> dict:
    """Shield two children of 880 as an authority's extract would: one on a school roll and
    registered with a GP (in a review pair where there is one), and one with a CME case. Returns
    them with every value that would place them: their schools' LAESTABs, GP practice codes, UPNs
    and postcodes."""
    from oversight.shield import SCOPE_STATE
    from register.models import RegisterState

    with engine.begin() as conn:
        rows = conn.execute(select(SourceRecord.child_id, SourceRecord.feed, SourceRecord.provider,
                                   SourceRecord.record_key).where(in_authorities(["880"]),
                                                                  SourceRecord.active.is_(True))).all()
        feeds: dict[str, set] = {}
        for r in rows:
            feeds.setdefault(r.child_id, set()).add(r.feed)
        paired = {k for p in conn.execute(select(CandidatePair.key_a, CandidatePair.key_b)) for k in p}
        with_pair = {r.child_id for r in rows if r.record_key in paired}
        cased = set(conn.execute(select(CmeCase.child_id).where(CmeCase.la_code == "880")).scalars())
        both = sorted(c for c, f in feeds.items() if {"school", "health"} <= f and c not in avoid | rather_not | cased)
        at_school = next((c for c in both if c in with_pair), both[0])
        missing = sorted(cased - avoid - {at_school}, key=lambda c: (c in rather_not, c))[0]
        children = [at_school, missing]
        children += sorted(with_pair - avoid - rather_not - set(children))[:1]  # one in a review pair
        conn.execute(update(SourceRecord).where(SourceRecord.child_id.in_(children)).values(shielded=True))
        conn.execute(RegisterState.__table__.delete().where(RegisterState.name == SCOPE_STATE))
        placing, shared = set(), set()
        for r in conn.execute(select(SourceRecord.feed, SourceRecord.provider, SourceRecord.upn,
                                     SourceRecord.former_upn, SourceRecord.postcode, SourceRecord.destination_laestab)
                              .where(SourceRecord.child_id.in_(children))):
            placing |= {v for v in (r.upn, r.former_upn, r.postcode, r.destination_laestab) if v}
            if r.feed != "la":
                placing.add(r.provider)
            # A school's or practice's code is every pupil's and patient's too: other children's
            # rows of a list may carry it.
            shared |= {v for v in (r.destination_laestab, r.provider if r.feed != "la" else "") if v}
        nhs = set(conn.execute(select(SourceRecord.nhs_number).where(SourceRecord.child_id == at_school,
                                                                     SourceRecord.nhs_number.is_not(None))).scalars())
        upns = set(conn.execute(select(SourceRecord.upn).where(SourceRecord.child_id == at_school,
                                                               SourceRecord.upn.is_not(None))).scalars())
        case_id = conn.execute(select(CmeCase.id).where(CmeCase.child_id == missing)).scalar()
    return {"at_school": at_school, "missing": missing, "children": children, "case": case_id,
            "placing": placing - {""}, "shared": shared,
            "nhs": sorted(nhs - {""}), "upns": sorted(upns - {""})}


def signed_in(browser, target, name):
    context = browser.new_context()
    page = sign_in(context, target["url"], name, PASSWORD, target["keys"][name])
    assert page.get_by_role("heading", name="Your work").is_visible(), page.inner_text("main")
    return context, page


def csrf(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")


def test_another_authoritys_child_is_not_there_by_any_url_or_search(browser, target):
    context, page = signed_in(browser, target, "eve")
    theirs, record = target["theirs"], target["their_record"]
    url, token = target["url"], csrf(context)
    headers = {"Referer": url + "/"}
    answers = {
        "child": page.request.get(f"{url}/children/{theirs.child_id}"),
        "reason": page.request.post(f"{url}/children/{theirs.child_id}", form={"reason": "a reason long enough",
                                                                                "csrfmiddlewaretoken": token},
                                    headers=headers),
        "cluster": page.request.post(f"{url}/children/{theirs.child_id}/cluster", form={
            "action": "merge", "other_child": theirs.child_id, "reason": "x", "csrfmiddlewaretoken": token},
            headers=headers),
        "break-glass": page.request.post(f"{url}/children/{theirs.child_id}/break-glass", form={
            "reason": "a reason long enough", "csrfmiddlewaretoken": token}, headers=headers),
        "case": page.request.get(f"{url}/cases/{theirs.id}"),
        "case note": page.request.post(f"{url}/cases/{theirs.id}", form={
            "action": "note", "kind": "call", "text": "x", "csrfmiddlewaretoken": token}, headers=headers),
        "record": page.request.get(f"{url}/records/{record.id}"),
    }
    if target["their_pair"]:
        answers["pair"] = page.request.get(f"{url}/review/{target['their_pair']}")
    assert {k: a.status for k, a in answers.items()} == {k: 404 for k in answers}
    assert not any(theirs.child_id in a.text() for a in answers.values())
    for query in (theirs.child_id, record.upn, record.nhs_number, record.postcode, record.la_child_id):
        if query:
            found = page.request.get(f"{url}/search", params={"q": query})
            assert found.status == 200 and "No children found." in found.text(), query
            assert f"/children/{theirs.child_id}" not in found.text(), query
    listed = page.request.get(f"{url}/cme?status=closed").text() + page.request.get(f"{url}/cme").text()
    assert theirs.child_id not in listed
    context.close()


def test_every_form_refuses_a_request_forged_by_another_site(browser, target):
    context, page = signed_in(browser, target, "mal")
    url, child, case = target["url"], target["case"].child_id, target["case"].id
    forms = {"/sign-out": {}, f"/children/{child}": {"reason": "a reason long enough"},
             f"/children/{child}/cluster": {"action": "merge", "other_child": "RC0", "reason": "x"},
             f"/children/{child}/break-glass": {"reason": "a reason long enough"},
             f"/cases/{case}": {"action": "note", "kind": "call", "text": "forged"}, "/users": {"action": "add"},
             "/alerts": {"alert": "1"}, "/sign-in": {"username": "mal", "password": PASSWORD}}
    with open_register(target["db"]).connect() as conn:
        pair = conn.execute(select(CandidatePair.id).order_by(CandidatePair.id)).scalar()
    forms[f"/review/{pair}"] = {"decision": "same", "version": "0", "reason": "forged"}
    # No token, and a request that claims to come from another site with a stolen-looking one.
    for path, form in forms.items():
        bare = page.request.post(url + path, form=form, headers={"Origin": "https://evil.example"})
        assert bare.status == 403, (path, bare.status)
    still = page.request.get(url + f"/cases/{case}")
    assert "forged" not in still.text()
    context.close()


def test_script_in_names_and_addresses_is_shown_as_text_on_every_page(browser, target):
    context, page = signed_in(browser, target, "rex")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    url, child, case = target["url"], target["case"].child_id, target["case"].id
    page.goto(f"{url}/children/{child}")
    if page.get_by_role("button", name="Open the record").count():
        page.get_by_label("Why are you opening this child's record?").fill(SCRIPT + " checking")
        page.get_by_role("button", name="Open the record").click()
    paths = [f"/children/{child}", f"/cases/{case}", "/cme", f"/search?q={child}", "/review"]
    with open_register(target["db"]).connect() as conn:
        rows = conn.execute(select(SourceRecord.id, SourceRecord.record_key).where(SourceRecord.child_id == child)).all()
        keys = [r.record_key for r in rows]
        pairs = conn.execute(select(CandidatePair.id).where(CandidatePair.key_a.in_(keys) |
                                                            CandidatePair.key_b.in_(keys))).scalars().all()
    paths += [f"/records/{rows[0].id}"] + [f"/review/{p}" for p in pairs]
    for path in paths:
        page.goto(url + path)
        assert page.evaluate("() => window.__pwned") is None, path
        assert page.locator("script:not([src])").count() == 0, path
    page.goto(f"{url}/children/{child}")
    assert SCRIPT in page.inner_text("main"), "the text is shown, as text"
    assert dialogs == []
    context.close()


def test_sql_metacharacters_in_every_search_box_find_nothing_and_break_nothing(browser, target):
    context, page = signed_in(browser, target, "zed")
    for path, field, nothing in (("/search", "q", "No children found."), ("/audit", "user", "No entries found."),
                                 ("/audit", "child", "No entries found.")):
        for value in ("' OR '1'='1", "\" OR 1=1 --", "'; DROP TABLE source_records; --", "%", "_", "RC%"):
            answer = page.request.get(target["url"] + path, params={field: value})
            assert answer.status == 200, (path, value, answer.status)
            assert nothing in answer.text(), (path, value)
    with open_register(target["db"]).connect() as conn:
        assert conn.execute(select(SourceRecord.id).limit(1)).scalar() is not None
    context.close()


def test_signing_in_gives_a_new_session_so_a_planted_one_is_worthless(browser, target):
    planted = "attackerchosensessionid0123456789"
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": planted, "url": target["url"]}])
    page = sign_in(context, target["url"], "sid", PASSWORD, target["keys"]["sid"])
    assert page.get_by_role("heading", name="Your work").is_visible()
    session = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    assert session != planted
    context.close()


def test_a_one_time_code_is_accepted_once(browser, target):
    from django_otp.oath import TOTP

    code = f"{TOTP(target['keys']['mal']).token():06d}"
    first = browser.new_context()
    page = sign_in(first, target["url"], "mal", PASSWORD, target["keys"]["mal"], code=code)
    if not page.get_by_role("heading", name="Your work").is_visible():  # mal's code of this step was used
        first.close()
        time.sleep(31 - time.time() % 30)
        code = f"{TOTP(target['keys']['mal']).token():06d}"
        first = browser.new_context()
        page = sign_in(first, target["url"], "mal", PASSWORD, target["keys"]["mal"], code=code)
    assert page.get_by_role("heading", name="Your work").is_visible()
    first.close()
    time.sleep(1.5)
    second = browser.new_context()
    again = sign_in(second, target["url"], "mal", PASSWORD, target["keys"]["mal"], code=code)
    assert "There is a problem" in again.content() and again.url.endswith("/sign-in"), "the replay is refused"
    second.close()


def test_another_site_cannot_frame_the_service(browser, target):
    page = browser.new_page()
    page.set_content(f'<iframe id="f" src="{target["url"]}/sign-in" width="600" height="400"></iframe>',
                     wait_until="domcontentloaded")
    page.wait_for_timeout(3000)
    framed = page.frames[1]
    assert framed.locator("form").count() == 0, "the browser refused to show the page in another site's frame"
    page.close()
    answer = urllib.request.urlopen(target["url"] + "/sign-in")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_security_headers_and_hsts_when_served_over_tls(target):
    answer = urllib.request.urlopen(target["url"] + "/sign-in")
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in answer.headers, "no HSTS over plain HTTP on loopback"
    with serving(target["db"], env={"ROLLCALL_SECRET_KEY_FILE": str(target["home"] / "secret-key"),
                                    "ROLLCALL_HTTPS": "1"}) as tls:
        behind_proxy = urllib.request.urlopen(urllib.request.Request(tls + "/sign-in",
                                                                     headers={"X-Forwarded-Proto": "https"}))
        assert behind_proxy.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "Secure" in behind_proxy.headers["Set-Cookie"]

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        with pytest.raises(urllib.error.HTTPError) as plain:
            urllib.request.build_opener(NoRedirect).open(tls + "/sign-in")
        assert plain.value.code == 301 and plain.value.headers["Location"].startswith("https://")


def test_no_export_cell_runs_as_a_formula(target, tmp_path):
    out = tmp_path / "cme.csv"
    assert rollcall("export", "cme", "--db", target["db"], "--out", str(out)).returncode == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [v for r in rows for v in r.values() if v]
    assert any("HYPERLINK" in c for c in cells), "the planted surname is exported"
    assert not [c for c in cells if c[0] in "=+-@"], "every formula-like cell is neutralised"
    out = tmp_path / "register.csv"
    assert rollcall("export", "register", "--db", target["db"], "--out", str(out)).returncode == 0
    with open(out, newline="") as fh:
        assert not [v for r in csv.reader(fh) for v in r if v and v[0] in "=+-@"]


def reason_given(page, url: str, child: str, token: str) -> None:
    """Open a child outside the caseload as the service asks: say why first."""
    page.request.post(f"{url}/children/{child}", form={"reason": "checking a school place enquiry",
                                                       "csrfmiddlewaretoken": token}, headers={"Referer": url + "/"})


def everything_shown(answers) -> str:
    return "\n".join(f"{path} {a.status} {a.headers_array} {a.text()}" for path, a in answers)


def test_a_shielded_childs_school_gp_and_upn_reach_no_page_link_form_header_or_log_line(browser, target):
    hidden, url = target["hidden"], target["url"]
    assert hidden["placing"], "the planted children have schools, practices, UPNs or postcodes to withhold"
    context, page = signed_in(browser, target, "kim")  # an analyst and CME officer without shielded access
    token = csrf(context)
    for child in hidden["children"]:
        reason_given(page, url, child, token)
    answers = []

    def get(path: str):
        answers.append((path, page.request.get(url + path)))
        return answers[-1][1]

    for child in hidden["children"]:
        body = get(f"/children/{child}").text()
        assert "location is withheld" in body, child
        for ref in sorted(set(re.findall(r'href="/records/([^"]+)"', body))):
            record = get(f"/records/{ref}").text()
            for pair in sorted(set(re.findall(r'href="/review/([0-9]+)"', record))):
                get(f"/review/{pair}")
                get(f"/review/{pair}?score=shown")
        for pair in sorted(set(re.findall(r'href="/review/([0-9]+)"', body))):
            get(f"/review/{pair}")
        get(f"/search?q={child}")
        get(f"/audit?child={child}")
        # An error on the page's forms comes back to the page, withheld as before.
        answers.append(("split", page.request.post(f"{url}/children/{child}/cluster", form={
            "action": "split", "record": "0", "reason": "", "csrfmiddlewaretoken": token},
            headers={"Referer": url + "/"})))
    assert any(p.startswith("/records/") for p, _ in answers) and any(p.startswith("/review/") for p, _ in answers)
    for nhs in hidden["nhs"]:
        assert hidden["at_school"] in get(f"/search?q={nhs}").text(), "found by NHS number, which places no one"
    for upn in hidden["upns"]:
        found = page.request.get(f"{url}/search", params={"q": upn}).text()
        assert f"/children/{hidden['at_school']}" not in found, "a UPN names the school: no shielded child by it"
    for path in (f"/cases/{hidden['case']}", "/cme", "/cme?status=closed", "/cme/dfe-counts.csv", "/review", "/"):
        get(path)
    assert [(p, a.status) for p, a in answers if a.status not in (200, 302, 404)] == []
    lists = ("/cme", "/cme?status=closed")
    shown = everything_shown([(p, a) for p, a in answers if p not in lists])
    time.sleep(1)  # the access log is written as each request ends
    logged = target["log"].read_text()
    assert [v for v in sorted(hidden["placing"]) if v in shown] == [], "withheld from every page, link and form"
    # The CME list shows other children's schools; the shielded child's own row shows none, and
    # nothing that is theirs alone (a UPN, a postcode) is anywhere on it.
    for path, answer in answers:
        if path in lists:
            text = answer.text()
            assert [v for v in sorted(hidden["placing"] - hidden["shared"]) if v in text] == [], path
            row = re.search(rf'<tr class="govuk-table__row" data-case="{hidden["case"]}">(.*?)</tr>', text, re.S)
            assert path != "/cme" or row, "the shielded child's case is on the list"
            assert row is None or [v for v in sorted(hidden["placing"]) if v in row.group(1)] == [], path
    assert [v for v in sorted(hidden["placing"]) if v in logged] == [], "and from the service's log"
    context.close()

    # A user with shielded-records access sees the same child's school: the values were there to leak.
    context, page = signed_in(browser, target, "sol")
    reason_given(page, url, hidden["at_school"], csrf(context))
    seen = page.request.get(f"{url}/children/{hidden['at_school']}").text()
    assert [v for v in sorted(hidden["placing"]) if v in seen], "shown to shielded-records access"
    context.close()


def test_every_view_that_shows_a_child_audits_its_error_paths_and_keeps_the_caseload_rule(browser, target):
    """Each error path of each form that shows a child: the answer is a redirect to the page
    (which asks why first, or audits the look), or a page whose look is audited like the page."""
    from oversight.audit import entries
    from oversight.lookup import in_caseload

    engine = open_register(target["db"])
    url = target["url"]
    context, page = signed_in(browser, target, "ned")
    token = csrf(context)
    headers = {"Referer": url + "/"}
    with engine.connect() as conn:
        keys_880 = set(conn.execute(select(SourceRecord.record_key).where(in_authorities(["880"]))).scalars())
        outside = next(c for c in conn.execute(select(SourceRecord.child_id).where(
            in_authorities(["880"]), SourceRecord.active.is_(True)).distinct().order_by(SourceRecord.child_id)).scalars()
            if c not in target["hidden"]["children"] and not in_caseload(engine, c, ["880"]))
        pair = next(p for p in conn.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b,
                                                   CandidatePair.version)
                                            .where(CandidatePair.analyst_decision.is_(None)).order_by(CandidatePair.id))
                    if {p.key_a, p.key_b} & keys_880)
        name = conn.execute(select(SourceRecord.surname).where(SourceRecord.child_id == outside)).scalar()
    case = target["case"]

    def looks(child: str) -> int:
        return len([e for e in entries(engine, child_id=child) if e["action"].startswith("view")])

    # The cluster forms of a child outside the caseload: back to the page, which asks why first.
    unseen = looks(outside)
    for form in ({"action": "split", "record": "0", "reason": ""},
                 {"action": "split", "record": "0", "reason": "a different child entirely"},
                 {"action": "merge", "other_child": "RC9999999999", "reason": "same child"},
                 {"action": "merge", "other_child": "", "reason": ""}):
        answer = page.request.post(f"{url}/children/{outside}/cluster", form={**form, "csrfmiddlewaretoken": token},
                                   headers=headers, max_redirects=0)
        assert answer.status == 302 and answer.headers["location"] == f"/children/{outside}", form
        assert name not in answer.text()
        followed = page.request.get(url + answer.headers["location"])
        assert "Why are you opening this" in followed.text() and name not in followed.text(), form
    assert looks(outside) == unseen, "nothing shown, so no look"
    # Once the user has said why: the error shows on the page, and the page's look is audited.
    reason_given(page, url, outside, token)
    for form, error in (({"action": "split", "record": "0", "reason": "x" * 12}, "choose a current record"),
                        ({"action": "merge", "other_child": "RC9999999999", "reason": "same child"}, "another child")):
        before = looks(outside)
        answer = page.request.post(f"{url}/children/{outside}/cluster", form={**form, "csrfmiddlewaretoken": token},
                                   headers=headers)
        assert answer.status == 200 and error in answer.text() and name in answer.text(), form
        assert looks(outside) == before + 1, form
    # The review pair's error paths: each answer that shows both records is an audited look.
    children = set()
    with engine.connect() as conn:
        for key in (pair.key_a, pair.key_b):
            children.add(conn.execute(select(SourceRecord.child_id).where(SourceRecord.record_key == key)).scalar())
    for form, status in (({"decision": "maybe", "version": str(pair.version)}, 400),
                         ({"decision": "same", "version": str(pair.version + 7), "reason": "x"}, 409),
                         ({"decision": "same", "version": "9" * 30, "reason": "x"}, 409),
                         ({"action": "undo", "version": "1"}, 409),
                         ({"decision": "same", "version": str(pair.version), "score_shown": "1"}, None)):
        before = {c: looks(c) for c in children}
        answer = page.request.post(f"{url}/review/{pair.id}", form={**form, "csrfmiddlewaretoken": token},
                                   headers=headers, max_redirects=0)
        if answer.status in (301, 302):
            continue  # decided (the reason was not needed): the page it goes to audits itself
        assert status is None or answer.status == status, (form, answer.status)
        after = entries(engine, child_id=sorted(children)[0])[0]
        assert after["action"] == "view_pair" and after["detail"].get("error"), form
        assert all(looks(c) == before[c] + 1 for c in children), form
    # The case page's error paths.
    for form, status in (({"action": "note", "kind": "telepathy", "text": "x"}, 400),
                         ({"action": "note", "kind": "call", "text": "  "}, 400),
                         ({"action": "close", "outcome": "vanished", "version": "0"}, 400),
                         ({"action": "close_confirm", "outcome": "ON_ROLL_HERE", "found_at": "Hillside Primary",
                           "found_on_day": "2", "found_on_month": "11", "found_on_year": "2026", "evidence": "Rang",
                           "version": "999"}, 409),
                         ({"action": "close_confirm", "outcome": "ON_ROLL_HERE", "found_on_day": "31",
                           "found_on_month": "2", "found_on_year": "2026", "evidence": "Rang", "version": "0"}, 400),
                         ({"action": "assign", "officer": "someone-elsewhere", "version": "0"}, 400),
                         ({"action": "assign", "officer": "", "version": "999"}, 409),
                         ({"action": "next_action", "next_action": "teleport", "version": "0"}, 400),
                         ({"action": "next_action", "next_action": "home_visit", "due_on_day": "1",
                           "due_on_month": "1", "due_on_year": "2020", "version": "0"}, 400)):
        before = looks(case.child_id)
        answer = page.request.post(f"{url}/cases/{case.id}", form={**form, "csrfmiddlewaretoken": token},
                                   headers=headers, max_redirects=0)
        assert answer.status in (400, 409) and (status is None or answer.status == status), (form, answer.status)
        assert looks(case.child_id) == before + 1, form
    # Break-glass without a reason goes back to the page.
    answer = page.request.post(f"{url}/children/{outside}/break-glass", form={"reason": "", "csrfmiddlewaretoken": token},
                               headers=headers, max_redirects=0)
    assert answer.status in (302, 404)
    context.close()


def test_out_of_range_numbers_are_no_page_and_every_signed_in_answer_is_no_store(browser, target):
    context, page = signed_in(browser, target, "pat")
    url = target["url"]
    for path in ("/cme?page=" + "9" * 30, "/cme?page=0", "/cme?page=-1", "/cme?page=x", "/cases/" + "9" * 23,
                 "/review/" + "9" * 23, "/records/" + "9" * 23, "/children/" + "9" * 40):
        answer = page.request.get(url + path)
        assert answer.status == 404, (path, answer.status)
    assert "Traceback" not in target["log"].read_text() and "Internal Server Error" not in target["log"].read_text()
    child, case = target["case"].child_id, target["case"].id
    for path in ("/", f"/children/{child}", f"/cases/{case}", "/cme", "/cme/dfe-counts.csv", "/review", "/search?q=x",
                 "/audit", "/providers", "/records/1", "/cases/1"):
        answer = page.request.get(url + path)
        assert "no-store" in answer.headers.get("cache-control", ""), (path, answer.headers.get("cache-control"))
    context.close()


def test_break_glass_alerts_the_childs_authority_not_every_authority_of_the_user(browser, target):
    from oversight.access_alerts import alerts_for
    from oversight.lookup import child_authorities

    engine = open_register(target["db"])
    child, url = target["hidden"]["at_school"], target["url"]
    assert child_authorities(engine, child) & {"880", "881"} == {"880"}
    context, page = signed_in(browser, target, "two")  # works for 880 and 881
    token = csrf(context)
    reason_given(page, url, child, token)
    page.request.post(f"{url}/children/{child}/break-glass", form={
        "reason": "police welfare check this afternoon", "csrfmiddlewaretoken": token}, headers={"Referer": url + "/"})
    (alert,) = [a for a in alerts_for(engine, None) if a["rule"] == "break_glass" and a["actor"] == "two"]
    assert alert["la_codes"] == ["880"], alert
    assert [a for a in alerts_for(engine, ["881"]) if a["actor"] == "two"] == [], "881's privacy officer is not told"
    context.close()


def test_look_alike_user_names_are_refused_and_the_audit_log_never_shows_one_as_another(browser, target):
    from oversight.audit import entries

    cyrillic = "\u0435ve"  # a Cyrillic е, then "ve": looks like eve
    for name in ("\u0430881", cyrillic, "EVE"):
        done = rollcall("users", "add", name, "--role", "analyst", "--la", "880", "--db", target["db"],
                        stdin=PASSWORD + "\n")
        assert done.returncode == 1 and ("look like others" in done.stderr or "already a user" in done.stderr), name
    done = rollcall("users", "add", "\uff4b\uff49\uff54881", "--role", "analyst", "--la", "880", "--db", target["db"],
                    stdin=PASSWORD + "\n")  # fullwidth ｋｉｔ881
    assert done.returncode == 0 and "added kit881." in done.stdout, done.stderr
    assert "kit881\t" in rollcall("users", "list", "--db", target["db"]).stdout, "kept NFKC-normalised"
    # Signing in as the look-alike, with eve's password: refused, and recorded as what was typed.
    page = sign_in(browser.new_context(), target["url"], cyrillic, PASSWORD, target["keys"]["eve"])
    assert page.url.endswith("/sign-in")
    engine = open_register(target["db"])
    failed = [e for e in entries(engine, limit=20) if e["action"] == "sign_in_failed"]
    assert failed and failed[0]["actor"] == "\\u0435ve", failed[:1]
    assert not [e for e in entries(engine, limit=200) if e["actor"] == cyrillic], "never the look-alike itself"
    page.context.close()
