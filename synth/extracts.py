"""Synthetic extracts for the demo, tests and benchmarks, with ground truth written apart from
the delivery folders: three (or more) authorities' schools, GP practices and LA records, as
messy as real data, in one or more monthly deliveries of one population. Every person in it is
invented. The generator is the pipeline's blind spot: each situation real extracts hold that a
rule depends on must be made here first (synth.population holds the situations and rates,
synth.slips the slips)."""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, timedelta
from pathlib import Path

from synth.names import PSEUDO_POSTCODES
from synth.not_in_school import SCHOOL_EXTRA, arrangement_of, la_extra_columns, register_items, truth_basis
from synth.population import (
    DIRECTORY_COVERAGE,
    GP_RESIDENCE_BLANK,
    KNOWN_BY_MIDDLE_NAME,
    MISSING,
    SCHOOL_EHE_RECORD,
    SHARED_KEYS_PER_CHILDREN,
    SHIELDED_GP_EVERYWHERE,
    SHIELDED_GP_TYPO,
    Population,
    Summary,
    compulsory_age,
)
from synth.settings import Settings
from synth.slips import Rand, typo, vary_dob, vary_forename, vary_surname, without_diacritics

SCHOOL_COLUMNS = ["upn", "former_upn", "surname", "forename", "middle_names", "preferred_surname", "dob", "sex",
                  "address_line1", "address_line2", "town", "postcode", "entry_date", "enrol_status",
                  "leaving_date", "leaving_reason", "destination_laestab"]
HEALTH_COLUMNS = ["nhs_number", "family_name", "given_name", "other_given_names", "dob", "gender", "address_line1",
                  "address_line2", "town", "postcode", "residence_la", "registration_date", "deregistration_date",
                  "deregistration_reason"]
LA_COLUMNS = ["la_child_id", "upn", "nhs_number", "surname", "forename", "dob", "sex", "address_line1", "postcode",
              "record_type", "status_date", "shielded"]
# Share of compulsory-school-age children in each situation at the first delivery.

def generate(landing: Path, truth: Path, children: int = 20_000, seed: int = 7, extract_date: date | None = None,
             las: tuple[str, ...] = ("880", "881", "882"), bad_row_rate: float = 0.003, rounds: int = 1,
             round_gap_days: int = 28, reference: Path | None = None, silent_schools: int = 0,
             settings: Settings | None = None) -> Summary:
    """Write `rounds` monthly deliveries of one population. One round: extracts under
    landing/<provider>/inbox and truth under truth/. More: landing/round<N>/... and
    truth/round<N>/ (records.csv there covers every round so far, since rows of earlier
    extracts stay in the register). The operator's postcode directory (ONS format) and its LA
    code mapping go to `reference` (default: beside truth). `silent_schools` schools stop
    sending after the first delivery, as real schools do (a changed MIS, a bursar on leave):
    their old roll is all the register has of them. `settings`: how messy and hard the population
    is (synth.settings; the defaults unless given)."""
    anchor = extract_date or date.today()
    pop = Population(seed, anchor, las, children, settings)
    people = [child for family in pop.families(children) for child in family]
    # cid -> (situation, the delivery since which it holds)
    history = {c["cid"]: (pop.situation(c, anchor), 1) for c in people}
    summary, silent = None, set()
    for delivery in range(1, rounds + 1):
        today = anchor + timedelta(days=round_gap_days * (delivery - 1))
        if delivery > 1:
            for c in people:
                old, since = history[c["cid"]]
                new = pop.change(c, old, delivery)
                history[c["cid"]] = (new, delivery) if new != old else (old, since)
        where = (landing, truth) if rounds == 1 else (landing / f"round{delivery}", truth / f"round{delivery}")
        s = _deliver(pop, people, history, delivery, today, round_gap_days, where[0], where[1], bad_row_rate,
                     earlier=truth / f"round{delivery - 1}" if delivery > 1 else None, silent=silent)
        if delivery == 1 and silent_schools:
            silent = set(sorted(p.name for p in where[0].iterdir() if len(p.name) == 7)[:silent_schools])
        s.rounds.append({"round": delivery, "extract_date": today.isoformat(), "cme_children": s.cme_children})
        if summary is None:
            summary = s
        else:
            summary.rounds.append(s.rounds[-1])
    summary.silent_providers = sorted(silent)
    _write_reference(pop, reference or truth.parent / "reference", seed)
    return summary


