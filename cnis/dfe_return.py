"""The DfE's termly elective home education (EHE) and children missing education (CME) return,
one authority at a time, for a census date (early October, mid-January, mid-May): aggregate
counts only, never a child's data.

CME: the children on the CME list of the census date by sex, year group, time missing education
(since first flagged) and primary reason; and the children on the list at any time in the school
year up to the date. EHE: the children home educated on the date by sex, year group and primary
reason; the starts in the school year by previous school type; the returns to school; and the
s.437(1) notices and school attendance orders issued and revoked in the school year.

Counts are exact, small ones too: the collection asks for the true figures and the DfE applies
its own suppression when it publishes. Every category the data holds is written, with a total."""
from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import func, or_, select

from cme import birth_dates_and_sexes, cme_list_date, time_missing, write_private_csv, year_group
from cnis.entries import previous_school_type
from register import CmeFlag, CnisEntry, CnisStep, SourceRecord

COLUMNS = ["la_code", "census_date", "section", "measure", "category", "count"]
SEXES = {"M": "boy", "F": "girl"}


def _order(item: tuple) -> tuple:
    """Year groups in school order (Reception, Year 1 ... Year 11, then ages), the rest by name."""
    k = item[0]
    if k == "Reception":
        return (0, 0, k)
    if k.startswith("Year ") and k[5:].isdigit():
        return (0, int(k[5:]), k)
    if k.startswith("age ") and k[4:].isdigit():
        return (1, int(k[4:]), k)
    return (2, 0, k)


def school_year_start(on: date) -> date:
    return date(on.year if on.month >= 9 else on.year - 1, 9, 1)


def authority_return(engine, la_code: str, census: date) -> list[tuple]:
    """The return's rows (COLUMNS) for one authority. NoCmeList when no CME list was computed
    for the census date (run `rollcall run --as-of DATE` on the census date)."""
    census = cme_list_date(engine, census)
    start = school_year_start(census)
    rows: list[tuple] = []

    def add(section: str, measure: str, counts: Counter) -> None:
        rows.append((la_code, census.isoformat(), section, measure, "total", sum(counts.values())))
        rows.extend((la_code, census.isoformat(), section, measure, k, n) for k, n in sorted(counts.items(), key=_order))

    def one(section: str, measure: str, n: int) -> None:
        rows.append((la_code, census.isoformat(), section, measure, "total", n))

    with engine.connect() as conn:
        flags = conn.execute(select(CmeFlag.child_id, CmeFlag.reason)
                             .where(CmeFlag.as_of == census, CmeFlag.la_code == la_code)).all()
        first = dict(conn.execute(select(CmeFlag.child_id, func.min(CmeFlag.as_of))
                                  .where(CmeFlag.la_code == la_code, CmeFlag.as_of <= census)
                                  .group_by(CmeFlag.child_id)).all())
        in_year = set(conn.execute(select(CmeFlag.child_id).where(
            CmeFlag.la_code == la_code, CmeFlag.as_of >= start, CmeFlag.as_of <= census)).scalars())
        ehe = conn.execute(select(CnisEntry.child_id, CnisEntry.detail).where(
            CnisEntry.la_code == la_code, CnisEntry.basis == "EHE", CnisEntry.started_on <= census,
            or_(CnisEntry.ended_on.is_(None), CnisEntry.ended_on > census))).all()
        # Home education that began in the school year (by its own date, not the day the
        # register first saw it), of children on the register on the census date or since left.
        starts = conn.execute(select(CnisEntry.child_id).where(
            CnisEntry.la_code == la_code, CnisEntry.basis == "EHE", CnisEntry.basis_since >= start,
            CnisEntry.basis_since <= census, CnisEntry.started_on <= census)).scalars().all()
        returns = conn.execute(select(func.count()).select_from(CnisEntry).where(
            CnisEntry.la_code == la_code, CnisEntry.basis == "EHE", CnisEntry.end_reason == "ON_ROLL",
            CnisEntry.ended_on >= start, CnisEntry.ended_on <= census)).scalar()
        steps = Counter(conn.execute(select(CnisStep.kind).where(
            CnisStep.la_code == la_code, CnisStep.kind.in_(["NOTICE_S437", "SAO_ISSUED", "SAO_REVOKED"]),
            CnisStep.opened_on >= start, CnisStep.opened_on <= census)).scalars())
        people = birth_dates_and_sexes(conn, sorted({f.child_id for f in flags} | {e.child_id for e in ehe}))
        previous = _previous_schools(conn, list(starts))

    def sex(c):
        return SEXES.get((people.get(c, (None, ""))[1] or ""), "not known")

    def year(c):
        dob = people.get(c, (None, ""))[0]
        return year_group(dob, census) if dob else "not known"

    add("CME", "by sex", Counter(sex(f.child_id) for f in flags))
    add("CME", "by year group", Counter(year(f.child_id) for f in flags))
    add("CME", "by time missing", Counter(time_missing((census - first.get(f.child_id, census)).days) for f in flags))
    add("CME", "by primary reason", Counter(f.reason for f in flags))
    one("CME", "at any time in the school year", len(in_year))
    add("EHE", "by sex", Counter(sex(e.child_id) for e in ehe))
    add("EHE", "by year group", Counter(year(e.child_id) for e in ehe))
    add("EHE", "by primary reason", Counter(e.detail or "NOT_KNOWN" for e in ehe))
    add("EHE", "starts in the school year by previous school type", Counter(previous.get(c, "none") for c in starts))
    one("EHE", "returns to school in the school year", returns)
    for kind, words in (("NOTICE_S437", "s.437(1) notices served"), ("SAO_ISSUED", "school attendance orders issued"),
                        ("SAO_REVOKED", "school attendance orders revoked")):
        one("EHE", f"{words} in the school year", steps.get(kind, 0))
    return rows


