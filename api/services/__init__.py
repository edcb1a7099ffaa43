"""The thin service layer: the database reads and writes that routes and CLI commands
share (full-stack-fastapi-template's crud modules). A route parses, authorises, calls a
service and shapes the response; a CLI command parses, calls the same service and prints.
Services take an open Session (the caller owns the transaction) and raise plain
exceptions (LookupError, ValueError subclasses), never HTTP errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def paged(db: Session, model: type[T], conds: list[ColumnElement[bool]], order_by: Any,
          limit: int, offset: int) -> Page[T]:
    """One page of `model` rows matching every condition, and how many match in all."""
    total = db.scalar(select(func.count()).select_from(model).where(*conds)) or 0
    rows = list(db.scalars(select(model).where(*conds).order_by(order_by)
                           .limit(limit).offset(offset)))
    return Page(rows, total, limit, offset)
