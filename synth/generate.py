"""Synthetic extracts for the demo, tests and benchmarks, with ground truth written apart from
the delivery folders: three (or more) authorities' schools, GP practices and LA records, as
messy as real data, in one or more monthly deliveries of one population. Every person in it is
invented. The generator is the pipeline's blind spot: each situation real extracts hold that a
rule depends on must be made here first (see SITUATIONS, CHANGES and the rates below).
"""
from __future__ import annotations

import csv
import hashlib
import io
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path

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
# Share of compulsory-school-age children in each situation at the first delivery.
SITUATIONS = {"never_on_roll": 0.012, "left_no_destination": 0.008, "ehe_ended": 0.004, "ehe_unsuitable": 0.002,
              "cme_referral": 0.006, "ehe": 0.02, "alt_provision": 0.01, "moved_away": 0.02,
              "whereabouts_known": 0.006, "deceased": 0.001, "transfer": 0.02, "dual": 0.01}
MISSING = {"never_on_roll", "left_no_destination", "ehe_ended", "ehe_unsuitable", "cme_referral", "gone_from_roll"}
# What happens to a child between one delivery and the next, with its chance per delivery:
# dropped from a roll with no leaving record (off-rolling), leaving with no destination, home
# education that ends or is judged unsuitable, a missing child who starts at a school.
CHANGES = {"on_roll": (("gone_from_roll", 0.002), ("left_no_destination", 0.0015)),
           "ehe": (("ehe_ended", 0.2), ("ehe_unsuitable", 0.1)),
           "left_no_destination": (("rejoined", 0.25),),
           "never_on_roll": (("rejoined", 0.15),)}
# Rates of the things real extracts hold that a rule depends on.
GP_RESIDENCE_BLANK = 0.2  # GP practices often leave residence_la empty
SCHOOL_EHE_RECORD = 0.6  # the school's EHE leaving record is still in its extract when EHE ends
SHIELDED = 0.004
SHIELDED_GP_TYPO = 0.5  # a shielded child's GP record mistyped, so it may not link
# A fixed share of shielded children whose GP record is mistyped everywhere at once: both names,
# no NHS number, a new postcode, and the birth date's day mistyped or (half of them, where
# it can be) its day and month swapped. Rare in real extracts and the likeliest to leak a
# shielded child's GP, so every bench plants some (truth: shielded.csv's gp_record).
SHIELDED_GP_EVERYWHERE = 0.04
TWIN_NAMED_AFTER_TWIN = 0.3  # one twin's middle name is the other's given name
KNOWN_BY_MIDDLE_NAME = 0.01  # of children with a middle name, at school
SHARED_DISTRICT = 0.1  # addresses in a postcode district that straddles authorities
DIRECTORY_COVERAGE = 0.9  # postcodes the operator's directory holds (new builds are missing)
SHARED_KEYS_PER_CHILDREN = 50_000  # one LA child id given to two children, per this many children


@dataclass
class Summary:
    children: int
    files: int
    rows: int
    cme_children: int
    providers: int
    rounds: list[dict] = field(default_factory=list)
    silent_providers: list[str] = field(default_factory=list)


def compulsory_age(dob: date, on: date) -> bool:
    from cme.rules import compulsory_school_age_window
    start, end = compulsory_school_age_window(dob)
    return start <= on <= end


class _Rand:
    """Random draws for one purpose: the population, or one child's records in one feed (seeded
    by child and feed, so an unchanged child's records come out the same in every delivery)."""

    def __init__(self, *seed):
        self.r = random.Random(hashlib.sha256(repr(seed).encode()).digest())

    def random(self) -> float:
        return self.r.random()

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def below(self, a: int, b: int) -> int:
        return self.r.randrange(a, b)

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def weighted(self, seq, cum_weights):
        return seq[bisect(cum_weights, self.r.random() * cum_weights[-1])]

    def shuffle(self, seq) -> None:
        self.r.shuffle(seq)

    def date_between(self, a: date, b: date) -> date:
        return a if b <= a else a + timedelta(days=self.r.randrange(0, (b - a).days + 1))


_ZIPF: dict[int, list[float]] = {}


def zipf_pick(rand: _Rand, seq):
    if len(seq) not in _ZIPF:
        _ZIPF[len(seq)] = list(accumulate(1.0 / (i ** 0.7) for i in range(1, len(seq) + 1)))
    return rand.weighted(seq, _ZIPF[len(seq)])


