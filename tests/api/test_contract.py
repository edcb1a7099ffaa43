"""The contract a CRM integrates against: examples shaped like real responses, a client
generated from /openapi.json that parses real responses strictly, incremental pulls with a
cursor, unknown parameters refused, one timestamp format and one call id name, the
catalogue readable by crm keys, customer summaries paged."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.db import Call, session_scope
from tests.api.conftest import World

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
TIME_KEYS = {"started_at", "finished_at", "created_at", "updated_at", "heartbeat_at", "at",
             "first_call_at", "last_call_at", "since", "delivered_at"}


def _spec(world: World) -> dict[str, Any]:
    return world.client.get("/openapi.json").json()  # type: ignore[no-any-return]


def _get(world: World, path: str, role: str = "admin", **params: Any) -> Any:
    r = world.client.get(path, params=params, headers=world.as_(role))
    assert r.status_code == 200, (path, r.text)
    return r.json()


def _real_responses(world: World) -> dict[str, tuple[str, Any]]:
    """operationId-free: (response model name, a real body) per GET operation."""
    call = world.calls[0]
    detail = _get(world, f"/calls/{call}", "qa")
    agent = detail["call"]["agent_id"]
    customer = detail["call"]["customer_id"]
    return {
        "CallList": ("/calls", _get(world, "/calls")),
        "CallDetail": (f"/calls/{call}", detail),
        "SearchResponse": ("/search", _get(world, "/search", q="")),
        "TrendsResponse": ("/trends", _get(world, "/trends", "manager", metric="violation",
                                           interval="week", by="team")),
        "ScorecardList": ("/agents", _get(world, "/agents", "manager")),
        "ScorecardResponse": (f"/agents/{agent}/scorecard",
                              _get(world, f"/agents/{agent}/scorecard", "manager")),
        "CustomerSummaryResponse": (f"/customers/{customer}/summary",
                                    _get(world, f"/customers/{customer}/summary", "crm")),
        "PhraseList": ("/intents/repayment_amount/phrases",
                       _get(world, "/intents/repayment_amount/phrases", "manager")),
        "Catalogue": ("/catalogue", _get(world, "/catalogue", "crm")),
        "RuleList": ("/rules", _get(world, "/rules", "qa")),
        "AuditList": ("/audit", _get(world, "/audit")),
        "Rule": ("/rules/{rule_id}", _get(world, "/rules/threat_or_abuse", "qa")),
    }


def _shape(value: Any) -> Any:
    """Keys all the way down (the first item of each list)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict | list) else []
    return None


def _same_keys(example: Any, real: Any, where: str) -> None:
    if isinstance(example, dict) and isinstance(real, dict):
        assert set(example) == set(real), (where, sorted(set(example) ^ set(real)))
        for k in example:
            _same_keys(example[k], real[k], f"{where}.{k}")
    elif isinstance(example, list) and isinstance(real, list) and example and real:
        _same_keys(example[0], real[0], f"{where}[0]")


def test_examples_have_the_keys_of_real_responses(world: World) -> None:
    spec = _spec(world)
    schemas = spec["components"]["schemas"]
    for name, (path, real) in _real_responses(world).items():
        if "examples" in schemas[name]:
            example = schemas[name]["examples"][0]
        else:  # the route documents it
            example = spec["paths"][path]["get"]["responses"]["200"]["content"][
                "application/json"]["example"]
        # Open mappings (counts per value, metrics) are not fixed key sets.
        for open_key in ("totals", "review_status", "metrics", "checks", "phrases", "regex"):
            for d in (example, real):
                if isinstance(d, dict) and open_key in d:
                    d[open_key] = {}
        if name == "CallDetail":  # transcript and analysis are null in the example
            real = {**real, "transcript": None, "analysis": None}
        _same_keys(_shape(example), _shape(real), f"{name} ({path})")


def test_a_generated_client_parses_real_responses(world: World, tmp_path: Path) -> None:
    """datamodel-code-generator turns /openapi.json into pydantic models that forbid unknown
    fields; each real response must parse with them."""
    if importlib.util.find_spec("datamodel_code_generator") is None:
        pytest.fail("datamodel-code-generator is not installed: pip install -e '.[dev]'")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(_spec(world)), "utf-8")
    models = tmp_path / "callqa_client.py"
    subprocess.run([sys.executable, "-m", "datamodel_code_generator", "--input", str(spec),
                    "--input-file-type", "openapi", "--output", str(models),
                    "--output-model-type", "pydantic_v2.BaseModel", "--extra-fields", "forbid",
                    "--use-annotated", "--disable-timestamp"], check=True, timeout=300)
    loaded = importlib.util.spec_from_file_location("callqa_client", models)
    assert loaded is not None and loaded.loader is not None
    client = importlib.util.module_from_spec(loaded)
    sys.modules["callqa_client"] = client
    try:
        loaded.loader.exec_module(client)
        for name, (path, real) in _real_responses(world).items():
            getattr(client, name).model_validate(real), path
    finally:
        sys.modules.pop("callqa_client", None)


