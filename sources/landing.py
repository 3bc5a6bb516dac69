"""Where extracts arrive: the interface every source follows, and the local landing folder
(<root>/<account>/inbox and outbox). Moves bytes only; never opens a CSV's content.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class InboxFile:
    name: str
    size: int
    mtime: float


class ExtractSource(Protocol):
    """A place providers deliver to. Accounts are provider folders or SFTP accounts."""

    def accounts(self) -> list[str]: ...

    def list_inbox(self, account: str) -> list[InboxFile]: ...

    def fetch(self, account: str, name: str, dest: Path) -> None: ...

    def read_small(self, account: str, name: str) -> bytes: ...

    def remove(self, account: str, name: str) -> None: ...

    def put_outbox(self, account: str, name: str, data: bytes) -> None: ...


class LocalLanding:
    """A folder of provider folders, each with inbox/ and outbox/."""

    label = "landing"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def accounts(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "inbox").is_dir())

    def _inbox(self, account: str) -> Path:
        return self.root / account / "inbox"

    def list_inbox(self, account: str) -> list[InboxFile]:
        out = []
        for entry in os.scandir(self._inbox(account)):
            if entry.is_file(follow_symlinks=False):
                st = entry.stat()
                out.append(InboxFile(entry.name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: f.name)

    def fetch(self, account: str, name: str, dest: Path) -> None:
        shutil.copyfile(self._inbox(account) / name, dest)

    def read_small(self, account: str, name: str) -> bytes:
        return (self._inbox(account) / name).read_bytes()[:4096]

    def remove(self, account: str, name: str) -> None:
        (self._inbox(account) / name).unlink(missing_ok=True)

    def put_outbox(self, account: str, name: str, data: bytes) -> None:
        outbox = self.root / account / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        tmp = outbox / f".{name}.{uuid.uuid4().hex[:8]}.part"
        tmp.write_bytes(data)
        os.replace(tmp, outbox / name)
