"""Text conversions every stage shares (transcription output, analysis, search queries)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to simplified (OpenCC t2s; one converter per process)."""
    return str(_t2s().convert(text))
