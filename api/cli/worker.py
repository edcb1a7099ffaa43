"""`callqa worker`: a Celery worker on the configured broker."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.console import fail, get_settings
from core.logging import configure_logging

app = typer.Typer()

@app.command()
def worker(
    queues: Annotated[str, typer.Option(
        help="Comma-separated: gpu (transcription), cpu (analysis, indexing, webhooks).")
    ] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(
        min=1, help="Worker processes (1: the task runs in the worker process itself).")] = 1,
    preload: Annotated[bool, typer.Option(
        help="Load the ASR model before taking tasks (gpu queue, concurrency 1).")] = True,
    name: Annotated[str | None, typer.Option(
        help="Celery node name (%h = host name); default QUEUES-PID@%h.")] = None,
) -> None:
    """Run a Celery worker on the configured broker (CALLQA_BROKER_URL).

    Models load once per worker process. Each worker also re-queues the stages of
    workers that died (their leases lapsed): see docs/deploy.md."""
    import os

    from celery.signals import setup_logging

    from core.celery_app import celery_app

    settings = get_settings()
    # Our structured logs (key=value or JSON), not Celery's own format.
    setup_logging.connect(lambda **_: configure_logging(settings.log_level, settings.log_format),
                          weak=False)
    if not settings.broker_url:
        raise fail("CALLQA_BROKER_URL is not set: with no broker, tasks run in-process")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names or set(names) - {"gpu", "cpu"}:
        raise fail("--queues is gpu, cpu or gpu,cpu")
    if preload and "gpu" in names and concurrency == 1:
        from transcribe.tasks import engine_from_settings

        engine_from_settings(settings)  # cached for every task of this process
    celery_app.worker_main([
        "worker", "-Q", ",".join(names), "-c", str(concurrency), "--loglevel",
        settings.log_level, "-P", "prefork" if concurrency > 1 else "solo",
        "-n", name or f"{'-'.join(names)}-{os.getpid()}@%h", "--without-mingle",
        "--without-gossip"])

