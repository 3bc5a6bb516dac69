"""The generator makes every situation the CME rules and linkage depend on, so the bench
measures them (issue 8): it is the pipeline's blind spot otherwise."""
import csv
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from synth.extracts import generate


def rows_of(folder: Path, prefix: str) -> list[dict]:
    out = []
    for path in sorted(folder.rglob(f"{prefix}_*.csv")):
        for r in csv.DictReader(open(path, encoding="utf-8-sig")):
            out.append({k.strip().lower(): v for k, v in r.items()} | {"_file": path.name})
    return out


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    s = generate(root / "landing", root / "truth", children=6000, seed=5, extract_date=date(2026, 11, 2), rounds=2,
                 reference=root / "reference")
    return root, s


def test_two_deliveries_of_one_population_with_stable_records(two_rounds):
    root, s = two_rounds
    assert [r["extract_date"] for r in s.rounds] == ["2026-11-02", "2026-11-30"]
    one, two = rows_of(root / "landing/round1", "school"), rows_of(root / "landing/round2", "school")
    def at_school(r):  # (school, UPN): a pupil who moved school has a row at each
        return r["_file"].split("_")[1], r["upn"]

    def content(r):
        return {k: v for k, v in r.items() if k != "_file"}

    by_key = {at_school(r): r for r in one}
    same = [r for r in two if at_school(r) in by_key and content(r) == content(by_key[at_school(r)])]
    assert len(same) > 0.99 * len(two), "an unchanged pupil's row is the same in both deliveries"
    gone = {k for k, r in by_key.items() if r["leaving_date"] == ""} - {at_school(r) for r in two}
    assert gone, "some pupils drop off a roll with no leaving record"
    truth2 = Counter(r["situation"] for r in csv.DictReader(open(root / "truth/round2/cme.csv")))
    assert truth2["gone_from_roll"] > 0


def test_each_situation_a_rule_depends_on_is_made(two_rounds):
    root, _ = two_rounds
    health = rows_of(root / "landing/round1", "health")
    blank = sum(r["residence_la"] == "" for r in health) / len(health)
    assert 0.15 < blank < 0.25, "about one GP record in five leaves residence_la blank"
    la = rows_of(root / "landing/round1", "la")
    assert any(r["record_type"] == "EHE_UNSUITABLE" for r in la)
    school = rows_of(root / "landing/round1", "school")
    ehe_left = {r["upn"] for r in school if r["leaving_reason"] == "EHE"}
    assert any(r["record_type"] == "EHE_ENDED" and r["upn"] in ehe_left for r in la), \
        "home education that ended after the school's EHE deletion"
    ids = Counter((r["_file"], r["la_child_id"]) for r in la)
    assert any(n > 1 for n in ids.values()), "an authority gives one id to two children"
    truth = root / "truth/round1"
    twins = list(csv.DictReader(open(truth / "twins.csv")))
    assert twins
    named = defaultdict(set)
    for r in health:
        named[(r["family_name"], r["dob"])].add((r["given_name"], r["other_given_names"]))
    assert any(any(m and any(m == g for g, _ in names) for _, m in names) for names in named.values()), \
        "a twin whose middle name is the other twin's given name"
    shielded = {r["true_child"] for r in csv.DictReader(open(truth / "shielded.csv"))}
    assert shielded and any(r["shielded"] == "Y" for r in la)
    directory = list(csv.DictReader(open(root / "reference/postcode_directory.csv")))
    assert directory and {"pcds", "oslaua"} <= set(directory[0])


def test_some_shielded_childrens_gp_records_are_mistyped_everywhere(two_rounds):
    """So every bench measures the shielded blocking rule: a GP record of a shielded child with
    both names mistyped, no NHS number, a new postcode and a changed birth date."""
    root, _ = two_rounds
    truth = root / "truth/round1"
    planted = {r["true_child"]: r["gp_record"] for r in csv.DictReader(open(truth / "shielded.csv")) if r["gp_record"]}
    assert planted
    rows = {}
    for r in csv.DictReader(open(truth / "records.csv")):
        if r["true_child"] in planted:
            rows[(r["true_child"], r["file"].split("_")[0])] = (r["file"], int(r["row"]))
    for child in planted:
        gp_file, gp_row = rows[(child, "health")]
        la_file, la_row = rows[(child, "la")]
        gp = list(csv.DictReader(open(next((root / "landing/round1").rglob(gp_file)))))[gp_row - 1]
        la = list(csv.DictReader(open(next((root / "landing/round1").rglob(la_file)))))[la_row - 1]
        assert la["shielded"] == "Y" and gp["nhs_number"] == ""
        assert (gp["family_name"], gp["given_name"]) != (la["surname"], la["forename"])
        assert gp["postcode"] != la["postcode"] and gp["dob"] != la["dob"]
        if planted[child].endswith("swapped"):
            assert gp["dob"][5:7] == la["dob"][8:10] and gp["dob"][8:10] == la["dob"][5:7]


def test_deliveries_come_from_as_many_providers_and_in_the_forms_the_settings_ask(tmp_path):
    """Issue 28: real deliveries come from many more providers than the defaults make, most
    ending lines CRLF, some LF, some with every field quoted (and some with a BOM, always)."""
    from datetime import date

    from synth.extracts import generate
    from synth.settings import Settings

    def files(name: str, settings: Settings) -> list:
        generate(tmp_path / name / "landing", tmp_path / name / "truth", children=600, seed=2,
                 extract_date=date(2026, 10, 5), settings=settings)
        return sorted((tmp_path / name / "landing").glob("*/inbox/*.csv"))

    plain = files("plain", Settings())
    many = files("many", Settings(pupils_per_school=20, children_per_practice=100, lf_files=1.0, quoted_files=1.0))
    def schools(paths: list) -> set:
        return {p.parent.parent.name for p in paths if p.name.startswith("school_")}

    assert len(many) > 2 * len(plain) and len(schools(many)) > 3 * len(schools(plain))
    assert all(b"\r\n" in p.read_bytes() for p in plain), "the defaults write CRLF, as Windows systems do"
    assert not any(b"\r\n" in p.read_bytes() for p in many), "every file LF when the settings say so"
    first_lines = [p.read_bytes().lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0] for p in many]
    assert all(line.startswith(b'"') and line.endswith(b'"') for line in first_lines), "every field quoted"
    assert any(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in plain + many), "some with a BOM"