def typo(rand: _Rand, s: str) -> str:
    if len(s) < 4:
        return s
    i = rand.below(1, len(s) - 1)
    op = rand.below(0, 3)
    if op == 0:
        return s[:i] + s[i + 1:]
    if op == 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + rand.pick("aeinorst") + s[i + 1:]


_NICKS: dict[str, list[str]] = {}


def vary_forename(rand: _Rand, name: str) -> str:
    if not _NICKS:
        for nick, canon in diminutives().items():
            _NICKS.setdefault(canon, []).append(nick)
    r = rand.random()
    canon = name.lower()
    if r < 0.08 and canon in _NICKS:
        return rand.pick(_NICKS[canon]).capitalize()
    if r < 0.11:
        return typo(rand, name)
    if r < 0.13:
        return name.upper()
    return name


def vary_surname(rand: _Rand, name: str, other_parent: str) -> str:
    r = rand.random()
    if r < 0.03:
        return typo(rand, name)
    if r < 0.05:
        return f"{name}-{other_parent}"
    if r < 0.06:
        return name.upper()
    return name


def vary_dob(rand: _Rand, dob: date) -> date:
    r = rand.random()
    if r < 0.012 and dob.day <= 12 and dob.day != dob.month:
        return date(dob.year, dob.day, dob.month)
    if r < 0.022:
        try:
            return dob.replace(day=dob.day % 28 + 1)
        except ValueError:
            return dob
    return dob


