"""Scripted consumer-finance dialogues and their rendering to telephone audio."""

from pathlib import Path

DIALOGUES_DIR = Path(__file__).parent / "dialogues"
