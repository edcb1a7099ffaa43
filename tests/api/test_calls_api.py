"""Calls, search, reviews, rules and audit through the real app (httpx TestClient)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from analysis.normalize import normalize
from core.db import AuditEntry, Call, Review, session_scope
from core.schemas import Analysis, Transcript
from core.storage import get_store
from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, scripted_transcript
from tests.api.conftest import SEEDED, World

THREAT, PII = SEEDED[0], SEEDED[1]  # en-10 (critical threat), en-17 (a name is said)


def _outputs(call_id: str) -> tuple[Transcript, Analysis]:
    store = get_store()
    with session_scope() as db:
        call = db.get(Call, call_id)
        assert call is not None
        done = call.outputs()
    return (Transcript.model_validate(store.get_json(done["transcribe"])),
            Analysis.model_validate(store.get_json(done["analyze"])))


def _audit(action: str, resource: str | None = None) -> list[AuditEntry]:
    with session_scope() as db:
        q = db.query(AuditEntry).filter_by(action=action)
        if resource:
            q = q.filter_by(resource=resource)
        return list(q.order_by(AuditEntry.id))


# Read views -------------------------------------------------------------------------


def test_detail_by_role_redacts_personal_data(world: World) -> None:
    transcript, analysis = _outputs(PII)
    pii_utts = {p.utterance for p in analysis.pii}
    assert pii_utts, "the fixture call must contain personal data"
    qa = world.client.get(f"/calls/{PII}", headers=world.as_("qa")).json()
    manager = world.client.get(f"/calls/{PII}", headers=world.as_("manager")).json()
    crm = world.client.get(f"/calls/{PII}", headers=world.as_("crm")).json()

    assert [s["status"] for s in qa["stages"]] == ["done", "done", "done"]
    assert [u["text"] for u in qa["transcript"]["utterances"]] == [
        u.text for u in transcript.utterances]
    assert qa["redacted"] is False and qa["audio_url"] == f"/calls/{PII}/audio"
    assert manager["redacted"] is True and manager["audio_url"] == f"/calls/{PII}/audio?redacted=true"
    shown = [u["text"] for u in manager["transcript"]["utterances"]]
    assert shown == analysis.redacted_utterances
    for i in pii_utts:  # the masked utterances really differ from what was said
        assert shown[i] != transcript.utterances[i].text
    assert all(u["words"] == [] for u in manager["transcript"]["utterances"])
    for flag in manager["analysis"]["flags"]:
        for ev in flag["evidence"]:
            if ev["utterance"] is not None:
                assert ev["quote"] == analysis.redacted_utterances[ev["utterance"]]
    assert crm["transcript"] is None and crm["analysis"] is None
    assert crm["insight"]["summary"] == analysis.summary  # built from masked text
    assert [f["key"] for f in crm["flags"]] == [f.key for f in analysis.flags]
    assert all(f["quote"] is None for f in crm["flags"])
    # qa can ask for the redacted view too
    masked = world.client.get(f"/calls/{PII}", params={"redacted": True},
                              headers=world.as_("qa")).json()
    assert [u["text"] for u in masked["transcript"]["utterances"]] == shown
    views = _audit("view", f"call:{PII}")
    assert [(v.role, v.detail) for v in views[-4:]] == [
        ("qa", {"redacted": False}), ("manager", {"redacted": True}),
        ("crm", {"redacted": True}), ("qa", {"redacted": True})]


def test_list_filters_and_pages(world: World) -> None:
    everything = world.client.get("/calls", params={"limit": 500},
                                  headers=world.as_("qa")).json()
    assert everything["total"] == len(SEEDED)
    assert {c["call_id"] for c in everything["items"]} == set(SEEDED)
    zh = [c for c in everything["items"] if c["language"] == "zh"]
    got = world.client.get("/calls", params={"language": "zh"}, headers=world.as_("qa")).json()
    assert {c["call_id"] for c in got["items"]} == {c["call_id"] for c in zh} and got["total"] == len(zh)
    pages = [world.client.get("/calls", params={"limit": 4, "offset": o},
                              headers=world.as_("qa")).json()["items"] for o in (0, 4)]
    assert [c["call_id"] for c in pages[0] + pages[1]] == [c["call_id"] for c in everything["items"]]
    first = min(c["started_at"] for c in everything["items"])
    later = world.client.get("/calls", params={"date_from": first.replace("+00:00", "Z")},
                             headers=world.as_("qa")).json()
    assert later["total"] == len(SEEDED)
    after = world.client.get("/calls", params={"date_from": first.replace("+00:00", "Z"),
                                               "date_to": "2100-01-01T00:00:00Z",
                                               "status": "indexed", "limit": 1},
                             headers=world.as_("qa")).json()
    assert after["total"] == len(SEEDED) and len(after["items"]) == 1
    # crm: one customer's calls only
    customer = everything["items"][0]["customer_id"]
    crm = world.client.get("/calls", params={"customer_id": customer},
                           headers=world.as_("crm")).json()
    assert {c["customer_id"] for c in crm["items"]} == {customer}
    bad = world.client.get("/calls", params={"limit": 0}, headers=world.as_("qa"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert bad.json()["error"]["detail"][0]["loc"] == ["query", "limit"]


def test_audio_supports_range_requests(world: World) -> None:
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None
        original = get_store().path(call.audio_key).read_bytes()
    before = len(_audit("play", f"call:{THREAT}"))
    whole = world.client.get(f"/calls/{THREAT}/audio", headers=world.as_("qa"))
    assert whole.status_code == 200 and whole.content == original
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"].startswith("audio/")
    part = world.client.get(f"/calls/{THREAT}/audio",
                            headers={**world.as_("qa"), "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == original[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(original)}"
    tail = world.client.get(f"/calls/{THREAT}/audio",
                            headers={**world.as_("qa"), "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == original[-10:]
    bad = world.client.get(f"/calls/{THREAT}/audio", headers={
        **world.as_("qa"), "Range": f"bytes={len(original) + 10}-"})
    assert bad.status_code == 416
    # One playback audited (the request without a Range header), not every seek.
    assert len(_audit("play", f"call:{THREAT}")) == before + 1


def _oracle(word: str, role: str | None = None) -> set[str]:
    """Calls whose scripted transcript says the word or its plural (by the role): the
    index stems English."""
    pattern = re.compile(rf"\b{word}s?\b", re.IGNORECASE)
    found = set()
    for cid in SEEDED:
        lang = cid.split("-", 1)[0]
        t = scripted_transcript(load_dialogue(DIALOGUES_DIR / lang / f"{cid}.yaml"))
        if any(pattern.search(u.text) and (role is None or u.role == role)
               for u in t.utterances):
            found.add(cid)
    return found


def test_search_export_and_errors(world: World) -> None:
    expected = _oracle("payment")
    assert expected
    result = world.client.get("/search", params={"q": "payment", "size": 100},
                              headers=world.as_("manager")).json()
    assert {h["call_id"] for h in result["hits"]} == expected
    for hit in result["hits"]:
        assert any("<em>" in u["highlight"] for u in hit["utterances"])
    agent_only = world.client.get("/search", params={"q": "payment", "role": "agent"},
                                  headers=world.as_("qa")).json()
    assert {h["call_id"] for h in agent_only["hits"]} == _oracle("payment", "agent")
    critical = world.client.get("/search", params={"min_severity": "critical", "sort": "risk"},
                                headers=world.as_("qa")).json()
    flagged = {cid for cid in SEEDED
               if any(f.severity == "critical" for f in _outputs(cid)[1].flags)}
    assert {h["call_id"] for h in critical["hits"]} == flagged
    risks = [h["risk"] for h in critical["hits"]]
    assert risks == sorted(risks, reverse=True)
    # cursor pages cover everything once
    seen: list[str] = []
    params: dict[str, Any] = {"sort": "date", "size": 2}
    while True:
        page = world.client.get("/search", params=params, headers=world.as_("qa")).json()
        seen += [h["call_id"] for h in page["hits"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(SEEDED)

    export = world.client.get("/search/export", params={"q": "payment"},
                              headers=world.as_("qa"))
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["call_id"] for r in rows} == expected
    assert _audit("export")[-1].detail["query"]["text"] == "payment"  # type: ignore[index]
    assert _audit("search")[-1].actor.startswith("test-qa")

    for params, code in (({"q": '"unbalanced'}, "invalid_query"),
                         ({"sort": "loudest"}, "validation_error"),
                         ({"cursor": "garbage"}, "invalid_query"),
                         ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "invalid_query")):
        bad = world.client.get("/search", params=params, headers=world.as_("qa"))
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"]["code"] == code, params


def test_insight_routes(world: World) -> None:
    trends = world.client.get("/trends", params={"metric": "violation", "interval": "week"},
                              headers=world.as_("manager")).json()
    flags = {cid: _outputs(cid)[1].flags for cid in SEEDED}
    assert sum(p["calls"] for p in trends["periods"]) == len(SEEDED)
    calls_per_rule: dict[str, int] = {}
    for fl in flags.values():
        for rule in {f.rule_id for f in fl}:
            calls_per_rule[rule] = calls_per_rule.get(rule, 0) + 1
    assert trends["totals"] == dict(sorted(calls_per_rule.items(), key=lambda kv: (-kv[1], kv[0])))
    card = world.client.get("/agents/A1006/scorecard", headers=world.as_("manager")).json()
    mine = [cid for cid in SEEDED if _doc_agent(cid) == "A1006"]
    assert card["calls"] == len(mine)
    assert card["violations"] == sum(len(flags[c]) for c in mine)
    assert world.client.get("/agents/nobody/scorecard",
                            headers=world.as_("manager")).status_code == 404
    cards = world.client.get("/agents", headers=world.as_("manager")).json()["items"]
    assert sum(c["calls"] for c in cards) == sum(1 for c in SEEDED if _doc_agent(c))
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None
        customer = call.customer_id
    summary = world.client.get(f"/customers/{customer}/summary", headers=world.as_("crm")).json()
    assert summary["customer_id"] == customer and summary["calls"][0]["call_id"] == THREAT
    assert "utterances" not in summary["calls"][0]
    assert _audit("insight", f"customer:{customer}")


def _doc_agent(call_id: str) -> str | None:
    with session_scope() as db:
        call = db.get(Call, call_id)
        return call.agent_id if call else None


def test_error_shape_everywhere(world: World) -> None:
    for method, path, kwargs, status in (
            ("GET", "/nowhere", {}, 404), ("PUT", "/calls", {}, 405),
            ("GET", "/calls/nope", {}, 404),
            ("POST", f"/calls/{THREAT}/reviews", {"json": {"decision": "maybe"}}, 422),
            ("POST", f"/calls/{THREAT}/reviews", {"content": b"{not json",
                                                  "headers": {"content-type":
                                                              "application/json"}}, 422),
            ("PATCH", f"/calls/{THREAT}/roles", {"json": {}}, 422)):
        headers = {**world.as_("qa"), **kwargs.pop("headers", {})}
        response = world.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, (path, response.text)
        error = response.json()["error"]
        assert set(error) == {"code", "message", "detail"} and error["message"]


# Changes ----------------------------------------------------------------------------


def test_reviews_status_search_and_precision(fresh_world: World) -> None:
    w = fresh_world
    _, analysis = _outputs(THREAT)
    keys = [f.key for f in analysis.flags]
    assert len(keys) >= 2, "en-10 has a threat and another flag"
    qa = w.as_("qa")
    before = w.client.get("/search", params={"review_status": "unreviewed"}, headers=qa).json()
    assert THREAT in {h["call_id"] for h in before["hits"]}

    r = w.client.post(f"/calls/{THREAT}/reviews", headers=qa,
                      json={"flag_key": keys[0], "decision": "confirmed", "comment": "clear"})
    assert r.status_code == 201, r.text
    partial = w.client.get("/search", params={"review_status": "partial"}, headers=qa).json()
    assert [h["call_id"] for h in partial["hits"]] == [THREAT]
    for key in keys[1:]:
        assert w.client.post(f"/calls/{THREAT}/reviews", headers=qa,
                             json={"flag_key": key, "decision": "dismissed"}).status_code == 201
    confirmed = w.client.get("/search", params={"review_status": "confirmed"}, headers=qa).json()
    assert [h["call_id"] for h in confirmed["hits"]] == [THREAT]
    # Change of mind: the latest decision counts.
    w.client.post(f"/calls/{THREAT}/reviews", headers=qa,
                  json={"flag_key": keys[0], "decision": "dismissed"})
    dismissed = w.client.get("/search", params={"review_status": "dismissed"}, headers=qa).json()
    assert [h["call_id"] for h in dismissed["hits"]] == [THREAT]

    view = w.client.get(f"/calls/{THREAT}/reviews", headers=qa).json()
    assert view["review_status"] == "dismissed" and len(view["history"]) == len(keys) + 1
    assert {f["key"]: f["review"] for f in view["flags"]} == {k: "dismissed" for k in keys}

    # precision: one more call's flag confirmed, computed against the stored decisions
    other = _outputs(PII)[1].flags[0]
    w.client.post(f"/calls/{PII}/reviews", headers=qa,
                  json={"flag_key": other.key, "decision": "confirmed"})
    report = {r["rule_id"]: r for r in w.client.get(
        "/reviews/precision", headers=w.as_("manager")).json()["rules"]}
    with session_scope() as db:
        latest: dict[tuple[str, str], Review] = {}
        for row in db.query(Review).order_by(Review.id):
            latest[(row.call_id, row.flag_key)] = row
    for rule_id in {r.rule_id for r in latest.values()}:
        decisions = [r.decision for r in latest.values() if r.rule_id == rule_id]
        assert report[rule_id]["confirmed"] == decisions.count("confirmed")
        assert report[rule_id]["dismissed"] == decisions.count("dismissed")
        assert report[rule_id]["precision"] == round(decisions.count("confirmed")
                                                     / len(decisions), 4)
    listed = w.client.get("/reviews", params={"decision": "confirmed"}, headers=qa).json()
    assert listed["total"] == 2 and {r["decision"] for r in listed["items"]} == {"confirmed"}
    unknown = w.client.post(f"/calls/{THREAT}/reviews", headers=qa,
                            json={"flag_key": "nope@1", "decision": "confirmed"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_flag"
    assert len(_audit("review")) == len(keys) + 2


def test_fix_roles_reruns_analysis(fresh_world: World) -> None:
    w = fresh_world
    transcript, original = _outputs(PII)
    r = w.client.patch(f"/calls/{PII}/roles", json={"swap": True}, headers=w.as_("qa"))
    assert r.status_code == 200, r.text
    assert r.json()["speakers"] == {"agent": "customer", "customer": "agent"}
    swapped, analysis = _outputs(PII)
    flip = {"agent": "customer", "customer": "agent"}
    assert [u.role for u in swapped.utterances] == [flip[u.role] for u in transcript.utterances]
    # analysis re-ran on the fixed roles: the agent's talk share is the old customer's
    assert analysis.metrics["agent_talk_s"] == original.metrics["customer_talk_s"]
    assert analysis.metrics["customer_talk_s"] == original.metrics["agent_talk_s"]
    with session_scope() as db:
        call = db.get(Call, PII)
        assert call is not None and call.status == "indexed"
        stage = call.stage("analyze")
        assert stage is not None and stage.attempts == 2
    # the index follows: the agent's words are now the customer's
    said = next(u.text for u in transcript.utterances if u.role == "agent")
    word = next(t for t in normalize(said).split() if len(t) > 4)
    hits = w.client.get("/search", params={"q": word, "role": "customer"},
                        headers=w.as_("qa")).json()
    assert PII in {h["call_id"] for h in hits["hits"]}
    bad = w.client.patch(f"/calls/{PII}/roles", json={"speakers": {"S9": "agent"}},
                         headers=w.as_("qa"))
    assert bad.status_code == 422 and "S9" in bad.json()["error"]["message"]
    entry = _audit("change_roles", f"call:{PII}")[-1]
    assert entry.detail == {"before": {"agent": "agent", "customer": "customer"},
                            "after": {"agent": "customer", "customer": "agent"}}


def test_reprocess_and_delete(fresh_world: World) -> None:
    w = fresh_world
    r = w.client.post(f"/calls/{THREAT}/reprocess", json={"from_stage": "analyze"},
                      headers=w.as_("qa"))
    assert r.status_code == 202, r.text
    with session_scope() as db:
        call = db.get(Call, THREAT)
        assert call is not None and call.status == "indexed"
        assert [call.stage(s).attempts for s in ("transcribe", "analyze", "index")] == [1, 2, 2]  # type: ignore[union-attr]
        audio = get_store().path(call.audio_key)
    w.client.post(f"/calls/{THREAT}/reviews", headers=w.as_("qa"),
                  json={"flag_key": _outputs(THREAT)[1].flags[0].key, "decision": "confirmed"})
    assert audio.is_file()
    assert w.client.delete(f"/calls/{THREAT}", headers=w.as_("qa")).status_code == 403
    r = w.client.delete(f"/calls/{THREAT}", headers=w.as_("admin"))
    assert r.status_code == 204
    assert w.client.get(f"/calls/{THREAT}", headers=w.as_("qa")).status_code == 404
    assert not audio.exists()
    assert not (w.data_dir / "objects" / "calls" / THREAT).exists()
    hits = w.client.get("/search", params={"size": 100}, headers=w.as_("qa")).json()
    assert THREAT not in {h["call_id"] for h in hits["hits"]}
    with session_scope() as db:
        assert db.query(Review).filter_by(call_id=THREAT).count() == 0
    assert _audit("delete", f"call:{THREAT}")[0].role == "admin"
    audit = w.client.get("/audit", params={"action": "delete"}, headers=w.as_("admin")).json()
    assert [e["resource"] for e in audit["items"]] == [f"call:{THREAT}"]


RULES = ("rules:\n  - id: mentions_payment\n    title: Says payment\n    type: must_not_say\n"
         "    who: any\n    severity: low\n    phrases: {en: [payment]}\n")


def test_rules_validate_upload_dry_run(fresh_world: World, monkeypatch: Any) -> None:
    w = fresh_world
    bad = w.client.post("/rules/validate", json={"yaml": RULES.replace("must_not_say", "often")},
                        headers=w.as_("qa"))
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("rules.yaml:2")
    ok = w.client.post("/rules/validate", json={"yaml": RULES}, headers=w.as_("qa")).json()
    assert ok["valid"] and [r["id"] for r in ok["rules"]] == ["mentions_payment"]

    dry = w.client.post("/rules/dry-run", json={"yaml": RULES}, headers=w.as_("qa")).json()
    assert dry["calls"] == len(w.calls)
    [outcome] = dry["rules"]
    said = {cid for cid in w.calls if any(re.search(r"\bpayment\b", normalize(u.text))
                                          for u in _outputs(cid)[0].utterances)}
    assert set(outcome["flagged"]) == said and outcome["newly_flagged"] == outcome["flagged"]
    assert all("mentions_payment" not in {f.rule_id for f in _outputs(c)[1].flags}
               for c in w.calls)  # a dry run changes nothing

    assert w.client.put("/rules", json={"yaml": RULES}, headers=w.as_("qa")).status_code == 403
    up = w.client.put("/rules", json={"yaml": RULES}, headers=w.as_("admin"))
    assert up.status_code == 200 and up.json()["source"] == "uploaded"
    listed = w.client.get("/rules", headers=w.as_("qa")).json()
    assert [r["id"] for r in listed["rules"]] == ["mentions_payment"]
    assert listed["version"] == ok["version"]
    # analysis from now on uses the uploaded rules
    target = sorted(said)[0]
    w.client.post(f"/calls/{target}/reprocess", json={"from_stage": "analyze"},
                  headers=w.as_("qa"))
    assert {f.rule_id for f in _outputs(target)[1].flags} == {"mentions_payment"}
    assert _audit("rules_upload")[-1].detail["rules"] == ["mentions_payment"]  # type: ignore[index]
    # pinned by CALLQA_RULES_PATH: no upload
    from core.settings import reset_settings

    monkeypatch.setenv("CALLQA_RULES_PATH", str(w.data_dir / "rules" / "active.yaml"))
    reset_settings()
    pinned = w.client.put("/rules", json={"yaml": RULES}, headers=w.as_("admin"))
    assert pinned.status_code == 409


def test_redacted_audio_tones_every_pii_span(world: World) -> None:
    """Managers (and qa with redacted=true) get the recording with a 1 kHz tone over each
    PII span and the rest unchanged; it is rendered once and stored."""
    import wave

    import numpy as np

    from analysis.redacted_audio import tone_spans
    from transcribe.audio import decode_audio

    _, analysis = _outputs(PII)
    spans = tone_spans(analysis)
    assert spans, "the fixture call must contain personal data"
    heard = world.client.get(f"/calls/{PII}/audio", headers=world.as_("manager"))
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/wav"
    again = world.client.get(f"/calls/{PII}/audio", params={"redacted": True},
                             headers=world.as_("qa"))
    assert again.content == heard.content
    with wave.open(io.BytesIO(heard.content)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    samples = pcm.reshape(-1, channels).T / 32767
    checked = 0
    for start, end in spans:
        seg = samples[0, int(start * rate) + 16:int(end * rate) - 16]
        if len(seg) < rate // 10:  # past the end of the recording, or too short to measure
            continue
        peak = np.argmax(np.abs(np.fft.rfft(seg))) * rate / len(seg)
        assert abs(peak - 1000) < 25, (start, end, peak)
        checked += 1
    assert checked, (spans, samples.shape[1] / rate)
    with session_scope() as db:
        call = db.get(Call, PII)
        assert call is not None
        original = decode_audio(get_store().path(call.audio_key), rate).samples
    before = slice(0, int(spans[0][0] * rate))  # speech before the first span is untouched
    assert np.abs(samples[:, before] - original[:, before]).max() < 1e-3
    assert world.client.get(f"/calls/{PII}/audio", headers=world.as_("crm")).status_code == 403


def test_peaks_computed_once_with_the_audio_roles(world: World) -> None:
    """GET /calls/{id}/peaks: the envelope of the stored recording, written once next to
    the call's outputs; managers get it with the PII spans toned; crm gets nothing."""
    from analysis.redacted_audio import ToneOptions, tone_spans
    from analysis.waveform import compute_peaks, merge_channels, peaks_key, redacted_peaks
    from transcribe.audio import decode_audio

    qa = world.client.get(f"/calls/{PII}/peaks", headers=world.as_("qa"))
    assert qa.status_code == 200, qa.text
    body = qa.json()
    store = get_store()
    stored = store.path(peaks_key(store, PII))
    assert stored.is_file()
    mtime = stored.stat().st_mtime_ns
    with session_scope() as db:
        call = db.get(Call, PII)
        assert call is not None
        audio = decode_audio(store.path(call.audio_key), 8000)
    expected = compute_peaks(audio.samples, audio.sample_rate)
    assert body["redacted"] is False and body["split"] == "speaker"
    assert body["channels"] == [{"role": None, "peaks": merge_channels(expected["channels"])}]
    assert body["bin_s"] == expected["bin_s"] and max(body["channels"][0]["peaks"]) > 0
    manager = world.client.get(f"/calls/{PII}/peaks", headers=world.as_("manager")).json()
    _, analysis = _outputs(PII)
    tone = ToneOptions()
    assert manager["redacted"] is True
    spans = tone_spans(analysis, options=tone)
    assert manager["channels"][0]["peaks"] == redacted_peaks(
        [c["peaks"] for c in body["channels"]], body["bin_s"], spans, tone.level)[0]
    if any(start < body["duration"] for start, _ in spans):  # a span inside the recording
        assert manager["channels"] != body["channels"]
    assert stored.stat().st_mtime_ns == mtime  # computed once
    assert world.client.get(f"/calls/{PII}/peaks", headers=world.as_("crm")).status_code == 403
    assert world.client.get("/calls/nope/peaks", headers=world.as_("qa")).status_code == 404
