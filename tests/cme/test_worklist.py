"""The CME list as a work list: who the child is, filters, sorting, the officer, the next action
and its due date from the authority's timescales, closing with what was found, and the counts
on the home page."""
from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest

from cme import (
    NEXT_ACTIONS,
    CaseConflict,
    Closing,
    Filters,
    assign_case,
    case_counts,
    case_of,
    close_case,
    closing_errors,
    cme_csv_rows,
    export_cme,
    set_next_action,
    set_timescales,
    timescales_of,
    work_list,
    working_days_after,
)
from pipelines.cli import run_pipeline
from register import open_register
from tests.helpers import AS_OF

LAS = ["880", "881", "882"]


@pytest.fixture
def register(landing, sqlite_url, tmp_path):
    assert run_pipeline(sqlite_url, str(landing), None, str(tmp_path / "archive"), AS_OF).success
    return open_register(sqlite_url)


def test_working_days_skip_weekends():
    friday = date(2026, 12, 4)
    assert working_days_after(friday, 1) == date(2026, 12, 7)
    assert working_days_after(friday, 5) == date(2026, 12, 11)
    assert working_days_after(date(2026, 12, 5), 1) == date(2026, 12, 8)  # from a Saturday: Monday, then one more


def test_each_row_says_who_the_child_is_as_the_export_does(register, tmp_path):
    items = work_list(register, LAS, AS_OF, Filters(), AS_OF)
    export_cme(register, tmp_path / "cme.csv", AS_OF)
    with open(tmp_path / "cme.csv", newline="") as fh:
        exported = {r["child_id"]: r for r in csv.DictReader(fh)}
    assert items and {i.child_id for i in items} == set(exported)
    for i in items:
        row = exported[i.child_id]
        assert i.name == f"{row['forename']} {row['surname']}".strip()
        assert i.dob.isoformat() == row["dob"] and i.reason == row["reason"]
        assert i.school == row["last_school"] or (i.school_withheld is False and row["shielded"] == "Y")
        assert i.age == AS_OF.year - i.dob.year - ((AS_OF.month, AS_OF.day) < (i.dob.month, i.dob.day))
        assert i.reason_words and i.reason_words != i.reason
    assert any(i.school for i in items) and any(i.leaving_date for i in items)


def test_a_shielded_childs_school_is_shown_only_to_a_reader_who_may_see_it(register):
    from sqlalchemy import select

    from linkage.review import rule_records
    from oversight import shield_scope
    from register import SourceRecord

    before = work_list(register, LAS, AS_OF, Filters(), AS_OF)
    planted = next(i for i in before if i.school and not i.school_withheld)
    with register.connect() as conn:
        key = conn.execute(select(SourceRecord.record_key).where(SourceRecord.child_id == planted.child_id)).scalar()
    # An analyst rules one of the child's records the same child as a shielded record: between
    # runs, the shield now covers the child.
    rule_records(register, min(shield_scope(register).record_keys), key, "same", "ava", "one child")
    hidden = [i for i in work_list(register, LAS, AS_OF, Filters(), AS_OF) if i.child_id == planted.child_id]
    shown = {i.child_id: i for i in work_list(register, LAS, AS_OF, Filters(), AS_OF, may_see_shielded=True)}
    with_school = [i for i in hidden if shown[i.child_id].school == planted.school]
    assert with_school, "the shield is read afresh, not kept from before it changed"
    assert all(i.school == "" and i.school_withheld for i in with_school)
    rows = list(cme_csv_rows([shown[i.child_id] for i in with_school]))
    header = rows[0]
    assert all(r[header.index("last_school")] == "" for r in rows[1:]), "the CSV withholds it whoever asks"


def test_filters_narrow_the_list_and_sorting_orders_it(register):
    everything = work_list(register, LAS, AS_OF, Filters(), AS_OF)
    reason = everything[0].reason
    assert {i.reason for i in work_list(register, LAS, AS_OF, Filters(reason=reason), AS_OF)} == {reason}
    school = next(i.school for i in everything if i.school)
    assert {i.school for i in work_list(register, LAS, AS_OF, Filters(school=school), AS_OF)} == {school}
    year = everything[0].year_group
    assert {i.year_group for i in work_list(register, LAS, AS_OF, Filters(year_group=year), AS_OF)} == {year}
    matched = work_list(register, LAS, AS_OF, Filters(possible_match="yes"), AS_OF)
    assert all(i.possible_match for i in matched)
    assert len(matched) + len(work_list(register, LAS, AS_OF, Filters(possible_match="no"), AS_OF)) == len(everything)
    by_age = work_list(register, LAS, AS_OF, Filters(sort="age", descending=False), AS_OF)
    assert [i.age for i in by_age] == sorted(i.age for i in by_age)
    assert work_list(register, LAS, AS_OF, Filters(days_missing_min=1), AS_OF) == [], "all flagged today"
    assert work_list(register, ["999"], AS_OF, Filters(), AS_OF) == []


