"""An officer's morning in the casework service, as screenshots for docs/casework.md: the home
page's counts, the CME list filtered to unassigned children known to health only, a case taken
from assigned to closed (next action, an enquiry, the close step and its check). Prints how
long each page took.

    .venv/bin/python bench/casework_walkthrough.py [--children 2000] [--out docs/casework]

Builds its own register (generated extracts, seed 3) in a temporary folder; nothing of it stays
but the screenshots, which show synthetic children only.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import (  # noqa: E402
    PASSWORD,
    add_user,
    built_register,
    fill_closing,
    launch_chromium,
    serving,
    sign_in,
)
from tests.helpers import AS_OF  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "docs" / "casework"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = built_register(home, args.children, seed=3)
        keys = {"maya": add_user(db, "maya", "cme_officer", "880"), "raj": add_user(db, "raj", "cme_officer", "880")}
        with serving(db, env={"ROLLCALL_SECRET_KEY_FILE": str(home / "secret-key")}) as url, sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def shot(page, name: str) -> None:
                page.screenshot(path=str(out / f"{name}.png"), full_page=True, timeout=60_000)
                print(f"took {name}", file=sys.stderr, flush=True)

            def go(page, path: str, name: str) -> None:
                t0 = time.perf_counter()
                page.goto(url + path)
                timings[name] = round((time.perf_counter() - t0) * 1000)
                shot(page, name)

            # Raj has a case already, so Maya's home page counts show someone else's work.
            raj = sign_in(context, url, "raj", PASSWORD, keys["raj"])
            raj.goto(url + "/cme?sort=case")
            raj.locator("[data-testid=cme-list] tbody tr a").first.click()
            raj.locator("#officer").select_option("raj")
            raj.get_by_role("button", name="Assign").click()
            raj.close()
            page = sign_in(context, url, "maya", PASSWORD, keys["maya"])
            shot(page, "01-home")
            go(page, "/cme?reason=NOT_ON_ANY_ROLL&officer=none", "02-filtered-list")
            page.locator("[data-testid=cme-list] tbody tr a").first.click()
            shot(page, "03-case")
            page.locator("#officer").select_option("maya")
            page.get_by_role("button", name="Assign").click()
            page.locator("#next_action").select_option("first_checks")
            page.get_by_role("button", name="Set the next action").click()
            shot(page, "04-assigned-with-next-action")
            page.locator("#kind").select_option("health")
            page.get_by_label("What was found").fill("The GP practice confirms the family re-registered in Leeds in "
                                                     "September; Leeds admissions say she has a place at a Leeds school.")
            page.get_by_role("button", name="Add enquiry").click()
            fill_closing(page, "On roll in another authority", "Leeds City Council", AS_OF,
                         "Leeds CME officer confirmed the school place by email")
            shot(page, "05-check-before-closing")
            page.get_by_role("button", name="Confirm and close the case").click()
            shot(page, "06-closed")
            browser.close()
    for name, ms in timings.items():
        print(f"{name}: {ms} ms")
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
