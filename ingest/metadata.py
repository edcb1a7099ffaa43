"""Call metadata from a sidecar JSON, a CSV manifest, or the file name."""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.schemas import CallMetadata

MANIFEST_NAMES = ("metadata.csv", "calls.csv")
SIDECAR_MAX_BYTES = 64 * 1024  # a call's metadata is a few hundred bytes; not a 5 MB agent_id
FILE_COLUMNS = ("file", "filename", "path")


class MetadataError(ValueError):
    pass


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    data = {k.strip(): v for k, v in raw.items() if k and v not in (None, "")}
    channel_map = data.get("channel_map")
    if isinstance(channel_map, str):
        data["channel_map"] = [r.strip() for r in re.split(r"[,;| ]+", channel_map) if r.strip()]
    return data


def parse_metadata(raw: dict[str, Any], source: str) -> CallMetadata:
    try:
        return CallMetadata.model_validate(_clean(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise MetadataError(f"{source}: invalid metadata: {problems}") from exc


def _read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Chinese call-centre exports use."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MetadataError(f"{path.name}: not UTF-8 or GB18030 text")


@lru_cache(maxsize=64)
def _read_manifest(path: Path, _mtime: float) -> dict[str, dict[str, str]]:
    import io

    with io.StringIO(_read_text(path), newline="") as fh:
        reader = csv.DictReader(fh)
        column = next((c for c in FILE_COLUMNS if c in (reader.fieldnames or [])), None)
        if column is None:
            raise MetadataError(f"{path}: CSV manifest needs a 'file' column")
        return {Path(row[column]).name: row for row in reader if row.get(column)}


def load_manifest(path: Path) -> dict[str, dict[str, str]]:
    return _read_manifest(path.resolve(), path.stat().st_mtime)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


def resolve_metadata(
    audio: Path, manifest: Path | None = None, pattern: str | None = None
) -> CallMetadata:
    """Sidecar `<stem>.json` beats a CSV manifest row, which beats the file-name pattern."""
    sidecar = audio.with_suffix(".json")
    if sidecar.is_file():
        if sidecar.stat().st_size > SIDECAR_MAX_BYTES:
            raise MetadataError(f"{sidecar.name}: {sidecar.stat().st_size} bytes is over the "
                                f"{SIDECAR_MAX_BYTES} byte limit for a sidecar")
        try:
            raw = json.loads(_read_text(sidecar))
        except json.JSONDecodeError as exc:
            raise MetadataError(f"{sidecar.name}: not valid JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise MetadataError(f"{sidecar.name}: expected a JSON object")
        return parse_metadata(raw, sidecar.name)
    manifests = [manifest] if manifest else [audio.parent / n for n in MANIFEST_NAMES]
    for candidate in manifests:
        # A recording named calls.csv is not its own manifest.
        if candidate is not None and candidate.is_file() and not _same(candidate, audio):
            row = load_manifest(candidate).get(audio.name)
            if row is not None:
                return parse_metadata(row, f"{candidate.name} row {audio.name}")
    if pattern:
        match = re.search(pattern, audio.stem)
        if match:
            return parse_metadata(match.groupdict(), f"file name {audio.name}")
    return CallMetadata()
