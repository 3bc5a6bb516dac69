"""Values kept between requests in one process, per register, until the register changes.

Pages of the casework service read the same large things again and again (the shield's scope,
the pairs waiting for review, where each record sits); computing them costs seconds on a large
register, checking a version costs milliseconds. Each kept value names how to read its version
(a few cheap markers that change whenever the value can) and how to compute it again."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """One kept value per register (keyed by its URL): `get(engine, version, compute)` returns
    the value kept for this version, or computes, keeps and returns a new one."""

    def __init__(self) -> None:
        self._by_register: dict[str, tuple[Hashable, T]] = {}

    def get(self, engine, version: Hashable, compute: Callable[[], T]) -> T:
        key = str(engine.url)
        kept = self._by_register.get(key)
        if kept is None or kept[0] != version:
            kept = (version, compute())
            self._by_register[key] = kept
        return kept[1]

    def peek(self, engine) -> tuple[Hashable, T] | None:
        """(version, value) kept for this register, if any."""
        return self._by_register.get(str(engine.url))

    def put(self, engine, version: Hashable, value: T) -> None:
        self._by_register[str(engine.url)] = (version, value)
