"""Kill -9 trials of the brokered pipeline: nothing lost, nothing stuck, nothing indexed twice.

    python bench/crash_trials.py [--trials 20] [--kinds gpu,cpu,redis] [--json out.json]

A private redis-server (no persistence), one `callqa worker --queues gpu` and one
`--queues cpu`, real rendered calls (the tiny model unless --model). Each trial queues
two calls (their audio made unique per trial by one sample) and then, by kind:

- gpu: SIGKILLs the GPU worker's process group at a random moment of a transcription;
- cpu: SIGKILLs the CPU worker right as a call's analysis is queued or starting (the
  gap where a worker holds the message before the stage row says so);
- redis: kills redis-server while the calls' messages wait in it and starts it again,
  empty, on the same port.

A replacement is started at once. The trial ends when both calls are indexed (or
--timeout passes). Figures per kind: trials, calls lost (not indexed), stuck (not
final), indexed twice (more index documents than calls), and the worst time to final.
Crash-safety settings are shortened so a trial takes seconds: CALLQA_STAGE_LEASE_S=4,
CALLQA_STAGE_QUEUE_DEADLINE_S=8, CALLQA_REAP_INTERVAL_S=0.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import random
import shutil
import tempfile
import time
from typing import Any

from bench.cluster import RedisServer, Worker
from bench.common import ROOT, machine, report, sample_items

FINAL = ("indexed", "failed")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="Per kind (default: %(default)s).")
    parser.add_argument("--kinds", default="gpu,cpu,redis", help="Default: %(default)s.")
    parser.add_argument("--model", default="tiny.en", help="Whisper model (default: tiny.en).")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="Seconds a trial may take before its calls count as stuck.")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "bench-samples",
                        help="Where the sample calls are rendered (default: %(default)s).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    return parser.parse_args()


def _unique_copy(source: Path, folder: Path, tag: int) -> Path:
    """The same speech with one sample changed: another sha256, so not a duplicate."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"t{tag}-{source.name}"
    shutil.copy(source, target)
    with target.open("r+b") as fh:
        fh.seek(-2, os.SEEK_END)
        fh.write(tag.to_bytes(2, "little", signed=False))
    return target


def main() -> None:
    args = arguments()
    rng = random.Random(args.seed)
    sources = [i.audio for i in sample_items(args.samples, 2) if i.kind == "stereo"][:2]
    work = Path(tempfile.mkdtemp(prefix="callqa-crash-trials-"))
    server = RedisServer()
    os.environ.update({
        "CALLQA_DATA_DIR": str(work / "data"), "CALLQA_BROKER_URL": server.url,
        "CALLQA_TRANSCRIBE_BATCH_CALLS": "1", "CALLQA_ASR_MODEL": args.model,
        "CALLQA_ASR_CPU_THREADS": "1", "CALLQA_STAGE_LEASE_S": "4",
        "CALLQA_STAGE_QUEUE_DEADLINE_S": "8", "CALLQA_REAP_INTERVAL_S": "0.5",
        "CALLQA_RETRY_BACKOFF_S": "0.5", "CALLQA_RETRY_BACKOFF_MAX_S": "4",
        "CALLQA_LOG_LEVEL": "INFO"})
    os.environ.pop("CALLQA_DATABASE_URL", None)
    os.environ.pop("CALLQA_ELASTICSEARCH_URL", None)

    from sqlalchemy import select

    from core.celery_app import configure_celery
    from core.db import Call, StageRun, session_scope, upgrade
    from core.settings import reset_settings
    from ingest import ingest_paths
    from search import get_backend

    reset_settings()
    configure_celery()
    upgrade()  # a start-up path: the schema before anything reads or writes it
    workers = {"gpu": Worker("gpu", dict(os.environ), work / "gpu-0.log"),
               "cpu": Worker("cpu", dict(os.environ), work / "cpu-0.log")}
    for w in workers.values():
        w.wait_ready()

    def row_status(call_ids: list[str], stage: str, statuses: tuple[str, ...]) -> bool:
        with session_scope() as db:
            return db.scalar(select(StageRun.id).where(
                StageRun.call_id.in_(call_ids), StageRun.stage == stage,
                StageRun.status.in_(statuses))) is not None

    def wait_for(cond: Any, timeout: float, poll: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(poll)
        return False

    def replace(kind: str, n: int) -> None:
        workers[kind].kill()
        workers[kind] = Worker(kind, dict(os.environ), work / f"{kind}-{n}.log")
        workers[kind].wait_ready()

    results: dict[str, dict[str, Any]] = {}
    tag = 0
    try:
        for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
            lost = stuck = trials = 0
            worst = 0.0
            ids_all: list[str] = []
            for n in range(args.trials):
                tag += 1
                files = [_unique_copy(s, work / "in", tag) for s in sources]
                started = time.monotonic()
                summary = ingest_paths(files, process=True)
                ids = [r.call_id for r in summary.accepted if r.call_id]
                ids_all += ids
                if kind == "gpu":
                    wait_for(lambda ids=ids: row_status(ids, "transcribe", ("running",)), 120)
                    time.sleep(rng.uniform(0.0, 1.5))
                    replace("gpu", n + 1)
                elif kind == "cpu":
                    wait_for(lambda ids=ids: row_status(ids, "analyze", ("queued", "running")), 240,
                             poll=0.005)
                    time.sleep(rng.uniform(0.0, 0.3))
                    replace("cpu", n + 1)
                else:
                    time.sleep(rng.uniform(0.0, 0.5))
                    port = server.port
                    server.proc.kill()
                    server.proc.wait(timeout=10)
                    server = RedisServer(port=port)  # restarted, empty
                finished = wait_for(lambda ids=ids: _all_final(ids), args.timeout, poll=0.2)
                elapsed = time.monotonic() - started
                worst = max(worst, elapsed)
                trials += 1
                with session_scope() as db:
                    statuses = {c.id: c.status for c in db.scalars(
                        select(Call).where(Call.id.in_(ids)))}
                lost += sum(1 for s in statuses.values() if s == "failed")
                stuck += sum(1 for s in statuses.values() if s not in FINAL)
                print(f"{kind} trial {n + 1}: {statuses} in {elapsed:.1f} s"
                      f"{'' if finished else ' (timed out)'}", file=sys.stderr)
            backend = get_backend()
            docs = backend.get_many(ids_all)
            twice = len(docs) - len({d["call_id"] for d in docs})
            results[kind] = {"trials": trials, "calls": len(ids_all), "lost": lost,
                             "stuck": stuck, "indexed_twice": twice,
                             "index_documents": len(docs), "worst_s": round(worst, 1)}
    finally:
        for w in workers.values():
            w.stop()
        server.stop()
    with session_scope() as db:
        indexed = len(db.scalars(select(Call.id).where(Call.status == "indexed")).all())
    report({"results": results, "index_count": get_backend().count(), "calls_indexed": indexed,
            "model": args.model, "stage_lease_s": 4,
            "stage_queue_deadline_s": 8, "machine": machine(), "work_dir": str(work)}, args.json)


def _all_final(ids: list[str]) -> bool:
    from sqlalchemy import select

    from core.db import Call, session_scope

    with session_scope() as db:
        statuses = [c.status for c in db.scalars(select(Call).where(Call.id.in_(ids)))]
    return len(statuses) == len(ids) and all(s in FINAL for s in statuses)


if __name__ == "__main__":
    main()
