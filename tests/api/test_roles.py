"""The role matrix, endpoint by endpoint: every route needs a key (401 without one), a
role outside the route's list gets 403, a role inside it gets past the check.

Destructive routes are exercised on ids that do not exist (a permitted role then gets
404), so the matrix runs against one shared world in any order.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ROLES, SEEDED, World

CALL = SEEDED[0]       # en-10: critical threat; has a customer id
MISSING = "no-such-call"

# (method, path, request kwargs, roles allowed besides admin)
MATRIX: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("POST", "/calls", {"files": {"file": ("x.wav", b"not audio at all")}}, ("qa",)),
    ("GET", "/calls", {"params": {"customer_id": "C20812"}}, ("qa", "manager", "crm")),
    ("GET", f"/calls/{CALL}", {}, ("qa", "manager", "crm")),
    ("GET", f"/calls/{CALL}/audio", {}, ("qa", "manager")),
    ("GET", f"/calls/{CALL}/peaks", {}, ("qa", "manager")),
    ("POST", f"/calls/{MISSING}/reprocess", {"json": {"from_stage": "analyze"}}, ("qa",)),
    ("PATCH", f"/calls/{MISSING}/roles", {"json": {"swap": True}}, ("qa",)),
    ("DELETE", f"/calls/{MISSING}", {}, ()),
    ("POST", "/transcripts", {"json": {"utterances": []}}, ("qa",)),
    ("GET", "/catalogue", {}, ("qa", "manager", "crm")),
    ("GET", "/search", {"params": {"q": "payment"}}, ("qa", "manager")),
    ("GET", "/search/export", {"params": {"q": "payment"}}, ("qa", "manager")),
    ("GET", "/saved-searches", {}, ("qa", "manager")),
    ("POST", "/saved-searches", {"json": {"name": "matrix", "query": {"q": "payment"}}},
     ("qa", "manager")),
    ("DELETE", "/saved-searches/999999", {}, ("qa", "manager")),
    ("GET", "/trends", {"params": {"metric": "violation", "interval": "week"}}, ("manager",)),
    ("GET", "/agents", {}, ("manager",)),
    ("GET", "/agents/A1006/scorecard", {}, ("manager",)),
    ("GET", "/intents/repayment_amount/phrases", {}, ("manager",)),
    ("GET", "/customers/C20812/summary", {}, ("crm",)),
    ("POST", f"/calls/{MISSING}/reviews", {"json": {"flag_key": "x@1", "decision": "confirmed"}},
     ("qa",)),
    ("GET", f"/calls/{CALL}/reviews", {}, ("qa",)),
    ("PUT", f"/calls/{MISSING}/labels", {"json": {"sentiment": "negative"}}, ("qa",)),
    ("GET", f"/calls/{CALL}/labels", {}, ("qa",)),
    ("GET", "/reviews", {}, ("qa",)),
    ("GET", "/reviews/precision", {}, ("qa", "manager")),
    ("GET", "/queue", {}, ("qa",)),
    ("GET", "/queue/reviewers", {}, ()),
    ("PUT", f"/queue/{MISSING}/assignee", {"json": {"assignee": None}}, ()),
    ("PUT", f"/queue/{MISSING}/status", {"json": {"status": "done"}}, ("qa",)),
    ("GET", "/rules", {}, ("qa",)),
    ("GET", "/rules/threat_or_abuse", {}, ("qa",)),
    ("POST", "/rules/validate", {"json": {"yaml": "rules: []\n"}}, ("qa",)),
    ("PUT", "/rules", {"json": {"yaml": "not: [valid"}}, ()),
    ("POST", "/rules/dry-run", {"json": {"limit": 1}}, ("qa",)),
    ("GET", "/webhooks", {}, ()),
    ("GET", "/webhooks/deliveries", {}, ()),
    ("POST", "/webhooks/test", {}, ()),
    ("POST", "/webhooks/deliveries/999999/retry", {}, ()),
    ("GET", "/audit", {}, ()),
    ("GET", "/metrics", {}, ("qa", "manager", "crm")),
    ("GET", "/forms", {}, ("qa", "manager")),
    ("GET", "/forms/consumer_finance_qa", {}, ("qa", "manager")),
    ("GET", "/forms/consumer_finance_qa/scores", {}, ("qa", "manager")),
    ("GET", "/forms/consumer_finance_qa/calibration", {}, ("qa", "manager")),
    ("GET", f"/calls/{CALL}/evaluation", {}, ("qa", "manager")),
    ("PUT", f"/calls/{MISSING}/evaluation/answers", {"json": {"submit": True}}, ("qa",)),
    ("GET", f"/calls/{CALL}/evaluation/calibration", {}, ("qa", "manager")),
]
OPEN = [("GET", "/healthz"), ("GET", "/readyz")]


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "no-key"])
@pytest.mark.parametrize(("method", "path", "kwargs", "allowed"), MATRIX,
                         ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_role_matrix(world: World, method: str, path: str, kwargs: dict[str, Any],
                     allowed: tuple[str, ...], role: str | None) -> None:
    response = world.client.request(method, path, headers=world.as_(role), **kwargs)
    body = response.json() if response.headers.get("content-type", "").startswith(
        "application/json") else None
    if role is None:
        assert response.status_code == 401, response.text
        assert body["error"]["code"] == "unauthorized"
        assert "WWW-Authenticate" in response.headers
    elif role == "admin" or role in allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert body["error"]["code"] == "forbidden"
        assert role not in body["error"]["detail"]["allowed_roles"]


def test_matrix_covers_every_route(world: World) -> None:
    """A new route cannot slip in without a row in the matrix."""
    spec = world.client.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    covered = set()
    for method, path, _, _ in MATRIX + [(m, p, {}, ()) for m, p in OPEN]:
        template = next((p for m, p in routes if m == method and _fits(p, path)), None)
        assert template is not None, (method, path)
        covered.add((method, template))
    assert covered == routes


def _fits(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_probes_need_no_key(world: World, method: str, path: str) -> None:
    response = world.client.request(method, path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_bad_and_revoked_keys(world: World) -> None:
    assert world.client.get("/rules", headers={"X-API-Key": "cqa_wrong"}).status_code == 401
    bearer = {"Authorization": f"Bearer {world.keys['qa']}"}
    assert world.client.get("/rules", headers=bearer).status_code == 200
    from api.keys import create_key, revoke_key
    from core.db import session_scope

    with session_scope() as db:
        row, plain = create_key(db, "short-lived", "qa")
    assert world.client.get("/rules", headers={"X-API-Key": plain}).status_code == 200
    with session_scope() as db:
        revoke_key(db, str(row.id))
    response = world.client.get("/rules", headers={"X-API-Key": plain})
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_upload_auth_is_checked_before_the_body(world: World) -> None:
    """No key or a wrong role: refused before the server reads (spools) the upload."""
    def body() -> Any:
        yield b"x" * 1024
        raise AssertionError("the body was read")

    for headers, status in (({}, 401), (world.as_("manager"), 403)):
        response = world.client.post("/calls", content=body(), headers={
            **headers, "Content-Type": "multipart/form-data; boundary=xyz"})
        assert response.status_code == status, response.text