class _Population:
    """Families and children drawn once; their situations at each delivery; places to live."""

    def __init__(self, seed: int, anchor: date, las: tuple[str, ...], children: int):
        self.seed, self.anchor, self.las = seed, anchor, las
        self.rand = _Rand(seed, "population")
        self.schools = {la: [f"{la}{2000 + i:04d}" for i in range(max(3, children // (len(las) * 600)))] for la in las}
        self.practices = {la: [f"{'ABCDEFGHJKLMNP'[las.index(la) % 14]}{81000 + i}"
                               for i in range(max(2, children // (len(las) * 2500)))] for la in las}
        self.upn_serials: dict[str, int] = {}
        self.nhs_serial = self.rand.below(100_000, 900_000)
        self.postcodes: dict[str, str] = {}  # postcode -> authority it lies in

    def postcode(self, rand: _Rand, la: str) -> str:
        if rand.chance(SHARED_DISTRICT):
            # A district on the boundary: its sectors hold homes of every authority.
            outward = f"RS{rand.below(1, 4)}"
        else:
            outward = f"R{chr(ord('A') + self.las.index(la) % 26)}{rand.below(1, 10)}"
        # A unit postcode lies in one authority even where its sector straddles two.
        last = INWARD_LETTERS[self.las.index(la) % len(INWARD_LETTERS)::len(self.las)]
        inward = f"{rand.below(1, 10)}{rand.pick(INWARD_LETTERS)}{rand.pick(last)}"
        pc = f"{outward} {inward}"
        self.postcodes.setdefault(pc, la)
        return pc

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

    def families(self, children: int):
        """Yield lists of children (dicts), one family at a time, until `children` are made."""
        g, made = self.rand, 0
        while made < children:
            la = g.pick(self.las)
            surname, other_parent = zipf_pick(g, SURNAMES), zipf_pick(g, SURNAMES)
            line1, town, pc = f"{g.below(1, 200)} {g.pick(STREETS)}", f"Town {la}", self.postcode(g, la)
            kids = g.weighted([1, 2, 3], [0.5, 0.85, 1.0])
            base_dob = g.date_between(self.anchor - timedelta(days=365 * 18), self.anchor - timedelta(days=30))
            twin = kids >= 2 and g.chance(0.06)
            family = []
            for k in range(kids):
                if made >= children:
                    break
                made += 1
                sex = g.pick("MF")
                names = BOYS if sex == "M" else GIRLS
                forename = zipf_pick(g, names)
                # Parents do not give two children the same name, one the other's diminutive, or two
                # spellings of one name (Isabella and Isabelle): no field could tell such twins apart.
                while any(_canon(forename) == _canon(f["forename"]) or
                          JaroWinkler.normalized_similarity(forename.lower(), f["forename"].lower()) >= 0.92
                          for f in family):
                    forename = zipf_pick(g, names)
                if k == 0 or (k == 1 and twin):
                    dob = base_dob
                else:
                    dob = base_dob - timedelta(days=g.below(400, 3000))
                    if dob < self.anchor - timedelta(days=365 * 19):
                        dob = base_dob + timedelta(days=g.below(400, 1500))
                        if dob >= self.anchor:
                            dob = base_dob
                middle = zipf_pick(g, names) if g.chance(0.4) else ""
                named_after_twin = k == 1 and twin and family[0]["sex"] == sex and g.chance(TWIN_NAMED_AFTER_TWIN)
                if named_after_twin:
                    middle = family[0]["forename"]  # Theodore Leo, twin of Leo
                child = dict(cid=f"T{made:07d}", idx=made, la=la, sex=sex, forename=forename, middle=middle,
                             named_after_twin=named_after_twin,
                             surname=surname, other_parent=other_parent, dob=dob, line1=line1, town=town, pc=pc,
                             twin_of=family[0]["cid"] if (k == 1 and twin) else "")
                self._place(child)
                family.append(child)
            yield family

    def _place(self, child: dict) -> None:
        """The child's school, entry, UPN, GP practice, NHS number and shield: fixed for life."""
        g = _Rand(self.seed, child["idx"], "place")
        la = child["la"]
        school = g.pick(self.schools[la])
        if g.chance(0.08):
            school = g.pick(self.schools[g.pick(self.las)])
        start_year = child["dob"].year + 4 + (1 if child["dob"].month >= 9 else 0)
        entry = g.date_between(date(start_year, 9, 1), min(self.anchor, date(start_year, 9, 1) + timedelta(days=900)))
        others = [s for s in self.schools[la] if s != school] or self.schools[la]
        child.update(school=school, entry=entry, upn=self.upn(school, entry.year), second_school=g.pick(others),
                     practice=g.pick(self.practices[la]), nhs=self.nhs(), shielded=g.chance(SHIELDED),
                     leave=g.date_between(self.anchor - timedelta(days=330), self.anchor - timedelta(days=60)),
                     status=g.date_between(self.anchor - timedelta(days=300), self.anchor - timedelta(days=40)),
                     moved=g.chance(0.10), moved_pc=self.postcode(g, la), moved_line1=f"{g.below(1, 200)} {g.pick(STREETS)}")

    def situation(self, child: dict, on: date) -> str:
        if not compulsory_age(child["dob"], on):
            return "not_school_age"
        r, acc = _Rand(self.seed, child["idx"], "situation").random(), 0.0
        for name, share in SITUATIONS.items():
            acc += share
            if r < acc:
                return name
        return "on_roll"

    def change(self, child: dict, situation: str, delivery: int) -> str:
        rand = _Rand(self.seed, child["idx"], "change", delivery)
        r, acc = rand.random(), 0.0
        for new, share in CHANGES.get(situation, ()):
            acc += share
            if r < acc:
                return new
        return situation


def generate(landing: Path, truth: Path, children: int = 20_000, seed: int = 7, extract_date: date | None = None,
             las: tuple[str, ...] = ("880", "881", "882"), bad_row_rate: float = 0.003, rounds: int = 1,
             round_gap_days: int = 28, reference: Path | None = None, silent_schools: int = 0) -> Summary:
    """Write `rounds` monthly deliveries of one population. One round: extracts under
    landing/<provider>/inbox and truth under truth/. More: landing/round<N>/... and
    truth/round<N>/ (records.csv there covers every round so far, since rows of earlier
    extracts stay in the register). The operator's postcode directory (ONS format) and its LA
    code mapping go to `reference` (default: beside truth). `silent_schools` schools stop
    sending after the first delivery, as real schools do (a changed MIS, a bursar on leave):
    their old roll is all the register has of them."""
    anchor = extract_date or date.today()
    pop = _Population(seed, anchor, las, children)
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


def _deliver(pop: _Population, people: list[dict], history: dict, delivery: int, today: date, gap: int,
             landing: Path, truth: Path, bad_row_rate: float, earlier: Path | None,
             silent: set[str] = frozenset()) -> Summary:
    rows: dict[tuple[str, str], list] = {}
    cme_truth, twins, child_rows, shielded = [], [], [], []
    for c in people:
        situation, since = history[c["cid"]]
        if situation != "not_school_age" and not compulsory_age(c["dob"], today):
            situation = "not_school_age"
        # A change since the first delivery happened on a day between the two deliveries.
        event = None if since == 1 else pop.anchor + timedelta(
            days=gap * (since - 2) + _Rand(pop.seed, c["idx"], "event", since).below(2, max(3, gap - 1)))
        for feed, provider, row in _records(pop, c, situation, today, event):
            rows.setdefault((feed, provider), []).append((row, c["cid"]))
        child_rows.append((c["cid"], c["la"], situation))
        if situation in MISSING:
            cme_truth.append((c["cid"], c["la"], situation))
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
    _write_csv(truth / "children.csv", ["true_child", "la_code", "situation"], child_rows)
    _write_csv(truth / "shielded.csv", ["true_child", "gp_record"], shielded)
    return Summary(children=len(people), files=files, rows=total, cme_children=len(cme_truth), providers=len(rows))


def _canon(name: str) -> str:
    n = name.lower()
    return diminutives().get(n, n)


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _school_row(rand: _Rand, child: dict, status: str, entry: date, leaving=None, reason="", dest="") -> dict:
    forename, middle = child["forename"], child["middle"]
    # Known at school by a middle name; never by a twin's given name.
    if middle and rand.chance(KNOWN_BY_MIDDLE_NAME) and not child["named_after_twin"]:
        forename, middle = middle.split()[0], forename  # known at school by the middle name
    return {"upn": child["upn"], "former_upn": "", "surname": vary_surname(rand, child["surname"], child["other_parent"]),
            "forename": forename, "middle_names": middle, "preferred_surname": "", "dob": _iso(child["dob"]),
            "sex": child["sex"], "address_line1": child["line1"], "address_line2": "", "town": child["town"],
            "postcode": child["pc"] if rand.random() > 0.03 else "", "entry_date": _iso(entry),
            "enrol_status": status, "leaving_date": _iso(leaving), "leaving_reason": reason,
            "destination_laestab": dest}


def _records(pop: _Population, child: dict, situation: str, today: date, event: date | None):
    """(feed, provider, row) for every record of one child in one delivery. event: the day the
    child came into this situation, when that was after the first delivery."""
    yield from _school_records(pop, child, situation, today, event)
    health = _health_record(pop, child, situation, today)
    if health:
        yield "health", child["practice"], health
    la = _la_record(pop, child, situation, event)
    if la:
        yield "la", child["la"], la


def _school_records(pop, child, situation, today, event):
    rand = _Rand(pop.seed, child["idx"], "school")
    school, entry, leave = child["school"], min(child["entry"], today), child["leave"]
    age_days = (today - child["dob"]).days
    on_roll_age = 4 * 365 + 200 < age_days < 18 * 365
    if situation in ("on_roll", "not_school_age") and on_roll_age and (situation == "on_roll" or rand.chance(0.7)):
        yield "school", school, _school_row(rand, child, "C", entry)
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
    rand = _Rand(pop.seed, child["idx"], "health")
    if not (rand.chance(0.95) or situation in MISSING):
        return None
    pc = child["moved_pc"] if child["moved"] else child["pc"]
    if rand.chance(0.04):
        pc = ""
    elif rand.chance(0.01):
        pc = rand.pick(PSEUDO_POSTCODES)
    dereg, dreason = "", ""
    if situation == "moved_away" and rand.chance(0.7):
        dereg, dreason = _iso(child["leave"]), "MOVED_AWAY"
    elif situation == "deceased":
        dereg, dreason = _iso(child["leave"]), "DECEASED"
    nhs = child["nhs"] if rand.chance(0.92) else ""
    if nhs and rand.chance(0.3):
        nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    gender = {"M": "1", "F": "2"}[child["sex"]] if rand.chance(0.99) else "9"
    given, family = vary_forename(rand, child["forename"]), vary_surname(rand, child["surname"], child["other_parent"])
    if child["shielded"] and rand.chance(SHIELDED_GP_TYPO):
        given, family = typo(rand, given), typo(rand, family)
    dob = vary_dob(rand, child["dob"])
    everywhere = mistyped_everywhere(pop, child)
    if everywhere:
        more = _Rand(pop.seed, child["idx"], "shielded-gp-typed")
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


def mistyped_everywhere(pop, child) -> str | None:
    """For a shielded child whose GP record is mistyped everywhere (SHIELDED_GP_EVERYWHERE):
    "swapped" when its birth date has day and month swapped, "day" when the day is mistyped."""
    rand = _Rand(pop.seed, child["idx"], "shielded-gp")
    if not (child["shielded"] and rand.chance(SHIELDED_GP_EVERYWHERE)):
        return None
    d = child["dob"]
    return "swapped" if rand.chance(0.5) and d.day <= 12 and d.day != d.month else "day"


def _la_record(pop, child, situation, event) -> dict | None:
    rand = _Rand(pop.seed, child["idx"], "la")
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
    return {"la_child_id": f"C{child['la']}{child['idx']:07d}", "upn": child["upn"] if rand.chance(0.5) else "",
            "nhs_number": child["nhs"] if rand.chance(0.46) else "", "surname": child["surname"],
            "forename": vary_forename(rand, child["forename"]), "dob": _iso(child["dob"]), "sex": child["sex"],
            "address_line1": child["line1"], "postcode": child["pc"], "record_type": la_type,
            "status_date": _iso(status), "shielded": "Y" if child["shielded"] else ("N" if rand.chance(0.5) else "")}


def _share_la_keys(pop: _Population, rows: dict, children: int, delivery: int) -> None:
    """Plant the mistake of an authority whose case system gave two children one id: in one
    authority's extract, a child's la_child_id is overwritten with another child's."""
    rand = _Rand(pop.seed, "shared-keys")
    la_lists = [(k, v) for k, v in sorted(rows.items()) if k[0] == "la" and len(v) >= 4]
    for _ in range(max(1, children // SHARED_KEYS_PER_CHILDREN)):
        if not la_lists:
            return
        _, entries = rand.pick(la_lists)
        a, b = rand.below(0, len(entries)), rand.below(0, len(entries))
        if a != b and entries[a][0]["dob"] != entries[b][0]["dob"]:
            entries[b] = (dict(entries[b][0], la_child_id=entries[a][0]["la_child_id"]), entries[b][1])


def _corrupt(rand: _Rand, feed: str, row: dict) -> dict:
    row = dict(row)
    col = rand.pick({"school": ["upn", "dob", "sex"], "health": ["dob", "gender", "nhs_number"],
                     "la": ["dob", "record_type"]}[feed])
    row[col] = {"upn": "X" + row.get("upn", "")[1:] or "X1", "dob": "2015-02-30", "sex": "Q", "gender": "5",
                "nhs_number": "1234567890", "record_type": "UNKNOWN"}[col]
    return row


def _write_extract(pop, landing: Path, truth: Path, feed: str, provider: str, entries, bad_rate: float,
                   today: date, delivery: int) -> None:
    rand = _Rand(pop.seed, "file", feed, provider, delivery)
    columns = {"school": SCHOOL_COLUMNS, "health": HEALTH_COLUMNS, "la": LA_COLUMNS}[feed]
    order = list(columns)
    if rand.chance(0.3):
        rand.shuffle(order)
    header = [c.upper() if rand.chance(0.2) else c for c in order] if rand.chance(0.2) else order
    name = f"{feed}_{provider}_{today:%Y%m%d}.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    truth_rows = []
    for row_no, (row, cid) in enumerate(entries, start=1):
        if feed == "health" and rand.chance(bad_rate):
            w.writerow([_corrupt(rand, feed, row)[c] for c in order])
            truth_rows.append((name, row_no, cid, "bad"))
            continue
        w.writerow([row[c] for c in order])
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


def _write_reference(pop: _Population, folder: Path, seed: int) -> None:
    """The operator's postcode directory in the ONS format (pcd, pcds, dointr, doterm, oslaua)
    and the district-to-LA-code mapping; a share of postcodes (new builds) is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    rand = _Rand(seed, "directory")
    rows = [(pc.replace(" ", "  ") if len(pc) == 7 else pc, pc, "199801", "", f"E0600{int(la):04d}")
            for pc, la in sorted(pop.postcodes.items()) if rand.chance(DIRECTORY_COVERAGE)]
    _write_csv(folder / "postcode_directory.csv", ["pcd", "pcds", "dointr", "doterm", "oslaua"], rows)
    _write_csv(folder / "la_codes.csv", ["LAD25CD", "la_code"], [(f"E0600{int(la):04d}", la) for la in pop.las])


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
