"""REST API under load: upload accept rate and search latency at 1, 8 and 32 clients.

    python bench/api.py [--clients 1,8,32] [--uploads 64] [--searches 320] [--docs 440]
                        [--seconds 10] [--workers 1] [--json out.json]

Starts `callqa serve` (uvicorn, --workers processes) on a free loopback port over a fresh data
directory, with an admin bootstrap key. The search index is filled first with --docs
call documents (the 44 scripted dialogues, analysed once, under varied ids, agents and
dates). Then, for each client count, that many threads (one HTTP connection each):

- upload: POST /calls of distinct --seconds long 8 kHz WAV files with metadata and
  process=false, i.e. the door only (stream, probe with a real decoder, hash, store,
  register); transcription is GPU/worker time and is measured by bench/asr.py.
  upload_per_s_cN = accepted uploads / wall time; upload_per_s is the best of them.
- search: GET /search with a rotating mix of free text, role, filters and sorts;
  search_p50_ms_cN / search_p95_ms_cN per request, search_per_s_cN.

Every response must be 2xx (errors are counted and reported).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/api.py`: the repo root, not bench/, comes first on the path
# (bench/api.py would otherwise shadow the api package).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import dataclasses
import io
import os
import socket
import subprocess
import tempfile
import threading
import time
import wave
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from bench.common import machine, report
from search.base import CallDocument

ROOT = Path(__file__).resolve().parent.parent
KEY = "cqa_bench-" + os.urandom(12).hex()
QUERIES: list[dict[str, Any]] = [
    {"q": "payment"}, {"q": "recorded", "role": "agent"}, {"q": '"due date"'},
    {"q": "refund OR charged"}, {"sort": "risk", "min_severity": "high"},
    {"q": "还款"}, {"language": "zh", "sort": "date"}, {"review_status": "unreviewed"},
    {"q": "card -insurance", "sort": "date"}, {"intent": "refund"},
    {"rule_id": "threat_or_abuse", "sort": "risk"}, {"team": "collections", "q": "pay"},
]


def _wav(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, 3000, int(8000 * seconds)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def _documents(n: int) -> list[CallDocument]:
    from analysis import analyze, load_rules
    from analysis.analyze import AnalysisModels
    from samples.dialogue import load_dialogues, scripted_transcript
    from search.documents import build_document

    rules, models = load_rules(), AnalysisModels.default()
    base = []
    for d in load_dialogues()[:n]:  # fewer documents than dialogues: analyse only those used
        transcript = scripted_transcript(d)
        base.append((d, transcript, analyze(transcript, rules, models)))
    docs = []
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for i in range(n):
        d, transcript, analysis = base[i % len(base)]
        meta = d.metadata(["agent", "customer"]) | {
            "call_id": f"{d.id}-{i}", "agent_id": f"A{1000 + i % 25}",
            "started_at": start + timedelta(hours=7 * i)}
        doc = build_document(meta, transcript, analysis)
        doc["call_id"] = f"{d.id}-{i}"
        docs.append(doc)
    return docs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data: Path, port: int, log: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALLQA_DATA_DIR": str(data), "CALLQA_API_BOOTSTRAP_KEY": KEY,
           "CALLQA_LOG_LEVEL": "WARNING"}
    env.pop("CALLQA_BROKER_URL", None)
    with log.open("wb") as out:  # the server's log: a file, never an unread pipe
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                                 "--workers", str(workers)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"callqa serve exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("callqa serve did not come up in 90 s")


@dataclasses.dataclass
class Run:
    seconds: float
    latencies: list[float]
    errors: int


def _load(base: str, clients: int, jobs: list[Any]) -> Run:
    """`clients` threads take jobs (callables of an httpx.Client) until none are left."""
    lock = threading.Lock()
    queue = list(jobs)
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop()
                t0 = time.perf_counter()
                try:
                    ok = job(client)
                except httpx.HTTPError as exc:
                    print(f"request failed: {exc!r}", file=sys.stderr)
                    ok = False
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    errors[0] += not ok

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Run(time.perf_counter() - t0, latencies, errors[0])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000.0, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument("--clients", default="1,8,32", help="Concurrency levels (default 1,8,32).")
    parser.add_argument("--uploads", type=int, default=64, help="Uploads per level (default 64).")
    parser.add_argument("--searches", type=int, default=320,
                        help="Searches per level (default 320).")
    parser.add_argument("--docs", type=int, default=440, help="Calls in the index (default 440).")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="Length of each uploaded recording (default 10 s).")
    parser.add_argument("--workers", type=int, default=1,
                        help="callqa serve --workers (processes; default 1).")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",") if c.strip()]

    with tempfile.TemporaryDirectory(prefix="callqa-bench-api-") as tmp:
        data = Path(tmp) / "data"
        os.environ["CALLQA_DATA_DIR"] = str(data)
        from core.settings import reset_settings

        reset_settings()
        from search import get_backend

        print(f"indexing {args.docs} call documents ...", file=sys.stderr)
        get_backend().index(_documents(args.docs))
        port = _free_port()
        log = Path(tmp) / "server.log"
        proc = _start_server(data, port, log, args.workers)
        base = f"http://127.0.0.1:{port}"
        figures: dict[str, Any] = {"machine": machine(), "docs": args.docs,
                                   "server_workers": args.workers,
                                   "upload_seconds": args.seconds, "clients": levels}
        try:
            seed = 0
            rates = []
            for clients in levels:
                files = []
                for _ in range(args.uploads):
                    seed += 1
                    files.append(_wav(args.seconds, seed))

                def upload(client: httpx.Client, body: bytes = b"", n: int = 0) -> bool:
                    r = client.post("/calls", files={"file": (f"bench-{n}.wav", body,
                                                              "audio/wav")},
                                    data={"agent_id": f"A{n % 25}", "process": "false",
                                          "started_at": "2026-11-03T09:00:00Z"})
                    return r.status_code == 201

                jobs = [lambda c, b=b, n=n: upload(c, b, n) for n, b in
                        enumerate(files, seed - args.uploads)]
                print(f"uploads, {clients} client(s) ...", file=sys.stderr)
                run = _load(base, clients, jobs)
                rate = (len(run.latencies) - run.errors) / run.seconds
                rates.append(rate)
                figures[f"upload_per_s_c{clients}"] = round(rate, 2)
                figures[f"upload_p95_ms_c{clients}"] = round(_pct(run.latencies, 95), 1)
                figures[f"upload_errors_c{clients}"] = run.errors

                def search(client: httpx.Client, params: dict[str, Any]) -> bool:
                    return client.get("/search", params=params).status_code == 200

                queries = [lambda c, p=QUERIES[i % len(QUERIES)]: search(c, p)
                           for i in range(args.searches)]
                print(f"searches, {clients} client(s) ...", file=sys.stderr)
                run = _load(base, clients, queries)
                figures[f"search_p50_ms_c{clients}"] = round(_pct(run.latencies, 50), 1)
                figures[f"search_p95_ms_c{clients}"] = round(_pct(run.latencies, 95), 1)
                figures[f"search_per_s_c{clients}"] = round(len(run.latencies) / run.seconds, 1)
                figures[f"search_errors_c{clients}"] = run.errors
            figures["upload_per_s"] = round(max(rates), 2) if rates else float("nan")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            errors = [line for line in log.read_text(errors="replace").splitlines()
                      if "error" in line.lower() or "Traceback" in line]
            if errors:
                print("server log (errors):\n" + "\n".join(errors[-20:]), file=sys.stderr)
    report(figures, args.json)


if __name__ == "__main__":
    main()
