"""`callqa db upgrade`: bring the database schema to the newest migration."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.console import fail, get_settings, out

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Apply the Alembic migrations up to the newest revision (idempotent): run it once
    before serving or starting workers after an upgrade of callqa."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from core.db import migrate

    url = get_settings().sqlalchemy_url
    where = make_url(url).render_as_string(hide_password=True)
    try:
        before = _revision(url)
        migrate(url)
        after = _revision(url)
    except SQLAlchemyError as exc:
        raise fail(f"cannot migrate {where}: {exc}", 2) from exc
    if as_json:
        out.print_json(data={"database": where, "from": before, "to": after})
        return
    out.print(f"{where}: at {after}" + (f" (was {before or 'empty'})" if before != after
                                        else " (already up to date)"))


def _revision(url: str) -> str | None:
    """The schema's Alembic revision (None: an empty database)."""
    from alembic.runtime.migration import MigrationContext

    from core.db import get_engine

    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
