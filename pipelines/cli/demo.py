"""`rollcall demo`, `rollcall sftp-server` and `rollcall generate`: synthetic data, a local SFTP server and
the whole pipeline on one machine."""
from __future__ import annotations

# Imports inside functions, said once: each command loads only what it runs (the generator, the SFTP
# server), so the CLI starts at once.
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.cli.common import audit_cli, parse_date
from pipelines.cli.run import report_run, run_pipeline, summary
from register import open_register, today

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
        code = report_run(result, db_url)
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

    from casework import UserError, add_user, setup, totp_secret

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
        audit_cli(open_register(db_url), "admin_user_add", detail={"user": name, "roles": roles, "authorities": las})
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
    from synth import generate

    if not (home / "landing").exists():
        s = generate(home / "landing", home / "truth", children=args.children, seed=args.seed, extract_date=as_of,
                     reference=home / "reference")
        print(f"generated {s.children} children in {s.files} extracts from {s.providers} providers ({s.rows} rows)")


def _load_demo_directory(home: Path, db_url: str) -> None:
    from register import open_register
    from sources import load_postcode_directory

    if (home / "reference" / "postcode_directory.csv").exists():
        got = load_postcode_directory(open_register(db_url), home / "reference" / "postcode_directory.csv",
                                      home / "reference" / "la_codes.csv", "demo directory")
        print(f"loaded the demo's postcode directory: {got['rows']} postcodes")


def _start_demo_sftp(home: Path):
    """A local OpenSSH server for the demo, or None (then the landing folder is used)."""
    from localsftp import DemoSftpServer, sftp_available

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

    from localsftp import DemoSftpServer, sftp_available

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


def cmd_generate(args) -> int:
    from synth import generate

    s = generate(Path(args.out), Path(args.truth), children=args.children, seed=args.seed,
                 extract_date=args.extract_date or today())
    print(f"generated {s.children} children in {s.files} extracts ({s.rows} rows); "
          f"{s.cme_children} missing education in truth")
    return 0


def add_demo(sub) -> None:
    d = sub.add_parser("demo", help="generate synthetic extracts and run the whole pipeline on them")
    d.add_argument("--children", type=int, default=20_000)
    d.add_argument("--home", default="var/demo", help="folder for the demo's data (replaced on each run)")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--as-of", type=parse_date)
    d.add_argument("--keep", action="store_true", help="keep an earlier demo's register and run again")
    d.add_argument("--no-sftp", action="store_true", help="use the landing folder instead of a local SFTP server")
    d.set_defaults(fn=cmd_demo)


def add_sftp_server(sub) -> None:
    t = sub.add_parser("sftp-server", help="a local SFTP server to try a delivery with the stock sftp client "
                                           "(needs root; deletes its accounts when stopped)")
    t.add_argument("--home", default="var/demo", help="a demo's folder (its providers get accounts)")
    t.add_argument("--provider", action="append", help="a provider id to make an account for (repeatable)")
    t.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    t.set_defaults(fn=cmd_sftp_server)


def add_generate(sub) -> None:
    g = sub.add_parser("generate", help="write synthetic extracts and their ground truth")
    g.add_argument("--out", required=True)
    g.add_argument("--truth", required=True)
    g.add_argument("--children", type=int, default=20_000)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--extract-date", type=parse_date)
    g.set_defaults(fn=cmd_generate)


COMMANDS = {"demo": add_demo, "sftp-server": add_sftp_server, "generate": add_generate}
