"""Unusual access, found in the audit log: each rule reads the entries of a window (and the
users' history where it needs a baseline) and returns findings, which the access asset raises
as alerts (oversight.access_alerts) for the privacy officers. A finding names the rule, the user,
the children by register id and a dedupe key (one alert per rule, user and day, or per child)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select, text

from oversight.access_alerts import raise_access_alert
from oversight.lookup import child_visible
from oversight.settings import Limits, oversight_settings
from oversight.shield import shield_scope
from register import AuditEntry, CmeFlag, SourceRecord

LONDON = ZoneInfo("Europe/London")
LOOKS = ("view_child", "view_case", "view_pair", "view_record", "search", "view_cme_list")





@dataclass(frozen=True)
class Finding:
    rule: str
    actor: str
    children: tuple[str, ...]
    dedupe_key: str
    detail: dict


def read_entries(engine, since: datetime) -> pd.DataFrame:
    """Entries since a time, one row per (entry, child) for entries naming children."""
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action,
                                   AuditEntry.children, AuditEntry.reason, AuditEntry.detail)
                            .where(AuditEntry.at >= since).order_by(AuditEntry.id)).all()
    return entries_frame(rows)


def entries_frame(rows) -> pd.DataFrame:
    """(id, at, actor, action, children, reason, detail) rows as the rules read them: one row
    per entry and child (an entry naming no child keeps one row, child NaN)."""
    frame = pd.DataFrame(rows, columns=["id", "at", "actor", "action", "children", "reason", "detail"])
    frame["at"] = pd.to_datetime(frame["at"])
    frame["child"] = frame["children"].fillna("").str.split()
    frame = frame.explode("child")
    frame.loc[frame["child"] == "", "child"] = None
    return frame


def last_seen_before(engine, since: datetime) -> dict[str, datetime]:
    """Each user's newest entry before a time (for dormant accounts)."""
    with engine.connect() as conn:
        return dict(conn.execute(select(AuditEntry.actor, func.max(AuditEntry.at)).where(AuditEntry.at < since)
                                 .group_by(AuditEntry.actor)).all())


