"""The audit log: every look at a child's data and every change, append-only and hash-chained.

Each entry carries the hash of the one before, so altering, deleting or inserting an entry
breaks the chain; every CHECKPOINT_EVERY entries a checkpoint signs the newest entry's id and
hash with an Ed25519 key kept outside the database (a file, ROLLCALL_AUDIT_KEY_FILE), so the
log cannot be rewritten or cut short behind the last checkpoint without the key. `verify`
walks the whole log and names the first entry that is not as written.

Entries name children by register id only and hold no personal data: no names, no birth
dates, no search terms (a search is logged by the kind of identifier and the children found).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update

from register.clock import utc_now
from register.models import AuditCheckpoint, AuditChild, AuditEntry, AuditHead
from register.private import private_dir

GENESIS = "0" * 64
CHECKPOINT_EVERY = int(os.environ.get("ROLLCALL_AUDIT_CHECKPOINT_EVERY", "100"))
DEFAULT_KEY_FILE = Path(__file__).resolve().parents[1] / "var" / "audit-signing-key"


def entry_hash(prev_hash: str, entry_id: int, at: datetime, actor: str, source: str | None, action: str,
               children: str | None, detail: str | None, reason: str | None) -> str:
    body = json.dumps([prev_hash, entry_id, at.isoformat(timespec="microseconds"), actor, source, action, children,
                       detail, reason], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


# --- The signing key, outside the database -----------------------------------------------------

def key_file() -> Path:
    return Path(os.environ.get("ROLLCALL_AUDIT_KEY_FILE", DEFAULT_KEY_FILE))


def signing_key(create: bool = True):
    """The Ed25519 private key that signs checkpoints: the key file (PEM), made owner-only the
    first time when `create`; None when there is none."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: Path):
    """A public key file (PEM) or the private key file itself."""
    from cryptography.hazmat.primitives import serialization

    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def _checkpoint_message(entry_id: int, digest: str) -> bytes:
    return f"rollcall-audit-checkpoint:{entry_id}:{digest}".encode()


# --- Writing -------------------------------------------------------------------------------------

def record(engine, actor: str, action: str, *, children: Iterable[str] = (), detail: dict | None = None,
           reason: str | None = None, source: str | None = None) -> int:
    """Append one entry and return its id. Writers take turns on the head row, so the chain
    never forks; every CHECKPOINT_EVERY entries a signed checkpoint is written with it."""
    kids = sorted({c for c in children if c})
    kids_text = " ".join(kids) or None
    detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str) if detail else None
    reason = (reason or "").strip() or None
    if not key_file().exists():
        signing_key()  # made with the first entry, so the log can be verified from the start
    with engine.begin() as conn:
        # Updating the head first takes the write lock before anything is read.
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_id=AuditHead.entry_id))
        head = conn.execute(select(AuditHead.entry_id, AuditHead.hash).where(AuditHead.id == 1)).one()
        entry_id, at = head.entry_id + 1, utc_now()
        digest = entry_hash(head.hash, entry_id, at, actor[:150], source, action, kids_text, detail_text, reason)
        conn.execute(AuditEntry.__table__.insert().values(
            id=entry_id, at=at, actor=actor[:150], source=(source or None) and source[:64], action=action,
            children=kids_text, detail=detail_text, reason=reason, prev_hash=head.hash, hash=digest))
        if kids:
            conn.execute(AuditChild.__table__.insert(), [{"entry_id": entry_id, "child_id": c} for c in kids])
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_id=entry_id, hash=digest))
        if entry_id % CHECKPOINT_EVERY == 0:
            _write_checkpoint(conn, entry_id, digest)
    return entry_id


def _write_checkpoint(conn, entry_id: int, digest: str) -> None:
    key = signing_key()
    conn.execute(AuditCheckpoint.__table__.insert().values(
        at=utc_now(), entry_id=entry_id, entry_hash=digest, key_id=key_id(key.public_key()),
        signature=key.sign(_checkpoint_message(entry_id, digest)).hex()))


def checkpoint(engine) -> int | None:
    """Sign the newest entry now (the scheduled job and `rollcall audit checkpoint`); the id
    signed, or None when the log is empty or already signed up to its newest entry."""
    with engine.begin() as conn:
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_id=AuditHead.entry_id))
        head = conn.execute(select(AuditHead.entry_id, AuditHead.hash).where(AuditHead.id == 1)).one()
        last = conn.execute(select(func.max(AuditCheckpoint.entry_id))).scalar() or 0
        if head.entry_id == 0 or head.entry_id <= last:
            return None
        _write_checkpoint(conn, head.entry_id, head.hash)
        return head.entry_id


# --- Verifying -----------------------------------------------------------------------------------

@dataclass
class Verdict:
    entries: int
    checkpoints: int
    problem: str | None = None
    entry_id: int | None = None  # the first entry that is not as written

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(engine, public_key) -> Verdict:
    """Walk the log from the first entry: ids without gaps, each entry's hash as recomputed, each
    entry pointing at the one before, the children index as the entries say, the head at the
    newest entry, and every checkpoint's signature and the entry it signs."""
    public_key = public_key_of(public_key)
    with engine.connect() as conn:
        checkpoints = conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.entry_id)).all()
        head = conn.execute(select(AuditHead.entry_id, AuditHead.hash).where(AuditHead.id == 1)).one()
        indexed: dict[int, set[str]] = {}
        for entry_id, child in conn.execute(select(AuditChild.entry_id, AuditChild.child_id)):
            indexed.setdefault(entry_id, set()).add(child)
        signed = {c.entry_id: c for c in checkpoints}
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
            prev_id, prev = e.id, e.hash
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
    if (head.entry_id, head.hash) != (prev_id, prev):
        return Verdict(count, len(checkpoints), f"the log ends at entry {prev_id} but its head says "
                       f"{head.entry_id}: entries after {prev_id} were deleted", prev_id + 1)
    return Verdict(count, len(checkpoints))


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
