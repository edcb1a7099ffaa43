"""ingest.ingest_paths / register_file against a real SQLite database and object store.

process=False throughout: only registration is under test, nothing is transcribed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core.db import Call, session_scope
from core.settings import Settings, get_settings, reset_settings
from core.storage import ObjectStore
from ingest import expand_paths, ingest_paths, register_file

CALL = "en-01-repayment-amount-due-date"


# Helpers ------------------------------------------------------------------------------


def tone(path: Path, seconds: float, freq: float = 440.0, channels: int = 1,
         rate: int = 8000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    rows = [0.3 * np.sin(2 * np.pi * (freq + 50 * c) * t) for c in range(channels)]
    pcm = (np.array(rows).T * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def silent(path: Path, seconds: float = 3.0, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_files(settings: Settings) -> set[Path]:
    root = settings.objects_dir
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def db_calls() -> dict[str, Call]:
    with session_scope() as db:
        return {c.id: c for c in db.scalars(select(Call)).all()}


def expected_original(digest: str, suffix: str) -> Path:
    return Path("originals") / digest[:2] / f"{digest}{suffix}"


# A rendered call ----------------------------------------------------------------------


def test_rendered_stereo_call_is_registered_from_its_sidecar(settings: Settings,
                                                              rendered: Path) -> None:
    wav = rendered / "stereo" / f"{CALL}.wav"
    side = json.loads(wav.with_suffix(".json").read_text("utf-8"))
    summary = ingest_paths([wav], process=False, settings=settings)

    (result,) = summary.results
    assert result.outcome == "accepted", result.message
    assert result.call_id == side["call_id"]
    assert summary.accepted == [result]

    call = db_calls()[result.call_id]
    assert call.agent_id == side["agent_id"]
    assert call.customer_id == side["customer_id"]
    assert call.team == side["team"]
    assert call.direction == side["direction"]
    assert call.language == side["language"]
    assert call.channel_map == side["channel_map"] == ["agent", "customer"]
    assert call.channels == 2
    assert call.sample_rate == 8000
    assert call.codec == "pcm_mulaw"
    assert call.status == "queued"
    assert call.source_name == wav.name
    truth = json.loads((rendered / "truth" / f"{CALL}.json").read_text("utf-8"))
    assert call.duration == pytest.approx(truth["duration"], abs=0.05)
    # Kept as the same instant, in UTC (SQLite hands it back without an offset).
    started = call.started_at if call.started_at.tzinfo else call.started_at.replace(tzinfo=UTC)
    assert started == datetime.fromisoformat(side["started_at"])

    digest = sha256(wav)
    assert call.sha256 == digest
    key = expected_original(digest, ".wav")
    assert call.audio_key == key.as_posix()
    assert stored_files(settings) == {key}
    assert (settings.objects_dir / key).read_bytes() == wav.read_bytes()


def test_same_bytes_again_is_a_duplicate(settings: Settings, rendered: Path) -> None:
    wav = rendered / "stereo" / f"{CALL}.wav"
    first = ingest_paths([wav], process=False, settings=settings).results[0]
    assert first.outcome == "accepted"

    again = ingest_paths([wav], process=False, settings=settings).results[0]
    assert again.outcome == "duplicate"
    assert again.call_id == first.call_id

    # Renamed, in another folder, without a sidecar: still the same recording.
    other = rendered / "elsewhere"
    other.mkdir()
    renamed = Path(shutil.copy(wav, other / "renamed-copy.wav"))
    dup = ingest_paths([renamed], process=False, settings=settings).results[0]
    assert dup.outcome == "duplicate"
    assert dup.call_id == first.call_id
    assert dup.message and renamed.name in dup.message

    assert list(db_calls()) == [first.call_id]
    assert stored_files(settings) == {expected_original(sha256(wav), ".wav")}


def test_duplicate_within_one_batch(settings: Settings, tmp_path: Path) -> None:
    a = tone(tmp_path / "a.wav", 2.0)
    b = Path(shutil.copy(a, tmp_path / "b.wav"))
    summary = ingest_paths([a, b], process=False, settings=settings)
    assert [r.outcome for r in summary.results] == ["accepted", "duplicate"]
    assert summary.results[1].call_id == summary.results[0].call_id
    assert len(db_calls()) == 1
    assert len(stored_files(settings)) == 1


def test_mono_and_stereo_channel_maps(settings: Settings, rendered: Path, tmp_path: Path) -> None:
    mono = rendered / "mono" / f"{CALL}.wav"
    bare_stereo = tone(tmp_path / "bare-stereo.wav", 2.0, channels=2)  # no sidecar
    summary = ingest_paths([mono, bare_stereo], process=False, settings=settings)
    assert [r.outcome for r in summary.results] == ["accepted", "accepted"]
    calls = db_calls()
    assert calls[summary.results[0].call_id].channel_map is None
    assert calls[summary.results[0].call_id].channels == 1
    # Stereo without metadata takes CALLQA_STEREO_CHANNEL_MAP.
    bare = calls[summary.results[1].call_id]
    assert bare.channel_map == settings.default_channel_map == ["agent", "customer"]
    assert summary.results[1].call_id == f"c-{sha256(bare_stereo)[:16]}"


# Refusals -----------------------------------------------------------------------------


def test_mixed_batch_refuses_each_bad_file_and_stores_nothing_of_them(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLQA_MAX_DURATION_S", "20")
    reset_settings()
    current = get_settings()
    assert current.max_duration_s == 20
    assert current.data_dir == settings.data_dir

    batch = tmp_path / "batch"
    batch.mkdir()
    good = [tone(batch / "good-1.wav", 3.0, 440), tone(batch / "good-2.wav", 4.0, 660)]
    empty = batch / "empty.wav"
    empty.write_bytes(b"")
    text = batch / "notes.wav"
    text.write_text("agent notes, not a recording\n" * 30, "utf-8")
    bad = {
        empty: "empty",
        text: "not_audio",
        silent(batch / "silence.wav"): "silent",
        tone(batch / "too-long.wav", 25.0): "too_long",
        tone(batch / "too-short.wav", 0.5): "too_short",
        tone(batch / "three-channels.wav", 2.0, channels=3): "unsupported",
        batch / "missing.wav": "not_found",
    }
    summary = ingest_paths([*good, *bad], process=False)  # settings from the environment

    by_path = {r.path.name: r for r in summary.results}
    assert len(summary.results) == len(good) + len(bad)
    for path in good:
        assert by_path[path.name].outcome == "accepted", by_path[path.name].message
    for path, reason in bad.items():
        result = by_path[path.name]
        assert result.outcome == "refused", path.name
        assert result.reason == reason, (path.name, result.message)
        assert result.call_id is None
        assert result.message and path.name in result.message
    assert "CALLQA_MAX_DURATION_S" in by_path["too-long.wav"].message

    accepted = {r.call_id for r in summary.accepted}
    calls = db_calls()
    assert set(calls) == accepted
    assert {c.source_name for c in calls.values()} == {p.name for p in good}
    assert stored_files(settings) == {expected_original(sha256(p), ".wav") for p in good}


def test_limits_follow_settings(settings: Settings, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same 3 s file is too short once CALLQA_MIN_DURATION_S says 5."""
    path = tone(tmp_path / "three.wav", 3.0)
    monkeypatch.setenv("CALLQA_MIN_DURATION_S", "5")
    reset_settings()
    result = ingest_paths([path], process=False).results[0]
    assert (result.outcome, result.reason) == ("refused", "too_short")
    monkeypatch.delenv("CALLQA_MIN_DURATION_S")
    reset_settings()
    assert ingest_paths([path], process=False).results[0].outcome == "accepted"


