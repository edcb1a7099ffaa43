"""The review queue (api/routes/queue.py) through the real app over seeded, analysed and
indexed calls: riskiest first, only flagged calls, assignment by admin, "my queue", the
status per call, and done once every flag is reviewed."""

from __future__ import annotations

from tests.api.conftest import World


def _queue(world: World, role: str = "qa", **params: str) -> dict:
    response = world.client.get("/queue", params=params, headers=world.as_(role))
    assert response.status_code == 200, response.text
    return response.json()


def test_queue_lists_flagged_calls_riskiest_first(fresh_world: World) -> None:
    data = _queue(fresh_world, status="all")
    risks = [i["risk"] for i in data["items"]]
    assert data["items"] and risks == sorted(risks, reverse=True)
    for item in data["items"]:
        assert item["rule_ids"] and item["max_severity"]
        assert item["status"] == "to_review" and item["assignee"] is None
    # the same calls the search finds as flagged
    search = fresh_world.client.get("/search", params={"min_severity": "low", "size": 100},
                                    headers=fresh_world.as_("qa")).json()
    assert {i["call_id"] for i in data["items"]} == {h["call_id"] for h in search["hits"]}
    # a period with no calls: nothing
    assert _queue(fresh_world, date_from="2100-01-01T00:00:00Z")["total"] == 0


def test_admin_assigns_qa_sees_my_queue_and_sets_status(fresh_world: World) -> None:
    w = fresh_world
    call = _queue(w)["items"][0]["call_id"]
    admin = w.as_("admin")
    assert w.client.get("/queue/reviewers", headers=admin).json()["items"] == [
        "test-admin", "test-qa"]
    bad = w.client.put(f"/queue/{call}/assignee", json={"assignee": "test-manager"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_reviewer"
    assert w.client.put("/queue/no-such-call/assignee", json={"assignee": "test-qa"},
                        headers=admin).status_code == 404
    made = w.client.put(f"/queue/{call}/assignee", json={"assignee": "test-qa"}, headers=admin)
    assert made.status_code == 200, made.text
    assert made.json()["assignee"] == "test-qa" and made.json()["status"] == "to_review"
    mine = _queue(w, mine="true")
    assert [i["call_id"] for i in mine["items"]] == [call]
    assert call not in {i["call_id"] for i in _queue(w, unassigned="true")["items"]}
    # qa moves it along; admin can too; another reviewer's call is refused to qa
    moved = w.client.put(f"/queue/{call}/status", json={"status": "in_review"}, headers=w.as_("qa"))
    assert moved.status_code == 200 and moved.json()["status"] == "in_review"
    assert [i["status"] for i in _queue(w, mine="true")["items"]] == ["in_review"]
    w.client.put(f"/queue/{call}/assignee", json={"assignee": "test-admin"}, headers=admin)
    taken = w.client.put(f"/queue/{call}/status", json={"status": "done"}, headers=w.as_("qa"))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "assigned_elsewhere"
    assert _queue(w, mine="true")["total"] == 0


def test_reviewing_every_flag_makes_the_call_done(fresh_world: World) -> None:
    w = fresh_world
    call = _queue(w)["items"][0]["call_id"]
    detail = w.client.get(f"/calls/{call}", headers=w.as_("qa")).json()
    for flag in detail["flags"]:
        r = w.client.post(f"/calls/{call}/reviews", headers=w.as_("qa"),
                          json={"flag_key": flag["key"], "decision": "confirmed"})
        assert r.status_code in (200, 201), r.text
    assert call not in {i["call_id"] for i in _queue(w)["items"]}
    done = {i["call_id"]: i for i in _queue(w, status="done")["items"]}
    assert done[call]["status"] == "done" and done[call]["review_status"] == "confirmed"
