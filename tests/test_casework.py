"""The casework service in a real browser: `rollcall serve` (gunicorn) on a register the
pipeline built, Debian's chromium driven by Playwright, axe-core on every page."""
from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import sync_playwright

from casework.users import key_bytes
from pipelines.cli import run_pipeline
from synth.generate import generate
from tests.helpers import AS_OF

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "Correct-horse-battery-9"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def rollcall(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def add_user(db: str, name: str, role: str, la: str) -> bytes:
    done = rollcall("users", "add", name, "--role", role, "--la", la, "--db", db, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    uri = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("or as a link"))
    return key_bytes(uri)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A register of about 300 children in three authorities, two CME officers (880 and 881),
    and the service on a loopback port, stopped by its process id afterwards."""
    home = tmp_path_factory.mktemp("casework")
    generate(home / "landing", home / "truth", children=300, seed=3, extract_date=AS_OF)
    db = f"sqlite:///{home / 'register.sqlite'}"
    assert run_pipeline(db, str(home / "landing"), None, str(home / "archive"), AS_OF).success
    assert rollcall("export", "cme", "--db", db, "--out", str(home / "cme.csv")).returncode == 0
    # One user per test: a one-time code is accepted once (django-otp refuses a replayed code).
    keys = {name: add_user(db, name, "cme_officer", la)
            for name, la in (("anna", "880"), ("cara", "880"), ("dan", "880"), ("ben", "881"))}
    port = free_port()
    env = {**os.environ, "ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key")}
    server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--db", db, "--port", str(port),
                               "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/sign-in", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("the service did not start: " + server.stdout.read().decode(errors="replace")[-2000:])
    with open(home / "cme.csv", newline="") as fh:
        flags = list(csv.DictReader(fh))
    try:
        yield {"url": url, "keys": keys, "db": db, "flags": flags}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def sign_in(browser, service, name: str, code: str | None = None):
    page = browser.new_page()
    page.goto(service["url"] + "/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("One-time code").fill(code if code is not None else f"{TOTP(service['keys'][name]).token():06d}")
    page.get_by_role("button", name="Sign in").click()
    return page


def no_accessibility_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [f"{v['id']}: {v['help']} at {', '.join(str(n['target']) for n in v['nodes'])}" for v in found["violations"]]


def test_sign_in_needs_the_password_and_the_one_time_code(browser, service):
    wrong = sign_in(browser, service, "anna", code="000000")
    assert "There is a problem" in wrong.content()
    assert wrong.url.endswith("/sign-in")
    wrong.close()
    time.sleep(1.5)  # django-otp slows the device down after a wrong code (1 s after the first)
    page = sign_in(browser, service, "anna")
    assert page.get_by_role("heading", name="Your work").is_visible(), page.inner_text("main")
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
    found["sign-in with errors"] = no_accessibility_violations(page)
    page.close()
    time.sleep(1.5)
    page = sign_in(browser, service, "dan")
    for name, path in (("home", "/"), ("CME cases", "/cme"), ("child", f"/children/{child}"),
                       ("not found", "/children/NO-SUCH-CHILD")):
        page.goto(service["url"] + path)
        found[name] = no_accessibility_violations(page)
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
    locked = sign_in(browser, service, "ben")  # now even the right password and code are refused
    assert "Too many attempts" in locked.content()
    locked.close()
