"""Fixtures for the search contract: the same tests run on every configured backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from analysis import AnalysisModels, analyze, load_rules
from samples.dialogue import Dialogue, load_dialogues, scripted_transcript
from search.base import SearchBackend
from search.documents import build_document
from search.embedded import EmbeddedBackend

Doc = dict[str, Any]
Factory = Callable[..., SearchBackend]
ES_URL = os.environ.get("CALLQA_ELASTICSEARCH_URL")
BACKENDS = ["embedded", *(["elasticsearch"] if ES_URL else [])]



# Fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dialogues() -> list[Dialogue]:
    return load_dialogues()


@pytest.fixture(scope="module")
def docs(dialogues: list[Dialogue]) -> list[Doc]:
    rules, models = load_rules(), AnalysisModels.default()
    out = []
    for d in dialogues:
        transcript = scripted_transcript(d)
        metadata = d.metadata(["agent", "customer"]) | {"started_at": d.started_at}
        out.append(build_document(metadata, transcript, analyze(transcript, rules, models)))
    return out


def _elastic(timezone_name: str) -> SearchBackend:
    from elasticsearch import Elasticsearch

    from search.elastic import ElasticBackend

    client = Elasticsearch(ES_URL, request_timeout=60)
    return ElasticBackend(client, f"callqa-test-{uuid.uuid4().hex[:10]}", timezone_name,
                          shards=1, replicas=0, url=ES_URL or "")


def _drop(engine: SearchBackend) -> None:
    if engine.name == "elasticsearch":
        # By name: wildcard deletes are refused by default (action.destructive_requires_name).
        for index in engine._indices_behind_alias():  # type: ignore[attr-defined]
            engine.client.indices.delete(index=index)  # type: ignore[attr-defined]
    engine.close()


@pytest.fixture(scope="module", params=BACKENDS)
def make_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Factory]:
    """make(docs, timezone="UTC") -> a new backend of this module's kind holding docs."""
    made: list[SearchBackend] = []

    def make(documents: list[Doc], timezone_name: str = "UTC") -> SearchBackend:
        if request.param == "embedded":
            engine: SearchBackend = EmbeddedBackend(tmp_path_factory.mktemp("search"),
                                                    timezone_name)
        else:
            engine = _elastic(timezone_name)
        made.append(engine)
        if documents:
            assert engine.index(documents) == len(documents)
        return engine

    yield make
    for engine in made:
        _drop(engine)


@pytest.fixture(scope="module")
def backend(make_backend: Factory, docs: list[Doc]) -> SearchBackend:
    """Read-only: tests that change the index build their own."""
    return make_backend(docs)


@pytest.fixture
def fresh(make_backend: Factory, docs: list[Doc]) -> SearchBackend:
    return make_backend(docs)
