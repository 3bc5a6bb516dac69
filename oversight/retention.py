"""Keeping children's data no longer than needed, and showing a child everything held.

Retention (`apply_retention`, run weekly by the retention job): periods from the environment,
in days —
- ROLLCALL_RETAIN_SUPERSEDED_DAYS (default 730): a record row superseded by a newer extract of
  the same child at the same provider, from an extract older than this, is deleted (a child's
  newest row is never deleted however old: it is the register);
- ROLLCALL_RETAIN_ARCHIVE_DAYS (default 730): an archived extract file older than this, once
  processed and no longer the source of any current record, is deleted from the raw archive
  (its ledger row stays, marked purged), with its quarantined rows;
- ROLLCALL_RETAIN_CLOSED_CASE_DAYS (default 2190, six years): a CME case closed longer ago than
  this is deleted with its notes, and so is a children-not-in-school register entry that ended
  longer ago, with its duties (the parents' details it showed live in the authority's records,
  kept as the first period says).
The audit log is not touched: its entries are kept longer than any of these (they are
append-only; see docs/operations.md).

Subject access (`subject_access_report`): everything the register holds about one child, for a
request under data protection law.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from linkage import current_child_id, history
from oversight.audit import entries
from oversight.settings import Periods, oversight_settings
from register import (
    CandidatePair,
    CaseNote,
    CmeCase,
    CmeFlag,
    CnisEntry,
    CnisStep,
    ExtractFile,
    QuarantinedRow,
    RecordCluster,
    RecordIndex,
    ReviewDecision,
    SourceRecord,
)

PURGED = "(purged by retention)"





def apply_retention(engine, today: date, periods: Periods | None = None) -> dict[str, int]:
    """Delete what has outlived its period; counts of what went."""
    periods = periods or oversight_settings().periods
    counts = {"superseded_rows_deleted": 0, "archived_files_purged": 0, "quarantined_rows_deleted": 0,
              "closed_cases_deleted": 0, "case_notes_deleted": 0}
    cutoff = today - timedelta(days=periods.superseded_days)
    newer = aliased(SourceRecord)
    newer_file = aliased(ExtractFile)
    with engine.begin() as conn:
        old = conn.execute(
            select(SourceRecord.id).join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
            .where(SourceRecord.active.is_(False), ExtractFile.extract_date < cutoff,
                   select(newer.id).join(newer_file, newer_file.id == newer.file_id)
                   .where(newer.record_key == SourceRecord.record_key,
                          newer_file.extract_date > ExtractFile.extract_date).exists())).scalars().all()
        for i in range(0, len(old), 5000):
            chunk = old[i:i + 5000]
            conn.execute(delete(RecordCluster).where(RecordCluster.record_id.in_(chunk)))
            conn.execute(delete(RecordIndex).where(RecordIndex.record_id.in_(chunk)))  # its names go with it
            counts["superseded_rows_deleted"] += conn.execute(delete(SourceRecord).where(SourceRecord.id.in_(chunk))
                                                              ).rowcount
    archive_cutoff = today - timedelta(days=periods.archive_days)
    with engine.begin() as conn:
        files = conn.execute(select(ExtractFile.id, ExtractFile.archive_path, ExtractFile.sha256).where(
            ExtractFile.status.in_(("accepted", "rejected", "duplicate")), ExtractFile.archive_path != "",
            ExtractFile.archive_path != PURGED,
            or_(ExtractFile.extract_date < archive_cutoff,
                ExtractFile.extract_date.is_(None) & (ExtractFile.collected_at < datetime.combine(archive_cutoff,
                                                                                                  datetime.min.time()))),
            ~select(SourceRecord.id).where(SourceRecord.file_id == ExtractFile.id,
                                           SourceRecord.active.is_(True)).exists())).all()
        for f in files:
            # Another, newer ledger row may share the archived bytes (a re-sent copy): keep them then.
            shared = conn.execute(select(func.count(ExtractFile.id)).where(
                ExtractFile.archive_path == f.archive_path, ExtractFile.id != f.id,
                ExtractFile.id.not_in([g.id for g in files]))).scalar()
            if not shared:
                Path(f.archive_path).unlink(missing_ok=True)
            conn.execute(update(ExtractFile).where(ExtractFile.id == f.id).values(archive_path=PURGED))
            counts["quarantined_rows_deleted"] += conn.execute(
                delete(QuarantinedRow).where(QuarantinedRow.file_id == f.id)).rowcount
            counts["archived_files_purged"] += 1
    case_cutoff = datetime.combine(today - timedelta(days=periods.closed_case_days), datetime.min.time())
    with engine.begin() as conn:
        cases = conn.execute(select(CmeCase.id).where(CmeCase.status == "closed", CmeCase.closed_at < case_cutoff)
                             ).scalars().all()
        if cases:
            counts["case_notes_deleted"] = conn.execute(delete(CaseNote).where(CaseNote.case_id.in_(cases))).rowcount
            counts["closed_cases_deleted"] = conn.execute(delete(CmeCase).where(CmeCase.id.in_(cases))).rowcount
        ended = conn.execute(select(CnisEntry.id).where(CnisEntry.ended_on < case_cutoff.date())).scalars().all()
        if ended:
            counts["register_duties_deleted"] = conn.execute(
                delete(CnisStep).where(CnisStep.entry_id.in_(ended))).rowcount
            counts["ended_register_entries_deleted"] = conn.execute(
                delete(CnisEntry).where(CnisEntry.id.in_(ended))).rowcount
    return counts


def subject_access_report(engine, child_id: str) -> dict | None:
    """Everything the register holds about one child: every record row with the file it came
    from, rows of theirs held back by validation, review pairs and analysts' decisions on their
    records, CME flags, cases and notes, their children-not-in-school register entries with the
    duties on them and the parents' details the authority gave (parents are data subjects too),
    and the audit log's entries naming them. None when no
    such child."""
    now = current_child_id(engine, child_id)
    if now is None:
        return None
    with Session(engine) as s:
        rows = s.execute(select(SourceRecord, ExtractFile.name, ExtractFile.extract_date)
                         .join(ExtractFile, ExtractFile.id == SourceRecord.file_id)
                         .where(SourceRecord.child_id == now).order_by(ExtractFile.extract_date, SourceRecord.id)).all()
        records = [{**{c.name: getattr(rec, c.name) for c in SourceRecord.__table__.columns},
                    "file": name, "extract_date": extract_date} for rec, name, extract_date in rows]
    with engine.connect() as conn:
        keys = sorted({r["record_key"] for r in records})
        held = [dict(r._mapping) for r in conn.execute(
            select(ExtractFile.name.label("file"), QuarantinedRow.row_no, QuarantinedRow.column,
                   QuarantinedRow.reason).join(ExtractFile, ExtractFile.id == QuarantinedRow.file_id)
            .where(QuarantinedRow.record_key.in_(keys)))]
        pairs = [dict(r._mapping) for r in conn.execute(
            select(CandidatePair.id, CandidatePair.key_a, CandidatePair.key_b, CandidatePair.match_probability,
                   CandidatePair.analyst_decision).where(or_(CandidatePair.key_a.in_(keys),
                                                             CandidatePair.key_b.in_(keys))))]
        decisions = [dict(r._mapping) for r in conn.execute(
            select(ReviewDecision.key_a, ReviewDecision.key_b, ReviewDecision.decision, ReviewDecision.reason,
                   ReviewDecision.decided_by, ReviewDecision.decided_at)
            .where(or_(ReviewDecision.key_a.in_(keys), ReviewDecision.key_b.in_(keys))))]
        flags = [dict(r._mapping) for r in conn.execute(
            select(CmeFlag.as_of, CmeFlag.la_code, CmeFlag.reason, CmeFlag.possible_match_in_review)
            .where(CmeFlag.child_id == now).order_by(CmeFlag.as_of))]
        cases = []
        for case in conn.execute(select(CmeCase).where(CmeCase.child_id == now)).all():
            notes = [dict(n._mapping) for n in conn.execute(
                select(CaseNote.written_at, CaseNote.author, CaseNote.kind, CaseNote.text)
                .where(CaseNote.case_id == case.id).order_by(CaseNote.written_at))]
            cases.append({"id": case.id, "la_code": case.la_code, "opened_on": case.opened_on, "status": case.status,
                          "outcome": case.outcome, "closed_at": case.closed_at, "officer": case.officer,
                          "next_action": case.next_action, "due_on": case.due_on, "found_on": case.found_on,
                          "found_at": case.found_at, "found_evidence": case.found_evidence, "notes": notes})
        register_entries = []
        for e in conn.execute(select(CnisEntry.__table__).where(CnisEntry.child_id == now).order_by(CnisEntry.id)).all():
            steps = [dict(st._mapping) for st in conn.execute(
                select(CnisStep.kind, CnisStep.opened_on, CnisStep.due_on, CnisStep.done_on, CnisStep.outcome,
                       CnisStep.provider_name, CnisStep.author, CnisStep.note)
                .where(CnisStep.entry_id == e.id).order_by(CnisStep.opened_on, CnisStep.id))]
            register_entries.append({"id": e.id, "la_code": e.la_code, "basis": e.basis, "detail": e.detail,
                                     "started_on": e.started_on, "basis_since": e.basis_since,
                                     "ended_on": e.ended_on, "end_reason": e.end_reason,
                                     "extra_items": e.extra_items, "duties": steps})
    parents = sorted({(items.get(f"parent{n}_name", ""), items.get(f"parent{n}_address_line1", ""),
                       items.get(f"parent{n}_postcode", ""), items.get(f"parent{n}_educates", ""))
                      for r in records if r.get("register_items")
                      for items in [json.loads(r["register_items"])] for n in (1, 2) if items.get(f"parent{n}_name")})
    looks = entries(engine, child_id=now, limit=100_000)
    if now != child_id:
        looks += entries(engine, child_id=child_id, limit=100_000)

    events = [{"at": e.at, "event": e.event, "record_key": e.record_key, "other_child_id": e.other_child_id,
               "cause": e.cause, "decision_id": e.decision_id}
              for c in sorted({now, child_id}) for e in history(engine, c)]
    return {"child_id": now, "asked_for": child_id, "records": records, "held_back_by_validation": held,
            "review_pairs": pairs, "review_decisions": decisions, "cme_flags": flags, "cme_cases": cases,
            "not_in_school_register": register_entries,
            "parents": [{"name": n, "address_line1": a, "postcode": p, "educates": e} for n, a, p, e in parents],
            "history": events, "audit_entries": looks}
