"""Call documents -> index; queries and aggregations behind one interface."""

from __future__ import annotations

from search.base import CallHit, SearchBackend, SearchQuery, SearchResult, UtteranceHit


def get_backend() -> SearchBackend:
    from core.settings import get_settings

    settings = get_settings()
    if settings.elasticsearch_url:
        raise RuntimeError(
            "CALLQA_ELASTICSEARCH_URL is set, but this build has only the embedded search "
            "backend; unset it to use the index in CALLQA_DATA_DIR")
    from search.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.index_dir / "search.db", settings.timezone)


__all__ = ["CallHit", "SearchBackend", "SearchQuery", "SearchResult", "UtteranceHit",
           "get_backend"]
