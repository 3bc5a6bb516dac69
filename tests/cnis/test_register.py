"""The children-not-in-school registers built by real runs over generated deliveries: membership
against the generator's truth, entries kept from run to run and ended with their reason, the
home-visit task, the duties' rules, the export (audited, a shielded child's location withheld),
the DfE's termly return against the CME export, retention and subject access."""
from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update

from cnis import (
    CnisSettings,
    DutyRefused,
    StaleEntry,
    ask_parents,
    ask_provider,
    authority_return,
    cme_children_off_register,
    configure_cnis,
    entries_of,
    entry_detail,
    export_columns,
    record_notice,
    record_outcome,
    save_extra_items,
    steps_of,
)
from oversight import apply_retention, subject_access_report
from pipelines.cli import run_pipeline
from register import AuditChild, AuditEntry, CnisEntry, CnisStep, SourceRecord, open_register
from synth.evaluate import cnis_scores
from synth.extracts import generate
from tests.browser import rollcall
from tests.helpers import AS_OF

GAP = 28


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """3,000 children in two monthly deliveries: the first run on AS_OF (its register kept as a
    copy), the second four weeks later."""
    home = tmp_path_factory.mktemp("cnis")
    generate(home / "landing", home / "truth", children=3000, seed=11, extract_date=AS_OF, rounds=2,
             round_gap_days=GAP)
    db = f"sqlite:///{home / 'register.sqlite'}"
    assert run_pipeline(db, str(home / "landing" / "round1"), None, str(home / "archive"), AS_OF).success
    engine = open_register(db)
    first = entries_of(engine, ["880", "881", "882"], AS_OF)
    register1 = home / "register1.csv"
    assert rollcall("export", "register", "--db", db, "--out", str(register1), "--include-shielded").returncode == 0
    assert run_pipeline(db, str(home / "landing" / "round2"), None, str(home / "archive"),
                        AS_OF + timedelta(days=GAP)).success
    return {"home": home, "db": db, "engine": engine, "first": first, "register1": register1}


def test_the_register_holds_every_child_of_the_truth_and_no_full_time_pupil_but_the_linkers_misses(two_runs):
    home, first = two_runs["home"], two_runs["first"]
    scores = cnis_scores(two_runs["register1"], [(i.child_id, i.la_code, i.basis) for i in first],
                         home / "truth" / "round1")
    truth = scores["cnis_true_by_basis"]
    # The generator makes every kind of member.
    assert {"CME", "EHE", "ALT_PROVISION", "FLEXI", "PART_TIME"} <= set(truth), truth
    # Every home-educated, arranged and part-time child of each authority is on its register.
    assert not {b: n for b, n in scores["cnis_missed_by_basis"].items() if b != "CME"}, scores
    assert scores["cnis_recall"] >= 0.995, scores
    # No pupil on a roll full time is there but as a false CME flag (a GP record left apart).
    assert set(scores["cnis_full_time_pupils_on_register_by_basis"]) <= {"CME"}, scores
    assert cme_children_off_register(two_runs["engine"], AS_OF) == 0


def test_a_new_entry_opens_the_home_visit_task_due_in_15_days(two_runs):
    item = two_runs["first"][0]
    steps = steps_of(two_runs["engine"], item.entry_id, AS_OF)
    assert [(s.kind, s.opened_on, s.due_on) for s in steps][:1] == [("HOME_VISIT_REQUEST", AS_OF,
                                                                     AS_OF + timedelta(days=15))]


def test_an_entry_ends_when_a_roll_takes_the_child_and_is_kept(two_runs):
    engine = two_runs["engine"]
    with engine.connect() as conn:
        ended = conn.execute(select(CnisEntry.__table__).where(CnisEntry.ended_on.is_not(None))).all()
        assert ended, "the second delivery ends some entries"
        took = [e for e in ended if e.end_reason == "ON_ROLL"]
        assert took, "a missing child who started at a school leaves the register"
        for e in took:
            school = conn.execute(select(SourceRecord.provider).where(
                SourceRecord.child_id == e.child_id, SourceRecord.feed == "school", SourceRecord.active.is_(True),
                SourceRecord.end_date.is_(None))).scalars().all()
            assert e.ended_at_school in school and e.ended_on == AS_OF + timedelta(days=GAP)
    # Ended entries stay, and on the first date the register still shows them as members.
    later = AS_OF + timedelta(days=GAP)
    assert {i.entry_id for i in entries_of(engine, ["880", "881", "882"], later, status="ended")} == {e.id for e in ended}
    assert {e.id for e in ended} <= {i.entry_id for i in entries_of(engine, ["880", "881", "882"], AS_OF)}


def _ehe_entry_with_providers(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(CnisEntry.__table__).where(CnisEntry.basis == "EHE", CnisEntry.ended_on.is_(None))
                            .order_by(CnisEntry.id)).all()
    for e in rows:
        item = entries_of(engine, [e.la_code], AS_OF, entry_id=e.id)[0]
        detail = entry_detail(engine, item)
        if detail.educators and detail.parents:
            return item, detail
    raise AssertionError("no home-educated child with a provider")


