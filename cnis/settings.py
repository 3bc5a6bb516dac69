"""The children-not-in-school register's settings: what the regulations under ss.436B-G of the
Education Act 1996 will fix, kept as configuration until they do. Read once at an edge (the
command line, the Dagster definitions, Django's settings) from its environment through
`CnisSettings.from_environ` and handed here with `configure_cnis`; unconfigured, the defaults
below hold."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from register import Configured


class CnisSettingsError(ValueError):
    """A setting that cannot be read; the message names the variable."""


@dataclass(frozen=True)
class CnisSettings:
    # ROLLCALL_CNIS_PROVIDER_HOURS: an educator other than the parents is an item of the entry
    # when they teach the child more than this many hours a week (regulations will set it).
    provider_hours_threshold: float = 0.0
    # ROLLCALL_CNIS_PROVIDER_INTERVAL_MONTHS: the shortest gap between two requests to the same
    # provider (s.436E; regulations will set it).
    provider_interval_months: int = 3
    # ROLLCALL_CNIS_HOME_VISIT_DAYS: the home-visit request after a child is registered (s.436B).
    home_visit_days: int = 15
    # ROLLCALL_CNIS_RESPONSE_DAYS: when an answer to a request to parents or a provider is due.
    response_days: int = 15
    # ROLLCALL_CNIS_EXTRA_ITEMS: items regulations add to an entry (s.436C(2) lists candidates),
    # comma-separated names; officers record them on the entry.
    extra_items: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CnisSettings:
        def number(name: str, default, kind=int):
            given = environ.get(name, "").strip()
            if not given:
                return default
            try:
                value = kind(given)
            except ValueError:
                raise CnisSettingsError(f"{name} must be a number, like {default}") from None
            if value < 0:
                raise CnisSettingsError(f"{name} must not be negative")
            return value

        extra = tuple(x.strip().lower() for x in environ.get("ROLLCALL_CNIS_EXTRA_ITEMS", "").split(",") if x.strip())
        bad = [x for x in extra if not x.replace("_", "").isalnum()]
        if bad:
            raise CnisSettingsError("ROLLCALL_CNIS_EXTRA_ITEMS takes names of letters, digits and underscores, "
                                    "separated by commas")
        return cls(provider_hours_threshold=number("ROLLCALL_CNIS_PROVIDER_HOURS", 0.0, float),
                   provider_interval_months=number("ROLLCALL_CNIS_PROVIDER_INTERVAL_MONTHS", 3),
                   home_visit_days=number("ROLLCALL_CNIS_HOME_VISIT_DAYS", 15),
                   response_days=number("ROLLCALL_CNIS_RESPONSE_DAYS", 15), extra_items=extra)


_settings: Configured[CnisSettings] = Configured(CnisSettings())
configure_cnis = _settings.set
cnis_settings = _settings.get
