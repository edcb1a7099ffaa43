"""`callqa samples list|render`: the bundled dialogues and their telephone audio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.console import LANGUAGES, check_choice, fail, out, progress_bar

app = typer.Typer(help="Sample dialogues and their telephone audio.", no_args_is_help=True)


@app.command("list")
def samples_list(language: Annotated[str | None, typer.Option(help="en or zh.")] = None) -> None:
    """List the bundled dialogues with their expected intents and violations."""
    from samples.dialogue import load_dialogues

    check_choice("--language", language, LANGUAGES)

    table = Table("id", "lang", "intents", "sentiment", "violations")
    for d in load_dialogues(language=language):
        table.add_row(d.id, d.language, ", ".join(d.expected.intents),
                      d.expected.customer_sentiment, ", ".join(d.expected.violations) or "-")
    out.print(table)


@app.command("render")
def samples_render(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Dialogue YAML files or folders (default: the bundled English dialogues).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(
        "data/samples"),
    limit: Annotated[int | None, typer.Option(help="Render only the first N dialogues.")] = None,
) -> None:
    """Render dialogues to 8 kHz G.711 telephone audio (stereo and mono) with ground truth."""
    from samples.dialogue import DialogueError, load_dialogues
    from samples.render import render_all

    try:
        dialogues = load_dialogues(files or None, language="en")
    except DialogueError as exc:
        raise fail(str(exc)) from exc
    dialogues = dialogues[:limit] if limit else dialogues
    if not dialogues:
        raise fail("no English dialogues to render (Chinese dialogues are transcript-only)")
    with progress_bar() as progress:
        task = progress.add_task("rendering", total=len(dialogues), item="")
        rendered = render_all(dialogues, out_dir,
                              on_done=lambda r: progress.update(task, advance=1, item=r.dialogue_id))
    total = sum(r.duration for r in rendered)
    out.print(f"rendered {len(rendered)} call(s), {total / 60:.1f} min of audio, to "
              f"{out_dir}/stereo, {out_dir}/mono and {out_dir}/truth")

