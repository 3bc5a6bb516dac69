"""The audit log: every look at a child's data and every change, append-only and hash-chained.

Each entry carries the hash of the one before, so altering, deleting or inserting an entry
breaks the chain; every `checkpoint_every` entries (oversight.settings), and whenever the newest checkpoint is a day
old, a checkpoint signs the newest entry's id and hash with an Ed25519 key kept outside the
database (a file, ROLLCALL_AUDIT_KEY_FILE), so the log cannot be rewritten or cut short behind
the last checkpoint without the key. Each checkpoint is also appended to an anchor outside the
database's reach (ROLLCALL_AUDIT_ANCHOR; in production an append-only file another account
owns), so deleting the checkpoints from the database does not delete the evidence. `verify`
walks the whole log, names the first entry that is not as written, and fails when the
checkpoints it finds are fewer or older than the policy implies or differ from the anchor.

Entries name children by register id only and hold no personal data: no names, no birth
dates, no search terms (a search is logged by the kind of identifier and the children found).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text, update

from oversight.settings import oversight_settings
from register import AuditCheckpoint, AuditChild, AuditEntry, AuditHead, private_dir, utc_now

log = logging.getLogger("rollcall.audit")
GENESIS = "0" * 64
CHECKPOINT_MAX_AGE = timedelta(days=1)  # a checkpoint at least daily, whatever the number of entries
VERIFY_GRACE = timedelta(hours=1)  # verify allows the hourly job this long beyond the day
HEAD_LOCK = 7_265_110  # PostgreSQL advisory lock the log's writers take turns on


def entry_hash(prev_hash: str, entry_id: int, at: datetime, actor: str, source: str | None, action: str,
               children: str | None, detail: str | None, reason: str | None) -> str:
    body = json.dumps([prev_hash, entry_id, at.isoformat(timespec="microseconds"), actor, source, action, children,
                       detail, reason], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


# --- The signing key, outside the database -----------------------------------------------------

def key_file() -> Path:
    return oversight_settings().audit_key_file


def signing_key(create: bool = True):
    """The Ed25519 private key that signs checkpoints: the key file (PEM), made owner-only the
    first time when `create`; None when there is none."""
    path = key_file()
    if not path.exists():
        if not create:
            return None
        private_dir(path.parent)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_key_of(key):
    return key.public_key() if hasattr(key, "public_key") else key


def key_id(public_key) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: Path):
    """A public key file (PEM) or the private key file itself."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def anchor_file(engine) -> Path:
    """Where each checkpoint is copied outside the database: ROLLCALL_AUDIT_ANCHOR, else a file
    beside the signing key named after the database (its host, port and name or path, never its
    user or password), so registers sharing a key keep their own anchors."""
    if oversight_settings().audit_anchor is not None:
        return oversight_settings().audit_anchor
    url = engine.url
    where = str(Path(url.database or "").resolve()) if url.get_backend_name() == "sqlite" else \
        f"{url.host}:{url.port}/{url.database}"
    name = hashlib.sha256(f"{url.get_backend_name()}|{where}".encode()).hexdigest()[:16]
    return key_file().parent / f"audit-anchor-{name}.jsonl"


def _anchor(engine, checkpoint: dict) -> None:
    """Append one checkpoint to the anchor (owner-only, opened for appending only). A failure
    is loud (the log says so; verify then finds the checkpoint unanchored) but never loses the
    entry, which is committed already."""
    path = anchor_file(engine)
    line = (json.dumps(checkpoint, sort_keys=True, separators=(",", ":")) + "\n").encode()
    try:
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        log.error(
            "the audit checkpoint at entry %s could not be anchored at %s (%s): anchor it by hand, or verify "
            "will say it is unanchored", checkpoint["entry_id"], path, type(exc).__name__)


def read_anchor(path: Path) -> list[dict]:
    """The anchored checkpoints, oldest first; a line that is not one is reported as such."""
    out = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            out.append({"entry_id": int(item["entry_id"]), "entry_hash": str(item["entry_hash"]),
                        "signature": str(item["signature"]), "line": number})
        except (ValueError, KeyError, TypeError):
            out.append({"entry_id": None, "line": number})
    return out


