"""Call documents -> index; queries and aggregations behind one interface."""

from __future__ import annotations

from search.base import (
    Bucket,
    CallHit,
    InvalidQuery,
    SearchBackend,
    SearchQuery,
    SearchResult,
    UtteranceHit,
)

_backends: dict[tuple[object, ...], SearchBackend] = {}


def get_backend() -> SearchBackend:
    """Elasticsearch when CALLQA_ELASTICSEARCH_URL is set, else the embedded index.
    One backend (one client, its connection pool) per configuration and process."""
    from core.settings import get_settings

    settings = get_settings()
    key = (settings.elasticsearch_url, settings.elasticsearch_index, settings.index_dir,
           settings.timezone)
    if key not in _backends:
        if settings.elasticsearch_url:
            from search.elastic import ElasticBackend

            _backends[key] = ElasticBackend.from_settings(settings)
        else:
            from search.embedded import EmbeddedBackend

            _backends[key] = EmbeddedBackend(settings.index_dir / "embedded", settings.timezone)
    return _backends[key]


__all__ = ["Bucket", "CallHit", "InvalidQuery", "SearchBackend", "SearchQuery", "SearchResult",
           "UtteranceHit", "get_backend"]
