"""Backup and restore of the register database and the raw archive, together.

A backup is a folder, owner-only: the database (an SQLite copy made with SQLite's online
backup, or PostgreSQL's `pg_dump` custom format), the archive as a tar file, and a manifest
with each file's SHA-256, the schema revision and where the archive lived. Restore checks the
manifest, refuses a database or archive folder that already holds anything, loads both, and
points the ledger at the archive's new place. The audit log's signing key is not in a backup:
it is kept apart from the data on purpose (docs/operations.md).
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import create_engine, inspect, select, text, update
from sqlalchemy.engine import make_url

from register import ExtractFile, file_sha256, open_register, private_dir, private_file, utc_stamp

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and holds no data."""


def _pg_args(url: str, environ: Mapping[str, str]) -> tuple[list[str], dict]:
    """pg_dump's and pg_restore's arguments, and their environment: the one the command line
    passes (PATH and the PG* settings) with the URL's password added."""
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    env = {**environ, **({"PGPASSWORD": u.password} if u.password else {})}
    return args, env


def backup(db_url: str, archive: Path, out: Path, environ: Mapping[str, str]) -> dict:
    """Write a backup of the register and the archive into the folder `out` (made, owner-only;
    it must not exist or be empty). Returns the manifest."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: give a new folder for the backup")
    private_dir(out)
    engine = open_register(db_url)
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    files = {}
    if db_url.startswith("sqlite:///"):
        target = private_file(out / "register.sqlite")
        source = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # a consistent copy while the register is in use
        finally:
            dest.close()
            source.close()
        files["database"] = "register.sqlite"
    else:
        target = private_file(out / "register.pgdump")
        args, env = _pg_args(db_url, environ)
        done = subprocess.run(["pg_dump", *args, "-Fc", "--no-owner", "-f", str(target), make_url(db_url).database],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed (exit {done.returncode})")
        files["database"] = "register.pgdump"
    tar_path = private_file(out / "archive.tar")
    with tarfile.open(tar_path, "w") as tar:
        if archive.is_dir():
            for path in sorted(archive.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=str(path.relative_to(archive)))
    files["archive"] = "archive.tar"
    manifest = {"made_at": utc_stamp(), "schema_revision": revision,
                "database_kind": "sqlite" if db_url.startswith("sqlite:///") else "postgresql",
                "archive_was_at": [str(archive.resolve()), str(archive)],  # as resolved, and as given
                "files": {name: {"file": f, "sha256": file_sha256(out / f)} for name, f in files.items()}}
    private_file(out / MANIFEST)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _empty_database(db_url: str) -> bool:
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return not path.exists() or path.stat().st_size == 0
    engine = create_engine(db_url, hide_parameters=True)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore(backup_dir: Path, db_url: str, archive: Path, environ: Mapping[str, str]) -> dict:
    """Load a backup into an empty database and an empty (or new) archive folder."""
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{backup_dir} holds no readable {MANIFEST}: not a Rollcall backup") from None
    for entry in manifest["files"].values():
        if file_sha256(backup_dir / entry["file"]) != entry["sha256"]:
            raise BackupError(f"{entry['file']} does not match its checksum in the manifest: the backup is damaged")
    kind = "sqlite" if db_url.startswith("sqlite:///") else "postgresql"
    if kind != manifest["database_kind"]:
        raise BackupError(f"this backup is of a {manifest['database_kind']} register; restore it into one")
    if not _empty_database(db_url):
        raise BackupError("the target database is not empty: restore into a new, empty one")
    if archive.exists() and any(archive.iterdir()):
        raise BackupError(f"the archive folder {archive} is not empty")
    database = backup_dir / manifest["files"]["database"]["file"]
    if kind == "sqlite":
        target = Path(db_url.removeprefix("sqlite:///"))
        target.parent.mkdir(parents=True, exist_ok=True)
        private_file(target)
        source, dest = sqlite3.connect(database), sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
    else:
        args, env = _pg_args(db_url, environ)
        done = subprocess.run(["pg_restore", *args, "--no-owner", "--exit-on-error", "-d", make_url(db_url).database,
                               str(database)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed (exit {done.returncode})")
    private_dir(archive)
    with tarfile.open(backup_dir / manifest["files"]["archive"]["file"]) as tar:
        tar.extractall(archive, filter="data")
    for path in archive.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    _repoint_archive(db_url, manifest["archive_was_at"], archive.resolve())
    return manifest


def _repoint_archive(db_url: str, was: list[str], now: Path) -> None:
    """The ledger names each archived file by its path (absolute, or relative as the archive was
    given): move them to the archive's new place."""


    engine = open_register(db_url)
    prefixes = [w.rstrip(os.sep) + os.sep for w in was]
    with engine.begin() as conn:
        for file_id, path in conn.execute(select(ExtractFile.id, ExtractFile.archive_path)).all():
            prefix = next((x for x in prefixes if path and path.startswith(x)), None)
            if prefix:
                conn.execute(update(ExtractFile).where(ExtractFile.id == file_id)
                             .values(archive_path=str(now / path[len(prefix):])))
