"""What every command group shares: the consoles, the progress bar, errors, choice and date
checks, `--help` type words. Imports nothing heavy: `callqa --help` stays fast."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.status import CallStatus

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

CALL_STATUSES: tuple[str, ...] = tuple(CallStatus)  # one truth: core.status
LANGUAGES = ("en", "zh")
INSTANT_FORMAT = "YYYY-MM-DD[THH:MM[:SS]][+HH:MM]"


def get_settings() -> Any:
    """core.settings.get_settings, imported on first use: `callqa --help` stays fast."""
    from core.settings import get_settings as settings

    return settings()


def _help_types_as_words() -> None:
    """`--help` names option types as words (TEXT, INTEGER, YYYY-MM-DD) and shows none for
    flags, instead of typer's `<str>`, `<int range>`, `<bool>`."""
    from typer.core import _TyperParameter

    words = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "int range": "INTEGER",
             "float range": "NUMBER", "datetime": "YYYY-MM-DD[THH:MM:SS]", "Path": "PATH",
             "list[str]": "TEXT", "list[Path]": "PATH", "file": "PATH", "directory": "FOLDER"}
    typer_type = _TyperParameter.display_type
    if getattr(typer_type, "callqa_words", False):  # patched once per process
        return

    def display_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        label = typer_type(self, ctx)
        inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
        if "%Y" in inner:  # datetime formats
            return "YYYY-MM-DD[THH:MM:SS]"
        return words.get(inner, inner.upper())

    display_type.callqa_words = True  # type: ignore[attr-defined]
    _TyperParameter.display_type = display_type  # type: ignore[method-assign,assignment]


_help_types_as_words()


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[item]}"), console=err,
                    disable=not err.is_terminal)


def fmt_time(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, whatever the width
    return typer.Exit(code)


def check_choice(option: str, value: str | None, valid: tuple[str, ...]) -> None:
    """An invalid filter value is an error naming the valid ones (exit 2), not an empty list."""
    if value is not None and value not in valid:
        raise fail(f"{option} {value!r}: one of {', '.join(valid)}", 2)


def parse_instant(value: str) -> datetime:
    """A date or an ISO 8601 instant; the error says the format expected."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        # UTC when no offset is given, as the API reads it (and comparable with one that has).
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date or time: expected {INSTANT_FORMAT}, "
                                 "e.g. 2026-11-03 or 2026-11-03T09:00+08:00") from None


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC (naive database times are UTC), as the API writes times."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
