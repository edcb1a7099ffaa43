"""`callqa keys create|list|revoke`: API keys for the REST API."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import err, out

app = typer.Typer(help="API keys for the REST API (stored hashed).", no_args_is_help=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("create")
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


@app.command("list")
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


@app.command("revoke")
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
