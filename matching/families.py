"""Who is in a family, and what tells its children apart: twin evidence (clearly different given
names, or similar ones beside a discordant fact, surviving a slip in the surname or birth date),
given names one slip apart (a typo), alike established names (Sophia and Sophie: review), names
crossed between given and middle, rival links (a record that fits two children who cannot be
one), twins named after each other, and the two halves of one child (a school half and a GP half
that fit only each other). Pure: frames and arrays in, masks out."""
from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from matching.compare import DOB, FORENAME, MIDDLE_NAME, MISSING, NHS_NUMBER, POSTCODE, SEX, SURNAME, UPN


def twin_evidence(levels: pd.DataFrame, same_feed: np.ndarray | None = None,
                  slipped_names: np.ndarray | None = None, ignore_nhs: bool = False) -> np.ndarray:
    """Records of one family (alike surname, birth dates within a slip) with no shared identifier
    whose given names say two children:
    - given names that differ clearly, and not by one slip (Zoe and Zie, Ava and Aav are one name
      mistyped), even when the surname or the birth date has slipped on one record;
    - or, with the same birth date and surname, given names merely similar (not equal, not
      diminutives) alongside one more discordant fact: a different sex, two different UPNs,
      different middle names, or two records of the same kind (two schools, two GP practices),
      which for one child would be unusual and for twins is normal.
    Two alike established names (Sophia and Sophie) are not here: they go to review
    (distinct_given_names). ignore_nhs: the same test whatever the NHS numbers say (a shared NHS
    number then sends the pair to review, never silently apart)."""
    same_feed = np.zeros(len(levels), dtype=bool) if same_feed is None else same_feed
    slipped = np.zeros(len(levels), dtype=bool) if slipped_names is None else slipped_names
    given = levels["forename"]
    discordant = ((levels["sex"] == SEX.DIFFERENT) | (levels["upn"] == UPN.DIFFERENT)
                  | (levels["middle_name"] == MIDDLE_NAME.DIFFERENT) | same_feed)
    clearly = ((given == FORENAME.DIFFERENT) & ~slipped).to_numpy()
    similar = ((given >= FORENAME.CLOSE) & discordant).to_numpy()
    exact_family = (levels["dob"].isin([DOB.EXACT, DOB.EXACT_1_JANUARY])
                    & levels["surname"].between(SURNAME.EXACT, SURNAME.CLOSE)).to_numpy()
    slipped_family = (levels["dob"].between(DOB.EXACT, DOB.ONE_TYPO)
                      & levels["surname"].between(SURNAME.EXACT, SURNAME.LIKE)).to_numpy()
    no_shared_id = (levels["upn"] != UPN.SAME).to_numpy()
    if not ignore_nhs:
        no_shared_id &= (levels["nhs_number"] != NHS_NUMBER.SAME).to_numpy()
    return no_shared_id & ((slipped_family & clearly) | (exact_family & (clearly | similar)))


CHANCE_MEETINGS = 0.005  # the most other children two joined halves may expect to share their facts with