def _deliver(pop: Population, people: list[dict], history: dict, delivery: int, today: date, gap: int,
             landing: Path, truth: Path, bad_row_rate: float, earlier: Path | None,
             silent: set[str] = frozenset()) -> Summary:
    rows: dict[tuple[str, str], list] = {}
    cme_truth, twins, child_rows, shielded, cnis_truth = [], [], [], [], []
    for c in people:
        situation, since = history[c["cid"]]
        if situation != "not_school_age" and not compulsory_age(c["dob"], today):
            situation = "not_school_age"
        # A change since the first delivery happened on a day between the two deliveries.
        event = None if since == 1 else pop.anchor + timedelta(
            days=gap * (since - 2) + Rand(pop.seed, c["idx"], "event", since).below(2, max(3, gap - 1)))
        for feed, provider, row in _records(pop, c, situation, today, event):
            rows.setdefault((feed, provider), []).append((row, c["cid"]))
        child_rows.append((c["cid"], c["la"], situation))
        if situation in MISSING:
            cme_truth.append((c["cid"], c["la"], situation))
        basis = truth_basis(pop.seed, c, situation, MISSING)
        if basis:
            cnis_truth.append((c["cid"], c["la"], basis))
        if c["twin_of"]:
            twins.append((c["twin_of"], c["cid"]))
        if c["shielded"]:
            gp = mistyped_everywhere(pop, c)
            shielded.append((c["cid"], {"day": "mistyped everywhere", "swapped": "mistyped everywhere, day and "
                                        "month swapped"}.get(gp, "")))
    _share_la_keys(pop, rows, len(people), delivery)
    truth.mkdir(parents=True, exist_ok=True)
    if earlier is not None and (earlier / "records.csv").exists():
        (truth / "records.csv").write_bytes((earlier / "records.csv").read_bytes())
    files = total = 0
    for (feed, provider), entries in sorted(rows.items()):
        if provider in silent:
            continue  # a school that stopped sending
        _write_extract(pop, landing, truth, feed, provider, entries, bad_row_rate, today, delivery)
        files += 1
        total += len(entries)
    _write_csv(truth / "cme.csv", ["true_child", "la_code", "situation"], cme_truth)
    _write_csv(truth / "twins.csv", ["child_a", "child_b"], twins)
    _write_csv(truth / "cnis.csv", ["true_child", "la_code", "basis"], cnis_truth)
    _write_csv(truth / "children.csv", ["true_child", "la_code", "situation"], child_rows)
    _write_csv(truth / "shielded.csv", ["true_child", "gp_record"], shielded)
    return Summary(children=len(people), files=files, rows=total, cme_children=len(cme_truth), providers=len(rows))



def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _school_row(rand: Rand, child: dict, status: str, entry: date, leaving=None, reason="", dest="") -> dict:
    forename, middle = child["forename"], child["middle"]
    # Known at school by a middle name; never by a twin's given name.
    if middle and rand.chance(KNOWN_BY_MIDDLE_NAME) and not child["named_after_twin"]:
        forename, middle = middle.split()[0], forename  # known at school by the middle name
    rate = child.get("typo_rate", 1.0)
    return {"upn": child["upn"], "former_upn": "", "surname": vary_surname(rand, child["surname"], child["other_parent"],
                                                                          rate),
            "forename": forename, "middle_names": middle, "preferred_surname": "", "dob": _iso(child["dob"]),
            "sex": child["sex"], "address_line1": child["line1"], "address_line2": "", "town": child["town"],
            "postcode": child["pc"] if rand.random() > 0.03 else "", "entry_date": _iso(entry),
            "enrol_status": status, "leaving_date": _iso(leaving), "leaving_reason": reason,
            "destination_laestab": dest}


