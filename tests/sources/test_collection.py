import csv
import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from register.db import open_register
from register.models import ExtractFile
from schemas.contract import FileRejected
from sources.collection import collect, complete_files
from sources.landing import InboxFile, LocalLanding
from sources.naming import parse_name
from tests.helpers import drop_extract, make_upn, receipt, school_csv

ROW = {"upn": make_upn("8802001", 5), "surname": "Patel", "forename": "Priya", "dob": "2015-03-02", "sex": "F",
       "entry_date": "2019-09-04", "enrol_status": "C"}
NAME = "school_8802001_20261101.csv"


def ledger(url):
    with Session(open_register(url)) as s:
        return [(f.name, f.status, f.reason) for f in s.scalars(select(ExtractFile).order_by(ExtractFile.id))]


@pytest.mark.parametrize("name, ok", [
    ("school_8802001_20261101.csv", True), ("health_A81001_20261101.csv", True), ("la_880_20261101.csv", True),
    ("school_880200_20261101.csv", False), ("health_a81001_20261101.csv", False), ("la_8800_20261101.csv", False),
    ("school_8802001_20261301.csv", False), ("roll_8802001_20261101.csv", False), ("school_8802001.csv", False),
    # A trailing newline and non-ASCII digits (Arabic-Indic, fullwidth) are not the contract's digits.
    ("school_8802001_20261101.csv\n", False), ("la_\u0668\u0668\u0660_20261101.csv", False),
    ("school_8802001_\uff12\uff10\uff12\uff16\uff11\uff11\uff10\uff11.csv", False),
])
def test_file_names_follow_the_contract(name, ok):
    if ok:
        assert parse_name(name).provider == name.split("_")[1]
    else:
        with pytest.raises(FileRejected):
            parse_name(name)


def test_pairing_leaves_csvs_without_sidecars_alone():
    pairs, orphans, waiting = complete_files(["a.csv", "a.csv.sha256", "b.csv", "c.csv.sha256", ".d.part"])
    assert pairs == [("a.csv", "a.csv.sha256")] and orphans == ["c.csv.sha256"] and waiting == 1


def test_collection_archives_records_and_removes_only_complete_files(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    drop_extract(landing, "8802001", "school_8802001_20261102.csv", school_csv([ROW]), sidecar=False)
    report = collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    assert len(report.collected) == 1 and report.waiting == 1
    assert sorted(p.name for p in (landing / "8802001" / "inbox").iterdir()) == ["school_8802001_20261102.csv"]
    assert ledger(sqlite_url) == [(NAME, "collected", None)]
    archived = list((tmp_path / "archive").rglob("*.csv"))
    assert len(archived) == 1 and archived[0].read_bytes() == school_csv([ROW])
    assert not list((tmp_path / "archive" / "tmp").iterdir())


def test_bad_files_are_rejected_whole_with_a_receipt(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]), sidecar="0" * 64)
    drop_extract(landing, "8802001", "school_8802002_20261101.csv", school_csv([ROW]))
    drop_extract(landing, "8802001", "notes.txt", b"hello")
    drop_extract(landing, "8802001", "school_8802001_20261103.csv", b"")
    (landing / "8802001" / "inbox" / "school_8802001_20261104.csv.sha256").write_text("0" * 64)
    report = collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    assert report.rejected == 5 and not report.collected
    reasons = {n: r for n, s, r in ledger(sqlite_url)}
    assert "does not match" in reasons[NAME]
    assert "not this account's own" in reasons["school_8802002_20261101.csv"]
    assert "does not follow" in reasons["notes.txt"]
    assert "empty" in reasons["school_8802001_20261103.csv"]
    assert "without its CSV" in reasons["school_8802001_20261104.csv.sha256"]
    r = receipt(landing, "8802001", NAME)
    assert r["status"] == "rejected" and "does not match" in r["reason"]
    assert list((landing / "8802001" / "inbox").iterdir()) == []


