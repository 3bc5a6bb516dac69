"""The casework service and a browser, for the browser tests and the casework bench: `rollcall
serve` (gunicorn) on a loopback port, Debian's chromium driven by Playwright (it cannot
download its own browser here), and signing in with a password and a one-time code."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django_otp.oath import TOTP

from casework.users import key_bytes

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "Correct-horse-battery-9"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def rollcall(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def add_user(db: str, name: str, roles: str, la: str) -> bytes:
    done = rollcall("users", "add", name, *[a for r in roles.split(",") for a in ("--role", r)],
                    *[a for code in la.split(",") if code for a in ("--la", code)], "--db", db, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    uri = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("or as a link"))
    return key_bytes(uri)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def built_register(home: Path, children: int, seed: int) -> str:
    """Generated extracts of this many children run through the pipeline into a SQLite register
    in `home`; its URL."""
    from pipelines.cli import run_pipeline
    from synth.extracts import generate
    from tests.helpers import AS_OF

    generate(home / "landing", home / "truth", children=children, seed=seed, extract_date=AS_OF)
    db = f"sqlite:///{home / 'register.sqlite'}"
    assert run_pipeline(db, str(home / "landing"), None, str(home / "archive"), AS_OF).success
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceDidNotStart(RuntimeError):
    pass


@contextmanager
def serving(db: str, workers: int = 1, env: dict | None = None, log: Path | None = None) -> Iterator[str]:
    """`rollcall serve` on a free loopback port until the block ends; yields its URL. Its output
    (the access log and any error) goes to `log` when given, for a test to read."""
    port = free_port()
    # A file, not a pipe: a full pipe would stall the server.
    output = open(log, "w+b") if log is not None else tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--db", db, "--port", str(port),
                               "--workers", str(workers)], cwd=ROOT, env={**os.environ, **(env or {})},
                              stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:  # any answer will do: a service behind TLS answers plain HTTP with a redirect
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/sign-in")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if server.returncode is not None:
            output.seek(0)
            raise ServiceDidNotStart(output.read().decode(errors="replace")[-2000:])
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker stuck on a browser's idle connection
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        output.close()


def sign_in(browser, url: str, name: str, password: str, key: bytes, code: str | None = None):
    """A new page (of a browser or a context) signed in as `name`; `code` overrides the TOTP."""
    page = browser.new_page()
    page.goto(url + "/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_label("One-time code").fill(code if code is not None else f"{TOTP(key).token():06d}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()  # the page signing in led to, loaded, before a test reads it
    return page


def no_accessibility_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [f"{v['id']}: {v['help']} at {', '.join(str(n['target']) for n in v['nodes'])}" for v in found["violations"]]


def fill_closing(page, outcome: str, found_at: str, on, evidence: str) -> None:
    """Fill a case page's close form (the outcome's label, where the child was found, the date as
    day, month and year, the evidence) and continue to the check page."""
    page.get_by_label(outcome).check()
    if found_at:
        page.get_by_label("School or authority where the child was found").fill(found_at)
    page.locator("#found_on").fill(str(on.day))
    page.locator("#found_on_month").fill(str(on.month))
    page.locator("#found_on_year").fill(str(on.year))
    page.get_by_label("Evidence").fill(evidence)
    page.get_by_role("button", name="Continue").click()
