"""Memory and time to take in one large extract: a school roll of N rows (about 85 bytes a
row) dropped in a landing folder, then collected, validated and stored (the intake assets'
library calls, not linkage) in a child process on a fresh SQLite register; peak resident
memory of that process. Loading validates and stores the file in chunks
(sources.preparing.CHUNK_ROWS), so memory should not grow with the file.

    .venv/bin/python bench/intake_bench.py --rows 100000 500000 [--work DIR]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.identifiers import upn_check_letter  # noqa: E402


def _letters(n: int) -> str:
    return "".join(chr(97 + (n // 26 ** k) % 26) for k in range(3))


def school_extract(rows: int) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["upn", "surname", "forename", "middle_names", "dob", "sex", "address_line1", "town", "postcode",
                "entry_date", "enrol_status"])
    for i in range(rows):
        body = f"88020{i // 100000:02d}{i % 100000:05d}"  # 12 characters, unique per pupil
        w.writerow([upn_check_letter(body) + body, "Sur" + _letters(i % 5000), "Giv" + _letters(i % 700), "",
                    f"{2010 + i % 8}-{1 + i % 12:02d}-{1 + i % 28:02d}", "MF"[i % 2], f"{i % 200} High Street",
                    "Town", f"RA{1 + i % 9} {1 + i % 9}AB", "2019-09-04", "C"])
    return buf.getvalue().encode()


# Collect and load, as raw_extracts and validated_rows do, in a process of its own.
INTAKE = """
import sys
from pathlib import Path
from register.db import open_register
from sources.acknowledge import load_and_acknowledge
from sources.collection import collect
from sources.landing import LocalLanding
work = Path(sys.argv[1])
engine = open_register(f"sqlite:///{work / 'r.sqlite'}")
source = LocalLanding(work / "landing")
report = collect(source, engine, work / "archive")
loaded = load_and_acknowledge(engine, source, report.collected)
assert loaded.accepted == 1 and loaded.rows_quarantined == 0, loaded
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 500_000])
    ap.add_argument("--work", default="bench/out/intake")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    for rows in args.rows:
        work = Path(args.work).resolve() / str(rows)
        shutil.rmtree(work, ignore_errors=True)
        inbox = work / "landing" / "8802001" / "inbox"
        inbox.mkdir(parents=True)
        data = school_extract(rows)
        name = "school_8802001_20261101.csv"
        (inbox / name).write_bytes(data)
        (inbox / f"{name}.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
        cmd = [str(ROOT / ".venv" / "bin" / "python"), "-c", INTAKE, str(work)]
        t0 = time.perf_counter()
        # A fresh process per size: ru_maxrss of the children is the largest so far, so run each
        # size through a wrapper that reports its own child's peak.
        out = subprocess.run([sys.executable, "-c", (
            "import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(json.dumps({'rc': p.returncode, 'peak_mb': "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"), *cmd],
            capture_output=True, text=True, env=env, check=True)
        got = json.loads(out.stdout)
        print(json.dumps({"rows": rows, "file_mb": round(len(data) / 1e6, 1), "run_s": round(time.perf_counter() - t0, 1),
                          "peak_rss_mb": round(got["peak_mb"]), "exit": got["rc"]}), flush=True)


if __name__ == "__main__":
    main()
