"""Parameter files: one schema check, packaged defaults, the version hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import (
    AnyOf,
    ConfigError,
    ListOf,
    MapOf,
    check,
    load_config,
    params_hash,
    schema_of,
)

SCHEMA = {"section": {"rate": float, "count": int, "enabled": bool},
          "words": MapOf(ListOf(str)), "title": AnyOf((str, MapOf(str)))}


def test_unknown_keys_and_wrong_types_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    check({"section": {"rate": 2, "count": 3, "enabled": True}, "words": {"en": ["a"]},
           "title": {"en": "T"}}, SCHEMA, path)  # an integer is a number
    cases = [({"secton": {}}, r"top level: unknown keys \['secton'\]"),
             ({"section": {"rate": "fast"}}, "section.rate: expected a number, got 'fast'"),
             ({"section": {"count": 2.5}}, "section.count: expected an integer"),
             ({"section": {"count": True}}, "section.count: expected an integer"),
             ({"section": {"enabled": "yes"}}, "section.enabled: expected true or false"),
             ({"words": {"en": ["a", 3]}}, r"words.en\[1\]: expected a string"),
             ({"title": 5}, "title: expected a string, got 5 or expected a mapping")]
    for value, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            check(value, SCHEMA, path)
        assert str(info.value).startswith(str(path))


def test_a_file_merges_sections_and_replaces_content_maps(tmp_path: Path) -> None:
    default = tmp_path / "default.yaml"
    default.write_text("section: {rate: 1.0, count: 2, enabled: true}\nwords: {en: [a], zh: [b]}\n")
    override = tmp_path / "mine.yaml"
    override.write_text("section: {count: 5}\nwords: {en: [c]}\n")
    assert load_config(default, SCHEMA) == {"section": {"rate": 1.0, "count": 2, "enabled": True},
                                            "words": {"en": ["a"], "zh": ["b"]}}
    assert load_config(default, SCHEMA, override) == {
        "section": {"rate": 1.0, "count": 5, "enabled": True}, "words": {"en": ["c"]}}
    override.write_text("section: {count: five}\n")
    with pytest.raises(ConfigError, match=f"{override}: section.count"):
        load_config(default, SCHEMA, override)


@dataclass(frozen=True)
class _Params:
    gap_s: float = 1.0
    sizes: tuple[int, int] = (1, 2)
    name: str | None = None


def test_dataclass_schema_and_hash() -> None:
    schema = schema_of(_Params)
    check({"gap_s": 2, "sizes": [3, 4], "name": None}, schema, Path("x.yaml"))
    with pytest.raises(ConfigError, match="sizes"):
        check({"sizes": "3, 4"}, schema, Path("x.yaml"))
    assert params_hash(_Params()) == params_hash(_Params()) != params_hash(_Params(gap_s=1.5))
    assert len(params_hash({"a": 1})) == 8
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})
