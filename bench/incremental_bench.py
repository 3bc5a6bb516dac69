"""Cost follows the delivery: a register of N children built from a first delivery (a full
link), then, each by `rollcall run` in a child process: a run with nothing new; the next
day's run with nothing delivered (its CME list in full); that day, one school's next extract
alone; one GP practice's next extract alone; and the rest of the next delivery.
The same next delivery is also applied as a full re-link to a copy of the register, and the
two registers are scored against the generator's truth. Prints each run's wall time and its
steps' times (from the progress lines), and the pair F1 of both registers.

    .venv/bin/python bench/incremental_bench.py --children 200000 [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.progress import step_times  # noqa: E402
from synth.evaluate import linkage_scores  # noqa: E402
from synth.extracts import generate  # noqa: E402


def run(rollcall: str, landing: Path, db: str, archive: Path, as_of: date, relink: str = "auto") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    t0 = time.perf_counter()
    p = subprocess.run([rollcall, "run", "--landing", str(landing), "--db", db, "--archive", str(archive),
                        "--as-of", as_of.isoformat(), "--relink", relink], env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"rollcall run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    steps = step_times(p.stderr)
    return {"wall_s": round(took, 1), "exit": p.returncode, "steps_s": steps,
            "nothing_new": "nothing new since the last run" in p.stderr}


def deliver(source: Path, landing: Path, providers: list[str]) -> None:
    for provider in providers:
        shutil.copytree(source / provider, landing / provider, dirs_exist_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--work", default="bench/out/incremental")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--as-of", default="2026-10-05")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    first = date.fromisoformat(args.as_of)
    second = first + timedelta(days=28)
    generate(work / "rounds", work / "truth", children=args.children, seed=args.seed, extract_date=first, rounds=2,
             round_gap_days=28, reference=work / "reference")
    rollcall = str(ROOT / ".venv" / "bin" / "rollcall")
    inc, full = work / "incremental", work / "full"
    inc.mkdir()
    db = f"sqlite:///{inc / 'rollcall.sqlite'}"
    out: dict = {"children": args.children}
    deliver(work / "rounds" / "round1", inc / "landing", sorted(p.name for p in (work / "rounds" / "round1").iterdir()))
    out["first_delivery_full_link"] = run(rollcall, inc / "landing", db, inc / "archive", first)
    print(json.dumps({"first_delivery_full_link": out["first_delivery_full_link"]}), flush=True)
    out["nothing_new"] = run(rollcall, inc / "landing", db, inc / "archive", first)
    print(json.dumps({"nothing_new": out["nothing_new"]}), flush=True)
    shutil.copytree(inc, full)  # the same register, for the full re-link of the next delivery
    round2 = work / "rounds" / "round2"
    providers = sorted(p.name for p in round2.iterdir())
    school = next(p for p in providers if len(p) == 7 and p.isdigit())
    practice = next(p for p in providers if not p.isdigit())
    # The next day's list is made in the morning (the daily relink); deliveries come later that day.
    out["next_day_nothing_delivered"] = run(rollcall, inc / "landing", db, inc / "archive", second)
    print(json.dumps({"next_day_nothing_delivered": out["next_day_nothing_delivered"]}), flush=True)
    deliver(round2, inc / "landing", [school])
    out["one_school"] = run(rollcall, inc / "landing", db, inc / "archive", second)
    print(json.dumps({"one_school": out["one_school"]}), flush=True)
    deliver(round2, inc / "landing", [practice])
    out["one_gp_practice"] = run(rollcall, inc / "landing", db, inc / "archive", second)
    print(json.dumps({"one_gp_practice": out["one_gp_practice"]}), flush=True)
    deliver(round2, inc / "landing", [p for p in providers if p not in (school, practice)])
    out["rest_of_delivery_incremental"] = run(rollcall, inc / "landing", db, inc / "archive", second)
    print(json.dumps({"rest_of_delivery_incremental": out["rest_of_delivery_incremental"]}), flush=True)
    full_db = f"sqlite:///{full / 'rollcall.sqlite'}"
    deliver(round2, full / "landing", providers)
    out["whole_delivery_full_relink"] = run(rollcall, full / "landing", full_db, full / "archive", second, "full")
    print(json.dumps({"whole_delivery_full_relink": out["whole_delivery_full_relink"]}), flush=True)
    truth = work / "truth" / "round2"
    for name, folder, url in (("incremental", inc, db), ("full", full, full_db)):
        export = folder / "register.csv"
        subprocess.run([rollcall, "export", "register", "--db", url, "--out", str(export), "--include-shielded"],
                       check=True, capture_output=True)
        out[f"scores_{name}"] = linkage_scores(export, truth)
    out["pair_f1_difference"] = round(abs(out["scores_incremental"]["pair_f1"] - out["scores_full"]["pair_f1"]), 5)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
