"""The one place the pipeline's edges (the command line, the Dagster definitions, a run) read the
rooms' settings from the process environment and hand them down: the audit log's key, anchor and
signing interval, the unusual-access limits and retention periods (oversight.settings), the alerts
file, routes and register (alerts.settings). The web service does the same from Django's
settings (casework.apps). The variables are listed in docs/operations.md."""
from __future__ import annotations

import os
from collections.abc import Mapping

from alerts import AlertSettings, configure_alerts
from cnis import CnisSettings, configure_cnis
from oversight import OversightSettings, configure_oversight


def configure_rooms(environ: Mapping[str, str] | None = None) -> None:
    """Read the rooms' settings from `environ` (the process environment when None) and hand them
    to the rooms. Called at start-up by each edge, and by each run (a test's environment may
    differ from the one the process started with)."""
    environ = os.environ if environ is None else environ
    configure_oversight(OversightSettings.from_environ(environ))
    configure_alerts(AlertSettings.from_environ(environ))
    configure_cnis(CnisSettings.from_environ(environ))
