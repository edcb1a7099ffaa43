"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import Backend, SettingsDep, current_key
from api.keys import Principal
from api.models import Health
from api.services import records
from core.db import session_scope, sqlite_write_locked

log = logging.getLogger("callqa.api")
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness",
            description="The process answers. No key needed; says nothing about the data.")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="Readiness",
            description="Database, object store and search index reachable (503 otherwise). "
            "No key needed; reports only ok or the failing component.",
            responses={503: {"model": Health, "description": "A dependency is down."}})
def readyz(response: Response, settings: SettingsDep, backend: Backend) -> Health:
    checks: dict[str, str] = {}
    try:
        with session_scope() as db:
            db.execute(text("SELECT 1"))
        # Reads work while another process holds SQLite's write lock; writes wait, then
        # fail: not ready.
        checks["database"] = ("write_locked" if sqlite_write_locked(settings.sqlalchemy_url)
                              else "ok")
    except Exception as exc:
        log.warning("readiness: database", extra={"error": str(exc)})
        checks["database"] = "unavailable"
    try:
        settings.objects_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.objects_dir / ".ready"
        probe.write_bytes(b"ok")
        probe.unlink()
        checks["objects"] = "ok"
    except OSError as exc:
        log.warning("readiness: objects", extra={"error": str(exc)})
        checks["objects"] = "unavailable"
    try:
        backend.count()
        checks["search"] = "ok"
    except Exception as exc:
        log.warning("readiness: search", extra={"error": str(exc)})
        checks["search"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return Health(status="ok" if ok else "unavailable", checks=checks)


@router.get("/metrics", summary="Prometheus metrics",
            description="Request counts and latency by route, uploads by outcome, calls by "
            "status, webhook deliveries by status, index size. Any valid key (Prometheus: "
            "`authorization: {credentials: <key>}`).",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"example": "callqa_calls{status=\"indexed\"} 12.0"}},
                             "description": "Prometheus text format."},
                       401: {"description": "No or unknown key."}})
def metrics(request: Request, backend: Backend,
            _who: Annotated[Principal, Depends(current_key)]) -> Response:
    m = request.app.state.metrics
    with session_scope() as db:
        m.calls.clear()
        for status, n in records.calls_per_status(db).items():
            m.calls.labels(status).set(n)
        m.webhooks.clear()
        for status, n in records.deliveries_per_status(db).items():
            m.webhooks.labels(status).set(n)
    try:
        m.index_docs.set(backend.count())
    except Exception:
        log.warning("metrics: search index unavailable")
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
