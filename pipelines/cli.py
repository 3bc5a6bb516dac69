"""The `rollcall` command: demo, run, export, validate, generate. It runs the same Dagster assets
in-process that `dagster dev` shows, and prints counts, never a child's data."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.unchanged import inputs_fingerprint, remember_run, unchanged_since_last_run
from register.clock import today
from register.db import DEFAULT_URL, open_register
from sources.collect import DEFAULT_ARCHIVE


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all
        return "(an unreadable URL)"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


# Dagster's run tags for one run over a range of partitions (a single-run backfill); written out
# because Dagster exports no public name for them.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_pipeline(db_url: str, landing: str | None = None, sftp: str | None = None, archive: str | None = None,
                 as_of: date | None = None, instance=None, settings: dict | None = None,
                 starter_alerts: bool = False, providers: set[str] | None = None):
    """Run every asset in-process, all provider partitions in one run of `pipeline_job` (or,
    given `providers`, only the partitions from the first of them to the last: the ones with
    work; none, and the intake steps are left out). `starter_alerts`: the caller raises the
    run's alerts itself (the command line), so the sensors leave it alone."""
    from dagster import DagsterInstance, Definitions, default_loggers

    from assets.intake import provider_partitions
    from pipelines.definitions import PIPELINE_ASSETS, pipeline_job
    from pipelines.progress import progress_logger
    from pipelines.resources import DeliverySources, rollcall_resources

    resources = rollcall_resources(db_url=db_url, landing=landing, sftp_config=sftp, archive=archive,
                                   **{"as_of": as_of.isoformat() if as_of else None, **(settings or {})})
    if instance is None:
        # Entered, so Dagster's definitions load against this instance's state storage, never a
        # stale one an earlier in-process run left behind; disposed when the run is done.
        with DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral() as own:
            return run_pipeline(db_url, landing, sftp, archive, as_of, own, settings, starter_alerts, providers)
    configured = DeliverySources(landing=landing, sftp_config=sftp).providers()
    name = provider_partitions.name
    known = set(instance.get_dynamic_partitions(name))
    if set(configured) - known:
        instance.add_dynamic_partitions(name, sorted(set(configured) - known))
    keys = instance.get_dynamic_partitions(name)
    if providers is not None:
        keys = [k for k in keys if k in providers]
    tags = {"rollcall/trigger": "cli"}
    if starter_alerts:
        from pipelines.failure_alerts import STARTER_ALERTS_TAG

        tags[STARTER_ALERTS_TAG] = "by-starter"
    selection = None
    if keys:
        # One run over every provider partition: the intake assets see them all at once.
        tags.update({PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1]})
    else:
        selection = [a.key for a in PIPELINE_ASSETS if a.partitions_def is None]
    level = os.environ.get("ROLLCALL_LOG_LEVEL", "WARNING")
    job = Definitions(assets=PIPELINE_ASSETS, jobs=[pipeline_job], resources=resources,
                      loggers={**default_loggers(), "progress": progress_logger}).resolve_job_def(pipeline_job.name)
    loggers = {"console": {"config": {"log_level": level}}}
    if os.environ.get("ROLLCALL_PROGRESS", "1") != "0":
        loggers["progress"] = {}
    return job.execute_in_process(instance=instance, raise_on_error=False, tags=tags, asset_selection=selection,
                                  run_config={"loggers": loggers})


def summary(db_url: str, as_of: date | None = None) -> list[str]:
    from sqlalchemy import func, select

    from cme.reports import latest_cme_date
    from register.db import open_register
    from register.models import Child, CmeFlag, ExtractFile, SourceRecord

    engine = open_register(db_url)
    with engine.connect() as conn:
        status = dict(conn.execute(select(ExtractFile.status, func.count()).group_by(ExtractFile.status)).all())
        quarantined = conn.execute(select(func.coalesce(func.sum(ExtractFile.rows_quarantined), 0))).scalar()
        records = conn.execute(select(func.count()).where(SourceRecord.active.is_(True))).scalar()
        children = conn.execute(select(func.count()).where(Child.retired_at.is_(None))).scalar()
        when = as_of or latest_cme_date(engine)
        per_la = dict(conn.execute(select(CmeFlag.la_code, func.count()).where(CmeFlag.as_of == when)
                                   .group_by(CmeFlag.la_code)).all())
        for la in conn.execute(select(SourceRecord.provider).where(SourceRecord.feed == "la").distinct()).scalars():
            per_la.setdefault(la, 0)
    lines = [f"files accepted: {status.get('accepted', 0)}, rejected: {status.get('rejected', 0)}, "
             f"duplicates: {status.get('duplicate', 0)}",
             f"rows quarantined: {quarantined}", f"current records: {records}", f"register children: {children}",
             f"children missing education on {when}:"]
    lines += [f"  LA {la}: {n}" if la else f"  authority not known (a person must look): {n}"
              for la, n in sorted(per_la.items())] or ["  none"]
    return lines


