"""Dagster resources: the register database, the delivery sources (local landing folders and
SFTP servers) and run settings, all built by one factory (`rollcall_resources`) that the
Dagster definitions and the command line share. Holds no data and opens nothing at import."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path

from dagster import ConfigurableResource, EnvVar, ResourceDefinition

from register import DEFAULT_URL, open_register, today
from sources import DEFAULT_ARCHIVE, DEFAULT_MAX_FILE_BYTES, SourceRouter, load_cadence, make_router

DEFAULT_MAX_FILE_MB = DEFAULT_MAX_FILE_BYTES // (1024 * 1024)
DEFAULT_HOLD_BELOW = 0.5
DEFAULT_INTAKE_WORKERS = 1


class RegisterDatabase(ConfigurableResource):
    url: str = DEFAULT_URL

    def engine(self):
        return open_register(self.url)


class DeliverySources(ConfigurableResource):
    landing: str | None = None  # folder of provider folders
    sftp_config: str | None = None  # YAML file naming SFTP providers
    archive: str = DEFAULT_ARCHIVE
    max_file_mb: int = DEFAULT_MAX_FILE_MB  # larger files are rejected unread, with a receipt
    hold_below: float = DEFAULT_HOLD_BELOW  # hold an extract with fewer rows than this share of its provider's current one
    intake_workers: int = DEFAULT_INTAKE_WORKERS  # processes preparing extracts while the run stores (0: none)

    def router(self) -> SourceRouter:
        return make_router(self.landing, self.sftp_config, os.environ)  # key passphrases from the environment

    def providers(self) -> list[str]:
        """The providers configured to deliver (listing folders and config; no inbox is read)."""
        router = self.router()
        try:
            return router.providers()
        finally:
            router.close()

    def archive_dir(self) -> Path:
        return Path(self.archive)


class RunSettings(ConfigurableResource):
    as_of: str | None = None  # YYYY-MM-DD; today when not set
    link_at: float = 0.95
    review_at: float = 0.5
    cadence_file: str | None = None  # providers' expected cadence and staleness (sources.deliveries)
    relink: str = "auto"  # "auto": incrementally when the register can; "full": every record (linkage.relinking)
    # A full link in this many partitions by blocking key (0: in one piece), on the Dask scheduler
    # at this address ("local:N" starts a LocalCluster of N workers; none: in the run's process).
    link_partitions: int = 0
    dask_scheduler: str | None = None
    cme_move_share: float = 0.5  # an authority's flag count moving by more than this share is checked
    linked_share_drop: float = 0.05  # the share of records linked to another falling by more is checked

    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else today()

    def pair_source(self):
        """A context manager giving link_records' pair_source for a full link (None: one piece)."""
        return pair_source(self.link_partitions, self.dask_scheduler)

    def cadence(self):
        return load_cadence(self.cadence_file)


def rollcall_resources(db_url: str = DEFAULT_URL, landing: str | None = None, sftp_config: str | None = None,
                       archive: str | None = None, max_file_mb: int = DEFAULT_MAX_FILE_MB,
                       hold_below: float = DEFAULT_HOLD_BELOW, as_of: str | None = None,
                       intake_workers: int = DEFAULT_INTAKE_WORKERS, **settings) -> dict[str, ResourceDefinition]:
    """The resources every Rollcall run uses, keyed as the assets require them.

    Each is bound as a fixed resource with no config schema, not as configurable fields:
    configured fields can be replaced in the launchpad, so a UI user could point a run at
    another database or folder, and run config is stored in Dagster's run storage. A value
    given as an `EnvVar` is read when a run starts and is never stored or shown."""
    return {
        "db": _fixed(RegisterDatabase(url=db_url), "The register database."),
        "delivery": _fixed(DeliverySources(landing=landing, sftp_config=sftp_config, archive=archive or DEFAULT_ARCHIVE,
                                           max_file_mb=max_file_mb, hold_below=hold_below,
                                           intake_workers=intake_workers),
                           "Landing folders and SFTP providers."),
        "settings": _fixed(RunSettings(as_of=as_of, **settings), "Run settings (the CME date defaults to today)."),
    }


