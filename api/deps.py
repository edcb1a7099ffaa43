"""Every dependency the routes use: settings, a database session, the calling key and
its role (`require`), the search backend."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.keys import Principal, authenticate
from core.db import session_scope
from core.settings import Settings, get_settings
from search.base import SearchBackend

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key from `callqa keys create`.")
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")
# The web UI's session: POST /session puts the key in an HttpOnly, SameSite=Strict cookie
# (api/routes/session.py), so <audio src> can stream with it.
SESSION_COOKIE = "callqa_session"
UI_HEADER = "X-Callqa-UI"
session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                              description="The web UI's session cookie (POST /session).")


def settings_dep() -> Settings:
    return get_settings()


def db_session() -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with session_scope() as db:
        yield db


UPLOAD_ROLES = ("qa",)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="callqa", charset="UTF-8"'}


def principal_from(plain: str | None) -> Principal:
    """The key's principal, or 401."""
    if not plain:
        raise ApiError(401, "unauthorized", "an API key is required (X-API-Key header or "
                       "Authorization: Bearer)", headers=CHALLENGE)
    with session_scope() as db:
        principal = authenticate(db, plain)
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", headers=CHALLENGE)
    return principal


def check_role(who: Principal, roles: tuple[str, ...]) -> Principal:
    """403 unless the key's role is one of `roles` (admin always passes)."""
    allowed = {"admin", *roles}
    if who.role not in allowed:
        raise ApiError(403, "forbidden", f"role {who.role!r} may not do this; needs one of "
                       f"{', '.join(sorted(allowed))}", {"allowed_roles": sorted(allowed)})
    return who


def current_key(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    cookie: Annotated[str | None, Security(session_cookie)] = None,
) -> Principal:
    plain = key or (token.credentials if token else None)
    if not plain and cookie:
        # Besides SameSite=Strict: a change made with the cookie must carry a header that
        # no cross-site form can send.
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get(UI_HEADER) != "1":
            raise ApiError(403, "forbidden", f"requests that change data with the session "
                           f"cookie need the {UI_HEADER}: 1 header")
        plain = cookie
    return principal_from(plain)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency that lets through keys of these roles (admin always)."""

    def check(who: Annotated[Principal, Depends(current_key)]) -> Principal:
        return check_role(who, roles)

    check.__name__ = f"require_{'_'.join(sorted({'admin', *roles}))}"
    return check


_backend_lock = threading.Lock()


def search_backend(request: Request) -> SearchBackend:
    """One backend per app and settings (its connections are per thread)."""
    from search import get_backend

    settings = get_settings()
    marker: tuple[Any, ...] = (settings.elasticsearch_url, str(settings.index_dir))
    state = request.app.state
    with _backend_lock:
        if getattr(state, "backend_marker", None) != marker:
            state.backend, state.backend_marker = get_backend(), marker
        backend: SearchBackend = state.backend
    return backend


DB = Annotated[Session, Depends(db_session, scope="function")]
Backend = Annotated[SearchBackend, Depends(search_backend)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]


_known_query: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_only(request: Request) -> None:
    """Unknown query parameters are refused (422), not ignored: a misspelt filter
    (`customerid=`) or one this version lacks must not silently return every call."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _known_query.get(id(route))
    if allowed is None:
        allowed = frozenset(_query_names(dependant))
        _known_query[id(route)] = allowed
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(422, "unknown_parameter", f"unknown query parameter {unknown[0]!r}; "
                       f"this operation takes {', '.join(sorted(allowed)) or 'none'}",
                       {"unknown": unknown, "allowed": sorted(allowed)})
