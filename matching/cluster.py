"""Group linked records into children with union-find that respects cannot-link evidence, so
a chain of weak links can never join two children who differ decisively (two valid NHS
numbers, two records of one provider, twins, an analyst's ruling).
"""
from __future__ import annotations

import numpy as np


class ConstrainedClusters:
    def __init__(self, n: int, nhs: list[str], provider_keys: list[tuple[str, str]]):
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.nhs: dict[int, set[str]] = {i: ({nhs[i]} if nhs[i] else set()) for i in range(n)}
        # provider -> record keys: one provider's list names each child once.
        self.keys: dict[int, dict[str, set[str]]] = {i: {provider_keys[i][0]: {provider_keys[i][1]}} for i in range(n)}
        self.cannot: dict[int, set[int]] = {}
        self.refused = 0

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
        if len(self.nhs[a] | self.nhs[b]) > 1:
            return False
        ka, kb = self.keys[a], self.keys[b]
        for provider in ka.keys() & kb.keys():
            if ka[provider] != kb[provider]:
                return False
        small, large = (a, b) if len(self.members[a]) <= len(self.members[b]) else (b, a)
        for i in self.members[small]:
            for j in self.cannot.get(i, ()):
                if self.find(j) == large:
                    return False
        return True

    def union(self, i: int, j: int, force: bool = False) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        if not force and not self._compatible(a, b):
            self.refused += 1
            return False
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a] += self.members.pop(b)
        self.nhs[a] |= self.nhs.pop(b)
        for provider, keys in self.keys.pop(b).items():
            self.keys[a].setdefault(provider, set()).update(keys)
        return True

    def labels(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])