def test_a_provider_is_asked_no_more_often_than_the_interval_and_the_notice_needs_a_failure(two_runs):
    engine = two_runs["engine"]
    item, detail = _ehe_entry_with_providers(engine)
    provider = detail.educators[0]
    ask_provider(engine, item.entry_id, provider.name, provider.postcode, AS_OF, "olga")
    # The same provider again, about this child or another of the authority's, within three months.
    with engine.connect() as conn:
        other = conn.execute(select(CnisEntry.id).where(CnisEntry.la_code == item.la_code,
                                                        CnisEntry.id != item.entry_id)).scalar()
    for entry_id, on in ((item.entry_id, AS_OF + timedelta(days=10)), (other, AS_OF + relativedelta(months=3, days=-1))):
        with pytest.raises(DutyRefused) as refused:
            ask_provider(engine, entry_id, f"  {provider.name.upper()} ", provider.postcode, on, "olga")
        assert refused.value.allowed_from == AS_OF + relativedelta(months=3)
        assert (AS_OF + relativedelta(months=3)).strftime("%-d %B %Y") in str(refused.value)
    ask_provider(engine, other, provider.name, provider.postcode, AS_OF + relativedelta(months=3), "olga")
    # The notice needs the parents' failure on record; an order needs the notice; revoking, an order.
    with pytest.raises(DutyRefused):
        record_notice(engine, item.entry_id, "NOTICE_S437", AS_OF, "olga")
    with pytest.raises(DutyRefused):
        record_notice(engine, item.entry_id, "SAO_ISSUED", AS_OF, "olga")
    asked = ask_parents(engine, item.entry_id, AS_OF, "olga")
    with pytest.raises(DutyRefused):  # not yet due: no failure
        record_notice(engine, item.entry_id, "NOTICE_S437", AS_OF + timedelta(days=15), "olga")
    # Past its due date with no answer is a failure; so is an answer of "not given".
    record_notice(engine, item.entry_id, "NOTICE_S437", AS_OF + timedelta(days=16), "olga")
    record_outcome(engine, asked, "NOT_ANSWERED", AS_OF + timedelta(days=16), "olga")
    with pytest.raises(DutyRefused):
        record_outcome(engine, asked, "ANSWERED", AS_OF + timedelta(days=17), "olga")  # answered once
    with pytest.raises(DutyRefused):
        record_notice(engine, item.entry_id, "SAO_REVOKED", AS_OF + timedelta(days=20), "olga")
    record_notice(engine, item.entry_id, "SAO_ISSUED", AS_OF + timedelta(days=20), "olga")
    record_notice(engine, item.entry_id, "SAO_REVOKED", AS_OF + timedelta(days=25), "olga")
    kinds = [s.kind for s in steps_of(engine, item.entry_id, AS_OF)]
    assert kinds == ["HOME_VISIT_REQUEST", "PROVIDER_REQUEST", "PARENT_REQUEST", "NOTICE_S437", "SAO_ISSUED",
                     "SAO_REVOKED"]
    # The return counts them in the school year.
    later = AS_OF + timedelta(days=GAP)
    counts = {(r[2], r[3], r[4]): r[5] for r in authority_return(engine, item.la_code, later)}
    assert counts[("EHE", "s.437(1) notices served in the school year", "total")] >= 1
    assert counts[("EHE", "school attendance orders issued in the school year", "total")] >= 1
    assert counts[("EHE", "school attendance orders revoked in the school year", "total")] >= 1


