"""The installed `rollcall` console script, as an operator or provider uses it."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import AS_OF, make_upn, school_csv

ROLLCALL = str(Path(sys.executable).with_name("rollcall"))


def cli(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return subprocess.run([ROLLCALL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_validate_prints_findings_and_exits_non_zero_only_for_rejected_files(tmp_path):
    good = {"upn": make_upn("8802001", 1), "surname": "Lowe", "forename": "Ada", "dob": "2015-03-02",
            "sex": "F", "entry_date": "2019-09-04", "enrol_status": "C"}
    ok = tmp_path / "school_8802001_20261101.csv"
    ok.write_bytes(school_csv([good, dict(good, sex="Z"), dict(good, surname="Lowe7")], extra_header=",colour"))
    p = cli("validate", str(ok))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"{ok.name}: accepted, 2 rows rejected\n"), "the headline says rows were rejected"
    assert "rows: 3 total, 1 accepted, 2 rejected (quarantined)" in p.stdout
    # Numbered as the contract counts and as a spreadsheet shows it (its row 1 is the header).
    assert "row 2 (spreadsheet row 3), sex: is not one of the codes M/F (value: Z)" in p.stdout
    # The provider's own file on their own machine: the bad value is shown, even a name.
    assert "row 3 (spreadsheet row 4), surname:" in p.stdout and "(value: Lowe7)" in p.stdout
    assert "unknown column ignored: colour" in p.stdout and "no .sha256 sidecar" in p.stdout
    not_utf8 = tmp_path / "school_8802001_20261103.csv"
    data = school_csv([good, good, good, good])
    at = sum(len(line) + 1 for line in data.split(b"\n")[:4]) + 3  # three bytes into line 5
    not_utf8.write_bytes(data[:at] + b"\xe9" + data[at:])
    p = cli("validate", str(not_utf8))
    assert p.returncode == 1 and f"byte {at + 1}, on line 5, is not UTF-8" in p.stdout, p.stdout
    bad = tmp_path / "school_8802001_20261102.csv"
    bad.write_bytes(b"upn,surname\n1,2\n")
    p = cli("validate", str(bad))
    assert p.returncode == 1 and "required column(s) missing" in p.stdout
    misnamed = tmp_path / "pupils.csv"
    misnamed.write_bytes(school_csv([good]))
    assert cli("validate", str(misnamed)).returncode == 1


def test_run_and_exports_through_the_console_script_on_postgresql(landing, pg_url, tmp_path):
    db = pg_url
    p = cli("run", "--landing", str(landing), "--db", db, "--archive", str(tmp_path / "archive"),
            "--as-of", AS_OF.isoformat())
    assert p.returncode == 0, p.stderr[-2000:]
    assert "register children:" in p.stdout
    out = tmp_path / "cme.csv"
    assert cli("export", "cme", "--db", db, "--out", str(out)).returncode == 0
    rows = list(csv.DictReader(open(out)))
    assert rows and {"child_id", "la_code", "reason", "surname", "forename", "dob", "last_school",
                     "address_line1", "postcode", "sources"} <= set(rows[0])
    reg = tmp_path / "register.csv"
    assert cli("export", "register", "--db", db, "--out", str(reg)).returncode == 0
    assert sum(1 for _ in open(reg)) > 400


def test_run_without_a_source_is_a_usage_error():
    p = cli("run")
    assert p.returncode == 2 and "--landing" in p.stderr


def test_demo_from_a_fresh_folder(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")
    p = cli("demo", "--children", "300", "--home", str(tmp_path / "demo"), "--as-of", AS_OF.isoformat(),
            "--no-sftp", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "generated 300 children" in p.stdout and "register children:" in p.stdout
    assert "dagster dev" in p.stdout
    assert (tmp_path / "var" / "dagster" / "storage").is_dir(), "the demo's runs are recorded for dagster dev"
    assert "rollcall serve --db" in p.stdout and "demo-officer (cme_officer; authorities 880, 881, 882)" in p.stdout
    assert "one-time-code secret" in p.stdout
    listed = cli("users", "list", "--db", f"sqlite:///{tmp_path / 'demo' / 'rollcall.sqlite'}", cwd=tmp_path)
    assert "demo-analyst\tactive\troles: analyst" in listed.stdout


@pytest.fixture
def demo_over_sftp(tmp_path):
    """A folder for a demo that delivers over the local OpenSSH server (needs sshd and root)."""
    shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def test_the_demo_over_sftp_shows_progress_says_how_to_try_sftp_and_leaves_no_account(demo_over_sftp):
    import pwd

    from localsftp.server import DemoSftpServer, user_for

    home = demo_over_sftp / "demo"
    p = cli("demo", "--children", "300", "--home", str(home), "--as-of", AS_OF.isoformat(), cwd=demo_over_sftp)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "delivered the extracts over SFTP" in p.stdout
    for step in ("raw_extracts", "validate_extracts", "links", "cme_flags"):
        assert f"rollcall: {step} started" in p.stderr and f"rollcall: {step} done in" in p.stderr
    assert "files validated" in p.stderr
    assert f"sudo .venv/bin/rollcall sftp-server --home {home}" in p.stdout and "needs root" in p.stdout
    assert not DemoSftpServer(home / "sftp").root.exists(), "the demo's chroot folders are removed"
    providers = [d.name for d in (home / "landing").iterdir() if (d / "inbox").is_dir()]
    assert providers
    for provider in providers:
        with pytest.raises(KeyError):
            pwd.getpwnam(user_for(provider))


def test_validate_rejects_a_file_with_no_good_row_and_explains_a_wrong_separator(tmp_path):
    bad_rows = tmp_path / "school_8802001_20261101.csv"
    row = {"upn": make_upn("8802001", 1), "surname": "Lowe", "forename": "Ada", "dob": "2015-03-02",
           "sex": "Z", "entry_date": "2019-09-04", "enrol_status": "C"}
    bad_rows.write_bytes(school_csv([row, dict(row, upn=make_upn("8802001", 2))]))
    p = cli("validate", str(bad_rows))
    assert p.returncode == 1 and "rejected (no row passed validation" in p.stdout
    assert "row 1 (spreadsheet row 2), sex: is not one of the codes M/F (value: Z)" in p.stdout
    semicolons = tmp_path / "school_8802001_20261102.csv"
    semicolons.write_bytes(school_csv([row]).replace(b",", b";"))
    p = cli("validate", str(semicolons))
    assert p.returncode == 1 and "separated by semicolons" in p.stdout


def test_an_export_with_no_register_fails_instead_of_creating_one(tmp_path):
    p = cli("export", "cme", "--out", str(tmp_path / "cme.csv"), cwd=tmp_path)
    assert p.returncode == 1 and "no register at" in p.stderr
    assert not (tmp_path / "var").exists() and not (tmp_path / "cme.csv").exists()
    p = cli("export", "register", "--db", f"sqlite:///{tmp_path / 'nothing.sqlite'}", "--out", str(tmp_path / "r.csv"))
    assert p.returncode == 1 and not (tmp_path / "nothing.sqlite").exists()


def test_the_demo_refuses_a_folder_it_did_not_make(tmp_path):
    production = tmp_path / "var"
    production.mkdir()
    (production / "rollcall.sqlite").write_bytes(b"the real register")
    p = cli("demo", "--home", str(production), "--children", "50", "--no-sftp")
    assert p.returncode == 2 and "did not make" in p.stderr
    assert (production / "rollcall.sqlite").read_bytes() == b"the real register"


def cli_env(*args, env: dict, stdin: str | None = None, cwd=None):
    full = {**{k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ROLLCALL_DB_URL")}, **env}
    return subprocess.run([ROLLCALL, *args], capture_output=True, text=True, cwd=cwd, env=full, input=stdin,
                          timeout=600)


# Every command that reads or changes an existing register (all but run, demo and restore).
ON_A_REGISTER = [("users", "add", "nobody", "--role", "analyst", "--la", "880"), ("users", "list"),
                 ("audit", "verify"), ("audit", "show"), ("audit", "checkpoint"), ("history", "RC0000000001"),
                 ("sar", "RC0000000001", "--out", "sar.json"), ("held", "list"), ("export", "cme", "--out", "c.csv"),
                 ("retention",), ("backup", "--out", "backup"), ("db", "grant", "someone"),
                 ("reference", "postcodes", "--directory", "d.csv", "--la-codes", "l.csv"), ("serve", "--port", "1")]


@pytest.mark.attacks
def test_every_command_reads_the_register_from_rollcall_db_url_and_refuses_one_that_does_not_exist(pg_url, tmp_path):
    """A PostgreSQL password in ROLLCALL_DB_URL, never on the command line; and a command given
    no register never makes an empty one (where a new user could not sign in, and `audit verify`
    would speak of the wrong database)."""
    from sqlalchemy import text

    from register.db import open_register

    with_password = pg_url.replace("postgres@", "postgres:Planted-pw-4417@")  # trust auth: the password is not asked
    open_register(with_password)
    done = cli_env("users", "add", "ava", "--role", "analyst", "--la", "880", env={"ROLLCALL_DB_URL": with_password},
                   stdin="Correct-horse-battery-9\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open_register(pg_url).connect() as conn:
        assert conn.execute(text("SELECT username FROM auth_user")).scalars().all() == ["ava"], "added where it says"
    done = cli_env("audit", "verify", env={"ROLLCALL_DB_URL": with_password}, cwd=tmp_path)
    assert done.returncode == 0 and "all as written" in done.stdout, done.stderr
    assert "admin_user_add" in cli_env("audit", "show", env={"ROLLCALL_DB_URL": with_password}, cwd=tmp_path).stdout
    missing = with_password.rsplit("/", 1)[0] + "/rollcall_no_such_register"
    for args in ON_A_REGISTER:
        done = cli_env(*args, env={"ROLLCALL_DB_URL": missing}, stdin="Correct-horse-battery-9\n", cwd=tmp_path)
        assert done.returncode == 1 and "no register at postgresql+psycopg://postgres:***@" in done.stderr, (args, done)
        assert "Planted-pw-4417" not in done.stdout + done.stderr, args
        done = cli_env(*args, env={}, stdin="Correct-horse-battery-9\n", cwd=tmp_path)
        assert done.returncode == 1 and "no register at sqlite:///var/rollcall.sqlite" in done.stderr, (args, done)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing made: no empty register, no files"


def test_db_create_makes_an_empty_register_on_purpose_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    refused = cli_env("reference", "postcodes", "--directory", "d.csv", "--la-codes", "l.csv", env={"ROLLCALL_DB_URL": url})
    assert refused.returncode == 1 and not (tmp_path / "new.sqlite").exists()
    made = cli_env("db", "create", env={"ROLLCALL_DB_URL": url})
    assert made.returncode == 0 and f"made an empty register at {url}" in made.stdout, made.stderr
    again = cli_env("db", "create", env={"ROLLCALL_DB_URL": url})
    assert again.returncode == 1 and "already" in again.stderr
    assert cli_env("audit", "verify", env={"ROLLCALL_DB_URL": url}).returncode == 0, "a register, empty"
