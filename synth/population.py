"""The population a delivery is drawn from: families and children, the situations they are in at
each delivery (on a roll, home educated, missing, moved) and the rates that drive them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from rapidfuzz.distance import JaroWinkler

from cme import compulsory_school_age_window
from schemas import nhs_check_digit, upn_check_letter
from synth.names import BOYS, GIRLS, INWARD_LETTERS, STREETS, SURNAMES, gb_names
from synth.settings import Settings
from synth.slips import Rand, canon, without_diacritics, zipf_pick

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
    start, end = compulsory_school_age_window(dob)
    return start <= on <= end


class Population:
    """Families and children drawn once; their situations at each delivery; places to live."""

    def __init__(self, seed: int, anchor: date, las: tuple[str, ...], children: int, settings: Settings | None = None):
        self.seed, self.anchor, self.las = seed, anchor, las
        self.settings = settings = settings or Settings()
        self.boys, self.girls, self.surnames = gb_names() if settings.names == "gb" else (BOYS, GIRLS, SURNAMES)
        self.rand = Rand(seed, "population")
        per_school, per_practice = settings.pupils_per_school, settings.children_per_practice
        self.schools = {la: [f"{la}{2000 + i:04d}" for i in range(max(3, children // (len(las) * per_school)))]
                        for la in las}
        self.practices = {la: [f"{'ABCDEFGHJKLMNP'[las.index(la) % 14]}{81000 + i}"
                               for i in range(max(2, children // (len(las) * per_practice)))] for la in las}
        self.upn_serials: dict[str, int] = {}
        self.nhs_serial = self.rand.below(100_000, 900_000)
        self.postcodes: dict[str, str] = {}  # postcode -> authority it lies in

    def postcode(self, rand: Rand, la: str) -> str:
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
        g, made, s = self.rand, 0, self.settings
        while made < children:
            la = g.pick(self.las)
            surname, other_parent = zipf_pick(g, self.surnames, s.name_zipf), zipf_pick(g, self.surnames, s.name_zipf)
            line1, town, pc = f"{g.below(1, 200)} {g.pick(STREETS)}", f"Town {la}", self.postcode(g, la)
            kids = g.weighted([1, 2, 3], [0.5, 0.85, 1.0])
            base_dob = g.date_between(self.anchor - timedelta(days=365 * 18), self.anchor - timedelta(days=30))
            twin = kids >= 2 and g.chance(s.twin_rate)
            family = []
            for k in range(kids):
                if made >= children:
                    break
                made += 1
                sex = g.pick("MF")
                names = self.boys if sex == "M" else self.girls
                forename = zipf_pick(g, names, s.name_zipf)
                # Parents seldom give two children the same name, one the other's diminutive, or two
                # spellings of one name (Isabella and Isabelle): no field could tell such twins apart.
                while any(canon(forename) == canon(f["forename"]) or
                          JaroWinkler.normalized_similarity(forename.lower(), f["forename"].lower()) >= 0.92
                          for f in family):
                    forename = zipf_pick(g, names, s.name_zipf)
                twin_rand = Rand(self.seed, made, "twin") if k == 1 and twin else None
                if twin_rand and family[0]["sex"] == sex and twin_rand.chance(s.alike_twin_names):
                    forename = alike_name(twin_rand, family[0]["forename"], names) or forename
                if k == 0 or (k == 1 and twin):
                    dob = base_dob
                else:
                    dob = base_dob - timedelta(days=g.below(400, 3000))
                    if dob < self.anchor - timedelta(days=365 * 19):
                        dob = base_dob + timedelta(days=g.below(400, 1500))
                        if dob >= self.anchor:
                            dob = base_dob
                middle = zipf_pick(g, names, s.name_zipf) if g.chance(0.4) else ""
                named_after_twin = k == 1 and twin and family[0]["sex"] == sex and g.chance(TWIN_NAMED_AFTER_TWIN)
                if named_after_twin:
                    middle = family[0]["forename"]  # Theodore Leo, twin of Leo
                child = dict(cid=f"T{made:07d}", idx=made, la=la, sex=sex, forename=forename, middle=middle,
                             named_after_twin=named_after_twin,
                             surname=surname, other_parent=other_parent, dob=dob, line1=line1, town=town, pc=pc,
                             twin_of=family[0]["cid"] if (k == 1 and twin) else "",
                             twin_slip=twin_rand.pick(("surname", "dob")) if (twin_rand and
                                                                             twin_rand.chance(s.twin_slips)) else "")
                self._place(child)
                family.append(child)
            yield family

    def _place(self, child: dict) -> None:
        """The child's school, entry, UPN, GP practice, NHS number and shield: fixed for life."""
        g = Rand(self.seed, child["idx"], "place")
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
                     moved=g.chance(self.settings.mover_rate), moved_pc=self.postcode(g, la),
                     moved_line1=f"{g.below(1, 200)} {g.pick(STREETS)}")
        child["typo_rate"] = self.settings.typo_rate  # school and LA records slip at this rate
        change = Rand(self.seed, child["idx"], "surname-change")
        if change.chance(self.settings.surname_change):
            # A new family name (a parent's new partner) in the GP record, after a move.
            child.update(new_surname=zipf_pick(change, self.surnames, self.settings.name_zipf), moved=True)

    def situation(self, child: dict, on: date) -> str:
        if not compulsory_age(child["dob"], on):
            return "not_school_age"
        r, acc = Rand(self.seed, child["idx"], "situation").random(), 0.0
        for name, share in SITUATIONS.items():
            acc += share
            if r < acc:
                return name
        return "on_roll"

    def change(self, child: dict, situation: str, delivery: int) -> str:
        rand = Rand(self.seed, child["idx"], "change", delivery)
        r, acc = rand.random(), 0.0
        for new, share in CHANGES.get(situation, ()):
            acc += share
            if r < acc:
                return new
        return situation




def alike_name(rand: Rand, name: str, names) -> str | None:
    """Another name alike to `name` (Sophia for Sophie, Jake for Jack): Jaro-Winkler at least 0.85,
    not the same name or a diminutive of it; None when the list holds none."""
    alike = [n for n in names if n != name and canon(n) != canon(name)
             and without_diacritics(n.lower()) != without_diacritics(name.lower())
             and JaroWinkler.normalized_similarity(n.lower(), name.lower()) >= 0.85]
    return rand.pick(alike) if alike else None

