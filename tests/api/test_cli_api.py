"""`callqa keys create|list|revoke` and `callqa serve` (a real server on a real port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from typer.testing import CliRunner

from api.cli import app
from api.keys import hash_key
from core.db import ApiKey, AuditEntry, session_scope
from core.settings import Settings

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_keys_create_list_revoke(settings: Settings) -> None:
    created = runner.invoke(app, ["keys", "create", "crm-prod", "--role", "crm", "--json"])
    assert created.exit_code == 0, created.output
    info = json.loads(created.stdout)
    assert info["role"] == "crm" and info["key"].startswith("cqa_")
    with session_scope() as db:
        row = db.get(ApiKey, info["id"])
        assert row is not None
        assert row.key_hash == hash_key(info["key"]) and info["key"] not in (row.prefix, row.key_hash)
        assert row.prefix == info["key"][:12]

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "crm-prod" in listed.output
    assert info["key"] not in listed.output and info["key"][:12] in listed.output

    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as client:
        assert client.get("/customers/x/summary",
                          headers={"X-API-Key": info["key"]}).status_code == 404
        revoked = runner.invoke(app, ["keys", "revoke", info["key"][:12]])
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert client.get("/customers/x/summary",
                          headers={"X-API-Key": info["key"]}).status_code == 401
    assert "crm-prod" not in runner.invoke(app, ["keys", "list"]).output
    assert "crm-prod" in runner.invoke(app, ["keys", "list", "--all"]).output

    bad = runner.invoke(app, ["keys", "create", "x", "--role", "root"])
    assert bad.exit_code == 1 and "role must be one of" in bad.output
    assert runner.invoke(app, ["keys", "revoke", "999"]).exit_code == 1
    with session_scope() as db:
        actions = [e.action for e in db.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["key_create", "key_revoke"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, port: int, key: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "CALLQA_DATA_DIR": str(tmp_path / "data"),
           "CALLQA_API_BOOTSTRAP_KEY": key, "CALLQA_MAX_UPLOAD_BYTES": "100000"}
    # Two workers over a fresh data dir: the migration and bootstrap key happen once, in
    # the parent, so the workers do not race on them.
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                             "--workers", "2"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_starts_the_api(tmp_path: Path) -> None:
    port, key = _free_port(), "cqa_bootstrap-key-for-the-serve-test"
    for proc in _serve(tmp_path, port, key):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "callqa serve did not come up"
            time.sleep(0.3)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        assert httpx.get(f"{base}/rules").status_code == 401
        rules = httpx.get(f"{base}/rules", headers={"X-API-Key": key})
        assert rules.status_code == 200 and rules.json()["rules"]
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "callqa API"

        # Over a real socket, a chunked upload past the limit is cut off with 413.
        def body() -> Iterator[bytes]:
            yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"'
                   b"\r\n\r\n")
            for _ in range(100):
                yield b"\0" * 8192
            yield b"\r\n--b--\r\n"

        try:
            r = httpx.post(f"{base}/calls", content=body(), timeout=30, headers={
                "X-API-Key": key, "Content-Type": "multipart/form-data; boundary=b"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        except httpx.HTTPError:  # the server may close the connection mid-upload: also refused
            pass
        calls = httpx.get(f"{base}/calls", headers={"X-API-Key": key}).json()
        assert calls["total"] == 0
