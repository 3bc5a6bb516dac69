"""Raising an alert: a line in the log and the alerts file (ROLLCALL_ALERTS), and a message to
people through the routes file, kept in the register's outbox until sent (alerts.channels).
Fields are run ids, step and check names, error classes, provider ids, counts and dates;
never anything from a child's record."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from alerts.channels import deliver
from alerts.outbox import enqueue
from alerts.settings import alert_settings
from register import open_register, utc_stamp

log = logging.getLogger("rollcall.alerts")


def alerts_file() -> Path:
    return alert_settings().alerts_file


TITLES = {"run_failed": "a pipeline run failed", "checks_failed": "a pipeline check failed",
          "provider_late": "a provider's extract is late",
          "cme_not_refreshed": "the CME list has not been refreshed for a day",
          "cme_count_changed": "an authority's CME flag count dropped to zero or moved sharply",
          "no_current_roll": "an authority has no current school roll",
          "linked_share_fell": "the share of records linked fell",
          "disk_full": "a disk Rollcall writes to is full"}


def raise_alert(kind: str, db_url: str | None = None, **fields) -> None:
    """An alert line in Dagster's log and the alerts file, and, with the register known
    (db_url, else the configured one: alerts.settings), a message through the routes file to people (alerts.channels),
    kept in the outbox until it is sent."""
    line = json.dumps({"at": utc_stamp(), "alert": kind, **fields})
    log.error("ALERT %s", line)
    path = alerts_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(line + "\n")
    db_url = db_url or alert_settings().db_url
    if db_url:
        _send(db_url, kind, fields)


NEXT_STEP = {
    "provider_late": "Ask the provider for its extract; see docs/operations.md (Late providers).",
    "cme_not_refreshed": "The CME list is out of date: see the last relink run in Dagster and run it again.",
    "cme_count_changed": "Check the authority's extracts and the last run before acting on the list.",
    "no_current_roll": "No school of the authority has a current roll: its CME flags cannot be trusted.",
    "disk_full": "Free space on the register's disk or the archive's. Nothing was half stored: each file waits, "
                 "collected or in its inbox, and loads at the next run.",
}


def _send(db_url: str, kind: str, fields: dict) -> None:
    try:
        engine = open_register(db_url)
        body = "".join(f"{k.replace('_', ' ').capitalize()}: {', '.join(map(str, v)) if isinstance(v, list) else v}\n"
                       for k, v in fields.items())
        subject = f"Rollcall: {TITLES.get(kind, kind)}" + (f" (LA {fields['authority']})" if fields.get("authority")
                                                           else "")
        enqueue(engine, kind, subject, body + "\n" + NEXT_STEP.get(kind, "See the run in Dagster.") + "\n",
                fields.get("authority") or None)
        deliver(engine)
    except Exception as exc:  # the alert line above stands; the outbox is retried by the next delivery
        log.error("ALERT %s could not be queued or sent: %s", kind, type(exc).__name__)
