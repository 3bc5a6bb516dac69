"""Linkage in partitions by blocking key, in this process and on a Dask LocalCluster, gives
the register exactly what the single-machine link gives: the same pairs, levels, clusters and
review queue."""
from __future__ import annotations

import shutil
from datetime import date
from functools import partial

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from sqlalchemy import select

from bench.records import COLUMNS, records_from_extracts
from matching.block import candidate_pairs
from matching.link import compare_in_chunks, link_records
from matching.partitioned import in_process, on_dask, partitioned_pairs, plan
from matching.standardisation import standardise
from pipelines.cli import run_pipeline
from pipelines.environment import configure_rooms
from pipelines.resources import RunSettings, link_engine_from_env
from register.db import open_register
from register.models import ExtractFile, SourceRecord
from synth.extracts import generate
from tests.helpers import AS_OF, asset_metadata


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partitioned")
    generate(folder / "landing", folder / "truth", children=1500, seed=31, extract_date=date(2026, 11, 2))
    recs, _ = records_from_extracts(folder / "landing", folder / "truth")
    return recs[COLUMNS]


@pytest.mark.parametrize("partitions", [1, 7, 64])
def test_partitions_find_the_same_pairs_and_levels_as_one_piece(records, partitions):
    standardised = standardise(records.reset_index(drop=True))
    pairs, per_rule = candidate_pairs(standardised)
    levels = compare_in_chunks(standardised, pairs)
    got_pairs, got_levels, got_rule, cost = partitioned_pairs(standardised, partitions)
    assert cost["link_partitions"] == partitions
    assert len(pairs) > 1000
    np.testing.assert_array_equal(got_pairs, pairs)
    pd.testing.assert_frame_equal(got_levels, levels)
    assert got_rule == per_rule


@pytest.mark.parametrize("max_block", [400, 3])
def test_blocks_made_from_hashed_keys_are_the_blocks_of_the_keys_themselves(records, monkeypatch, max_block):
    """candidate_pairs blocks on block_keys' 63-bit hashes; a reference made the plain way,
    from each rule's key strings, must find exactly the same pairs (a small MAX_BLOCK checks
    that too-common keys are left out alike)."""
    from matching import block
    monkeypatch.setattr(block, "MAX_BLOCK", max_block)
    standardised = standardise(records.reset_index(drop=True))
    parts = block._with_parts(standardised)
    found, per_rule = set(), {}
    for name, (lcols, rcols) in block.BLOCKING_RULES.items():
        left, right = block._keys(parts, lcols), block._keys(parts, rcols)
        sizes = right.value_counts()
        members: dict[str, list[int]] = {}
        for j, k in right.items():
            if k is not None and sizes[k] <= block.block_cap(name):
                members.setdefault(k, []).append(j)
        rule = {(min(i, j), max(i, j)) for i, k in left.items() if k is not None for j in members.get(k, []) if i != j}
        per_rule[name] = len(rule) if lcols == rcols else sum(
            1 for i, k in left.items() if k is not None for j in members.get(k, []) if i != j)
        found |= rule
    pairs, got_rule = candidate_pairs(standardised)
    assert len(found) > 500 and got_rule["shielded:year_month+family_initial+sex"] > 0
    assert {tuple(p) for p in pairs.tolist()} == found and len(pairs) == len(found)
    assert got_rule == per_rule


def test_a_partition_holds_its_share_of_the_records_not_all_of_them(records):
    standardised = standardise(records.reset_index(drop=True))
    sizes = [len(p.records) for p in plan(standardised, 64)]
    # Fifteen keys a record, each in one partition: about 15/64 of the records that can pair.
    assert max(sizes) < 0.35 * len(standardised)
    assert sum(sizes) > len(standardised)  # a record is shipped once per key that can pair it


def test_the_link_on_a_dask_cluster_equals_the_link_in_one_piece(records):
    keys = records["record_key"].tolist()
    # An analyst's ruling between records no blocking rule brings together is compared too.
    rulings = {tuple(sorted((keys[0], keys[-1]))): "same"}
    whole = link_records(records, rulings=rulings)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, Client(cluster) as client:
        source = partial(partitioned_pairs, partitions=16, runner=on_dask(client, in_flight=3))
        parted = link_records(records, rulings=rulings, pair_source=source)
    np.testing.assert_array_equal(parted.clusters, whole.clusters)
    np.testing.assert_array_equal(parted.pairs, whole.pairs)
    pd.testing.assert_frame_equal(parted.review_pairs.reset_index(drop=True), whole.review_pairs.reset_index(drop=True))
    cost = {k: parted.stats.pop(k) for k in ("link_partitions", "largest_partition_records", "slowest_partition_s",
                                          "partitions_total_s")}
    assert parted.stats == whole.stats
    assert cost["link_partitions"] == 16 and 0 < cost["largest_partition_records"] < len(records)
    assert whole.clusters[0] == whole.clusters[-1]


def test_in_process_partitions_link_as_one_piece(records):
    whole = link_records(records)
    parted = link_records(records, pair_source=partial(partitioned_pairs, partitions=5, runner=in_process))
    np.testing.assert_array_equal(parted.clusters, whole.clusters)


def test_a_pipeline_run_links_on_a_dask_cluster_as_it_links_in_one_piece(tmp_path, monkeypatch):
    """A run's full link on a Dask LocalCluster makes the register a run in one piece makes."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    generate(tmp_path / "landing", tmp_path / "truth", children=400, seed=7, extract_date=AS_OF)
    grouped = {}
    for name, settings in (("whole", {}), ("dask", {"link_partitions": 12, "dask_scheduler": "local:2"})):
        landing = tmp_path / name
        shutil.copytree(tmp_path / "landing", landing)
        db = f"sqlite:///{tmp_path / name}.sqlite"
        result = run_pipeline(db, str(landing), archive=str(tmp_path / f"{name}-archive"), as_of=AS_OF,
                              settings={"relink": "auto", **settings})
        assert result.success
        assert asset_metadata(result, "links").get("link_partitions") == settings.get("link_partitions")
        with open_register(db).connect() as conn:
            # Record keys are keyed hashes, secret to each register: a row is its file and line.
            rows = conn.execute(select(ExtractFile.name, SourceRecord.row_no, SourceRecord.child_id)
                                .join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
                                .where(SourceRecord.active.is_(True))).all()
        by_child: dict[str, set[tuple]] = {}
        for file, row, child in rows:
            by_child.setdefault(child, set()).add((file, row))
        grouped[name] = sorted(sorted(keys) for keys in by_child.values())
    assert len(grouped["whole"]) > 300
    assert grouped["dask"] == grouped["whole"]


def test_the_link_engine_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROLLCALL_LINK_PARTITIONS", "64")
    monkeypatch.setenv("ROLLCALL_DASK_SCHEDULER", "tcp://127.0.0.1:8786")
    assert link_engine_from_env() == {"link_partitions": 64, "dask_scheduler": "tcp://127.0.0.1:8786"}
    monkeypatch.delenv("ROLLCALL_LINK_PARTITIONS")
    monkeypatch.delenv("ROLLCALL_DASK_SCHEDULER")
    assert link_engine_from_env() == {"link_partitions": 0, "dask_scheduler": None}
    with RunSettings().pair_source() as source:
        assert source is None