def test_the_same_file_sent_twice_is_ingested_once(tmp_path, sqlite_url):
    landing, engine = tmp_path / "landing", open_register(sqlite_url)
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    first = collect(LocalLanding(landing), engine, tmp_path / "archive")
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    drop_extract(landing, "8802001", "school_8802001_20261108.csv", school_csv([ROW]))
    second = collect(LocalLanding(landing), engine, tmp_path / "archive")
    # Same name while the first copy is still being processed: the same upload, cleared quietly.
    # Same content under another name: a duplicate with a receipt.
    assert len(first.collected) == 1 and second.duplicates == 1 and not second.collected
    assert [(n, s) for n, s, _ in ledger(sqlite_url)] == [(NAME, "collected"),
                                                          ("school_8802001_20261108.csv", "duplicate")]
    assert receipt(landing, "8802001", "school_8802001_20261108.csv")["status"] == "duplicate"
    assert list((landing / "8802001" / "inbox").iterdir()) == []


def test_a_rejected_file_does_not_block_its_corrected_resend(tmp_path, sqlite_url):
    landing, engine = tmp_path / "landing", open_register(sqlite_url)
    drop_extract(landing, "8802001", NAME, school_csv([ROW]), sidecar="f" * 64)
    collect(LocalLanding(landing), engine, tmp_path / "archive")
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    assert len(collect(LocalLanding(landing), engine, tmp_path / "archive").collected) == 1


def test_receipt_csv_rows_are_safe(tmp_path):
    from schemas.contract import RowFault
    from schemas.receipt import Receipt
    r = Receipt(file=NAME, status="accepted", feed="school", faults=[
        RowFault(3, "surname", "holds characters other than letters", "=cmd|' /C calc'!A0"),
        RowFault(4, "sex", "is not one of the codes M/F", "+44")])
    rows = list(csv.reader(io.StringIO(r.to_csv().decode())))
    assert rows[1] == ["3", "surname", "(withheld, 18 characters)", "holds characters other than letters"]
    assert rows[2] == ["4", "sex", "'+44", "is not one of the codes M/F"]
    assert "calc" not in r.to_json().decode()


def test_an_extract_dated_after_today_is_rejected():
    from datetime import date
    with pytest.raises(FileRejected, match="after today"):
        parse_name("school_8802001_20991231.csv")
    assert parse_name("school_8802001_20261130.csv", today=date(2026, 11, 30)).extract_date == date(2026, 11, 30)
    with pytest.raises(FileRejected, match="after today"):
        parse_name("school_8802001_20261201.csv", today=date(2026, 11, 30))


def test_a_future_dated_extract_gets_a_receipt_and_never_becomes_the_newest(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", "school_8802001_20991231.csv", school_csv([ROW]))
    collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    assert ledger(sqlite_url) == [("school_8802001_20991231.csv", "rejected",
                                   "the date in the file name is after today: an extract cannot come from the future")]
    assert receipt(landing, "8802001", "school_8802001_20991231.csv")["status"] == "rejected"


def test_a_bad_file_name_is_rejected_on_its_own_and_the_run_goes_on(tmp_path, sqlite_url):
    import hashlib
    import os
    landing = tmp_path / "landing"
    data = school_csv([ROW])
    long_name = "school_8802001_20261101_" + "x" * (248 - 28) + ".csv"
    assert len(long_name) == 248
    drop_extract(landing, "8802001", long_name, data)
    inbox = landing / "8802001" / "inbox"
    raw = b"school_8802001_2026110\xff.csv"  # not UTF-8
    with open(os.path.join(os.fsencode(inbox), raw), "wb") as fh:
        fh.write(data)
    with open(os.path.join(os.fsencode(inbox), raw + b".sha256"), "wb") as fh:
        fh.write(hashlib.sha256(data).hexdigest().encode() + b"\n")
    drop_extract(landing, "8802002", "school_8802002_20261101.csv", school_csv([dict(ROW, upn=make_upn("8802002", 6))]))
    report = collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    rows = ledger(sqlite_url)
    assert ("school_8802002_20261101.csv", "collected", None) in rows
    bad = [r for r in rows if r[0].startswith("unsafe-name-")]
    assert len(bad) == 2 and all(status == "rejected" and "not valid" in reason for _, status, reason in bad)
    assert report.rejected == 2 and len(report.collected) == 1
    for name, _, _ in bad:
        assert receipt(landing, "8802001", name)["status"] == "rejected"
    assert os.listdir(inbox) == [], "the bad files left the inbox"


class OutboxFailsOnce(LocalLanding):
    """A crash between the ledger commit and the receipt: the first receipt write fails."""
    failed = False

    def put_outbox(self, provider, name, data):
        if not OutboxFailsOnce.failed:
            OutboxFailsOnce.failed = True
            raise OSError("the machine stopped here")
        super().put_outbox(provider, name, data)


def test_a_receipt_lost_to_a_crash_is_rebuilt_from_the_ledger(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]), sidecar="a" * 64)  # rejected: checksum
    with pytest.raises(OSError):
        collect(OutboxFailsOnce(landing), open_register(sqlite_url), tmp_path / "archive")
    assert not (landing / "8802001" / "outbox" / f"{NAME}.receipt.json").exists()
    collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    r = receipt(landing, "8802001", NAME)
    assert r["status"] == "rejected" and "does not match" in r["reason"]
    assert ledger(sqlite_url) == [(NAME, "rejected", "the SHA-256 in the sidecar does not match the file")]
    assert not any((landing / "8802001" / "inbox").iterdir())


