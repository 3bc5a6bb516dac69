"""A CME flag that is probably a missed link says so: the export carries the school the other child
is on and the review pair (cme.missed_links), on a population hard enough to leave some GP records
in review beside their school record."""
from __future__ import annotations

import csv
from datetime import date

from sqlalchemy import select

from cme import likely_missed_link_of
from pipelines.cli import main
from register import CandidatePair, SourceRecord, open_register
from synth.extracts import generate
from synth.settings import Settings

AS_OF = date(2026, 11, 2)


def test_a_flag_with_a_possible_match_names_the_other_childs_school_and_the_pair(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    hard = Settings(typo_rate=2.0, gp_slip_factor=2.0, mover_rate=0.25, surname_change=0.05, names="gb")
    generate(tmp_path / "landing", tmp_path / "truth", children=1500, seed=3, extract_date=AS_OF, settings=hard)
    db = f"sqlite:///{tmp_path / 'register.sqlite'}"
    assert main(["run", "--landing", str(tmp_path / "landing"), "--db", db, "--archive", str(tmp_path / "archive"),
                 "--as-of", AS_OF.isoformat()]) == 0
    assert main(["export", "cme", "--db", db, "--out", str(tmp_path / "cme.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "cme.csv")))
    flagged = {r["child_id"] for r in rows}
    marked = [r for r in rows if r["possible_match_in_review"] == "Y"]
    assert marked, "the population must leave a flag with a possible match (else this test proves nothing)"
    assert all(r["possible_match_pair"] == "" and r["possible_match_school"] == "" for r in rows
               if r["possible_match_in_review"] == "N")
    engine = open_register(db)
    with engine.connect() as conn:
        owner = dict(conn.execute(select(SourceRecord.record_key, SourceRecord.child_id)
                                  .where(SourceRecord.active.is_(True))).all())
        for r in marked:
            pair = conn.execute(select(CandidatePair.key_a, CandidatePair.key_b, CandidatePair.analyst_decision)
                                .where(CandidatePair.id == int(r["possible_match_pair"]))).one()
            assert pair.analyst_decision is None
            sides = {owner.get(pair.key_a), owner.get(pair.key_b)}
            assert r["child_id"] in sides
            (other,) = sides - {r["child_id"]}
            assert other not in flagged, "the pair joins the flagged child to one on a roll or excused"
            schools = set(conn.execute(select(SourceRecord.provider).where(
                SourceRecord.child_id == other, SourceRecord.feed == "school", SourceRecord.active.is_(True),
                SourceRecord.end_date.is_(None))).scalars())
            assert (r["possible_match_school"] in schools) if schools else r["possible_match_school"] == ""
            shown = likely_missed_link_of(engine, r["child_id"])
            assert shown is not None and shown.pair_id == int(r["possible_match_pair"]), "the case page says the same"