def _records(pop: Population, child: dict, situation: str, today: date, event: date | None):
    """(feed, provider, row) for every record of one child in one delivery. event: the day the
    child came into this situation, when that was after the first delivery."""
    yield from _school_records(pop, child, situation, today, event)
    health = _health_record(pop, child, situation, today)
    if health:
        yield "health", child["practice"], health
    la = _la_record(pop, child, situation, event, today)
    if la:
        yield "la", child["la"], la


def _school_records(pop, child, situation, today, event):
    rand = Rand(pop.seed, child["idx"], "school")
    school, entry, leave = child["school"], min(child["entry"], today), child["leave"]
    age_days = (today - child["dob"]).days
    on_roll_age = 4 * 365 + 200 < age_days < 18 * 365
    if situation in ("on_roll", "not_school_age") and on_roll_age and (situation == "on_roll" or rand.chance(0.7)):
        row = _school_row(rand, child, "C", entry)
        arranged = arrangement_of(pop.seed, child) if situation == "on_roll" else None
        if arranged:
            row.update(arrangement=arranged[0], hours_elsewhere=f"{arranged[1]:g}")
        yield "school", school, row
    elif situation == "dual":
        yield "school", school, _school_row(rand, child, "M", entry)
        yield "school", child["second_school"], _school_row(rand, child, "S", entry)
    elif situation == "transfer":
        new = child["second_school"]
        yield "school", school, _school_row(rand, child, "C", entry, leave, "TRANSFER", new)
        yield "school", new, _school_row(rand, child, "C", leave + timedelta(days=3))
    elif situation == "left_no_destination":
        yield "school", school, _school_row(rand, child, "C", entry, event or leave, "NO_DESTINATION")
    elif situation == "rejoined":
        # A missing child who has started at a school since the last delivery.
        yield "school", child["second_school"], _school_row(rand, child, "C", event)
    elif situation == "moved_away":
        yield "school", school, _school_row(rand, child, "C", entry, leave, "MOVED_AWAY")
    elif situation == "deceased":
        yield "school", school, _school_row(rand, child, "C", entry, leave, "DECEASED")
    elif situation == "ehe" and rand.chance(0.5):
        yield "school", school, _school_row(rand, child, "C", entry, leave, "EHE")
    elif situation in ("ehe_ended", "ehe_unsuitable") and rand.chance(SCHOOL_EHE_RECORD):
        # The school's deletion for home education is still in its extract (leavers of the last
        # twelve months), older than the authority's newer status.
        yield "school", school, _school_row(rand, child, "C", entry, leave, "EHE")
    # gone_from_roll: the school's extract simply leaves the child out, with no leaving record.


def _health_record(pop, child, situation, today) -> dict | None:
    rand = Rand(pop.seed, child["idx"], "health")
    if not (rand.chance(0.95) or situation in MISSING):
        return None
    s = pop.settings
    pc = child["moved_pc"] if child["moved"] else child["pc"]
    if rand.chance(s.postcode_blank_gp):
        pc = ""
    elif rand.chance(0.01):
        pc = rand.pick(PSEUDO_POSTCODES)
    dereg, dreason = "", ""
    if situation == "moved_away" and rand.chance(0.7):
        dereg, dreason = _iso(child["leave"]), "MOVED_AWAY"
    elif situation == "deceased":
        dereg, dreason = _iso(child["leave"]), "DECEASED"
    nhs = child["nhs"] if rand.chance(s.gp_nhs_number) else ""
    if nhs and rand.chance(0.3):
        nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    gender = {"M": "1", "F": "2"}[child["sex"]] if rand.chance(0.99) else "9"
    slips = s.typo_rate * s.gp_slip_factor
    given = vary_forename(rand, child["forename"], slips)
    family = vary_surname(rand, child.get("new_surname") or child["surname"], child["other_parent"], slips)
    if child["shielded"] and rand.chance(SHIELDED_GP_TYPO):
        given, family = typo(rand, given), typo(rand, family)
    dob = vary_dob(rand, child["dob"], slips)
    given, family, dob = _planted_slips(pop, child, given, family, dob)
    everywhere = mistyped_everywhere(pop, child)
    if everywhere:
        more = Rand(pop.seed, child["idx"], "shielded-gp-typed")
        given, family, nhs = typo(more, child["forename"]), typo(more, child["surname"]), ""
        pc = child["pc"] if child["moved"] else child["moved_pc"]
        d = child["dob"]
        dob = date(d.year, d.day, d.month) if everywhere == "swapped" else d.replace(day=d.day % 28 + 1)
    return {"nhs_number": nhs, "family_name": family, "given_name": given, "other_given_names": child["middle"],
            "dob": _iso(dob), "gender": gender,
            "address_line1": child["moved_line1"] if child["moved"] else child["line1"], "address_line2": "",
            "town": child["town"], "postcode": pc,
            "residence_la": "" if rand.chance(GP_RESIDENCE_BLANK) else child["la"],
            "registration_date": _iso(rand.date_between(child["dob"], today)),
            "deregistration_date": dereg, "deregistration_reason": dreason}


