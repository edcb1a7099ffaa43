"""The CLI without rough edges: --json on listings, invalid values named with the valid
ones, date formats, help types as words, one-line broker errors that leave nothing queued,
plain logs off a terminal, lazy imports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from core.db import Call, session_scope
from core.logging import ConsoleFormatter
from core.settings import Settings, reset_settings
from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, transcript_document
from tests.conftest import closed_port

runner = CliRunner()
ZH = "zh-05-loan-offer-with-apr"


def _transcript(tmp_path: Path, dialogue_id: str = ZH) -> Path:
    dialogue = load_dialogue(DIALOGUES_DIR / "zh" / f"{dialogue_id}.yaml")
    path = tmp_path / f"{dialogue_id}.json"
    path.write_text(json.dumps(transcript_document(dialogue), ensure_ascii=False), "utf-8")
    return path


def test_listings_speak_json(settings: Settings, tmp_path: Path) -> None:
    assert runner.invoke(app, ["ingest", str(_transcript(tmp_path))]).exit_code == 0
    calls = json.loads(runner.invoke(app, ["calls", "--json"]).output)
    assert [c["call_id"] for c in calls] == [ZH] and calls[0]["status"] == "indexed"
    assert calls[0]["started_at"].endswith("+00:00")
    assert runner.invoke(app, ["keys", "create", "ops", "--role", "qa"]).exit_code == 0
    keys = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    assert keys[0]["name"] == "ops" and "hash" not in json.dumps(keys)
    models = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert {"models", "configured"} <= set(models)
    rules = json.loads(runner.invoke(app, ["rules", "check", "analysis/config/rules/default.yaml",
                                           "--json"]).output)
    assert rules["valid"] and any(r["id"] == "threat_or_abuse" for r in rules["rules"])
    status = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert status and status[0]["indexed"] == 1


def test_invalid_values_name_the_valid_ones(settings: Settings) -> None:
    for args, valid in ((["calls", "--status", "bogus"], "queued, transcribing"),
                        (["samples", "list", "--language", "fr"], "en, zh"),
                        (["search", "--language", "fr", "fee"], "en, zh"),
                        (["demo", "--language", "fr"], "en, zh"),
                        (["status", "--batch", "nope"], "recent batches")):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert valid in result.output, (args, result.output)
    result = runner.invoke(app, ["search", "--from", "03/11/2026", "fee"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_help_names_types_as_words() -> None:
    text = runner.invoke(app, ["search", "--help"]).output
    assert "<bool>" not in text and "<str>" not in text and "<int" not in text
    assert "TEXT" in text and "YYYY-MM-DD" in text


def test_unreachable_broker_is_one_line_and_queues_nothing(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.celery_app import configure_celery

    url = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setenv("CALLQA_BROKER_URL", url)
    reset_settings()
    configure_celery()
    result = runner.invoke(app, ["ingest", str(_transcript(tmp_path))])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and url in lines[0] and "CALLQA_BROKER_URL" in lines[0], lines
    with session_scope() as db:
        assert db.query(Call).count() == 0
    # Registered without the check (the broker died in between): failed, not queued forever.
    from core.pipeline import BrokerUnavailable, enqueue_batch
    from ingest import ingest_paths

    summary = ingest_paths([_transcript(tmp_path, "zh-09-account-closure")], process=False)
    with pytest.raises(BrokerUnavailable):
        enqueue_batch([r.call_id for r in summary.accepted if r.call_id], "analyze")
    with session_scope() as db:
        call = db.get(Call, "zh-09-account-closure")
        assert call is not None and call.status == "failed" and "not queued" in (call.error or "")


def test_logs_are_plain_off_a_terminal() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "\x1b[32mStarted\x1b[0m",
                               None, None)
    record.color_message = "\x1b[1mStarted\x1b[0m"
    line = ConsoleFormatter(plain=True).format(record)
    assert "\x1b" not in line and "color_message" not in line and "Started" in line


HEAVY = ("search", "analysis", "transcribe", "ingest", "torch", "transformers",
         "faster_whisper", "ctranslate2", "jieba", "sqlalchemy", "celery", "fastapi", "av",
         "numpy")


@pytest.mark.parametrize("argv", [["--help"], ["calls", "--help"], ["rules", "test", "--help"]])
def test_help_imports_no_pipeline_code(argv: list[str]) -> None:
    """`callqa --help` stays under a second (bench/cli_startup.py prints the figure) by
    importing nothing heavy: checked on what a real `--help` run has imported."""
    code = ("import sys\nfrom api.cli import main\nsys.argv = ['callqa', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2])
    assert "Usage" in run.stdout
    assert "HEAVY []" in run.stderr, run.stderr


def test_jieba_is_quiet() -> None:
    jieba = subprocess.run([sys.executable, "-W", "default", "-c",
                            "from analysis.normalize import tokens; tokens('你好世界')"],
                           capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parents[2])
    assert "pkg_resources" not in jieba.stderr


def test_db_upgrade_migrates_once_then_is_a_no_op(settings: Settings, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from core import db as core_db
    from core.db import MIGRATIONS_DIR

    # an empty database, not the fixture's (which start-up has already migrated)
    monkeypatch.setenv("CALLQA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    reset_settings()
    core_db._migrated.clear()
    head = sorted(p.stem.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("*.py"))[-1]
    first = runner.invoke(app, ["db", "upgrade", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["from"] is None and report["to"].startswith(head)
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "already up to date" in again.output


def test_demo_zh_scores_the_findings_against_the_scripted_truth(settings: Settings,
                                                                 tmp_path: Path) -> None:
    from samples.dialogue import load_dialogues

    dialogues = load_dialogues(language="zh")[:2]
    result = runner.invoke(app, ["demo", "--language", "zh", "--limit", "2", "--json",
                                 "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output[result.output.index("{"):])
    assert [c["call_id"] for c in findings["calls"]] == [d.id for d in dialogues]
    expected = sum(len(d.expected.violations) for d in dialogues)
    truth = findings["truth"]
    assert truth["calls"] == 2 and truth["expected"] == expected
    for call, dialogue in zip(findings["calls"], dialogues, strict=True):
        assert call["status"] == "indexed"
        assert call["expected_flags"] == dialogue.expected.violations
        assert call["expected_intent"] == dialogue.expected.intents[0]
    found = sum(len(set(c["flags"]) & set(c["expected_flags"])) for c in findings["calls"])
    assert truth["found"] == found
    assert sum(findings["flags"].values()) == sum(len(c["flags"]) for c in findings["calls"])
