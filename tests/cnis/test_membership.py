"""Who is on an authority's children-not-in-school register (s.436B), from register records and
the CME list of the date: the pure rules of cnis.membership."""
import json
from datetime import date

import pandas as pd

from cme.rules import flag_missing_children
from cnis.membership import end_reason, register_members

ON = date(2026, 11, 2)
LEFT = dict(start_date=date(2020, 9, 1), end_date=date(2026, 3, 1))


def record(child, feed, provider, dob=date(2015, 3, 3), **kw):
    base = {"child_id": child, "feed": feed, "provider": provider, "dob": dob, "start_date": date(2020, 9, 1),
            "end_date": None, "end_reason": "", "record_type": "", "residence_la": "", "destination_laestab": "",
            "arrangement": "", "hours_elsewhere": None, "register_items": ""}
    base.update(kw)
    return base


def members(rows, on=ON):
    frame = pd.DataFrame(rows)
    flags, _ = flag_missing_children(frame, on)
    out = register_members(frame, on, flags)
    return {r.child_id: r for r in out.itertuples(index=False)}, flags


def test_each_way_onto_the_register_and_the_children_not_on_it():
    rows = [
        # On no roll: missing, home educated (by the authority's record, or the school's deletion for
        # it), in education the authority arranged.
        record("missing", "school", "8802001", **LEFT, end_reason="NO_DESTINATION"),
        record("ehe", "la", "880", record_type="EHE", start_date=date(2026, 4, 1),
               register_items=json.dumps({"ehe_reason": "BULLYING", "parent1_name": "Ann Lee"})),
        record("ehe_school", "school", "8812001", **LEFT, end_reason="EHE"),
        record("ehe_school", "health", "A81001", residence_la="881"),
        record("ap", "la", "882", record_type="ALT_PROVISION"),
        # On a roll but educated elsewhere part of the time: the most hours away counts.
        record("flexi", "school", "8802001", arrangement="FLEXI", hours_elsewhere=6.0),
        record("flexi", "school", "8802002", enrol_status="S", arrangement="PART_TIME", hours_elsewhere=9.5),
        # Not on it: full time on a roll, left the area, not of compulsory school age, dead.
        record("full_time", "school", "8802001"),
        record("moved", "school", "8802001", **LEFT, end_reason="MOVED_AWAY"),
        record("moved", "la", "880", record_type="WHEREABOUTS_KNOWN", start_date=date(2026, 3, 2)),
        record("too_young", "la", "880", record_type="EHE", dob=date(2023, 1, 1)),
        record("dead", "school", "8802001", **LEFT, end_reason="DECEASED"),
        # An arrangement that ended with the pupil's leaving is no arrangement on the date.
        record("left_flexi", "school", "8802001", **LEFT, end_reason="TRANSFER", destination_laestab="8802002",
               arrangement="FLEXI", hours_elsewhere=4.0),
        record("left_flexi", "school", "8802002", start_date=date(2026, 3, 4)),
    ]
    got, flags = members(rows)
    assert set(got) == {"missing", "ehe", "ehe_school", "ap", "flexi"}
    assert (got["missing"].basis, got["missing"].detail, got["missing"].la_code) == ("CME", "LEFT_NO_DESTINATION", "880")
    assert (got["ehe"].basis, got["ehe"].detail, got["ehe"].since) == ("EHE", "BULLYING", date(2026, 4, 1))
    # The school's deletion for home education dates it; no authority record: no reason known.
    assert (got["ehe_school"].basis, got["ehe_school"].detail, got["ehe_school"].la_code, got["ehe_school"].since) == \
        ("EHE", "NOT_KNOWN", "881", date(2026, 3, 1))
    assert (got["ap"].basis, got["ap"].la_code) == ("ALT_PROVISION", "882")
    assert (got["flexi"].basis, got["flexi"].hours_elsewhere, got["flexi"].school) == ("PART_TIME", 9.5, "8802002")
    # The register follows the CME list: every flag placed in an authority is an entry.
    placed = flags[flags["la_code"] != ""]
    assert {c for c, r in got.items() if r.basis == "CME"} == set(placed["child_id"])


def test_a_flag_no_authority_owns_is_on_no_register():
    rows = [record("nowhere", "school", "9992001", **LEFT, end_reason="NO_DESTINATION")]
    frame = pd.DataFrame(rows)
    flags = pd.DataFrame({"child_id": ["nowhere"], "la_code": [""], "reason": ["RESIDENCE_UNKNOWN"]})
    assert register_members(frame, ON, flags).empty


def test_why_an_entry_ends():
    facts = dict(on_roll={"joined", "flexi"}, of_age={"joined", "flexi", "elsewhere", "gone"}, dead={"died"},
                 known={"joined", "flexi", "elsewhere", "gone", "died", "aged"})
    assert end_reason("joined", "CME", False, **facts) == "ON_ROLL"
    assert end_reason("flexi", "FLEXI", False, **facts) == "ARRANGEMENT_ENDED"
    assert end_reason("elsewhere", "EHE", True, **facts) == "MOVED_AWAY"
    assert end_reason("died", "EHE", False, **facts) == "DECEASED"
    assert end_reason("aged", "EHE", False, **facts) == "AGE"
    assert end_reason("merged", "EHE", False, **facts) == "NOT_KNOWN"
