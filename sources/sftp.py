"""Collecting from providers' SFTP providers with paramiko: key authentication only, a pinned
known_hosts with RejectPolicy (an unknown or changed host key is refused loudly), explicit
timeouts, retries with backoff on transient faults, atomic uploads of receipts.
"""
from __future__ import annotations

import errno
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko
import yaml
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR, SFTPError

from sources.landing import InboxFile, kept_name, kind_of

log = logging.getLogger("rollcall.sources.sftp")


class SftpUnreachable(Exception):
    """A transient fault (refused, timed out, dropped): try again later; nothing is lost."""
    safe_message = True


class SftpRefused(Exception):
    """A fault that must stop collection loudly: unknown or changed host key, failed login."""
    safe_message = True


# Faults of our own disk (archive full or read-only) are never retried as network faults.
LOCAL_FAULTS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class SftpProvider:
    provider: str
    host: str
    port: int
    user: str
    key_path: str
    known_hosts: str
    inbox: str = "inbox"
    outbox: str = "outbox"
    # Name of an environment variable holding the passphrase of key_path (never the passphrase itself).
    key_passphrase_env: str | None = None
    # Receipts written as another provider (same key) that owns the provider's outbox, so the
    # provider can read its receipts but never change or delete them; outbox path as that provider sees it.
    receipts_user: str | None = None
    receipts_outbox: str | None = None


class LocalFault(Exception):
    """Our own side failed (the local disk, a file we write): never reported as the provider's
    server being unreachable, never retried as a network fault."""
    safe_message = True


def _listdir_attr_raw(sftp: paramiko.SFTPClient, path: str) -> list[paramiko.SFTPAttributes]:
    """paramiko's listdir_attr, except that names are read as bytes and decoded with surrogate
    escapes: paramiko decodes them strictly, so one upload under a name that is not UTF-8 made
    the whole inbox unreadable, run after run. (Uses paramiko's request layer, as listdir_attr
    itself does.)"""
    t, msg = sftp._request(CMD_OPENDIR, path)
    if t != CMD_HANDLE:
        raise SFTPError("expected a handle")
    handle = msg.get_binary()
    out = []
    try:
        while True:
            try:
                t, msg = sftp._request(CMD_READDIR, handle)
            except EOFError:
                break
            if t != CMD_NAME:
                raise SFTPError("expected a name response")
            for _ in range(msg.get_int()):
                name = msg.get_string().decode("utf-8", "surrogateescape")
                longname = msg.get_string().decode("utf-8", "replace")
                attr = paramiko.SFTPAttributes._from_msg(msg, name, longname)
                if name not in (".", ".."):
                    out.append(attr)
    finally:
        sftp._request(CMD_CLOSE, handle)
    return out


def _exists(sftp, path: str) -> bool:
    try:
        sftp.lstat(path)
        return True
    except OSError:
        return False


def _safe_remote_name(name: str) -> bool:
    """A plain file name: no path separator, not '.' or '..', no NUL or control characters."""
    return bool(name) and name not in (".", "..") and "/" not in name and not any(ord(c) < 32 for c in name)


