from datetime import date

import pandas as pd
import pytest

from cme.rules import compulsory_school_age_window, flag_missing_children

ON = date(2026, 11, 2)


@pytest.mark.parametrize("dob, start, end", [
    # Fifth birthday on a prescribed day: compulsory school age starts that very day.
    (date(2015, 8, 31), date(2020, 8, 31), date(2031, 6, 27)),
    # Born 1 September: the youngest in the next school year, so leaves a year later.
    (date(2015, 9, 1), date(2020, 12, 31), date(2032, 6, 25)),
    (date(2015, 12, 31), date(2020, 12, 31), date(2032, 6, 25)),
    (date(2016, 1, 1), date(2021, 3, 31), date(2032, 6, 25)),
    (date(2016, 4, 1), date(2021, 8, 31), date(2032, 6, 25)),
    # 29 February: the fifth birthday in a common year falls on 1 March.
    (date(2016, 2, 29), date(2021, 3, 31), date(2032, 6, 25)),
    (date(2012, 2, 29), date(2017, 3, 31), date(2028, 6, 30)),
    # Sixteenth birthday in July, after the last Friday of June: leaves in that June.
    (date(2010, 7, 15), date(2015, 8, 31), date(2026, 6, 26)),
])
def test_compulsory_school_age_window(dob, start, end):
    assert compulsory_school_age_window(dob) == (start, end)
    assert end.weekday() == 4 and end.month == 6 and (end.day + 7) > 30


def record(child, feed, provider, dob=date(2015, 3, 3), **kw):
    base = {"child_id": child, "feed": feed, "provider": provider, "dob": dob, "start_date": date(2020, 9, 1),
            "end_date": None, "end_reason": "", "record_type": "", "residence_la": "", "destination_laestab": ""}
    base.update(kw)
    return base


def flags(rows, on=ON):
    out, stats = flag_missing_children(pd.DataFrame(rows), on)
    return dict(zip(out["child_id"], zip(out["la_code"], out["reason"]))), stats


def test_boundary_days_are_inclusive():
    dob = date(2015, 8, 31)
    rows = [record("c", "health", "A81001", dob=dob, residence_la="880")]
    assert "c" in flags(rows, date(2020, 8, 31))[0]
    assert "c" not in flags(rows, date(2020, 8, 30))[0]
    assert "c" in flags(rows, date(2031, 6, 27))[0]
    assert "c" not in flags(rows, date(2031, 6, 28))[0]


def test_each_reason_code():
    left = dict(start_date=date(2020, 9, 1), end_date=date(2026, 3, 1))
    rows = [
        record("never", "health", "A81001", residence_la="880"),
        record("nodest", "school", "8802001", **left, end_reason="NO_DESTINATION"),
        record("other", "school", "8812001", **left, end_reason="OTHER"),
        record("ref", "la", "882", record_type="CME_REFERRAL"),
        record("eheend", "la", "880", record_type="EHE_ENDED"),
        record("tr", "school", "8802001", **left, end_reason="TRANSFER", destination_laestab="8802002"),
        record("someone", "school", "8802002"),  # makes 8802002 a roll we hold
    ]
    got, stats = flags(rows)
    assert got == {"never": ("880", "NOT_ON_ANY_ROLL"), "nodest": ("880", "LEFT_NO_DESTINATION"),
                   "other": ("881", "LEFT_OTHER"), "ref": ("882", "CME_REFERRAL"),
                   "eheend": ("880", "EHE_ENDED"), "tr": ("880", "TRANSFER_NOT_ARRIVED")}
    assert stats["flagged"] == 6


