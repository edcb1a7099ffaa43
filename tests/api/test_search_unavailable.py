"""With Elasticsearch configured but down, search answers 503 with the reason, not 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import reset_settings
from tests.api.conftest import World
from tests.conftest import closed_port


def test_search_cluster_down_is_503(fresh_world: World, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("CALLQA_ELASTICSEARCH_URL", url)
    monkeypatch.setenv("CALLQA_ELASTICSEARCH_TIMEOUT_S", "2")
    reset_settings()
    response = fresh_world.client.get("/search", params={"q": "refund"},
                                      headers=fresh_world.as_("qa"))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "search_unavailable" and url in error["message"]
