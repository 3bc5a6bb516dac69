"""Synthetic extracts for the demo, tests and benchmarks, with ground truth written apart from
the delivery folders: three (or more) authorities' schools, GP practices and LA records, as
messy as real data. Every person in it is invented.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from rapidfuzz.distance import JaroWinkler

from matching.standardise import diminutives
from schemas.identifiers import nhs_check_digit, upn_check_letter

BOYS = ("Oliver George Harry Noah Jack Leo Arthur Muhammad Oscar Charlie Jacob Thomas Henry William Freddie "
        "Alfie Theo Archie Joshua James Lucas Isaac Edward Alexander Joseph Samuel Daniel Logan Ethan Max "
        "Mason Adam Benjamin Reggie Sebastian Finley Arlo Dylan Harrison Elijah Teddy Louie Toby Rory Albert "
        "Reuben Jude Ronnie Frederick Louis Hugo Ryan Stanley Michael Elliot Tommy Jaxon Frankie David Matthew "
        "Luca Jenson Ezra Caleb Rowan Zachary Felix Austin Bobby Ollie Kai Grayson Nathan Liam Gabriel Hunter "
        "Roman Harvey Jasper Ibrahim Aaron Otis Christopher Patrick Jayden Anthony Robert Nicholas Richard").split()
GIRLS = ("Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Willow Freya Florence Emily Ella "
         "Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda Ruby Emilia "
         "Maya Millie Isabelle Eva Luna Jessica Aria Elizabeth Erin Imogen Ellie Esme Harriet Eleanor Mila "
         "Violet Hallie Penelope Layla Zara Aurora Thea Maisie Bonnie Darcie Georgia Lottie Eliza Margot Nancy "
         "Rose Lucy Hannah Maria Victoria Rebecca Katherine Abigail Natalie Samantha Madeleine Josephine Amira "
         "Aisha Fatima Maryam Zainab Hafsa Anaya Priya Chloe Leah Megan Jennifer Caroline Deborah Frances").split()
SURNAMES = ("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright "
            "Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill "
            "Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker "
            "Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy "
            "Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman "
            "Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight "
            "Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher "
            "Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks "
            "West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan "
            "Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe "
            "Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton "
            "Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop "
            "Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald "
            "Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill "
            "Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rahman "
            "Nowak Kowalski Nguyen Okafor Mensah Adeyemi Ozturk Popescu Silva Costa Rossi Muller Novak Chowdhury "
            "Akhtar Iqbal Mahmood Sharma Gupta Ng Wong Chen Zhang Li Wang Liu Kim Park Haddad Yilmaz Dubois").split()
STREETS = ("High Street|Station Road|Church Lane|Park Avenue|Victoria Road|Green Lane|Manor Road|Mill Lane|"
           "Kings Road|Queens Road|New Road|School Lane|The Crescent|Grange Road|Chester Road|Albert Street|"
           "York Road|Richmond Road|Springfield Road|Windsor Avenue|Meadow Way|Orchard Close|Elm Grove|"
           "Beech Drive|Oak Avenue|Willow Close|Cedar Road|Hawthorn Way|Ash Grove|Maple Road").split("|")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
PSEUDO_POSTCODES = ("ZZ99 3VZ", "ZZ99 3WZ")
SCHOOL_COLUMNS = ["upn", "former_upn", "surname", "forename", "middle_names", "preferred_surname", "dob", "sex",
                  "address_line1", "address_line2", "town", "postcode", "entry_date", "enrol_status",
                  "leaving_date", "leaving_reason", "destination_laestab"]
HEALTH_COLUMNS = ["nhs_number", "family_name", "given_name", "other_given_names", "dob", "gender", "address_line1",
                  "address_line2", "town", "postcode", "residence_la", "registration_date", "deregistration_date",
                  "deregistration_reason"]
LA_COLUMNS = ["la_child_id", "upn", "nhs_number", "surname", "forename", "dob", "sex", "address_line1", "postcode",
              "record_type", "status_date", "shielded"]
# Share of compulsory-school-age children in each situation; the first four are missing education.
SITUATIONS = {"never_on_roll": 0.012, "left_no_destination": 0.008, "ehe_ended": 0.004, "cme_referral": 0.006,
              "ehe": 0.02, "alt_provision": 0.01, "moved_away": 0.02, "whereabouts_known": 0.006,
              "deceased": 0.001, "transfer": 0.02, "dual": 0.01}
MISSING = {"never_on_roll", "left_no_destination", "ehe_ended", "cme_referral"}


@dataclass
class Summary:
    children: int
    files: int
    rows: int
    cme_children: int
    providers: int


def compulsory_age(dob: date, on: date) -> bool:
    from cme.rules import compulsory_school_age_window
    start, end = compulsory_school_age_window(dob)
    return start <= on <= end


class _Gen:
    def __init__(self, seed: int, extract_date: date, las: tuple[str, ...]):
        self.rng = np.random.default_rng(seed)
        self.today = extract_date
        self.las = las
        self.nick = {}
        for nick, canon in diminutives().items():
            self.nick.setdefault(canon, []).append(nick)
        self.upn_serials: dict[str, int] = {}
        self.nhs_serial = int(self.rng.integers(100_000, 900_000))
        self.rows = {}  # (feed, provider) -> list of (row dict, true child id)

    def pick(self, seq, p=None):
        return seq[int(self.rng.choice(len(seq), p=p))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def zipf_pick(self, seq):
        w = 1.0 / np.arange(1, len(seq) + 1) ** 0.7
        return seq[int(self.rng.choice(len(seq), p=w / w.sum()))]

    def postcode(self, la: str) -> str:
        outward = f"R{chr(ord('A') + self.las.index(la) % 26)}{int(self.rng.integers(1, 10))}"
        inward = f"{int(self.rng.integers(1, 10))}{self.pick(INWARD_LETTERS)}{self.pick(INWARD_LETTERS)}"
        return f"{outward} {inward}"

    def address(self, la: str) -> tuple[str, str, str]:
        return (f"{int(self.rng.integers(1, 200))} {self.pick(STREETS)}", f"Town {la}", self.postcode(la))

    def upn(self, laestab: str, year: int) -> str:
        # LA + establishment + year of allocation + a serial unique within them.
        prefix = f"{laestab}{year % 100:02d}"
        self.upn_serials[prefix] = serial = self.upn_serials.get(prefix, 0) + 1
        if serial >= 1000:  # a full year: borrow the next year's prefix, as the DfE scheme would
            return self.upn(laestab, year + 1)
        body = f"{prefix}{serial:03d}"
        return upn_check_letter(body) + body

    def nhs(self) -> str:
        while True:
            self.nhs_serial += 1
            first9 = f"{(self.nhs_serial * 7919) % 10**9:09d}"
            check = nhs_check_digit(first9)
            if check is not None and len(set(first9)) > 1:
                return first9 + str(check)

    def typo(self, s: str) -> str:
        if len(s) < 4:
            return s
        i = int(self.rng.integers(1, len(s) - 1))
        op = self.rng.integers(0, 3)
        if op == 0:
            return s[:i] + s[i + 1:]
        if op == 1:
            return s[:i] + s[i + 1] + s[i] + s[i + 2:]
        return s[:i] + self.pick("aeinorst") + s[i + 1:]

    def vary_forename(self, name: str) -> str:
        r = self.rng.random()
        canon = name.lower()
        if r < 0.08 and canon in self.nick:
            return self.pick(self.nick[canon]).capitalize()
        if r < 0.11:
            return self.typo(name)
        if r < 0.13:
            return name.upper()
        return name

    def vary_surname(self, name: str, other_parent: str) -> str:
        r = self.rng.random()
        if r < 0.03:
            return self.typo(name)
        if r < 0.05:
            return f"{name}-{other_parent}"
        if r < 0.06:
            return name.upper()
        return name

    def vary_dob(self, dob: date) -> date:
        r = self.rng.random()
        if r < 0.012 and dob.day <= 12 and dob.day != dob.month:
            return date(dob.year, dob.day, dob.month)
        if r < 0.022:
            try:
                return dob.replace(day=dob.day % 28 + 1)
            except ValueError:
                return dob
        return dob

    def date_between(self, a: date, b: date) -> date:
        if b <= a:
            return a
        return a + timedelta(days=int(self.rng.integers(0, (b - a).days + 1)))

    def add(self, feed: str, provider: str, row: dict, child: str) -> None:
        self.rows.setdefault((feed, provider), []).append((row, child))


def generate(landing: Path, truth: Path, children: int = 20_000, seed: int = 7, extract_date: date | None = None,
             las: tuple[str, ...] = ("880", "881", "882"), bad_row_rate: float = 0.003) -> Summary:
    extract_date = extract_date or date.today()
    g = _Gen(seed, extract_date, las)
    schools = {la: [f"{la}{2000 + i:04d}" for i in range(max(3, children // (len(las) * 600)))] for la in las}
    practices = {la: [f"{'ABCDEFGHJKLMNP'[las.index(la) % 14]}{81000 + i}" for i in range(max(2, children // (len(las) * 2500)))]
                 for la in las}
    truth.mkdir(parents=True, exist_ok=True)
    cme_truth, twins, child_rows = [], [], []
    made = 0
    while made < children:
        la = g.pick(las)
        surname = g.zipf_pick(SURNAMES)
        other_parent = g.zipf_pick(SURNAMES)
        line1, town, pc = g.address(la)
        kids = int(g.rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        base_dob = g.date_between(extract_date - timedelta(days=365 * 18), extract_date - timedelta(days=30))
        twin = kids >= 2 and g.chance(0.06)
        family = []
        for k in range(kids):
            if made >= children:
                break
            made += 1
            cid = f"T{made:07d}"
            sex = g.pick("MF")
            forename = g.zipf_pick(BOYS if sex == "M" else GIRLS)
            # Parents do not give two children the same name, one the other's diminutive, or two
            # spellings of one name (Isabella and Isabelle): no field could tell such twins apart.
            while any(_canon(forename) == _canon(f[2]) or
                      JaroWinkler.normalized_similarity(forename.lower(), f[2].lower()) >= 0.92 for f in family):
                forename = g.zipf_pick(BOYS if sex == "M" else GIRLS)
            if k == 0 or (k == 1 and twin):
                dob = base_dob
            else:
                dob = base_dob - timedelta(days=int(g.rng.integers(400, 3000)))
                if dob < extract_date - timedelta(days=365 * 19):
                    dob = base_dob + timedelta(days=int(g.rng.integers(400, 1500)))
                    if dob >= extract_date:
                        dob = base_dob
            middle = g.zipf_pick(BOYS if sex == "M" else GIRLS) if g.chance(0.4) else ""
            family.append((cid, sex, forename, middle, dob))
            if k == 1 and twin:
                twins.append((family[0][0], cid))
        for cid, sex, forename, middle, dob in family:
            child = dict(cid=cid, la=la, sex=sex, forename=forename, middle=middle, surname=surname,
                         other_parent=other_parent, dob=dob, line1=line1, town=town, pc=pc)
            situation = _situation(g, child)
            child_rows.append((cid, la, situation))
            _emit(g, child, situation, schools, practices)
            if situation in MISSING:
                cme_truth.append((cid, la, situation))
    files = rows = 0
    for (feed, provider), entries in sorted(g.rows.items()):
        bad = _write_extract(g, landing, truth, feed, provider, entries, bad_row_rate)
        files += 1
        rows += len(entries) + bad
    _write_csv(truth / "cme.csv", ["true_child", "la_code", "situation"], cme_truth)
    _write_csv(truth / "twins.csv", ["child_a", "child_b"], twins)
    _write_csv(truth / "children.csv", ["true_child", "la_code", "situation"], child_rows)
    return Summary(children=made, files=files, rows=rows, cme_children=len(cme_truth), providers=len(g.rows))


def _canon(name: str) -> str:
    n = name.lower()
    return diminutives().get(n, n)


def _situation(g: _Gen, child: dict) -> str:
    if not compulsory_age(child["dob"], g.today):
        return "not_school_age"
    r, acc = g.rng.random(), 0.0
    for name, share in SITUATIONS.items():
        acc += share
        if r < acc:
            return name
    return "on_roll"


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _school_row(g: _Gen, child: dict, laestab: str, status: str, entry: date, leaving=None, reason="", dest="") -> dict:
    surname = g.vary_surname(child["surname"], child["other_parent"])
    return {"upn": child["upn"], "former_upn": "", "surname": surname, "forename": child["forename"],
            "middle_names": child["middle"], "preferred_surname": "", "dob": _iso(child["dob"]), "sex": child["sex"],
            "address_line1": child["line1"], "address_line2": "", "town": child["town"],
            "postcode": child["pc"] if g.rng.random() > 0.03 else "", "entry_date": _iso(entry),
            "enrol_status": status, "leaving_date": _iso(leaving), "leaving_reason": reason, "destination_laestab": dest}


def _emit(g: _Gen, child: dict, situation: str, schools: dict, practices: dict) -> None:
    la, today, cid = child["la"], g.today, child["cid"]
    age_days = (today - child["dob"]).days
    home_schools = schools[la]
    school = g.pick(home_schools)
    if g.chance(0.08):
        school = g.pick(schools[g.pick(g.las)])
    start_year = child["dob"].year + 4 + (1 if child["dob"].month >= 9 else 0)
    entry = g.date_between(date(start_year, 9, 1), min(today, date(start_year, 9, 1) + timedelta(days=900)))
    child["upn"] = g.upn(school, entry.year)
    recent_leave = g.date_between(today - timedelta(days=330), today - timedelta(days=7))
    on_roll_age = 4 * 365 + 200 < age_days < 18 * 365
    if situation in ("on_roll", "not_school_age") and on_roll_age and (situation == "on_roll" or g.chance(0.7)):
        g.add("school", school, _school_row(g, child, school, "C", min(entry, today)), cid)
    elif situation == "dual":
        second = g.pick([s for s in home_schools if s != school] or home_schools)
        g.add("school", school, _school_row(g, child, school, "M", entry), cid)
        g.add("school", second, _school_row(g, child, second, "S", entry), cid)
    elif situation == "transfer":
        new = g.pick([s for s in schools[la] if s != school] or schools[la])
        g.add("school", school, _school_row(g, child, school, "C", entry, recent_leave, "TRANSFER", new), cid)
        moved = dict(child, upn=child["upn"])
        g.add("school", new, _school_row(g, moved, new, "C", recent_leave + timedelta(days=3)), cid)
    elif situation == "left_no_destination":
        g.add("school", school, _school_row(g, child, school, "C", entry, recent_leave, "NO_DESTINATION"), cid)
    elif situation == "moved_away":
        g.add("school", school, _school_row(g, child, school, "C", entry, recent_leave, "MOVED_AWAY"), cid)
    elif situation == "deceased":
        g.add("school", school, _school_row(g, child, school, "C", entry, recent_leave, "DECEASED"), cid)
    elif situation == "ehe" and g.chance(0.5):
        g.add("school", school, _school_row(g, child, school, "C", entry, recent_leave, "EHE"), cid)

    if g.chance(0.95) or situation in MISSING:
        practice = g.pick(practices[la])
        moved = g.chance(0.10)
        pc = g.postcode(la) if moved else child["pc"]
        if g.chance(0.04):
            pc = ""
        elif g.chance(0.01):
            pc = g.pick(PSEUDO_POSTCODES)
        dereg, dreason = "", ""
        if situation == "moved_away" and g.chance(0.7):
            dereg, dreason = _iso(recent_leave), "MOVED_AWAY"
        elif situation == "deceased":
            dereg, dreason = _iso(recent_leave), "DECEASED"
        nhs = g.nhs() if g.chance(0.92) else ""
        if nhs and g.chance(0.3):
            nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
        child["nhs"] = nhs.replace(" ", "")
        gender = {"M": "1", "F": "2"}[child["sex"]] if g.chance(0.99) else "9"
        g.add("health", practice, {
            "nhs_number": nhs, "family_name": g.vary_surname(child["surname"], child["other_parent"]),
            "given_name": g.vary_forename(child["forename"]), "other_given_names": child["middle"],
            "dob": _iso(g.vary_dob(child["dob"])), "gender": gender,
            "address_line1": f"{int(g.rng.integers(1, 200))} {g.pick(STREETS)}" if moved else child["line1"],
            "address_line2": "", "town": child["town"], "postcode": pc,
            "residence_la": la if g.chance(0.96) or situation in MISSING else "",
            "registration_date": _iso(g.date_between(child["dob"], today)),
            "deregistration_date": dereg, "deregistration_reason": dreason}, cid)

    la_type = {"ehe": "EHE", "alt_provision": "ALT_PROVISION", "ehe_ended": "EHE_ENDED",
               "cme_referral": "CME_REFERRAL", "whereabouts_known": "WHEREABOUTS_KNOWN"}.get(situation)
    shielded = g.chance(0.004)
    if la_type is None and (shielded or g.chance(0.02)):
        la_type = "RESIDENT"
    if la_type:
        g.add("la", la, {
            "la_child_id": f"C{la}{int(cid[1:]):07d}", "upn": child["upn"] if g.chance(0.5) else "",
            "nhs_number": child.get("nhs", "") if g.chance(0.5) else "",
            "surname": child["surname"], "forename": g.vary_forename(child["forename"]),
            "dob": _iso(child["dob"]), "sex": child["sex"], "address_line1": child["line1"], "postcode": child["pc"],
            "record_type": la_type, "status_date": _iso(g.date_between(today - timedelta(days=300), today)),
            "shielded": "Y" if shielded else ("N" if g.chance(0.5) else "")}, cid)


def _corrupt(g: _Gen, feed: str, row: dict) -> dict:
    row = dict(row)
    col = g.pick({"school": ["upn", "dob", "sex"], "health": ["dob", "gender", "nhs_number"],
                  "la": ["dob", "record_type"]}[feed])
    row[col] = {"upn": "X" + row.get("upn", "")[1:] or "X1", "dob": "2015-02-30", "sex": "Q", "gender": "5",
                "nhs_number": "1234567890", "record_type": "UNKNOWN"}[col]
    return row


def _write_extract(g, landing: Path, truth: Path, feed: str, provider: str, entries, bad_rate: float) -> int:
    columns = {"school": SCHOOL_COLUMNS, "health": HEALTH_COLUMNS, "la": LA_COLUMNS}[feed]
    order = list(columns)
    if g.chance(0.3):
        g.rng.shuffle(order)
    header = [c.upper() if g.chance(0.2) else c for c in order] if g.chance(0.2) else order
    name = f"{feed}_{provider}_{g.today:%Y%m%d}.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    truth_rows, bad = [], 0
    row_no = 0
    for row, cid in entries:
        row_no += 1
        if g.chance(bad_rate) and feed == "health":
            w.writerow([_corrupt(g, feed, row)[c] for c in order])
            truth_rows.append((name, row_no, cid, "bad"))
            bad += 1
            continue
        w.writerow([row[c] for c in order])
        truth_rows.append((name, row_no, cid, ""))
    data = buf.getvalue().encode("utf-8")
    if g.chance(0.2):
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
    return 0


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
