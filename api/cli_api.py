"""`callqa serve` and `callqa keys create|list|revoke` (registered in api/cli.py)."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


def get_settings() -> Any:
    """core.settings.get_settings, imported on first use: `callqa --help` stays fast."""
    from core.settings import get_settings as settings

    return settings()


keys_app = typer.Typer(help="API keys for the REST API (stored hashed).", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. crm-prod.")],
    role: Annotated[str, typer.Option(help="qa, manager, crm or admin.")] = "qa",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key. The key is printed once: only its hash is stored."""
    from api import audit
    from api.keys import create_key
    from core.db import session_scope

    try:
        with session_scope() as db:
            row, plain = create_key(db, name, role)
            audit.record(db, _actor(), "key_create", f"key:{row.id}",
                         {"name": row.name, "role": row.role, "prefix": row.prefix})
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        print(json.dumps({"id": row.id, "name": row.name, "role": row.role, "key": plain}))
        return
    out.print(f"key {row.id} for {row.name} ({row.role}):")
    print(plain)
    err.print("store it now: it is not shown again")


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List keys (prefix, role, last use); never the keys themselves."""
    from api.keys import list_keys
    from api.models import utc
    from core.db import session_scope

    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    with session_scope() as db:
        if as_json:
            def iso(v: Any) -> str | None:
                return utc(v).isoformat() if v is not None else None

            out.print_json(data=[{"id": k.id, "name": k.name, "role": k.role,
                                  "prefix": k.prefix, "created_at": iso(k.created_at),
                                  "last_used_at": iso(k.last_used_at),
                                  "revoked_at": iso(k.revoked_at)}
                                 for k in list_keys(db, include_revoked=all_keys)])
            return
        for k in list_keys(db, include_revoked=all_keys):
            table.add_row(str(k.id), k.name, k.role, k.prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(ident: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key: it stops working at once."""
    from api import audit
    from api.keys import revoke_key
    from core.db import session_scope

    try:
        with session_scope() as db:
            row = revoke_key(db, ident)
            if row is not None:
                audit.record(db, _actor(), "key_revoke", f"key:{row.id}",
                             {"name": row.name, "prefix": row.prefix})
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if row is None:
        err.print(f"[red]error:[/red] no key {ident!r}")
        raise typer.Exit(1)
    out.print(f"revoked key {row.id} ({row.name}, {row.prefix})")


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

    settings = get_settings()
    prepare()  # here, once, not in each worker
    os.environ[PREPARED_ENV] = "1"
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.api_host,
                port=port or settings.api_port, workers=workers, log_config=None,
                proxy_headers=False, server_header=False,
                http=TimedH11Protocol, timeout_keep_alive=5)  # slow clients are cut off
