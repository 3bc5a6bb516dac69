"""One run at a time per register: a PostgreSQL advisory lock, or an exclusive lock on a file
beside an SQLite register. A second run waits for the first up to a limit, then stops with a
clear message; nothing is collected or written twice.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

LOCK_KEY = 0x526F6C6C  # "Roll": the advisory lock every Rollcall run takes


class RegisterBusy(Exception):
    """Another run holds the register; the message says how long we waited."""
    safe_message = True


@contextmanager
def register_lock(url: str, wait_seconds: float = 0.0, poll: float = 0.5):
    deadline = time.monotonic() + wait_seconds
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///") + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RegisterBusy(f"another run is using this register (waited {wait_seconds:.0f} s)") from None
                    time.sleep(poll)
            yield
        finally:
            os.close(fd)  # closing releases the lock
        return
    engine = create_engine(url, hide_parameters=True)
    with engine.connect() as conn:
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
            if time.monotonic() >= deadline:
                raise RegisterBusy(f"another run is using this register (waited {wait_seconds:.0f} s)")
            time.sleep(poll)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    engine.dispose()