def complementary_links(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame, labels: np.ndarray,
                        decided, total: np.ndarray) -> np.ndarray:
    """Pairs that join a child known only to schools to a child known only to GP practices, where
    the two are each other's only such fit: each child has one school record and one GP record,
    so two halves that agree on given name and birth date, each exactly or within a slip, and on
    sex, and whose shared facts are too rare to meet by chance, are one child whose GP record moved
    house, changed surname or slipped. A GP record left apart is a child on no roll: a false CME
    flag.
    Returns (rows of `pairs` to join, strongest first; rows of halves that fit but are not each
    other's only fit or share too common facts: an analyst decides those). A pair under review may
    be joined; never a pair kept apart, held by a rule (rivals, alike names, the shield net), or
    with two different identifiers or sexes."""
    feed = standardised["feed"].to_numpy()
    a, b = pairs[:, 0], pairs[:, 1]
    la, lb = labels[a], labels[b]
    given, surname, dob = levels["forename"].to_numpy(), levels["surname"].to_numpy(), levels["dob"].to_numpy()
    g_ok = (given >= 0) & (given <= FORENAME.DIMINUTIVE_OR_SWAPPED)
    g_slip = slipped_given_names(standardised, pairs, levels) & (given >= 0)
    s_ok = (surname >= 0) & (surname <= SURNAME.CLOSE)
    d_ok = dob == DOB.EXACT
    d_slip = (dob == DOB.DAY_MONTH_SWAPPED) | (dob == DOB.ONE_TYPO)
    fits = (g_ok | g_slip) & (d_ok | d_slip)
    # The halves must be rare enough not to meet by chance: how many other children would share
    # what agrees (the given name's and surname's shares of the records, the names a slip reaches,
    # the birth dates a slip reaches among some 6,570 school-age birthdays) must stay well under
    # one. Two Sarah Smiths born a month apart are two children.
    n = len(standardised)
    given_share = standardised["given"].map(standardised["given"].value_counts(normalize=True)).to_numpy()
    family_share = standardised["family"].map(standardised["family"].value_counts(normalize=True)).to_numpy()
    share = np.maximum(given_share[a], given_share[b]) * np.where(g_ok, 1.0, 5.0)
    share = np.where(s_ok, share * np.maximum(family_share[a], family_share[b]), share)
    # The same home (a real postcode, never a pseudo one) and a middle name in common are shared
    # by few: another child with these names and birth date would have to share them too.
    share = np.where(levels["postcode"].to_numpy() == POSTCODE.EXACT,
                     share * _shares(standardised["postcode"], a, b), share)
    share = np.where(levels["middle_name"].to_numpy() == MIDDLE_NAME.SHARED,
                     share * _shares(standardised["middle"], a, b), share)
    window = np.where(d_ok, 1.0, 30.0)
    rare = n * share * window / 6570 < CHANCE_MEETINGS
    agree = ((levels["sex"] != SEX.DIFFERENT) & (levels["nhs_number"] != NHS_NUMBER.DIFFERENT)
             & (levels["upn"] != UPN.DIFFERENT)).to_numpy()
    empty = np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(fits & agree & (la != lb) & ~decided.cannot & ~decided.withheld & ~decided.shield_net)
    if not len(rows):
        return empty, empty
    frame = pd.DataFrame({"label": labels, "school": feed == "school", "health": feed == "health"})
    has = frame.groupby("label")[["school", "health"]].any()
    school_only = (has["school"] & ~has["health"]).reindex(range(labels.max() + 1), fill_value=False).to_numpy()
    health_only = (has["health"] & ~has["school"]).reindex(range(labels.max() + 1), fill_value=False).to_numpy()
    halves = (school_only[la[rows]] & health_only[lb[rows]]) | (health_only[la[rows]] & school_only[lb[rows]])
    rows = rows[halves]
    if not len(rows):
        return empty, empty
    # Each half's only fitting other half: a child with two candidate halves is left to review.
    left, right = np.minimum(la[rows], lb[rows]), np.maximum(la[rows], lb[rows])
    partners = pd.DataFrame({"x": np.concatenate([left, right]), "y": np.concatenate([right, left])})
    count = partners.drop_duplicates().groupby("x")["y"].nunique()
    unique = (count.reindex(left).to_numpy() == 1) & (count.reindex(right).to_numpy() == 1)
    joined = rows[unique & rare[rows]]
    return joined[np.argsort(-total[joined], kind="stable")], rows[~(unique & rare[rows])]


