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
    forms,
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
app.add_typer(forms.app, name="forms")


# Groups that never open the database: they start without migrating it (`db upgrade`
# migrates by itself; `serve` and `worker` migrate in their own start-up paths).
NO_DATABASE = frozenset({"samples", "models", "db", "serve", "worker"})


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    if "--help" in sys.argv[1:] or ctx.resilient_parsing:  # nothing will run
        return
    from core.logging import configure_logging

    settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level, settings.log_format)
    if ctx.invoked_subcommand not in NO_DATABASE:
        _upgrade_database(settings.sqlalchemy_url)


def _upgrade_database(url: str) -> None:
    """Migrations run once, here, before a command touches the database (sessions never
    migrate): an unreachable database is one line and exit 2."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.cli.console import fail
    from core.db import upgrade

    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise fail(f"cannot open the database {where}: {reason}; check CALLQA_DATABASE_URL "
                   "and that the server is running", 2) from exc


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
