"""Issue 13's history: every change to a child is an event with its time and cause (the run,
the analyst decision); `rollcall history` prints it, and an old id resolves to its current
child or children."""
from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from linkage.histories import current_children, events_of_change, history
from linkage.review import rule_records, split_record, undecided_pairs
from pipelines.cli import main, run_pipeline
from pipelines.environment import configure_rooms
from register.db import open_register
from register.models import SourceRecord
from tests.helpers import AS_OF


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    configure_rooms()  # an edge reads the environment; here the test is the edge


def relink(landing, db, tmp_path):
    result = run_pipeline(db, str(landing), archive=str(tmp_path / "archive"), as_of=AS_OF)
    assert result.success
    return result.run_id


def keys_of(engine, child_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(SourceRecord.record_key).where(
            SourceRecord.child_id == child_id, SourceRecord.active.is_(True))).scalars())


def child_of(engine, key: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(SourceRecord.child_id).where(SourceRecord.record_key == key,
                                                                SourceRecord.active.is_(True))).scalar()


def children_with(engine, n: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(SourceRecord.child_id).where(SourceRecord.active.is_(True))
                                 .group_by(SourceRecord.child_id).having(func.count() == n)
                                 .order_by(SourceRecord.child_id)).scalars())


def test_events_of_a_regrouping():
    import pandas as pd

    old = pd.Series(["A", "A", "B", "", "C"])
    new = pd.Series(["A", "N", "A", "A", "D"])
    keys = pd.Series(["k1", "k2", "k3", "k4", "k5"])
    events = events_of_change(old, new, keys, created={"N", "D"}, successors={"B": "A", "C": "D"}, gone={"B", "C"},
                              revived=set())
    got = {(e["child_id"], e["event"], e["record_key"], e["other_child_id"]) for e in events}
    assert got == {("N", "created", None, None), ("N", "split_from", None, "A"), ("D", "created", None, None),
                   ("A", "record_left", "k2", "N"), ("N", "record_joined", "k2", "A"),
                   ("B", "record_left", "k3", "A"), ("A", "record_joined", "k3", "B"),
                   ("A", "record_joined", "k4", None),
                   ("C", "record_left", "k5", "D"), ("D", "record_joined", "k5", "C"),
                   ("B", "merged_into", None, "A"), ("B", "retired", None, None),
                   ("C", "merged_into", None, "D"), ("C", "retired", None, None)}
    assert events[0]["event"] == "created", "a history reads in order"


def test_a_childs_history_from_creation_through_a_merge_and_a_split(landing, tmp_path, db_url, capsys):
    sqlite_url = db_url  # both databases: this walks the incremental link through rulings
    first_run = relink(landing, sqlite_url, tmp_path)
    engine = open_register(sqlite_url)
    two = children_with(engine, 2)
    child = two[0]
    made = history(engine, child)
    assert [e.event for e in made] == ["created", "record_joined", "record_joined"]
    assert {e.cause for e in made} == {f"run {first_run}"} and {e.record_key for e in made[1:]} == set(keys_of(engine, child))

    # An analyst rules a queued pair of two children the same: one is merged into the other.
    key_a, key_b = next((a, b) for a, b in undecided_pairs(engine) if child_of(engine, a) != child_of(engine, b))
    x, y = child_of(engine, key_a), child_of(engine, key_b)
    rule_records(engine, key_a, key_b, "same", "ann", "same child: records agree")
    merge_run = relink(landing, sqlite_url, tmp_path)
    survivor = child_of(engine, key_a)
    assert child_of(engine, key_b) == survivor and survivor in (x, y)
    (x,) = {x, y} - {survivor}  # the retired one
    y = survivor
    assert current_children(engine, x) == [y]
    x_events = history(engine, x)
    assert [e.event for e in x_events][-2:] == ["merged_into", "retired"] and x_events[-2].other_child_id == y
    assert all(e.cause == f"run {merge_run}" for e in x_events if e.event != "created" and e.event != "record_joined")
    joined = [e for e in history(engine, y) if e.event == "record_joined" and e.other_child_id == x]
    assert joined and all(e.decision_id for e in joined if e.record_key in (key_a, key_b))

    # Then one of x's old records is taken out again: the two records' groups part, one keeps
    # y's id (by majority, ties either way) and the other is a new child split from y.
    out = sorted({e.record_key for e in x_events if e.event == "record_left"})[0]
    rest = [k for k in keys_of(engine, y) if k != out]
    split_record(engine, out, keys_of(engine, y), "ann", "a different child: another birth date")
    relink(landing, sqlite_url, tmp_path)
    apart = {child_of(engine, out), child_of(engine, rest[0])}
    assert len(apart) == 2 and y in apart
    (z,) = apart - {y}
    z_events = [e.event for e in history(engine, z)]
    assert z_events[:2] == ["created", "split_from"] and "record_joined" in z_events
    now = current_children(engine, x)
    assert child_of(engine, out) in now and set(now) <= {y, z}

    capsys.readouterr()
    assert main(["history", x, "--db", sqlite_url]) == 0
    printed = capsys.readouterr().out
    assert f"merged into {y}" in printed and "retired" in printed and f"run {merge_run}" in printed
    assert f"{x} is retired; its records are now with: {', '.join(now)}" in printed
    assert "analyst decision" in printed


def test_history_of_an_unknown_child_is_an_error(tmp_path, sqlite_url):
    open_register(sqlite_url)
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", "history", "RC0000000000", "--db", sqlite_url],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "no child RC0000000000" in p.stderr