def failed_checks_of(result) -> list[str]:
    """Failed checks of an in-process run, from its result's events."""
    from pipelines.failure_alerts import check_label

    return [check_label(e.event_specific_data) for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed]


CHECKS_FAILED = 3  # the run finished but a check failed: cron and systemd must notice


def _report_run(result, db_url: str | None = None) -> int:
    """Exit 1 when the run failed, CHECKS_FAILED when a check failed, else 0; a failure raises
    the same alert the Dagster sensors raise for the daemon's runs (they leave the command
    line's runs to it, so an alert is raised once whoever started the run)."""
    from alerts.notify import raise_alert

    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise_alert("run_failed", db_url, run_id=result.run_id, job="rollcall run", steps=failed, started_by="cli")
        print(f"rollcall: the run failed at {', '.join(failed) or 'an unknown step'}; "
              f"see run {result.run_id} in Dagster", file=sys.stderr)
        return 1
    failed_checks = failed_checks_of(result)
    for c in failed_checks:
        print(f"rollcall: check failed: {c}", file=sys.stderr)
    if failed_checks:
        raise_alert("checks_failed", db_url, run_id=result.run_id, checks=failed_checks, started_by="cli")
        return CHECKS_FAILED
    return 0


def cmd_run(args) -> int:
    from pipelines.resources import link_engine_from_env
    from register.lock import RegisterBusy, register_lock

    if not args.landing and not args.sftp:
        print("rollcall run: give --landing DIR and/or --sftp CONFIG", file=sys.stderr)
        return 2
    try:
        with register_lock(args.db, args.wait):
            inputs = _run_inputs(args)
            # One listing of the inboxes serves the nothing-new test and the run's intake.
            work = _providers_with_work(args) if inputs is not None else None
            if inputs is not None:
                last = unchanged_since_last_run(open_register(args.db), inputs)
                if last is not None and work == set():
                    # Nothing new since the last run: no Dagster run, no re-link, the same answer.
                    print(f"rollcall run: nothing new since the last run (its exit code: {last}); "
                          "the register and the CME list stand", file=sys.stderr)
                    if last == 0:
                        print("\n".join(summary(args.db, args.as_of)))
                    return last
            result = run_pipeline(args.db, args.landing, args.sftp, args.archive, args.as_of,
                                  settings={"relink": args.relink, **link_engine_from_env()}, starter_alerts=True,
                                  providers=work)
            code = _report_run(result, args.db)
            if code in (0, CHECKS_FAILED):
                remember_run(open_register(args.db), _run_inputs(args), code)
    except RegisterBusy as exc:
        print(f"rollcall run: {exc}; nothing was done. Try again later, or give --wait SECONDS.", file=sys.stderr)
        return 75  # EX_TEMPFAIL: cron and systemd may retry
    if code == 0:
        print("\n".join(summary(args.db, args.as_of)))
    return code


def _run_inputs(args) -> str | None:
    """The fingerprint of what a run would read, or None with no register yet."""
    from matching import MATCHER_VERSION

    if not register_exists(args.db):
        return None
    settings = {"landing": args.landing or "", "sftp": args.sftp or "", "archive": args.archive,
                "relink": getattr(args, "relink", "auto"),
                "matcher": MATCHER_VERSION, "cadence": _file_sha(os.environ.get("ROLLCALL_CADENCE")),
                "sftp_config": _file_sha(args.sftp)}
    return inputs_fingerprint(open_register(args.db), args.as_of or today(), settings)


def _file_sha(path: str | None) -> str:
    from register.checksums import file_sha256

    return file_sha256(Path(path)) if path and Path(path).is_file() else ""


def _providers_with_work(args) -> set[str] | None:
    """Providers a run has work for: a complete file in the inbox, a file collected and not
    yet applied, an extract held for an operator, or a receipt a crash kept back. None (all of them) when an inbox could not be
    listed: the full run reports it."""
    from sqlalchemy import or_, select

    from register.models import ExtractFile
    from sources.collect import complete_files
    from sources.router import make_router

    found: set[str] = set()
    router = make_router(args.landing, args.sftp)
    try:
        for provider in router.providers():
            try:
                names = [f.name for f in router.list_inbox(provider)]
            except router.transient_errors():
                return None
            pairs, orphans, _ = complete_files(names)
            if pairs or orphans:
                found.add(provider)
    finally:
        router.close()
    with open_register(args.db).connect() as conn:
        # A held extract keeps its provider in every run, so its check fails until someone decides.
        found |= set(conn.execute(select(ExtractFile.provider).where(or_(
            ExtractFile.status.in_(("collected", "held")),
            (ExtractFile.status != "collected") & ExtractFile.receipt_sent_at.is_(None)))).scalars())
    return found


