"""The daily digest per authority: what arrived and what waits, so that silence itself is
noticed (a digest that does not come, or says nothing arrived, is news). Counts, dates and
provider ids only; never a child's data."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select

from oversight import review_queue
from register import CaseNote, CmeCase, CmeFlag, CmeList, ExtractFile, ProviderStatus


@dataclass(frozen=True)
class Digest:
    la_code: str
    since: datetime
    files_received: int
    files_rejected: int
    list_date: date | None
    list_computed: datetime | None
    flags: int
    new_flags: int
    flags_on_stale_rolls: int
    cases_open: int
    cases_without_a_note: int
    review_pairs_waiting: int
    late_providers: list[str] = field(default_factory=list)
    stale_rolls: list[str] = field(default_factory=list)

    def text(self, service_url: str = "") -> tuple[str, str]:
        when = self.list_date.isoformat() if self.list_date else "none computed"
        lines = [
            f"Authority: {self.la_code}",
            f"Since: {self.since.isoformat(timespec='minutes')} UTC",
            f"Files received: {self.files_received} (rejected: {self.files_rejected})",
            f"Newest CME list: {when}" + (f", computed {self.list_computed.isoformat(timespec='minutes')} UTC"
                                          if self.list_computed else ""),
            f"Children flagged: {self.flags} (new since the list before: {self.new_flags}; "
            f"resting on a stale roll: {self.flags_on_stale_rolls})",
            f"CME cases open: {self.cases_open} (no enquiry noted yet: {self.cases_without_a_note})",
            f"Review pairs waiting: {self.review_pairs_waiting}",
            f"Late providers: {', '.join(self.late_providers) or 'none'}",
            f"Stale rolls: {', '.join(self.stale_rolls) or 'none'}",
        ]
        if self.files_received == 0:
            lines.append("\nNothing arrived for this authority since the last digest.")
        if service_url:
            lines.append(f"\nCases and the review queue: {service_url.rstrip('/')}/")
        return f"Rollcall daily digest for LA {self.la_code}", "\n".join(lines) + "\n"


def _of_authority(la: str):
    return or_(ExtractFile.provider == la, func.substr(ExtractFile.provider, 1, 3) == la)


def authorities(engine) -> list[str]:
    """The authorities the register serves: those that send an authority feed, and those its
    CME flags and cases name."""
    with engine.connect() as conn:
        las = set(conn.execute(select(ExtractFile.provider).where(ExtractFile.feed == "la")).scalars())
        las |= set(conn.execute(select(CmeCase.la_code).distinct()).scalars())
    return sorted(la for la in las if la)


def authority_digest(engine, la: str, since: datetime) -> Digest:
    with engine.connect() as conn:
        files = dict(conn.execute(select(ExtractFile.status, func.count()).where(
            _of_authority(la), ExtractFile.collected_at >= since).group_by(ExtractFile.status)).all())
        lists = conn.execute(select(CmeList.as_of, CmeList.computed_at).order_by(CmeList.as_of.desc())
                             .limit(2)).all()
        newest = lists[0] if lists else None
        flagged = set() if newest is None else set(conn.execute(select(CmeFlag.child_id).where(
            CmeFlag.as_of == newest.as_of, CmeFlag.la_code == la)).scalars())
        on_stale = 0 if newest is None else conn.execute(select(func.count()).where(
            CmeFlag.as_of == newest.as_of, CmeFlag.la_code == la, CmeFlag.stale_rolls != "")).scalar()
        before = set() if len(lists) < 2 else set(conn.execute(select(CmeFlag.child_id).where(
            CmeFlag.as_of == lists[1].as_of, CmeFlag.la_code == la)).scalars())
        open_cases = conn.execute(select(func.count()).select_from(CmeCase).where(
            CmeCase.la_code == la, CmeCase.status == "open")).scalar()
        noted = select(CaseNote.case_id).distinct()
        unnoted = conn.execute(select(func.count()).select_from(CmeCase).where(
            CmeCase.la_code == la, CmeCase.status == "open", CmeCase.id.not_in(noted))).scalar()
        providers = conn.execute(select(ProviderStatus.provider, ProviderStatus.late, ProviderStatus.stale,
                                        ProviderStatus.last_extract)
                                 .where(ProviderStatus.la_code == la).order_by(ProviderStatus.provider)).all()
    waiting = len(review_queue(engine, [la], user="", limit=10**9))
    return Digest(la, since, sum(files.values()), files.get("rejected", 0),
                  newest.as_of if newest else None, newest.computed_at if newest else None,
                  len(flagged), len(flagged - before) if len(lists) > 1 else len(flagged), on_stale,
                  open_cases, unnoted, waiting,
                  [p.provider for p in providers if p.late],
                  [p.provider for p in providers if p.stale and p.last_extract is not None])