def test_partial_downloads_left_by_a_killed_run_are_cleared(tmp_path, sqlite_url):
    import os
    import time
    tmp = tmp_path / "archive" / "tmp"
    tmp.mkdir(parents=True)
    import subprocess
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale, dead, fresh = tmp / "old.part", tmp / f"{gone.pid}-abc.part", tmp / f"{os.getpid()}-def.part"
    for part in (stale, dead, fresh):
        part.write_bytes(b"a whole extract")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    collect(LocalLanding(tmp_path / "landing"), open_register(sqlite_url), tmp_path / "archive")
    assert not stale.exists() and not dead.exists(), "left by a process that is gone"
    assert fresh.exists(), "a download under way in a live process is kept"


def test_only_real_provider_folders_are_accounts_and_symlinks_are_never_followed(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    victim_file = landing / "8802001" / "inbox" / NAME
    drop_extract(landing, "notes", "school_8802001_20261102.csv", school_csv([ROW]))  # not a provider id
    (landing / "8802009").symlink_to(landing / "8802001")  # a provider folder that is a symlink
    (landing / "8802008").mkdir()
    (landing / "8802008" / "inbox").symlink_to(landing / "8802001" / "inbox")  # a symlinked inbox
    secret = tmp_path / "secret.csv"
    secret.write_bytes(school_csv([dict(ROW, surname="Hidden")]))
    secret.chmod(0o600)
    (landing / "8802007" / "inbox").mkdir(parents=True)
    (landing / "8802007" / "inbox" / "school_8802007_20261101.csv").symlink_to(secret)
    (landing / "8802007" / "inbox" / "school_8802007_20261101.csv.sha256").write_text("0" * 64)
    source = LocalLanding(landing)
    assert source.providers() == ["8802001", "8802007"]
    assert [(f.name, f.kind) for f in source.list_inbox("8802007")] == [
        ("school_8802007_20261101.csv", "symbolic link"), ("school_8802007_20261101.csv.sha256", "file")]
    collect(source, open_register(sqlite_url), tmp_path / "archive")
    assert ledger(sqlite_url)[0][:2] == (NAME, "collected")
    assert ("school_8802007_20261101.csv", "rejected",
            "this is a symbolic link, not a file of its own: upload the extract itself") in ledger(sqlite_url)
    assert not victim_file.exists() and secret.exists()
    archived = [p.read_bytes() for p in (tmp_path / "archive").rglob("*.csv")]
    assert school_csv([ROW]) in archived and secret.read_bytes() not in archived


def test_a_file_swapped_for_a_symlink_after_listing_is_never_followed(tmp_path):
    landing = tmp_path / "landing"
    path = drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"another provider's extract")
    source = LocalLanding(landing)
    assert [f.name for f in source.list_inbox("8802001")] == [NAME, f"{NAME}.sha256"]
    path.unlink()
    path.symlink_to(secret)  # the race: listed as a file, fetched as a link
    with pytest.raises(FileNotFoundError):
        source.fetch("8802001", NAME, tmp_path / "copy")


class ReuploadDuringCollection(LocalLanding):
    """The provider sends a corrected file under the same name while we are downloading."""

    def fetch(self, provider, name, dest, limit=None):
        super().fetch(provider, name, dest, limit)
        if name == NAME and not getattr(self, "done", False):
            self.done = True
            drop_extract(self.root, provider, NAME, school_csv([dict(ROW, surname="Corrected")]))


