"""Alerts that reach people: e-mail over SMTP and webhooks (Teams- and Slack-compatible JSON,
`{"text": ...}`), routed by kind and authority as the routes file says (alerts.routes).

Every alert goes through the outbox in the register (alerts.outbox) first, so one that
cannot be sent is kept, its failure counted and logged (the error's class, never a text that
could carry data), and sent at the next delivery: the hourly access job delivers, and so does
every new alert. An alert's text names a rule, a user, a run or a child's register id, never
a child's personal data.
"""
from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage

from alerts.outbox import enqueue, mark_failed, mark_sent, unsent
from alerts.routes import Routes, load_routes
from oversight import mark_delivered, undelivered

log = logging.getLogger(__name__)

RULE_TITLES = {
    "break_glass": "a user opened a shielded child's location (break-glass)",
    "too_many_children": "a user looked at far more children than usual",
    "hourly_limit": "a user looked at more children in an hour than the limit",
    "out_of_hours": "a user looked at children out of hours",
    "outside_caseload": "a user opened children outside their caseload",
    "outside_authorities": "a user looked at a child outside their authorities",
    "shielded_access": "a user looked at shielded children",
    "same_surname": "a user looked at a child who shares their surname",
    "many_viewers": "many users looked at one child",
    "bulk_export": "a bulk export",
    "dormant_account": "a dormant account was suddenly active",
}


def access_alert_text(alert, service_url: str) -> tuple[str, str]:
    title = RULE_TITLES.get(alert.rule, alert.rule)
    body = (f"Rule: {alert.rule} ({title})\n"
            f"User: {alert.actor}\n"
            f"Authorities: {alert.la_codes or '-'}\n"
            f"Children (register ids): {alert.children or '-'}\n"
            f"Raised at: {alert.raised_at.isoformat(timespec='seconds')} UTC\n\n"
            f"See the alert, the user's audit trail and suspend the account if needed: "
            f"{service_url.rstrip('/')}/alerts\n")
    return f"Rollcall access alert {alert.id}: {title}", body


def queue_access_alerts(engine, routes: Routes) -> int:
    """Each access alert not yet queued goes to the outbox once per authority it concerns."""
    queued = 0
    for alert in undelivered(engine):
        subject, body = access_alert_text(alert, routes.service_url)
        for la in (alert.la_codes or "").split() or [None]:
            enqueue(engine, "access", subject, body, la)
            queued += 1
        mark_delivered(engine, alert.id)
    return queued


def send_email(smtp: dict, to: list[str], subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"] = smtp.get("from", "rollcall@localhost")
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(str(smtp.get("host", "localhost")), int(smtp.get("port", 25)), timeout=30) as conn:
        if smtp.get("starttls"):
            conn.starttls()
        conn.send_message(msg)


def post_webhook(url: str, subject: str, body: str) -> None:
    """Teams (incoming webhook) and Slack both take {"text": ...}."""
    data = json.dumps({"text": f"{subject}\n\n{body}"}).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status >= 300:
            raise OSError(f"webhook answered {answer.status}")


def deliver(engine, routes: Routes | None = None) -> dict[str, int]:
    """Queue new access alerts, then send every message in the outbox to its routes (the routes
    file unless given); counts of sent, failed (kept to retry)
    and those no route takes (kept too, and logged: someone must add a route)."""
    routes = routes if routes is not None else load_routes()
    queue_access_alerts(engine, routes)
    counts = {"sent": 0, "failed": 0, "no_recipient": 0}
    for message in unsent(engine):
        emails, hooks = routes.for_alert(message.kind, message.la_code)
        if not emails and not hooks:
            counts["no_recipient"] += 1
            log.error("alert %d (%s, authority %s): no route takes it; add one to the routes file", message.id,
                      message.kind, message.la_code or "-")
            continue
        try:
            if emails:
                if not routes.smtp.get("host"):
                    raise OSError("no smtp host in the routes file")
                send_email(routes.smtp, emails, message.subject, message.body)
            for url in hooks:
                post_webhook(url, message.subject, message.body)
        except (OSError, smtplib.SMTPException) as exc:
            mark_failed(engine, message.id, type(exc).__name__)
            counts["failed"] += 1
            log.error("alert %d (%s): sending failed (%s, attempt %d); it is kept and sent again at the next "
                      "delivery", message.id, message.kind, type(exc).__name__, message.attempts + 1)
            continue
        mark_sent(engine, message.id)
        counts["sent"] += 1
    return counts
