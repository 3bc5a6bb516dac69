"""The `rollcall` command (README's table lists every command). It runs the same Dagster assets
in-process that `dagster dev` shows, and prints counts, never a child's data.

One module per command group (`common`, `run`, `demo`, `data`, `admin`); each adds its own
commands to the parser. The names tests and benches use are these."""
from __future__ import annotations

import argparse
import logging
import sys

from pipelines.cli import admin, data, demo, run
from pipelines.cli.common import register_exists
from pipelines.cli.run import CHECKS_FAILED, failed_checks_of, run_pipeline, summary
from pipelines.environment import configure_rooms
from register import owner_only_umask

__all__ = ["CHECKS_FAILED", "failed_checks_of", "main", "parser", "register_exists", "run_pipeline", "summary"]

# The order `rollcall --help` lists the commands in.
ORDER = ["demo", "sftp-server", "run", "export", "held", "reference", "validate",
         "serve", "users", "audit", "retention", "history", "sar", "backup", "restore", "db", "generate"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rollcall", description="Rollcall: the children's register.")
    sub = p.add_subparsers(dest="command", required=True)
    commands = {**demo.COMMANDS, **run.COMMANDS, **data.COMMANDS, **admin.COMMANDS}
    for name in ORDER:
        commands[name](sub)
    return p


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so an in-process caller can swap it safely."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def main(argv: list[str] | None = None) -> int:
    owner_only_umask()
    configure_rooms()
    root = logging.getLogger()
    if not any(isinstance(h, _CurrentStderr) for h in root.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    return args.fn(args)
