"""The same generated deliveries through an earlier commit of Rollcall and through this one,
scored by the same evaluator, so a change is measured on identical data.

    .venv/bin/python bench/compare_bench.py --children 20000 --rev ff95f8a [--work DIR]

The earlier commit runs from a git worktree of it, with this checkout's environment. The
generator's planted shared LA child id is left out: the code before issue 8 stops its CME list
at the first one (that failure is shown by run_bench.py), and the comparison is about
accuracy. Prints one JSON line per commit and delivery.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synth.extracts as generator  # noqa: E402
from synth.evaluate import cme_causes, cme_scores, linkage_scores, shield_leaks  # noqa: E402


def run_commit(src: Path, label: str, work: Path, rounds: int, first: date, gap: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "PYTHONPATH")}
    py = str(ROOT / ".venv" / "bin" / "python")
    db = f"sqlite:///{work / f'{label}.sqlite'}"
    quiet = dict(env=env, cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # cwd: its own code first
    help_text = subprocess.run([py, "-m", "pipelines.cli", "export", "register", "--help"], env=env, cwd=src,
                               capture_output=True, text=True).stdout
    shielded_flag = ["--include-shielded"] if "--include-shielded" in help_text else []
    top_help = subprocess.run([py, "-m", "pipelines.cli", "--help"], env=env, cwd=src, capture_output=True,
                              text=True).stdout
    if "reference" in top_help:  # a commit that can use the operator's postcode directory is given it
        # into a register made first (a command other than run refuses a register that is not there)
        subprocess.run([py, "-c", f"from register.db import open_register; open_register({db!r})"], env=env, cwd=src,
                       check=True)
        subprocess.run([py, "-m", "pipelines.cli", "reference", "postcodes", "--db", db,
                        "--directory", str(work / "reference" / "postcode_directory.csv"),
                        "--la-codes", str(work / "reference" / "la_codes.csv")], check=True, **quiet)
    for n in range(1, rounds + 1):
        landing = work / f"{label}-landing"
        shutil.rmtree(landing, ignore_errors=True)
        shutil.copytree(work / "landing" / f"round{n}", landing)
        as_of = (first + timedelta(days=gap * (n - 1))).isoformat()
        subprocess.run([py, "-m", "pipelines.cli", "run", "--landing", str(landing), "--db", db,
                        "--archive", str(work / f"{label}-archive"), "--as-of", as_of], **quiet)
        full, cme = work / f"{label}-register-{n}.csv", work / f"{label}-cme-{n}.csv"
        default = work / f"{label}-register-default-{n}.csv"
        subprocess.run([py, "-m", "pipelines.cli", "export", "register", "--db", db, "--out", str(full),
                        *shielded_flag], check=True, **quiet)
        subprocess.run([py, "-m", "pipelines.cli", "export", "register", "--db", db, "--out", str(default)],
                       check=True, **quiet)
        got = subprocess.run([py, "-m", "pipelines.cli", "export", "cme", "--db", db, "--out", str(cme)], **quiet)
        truth = work / "truth" / f"round{n}"
        figures = {"commit": label, "round": n, **linkage_scores(full, truth)}
        if got.returncode == 0:
            figures |= cme_scores(full, cme, truth) | cme_causes(full, cme, truth)
            figures |= shield_leaks(full, default, cme, truth)
        else:
            figures["cme"] = "no list exported"
        print(json.dumps(figures), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--rev", default="ff95f8a", help="the earlier commit")
    ap.add_argument("--work", default="bench/out/compare")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--as-of", default="2026-10-05")
    ap.add_argument("--gap-days", type=int, default=28)
    args = ap.parse_args()
    work = Path(args.work).resolve()
    if work.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "src-before")],
                       capture_output=True)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(work / "src-before"), args.rev],
                   check=True, capture_output=True)
    first = date.fromisoformat(args.as_of)
    generator._share_la_keys = lambda *a, **k: None  # see the module's docstring
    generator.generate(work / "landing", work / "truth", children=args.children, seed=11, extract_date=first,
                       rounds=args.rounds, round_gap_days=args.gap_days, reference=work / "reference")
    try:
        run_commit(work / "src-before", args.rev, work, args.rounds, first, args.gap_days)
        run_commit(ROOT, "this", work, args.rounds, first, args.gap_days)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "src-before")],
                       capture_output=True)


if __name__ == "__main__":
    main()
