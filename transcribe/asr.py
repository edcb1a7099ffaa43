"""ASR engines behind one interface. faster-whisper is the default; openai-whisper
(PyTorch, a .pt checkpoint, see transcribe.models.resolve_openai_whisper_checkpoint) is the
second engine.

Models load once per process (cached by path, device and compute type): a
worker pays the load once, not once per call.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, TypeGuard

import numpy as np

from core.devices import resolve_device
from core.schemas import Word
from transcribe.progress import decoded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhisperParams:
    beam_size: int = 5
    vad_filter: bool = False  # the pipeline's own activity already cut the speech (vad.py)
    vad_min_silence_ms: int = 500
    condition_on_previous_text: bool = False
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    language_detection_segments: int = 4
    drop_segment_no_speech_prob: float = 0.8
    # A segment whose words average below this probability is dropped: on line noise
    # Whisper writes fluent text that is not there (0 = keep every segment).
    min_segment_word_probability: float = 0.45
    max_repeats: int = 3
    retry_skipped_max_s: float = 12.0   # speech segments Whisper skipped get a pass of their own
    retry_min_probability: float = 0.5  # ... whose words are kept only if this confident
    retry_after_last_word_only: bool = False  # ... only those after the last word decoded
    stretch_language: bool = True       # no hint: language detected per stretch of speech
    stretch_min_s: float = 2.0          # a stretch shorter than this keeps the call's language
    stretch_min_probability: float = 0.4  # ... and so does one detected less surely than this
    stretch_min_ratio: float = 2.0      # ... or not this many times likelier than the main one
    stretch_window_min_probability: float = 0.1  # a window checked stretch by stretch
    # faster-whisper with word timestamps moves its 30 s window to the last word's end;
    # False moves it by the timestamp tokens, as it does without word timestamps (bare
    # faster-whisper), the words keeping their times. openai-whisper ignores it.
    seek_to_last_word: bool = True
    # Decode again at temperatures 0.2 ... 1.0 (sampling, best of 5) when a window's text
    # fails the thresholds above; off: temperature 0 only (stereo legs: see default.yaml).
    temperature_fallback: bool = False


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
    # With window_languages: (start, end, language probabilities) of each 30 s window
    # the decoder read, from that window's own encoder output (no extra encoder pass).
    windows: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)


class AsrEngine(Protocol):
    name: str
    model_name: str
    version: str

    def transcribe(self, audio: np.ndarray, language: str | None,
                   params: WhisperParams) -> AsrResult: ...


class BatchedAsrEngine(AsrEngine, Protocol):
    """An engine that decodes many clips of one array in batches (a GPU worker's)."""

    batch_size: int

    def transcribe_clips(self, audio: np.ndarray, clips: list[tuple[float, float]],
                         language: str | None, params: WhisperParams) -> AsrResult: ...

    def call_language(self, speech: np.ndarray, segments: int) -> str: ...


def is_batched(engine: AsrEngine) -> TypeGuard[BatchedAsrEngine]:
    """Whether `engine` decodes speech segments in batches (batch_size > 0, on a GPU)."""
    return getattr(engine, "batch_size", 0) > 0 and hasattr(engine, "transcribe_clips")


WHISPER_WINDOW_S = 30.0  # what Whisper hears at once: a longer clip is cut into pieces


def whisper_clips(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Speech segments cut to Whisper's 30 s window, in order (the only splitter)."""
    return [(round(s + k * WHISPER_WINDOW_S, 3), round(min(e, s + (k + 1) * WHISPER_WINDOW_S), 3))
            for s, e in segments for k in range(int(np.ceil((e - s) / WHISPER_WINDOW_S)))]


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


_capture = threading.local()


@lru_cache(maxsize=4)
def _load_faster_whisper(path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    from faster_whisper import WhisperModel

    class Model(WhisperModel):
        """Keeps each window's encoder output while a thread asks for it, so the
        window's language can be read from it afterwards (a detection of its own costs
        a whole encoder pass: 38% of recognition time on a stereo call)."""

        def encode(self, features: Any) -> Any:
            out = super().encode(features)
            kept = getattr(_capture, "outputs", None)
            if kept is not None:
                kept.append(out)
            return out

        def add_word_timestamps(self, segments: list[Any], *args: Any, **kwargs: Any) -> Any:
            """With `seek_to_last_word` off: the segments keep their timestamp-token times
            and their words are invisible to faster-whisper's `get_end`, so the next window
            starts where the timestamp tokens say (what bare faster-whisper does)."""
            if getattr(_capture, "seek_to_last_word", True):
                return super().add_word_timestamps(segments, *args, **kwargs)
            times = [[(sub["start"], sub["end"]) for sub in segment] for segment in segments]
            last = super().add_word_timestamps(segments, *args, **kwargs)
            for segment, kept in zip(segments, times, strict=True):
                for sub, (start, end) in zip(segment, kept, strict=True):
                    sub["start"], sub["end"] = start, end
                    sub["words"] = _HiddenFromSeek(sub["words"])
            return last

    return Model(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                 local_files_only=True)


def _temperatures(params: WhisperParams) -> tuple[float, ...]:
    """Whisper's temperature schedule (both engines' default), or greedy/beam alone."""
    return (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if params.temperature_fallback else (0.0,)


class _HiddenFromSeek(list[Any]):
    """Words that faster-whisper's `get_end` (which reads them reversed) does not see."""

    def __reversed__(self) -> Any:
        return iter(())


def _norm(token: str) -> str:
    return re.sub(r"[^\w]", "", token.lower())


def kept(no_speech_prob: float, avg_logprob: float, words: list[Word],
         params: WhisperParams) -> bool:
    """Whether a decoded segment is speech: not Whisper's no-speech call, and its words
    confident enough on average."""
    if no_speech_prob > params.drop_segment_no_speech_prob \
            and avg_logprob < params.log_prob_threshold:
        return False
    if words and not any(_norm(w.text) for w in words):
        return False  # punctuation alone (". . ." on line noise) is no speech
    floor = params.min_segment_word_probability
    return not (floor > 0 and words
                and sum(w.probability for w in words) / len(words) < floor)


# The longest phrase a loop is looked for in: Whisper on line noise loops whole clauses
# ("you do not have to pay the $1.2" eight times over, customer leg at 0 dB SNR).
LOOP_MAX_WORDS = 12


def drop_loops(words: list[Word], max_repeats: int) -> list[Word]:
    """Whisper loops ("thank you thank you thank you ..."): keep a looped n-gram once."""
    keys = [_norm(w.text) for w in words]
    out: list[int] = []
    i = 0
    while i < len(words):
        skipped = False
        for n in range(1, LOOP_MAX_WORDS + 1):
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
    return _drop_repeated_phrases([words[k] for k in out], [keys[k] for k in out], max_repeats)


# Loops that are not exact copies back to back (Whisper on a mono call at 0 dB SNR wrote
# "... four holes in the middle of our head, which is Parliamentary, and we're going to
# have to go through ..." ten times, each copy cut or varied a little): an 8-word phrase
# heard more than max_repeats times within 200 words is dropped after those.
REPEAT_PHRASE_WORDS = 8
REPEAT_WINDOW_WORDS = 200


def _drop_repeated_phrases(words: list[Word], keys: list[str], max_repeats: int) -> list[Word]:
    """`keys`: the words' `_norm` forms."""
    n = REPEAT_PHRASE_WORDS
    seen: dict[tuple[str, ...], list[int]] = {}
    dropped: set[int] = set()
    for i in range(len(keys) - n + 1):
        gram = tuple(keys[i:i + n])
        if not all(gram):
            continue
        recent = [k for k in seen.get(gram, []) if i - k <= REPEAT_WINDOW_WORDS]
        if len(recent) >= max_repeats:
            dropped.update(range(i, i + n))
        seen[gram] = [*recent, i]
    return [w for k, w in enumerate(words) if k not in dropped]


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_path: str, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0, batch_size: int = -1) -> None:
        import faster_whisper

        self.device = resolve_device(device, "ctranslate2")
        self.compute_type = resolve_compute_type(compute_type, self.device)
        self.model = _load_faster_whisper(model_path, self.device, self.compute_type, cpu_threads)
        self.model_name = model_path
        self.version = faster_whisper.__version__
        # Batched decoding of speech segments pays off on a GPU; on a CPU one packed
        # pass is faster. -1 = decide by device.
        self.batch_size = (16 if self.device == "cuda" else 0) if batch_size < 0 else batch_size

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, language: str | None,
                   params: WhisperParams, window_languages: bool = False) -> AsrResult:
        if not self.multilingual:
            language = "en"
            window_languages = False
        _capture.seek_to_last_word = params.seek_to_last_word
        try:
            return self._transcribe(audio, language, params, window_languages)
        finally:
            _capture.seek_to_last_word = True

    def _transcribe(self, audio: np.ndarray, language: str | None, params: WhisperParams,
                    window_languages: bool) -> AsrResult:
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
            temperature=_temperatures(params),
            # An initial prompt is echoed into the output on silence; never send one.
            initial_prompt=None,
        )
        if not window_languages:
            return AsrResult(language=info.language, segments=self._keep(segments, params))
        # The generator decodes lazily: a segment comes from the window encoded last.
        outputs: list[Any] = []
        _capture.outputs = outputs
        try:
            spans: dict[int, list[float]] = {}
            found = []
            for seg in segments:
                found.append(seg)
                span = spans.setdefault(len(outputs) - 1, [seg.start, seg.end])
                span[0], span[1] = min(span[0], seg.start), max(span[1], seg.end)
        finally:
            _capture.outputs = None
        windows = []
        for k, (start, end) in sorted(spans.items()):
            if k < 0:
                continue
            ranked = self.model.model.detect_language(outputs[k])[0]
            windows.append((start, end, {str(t[2:-2]): float(p) for t, p in ranked[:5]}))
        return AsrResult(language=info.language, segments=self._keep(found, params),
                         windows=windows)

    def detect_language(self, audio: np.ndarray) -> dict[str, float]:
        """Language probabilities of one stretch of speech (one encoder pass)."""
        if not self.multilingual:
            return {"en": 1.0}
        _, _, ranked = self.model.detect_language(audio=audio)
        return {str(lang): float(p) for lang, p in ranked[:5]}

    def call_language(self, speech: np.ndarray, segments: int) -> str:
        """The language of a call's speech, decided over `segments` 30 s windows."""
        if not self.multilingual:
            return "en"
        language, _, _ = self.model.detect_language(speech, language_detection_segments=segments)
        return str(language)

    def transcribe_clips(self, audio: np.ndarray, clips: list[tuple[float, float]],
                         language: str | None, params: WhisperParams) -> AsrResult:
        """Each speech segment decoded on its own, `batch_size` at a time
        (BatchedInferencePipeline): times come back on the call's own clock."""
        from faster_whisper import BatchedInferencePipeline

        if not self.multilingual:
            language = "en"
        pieces = [{"start": s, "end": e} for s, e in whisper_clips(clips)]
        segments, info = BatchedInferencePipeline(self.model).transcribe(
            audio, language=language, beam_size=params.beam_size, word_timestamps=True,
            clip_timestamps=pieces, batch_size=self.batch_size,
            no_speech_threshold=params.no_speech_threshold,
            log_prob_threshold=params.log_prob_threshold,
            compression_ratio_threshold=params.compression_ratio_threshold,
            language_detection_segments=params.language_detection_segments, initial_prompt=None)
        return AsrResult(language=info.language, segments=self._keep(segments, params))

    @staticmethod
    def _keep(segments: Any, params: WhisperParams) -> list[AsrSegment]:
        out = []
        for seg in segments:  # a generator: each segment is decoded as it is read
            decoded(seg.end - seg.start)
            # Inside the segment: the word aligner sometimes puts a segment's last words
            # at the end of its 30 s window (tiny.en: 16 s after the segment ended).
            words = [Word(start=round(min(max(w.start, seg.start), seg.end), 3),
                          end=round(min(max(w.end, seg.start), seg.end), 3), text=w.word,
                          probability=round(w.probability, 4)) for w in (seg.words or [])]
            if not kept(seg.no_speech_prob, seg.avg_logprob, words, params):
                continue
            out.append(AsrSegment(seg.start, seg.end, seg.text, seg.avg_logprob,
                                  seg.no_speech_prob, words))
        return out


# compute types (faster-whisper's names) that mean half precision when on a GPU; openai-whisper
# has no int8 kernels, so the int8 types fall back to their float part.
_HALF = {"auto", "default", "float16", "int8_float16"}
_FULL = {"float32", "int8", "int8_float32", "int16", "bfloat16", "int8_bfloat16"}


@lru_cache(maxsize=4)
def _load_openai_whisper(path: str, device: str) -> Any:
    """whisper.load_model(path), plus the checkpoint's alignment heads (load_model applies
    them only to its downloaded models; the converter stores them beside the state dict).

    Like load_model, the weights become float32 whatever the checkpoint stores; with fp16
    openai-whisper casts them per layer (its own Linear/Conv1d), LayerNorm stays float32.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        model.set_alignment_heads(heads)
    del checkpoint
    return model.to(device).eval()


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, checkpoint_path: str, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0) -> None:
        import whisper

        self.device = resolve_device(device, "torch")
        if compute_type not in _HALF | _FULL:
            raise ValueError(f"compute type {compute_type!r} is not known")
        # fp16 only on CUDA: on CPU openai-whisper would warn and run float32 anyway.
        self.fp16 = self.device.startswith("cuda") and compute_type in _HALF
        self.compute_type = "float16" if self.fp16 else "float32"
        if compute_type not in ("auto", "default", self.compute_type):
            log.info("openai-whisper runs %s, not %s", self.compute_type, compute_type)
        if cpu_threads > 0 and self.device == "cpu":
            import torch

            torch.set_num_threads(cpu_threads)
        self.model = _load_openai_whisper(checkpoint_path, self.device)
        self.model_name = checkpoint_path
        self.version = whisper.__version__

    @property
    def multilingual(self) -> bool:
        return bool(self.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, language: str | None,
                   params: WhisperParams) -> AsrResult:
        if not self.multilingual:
            language = "en"
        # No VAD here (openai-whisper has none): vad_filter is ignored, as the pipeline
        # already feeds only detected speech. language_detection_segments has no equivalent:
        # openai-whisper detects the language on the first 30 s.
        result = self.model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=language,
            task="transcribe",
            beam_size=params.beam_size,
            best_of=5,  # faster-whisper's default for the temperature fallback
            temperature=_temperatures(params),
            fp16=self.fp16,
            word_timestamps=True,
            condition_on_previous_text=params.condition_on_previous_text,
            no_speech_threshold=params.no_speech_threshold,
            logprob_threshold=params.log_prob_threshold,
            compression_ratio_threshold=params.compression_ratio_threshold,
            # An initial prompt is echoed into the output on silence; never send one.
            initial_prompt=None,
            verbose=None,
        )
        out = []
        for seg in result["segments"]:
            words = [Word(start=round(float(w["start"]), 3), end=round(float(w["end"]), 3),
                          text=w["word"], probability=round(float(w["probability"]), 4))
                     for w in seg.get("words") or []]
            if not kept(seg["no_speech_prob"], seg["avg_logprob"], words, params):
                continue
            out.append(AsrSegment(float(seg["start"]), float(seg["end"]), seg["text"],
                                  float(seg["avg_logprob"]), float(seg["no_speech_prob"]), words))
        return AsrResult(language=result.get("language") or language or "en", segments=out)


def load_engine(engine: str, model_path: str, device: str = "auto", compute_type: str = "auto",
                cpu_threads: int = 0, batch_size: int = -1) -> AsrEngine:
    if engine == "faster-whisper":
        return FasterWhisperEngine(model_path, device, compute_type, cpu_threads, batch_size)
    if engine == "openai-whisper":
        return OpenAIWhisperEngine(model_path, device, compute_type, cpu_threads)
    raise ValueError(f"ASR engine {engine!r} is not available in this build")
