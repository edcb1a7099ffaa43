"""The REST API: `create_app()` builds the FastAPI app (served by `callqa serve`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import known_query_only
from api.middleware import Metrics, RequestMetrics, SecurityHeaders, UploadLimit
from api.routes import audit, calls, catalogue, health, insight, reviews, rules, saved_searches, session
from api.routes import forms as form_routes
from api.routes import queue as queue_routes
from api.routes import transcripts as transcript_routes
from api.routes import webhooks as webhook_routes
from api.server import BodyTimeout
from api.webui import mount_ui
from core import webhooks
from core.db import session_scope, upgrade
from core.settings import get_settings

log = logging.getLogger("callqa.api")

DESCRIPTION = """
Speech-analytics QA for consumer-finance call centres: upload recordings, follow their
processing, read transcripts and flags, play audio, search, trends, scorecards, customer
summaries, reviews, rules and webhooks.

**Auth.** Every endpoint except `/healthz` and `/readyz` needs an API key
(`callqa keys create NAME --role ROLE`) in `X-API-Key: <key>` or
`Authorization: Bearer <key>`. Roles: `qa`, `manager`, `crm`, `admin` (admin may do
everything); each operation says which roles it allows, and docs/api.md has the matrix.

**Errors** all look alike: `{"error": {"code": "...", "message": "...", "detail": ...}}`.
"""

TAGS = [
    {"name": "calls", "description": "Upload, status, transcript, analysis, audio, reprocess, "
     "roles, delete."},
    {"name": "insight", "description": "Search, export, trends, scorecards, customer summaries."},
    {"name": "reviews", "description": "Confirm or dismiss flags; rule precision."},
    {"name": "forms", "description": "Evaluation forms (QA scorecards): automatic and "
     "reviewers' evaluations, overrides, calibration, scores over time."},
    {"name": "rules", "description": "Compliance rules: read, validate, upload, dry-run."},
    {"name": "webhooks", "description": "call.completed and flag.critical deliveries."},
    {"name": "audit", "description": "Who did what, when."},
    {"name": "health", "description": "Liveness, readiness, Prometheus metrics."},
]


PREPARED_ENV = "CALLQA_API_PREPARED"


def prepare() -> None:
    """Once per deployment start, before serving: migrate the database, create the
    bootstrap admin key if one is configured, and (no broker) resume webhook deliveries a
    stopped process left pending. `callqa serve` runs it in the parent process, so
    several workers neither race on the migration nor send a delivery twice."""
    settings = get_settings()
    upgrade()
    with session_scope() as db:
        if settings.api_bootstrap_key:
            from api.keys import ensure_key

            ensure_key(db, "bootstrap", "admin", settings.api_bootstrap_key)
    resumed = webhooks.resume_pending()
    if resumed:
        log.info("webhook deliveries resumed", extra={"count": resumed})


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    if not get_settings().api_prepared:  # not started by `callqa serve`
        await run_in_threadpool(prepare)
    log.info("api ready", extra={"data_dir": str(get_settings().data_dir)})
    yield


DOCS_STATIC = "/docs-static"


@lru_cache(maxsize=1)
def _redoc_js(static: str) -> bytes:
    code = (Path(static) / "redoc.standalone.js").read_text("utf-8")
    return code.replace("https://cdn.redoc.ly/redoc/logo-mini.svg",
                        f"{DOCS_STATIC}/favicon.png").encode()


def mount_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts served from the fastapi-offline
    package: FastAPI's defaults load them from a CDN, which leaves the pages blank on an
    offline network."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from starlette.responses import HTMLResponse

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_STATIC, StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
            # No badge from the online validator (validator.swagger.io).
            swagger_ui_parameters={"validatorUrl": None})

    @app.get(f"{DOCS_STATIC}-redoc.js", include_in_schema=False)
    async def redoc_js() -> Response:
        # ReDoc's menu footer shows a logo from cdn.redoc.ly: the packaged icon instead.
        return Response(_redoc_js(str(static)), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_STATIC}-redoc.js",
            redoc_favicon_url=f"{root}{DOCS_STATIC}/favicon.png", with_google_fonts=False)


def _model_examples() -> dict[str, list[Any]]:
    from pydantic import BaseModel

    from api import errors as error_models
    from api import models
    from api.routes import catalogue as catalogue_models
    from ingest import transcripts as transcript_models

    out: dict[str, list[Any]] = {}
    for module in (models, error_models, catalogue_models, transcript_models):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                extra = value.model_config.get("json_schema_extra")
                if isinstance(extra, dict) and "examples" in extra:
                    out[value.__name__] = list(extra["examples"])  # type: ignore[arg-type]
    return out


def _extra_schemas(app: FastAPI) -> None:
    """Bodies a route reads itself (to report file lines) are still described in the schema."""
    from pydantic.json_schema import models_json_schema

    from ingest.transcripts import TranscriptIn

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        _, defs = models_json_schema([(TranscriptIn, "validation")],
                                     ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs["$defs"])
        # FastAPI drops null values from examples; a client reads the example as the shape
        # of the response, so the nulls are put back from the models' own examples.
        for name, examples in _model_examples().items():
            if name in components and "examples" in components[name]:
                components[name]["examples"] = examples
        from api.routes.rules import RULE_EXAMPLE  # a model of analysis/, shown as served

        components["Rule"]["examples"] = [RULE_EXAMPLE]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app() -> FastAPI:
    app = FastAPI(title="callqa API", version="1.0.0", description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan, docs_url=None, redoc_url=None,
                  dependencies=[Depends(known_query_only)])
    mount_docs(app)
    app.state.metrics = Metrics()
    from core.metrics import PipelineCollector

    app.state.metrics.registry.register(PipelineCollector())  # stage durations, queue depth
    errors.install(app)
    for module in (calls, insight, saved_searches, reviews, rules, webhook_routes, audit, health,
                   session, transcript_routes, catalogue, queue_routes, form_routes):
        app.include_router(module.router)
    _extra_schemas(app)
    mount_ui(app)  # the web UI at /ui/ (api/ui)
    # Outermost last: metrics see every response, the 413 included.
    app.add_middleware(UploadLimit)
    app.add_middleware(BodyTimeout)  # a stalled body: 408, before the upload limit reads it
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(SecurityHeaders)  # the 413 and every error carry them too
    return app
