"""Record keys that reveal nothing: a keyed hash (HMAC-SHA256) of the identifier a provider
gives a child (UPN, LA child id, NHS number; else name and birth date), under a secret made
once per register and kept in it. A key names the same child at the same provider across
extracts, yet a key seen in an export or a review pair cannot be turned back into an NHS
number or UPN without the register itself.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from register import RegisterState, utc_now

SECRET_STATE = "record_key_secret"


def record_key_secret(engine) -> bytes:
    """The register's key-hashing secret, made on first use (two first runs agree on one)."""
    with engine.begin() as conn:
        value = conn.execute(select(RegisterState.value).where(RegisterState.name == SECRET_STATE)).scalar()
    if value is None:
        try:
            with engine.begin() as conn:
                conn.execute(insert(RegisterState).values(
                    name=SECRET_STATE, value=secrets.token_hex(32),
                    updated_at=utc_now()))
        except IntegrityError:
            pass  # another run made it first
        with engine.begin() as conn:
            value = conn.execute(select(RegisterState.value).where(RegisterState.name == SECRET_STATE)).scalar()
    return bytes.fromhex(value)


def keyed(secret: bytes, value: str, length: int = 24) -> str:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def keyed_series(secret: bytes, values: pd.Series, length: int = 24) -> pd.Series:
    """keyed() of each value, as text even when there are no values (an empty map is float)."""
    uniques = values.unique()
    return values.map(dict(zip(uniques, (keyed(secret, v, length) for v in uniques)))).astype(object)
