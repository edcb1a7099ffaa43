"""ingest.metadata.resolve_metadata: sidecar JSON > CSV manifest > file-name pattern."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.schemas import CallMetadata
from ingest.metadata import MetadataError, resolve_metadata

PATTERN = r"^(?P<team>[a-z]+)_(?P<agent_id>A\d+)_(?P<customer_id>C\d+)"


def audio(folder: Path, name: str = "service_A300_C900.wav") -> Path:
    # resolve_metadata never opens the audio: any bytes do.
    path = folder / name
    path.write_bytes(b"RIFF")
    return path


def sidecar(path: Path, data: object) -> Path:
    target = path.with_suffix(".json")
    target.write_text(json.dumps(data), "utf-8")
    return target


def manifest(path: Path, rows: list[dict[str, str]], fieldnames: list[str] | None = None) -> Path:
    fieldnames = fieldnames or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


# Precedence -------------------------------------------------------------------------


def test_sidecar_beats_manifest_beats_pattern(tmp_path: Path) -> None:
    wav = audio(tmp_path)
    manifest(tmp_path / "metadata.csv",
             [{"file": wav.name, "agent_id": "A-MANIFEST", "team": "collections"}])
    sidecar(wav, {"agent_id": "A-SIDECAR", "customer_id": "C-SIDECAR"})

    meta = resolve_metadata(wav, pattern=PATTERN)
    assert meta.agent_id == "A-SIDECAR"
    assert meta.customer_id == "C-SIDECAR"
    # The sidecar wins as a whole: nothing is merged in from the manifest or the name.
    assert meta.team is None

    wav.with_suffix(".json").unlink()
    meta = resolve_metadata(wav, pattern=PATTERN)
    assert meta.agent_id == "A-MANIFEST"
    assert meta.team == "collections"
    assert meta.customer_id is None

    (tmp_path / "metadata.csv").unlink()
    meta = resolve_metadata(wav, pattern=PATTERN)
    assert (meta.team, meta.agent_id, meta.customer_id) == ("service", "A300", "C900")


def test_explicit_manifest_and_calls_csv(tmp_path: Path) -> None:
    wav = audio(tmp_path, "x.wav")
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    explicit = manifest(elsewhere / "batch.csv", [{"filename": "x.wav", "agent_id": "A1"}])
    assert resolve_metadata(wav, manifest=explicit).agent_id == "A1"
    # Without an explicit manifest, calls.csv beside the audio is read.
    manifest(tmp_path / "calls.csv", [{"path": "some/dir/x.wav", "agent_id": "A2"}])
    assert resolve_metadata(wav).agent_id == "A2"


def test_manifest_without_a_row_falls_back_to_pattern(tmp_path: Path) -> None:
    wav = audio(tmp_path)
    manifest(tmp_path / "metadata.csv", [{"file": "other.wav", "agent_id": "A9"}])
    assert resolve_metadata(wav, pattern=PATTERN).agent_id == "A300"


def test_nothing_known_gives_empty_metadata(tmp_path: Path) -> None:
    wav = audio(tmp_path, "plain.wav")
    assert resolve_metadata(wav) == CallMetadata()
    # A pattern that does not match the name is not an error.
    assert resolve_metadata(wav, pattern=PATTERN) == CallMetadata()


def test_pattern_with_started_at_and_direction(tmp_path: Path) -> None:
    wav = audio(tmp_path, "2026-10-05T09:14:00+08:00_outbound_A17.wav")
    pattern = (r"^(?P<started_at>[\d:T+-]+)_(?P<direction>inbound|outbound)"
               r"_(?P<agent_id>A\d+)")
    meta = resolve_metadata(wav, pattern=pattern)
    assert meta.direction == "outbound"
    assert meta.agent_id == "A17"
    assert meta.started_at == datetime(2026, 10, 5, 9, 14, tzinfo=timezone(timedelta(hours=8)))
    # Optional groups that did not take part in the match are left unset.
    optional = r"^(?P<started_at>[\d:T+-]+)_(?P<direction>inbound|outbound)(?:_(?P<team>x))?"
    assert resolve_metadata(wav, pattern=optional).team is None


# Values -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["agent,customer", "agent, customer", "agent;customer",
                                   "agent|customer", "agent customer"])
def test_channel_map_string_is_split(tmp_path: Path, value: str) -> None:
    wav = audio(tmp_path)
    sidecar(wav, {"channel_map": value})
    assert resolve_metadata(wav).channel_map == ["agent", "customer"]


def test_channel_map_from_manifest(tmp_path: Path) -> None:
    wav = audio(tmp_path)
    manifest(tmp_path / "metadata.csv", [{"file": wav.name, "channel_map": "customer,agent",
                                          "direction": "outbound", "language": "zh"}])
    meta = resolve_metadata(wav)
    assert meta.channel_map == ["customer", "agent"]
    assert meta.direction == "outbound"
    assert meta.language == "zh"


def test_sidecar_list_channel_map_and_dates(tmp_path: Path) -> None:
    wav = audio(tmp_path)
    sidecar(wav, {"call_id": "c-1", "channel_map": ["customer", "agent"],
                  "started_at": "2026-10-05T01:14:00Z", "direction": "inbound",
                  "unknown_field": "ignored"})
    meta = resolve_metadata(wav)
    assert meta.call_id == "c-1"
    assert meta.channel_map == ["customer", "agent"]
    assert meta.started_at == datetime(2026, 10, 5, 1, 14, tzinfo=UTC)
    assert meta.direction == "inbound"


def test_empty_manifest_cells_are_unset(tmp_path: Path) -> None:
    wav = audio(tmp_path)
    manifest(tmp_path / "metadata.csv",
             [{"file": wav.name, "agent_id": "A1", "direction": "", "started_at": ""}])
    meta = resolve_metadata(wav)
    assert meta.agent_id == "A1"
    assert meta.direction is None
    assert meta.started_at is None


@pytest.mark.parametrize(("field", "value"), [
    ("direction", "sideways"),
    ("started_at", "yesterday"),
    ("channel_map", "agent,robot"),
])
def test_invalid_sidecar_value_names_the_field(tmp_path: Path, field: str, value: str) -> None:
    wav = audio(tmp_path)
    sidecar(wav, {"agent_id": "A1", field: value})
    with pytest.raises(MetadataError) as info:
        resolve_metadata(wav)
    message = str(info.value)
    assert field in message
    assert wav.with_suffix(".json").name in message


@pytest.mark.parametrize(("field", "value"), [("direction", "sideways"),
                                             ("started_at", "yesterday")])
def test_invalid_manifest_value_names_field_and_row(tmp_path: Path, field: str,
                                                    value: str) -> None:
    wav = audio(tmp_path)
    manifest(tmp_path / "metadata.csv", [{"file": wav.name, field: value}])
    with pytest.raises(MetadataError) as info:
        resolve_metadata(wav)
    assert field in str(info.value)
    assert "metadata.csv" in str(info.value)
    assert wav.name in str(info.value)


def test_invalid_pattern_value_names_the_field(tmp_path: Path) -> None:
    wav = audio(tmp_path, "sideways_A1.wav")
    with pytest.raises(MetadataError, match="direction"):
        resolve_metadata(wav, pattern=r"^(?P<direction>[a-z]+)_(?P<agent_id>A\d+)")


@pytest.mark.parametrize("body", ["{not json", "[1, 2, 3]", '"just a string"'])
def test_bad_sidecar_json(tmp_path: Path, body: str) -> None:
    wav = audio(tmp_path)
    wav.with_suffix(".json").write_text(body, "utf-8")
    with pytest.raises(MetadataError) as info:
        resolve_metadata(wav)
    assert wav.with_suffix(".json").name in str(info.value)


@pytest.mark.parametrize("explicit", [True, False])
def test_manifest_without_file_column_raises(tmp_path: Path, explicit: bool) -> None:
    wav = audio(tmp_path)
    path = manifest(tmp_path / ("batch.csv" if explicit else "metadata.csv"),
                    [{"name": wav.name, "agent_id": "A1"}])
    with pytest.raises(MetadataError) as info:
        resolve_metadata(wav, manifest=path if explicit else None)
    assert "file" in str(info.value)
    assert path.name in str(info.value)


def test_manifest_edit_is_seen(tmp_path: Path) -> None:
    """The manifest cache is keyed by mtime: rewriting the file is picked up."""
    wav = audio(tmp_path)
    path = manifest(tmp_path / "metadata.csv", [{"file": wav.name, "agent_id": "A1"}])
    assert resolve_metadata(wav).agent_id == "A1"
    manifest(path, [{"file": wav.name, "agent_id": "A2"}])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert resolve_metadata(wav).agent_id == "A2"