def _checkpoint_message(entry_id: int, digest: str) -> bytes:
    return f"rollcall-audit-checkpoint:{entry_id}:{digest}".encode()


# --- Writing -------------------------------------------------------------------------------------

def record(engine, actor: str, action: str, *, children: Iterable[str] = (), detail: dict | None = None,
           reason: str | None = None, source: str | None = None) -> int:
    """Append one entry and return its id. Writers take turns on the head row, so the chain
    never forks; every `checkpoint_every` entries (oversight.settings) a signed checkpoint is written with it."""
    kids = sorted({c for c in children if c})
    kids_text = " ".join(kids) or None
    detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str) if detail else None
    reason = (reason or "").strip() or None
    if not key_file().exists():
        signing_key()  # made with the first entry, so the log can be verified from the start
    signed = None
    with engine.begin() as conn:
        head = _take_head(conn)
        entry_id, at = head.entry_id + 1, utc_now()
        digest = entry_hash(head.hash, entry_id, at, actor[:150], source, action, kids_text, detail_text, reason)
        # The head follows the entry by the database's own trigger (migration 0021): the service's
        # role can add entries but never move the head.
        conn.execute(AuditEntry.__table__.insert().values(
            id=entry_id, at=at, actor=actor[:150], source=(source or None) and source[:64], action=action,
            children=kids_text, detail=detail_text, reason=reason, prev_hash=head.hash, hash=digest))
        if kids:
            conn.execute(AuditChild.__table__.insert(), [{"entry_id": entry_id, "child_id": c} for c in kids])
        if entry_id % oversight_settings().checkpoint_every == 0 or _checkpoint_due(conn, at):
            signed = _write_checkpoint(conn, entry_id, digest)
    if signed:
        _anchor(engine, signed)
    return entry_id


