"""Files and folders that hold children's data are readable by their owner only, whatever the
process umask: created with mode 0600 (folders 0700) and set so again if they already existed.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path, truncate: bool = False) -> Path:
    """Create (or keep) the file with owner-only access; the caller then writes it."""
    flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def private_database_file(path: Path) -> Path:
    """An SQLite database file made owner-only without ever opening an existing one: closing
    any descriptor of a database file drops every POSIX lock this process holds on it, and
    SQLite's connections in WAL mode rely on those locks (a second process could then check
    the WAL away under them and corrupt the database). A new file is created empty."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        os.chmod(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "w", **kwargs):
    """open() for writing a new private file (truncating an old one)."""
    private_file(path, truncate=True)
    return open(path, mode, **kwargs)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in the folder durable (a power cut after this keeps it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def owner_only_umask() -> None:
    """Every file this process (and each process it starts) creates from now on is its owner's
    only: Dagster's run storage and compute logs, which Rollcall does not open itself, included.
    Called where a Rollcall process starts: the command line, and Dagster's code locations and
    run workers as they load the definitions (systemd's units also set UMask=0077)."""
    os.umask(0o077)
