"""Many delivery sources (landing folders, SFTP servers) behind the one ExtractSource interface:
each provider belongs to exactly one source. Moves bytes only."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sources.landing import ExtractSource, InboxFile, LocalLanding
from sources.sftp import SftpSource


class SourceRouter:
    def __init__(self, sources: list[ExtractSource]):
        self.sources = sources
        self._owner: dict[str, ExtractSource] = {}

    def providers(self) -> list[str]:
        out = []
        for src in self.sources:
            for provider in src.providers():
                self._owner.setdefault(provider, src)
                out.append(provider)
        return out

    def owner(self, provider: str) -> ExtractSource:
        if provider not in self._owner:
            self.providers()
        return self._owner[provider]

    def list_inbox(self, provider: str) -> list[InboxFile]:
        return self.owner(provider).list_inbox(provider)

    def fetch(self, provider: str, name: str, dest: Path, limit: int | None = None) -> None:
        return self.owner(provider).fetch(provider, name, dest, limit)

    def read_head(self, provider: str, name: str, limit: int) -> bytes:
        return self.owner(provider).read_head(provider, name, limit)

    def stat(self, provider: str, name: str) -> InboxFile | None:
        return self.owner(provider).stat(provider, name)

    def remove(self, provider: str, name: str) -> None:
        return self.owner(provider).remove(provider, name)

    def put_outbox(self, provider: str, name: str, data: bytes) -> None:
        return self.owner(provider).put_outbox(provider, name, data)

    def close(self) -> None:
        for src in self.sources:
            if hasattr(src, "close"):
                src.close()

    def transient_errors(self) -> tuple[type[BaseException], ...]:
        errs: tuple = ()
        for src in self.sources:
            errs += getattr(src, "transient_errors", ())
        return errs


def make_router(landing: str | None = None, sftp_config: str | None = None,
                secrets: Mapping[str, str] | None = None) -> SourceRouter:
    """The sources a run collects from: a folder of provider folders, and the SFTP providers
    a YAML file names (their key passphrases looked up in `secrets`, the edge's environment)."""
    sources = []
    if landing:
        sources.append(LocalLanding(landing))
    if sftp_config:
        sources.append(SftpSource.from_config(sftp_config, secrets))
    return SourceRouter(sources)
