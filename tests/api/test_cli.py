"""The `callqa` command line end to end: real audio, real model, in-process tasks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from core import db as core_db
from core.celery_app import configure_celery
from core.db import Call, session_scope
from core.settings import Settings, reset_settings
from tests.conftest import RENDERED

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def ingested(rendered_dir: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Path, str]]:
    """The rendered calls (and a file that is not audio) ingested once through the CLI,
    for the tests of what ingest, search, show and rules test do with them."""
    root = tmp_path_factory.mktemp("cli-ingested")
    calls = root / "calls"
    shutil.copytree(rendered_dir, calls)
    (calls / "stereo" / "notes.wav").write_text("this is not audio")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CALLQA_DATA_DIR", str(root / "data"))
        mp.delenv("CALLQA_DATABASE_URL", raising=False)
        mp.delenv("CALLQA_BROKER_URL", raising=False)
        reset_settings()
        core_db._migrated.clear()
        configure_celery()
        output = _invoke("ingest", str(calls / "stereo" / "*.wav"))
        yield calls, output
    reset_settings()
    configure_celery()


def _metadata(calls: Path, call_id: str) -> dict[str, str]:
    return json.loads((calls / "stereo" / f"{call_id}.json").read_text())


def test_ingest_processes_the_calls_and_refuses_what_is_not_audio(
        ingested: tuple[Path, str]) -> None:
    calls, output = ingested
    assert f"accepted {len(RENDERED)}, duplicate 0, refused 1" in output
    with session_scope() as db:
        rows = {c.id: c for c in db.query(Call)}
        assert {i: c.status for i, c in rows.items()} == {call: "indexed" for call in RENDERED}
        for call_id, call in rows.items():  # the sidecar's metadata on each row
            meta = _metadata(calls, call_id)
            assert (call.agent_id, call.customer_id) == (meta["agent_id"], meta["customer_id"])
            assert [s.status for s in call.stages] == ["done"] * 3


def test_the_same_audio_again_is_a_duplicate(ingested: tuple[Path, str]) -> None:
    calls, _ = ingested
    shutil.copy(calls / "stereo" / f"{RENDERED[0]}.wav", calls / "copy.wav")
    assert "accepted 0, duplicate 1, refused 0" in _invoke("ingest", str(calls / "copy.wav"))
    with session_scope() as db:  # nothing registered or re-processed
        assert db.query(Call).count() == len(RENDERED)
        call = db.get(Call, RENDERED[0])
        assert call is not None
        assert {s.stage: s.attempts for s in call.stages} == {
            "transcribe": 1, "analyze": 1, "index": 1}


def test_search_finds_the_recording_notice_in_the_agent_opening(
        ingested: tuple[Path, str]) -> None:
    hits = json.loads(_invoke("search", "recorded", "--role", "agent", "--json"))
    assert hits["total"] == len(RENDERED)
    assert sorted(h["call_id"] for h in hits["hits"]) == sorted(RENDERED)
    for hit in hits["hits"]:
        assert hit["utterances"] and all(u["role"] == "agent" for u in hit["utterances"])
        assert all("<em>record" in u["highlight"].lower() for u in hit["utterances"])
        assert hit["utterances"][0]["start"] < 15  # the notice is in the opening


def test_search_by_rule_finds_only_the_flagged_call(ingested: tuple[Path, str]) -> None:
    threat = json.loads(_invoke("search", "--rule", "threat_or_abuse", "--json"))
    assert [h["call_id"] for h in threat["hits"]] == ["en-10-collections-threat-abrupt-end"]
    assert threat["total"] == 1 and "threat_or_abuse" in threat["hits"][0]["rule_ids"]


def test_show_prints_the_transcript_flags_and_summary(ingested: tuple[Path, str]) -> None:
    calls, _ = ingested
    shown = json.loads(_invoke("show", RENDERED[2], "--json"))
    meta = _metadata(calls, RENDERED[2])
    assert shown["call"]["agent_id"] == meta["agent_id"]
    assert shown["call"]["customer_id"] == meta["customer_id"]
    assert shown["call"]["status"] == "indexed" and shown["call"]["error"] is None
    roles = {u["role"] for u in shown["transcript"]["utterances"]}
    assert roles == {"agent", "customer"}
    rule_ids = {f["rule_id"] for f in shown["analysis"]["flags"]}
    assert "account_details_before_verification" in rule_ids
    text = _invoke("show", RENDERED[2])
    assert f"agent {meta['agent_id']}" in text and "customer" in text
    assert f"summary: {shown['analysis']['summary'][:40]}" in " ".join(text.split())


def test_rules_test_dry_runs_a_rule_and_changes_nothing(ingested: tuple[Path, str]) -> None:
    calls, _ = ingested
    strict = calls / "strict.yaml"
    strict.write_text("rules:\n  - id: mentions_friday\n    title: Says Friday\n"
                      "    type: must_not_say\n    phrases: {en: [friday]}\n")
    report = json.loads(_invoke("rules", "test", str(strict), "--json"))
    assert report["calls"] == len(RENDERED)
    [outcome] = report["rules"]
    assert outcome["flagged"] == ["en-10-collections-threat-abrupt-end"]
    assert outcome["newly_flagged"] == outcome["flagged"]
    assert outcome["no_longer_flagged"] == []
    assert "friday" in outcome["examples"][0]["evidence"][0]["quote"].lower()
    for call_id in RENDERED:  # the stored flags are as they were
        flags = json.loads(_invoke("show", call_id, "--json"))["analysis"]["flags"]
        assert "mentions_friday" not in {f["rule_id"] for f in flags}


def test_ingest_reports_transcription_in_seconds_of_audio(settings: Settings,
                                                         rendered: Path) -> None:
    """In one process the bar follows transcription segment by segment, in seconds."""
    from ingest import ingest_paths
    from ingest.service import process_registered
    from transcribe.progress import watching

    summary = ingest_paths([str(rendered / "stereo" / f"{RENDERED[1]}.wav")], process=False)
    reports: list[tuple[str, float, float]] = []
    finished: list[str] = []
    with watching(lambda call_id, done, total: reports.append((call_id, done, total))):
        process_registered(summary, lambda _p, _n, _t, call_id: finished.append(call_id))
    with session_scope() as db:
        call = db.get(Call, RENDERED[1])
        assert call is not None and call.status == "indexed"
        duration = call.duration
    assert finished == [RENDERED[1]]
    assert {r[0] for r in reports} == {RENDERED[1]}
    done = [r[1] for r in reports]
    assert done == sorted(done) and done[-1] == pytest.approx(duration, abs=0.05)
    assert all(r[2] == pytest.approx(duration, abs=0.05) for r in reports)
    # Each decoded segment moves it, not only each leg: more steps than the two legs.
    assert len({round(d, 1) for d in done if d < done[-1]}) > 2, done


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
    # One call is both the intent's calls and all calls: no phrase is more frequent there.
    assert json.loads(_invoke("phrases", hit["primary_intent"], "--json")) == []
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
