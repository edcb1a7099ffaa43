"""The security corpus (issue 15): one probe per finding of the adversarial test, each
against the real API, database and decoder. The API fixtures are tests/api's."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tests.api.conftest import World, fresh_world, world  # noqa: F401  (fixtures)

HTML = b"<html><script>fetch('/session').then(r=>r.text()).then(alert)</script></html>"


def wav_bytes(seconds: float = 2.0, seed: int = 0, rate: int = 8000, extra: bytes = b"",
              declared_rate: int | None = None) -> bytes:
    """A PCM WAV of noise; `extra` goes in an unknown chunk before the data (FFmpeg skips
    it); `declared_rate` lies in the header."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 3000, int(rate * seconds)).astype("<i2").tobytes()
    hdr_rate = declared_rate or rate
    fmt = struct.pack("<HHIIHH", 1, 1, hdr_rate, hdr_rate * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra:
        pad = b"\0" if len(extra) % 2 else b""
        chunks += b"junk" + struct.pack("<I", len(extra)) + extra + pad
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def write(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


__all__ = ["HTML", "World", "wav_bytes", "write"]
