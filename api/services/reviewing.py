"""The review queue's assignments and reviewers, and saved searches: the rows behind
/queue and /saved-searches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import ApiKey, Assignment, Call, Review, SavedSearch
from core.schemas import Flag

REVIEWER_ROLES = ("qa", "admin")


def assignments(db: Session, call_ids: list[str]) -> dict[str, Assignment]:
    if not call_ids:
        return {}
    return {a.call_id: a for a in db.scalars(
        select(Assignment).where(Assignment.call_id.in_(call_ids)))}


def reviewer_names(db: Session) -> list[str]:
    """Names of the active keys that can review."""
    return sorted(set(db.scalars(select(ApiKey.name).where(
        ApiKey.revoked_at.is_(None), ApiKey.role.in_(REVIEWER_ROLES)))))


def is_reviewer(db: Session, name: str) -> bool:
    return db.scalar(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None),
                                             ApiKey.role.in_(REVIEWER_ROLES)).limit(1)) is not None


def assignment(db: Session, call_id: str) -> Assignment:
    """The call's assignment row, created (to_review, nobody) on first use; LookupError
    when there is no such call."""
    if db.get(Call, call_id) is None:
        raise LookupError(f"call {call_id}")
    row = db.get(Assignment, call_id)
    if row is None:
        row = Assignment(call_id=call_id, status="to_review")
        db.add(row)
    return row


def mark_done(db: Session, call_id: str, reviewer: str, admin: bool = False) -> None:
    """A reviewer finished the call: done in the queue. A call assigned to someone else
    stays theirs to finish, unless an admin says so."""
    row = assignment(db, call_id)
    if row.assignee in (None, reviewer) or admin:
        row.status = "done"


def add_review(db: Session, call_id: str, flag: Flag, decision: str, comment: str | None,
               reviewer: str) -> Review:
    """One decision on one flag; the latest per flag counts."""
    row = Review(call_id=call_id, flag_key=flag.key, rule_id=flag.rule_id, decision=decision,
                 comment=comment, reviewer=reviewer)
    db.add(row)
    return row


class TooManySaved(ValueError):
    """The owner has as many saved searches as allowed."""


def saved_searches(db: Session, owner: str) -> list[SavedSearch]:
    return list(db.scalars(select(SavedSearch).where(SavedSearch.owner == owner)
                           .order_by(SavedSearch.name, SavedSearch.id)))


def save_search(db: Session, owner: str, name: str, query: dict[str, Any],
                max_per_owner: int) -> SavedSearch:
    """Saving under a name the owner already uses replaces that search."""
    row = db.scalar(select(SavedSearch).where(SavedSearch.owner == owner,
                                              SavedSearch.name == name))
    if row is None:
        mine = db.scalars(select(SavedSearch.id).where(SavedSearch.owner == owner)).all()
        if len(mine) >= max_per_owner:
            raise TooManySaved(f"at most {max_per_owner} saved searches per owner; delete "
                               "some first")
        row = SavedSearch(owner=owner, name=name, query=query)
        db.add(row)
    else:
        row.query = query
    db.flush()
    return row


def delete_saved_search(db: Session, owner: str, search_id: int) -> bool:
    """Only the owner's own; False when there is none of that id."""
    row = db.get(SavedSearch, search_id)
    if row is None or row.owner != owner:
        return False
    db.delete(row)
    return True
