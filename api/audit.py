"""Audit log: who viewed, played, exported or changed what, and when."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.pii import redact_values
from api.keys import Principal
from core.db import AuditEntry, session_scope, utcnow

log = logging.getLogger("callqa.audit")

ACTIONS = ("view", "play", "search", "export", "insight", "upload", "reprocess", "change_roles",
           "delete", "review", "rules_upload", "webhook_test", "key_create", "key_revoke",
           "sign_in", "sign_out", "dry_run", "list", "phrases", "saved_search", "assign",
           "queue_status", "evaluate")


def record(db: Session | None, who: Principal | str, action: str, resource: str,
           detail: dict[str, Any] | None = None, role: str | None = None) -> None:
    """Add an entry in `db`'s transaction (or its own when db is None)."""
    actor = who.actor if isinstance(who, Principal) else who
    role = who.role if isinstance(who, Principal) else (role or "cli")
    # A search for a phone number or a name must not put it in the log: the log is kept
    # for years and read by people who may not see personal data.
    entry = AuditEntry(actor=actor, role=role, action=action, resource=resource[:256],
                       detail=redact_values(detail) if detail else None)
    log.info("audit", extra={"actor": actor, "action": action, "resource": resource})
    if db is None:
        with session_scope() as own:
            own.add(entry)
    else:
        db.add(entry)


def recent(db: Session, who: Principal, action: str, resource: str, within_s: float) -> bool:
    """True if this key has an `action` entry on `resource` in the last `within_s` seconds."""
    since = utcnow() - timedelta(seconds=within_s)
    found = db.scalar(select(AuditEntry.id).where(
        AuditEntry.actor == who.actor, AuditEntry.action == action,
        AuditEntry.resource == resource[:256], AuditEntry.at >= since).limit(1))
    return found is not None
