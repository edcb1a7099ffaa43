"""The `callqa` command line: one Typer app per command group, merged here.

Each module of this package holds one group (ingest.py: ingest, show, calls; search.py:
search, trends, scorecard, customer, phrases, reindex; pipeline.py: status, reprocess;
...), and console.py what they share. Only typer and rich are imported at start-up:
every command imports the pipeline code it needs when it runs (`callqa --help` < 1 s).
A new group is a module with its own `app` added below.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from api.cli import (
    db,
    demo,
    ingest,
    keys,
    models,
    pipeline,
    rules,
    samples,
    search,
    serve,
    train,
    worker,
)
from api.cli.console import get_settings

app = typer.Typer(help="callqa: speech-analytics quality inspection for call centres.",
                  no_args_is_help=True, add_completion=False)
# Top-level commands, in the order `--help` lists them.
for group in (ingest, demo, search, pipeline, train, worker, serve):
    app.add_typer(group.app)
app.add_typer(samples.app, name="samples")
app.add_typer(models.app, name="models")
app.add_typer(rules.app, name="rules")
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    if "--help" in sys.argv[1:]:  # nothing will log: skip loading the settings
        return
    from core.logging import configure_logging

    settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level, settings.log_format)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
