"""Text clean-up of recogniser output."""

from __future__ import annotations

from core.text import to_simplified


def normalize_chinese(text: str) -> str:
    """Whisper mixes traditional and simplified characters; calls are kept in simplified."""
    return to_simplified(text)
