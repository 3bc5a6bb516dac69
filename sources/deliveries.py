"""Late and missing providers, and stale rolls. Each provider's cadence (how often an extract is
expected) is configured, else learned from its history (the median gap between its extract
dates, once it has sent three), else its feed's default. A provider whose next extract is
past due by more than the grace days is late; one whose newest extract is older than
`stale_after_days` has a stale roll, and its records are marked stale wherever they are shown.
The cadence file (ROLLCALL_CADENCE, YAML):

    stale_after_days: 45          # records from an older extract are stale
    late_grace_days: 7            # a provider is late this long after its due date
    defaults: {school: 30, health: 30, la: 30}
    providers: {"8802001": 7, A81001: 14}
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml
from sqlalchemy import delete, func, insert, select

from register import ExtractFile, ProviderStatus, QuarantinedRow

DEFAULT_CADENCE = {"school": 30, "health": 30, "la": 30}
LEARN_AFTER = 3  # extracts before a cadence is learned from a provider's own history
# A file that counts as a delivery: applied, or the same content as the provider's current one
# sent again under a new date (nothing changed: the roll is confirmed as of that date).
DELIVERED = ("accepted", "duplicate")


class CadenceError(ValueError):
    """The cadence file cannot be used; the message says why (it holds no data)."""
    safe_message = True


@dataclass(frozen=True)
class Cadence:
    stale_after_days: int = 45
    late_grace_days: int = 7
    defaults: dict = field(default_factory=lambda: dict(DEFAULT_CADENCE))
    providers: dict = field(default_factory=dict)


def _days(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3660:
        raise CadenceError(f"{what} must be a whole number of days between 1 and 3660")
    return value


def load_cadence(path: str | Path | None = None) -> Cadence:
    """The cadence file (the run's settings: ROLLCALL_CADENCE); the defaults when none is given."""
    if not path:
        return Cadence()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CadenceError(f"cannot read the cadence file {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise CadenceError("the cadence file must be a mapping")
    defaults = {**DEFAULT_CADENCE, **{str(k): _days(v, f"defaults.{k}") for k, v in (data.get("defaults") or {}).items()}}
    providers = {str(k): _days(v, f"providers.{k}") for k, v in (data.get("providers") or {}).items()}
    return Cadence(_days(data.get("stale_after_days", 45), "stale_after_days"),
                   _days(data.get("late_grace_days", 7), "late_grace_days"), defaults, providers)


def authority_of(provider: str, feed: str | None) -> str:
    """The authority a provider reports to: a school's LAESTAB starts with its LA code, an
    authority is its own; a health provider serves several (none)."""
    if feed == "school" and len(provider) == 7:
        return provider[:3]
    return provider if feed == "la" else ""


@dataclass(frozen=True)
class ProviderDelivery:
    provider: str
    feed: str | None
    la_code: str
    last_extract: date | None
    last_received: object
    extracts: int
    cadence_days: int
    cadence_source: str
    due: date | None
    late: bool
    stale: bool
    days_overdue: int = 0


def learned_cadence(dates: list[date]) -> int | None:
    days = sorted(set(dates))
    if len(days) < LEARN_AFTER:
        return None
    return max(1, round(statistics.median((b - a).days for a, b in zip(days, days[1:]))))


def provider_deliveries(engine, today: date, cadence: Cadence, expected: list[str] = ()) -> list[ProviderDelivery]:
    """Every provider that has sent a file, and every expected one (configured to deliver) that
    has not: when its newest delivered extract is dated, its cadence, when the next is due, and
    whether it is late and its roll stale. A provider that has never had an extract applied is
    late once the grace days have passed since it was first expected (today, for one never
    seen: its first check starts the clock)."""
    with engine.connect() as conn:
        rows = conn.execute(select(ExtractFile.provider, ExtractFile.feed, ExtractFile.extract_date,
                                   ExtractFile.collected_at)
                            .where(ExtractFile.status.in_(DELIVERED))).all()
        seen = dict(conn.execute(select(ExtractFile.provider, func.min(ExtractFile.collected_at))
                                 .group_by(ExtractFile.provider)).all())
        feeds = dict(conn.execute(select(ExtractFile.provider, func.max(ExtractFile.feed))
                                  .group_by(ExtractFile.provider)).all())
        first_checked = dict(conn.execute(select(ProviderStatus.provider, ProviderStatus.due)
                                          .where(ProviderStatus.last_extract.is_(None))).all())
    by_provider: dict[str, list] = {}
    for r in rows:
        by_provider.setdefault(r.provider, []).append(r)
    out = []
    for provider in sorted(set(by_provider) | set(seen) | set(expected)):
        mine = by_provider.get(provider, [])
        feed = feeds.get(provider) or _feed_of_id(provider)
        dates = [r.extract_date for r in mine if r.extract_date]
        learned = learned_cadence(dates)
        if provider in cadence.providers:
            days, source = cadence.providers[provider], "configured"
        elif learned:
            days, source = learned, "learned"
        else:
            days, source = cadence.defaults.get(feed or "", 30), "default"
        last = max(dates) if dates else None
        if last is not None:
            due = last + timedelta(days=days)
        else:  # nothing applied yet: expected since it was first seen or first checked
            first = seen.get(provider)
            due = first_checked.get(provider) or (first.date() if first else today)
        late = today > due + timedelta(days=cadence.late_grace_days)
        stale = last is None or (today - last).days > cadence.stale_after_days
        received = max((r.collected_at for r in mine), default=None)
        out.append(ProviderDelivery(provider, feed, authority_of(provider, feed), last, received, len(set(dates)),
                                    days, source, due, late, stale, max(0, (today - due).days)))
    return out


def _feed_of_id(provider: str) -> str | None:
    """The feed a provider's id implies, for one that has sent nothing yet."""
    if provider.isdigit():
        return {7: "school", 3: "la"}.get(len(provider))
    return "health"


def save_provider_status(engine, deliveries: list[ProviderDelivery], today: date) -> list[ProviderDelivery]:
    """Replace the provider status table; returns the late providers not yet alerted for their
    current due date (each late delivery is alerted once, and again when the next one is late)."""
    with engine.connect() as conn:
        alerted = dict(conn.execute(select(ProviderStatus.provider, ProviderStatus.alerted_due)).all())
    newly_late = [d for d in deliveries if d.late and alerted.get(d.provider) != d.due]
    with engine.begin() as conn:
        conn.execute(delete(ProviderStatus))
        if deliveries:
            conn.execute(insert(ProviderStatus), [{
                "provider": d.provider, "feed": d.feed, "la_code": d.la_code, "last_extract": d.last_extract,
                "last_received": d.last_received, "extracts": d.extracts, "cadence_days": d.cadence_days,
                "cadence_source": d.cadence_source, "due": d.due, "late": d.late, "stale": d.stale,
                "checked_on": today, "alerted_due": d.due if d.late else alerted.get(d.provider)}
                for d in deliveries])
    return newly_late


def provider_status(engine, la_codes: list[str] | None = None) -> list[ProviderStatus]:
    """The providers as last checked, late first; only those of these authorities when given
    (health providers, which serve several authorities, are shown to every authority)."""
    q = select(ProviderStatus).order_by(ProviderStatus.late.desc(), ProviderStatus.stale.desc(),
                                        ProviderStatus.provider)
    if la_codes is not None:
        q = q.where(ProviderStatus.la_code.in_([*la_codes, ""]))
    with engine.connect() as conn:
        return list(conn.execute(q))


def stale_rolls(engine) -> set[str]:
    """Providers whose roll was stale when deliveries were last checked (a provider that never
    delivered has no roll to be stale)."""
    return {p.provider for p in provider_status(engine) if p.stale and p.last_extract is not None}


def files_by_provider(engine, since, providers: list[str], processed: bool = False) -> dict[str, dict[str, int]]:
    """Per provider: files collected (or, with processed, files processed) since a moment, by
    status, with the rows accepted and quarantined: what one provider partition of a run did."""
    stamp = ExtractFile.processed_at if processed else ExtractFile.collected_at
    out = {p: {} for p in providers}
    with engine.connect() as conn:
        rows = conn.execute(select(ExtractFile.provider, ExtractFile.status, func.count(),
                                   func.coalesce(func.sum(ExtractFile.rows_accepted), 0),
                                   func.coalesce(func.sum(ExtractFile.rows_quarantined), 0))
                            .where(stamp >= since, ExtractFile.provider.in_(providers))
                            .group_by(ExtractFile.provider, ExtractFile.status)).all()
    for provider, status, files, accepted, quarantined in rows:
        mine = out[provider]
        mine[f"files_{status}"] = int(files)
        mine["rows_accepted"] = mine.get("rows_accepted", 0) + int(accepted)
        mine["rows_quarantined"] = mine.get("rows_quarantined", 0) + int(quarantined)
    return out


@dataclass(frozen=True)
class DeliveryProblem:
    """A file of a provider of these authorities that needs a person: held for the operator to
    release or reject, or accepted with rows quarantined (each column's reason and how many rows;
    never a cell's value). A school's quarantined row can become a false CME flag."""
    ledger_id: int
    provider: str
    name: str
    status: str
    extract_date: date | None
    collected_at: object
    rows_accepted: int
    rows_quarantined: int
    reasons: tuple[tuple[str, str, int], ...]  # (column, reason, rows)


def delivery_problems(engine, la_codes: list[str], limit: int = 200) -> list[DeliveryProblem]:
    """Held files and files with quarantined rows from the providers of these authorities (and
    the health providers, which serve several), the newest `limit` of them, newest first."""
    providers = {p.provider for p in provider_status(engine, la_codes)}
    with engine.connect() as conn:
        files = conn.execute(select(ExtractFile.id, ExtractFile.provider, ExtractFile.name, ExtractFile.status,
                                    ExtractFile.extract_date, ExtractFile.collected_at, ExtractFile.rows_accepted,
                                    ExtractFile.rows_quarantined)
                             .where((ExtractFile.status == "held") | (ExtractFile.rows_quarantined > 0))
                             .order_by(ExtractFile.collected_at.desc(), ExtractFile.id.desc())).all()
        files = [f for f in files if f.provider in providers][:limit]
        reasons: dict[int, list] = {}
        ids = [f.id for f in files]
        for i in range(0, len(ids), 500):
            for file_id, column, reason, n in conn.execute(
                    select(QuarantinedRow.file_id, QuarantinedRow.column, QuarantinedRow.reason, func.count())
                    .where(QuarantinedRow.file_id.in_(ids[i:i + 500]))
                    .group_by(QuarantinedRow.file_id, QuarantinedRow.column, QuarantinedRow.reason)):
                reasons.setdefault(file_id, []).append((column, reason, n))
    return [DeliveryProblem(f.id, f.provider, f.name, f.status, f.extract_date, f.collected_at, f.rows_accepted or 0,
                            f.rows_quarantined or 0, tuple(sorted(reasons.get(f.id, []), key=lambda r: -r[2])))
            for f in files]
