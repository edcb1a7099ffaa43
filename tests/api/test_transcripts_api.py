"""POST /transcripts: an imported transcript becomes a call analysed and indexed like a
recorded one, with no audio to play."""

from __future__ import annotations

import json

from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, transcript_document
from tests.api.conftest import World

ZH = "zh-11-wife-answers-debt-disclosed"


def test_import_analyse_show_without_audio(fresh_world: World) -> None:
    w = fresh_world
    dialogue = load_dialogue(DIALOGUES_DIR / "zh" / f"{ZH}.yaml")
    doc = transcript_document(dialogue)
    doc["metadata"]["call_id"] = "imp-1"  # type: ignore[index]
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = {**w.as_("qa"), "Content-Type": "application/json"}
    r = w.client.post("/transcripts", content=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["call_id"] == "imp-1" and r.json()["outcome"] == "accepted"
    # No broker: the background task has analysed and indexed it by now.
    detail = w.client.get("/calls/imp-1", headers=w.as_("qa")).json()
    assert detail["call"]["status"] == "indexed"
    assert detail["audio_url"] is None
    assert detail["transcript"]["engine"] == "import"
    assert set(dialogue.expected.violations) <= {f["rule_id"] for f in detail["flags"]}
    assert w.client.get("/calls/imp-1/audio", headers=w.as_("qa")).json()["error"]["code"] \
        == "no_audio"
    r = w.client.post("/calls/imp-1/reprocess", json={"from_stage": "transcribe"},
                      headers=w.as_("qa"))
    assert r.status_code == 409
    r = w.client.post("/calls/imp-1/reprocess", json={"from_stage": "analyze"},
                      headers=w.as_("qa"))
    assert r.status_code == 202
    again = w.client.post("/transcripts", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    found = w.client.get("/search", params={"q": "逾期"}, headers=w.as_("qa")).json()
    assert "imp-1" in [h["call_id"] for h in found["hits"]]


def test_invalid_document_names_line_and_field(fresh_world: World) -> None:
    w = fresh_world
    body = '{\n "utterances": [\n  {"role": "agent", "start": 2, "end": 1, "text": "hi"}\n ]\n}'
    r = w.client.post("/transcripts", content=body.encode(),
                      headers={**w.as_("qa"), "Content-Type": "application/json"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "bad_transcript"
    assert error["detail"]["problems"] == [
        "request body:3: utterances[0]: Value error, end 1.0 is before start 2.0"]
    assert w.client.post("/transcripts", content=b"{}", headers=w.as_("crm")).status_code == 403


def test_schema_documents_the_body(fresh_world: World) -> None:
    schema = fresh_world.client.get("/openapi.json").json()
    body = schema["paths"]["/transcripts"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/TranscriptIn"
    assert "UtteranceIn" in schema["components"]["schemas"]
