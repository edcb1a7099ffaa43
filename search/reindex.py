"""Rebuild the search index from the database and object store (`callqa reindex`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from core.status import StageStatus
from search.base import CallDocument, SearchBackend

# (calls done, calls in all, the call just done)
ReindexProgress = Callable[[int, int, str], None]


@dataclass
class ReindexResult:
    indexed: int                 # documents in the new index
    reapplied: int               # calls indexed by the pipeline while it filled
    skipped: list[str] = field(default_factory=list)  # "call_id: why"
    seconds: float = 0.0


def analysed_call_ids() -> list[str]:
    """Calls whose analysis is done: everything an index can hold."""
    from sqlalchemy import select

    from core.db import Call, StageRun, session_scope

    with session_scope() as db:
        return list(db.scalars(select(StageRun.call_id).join(Call).where(
            StageRun.stage == "analyze", StageRun.status == StageStatus.done).order_by(StageRun.call_id)))


def _indexed_since(moment: datetime) -> list[str]:
    from sqlalchemy import select

    from core.db import StageRun, session_scope

    with session_scope() as db:
        return list(db.scalars(select(StageRun.call_id).where(
            StageRun.stage == "index", StageRun.status == StageStatus.done,
            StageRun.finished_at >= moment)))


def reindex(backend: SearchBackend, progress: ReindexProgress | None = None) -> ReindexResult:
    """A new index is filled and then swapped in (no downtime); calls the pipeline indexed
    meanwhile went to the old one and are applied again. SearchUnavailable propagates."""
    from search.tasks import call_document

    started = datetime.now().astimezone()
    ids = analysed_call_ids()
    skipped: list[str] = []

    def documents() -> Iterator[CallDocument]:
        for done, call_id in enumerate(ids, 1):
            try:
                yield call_document(call_id)
            except LookupError as exc:  # deleted or re-running since the list was read
                skipped.append(f"{call_id}: {exc}")
            if progress is not None:
                progress(done, len(ids), call_id)

    t0 = time.perf_counter()
    total = backend.rebuild(documents())
    late = _indexed_since(started)
    if late:
        backend.index([call_document(c) for c in late])
    return ReindexResult(indexed=total, reapplied=len(late), skipped=skipped,
                         seconds=time.perf_counter() - t0)
