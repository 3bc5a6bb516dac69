"""Playing the attacker against the casework service, through HTTP and the browser. Each test
fails if its defence is taken away: another authority's child by every URL and every search,
forged cross-site requests on every form, script arriving in names and addresses, SQL
metacharacters in every search box, session fixation, a replayed one-time code, framing by
another site, the security headers (HSTS when served over TLS), formula cells in the exports.
(Lockout after five wrong passwords is tests/test_casework.py; a changed audit row found by
`rollcall audit verify`, tests/test_audit.py.)"""
from __future__ import annotations

import csv
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select, update

from casework.users import key_bytes
from pipelines.cli import run_pipeline
from register.db import open_register
from register.lookup import child_visible, in_authorities
from register.models import CandidatePair, CmeCase, SourceRecord
from synth.generate import generate
from tests.browser import ROOT, serving, sign_in
from tests.helpers import AS_OF

PASSWORD = "Correct-horse-battery-9"
SCRIPT = '<script>window.__pwned = 1</script>'
IMG = '"><img src=x onerror="window.__pwned = 1">'


def rollcall(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def add_user(db: str, name: str, roles: tuple[str, ...], la: str) -> bytes:
    done = rollcall("users", "add", name, *[a for r in roles for a in ("--role", r)], "--la", la, "--db", db,
                    stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return key_bytes(next(x.split(": ", 1)[1] for x in done.stdout.splitlines() if x.startswith("or as a link")))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A register of three authorities with script planted in one 880 child's names and address
    (as an extract could carry them), a formula in another's surname, and the service."""
    home = tmp_path_factory.mktemp("attacks")
    generate(home / "landing", home / "truth", children=300, seed=5, extract_date=AS_OF)
    db = f"sqlite:///{home / 'register.sqlite'}"
    assert run_pipeline(db, str(home / "landing"), None, str(home / "archive"), AS_OF).success
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
        their_record = conn.execute(select(SourceRecord.record_key, SourceRecord.upn, SourceRecord.nhs_number,
                                           SourceRecord.postcode, SourceRecord.la_child_id)
                                    .where(SourceRecord.child_id == theirs.child_id)).first()
        keys_880 = set(conn.execute(select(SourceRecord.record_key).where(in_authorities(["880"]))).scalars())
        their_pair = next((p.id for p in conn.execute(select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b))
                           if not {p.key_a, p.key_b} & keys_880), None)
    keys = {name: add_user(db, name, ("cme_officer", "analyst", "auditor"), "880")
            for name in ("eve", "mal", "rex", "zed", "sid")}
    with serving(db, workers=2, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key")}) as url:
        yield {"url": url, "db": db, "keys": keys, "home": home, "case": case, "formula_child": other,
               "theirs": theirs, "their_record": their_record, "their_pair": their_pair}


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
        "record": page.request.get(f"{url}/records/{record.record_key}"),
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
        keys = conn.execute(select(SourceRecord.record_key).where(SourceRecord.child_id == child)).scalars().all()
        pairs = conn.execute(select(CandidatePair.id).where(CandidatePair.key_a.in_(keys) |
                                                            CandidatePair.key_b.in_(keys))).scalars().all()
    paths += [f"/records/{keys[0]}"] + [f"/review/{p}" for p in pairs]
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
