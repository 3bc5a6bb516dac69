"""The full link in partitions by blocking key: in one piece, partition by partition in one
process, and on a Dask LocalCluster of 1 and 2 workers; wall time, the per-partition cost, the
largest partition, peak memory of the planner and of each worker, and a check that every way
gives the same clusters as the link in one piece.

    .venv/bin/python bench/partition_bench.py --records 1000000 [--partitions 64] [--workers 1 2]

Records are generated extracts read through the contract (cached in bench/data/gen<N>). Each
configuration runs in its own child process so its peak memory is its own.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "data"


def records(n_records: int):
    """n_records' worth of generated records (about 1.76 per child), read once and cached."""
    import pandas as pd

    from bench.records import COLUMNS, records_from_extracts
    from synth.extracts import generate

    folder = WORK / f"gen{n_records}"
    cached = folder / "records.parquet"
    if not cached.exists():
        if not (folder / "truth" / "records.csv").exists():
            generate(folder / "landing", folder / "truth", children=int(n_records / 1.76), seed=23,
                     extract_date=date(2026, 11, 2))
        recs, _ = records_from_extracts(folder / "landing", folder / "truth")
        recs[COLUMNS + ["truth"]].to_parquet(cached)
    return pd.read_parquet(cached)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(config: dict, n_records: int, queue) -> None:
    from matching.link import link_records
    from pipelines.resources import pair_source

    recs = records(n_records)
    truth = recs.pop("truth")
    start = time.perf_counter()
    out = {**config, "records": len(recs)}
    if config["how"] == "one piece":
        result = link_records(recs)
    else:
        scheduler = f"local:{config['workers']}" if config["how"] == "dask" else None
        with pair_source(config["partitions"], scheduler) as source:
            costs = []

            def timed(standardised):
                t = time.perf_counter()
                got = source(standardised)
                costs.append(time.perf_counter() - t)
                return got
            result = link_records(recs, pair_source=timed)
            out["pairs_s"] = round(costs[0], 1)
            if config["how"] == "dask":
                from distributed import get_client
                workers = get_client().run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
                out["worker_peak_mb"] = sorted(round(v) for v in workers.values())
    out["link_s"] = round(time.perf_counter() - start, 1)
    out["peak_mb"] = round(_peak_mb())
    for k in ("candidate_pairs", "clusters", "largest_partition_records", "slowest_partition_s", "partitions_total_s",
              "link_partitions"):
        if k in result.stats:
            out[k] = result.stats[k]
    t = truth.to_numpy()
    out["true_pairs_linked"] = int((t[result.pairs[:, 0]] == t[result.pairs[:, 1]]).sum())
    np.save(WORK / f"clusters-{config['name']}.npy", result.clusters)
    queue.put(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    n = len(records(args.records))
    print(json.dumps({"records": n, "prepare_s": round(time.perf_counter() - t, 1)}), flush=True)
    configs = [{"name": "one", "how": "one piece"},
               {"name": "inproc", "how": "in process", "partitions": args.partitions}]
    configs += [{"name": f"dask{w}", "how": "dask", "workers": w, "partitions": args.partitions} for w in args.workers]
    ctx = mp.get_context("spawn")
    base = None
    for config in configs:
        queue = ctx.Queue()
        p = ctx.Process(target=run, args=(config, args.records, queue))
        p.start()
        out = queue.get()
        p.join()
        labels = np.load(WORK / f"clusters-{config['name']}.npy")
        if base is None:
            base = labels
        out["same_clusters_as_one_piece"] = bool(np.array_equal(labels, base))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