def test_filters_from_a_query_keep_what_they_can_read_and_say_what_they_cannot():
    f = Filters.parse({"reason": "NOT_ON_ANY_ROLL", "officer": "me", "days_missing_min": "ten", "sort": "age",
                       "order": "ascending", "overdue": "maybe"}, me="olive")
    assert (f.reason, f.officer, f.days_missing_min, f.sort, f.descending, f.overdue) == (
        "NOT_ON_ANY_ROLL", "olive", None, "age", False, "")
    assert set(f.errors) == {"days_missing_min"}
    assert Filters.parse({"reason": "<script>"}).errors == {"reason": "Select a reason from the list"}
    assert Filters.parse(dict(x.split("=") for x in f.query().split("&"))) == Filters.parse(
        {"reason": "NOT_ON_ANY_ROLL", "officer": "olive", "sort": "age", "order": "ascending"})


def test_assigning_and_a_next_action_due_by_the_authoritys_timescale(register):
    case = next(i for i in work_list(register, ["880"], AS_OF, Filters(), AS_OF))
    version = case_of(register, case.case_id, ["880"])[0].version
    assign_case(register, case.case_id, version, "olive", "ada")
    with pytest.raises(CaseConflict):
        assign_case(register, case.case_id, version, "otto", "ada")  # a page loaded before the change
    set_timescales(register, "880", {"home_visit": 3})
    assert timescales_of(register, "880")["home_visit"] == 3 and timescales_of(register, "881")["home_visit"] == 10
    with pytest.raises(ValueError):
        set_timescales(register, "880", {"home_visit": 0})
    from register import today

    due = set_next_action(register, case.case_id, version + 1, "home_visit", None, "olive")
    assert due == working_days_after(today(), 3)
    the_case, notes = case_of(register, case.case_id, ["880"])
    assert (the_case.officer, the_case.next_action, the_case.due_on) == ("olive", "home_visit", due)
    assert [n.kind for n in notes] == ["assigned", "next_action"]
    mine = work_list(register, ["880"], AS_OF, Filters(officer="olive"), today())
    assert [i.case_id for i in mine] == [case.case_id] and mine[0].next_action_words == NEXT_ACTIONS["home_visit"][0]
    assert not mine[0].overdue
    late = work_list(register, ["880"], AS_OF, Filters(overdue="yes"), due + timedelta(days=1))
    assert [i.case_id for i in late] == [case.case_id]
    counts = case_counts(register, ["880"], "olive", AS_OF, due + timedelta(days=1))
    assert counts["mine"] == 1 and counts["overdue"] == 1
    assert counts["unassigned"] == counts["open"] - 1 == len(work_list(register, ["880"], AS_OF, Filters(officer="none"),
                                                                     AS_OF))
    assert counts["new_this_week"] == counts["open"], "every case was opened by this list"


def test_closing_asks_for_the_outcome_where_when_and_the_evidence(register):
    today = date(2026, 12, 7)
    assert set(closing_errors(Closing("", "", None, ""), today)) == {"outcome", "found_on", "evidence"}
    assert set(closing_errors(Closing("ON_ROLL_HERE", " ", today, "Rang the school"), today)) == {"found_at"}
    assert set(closing_errors(Closing("MOVED_ABROAD", "", today + timedelta(days=1), "x"), today)) == {"found_on"}
    assert closing_errors(Closing("ON_ROLL_HERE", "Hillside Primary", today, "Rang the school"), today) == {}
    case = work_list(register, ["880"], AS_OF, Filters(), AS_OF)[0]
    version = case_of(register, case.case_id, ["880"])[0].version
    with pytest.raises(ValueError):
        close_case(register, case.case_id, version, Closing("ON_ROLL_HERE", "", AS_OF, "Rang"), "olive")
    close_case(register, case.case_id, version, Closing("ON_ROLL_HERE", "Hillside Primary", AS_OF, "Rang"), "olive")
    closed, notes = case_of(register, case.case_id, ["880"])
    assert (closed.status, closed.outcome, closed.found_at, closed.found_on, closed.found_evidence) == (
        "closed", "ON_ROLL_HERE", "Hillside Primary", AS_OF, "Rang")
    assert notes[-1].kind == "closed" and "Hillside Primary" in notes[-1].text
    assert case.case_id in [i.case_id for i in work_list(register, ["880"], AS_OF, Filters(status="closed"), AS_OF)]
