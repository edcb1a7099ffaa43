import os
from pathlib import Path

import pytest

from core.storage import ObjectStore, atomic_write, sha256_file


def test_original_stored_once_by_hash(tmp_path: Path) -> None:
    src = tmp_path / "a.WAV"
    src.write_bytes(b"RIFF" + os.urandom(1000))
    store = ObjectStore(tmp_path / "objects")
    digest = sha256_file(src)
    key = store.put_original(src, digest)
    assert key == f"originals/{digest[:2]}/{digest}.wav"
    mtime = store.path(key).stat().st_mtime_ns
    assert store.put_original(src, digest) == key
    assert store.path(key).stat().st_mtime_ns == mtime  # not rewritten
    assert store.path(key).read_bytes() == src.read_bytes()


def test_json_outputs_are_replaced_atomically(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    key = store.output_key("c1", "analysis.json")
    store.put_json(key, {"v": 1})
    store.put_json(key, {"v": 2, "text": "提前还款"})
    assert store.get_json(key) == {"v": 2, "text": "提前还款"}
    leftovers = [p for p in store.path(key).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_write_interrupted_midway_leaves_old_version(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    key = store.put_json(store.output_key("c1", "x.json"), {"v": 1})

    def crash_halfway(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write(b'{"v": 2, "trunc')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(store.path(key), crash_halfway)
    assert store.get_json(key) == {"v": 1}
    assert [p.name for p in store.path(key).parent.iterdir()] == ["x.json"]


def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        ObjectStore(tmp_path / "objects").path("../../etc/passwd")
