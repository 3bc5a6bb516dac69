"""Issue 13: a register that grows by deliveries. Several monthly delivery rounds of generated
data are run twice, incrementally (re-linking only the children each delivery touches) and as
full re-links, and the registers must agree: pair F1 against the truth within 0.0005, no
twins merged and no child with two NHS numbers in either, and the incremental runs must really
have been incremental."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from linkage.identity import children_with_two_nhs_numbers
from pipelines.cli import main, run_pipeline
from pipelines.environment import configure_rooms
from register.db import open_register
from register.models import SourceRecord
from synth.evaluate import linkage_scores
from synth.extracts import generate
from tests.helpers import AS_OF, asset_metadata

ROUNDS, GAP = 4, 28
START = AS_OF - timedelta(days=GAP * (ROUNDS - 1))


@pytest.fixture(autouse=True)
def quiet(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    root = tmp_path_factory.mktemp("deliveries")
    generate(root / "landing", root / "truth", children=1500, seed=21, extract_date=START, rounds=ROUNDS,
             round_gap_days=GAP, silent_schools=1)
    return root


def run_rounds(deliveries, folder, relink: str) -> tuple[str, list[dict]]:
    landing, db = folder / "landing", f"sqlite:///{folder / 'register.sqlite'}"
    seen = []
    for n in range(1, ROUNDS + 1):
        shutil.copytree(deliveries / "landing" / f"round{n}", landing, dirs_exist_ok=True)
        result = run_pipeline(db, str(landing), archive=str(folder / "archive"),
                              as_of=START + timedelta(days=GAP * (n - 1)), settings={"relink": relink})
        assert result.success
        seen.append(asset_metadata(result, "links"))
    return db, seen


def scores(db, folder, truth) -> dict:
    out = folder / "register.csv"
    assert main(["export", "register", "--db", db, "--out", str(out), "--include-shielded"]) == 0
    return linkage_scores(out, truth)


def test_incremental_and_full_relinks_give_the_same_register(deliveries, tmp_path):
    inc_db, inc_runs = run_rounds(deliveries, tmp_path / "incremental", "auto")
    full_db, full_runs = run_rounds(deliveries, tmp_path / "full", "full")
    assert inc_runs[0]["mode"] == "full" and all(r["mode"] == "incremental" for r in inc_runs[1:]), inc_runs
    assert all(r["mode"] == "full" for r in full_runs)
    total = inc_runs[0]["records"]
    for r in inc_runs[1:]:
        assert r["records_relinked"] < total / 2, "an increment re-links only the children it touches"
    truth = deliveries / "truth" / f"round{ROUNDS}"
    inc, full = scores(inc_db, tmp_path / "incremental", truth), scores(full_db, tmp_path / "full", truth)
    assert abs(inc["pair_f1"] - full["pair_f1"]) <= 0.0005, (inc, full)
    assert inc["twin_merges"] == full["twin_merges"] == 0
    for db in (inc_db, full_db):
        engine = open_register(db)
        assert children_with_two_nhs_numbers(engine) == set()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).where(SourceRecord.active.is_(True),
                                                           SourceRecord.child_id.is_(None))).scalar() == 0


def the_list(db, as_of):
    from register.models import CmeFlag

    with open_register(db).connect() as conn:
        return sorted(tuple(r) for r in conn.execute(
            select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason, CmeFlag.residence_source,
                   CmeFlag.possible_match_in_review, CmeFlag.stale_rolls).where(CmeFlag.as_of == as_of)))


def test_the_list_for_the_children_a_delivery_touched_equals_the_list_computed_again_in_full(deliveries, tmp_path):
    from cme.flags import BASIS
    from register.state import set_state

    landing, db = tmp_path / "landing", f"sqlite:///{tmp_path / 'register.sqlite'}"
    shutil.copytree(deliveries / "landing" / "round1", landing)
    assert run_pipeline(db, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF).success
    round2 = deliveries / "landing" / "round2"
    school = sorted(p.name for p in round2.iterdir() if len(p.name) == 7)[-1]
    shutil.copytree(round2 / school, landing / school, dirs_exist_ok=True)
    later = run_pipeline(db, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF)
    assert later.success
    meta = asset_metadata(later, "cme_flags")
    assert meta["computed"] == "part" and 0 < meta["children_computed"] < 300, meta  # of about 1,500
    part = the_list(db, AS_OF)
    set_state(open_register(db), BASIS, "null")  # no basis: the next computation is a full one
    again = run_pipeline(db, str(landing), archive=str(tmp_path / "a"), as_of=AS_OF)
    assert asset_metadata(again, "cme_flags")["computed"] == "full"
    assert the_list(db, AS_OF) == part and part


def _stored_index_is_the_records_own(db):
    import pandas as pd

    from linkage.current import active_records
    from linkage.link_index import index_frame
    from register.models import RecordIndex

    engine = open_register(db)
    with engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(select(RecordIndex.__table__).order_by(RecordIndex.record_id)).all())
    expected = index_frame(active_records(engine))
    assert len(stored) == len(expected) > 1000
    def plain(frame):  # Python values, None for no value
        frame = frame.astype(object)
        return frame.where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(stored[expected.columns]), plain(expected), check_dtype=False)


@pytest.mark.parametrize("writer", ["spawned", "dies"])
def test_a_full_link_writes_its_index_in_a_second_process_or_else_itself(deliveries, tmp_path, monkeypatch, caplog,
                                                                        writer):
    """A large full link writes the link index in a spawned process while it scores and
    clusters; the index is exactly its records' (keys, names, content), and when that process
    dies the run writes it itself."""
    import concurrent.futures
    import logging
    import os

    from linkage import link_index
    from linkage import relinking as linking
    monkeypatch.setattr(linking, "INDEX_WRITER_FROM", 0)
    if writer == "dies":
        class DyingPool(concurrent.futures.ProcessPoolExecutor):
            def submit(self, fn, *args, **kwargs):
                return super().submit(os._exit, 1)

        monkeypatch.setattr(link_index, "ProcessPoolExecutor", DyingPool)
    landing, db = tmp_path / "landing", f"sqlite:///{tmp_path / 'register.sqlite'}"
    shutil.copytree(deliveries / "landing" / "round1", landing)
    with caplog.at_level(logging.WARNING, logger="rollcall.register"):
        result = run_pipeline(db, str(landing), archive=str(tmp_path / "archive"), as_of=START)
    assert result.success and asset_metadata(result, "links")["mode"] == "full"
    assert ("could not be written in its own process" in caplog.text) == (writer == "dies")
    _stored_index_is_the_records_own(db)
