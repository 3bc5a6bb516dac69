"""Helpers the tests share: hand-made extracts dropped into landing folders, UPNs with their
check letter, receipts read back. Fixtures live in conftest.py; tests import these from here."""
from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

AS_OF = date(2026, 11, 2)
# What a test needs beyond Python, by the fixtures it uses (conftest marks them): `pytest -m
# "not sshd and not postgres and not root"` runs the rest on any machine. bin/test runs them all.
NEEDS = {"pg_url": ("postgres",), "production_home": ("postgres",), "try_server": ("sshd", "root"),
         "demo_over_sftp": ("sshd", "root"), "server": ("sshd", "root"), "sftp": ("sshd", "root")}


def drop_extract(landing: Path, provider: str, name: str, data: bytes, sidecar: bool | str = True) -> Path:
    inbox = landing / provider / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(data)
    if sidecar:
        digest = sidecar if isinstance(sidecar, str) else hashlib.sha256(data).hexdigest()
        (inbox / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    return inbox / name


def school_csv(rows: list[dict], extra_header: str = "") -> bytes:
    cols = ["upn", "surname", "forename", "dob", "sex", "entry_date", "enrol_status", "leaving_date",
            "leaving_reason", "postcode"]
    lines = [",".join(cols) + extra_header]
    for r in rows:
        lines.append(",".join(str(r.get(c, "")) for c in cols) + ("," + r.get("_extra", "") if extra_header else ""))
    return ("\r\n".join(lines) + "\r\n").encode()


def make_upn(laestab: str, serial: int, year: int = 20) -> str:
    from schemas.identifiers import upn_check_letter
    body = f"{laestab}{year:02d}{serial:03d}"
    return upn_check_letter(body) + body


def receipt(landing: Path, provider: str, name: str) -> dict:
    return json.loads((landing / provider / "outbox" / f"{name}.receipt.json").read_text())


def asset_metadata(result, asset: str) -> dict:
    """The metadata (plain values) of an asset's first materialization in an in-process run."""
    return next({k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
                for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.event_specific_data.materialization.asset_key.to_user_string() == asset)


@contextmanager
def small_tmpfs(path: Path, size: str, options: str = "") -> Iterator[Path]:
    """A disk of its own (tmpfs, needs root) at `path`, `size` large, to fill; unmounted after."""
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
