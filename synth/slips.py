"""Random draws and the slips real extracts carry: a seeded source of draws per purpose, a
Zipf-like pick (a few names common, most rare), typing slips, nicknames, double-barrelled and
upper-cased surnames, day and month swapped in a birth date."""
from __future__ import annotations

import hashlib
import random
import unicodedata
from bisect import bisect
from datetime import date, timedelta
from itertools import accumulate

from matching import diminutives


class Rand:
    """Random draws for one purpose: the population, or one child's records in one feed (seeded
    by child and feed, so an unchanged child's records come out the same in every delivery)."""

    def __init__(self, *seed):
        self.r = random.Random(hashlib.sha256(repr(seed).encode()).digest())

    def random(self) -> float:
        return self.r.random()

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def below(self, a: int, b: int) -> int:
        return self.r.randrange(a, b)

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def weighted(self, seq, cum_weights):
        return seq[bisect(cum_weights, self.r.random() * cum_weights[-1])]

    def shuffle(self, seq) -> None:
        self.r.shuffle(seq)

    def date_between(self, a: date, b: date) -> date:
        return a if b <= a else a + timedelta(days=self.r.randrange(0, (b - a).days + 1))


_ZIPF: dict[tuple[int, float], list[float]] = {}


def zipf_pick(rand: Rand, seq, exponent: float = 0.7):
    """A name by rank: the i-th of seq with weight 1 / i**exponent."""
    if (len(seq), exponent) not in _ZIPF:
        _ZIPF[(len(seq), exponent)] = list(accumulate(1.0 / (i ** exponent) for i in range(1, len(seq) + 1)))
    return rand.weighted(seq, _ZIPF[(len(seq), exponent)])


def typo(rand: Rand, s: str, shortest: int = 4) -> str:
    """One slip: a letter dropped, two swapped or one replaced (never the first or last letter
    of a name shorter than `shortest`: such names are left alone)."""
    if len(s) < max(shortest, 3):
        return s
    i = rand.below(1, len(s) - 1)
    op = rand.below(0, 3)
    if op == 0:
        return s[:i] + s[i + 1:]
    if op == 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + rand.pick("aeinorst") + s[i + 1:]


_NICKS: dict[str, list[str]] = {}


def vary_forename(rand: Rand, name: str, rate: float = 1.0) -> str:
    """A nickname (8%), a slip (3% times `rate`) or capitals (2%). At a rate above 1 short
    names slip too (Ava as Aav)."""
    if not _NICKS:
        for nick, canon in diminutives().items():
            _NICKS.setdefault(canon, []).append(nick)
    r = rand.random()
    canon = name.lower()
    if r < 0.08 and canon in _NICKS:
        return rand.pick(_NICKS[canon]).capitalize()
    if r < 0.08 + 0.03 * rate:
        return typo(rand, name, 4 if rate <= 1 else 3)
    if r < 0.10 + 0.03 * rate:
        return name.upper()
    return name


def vary_surname(rand: Rand, name: str, other_parent: str, rate: float = 1.0) -> str:
    r = rand.random()
    if r < 0.03 * rate:
        return typo(rand, name, 4 if rate <= 1 else 3)
    if r < 0.02 + 0.03 * rate:
        return f"{name}-{other_parent}"
    if r < 0.03 + 0.03 * rate:
        return name.upper()
    return name


def vary_dob(rand: Rand, dob: date, rate: float = 1.0) -> date:
    r = rand.random()
    if r < 0.012 * rate and dob.day <= 12 and dob.day != dob.month:
        return date(dob.year, dob.day, dob.month)
    if r < 0.022 * rate:
        try:
            return dob.replace(day=dob.day % 28 + 1)
        except ValueError:
            return dob
    return dob


def canon(name: str) -> str:
    n = name.lower()
    return diminutives().get(n, n)


def without_diacritics(name: str) -> str:
    """A name with its diacritics dropped (Chloé as Chloe, Zoë as Zoe)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
