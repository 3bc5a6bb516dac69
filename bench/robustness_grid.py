"""The robustness grid: the same pipeline on populations generated at many settings (synth.settings:
slip rates, GP slips, movers, surname changes, twins and how they are named and mistyped, records
without identifiers, name diversity, diacritics), each scored against its truth; then the worst
and the median of every figure. A change to linkage or the CME rules counts when it holds at the
worst setting, not at one seed.

    .venv/bin/python bench/robustness_grid.py --children 20000 [--only 0,5] [--work DIR] [--seed 11]

Each setting: generate one delivery, `rollcall run` it (a child process), export the register, the
CME list and each authority's children-not-in-school register, score them (synth.evaluate). One
JSON line a setting, then a table.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.evaluate import cme_scores, cnis_scores, linkage_scores  # noqa: E402
from synth.extracts import generate  # noqa: E402
from synth.settings import Settings  # noqa: E402

REAL = dict(names="gb", name_zipf=0.6, diacritic_slips=0.3)  # names from frequency data, diacritics slip
# Each setting moves one or more dials; together they reach past what any one extract is tuned to.
GRID = [
    Settings(),
    Settings(**REAL),
    Settings(**REAL, typo_rate=2.0),
    Settings(**REAL, gp_slip_factor=3.0),
    Settings(**REAL, mover_rate=0.3, postcode_blank_gp=0.1),
    Settings(**REAL, surname_change=0.03, mover_rate=0.2),
    Settings(**REAL, twin_rate=0.15, alike_twin_names=0.3),
    Settings(**REAL, twin_rate=0.15, twin_slips=0.5),
    Settings(**REAL, gp_nhs_number=0.6, la_identifier_factor=0.4),
    Settings(names="gb", name_zipf=0.3, diacritic_slips=0.6),
    Settings(names="gb", name_zipf=1.1),
    Settings(**REAL, typo_rate=2.0, gp_slip_factor=2.0, mover_rate=0.25, twin_rate=0.12, alike_twin_names=0.3,
             twin_slips=0.3, gp_nhs_number=0.75, surname_change=0.02),
    Settings(**{**REAL, "diacritic_slips": 0.6}, typo_rate=1.5, gp_slip_factor=2.0, mover_rate=0.2,
             twin_rate=0.1, alike_twin_names=0.5, twin_slips=0.5, gp_nhs_number=0.85, la_identifier_factor=0.6),
]
# Figures where higher is better (the worst is the least) and where lower is better.
HIGHER = ("pair_precision", "pair_recall", "pair_f1", "cme_precision", "cme_recall", "cme_precision_firm",
          "cnis_recall", "cnis_recall_with_basis", "cnis_precision")
LOWER = ("twin_merges", "cnis_full_time_pupils_not_cme")
LAS = ("880", "881", "882")


def run_setting(i: int, settings: Settings, children: int, seed: int, work: Path, as_of: date) -> dict:
    folder = work / f"setting{i:02d}"
    shutil.rmtree(folder, ignore_errors=True)
    landing, truth = folder / "landing", folder / "truth"
    generate(landing, truth, children=children, seed=seed, extract_date=as_of, reference=folder / "reference",
             settings=settings)
    db = f"sqlite:///{folder / 'rollcall.sqlite'}"
    rollcall = str(ROOT / ".venv" / "bin" / "rollcall")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["ROLLCALL_AUDIT_KEY_FILE"] = str(folder / "audit-key")
    env["ROLLCALL_ALERTS"] = str(folder / "alerts.log")
    quiet = dict(check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    subprocess.run([rollcall, "db", "create", "--db", db], **quiet)
    subprocess.run([rollcall, "reference", "postcodes", "--directory", str(folder / "reference/postcode_directory.csv"),
                    "--la-codes", str(folder / "reference/la_codes.csv"), "--db", db], **quiet)
    t0 = time.perf_counter()
    subprocess.run([rollcall, "run", "--landing", str(landing), "--db", db, "--archive", str(folder / "archive"),
                    "--as-of", as_of.isoformat()], **quiet)
    run_s = time.perf_counter() - t0
    full, cme = folder / "register.csv", folder / "cme.csv"
    subprocess.run([rollcall, "export", "register", "--db", db, "--out", str(full), "--include-shielded"], **quiet)
    subprocess.run([rollcall, "export", "cme", "--db", db, "--out", str(cme)], **quiet)
    entries = []
    for la in LAS:
        out = folder / f"cnis-{la}.csv"
        subprocess.run([rollcall, "export", "cnis", "--la", la, "--db", db, "--out", str(out)], **quiet)
        with open(out, newline="") as fh:
            entries += [(r["child_id"], r["la_code"], r["basis"]) for r in csv.DictReader(fh)]
    cnis = cnis_scores(full, entries, truth)
    cnis["cnis_full_time_pupils_not_cme"] = sum(n for b, n in cnis["cnis_full_time_pupils_on_register_by_basis"].items()
                                                if b != "CME")
    return {"setting": i, "label": settings.label(), "run_s": round(run_s, 1),
            **linkage_scores(full, truth), **cme_scores(full, cme, truth), **cnis}


def summary(rows: list[dict]) -> dict:
    out = {}
    for k in HIGHER + LOWER:
        values = [r[k] for r in rows]
        worst = min(values) if k in HIGHER else max(values)
        out[k] = {"worst": worst, "worst_setting": next(r["setting"] for r in rows if r[k] == worst),
                  "median": statistics.median(values)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--as-of", default="2026-10-05")
    ap.add_argument("--work", default="bench/out/grid")
    ap.add_argument("--only", help="comma-separated setting numbers (default: all)")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    chosen = [int(x) for x in args.only.split(",")] if args.only else range(len(GRID))
    rows = []
    for i in chosen:
        rows.append(run_setting(i, GRID[i], args.children, args.seed, work, date.fromisoformat(args.as_of)))
        print(json.dumps(rows[-1]), flush=True)
    cols = ["setting", "pair_precision", "pair_recall", "twin_merges", "cme_flagged", "cme_true", "cme_precision",
            "cme_recall", "cme_precision_firm", "cnis_true_members", "cnis_entries", "cnis_recall",
            "cnis_recall_with_basis", "cnis_precision", "cnis_full_time_pupils_not_cme", "run_s"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print("\nsettings:")
    for r in rows:
        print(f"  {r['setting']}: {r['label']}")
    print("\nworst and median:", json.dumps(summary(rows), indent=1))
    print(json.dumps({"settings": {i: asdict(GRID[i]) for i in chosen}}))


if __name__ == "__main__":
    main()
