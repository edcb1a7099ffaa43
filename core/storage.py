"""Object store on a local directory.

Originals are content-addressed (sha256) and written once; derived outputs
(transcript, analysis) live under the call id and are replaced atomically,
so a reader never sees half a file and a crash never leaves one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(target: Path, write: Any) -> None:
    """Write `target` through `write(fh)` into a temporary file, fsync, rename: a reader
    never sees half a file, and a crash leaves the old one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    # Originals --------------------------------------------------------------
    def original_key(self, sha256: str, suffix: str) -> str:
        return f"originals/{sha256[:2]}/{sha256}{suffix.lower()}"

    def put_original(self, source: Path, sha256: str) -> str:
        """Copy `source` in under its hash; a second copy of the same bytes is a no-op."""
        key = self.original_key(sha256, source.suffix)
        target = self.path(key)
        if not target.exists():
            def copy(fh: BinaryIO) -> None:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, fh, CHUNK)

            atomic_write(target, copy)
        return key

    # Derived outputs -------------------------------------------------------
    def output_key(self, call_id: str, name: str) -> str:
        return f"calls/{call_id}/{name}"

    def put_json(self, key: str, data: Any) -> str:
        body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
        atomic_write(self.path(key), lambda fh: fh.write(body))
        return key

    def get_json(self, key: str) -> Any:
        return json.loads(self.path(key).read_text("utf-8"))

    # Common ----------------------------------------------------------------
    def path(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"object key escapes the store: {key!r}")
        return target

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def get_store() -> ObjectStore:
    from core.settings import get_settings

    return ObjectStore(get_settings().objects_dir)


def load_outputs(store: ObjectStore, done: dict[str, str]) -> tuple[Any, Any]:
    """(Transcript, Analysis) from a call's finished-stage keys (`Call.outputs()`); None
    for a stage that has not finished or whose object is gone."""
    from core.schemas import Analysis, Transcript

    def read(stage: str, model: Any) -> Any:
        key = done.get(stage)
        return model.model_validate(store.get_json(key)) if key and store.exists(key) else None

    return read("transcribe", Transcript), read("analyze", Analysis)

