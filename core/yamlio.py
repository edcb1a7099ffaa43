"""YAML for files people edit: a repeated key is an error, not a silent overwrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


MAX_DEPTH = 64


class TooDeep(yaml.YAMLError):
    def __init__(self, line: int, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels")
        self.problem = f"nested deeper than {limit} levels"
        self.problem_mark = yaml.Mark("<yaml>", 0, line, 0, "", 0)


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """TooDeep (a YAMLError) past `limit` nested collections. PyYAML's parser is
    iterative, its composer and constructor recursive: 20,000 nested brackets would be a
    RecursionError (a 500) without this look at the events first."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                raise TooDeep(event.start_mark.line if event.start_mark else 0, limit)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(text: str) -> Any:
    check_depth(text)
    return yaml.load(text, Loader=StrictLoader)


def read_yaml(path: Path) -> Any:
    try:
        return load_yaml(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ValueError(f"{path}{where}: {getattr(exc, 'problem', exc)}") from exc
