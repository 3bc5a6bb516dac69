"""Many delivery sources (landing folders, SFTP servers) behind the one ExtractSource interface:
each provider belongs to exactly one source. Moves bytes only."""
from __future__ import annotations

from pathlib import Path

from sources.landing import ExtractSource, InboxFile


class SourceRouter:
    def __init__(self, sources: list[ExtractSource]):
        self.sources = sources
        self._owner: dict[str, ExtractSource] = {}

    def accounts(self) -> list[str]:
        out = []
        for src in self.sources:
            for account in src.accounts():
                self._owner.setdefault(account, src)
                out.append(account)
        return out

    def owner(self, account: str) -> ExtractSource:
        if account not in self._owner:
            self.accounts()
        return self._owner[account]

    def list_inbox(self, account: str) -> list[InboxFile]:
        return self.owner(account).list_inbox(account)

    def fetch(self, account: str, name: str, dest: Path, limit: int | None = None) -> None:
        return self.owner(account).fetch(account, name, dest, limit)

    def read_small(self, account: str, name: str) -> bytes:
        return self.owner(account).read_small(account, name)

    def stat(self, account: str, name: str) -> InboxFile | None:
        return self.owner(account).stat(account, name)

    def remove(self, account: str, name: str) -> None:
        return self.owner(account).remove(account, name)

    def put_outbox(self, account: str, name: str, data: bytes) -> None:
        return self.owner(account).put_outbox(account, name, data)

    def close(self) -> None:
        for src in self.sources:
            if hasattr(src, "close"):
                src.close()

    def transient_errors(self) -> tuple[type[BaseException], ...]:
        errs: tuple = ()
        for src in self.sources:
            errs += getattr(src, "transient_errors", ())
        return errs
