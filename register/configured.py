"""A room's settings, handed to it once by an edge (the command line, the Dagster definitions,
Django's settings) and read by the room's code; the room never reads the environment itself."""
from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Configured(Generic[T]):
    def __init__(self, default: T):
        self._value = default

    def set(self, value: T) -> T:
        """Hand the room its settings; returns the ones they replace."""
        before, self._value = self._value, value
        return before

    def get(self) -> T:
        return self._value