def test_a_corrected_reupload_during_collection_is_never_deleted(tmp_path, sqlite_url):
    import os
    import time
    landing = tmp_path / "landing"
    path = drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    old = time.time() - 60
    os.utime(path, (old, old))
    collect(ReuploadDuringCollection(landing), open_register(sqlite_url), tmp_path / "archive")
    assert b"Corrected" in path.read_bytes(), "the corrected file is still in the inbox"
    assert ledger(sqlite_url) == [], "nothing is recorded for a file that changed under us"
    collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    assert [status for _, status, _ in ledger(sqlite_url)] == ["collected"]
    with Session(open_register(sqlite_url)) as s:
        archived = s.scalars(select(ExtractFile.archive_path)).one()
    assert b"Corrected" in open(archived, "rb").read()
    assert not path.exists()


def test_a_file_that_vanishes_between_listing_and_stat_is_skipped(tmp_path, monkeypatch):
    import os
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    real_scandir = os.scandir

    class Vanishing:
        def __init__(self, entry):
            self.entry, self.name = entry, entry.name

        def is_file(self, follow_symlinks=True):
            return True

        def stat(self, follow_symlinks=True):
            raise FileNotFoundError(self.name)

    def scandir(path):
        entries = list(real_scandir(path))
        return entries + [Vanishing(entries[0])] if entries else entries

    monkeypatch.setattr("sources.landing.os.scandir", scandir)
    assert len(LocalLanding(landing).list_inbox("8802001")) == 2


def test_files_over_the_size_limit_are_rejected_unread_and_the_others_go_on(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    big = drop_extract(landing, "8802001", NAME, school_csv([ROW] * 50))
    drop_extract(landing, "8802001", "school_8802001_20261102.csv", school_csv([ROW]))
    (landing / "8802001" / "inbox" / "school_8802001_20261103.csv").write_bytes(school_csv([ROW]))
    (landing / "8802001" / "inbox" / "school_8802001_20261103.csv.sha256").write_bytes(b"0" * 4096)
    report = collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive", max_bytes=1000)
    rows = {n: (s, r) for n, s, r in ledger(sqlite_url)}
    assert rows[NAME][0] == "rejected" and "larger than the register accepts" in rows[NAME][1]
    assert "sidecar is larger" in rows["school_8802001_20261103.csv"][1]
    assert rows["school_8802001_20261102.csv"][0] == "collected" and len(report.collected) == 1
    assert receipt(landing, "8802001", NAME)["status"] == "rejected" and not big.exists()
    assert not any(p.read_bytes() == school_csv([ROW] * 50) for p in (tmp_path / "archive").rglob("*.csv"))


class GrowsWhileListed(LocalLanding):
    """A server that lists 2 KB and then sends far more."""

    def list_inbox(self, provider):
        return [InboxFile(f.name, min(f.size, 200), f.mtime) for f in super().list_inbox(provider)]

    def stat(self, provider, name):
        f = super().stat(provider, name)
        return f and InboxFile(f.name, min(f.size, 200), f.mtime)


def test_never_more_is_downloaded_than_was_listed(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW] * 2000))
    collect(GrowsWhileListed(landing), open_register(sqlite_url), tmp_path / "archive")
    assert ledger(sqlite_url) == []
    assert all(p.stat().st_size <= 201 for p in (tmp_path / "archive").rglob("*") if p.is_file())


