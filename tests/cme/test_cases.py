"""CME cases and review rulings at the register level: a case lasts across runs, stays closed
while nothing newer arrives and reopens when something does; an old child id finds the child."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from cme import Filters, work_list
from cme.cases import CaseConflict, Closing, add_note, close_case, open_cases
from linkage.histories import current_child_id
from linkage.review import DecisionConflict, ReasonRequired, decide, review_quality, undo
from pipelines.cli import run_pipeline
from register.db import open_register
from register.models import Child, CmeCase, SourceRecord
from tests.helpers import AS_OF


@pytest.fixture
def register(landing, sqlite_url, tmp_path):
    assert run_pipeline(sqlite_url, str(landing), None, str(tmp_path / "archive"), AS_OF).success
    return open_register(sqlite_url)


def test_a_closed_case_stays_closed_until_newer_evidence_arrives(register):
    with register.connect() as conn:
        case = conn.execute(select(CmeCase).limit(1)).one()
    assert case.status == "open" and case.opened_on == AS_OF
    add_note(register, case.id, "call", "No answer at the last known number", "olive")
    close_case(register, case.id, case.version, Closing("MOVED_ABROAD", "", AS_OF, "Neighbour saw them leave"), "olive")
    with pytest.raises(CaseConflict):  # a second officer on the page they loaded before
        close_case(register, case.id, case.version, Closing("DECEASED", "", AS_OF, "Registrar"), "otto")
    assert open_cases(register, AS_OF) == {"cases_opened": 0, "cases_reopened": 0}
    assert case.id not in [i.case_id for i in work_list(register, [case.la_code], AS_OF, Filters(), AS_OF)]
    with register.begin() as conn:  # a newer status for the child arrives (a later dated fact)
        rid = conn.execute(select(SourceRecord.id).where(SourceRecord.child_id == case.child_id,
                                                          SourceRecord.active.is_(True)).limit(1)).scalar()
        conn.execute(update(SourceRecord).where(SourceRecord.id == rid)
                     .values(start_date=AS_OF + timedelta(days=1)))
    assert open_cases(register, AS_OF)["cases_reopened"] == 1
    assert case.id in [i.case_id for i in work_list(register, [case.la_code], AS_OF, Filters(), AS_OF)]


def test_a_ruling_needs_a_reason_against_the_model_and_conflicts_are_refused(register):
    from register.models import CandidatePair

    with register.connect() as conn:
        pair = conn.execute(select(CandidatePair).limit(1)).one()
    contrary = "different" if pair.match_probability >= 0.5 else "same"
    with pytest.raises(ReasonRequired):
        decide(register, pair.id, pair.version, contrary, "ava")
    version = decide(register, pair.id, pair.version, contrary, "ava", reason="checked with the school")
    with pytest.raises(DecisionConflict):
        decide(register, pair.id, pair.version, "same", "abe", reason="looks alike")
    undo(register, pair.id, version, "ava")
    with register.connect() as conn:
        assert conn.execute(select(CandidatePair.analyst_decision).where(CandidatePair.id == pair.id)).scalar() is None
    assert review_quality(register)["decisions_last_24h"] == 1


def test_an_old_child_id_finds_the_child_its_records_went_to(register):
    with register.begin() as conn:
        old, new = conn.execute(select(Child.child_id).limit(2)).scalars().all()
        conn.execute(update(Child).where(Child.child_id == old).values(retired_at=Child.created_at, now_child_id=new))
    assert current_child_id(register, old) == new
    assert current_child_id(register, new) == new
    assert current_child_id(register, "NO-SUCH-CHILD") is None


def test_year_groups_and_time_missing_bands_follow_the_school_year():
    from datetime import date

    from cme.cases import time_missing, year_group

    on = date(2026, 11, 2)
    assert year_group(date(2021, 8, 31), on) == "Year 1"  # 5 on 31 August 2026
    assert year_group(date(2021, 9, 1), on) == "Reception"
    assert year_group(date(2011, 3, 1), on) == "Year 11"
    assert year_group(date(2024, 1, 1), date(2026, 8, 31)) == "age 1"  # the school year began 1 September 2025
    assert [time_missing(d) for d in (0, 27, 28, 90, 91, 181, 182)] == [
        "under 4 weeks", "under 4 weeks", "4 weeks to under 3 months", "4 weeks to under 3 months",
        "3 to under 6 months", "3 to under 6 months", "6 months or more"]


def test_the_dfe_counts_add_up_to_the_authoritys_list_and_hold_no_child_data(register):
    from cme.cases import dfe_counts
    from register.models import CmeFlag

    with register.connect() as conn:
        per_la = dict(conn.execute(select(CmeFlag.la_code, func.count()).where(CmeFlag.as_of == AS_OF)
                                   .group_by(CmeFlag.la_code)).all())
        ids = set(conn.execute(select(CmeFlag.child_id)).scalars())
    rows = dfe_counts(register, ["880"], AS_OF)
    assert sum(r[-1] for r in rows) == per_la["880"] and {r[0] for r in rows} == {"880"}
    assert not ids & {str(cell) for r in rows for cell in r}


def test_a_blind_second_review_is_another_analysts_and_counts_towards_agreement(register):
    from register.models import CandidatePair

    with register.connect() as conn:
        pair = conn.execute(select(CandidatePair).limit(1)).one()
    version = decide(register, pair.id, pair.version, "same", "ava", reason="same school, same birth date")
    with register.begin() as conn:  # sampled for a second review (as 1 pair in 10 is)
        conn.execute(update(CandidatePair).where(CandidatePair.id == pair.id).values(second_review=True))
    with pytest.raises(DecisionConflict, match="another analyst"):
        decide(register, pair.id, version, "same", "ava", reason="still the same")
    decide(register, pair.id, version, "different", "abe", reason="different middle names")
    quality = review_quality(register)
    assert quality["second_reviews"] == 1 and quality["agreement"] == 0.0
    with register.connect() as conn:  # the first ruling stands; the disagreement is on record
        assert conn.execute(select(CandidatePair.analyst_decision).where(CandidatePair.id == pair.id)).scalar() == "same"


def test_pages_read_the_shield_scope_the_run_kept_and_compute_it_again_only_when_a_ruling_can_widen_it(
        register, monkeypatch):
    import oversight.shield as shield
    from linkage.review import rule_records

    truth = shield.shield_scope(register)
    assert truth.record_keys, "the generated extracts hold shielded children"
    computed = []
    real = shield.shield_scope
    monkeypatch.setattr(shield, "shield_scope", lambda engine: computed.append(1) or real(engine))
    monkeypatch.setattr(shield, "_KEPT", shield.Kept())  # a new process: nothing kept in memory
    assert shield.current_shield_scope(register) == truth and computed == [], "the run's kept scope is read"
    with register.connect() as conn:
        inside = sorted(truth.record_keys)[0]
        outside = conn.execute(select(SourceRecord.record_key).where(SourceRecord.record_key.not_in(truth.record_keys))
                               .order_by(SourceRecord.record_key).limit(2)).scalars().all()
    rule_records(register, outside[0], outside[1], "different", "ava", "two children")
    rule_records(register, inside, outside[0], "different", "ava", "two children")
    assert shield.current_shield_scope(register) == truth and computed == [], "a ruling of different cannot widen it"
    rule_records(register, inside, outside[0], "same", "ava", "one child after all")
    widened = shield.current_shield_scope(register)
    assert computed == [1] and outside[0] in widened.record_keys, "a ruling that joins a covered record widens it"
    assert shield.current_shield_scope(register) == widened and computed == [1], "and is kept in the process"
    assert shield.keep_shield_scope(register) and shield._saved(register)[1] == widened


def test_a_record_shows_its_five_strongest_reviewable_candidates_strongest_first(register):
    from datetime import datetime

    from oversight.lookup import in_authorities, record_candidates
    from register.models import CandidatePair

    with register.connect() as conn:
        ours = conn.execute(select(SourceRecord.record_key).where(in_authorities(["880"]), SourceRecord.active.is_(True))
                            .order_by(SourceRecord.record_key).limit(8)).scalars().all()
        theirs = conn.execute(select(SourceRecord.record_key).where(~in_authorities(["880"]))
                              .order_by(SourceRecord.record_key).limit(2)).scalars().all()
    key, others = ours[0], ours[1:]
    now = datetime(2026, 11, 2)
    with register.begin() as conn:
        conn.execute(CandidatePair.__table__.delete())
        conn.execute(CandidatePair.__table__.insert(), [
            {"key_a": min(key, o), "key_b": max(key, o), "match_weight": float(w), "match_probability": 0.5,
             "decision": "review", "explanation": "{}", "updated_at": now, "created_at": now}
            for o, w in zip(others, [3, 9, 1, 7, 5, 8, 2])] + [
            {"key_a": min(theirs), "key_b": max(theirs), "match_weight": 1.0, "match_probability": 0.5,
             "decision": "review", "explanation": "{}", "updated_at": now, "created_at": now}])
    found = record_candidates(register, key, ["880"], may_see_shielded=True)
    assert [c["other"]["record_key"] for c in found["candidates"]] == [others[i] for i in (1, 5, 3, 4, 0)]
    assert "probability" not in str(found) and "weight" not in str(found), "no score reaches the page"
    assert record_candidates(register, theirs[0], ["880"], may_see_shielded=True) is None, "neither record is ours"
    assert record_candidates(register, key, ["881"], may_see_shielded=True) is None


def test_a_search_by_postcode_never_finds_a_shielded_child_without_shielded_access(register):
    from oversight.lookup import search_children
    from oversight.shield import shield_scope

    scope = shield_scope(register)
    with register.connect() as conn:
        shielded = conn.execute(select(SourceRecord.child_id, SourceRecord.postcode).where(
            SourceRecord.child_id.in_(scope.child_ids), SourceRecord.postcode.is_not(None))).first()
        other = conn.execute(select(SourceRecord.child_id, SourceRecord.postcode).where(
            SourceRecord.child_id.not_in(scope.child_ids), SourceRecord.postcode.is_not(None),
            SourceRecord.feed == "la")).first()
    everywhere = ["880", "881", "882"]
    typed = shielded.postcode.lower().replace(" ", "")  # as someone might type it
    assert shielded.child_id not in search_children(register, typed, everywhere)
    assert shielded.child_id in search_children(register, typed, everywhere, may_see_shielded=True)
    assert other.child_id in search_children(register, other.postcode, everywhere)
    assert search_children(register, other.postcode, ["999"]) == []
