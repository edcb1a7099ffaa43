"""Text clean-up of recogniser output."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize_chinese(text: str) -> str:
    """Whisper mixes traditional and simplified characters; calls are kept in simplified."""
    return str(_t2s().convert(text))