def _previous_schools(conn, ids: list[str]) -> dict[str, str]:
    """The type of the school each child left last (by the newest leaving date), from its LAESTAB."""
    out: dict[str, tuple] = {}
    for i in range(0, len(ids), 5000):
        for child_id, provider, left in conn.execute(
                select(SourceRecord.child_id, SourceRecord.provider, SourceRecord.end_date)
                .where(SourceRecord.child_id.in_(ids[i:i + 5000]), SourceRecord.feed == "school",
                       SourceRecord.active.is_(True))):
            key = left or date.min
            if child_id not in out or key > out[child_id][0]:
                out[child_id] = (key, provider)
    return {c: previous_school_type(p) for c, (_d, p) in out.items()}


def authorities_on(engine, census: date) -> list[str]:
    """The authorities with a CME flag or a register entry: those a return is written for."""
    with engine.connect() as conn:
        las = set(conn.execute(select(CmeFlag.la_code).where(CmeFlag.as_of == census).distinct()).scalars())
        las |= set(conn.execute(select(CnisEntry.la_code).distinct()).scalars())
        las |= set(conn.execute(select(SourceRecord.provider).where(SourceRecord.feed == "la").distinct()).scalars())
    return sorted(la for la in las if la)


def write_returns(engine, census: date, out: Path, la_codes: list[str] | None = None) -> dict[str, Path]:
    """One file per authority: `out` itself for one authority asked by name, else
    <out's stem>_<LA>.csv beside it (or inside `out` when it is a folder)."""
    las = la_codes or authorities_on(engine, census)
    written = {}
    for la in las:
        if la_codes and len(la_codes) == 1:
            path = out
        elif out.suffix.lower() == ".csv":
            path = out.with_name(f"{out.stem}_{la}.csv")
        else:
            path = out / f"dfe-return_{la}_{census.isoformat()}.csv"
        write_private_csv(path, COLUMNS, authority_return(engine, la, census))
        written[la] = path
    return written
