"""With Elasticsearch configured but down, search answers 503 with the reason, not 500."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.settings import reset_settings
from tests.api.conftest import World


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_search_cluster_down_is_503(fresh_world: World, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("CALLQA_ELASTICSEARCH_URL", url)
    monkeypatch.setenv("CALLQA_ELASTICSEARCH_TIMEOUT_S", "2")
    reset_settings()
    response = fresh_world.client.get("/search", params={"q": "refund"},
                                      headers=fresh_world.as_("qa"))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "search_unavailable" and url in error["message"]
