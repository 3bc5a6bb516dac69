"""The register's data on the command line: exports, held extracts, reference data, offline validation,
retention and subject access, a child's history, backup and restore."""
from __future__ import annotations

# Imports inside functions, said once: each command loads only what it runs (pandas, Pandera,
# paramiko), so the CLI starts at once.
import json
import os
import sys
from pathlib import Path

from pipelines.cli.common import audit_cli, db_option, existing_register, parse_date
from register import open_register, today
from sources import DEFAULT_ARCHIVE


def cmd_export(args) -> int:
    from cme import NoCmeList, cme_children, cme_list_date, export_cme, export_register

    engine = existing_register("export", args.db)
    if engine is None:
        return 1
    if args.what == "register":
        if args.include_shielded:
            print("rollcall export: WARNING: this export includes shielded children's records (which school and GP "
                  "hold them); it is for reconciliation only and must not be shared", file=sys.stderr)
        named: set[str] = set()
        n, left_out = export_register(engine, Path(args.out), include_shielded=args.include_shielded, children=named)
        audit_cli(engine, "export_register", named, {"rows": n, "include_shielded": args.include_shielded})
        print(f"wrote {n} rows to {args.out}" + (f" ({left_out} shielded rows left out)" if left_out else ""))
        return 0
    if args.what == "cnis":
        return _export_cnis(engine, args)
    if args.what == "dfe-return":
        return _export_dfe_return(engine, args)
    try:
        when = cme_list_date(engine, args.as_of)
        n = export_cme(engine, Path(args.out), when)
    except NoCmeList as exc:
        print(f"rollcall export cme: refused: {exc}", file=sys.stderr)
        return 1
    audit_cli(engine, "export_cme", cme_children(engine, when), {"rows": n, "as_of": when.isoformat()})
    print(f"wrote {n} rows to {args.out}")
    return 0


def _export_cnis(engine, args) -> int:
    from cnis import NoRegister, export_cnis

    if not args.la:
        print("rollcall export cnis: give the authority with --la CODE", file=sys.stderr)
        return 2
    try:
        n, named = export_cnis(engine, args.la, args.as_of, Path(args.out))
    except NoRegister as exc:
        print(f"rollcall export cnis: refused: {exc}", file=sys.stderr)
        return 1
    audit_cli(engine, "export_cnis", named, {"rows": n, "la_code": args.la,
                                             "as_of": args.as_of.isoformat() if args.as_of else "newest"})
    print(f"wrote {n} rows to {args.out}")
    return 0


def _export_dfe_return(engine, args) -> int:
    from cme import NoCmeList
    from cnis import write_returns

    if not args.census:
        print("rollcall export dfe-return: give the census date with --census YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        written = write_returns(engine, args.census, Path(args.out), [args.la] if args.la else None)
    except NoCmeList as exc:
        print(f"rollcall export dfe-return: refused: {exc}", file=sys.stderr)
        return 1
    audit_cli(engine, "export_dfe_return", (), {"census": args.census.isoformat(), "authorities": sorted(written)})
    for la, path in sorted(written.items()):
        print(f"wrote the return of {la} to {path}")
    return 0


def cmd_held(args) -> int:
    from sources import NotHeld, held_files, reject_held, release_held

    engine = existing_register("held", args.db)
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
    from sources import ReferenceError, load_postcode_directory

    engine = existing_register("reference", args.db)
    if engine is None:
        return 1
    try:
        got = load_postcode_directory(engine, Path(args.directory), Path(args.la_codes), args.version)
    except (ReferenceError, OSError, ValueError) as exc:
        print(f"rollcall reference: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"loaded postcode directory {got['version']}: {got['rows']} postcodes with an LA code")
    return 0


def cmd_validate(args) -> int:
    from schemas import FileRejected, Receipt, read_extract, require_some_valid_rows, validate_extract
    from sources import SIDECAR_SUFFIX, parse_name, parse_sidecar

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
    # The provider's own file on their own machine: the bad values are theirs to see.
    print("\n".join(receipt.lines(own_values=True)))
    return 1 if receipt.status == "rejected" else 0


def cmd_retention(args) -> int:
    from oversight import apply_retention

    engine = existing_register("retention", args.db)
    if engine is None:
        return 1
    counts = apply_retention(engine, args.today or today())
    audit_cli(engine, "retention", detail=counts)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))
    return 0


