"""`callqa serve`: the REST API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.console import get_settings

app = typer.Typer()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default CALLQA_API_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default CALLQA_API_PORT (8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes (uvicorn workers).")] = 1,
) -> None:
    """Run the REST API (OpenAPI at /docs and /openapi.json)."""
    import os

    import uvicorn

    from api.app import PREPARED_ENV, prepare
    from api.server import TimedH11Protocol
    from core.settings import reset_settings

    settings = get_settings()
    prepare()  # here, once, not in each worker
    os.environ[PREPARED_ENV] = "1"  # what the workers' settings read (api_prepared)
    reset_settings()
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.api_host,
                port=port or settings.api_port, workers=workers, log_config=None,
                proxy_headers=False, server_header=False,
                http=TimedH11Protocol, timeout_keep_alive=5)  # slow clients are cut off
