"""record keys: a keyed hash of the provider's identifier instead of the identifier in clear

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:40:00

Makes the register's key-hashing secret and re-keys every source record and review pair. The
keying is copied here (not imported) so this revision never changes meaning.
"""
import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CONFLICT_MARK = "~k"


def _keyed(secret: bytes, value: str, length: int = 24) -> str:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def upgrade() -> None:
    conn = op.get_bind()
    secret_hex = conn.execute(sa.text("SELECT value FROM register_state WHERE name = 'record_key_secret'")).scalar()
    if secret_hex is None:
        secret_hex = secrets.token_hex(32)
        conn.execute(sa.text("INSERT INTO register_state (name, value, updated_at) VALUES ('record_key_secret', :v, :t)"),
                     {"v": secret_hex, "t": datetime.now(timezone.utc).replace(tzinfo=None)})
    secret = bytes.fromhex(secret_hex)
    rows = conn.execute(sa.text(
        "SELECT id, feed, provider, upn, la_child_id, nhs_number, surname, forename, dob, record_key "
        "FROM source_records")).all()
    renamed: dict[str, str] = {}
    updates = []
    for r in rows:
        if r.feed == "school":
            ident = f"upn:{r.upn or ''}"
        elif r.feed == "la":
            ident = f"la:{r.la_child_id or ''}"
        elif r.nhs_number:
            ident = f"nhs:{r.nhs_number}"
        else:
            ident = f"name:{(r.surname or '').upper()}|{(r.forename or '').upper()}|{r.dob}"
        new = f"{r.feed}:{r.provider}:{_keyed(secret, ident)}"
        if CONFLICT_MARK in r.record_key:
            new += CONFLICT_MARK + _keyed(secret, f"{r.surname}|{r.forename}|{r.dob}".upper(), 12)
        renamed[r.record_key] = new
        updates.append({"rid": r.id, "key": new})
    for i in range(0, len(updates), 5000):
        conn.execute(sa.text("UPDATE source_records SET record_key = :key WHERE id = :rid"), updates[i:i + 5000])
    pairs = conn.execute(sa.text("SELECT id, key_a, key_b FROM candidate_pairs")).all()
    seen, drop, moves = set(), [], []
    for p in pairs:
        a, b = renamed.get(p.key_a), renamed.get(p.key_b)
        if a is None or b is None or a == b:
            drop.append(p.id)
            continue
        a, b = min(a, b), max(a, b)
        if (a, b) in seen:
            drop.append(p.id)
            continue
        seen.add((a, b))
        moves.append({"pid": p.id, "a": a, "b": b})
    for pid in drop:
        conn.execute(sa.text("DELETE FROM candidate_pairs WHERE id = :pid"), {"pid": pid})
    # Two steps, so no pair's new keys collide with another pair's old ones under the unique constraint.
    if moves:
        conn.execute(sa.text("UPDATE candidate_pairs SET key_a = 'rekey:' || key_a WHERE id = :pid"),
                     [{"pid": m["pid"]} for m in moves])
        conn.execute(sa.text("UPDATE candidate_pairs SET key_a = :a, key_b = :b WHERE id = :pid"), moves)


def downgrade() -> None:
    raise NotImplementedError("record keys cannot be turned back into identifiers")
