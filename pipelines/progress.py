"""Progress on the command line: a Dagster logger that prints each step as it starts and ends
(with its time) and the steps' own progress lines ("progress: ..." in Dagster's log), so a
long run is never silent. Step names and counts only; the steps log nothing else at INFO."""
from __future__ import annotations

import logging
import re
import sys
import time

from dagster import logger

PREFIX = "progress: "


def step_times(stderr: str) -> dict[str, float]:
    """Each step's time from a command-line run's progress lines (for benches)."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"rollcall: (\w+) done in ([0-9.]+) s", stderr)}


class ProgressHandler(logging.Handler):
    def __init__(self, stream=None):
        super().__init__(logging.DEBUG)  # step events come at DEBUG; emit() keeps only its own
        self.stream = stream or sys.stderr
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event, step = meta.get("dagster_event"), meta.get("step_key") or ""
        kind = getattr(event, "event_type_value", None)
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            self._print(f"{step} started")
        elif kind == "STEP_SUCCESS":
            took = time.monotonic() - self.started.get(step, time.monotonic())
            self._print(f"{step} done in {took:.1f} s")
        elif kind == "STEP_FAILURE":
            self._print(f"{step} failed")
        elif event is None and str(meta.get("orig_message", "")).startswith(PREFIX):
            self._print(f"  {step}: {meta['orig_message'][len(PREFIX):]}")

    def _print(self, text: str) -> None:
        print(f"rollcall: {text}", file=self.stream, flush=True)


@logger(description="Prints each step's start, end and progress lines to standard error.")
def progress_logger(_init_context) -> logging.Logger:
    log = logging.getLogger("rollcall.progress")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.handlers = [ProgressHandler()]
    return log

