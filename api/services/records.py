"""Read-only logs: the audit log, webhook deliveries, review decisions, counts for
/metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.services import Page, paged
from core.db import AuditEntry, Call, Review, WebhookDelivery
from core.schemas import to_utc


def audit_entries(db: Session, actor: str | None = None, action: str | None = None,
                  resource: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100, offset: int = 0
                  ) -> Page[AuditEntry]:
    """Newest first."""
    conds = [c for c, v in ((AuditEntry.actor == actor, actor),
                            (AuditEntry.action == action, action),
                            (AuditEntry.resource == resource, resource)) if v]
    if since:
        conds.append(AuditEntry.at >= to_utc(since))
    if until:
        conds.append(AuditEntry.at < to_utc(until))
    return paged(db, AuditEntry, conds, AuditEntry.id.desc(), limit, offset)


def webhook_deliveries(db: Session, event: str | None = None, status: str | None = None,
                       limit: int = 100, offset: int = 0) -> Page[WebhookDelivery]:
    """Newest first."""
    conds = [c for c, v in ((WebhookDelivery.event == event, event),
                            (WebhookDelivery.status == status, status)) if v]
    return paged(db, WebhookDelivery, conds, WebhookDelivery.id.desc(), limit, offset)


def reviews(db: Session, rule_id: str | None = None, decision: str | None = None,
            reviewer: str | None = None, call_id: str | None = None, limit: int = 100,
            offset: int = 0) -> Page[Review]:
    """Every decision, newest first."""
    conds = [c for c, v in ((Review.rule_id == rule_id, rule_id),
                            (Review.decision == decision, decision),
                            (Review.reviewer == reviewer, reviewer),
                            (Review.call_id == call_id, call_id)) if v is not None]
    return paged(db, Review, conds, Review.id.desc(), limit, offset)


def decisions_per_rule(db: Session) -> dict[str, dict[str, int]]:
    """rule id -> decision -> flags, counting each flag's latest decision only."""
    latest = select(func.max(Review.id)).group_by(Review.call_id, Review.flag_key)
    counts: dict[str, dict[str, int]] = {}
    for rule_id, decision, n in db.execute(
            select(Review.rule_id, Review.decision, func.count())
            .where(Review.id.in_(latest)).group_by(Review.rule_id, Review.decision)):
        counts.setdefault(rule_id, {})[decision] = n
    return counts


def calls_per_status(db: Session) -> dict[str, int]:
    return {s: n for s, n in db.execute(select(Call.status, func.count()).group_by(Call.status))}


def deliveries_per_status(db: Session) -> dict[str, int]:
    return {s: n for s, n in db.execute(select(WebhookDelivery.status, func.count())
                                        .group_by(WebhookDelivery.status))}


class NotRetryable(ValueError):
    """Only a failed delivery can be retried."""


def reset_delivery(db: Session, delivery_id: int) -> WebhookDelivery:
    """A failed delivery back to pending with its attempts from 0 (the caller dispatches
    it after committing); LookupError if there is none, NotRetryable unless it failed."""
    row = db.get(WebhookDelivery, delivery_id)
    if row is None:
        raise LookupError(f"delivery {delivery_id}")
    if row.status != "failed":
        raise NotRetryable(f"delivery {delivery_id} is {row.status}, not failed")
    row.status, row.attempts, row.error = "pending", 0, None
    return row