def cmd_sar(args) -> int:
    """A subject access report: everything the register holds about one child, as JSON, in an
    owner-only file."""
    from oversight import subject_access_report
    from register import private_file

    engine = existing_register("sar", args.db)
    if engine is None:
        return 1
    report = subject_access_report(engine, args.child_id)
    if report is None:
        print(f"rollcall sar: no child {args.child_id} in the register", file=sys.stderr)
        return 1
    out = Path(args.out)
    private_file(out, truncate=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    audit_cli(engine, "subject_access_report", [report["child_id"]], {"records": len(report["records"])})
    print(f"wrote everything held about child {report['child_id']} to {out} ({len(report['records'])} record rows)")
    return 0


HISTORY_WORDS = {"created": "created", "record_joined": "record joined", "record_left": "record left",
                 "merged_into": "merged into", "split_from": "split from", "retired": "retired", "revived": "revived"}


def cmd_history(args) -> int:
    """Every change to a child, oldest first, with its time and cause; an old id says which
    children it names now. Record keys are keyed hashes; no personal data is printed."""
    from linkage import current_children, history

    engine = existing_register("history", args.db)
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
    audit_cli(engine, "child_history", [args.child_id, *[c for c in now if c != args.child_id]])
    return 0


def cmd_backup(args) -> int:
    from sources import BackupError, backup

    if existing_register("backup", args.db) is None:
        return 1
    try:
        manifest = backup(args.db, Path(args.archive), Path(args.out), os.environ)
    except BackupError as exc:
        print(f"rollcall backup: {exc}", file=sys.stderr)
        return 1
    audit_cli(open_register(args.db), "backup", detail={"schema_revision": manifest["schema_revision"]})
    print(f"backed up the register (schema {manifest['schema_revision']}) and the archive to {args.out}")
    return 0


def cmd_restore(args) -> int:
    from sources import BackupError, restore

    try:
        manifest = restore(Path(args.backup), args.db, Path(args.archive), os.environ)
    except BackupError as exc:
        print(f"rollcall restore: {exc}", file=sys.stderr)
        return 1
    audit_cli(open_register(args.db), "restore", detail={"made_at": manifest["made_at"]})
    print(f"restored the backup made {manifest['made_at']} into the register and {args.archive}")
    return 0


def add_export(sub) -> None:
    e = sub.add_parser("export", help="write the register, the CME list, an authority's children-not-in-school "
                                      "register or the DfE's termly return as CSV")
    e.add_argument("what", choices=["register", "cme", "cnis", "dfe-return"])
    db_option(e)
    e.add_argument("--out", required=True,
                   help="the file; for dfe-return of several authorities, one file each beside it (or in it, a folder)")
    e.add_argument("--as-of", type=parse_date)
    e.add_argument("--la", help="cnis (required) and dfe-return: the authority's 3-digit code")
    e.add_argument("--census", type=parse_date, help="dfe-return: the census date")
    e.add_argument("--include-shielded", action="store_true",
                   help="register export only: keep shielded children's rows (reconciliation; warns)")
    e.set_defaults(fn=cmd_export)


def add_held(sub) -> None:
    h = sub.add_parser("held", help="extracts held because they were far smaller than the provider's last one")
    h.add_argument("action", choices=["list", "release", "reject"])
    h.add_argument("ledger_id", nargs="?", type=int)
    h.add_argument("--reason", help="why it is rejected (goes to the provider's receipt)")
    db_option(h)
    h.set_defaults(fn=cmd_held)


def add_reference(sub) -> None:
    ref = sub.add_parser("reference", help="load reference data into the register")
    ref_sub = ref.add_subparsers(dest="dataset", required=True)
    pc = ref_sub.add_parser("postcodes", help="the ONS postcode directory and its district-to-LA-code mapping")
    pc.add_argument("--directory", required=True, help="ONS postcode directory CSV (ONSPD or NSPL)")
    pc.add_argument("--la-codes", required=True, help="CSV of district code (lad_code) to 3-digit la_code")
    pc.add_argument("--version", help="a label for this version (default: the directory's file name)")
    db_option(pc)
    pc.set_defaults(fn=cmd_reference)


def add_validate(sub) -> None:
    v = sub.add_parser("validate", help="check one extract offline, as its receipt would")
    v.add_argument("file")
    v.set_defaults(fn=cmd_validate)


def add_retention(sub) -> None:
    ret = sub.add_parser("retention", help="delete what has outlived its retention period (as the weekly job does)")
    ret.add_argument("--today", type=parse_date, help="the date to count from (default: today)")
    db_option(ret)
    ret.set_defaults(fn=cmd_retention)


def add_history(sub) -> None:
    hist = sub.add_parser("history", help="every change to a child (created, records joined and left, merges, "
                                          "splits, retired) with its time and cause")
    hist.add_argument("child_id")
    db_option(hist)
    hist.set_defaults(fn=cmd_history)


def add_sar(sub) -> None:
    sar = sub.add_parser("sar", help="a subject access report: everything held about one child, as JSON")
    sar.add_argument("child_id")
    sar.add_argument("--out", required=True, help="the file to write (owner-only)")
    db_option(sar)
    sar.set_defaults(fn=cmd_sar)


def add_backup(sub) -> None:
    bk = sub.add_parser("backup", help="back up the register database and the raw archive into a new folder")
    bk.add_argument("--out", required=True, help="a new (or empty) folder; made owner-only")
    bk.add_argument("--archive", default=DEFAULT_ARCHIVE)
    db_option(bk)
    bk.set_defaults(fn=cmd_backup)


def add_restore(sub) -> None:
    rs = sub.add_parser("restore", help="restore a backup into an empty database and archive folder")
    rs.add_argument("backup", help="the backup's folder")
    rs.add_argument("--archive", default=DEFAULT_ARCHIVE)
    db_option(rs)
    rs.set_defaults(fn=cmd_restore)


COMMANDS = {"export": add_export, "held": add_held, "reference": add_reference, "validate": add_validate,
            "retention": add_retention, "history": add_history, "sar": add_sar, "backup": add_backup, "restore": add_restore}
