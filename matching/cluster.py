"""Group linked records into children with union-find that respects cannot-link evidence, so
a chain of weak links can never join two children who differ decisively (two valid NHS
numbers, two records of one provider, twins, an analyst's ruling).
"""
from __future__ import annotations

import numpy as np


class ConstrainedClusters:
    def __init__(self, n: int, nhs: list[str], provider_keys: list[tuple[str, str]]):
        self.parent = list(range(n))
        # A cluster's members, NHS numbers and provider -> record keys (one provider's list
        # names each child once), kept for roots of clusters of more than one record; a
        # single record's are read from the inputs when first needed.
        self._nhs, self._provider_keys = nhs, provider_keys
        self.members: dict[int, list[int]] = {}
        self.nhs: dict[int, set[str]] = {}
        self.keys: dict[int, dict[str, set[str]]] = {}
        self.cannot: dict[int, set[int]] = {}
        self.refused = 0

    def _members(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def _nhs_of(self, root: int) -> set[str]:
        got = self.nhs.get(root)
        return got if got is not None else ({self._nhs[root]} if self._nhs[root] else set())

    def _keys_of(self, root: int) -> dict[str, set[str]]:
        got = self.keys.get(root)
        if got is None:
            provider, key = self._provider_keys[root]
            got = {provider: {key}}
        return got

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def forbid(self, i: int, j: int) -> None:
        self.cannot.setdefault(i, set()).add(j)
        self.cannot.setdefault(j, set()).add(i)

    def _compatible(self, a: int, b: int) -> bool:
        return self.why_apart(a, b) is None

    def why_apart(self, a: int, b: int) -> tuple | None:
        """Why the clusters of roots a and b may not be one child, or None when they may:
        ("nhs",) their NHS numbers differ; ("provider", name) one provider lists two of their
        records as two children; ("forbidden", i, j) records i and j were kept apart (forbid)."""
        if len(self._nhs_of(a) | self._nhs_of(b)) > 1:
            return ("nhs",)
        ka, kb = self._keys_of(a), self._keys_of(b)
        for provider in ka.keys() & kb.keys():
            if ka[provider] != kb[provider]:
                return ("provider", provider)
        ma, mb = self._members(a), self._members(b)
        small, large = (ma, b) if len(ma) <= len(mb) else (mb, a)
        for i in small:
            for j in self.cannot.get(i, ()):
                if self.find(j) == large:
                    return ("forbidden", i, j)
        return None

    def union(self, i: int, j: int, force: bool = False) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        if not force and not self._compatible(a, b):
            self.refused += 1
            return False
        if len(self._members(a)) < len(self._members(b)):
            a, b = b, a
        self.parent[b] = a
        # a's own entries, made when a first grows (the lazy defaults are fresh objects).
        self.members.setdefault(a, self._members(a)).extend(self._members(b))
        self.nhs.setdefault(a, self._nhs_of(a)).update(self._nhs_of(b))
        keys = self.keys.setdefault(a, self._keys_of(a))
        for provider, more in self._keys_of(b).items():
            keys.setdefault(provider, set()).update(more)
        for kept in (self.members, self.nhs, self.keys):
            kept.pop(b, None)
        return True

    def labels(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])