def _planted_slips(pop, child, given: str, family: str, dob: date) -> tuple[str, str, date]:
    """The slips the settings plant on a GP record, each from a draw of its own (so the
    defaults' extracts are unchanged): a twin's surname or birth-date slip, and a given name's
    diacritic lost or mangled."""
    rand = Rand(pop.seed, child["idx"], "planted-slips")
    if child.get("twin_slip") == "surname":
        family = typo(rand, family, 3)
    elif child.get("twin_slip") == "dob":
        dob = dob.replace(day=dob.day % 28 + 1)
    if any(ord(c) > 127 for c in given) and rand.chance(pop.settings.diacritic_slips):
        plain = without_diacritics(given)
        at = next(i for i, c in enumerate(given) if ord(c) > 127)
        given = plain if rand.chance(0.5) else given[:at] + rand.pick("aeiou") + given[at + 1:]  # Zoë: Zoe or Zie
    return given, family, dob


def mistyped_everywhere(pop, child) -> str | None:
    """For a shielded child whose GP record is mistyped everywhere (SHIELDED_GP_EVERYWHERE):
    "swapped" when its birth date has day and month swapped, "day" when the day is mistyped."""
    rand = Rand(pop.seed, child["idx"], "shielded-gp")
    if not (child["shielded"] and rand.chance(SHIELDED_GP_EVERYWHERE)):
        return None
    d = child["dob"]
    return "swapped" if rand.chance(0.5) and d.day <= 12 and d.day != d.month else "day"


def _la_record(pop, child, situation, event, today: date) -> dict | None:
    rand = Rand(pop.seed, child["idx"], "la")
    la_type = {"ehe": "EHE", "alt_provision": "ALT_PROVISION", "ehe_ended": "EHE_ENDED",
               "ehe_unsuitable": "EHE_UNSUITABLE", "cme_referral": "CME_REFERRAL",
               "whereabouts_known": "WHEREABOUTS_KNOWN"}.get(situation)
    if la_type is None and (child["shielded"] or rand.chance(0.02)):
        la_type = "RESIDENT"
    if not la_type:
        return None
    status = event or child["status"]
    if situation in ("ehe_ended", "ehe_unsuitable") and not event:
        status = max(status, child["leave"] + timedelta(days=20))  # after the school's deletion for EHE
    s = pop.settings
    return {"la_child_id": f"C{child['la']}{child['idx']:07d}",
            "upn": child["upn"] if rand.chance(min(1.0, 0.5 * s.la_identifier_factor)) else "",
            "nhs_number": child["nhs"] if rand.chance(min(1.0, 0.46 * s.la_identifier_factor)) else "",
            "surname": child["surname"],
            "forename": vary_forename(rand, child["forename"], s.typo_rate), "dob": _iso(child["dob"]), "sex": child["sex"],
            "address_line1": child["line1"], "postcode": child["pc"], "record_type": la_type,
            "status_date": _iso(status), "shielded": "Y" if child["shielded"] else ("N" if rand.chance(0.5) else ""),
            **(register_items(pop.seed, child, situation, today) if la_type != "RESIDENT" else {})}


