"""Nothing new costs nothing: a fingerprint of everything a run reads (the file ledger, the
analysts' rulings, the CME list and its date, the postcode directory, the settings and the
matcher's version), kept after each command-line run with its exit code. A run whose
fingerprint matches, with no complete file waiting in any inbox, has nothing to do."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from cme import CME_PENDING
from linkage import newest_ruling_change
from register import CandidatePair, CmeList, ExtractFile, fingerprint, get_state, set_state
from sources import reference_version

LAST_RUN = "last_command_line_run"


def inputs_fingerprint(engine, as_of: date, settings: dict) -> str:
    with engine.connect() as conn:
        ledger = tuple(conn.execute(select(func.count(), func.max(ExtractFile.id), func.max(ExtractFile.processed_at),
                                           func.max(ExtractFile.collected_at))).one())
        statuses = tuple(conn.execute(select(ExtractFile.status, func.count()).group_by(ExtractFile.status)
                                      .order_by(ExtractFile.status)).all())
        listed = conn.execute(select(CmeList.computed_at).where(CmeList.as_of == as_of)).scalar()
        # The review queue: a pair waiting or ruled changes the CME list's marks.
        queue = tuple(conn.execute(select(func.count(), func.max(CandidatePair.id),
                                          func.count(CandidatePair.analyst_decision))).one())
    return fingerprint(ledger, statuses, queue, newest_ruling_change(engine), as_of.isoformat(), listed,
                       get_state(engine, CME_PENDING), reference_version(engine), sorted(settings.items()))


def remember_run(engine, inputs: str, code: int) -> None:
    set_state(engine, LAST_RUN, json.dumps({"inputs": inputs, "code": code}))


def unchanged_since_last_run(engine, inputs: str) -> int | None:
    """The last run's exit code when its inputs were these; None when anything changed."""
    kept = get_state(engine, LAST_RUN)
    if not kept:
        return None
    last = json.loads(kept)
    return int(last["code"]) if last.get("inputs") == inputs else None
