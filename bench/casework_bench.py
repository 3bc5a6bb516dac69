"""Response times of the casework service's busiest pages on a large register: the case list,
a child's page, the review queue, a review pair and a record's candidates, each fetched N times
through gunicorn by a signed-in browser session (Debian's chromium, Playwright); each worker's
first look after the run; and a pair page after each of ten decisions. Prints p50 and p95.

    .venv/bin/python bench/casework_bench.py --db sqlite:///bench/out/run/rollcall.sqlite [--n 50]

Use a register a bench run built (bench/run_bench.py --children 200000). Adds two bench users.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from casework.users import key_bytes  # noqa: E402
from tests.browser import launch_chromium, serving, sign_in  # noqa: E402

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


def timed(page, url: str, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        t0 = time.perf_counter()
        answer = page.request.get(url + path)
        times.append(time.perf_counter() - t0)
        assert answer.status == 200, (path, answer.status)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    from cme import Filters, latest_cme_date, open_cases, work_list
    from register.db import open_register

    engine = open_register(args.db)
    as_of = latest_cme_date(engine)
    open_cases(engine, as_of)  # a register built before cases existed gets its cases now
    listed = work_list(engine, ["880", "881", "882"], as_of, Filters(), as_of)
    total, cases = len(listed), [{"child_id": i.child_id} for i in listed[:args.n]]
    stamp = str(int(time.time()))
    keys = {"officer": add_user(args.db, f"bench-officer-{stamp}", "cme_officer"),
            "analyst": add_user(args.db, f"bench-analyst-{stamp}", "analyst")}
    results = {}
    with serving(args.db, workers=2) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        officer = sign_in(browser, url, f"bench-officer-{stamp}", PASSWORD, keys["officer"])
        # The first looks after the service starts: each worker reads the shield scope the run kept.
        first = timed(officer, url, [f"/children/{c['child_id']}" for c in cases[:4]])
        results["first four looks (ms)"] = [round(t * 1000, 1) for t in first]
        for name, paths in {"case list": ["/cme"] * args.n,
                            "child page": [f"/children/{c['child_id']}" for c in cases]}.items():
            results[name] = percentiles(timed(officer, url, paths))
        analyst = sign_in(browser, url, f"bench-analyst-{stamp}", PASSWORD, keys["analyst"])
        analyst.goto(url + "/review")
        pairs = [a.get_attribute("href") for a in analyst.locator("a[href^='/review/']").all()][:args.n]
        results["review queue"] = percentiles(timed(analyst, url, ["/review"] * args.n))
        results["review pair"] = percentiles(timed(analyst, url, pairs))
        analyst.goto(url + pairs[0])
        records = [analyst.get_by_role("link", name="record 1").get_attribute("href")]
        for path in pairs[1:args.n]:
            analyst.goto(url + path)
            records.append(analyst.get_by_role("link", name="record 2").get_attribute("href"))
        results["a record's candidates"] = percentiles(timed(analyst, url, records))
        # Decide ten pairs (not sure: no ruling, the register's links unchanged) and time the
        # next pair page after each: every decision moves the markers the pages keep things by.
        after = []
        for path in pairs[:10]:
            analyst.goto(url + path)
            analyst.get_by_label("Not sure").check()
            analyst.get_by_role("button", name="Save decision").click()
            after += timed(analyst, url, [pairs[-1]])
        results["review pair after a decision"] = percentiles(after)
        browser.close()
    print(json.dumps({"open cases": total, **results}, indent=2))


if __name__ == "__main__":
    main()
