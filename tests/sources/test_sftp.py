"""SFTP delivery against a real OpenSSH sshd on 127.0.0.1, one chrooted account per provider."""
import errno
import hashlib
import json
import subprocess
import threading
import uuid
from pathlib import Path

import paramiko
import pytest
from dagster import DagsterInstance, build_sensor_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from localsftp.server import OpenSshServer
from pipelines.cli import failed_checks_of, run_pipeline
from pipelines.resources import DeliverySources
from register.db import open_register
from register.models import ExtractFile
from sources.collection import collect
from sources.sftp import SftpRefused, SftpSource, SftpUnreachable, load_config
from tests.helpers import AS_OF, make_upn, school_csv, small_tmpfs

ACCOUNTS = ["8802001", "8802002", "A81001"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = OpenSshServer(f"test-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("sftp"))
    srv.start()
    for a in ACCOUNTS:
        srv.add_account(a)
    yield srv
    srv.stop()
    srv.remove_tree()


@pytest.fixture
def sftp(server):
    """A clean server for each test: empty inboxes and outboxes, the right host key pinned."""
    if server.proc is None:
        server.start()
    server.write_known_hosts()
    for a in ACCOUNTS:
        for sub in ("inbox", "outbox"):
            for f in (server.home(a) / sub).iterdir():
                f.unlink()
    return server


def extract(tmp_path, account, rows=3, day="20261101", pad=0) -> Path:
    forename = "Kim" + "o" * (int(day) % 100)  # each day's extract differs in content
    people = [{"upn": make_upn(account, i % 1000, 10 + i // 1000), "surname": "Ng" + "a" * pad, "forename": forename,
               "dob": "2015-03-02", "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
              for i in range(1, rows + 1)]
    path = tmp_path / f"school_{account}_{day}.csv"
    data = school_csv(people)
    path.write_bytes(data)
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    return path


def source(server, **kw) -> SftpSource:
    return SftpSource(load_config(server.register_config()), **kw)


def ledger(url):
    with Session(open_register(url)) as s:
        return [(f.provider, f.name, f.status) for f in s.scalars(select(ExtractFile).order_by(ExtractFile.id))]


def inbox(server, account):
    return sorted(p.name for p in (server.home(account) / "inbox").iterdir())


def test_a_provider_cannot_see_read_or_write_another_providers_files(sftp, tmp_path):
    sftp.upload("8802002", extract(tmp_path, "8802002"))
    mine = sftp.provider_client("8802001")
    try:
        assert sorted(mine.listdir("/")) == ["inbox", "outbox"]
        assert mine.listdir("/inbox") == []
        for path in ("/../rcdemo_8802002/inbox", "../../homes/rcdemo_8802002/inbox", "/rcdemo_8802002"):
            with pytest.raises(IOError):
                mine.listdir(path)
        with pytest.raises(IOError):
            mine.open("/../rcdemo_8802002/inbox/school_8802002_20261101.csv").read()
        with pytest.raises(IOError):
            mine.open("/../rcdemo_8802002/inbox/planted.csv", "w").write("x")
    finally:
        mine._owner.close()
    # Nor log in as the other provider with its own key.
    with pytest.raises(paramiko.AuthenticationException):
        sftp.provider_client("8802001", user="rcdemo_8802002")
    assert inbox(sftp, "8802002") == ["school_8802002_20261101.csv", "school_8802002_20261101.csv.sha256"]


def test_collection_over_sftp_follows_the_contract(sftp, tmp_path, sqlite_url):
    good = extract(tmp_path, "8802001")
    sftp.upload("8802001", good)
    waiting = tmp_path / "health_A81001_20261102.csv"
    waiting.write_bytes(b"still uploading")
    client = sftp.provider_client("A81001")
    client.put(str(waiting), f"inbox/{waiting.name}")  # the CSV is up, its sidecar not yet
    client._owner.close()
    bad = extract(tmp_path, "8802002")
    bad.with_name(bad.name + ".sha256").write_text("0" * 64 + "\n")
    sftp.upload("8802002", bad)
    report = collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    assert len(report.collected) == 1 and report.rejected == 1 and report.waiting == 1
    assert inbox(sftp, "8802001") == [] and inbox(sftp, "A81001") == [waiting.name]
    receipt = json.loads((sftp.home("8802002") / "outbox" / f"{bad.name}.receipt.json").read_text())
    assert receipt["status"] == "rejected" and "does not match" in receipt["reason"]
    assert not list((sftp.home("8802002") / "outbox").glob(".*"))  # no half-written receipt left
    sftp.upload("8802001", good)  # the same upload again
    again = collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    assert not again.collected and again.duplicates == 0
    assert [s for a, n, s in ledger(sqlite_url) if n == good.name] == ["collected"]


def test_a_whole_run_over_sftp_writes_receipts_to_each_outbox(sftp, tmp_path, sqlite_url):
    for a in ("8802001", "8802002"):
        sftp.upload(a, extract(tmp_path, a))
    config = sftp.register_config(tmp_path / "sftp.yaml")
    result = run_pipeline(sqlite_url, None, str(config), str(tmp_path / "archive"), AS_OF)
    assert result.success and failed_checks_of(result) == []
    for a in ("8802001", "8802002"):
        receipt = json.loads((sftp.home(a) / "outbox" / f"school_{a}_20261101.csv.receipt.json").read_text())
        assert receipt["status"] == "accepted" and receipt["rows"]["accepted"] == 3
    sftp.upload("8802001", extract(tmp_path, "8802001"))
    again = run_pipeline(sqlite_url, None, str(config), str(tmp_path / "archive"), AS_OF)
    assert again.success
    assert [s for a, n, s in ledger(sqlite_url) if a == "8802001"] == ["accepted", "duplicate"]


def test_a_session_killed_mid_download_is_retried_and_nothing_is_lost(sftp, tmp_path, sqlite_url):
    big = extract(tmp_path, "8802001", rows=3000, pad=200)
    assert big.stat().st_size > 600_000
    sftp.upload("8802001", big)
    src = source(sftp, backoff=0.05)
    cuts = []

    def cut_once(account, name, done, total):
        if not cuts and 0 < done < total:
            cuts.append(sftp.kill_sessions(account))
    src.on_progress = cut_once
    report = collect(src, open_register(sqlite_url), tmp_path / "archive")
    assert len(cuts) == 1 and cuts[0] >= 1, "the server's session was killed during the download"
    assert len(report.collected) == 1 and not report.failed_providers
    archived = list((tmp_path / "archive").rglob("*.csv"))
    assert len(archived) == 1 and archived[0].read_bytes() == big.read_bytes()
    assert not list((tmp_path / "archive" / "tmp").iterdir())
    assert inbox(sftp, "8802001") == []


def test_a_cut_that_outlasts_the_retries_leaves_the_file_for_the_next_run(sftp, tmp_path, sqlite_url):
    big = extract(tmp_path, "8802001", rows=3000, pad=200)
    sftp.upload("8802001", big)
    src = source(sftp, attempts=2, backoff=0.05)
    src.on_progress = lambda account, name, done, total: done < total and sftp.kill_sessions(account)
    report = collect(src, open_register(sqlite_url), tmp_path / "archive", transient=src.transient_errors)
    assert report.failed_providers == {"8802001": "SftpUnreachable"} and not report.collected
    assert inbox(sftp, "8802001") == [big.name, big.name + ".sha256"]
    assert ledger(sqlite_url) == [] and not list((tmp_path / "archive" / "tmp").iterdir())
    report = collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    assert len(report.collected) == 1 and inbox(sftp, "8802001") == []


def test_server_down_is_reported_and_the_next_run_recovers(sftp, tmp_path, sqlite_url):
    sftp.upload("8802001", extract(tmp_path, "8802001"))
    config = sftp.register_config(tmp_path / "sftp.yaml")
    sftp.stop()
    try:
        down = run_pipeline(sqlite_url, None, str(config), str(tmp_path / "archive"), AS_OF,
                            settings={})
        assert down.success
        assert "raw_extracts:every_provider_reachable" in failed_checks_of(down)
        assert ledger(sqlite_url) == []
    finally:
        sftp.start()
    up = run_pipeline(sqlite_url, None, str(config), str(tmp_path / "archive"), AS_OF)
    assert up.success and failed_checks_of(up) == []
    assert [s for _, _, s in ledger(sqlite_url)] == ["accepted"]


@pytest.mark.parametrize("pinned", ["changed", "unknown"])
def test_a_changed_or_unknown_host_key_is_refused_loudly(sftp, tmp_path, sqlite_url, pinned):
    sftp.upload("8802001", extract(tmp_path, "8802001"))
    if pinned == "changed":
        other = tmp_path / "other_host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        sftp.write_known_hosts(other)
    else:
        sftp.known_hosts.write_text("")
    with pytest.raises(SftpRefused):
        collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    result = run_pipeline(sqlite_url, None, str(sftp.register_config(tmp_path / "s.yaml")),
                          str(tmp_path / "archive"), AS_OF)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert failure.step_key == "raw_extracts" and "SftpRefused" in failure.event_specific_data.error.to_string()
    assert ledger(sqlite_url) == [] and len(inbox(sftp, "8802001")) == 2


@pytest.fixture
def small_mount(tmp_path):
    with small_tmpfs(tmp_path / "archive", "256k") as mount:
        yield mount


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_archive_loses_nothing_and_recovers(sftp, tmp_path, sqlite_url, small_mount, fault):
    big = extract(tmp_path, "8802001", rows=3000, pad=200)
    sftp.upload("8802001", big)
    if fault == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    with pytest.raises(OSError) as exc:
        collect(source(sftp), open_register(sqlite_url), small_mount)
    assert exc.value.errno == (errno.ENOSPC if fault == "full" else errno.EROFS)
    assert inbox(sftp, "8802001") == [big.name, big.name + ".sha256"] and ledger(sqlite_url) == []
    if fault == "full":
        assert not list((small_mount / "tmp").iterdir()), "no partial temp file is left"
    subprocess.run(["mount", "-o", "remount,rw,size=16m", str(small_mount)], check=True)
    assert len(collect(source(sftp), open_register(sqlite_url), small_mount).collected) == 1
    assert inbox(sftp, "8802001") == []


def test_two_collection_runs_at_once_ingest_each_file_once(sftp, tmp_path, pg_url):
    for day in range(1, 13):
        sftp.upload("8802001", extract(tmp_path, "8802001", rows=200, day=f"202611{day:02d}"))
    engine = open_register(pg_url)
    reports, errors = [], []

    def one_run(i):
        try:
            reports.append(collect(source(sftp), engine, tmp_path / "archive"))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
    threads = [threading.Thread(target=one_run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = [n for _, n, _ in ledger(pg_url)]
    assert len(names) == 12 and len(set(names)) == 12
    assert sum(len(r.collected) for r in reports) == 12
    assert inbox(sftp, "8802001") == []


def test_inbox_sensor_requests_one_run_per_provider_with_new_files(sftp, tmp_path):
    config = sftp.register_config(tmp_path / "sftp.yaml")
    delivery = DeliverySources(sftp_config=str(config), archive=str(tmp_path / "archive"))
    from pipelines.sensors import inbox_sensor
    instance = DagsterInstance.ephemeral()
    sftp.upload("8802001", extract(tmp_path, "8802001"))
    health = tmp_path / "health_A81001_20261102.csv"
    health.write_bytes(b"nhs_number,family_name\n")
    health.with_name(health.name + ".sha256").write_text(hashlib.sha256(health.read_bytes()).hexdigest())
    sftp.upload("A81001", health)
    with build_sensor_context(instance=instance, resources={"delivery": delivery}) as ctx:
        result = inbox_sensor(ctx)
    assert sorted(r.partition_key for r in result.run_requests) == ["8802001", "A81001"]
    assert sorted(result.dynamic_partitions_requests[0].partition_keys) == sorted(ACCOUNTS)
    instance.add_dynamic_partitions("providers", ACCOUNTS)
    with build_sensor_context(instance=instance, resources={"delivery": delivery}, cursor=result.cursor) as ctx:
        again = inbox_sensor(ctx)
    assert not again.run_requests, "the cursor remembers what was seen"
    earlier_form = json.loads(result.cursor)
    earlier_form["accounts"] = earlier_form.pop("providers")  # as written before providers had one name
    with build_sensor_context(instance=instance, resources={"delivery": delivery},
                              cursor=json.dumps(earlier_form)) as ctx:
        assert not inbox_sensor(ctx).run_requests, "a cursor written before the rename still counts"
    sftp.upload("8802002", extract(tmp_path, "8802002", day="20261103"))
    with build_sensor_context(instance=instance, resources={"delivery": delivery}, cursor=again.cursor) as ctx:
        third = inbox_sensor(ctx)
    assert [r.partition_key for r in third.run_requests] == ["8802002"]
    sftp.stop()
    try:
        with build_sensor_context(instance=instance, resources={"delivery": delivery},
                                  cursor=third.cursor) as ctx:
            down = inbox_sensor(ctx)
        assert not down.run_requests and "unreachable: 8802001, 8802002, A81001" in down.skip_reason.skip_message
    finally:
        sftp.start()
    sftp.known_hosts.write_text("")
    with build_sensor_context(instance=instance, resources={"delivery": delivery}) as ctx:
        with pytest.raises(SftpRefused):
            inbox_sensor(ctx)


def test_names_and_entries_from_the_server_are_never_trusted(sftp, tmp_path, sqlite_url):
    from sources.sftp import LocalFault
    good = extract(tmp_path, "8802001")
    sftp.upload("8802001", good)
    home = sftp.home("8802001")
    (home / "inbox" / "school_8802001_20261102.csv").mkdir()  # a directory named like an extract
    src = source(sftp)
    assert [f.name for f in src.list_inbox("8802001")] == [good.name, good.name + ".sha256"]
    for bad in ("../outbox/x.csv", "..", "a/b.csv"):
        with pytest.raises(FileNotFoundError):
            src.fetch("8802001", bad, tmp_path / "x")
        with pytest.raises(FileNotFoundError):
            src.remove("8802001", bad)
    # Our own disk failing is ours, not the provider's server being unreachable.
    with pytest.raises(LocalFault):
        src.fetch("8802001", good.name, tmp_path / "no-such-folder" / "x", limit=10)
    slow = source(sftp)
    slow.max_download_s = 0.0
    with pytest.raises(Exception, match="longer than allowed"):
        slow.fetch("8802001", good.name, tmp_path / "y", limit=good.stat().st_size + 1)
    (home / "inbox" / "school_8802001_20261102.csv").rmdir()


def test_a_passphrase_protected_key_is_read_with_its_passphrase_from_the_environment(sftp, tmp_path, monkeypatch):
    import dataclasses
    import shutil
    import subprocess

    from sources.sftp import SftpSource, load_config
    key = tmp_path / "collector_key"
    shutil.copy(sftp.register_key, key)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "correct horse", "-f", str(key)], check=True)
    providers = [dataclasses.replace(p, key_path=str(key), key_passphrase_env="ROLLCALL_TEST_KEY_PASSPHRASE")
                 for p in load_config(sftp.register_config()) if p.provider == "8802001"]
    # The edge hands down its environment; the source looks the passphrase up there only.
    monkeypatch.setenv("ROLLCALL_TEST_KEY_PASSPHRASE", "correct horse")
    with pytest.raises(SftpRefused):  # not in what was handed down: the process's own is never read
        SftpSource(providers, attempts=1).list_inbox("8802001")
    assert SftpSource(providers, secrets={"ROLLCALL_TEST_KEY_PASSPHRASE": "correct horse"}).list_inbox("8802001") == []
    with pytest.raises(SftpUnreachable):  # the key cannot be opened: no session
        SftpSource(providers, attempts=1, secrets={"ROLLCALL_TEST_KEY_PASSPHRASE": "wrong"}).list_inbox("8802001")


def test_a_name_that_is_not_utf8_on_the_server_is_rejected_alone_and_the_inbox_stays_readable(sftp, tmp_path,
                                                                                               sqlite_url):
    import hashlib
    import os
    good = extract(tmp_path, "8802001")
    sftp.upload("8802001", good)
    inbox = os.fsencode(sftp.home("8802001") / "inbox")
    data = good.read_bytes()
    raw = b"school_8802001_2026110\xff.csv"
    for name, content in ((raw, data), (raw + b".sha256", hashlib.sha256(data).hexdigest().encode())):
        path = os.path.join(inbox, name)
        with open(path, "wb") as fh:
            fh.write(content)
        os.chown(path, *[getattr(os.stat(os.path.join(inbox, os.fsencode(good.name))), a)
                         for a in ("st_uid", "st_gid")])
    report = collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    assert len(report.collected) == 1 and report.rejected == 1 and not report.failed_providers
    rows = ledger(sqlite_url)
    bad = [n for _, n, s in rows if n.startswith("unsafe-name-") and s == "rejected"]
    assert len(bad) == 1
    assert (sftp.home("8802001") / "outbox" / f"{bad[0]}.receipt.json").exists()
    assert os.listdir(inbox) == []


def test_a_provider_reads_its_receipts_but_can_never_change_or_delete_them(sftp, tmp_path, sqlite_url):
    bad = extract(tmp_path, "8802001", day="20261103")
    bad.with_name(bad.name + ".sha256").write_text("0" * 64 + "\n")
    sftp.upload("8802001", bad)
    collect(source(sftp), open_register(sqlite_url), tmp_path / "archive")
    name = f"{bad.name}.receipt.json"
    mine = sftp.provider_client("8802001")
    try:
        assert name in mine.listdir("outbox")
        assert json.loads(mine.open(f"outbox/{name}").read())["status"] == "rejected"
        for attempt in (lambda: mine.remove(f"outbox/{name}"), lambda: mine.open(f"outbox/{name}", "w"),
                        lambda: mine.rename(f"outbox/{name}", "outbox/x"), lambda: mine.open("outbox/new", "w")):
            with pytest.raises(IOError):
                attempt()
        assert json.loads(mine.open(f"outbox/{name}").read())["status"] == "rejected"
    finally:
        mine._owner.close()
