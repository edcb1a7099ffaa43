"""The web UI (api/ui/: plain ES modules, CSS and index.html, no build step) served at
/ui/ by the API app, with / redirecting there. Every asset is local: the pages load
nothing from other origins, and the Content-Security-Policy says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

UI_DIR = Path(__file__).resolve().parent / "ui"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


class UiFiles(StaticFiles):
    """Static files with a strict CSP; revalidated on each load (no stale UI after an
    upgrade)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_ui(app: FastAPI) -> None:
    """Serve api/ui at /ui/ and redirect / there."""

    @app.get("/", include_in_schema=False)
    def _root() -> Any:
        return RedirectResponse("/ui/", status_code=307)

    app.mount("/ui", UiFiles(directory=UI_DIR, html=True), name="ui")
