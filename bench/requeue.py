"""How long a call waits after its worker is killed with -9 mid-transcription.

    python bench/requeue.py [--rounds 3] [--json out.json]

Two `callqa worker --queues gpu` processes on a private redis-server (the crash-safety
settings as configured: CALLQA_STAGE_LEASE_S, CALLQA_REAP_INTERVAL_S,
CALLQA_BROKER_VISIBILITY_TIMEOUT_S). Each round queues one sample call, waits until a
worker is transcribing it, SIGKILLs that worker's process group, and times how long
until the surviving worker is running the call again (`picked_up_s`). A replacement
worker is started for the next round. Figures: every round's time, mean and max.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from bench.cluster import RedisServer, Worker
from bench.common import ROOT, machine, report, sample_items


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="Kills (default: %(default)s).")
    parser.add_argument("--model", default=None, help="Whisper model (default: base).")
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "bench-samples",
                        help="Where the sample calls are rendered (default: %(default)s).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    files = [i.audio for i in sample_items(args.samples, args.rounds) if i.kind == "stereo"]
    work = Path(tempfile.mkdtemp(prefix="callqa-bench-requeue-"))
    server = RedisServer()
    os.environ.update({"CALLQA_DATA_DIR": str(work / "data"), "CALLQA_BROKER_URL": server.url,
                       "CALLQA_TRANSCRIBE_BATCH_CALLS": "1"})
    os.environ.pop("CALLQA_DATABASE_URL", None)
    if args.model:
        os.environ["CALLQA_ASR_MODEL"] = args.model

    from sqlalchemy import select

    from core.celery_app import configure_celery
    from core.db import StageRun, session_scope, upgrade
    from core.settings import get_settings, reset_settings
    from ingest import ingest_paths

    reset_settings()
    upgrade()  # a start-up path: the schema before anything reads or writes it
    settings = get_settings()
    configure_celery(settings)
    workers = [Worker("gpu", dict(os.environ), work / f"gpu-{n}.log") for n in range(2)]
    rounds: list[dict[str, Any]] = []
    try:
        for w in workers:
            w.wait_ready()
        for n, path in enumerate(files):
            (result,) = ingest_paths([path], process=True).accepted
            holder = None
            deadline = time.time() + 300
            while holder is None and time.time() < deadline:
                with session_scope() as db:
                    holder = db.scalar(select(StageRun.worker).where(
                        StageRun.call_id == result.call_id, StageRun.stage == "transcribe",
                        StageRun.status == "running"))
                time.sleep(0.05)
            assert holder is not None, "no worker took the call"
            pid = int(holder.split(":")[1])
            victim = next(w for w in workers if w.pid == pid)
            time.sleep(1.0)  # well inside the transcription
            victim.kill()
            killed = time.perf_counter()
            picked = None
            while picked is None and time.perf_counter() - killed < 600:
                with session_scope() as db:
                    run = db.scalar(select(StageRun).where(
                        StageRun.call_id == result.call_id, StageRun.stage == "transcribe"))
                    if run is not None and run.worker not in (holder, None):
                        picked = time.perf_counter() - killed
                time.sleep(0.05)
            rounds.append({"call": result.call_id, "picked_up_s": round(picked or -1, 2)})
            print(f"round {n + 1}: picked up again after {picked:.2f} s", file=sys.stderr)
            workers.remove(victim)
            replacement = Worker("gpu", dict(os.environ), work / f"gpu-r{n}.log")
            workers.append(replacement)
            replacement.wait_ready()
    finally:
        for w in workers:
            w.stop()
        server.stop()
    times = [r["picked_up_s"] for r in rounds]
    report({
        "rounds": len(rounds),
        "picked_up_s_mean": round(statistics.mean(times), 2),
        "picked_up_s_max": max(times),
        "picked_up_s": times,
        "stage_lease_s": settings.stage_lease_s,
        "reap_interval_s": settings.reap_interval_s,
        "visibility_timeout_s": settings.broker_visibility_timeout_s,
        "restore_interval_s": settings.broker_restore_interval_s,
        "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
