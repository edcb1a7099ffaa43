"""Transcript import: the documented JSON, its errors (file:line, field path), and calls
registered from it analysed and indexed by the real stage code, with no audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.db import Call, session_scope
from core.settings import Settings
from core.storage import ObjectStore, load_outputs
from ingest import ingest_paths
from ingest.transcripts import (
    TranscriptFileError,
    detect_language,
    has_audio,
    parse_transcript,
    read_transcript_file,
    to_transcript,
    value_offsets,
)
from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, transcript_document

ZH = "zh-10-collection-threat-lawsuit"


def _doc(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "metadata": {"call_id": "t-1", "customer_id": "C1", "language": "en"},
        "utterances": [
            {"speaker": "A", "role": "agent", "start": 0.5, "end": 2.0,
             "text": "Thank you for calling, this call is recorded."},
            {"speaker": "B", "role": "customer", "start": 2.4, "end": 4.0,
             "text": "Hi, how much do I owe this month?"}]}
    doc.update(extra)
    return doc


def test_offsets_name_every_value() -> None:
    text = '{\n "a": [1,\n  {"b": "x\\"y"}],\n "c": null}'
    offsets = value_offsets(text)
    assert text[offsets[("a", 1, "b")]:].startswith('"x')
    assert text[offsets[("c",)]:].startswith("null")
    assert json.loads(text)  # the scanner is only used on valid JSON


BAD = """{
  "metadata": {"call_id": "t-1"},
  "utterances": [
    {"speaker": "A", "role": "agent",
     "start": 0.5, "end": 2.0},
    {"speaker": "B", "role": "customer", "start": 2.4, "end": 1.0, "text": "hi"},
    {"speaker": "A", "start": "soon", "end": 5.0, "text": "ok"}
  ]
}
"""


def test_errors_name_file_line_and_field_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(BAD, "utf-8")
    with pytest.raises(TranscriptFileError) as info:
        read_transcript_file(path)
    assert str(info.value).splitlines() == [
        "bad.json:4: utterances[0].text: Field required",  # the object that lacks it
        "bad.json:6: utterances[1]: Value error, end 1.0 is before start 2.4",
        "bad.json:7: utterances[2].start: Input should be a valid number, unable to parse "
        "string as a number",
    ]


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(TranscriptFileError, match=r"^x.json:3:\d+: not valid JSON"):
        parse_transcript('{\n "utterances": [\n  {"start": 1,, }]}', "x.json")


def test_unknown_field_and_bad_role_are_refused() -> None:
    bad = _doc(speakers=2)
    bad["utterances"][0]["role"] = "caller"  # type: ignore[index]
    with pytest.raises(TranscriptFileError) as info:
        parse_transcript(json.dumps(bad), "t.json")
    message = str(info.value)
    assert "utterances[0].role" in message and "speakers: Extra inputs" in message


def test_roles_from_content_when_no_utterance_has_one() -> None:
    dialogue = load_dialogue(DIALOGUES_DIR / "zh" / f"{ZH}.yaml")
    doc = transcript_document(dialogue)
    for u in doc["utterances"]:  # type: ignore[attr-defined]
        u.pop("role")
        u["speaker"] = f"spk_{0 if u['speaker'] == 'agent' else 1}"
    doc["metadata"].pop("language")  # type: ignore[attr-defined]
    parsed = parse_transcript(json.dumps(doc, ensure_ascii=False), "zh.json")
    transcript = to_transcript(parsed, "x")
    assert transcript.language == "zh"
    assert transcript.role_source == "content"
    truth = [t.speaker for t in dialogue.turns]
    got = [u.role for u in transcript.utterances]
    assert sum(a == b for a, b in zip(truth, got, strict=True)) / len(truth) > 0.9


def test_language_detection() -> None:
    assert detect_language(["您好，请问有什么可以帮您"]) == "zh"
    assert detect_language(["How can I help you today", "我"]) == "en"


def test_ingest_analyses_and_indexes_without_audio(settings: Settings, tmp_path: Path) -> None:
    dialogue = load_dialogue(DIALOGUES_DIR / "zh" / f"{ZH}.yaml")
    path = tmp_path / f"{ZH}.json"
    path.write_text(json.dumps(transcript_document(dialogue), ensure_ascii=False), "utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"utterances": []}', "utf-8")
    summary = ingest_paths([path, bad])
    assert [r.outcome for r in summary.results] == ["accepted", "refused"]
    assert summary.results[1].reason == "bad_transcript"
    assert "bad.json:1: utterances" in (summary.results[1].message or "")
    with session_scope() as db:
        call = db.get(Call, ZH)
        assert call is not None and call.status == "indexed", call and call.error
        assert not has_audio(call) and call.customer_id == dialogue.customer.id
        assert call.started_at is not None
        transcript, analysis = load_outputs(ObjectStore(settings.objects_dir), call.outputs())
    assert transcript.engine == "import" and len(transcript.utterances) == len(dialogue.turns)
    assert set(dialogue.expected.violations) <= {f.rule_id for f in analysis.flags}
    again = ingest_paths([path])
    assert again.results[0].outcome == "duplicate" and again.results[0].call_id == ZH

    from search import SearchQuery, get_backend

    hits = get_backend().search(SearchQuery(text="起诉"))  # the threat of a lawsuit in the call
    assert ZH in [h.call_id for h in hits.hits]


def test_roles_from_the_channel_map() -> None:
    doc = {"metadata": {"channel_map": ["customer", "agent"]}, "utterances": [
        {"speaker": "L", "channel": 0, "start": 0, "end": 1, "text": "hello?"},
        {"speaker": "R", "channel": 1, "start": 1, "end": 2, "text": "thank you for calling"}]}
    transcript = to_transcript(parse_transcript(json.dumps(doc), "t.json"), "x")
    assert [u.role for u in transcript.utterances] == ["customer", "agent"]
    assert transcript.role_source == "channel_map" and transcript.language == "en"
