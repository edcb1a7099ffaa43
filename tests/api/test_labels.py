"""QA corrections of a call's intent and sentiment become training labels."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from analysis.corrections import held_back, review_examples
from analysis.training import save_examples
from api.cli import app
from core.db import AuditEntry, session_scope
from tests.api.conftest import World

runner = CliRunner()


def test_corrections_are_stored_and_train(fresh_world: World, tmp_path: Path) -> None:
    w = fresh_world
    qa = w.as_("qa")
    call = w.calls[0]
    assert w.client.get(f"/calls/{call}/labels", headers=qa).json()["history"] == []
    r = w.client.put(f"/calls/{call}/labels", headers=qa,
                     json={"intent": "hardship_extension", "comment": "lost their job"})
    assert r.status_code == 200, r.text
    r = w.client.put(f"/calls/{call}/labels", headers=qa, json={"sentiment": "negative"})
    body = r.json()
    assert body["intent"] == "hardship_extension" and body["sentiment"] == "negative"
    assert len(body["history"]) == 2 and body["history"][0]["comment"] == "lost their job"
    assert w.client.get(f"/calls/{call}/labels", headers=qa).json() == body

    bad = w.client.put(f"/calls/{call}/labels", headers=qa, json={"intent": "no_such_intent"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_intent"
    assert w.client.put(f"/calls/{call}/labels", headers=qa, json={}).status_code == 422
    assert w.client.put(f"/calls/{call}/labels", headers=qa,
                        json={"sentiment": "furious"}).status_code == 422
    with session_scope() as db:
        assert db.query(AuditEntry).filter_by(resource=f"call:{call}").count() >= 2

    part = "held_back" if held_back(call) else "train"
    intent = review_examples("intent", part)
    sentiment = review_examples("sentiment", "all")
    assert [label for _, label in intent] == ["hardship_extension"]
    assert [label for _, label in sentiment] == ["negative"] and sentiment[0][0].strip()
    other = "train" if part == "held_back" else "held_back"
    assert review_examples("intent", other) == []

    # train --from-reviews: the corrected calls beside a CSV.
    data = save_examples([("I lost my job and can't pay", "hardship_extension"),
                          ("why was I charged a late fee", "fee_dispute"),
                          ("I want a payment plan", "hardship_extension"),
                          ("this fee is not fair", "fee_dispute")] * 3, tmp_path / "d.csv")
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", "intent", str(data), "--from-reviews", "--out",
                                 str(out), "--recipe", "char-ngrams"])
    assert result.exit_code == 0, result.output
    assert (out / "callqa_head.json").is_file()
