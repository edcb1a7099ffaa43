"""Several calls transcribed together: their speech segments decoded in shared batches.

On a GPU a call's own speech segments rarely fill a batch (a stereo leg has a few
dozen, and the batched pipeline pads the last batch of each leg). Here the speech
segments of every leg of every call in the task are packed into one array (each
segment followed by a second of silence, so each decoded segment maps back to one
leg by its start time) and decoded by one `transcribe_clips` pass per language and
layout (mono calls with `mono_whisper`, as on the one-call path):
faster-whisper's BatchedInferencePipeline decodes each clip on its own, so packing
clips of different calls changes nothing but how full the batches are.

Calls whose language is unknown get it detected first (on their first active leg,
as the one-call path does). A call that fails (bad audio, say) is reported as its
error and never fails the others; an error of the shared pass (GPU out of memory)
is raised for the caller to retry with fewer calls and a smaller batch.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from core.schemas import Transcript, Word
from transcribe.asr import AsrEngine, BatchedAsrEngine, WhisperParams, is_batched, whisper_clips
from transcribe.audio import DecodedAudio
from transcribe.legs import PreparedAudio, prepare
from transcribe.pipeline import (
    Recognised,
    TranscribeOptions,
    TranscribeParams,
    assemble_transcript,
    call_signals,
    decode_spans,
    finish_words,
    layout_params,
    speech_activity,
    transcribe,
)
from transcribe.progress import for_call
from transcribe.vad import Segment

log = logging.getLogger("callqa.transcribe.batch")

GAP_S = 1.0

@dataclass
class _Prepared:
    index: int
    audio: DecodedAudio
    options: TranscribeOptions
    signals: list[np.ndarray]
    activity: list[list[Segment]]
    prepared: PreparedAudio
    activity_s: float
    params: TranscribeParams  # with the Whisper settings of the call's layout (layout_params)
    language: str | None = None
    spans: list[list[Segment]] = field(default_factory=list)  # what is decoded (decode_spans)


def _detect_language(engine: BatchedAsrEngine, item: _Prepared, rate: int) -> str | None:
    for signal, segments in zip(item.signals, item.activity, strict=True):
        if segments:
            speech = np.concatenate([signal[int(s * rate): int(e * rate)] for s, e in segments])
            return engine.call_language(
                speech, item.options.params.whisper.language_detection_segments)
    return None


def _decode_together(engine: BatchedAsrEngine, items: list[_Prepared], language: str,
                     rate: int) -> dict[tuple[int, int], list[Word]]:
    """One packed array, one batched pass; words back per (item, channel) on its clock."""
    chunks: list[np.ndarray] = []
    clips: list[tuple[float, float]] = []
    owners: list[tuple[int, int, float]] = []  # (item, channel, original start - packed start)
    cursor = 0
    gap = np.zeros(int(GAP_S * rate), dtype=np.float32)
    for item in items:
        for ch, (signal, spans) in enumerate(zip(item.signals, item.spans, strict=True)):
            for start, end in whisper_clips(spans):
                piece = signal[int(start * rate): int(end * rate)]
                if len(piece) == 0:
                    continue
                packed_start = cursor / rate
                chunks += [piece, gap]
                clips.append((packed_start, packed_start + len(piece) / rate))
                owners.append((item.index, ch, start - packed_start))
                cursor += len(piece) + len(gap)
    out: dict[tuple[int, int], list[Word]] = defaultdict(list)
    if not clips:
        return out
    packed = np.concatenate(chunks)
    result = engine.transcribe_clips(packed, clips, language, items[0].params.whisper)
    starts = np.array([c[0] for c in clips])
    for seg in result.segments:
        # A segment may start a little before its clip (times are rounded): half a gap of slack.
        k = max(0, int(np.searchsorted(starts, seg.start + GAP_S / 2, side="right")) - 1)
        index, ch, shift = owners[k]
        clip_end = clips[k][1] + shift
        for w in seg.words:
            out[(index, ch)].append(w.model_copy(update={
                "start": round(min(clip_end, w.start + shift), 3),
                "end": round(min(clip_end, w.end + shift), 3)}))
    return out


def transcribe_many(audios: list[DecodedAudio | BaseException], engine: AsrEngine,
                    options: list[TranscribeOptions]) -> list[Transcript | BaseException]:
    """Transcripts in input order; an input that is an exception (audio that would not
    decode) or a call that fails comes back as its exception."""
    results: list[Transcript | BaseException | None] = [None] * len(audios)
    if not is_batched(engine):  # CPU: one packed pass per leg is faster than batching
        for i, (audio, opts) in enumerate(zip(audios, options, strict=True)):
            if isinstance(audio, BaseException):
                results[i] = audio
                continue
            try:
                results[i] = transcribe(audio, engine, opts, progress=for_call(opts.call_id))
            except Exception as exc:
                results[i] = exc
        return _complete(results)

    rate = next((a.sample_rate for a in audios if isinstance(a, DecodedAudio)), 16000)
    prepared: list[_Prepared] = []
    for i, (audio, opts) in enumerate(zip(audios, options, strict=True)):
        if isinstance(audio, BaseException):
            results[i] = audio
            continue
        try:
            t0 = time.perf_counter()
            ready = prepare(audio, opts.params.legs)  # identical legs -> mono, gain
            activity = speech_activity(ready.audio, opts.params)
            item = _Prepared(i, ready.audio, opts, call_signals(ready.audio), activity, ready,
                             time.perf_counter() - t0, layout_params(ready.audio, opts.params),
                             spans=decode_spans(ready.audio, activity, opts.params))
            item.language = opts.language or _detect_language(engine, item, rate)
            prepared.append(item)
        except Exception as exc:
            results[i] = exc
    # One pass per language and Whisper settings: mono calls decode with mono_whisper, as
    # on the one-call path.
    groups: dict[tuple[str, WhisperParams], list[_Prepared]] = defaultdict(list)
    for item in prepared:
        groups[(item.language or "en", item.params.whisper)].append(item)
    words: dict[tuple[int, int], list[Word]] = {}
    asr_seconds: dict[int, float] = {}
    for (language, _), items in groups.items():
        t0 = time.perf_counter()
        words.update(_decode_together(engine, items, language, rate))  # errors: the caller's
        elapsed = time.perf_counter() - t0
        speech = {it.index: sum(e - s for segs in it.spans for s, e in segs) for it in items}
        total = sum(speech.values()) or 1.0
        for it in items:  # the shared pass, split by each call's share of the speech
            asr_seconds[it.index] = elapsed * speech[it.index] / total
        log.info("calls decoded together", extra={"calls": len(items), "language": language,
                                                  "clips": sum(len(whisper_clips(s)) for it in items
                                                               for s in it.spans),
                                                  "seconds": round(elapsed, 3)})
    for item in prepared:
        try:
            t0 = time.perf_counter()
            per_channel = [
                finish_words(signal, segments, words.get((item.index, ch), []), engine,
                             item.language, item.params, rate)
                for ch, (signal, segments) in enumerate(zip(item.signals, item.activity,
                                                            strict=True))]
            asr_s = asr_seconds.get(item.index, 0.0) + time.perf_counter() - t0
            recognised = Recognised(item.prepared, item.activity, per_channel, item.language,
                                    timings={"activity": item.activity_s, "asr": asr_s})
            results[item.index] = assemble_transcript(recognised, engine, item.options)
            # decoded together with the others: this call's audio is done only now
            if (progress := for_call(item.options.call_id)) is not None:
                progress(item.audio.duration, item.audio.duration)
        except Exception as exc:
            results[item.index] = exc
    return _complete(results)


def _complete(results: list[Transcript | BaseException | None]) -> list[Transcript | BaseException]:
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]