def test_known_reasons_and_rolls_are_not_flagged():
    left = dict(start_date=date(2020, 9, 1), end_date=date(2026, 3, 1))
    rows = [
        record("onroll", "school", "8802001"),
        record("onroll", "health", "A81001", residence_la="880"),
        record("ehe", "la", "880", record_type="EHE"),
        record("ap", "la", "880", record_type="ALT_PROVISION"),
        record("known", "la", "880", record_type="WHEREABOUTS_KNOWN"),
        record("dead", "health", "A81001", residence_la="880", end_date=date(2026, 1, 1), end_reason="DECEASED"),
        record("moved", "school", "8802001", **left, end_reason="MOVED_AWAY"),
        record("emig", "health", "A81001", residence_la="880", end_date=date(2026, 1, 1), end_reason="EMIGRATED"),
        record("elsewhere", "school", "8802001", **left, end_reason="TRANSFER", destination_laestab="9999999"),
        record("baby", "health", "A81001", dob=date(2023, 1, 1), residence_la="880"),
        record("adult", "health", "A81001", dob=date(2008, 1, 1), residence_la="880"),
        record("future", "school", "8802001", start_date=date(2026, 12, 1)),
    ]
    got, _ = flags(rows)
    assert got == {"future": ("880", "NOT_ON_ANY_ROLL")}


def test_latest_authority_record_wins_and_dual_registration_counts_as_on_roll():
    rows = [record("c", "la", "880", record_type="EHE", start_date=date(2024, 1, 1)),
            record("c", "la", "880", record_type="EHE_ENDED", start_date=date(2026, 9, 1)),
            record("d", "school", "8802001", enrol_status="S"),
            record("d", "school", "8802002", start_date=date(2020, 9, 1), end_date=date(2026, 1, 1),
                   end_reason="NO_DESTINATION")]
    got, _ = flags(rows)
    assert got == {"c": ("880", "EHE_ENDED")}


def test_residence_prefers_the_authority_then_the_gp_then_the_school():
    left = dict(start_date=date(2020, 9, 1), end_date=date(2026, 3, 1), end_reason="NO_DESTINATION")
    rows = [record("a", "school", "8802001", **left), record("a", "health", "A81001", residence_la="881"),
            record("b", "school", "8802001", **left), record("b", "health", "A81001", residence_la="881"),
            record("b", "la", "882", record_type="RESIDENT"),
            record("c", "health", "A81001")]
    got, stats = flags(rows)
    # A child whose authority nobody states is never dropped: flagged with its own reason.
    assert got == {"a": ("881", "LEFT_NO_DESTINATION"), "b": ("882", "LEFT_NO_DESTINATION"),
                   "c": ("", "RESIDENCE_UNKNOWN")}
    assert stats["no_residence"] == 1


def sources_of(rows, **kw):
    out, _ = flag_missing_children(pd.DataFrame(rows), ON, **kw)
    return dict(zip(out["child_id"], zip(out["la_code"], out["residence_source"])))


def neighbours(postcode_prefix, la, n=6, start=0):
    """Children at one postcode sector whose records state their authority."""
    return [record(f"n{la}{start + i}", "health", "A81001", residence_la=la, postcode=f"{postcode_prefix}{'ABCDEFGHJK'[i]}B",
                   dob=date(2010, 1, 1)) for i in range(n)]


def test_a_gp_record_with_no_residence_is_placed_by_the_postcode_directory_first():
    rows = [record("gp", "health", "A81001", postcode="RA1 5AB")]
    got = sources_of(rows, directory={"RA1 5AB": "881"})
    assert got == {"gp": ("881", "postcode_directory")}


def test_without_a_directory_the_register_learns_the_authority_of_a_postcode_sector_then_district():
    rows = [record("gp", "health", "A81001", postcode="RA1 5ZZ"),
            record("far", "health", "A81001", postcode="RA1 9ZZ"),
            *neighbours("RA1 5", "880"), *neighbours("RA1 7", "880", start=10)]
    got = sources_of(rows)
    assert got["gp"] == ("880", "postcode_sector")
    assert got["far"] == ("880", "postcode_district")


def test_a_sector_split_between_authorities_decides_nothing():
    rows = [record("gp", "health", "A81001", postcode="RA1 5ZZ"),
            *neighbours("RA1 5", "880", n=5), *neighbours("RA1 5", "881", n=3, start=20)]
    got = sources_of(rows)
    assert got["gp"] == ("", "not_known")
    # Alone, or with a last school, the child still reaches a person.
    school = [record("gp", "school", "8822001", start_date=date(2020, 9, 1), end_date=date(2026, 3, 1),
                     end_reason="NO_DESTINATION")]
    assert sources_of(rows + school)["gp"] == ("882", "last_school")


