"""Which errors a retry may cure, the back-off between retries, and the errors a stage
raises on purpose."""

from __future__ import annotations

import random
import sqlite3

from core.settings import get_settings


class CallNotFound(LookupError):
    """The call was deleted (or never registered)."""


class TransientError(Exception):
    """Raise to ask for a retry with back-off (the error is expected to go away)."""


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached: one line saying what, where and how to fix it."""


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in text)


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure; bad input, missing calls and bugs are permanent."""
    if isinstance(exc, TransientError) or is_out_of_memory(exc):
        return True
    from search.base import SearchUnavailable

    if isinstance(exc, SearchUnavailable):  # an outage retries; a wrong mapping fails
        return exc.transient
    try:
        import av

        if isinstance(exc, av.FFmpegError):  # undecodable audio (some are OSErrors)
            return False
    except ImportError:  # pragma: no cover - av is a core dependency
        pass
    if isinstance(exc, LookupError | ValueError | TypeError):
        return False
    if isinstance(exc, OSError | sqlite3.OperationalError):  # connections, storage, locks
        return True
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    transient: tuple[type[BaseException], ...] = (
        BrokerError, RedisConnectionError, RedisTimeout, OperationalError, InterfaceError,
        DisconnectionError, PoolTimeout)
    if isinstance(exc, transient):
        return True
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        if isinstance(exc, TransportError):
            return True
        if isinstance(exc, ApiError) and exc.meta.status in (429, 502, 503, 504):
            return True
    except ImportError:  # pragma: no cover - the Elasticsearch client is optional
        pass
    return False


def backoff_s(retries: int) -> float:
    settings = get_settings()
    delay = min(settings.retry_backoff_max_s, settings.retry_backoff_s * 2 ** retries)
    return round(delay * random.uniform(0.8, 1.0), 2)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