def _times(value: Any, key: str = "") -> list[str]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v, key)]
    return [value] if key in TIME_KEYS and isinstance(value, str) else []


def test_one_timestamp_format_and_one_call_id_name(world: World) -> None:
    seen = 0
    for _name, (path, real) in _real_responses(world).items():
        for t in _times(real):
            assert RFC3339.match(t) and t.endswith("+00:00"), (path, t)
            seen += 1
        assert '"id": "' + world.calls[0] not in json.dumps(real), path
    assert seen > 20
    listed = _get(world, "/calls")["items"][0]
    assert "call_id" in listed and "id" not in listed


def test_unknown_query_parameters_are_refused(world: World) -> None:
    r = world.client.get("/calls", params={"customerid": "C1"}, headers=world.as_("admin"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "unknown_parameter" and "customerid" in error["message"]
    assert "customer_id" in error["detail"]["allowed"]
    # Parameters of a dependency (the search filters) are known.
    assert world.client.get("/trends", params={"q": "fee", "metric": "calls"},
                            headers=world.as_("manager")).status_code == 200


def test_incremental_pull_with_a_cursor(world: World) -> None:
    with session_scope() as db:
        customer = db.get(Call, world.calls[0]).customer_id  # type: ignore[union-attr]
        stamps = sorted(c.updated_at for c in db.query(Call))
    since = stamps[1].replace(tzinfo=UTC) if stamps[1].tzinfo is None else stamps[1]
    pulled, cursor = [], None
    while True:
        params: dict[str, Any] = {"updated_since": since.isoformat(), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = _get(world, "/calls", **params)
        pulled += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(pulled) == len(stamps) - 1 == page["total"]
    assert len({c["call_id"] for c in pulled}) == len(pulled)
    changed = [datetime.fromisoformat(c["updated_at"]) for c in pulled]
    assert changed == sorted(changed) and min(changed) >= since
    later = (since + timedelta(days=3650)).isoformat()
    assert _get(world, "/calls", updated_since=later)["items"] == []
    # crm: one customer's calls, incrementally
    mine = _get(world, "/calls", "crm", customer_id=customer,
                updated_since="2000-01-01T00:00:00+08:00")
    assert mine["items"] and {c["customer_id"] for c in mine["items"]} == {customer}
    bad = world.client.get("/calls", params={"cursor": "nonsense"}, headers=world.as_("admin"))
    assert bad.status_code == 422


def test_catalogue_for_the_crm(world: World) -> None:
    cat = _get(world, "/catalogue", "crm")
    intents = {i["id"]: i["title"] for i in cat["intents"]}
    assert intents["repayment_amount"]["zh"] == "查询账单/还款金额/还款日"
    rules = {r["id"]: r for r in cat["rules"]}
    assert rules["threat_or_abuse"]["severity"] == "critical"
    assert "identity_check" not in rules  # a marker raises no flag
    flagged = {f["rule_id"] for c in world.calls
               for f in _get(world, f"/calls/{c}", "qa")["flags"]}
    assert flagged <= set(rules)


def test_customer_summary_pages(world: World) -> None:
    customer = _get(world, f"/calls/{world.calls[0]}", "qa")["call"]["customer_id"]
    whole = _get(world, f"/customers/{customer}/summary", "crm")
    first = _get(world, f"/customers/{customer}/summary", "crm", limit=1)
    assert len(first["calls"]) == 1 and first["limit"] == 1
    assert first["total_calls"] == whole["total_calls"]
    assert (first["next_offset"] == 1) == (whole["total_calls"] > 1)
    assert world.client.get(f"/customers/{customer}/summary", params={"limit": 0},
                            headers=world.as_("crm")).status_code == 422


def test_customer_summary_in_the_requested_language(world: World) -> None:
    detail = _get(world, f"/calls/{world.calls[0]}", "qa")
    customer, lang = detail["call"]["customer_id"], detail["call"]["language"]
    other = "zh" if lang == "en" else "en"
    latest = _get(world, f"/customers/{customer}/summary", "crm", language=other)["latest_summary"]
    assert latest["translated"] and latest["language"] == other
    assert ("客户诉求" in latest["summary"]) == (other == "zh")
    same = _get(world, f"/customers/{customer}/summary", "crm", language=lang)["latest_summary"]
    assert not same["translated"] and same["language"] == lang