def test_the_dfe_return_agrees_with_the_cme_export_of_the_same_date(two_runs):
    home, db, engine = two_runs["home"], two_runs["db"], two_runs["engine"]
    later = AS_OF + timedelta(days=GAP)
    out = home / "dfe"
    done = rollcall("export", "dfe-return", "--db", db, "--census", later.isoformat(), "--out", str(out))
    assert done.returncode == 0, done.stderr
    cme_out = home / "cme.csv"
    assert rollcall("export", "cme", "--db", db, "--as-of", later.isoformat(), "--out", str(cme_out)).returncode == 0
    with open(cme_out, newline="") as fh:
        listed = list(csv.DictReader(fh))
    for la in ("880", "881", "882"):
        with open(out / f"dfe-return_{la}_{later.isoformat()}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        total = {(r["section"], r["measure"]): int(r["count"]) for r in rows if r["category"] == "total"}
        ours = [r for r in listed if r["la_code"] == la]
        for measure in ("by sex", "by year group", "by time missing", "by primary reason"):
            assert total[("CME", measure)] == len(ours), (la, measure)
            assert sum(int(r["count"]) for r in rows if r["section"] == "CME" and r["measure"] == measure
                       and r["category"] != "total") == len(ours)
        by_reason = {r["category"]: int(r["count"]) for r in rows if r["measure"] == "by primary reason"
                     and r["section"] == "CME" and r["category"] != "total"}
        assert by_reason == {k: sum(r["reason"] == k for r in ours) for k in {r["reason"] for r in ours}}
        assert total[("CME", "at any time in the school year")] >= len(ours)
        ehe = [i for i in entries_of(engine, [la], later) if i.basis == "EHE"]
        assert total[("EHE", "by sex")] == len(ehe)
        # Counts only: no child's id, name or birth date in the file.
        text = (out / f"dfe-return_{la}_{later.isoformat()}.csv").read_text()
        assert not any(i.child_id in text or (i.name and i.name in text) for i in ehe)
    # No list for a date: refused, no file.
    refused = rollcall("export", "dfe-return", "--db", db, "--census", "2026-10-01", "--out", str(home / "no.csv"))
    assert refused.returncode == 1 and "no CME list" in refused.stderr


def test_the_export_is_audited_and_withholds_a_shielded_childs_location(two_runs):
    home, db, engine = two_runs["home"], two_runs["db"], two_runs["engine"]
    item, detail = _ehe_entry_with_providers(engine)
    # Shield the child: the authority's record says so.
    with engine.begin() as conn:
        conn.execute(update(SourceRecord).where(SourceRecord.child_id == item.child_id, SourceRecord.feed == "la")
                     .values(shielded=True))
    out = home / f"cnis-{item.la_code}.csv"
    done = rollcall("export", "cnis", "--la", item.la_code, "--db", db, "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    later = AS_OF + timedelta(days=GAP)
    assert [r["child_id"] for r in rows] == sorted(i.child_id for i in entries_of(engine, [item.la_code], later))
    assert list(rows[0])[0] == "child_id"
    mine = next(r for r in rows if r["child_id"] == item.child_id)
    assert mine["shielded"] == "Y" and mine["parent1_name"] == detail.parents[0].name
    location = ["address_line1", "postcode", "previous_address_line1", "previous_postcode", "additional_address_line1",
                "additional_postcode", "parent1_address_line1", "parent1_postcode", "parent2_address_line1",
                "parent2_postcode", "provider1_address", "provider1_postcode", "provider2_address",
                "provider2_postcode", "school"]
    assert all(mine[c] == "" for c in location), {c: mine[c] for c in location if mine[c]}
    assert any(r["parent1_address_line1"] for r in rows if r["shielded"] == "N"), "others' addresses are given"
    with engine.connect() as conn:
        entry = conn.execute(select(AuditEntry.id).where(AuditEntry.action == "export_cnis")
                             .order_by(AuditEntry.id.desc())).scalar()
        named = set(conn.execute(select(AuditChild.child_id).where(AuditChild.entry_id == entry)).scalars())
    assert named == {r["child_id"] for r in rows}
    assert rollcall("export", "cnis", "--db", db, "--out", str(out)).returncode == 2  # --la is required


def test_the_threshold_and_the_items_regulations_add_are_configuration(two_runs):
    engine = two_runs["engine"]
    item, detail = _ehe_entry_with_providers(engine)
    highest = max(e.hours for e in detail.educators)
    before = configure_cnis(CnisSettings(provider_hours_threshold=highest, extra_items=("sen",)))
    try:
        shown = entry_detail(engine, item)
        # Educators at or under the threshold are counted, not listed.
        assert not shown.educators and shown.educators_below_threshold == len(detail.educators)
        save_extra_items(engine, item.entry_id, item.version, {"sen": "EHC plan", "unknown": "dropped"})
        with pytest.raises(StaleEntry):
            save_extra_items(engine, item.entry_id, item.version, {"sen": "none"})
        again = entries_of(engine, [item.la_code], AS_OF, entry_id=item.entry_id)[0]
        assert entry_detail(engine, again).extra == {"sen": "EHC plan"}
        assert "item_sen" in export_columns()
    finally:
        configure_cnis(before)
    assert "item_sen" not in export_columns()


def test_subject_access_gives_the_entry_its_duties_and_the_parents_and_retention_ends_old_entries(two_runs):
    engine = two_runs["engine"]
    item, detail = _ehe_entry_with_providers(engine)
    report = subject_access_report(engine, item.child_id)
    assert [e["id"] for e in report["not_in_school_register"]] == [item.entry_id]
    assert report["not_in_school_register"][0]["duties"][0]["kind"] == "HOME_VISIT_REQUEST"
    assert {p["name"] for p in report["parents"]} == {p.name for p in detail.parents}
    with engine.connect() as conn:
        ended = conn.execute(select(CnisEntry.id).where(CnisEntry.ended_on.is_not(None))).scalars().all()
    assert ended
    # Six years after an entry ended it goes, with its duties; open entries stay.
    counts = apply_retention(engine, AS_OF + timedelta(days=GAP + 2191))
    assert counts["ended_register_entries_deleted"] == len(ended)
    with engine.connect() as conn:
        assert not conn.execute(select(CnisEntry.id).where(CnisEntry.id.in_(ended))).first()
        assert not conn.execute(select(CnisStep.id).where(CnisStep.entry_id.in_(ended))).first()
        assert conn.execute(select(CnisEntry.id).where(CnisEntry.ended_on.is_(None))).first()
    assert json.dumps(counts)  # counts only
