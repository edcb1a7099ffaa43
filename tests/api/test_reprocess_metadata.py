"""POST /calls/{id}/reprocess with metadata overrides: the same audio run again with a
new channel map or language (re-ingesting it is refused as a duplicate)."""

from __future__ import annotations

import pytest

from core.db import AuditEntry, Call, session_scope
from core.schemas import Transcript
from core.storage import get_store
from tests.api.conftest import SEEDED, World

THREAT = SEEDED[0]


@pytest.mark.slow
def test_reprocess_with_a_new_language_hint(fresh_world: World) -> None:
    w = fresh_world
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None
        channels, attempts = call.channels, call.stage("transcribe").attempts  # type: ignore[union-attr]
    bad = w.client.post(f"/calls/{THREAT}/reprocess", headers=w.as_("qa"),
                        json={"channel_map": ["agent"] * (channels + 1)})
    assert bad.status_code == 422 and f"has {channels}" in bad.json()["error"]["message"]
    bad = w.client.post(f"/calls/{THREAT}/reprocess", json={"language": "English!"},
                        headers=w.as_("qa"))
    assert bad.status_code == 422
    r = w.client.post(f"/calls/{THREAT}/reprocess", headers=w.as_("qa"),
                      json={"from_stage": "index", "language": "en"})
    assert r.status_code == 202, r.text
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.language == "en" and call.status == "indexed"
        # A metadata change re-runs transcription, whatever from_stage said.
        assert call.stage("transcribe").attempts == attempts + 1  # type: ignore[union-attr]
        key = call.outputs()["transcribe"]
        entry = (db.query(AuditEntry).filter_by(action="reprocess", resource=f"call:{THREAT}")
                 .order_by(AuditEntry.id.desc()).first())
        assert entry is not None and entry.detail == {"from_stage": "transcribe",
                                                      "language": "en"}
    transcript = Transcript.model_validate(get_store().get_json(key))
    assert transcript.language == "en" and transcript.engine == "faster-whisper"


@pytest.mark.slow
def test_cli_reprocess_with_a_new_language(fresh_world: World) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None
        attempts = call.stage("transcribe").attempts  # type: ignore[union-attr]
    bad = runner.invoke(app, ["reprocess", THREAT, "--channel-map", "agent,boss"])
    assert bad.exit_code != 0 and "agent and customer" in bad.output
    ok = runner.invoke(app, ["reprocess", THREAT, "--from-stage", "analyze", "--language", "en"])
    assert ok.exit_code == 0, ok.output
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.language == "en"
        assert call.stage("transcribe").attempts == attempts + 1  # type: ignore[union-attr]


@pytest.mark.slow
def test_reprocess_with_a_known_speaker_count(fresh_world: World) -> None:
    w = fresh_world
    for bad_count in (0, 9, "two"):
        bad = w.client.post(f"/calls/{THREAT}/reprocess", headers=w.as_("qa"),
                            json={"speakers": bad_count})
        assert bad.status_code == 422, bad.text
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.speakers is None
        attempts = call.stage("transcribe").attempts  # type: ignore[union-attr]
    r = w.client.post(f"/calls/{THREAT}/reprocess", headers=w.as_("qa"),
                      json={"from_stage": "analyze", "speakers": 1})
    assert r.status_code == 202, r.text
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.speakers == 1 and call.status == "indexed"
        assert call.stage("transcribe").attempts == attempts + 1  # type: ignore[union-attr]
        entry = (db.query(AuditEntry).filter_by(action="reprocess", resource=f"call:{THREAT}")
                 .order_by(AuditEntry.id.desc()).first())
        assert entry is not None and entry.detail == {"from_stage": "transcribe", "speakers": 1}
    # The transcription stage reads it: the options it builds carry the count.
    from core.settings import get_settings
    from transcribe.tasks import _options

    assert _options(call, get_settings()).num_speakers == 1


@pytest.mark.slow
def test_cli_reprocess_with_a_speaker_count(fresh_world: World) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["reprocess", THREAT, "--speakers", "9"])
    assert bad.exit_code != 0 and "1 to 8" in bad.output
    ok = runner.invoke(app, ["reprocess", THREAT, "--from-stage", "index", "--speakers", "2"])
    assert ok.exit_code == 0, ok.output
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.speakers == 2 and call.status == "indexed"
