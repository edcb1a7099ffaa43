"""Throughput of the brokered pipeline: N sample calls through Redis and W worker processes.

    python bench/pipeline.py [--calls 6] [--workers 1] [--cpu-workers 1] [--json out.json]

Renders the English sample calls (stereo) on first use, starts a private
redis-server (or uses CALLQA_BROKER_URL / --broker), starts W `callqa worker
--queues gpu` processes and the CPU workers, waits until they are ready, then
ingests the calls (probe, store, register, queue) and waits until every call is
indexed or failed. Everything lands in a fresh data dir (SQLite), so nothing of
yours is touched.

Figures: audio hours processed per wall-clock hour, calls per minute, and where the
time went: worker seconds per stage (from stage_runs) and within transcription
(from each transcript's stage_seconds). Wall-clock time runs from the first file
probed to the last call indexed; worker start-up and model loading are excluded.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import tempfile
import time
from typing import Any

from bench.cluster import RedisServer, Worker
from bench.common import ROOT, machine, report, sample_items


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=6, help="Sample calls (default: %(default)s).")
    parser.add_argument("--workers", type=int, default=1,
                        help="Transcription (gpu queue) worker processes (default: %(default)s).")
    parser.add_argument("--cpu-workers", type=int, default=1,
                        help="Analysis and indexing (cpu queue) workers (default: %(default)s).")
    parser.add_argument("--batch-calls", type=int, default=None,
                        help="Calls per transcription task (default: CALLQA_TRANSCRIBE_BATCH_CALLS).")
    parser.add_argument("--model", default=None,
                        help="Whisper model (default: CALLQA_ASR_MODEL, else base).")
    parser.add_argument("--broker", default=os.environ.get("CALLQA_BROKER_URL"),
                        help="Redis URL (default: CALLQA_BROKER_URL, else a private redis-server).")
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "bench-samples",
                        help="Where the sample calls are rendered (default: %(default)s).")
    parser.add_argument("--work", type=Path, default=None,
                        help="Data dir for the run (default: a temporary folder).")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds to wait at most.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    return parser.parse_args()


def _wait_ready(workers: list[Worker], timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(" ready." in w.tail(20_000) for w in workers):
            return
        dead = [w for w in workers if w.proc.poll() is not None]
        if dead:
            raise RuntimeError(f"worker exited:\n{dead[0].tail()}")
        time.sleep(0.2)
    raise RuntimeError("workers did not become ready")


def main() -> None:
    args = arguments()
    files = [i.audio for i in sample_items(args.samples, args.calls) if i.kind == "stereo"]
    work = args.work or Path(tempfile.mkdtemp(prefix="callqa-bench-pipeline-"))
    redis_server = None if args.broker else RedisServer()
    broker = args.broker or (redis_server.url if redis_server else "")
    os.environ.update({"CALLQA_DATA_DIR": str(work / "data"), "CALLQA_BROKER_URL": broker,
                       "CALLQA_LOG_LEVEL": "INFO"})
    os.environ.pop("CALLQA_DATABASE_URL", None)
    if args.model:
        os.environ["CALLQA_ASR_MODEL"] = args.model
    if args.batch_calls:
        os.environ["CALLQA_TRANSCRIBE_BATCH_CALLS"] = str(args.batch_calls)

    from sqlalchemy import func, select

    from api.cli.pipeline import wait_for_batch
    from core.celery_app import configure_celery
    from core.db import Call, StageRun, session_scope, upgrade
    from core.settings import get_settings, reset_settings
    from core.storage import get_store
    from ingest import ingest_paths

    reset_settings()
    upgrade()  # a start-up path: the schema before anything reads or writes it
    settings = get_settings()
    configure_celery(settings)
    load_before = os.getloadavg()
    workers = [Worker("gpu", dict(os.environ), work / f"gpu-{n}.log")
               for n in range(args.workers)]
    workers += [Worker("cpu", dict(os.environ), work / f"cpu-{n}.log")
                for n in range(args.cpu_workers)]
    try:
        _wait_ready(workers, 300)
        started = time.perf_counter()
        summary = ingest_paths(files)
        ids = [r.call_id for r in summary.accepted if r.call_id]
        counts = wait_for_batch(summary.batch_id, timeout_s=args.timeout, poll_s=0.25)
        wall = time.perf_counter() - started
    finally:
        for w in workers:
            w.stop()
        if redis_server:
            redis_server.stop()

    store = get_store()
    stage_s: dict[str, float] = {}
    transcribe_s: dict[str, float] = {}
    with session_scope() as db:
        audio_s = float(db.scalar(select(func.sum(Call.duration)).where(Call.id.in_(ids))) or 0)
        for run in db.scalars(select(StageRun).where(StageRun.call_id.in_(ids))):
            stage_s[run.stage] = stage_s.get(run.stage, 0.0) + (run.seconds or 0.0)
            if run.stage == "transcribe" and run.output_key:
                for part, s in store.get_json(run.output_key)["stage_seconds"].items():
                    transcribe_s[part] = transcribe_s.get(part, 0.0) + s
    busy = sum(stage_s.values()) or 1.0
    figures: dict[str, Any] = {
        "calls": len(ids),
        "indexed": counts.get("indexed", 0),
        "failed": counts.get("failed", 0),
        "audio_minutes": round(audio_s / 60, 2),
        "wall_s": round(wall, 2),
        "audio_hours_per_hour": round(audio_s / wall, 3),
        "calls_per_min": round(len(ids) / wall * 60, 3),
        "gpu_workers": args.workers,
        "cpu_workers": args.cpu_workers,
        "transcribe_batch_calls": settings.transcribe_batch_calls,
        "model": settings.asr_model,
        "stage_seconds": {k: round(v, 2) for k, v in stage_s.items()},
        "stage_share": {k: round(v / busy, 3) for k, v in stage_s.items()},
        "transcribe_seconds": {k: round(v, 2) for k, v in transcribe_s.items()},
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
