"""Database: calls and their per-stage status (SQLAlchemy 2, migrated by Alembic)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from core.status import CallStatus, StageStatus, project

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    source_name: Mapped[str] = mapped_column(String(512))
    audio_key: Mapped[str] = mapped_column(String(512))
    duration: Mapped[float] = mapped_column(Float)
    channels: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(64))
    container: Mapped[str] = mapped_column(String(64))

    agent_id: Mapped[str | None] = mapped_column(String(128), index=True)
    team: Mapped[str | None] = mapped_column(String(128), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(128), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    direction: Mapped[str | None] = mapped_column(String(16))
    channel_map: Mapped[list[str] | None] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(16))
    # Known number of speakers (set by reprocess): mono diarization uses it instead of
    # deciding 1 or 2 itself.
    speakers: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)

    # A projection of stage_runs (core.status.project), written only by sync_status().
    status: Mapped[str] = mapped_column(String(32), index=True, default=CallStatus.queued.value)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    stages: Mapped[list[StageRun]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="StageRun.id"
    )

    def stage(self, name: str) -> StageRun | None:
        return next((s for s in self.stages if s.stage == name), None)

    def outputs(self) -> dict[str, str]:
        """Object keys of the stages that have finished, by stage."""
        return {s.stage: s.output_key for s in self.stages
                if s.status == StageStatus.done and s.output_key}

    def sync_status(self) -> CallStatus:
        """Set status and error from the stage rows (the one projection, core.status)."""
        status, self.error = project(self.stages)
        self.status = status.value
        return status

    def metadata_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.id,
            "agent_id": self.agent_id,
            "team": self.team,
            "customer_id": self.customer_id,
            "started_at": self.started_at,
            "direction": self.direction,
            "channel_map": self.channel_map,
            "language": self.language,
            "speakers": self.speakers,
        }


class Review(Base):
    """A QA decision on one flag. The latest row per (call, flag_key) is the flag's status."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    flag_key: Mapped[str] = mapped_column(String(160))
    rule_id: Mapped[str] = mapped_column(String(128), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | dismissed
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def latest_reviews(db: Session, call_id: str) -> dict[str, Review]:
    """The latest review per flag key of a call: the flag's current decision."""
    rows = db.query(Review).filter_by(call_id=call_id).order_by(Review.created_at, Review.id)
    return {r.flag_key: r for r in rows}


class Assignment(Base):
    """A call in the review queue: who reviews it (a key name; admin assigns) and where the
    review stands (to_review | in_review | done). No row: unassigned, status from the flags."""

    __tablename__ = "assignments"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"),
                                         primary_key=True)
    assignee: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), default="to_review")
    assigned_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class Evaluation(Base):
    """A call scored on an evaluation form (analysis/forms.py): the automatic evaluation
    (kind auto, reviewer "") holds an answer per question with its evidence; a reviewer's
    (kind review) holds only the answers that reviewer gave, the rest read from the
    automatic one. `score` is the final 0-100 score of those answers (null: nothing
    scorable). The form's id, version and content hash are those it was scored on."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("call_id", "form_id", "reviewer",
                                       name="uq_evaluations_call_form_reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    form_id: Mapped[str] = mapped_column(String(64), index=True)
    form_version: Mapped[int] = mapped_column(Integer)
    form_hash: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))  # auto | review
    reviewer: Mapped[str] = mapped_column(String(128), default="")
    analysis_version: Mapped[str | None] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow, index=True)

    answers: Mapped[list[EvaluationAnswer]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan",
        order_by="EvaluationAnswer.id")


class EvaluationAnswer(Base):
    """One question's answer: yes, no, na, or null (a manual question not answered yet);
    who gave it and when (null: the automatic scorer), and the reviewer's comment."""

    __tablename__ = "evaluation_answers"
    __table_args__ = (UniqueConstraint("evaluation_id", "question_id",
                                       name="uq_evaluation_answers_question"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(4))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    evaluation: Mapped[Evaluation] = relationship(back_populates="answers")


class ApiKey(Base):
    """Only the SHA-256 of a key is stored; the prefix lets people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # qa | manager | crm | admin
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who viewed, played, exported or changed what, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), index=True)
    resource: Mapped[str] = mapped_column(String(256), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SavedSearch(Base):
    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StageRun(Base):
    """One row per (call, stage): re-running a stage replaces its own row."""

    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("call_id", "stage", name="uq_stage_runs_call_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # a StageStatus (never pending)
    version: Mapped[str | None] = mapped_column(String(64))
    output_key: Mapped[str | None] = mapped_column(String(512))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lease of a running stage: who runs it and when it last said so (migration 0003).
    worker: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The worker of the last finished attempt (`worker` is cleared at hand-over; 0004).
    ran_on: Mapped[str | None] = mapped_column(String(128))
    # Seconds of the call's audio the running attempt has transcribed, as its worker last
    # said (so `callqa ingest --wait` advances by audio seconds in a cluster too; 0008).
    progress_s: Mapped[float | None] = mapped_column(Float)

    call: Mapped[Call] = relationship(back_populates="stages")


def _busy_timeout_ms() -> int:
    from core.settings import get_settings

    return int(get_settings().sqlite_busy_timeout_s * 1000)


def is_db_busy(exc: BaseException) -> bool:
    """The database is locked by another writer, or not reachable: a retry later may work."""
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout)


def sqlite_write_locked(url: str) -> bool:
    """True while another connection holds the SQLite write lock (readiness): tries to
    take it for an instant on a connection of its own, without waiting."""
    import sqlite3

    path = url.split("///", 1)[-1]
    if not url.startswith("sqlite") or not path or path == ":memory:" or not Path(path).exists():
        return False
    conn = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints, not at every commit: still safe against
    # corruption and application crashes; an OS crash may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={_busy_timeout_ms()}")
    cur.close()


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": _busy_timeout_ms() / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(url: str) -> None:
    """Bring the schema at `url` to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Processes starting together (API, workers) may each upgrade: one at a time, then the
    # others find the schema at head and do nothing.
    with _migration_lock(url), get_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")  # till commit
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """An exclusive lock file beside a SQLite database (other databases lock in SQL)."""
    path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        yield
        return
    import fcntl

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The databases this process has upgraded: upgrade() is a no-op the second time.
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def upgrade(url: str | None = None) -> None:
    """Migrate the database (CALLQA_DATABASE_URL, else the data dir's SQLite) to the newest
    revision, once per process. Called by the start-up paths before anything else touches
    the database: the API's start-up (api.app.prepare), a Celery worker's start
    (core.celery_app), compose's `migrate` service, the CLI. Sessions never migrate."""
    if url is None:
        from core.settings import get_settings

        url = get_settings().sqlalchemy_url
    if url in _migrated:
        return
    with _migrate_lock:  # Alembic's context is process-global: one thread at a time
        if url not in _migrated:
            migrate(url)
            _migrated.add(url)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error. The schema is the
    start-up's business (upgrade()), not the session's."""
    if url is None:
        from core.settings import get_settings

        url = get_settings().sqlalchemy_url
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
