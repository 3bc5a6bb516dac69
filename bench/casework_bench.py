"""Response times of the casework service's busiest pages on a large register: the case list,
the review queue, a review pair and a child's page, each fetched N times through gunicorn by a
signed-in browser session (Debian's chromium, Playwright). Prints p50 and p95 per page.

    .venv/bin/python bench/casework_bench.py --db sqlite:///bench/out/run/rollcall.sqlite [--n 50]

Use a register a bench run built (bench/run_bench.py --children 200000). Adds two bench users.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from django_otp.oath import TOTP  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from casework.users import key_bytes  # noqa: E402

PASSWORD = "Bench-password-correct-9"


def add_user(db: str, name: str, role: str) -> bytes:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "users", "add", name, "--role", role, "--la", "880",
                           "--la", "881", "--la", "882", "--db", db], input=PASSWORD + "\n", capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode != 0 and "already a user" not in done.stderr:
        raise SystemExit(done.stderr)
    line = next((x for x in done.stdout.splitlines() if x.startswith("or as a link")), None)
    return key_bytes(line.split(": ", 1)[1]) if line else b""


def percentiles(times: list[float]) -> dict:
    ms = sorted(t * 1000 for t in times)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1), "max_ms": round(ms[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    from register.cases import open_cases
    from register.db import open_register
    from register.lookup import cme_list

    engine = open_register(args.db)
    as_of, flags = cme_list(engine, ["880", "881", "882"])
    open_cases(engine, as_of)  # a register built before cases existed gets its cases now
    stamp = str(int(time.time()))
    keys = {"officer": add_user(args.db, f"bench-officer-{stamp}", "cme_officer"),
            "analyst": add_user(args.db, f"bench-analyst-{stamp}", "analyst")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--db", args.db, "--port", str(port),
                               "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/sign-in", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        results = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            for role in ("officer", "analyst"):
                page = browser.new_page()
                page.goto(url + "/sign-in")
                page.get_by_label("User name").fill(f"bench-{role}-{stamp}")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_label("One-time code").fill(f"{TOTP(keys[role]).token():06d}")
                page.get_by_role("button", name="Sign in").click()
                if role == "officer":
                    paths = {"case list": ["/cme"] * args.n,
                             "child page": [f"/children/{f['child_id']}" for f in flags[:args.n]]}
                else:
                    page.goto(url + "/review")
                    pairs = [a.get_attribute("href") for a in page.locator("a[href^='/review/']").all()][:args.n]
                    paths = {"review queue": ["/review"] * args.n, "review pair": pairs}
                for name, wanted in paths.items():
                    times = []
                    for path in wanted:
                        t0 = time.perf_counter()
                        answer = page.request.get(url + path)
                        times.append(time.perf_counter() - t0)
                        assert answer.status == 200, (path, answer.status)
                    results[name] = percentiles(times)
                page.close()
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps({"flags": len(flags), **results}, indent=2))


if __name__ == "__main__":
    main()