def test_every_receipt_is_kept_when_a_file_is_sent_again(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]), sidecar="a" * 64)  # rejected: checksum
    collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    first = receipt(landing, "8802001", NAME)
    drop_extract(landing, "8802001", NAME, school_csv([dict(ROW, surname="Again")]), sidecar="b" * 64)
    collect(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    assert receipt(landing, "8802001", NAME)["sha256"] != first["sha256"]
    outbox = sorted(p.name for p in (landing / "8802001" / "outbox").iterdir())
    kept = [n for n in outbox if n.startswith(f"{NAME}.receipt.") and n.endswith(".json") and n != f"{NAME}.receipt.json"]
    assert len(kept) == 1
    import json
    assert json.loads((landing / "8802001" / "outbox" / kept[0]).read_text()) == first


def collect_within(source, engine, archive, seconds: float = 60):
    """collect() in a thread, failing the test when it is still blocked after `seconds`."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(collect, source, engine, archive).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


@pytest.mark.attacks
@pytest.mark.root
def test_a_pipe_a_device_or_a_hard_link_in_an_inbox_never_blocks_and_is_rejected_with_a_receipt(tmp_path, sqlite_url):
    import os
    import stat

    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    inbox = landing / "8802001" / "inbox"
    pipe, device, linked = (f"school_8802001_2026110{d}.csv" for d in (2, 3, 4))
    os.mkfifo(inbox / pipe)
    (inbox / f"{pipe}.sha256").write_text("0" * 64 + "\n")
    os.mknod(inbox / device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: endless
    elsewhere = tmp_path / "another-providers-extract.csv"
    elsewhere.write_bytes(school_csv([dict(ROW, surname="Elsewhere")]))
    os.link(elsewhere, inbox / linked)
    drop_extract(landing, "8802001", linked, elsewhere.read_bytes())  # a sidecar that matches it
    (inbox / linked).unlink()
    os.link(elsewhere, inbox / linked)
    try:
        report = collect_within(LocalLanding(landing), open_register(sqlite_url), tmp_path / "archive")
    finally:
        try:  # a collector blocked on the pipe would be freed by a writer
            os.close(os.open(inbox / pipe, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    found = {name: (status, reason) for name, status, reason in ledger(sqlite_url)}
    assert found[NAME][0] == "collected" and report.rejected == 3
    assert found[pipe] == ("rejected", "this is a named pipe, not a file of its own: upload the extract itself")
    assert found[device][1].startswith("this is a device") and found[linked][1].startswith("this is a hard link")
    for name in (pipe, device, linked):
        assert receipt(landing, "8802001", name)["status"] == "rejected", name
        assert not os.path.lexists(inbox / name), "taken out of the inbox"
    assert elsewhere.exists() and b"Elsewhere" not in b"".join(
        p.read_bytes() for p in (tmp_path / "archive").rglob("*.csv")), "what the link points at is never read"


class SwappedAfterListing(LocalLanding):
    """Between listing and collection the provider's file is replaced: by a named pipe, or by
    another file of the same size with the listed time copied onto it."""

    def __init__(self, root, swap):
        super().__init__(root)
        self.swap = swap

    def fetch(self, provider, name, dest, limit=None):
        if self.swap == "pipe" and name == NAME:
            import os

            path = self._inbox(provider) / name
            path.unlink()
            os.mkfifo(path)
        super().fetch(provider, name, dest, limit)
        if self.swap == "same size and time" and name == NAME and not getattr(self, "done", False):
            import os

            self.done = True
            path = self._inbox(provider) / name
            st = path.stat()
            other = path.with_name(".upload")
            other.write_bytes(school_csv([dict(ROW, surname="Patem")]))  # the same length
            os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(other, path)


@pytest.mark.attacks
def test_a_file_swapped_for_a_pipe_after_listing_never_blocks_and_is_rejected_next_time(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    engine = open_register(sqlite_url)
    report = collect_within(SwappedAfterListing(landing, "pipe"), engine, tmp_path / "archive")
    assert report.collected == [] and ledger(sqlite_url) == [], "nothing read, nothing recorded"
    collect_within(LocalLanding(landing), engine, tmp_path / "archive")
    assert [s for n, s, _ in ledger(sqlite_url) if n == NAME] == ["rejected"]


@pytest.mark.attacks
def test_a_file_replaced_with_its_size_and_time_copied_is_never_deleted_unread(tmp_path, sqlite_url):
    landing = tmp_path / "landing"
    path = drop_extract(landing, "8802001", NAME, school_csv([ROW]))
    engine = open_register(sqlite_url)
    collect(SwappedAfterListing(landing, "same size and time"), engine, tmp_path / "archive")
    assert b"Patem" in path.read_bytes(), "the replacement is still in the inbox"
    assert ledger(sqlite_url) == [], "nothing recorded for a file that changed under us"
    collect(LocalLanding(landing), engine, tmp_path / "archive")
    (name, status, reason), = ledger(sqlite_url)
    assert status == "rejected" and "sidecar does not match" in reason, "the replacement met the old sidecar"