def resources_from_env() -> dict[str, ResourceDefinition]:
    """What `dagster dev` uses: ROLLCALL_DB_URL (an EnvVar: it may hold a password),
    ROLLCALL_LANDING, ROLLCALL_SFTP_CONFIG, ROLLCALL_ARCHIVE, ROLLCALL_MAX_FILE_MB,
    ROLLCALL_HOLD_BELOW, ROLLCALL_INTAKE_WORKERS, ROLLCALL_AS_OF, ROLLCALL_CADENCE, ROLLCALL_RELINK, and for a full link
    in partitions ROLLCALL_LINK_PARTITIONS and ROLLCALL_DASK_SCHEDULER."""
    env = os.environ.get
    return rollcall_resources(
        db_url=EnvVar("ROLLCALL_DB_URL") if env("ROLLCALL_DB_URL") else DEFAULT_URL,
        landing=env("ROLLCALL_LANDING", "var/landing"), sftp_config=env("ROLLCALL_SFTP_CONFIG") or None,
        archive=env("ROLLCALL_ARCHIVE") or None, max_file_mb=int(env("ROLLCALL_MAX_FILE_MB", DEFAULT_MAX_FILE_MB)),
        hold_below=float(env("ROLLCALL_HOLD_BELOW", DEFAULT_HOLD_BELOW)),
        intake_workers=int(env("ROLLCALL_INTAKE_WORKERS", DEFAULT_INTAKE_WORKERS)), as_of=env("ROLLCALL_AS_OF") or None,
        cadence_file=env("ROLLCALL_CADENCE") or None, relink=env("ROLLCALL_RELINK", "auto"), **link_engine_from_env())


def link_engine_from_env() -> dict:
    """ROLLCALL_LINK_PARTITIONS and ROLLCALL_DASK_SCHEDULER as RunSettings fields."""
    env = os.environ.get
    return {"link_partitions": int(env("ROLLCALL_LINK_PARTITIONS") or 0),
            "dask_scheduler": env("ROLLCALL_DASK_SCHEDULER") or None}


@contextmanager
def pair_source(partitions: int, scheduler: str | None = None) -> Iterator[Callable | None]:
    """link_records' pair_source for a full link: None (one piece) when partitions is 0; else
    partitions in this process (no scheduler), on a LocalCluster started here and stopped after
    ("local:N": N worker processes, one thread each), or on the Dask scheduler at an address
    ("tcp://host:8786"). The cluster is made here, not in matching, which does no I/O."""
    if not partitions:
        yield None
        return
    # The partitioned link and Dask load only when a run asks for them (start-up stays fast).
    from matching import in_process, on_dask, partitioned_pairs

    if not scheduler:
        yield partial(partitioned_pairs, partitions=partitions, runner=in_process)
        return
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler.startswith("local:"):
        cluster = LocalCluster(n_workers=int(scheduler.split(":", 1)[1]), threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            yield partial(partitioned_pairs, partitions=partitions, runner=on_dask(client))
    finally:
        if cluster is not None:
            cluster.close()


def _fixed(resource: ConfigurableResource, description: str) -> ResourceDefinition:
    """A resource whose config schema is empty: any config a run supplies is refused. EnvVar
    fields are resolved here, when the run initialises it. Initialised in a context (set up and
    torn down in the thread that uses it): Dagster gives the resource's own context an ephemeral
    instance, whose SQLite connections, left open, were closed later by whichever thread
    collected them, and `dagster dev` printed a cross-thread traceback for each."""
    def initialise(_context):
        with resource.process_config_and_initialize_cm() as value:
            yield value
    return ResourceDefinition(resource_fn=initialise, config_schema={}, description=description)
