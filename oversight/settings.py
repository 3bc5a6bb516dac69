"""Oversight's settings: where the audit log's signing key and anchor are, how often it is
signed, the unusual-access limits and the retention periods. Read once at an edge (the command
line, the Dagster definitions, the web service's Django settings) from its environment, through
`OversightSettings.from_environ`, and handed here with `configure_oversight`; nothing in this room reads
the environment itself. Unconfigured, the built-in defaults hold."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from register import Configured

DEFAULT_KEY_FILE = Path(__file__).resolve().parents[1] / "var" / "audit-signing-key"


@dataclass(frozen=True)
class Limits:
    """The unusual-access rules' limits (ROLLCALL_ACCESS_<NAME>, the field's name in capitals)."""
    hourly_children: int = 100
    usual_factor: int = 3
    usual_floor: int = 30
    outside_caseload_per_day: int = 5
    viewers_per_child: int = 5
    bulk_export_children: int = 500
    dormant_days: int = 60
    day_starts: int = 7  # working hours, London time, Monday to Friday
    day_ends: int = 19


@dataclass(frozen=True)
class Periods:
    """Retention periods in days (ROLLCALL_RETAIN_SUPERSEDED_DAYS, _ARCHIVE_DAYS, _CLOSED_CASE_DAYS)."""
    superseded_days: int = 730
    archive_days: int = 730
    closed_case_days: int = 2190


@dataclass(frozen=True)
class OversightSettings:
    audit_key_file: Path = DEFAULT_KEY_FILE  # ROLLCALL_AUDIT_KEY_FILE
    audit_anchor: Path | None = None  # ROLLCALL_AUDIT_ANCHOR; None: beside the key, named after the register
    checkpoint_every: int = 100  # ROLLCALL_AUDIT_CHECKPOINT_EVERY
    limits: Limits = field(default_factory=Limits)
    periods: Periods = field(default_factory=Periods)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> OversightSettings:
        """The settings an environment gives (a mapping the edge passes, such as os.environ)."""
        def number(name: str, default: int) -> int:
            return int(environ[name]) if environ.get(name) else default

        limits = Limits(**{f.name: number(f"ROLLCALL_ACCESS_{f.name.upper()}", f.default) for f in fields(Limits)
                           if f.name not in ("day_starts", "day_ends")})
        periods = Periods(**{f.name: number(f"ROLLCALL_RETAIN_{f.name.upper()}", f.default) for f in fields(Periods)})
        anchor = environ.get("ROLLCALL_AUDIT_ANCHOR")
        return cls(audit_key_file=Path(environ.get("ROLLCALL_AUDIT_KEY_FILE") or DEFAULT_KEY_FILE),
                   audit_anchor=Path(anchor) if anchor else None,
                   checkpoint_every=number("ROLLCALL_AUDIT_CHECKPOINT_EVERY", 100), limits=limits, periods=periods)


_settings: Configured[OversightSettings] = Configured(OversightSettings())
configure_oversight = _settings.set  # an edge hands the room its settings, once
oversight_settings = _settings.get
