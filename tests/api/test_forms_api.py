"""Evaluation forms through the real app over seeded, analysed calls: every analysed call
has an automatic evaluation stored at the end of analysis, reviewers override answers
with a comment and answer manual questions, the final score, calibration between two
reviewers, scores over time by agent and team, roles and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.keys import create_key
from core.db import AuditEntry, Evaluation, session_scope
from core.settings import reset_settings
from tests.api.conftest import SEEDED, World, _env, build_world

# a threat (critical), account details before verification, a clean call
CALLS = SEEDED[:3]


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("forms")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, tmp / "data")
        w = build_world(tmp, CALLS)
        with session_scope() as db:
            w.extra["qa2"] = create_key(db, "test-qa2", "qa")[1]
        with w.client:
            yield w
    reset_settings()


def _eval(w: World, call: str, role: str = "qa") -> dict:
    r = w.client.get(f"/calls/{call}/evaluation", headers=w.as_(role))
    assert r.status_code == 200, r.text
    return r.json()


def test_every_analysed_call_has_a_stored_automatic_evaluation(fw: World) -> None:
    with session_scope() as db:
        rows = {e.call_id: e for e in db.query(Evaluation).filter_by(kind="auto")}
    assert set(rows) == set(fw.calls)  # written by the analyze stage, before any read
    forms = fw.client.get("/forms", headers=fw.as_("manager")).json()["items"]
    assert [f["id"] for f in forms] == ["consumer_finance_qa"]
    threat, before_verification, clean = fw.calls
    answers = {a["question_id"]: a for a in _eval(fw, threat)["auto"]["answers"]}
    assert answers["no_threats"]["value"] == "no"
    flag = answers["no_threats"]["evidence"]["flags"][0]
    assert flag["quote"] and flag["start"] is not None
    assert answers["greeting_and_name"]["value"] is None  # manual: for the reviewer
    ev = _eval(fw, threat)["auto"]
    assert ev["score"] == 0 and "no_threats" in ev["critical_failed"] and ev["passed"] is False
    bv = {a["question_id"]: a["value"] for a in _eval(fw, before_verification)["auto"]["answers"]}
    assert bv["verified_before_details"] == "no"
    good = _eval(fw, clean)["auto"]
    assert good["score"] is not None and good["score"] > 0 and not good["critical_failed"]
    metric = next(a for a in good["answers"] if a["question_id"] == "no_dead_air")["evidence"]
    assert metric["source"] == "metric" and metric["measured"] is not None


def test_override_needs_a_comment_and_sets_the_final_score(fw: World) -> None:
    w = fw
    call = w.calls[2]
    qa = w.as_("qa")
    auto = _eval(w, call)["auto"]
    auto_value = {a["question_id"]: a["value"] for a in auto["answers"]}["no_dead_air"]
    flipped = "no" if auto_value == "yes" else "yes"
    url = f"/calls/{call}/evaluation/answers"
    bad = w.client.put(url, headers=qa, json={"answers": [
        {"question_id": "no_dead_air", "value": flipped}]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "comment_required"
    for body, code in (({"answers": [{"question_id": "nope", "value": "yes"}]}, "unknown_question"),
                       ({"answers": []}, "nothing_to_answer"),
                       ({"form_id": "nope", "answers": []}, "not_found")):
        r = w.client.put(url, headers=qa, json=body)
        assert r.status_code in (404, 422) and r.json()["error"]["code"] == code, r.text
    assert w.client.put(url, headers=qa, json={"answers": [
        {"question_id": "no_dead_air", "value": "maybe"}]}).status_code == 422
    assert _eval(w, call)["reviews"] == []  # bad input changed nothing
    for role in ("manager", "crm"):
        assert w.client.put(url, headers=w.as_(role), json={"answers": [
            {"question_id": "greeting_and_name", "value": "yes"}]}).status_code == 403
    assert w.client.get(f"/calls/{call}/evaluation", headers=w.as_("crm")).status_code == 403
    assert w.client.get(f"/calls/{call}/evaluation").status_code == 401
    assert w.client.get("/calls/nope/evaluation", headers=qa).status_code == 404

    r = w.client.put(url, headers=qa, json={"submit": True, "answers": [
        {"question_id": "no_dead_air", "value": flipped, "comment": "explained system outage"},
        {"question_id": "greeting_and_name", "value": "yes"},
        {"question_id": "accurate_information", "value": "no", "comment": "wrong due date"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    mine = body["reviews"][0]
    assert body["final"] == mine and mine["reviewer"] == "test-qa" and mine["submitted_at"]
    by_q = {a["question_id"]: a for a in mine["answers"]}
    assert by_q["no_dead_air"]["overridden"] and by_q["no_dead_air"]["comment"]
    assert by_q["no_dead_air"]["value"] == flipped and by_q["no_dead_air"]["auto_value"] == auto_value
    assert by_q["greeting_and_name"]["by_reviewer"] and not by_q["greeting_and_name"]["overridden"]
    assert not by_q["closing"]["by_reviewer"]  # the automatic answer where none given
    assert mine["score"] != auto["score"] and "greeting_and_name" not in mine["unanswered"]
    queue = w.client.get("/queue", params={"status": "all"}, headers=qa).json()["items"]
    assert all(i["status"] == "done" for i in queue if i["call_id"] == call)
    with session_scope() as db:
        assert db.query(AuditEntry).filter_by(action="evaluate", resource=f"call:{call}").count() == 1
    # withdrawing an answer goes back to the automatic one
    r = w.client.put(url, headers=qa, json={"answers": [{"question_id": "no_dead_air", "value": None}]})
    again = {a["question_id"]: a for a in r.json()["final"]["answers"]}
    assert again["no_dead_air"]["value"] == auto_value and not again["no_dead_air"]["by_reviewer"]


def test_calibration_between_two_reviewers(fw: World) -> None:
    w = fw
    call = w.calls[1]
    url = f"/calls/{call}/evaluation/answers"
    one = w.client.get(f"/calls/{call}/evaluation/calibration", headers=w.as_("manager")).json()
    assert one["agreement"] is None and one["reviewers"] == []
    w.client.put(url, headers=w.as_("qa"), json={"answers": [
        {"question_id": "greeting_and_name", "value": "yes"},
        {"question_id": "accurate_information", "value": "yes"}]})
    w.client.put(url, headers={"X-API-Key": w.extra["qa2"]}, json={"answers": [
        {"question_id": "greeting_and_name", "value": "no", "comment": "no staff number"},
        {"question_id": "accurate_information", "value": "yes"}]})
    cal = w.client.get(f"/calls/{call}/evaluation/calibration", headers=w.as_("manager")).json()
    assert cal["reviewers"] == ["test-qa", "test-qa2"]
    per = {q["question_id"]: q for q in cal["questions"]}
    assert per["greeting_and_name"] == {"question_id": "greeting_and_name", "agree": False,
                                        "values": {"test-qa": "yes", "test-qa2": "no"}}
    assert per["accurate_information"]["agree"] and per["no_threats"]["agree"]
    assert len(per) == 16 and cal["agreement"] == round(15 / 16, 3)
    # a critical item (details before verification) failed: 0 whatever else they said
    assert cal["scores"] == {"test-qa": 0.0, "test-qa2": 0.0} and cal["score_spread"] == 0
    # the final score is the latest reviewer's
    assert _eval(w, call)["final"]["reviewer"] == "test-qa2"
    # across calls: this call, and the question they disagree on first
    summary = w.client.get("/forms/consumer_finance_qa/calibration", headers=w.as_("qa")).json()
    assert [c["call_id"] for c in summary["calls"]] == [call]
    assert summary["agreement"] == cal["agreement"]
    assert summary["questions"][0] == {"question_id": "greeting_and_name", "calls": 1,
                                       "agreed": 0, "rate": 0.0}
    assert w.client.get("/forms/consumer_finance_qa/calibration", params={"limit": 0},
                        headers=w.as_("qa")).status_code == 422


def test_scores_over_time_by_agent_and_team(fw: World) -> None:
    w = fw
    url = "/forms/consumer_finance_qa/scores"
    agents = w.client.get(url, headers=w.as_("manager")).json()
    assert agents["by"] == "agent" and agents["points"]
    assert sum(p["calls"] for p in agents["points"]) == len(w.calls)
    teams = w.client.get(url, params={"by": "team"}, headers=w.as_("qa")).json()
    assert {p["key"] for p in teams["points"]} and all(0 <= p["avg_score"] <= 100
                                                      for p in teams["points"])
    assert w.client.get(url, params={"by": "nobody"}, headers=w.as_("qa")).status_code == 422
    assert w.client.get(url, params={"date_from": "2030-01-02", "date_to": "2030-01-01"},
                        headers=w.as_("qa")).status_code == 422
    assert w.client.get("/forms/nope/scores", headers=w.as_("qa")).status_code == 404
    assert w.client.get(url, headers=w.as_("crm")).status_code == 403
    form = w.client.get("/forms/consumer_finance_qa", headers=w.as_("qa")).json()
    sources = {q["source"] for s in form["sections"] for q in s["questions"]}
    assert sources == {"rule", "metric", "intent", "sentiment", "manual"}


def test_a_lost_or_stale_automatic_evaluation_is_recomputed_on_read(fw: World) -> None:
    """The analysis is the truth: an evaluation lost in a crash after analysis.json was
    stored, or scored on another form version, is recomputed when read, and
    `callqa forms rescore` refills every call."""
    from typer.testing import CliRunner

    from api.cli import app

    call = fw.calls[0]
    before = _eval(fw, call)["auto"]
    with session_scope() as db:
        db.query(Evaluation).filter_by(call_id=call, kind="auto").delete()
        other = db.query(Evaluation).filter_by(call_id=fw.calls[1], kind="auto").one()
        other.form_hash = "0ld0ld0ld0ld"
    again = _eval(fw, call)["auto"]
    assert again["answers"] == [a | {"answered_at": a2["answered_at"]}
                                for a, a2 in zip(before["answers"], again["answers"], strict=True)]
    assert again["score"] == before["score"]
    assert _eval(fw, fw.calls[1])["auto"]["form_hash"] != "0ld0ld0ld0ld"
    with session_scope() as db:
        db.query(Evaluation).filter_by(kind="auto").delete()
    result = CliRunner().invoke(app, ["forms", "rescore", "--json"])
    assert result.exit_code == 0, result.output
    assert '"calls": 3' in result.output
    with session_scope() as db:
        assert db.query(Evaluation).filter_by(kind="auto").count() == len(fw.calls)