def user_surnames(engine) -> dict[str, str]:
    """Staff surnames from the casework service's users (Django's auth_user), upper case."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT username, last_name FROM auth_user WHERE last_name <> ''")).all()
    except Exception:  # no service tables yet (a register the service never ran on)
        return {}
    return {u: s.strip().upper() for u, s in rows if s and s.strip()}


def child_surnames(engine, children: set[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    ids = sorted(children)
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            for child, surname, alt in conn.execute(select(SourceRecord.child_id, SourceRecord.surname,
                                                           SourceRecord.alt_surname)
                                                    .where(SourceRecord.child_id.in_(ids[i:i + 5000]))):
                out.setdefault(child, set()).update(s.strip().upper() for s in (surname, alt) if s and s.strip())
    return out


def find_unusual_access(window: pd.DataFrame, history: pd.DataFrame, *, shielded: set[str],
                        surnames_of_users: dict[str, str], surnames_of_children: dict[str, set[str]],
                        last_seen: dict[str, datetime], limits: Limits | None = None) -> list[Finding]:
    """Every rule over the window's entries (exploded by child); `history` is the 28 days before
    it (the users' usual daily counts). Pure: frames and sets in, findings out."""
    limits = limits or oversight_settings().limits
    if window.empty:
        return []
    looks = window[window["action"].isin(LOOKS) & window["child"].notna()].copy()
    looks["day"] = looks["at"].dt.strftime("%Y-%m-%d")
    looks["hour"] = looks["at"].dt.strftime("%Y-%m-%dT%H")
    return [*_over_the_hourly_limit(looks, limits), *_more_than_usual(looks, history, limits),
            *_out_of_hours(looks, limits), *_outside_caseload(looks, limits), *_shielded_looks(looks, shielded),
            *_same_surname(looks, surnames_of_users, surnames_of_children), *_many_viewers(looks, limits),
            *_bulk_exports(window, limits), *_dormant_accounts(window, last_seen, limits)]


def _over_the_hourly_limit(looks: pd.DataFrame, limits: Limits) -> list[Finding]:
    found = []
    for (actor, hour), group in looks.groupby(["actor", "hour"]):
        n = group["child"].nunique()
        if n > limits.hourly_children:
            found.append(Finding("hourly_limit", actor, (), f"hourly_limit:{actor}:{hour}",
                                 {"children_in_the_hour": int(n), "limit": limits.hourly_children, "hour": hour}))
    return found


def _more_than_usual(looks: pd.DataFrame, history: pd.DataFrame, limits: Limits) -> list[Finding]:
    usual, found = {}, []
    if not history.empty:
        past = history[history["action"].isin(LOOKS) & history["child"].notna()].copy()
        past["day"] = past["at"].dt.strftime("%Y-%m-%d")
        usual = past.groupby(["actor", "day"])["child"].nunique().groupby("actor").median().to_dict()
    for (actor, day), group in looks.groupby(["actor", "day"]):
        n = group["child"].nunique()
        allowed = max(limits.usual_floor, limits.usual_factor * usual.get(actor, 0))
        if n > allowed:
            found.append(Finding("too_many_children", actor, (), f"too_many_children:{actor}:{day}",
                                 {"children_today": int(n), "usual_per_day": float(usual.get(actor, 0)), "day": day}))
    return found


def _out_of_hours(looks: pd.DataFrame, limits: Limits) -> list[Finding]:
    local = looks["at"].dt.tz_localize("UTC").dt.tz_convert(LONDON)
    late = looks[(local.dt.hour < limits.day_starts) | (local.dt.hour >= limits.day_ends) | (local.dt.weekday >= 5)]
    return [Finding("out_of_hours", actor, tuple(sorted(set(group["child"])))[:50], f"out_of_hours:{actor}:{day}",
                    {"looks": int(group["id"].nunique()), "day": day})
            for (actor, day), group in late.groupby(["actor", "day"])]


def _outside_caseload(looks: pd.DataFrame, limits: Limits) -> list[Finding]:
    outside = looks[(looks["action"] == "view_child") & looks["reason"].notna()]
    return [Finding("outside_caseload", actor, tuple(sorted(set(group["child"])))[:50],
                    f"outside_caseload:{actor}:{day}", {"children": int(group["child"].nunique())})
            for (actor, day), group in outside.groupby(["actor", "day"])
            if group["child"].nunique() >= limits.outside_caseload_per_day]


def _shielded_looks(looks: pd.DataFrame, shielded: set[str]) -> list[Finding]:
    seen = looks[looks["child"].isin(shielded)]
    return [Finding("shielded_access", actor, tuple(sorted(set(group["child"]))), f"shielded_access:{actor}:{day}",
                    {"looks": int(group["id"].nunique())})
            for (actor, day), group in seen.groupby(["actor", "day"])]


def _same_surname(looks: pd.DataFrame, surnames_of_users: dict[str, str],
                  surnames_of_children: dict[str, set[str]]) -> list[Finding]:
    found = []
    for actor, surname in surnames_of_users.items():
        mine = looks[looks["actor"] == actor]
        kin = sorted({c for c in mine["child"] if surname in surnames_of_children.get(c, set())})
        found += [Finding("same_surname", actor, (child,), f"same_surname:{actor}:{child}", {}) for child in kin]
    return found


def _many_viewers(looks: pd.DataFrame, limits: Limits) -> list[Finding]:
    found = []
    for (child, day), group in looks.groupby(["child", "day"]):
        viewers = group["actor"].nunique()
        if viewers >= limits.viewers_per_child:
            found.append(Finding("many_viewers", "(several users)", (child,), f"many_viewers:{child}:{day}",
                                 {"users": int(viewers), "day": day}))
    return found


def _bulk_exports(window: pd.DataFrame, limits: Limits) -> list[Finding]:
    found = []
    exports = window[window["action"].str.startswith("export")]
    for entry_id, group in exports.groupby("id"):
        n = int(group["child"].notna().sum())
        action = group["action"].iloc[0]
        if n >= limits.bulk_export_children or action == "export_register":
            found.append(Finding("bulk_export", group["actor"].iloc[0], (), f"bulk_export:{entry_id}",
                                 {"action": action, "children": n}))
    return found


def _dormant_accounts(window: pd.DataFrame, last_seen: dict[str, datetime], limits: Limits) -> list[Finding]:
    found = []
    for row in window.sort_values("id").groupby("actor").head(1).itertuples():
        before = last_seen.get(row.actor)
        if before is not None and row.at - before >= timedelta(days=limits.dormant_days):
            found.append(Finding("dormant_account", row.actor, (), f"dormant_account:{row.actor}:{row.at:%Y-%m-%d}",
                                 {"days_quiet": (row.at - before).days}))
    return found


def user_authorities(engine) -> dict[str, set[str]]:
    """Each service user's authorities (the service's membership table), for routing alerts
    and the outside-authorities rule."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT u.username, m.la_code FROM auth_user u "
                                     "JOIN casework_authoritymembership m ON m.user_id = u.id")).all()
    except Exception:  # no service tables yet
        return {}
    out: dict[str, set[str]] = {}
    for user, la in rows:
        out.setdefault(user, set()).add(la)
    return out


def outside_authorities(engine, window: pd.DataFrame, memberships: dict[str, set[str]]) -> list[Finding]:
    """Looks by a service user at a child with no record in any of their authorities (the pages
    refuse these, so one found means a defence failed or a path was missed)."""
    found = []
    looks = window[window["action"].isin(LOOKS) & window["child"].notna() & window["actor"].isin(memberships)]
    for (actor, child), _group in looks.groupby(["actor", "child"]):
        if not child_visible(engine, child, sorted(memberships[actor])):
            found.append(Finding("outside_authorities", actor, (child,), f"outside_authorities:{actor}:{child}", {}))
    return found


def check_access(engine, now: datetime, window: timedelta = timedelta(hours=24),
                 limits: Limits | None = None) -> list[Finding]:
    """Every rule over the last `window` of the audit log (the 28 days before it as history)."""
    since = now - window
    recent = read_entries(engine, since)
    if recent.empty:
        return []
    history = read_entries(engine, since - timedelta(days=28))
    history = history[history["at"] < since]
    memberships = user_authorities(engine)
    children = set(recent["child"].dropna())
    findings = find_unusual_access(
        recent, history, shielded=set(shield_scope(engine).child_ids) & children,
        surnames_of_users=user_surnames(engine), surnames_of_children=child_surnames(engine, children),
        last_seen=last_seen_before(engine, since), limits=limits)
    return findings + outside_authorities(engine, recent, memberships)


def raise_findings(engine, findings: list[Finding]) -> int:
    """Each finding as an access alert for the privacy officers of the user's authorities (of the
    child's, when many users looked at one child). How many were new."""
    memberships = user_authorities(engine)
    raised = 0
    for f in findings:
        las = memberships.get(f.actor, set())
        if not las and f.children:
            las = _authorities_of_children(engine, f.children)
        if raise_access_alert(engine, f.rule, f.actor, f.dedupe_key, la_codes=las, children=f.children, detail=f.detail):
            raised += 1
    return raised


def _authorities_of_children(engine, children) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(SourceRecord.feed, SourceRecord.provider, SourceRecord.residence_la)
                            .where(SourceRecord.child_id.in_(list(children)))).all()
        flags = set(conn.execute(select(CmeFlag.la_code).where(CmeFlag.child_id.in_(list(children)))).scalars())
    las = {p if f == "la" else p[:3] if f == "school" else r for f, p, r in rows}
    return {la for la in las | flags if la}
