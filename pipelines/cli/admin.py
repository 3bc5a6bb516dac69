"""Running and guarding the service: `serve`, `users`, `audit`, `db`."""
from __future__ import annotations

# Imports inside functions, said once: each command loads only what it runs (Django, the signing
# library), so the CLI starts at once.
import json
import os
import sys
from pathlib import Path

from pipelines.cli.common import audit_cli, db_option, existing_register, register_exists, safe_url
from register import open_register


def cmd_serve(args) -> int:
    """The casework service on this register, under gunicorn (docs/operations.md)."""
    from casework import setup

    if existing_register("serve", args.db) is None:
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
    from casework import UserError, add_user, disable_user, list_users, setup, totp_secret, user_name

    engine = existing_register("users", args.db)
    if engine is None:
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
            audit_cli(engine, "admin_user_add",
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
            audit_cli(engine, "admin_user_disable", detail={"user": args.name})
            print(f"disabled {args.name}: they cannot sign in, and their sessions have ended")
    except UserError as exc:
        print(f"rollcall users: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_audit(args) -> int:
    """The audit log: verify its chain and checkpoints, sign a checkpoint now, or show entries."""
    # Here, not at the top: the signing library stays out of every other command's start-up.
    from oversight import checkpoint, key_file, load_public_key
    from oversight import entries as audit_entries
    from oversight import verify as audit_verify
    engine = existing_register("audit", args.db)
    if engine is None:
        return 1
    if args.action == "verify":
        path = Path(args.key) if args.key else key_file()
        if not path.exists():
            print(f"rollcall audit verify: no key at {path}; give --key the checkpoint key (public or private)",
                  file=sys.stderr)
            return 2
        verdict = audit_verify(engine, load_public_key(path), Path(args.anchor) if args.anchor else None)
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
        signed = checkpoint(engine)
        print(f"signed a checkpoint at entry {signed}" if signed else "nothing new to sign")
        return 0
    for e in audit_entries(engine, actor=args.user, child_id=args.child, limit=args.limit):
        print("\t".join([str(e["id"]), e["at"].isoformat(timespec="seconds"), e["actor"], e["source"] or "",
                         e["action"], " ".join(e["children"]), json.dumps(e["detail"]), e["reason"] or ""]))
    return 0


def cmd_db(args) -> int:
    """`db create`: an empty register, its schema up to date, made on purpose (to load reference
    data before a first run, say), where every other command refuses a register that is not
    there. `db grant ROLE`: the service role's rights."""
    from register import grant_service_role

    if args.action == "create":
        if register_exists(args.db):
            print(f"rollcall db create: there is a register at {safe_url(args.db)} already", file=sys.stderr)
            return 1
        open_register(args.db)
        print(f"made an empty register at {safe_url(args.db)}")
        return 0
    if not args.role:
        print("rollcall db grant: give the ROLE the casework service and the pipeline connect as", file=sys.stderr)
        return 2
    engine = existing_register("db grant", args.db)
    if engine is None:
        return 1
    try:
        grant_service_role(engine, args.role)
    except ValueError as exc:
        print(f"rollcall db grant: {exc}", file=sys.stderr)
        return 1
    audit_cli(engine, "db_grant", detail={"role": args.role})
    print(f"granted {args.role} the register's tables; the audit log's for reading and inserting only")
    return 0


def add_serve(sub) -> None:
    srv = sub.add_parser("serve", help="run the casework service (match review, CME cases) on this register")
    db_option(srv)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=2)
    srv.set_defaults(fn=cmd_serve)


def add_users(sub) -> None:
    u = sub.add_parser("users", help="the casework service's users: add (password on standard input), list, disable")
    u.add_argument("action", choices=["add", "list", "disable"])
    u.add_argument("name", nargs="?")
    u.add_argument("--role", action="append", help="analyst, cme_officer, authority_admin, shielded_access, "
                                                 "system_admin, auditor (repeat for more than one)")
    u.add_argument("--la", action="append", help="an authority's 3-digit LA code (repeat for more than one)")
    u.add_argument("--shielded", action="store_true", help="may see shielded children's location")
    u.add_argument("--surname", help="the user's surname (unusual access: looking up a child who shares it)")
    db_option(u)
    u.set_defaults(fn=cmd_users)


def add_audit(sub) -> None:
    a = sub.add_parser("audit", help="the audit log: verify its chain and signed checkpoints, sign one now, show")
    a.add_argument("action", choices=["verify", "checkpoint", "show"])
    a.add_argument("--key", help="verify: the checkpoint key file, public or private (default: ROLLCALL_AUDIT_KEY_FILE)")
    a.add_argument("--anchor", help="verify: the checkpoints' copy outside the database (default: "
                                    "ROLLCALL_AUDIT_ANCHOR, else the file beside the key named after the register)")
    a.add_argument("--user", help="show: one user's entries")
    a.add_argument("--child", help="show: the entries naming one child")
    a.add_argument("--limit", type=int, default=200)
    db_option(a)
    a.set_defaults(fn=cmd_audit)


def add_db(sub) -> None:
    dbp = sub.add_parser("db", help="the register database: make an empty one, or grant the service's PostgreSQL "
                                    "role its rights")
    dbp.add_argument("action", choices=["create", "grant"])
    dbp.add_argument("role", nargs="?", help="grant: the role the casework service and the pipeline connect as")
    db_option(dbp, "the register's URL, as its owner")
    dbp.set_defaults(fn=cmd_db)


COMMANDS = {"serve": add_serve, "users": add_users, "audit": add_audit, "db": add_db}
