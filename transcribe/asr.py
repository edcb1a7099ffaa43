"""ASR engines behind one interface. faster-whisper is the default.

Models load once per process (cached by path, device and compute type): a
worker pays the load once, not once per call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from core.schemas import Word


@dataclass(frozen=True)
class WhisperParams:
    beam_size: int = 5
    vad_filter: bool = True
    vad_min_silence_ms: int = 500
    condition_on_previous_text: bool = False
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    language_detection_segments: int = 4
    drop_segment_no_speech_prob: float = 0.8
    max_repeats: int = 3


@dataclass
class AsrSegment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: list[Word] = field(default_factory=list)


@dataclass
class AsrResult:
    language: str
    segments: list[AsrSegment]


class AsrEngine(Protocol):
    name: str
    model_name: str
    version: str

    def transcribe(self, audio: np.ndarray, language: str | None,
                   params: WhisperParams) -> AsrResult: ...


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:
        return "cpu"


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@lru_cache(maxsize=4)
def _load_faster_whisper(path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                        local_files_only=True)


def _norm(token: str) -> str:
    return re.sub(r"[^\w]", "", token.lower())


def drop_loops(words: list[Word], max_repeats: int) -> list[Word]:
    """Whisper loops ("thank you thank you thank you ..."): keep a looped n-gram once."""
    keys = [_norm(w.text) for w in words]
    out: list[int] = []
    i = 0
    while i < len(words):
        skipped = False
        for n in range(1, 7):
            gram = keys[i:i + n]
            if len(gram) < n or not all(gram):
                break
            reps = 1
            while keys[i + reps * n: i + (reps + 1) * n] == gram:
                reps += 1
            if reps > max_repeats:
                out += range(i, i + n)
                i += reps * n
                skipped = True
                break
        if not skipped:
            out.append(i)
            i += 1
    return [words[k] for k in out]


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_path: str, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0) -> None:
        import faster_whisper

        self.device = resolve_device(device)
        self.compute_type = resolve_compute_type(compute_type, self.device)
        self.model = _load_faster_whisper(model_path, self.device, self.compute_type, cpu_threads)
        self.model_name = model_path
        self.version = faster_whisper.__version__

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, language: str | None,
                   params: WhisperParams) -> AsrResult:
        if not self.multilingual:
            language = "en"
        segments, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=params.beam_size,
            word_timestamps=True,
            vad_filter=params.vad_filter,
            vad_parameters={"min_silence_duration_ms": params.vad_min_silence_ms},
            condition_on_previous_text=params.condition_on_previous_text,
            no_speech_threshold=params.no_speech_threshold,
            log_prob_threshold=params.log_prob_threshold,
            compression_ratio_threshold=params.compression_ratio_threshold,
            language_detection_segments=params.language_detection_segments,
            # An initial prompt is echoed into the output on silence; never send one.
            initial_prompt=None,
        )
        out = []
        for seg in segments:
            if (seg.no_speech_prob > params.drop_segment_no_speech_prob
                    and seg.avg_logprob < params.log_prob_threshold):
                continue
            words = [Word(start=round(w.start, 3), end=round(w.end, 3), text=w.word,
                          probability=round(w.probability, 4)) for w in (seg.words or [])]
            out.append(AsrSegment(seg.start, seg.end, seg.text, seg.avg_logprob,
                                  seg.no_speech_prob, words))
        return AsrResult(language=info.language, segments=out)


def load_engine(engine: str, model_path: str, device: str = "auto", compute_type: str = "auto",
                cpu_threads: int = 0) -> AsrEngine:
    if engine == "faster-whisper":
        return FasterWhisperEngine(model_path, device, compute_type, cpu_threads)
    raise ValueError(f"ASR engine {engine!r} is not available in this build")
