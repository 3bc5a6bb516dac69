"""A newcomer's first delivery, as docs/operations.md walks it: `rollcall sftp-server` starts a
local server, the stock OpenSSH `sftp` client uploads a CSV and its `sha256sum` sidecar with
exactly the command the server printed, `rollcall run --sftp` collects it, the receipt is
fetched with `sftp`, and stopping the server deletes every account and folder it made."""
from __future__ import annotations

import json
import pwd
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localsftp.server import USER_PREFIX, DemoSftpServer
from pipelines.cli import main
from tests.helpers import make_upn, school_csv

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "8802001"
NAME = "school_8802001_20261102.csv"


@pytest.fixture
def try_server(tmp_path):
    """`rollcall sftp-server` for one provider, read until it says it is ready."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sftp-server", "--home", str(tmp_path),
                             "--provider", PROVIDER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("ready"):
            break
    assert lines and lines[-1].startswith("ready"), "\n".join(lines)
    yield proc, lines
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def sftp(command: str, batch: str, cwd: Path) -> subprocess.CompletedProcess:
    """The printed `sftp ...` command, run with a batch of commands (-b) from a folder."""
    (cwd / "batch").write_text(batch)
    argv = command.split()
    return subprocess.run([argv[0], "-b", str(cwd / "batch"), *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_a_provider_delivers_with_the_stock_sftp_client_and_fetches_its_receipt(try_server, tmp_path, sqlite_url):
    proc, lines = try_server
    command = next(line.strip() for line in lines if line.strip().startswith("sftp -P"))
    config = re.search(r"rollcall run --sftp (\S+)", "\n".join(lines)).group(1)
    work = tmp_path / "provider"
    work.mkdir()
    (work / NAME).write_bytes(school_csv([{"upn": make_upn(PROVIDER, 5), "surname": "Okafor", "forename": "Ada",
                                           "dob": "2015-03-02", "sex": "F", "entry_date": "2019-09-04",
                                           "enrol_status": "C"}]))
    with open(work / f"{NAME}.sha256", "w") as fh:  # as the walk-through says: the stock sha256sum
        subprocess.run(["sha256sum", NAME], cwd=work, stdout=fh, check=True)
    put = sftp(command, f"put {NAME} inbox/\nput {NAME}.sha256 inbox/\n", work)
    assert put.returncode == 0, put.stderr
    assert main(["run", "--sftp", config, "--db", sqlite_url, "--archive", str(tmp_path / "archive"),
                 "--as-of", "2026-11-02"]) == 0
    got = sftp(command, f"ls outbox\nget outbox/{NAME}.receipt.json\n", work)
    assert got.returncode == 0, got.stderr
    receipt = json.loads((work / f"{NAME}.receipt.json").read_text())
    assert receipt["status"] == "accepted" and receipt["rows"]["accepted"] == 1
    denied = sftp(command, f"rm outbox/{NAME}.receipt.json\n", work)
    assert denied.returncode != 0, "a provider may read its receipts, never delete them"
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and "deleted the accounts" in out and f"{USER_PREFIX}{PROVIDER}" in out
    with pytest.raises(KeyError):
        pwd.getpwnam(f"{USER_PREFIX}{PROVIDER}")
    assert not DemoSftpServer(tmp_path / "sftp-try").root.exists(), "its chroot tree is gone"


def test_the_server_says_it_needs_root(monkeypatch, capsys, tmp_path):
    import os

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["sftp-server", "--home", str(tmp_path), "--provider", PROVIDER]) == 2
    assert "needs root" in capsys.readouterr().err