DEMO_MARKER = ".rollcall-demo"  # the demo replaces only folders holding this


def cmd_demo(args) -> int:
    """Generate extracts, deliver them over a local SFTP server (or the landing folder) and
    run every asset on them, in a folder the demo owns."""
    home = Path(args.home).resolve()
    if not _claim_demo_home(home, args.keep):
        return 2
    landing = home / "landing"
    db_url = f"sqlite:///{home / 'rollcall.sqlite'}"
    as_of = args.as_of or today()
    if not os.environ.get("DAGSTER_HOME") and (Path.cwd() / "dagster.yaml").exists():
        # Record the demo's runs in the repository's instance, so `dagster dev` shows them.
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    _generate_demo_data(home, args, as_of)
    _load_demo_directory(home, db_url)
    server = None if args.no_sftp else _start_demo_sftp(home)
    try:
        sftp_config = None
        if server:
            sftp_config = str(server.deliver_from(landing))
            print(f"delivered the extracts over SFTP to 127.0.0.1:{server.port}, one chrooted account per provider")
        result = run_pipeline(db_url, None if sftp_config else str(landing), sftp_config, str(home / "archive"), as_of,
                              starter_alerts=True)
        code = _report_run(result, db_url)
    finally:
        if server:
            server.clean_up()  # its accounts and chroot tree too: the demo leaves no account behind
    if code == 0:
        print("\n".join(summary(db_url, as_of)))
        print(f"\nExports: rollcall export cme --db {db_url} --out {home / 'cme.csv'}")
        _demo_users(db_url, home)
        if server:
            print(f"To try a delivery yourself with the stock sftp client (needs root, to create the accounts):\n"
                  f"  sudo .venv/bin/rollcall sftp-server --home {home}")
        print("Dagster UI on the same runs and register:\n"
              f"  DAGSTER_HOME={os.environ.get('DAGSTER_HOME', Path.cwd())} ROLLCALL_DB_URL={db_url} "
              f"ROLLCALL_LANDING={landing} ROLLCALL_ARCHIVE={home / 'archive'} ROLLCALL_AS_OF={as_of} "
              ".venv/bin/dagster dev")
    return code


DEMO_USERS = (("demo-analyst", ["analyst"]), ("demo-officer", ["cme_officer"]), ("demo-admin", ["authority_admin"]))


def _demo_users(db_url: str, home: Path) -> None:
    """Demo users for the casework service, for every authority in the demo, with passwords and
    one-time-code secrets printed here once (demo data only; never do this with real users)."""
    import secrets

    from casework.users import UserError, add_user, setup, totp_secret

    setup(db_url)
    las = sorted(p.name for p in (home / "landing").iterdir() if p.is_dir() and len(p.name) == 3 and p.name.isdigit())
    print("\nThe casework service: bin/rollcall serve --db " + db_url + "  then open http://127.0.0.1:8000/")
    for name, roles in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            uri = add_user(name, password, roles, las)
        except UserError:
            print(f"  {name}: kept from an earlier demo (rollcall users disable {name} to retire it)")
            continue
        _audit_cli(open_register(db_url), "admin_user_add", detail={"user": name, "roles": roles, "authorities": las})
        print(f"  {name} ({', '.join(roles)}; authorities {', '.join(las)}): password {password}, "
              f"one-time-code secret {totp_secret(uri)} (add it to an authenticator app)")


def _claim_demo_home(home: Path, keep: bool) -> bool:
    """The demo's folder, emptied unless --keep; never a folder the demo did not make."""
    marker = home / DEMO_MARKER
    if home.exists() and any(home.iterdir()) and not marker.exists():
        print(f"rollcall demo: {home} holds files the demo did not make; refusing to use it "
              "(give --home an empty or new folder)", file=sys.stderr)
        return False
    if marker.exists() and not keep:
        import shutil
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by rollcall demo: the demo may replace this folder\n")
    return True


def _generate_demo_data(home: Path, args, as_of: date) -> None:
    from synth.generate import generate

    if not (home / "landing").exists():
        s = generate(home / "landing", home / "truth", children=args.children, seed=args.seed, extract_date=as_of,
                     reference=home / "reference")
        print(f"generated {s.children} children in {s.files} extracts from {s.providers} providers ({s.rows} rows)")


def _load_demo_directory(home: Path, db_url: str) -> None:
    from register.db import open_register
    from sources.reference import load_postcode_directory

    if (home / "reference" / "postcode_directory.csv").exists():
        got = load_postcode_directory(open_register(db_url), home / "reference" / "postcode_directory.csv",
                                      home / "reference" / "la_codes.csv", "demo directory")
        print(f"loaded the demo's postcode directory: {got['rows']} postcodes")


