"""Pipeline metrics for Prometheus, read from the database at scrape time.

Stages run in Celery workers that serve no HTTP, so the API's /metrics reports them from
`stage_runs` (one row per call and stage, shared by every process): stage durations as a
histogram, stage rows by status, and the queue depth per stage (calls waiting for it).
With a Redis broker the length of each Celery queue is reported too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from core.status import IN_STAGE, STAGES, CallStatus, StageStatus

log = logging.getLogger("callqa.metrics")

# Seconds: analysis and indexing take milliseconds, transcription seconds to minutes.
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
BROKER_QUEUES = ("gpu", "cpu")


def stage_durations() -> dict[str, tuple[list[int], float, int]]:
    """Per stage: cumulative counts per bucket, the sum and the count of done stages."""
    from core.db import StageRun, session_scope

    columns: list[Any] = [func.sum(case((StageRun.seconds <= le, 1), else_=0))
                          for le in STAGE_BUCKETS]
    out: dict[str, tuple[list[int], float, int]] = {}
    with session_scope() as db:
        rows = db.execute(select(StageRun.stage, func.count(), func.sum(StageRun.seconds),
                                 *columns)
                          .where(StageRun.status == StageStatus.done,
                                 StageRun.seconds.is_not(None))
                          .group_by(StageRun.stage)).all()
    for stage, count, total, *buckets in rows:
        out[stage] = ([int(b or 0) for b in buckets], float(total or 0.0), int(count))
    return out


def queue_depth() -> dict[str, dict[str, int]]:
    """Per stage: calls waiting for it (`queued`) and stages being worked on (`running`)."""
    from core.db import Call, StageRun, session_scope

    with session_scope() as db:
        by_status = dict(db.execute(select(Call.status, func.count()).group_by(Call.status)).all())
        running = dict(db.execute(select(StageRun.stage, func.count())
                                  .where(StageRun.status == StageStatus.running)
                                  .group_by(StageRun.stage)).all())
    out: dict[str, dict[str, int]] = {}
    for stage in STAGES:
        # A call's status names the stage it waits for or runs (queued: transcription).
        waiting_status = CallStatus.queued if stage == STAGES[0] else IN_STAGE[stage]
        n_running = int(running.get(stage, 0))
        in_stage = int(by_status.get(waiting_status, 0))
        if stage == "transcribe":
            queued = in_stage
            n_running = max(n_running, int(by_status.get(CallStatus.transcribing, 0)))
        else:
            queued = max(0, in_stage - n_running)
        out[stage] = {"queued": queued, "running": n_running}
    return out


def broker_queue_lengths() -> dict[str, int]:
    """LLEN of each Celery queue on a Redis broker; empty for no broker or another kind."""
    from core.settings import get_settings

    url = get_settings().broker_url
    if not url or not url.startswith(("redis://", "rediss://", "unix://")):
        return {}
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return {q: int(client.llen(q)) for q in BROKER_QUEUES}
    except Exception as exc:  # a scrape must not fail because the broker is down
        log.warning("metrics: broker unreachable", extra={"error": str(exc)})
        return {}


class PipelineCollector(Collector):
    def collect(self) -> Iterator[Any]:
        try:
            durations = stage_durations()
            depth = queue_depth()
        except Exception as exc:
            log.warning("metrics: database unavailable", extra={"error": str(exc)})
            return
        hist = HistogramMetricFamily(
            "callqa_stage_duration_seconds", "Seconds per finished stage run (latest attempt "
            "of each call's stage, from stage_runs)", labels=["stage"])
        for stage, (buckets, total, count) in sorted(durations.items()):
            points = [(str(le), n) for le, n in zip(STAGE_BUCKETS, buckets, strict=True)]
            hist.add_metric([stage], [*points, ("+Inf", count)], total)
        yield hist
        queued = GaugeMetricFamily("callqa_queue_depth", "Calls waiting for a stage",
                                   labels=["stage"])
        running = GaugeMetricFamily("callqa_stage_running", "Stages being worked on now",
                                    labels=["stage"])
        for stage, d in depth.items():
            queued.add_metric([stage], d["queued"])
            running.add_metric([stage], d["running"])
        yield queued
        yield running
        lengths = broker_queue_lengths()
        if lengths:
            broker = GaugeMetricFamily("callqa_broker_queue_length",
                                       "Messages in each Celery queue (Redis broker)",
                                       labels=["queue"])
            for q, n in lengths.items():
                broker.add_metric([q], n)
            yield broker