def _share_la_keys(pop: Population, rows: dict, children: int, delivery: int) -> None:
    """Plant the mistake of an authority whose case system gave two children one id: in one
    authority's extract, a child's la_child_id is overwritten with another child's."""
    rand = Rand(pop.seed, "shared-keys")
    la_lists = [(k, v) for k, v in sorted(rows.items()) if k[0] == "la" and len(v) >= 4]
    for _ in range(max(1, children // SHARED_KEYS_PER_CHILDREN)):
        if not la_lists:
            return
        _, entries = rand.pick(la_lists)
        a, b = rand.below(0, len(entries)), rand.below(0, len(entries))
        if a != b and entries[a][0]["dob"] != entries[b][0]["dob"]:
            entries[b] = (dict(entries[b][0], la_child_id=entries[a][0]["la_child_id"]), entries[b][1])


def _corrupt(rand: Rand, feed: str, row: dict) -> dict:
    row = dict(row)
    col = rand.pick({"school": ["upn", "dob", "sex"], "health": ["dob", "gender", "nhs_number"],
                     "la": ["dob", "record_type"]}[feed])
    row[col] = {"upn": "X" + row.get("upn", "")[1:] or "X1", "dob": "2015-02-30", "sex": "Q", "gender": "5",
                "nhs_number": "1234567890", "record_type": "UNKNOWN"}[col]
    return row


def _write_extract(pop, landing: Path, truth: Path, feed: str, provider: str, entries, bad_rate: float,
                   today: date, delivery: int) -> None:
    rand = Rand(pop.seed, "file", feed, provider, delivery)
    columns = {"school": SCHOOL_COLUMNS, "health": HEALTH_COLUMNS, "la": LA_COLUMNS}[feed]
    order = list(columns)
    if rand.chance(0.3):
        rand.shuffle(order)
    header = [c.upper() if rand.chance(0.2) else c for c in order] if rand.chance(0.2) else order
    # Contract 1.2's columns last, drawn apart, so the columns before them are as they were.
    extra = {"school": SCHOOL_EXTRA, "la": la_extra_columns()}.get(feed, [])
    header, order = header + extra, order + extra
    name = f"{feed}_{provider}_{today:%Y%m%d}.csv"
    buf = io.StringIO()
    s = pop.settings
    # Drawn only when the settings ask for them, so the defaults' files stay byte for byte the same.
    ending = "\n" if s.lf_files and rand.chance(s.lf_files) else "\r\n"
    quoting = csv.QUOTE_ALL if s.quoted_files and rand.chance(s.quoted_files) else csv.QUOTE_MINIMAL
    w = csv.writer(buf, lineterminator=ending, quoting=quoting)
    w.writerow(header)
    truth_rows = []
    for row_no, (row, cid) in enumerate(entries, start=1):
        if feed == "health" and rand.chance(bad_rate):
            # A fresh corruption drawn per cell, as this has always done (the bench's files stay
            # byte for byte what they were).
            w.writerow([_corrupt(rand, feed, row).get(c, "") for c in order])
            truth_rows.append((name, row_no, cid, "bad"))
            continue
        w.writerow([row.get(c, "") for c in order])
        truth_rows.append((name, row_no, cid, ""))
    data = buf.getvalue().encode("utf-8")
    if rand.chance(0.2):
        data = b"\xef\xbb\xbf" + data
    inbox = landing / provider / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(data)
    (inbox / f"{name}.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    path = truth / "records.csv"
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        tw = csv.writer(fh)
        if new:
            tw.writerow(["file", "row", "true_child", "note"])
        tw.writerows(truth_rows)


def _write_reference(pop: Population, folder: Path, seed: int) -> None:
    """The operator's postcode directory in the ONS format (pcd, pcds, dointr, doterm, oslaua)
    and the district-to-LA-code mapping; a share of postcodes (new builds) is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    rand = Rand(seed, "directory")
    rows = [(pc.replace(" ", "  ") if len(pc) == 7 else pc, pc, "199801", "", f"E0600{int(la):04d}")
            for pc, la in sorted(pop.postcodes.items()) if rand.chance(DIRECTORY_COVERAGE)]
    _write_csv(folder / "postcode_directory.csv", ["pcd", "pcds", "dointr", "doterm", "oslaua"], rows)
    _write_csv(folder / "la_codes.csv", ["LAD25CD", "la_code"], [(f"E0600{int(la):04d}", la) for la in pop.las])


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