def _start_demo_sftp(home: Path):
    """A local OpenSSH server for the demo, or None (then the landing folder is used)."""
    from localsftp.server import DemoSftpServer, sftp_available

    if not sftp_available():
        print("OpenSSH sshd is not installed: delivering through the local landing folder instead")
        return None
    server = DemoSftpServer(home / "sftp")
    server.start()
    return server


def cmd_sftp_server(args) -> int:
    """A local SFTP server with an account per provider, running until stopped (Ctrl-C or
    SIGTERM), for a newcomer to try a first delivery with the stock `sftp` client; on stopping
    it deletes the accounts and folders it made."""
    import signal
    import threading

    from localsftp.server import DemoSftpServer, sftp_available

    if os.geteuid() != 0:
        print("rollcall sftp-server: needs root: it creates a system account per provider (useradd) and the "
              "root-owned chroot folders OpenSSH requires; run it with sudo", file=sys.stderr)
        return 2
    if not sftp_available():
        print("rollcall sftp-server: OpenSSH's sshd and ssh-keygen are needed (Debian: openssh-server)",
              file=sys.stderr)
        return 2
    home = Path(args.home).resolve()
    providers = args.provider
    if not providers and (home / "landing").is_dir():
        providers = sorted(p.name for p in (home / "landing").iterdir() if (p / "inbox").is_dir())
    if not providers:
        print("rollcall sftp-server: name the providers (--provider ID, repeatable) or give a demo's --home",
              file=sys.stderr)
        return 2
    server = DemoSftpServer(home / "sftp-try", port=args.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
        for provider in providers:
            server.add_account(provider)
        config = server.register_config()
        print(server.try_it_text(config), flush=True)
        print("\nready; Ctrl-C (or SIGTERM) stops the server and deletes its accounts", flush=True)
        while not stop.wait(1):
            pass
    finally:
        removed = server.clean_up()
        print(f"stopped; deleted the accounts {', '.join(removed) or 'none'} and the server's folders", flush=True)
    return 0


def register_exists(url: str) -> bool:
    """An existing register: reading one must never create an empty one by accident."""
    from sqlalchemy import create_engine, inspect

    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path != ":memory:" and not Path(path).is_file():
            return False
    engine = create_engine(url, hide_parameters=True)
    try:
        return inspect(engine).has_table("files")
    except Exception:  # noqa: BLE001 - an unreachable database is not a register we can read
        return False
    finally:
        engine.dispose()


def _db_option(parser, help_text: str = "the register database URL (SQLite or PostgreSQL)") -> None:
    """Every command's --db: by default ROLLCALL_DB_URL, so a PostgreSQL password stays out of
    the process list (or in PGPASSWORD or ~/.pgpass); else the local SQLite register."""
    parser.add_argument("--db", default=os.environ.get("ROLLCALL_DB_URL") or DEFAULT_URL,
                        help=f"{help_text} (default: ROLLCALL_DB_URL, else {DEFAULT_URL})")


def _existing_register(command: str, url: str):
    """The engine of an existing register, or None having said there is none."""
    from register.db import open_register

    if not register_exists(url):
        print(f"rollcall {command}: no register at {_safe_url(url)}; give --db the register's URL", file=sys.stderr)
        return None
    return open_register(url)


def cmd_export(args) -> int:
    from cme.reports import NoCmeList, cme_children, cme_list_date, export_cme, export_register

    engine = _existing_register("export", args.db)
    if engine is None:
        return 1
    if args.what == "register":
        if args.include_shielded:
            print("rollcall export: WARNING: this export includes shielded children's records (which school and GP "
                  "hold them); it is for reconciliation only and must not be shared", file=sys.stderr)
        named: set[str] = set()
        n, left_out = export_register(engine, Path(args.out), include_shielded=args.include_shielded, children=named)
        _audit_cli(engine, "export_register", named, {"rows": n, "include_shielded": args.include_shielded})
        print(f"wrote {n} rows to {args.out}" + (f" ({left_out} shielded rows left out)" if left_out else ""))
        return 0
    try:
        when = cme_list_date(engine, args.as_of)
        n = export_cme(engine, Path(args.out), when)
    except NoCmeList as exc:
        print(f"rollcall export cme: refused: {exc}", file=sys.stderr)
        return 1
    _audit_cli(engine, "export_cme", cme_children(engine, when), {"rows": n, "as_of": when.isoformat()})
    print(f"wrote {n} rows to {args.out}")
    return 0


def _audit_cli(engine, action: str, children=(), detail: dict | None = None) -> None:
    """An operator's command in the audit log: the operating-system user, from the command line."""
    import getpass

    from oversight.audit import record

    record(engine, "cli:" + getpass.getuser(), action, children=children, detail=detail, source="cli")


def cmd_held(args) -> int:
    from sources.held import NotHeld, held_files, reject_held, release_held

    engine = _existing_register("held", args.db)
    if engine is None:
        return 1
    if args.action == "list":
        rows = held_files(engine)
        for r in rows:
            print(f"{r.id}\t{r.provider}\t{r.name}\t{r.rows_accepted} rows\treceived {r.collected_at:%Y-%m-%d %H:%M}")
        print(f"{len(rows)} extract(s) held")
        return 0
    if args.ledger_id is None or (args.action == "reject" and not args.reason):
        print("rollcall held: give the ledger id (and --reason to reject)", file=sys.stderr)
        return 2
    try:
        if args.action == "release":
            name = release_held(engine, args.ledger_id)
            print(f"released {name}: it is applied at the next run, and its provider gets a receipt")
        else:
            name = reject_held(engine, args.ledger_id, args.reason)
            print(f"rejected {name}: its rows are dropped, and its provider gets a receipt")
    except NotHeld as exc:
        print(f"rollcall held: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_reference(args) -> int:
    from register.db import open_register
    from sources.reference import ReferenceError, load_postcode_directory

    if _existing_register("reference", args.db) is None:
        return 1
    try:
        got = load_postcode_directory(open_register(args.db), Path(args.directory), Path(args.la_codes), args.version)
    except (ReferenceError, OSError, ValueError) as exc:
        print(f"rollcall reference: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"loaded postcode directory {got['version']}: {got['rows']} postcodes with an LA code")
    return 0


def cmd_validate(args) -> int:
    from schemas.contract import FileRejected
    from schemas.reader import read_extract
    from schemas.receipt import Receipt
    from schemas.validation import require_some_valid_rows, validate_extract
    from sources.naming import SIDECAR_SUFFIX, parse_name, parse_sidecar

    path = Path(args.file)
    receipt = Receipt(file=path.name, status="accepted")
    try:
        data = path.read_bytes()
        meta = parse_name(path.name)
        receipt.feed, receipt.provider, receipt.extract_date = meta.feed, meta.provider, str(meta.extract_date)
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        import hashlib
        receipt.sha256 = hashlib.sha256(data).hexdigest()
        if sidecar.exists() and parse_sidecar(sidecar.read_bytes()) != receipt.sha256:
            raise FileRejected("the SHA-256 in the sidecar does not match the file")
        parsed = read_extract(data, meta.feed)
        valid, faults = validate_extract(parsed, meta.extract_date)
        receipt.rows_total, receipt.rows_accepted = parsed.rows_total, len(valid)
        receipt.warnings, receipt.faults = parsed.warnings, faults
        require_some_valid_rows(parsed.rows_total, len(valid))
        if not sidecar.exists():
            receipt.warnings.append(f"no {SIDECAR_SUFFIX} sidecar beside the file: upload one after the CSV")
    except FileRejected as exc:
        receipt.status, receipt.reason = "rejected", str(exc)
    except OSError as exc:
        receipt.status, receipt.reason = "rejected", f"the file cannot be read ({type(exc).__name__})"
    print("\n".join(receipt.lines()))
    return 1 if receipt.status == "rejected" else 0


def cmd_serve(args) -> int:
    """The casework service on this register, under gunicorn (docs/operations.md)."""
    from casework.users import setup

    if _existing_register("serve", args.db) is None:
        return 1
    setup(args.db)
    argv = [str(Path(sys.executable).with_name("gunicorn")), "casework.wsgi:application",
            "--bind", f"{args.host}:{args.port}", "--workers", str(args.workers), "--access-logfile", "-",
            # Paths only: a query string could hold a search for a child's name.
            "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms']
    print(f"rollcall serve: the casework service at http://{args.host}:{args.port}/", flush=True)
    os.execve(argv[0], argv, {**os.environ, "ROLLCALL_DB_URL": args.db, "DJANGO_SETTINGS_MODULE": "casework.settings"})
    return 0  # not reached


def cmd_users(args) -> int:
    from casework.users import UserError, add_user, disable_user, list_users, setup, totp_secret, user_name

    if _existing_register("users", args.db) is None:
        return 1
    setup(args.db)
    try:
        if args.action == "add":
            if not args.name or not args.role:
                print("rollcall users add: give NAME and --role", file=sys.stderr)
                return 2
            password = sys.stdin.readline().rstrip("\n")
            roles = list(args.role) + (["shielded_access"] if args.shielded else [])
            name = user_name(args.name)
            uri = add_user(name, password, roles, args.la or [], surname=args.surname or "")
            _audit_cli(open_register(args.db), "admin_user_add",
                       detail={"user": name, "roles": roles, "authorities": args.la or []})
            print(f"added {name}. TOTP secret (put it in an authenticator app): {totp_secret(uri)}")
            print(f"or as a link for a QR code: {uri}")
        elif args.action == "list":
            print("\n".join(list_users()) or "no users")
        else:
            if not args.name:
                print("rollcall users disable: give NAME", file=sys.stderr)
                return 2
            disable_user(args.name)
            _audit_cli(open_register(args.db), "admin_user_disable", detail={"user": args.name})
            print(f"disabled {args.name}: they cannot sign in, and their sessions have ended")
    except UserError as exc:
        print(f"rollcall users: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_audit(args) -> int:
    """The audit log: verify its chain and checkpoints, sign a checkpoint now, or show entries."""
    from oversight import audit
    engine = _existing_register("audit", args.db)
    if engine is None:
        return 1
    if args.action == "verify":
        path = Path(args.key) if args.key else audit.key_file()
        if not path.exists():
            print(f"rollcall audit verify: no key at {path}; give --key the checkpoint key (public or private)",
                  file=sys.stderr)
            return 2
        verdict = audit.verify(engine, audit.load_public_key(path), Path(args.anchor) if args.anchor else None)
        for warning in verdict.warnings:
            print(f"rollcall audit verify: warning: {warning}", file=sys.stderr)
        if not verdict.ok:
            where = f"at entry {verdict.entry_id}" if verdict.entry_id else "the anchor"
            print(f"rollcall audit verify: FAILED {where}: {verdict.problem}", file=sys.stderr)
            return 1
        print(f"the audit log holds {verdict.entries} entries and {verdict.checkpoints} signed checkpoints "
              f"({verdict.anchored} of them anchored outside the database), all as written")
        return 0
    if args.action == "checkpoint":
        signed = audit.checkpoint(engine)
        print(f"signed a checkpoint at entry {signed}" if signed else "nothing new to sign")
        return 0
    for e in audit.entries(engine, actor=args.user, child_id=args.child, limit=args.limit):
        print("\t".join([str(e["id"]), e["at"].isoformat(timespec="seconds"), e["actor"], e["source"] or "",
                         e["action"], " ".join(e["children"]), json.dumps(e["detail"]), e["reason"] or ""]))
    return 0


def cmd_retention(args) -> int:
    from oversight.retention import Periods, apply_retention

    engine = _existing_register("retention", args.db)
    if engine is None:
        return 1
    counts = apply_retention(engine, args.today or today(), Periods())
    _audit_cli(engine, "retention", detail=counts)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))
    return 0


def cmd_sar(args) -> int:
    """A subject access report: everything the register holds about one child, as JSON, in an
    owner-only file."""
    from oversight.retention import subject_access_report
    from register.private import private_file

    engine = _existing_register("sar", args.db)
    if engine is None:
        return 1
    report = subject_access_report(engine, args.child_id)
    if report is None:
        print(f"rollcall sar: no child {args.child_id} in the register", file=sys.stderr)
        return 1
    out = Path(args.out)
    private_file(out, truncate=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    _audit_cli(engine, "subject_access_report", [report["child_id"]], {"records": len(report["records"])})
    print(f"wrote everything held about child {report['child_id']} to {out} ({len(report['records'])} record rows)")
    return 0


HISTORY_WORDS = {"created": "created", "record_joined": "record joined", "record_left": "record left",
                 "merged_into": "merged into", "split_from": "split from", "retired": "retired", "revived": "revived"}


def cmd_history(args) -> int:
    """Every change to a child, oldest first, with its time and cause; an old id says which
    children it names now. Record keys are keyed hashes; no personal data is printed."""
    from linkage.history import current_children, history

    engine = _existing_register("history", args.db)
    if engine is None:
        return 1
    events = history(engine, args.child_id)
    now = current_children(engine, args.child_id)
    if not events and not now:
        print(f"rollcall history: no child {args.child_id} in the register", file=sys.stderr)
        return 1
    for e in events:
        record = f" {e.record_key}" if e.record_key else ""
        joiner = {"record_left": " to ", "record_joined": " from "}.get(e.event, " ")
        other = f"{joiner}{e.other_child_id}" if e.other_child_id else ""
        ruling = f", analyst decision {e.decision_id}" if e.decision_id else ""
        print(f"{e.at.isoformat(sep=' ', timespec='seconds')}  {HISTORY_WORDS.get(e.event, e.event)}{record}{other}"
              f"  ({e.cause}{ruling})")
    if now != [args.child_id]:
        print(f"{args.child_id} is retired; its records are now with: {', '.join(now) or 'no current child'}")
    _audit_cli(engine, "child_history", [args.child_id, *[c for c in now if c != args.child_id]])
    return 0


def cmd_backup(args) -> int:
    from sources.backup import BackupError, backup

    if _existing_register("backup", args.db) is None:
        return 1
    try:
        manifest = backup(args.db, Path(args.archive), Path(args.out))
    except BackupError as exc:
        print(f"rollcall backup: {exc}", file=sys.stderr)
        return 1
    _audit_cli(open_register(args.db), "backup", detail={"schema_revision": manifest["schema_revision"]})
    print(f"backed up the register (schema {manifest['schema_revision']}) and the archive to {args.out}")
    return 0


def cmd_restore(args) -> int:
    from sources.backup import BackupError, restore

    try:
        manifest = restore(Path(args.backup), args.db, Path(args.archive))
    except BackupError as exc:
        print(f"rollcall restore: {exc}", file=sys.stderr)
        return 1
    _audit_cli(open_register(args.db), "restore", detail={"made_at": manifest["made_at"]})
    print(f"restored the backup made {manifest['made_at']} into the register and {args.archive}")
    return 0


def cmd_db(args) -> int:
    """`db create`: an empty register, its schema up to date, made on purpose (to load reference
    data before a first run, say), where every other command refuses a register that is not
    there. `db grant ROLE`: the service role's rights."""
    from register.db import grant_service_role

    if args.action == "create":
        if register_exists(args.db):
            print(f"rollcall db create: there is a register at {_safe_url(args.db)} already", file=sys.stderr)
            return 1
        open_register(args.db)
        print(f"made an empty register at {_safe_url(args.db)}")
        return 0
    if not args.role:
        print("rollcall db grant: give the ROLE the casework service and the pipeline connect as", file=sys.stderr)
        return 2
    engine = _existing_register("db grant", args.db)
    if engine is None:
        return 1
    try:
        grant_service_role(engine, args.role)
    except ValueError as exc:
        print(f"rollcall db grant: {exc}", file=sys.stderr)
        return 1
    _audit_cli(engine, "db_grant", detail={"role": args.role})
    print(f"granted {args.role} the register's tables; the audit log's for reading and inserting only")
    return 0


def cmd_generate(args) -> int:
    from synth.generate import generate

    s = generate(Path(args.out), Path(args.truth), children=args.children, seed=args.seed,
                 extract_date=args.extract_date or today())
    print(f"generated {s.children} children in {s.files} extracts ({s.rows} rows); "
          f"{s.cme_children} missing education in truth")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rollcall", description="Rollcall: the children's register.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="generate synthetic extracts and run the whole pipeline on them")
    d.add_argument("--children", type=int, default=20_000)
    d.add_argument("--home", default="var/demo", help="folder for the demo's data (replaced on each run)")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--as-of", type=_date)
    d.add_argument("--keep", action="store_true", help="keep an earlier demo's register and run again")
    d.add_argument("--no-sftp", action="store_true", help="use the landing folder instead of a local SFTP server")
    d.set_defaults(fn=cmd_demo)

    t = sub.add_parser("sftp-server", help="a local SFTP server to try a delivery with the stock sftp client "
                                           "(needs root; deletes its accounts when stopped)")
    t.add_argument("--home", default="var/demo", help="a demo's folder (its providers get accounts)")
    t.add_argument("--provider", action="append", help="a provider id to make an account for (repeatable)")
    t.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    t.set_defaults(fn=cmd_sftp_server)

    r = sub.add_parser("run", help="process every complete extract and update the register")
    r.add_argument("--landing", help="folder of <provider>/inbox and outbox folders")
    r.add_argument("--sftp", help="YAML file naming the SFTP providers to collect from")
    _db_option(r)
    r.add_argument("--archive", default=DEFAULT_ARCHIVE, help="where raw files are archived by checksum")
    r.add_argument("--as-of", type=_date, help="date for the CME list (default today)")
    r.add_argument("--relink", choices=["auto", "full"], default=os.environ.get("ROLLCALL_RELINK", "auto"),
                   help="auto (default): re-link only the children new deliveries and rulings touch, in full when "
                        "the matcher or settings changed; full: re-link every record")
    r.add_argument("--wait", type=float, default=600.0,
                   help="seconds to wait for another run on the same register to finish (default 600)")
    r.set_defaults(fn=cmd_run)

    e = sub.add_parser("export", help="write the register or the CME list as CSV")
    e.add_argument("what", choices=["register", "cme"])
    _db_option(e)
    e.add_argument("--out", required=True)
    e.add_argument("--as-of", type=_date)
    e.add_argument("--include-shielded", action="store_true",
                   help="register export only: keep shielded children's rows (reconciliation; warns)")
    e.set_defaults(fn=cmd_export)

    h = sub.add_parser("held", help="extracts held because they were far smaller than the provider's last one")
    h.add_argument("action", choices=["list", "release", "reject"])
    h.add_argument("ledger_id", nargs="?", type=int)
    h.add_argument("--reason", help="why it is rejected (goes to the provider's receipt)")
    _db_option(h)
    h.set_defaults(fn=cmd_held)

    ref = sub.add_parser("reference", help="load reference data into the register")
    ref_sub = ref.add_subparsers(dest="dataset", required=True)
    pc = ref_sub.add_parser("postcodes", help="the ONS postcode directory and its district-to-LA-code mapping")
    pc.add_argument("--directory", required=True, help="ONS postcode directory CSV (ONSPD or NSPL)")
    pc.add_argument("--la-codes", required=True, help="CSV of district code (lad_code) to 3-digit la_code")
    pc.add_argument("--version", help="a label for this version (default: the directory's file name)")
    _db_option(pc)
    pc.set_defaults(fn=cmd_reference)

    v = sub.add_parser("validate", help="check one extract offline, as its receipt would")
    v.add_argument("file")
    v.set_defaults(fn=cmd_validate)

    srv = sub.add_parser("serve", help="run the casework service (match review, CME cases) on this register")
    _db_option(srv)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=2)
    srv.set_defaults(fn=cmd_serve)

    u = sub.add_parser("users", help="the casework service's users: add (password on standard input), list, disable")
    u.add_argument("action", choices=["add", "list", "disable"])
    u.add_argument("name", nargs="?")
    u.add_argument("--role", action="append", help="analyst, cme_officer, authority_admin, shielded_access, "
                                                 "system_admin, auditor (repeat for more than one)")
    u.add_argument("--la", action="append", help="an authority's 3-digit LA code (repeat for more than one)")
    u.add_argument("--shielded", action="store_true", help="may see shielded children's location")
    u.add_argument("--surname", help="the user's surname (unusual access: looking up a child who shares it)")
    _db_option(u)
    u.set_defaults(fn=cmd_users)

    a = sub.add_parser("audit", help="the audit log: verify its chain and signed checkpoints, sign one now, show")
    a.add_argument("action", choices=["verify", "checkpoint", "show"])
    a.add_argument("--key", help="verify: the checkpoint key file, public or private (default: ROLLCALL_AUDIT_KEY_FILE)")
    a.add_argument("--anchor", help="verify: the checkpoints' copy outside the database (default: "
                                    "ROLLCALL_AUDIT_ANCHOR, else the file beside the key named after the register)")
    a.add_argument("--user", help="show: one user's entries")
    a.add_argument("--child", help="show: the entries naming one child")
    a.add_argument("--limit", type=int, default=200)
    _db_option(a)
    a.set_defaults(fn=cmd_audit)

    ret = sub.add_parser("retention", help="delete what has outlived its retention period (as the weekly job does)")
    ret.add_argument("--today", type=_date, help="the date to count from (default: today)")
    _db_option(ret)
    ret.set_defaults(fn=cmd_retention)

    hist = sub.add_parser("history", help="every change to a child (created, records joined and left, merges, "
                                          "splits, retired) with its time and cause")
    hist.add_argument("child_id")
    _db_option(hist)
    hist.set_defaults(fn=cmd_history)

    sar = sub.add_parser("sar", help="a subject access report: everything held about one child, as JSON")
    sar.add_argument("child_id")
    sar.add_argument("--out", required=True, help="the file to write (owner-only)")
    _db_option(sar)
    sar.set_defaults(fn=cmd_sar)

    bk = sub.add_parser("backup", help="back up the register database and the raw archive into a new folder")
    bk.add_argument("--out", required=True, help="a new (or empty) folder; made owner-only")
    bk.add_argument("--archive", default=DEFAULT_ARCHIVE)
    _db_option(bk)
    bk.set_defaults(fn=cmd_backup)

    rs = sub.add_parser("restore", help="restore a backup into an empty database and archive folder")
    rs.add_argument("backup", help="the backup's folder")
    rs.add_argument("--archive", default=DEFAULT_ARCHIVE)
    _db_option(rs)
    rs.set_defaults(fn=cmd_restore)

    dbp = sub.add_parser("db", help="the register database: make an empty one, or grant the service's PostgreSQL "
                                    "role its rights")
    dbp.add_argument("action", choices=["create", "grant"])
    dbp.add_argument("role", nargs="?", help="grant: the role the casework service and the pipeline connect as")
    _db_option(dbp, "the register's URL, as its owner")
    dbp.set_defaults(fn=cmd_db)

    g = sub.add_parser("generate", help="write synthetic extracts and their ground truth")
    g.add_argument("--out", required=True)
    g.add_argument("--truth", required=True)
    g.add_argument("--children", type=int, default=20_000)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--extract-date", type=_date)
    g.set_defaults(fn=cmd_generate)
    return p


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so an in-process caller can swap it safely."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def main(argv: list[str] | None = None) -> int:
    from register.private import owner_only_umask

    owner_only_umask()
    root = logging.getLogger()
    if not any(isinstance(h, _CurrentStderr) for h in root.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
