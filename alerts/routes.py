"""Which alerts go to whom: one file (YAML, ROLLCALL_ALERT_ROUTES), for example

    smtp: {host: smtp.example.gov.uk, port: 587, starttls: true, from: rollcall@example.gov.uk}
    service_url: https://rollcall.example.gov.uk
    routes:
      - alerts: [run_failed, checks_failed]   # data engineers: the pipeline's failures
        email: [data-team@example.gov.uk]
        webhook: [https://example.webhook.office.com/webhookb2/...]
      - alerts: [access]                      # an authority's privacy officer
        authorities: ["880"]
        email: [privacy@la880.gov.uk]
      - alerts: ["*"]                         # everything, everywhere
        webhook: [https://hooks.slack.com/services/...]

A route matches an alert when it names the alert's kind (or "*") and, if it names
authorities, the alert's authority. Kinds: run_failed, checks_failed, access (break-glass and
unusual access), provider_late, no_current_roll, cme_count_changed, cme_not_refreshed,
linked_share_fell and digest (docs/operations.md says what each means)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alerts.settings import alert_settings


class RoutesError(ValueError):
    """The routes file cannot be used; the message says why."""


@dataclass(frozen=True)
class Route:
    alerts: tuple[str, ...]
    authorities: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    webhook: tuple[str, ...] = ()

    def matches(self, kind: str, la_code: str | None) -> bool:
        return ("*" in self.alerts or kind in self.alerts) and (not self.authorities or la_code in self.authorities)


@dataclass(frozen=True)
class Routes:
    routes: tuple[Route, ...] = ()
    smtp: dict = field(default_factory=dict)
    service_url: str = ""

    def for_alert(self, kind: str, la_code: str | None) -> tuple[list[str], list[str]]:
        """(e-mail addresses, webhook URLs) an alert of this kind and authority goes to."""
        found = [r for r in self.routes if r.matches(kind, la_code)]
        return sorted({a for r in found for a in r.email}), sorted({u for r in found for u in r.webhook})


def _strings(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise RoutesError(f"{what} must be a list of strings")
    return tuple(str(v) for v in value)


def load_routes(path: Path | None = None) -> Routes:
    """The routes file (alerts.settings: ROLLCALL_ALERT_ROUTES); no routes when none is configured."""
    path = path or alert_settings().routes_file
    if path is None:
        return Routes()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RoutesError(f"cannot read the alert routes file {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise RoutesError("the alert routes file must be a mapping with smtp and routes")
    routes = []
    for i, entry in enumerate(data.get("routes") or [], 1):
        if not isinstance(entry, dict) or "alerts" not in entry:
            raise RoutesError(f"route {i} must say which alerts it takes (alerts: [...])")
        routes.append(Route(_strings(entry["alerts"], f"route {i} alerts"),
                            _strings(entry.get("authorities"), f"route {i} authorities"),
                            _strings(entry.get("email"), f"route {i} email"),
                            _strings(entry.get("webhook"), f"route {i} webhook")))
    smtp = data.get("smtp") or {}
    if not isinstance(smtp, dict):
        raise RoutesError("smtp must be a mapping (host, port, starttls, from)")
    return Routes(tuple(routes), smtp, str(data.get("service_url") or ""))