def load_config(path: str | Path) -> list[SftpProvider]:
    """YAML: optional `defaults` (host, port, key_path, known_hosts) and a `providers` list,
    each with `provider` and `user` and any default overridden."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    defaults = data.get("defaults", {}) or {}
    out = []
    for p in data.get("providers", []) or []:
        merged = {**defaults, **p}
        merged.setdefault("provider", merged.pop("account", None))  # `account`: the earlier name of the key
        missing = [k for k in ("provider", "host", "port", "user", "key_path", "known_hosts") if not merged.get(k)]
        if missing:
            raise ValueError(f"SFTP config {path}: provider entry missing {', '.join(missing)}")
        out.append(SftpProvider(provider=str(merged["provider"]), host=str(merged["host"]), port=int(merged["port"]),
                                user=str(merged["user"]), key_path=str(merged["key_path"]),
                                known_hosts=str(merged["known_hosts"]),
                                inbox=merged.get("inbox", "inbox"), outbox=merged.get("outbox", "outbox"),
                                key_passphrase_env=merged.get("key_passphrase_env"),
                                receipts_user=merged.get("receipts_user"), receipts_outbox=merged.get("receipts_outbox")))
    return out


_BLOCK = 32768  # bytes per read, as paramiko's own get() uses

_TRANSIENT = (socket.timeout, TimeoutError, ConnectionError, EOFError, OSError, paramiko.SSHException)


def _classify(exc: BaseException) -> Exception:
    if isinstance(exc, paramiko.BadHostKeyException):
        return SftpRefused("the server's host key does not match the pinned known_hosts entry")
    if isinstance(exc, paramiko.AuthenticationException):
        return SftpRefused("the server refused our key")
    if isinstance(exc, paramiko.SSHException) and "known_hosts" in str(exc):
        return SftpRefused("the server's host key is not in the pinned known_hosts")
    if isinstance(exc, FileNotFoundError):
        return exc  # a file another collector took: not a fault
    if isinstance(exc, OSError) and exc.errno in LOCAL_FAULTS:
        return exc
    return SftpUnreachable(type(exc).__name__)


class SftpSource:
    """Every configured SFTP provider behind the ExtractSource interface."""

    label = "sftp"
    transient_errors = (SftpUnreachable,)

    def __init__(self, providers: list[SftpProvider], timeout: float = 15.0, attempts: int = 3,
                 backoff: float = 0.5, max_download_s: float = 3600.0, secrets: Mapping[str, str] | None = None):
        self.configured = {p.provider: p for p in providers}
        # Where a provider's key_passphrase_env is looked up: the environment the edge passes.
        self.secrets = secrets or {}
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff
        self.max_download_s = max_download_s  # a whole download, however slowly the bytes trickle
        self._clients: dict[str, tuple[paramiko.SSHClient, paramiko.SFTPClient]] = {}
        self.on_progress: Callable[[str, str, int, int], None] | None = None  # (provider, name, done, total)

    @classmethod
    def from_config(cls, path: str | Path, secrets: Mapping[str, str] | None = None) -> SftpSource:
        return cls(load_config(path), secrets=secrets)

    def providers(self) -> list[str]:
        return sorted(self.configured)

    def _connect(self, provider: str, receipts: bool = False) -> paramiko.SFTPClient:
        slot = f"{provider}#receipts" if receipts else provider
        if slot in self._clients:
            transport = self._clients[slot][0].get_transport()
            if transport is not None and transport.is_active():
                return self._clients[slot][1]
            self._drop(slot)
        p = self.configured[provider]
        user = p.receipts_user if receipts else p.user
        client = paramiko.SSHClient()
        client.load_host_keys(p.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            passphrase = self.secrets.get(p.key_passphrase_env) if p.key_passphrase_env else None
            client.connect(p.host, port=p.port, username=user, key_filename=p.key_path, passphrase=passphrase,
                           allow_agent=False, look_for_keys=False, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)
        except Exception as exc:
            client.close()
            raise _classify(exc) from None
        self._clients[slot] = (client, sftp)
        return sftp

    def _drop(self, provider: str) -> None:
        pair = self._clients.pop(provider, None)
        if pair:
            try:
                pair[0].close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass

    def close(self) -> None:
        for provider in list(self._clients):
            self._drop(provider)

    def _retry(self, provider: str, what: Callable[[paramiko.SFTPClient], object], receipts: bool = False):
        """Run an SFTP action, reconnecting with backoff on transient faults."""
        slot = f"{provider}#receipts" if receipts else provider
        for attempt in range(1, self.attempts + 1):
            try:
                return what(self._connect(provider, receipts))
            except (SftpRefused, FileNotFoundError, LocalFault):
                raise
            except SftpUnreachable as exc:
                fault = exc
            except Exception as exc:  # noqa: BLE001 - classified below
                fault = _classify(exc)
                if fault is exc:
                    raise
                if not isinstance(fault, SftpUnreachable):
                    raise fault from None
            self._drop(slot)
            log.warning("SFTP provider %s: %s (attempt %d of %d)", provider, fault, attempt, self.attempts)
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise fault

    def list_inbox(self, provider: str) -> list[InboxFile]:
        p = self.configured[provider]

        def ls(sftp):
            out = []
            for a in _listdir_attr_raw(sftp, p.inbox):
                if not _safe_remote_name(a.filename):
                    log.warning("SFTP provider %s: a name that is not a plain file name was ignored", provider)
                    continue
                if a.st_mode is None:
                    continue  # a server that gives no mode: never guessed from longname
                kind = kind_of(a.st_mode)
                if kind is not None:
                    out.append(InboxFile(a.filename, a.st_size or 0, float(a.st_mtime or 0), kind))
            return sorted(out, key=lambda f: f.name)
        return self._retry(provider, ls)

    def _path(self, provider: str, folder: str, name: str) -> bytes:
        """The remote path of a plain name in one of the provider's folders, as the server's own
        bytes (a name that is not UTF-8 came to us with surrogate escapes and goes back so)."""
        if not _safe_remote_name(name):
            raise FileNotFoundError("not a plain file name")  # never a path outside the folder
        return f"{folder}/{name}".encode("utf-8", "surrogateescape")

    def fetch(self, provider: str, name: str, dest: Path, limit: int | None = None) -> None:
        """Download at most limit bytes, within max_download_s: a server that sends more than it
        listed (or a file that grows) never fills our disk, and one that trickles never holds
        the run. A fault writing our own file is a LocalFault, not the server's."""
        remote = self._path(provider, self.configured[provider].inbox, name)
        try:
            dst = open(dest, "wb")
        except OSError as exc:
            raise LocalFault(f"cannot write the download ({errno.errorcode.get(exc.errno, exc.errno)})") from None
        deadline = time.monotonic() + self.max_download_s

        def get(sftp):
            done = 0
            dst.seek(0)
            dst.truncate()
            try:
                with sftp.open(remote, "rb") as src:
                    src.prefetch(limit)  # read ahead, but never past what was listed
                    while limit is None or done < limit:
                        if time.monotonic() > deadline:
                            raise SftpUnreachable("the download took longer than allowed")
                        block = src.read(_BLOCK if limit is None else min(_BLOCK, limit - done))
                        if not block:
                            break
                        try:
                            dst.write(block)
                        except OSError as exc:
                            if exc.errno in LOCAL_FAULTS:
                                raise
                            raise LocalFault(f"cannot write the download ({errno.errorcode.get(exc.errno)})") from None
                        done += len(block)
                        if self.on_progress:  # the listed size is the limit less the byte that shows growth
                            self.on_progress(provider, name, done, limit - 1 if limit else done)
            except OSError as exc:
                if getattr(exc, "errno", None) == 2:
                    raise FileNotFoundError(name) from None
                raise
        try:
            self._retry(provider, get)
        finally:
            dst.close()

    def stat(self, provider: str, name: str) -> InboxFile | None:
        p = self.configured[provider]

        def st(sftp):
            try:
                a = sftp.lstat(self._path(provider, p.inbox, name))
            except OSError as exc:
                if getattr(exc, "errno", None) == 2:
                    return None
                raise
            if a.st_mode is not None and kind_of(a.st_mode) != "file":
                return None  # no longer a regular file: the next listing rejects it
            return InboxFile(name, a.st_size or 0, float(a.st_mtime or 0))
        return self._retry(provider, st)

    def read_head(self, provider: str, name: str, limit: int) -> bytes:
        p = self.configured[provider]

        def read(sftp):
            with sftp.open(self._path(provider, p.inbox, name), "rb") as fh:
                return fh.read(limit)
        return self._retry(provider, read)

    def remove(self, provider: str, name: str) -> None:
        p = self.configured[provider]

        def rm(sftp):
            try:
                sftp.remove(self._path(provider, p.inbox, name))
            except OSError as exc:
                if getattr(exc, "errno", None) != 2:
                    raise
        self._retry(provider, rm)

    def put_outbox(self, provider: str, name: str, data: bytes) -> None:
        p = self.configured[provider]
        receipts = bool(p.receipts_user)
        outbox = p.receipts_outbox if receipts and p.receipts_outbox else p.outbox
        self._path(provider, outbox, name)  # a plain name, or nothing is written

        def put(sftp):
            tmp = self._path(provider, outbox, f".{name}.{uuid.uuid4().hex[:8]}.part")  # one temp file per writer
            with sftp.open(tmp, "wb") as fh:
                fh.write(data)
            target = self._path(provider, outbox, name)
            try:  # every receipt is kept: an earlier one under this name is renamed, never overwritten
                written = sftp.lstat(target).st_mtime or 0
            except OSError:
                written = None
            if written is not None:
                kept = kept_name(name, written, lambda n: _exists(sftp, self._path(provider, outbox, n)))
                sftp.posix_rename(target, self._path(provider, outbox, kept))
            sftp.posix_rename(tmp, target)
        self._retry(provider, put, receipts)
