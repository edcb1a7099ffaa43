"""The Celery app. With no broker configured, tasks run in-process (eager).

Routing: transcription on the `gpu` queue, analysis and indexing on `cpu`.
Acks are late and a lost worker's task is rejected back to the queue, so a
worker killed mid-task loses no call; every stage is idempotent.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init

from core.settings import Settings, get_settings

TASK_MODULES = ["transcribe.tasks", "analysis.tasks", "search.tasks", "core.webhooks"]

celery_app = Celery("callqa", include=TASK_MODULES)


def configure_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    eager = settings.broker_url is None
    if celery_app.conf.broker_url != (settings.broker_url or "memory://"):
        # Another broker (tests, benchmarks): forget the pools bound to the old one.
        celery_app._pool = None
        amqp = celery_app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
    celery_app.conf.update(
        broker_url=settings.broker_url or "memory://",
        result_backend=settings.result_backend,
        task_always_eager=eager,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=settings.result_backend is None,
        task_routes={
            "callqa.transcribe": {"queue": "gpu"},
            "callqa.transcribe_batch": {"queue": "gpu"},
            "callqa.analyze": {"queue": "cpu"},
            "callqa.index": {"queue": "cpu"},
            "callqa.webhook": {"queue": "cpu"},
        },
        broker_connection_retry_on_startup=True,
        # Redis: an unacked message goes back to its queue after the visibility timeout,
        # swept every restore interval by idle workers. A dead worker's stages come back
        # sooner through their leases (core.pipeline); see docs/deploy.md.
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "unacked_restore_interval": settings.broker_restore_interval_s,
            "unacked_restore_throttle": 1,
        },
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return celery_app


configure_celery()


@worker_init.connect
def _migrate_on_start(**_: Any) -> None:
    """A worker's start is a start-up path: the schema is brought to head before the pool
    takes a task (a no-op when compose's `migrate` service or the API did it first)."""
    from core.db import upgrade

    upgrade()
