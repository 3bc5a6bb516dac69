"""The model learns from its analysts: a bench analyst answers the review queue from the truth, a
batch at a time in the queue's own order, and after each batch the register is re-linked in full
(each full link learns m from the rulings it has, and replays them); CME precision and recall after
0, 100, 500, 1,000 and 2,000 decisions (or as many as the queue offers).

    .venv/bin/python bench/analyst_curve.py --children 20000 [--setting N] [--work DIR]

--setting: a setting of bench/robustness_grid.py's GRID (default: the generator's defaults).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linkage import decide  # noqa: E402
from oversight import review_queue  # noqa: E402
from register import CandidatePair, ExtractFile, SourceRecord, open_register  # noqa: E402
from synth.evaluate import cme_scores, linkage_scores  # noqa: E402
from synth.extracts import generate  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from robustness_grid import GRID  # noqa: E402 (the grid's settings, beside this script)

STEPS = (0, 100, 500, 1000, 2000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--setting", type=int)
    ap.add_argument("--as-of", default="2026-10-05")
    ap.add_argument("--work", default="bench/out/analyst")
    args = ap.parse_args()
    settings = GRID[args.setting] if args.setting is not None else None
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    landing, truth = work / "landing", work / "truth"
    as_of = date.fromisoformat(args.as_of)
    generate(landing, truth, children=args.children, seed=args.seed, extract_date=as_of, reference=work / "reference",
             settings=settings)
    db = f"sqlite:///{work / 'rollcall.sqlite'}"
    rollcall = str(ROOT / ".venv" / "bin" / "rollcall")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(ROLLCALL_AUDIT_KEY_FILE=str(work / "audit-key"), ROLLCALL_ALERTS=str(work / "alerts.log"))
    quiet = dict(check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    subprocess.run([rollcall, "db", "create", "--db", db], **quiet)
    subprocess.run([rollcall, "reference", "postcodes", "--directory", str(work / "reference/postcode_directory.csv"),
                    "--la-codes", str(work / "reference/la_codes.csv"), "--db", db], **quiet)
    run = [rollcall, "run", "--landing", str(landing), "--db", db, "--archive", str(work / "archive"),
           "--as-of", as_of.isoformat()]
    subprocess.run(run, **quiet)
    true_child = {(r["file"], int(r["row"])): r["true_child"] for r in csv.DictReader(open(truth / "records.csv"))}
    engine = open_register(db)
    decided, curve = 0, []
    for target in STEPS:
        if target > decided:
            answered = answer(engine, target - decided, true_child)
            if not answered:
                break  # the queue is empty: more decisions cannot be made
            decided += answered
            subprocess.run([*run, "--relink", "full"], **quiet)
        full, cme = work / "register.csv", work / "cme.csv"
        subprocess.run([rollcall, "export", "register", "--db", db, "--out", str(full), "--include-shielded"], **quiet)
        subprocess.run([rollcall, "export", "cme", "--db", db, "--out", str(cme)], **quiet)
        with engine.connect() as conn:
            waiting = conn.execute(select(CandidatePair.id).where(CandidatePair.analyst_decision.is_(None))).all()
        point = {"decisions": decided, "queue_left": len(waiting), **linkage_scores(full, truth),
                 **cme_scores(full, cme, truth)}
        curve.append(point)
        print(json.dumps(point), flush=True)
        if target > decided:
            break  # the queue is empty: more decisions cannot be made
    cols = ["decisions", "queue_left", "pair_precision", "pair_recall", "twin_merges", "cme_flagged", "cme_true",
            "cme_precision", "cme_recall", "cme_precision_firm"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for p in curve:
        print("| " + " | ".join(str(p[c]) for c in cols) + " |")


def answer(engine, wanted: int, true_child: dict) -> int:
    """Decide up to `wanted` pairs of the review queue, in its order, from the truth."""
    with engine.connect() as conn:
        las = sorted({r[0][:3] for r in conn.execute(select(ExtractFile.provider)).all() if r[0][:3].isdigit()})
        where = {r.record_key: (r.name, r.row_no) for r in conn.execute(
            select(SourceRecord.record_key, ExtractFile.name, SourceRecord.row_no)
            .join(ExtractFile, ExtractFile.id == SourceRecord.file_id))}
    done = 0
    for item in review_queue(engine, las, "bench-analyst", limit=wanted * 2):
        if done >= wanted:
            break
        if item["second_review"]:
            continue
        with engine.connect() as conn:
            pair = conn.execute(select(CandidatePair.key_a, CandidatePair.key_b, CandidatePair.version)
                                .where(CandidatePair.id == item["id"])).one()
        a, b = true_child.get(where.get(pair.key_a)), true_child.get(where.get(pair.key_b))
        if a is None or b is None:
            continue
        decide(engine, item["id"], pair.version, "same" if a == b else "different", "bench-analyst",
               reason="the bench analyst answers from the generator's truth")
        done += 1
    return done


if __name__ == "__main__":
    main()
