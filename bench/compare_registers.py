"""Two registers made from the same deliveries, compared table by table: the same rows in every
table, or what differs. For a change that must not change behaviour (issue 24: the house in
rooms), run the same deliveries through the commit before and after and compare.

Record keys are keyed with each register's own secret and stable child ids are random, so a
record key is replaced by its file's name and row, and a child id by the smallest of its records';
times, hashes and signatures (which differ run to run), values derived from the secret and the
run's own paths are left out. Prints one line a table: rows on each side and whether they are the same.

  python bench/compare_registers.py BEFORE.sqlite AFTER.sqlite
"""
from __future__ import annotations

import re
import sqlite3
import sys
from collections import Counter

VARIES = re.compile(r"(^|_)(at|hash|prev_hash|signature|key_id|run_id|last_received|updated|computed|"
                    r"loaded|collected|processed|sent|decided|written|raised|handled|delivered|created|trained)$")
# register_state entries that are a time, the secret itself or a hash over secret-keyed values.
STATE_VARIES = {"record_key_secret", "links_inputs_fingerprint", "relink_started_at", "active_refreshed_at",
                "relinked_from", "last_command_line_run", "shield_scope"}
# Values that are hashes of record keys (the link index's name and key hashes): compared as counts.
HASHED_TABLES = {"record_index"}
RUN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TOKEN = re.compile(r"\b(RC[0-9A-Z]{10}|[a-z]+:[0-9A-Za-z]+:[0-9a-f]{24})\b")


def canonical_ids(conn) -> dict[str, str]:
    """record key -> file name and row; child id -> its smallest record's."""
    ids: dict[str, str] = {}
    for key, name, row in conn.execute("SELECT r.record_key, f.name, r.row_no FROM source_records r "
                                       "JOIN files f ON f.id = r.file_id"):
        ids[key] = f"{name}#{row}"
    for key, name, row in conn.execute("SELECT q.record_key, f.name, q.row_no FROM quarantined_rows q "
                                       "JOIN files f ON f.id = q.file_id WHERE q.record_key IS NOT NULL"):
        ids.setdefault(key, f"{name}#{row}")
    for child, key in conn.execute("SELECT child_id, record_key FROM source_records WHERE child_id IS NOT NULL"):
        ids[child] = min(ids.get(child, ids[key]), ids[key])
    return ids


def table_rows(conn, table: str, ids: dict[str, str], roots: list[str]) -> Counter:
    cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    keep = [c for c in cols if not VARIES.search(c) and c != "id"]
    if table in HASHED_TABLES:
        keep = ["record_key"]
    rows = Counter()
    for row in conn.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in keep)} FROM "{table}"'):
        if table == "register_state" and row[0] in STATE_VARIES:
            continue
        out = []
        for v in row:
            if isinstance(v, str):
                for root in roots:
                    v = v.replace(root, "<run>")
                v = ids.get(v, TOKEN.sub(lambda m: ids.get(m.group(0), m.group(0)), RUN.sub("<run id>", v)))
            out.append(v)
        if table == "candidate_pairs":  # a pair's two keys are ordered by key, which the secret decides
            out[:2] = sorted(out[:2])
        rows[tuple(map(repr, out))] += 1
    return rows


def main(before: str, after: str) -> int:
    a, b = sqlite3.connect(before), sqlite3.connect(after)
    roots = [str(p).rsplit("/", 1)[0] for p in (before, after)]
    ids_a, ids_b = canonical_ids(a), canonical_ids(b)
    tables = sorted({r[0] for c in (a, b) for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")})
    differ = 0
    print(f"{'table':<22} {'before':>8} {'after':>8}  same")
    for t in tables:
        ra, rb = table_rows(a, t, ids_a, roots), table_rows(b, t, ids_b, roots)
        same = ra == rb
        differ += not same
        if not same and "-v" in sys.argv:
            print("   before only:", list((ra - rb).elements())[:2], "\n   after only:", list((rb - ra).elements())[:2])
        print(f"{t:<22} {sum(ra.values()):>8} {sum(rb.values()):>8}  {'yes' if same else 'NO'}")
    print("every table the same" if not differ else f"{differ} tables differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