def _shares(values: pd.Series, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each pair, the larger of its two records' shares of all records holding the same
    value (a blank value: share 1, it tells nothing)."""
    share = values.map(values[values != ""].value_counts() / len(values)).fillna(1.0).to_numpy()
    return np.maximum(share[a], share[b])


def slipped_given_names(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame) -> np.ndarray:
    """Pairs whose given names differ by one slip: a letter dropped, added, replaced or two
    swapped (optimal string alignment distance 1), as Ava and Aav, Zoe and Zie (a diacritic
    mangled), Sophie and Sophei. Such a pair is one name mistyped, not two children, unless the
    family holds another record that owns the other name (rival_links)."""
    out = np.zeros(len(pairs), dtype=bool)
    idx = np.flatnonzero((levels["forename"] >= FORENAME.CLOSE).to_numpy())
    if not len(idx):
        return out
    given = standardised["given"].to_numpy()
    a, b = given[pairs[idx, 0]], given[pairs[idx, 1]]
    out[idx] = cpdist(list(a), list(b), scorer=OSA.distance, workers=-1) <= 1
    return out


def mistyped_two_ways(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame, slipped: np.ndarray,
                      min_share: float, min_count: int = 5, given_counts: pd.Series | None = None) -> np.ndarray:
    """Pairs whose given names differ clearly only because each is one slip from the name a third
    record of the family carries, and neither is an established name: one name mistyped two
    ways (an authority's "Ezta" and a GP's "Enra" beside the school's "Ezra"), not twins. Twins
    have real names, so two established names (Ava and Eve beside a mistyped "Ave") stay twin
    evidence. family: birth dates within a slip and surnames alike, as twin evidence reads it."""
    out = np.zeros(len(pairs), dtype=bool)
    kin = (levels["dob"].between(DOB.EXACT, DOB.ONE_TYPO) & levels["surname"].between(SURNAME.EXACT, SURNAME.LIKE)
           & (levels["sex"] != SEX.DIFFERENT)).to_numpy()
    near = np.flatnonzero(slipped & kin)
    clearly = np.flatnonzero((levels["forename"] >= FORENAME.LIKE_OR_MIDDLE).to_numpy() & kin & ~slipped)
    if not len(near) or not len(clearly):
        return out
    given = standardised["given"]
    counts = given[given != ""].value_counts() if given_counts is None else given_counts[given_counts.index != ""]
    established = set(counts.index[(counts >= min_count) & (counts >= min_share * counts.sum())])
    names = given.to_numpy()
    slip_of: dict[int, set[int]] = {}
    for r in near:
        i, j = int(pairs[r, 0]), int(pairs[r, 1])
        slip_of.setdefault(i, set()).add(j)
        slip_of.setdefault(j, set()).add(i)
    for r in clearly:
        i, j = int(pairs[r, 0]), int(pairs[r, 1])
        if names[i] in established or names[j] in established:
            continue
        hubs = slip_of.get(i, set()) & slip_of.get(j, set())
        out[r] = any(names[z] in established for z in hubs)
    return out


def distinct_given_names(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame,
                         min_share: float, min_count: int = 5, given_counts: pd.Series | None = None) -> np.ndarray:
    """Pairs whose given names are only loosely alike (Jaro-Winkler 0.80 to 0.92) and both
    established: each carried by at least min_share of the records that have a given name, and
    by at least min_count records.
    Such names are two names (Isla, Isabella), not one name mistyped: a typo is rare beside
    the name it spoils. Diminutives are DIMINUTIVE_OR_SWAPPED and never reach here."""
    out = np.zeros(len(levels), dtype=bool)
    idx = np.flatnonzero((levels["forename"] == FORENAME.LIKE_OR_MIDDLE).to_numpy())
    if not len(idx):
        return out
    given = standardised["given"]
    counts = given[given != ""].value_counts() if given_counts is None else given_counts[given_counts.index != ""]
    common = counts.index[(counts >= min_count) & (counts >= min_share * counts.sum())]
    a = given.to_numpy()[pairs[idx, 0]]
    b = given.to_numpy()[pairs[idx, 1]]
    alike = cpdist(list(a), list(b), scorer=JaroWinkler.normalized_similarity, workers=-1) >= 0.80
    out[idx] = np.isin(a, common) & np.isin(b, common) & alike
    return out


def names_crossed(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame) -> np.ndarray:
    """Pairs whose given and middle names cross both ways ("Theodore Leo" and "Leo Theodore"):
    one child known by a middle name in one record, never twin evidence."""
    out = np.zeros(len(pairs), dtype=bool)
    idx = np.flatnonzero((levels["forename"] == FORENAME.LIKE_OR_MIDDLE).to_numpy())
    if not len(idx):
        return out
    given, middle = standardised["given"].to_numpy(), standardised["middle"].to_numpy()
    a, b = pairs[idx, 0], pairs[idx, 1]
    out[idx] = [bool(ga) and bool(gb) and ga in mb.split() and gb in ma.split()
                for ga, gb, ma, mb in zip(given[a], given[b], middle[a], middle[b])]
    return out


def name_rank(levels: pd.DataFrame) -> np.ndarray:
    """How well a pair's given names fit, coarsely: 0 the same name (or a diminutive), 1 alike
    or unknown, 2 different. Twins share everything else, so this is what tells them apart."""
    given = levels["forename"].to_numpy()
    return np.where(given == MISSING, 1, np.select([given <= FORENAME.DIMINUTIVE_OR_SWAPPED,
                                                    given <= FORENAME.LIKE_OR_MIDDLE], [0, 1], 2))


def rival_links(pairs: np.ndarray, link: np.ndarray, eligible: np.ndarray, conflict: np.ndarray,
                rank: np.ndarray) -> np.ndarray:
    """Links to withhold because the record fits a rival at least as well by given name, and
    the rival cannot be the same child as the record it would link to (twin evidence or an
    analyst's ruling between them). A record that fits two twins equally is sent to review
    rather than guessed: guessing wrong merges two children. Address and every field twins
    share are left out of the contest on purpose. eligible: pairs that may be rivals (not
    kept apart, same family by birth date and surname)."""
    withheld = np.zeros(len(pairs), dtype=bool)
    if not link.any() or not conflict.any():
        return withheld
    n = int(pairs.max()) + 1
    lr = np.flatnonzero(link)
    links = pd.DataFrame({"i": np.concatenate([pairs[lr, 0], pairs[lr, 1]]),
                          "j2": np.concatenate([pairs[lr, 1], pairs[lr, 0]]),
                          "row": np.concatenate([lr, lr]), "rank2": np.concatenate([rank[lr], rank[lr]])})
    er = np.flatnonzero(eligible)
    rivals = pd.DataFrame({"i": np.concatenate([pairs[er, 0], pairs[er, 1]]),
                           "j1": np.concatenate([pairs[er, 1], pairs[er, 0]]),
                           "rank1": np.concatenate([rank[er], rank[er]])})
    both = links.merge(rivals, on="i")
    both = both[(both["j1"] != both["j2"]) & (both["rank1"] <= both["rank2"])]
    if both.empty:
        return withheld
    cr = np.flatnonzero(conflict)
    lo, hi = np.minimum(pairs[cr, 0], pairs[cr, 1]), np.maximum(pairs[cr, 0], pairs[cr, 1])
    conflict_keys = lo.astype(np.int64) * n + hi
    j1, j2 = both["j1"].to_numpy(), both["j2"].to_numpy()
    keys = np.minimum(j1, j2).astype(np.int64) * n + np.maximum(j1, j2)
    withheld[both["row"].to_numpy()[np.isin(keys, conflict_keys)]] = True
    return withheld


def middle_name_rivals(standardised: pd.DataFrame, pairs: np.ndarray, levels: pd.DataFrame, link: np.ndarray) -> np.ndarray:
    """Links to withhold where a record's given name fits the other record only as a middle name
    (a school's "Leo Murray" and a GP's "Theodore Leo Murray"), in a family (birth date and
    surname alike, typos allowed), when
    - another record of the family carries that name as its given name: the record fits two
      children (parents name twins after each other); or
    - the given name is the GP's and the middle name the school's or authority's, one way only:
      a GP registration carries the legal first name, so a GP "Harry" is not "Muhammad Harry"
      at school without an analyst saying so (his twin Harry may have no school record); a GP
      "Theodore Leo" and a school "Leo Theodore" cross both ways, one child known by a middle
      name.
    A shared NHS number or UPN settles it: one child known by a middle name."""
    withheld = np.zeros(len(pairs), dtype=bool)
    given, middle = standardised["given"].to_numpy(), standardised["middle"].to_numpy()
    canon, feed = standardised["given_canon"].to_numpy(), standardised["feed"].to_numpy()
    kin = (levels["dob"].between(DOB.EXACT, DOB.ONE_TYPO) & levels["surname"].between(SURNAME.EXACT, SURNAME.LIKE)).to_numpy()
    settled = ((levels["nhs_number"] == NHS_NUMBER.SAME) | (levels["upn"] == UPN.SAME)).to_numpy()
    candidates = np.flatnonzero(link & kin & ~settled & (levels["forename"] == FORENAME.LIKE_OR_MIDDLE).to_numpy())
    if not len(candidates):
        return withheld
    same_name: dict[int, set[int]] = {}
    for r in np.flatnonzero(kin & (levels["forename"].between(FORENAME.EXACT, FORENAME.DIMINUTIVE_OR_SWAPPED)).to_numpy()):
        i, j = int(pairs[r, 0]), int(pairs[r, 1])
        same_name.setdefault(i, set()).add(j)
        same_name.setdefault(j, set()).add(i)
    for r in candidates:
        i, j = int(pairs[r, 0]), int(pairs[r, 1])
        for rec, other in ((i, j), (j, i)):
            if not (given[rec] and given[rec] != given[other] and canon[rec] != canon[other]
                    and given[rec] in middle[other].split()):
                continue
            # Crossed both ways ("Theodore Leo" and "Leo Theodore") is one child with names
            # reordered; one way only ("Harry" and "Muhammad Harry") may be his twin.
            one_way = given[other] not in middle[rec].split()
            if same_name.get(rec, set()) - {other} or (one_way and feed[rec] == "health" and feed[other] != "health"):
                withheld[r] = True
    return withheld
