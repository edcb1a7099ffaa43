"""Finding 9 (Medium): an Elasticsearch outage while indexing failed calls for good; a
mapping mismatch must still fail at once. Real client, over real HTTP: a closed port, and
a small server answering as Elasticsearch does (product header, alias, mapping, 503)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from core.pipeline import is_transient
from search.base import SearchUnavailable
from search.elastic import MAPPING_VERSION, ElasticBackend
from tests.conftest import closed_port

DOC = {"call_id": "c-1", "language": "en", "utterances": [], "started_at": None}


class FakeCluster(BaseHTTPRequestHandler):
    mapping_version = MAPPING_VERSION
    bulk_status = 503

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/_alias/"):
            self._send(200, {"callqa-x-v1-1": {"aliases": {"callqa-x": {}}}})
        elif "/_mapping" in self.path:
            self._send(200, {"callqa-x-v1-1": {"mappings": {
                "_meta": {"callqa_mapping": self.mapping_version}}}})
        else:
            self._send(503, {"error": {"type": "unavailable"}, "status": 503})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(self.bulk_status, {"error": {"type": "cluster_block_exception",
                                                "reason": "no master"},
                                      "status": self.bulk_status})

    do_PUT = do_POST

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def cluster() -> Iterator[tuple[str, type[FakeCluster]]]:
    handler = type("Handler", (FakeCluster,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _backend(url: str) -> ElasticBackend:
    return ElasticBackend(Elasticsearch(url, request_timeout=2, max_retries=0), "callqa-x",
                          url=url)


def test_an_unreachable_cluster_is_transient() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(SearchUnavailable) as err:
        _backend(url).index([DOC])
    assert is_transient(err.value)


def test_a_503_while_indexing_is_transient(cluster: tuple[str, type[FakeCluster]]) -> None:
    url, _ = cluster
    with pytest.raises(SearchUnavailable) as err:
        _backend(url).index([DOC])
    assert is_transient(err.value), err.value


def test_a_mapping_mismatch_stays_permanent(cluster: tuple[str, type[FakeCluster]]) -> None:
    url, handler = cluster
    handler.mapping_version = MAPPING_VERSION - 1
    with pytest.raises(SearchUnavailable, match="mapping version") as err:
        _backend(url).index([DOC])
    assert not is_transient(err.value)


def test_refused_credentials_stay_permanent(cluster: tuple[str, type[FakeCluster]]) -> None:
    url, handler = cluster
    handler.bulk_status = 401
    with pytest.raises(SearchUnavailable) as err:
        _backend(url).index([DOC])
    assert not is_transient(err.value), err.value
