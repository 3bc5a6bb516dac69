"""Candidate pairs and their comparison levels in partitions by blocking key, so that no
machine ever holds more than one partition's records and pairs, and the partitions can run on
Dask's distributed scheduler (a LocalCluster on one machine, many machines in production).

How it divides: each record's blocking keys are 63-bit hashes (matching.block.block_keys, the
same keys the register keeps in its link index). For every blocking rule, a record goes to
partition `hash % partitions` of that rule's key, so every block, and so every pair the rule
finds, lies whole in one partition; a record appears in at most one partition per rule. Only
records that can pair are shipped: a block of one record, or one too large to be evidence
(over the rule's cap, MAX_BLOCK for most), never leaves the planner. A partition makes its rules' pairs and compares
them; the planner gathers the pairs and their levels (small integers), drops a pair that two
rules found, and hands them to the rest of the link (scoring, decisions, clustering), which
works on the pair list, about one pair per record.

The result is the same pairs, in the same order, with the same levels, as the single-machine
path (matching.block.candidate_pairs then compare): a test holds the two to that.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.block import BLOCKING_RULES, block_cap, block_keys, pairs_within, unique_pairs
from matching.compare import COMPARED_COLUMNS, compare
from matching.score import FIELDS


@dataclass
class Partition:
    """One partition's work: its records (the compared fields, `row` their position in the
    whole) and, per rule, the key hash of each of them (0: not in this rule's blocks here)."""
    number: int
    records: pd.DataFrame
    keys: dict[str, np.ndarray]  # rule -> hash per record (within rules)
    sides: dict[str, tuple[np.ndarray, np.ndarray]]  # rule -> (left hash, right hash) per record


@dataclass
class PartitionResult:
    number: int
    pairs: np.ndarray  # global row positions, lower first
    levels: pd.DataFrame
    per_rule: dict[str, int]
    records: int  # how many records the partition held
    seconds: float = 0.0


def _rule_columns(name: str, lcols: tuple, rcols: tuple) -> tuple[str, str]:
    return (name, name) if lcols == rcols else (f"{name}<", f"{name}>")


def _block_members(keys: np.ndarray, cap: int) -> np.ndarray:
    """Records in a block of 2..cap records (a within rule's pairs come only from them)."""
    present = keys != 0
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    size = counts[inverse]
    return present & (size >= 2) & (size <= cap)


def _across_members(left: np.ndarray, right: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Records whose left key meets a right key of a block no larger than cap, and the
    records whose right key is met."""
    r_uniq, r_counts = np.unique(right[right != 0], return_counts=True)
    usable = r_uniq[r_counts <= cap]
    left_ok = (left != 0) & np.isin(left, usable)
    right_ok = (right != 0) & np.isin(right, left[left_ok]) & np.isin(right, usable)
    return left_ok, right_ok


def plan(standardised: pd.DataFrame, partitions: int, keys: pd.DataFrame | None = None) -> Iterable[Partition]:
    """The partitions, one at a time (a generator: the planner holds one partition's records
    at once besides the whole). keys: block_keys(standardised) if already made (the link
    index keeps them)."""
    keys = block_keys(standardised) if keys is None else keys
    fields = standardised[[c for c in COMPARED_COLUMNS if c in standardised]]
    # Per rule side: the records that can pair, grouped by partition (one sort, then slices).
    sides: list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray]] = []  # rule, side, key, rows, bounds
    for name, (lcols, rcols) in BLOCKING_RULES.items():
        lcol, rcol = _rule_columns(name, lcols, rcols)
        left = keys[lcol].to_numpy(dtype=np.int64)
        if lcol == rcol:
            sides.append((name, 0, left, *_by_partition(_block_members(left, block_cap(name)), left, partitions)))
        else:
            right = keys[rcol].to_numpy(dtype=np.int64)
            lok, rok = _across_members(left, right, block_cap(name))
            sides.append((name, 1, left, *_by_partition(lok, left, partitions)))
            sides.append((name, 2, right, *_by_partition(rok, right, partitions)))
    for p in range(partitions):
        mine = {(name, side): (key, rows[bounds[p]:bounds[p + 1]]) for name, side, key, rows, bounds in sides}
        members = np.unique(np.concatenate([r for _, r in mine.values()])) if mine else np.empty(0, np.int64)
        records = fields.iloc[members].reset_index(drop=True).assign(row=members)
        local = {}
        for (name, side), (key, rows) in mine.items():
            k = np.zeros(len(members), dtype=np.int64)
            k[np.searchsorted(members, rows)] = key[rows]
            local[(name, side)] = k
        yield Partition(p, records, {n: k for (n, side), k in local.items() if side == 0},
                        {n: (k, local[(n, 2)]) for (n, side), k in local.items() if side == 1})


def _by_partition(ok: np.ndarray, key: np.ndarray, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows where ok, sorted by their key's partition, and where each partition starts."""
    rows = np.flatnonzero(ok)
    part = key[rows] % partitions
    order = np.argsort(part, kind="stable")
    return rows[order], np.searchsorted(part[order], np.arange(partitions + 1))


def link_partition(part: Partition) -> PartitionResult:
    """A partition's pairs (global row positions) and their comparison levels. Runs anywhere:
    it needs nothing but the partition."""
    start = time.perf_counter()
    found, per_rule = [], {}
    for name, k in part.keys.items():
        codes = np.where(k != 0, pd.factorize(k)[0], -1)
        pairs = pairs_within(codes, block_cap(name))
        per_rule[name] = len(pairs)
        found.append(pairs)
    for name, (lk, rk) in part.sides.items():
        lefts = pd.DataFrame({"k": lk, "i": np.arange(len(lk))})
        rights = pd.DataFrame({"k": rk, "j": np.arange(len(rk))})
        pairs = lefts[lefts["k"] != 0].merge(rights[rights["k"] != 0], on="k")[["i", "j"]].to_numpy()
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        per_rule[name] = len(pairs)
        found.append(pairs)
    local = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    rows = part.records["row"].to_numpy()
    # Lower global position first, then one of each pair: two rules may find the same pair.
    local = np.where((rows[local[:, 0]] <= rows[local[:, 1]])[:, None], local, local[:, ::-1])
    local = unique_pairs(local)
    levels = compare(part.records, local)
    return PartitionResult(part.number, rows[local].reshape(-1, 2), levels, per_rule, len(rows),
                           time.perf_counter() - start)


def gather(results: Iterable[PartitionResult]) -> tuple[np.ndarray, pd.DataFrame, dict[str, int], dict]:
    """Every partition's pairs in candidate_pairs' order (sorted, each once) with their levels,
    the pairs per rule, and what the partitions cost (counts only, for the run's metadata)."""
    results = list(results)
    per_rule = {name: sum(r.per_rule.get(name, 0) for r in results) for name in BLOCKING_RULES}
    info = {"link_partitions": len(results),
            "largest_partition_records": max((r.records for r in results), default=0),
            "slowest_partition_s": round(max((r.seconds for r in results), default=0.0), 2),
            "partitions_total_s": round(sum(r.seconds for r in results), 1)}
    nonempty = [r for r in results if len(r.pairs)]
    if not nonempty:
        empty = pd.DataFrame({f: pd.Series(dtype=np.int8) for f in FIELDS})
        return np.empty((0, 2), dtype=np.int64), empty, per_rule, info
    pairs = np.concatenate([r.pairs for r in nonempty])
    levels = pd.concat([r.levels for r in nonempty], ignore_index=True)
    pairs, first = unique_pairs(pairs, return_index=True)
    return pairs, levels.iloc[first].reset_index(drop=True), per_rule, info


Runner = Callable[[Iterable[Partition]], Iterable[PartitionResult]]


def in_process(parts: Iterable[Partition]) -> Iterable[PartitionResult]:
    """One partition after another in this process: bounded memory, no cluster."""
    for part in parts:
        yield link_partition(part)


def on_dask(client, in_flight: int | None = None) -> Runner:
    """Partitions on a Dask distributed cluster (client: a distributed.Client), no more than
    in_flight of them shipped and not yet gathered at once (default: two per worker thread), so
    the planner never holds every partition."""
    # Dask loads only for a link on a cluster (start-up of every other run stays fast).
    from distributed import as_completed

    def submit(part: Partition):
        # The partition's records go to a worker as data, not inside the task graph.
        return client.submit(link_partition, client.scatter(part), pure=False)

    def run(parts: Iterable[Partition]) -> Iterable[PartitionResult]:
        limit = in_flight or 2 * max(1, sum(client.nthreads().values()))
        parts = iter(parts)
        futures = as_completed()
        for _, part in zip(range(limit), parts, strict=False):
            futures.add(submit(part))
        for future in futures:
            result = future.result()
            future.release()
            nxt = next(parts, None)
            if nxt is not None:
                futures.add(submit(nxt))
            yield result
    return run


def partitioned_pairs(standardised: pd.DataFrame, partitions: int, runner: Runner = in_process,
                      keys: pd.DataFrame | None = None) -> tuple[np.ndarray, pd.DataFrame, dict[str, int], dict]:
    """Candidate pairs, levels, per-rule counts and the partitions' cost, partition by partition."""
    return gather(runner(plan(standardised, partitions, keys)))
