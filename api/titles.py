"""Readable titles for intent and rule ids (intents.yaml, rules.yaml), for the CLI tables
and the CSV export: the same source as GET /catalogue. An unknown id stays as it is."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4)
def _tables(intents_path: str | None, rules_version: str) -> tuple[
        dict[str, str | dict[str, str]], dict[str, str | dict[str, str]]]:
    from pathlib import Path

    from analysis.intents import DEFAULT_INTENTS, CueIntentClassifier
    from analysis.tasks import active_rules

    cues = CueIntentClassifier(Path(intents_path) if intents_path else DEFAULT_INTENTS)
    return dict(cues.titles), {r.id: r.title for r in active_rules().rules}


def _current() -> tuple[dict[str, str | dict[str, str]], dict[str, str | dict[str, str]]]:
    from analysis.tasks import active_rules
    from core.settings import get_settings

    path = get_settings().intents_path
    return _tables(str(path) if path else None, active_rules().version)


def _title(table: dict[str, str | dict[str, str]], key: str | None, lang: str) -> str:
    from analysis.rules import localized

    if not key:
        return ""
    title = table.get(key)
    return localized(title, lang) if title is not None else key


def intent_title(intent: str | None, lang: str = "en") -> str:
    return _title(_current()[0], intent, lang)


def rule_title(rule_id: str | None, lang: str = "en") -> str:
    return _title(_current()[1], rule_id, lang)


def labelled(title: str, key: str | None) -> str:
    """'Title (id)' for terminal tables: readable, and the id still there to copy."""
    if not key:
        return "-"
    return key if title == key else f"{title} ({key})"