def test_too_large(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tone(tmp_path / "big.wav", 3.0)
    monkeypatch.setenv("CALLQA_MAX_UPLOAD_BYTES", str(path.stat().st_size - 1))
    reset_settings()
    result = ingest_paths([path], process=False).results[0]
    assert (result.outcome, result.reason) == ("refused", "too_large")
    assert db_calls() == {}
    assert stored_files(get_settings()) == set()


def test_call_id_taken_by_different_audio(settings: Settings, tmp_path: Path) -> None:
    first = tone(tmp_path / "first.wav", 2.0, 440)
    second = tone(tmp_path / "second.wav", 2.0, 880)
    for path in (first, second):
        path.with_suffix(".json").write_text(json.dumps({"call_id": "shared-id"}), "utf-8")
    summary = ingest_paths([first, second], process=False, settings=settings)
    a, b = summary.results
    assert (a.outcome, a.call_id) == ("accepted", "shared-id")
    assert (b.outcome, b.reason) == ("refused", "call_id_taken")
    assert b.message and second.name in b.message and "shared-id" in b.message
    assert db_calls()["shared-id"].sha256 == sha256(first)
    assert stored_files(settings) == {expected_original(sha256(first), ".wav")}


def test_channel_map_of_wrong_length(settings: Settings, rendered: Path, tmp_path: Path) -> None:
    mono = Path(shutil.copy(rendered / "mono" / f"{CALL}.wav", tmp_path / "mono.wav"))
    mono.with_suffix(".json").write_text(json.dumps({"channel_map": "agent,customer"}), "utf-8")
    stereo = tone(tmp_path / "stereo.wav", 2.0, channels=2)
    stereo.with_suffix(".json").write_text(json.dumps({"channel_map": ["agent"]}), "utf-8")
    summary = ingest_paths([mono, stereo], process=False, settings=settings)
    for result, path in zip(summary.results, (mono, stereo), strict=True):
        assert (result.outcome, result.reason) == ("refused", "bad_metadata")
        assert result.message and path.name in result.message
        assert "channel_map" in result.message
    assert db_calls() == {}
    assert stored_files(settings) == set()


def test_invalid_sidecar_value_is_bad_metadata(settings: Settings, tmp_path: Path) -> None:
    path = tone(tmp_path / "call.wav", 2.0)
    path.with_suffix(".json").write_text(json.dumps({"direction": "sideways"}), "utf-8")
    result = ingest_paths([path], process=False, settings=settings).results[0]
    assert (result.outcome, result.reason) == ("refused", "bad_metadata")
    assert "direction" in (result.message or "")
    assert db_calls() == {}


def test_sidecar_speaker_count_reaches_the_call(settings: Settings, tmp_path: Path) -> None:
    """A known speaker count (a voicemail: 1) goes to the diarizer through calls.speakers;
    a count out of range is bad metadata and registers nothing."""
    one = tone(tmp_path / "voicemail.wav", 2.0, 300)
    one.with_suffix(".json").write_text(json.dumps({"speakers": 1}), "utf-8")
    bad = tone(tmp_path / "crowd.wav", 2.0, 350)
    bad.with_suffix(".json").write_text(json.dumps({"speakers": 40}), "utf-8")
    summary = ingest_paths([one, bad], process=False, settings=settings)
    assert [(r.outcome, r.reason) for r in summary.results] == [
        ("accepted", None), ("refused", "bad_metadata")]
    assert "speakers" in (summary.results[1].message or "")
    calls = db_calls()
    assert list(calls) == [summary.results[0].call_id]
    assert calls[summary.results[0].call_id].speakers == 1  # type: ignore[index]


def test_gbk_sidecar_is_read(settings: Settings, tmp_path: Path) -> None:
    """Chinese exports are often GBK: decoded as GB18030, not refused."""
    path = tone(tmp_path / "gbk.wav", 2.0, 440)
    path.with_suffix(".json").write_bytes('{"agent_id": "张伟"}'.encode("gbk"))
    result = ingest_paths([path], process=False, settings=settings).results[0]
    assert result.outcome == "accepted"
    assert db_calls()[result.call_id].agent_id == "张伟"  # type: ignore[index]


def test_undecodable_sidecar_is_refused_not_fatal(settings: Settings, tmp_path: Path) -> None:
    bad = tone(tmp_path / "bad.wav", 2.0, 440)
    bad.with_suffix(".json").write_bytes(b"\xff" * 16)
    good = tone(tmp_path / "good.wav", 2.0, 660)
    summary = ingest_paths([bad, good], process=False, settings=settings)
    assert [(r.outcome, r.reason) for r in summary.results] == [
        ("refused", "bad_metadata"), ("accepted", None)]
    assert "bad.json" in (summary.results[0].message or "")


def test_register_file_directly(settings: Settings, tmp_path: Path) -> None:
    store = ObjectStore(settings.objects_dir)
    path = tone(tmp_path / "A17_call.wav", 2.0)
    result = register_file(path, settings, store, pattern=r"^(?P<agent_id>A\d+)_")
    assert result.outcome == "accepted"
    assert db_calls()[result.call_id].agent_id == "A17"
    assert store.exists(expected_original(sha256(path), ".wav").as_posix())


def test_register_file_with_given_metadata_source_name_and_batch(
        settings: Settings, tmp_path: Path) -> None:
    """What an upload passes: the form's metadata (a sidecar beside the file is not read),
    the client's file name (shown, never trusted) and the batch, all on the row at once."""
    from core.schemas import CallMetadata

    store = ObjectStore(settings.objects_dir)
    path = tone(tmp_path / "upload-1.wav", 2.0, 520)
    path.with_suffix(".json").write_text(json.dumps({"agent_id": "SIDECAR"}), "utf-8")
    meta = CallMetadata(call_id="form-call-1", agent_id="A9", team="t-2", language="en")
    result = register_file(path, settings, store, batch_id="crm-7", metadata=meta,
                           source_name="../calls/Kundin\x00 Mai.wav")
    assert (result.outcome, result.call_id) == ("accepted", "form-call-1")
    call = db_calls()["form-call-1"]
    assert (call.agent_id, call.team, call.language) == ("A9", "t-2", "en")
    assert call.source_name == "Kundin_ Mai.wav" and call.batch_id == "crm-7"
    assert call.status == "queued"


def test_progress_hook(settings: Settings, tmp_path: Path) -> None:
    files = [tone(tmp_path / f"{i}.wav", 1.5, 300 + 100 * i) for i in range(3)]
    seen: list[tuple[str, int, int, str]] = []
    ingest_paths(files, process=False, settings=settings,
                 progress=lambda *args: seen.append(args))
    assert seen == [("register", n, 3, f.name) for n, f in enumerate(files, 1)]


# expand_paths -------------------------------------------------------------------------


def test_expand_paths(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "day1" / "late").mkdir(parents=True)
    (root / "day2").mkdir()
    wanted = [root / "day1" / "a.wav", root / "day1" / "late" / "b.MP3",
              root / "day2" / "c.flac", root / "top.ogg"]
    for p in wanted:
        p.write_bytes(b"x")
    (root / "day1" / "a.json").write_text("{}")
    (root / "day2" / "notes.txt").write_text("x")
    (root / "day2" / "metadata.csv").write_text("file\n")

    # Folders: recursive, audio suffixes only (any case), resolved, sorted.
    assert expand_paths([root]) == sorted(p.resolve() for p in wanted)

    # Globs (recursive ** too).
    assert expand_paths([str(root / "day1" / "*.wav")]) == [wanted[0].resolve()]
    assert set(expand_paths([str(root / "**" / "*.flac")])) == {wanted[2].resolve()}
    assert expand_paths([str(root / "nothing-*.wav")]) == []

    # Explicit files are taken whatever their suffix, and even if missing (probe refuses).
    explicit = [root / "day2" / "notes.txt", tmp_path / "missing.wav"]
    assert expand_paths(explicit) == [p.resolve() for p in explicit]

    # The same file reached twice is listed once, first position wins.
    both = expand_paths([wanted[0], root / "day1", str(root / "day1" / "*.wav")])
    assert both == [wanted[0].resolve(), wanted[1].resolve()]


def test_folder_ingest_skips_sidecars(settings: Settings, rendered: Path) -> None:
    """Ingesting the rendered stereo folder picks up every call and none of the .json/.txt."""
    summary = ingest_paths([rendered / "stereo"], process=False, settings=settings)
    names = sorted(r.path.name for r in summary.results)
    assert names == sorted(p.name for p in (rendered / "stereo").glob("*.wav"))
    assert all(r.outcome == "accepted" for r in summary.results), summary.results
    assert set(db_calls()) == {p.stem for p in (rendered / "stereo").glob("*.wav")}
