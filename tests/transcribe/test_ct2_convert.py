"""CTranslate2 Whisper -> openai-whisper checkpoint: format, mapping, numbers, errors, CLI."""

from __future__ import annotations

import base64
import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from api.cli import app
from core.settings import Settings, get_settings, reset_settings
from samples.truth import word_error_rate
from transcribe.ct2_convert import (
    ConversionError,
    convert_ct2_whisper,
    read_ct2_model,
    whisper_checkpoint,
)
from transcribe.models import list_models, resolve_openai_whisper_checkpoint, resolve_whisper_model

TINY_DIMS = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6,
             "n_audio_layer": 4, "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384,
             "n_text_head": 6, "n_text_layer": 4}
SENTENCE = "Can you please confirm your date of birth and the last four digits of your account number?"


def _tiny_src() -> Path:
    return resolve_whisper_model("tiny.en", Path("/nonexistent"))


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "tiny.en.pt"
    info = convert_ct2_whisper(_tiny_src(), out)
    assert info.output == out and info.dtype == "float16" and not info.quantized
    assert info.alignment_heads == 8
    return out


@pytest.fixture(scope="module")
def sentence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("text2wave") is None:
        pytest.fail("festival is not installed: run scripts/bootstrap.sh --dev")
    wav = tmp_path_factory.mktemp("tts") / "sentence.wav"
    subprocess.run(["text2wave", "-F", "16000", "-o", str(wav)], input=SENTENCE.encode(),
                   check=True)
    return wav


def _mask(dump: bytes) -> np.ndarray:
    return np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)


def test_reads_the_ct2_format() -> None:
    model = read_ct2_model(_tiny_src())
    assert (model.binary_version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.get("decoder/embeddings/weight").shape == (51864, 384)
    assert model.dtypes["encoder/conv1/weight"] == "float16"
    assert int(model.get("encoder/num_heads")) == 6


def test_checkpoint_loads_with_every_key_and_shape(tiny_pt: Path) -> None:
    import whisper
    from whisper.model import ModelDimensions, Whisper

    checkpoint = torch.load(tiny_pt, weights_only=True)
    assert checkpoint["dims"] == TINY_DIMS
    reference = Whisper(ModelDimensions(**TINY_DIMS)).state_dict()
    state = checkpoint["model_state_dict"]
    assert set(state) == set(reference)
    for key, value in reference.items():
        assert state[key].shape == value.shape, key
        assert state[key].dtype == torch.float16, key
    model = whisper.load_model(str(tiny_pt), device="cpu")
    assert model.dims == ModelDimensions(**TINY_DIMS) and not model.is_multilingual
    # The alignment heads from config.json are openai-whisper's own for tiny.en.
    assert np.array_equal(_mask(checkpoint["alignment_heads"]),
                          _mask(whisper._ALIGNMENT_HEADS["tiny.en"]))


def test_same_numbers_as_ctranslate2(tiny_pt: Path, sentence_wav: Path) -> None:
    """Encoder output and decoder logits match CTranslate2 (float32) on real speech."""
    import ctranslate2
    import whisper
    from faster_whisper.audio import decode_audio

    model = whisper.load_model(str(tiny_pt), device="cpu")
    ct2 = ctranslate2.models.Whisper(str(_tiny_src()), device="cpu", compute_type="float32")
    audio = torch.from_numpy(decode_audio(str(sentence_wav)))
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio))[None]
    features = ctranslate2.StorageView.from_array(mel.numpy())
    with torch.no_grad():
        encoded = model.encoder(mel)
    ct2_encoded = np.array(ct2.encode(features, to_cpu=True))
    assert np.abs(ct2_encoded - encoded.numpy()).max() < 1e-3

    tokenizer = whisper.tokenizer.get_tokenizer(False, task="transcribe")
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    result = ct2.generate(features, [prompt], beam_size=1, return_logits_vocab=True)[0]
    tokens = result.sequences_ids[0]
    assert word_error_rate(SENTENCE, tokenizer.decode(tokens)) <= 0.1  # greedy, tiny.en
    with torch.no_grad():
        logits = model.decoder(torch.tensor([prompt + tokens]), encoded)[0].numpy()
    ct2_logits = np.stack([np.array(x).reshape(-1) for x in result.logits[0]])
    ours = logits[len(prompt) - 1: len(prompt) - 1 + len(ct2_logits)]
    allowed = ct2_logits > -1e30  # CTranslate2 sets suppressed tokens to -FLT_MAX
    assert np.abs(ct2_logits - ours)[allowed].max() < 1e-2  # logits are ~10 in magnitude
    assert list(np.where(allowed, ours, -np.inf).argmax(-1)) == [*tokens, tokenizer.eot][: len(ours)]


