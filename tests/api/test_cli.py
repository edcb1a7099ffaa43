"""The `callqa` command line end to end: real audio, real model, in-process tasks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from core.db import Call, session_scope
from core.settings import Settings
from tests.conftest import RENDERED

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_search_show(settings: Settings, rendered: Path) -> None:
    stereo = rendered / "stereo"
    (stereo / "notes.wav").write_text("this is not audio")
    output = _invoke("ingest", str(stereo / "*.wav"))
    assert f"accepted {len(RENDERED)}, duplicate 0, refused 1" in output

    with session_scope() as db:
        statuses = {c.id: c.status for c in db.query(Call)}
    assert statuses == {call: "indexed" for call in RENDERED}

    # The same audio again, under another name: a duplicate, nothing re-processed.
    shutil.copy(stereo / f"{RENDERED[0]}.wav", rendered / "copy.wav")
    assert "accepted 0, duplicate 1, refused 0" in _invoke("ingest", str(rendered / "copy.wav"))

    hits = json.loads(_invoke("search", "recorded", "--role", "agent", "--json"))
    assert hits["total"] == len(RENDERED)
    for hit in hits["hits"]:
        assert hit["utterances"] and all(u["role"] == "agent" for u in hit["utterances"])
        assert all("<em>record" in u["highlight"].lower() for u in hit["utterances"])
        assert hit["utterances"][0]["start"] < 15  # the notice is in the opening

    threat = json.loads(_invoke("search", "--rule", "threat_or_abuse", "--json"))
    assert [h["call_id"] for h in threat["hits"]] == ["en-10-collections-threat-abrupt-end"]

    shown = json.loads(_invoke("show", RENDERED[2], "--json"))
    roles = {u["role"] for u in shown["transcript"]["utterances"]}
    assert roles == {"agent", "customer"}
    assert shown["call"]["agent_id"] and shown["call"]["customer_id"]
    rule_ids = {f["rule_id"] for f in shown["analysis"]["flags"]}
    assert "account_details_before_verification" in rule_ids
    text = _invoke("show", RENDERED[2])
    assert "agent" in text and "customer" in text and "summary:" in text

    # Dry-run a stricter rule over the stored transcripts: reported, nothing changed.
    strict = rendered / "strict.yaml"
    strict.write_text("rules:\n  - id: mentions_friday\n    title: Says Friday\n"
                      "    type: must_not_say\n    phrases: {en: [friday]}\n")
    report = json.loads(_invoke("rules", "test", str(strict), "--json"))
    assert report["calls"] == len(RENDERED)
    [outcome] = report["rules"]
    assert outcome["flagged"] == ["en-10-collections-threat-abrupt-end"]
    assert outcome["newly_flagged"] == outcome["flagged"]
    assert "mentions_friday" not in {f["rule_id"] for f in json.loads(
        _invoke("show", RENDERED[1], "--json"))["analysis"]["flags"]}


def test_reindex_rebuilds_the_same_index(settings: Settings, rendered: Path) -> None:
    _invoke("ingest", str(rendered / "stereo" / f"{RENDERED[1]}.wav"))
    before = json.loads(_invoke("search", "Friday", "--json"))
    shutil.rmtree(settings.index_dir)  # the index is derived data: lose it all
    assert "indexed 1 call(s)" in _invoke("reindex")
    _invoke("reindex")  # twice: still one entry per call
    after = json.loads(_invoke("search", "Friday", "--json"))
    assert after == before and after["total"] == 1
    hit = after["hits"][0]
    assert any("<em>" in u["highlight"] for u in hit["utterances"])

    # The insight commands over the same index.
    trend = json.loads(_invoke("trends", "--metric", "intent", "--interval", "week", "--json"))
    assert sum(p["calls"] for p in trend["periods"]) == 1
    assert hit["primary_intent"] in trend["totals"]
    card = json.loads(_invoke("scorecard", hit["agent_id"], "--json"))
    assert (card["agent_id"], card["calls"]) == (hit["agent_id"], 1)
    summary = json.loads(_invoke("customer", hit["customer_id"], "--json"))
    assert summary["calls"][0]["call_id"] == hit["call_id"]
    assert "agent scorecards" in _invoke("scorecard")
    assert hit["call_id"] in _invoke("customer", hit["customer_id"])
    found = json.loads(_invoke("phrases", hit["primary_intent"], "--json"))
    assert isinstance(found, list)
    result = runner.invoke(app, ["phrases", "no_such_intent"])
    assert result.exit_code == 1 and "no indexed calls" in result.output
    result = runner.invoke(app, ["customer", "nobody"])
    assert result.exit_code == 1 and "no indexed calls" in result.output
    result = runner.invoke(app, ["trends", "--interval", "hour"])
    assert result.exit_code == 1 and "interval" in result.output


def test_bad_input_exit_codes(settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(empty)])
    assert result.exit_code == 2 and "empty" in result.output
    result = runner.invoke(app, ["show", "no-such-call"])
    assert result.exit_code == 1 and "no call" in result.output
    result = runner.invoke(app, ["search", '"unbalanced'])
    assert result.exit_code == 1 and "quote" in result.output
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("rules:\n  - id: x\n    title: t\n    type: sometimes\n")
    result = runner.invoke(app, ["rules", "check", str(bad_rules)])
    assert result.exit_code == 1 and "rules.yaml:2" in result.output


def test_every_command_has_help() -> None:
    for args in (["--help"], ["ingest", "--help"], ["search", "--help"], ["show", "--help"],
                 ["demo", "--help"], ["samples", "render", "--help"], ["models", "list"],
                 ["rules", "check", "--help"], ["reindex", "--help"], ["worker", "--help"],
                 ["trends", "--help"], ["scorecard", "--help"], ["customer", "--help"],
                 ["phrases", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output or "tiny.en" in result.output
