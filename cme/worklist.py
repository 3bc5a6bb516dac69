"""The CME list as an officer works it: one row per case of their authorities, saying who the
child is (name, age, year group), where they were last at school and when they left, why they
are flagged (in words, with the code for exports), how long they have been missing, who has the
case, its next action and when it is due, and whether a review pair may clear the flag.

Filters and sorting come from a page's query (`Filters.parse`), so a filtered list is a link an
officer can keep; the same filters give the CSV (`cme_csv_rows`), whose first columns are the
CME export's (`rollcall export cme`) for the same children."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from sqlalchemy import select

from cme.cases import NEXT_ACTIONS, age_on, year_group
from cme.missed_links import likely_missed_links
from cme.reports import CME_COLUMNS, cme_row, facts_of_children
from cme.rules import REASONS
from oversight import current_shield_scope
from register import CmeCase, CmeFlag, CmeList, Kept

SORTS = {  # the list's sort keys, each with the words for its column
    "days_missing": "Days missing", "name": "Name", "age": "Age", "school": "Last school", "reason": "Reason",
    "officer": "Officer", "due_on": "Due", "case": "Case",
}
YES_NO = ("yes", "no")
WORK_COLUMNS = ["case_id", "status", "age", "year_group", "days_missing", "reason_words", "officer", "next_action",
                "due_on", "overdue"]


@dataclass(frozen=True)
class Filters:
    """What an officer narrowed the list to. Every field is optional; `errors` says which given
    values could not be read (the list is then shown unfiltered by them)."""
    status: str = "open"
    reason: str = ""
    school: str = ""
    year_group: str = ""
    officer: str = ""  # a user name, or "none" for cases no officer has
    overdue: str = ""  # "yes" or "no"
    possible_match: str = ""  # "yes" or "no"
    days_missing_min: int | None = None
    sort: str = "days_missing"
    descending: bool = True
    errors: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, query, me: str = "") -> Filters:
        """From a page's GET parameters; `officer=me` is the user asking."""
        errors = {}
        get = lambda name: (query.get(name) or "").strip()  # noqa: E731 - a short reader
        status = "closed" if get("status") == "closed" else "open"
        reason = get("reason") if get("reason") in REASONS else ""
        if get("reason") and not reason:
            errors["reason"] = "Select a reason from the list"
        days = days_at_least(get("days_missing_min"), "days_missing_min",
                             "Days missing must be a whole number, like 20", errors)
        officer = me if get("officer") == "me" else get("officer")[:150]
        sort, descending = sort_asked(get, SORTS, "days_missing")
        return cls(status, reason, get("school")[:32], get("year_group")[:16], officer,
                   get("overdue") if get("overdue") in YES_NO else "",
                   get("possible_match") if get("possible_match") in YES_NO else "", days, sort, descending, errors)

    def query(self, **changes) -> str:
        """These filters as a query string (with some changed), for links that keep them."""
        values = {"status": self.status if self.status != "open" else "", "reason": self.reason, "school": self.school,
                  "year_group": self.year_group, "officer": self.officer, "overdue": self.overdue,
                  "possible_match": self.possible_match,
                  "days_missing_min": "" if self.days_missing_min is None else str(self.days_missing_min),
                  **sort_params(self.sort, self.descending, "days_missing")}
        values.update({k: ("" if v is None else str(v)) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class WorkItem:
    case_id: int
    child_id: str
    la_code: str
    status: str
    outcome: str | None
    name: str
    dob: date | None
    age: int | None
    year_group: str
    school: str  # "" when none, or withheld (school_withheld)
    school_withheld: bool
    leaving_date: date | None
    leaving_reason: str
    reason: str
    reason_words: str
    first_flagged: date
    days_missing: int
    officer: str
    next_action: str
    next_action_words: str
    due_on: date | None
    overdue: bool
    on_list: bool
    possible_match: bool
    likely_school: str
    likely_pair: int | None
    stale_roll: bool
    export_row: list | None = None  # the CME export's row for the child (for the CSV), None when not on the list


_FACTS: Kept[tuple] = Kept()


def _facts_of_cases(engine, conn, as_of: date):
    """Every case's child's facts and likely missed link, and the newest list's flags, kept
    until a run computes the list again or the shield's scope changes (records, pairs and cases
    change only in runs; what an officer changes on a case is read fresh)."""
    scope = current_shield_scope(engine)  # a ruling can widen it between runs
    version = (as_of, conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar(),
               conn.execute(select(CmeCase.id).order_by(CmeCase.id.desc()).limit(1)).scalar(), scope)

    def compute():
        flags = {(r.child_id, r.la_code): r for r in conn.execute(
            select(CmeFlag.child_id, CmeFlag.la_code, CmeFlag.reason, CmeFlag.possible_match_in_review,
                   CmeFlag.residence_source, CmeFlag.stale_rolls).where(CmeFlag.as_of == as_of))}
        children = sorted(set(conn.execute(select(CmeCase.child_id)).scalars()))
        facts = facts_of_children(engine, children, scope)
        missed = likely_missed_links(engine, {c for c, _la in flags})
        return flags, facts, missed, scope.child_ids
    return _FACTS.get(engine, version, compute)


def work_list(engine, la_codes: list[str], as_of: date | None, filters: Filters, today: date,
              may_see_shielded: bool = False) -> list[WorkItem]:
    """The cases of these authorities that pass the filters, sorted."""
    return narrowed(cases_of(engine, la_codes, as_of, filters.status, today, may_see_shielded), filters)


def cases_of(engine, la_codes: list[str], as_of: date | None, status: str, today: date,
             may_see_shielded: bool = False, case_id: int | None = None) -> list[WorkItem]:
    """Every case of these authorities with this status (or the one case asked for), in no
    order. A shielded child's school (and the school a review pair points to) is shown only to
    a reader who may see it."""
    if not la_codes or as_of is None:
        return []
    where = [CmeCase.la_code.in_(la_codes), CmeCase.status == status]
    if case_id is not None:
        where.append(CmeCase.id == case_id)
    with engine.connect() as conn:
        flags, facts, missed, shielded_children = _facts_of_cases(engine, conn, as_of)
        cases = conn.execute(select(CmeCase.__table__).where(*where)).all()
    items = []
    for c in cases:
        flag, t = flags.get((c.child_id, c.la_code)), facts.get(c.child_id)
        likely = missed.get(c.child_id) if flag is not None else None
        shielded = c.child_id in shielded_children or bool(t and t.shielded)
        withheld = shielded and not may_see_shielded
        reason = flag.reason if flag is not None else c.reason
        items.append(WorkItem(
            c.id, c.child_id, c.la_code, c.status, c.outcome,
            f"{t.forename} {t.surname}".strip() if t else "", t.dob if t else None,
            age_on(t.dob, as_of) if t and t.dob else None, year_group(t.dob, as_of) if t and t.dob else "not known",
            "" if withheld or t is None else t.school, withheld and bool(t and t.school),
            t.leaving_date if t else None, t.leaving_reason if t else "",
            reason, REASONS.get(reason, reason), c.opened_on, (as_of - c.opened_on).days,
            c.officer or "", c.next_action or "", NEXT_ACTIONS.get(c.next_action or "", ("", 0))[0], c.due_on,
            c.status == "open" and c.due_on is not None and c.due_on < today, flag is not None,
            bool(flag is not None and flag.possible_match_in_review),
            "" if likely is None or (not may_see_shielded and (shielded or likely.other_child in shielded_children))
            else likely.school, None if likely is None else likely.pair_id,
            bool(flag is not None and flag.stale_rolls),
            None if flag is None else cme_row(flag, t, likely, shielded_children)))
    return items


def narrowed(items: list[WorkItem], filters: Filters) -> list[WorkItem]:
    """The items that pass the filters, sorted as they ask."""
    return _sorted([i for i in items if _passes(i, filters)], filters)


def _passes(i: WorkItem, f: Filters) -> bool:
    return ((not f.reason or i.reason == f.reason) and (not f.school or i.school == f.school)
            and (not f.year_group or i.year_group == f.year_group)
            and (not f.officer or (i.officer == "" if f.officer == "none" else i.officer == f.officer))
            and (not f.overdue or i.overdue == (f.overdue == "yes"))
            and (not f.possible_match or i.possible_match == (f.possible_match == "yes"))
            and (f.days_missing_min is None or i.days_missing >= f.days_missing_min))


def _sorted(items: list[WorkItem], f: Filters) -> list[WorkItem]:
    far = date.max
    key = {"days_missing": lambda i: (i.days_missing,), "name": lambda i: (i.name.split(" ")[-1:], i.name),
           "age": lambda i: (i.age if i.age is not None else -1,), "school": lambda i: (i.school,),
           "reason": lambda i: (i.reason,), "officer": lambda i: (i.officer,),
           "due_on": lambda i: (i.due_on or far,), "case": lambda i: (i.case_id,)}[f.sort]
    # Ties by case number, oldest first, whichever way the sort runs.
    ordered = sorted(items, key=lambda i: i.case_id)
    return sorted(ordered, key=key, reverse=f.descending)


def choices(items: list[WorkItem]) -> dict[str, list[str]]:
    """The values the filters can take on this list (schools, year groups, officers)."""
    return {"school": sorted({i.school for i in items if i.school}),
            "year_group": in_school_order({i.year_group for i in items}),
            "officer": sorted({i.officer for i in items if i.officer})}


def days_at_least(given: str, field_name: str, message: str, errors: dict) -> int | None:
    """A "at least this many days" filter's value: None when not given; a value that is not a
    small whole number puts `message` in errors under its field."""
    if not given:
        return None
    if given.isascii() and given.isdigit() and len(given) <= 5:
        return int(given)
    errors[field_name] = message
    return None


def sort_asked(get, sorts: dict, default: str) -> tuple[str, bool]:
    """(sort key, descending) from a page's query: an unknown key is the default; the order is
    as asked, else descending for the default sort (the longest first) and ascending otherwise."""
    sort = get("sort") if get("sort") in sorts else default
    order = get("order")
    return sort, (order == "descending" if order in ("ascending", "descending") else sort == default)


def sort_params(sort: str, descending: bool, default: str) -> dict[str, str]:
    """The query's sort and order for links that keep them ("" where the default holds)."""
    return {"sort": "" if sort == default else sort,
            "order": "" if descending == (sort == default) else ("descending" if descending else "ascending")}


def in_school_order(year_groups) -> list[str]:
    """Year groups as a school orders them: Reception, Year 1 to Year 11, then the rest by name."""
    order = {f"Year {n}": n for n in range(1, 12)} | {"Reception": 0}
    return sorted(year_groups, key=lambda y: (order.get(y, 99), y))


def cme_csv_rows(items: list[WorkItem]):
    """The CSV of a filtered list: for a child on the newest list, the CME export's columns as
    `rollcall export cme` writes them (a shielded child's location withheld whoever asks: the
    file leaves the service), then the case's; for an open case whose child has left the list,
    the case's columns only."""
    yield CME_COLUMNS + WORK_COLUMNS
    for i in items:
        front = (i.export_row if i.export_row is not None
                 else [i.child_id, i.la_code, i.reason] + [""] * (len(CME_COLUMNS) - 3))
        yield front + [i.case_id, i.status, "" if i.age is None else i.age, i.year_group, i.days_missing,
                       i.reason_words, i.officer, i.next_action, i.due_on or "", "Y" if i.overdue else "N"]
