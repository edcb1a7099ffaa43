"""Operator views: every stage's timings and worker (GET /calls/{id}, callqa status) and
the pipeline metrics Prometheus scrapes (stage duration histograms, queue depth)."""

from __future__ import annotations

import json
import re
from datetime import datetime

from typer.testing import CliRunner

from api.cli import app as cli
from core.db import Call, session_scope
from core.schemas import CallStatus
from tests.api.conftest import World


def test_call_detail_shows_each_stage_with_its_worker(world: World) -> None:
    detail = world.client.get(f"/calls/{world.calls[0]}", headers=world.as_("qa")).json()
    stages = {s["stage"]: s for s in detail["stages"]}
    assert set(stages) == {"transcribe", "analyze", "index"}
    for s in stages.values():
        started, finished = (datetime.fromisoformat(s[k]) for k in ("started_at", "finished_at"))
        assert s["status"] == "done" and s["attempts"] == 1
        # The stage's own seconds lie within its start and finish (clock resolution aside).
        assert 0 <= s["seconds"] <= (finished - started).total_seconds() + 0.01
        assert re.match(r"^[^:]+:\d+:[0-9a-f]{8}$", s["ran_on"]), s["ran_on"]


def test_status_lists_stage_timings(world: World) -> None:
    result = CliRunner().invoke(cli, ["status", world.calls[0], "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["calls"][0]
    assert [s["stage"] for s in row["stages"]] == ["transcribe", "analyze", "index"]
    detail = world.client.get(f"/calls/{world.calls[0]}", headers=world.as_("qa")).json()
    ran_on = {s["stage"]: s["ran_on"] for s in detail["stages"]}
    # The CLI and the API name the same worker and times for each stage.
    assert {s["stage"]: s["worker"] for s in row["stages"]} == ran_on
    finished = {s["stage"]: datetime.fromisoformat(s["finished_at"]) for s in detail["stages"]}
    assert {s["stage"]: datetime.fromisoformat(s["finished_at"]) for s in row["stages"]} == finished
    table = CliRunner().invoke(cli, ["status", world.calls[0]])
    assert "Stages" in table.output and "analyze" in table.output


def _value(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not in the metrics")


def test_metrics_have_stage_histograms_and_queue_depth(world: World) -> None:
    text = world.client.get("/metrics", headers=world.as_("manager")).text
    n = len(world.calls)
    assert _value(text, "callqa_stage_duration_seconds_count", stage="analyze") >= n
    assert _value(text, "callqa_stage_duration_seconds_bucket", le="+Inf", stage="index") >= n
    assert _value(text, "callqa_stage_duration_seconds_sum", stage="analyze") > 0
    before = _value(text, "callqa_queue_depth", stage="transcribe")
    with session_scope() as db:  # a call waiting for transcription
        call = db.get(Call, world.calls[-1])
        assert call is not None
        call.status = CallStatus.queued.value
    try:
        text = world.client.get("/metrics", headers=world.as_("manager")).text
        assert _value(text, "callqa_queue_depth", stage="transcribe") == before + 1
        assert _value(text, "callqa_stage_running", stage="analyze") == 0
    finally:
        with session_scope() as db:
            call = db.get(Call, world.calls[-1])
            assert call is not None
            call.status = CallStatus.indexed.value
