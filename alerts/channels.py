"""Deliver access alerts to the privacy officers of the authorities they concern, by e-mail
over SMTP. Configured by the environment:

- ROLLCALL_SMTP_HOST, ROLLCALL_SMTP_PORT (default 25), ROLLCALL_SMTP_STARTTLS=1 to upgrade;
- ROLLCALL_ALERT_FROM, the sender;
- ROLLCALL_PRIVACY_OFFICERS, who hears for which authority: `880=po@la880.gov.uk,881=...`
  (`*=address` hears for every authority).

A message names the rule, the user and the register ids of the children, never a child's
personal data, and links to the administrators' alerts page. An alert that cannot be sent
stays undelivered and is sent again by the next `deliver_alerts` (the unusual-access asset
runs it every time), so an SMTP outage loses nothing.
"""
from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage

from register.access_alerts import mark_delivered, undelivered

log = logging.getLogger(__name__)

RULE_TITLES = {
    "break_glass": "a user opened a shielded child's location (break-glass)",
    "too_many_children": "a user looked at far more children than usual",
    "hourly_limit": "a user looked at more children in an hour than the limit",
    "out_of_hours": "a user looked at children out of hours",
    "outside_caseload": "a user opened children outside their caseload",
    "shielded_access": "a user looked at shielded children",
    "same_surname": "a user looked at a child who shares their surname",
    "many_viewers": "many users looked at one child",
    "bulk_export": "a bulk export",
    "dormant_account": "a dormant account was suddenly active",
}


def privacy_officers() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in os.environ.get("ROLLCALL_PRIVACY_OFFICERS", "").split(","):
        if "=" in part:
            la, address = (x.strip() for x in part.split("=", 1))
            if la and address:
                out.setdefault(la, []).append(address)
    return out


def recipients(la_codes: list[str]) -> list[str]:
    officers = privacy_officers()
    found = {a for la in la_codes for a in officers.get(la, [])} | set(officers.get("*", []))
    return sorted(found)


def message(alert, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = os.environ.get("ROLLCALL_ALERT_FROM", "rollcall@localhost")
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"Rollcall access alert {alert.id}: {RULE_TITLES.get(alert.rule, alert.rule)}"
    base = os.environ.get("ROLLCALL_SERVICE_URL", "").rstrip("/")
    msg.set_content(
        f"Rule: {alert.rule} ({RULE_TITLES.get(alert.rule, alert.rule)})\n"
        f"User: {alert.actor}\n"
        f"Authorities: {alert.la_codes or '-'}\n"
        f"Children (register ids): {alert.children or '-'}\n"
        f"Raised at: {alert.raised_at.isoformat(timespec='seconds')} UTC\n\n"
        f"See the alert, the user's audit trail and suspend the account if needed: {base}/alerts\n")
    return msg


def deliver_alerts(engine) -> dict[str, int]:
    """Send every undelivered alert; counts of sent, failed and those with nobody to hear."""
    host = os.environ.get("ROLLCALL_SMTP_HOST")
    counts = {"sent": 0, "failed": 0, "no_recipient": 0}
    pending = undelivered(engine)
    if not pending:
        return counts
    if not host:
        counts["failed"] = len(pending)
        log.error("access alerts: %d waiting but ROLLCALL_SMTP_HOST is not set", len(pending))
        return counts
    port = int(os.environ.get("ROLLCALL_SMTP_PORT", "25"))
    try:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if os.environ.get("ROLLCALL_SMTP_STARTTLS") == "1":
                smtp.starttls()
            for alert in pending:
                to = recipients((alert.la_codes or "").split())
                if not to:
                    counts["no_recipient"] += 1
                    log.error("access alert %d: no privacy officer is configured for %s", alert.id,
                              alert.la_codes or "its authorities")
                    continue
                smtp.send_message(message(alert, to))
                mark_delivered(engine, alert.id)
                counts["sent"] += 1
    except (OSError, smtplib.SMTPException) as exc:
        counts["failed"] = len(pending) - counts["sent"] - counts["no_recipient"]
        log.error("access alerts: SMTP to %s:%d failed (%s); %d left to send next time", host, port,
                  type(exc).__name__, counts["failed"])
    return counts
