"""What the children-not-in-school register needs of a delivery (contract 1.2): pupils a school
educates elsewhere part of the time (flexi-schooling, off-site, part-time, s.19 provision, with
hours), and the authority's register items for the children it knows off a roll: parents (and
whether they educate the child), hours taught, other educators from a small pool per authority
(so one provider teaches several children, and an officer asking about a second child within
three months is refused), the primary reason for home education, and a home moved into under a
year ago with its previous address. Every draw comes from a stream of its own, so the values
the other columns held before contract 1.2 are unchanged."""
from __future__ import annotations

from datetime import date, timedelta

from schemas import CNIS_COLUMNS
from synth.names import BOYS, GIRLS, STREETS
from synth.slips import Rand

ARRANGED = 0.008  # pupils on roll their school educates elsewhere part of the time
ARRANGEMENTS = ("FLEXI", "PART_TIME", "OFF_SITE", "SECTION_19")
MOVED_IN = 0.25  # children the authority knows off a roll who moved in under a year ago
EHE_REASONS = ("PHILOSOPHICAL", "MENTAL_HEALTH", "DISSATISFIED_GENERAL", "DISSATISFIED_SEND", "BULLYING",
               "LIFESTYLE", "RELIGIOUS_CULTURAL", "PHYSICAL_HEALTH", "NOT_KNOWN")
PROVIDER_NAMES = ("Oakfield Tutors", "Bright Minds Online", "Riverside Learning Centre", "Hilltop Home Ed Group",
                  "Maple Music School", "Northgate Forest School")
PROVIDER_KINDS = {"Oakfield Tutors": "TUTOR", "Bright Minds Online": "ONLINE_SCHOOL",
                  "Riverside Learning Centre": "TUITION_CENTRE", "Hilltop Home Ed Group": "OUT_OF_SCHOOL_SETTING",
                  "Maple Music School": "OTHER", "Northgate Forest School": "OUT_OF_SCHOOL_SETTING"}
SCHOOL_EXTRA = ["arrangement", "hours_elsewhere"]
# The situations (synth.population) whose children are on their authority's register, by basis.
OFF_ROLL_BASIS = {"ehe": "EHE", "alt_provision": "ALT_PROVISION"}


def arrangement_of(seed: int, child: dict) -> tuple[str, float] | None:
    """The arrangement a pupil on roll has, if any (fixed for the child), with hours a week away."""
    rand = Rand(seed, child["idx"], "arrangement")
    if not rand.chance(ARRANGED):
        return None
    return rand.pick(ARRANGEMENTS), float(rand.below(2, 16))


def la_extra_columns() -> list[str]:
    return list(CNIS_COLUMNS)


def provider_postcode(la: str, name: str) -> str:
    return f"R{chr(ord('A') + int(la) % 26)}{PROVIDER_NAMES.index(name) % 9 + 1} 1AB"


def register_items(seed: int, child: dict, situation: str, today: date) -> dict:
    """Contract 1.2's register items of an authority's record of a child off a roll."""
    rand = Rand(seed, child["idx"], "register-items")
    items: dict[str, str] = {}
    line1, pc = child["line1"], child["pc"]
    mother = rand.pick(GIRLS[:60]) + " " + child["surname"]
    father = rand.pick(BOYS[:60]) + " " + (child["surname"] if rand.chance(0.6) else child["other_parent"])
    items.update(parent1_name=mother, parent1_address_line1=line1, parent1_postcode=pc)
    if rand.chance(0.6):
        other_home = rand.chance(0.2)
        items.update(parent2_name=father,
                     parent2_address_line1=f"{rand.below(1, 200)} {rand.pick(STREETS)}" if other_home else line1,
                     parent2_postcode=pc)
    if rand.chance(MOVED_IN):
        items.update(address_since=(today - timedelta(days=rand.below(30, 360))).isoformat(),
                     previous_address_line1=f"{rand.below(1, 200)} {rand.pick(STREETS)}",
                     previous_postcode=f"ZX{rand.below(1, 9)} {rand.below(1, 9)}AA")
    else:
        items["address_since"] = (today - timedelta(days=rand.below(400, 3000))).isoformat()
    if rand.chance(0.05):
        items.update(additional_address_line1=f"{rand.below(1, 200)} {rand.pick(STREETS)}",
                     additional_postcode=f"ZX{rand.below(1, 9)} {rand.below(1, 9)}BB")
    if situation == "ehe":
        items["ehe_reason"] = rand.pick(EHE_REASONS)
        items["parent1_educates"] = "Y"
        if "parent2_name" in items:
            items["parent2_educates"] = "Y" if rand.chance(0.5) else "N"
        items["hours_parents"] = str(rand.below(10, 26))
        n = rand.weighted([0, 1, 2], [0.4, 0.85, 1.0])
        names = list(PROVIDER_NAMES)
        rand.shuffle(names)
        others = 0
        for k, name in enumerate(names[:n], start=1):
            hours = rand.below(1, 9)
            others += hours
            online = PROVIDER_KINDS[name] == "ONLINE_SCHOOL"
            items.update({f"provider{k}_name": name, f"provider{k}_type": PROVIDER_KINDS[name],
                          f"provider{k}_address": "https://bright-minds.example" if online else f"1 {STREETS[k]}",
                          f"provider{k}_postcode": "" if online else provider_postcode(child["la"], name),
                          f"provider{k}_online": "Y" if online else "N", f"provider{k}_hours": str(hours),
                          f"provider{k}_hours_without_parent": str(hours if online else max(0, hours - 1))})
        if others:
            items["hours_others"] = str(others)
    return items


def truth_basis(seed: int, child: dict, situation: str, missing: set[str]) -> str:
    """The basis the child is on their authority's register by, or "" when not on it."""
    if situation in missing:
        return "CME"
    if situation in OFF_ROLL_BASIS:
        return OFF_ROLL_BASIS[situation]
    if situation == "on_roll":
        arranged = arrangement_of(seed, child)
        return arranged[0] if arranged else ""
    return ""
