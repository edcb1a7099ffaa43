"""The web UI's sign-in: POST /session checks an API key and puts it in an HttpOnly,
SameSite=Strict cookie (which api/deps.py accepts instead of the header, so the browser
can stream audio with <audio src>); GET /session says who is signed in; DELETE /session
signs out. Sign-ins and sign-outs are audited.

These routes are for the browser and stay out of the OpenAPI schema: API clients send
their key with every request instead.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api import audit
from api.deps import DB, SESSION_COOKIE, UI_HEADER, current_key, principal_from
from api.errors import ApiError
from api.keys import Principal

router = APIRouter(tags=["session"], include_in_schema=False)

# A working day; the key itself is checked (revocation included) on every request.
SESSION_MAX_AGE_S = 12 * 3600


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=200, description="An API key.")


class SessionOut(BaseModel):
    name: str
    role: str
    prefix: str


def _out(who: Principal) -> SessionOut:
    return SessionOut(name=who.name, role=who.role, prefix=who.prefix)


@router.post("/session", response_model=SessionOut)
def sign_in(body: SignIn, request: Request, response: Response, db: DB) -> SessionOut:
    """Check the key and set the session cookie."""
    if request.headers.get(UI_HEADER) != "1":
        raise ApiError(403, "forbidden", f"sign in from the web UI (the {UI_HEADER}: 1 header)")
    who = principal_from(body.key.strip())
    response.set_cookie(SESSION_COOKIE, body.key.strip(), max_age=SESSION_MAX_AGE_S, path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    audit.record(db, who, "sign_in", "session")
    return _out(who)


@router.get("/session", response_model=SessionOut)
def whoami(who: Annotated[Principal, Depends(current_key)]) -> SessionOut:
    """The signed-in key's name, role and prefix (401 when not signed in)."""
    return _out(who)


@router.delete("/session", status_code=204, response_class=Response)
def sign_out(request: Request, db: DB) -> Response:
    """Drop the session cookie (always succeeds; audited when it held a valid key)."""
    plain = request.cookies.get(SESSION_COOKIE)
    if plain:
        with contextlib.suppress(ApiError):  # an expired or revoked key: nothing to audit
            audit.record(db, principal_from(plain), "sign_out", "session")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response
