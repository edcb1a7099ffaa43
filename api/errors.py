"""One JSON error shape for every 4xx and 5xx: {"error": {"code", "message", "detail"}}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.schemas import DateOutOfRange
from search.base import SearchUnavailable

log = logging.getLogger("callqa.api")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, forbidden, "
                      "validation_error, not_audio, too_large.")
    message: str = Field(description="What went wrong, for a person.")
    detail: Any = Field(None, description="Structured detail (e.g. the invalid fields).")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "not_found", "message": "no call 'c-123'", "detail": None}}]})
    error: ErrorBody


class ApiError(Exception):
    """Raise anywhere in a route: becomes the error shape with this status."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}")


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": jsonable_encoder(detail)}}
    return JSONResponse(body, status_code=status, headers=headers)


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "too_large",
          415: "unsupported_media_type", 416: "range_not_satisfiable", 422: "validation_error",
          429: "too_many_requests", 503: "unavailable"}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg"),
                    "type": err.get("type")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _validation_detail(exc)
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
        return error_response(422, "validation_error",
                              f"{where or 'request'}: {first['msg']}", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        if status == 400 and "parsing the body" in message:
            # A body that is not JSON (not even text) is an invalid body like any other:
            # one documented status for it.
            return error_response(422, "validation_error", "the body is not valid JSON")
        return error_response(status, _CODES.get(status, f"http_{status}"), message,
                              None if isinstance(exc.detail, str) else exc.detail,
                              getattr(exc, "headers", None))

    @app.exception_handler(DateOutOfRange)
    async def _date_range(_request: Request, exc: DateOutOfRange) -> JSONResponse:
        return error_response(422, "date_out_of_range", str(exc))

    @app.exception_handler(SearchUnavailable)
    async def _search_down(_request: Request, exc: SearchUnavailable) -> JSONResponse:
        log.error("search unavailable", extra={"error": str(exc)})
        return error_response(503, "search_unavailable", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from core.db import is_db_busy

        if is_db_busy(exc):  # write-locked (SQLite) or unreachable: not a bug, say when
            log.warning("database busy", extra={"path": request.url.path, "error": str(exc)})
            return error_response(503, "database_busy", "the database is busy or unreachable; "
                                  "try again shortly", headers={"Retry-After": "5"})
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal_error", "internal error; see the server log")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorResponse, "description": "The key's role may not do this."},
    422: {"model": ErrorResponse, "description": "Invalid parameters or body."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such resource."}}


def responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a protected route documents, plus `extra` statuses."""
    out = dict(ERRORS)
    descriptions = {404: "No such resource.", 409: "Conflicts with the current state.",
                    413: "Upload larger than CALLQA_MAX_UPLOAD_BYTES.",
                    416: "Range not satisfiable.", 503: "Not ready."}
    for status in extra:
        out[status] = {"model": ErrorResponse, "description": descriptions.get(status, "Error.")}
    return out
