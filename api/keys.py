"""API keys: created once (the plain key is shown only then), stored as SHA-256, revocable.

A key looks like `cqa_<43 url-safe characters>` (256 bits from `secrets`); its first 12
characters are kept in clear as a prefix so people can tell keys apart in lists and
in the audit log. Looking a key up hashes what was sent and finds that hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import ApiKey, utcnow

ROLES = ("qa", "manager", "crm", "admin")
KEY_PREFIX = "cqa_"
# last_used_at is written at most this often per key (no write per request).
TOUCH_EVERY = timedelta(seconds=60)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and prefix."""

    key_id: int
    name: str
    role: str
    prefix: str

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.prefix})"


def create_key(db: Session, name: str, role: str, plain: str | None = None) -> tuple[ApiKey, str]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip():
        raise ValueError("a key needs a name")
    plain = plain or KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), role=role, key_hash=hash_key(plain), prefix=plain[:12])
    db.add(row)
    db.flush()
    return row, plain


def ensure_key(db: Session, name: str, role: str, plain: str) -> ApiKey:
    """A key with exactly this value (the bootstrap key): created once, kept after."""
    row = db.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if row is None:
        row, _ = create_key(db, name, role, plain)
    return row


def authenticate(db: Session, plain: str) -> Principal | None:
    row = db.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last > TOUCH_EVERY:
        row.last_used_at = now
    return Principal(row.id, row.name, row.role, row.prefix)


def list_keys(db: Session, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(db.scalars(stmt))


def revoke_key(db: Session, ident: str) -> ApiKey | None:
    """Revoke by numeric id or by prefix (unique among live keys)."""
    row: ApiKey | None = None
    if ident.isdigit():
        row = db.get(ApiKey, int(ident))
    else:
        matches = [k for k in list_keys(db, include_revoked=False) if k.prefix.startswith(ident)]
        if len(matches) > 1:
            raise ValueError(f"{ident!r} matches {len(matches)} keys; give the id")
        row = matches[0] if matches else None
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
