"""An authority's register as an officer works it: filters and sorting from a page's query, the
same names the CME list uses where they mean the same (school, year_group, overdue, status, sort,
order), so a filtered register is a link an officer can keep."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from cme import days_at_least, in_school_order, sort_asked, sort_params
from cnis.entries import EntryItem
from cnis.membership import BASES

SORTS = {"days": "Days on the register", "name": "Name", "age": "Age", "basis": "Basis", "school": "School",
         "due_on": "Next duty due"}


@dataclass(frozen=True)
class RegisterFilters:
    status: str = "open"
    basis: str = ""
    school: str = ""
    year_group: str = ""
    overdue: str = ""  # "yes" or "no"
    days_min: int | None = None
    sort: str = "days"
    descending: bool = True
    errors: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, query) -> RegisterFilters:
        errors = {}
        get = lambda name: (query.get(name) or "").strip()  # noqa: E731 - a short reader
        basis = get("basis") if get("basis") in BASES else ""
        if get("basis") and not basis:
            errors["basis"] = "Select a basis from the list"
        days = days_at_least(get("days_min"), "days_min", "Days on the register must be a whole number, like 30",
                             errors)
        sort, descending = sort_asked(get, SORTS, "days")
        return cls("ended" if get("status") == "ended" else "open", basis, get("school")[:32],
                   get("year_group")[:16], get("overdue") if get("overdue") in ("yes", "no") else "", days, sort,
                   descending, errors)

    def query(self, **changes) -> str:
        values = {"status": "" if self.status == "open" else self.status, "basis": self.basis, "school": self.school,
                  "year_group": self.year_group, "overdue": self.overdue,
                  "days_min": "" if self.days_min is None else str(self.days_min),
                  **sort_params(self.sort, self.descending, "days")}
        values.update({k: ("" if v is None else str(v)) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v})


def narrowed(items: list[EntryItem], f: RegisterFilters) -> list[EntryItem]:
    kept = [i for i in items if (not f.basis or i.basis == f.basis) and (not f.school or i.school == f.school)
            and (not f.year_group or i.year_group == f.year_group)
            and (not f.overdue or i.overdue == (f.overdue == "yes"))
            and (f.days_min is None or i.days_on_register >= f.days_min)]
    far = date.max
    key = {"days": lambda i: (i.days_on_register,), "name": lambda i: (i.name.split(" ")[-1:], i.name),
           "age": lambda i: (i.age if i.age is not None else -1,), "basis": lambda i: (i.basis,),
           "school": lambda i: (i.school,), "due_on": lambda i: (i.due_on or far,)}[f.sort]
    return sorted(sorted(kept, key=lambda i: i.entry_id), key=key, reverse=f.descending)


def choices(items: list[EntryItem]) -> dict[str, list[str]]:
    return {"school": sorted({i.school for i in items if i.school}),
            "year_group": in_school_order({i.year_group for i in items})}