def test_int8_model_is_dequantized(tmp_path: Path) -> None:
    """An int8 model written by CTranslate2's own spec writer converts to float32."""
    from ctranslate2.specs import model_spec, whisper_spec

    src = read_ct2_model(_tiny_src())
    spec = whisper_spec.WhisperSpec(4, 6, 4, 6)
    for name, value in src.variables.items():
        if value.ndim:
            scope, attr = name.rsplit("/", 1)
            setattr(model_spec.index_spec(spec, scope), attr, value.astype(np.float32))
    spec.decoder.projection.weight = src.get("decoder/projection/weight").astype(np.float32)
    spec.register_vocabulary(
        (_tiny_src() / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    spec.validate()
    spec.optimize(quantization="int8")
    spec.save(str(tmp_path))
    shutil.copy(_tiny_src() / "config.json", tmp_path / "config.json")
    assert read_ct2_model(tmp_path).dtypes["encoder/conv1/weight"] == "int8"

    quantized, info = whisper_checkpoint(tmp_path)
    exact, _ = whisper_checkpoint(_tiny_src(), dtype="float32")
    assert info.quantized and info.dtype == "float32"
    for key, value in exact["model_state_dict"].items():
        got = quantized["model_state_dict"][key]
        assert got.dtype == torch.float32
        # int8 rounding: at most half a step of 1/127 of the row's largest magnitude.
        rows = value.reshape(value.shape[0], -1) if value.ndim > 1 else value.reshape(1, -1)
        step = rows.abs().amax(dim=1, keepdim=True) / 127
        diff = (got.reshape(rows.shape) - rows).abs()
        assert bool((diff <= step * 0.5 + 1e-6).all()), key


def _write_ct2(path: Path, spec: str, version: int = 6) -> None:
    def string(s: str) -> bytes:
        return struct.pack("<H", len(s) + 1) + s.encode() + b"\0"

    data = struct.pack("<I", version) + string(spec) + struct.pack("<II", 1, 1)
    data += string("encoder/scale") + struct.pack("<BBI", 0, 0, 4) + struct.pack("<f", 1.0)
    data += struct.pack("<I", 0)
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_bytes(data)
    (path / "config.json").write_text("{}")


def test_invalid_sources_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"needs model\.bin and config\.json"):
        whisper_checkpoint(tmp_path)

    _write_ct2(tmp_path / "transformer", "TransformerSpec")
    with pytest.raises(ConversionError, match="a TransformerSpec model, not Whisper"):
        whisper_checkpoint(tmp_path / "transformer")

    _write_ct2(tmp_path / "old", "WhisperSpec", version=3)
    with pytest.raises(ConversionError, match="binary version 3 is not supported"):
        whisper_checkpoint(tmp_path / "old")

    _write_ct2(tmp_path / "empty", "WhisperSpec")
    with pytest.raises(ConversionError, match="'encoder/conv1/weight' is missing"):
        whisper_checkpoint(tmp_path / "empty")

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    shutil.copy(_tiny_src() / "config.json", truncated)
    with (_tiny_src() / "model.bin").open("rb") as fh:
        (truncated / "model.bin").write_bytes(fh.read(1 << 20))
    with pytest.raises(ConversionError, match="truncated"):
        whisper_checkpoint(truncated)
    assert not list(tmp_path.glob("**/*.pt"))


runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_cli_convert_and_list(settings: Settings, tmp_path: Path, tiny_pt: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_MODELS_DIR", str(tmp_path / "models"))
    reset_settings()
    settings = get_settings()
    code, output = _run("models", "convert", "--help")
    assert code == 0 and "openai-whisper" in output

    code, output = _run("models", "convert", str(tmp_path / "nope"), str(tmp_path / "x.pt"))
    assert code == 1 and "no such CTranslate2 Whisper model directory" in output
    _write_ct2(tmp_path / "transformer", "TransformerSpec")
    code, output = _run("models", "convert", str(tmp_path / "transformer"), str(tmp_path / "x.pt"))
    assert code == 1 and "not Whisper" in output and not (tmp_path / "x.pt").exists()

    # A converted checkpoint in the models dir is listed as an openai-whisper model ...
    target = settings.model_dir / "mine.pt"
    code, output = _run("models", "convert", "tiny.en", str(target))
    assert code == 0, output
    assert "English only" in output and "8 alignment heads" in output
    code, output = _run("models", "convert", "tiny.en", str(target))
    assert code == 1 and "--force" in output
    infos = {m.name: m for m in list_models(settings.model_dir)}
    assert infos["mine"].engine == "openai-whisper" and infos["mine"].usable
    code, output = _run("models", "list")
    assert code == 0 and "mine" in output and "openai-whisper" in output

    # ... that asr_model can name; a packaged name is converted once into the models dir.
    assert resolve_openai_whisper_checkpoint("mine", settings.model_dir) == target
    assert resolve_openai_whisper_checkpoint(str(tiny_pt), settings.model_dir) == tiny_pt.resolve()
    converted = resolve_openai_whisper_checkpoint("tiny.en", settings.model_dir)
    assert converted == settings.model_dir / "tiny.en.pt"
    mtime = converted.stat().st_mtime_ns
    assert resolve_openai_whisper_checkpoint("tiny.en", settings.model_dir) == converted
    assert converted.stat().st_mtime_ns == mtime
    assert not [p for p in settings.model_dir.iterdir() if p.name.startswith(".")]
