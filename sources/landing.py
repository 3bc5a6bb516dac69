"""Where extracts arrive: the interface every source follows, and the local landing folder
(<root>/<provider>/inbox and outbox). Moves bytes only; never opens a CSV's content.
"""
from __future__ import annotations

import errno
import os
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sources.naming import PROVIDER_SHAPES


@dataclass(frozen=True)
class InboxFile:
    name: str
    size: int
    mtime: float
    # "file" for a regular file of its own; anything else (a symbolic link, a hard link to a file
    # elsewhere, a named pipe, a device, a socket) is rejected with a receipt, never read.
    kind: str = "file"
    # What else tells this file from one put in its place under the same name, size and time
    # (the local landing's inode and change time, which no client can set); () where unknown.
    ident: tuple = ()


def kind_of(mode: int, links: int = 1) -> str | None:
    """What an inbox entry is, from its mode (lstat) and link count; None for a folder."""
    if stat.S_ISREG(mode):
        return "file" if links <= 1 else "hard link"
    if stat.S_ISDIR(mode):
        return None
    return ("symbolic link" if stat.S_ISLNK(mode) else "named pipe" if stat.S_ISFIFO(mode) else
            "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "socket" if stat.S_ISSOCK(mode) else "other")


def _listed(name: str, st: os.stat_result, kind: str) -> InboxFile:
    return InboxFile(name, st.st_size, st.st_mtime, kind, (st.st_ino, st.st_ctime_ns))


class ExtractSource(Protocol):
    """A place providers deliver to. Providers are provider folders or SFTP providers."""
    def providers(self) -> list[str]: ...
    def list_inbox(self, provider: str) -> list[InboxFile]: ...
    def fetch(self, provider: str, name: str, dest: Path, limit: int | None = None) -> None: ...
    def stat(self, provider: str, name: str) -> InboxFile | None: ...
    def read_head(self, provider: str, name: str, limit: int) -> bytes: ...
    # At most `limit` bytes from the start of a file; a caller reads limit + 1 to tell a larger file.
    def remove(self, provider: str, name: str) -> None: ...
    def put_outbox(self, provider: str, name: str, data: bytes) -> None: ...


def kept_name(name: str, written: float, taken) -> str:
    """The name an earlier receipt keeps when a newer one takes its place:
    x.csv.receipt.json -> x.csv.receipt.20261101T060000Z.json (a counter if that is taken)."""
    stem, dot, ext = name.rpartition(".")
    stamp = datetime.fromtimestamp(written, UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = f"{stem}.{stamp}{dot}{ext}", 1
    while taken(candidate):
        n += 1
        candidate = f"{stem}.{stamp}-{n}{dot}{ext}"
    return candidate


def provider_id_shaped(name: str) -> bool:
    """An LA code, a LAESTAB or an ODS code: what a provider's folder may be called."""
    return any(shape.match(name) for shape, _ in PROVIDER_SHAPES.values())


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)  # lstat: a symlink to a folder is not one
    except FileNotFoundError:
        return False


class LocalLanding:
    """A folder of provider folders, each with inbox/ and outbox/. An provider is a real folder
    (never a symlink) named with a provider id; nothing in the tree is followed through a
    symlink, so one provider can never reach another's files."""

    label = "landing"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def providers(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if provider_id_shaped(p.name) and _real_dir(p) and _real_dir(p / "inbox"))

    def _inbox(self, provider: str) -> Path:
        if not (provider_id_shaped(provider) and _real_dir(self.root / provider) and
                _real_dir(self.root / provider / "inbox")):
            raise FileNotFoundError(errno.ENOENT, "not a provider's inbox")
        return self.root / provider / "inbox"

    def list_inbox(self, provider: str) -> list[InboxFile]:
        out = []
        for entry in os.scandir(self._inbox(provider)):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone between listing and stat (some clients upload under a temporary name)
            kind = kind_of(st.st_mode, st.st_nlink)
            if kind is not None:
                out.append(_listed(entry.name, st, kind))
        return sorted(out, key=lambda f: f.name)

    def stat(self, provider: str, name: str) -> InboxFile | None:
        """The file as it is now; None when it is gone or no longer a regular file of its own."""
        try:
            st = os.lstat(self._inbox(provider) / name)
        except FileNotFoundError:
            return None
        return _listed(name, st, "file") if kind_of(st.st_mode, st.st_nlink) == "file" else None

    def _open(self, provider: str, name: str):
        """The inbox file itself: a symlink put in its place after listing is never followed,
        and a named pipe or device never waited on or read (each counts as a file that
        vanished; the next listing rejects it with a receipt)."""
        try:
            fd = os.open(self._inbox(provider) / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EWOULDBLOCK):
                raise FileNotFoundError(errno.ENOENT, "no longer a regular file") from None
            raise
        st = os.fstat(fd)
        if kind_of(st.st_mode, st.st_nlink) != "file":
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "no longer a regular file of its own")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def fetch(self, provider: str, name: str, dest: Path, limit: int | None = None) -> None:
        """Copy at most limit bytes (a file that grew since listing is caught by its size)."""
        with self._open(provider, name) as src, open(dest, "wb") as dst:
            left = limit if limit is not None else -1
            while left:
                block = src.read(1 << 20 if left < 0 else min(1 << 20, left))
                if not block:
                    break
                dst.write(block)
                left -= len(block) if left > 0 else 0

    def read_head(self, provider: str, name: str, limit: int) -> bytes:
        with self._open(provider, name) as src:
            return src.read(limit)

    def remove(self, provider: str, name: str) -> None:
        (self._inbox(provider) / name).unlink(missing_ok=True)

    def put_outbox(self, provider: str, name: str, data: bytes) -> None:
        outbox = self.root / provider / "outbox"
        if outbox.is_symlink():
            raise PermissionError(errno.EPERM, "the outbox is a symlink")
        outbox.mkdir(parents=True, exist_ok=True)
        tmp = outbox / f".{name}.{uuid.uuid4().hex[:8]}.part"
        tmp.write_bytes(data)
        target = outbox / name
        try:  # every receipt is kept: an earlier one under this name is renamed by the time it was written
            os.rename(target, outbox / kept_name(name, os.lstat(target).st_mtime, lambda n: (outbox / n).exists()))
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
