"""Dagster resources: the register database, the delivery sources (local landing folders and
SFTP servers) and run settings. Chosen per environment in one place (definitions.py)."""

import os
from datetime import date
from functools import lru_cache
from pathlib import Path

from dagster import ConfigurableResource, ResourceDefinition

from register.db import DEFAULT_URL, make_engine, upgrade
from sources.landing import InboxFile, LocalLanding


@lru_cache(maxsize=8)
def _engine(url: str):
    upgrade(url)
    return make_engine(url)


class RegisterDatabase(ConfigurableResource):
    url: str = DEFAULT_URL

    def engine(self):
        return _engine(self.url)


class DeliveryRouter:
    """Many sources behind one ExtractSource: each account belongs to exactly one source."""

    def __init__(self, sources: list):
        self.sources = sources
        self._owner: dict[str, object] = {}

    def accounts(self) -> list[str]:
        out = []
        for src in self.sources:
            for account in src.accounts():
                self._owner.setdefault(account, src)
                out.append(account)
        return out

    def owner(self, account: str):
        if account not in self._owner:
            self.accounts()
        return self._owner[account]

    def list_inbox(self, account: str) -> list[InboxFile]:
        return self.owner(account).list_inbox(account)

    def fetch(self, account, name, dest, limit=None):
        return self.owner(account).fetch(account, name, dest, limit)

    def read_small(self, account, name):
        return self.owner(account).read_small(account, name)

    def stat(self, account, name):
        return self.owner(account).stat(account, name)

    def remove(self, account, name):
        return self.owner(account).remove(account, name)

    def put_outbox(self, account, name, data):
        return self.owner(account).put_outbox(account, name, data)

    def close(self) -> None:
        for src in self.sources:
            if hasattr(src, "close"):
                src.close()

    def transient_errors(self) -> tuple[type[BaseException], ...]:
        errs: tuple = ()
        for src in self.sources:
            errs += getattr(src, "transient_errors", ())
        return errs


class DeliverySources(ConfigurableResource):
    landing: str | None = None  # folder of provider folders
    sftp_config: str | None = None  # YAML file naming SFTP providers
    archive: str = "var/archive"
    max_file_mb: int = 200  # larger files are rejected unread, with a receipt
    hold_below: float = 0.5  # hold an extract with fewer rows than this share of its provider's current one

    def router(self) -> DeliveryRouter:
        sources = []
        if self.landing:
            sources.append(LocalLanding(self.landing))
        if self.sftp_config:
            from sources.sftp import SftpSources
            sources.append(SftpSources.from_config(self.sftp_config))
        return DeliveryRouter(sources)

    def archive_dir(self) -> Path:
        return Path(self.archive)


class RunSettings(ConfigurableResource):
    as_of: str | None = None  # YYYY-MM-DD; today when not set
    link_at: float = 0.95
    review_at: float = 0.5

    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else date.today()


def resources_from_env() -> dict:
    """What `dagster dev` uses: ROLLCALL_DB_URL, ROLLCALL_LANDING, ROLLCALL_SFTP_CONFIG,
    ROLLCALL_ARCHIVE, ROLLCALL_MAX_FILE_MB, ROLLCALL_AS_OF, read when the code location loads.

    Each is bound as a fixed resource with no config schema, not as configurable fields (with
    EnvVar or not): configured fields can be replaced in the launchpad, so a UI user could point
    a run at another database or folder, and run config is stored in Dagster's run storage,
    password and all. Fixed resources show no value in the UI and store none."""
    return {
        "db": _fixed(RegisterDatabase(url=os.environ.get("ROLLCALL_DB_URL", DEFAULT_URL)),
                     "The register database, from ROLLCALL_DB_URL."),
        "delivery": _fixed(DeliverySources(landing=os.environ.get("ROLLCALL_LANDING", "var/landing"),
                                           sftp_config=os.environ.get("ROLLCALL_SFTP_CONFIG") or None,
                                           archive=os.environ.get("ROLLCALL_ARCHIVE", "var/archive"),
                                           max_file_mb=int(os.environ.get("ROLLCALL_MAX_FILE_MB", "200")),
                                           hold_below=float(os.environ.get("ROLLCALL_HOLD_BELOW", "0.5"))),
                           "Landing folders and SFTP providers, from ROLLCALL_LANDING and ROLLCALL_SFTP_CONFIG."),
        "settings": _fixed(RunSettings(as_of=os.environ.get("ROLLCALL_AS_OF") or None),
                           "Run settings, from ROLLCALL_AS_OF (default: today)."),
    }


def _fixed(resource, description: str) -> ResourceDefinition:
    """A resource whose config schema is empty: any config a run supplies is refused."""
    return ResourceDefinition(resource_fn=lambda _context: resource, config_schema={}, description=description)
