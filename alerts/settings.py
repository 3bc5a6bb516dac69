"""The alert channels' settings: the alerts file every alert line is appended to, the routes file
that says who hears of what, and the register whose outbox keeps messages until they are sent.
Read once at an edge from its environment (`AlertSettings.from_environ`) and handed here with
`configure_alerts`; nothing in this room reads the environment itself."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from register import Configured


@dataclass(frozen=True)
class AlertSettings:
    alerts_file: Path = Path("var/alerts.log")  # ROLLCALL_ALERTS
    routes_file: Path | None = None  # ROLLCALL_ALERT_ROUTES; None: e-mail to no one, the alerts file only
    db_url: str | None = None  # ROLLCALL_DB_URL: the register whose outbox an alert is queued in

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AlertSettings:
        routes = environ.get("ROLLCALL_ALERT_ROUTES")
        return cls(alerts_file=Path(environ.get("ROLLCALL_ALERTS") or "var/alerts.log"),
                   routes_file=Path(routes) if routes else None, db_url=environ.get("ROLLCALL_DB_URL") or None)


_settings: Configured[AlertSettings] = Configured(AlertSettings())
configure_alerts = _settings.set  # an edge hands the room its settings, once
alert_settings = _settings.get
