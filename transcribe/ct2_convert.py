"""Convert a CTranslate2 Whisper model into an openai-whisper checkpoint.

The packaged weights are CTranslate2 directories (model.bin + config.json); openai-whisper
loads a torch checkpoint: ``{"dims": ModelDimensions fields, "model_state_dict": ...}``.

model.bin is read here, not through ctranslate2, following the writer in
ctranslate2/specs/model_spec.py (``LayerSpec._serialize``), binary version 6, little endian:

    uint32 version, string spec name, uint32 spec revision,
    uint32 n, n x (string name, uint8 rank, rank x uint32 dim, uint8 dtype,
                   uint32 nbytes, nbytes of data),
    uint32 m, m x (string alias, string target)

where a string is a uint16 length (NUL included), the UTF-8 bytes and a NUL, and dtype is
an index into (float32, int8, int16, int32, float16, bfloat16). Quantized weights come with
a ``<name>_scale`` variable: int8 rows were multiplied by their scale (127 / row max),
int16 by one scalar; they are divided back to float32 here.

The mapping to openai-whisper is one to one except that CTranslate2 fuses attention
projections: self-attention q/k/v in ``linear_0`` and cross-attention k/v in ``linear_1``.
openai-whisper's key projection has no bias; CTranslate2 stores a zero one. (Any key bias
would cancel anyway: q·(k + b) adds the same q·b to every score of a query, which the
softmax ignores.) No scaling is folded into the weights.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.storage import atomic_write

SUPPORTED_BINARY_VERSION = 6
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class ConversionError(ValueError):
    """The source is not a CTranslate2 Whisper model this converter can read."""


@dataclass
class Ct2Model:
    path: Path
    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    dtypes: dict[str, str]  # the stored dtype of every variable (before dequantization)
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        target = self.aliases.get(name, name)
        if target not in self.variables:
            raise ConversionError(f"{self.path}: variable {name!r} is missing")
        return self.variables[target]

    def has(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.variables


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ConversionError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more, "
                                  f"file has {len(self.data)})")
        view = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize("<" + fmt)
        return int(struct.unpack("<" + fmt, self.take(size))[0])

    def string(self) -> str:
        n = self.unpack("H")
        raw = bytes(self.take(n))
        if n == 0 or raw[-1] != 0:
            raise ConversionError(f"{self.path}: malformed string at byte {self.pos - n}")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConversionError(f"{self.path}: malformed string at byte {self.pos - n}") from exc


def _decode(raw: memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def read_ct2_model(path: Path | str) -> Ct2Model:
    """Parse a CTranslate2 model.bin (the file, or the directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise ConversionError(f"{path}: no such file (a CTranslate2 model directory holds "
                              "model.bin and config.json)")
    data = path.read_bytes()
    r = _Reader(data, path)
    version = r.unpack("I")
    if version != SUPPORTED_BINARY_VERSION:
        raise ConversionError(
            f"{path}: CTranslate2 binary version {version} is not supported (expected "
            f"{SUPPORTED_BINARY_VERSION}); is this a CTranslate2 model.bin?")
    spec = r.string()
    revision = r.unpack("I")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for _ in range(r.unpack("I")):
        name = r.string()
        shape = tuple(r.unpack("I") for _ in range(r.unpack("B")))
        type_id = r.unpack("B")
        if type_id >= len(CT2_DTYPES):
            raise ConversionError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
        dtype = CT2_DTYPES[type_id]
        nbytes = r.unpack("I")
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if nbytes != int(np.prod(shape, dtype=np.int64)) * itemsize:
            raise ConversionError(f"{path}: variable {name!r} has {nbytes} bytes for shape "
                                  f"{list(shape)} of {dtype}")
        variables[name] = _decode(r.take(nbytes), dtype, shape)
        dtypes[name] = dtype
    aliases = {}
    for _ in range(r.unpack("I")):
        alias = r.string()
        aliases[alias] = r.string()
    if r.pos != len(data):
        raise ConversionError(f"{path}: {len(data) - r.pos} unexpected bytes after the model")
    return Ct2Model(path, version, spec, revision, variables, dtypes, aliases)


def _float(model: Ct2Model, name: str) -> np.ndarray:
    """A weight as float, dequantized if it was stored as int8/int16 with a scale."""
    value = model.get(name)
    if model.has(name + "_zero"):
        raise ConversionError(f"{model.path}: {name} is quantized with a zero point (AWQ); "
                              "only float, int8 and int16 models can be converted")
    if model.has(name + "_scale"):
        scale = model.get(name + "_scale").astype(np.float32)
        if scale.ndim == 0:
            return value.astype(np.float32) / scale
        return value.astype(np.float32) / scale.reshape((-1,) + (1,) * (value.ndim - 1))
    if value.dtype.kind != "f":
        raise ConversionError(f"{model.path}: {name} is {value.dtype} without a scale")
    return value


def _scalar(model: Ct2Model, name: str) -> int:
    value = model.get(name)
    if value.ndim != 0:
        raise ConversionError(f"{model.path}: {name} should be a scalar")
    return int(value)


def _count_layers(model: Ct2Model, prefix: str) -> int:
    n = 0
    while model.has(f"{prefix}/layer_{n}/ffn/linear_0/weight"):
        n += 1
    return n


def model_dimensions(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ModelDimensions, from the tensors (and the two num_heads scalars)."""
    conv1 = model.get("encoder/conv1/weight")
    audio_pos = model.get("encoder/position_encodings/encodings")
    embed = model.get("decoder/embeddings/weight")
    text_pos = model.get("decoder/position_encodings/encodings")
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_pos.shape[0]),
        "n_audio_state": int(audio_pos.shape[1]),
        "n_audio_head": _scalar(model, "encoder/num_heads"),
        "n_audio_layer": _count_layers(model, "encoder"),
        "n_vocab": int(embed.shape[0]),
        "n_text_ctx": int(text_pos.shape[0]),
        "n_text_state": int(embed.shape[1]),
        "n_text_head": _scalar(model, "decoder/num_heads"),
        "n_text_layer": _count_layers(model, "decoder"),
    }


def _check_whisper(model: Ct2Model) -> None:
    if model.spec != "WhisperSpec":
        raise ConversionError(f"{model.path}: a {model.spec or 'unnamed'} model, not Whisper")
    if model.has("decoder/projection/weight"):
        proj, embed = model.get("decoder/projection/weight"), model.get("decoder/embeddings/weight")
        tied = (model.aliases.get("decoder/projection/weight") == "decoder/embeddings/weight"
                or (proj.shape == embed.shape and np.array_equal(proj, embed)))
        if not tied:
            raise ConversionError(f"{model.path}: the output projection is not tied to the "
                                  "token embedding, which openai-whisper requires")


def _linear(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray],
            bias: bool = True) -> None:
    out[f"{dst}.weight"] = _float(model, f"{src}/weight")
    if bias:
        out[f"{dst}.bias"] = _float(model, f"{src}/bias")


def _layer_norm(model: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.weight"] = _float(model, f"{src}/gamma")
    out[f"{dst}.bias"] = _float(model, f"{src}/beta")


def _split(model: Ct2Model, src: str, parts: list[str | None], prefix: str,
           out: dict[str, np.ndarray]) -> None:
    """A fused projection back into its parts (None: the part is not kept)."""
    weight = _float(model, f"{src}/weight")
    bias = _float(model, f"{src}/bias")
    if weight.shape[0] % len(parts) or bias.shape != (weight.shape[0],):
        raise ConversionError(f"{model.path}: {src} has shape {list(weight.shape)}, which "
                              f"does not split into {len(parts)}")
    for part, w, b in zip(parts, np.split(weight, len(parts)), np.split(bias, len(parts)),
                          strict=True):
        if part is None:
            continue
        out[f"{prefix}.{part}.weight"] = w
        if part != "key":  # openai-whisper's key projection has no bias
            out[f"{prefix}.{part}.bias"] = b


def whisper_state_dict(model: Ct2Model) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """ModelDimensions and the openai-whisper state dict (numpy arrays) of a CTranslate2 Whisper."""
    _check_whisper(model)
    dims = model_dimensions(model)
    sd: dict[str, np.ndarray] = {}
    _linear(model, "encoder/conv1", "encoder.conv1", sd)
    _linear(model, "encoder/conv2", "encoder.conv2", sd)
    sd["encoder.positional_embedding"] = _float(model, "encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _layer_norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", sd)
        _split(model, f"{src}/self_attention/linear_0", ["query", "key", "value"], f"{dst}.attn", sd)
        _linear(model, f"{src}/self_attention/linear_1", f"{dst}.attn.out", sd)
        _layer_norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln", sd)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0", sd)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2", sd)
    _layer_norm(model, "encoder/layer_norm", "encoder.ln_post", sd)

    sd["decoder.token_embedding.weight"] = _float(model, "decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = _float(model, "decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _layer_norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", sd)
        _split(model, f"{src}/self_attention/linear_0", ["query", "key", "value"], f"{dst}.attn", sd)
        _linear(model, f"{src}/self_attention/linear_1", f"{dst}.attn.out", sd)
        _layer_norm(model, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln", sd)
        _linear(model, f"{src}/attention/linear_0", f"{dst}.cross_attn.query", sd)
        _split(model, f"{src}/attention/linear_1", ["key", "value"], f"{dst}.cross_attn", sd)
        _linear(model, f"{src}/attention/linear_2", f"{dst}.cross_attn.out", sd)
        _layer_norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln", sd)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0", sd)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2", sd)
    _layer_norm(model, "decoder/layer_norm", "decoder.ln", sd)
    return dims, sd


def alignment_heads_dump(heads: list[list[int]], n_layer: int, n_head: int) -> bytes:
    """The (layer, head) pairs in openai-whisper's format: base85 of a gzipped bool mask."""
    mask = np.zeros((n_layer, n_head), dtype=bool)
    for pair in heads:
        layer, head = (int(x) for x in pair)
        if not (0 <= layer < n_layer and 0 <= head < n_head):
            raise ConversionError(f"alignment head {[layer, head]} is outside the decoder "
                                  f"({n_layer} layers x {n_head} heads)")
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def _expected_shapes(dims: dict[str, int]) -> dict[str, tuple[int, ...]] | None:
    """The state-dict shapes openai-whisper builds for these dims (None without whisper)."""
    try:
        import torch
        from whisper.model import AudioEncoder, TextDecoder
    except ImportError:
        return None
    # Whisper(dims) itself cannot be built on the meta device (its alignment_heads buffer is
    # sparse); its state dict is exactly its encoder's and decoder's.
    with torch.device("meta"):
        parts = {
            "encoder": AudioEncoder(dims["n_mels"], dims["n_audio_ctx"], dims["n_audio_state"],
                                    dims["n_audio_head"], dims["n_audio_layer"]),
            "decoder": TextDecoder(dims["n_vocab"], dims["n_text_ctx"], dims["n_text_state"],
                                   dims["n_text_head"], dims["n_text_layer"]),
        }
    return {f"{prefix}.{k}": tuple(v.shape) for prefix, module in parts.items()
            for k, v in module.state_dict().items()}


@dataclass(frozen=True)
class Conversion:
    source: Path
    dims: dict[str, int]
    dtype: str  # of the checkpoint's tensors
    quantized: bool  # the source was int8/int16 (dequantized)
    alignment_heads: int
    output: Path | None = None


def whisper_checkpoint(src: Path | str, dtype: str = "auto") -> tuple[dict[str, Any], Conversion]:
    """The openai-whisper checkpoint dict for a CTranslate2 Whisper directory.

    dtype: float16, float32, or auto (float16 when the source is all float16, else float32;
    dequantized int8/int16 weights are float32).
    """
    import torch

    if dtype not in ("auto", "float16", "float32"):
        raise ConversionError(f"dtype {dtype!r}: use float16, float32 or auto")
    src = Path(src)
    if not src.is_dir() or not (src / "model.bin").is_file() or not (src / "config.json").is_file():
        raise ConversionError(f"{src}: not a CTranslate2 Whisper model directory "
                              "(needs model.bin and config.json)")
    try:
        config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{src / 'config.json'}: unreadable ({exc})") from exc
    if not isinstance(config, dict):
        raise ConversionError(f"{src / 'config.json'}: not a JSON object")
    model = read_ct2_model(src)
    dims, sd = whisper_state_dict(model)

    expected = _expected_shapes(dims)
    if expected is not None:
        missing = sorted(set(expected) - set(sd))
        extra = sorted(set(sd) - set(expected))
        wrong = sorted(k for k in set(expected) & set(sd) if tuple(sd[k].shape) != expected[k])
        if missing or extra or wrong:
            raise ConversionError(f"{src}: does not map onto openai-whisper (missing {missing[:5]}, "
                                  f"unexpected {extra[:5]}, wrong shape {wrong[:5]})")

    floats = {t for t in model.dtypes.values() if t in ("float32", "float16", "bfloat16")}
    quantized = any(n.endswith("_scale") for n in model.variables)
    if dtype == "auto":
        dtype = "float16" if floats == {"float16"} and not quantized else "float32"
    torch_dtype = torch.float16 if dtype == "float16" else torch.float32
    # np.array copies: the arrays are read-only views of model.bin's bytes.
    state = {k: torch.from_numpy(np.array(v)).to(torch_dtype) for k, v in sd.items()}

    checkpoint: dict[str, Any] = {"dims": dims, "model_state_dict": state}
    heads = config.get("alignment_heads") or []
    if heads:
        # load_model() only reads dims and model_state_dict (the alignment_heads buffer is not
        # persistent, so it cannot go in the state dict); the engine applies this with
        # Whisper.set_alignment_heads(), in the format of whisper._ALIGNMENT_HEADS.
        checkpoint["alignment_heads"] = alignment_heads_dump(heads, dims["n_text_layer"],
                                                             dims["n_text_head"])
    checkpoint["converted_from"] = {"path": str(src.resolve()), "spec": model.spec,
                                    "revision": model.revision,
                                    "binary_version": model.binary_version}
    return checkpoint, Conversion(src, dims, dtype, quantized, len(heads))


def convert_ct2_whisper(src: Path | str, out: Path | str, dtype: str = "auto") -> Conversion:
    """Write the openai-whisper checkpoint of a CTranslate2 Whisper directory to out (atomically)."""
    import torch

    checkpoint, info = whisper_checkpoint(src, dtype)
    out = Path(out)
    def write(fh: Any) -> None:
        os.fchmod(fh.fileno(), 0o644)  # mkstemp makes it private; workers share it
        torch.save(checkpoint, fh)

    atomic_write(out, write)
    return replace(info, output=out)
