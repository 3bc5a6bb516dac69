"""End-to-end figures: generate N children in one or more monthly deliveries, run `rollcall
run` on each delivery in turn (a child process, so its peak memory is measured alone), export,
and score linkage, CME (with misses and false flags by cause) and shield leaks against the
generator's truth, per delivery.

    .venv/bin/python bench/run_bench.py --children 20000 [--rounds 2] [--no-directory] [--db URL] [--work DIR]
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
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.progress import step_times  # noqa: E402
from synth.evaluate import cme_causes, cme_scores, linkage_scores, shield_leaks  # noqa: E402
from synth.extracts import generate  # noqa: E402
from synth.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--gap-days", type=int, default=28)
    ap.add_argument("--work", default="bench/out/run")
    ap.add_argument("--db", help="register URL (default: SQLite in the work folder)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--as-of", default="2026-10-05")
    ap.add_argument("--no-directory", action="store_true", help="load no postcode directory (learned residence only)")
    # How deliveries come (synth.settings): more providers and their files' line endings and quoting.
    ap.add_argument("--pupils-per-school", type=int, default=600, help="fewer make more schools (more files)")
    ap.add_argument("--children-per-practice", type=int, default=2500)
    ap.add_argument("--lf-files", type=float, default=0.0, help="share of files ending lines LF (the rest CRLF)")
    ap.add_argument("--quoted-files", type=float, default=0.0, help="share of files with every field quoted")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    landing, truth = work / "landing", work / "truth"
    first = date.fromisoformat(args.as_of)
    t0 = time.perf_counter()
    delivery = Settings(pupils_per_school=args.pupils_per_school, children_per_practice=args.children_per_practice,
                        lf_files=args.lf_files, quoted_files=args.quoted_files)
    s = generate(landing, truth, children=args.children, seed=args.seed, extract_date=first, rounds=args.rounds,
                 round_gap_days=args.gap_days, reference=work / "reference", settings=delivery)
    gen_s = time.perf_counter() - t0
    db = args.db or f"sqlite:///{work / 'rollcall.sqlite'}"
    rollcall = str(ROOT / ".venv" / "bin" / "rollcall")
    env = dict(os.environ)
    env.pop("DAGSTER_HOME", None)
    quiet = dict(check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not args.no_directory:
        subprocess.run([rollcall, "db", "create", "--db", db], **quiet)  # reference data goes into a register
        subprocess.run([rollcall, "reference", "postcodes", "--directory", str(work / "reference/postcode_directory.csv"),
                        "--la-codes", str(work / "reference/la_codes.csv"), "--db", db], **quiet)
    out = {"children": s.children, "generate_s": round(gen_s, 1), "postcode_directory": not args.no_directory,
           "rounds": []}
    for n in range(1, args.rounds + 1):
        as_of = (first + timedelta(days=args.gap_days * (n - 1))).isoformat()
        inbox = landing if args.rounds == 1 else landing / f"round{n}"
        truth_n = truth if args.rounds == 1 else truth / f"round{n}"
        run = [rollcall, "run", "--landing", str(inbox), "--db", db, "--archive", str(work / "archive"),
               "--as-of", as_of]
        t0 = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        first, tree_mb = _run_sampled(run, env)
        run_s = time.perf_counter() - t0
        steps = step_times(first.stderr)
        peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        t0 = time.perf_counter()
        subprocess.run(run, **quiet)
        rerun_s = time.perf_counter() - t0
        full, default, cme = work / f"register_full_{n}.csv", work / f"register_{n}.csv", work / f"cme_{n}.csv"
        subprocess.run([rollcall, "export", "register", "--db", db, "--out", str(full), "--include-shielded"], **quiet)
        subprocess.run([rollcall, "export", "register", "--db", db, "--out", str(default)], **quiet)
        subprocess.run([rollcall, "export", "cme", "--db", db, "--out", str(cme)], **quiet)
        files = sum(1 for _ in inbox.rglob("*.csv"))
        out["rounds"].append({
            "round": n, "as_of": as_of, "files": files, "run_s": round(run_s, 1),
            "rerun_no_new_files_s": round(rerun_s, 1), "peak_rss_mb_so_far": round(peak_mb),
            "peak_rss_all_processes_mb": round(tree_mb), "steps_s": steps,
            **linkage_scores(full, truth_n), **cme_scores(full, cme, truth_n), **cme_causes(full, cme, truth_n),
            **shield_leaks(full, default, cme, truth_n)})
        print(json.dumps(out["rounds"][-1]), flush=True)
    print(json.dumps(out, indent=2))


def _run_sampled(cmd, env) -> tuple[subprocess.CompletedProcess, float]:
    """Run cmd, sampling the summed resident memory of it and every process it starts (the
    intake worker, the index writer) five times a second: (the finished process, peak MB)."""
    import threading

    import psutil

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, done = [0], threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.wait(0.2):
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total)
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=err)
    return subprocess.CompletedProcess(cmd, proc.returncode, None, err), peak[0] / 2**20


if __name__ == "__main__":
    main()
