"""Time to collect 100 extracts of 10,000 rows over SFTP from a real OpenSSH sshd on loopback:
all from one provider account, then 5 each from 20 provider accounts. Collection only
(download, verify, archive, ledger, remove), into an SQLite ledger.

    .venv/bin/python bench/sftp_bench.py [--files 100] [--rows 10000]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localsftp.server import OpenSshServer  # noqa: E402
from register.db import make_engine, upgrade  # noqa: E402
from schemas.identifiers import upn_check_letter  # noqa: E402
from sources.collection import collect  # noqa: E402
from sources.sftp import SftpSource, load_config  # noqa: E402


def school_extract(path: Path, laestab: str, rows: int, salt: int) -> None:
    lines = ["upn,surname,forename,dob,sex,entry_date,enrol_status,postcode"]
    for i in range(rows):
        body = f"{laestab}{10 + i // 1000:02d}{i % 1000:03d}"
        lines.append(f"{upn_check_letter(body)}{body},Surname{i % 997},Forename{(i + salt) % 211},"
                     f"2015-{1 + i % 12:02d}-{1 + i % 28:02d},{'MF'[i % 2]},2019-09-04,C,RA{1 + i % 9} 1AB")
    data = ("\r\n".join(lines) + "\r\n").encode()
    path.write_bytes(data)
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")


def scenario(server: OpenSshServer, accounts: list[str], files: int, rows: int,
             work: Path) -> dict:
    staging = work / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    total = 0
    for n in range(files):
        account = accounts[n % len(accounts)]
        day = 1 + n // len(accounts)
        path = staging / f"school_{account}_2026{1 + day // 28:02d}{1 + day % 28:02d}.csv"
        school_extract(path, account, rows, salt=n)
        total += path.stat().st_size
        inbox = server.home(account) / "inbox"
        shutil.copy(path, inbox / path.name)  # placed straight into the inboxes: upload is not timed
        shutil.copy(path.with_name(path.name + ".sha256"), inbox / (path.name + ".sha256"))
    db = f"sqlite:///{work / f'ledger-{uuid.uuid4().hex[:6]}.sqlite'}"
    upgrade(db)
    source = SftpSource(load_config(server.register_config(accounts=accounts)))
    t0 = time.perf_counter()
    report = collect(source, make_engine(db), work / "archive")
    seconds = time.perf_counter() - t0
    source.close()
    assert len(report.collected) == files, report
    return {"accounts": len(accounts), "files": files, "rows_per_file": rows, "mb": round(total / 1e6, 1),
            "seconds": round(seconds, 2), "mb_per_s": round(total / 1e6 / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rollcall-sftp-bench-"))
    server = OpenSshServer(f"bench-{uuid.uuid4().hex[:6]}", work / "server")
    server.start()
    try:
        providers = [f"88{20000 + i:05d}" for i in range(20)]
        for a in providers:
            server.add_account(a)
        results = [scenario(server, providers[:1], args.files, args.rows, work),
                   scenario(server, providers, args.files, args.rows, work)]
    finally:
        server.stop()
        server.remove_tree()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