def test_each_flag_says_which_source_placed_it():
    left = dict(start_date=date(2020, 9, 1), end_date=date(2026, 3, 1), end_reason="NO_DESTINATION")
    rows = [record("a", "la", "882", record_type="CME_REFERRAL"),
            record("b", "health", "A81001", residence_la="881"),
            record("c", "school", "8802001", **left)]
    assert sources_of(rows) == {"a": ("882", "la_record"), "b": ("881", "gp_residence_la"),
                                "c": ("880", "last_school")}


def test_the_newest_dated_fact_decides_ehe_ended_after_an_ehe_deregistration():
    rows = [record("c", "school", "8802001", start_date=date(2020, 9, 1), end_date=date(2026, 3, 1),
                   end_reason="EHE"),
            record("c", "la", "880", record_type="EHE_ENDED", start_date=date(2026, 5, 1)),
            # The other way round: a referral, then the school records elective home education.
            record("d", "la", "880", record_type="CME_REFERRAL", start_date=date(2026, 1, 1)),
            record("d", "school", "8802001", start_date=date(2020, 9, 1), end_date=date(2026, 3, 1),
                   end_reason="EHE"),
            # A move away recorded by the GP after the school lost the child.
            record("e", "school", "8802001", start_date=date(2020, 9, 1), end_date=date(2026, 3, 1),
                   end_reason="NO_DESTINATION"),
            record("e", "health", "A81001", residence_la="880", end_date=date(2026, 4, 1), end_reason="MOVED_AWAY")]
    got, _ = flags(rows)
    assert got == {"c": ("880", "EHE_ENDED")}


def test_a_tie_on_the_date_keeps_the_child_on_the_list():
    same_day = date(2026, 3, 1)
    rows = [record("c", "school", "8802001", start_date=date(2020, 9, 1), end_date=same_day,
                   end_reason="NO_DESTINATION"),
            record("c", "la", "880", record_type="WHEREABOUTS_KNOWN", start_date=same_day)]
    assert flags(rows)[0] == {"c": ("880", "LEFT_NO_DESTINATION")}


def test_home_education_judged_unsuitable_is_missing_education():
    rows = [record("c", "la", "880", record_type="EHE", start_date=date(2025, 1, 1)),
            record("c", "la", "880", record_type="EHE_UNSUITABLE", start_date=date(2026, 6, 1))]
    assert flags(rows)[0] == {"c": ("880", "EHE_UNSUITABLE")}


def test_a_child_dropped_from_a_roll_without_a_leaving_record_is_flagged():
    rows = [record("c", "school", "8812001", gone_from_roll=True, extract_date=date(2026, 10, 1)),
            record("c", "health", "A81001", residence_la="881"),
            # Dropped from a subsidiary roll but still on the main one: on a roll.
            record("d", "school", "8802001", gone_from_roll=True, extract_date=date(2026, 10, 1)),
            record("d", "school", "8802002", enrol_status="M"),
            # Dropped, but the authority registered home education after the roll last held them.
            record("e", "school", "8802001", gone_from_roll=True, extract_date=date(2026, 10, 1)),
            record("e", "la", "880", record_type="EHE", start_date=date(2026, 10, 15))]
    got, stats = flags(rows)
    assert got == {"c": ("881", "GONE_FROM_ROLL")}
    assert stats["gone_from_roll"] == 1


def test_a_flag_is_under_review_only_for_an_undecided_pair_with_a_child_who_is_not_flagged():
    from cme.rules import possible_match_in_review
    flagged = pd.Series(["C1", "C2", "C3", "C4"])
    child_of_key = {"k1": "C1", "k2": "C2", "k3": "C3", "k3b": "C3", "k4": "C4", "r1": "R1", "r2": "R2"}
    pending = [("k1", "r1"),  # a flagged child and one on a roll: the flag may be a missed link
               ("k2", "k3"),  # two flagged children: linking them would not clear either flag
               ("k3", "k3b"),  # two records of one child already
               ("gone", "k4")]  # a record no longer current
    assert possible_match_in_review(flagged, pending, child_of_key).tolist() == [True, False, False, False]
    assert not possible_match_in_review(flagged, [], child_of_key).any()