def _take_head(conn):
    """The head (newest entry's id and hash), with the writers' turn taken first, so the chain
    never forks: PostgreSQL's advisory lock (which needs no right to change the head), or
    SQLite's write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HEAD_LOCK})
    else:
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_id=AuditHead.entry_id))
    return conn.execute(select(AuditHead.entry_id, AuditHead.hash).where(AuditHead.id == 1)).one()


def _checkpoint_due(conn, now: datetime) -> bool:
    """A day since the newest checkpoint (or none yet, and the first entry a day old)."""
    last = conn.execute(select(func.max(AuditCheckpoint.at))).scalar()
    if last is None:
        last = conn.execute(select(func.min(AuditEntry.at))).scalar()
    return last is not None and now - last >= CHECKPOINT_MAX_AGE


def _write_checkpoint(conn, entry_id: int, digest: str) -> dict:
    key = signing_key()
    row = {"at": utc_now(), "entry_id": entry_id, "entry_hash": digest, "key_id": key_id(key.public_key()),
           "signature": key.sign(_checkpoint_message(entry_id, digest)).hex()}
    conn.execute(AuditCheckpoint.__table__.insert().values(**row))
    return {**row, "at": row["at"].isoformat()}


def checkpoint(engine) -> int | None:
    """Sign the newest entry now (the hourly job and `rollcall audit checkpoint`); the id
    signed, or None when the log is empty or already signed up to its newest entry."""
    with engine.begin() as conn:
        head = _take_head(conn)
        last = conn.execute(select(func.max(AuditCheckpoint.entry_id))).scalar() or 0
        if head.entry_id == 0 or head.entry_id <= last:
            return None
        signed = _write_checkpoint(conn, head.entry_id, head.hash)
    _anchor(engine, signed)
    return head.entry_id


# --- Verifying -----------------------------------------------------------------------------------

@dataclass
class Verdict:
    entries: int
    checkpoints: int
    problem: str | None = None
    entry_id: int | None = None  # the first entry that is not as written
    anchored: int = 0  # checkpoints found in the anchor and matched
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(engine, public_key, anchor: Path | None = None, every: int | None = None,
           now: datetime | None = None) -> Verdict:
    """Walk the log from the first entry: ids without gaps, each entry's hash as recomputed, each
    entry pointing at the one before, the children index as the entries say, the head at the
    newest entry, and every checkpoint's signature and the entry it signs. Then the policy: a
    checkpoint at least every `every` entries (oversight.settings) and nothing unsigned for more
    than a day; and the anchor (anchor_file()): every checkpoint copied there is in the
    database, signs the entry as it stands, and is signed by this key."""
    public_key = public_key_of(public_key)
    every = every or oversight_settings().checkpoint_every
    anchor = anchor or anchor_file(engine)
    anchored = read_anchor(anchor) if anchor.exists() else []
    with engine.connect() as conn:
        checkpoints = conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.entry_id)).all()
        head = conn.execute(select(AuditHead.entry_id, AuditHead.hash).where(AuditHead.id == 1)).one()
        indexed: dict[int, set[str]] = {}
        for entry_id, child in conn.execute(select(AuditChild.entry_id, AuditChild.child_id)):
            indexed.setdefault(entry_id, set()).add(child)
        signed = {c.entry_id: c for c in checkpoints}
        last_signed = max(signed, default=0)
        wanted = {a["entry_id"] for a in anchored if a["entry_id"]}
        hashes: dict[int, str] = {}
        first_unsigned_at = None
        prev_id, prev, count, good = 0, GENESIS, 0, 0
        for e in conn.execute(select(AuditEntry).order_by(AuditEntry.id)).yield_per(5000):
            count += 1
            if e.id != prev_id + 1:
                return Verdict(count, len(checkpoints), f"entry {prev_id + 1} is missing (deleted)", prev_id + 1)
            if e.prev_hash != prev:
                return Verdict(count, len(checkpoints), f"entry {e.id} does not follow entry {prev_id}: an entry was "
                               "inserted, or the one before replaced", e.id)
            if entry_hash(e.prev_hash, e.id, e.at, e.actor, e.source, e.action, e.children, e.detail,
                          e.reason) != e.hash:
                return Verdict(count, len(checkpoints), f"entry {e.id} was altered", e.id)
            if set((e.children or "").split()) != indexed.pop(e.id, set()):
                return Verdict(count, len(checkpoints), f"entry {e.id}'s children index was altered", e.id)
            mark = signed.get(e.id)
            if mark is not None:
                if mark.entry_hash != e.hash:
                    # The chain holds, so it was recomputed after a change: somewhere since the
                    # last checkpoint that still matched. Name the earliest entry it can be.
                    return Verdict(count, len(checkpoints), f"an entry from {good + 1} to {e.id} was altered, deleted "
                                   f"or inserted and the chain recomputed after it: entry {e.id} differs from the "
                                   "checkpoint that signed it", good + 1)
                good = e.id
            if e.id in wanted:
                hashes[e.id] = e.hash
            if e.id == last_signed + 1:
                first_unsigned_at = e.at
            prev_id, prev = e.id, e.hash
    problem = _against_checkpoints(count, checkpoints, indexed, (head.entry_id, head.hash), (prev_id, prev), public_key)
    if problem is not None:
        return problem
    verdict = Verdict(count, len(checkpoints))
    return (_against_anchor(verdict, anchored, anchor, signed, hashes, prev_id, public_key)
            or _against_policy(verdict, sorted(signed), prev_id, every, first_unsigned_at, now or utc_now())
            or verdict)


def _against_checkpoints(count: int, checkpoints: list, indexed: dict, head: tuple, last: tuple,
                         public_key) -> Verdict | None:
    """After the walk: nothing left in the children index, every checkpoint signed by this key and
    within the log, and the head at the last entry walked (None when all hold)."""
    prev_id, prev = last
    if indexed:
        first = min(indexed)
        return Verdict(count, len(checkpoints), f"the children index names entry {first}, which is not in the log",
                       first)
    for c in checkpoints:
        try:
            public_key.verify(bytes.fromhex(c.signature), _checkpoint_message(c.entry_id, c.entry_hash))
        except Exception:  # cryptography raises InvalidSignature; a garbled hex string ValueError
            return Verdict(count, len(checkpoints), f"the checkpoint at entry {c.entry_id} is not signed by this key",
                           c.entry_id)
        if c.entry_id > prev_id:
            return Verdict(count, len(checkpoints), f"entries after {prev_id} were deleted: a checkpoint signed entry "
                           f"{c.entry_id}", prev_id + 1)
    if head != (prev_id, prev):
        return Verdict(count, len(checkpoints), f"the log ends at entry {prev_id} but its head says "
                       f"{head[0]}: entries after {prev_id} were deleted", prev_id + 1)
    return None


def _against_anchor(verdict: Verdict, anchored: list[dict], path: Path, signed: dict, hashes: dict[int, str],
                    last: int, public_key) -> Verdict | None:
    """A problem the anchor shows (None when it agrees): a checkpoint copied there must still be
    in the database, and sign the entry as it stands now."""
    def failed(problem: str, entry_id: int | None) -> Verdict:
        verdict.problem, verdict.entry_id = problem, entry_id
        return verdict

    if signed and not path.exists():
        return failed(f"no anchor at {path}: the checkpoints cannot be checked against their copies outside the "
                      "database (give --anchor, or see docs/operations.md)", None)
    for a in anchored:
        if a["entry_id"] is None:
            return failed(f"line {a['line']} of the anchor {path} is not a checkpoint: the anchor was altered", None)
        try:
            public_key.verify(bytes.fromhex(a["signature"]), _checkpoint_message(a["entry_id"], a["entry_hash"]))
        except Exception:  # noqa: BLE001 - InvalidSignature or a garbled hex string
            return failed(f"line {a['line']} of the anchor {path} is not signed by this key", a["entry_id"])
        if a["entry_id"] > last:
            return failed(f"entries after {last} were deleted: the anchor holds a checkpoint of entry "
                          f"{a['entry_id']}", last + 1)
        if hashes.get(a["entry_id"]) != a["entry_hash"]:
            return failed(f"entry {a['entry_id']} is not the entry its checkpoint signed (the copy outside the "
                          "database): entries up to it were altered, deleted or inserted and the chain recomputed",
                          a["entry_id"])
        if a["entry_id"] not in signed:
            return failed(f"the checkpoint at entry {a['entry_id']} was deleted from the database (its copy outside "
                          "the database remains)", a["entry_id"])
    verdict.anchored = len({a["entry_id"] for a in anchored})
    unanchored = sorted(set(signed) - {a["entry_id"] for a in anchored})
    if unanchored:
        verdict.warnings.append(f"{len(unanchored)} checkpoints are not in the anchor (the newest at entry "
                                f"{unanchored[-1]}): made before it existed, or the anchor could not be written")
    return None


def _against_policy(verdict: Verdict, signed: list[int], last: int, every: int, first_unsigned_at: datetime | None,
                    now: datetime) -> Verdict | None:
    """A problem with the checkpoints found against the policy (None when they meet it): one at
    least every `every` entries, and no entry unsigned for more than a day."""
    points = [0, *signed]
    gaps = [(a, b) for a, b in zip(points, points[1:]) if b - a > every]
    if last - points[-1] >= every:
        gaps.append((points[-1], last))
    if gaps:
        after, upto = gaps[0]
        verdict.problem = (f"entries {after + 1} to {upto} went without a checkpoint, where one is signed every "
                           f"{every} entries: checkpoints were deleted")
        verdict.entry_id = after + 1
        return verdict
    if first_unsigned_at is not None and now - first_unsigned_at > CHECKPOINT_MAX_AGE + VERIFY_GRACE:
        verdict.problem = (f"entries from {signed[-1] + 1 if signed else 1} on have gone unsigned since "
                           f"{first_unsigned_at:%Y-%m-%d %H:%M} UTC, where a checkpoint is signed at least daily: "
                           "checkpoints were deleted, or the hourly checkpoint job has stopped")
        verdict.entry_id = signed[-1] + 1 if signed else 1
        return verdict
    return None


# --- Reading -------------------------------------------------------------------------------------

def entries(engine, *, actor: str | None = None, child_id: str | None = None, limit: int = 200) -> list[dict]:
    """The newest entries first, by a user or naming a child."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if child_id:
        q = q.where(AuditEntry.id.in_(select(AuditChild.entry_id).where(AuditChild.child_id == child_id)))
    with engine.connect() as conn:
        return [{"id": e.id, "at": e.at, "actor": e.actor, "source": e.source, "action": e.action,
                 "children": (e.children or "").split(), "detail": json.loads(e.detail) if e.detail else {},
                 "reason": e.reason} for e in conn.execute(q)]
