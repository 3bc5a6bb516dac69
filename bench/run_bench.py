"""End-to-end figures: generate N children, run `rollcall run` (a child process, so its peak
memory is measured alone), export, and score linkage and CME against the generator's truth.

    .venv/bin/python bench/run_bench.py --children 20000 [--db URL] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.evaluate import cme_scores, linkage_scores  # noqa: E402
from synth.generate import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--work", default="bench/out/run")
    ap.add_argument("--db", help="register URL (default: SQLite in the work folder)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--as-of", default="2026-11-02")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    landing, truth = work / "landing", work / "truth"
    t0 = time.perf_counter()
    s = generate(landing, truth, children=args.children, seed=args.seed, extract_date=date.fromisoformat(args.as_of))
    gen_s = time.perf_counter() - t0
    db = args.db or f"sqlite:///{work / 'rollcall.sqlite'}"
    rollcall = str(ROOT / ".venv" / "bin" / "rollcall")
    env = dict(os.environ)
    env.pop("DAGSTER_HOME", None)
    t0 = time.perf_counter()
    subprocess.run([rollcall, "run", "--landing", str(landing), "--db", db, "--archive", str(work / "archive"),
                    "--as-of", args.as_of], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t0 = time.perf_counter()
    subprocess.run([rollcall, "run", "--landing", str(landing), "--db", db, "--archive", str(work / "archive"),
                    "--as-of", args.as_of], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rerun_s = time.perf_counter() - t0
    for what in ("register", "cme"):
        subprocess.run([rollcall, "export", what, "--db", db, "--out", str(work / f"{what}.csv")], check=True,
                       env=env, stdout=subprocess.DEVNULL)
    figures = {"children": s.children, "files": s.files, "rows": s.rows, "generate_s": round(gen_s, 1),
               "run_s": round(run_s, 1), "rerun_no_new_files_s": round(rerun_s, 1), "run_peak_rss_mb": round(peak_mb),
               **linkage_scores(work / "register.csv", truth),
               **cme_scores(work / "register.csv", work / "cme.csv", truth)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
