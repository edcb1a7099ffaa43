"""Hyper-parameter files: checked against a schema, defaults from the packaged file.

Every stage's YAML (transcribe/config, analysis/config) is the one place its defaults
live. A file named in settings (CALLQA_TRANSCRIBE_PARAMS, CALLQA_SENTIMENT_PATH, ...)
overrides what it names: its parameter sections merge key by key into the packaged
file's, its content maps (languages, intents) replace the packaged ones whole. A key
the schema does not know, or a value of the wrong type, is refused with the file's
path and the key's place in it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.yamlio import read_yaml


class ConfigError(ValueError):
    """A parameter file that does not match its schema; the message names file and key."""


@dataclass(frozen=True)
class MapOf:
    """A mapping with keys of the user's choosing (languages, intent ids)."""

    value: Any


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class Nullable:
    value: Any


@dataclass(frozen=True)
class AnyOf:
    """The first of several schemas that matches (a title as text, or per language)."""

    options: tuple[Any, ...]


Schema = Any  # a type, a dict of key -> Schema (a section), MapOf, ListOf, Nullable, AnyOf

_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}


def _fail(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where or 'top level'}: {message}")


def check(value: Any, schema: Schema, path: Path, where: str = "") -> None:
    """Raise ConfigError unless `value` matches `schema`."""
    if isinstance(schema, Nullable):
        if value is not None:
            check(value, schema.value, path, where)
        return
    if isinstance(schema, AnyOf):
        errors = []
        for option in schema.options:
            try:
                return check(value, option, path, where)
            except ConfigError as exc:
                errors.append(str(exc).split(": ", 2)[-1])
        raise _fail(path, where, " or ".join(errors))
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise _fail(path, where, "expected a mapping")
        unknown = sorted(str(k) for k in value if k not in schema)
        if unknown:
            raise _fail(path, where, f"unknown keys {unknown} (known: {', '.join(schema)})")
        for key, item in value.items():
            check(item, schema[key], path, f"{where}.{key}" if where else str(key))
        return
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            raise _fail(path, where, "expected a mapping")
        for key, item in value.items():
            check(item, schema.value, path, f"{where}.{key}" if where else str(key))
        return
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            raise _fail(path, where, "expected a list")
        for i, item in enumerate(value):
            check(item, schema.item, path, f"{where}[{i}]")
        return
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) if schema is float
          else isinstance(value, int) and not isinstance(value, bool) if schema is int
          else isinstance(value, schema))
    if not ok:
        raise _fail(path, where, f"expected {_NAMES.get(schema, schema.__name__)}, "
                                 f"got {value!r}")


def schema_of(klass: type) -> dict[str, Schema]:
    """The section schema of a parameter dataclass, from its field annotations."""
    hints = typing.get_type_hints(klass)
    return {f.name: _from_hint(hints[f.name]) for f in dataclasses.fields(klass)}


def _from_hint(hint: Any) -> Schema:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return Nullable(_from_hint(rest[0]))
    if origin in (list, tuple):
        return ListOf(_from_hint(args[0]))
    return hint


def merged(base: Any, override: Any, schema: Schema) -> Any:
    """`override` over `base`: sections merge key by key, anything else is replaced."""
    if isinstance(schema, dict) and isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: merged(base.get(k), v, schema[k]) if k in base else v
                           for k, v in override.items()}}
    return override


def load_config(default: Path, schema: dict[str, Schema], path: Path | None = None
                ) -> dict[str, Any]:
    """The packaged file `default`, with `path` (if another file) merged over it."""
    base = read_yaml(default) or {}
    check(base, schema, default)
    if path is None or Path(path).resolve() == default.resolve():
        return dict(base)
    raw = read_yaml(Path(path)) or {}
    check(raw, schema, Path(path))
    result: dict[str, Any] = merged(base, raw, schema)
    return result


def params_hash(*parts: Any) -> str:
    """8 hex digits over parameters (dataclasses, dicts, lists, scalars): what a stage
    records beside its version, so a changed YAML shows on every call it touched."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return plain(dataclasses.asdict(value))
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [plain(v) for v in value]
            return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
        if isinstance(value, Path):
            return str(value)
        return value

    text = json.dumps([plain(p) for p in parts], sort_keys=True, ensure_ascii=False,
                      default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
