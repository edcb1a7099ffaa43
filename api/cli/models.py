"""`callqa models list|setup|convert`: local model weights (never downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.console import fail, get_settings, out

app = typer.Typer(help="Local model weights (never downloaded).", no_args_is_help=True)


@app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show installed, usable models and the engine that runs each."""
    from transcribe.models import list_models

    settings = get_settings()
    table = Table("name", "engine", "usable", "path", "note")
    found = list_models(settings.model_dir)
    if as_json:
        out.print_json(data={"models": [
            {"name": m.name, "engine": m.engine, "usable": m.usable,
             "path": str(m.path) if m.path else None, "note": m.note} for m in found],
            "configured": {"model": settings.asr_model, "engine": settings.asr_engine}})
        return
    for m in found:
        table.add_row(m.name, m.engine, "yes" if m.usable else "no", str(m.path or ""), m.note)
    out.print(table)
    out.print("CTranslate2 models also serve openai-whisper: converted once into "
              f"{settings.model_dir}/<name>.pt (or: callqa models convert)")
    out.print(f"configured: CALLQA_ASR_MODEL={settings.asr_model} ({settings.asr_engine})")


@app.command("setup")
def models_setup() -> None:
    """Prepare the configured ASR model (assembles packaged weights, converts for
    openai-whisper; no download)."""
    from transcribe.models import ModelNotFound, resolve_openai_whisper_checkpoint, resolve_whisper_model

    settings = get_settings()
    try:
        if settings.asr_engine == "openai-whisper":
            path = resolve_openai_whisper_checkpoint(settings.asr_model, settings.model_dir)
        else:
            path = resolve_whisper_model(settings.asr_model, settings.model_dir)
    except ModelNotFound as exc:
        raise fail(str(exc)) from exc
    out.print(f"{settings.asr_model}: {path}")


@app.command("convert")
def models_convert(
    src: Annotated[str, typer.Argument(
        metavar="SRC", help="CTranslate2 Whisper model directory (model.bin + config.json), or a packaged "
             "name: tiny.en, base.")],
    out_path: Annotated[Path, typer.Argument(
        metavar="OUT", help="The openai-whisper checkpoint to write (.pt).")],
    dtype: Annotated[str, typer.Option(
        help="float16, float32, or auto (the source's precision; int8 becomes float32).")] = "auto",
    force: Annotated[bool, typer.Option(help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Convert a CTranslate2 Whisper model (faster-whisper) into an openai-whisper checkpoint."""
    import time

    from transcribe.ct2_convert import ConversionError, convert_ct2_whisper
    from transcribe.models import PACKAGED, ModelNotFound, resolve_whisper_model

    if out_path.suffix != ".pt":
        raise fail(f"{out_path}: OUT must be a .pt file")
    if out_path.exists() and not force:
        raise fail(f"{out_path} exists (--force overwrites it)")
    if dtype not in ("auto", "float16", "float32"):
        raise fail("--dtype is auto, float16 or float32")
    if not Path(src).expanduser().is_dir() and src not in PACKAGED:
        raise fail(f"{src}: no such CTranslate2 Whisper model directory, and not a packaged "
                    f"model name ({', '.join(PACKAGED)})")
    settings = get_settings()
    started = time.perf_counter()
    try:
        source = resolve_whisper_model(src, settings.model_dir)
        info = convert_ct2_whisper(source, out_path, dtype)
    except (ModelNotFound, ConversionError) as exc:
        raise fail(str(exc)) from exc
    d = info.dims
    out.print(f"{info.output}: openai-whisper checkpoint from {info.source}")
    out.print(f"  {d['n_audio_layer']}+{d['n_text_layer']} layers, width {d['n_audio_state']}, "
              f"{d['n_audio_head']} heads, {d['n_mels']} mels, vocabulary {d['n_vocab']} "
              f"({'multilingual' if d['n_vocab'] >= 51865 else 'English only'}), "
              f"{info.dtype}{', dequantized' if info.quantized else ''}, "
              f"{info.alignment_heads} alignment heads, {time.perf_counter() - started:.1f} s")

