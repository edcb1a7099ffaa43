"""transcribe(audio, engine, options) -> Transcript.

Stereo calls: speech activity per channel, ASR per channel, the channel is the
speaker; roles from the channel map, or from what each channel says when the
map is unknown. Mono calls: speech activity, diarization into speakers, one
ASR pass, every word to the speaker whose turn it falls in, roles from what
each speaker says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.config import load_config, params_hash, schema_of
from core.schemas import SpeakerTurn, Transcript, Utterance, Word
from transcribe.asr import AsrEngine, WhisperParams, drop_loops, is_batched
from transcribe.audio import DecodedAudio
from transcribe.diarize import DiarizationParams, diarize_mono, pyannote_diarize
from transcribe.legs import LegParams, PreparedAudio, prepare
from transcribe.progress import AudioProgress, SpeechProgress
from transcribe.roles import assign_roles, roles_config
from transcribe.text import normalize_chinese
from transcribe.vad import (
    ActivityParams,
    PackedAudio,
    Segment,
    channel_activity,
    decode_stretches,
    intersection,
    overlaps,
    pack,
)

DEFAULT_PARAMS = Path(__file__).parent / "config" / "default.yaml"

# Pipeline hook, pyannote-style: hook(step_name, completed, total).
ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TranscribeParams:
    activity: ActivityParams = field(default_factory=ActivityParams)
    mono_activity: ActivityParams = field(
        default_factory=lambda: ActivityParams(min_gap_s=0.3, decode_gap_s=60.0))
    whisper: WhisperParams = field(default_factory=WhisperParams)
    mono_whisper: WhisperParams = field(default_factory=lambda: WhisperParams(
        condition_on_previous_text=True, seek_to_last_word=False,
        min_segment_word_probability=0.0, temperature_fallback=True,
        retry_after_last_word_only=True))
    diarization: DiarizationParams = field(default_factory=DiarizationParams)
    legs: LegParams = field(default_factory=LegParams)
    split_gap_s: float = 1.0
    max_wordless_s: float = 3.0
    change_gap_s: float = 0.15  # mono: a speaker change only at a pause this long
    max_run_s: float = 4.0      # ... or between words, in a run of words longer than this

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_PARAMS) -> TranscribeParams:
        """transcribe/config/default.yaml (the defaults), with `path` merged over it."""
        raw = load_config(DEFAULT_PARAMS, PARAMS_SCHEMA, path)
        activity = ActivityParams(**raw["activity"])
        whisper = WhisperParams(**raw["whisper"])
        return cls(
            activity=activity,
            mono_activity=replace(activity, **raw["mono_activity"]),
            whisper=whisper,
            mono_whisper=replace(whisper, **raw["mono_whisper"]),
            diarization=DiarizationParams(**raw["diarization"]),
            legs=LegParams(**raw["legs"]),
            **raw["utterances"],
        )


# What default.yaml may hold: each section is its parameter dataclass, so a key the code
# does not read is refused and every value's type is checked.
PARAMS_SCHEMA: dict[str, Any] = {
    "activity": schema_of(ActivityParams),
    "mono_activity": schema_of(ActivityParams),
    "whisper": schema_of(WhisperParams),
    "mono_whisper": schema_of(WhisperParams),
    "diarization": schema_of(DiarizationParams),
    "legs": schema_of(LegParams),
    "utterances": {"split_gap_s": float, "max_wordless_s": float, "change_gap_s": float,
                   "max_run_s": float},
}


def stage_version(engine: AsrEngine, options: TranscribeOptions) -> str:
    """What the transcribe stage records: engine, its version and a hash of the
    parameters and role cues it ran with, e.g. faster-whisper-1.2.1+3f09a2c1."""
    return (f"{engine.name}-{engine.version}"
            f"+{params_hash(options.params, roles_config(options.roles_path))}")


@dataclass
class TranscribeOptions:
    call_id: str
    channel_map: list[str] | None = None  # role per channel; None = decide from content
    language: str | None = None
    params: TranscribeParams = field(default_factory=TranscribeParams)
    pyannote_pipeline: Path | None = None  # a local pyannote.audio pipeline (GPU image)
    roles_path: Path | None = None  # role cues; None = transcribe/config/roles.yaml
    num_speakers: int | None = None  # known speaker count (mono): no 1-or-2 decision


def _language_at(utterance: Utterance, stretches: list[Stretch], default: str) -> str:
    """The language of the stretch an utterance lies in most."""
    best, most = default, 0.0
    for channel, start, end, lang in stretches:
        if channel != (utterance.channel or 0):
            continue
        inside = min(end, utterance.end) - max(start, utterance.start)
        if inside > most:
            best, most = lang, inside
    return best


def join_words(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _utterance(words: list[Word], speaker: str, channel: int | None) -> Utterance:
    return Utterance(
        speaker=speaker, role="unknown", channel=channel, start=words[0].start, end=words[-1].end,
        text=join_words(words), words=words,
        confidence=round(float(np.mean([w.probability for w in words])), 4))


def _channel_utterances(words: list[Word], speaker: str, channel: int, others: list[Segment],
                        split_gap_s: float) -> list[Utterance]:
    """One leg's words; split at long pauses and wherever the other party spoke."""
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            prev = groups[-1][-1]
            gap = word.start - prev.end
            if not (gap > split_gap_s or (gap > 0.2 and overlaps(prev.end, word.start, others) > 0.2)):
                groups[-1].append(word)
                continue
        groups.append([word])
    return [_utterance(g, speaker, channel) for g in groups]


def _speaker_of(word: Word, turns: list[SpeakerTurn]) -> str:
    best = max(turns, key=lambda t: (overlaps(word.start, word.end, [(t.start, t.end)]),
                                     -abs((t.start + t.end) / 2 - (word.start + word.end) / 2)))
    return best.speaker


_CLAUSE_END = (".", ",", "?", "!", ";", ":", "。", "，", "？", "！", "；", "：", "、")


def _phrases(words: list[Word], min_gap_s: float) -> list[list[Word]]:
    """Runs of words with no pause between them: a speaker change falls between runs,
    never inside one (Whisper's Chinese "words" are often single characters, and a cut
    at the diarizer's frame split 体验达|摩院)."""
    runs: list[list[Word]] = []
    for word in words:
        # Whisper often glues word times across a pause; its punctuation still marks it.
        if (runs and word.start - runs[-1][-1].end < min_gap_s
                and not runs[-1][-1].text.strip().endswith(_CLAUSE_END)):
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _speaker_of_run(run: list[Word], turns: list[SpeakerTurn]) -> str:
    """The speaker whose turns cover most of a run of words."""
    votes: dict[str, float] = {}
    for word in run:
        speaker = _speaker_of(word, turns)
        votes[speaker] = votes.get(speaker, 0.0) + max(0.01, word.end - word.start)
    return max(votes, key=lambda k: votes[k])


def _split_long(run: list[Word], turns: list[SpeakerTurn], max_run_s: float,
                min_words: int = 3) -> list[list[Word]]:
    """A run of words longer than `max_run_s` is split between words where the
    diarizer's speaker changes (pieces of at least `min_words`). Whisper's first window
    often comes without punctuation and with word times glued across pauses: 25 s of
    three turns were one run, and went to one speaker."""
    if not turns or run[-1].end - run[0].start <= max_run_s:
        return [run]
    pieces: list[list[Word]] = []
    current = None
    for word in run:
        speaker = _speaker_of(word, turns)
        if pieces and (speaker == current or len(pieces[-1]) < min_words):
            pieces[-1].append(word)
        else:
            pieces.append([word])
        current = speaker
    if len(pieces) > 1 and len(pieces[-1]) < min_words:
        last = pieces.pop()
        pieces[-1] += last
    return pieces


def _mono_utterances(words: list[Word], turns: list[SpeakerTurn],
                     split_gap_s: float, change_gap_s: float = 0.15,
                     max_run_s: float = 4.0) -> list[Utterance]:
    """Words in time order; a new utterance at every change of speaker or long pause.
    The speaker is decided per run of words between pauses of `change_gap_s`."""
    out: list[Utterance] = []
    group: list[Word] = []
    current = None
    speaker_of: dict[int, str] = {}
    for phrase in _phrases(words, change_gap_s):
        for run in _split_long(phrase, turns, max_run_s):
            run_speaker = _speaker_of_run(run, turns) if turns else "S0"
            for word in run:
                speaker_of[id(word)] = run_speaker
    for word in words:
        speaker = speaker_of[id(word)]
        if group and (speaker != current or word.start - group[-1].end > split_gap_s):
            out.append(_utterance(group, str(current), None))
            group = []
        group.append(word)
        current = speaker
    if group:
        out.append(_utterance(group, str(current), None))
    return out


def _turns_with_words(segments: list[tuple[str, float, float]], utterances: list[Utterance],
                      max_wordless_s: float) -> list[SpeakerTurn]:
    """Speaker turns where something was said. Energy boundaries are more exact than
    word times, so they stay; but a turn with no words (echo, a cough) is dropped, and
    a long wordless head or tail (hold music before "thanks for holding") is cut."""
    turns = []
    for speaker, start, end in segments:
        inside = [w for u in utterances if u.speaker == speaker for w in u.words
                  if w.end > start and w.start < end]
        if not inside:
            continue
        first, last = min(w.start for w in inside), max(w.end for w in inside)
        turns.append(SpeakerTurn(
            speaker=speaker, role="unknown",
            start=first if first - start > max_wordless_s else start,
            end=last if end - last > max_wordless_s else end))
    return sorted(turns, key=lambda t: t.start)


def _bridge(turns: list[SpeakerTurn], max_gap_s: float) -> list[SpeakerTurn]:
    """Join a speaker's consecutive turns across short pauses: one turn, not many."""
    out: list[SpeakerTurn] = []
    for turn in sorted(turns, key=lambda t: t.start):
        if out and out[-1].speaker == turn.speaker and turn.start - out[-1].end <= max_gap_s:
            out[-1] = out[-1].model_copy(update={"end": max(out[-1].end, turn.end)})
        else:
            out.append(turn)
    return out


def _word_regions(words: list[Word], join_s: float = 0.3, pad_s: float = 0.1) -> list[Segment]:
    """Stretches of recognised speech: what diarization should listen to (not music)."""
    regions: list[list[float]] = []
    for w in sorted(words, key=lambda w: w.start):
        if regions and w.start - regions[-1][1] <= join_s:
            regions[-1][1] = max(regions[-1][1], w.end)
        else:
            regions.append([w.start, w.end])
    return [(max(0.0, a - pad_s), b + pad_s) for a, b in regions]


Stretch = tuple[int, float, float, str]  # channel, start, end, language


def _hesitant(probs: dict[str, float], main: str, params: WhisperParams) -> bool:
    """A window whose language is not clearly the call's main one."""
    top = max(probs, key=lambda k: probs[k]) if probs else main
    others = max((p for lang, p in probs.items() if lang != main), default=0.0)
    return top != main or others >= params.stretch_window_min_probability


def _heard(segment: Segment, words: list[Word]) -> bool:
    return any(w.end > segment[0] and w.start < segment[1] for w in words)


def stretch_languages(signal: np.ndarray, segments: list[Segment], engine: AsrEngine,
                      params: WhisperParams, rate: int, main: str) -> list[tuple[Segment, str]]:
    """Each speech segment (a turn, or part of one, between pauses) with its language.
    Hysteresis: a segment leaves the call's main language only when it is long and its
    detection sure, so an English word or a name inside Chinese speech stays Chinese
    (one detection for the call dropped English stretches or turned them into invented
    Chinese)."""
    detect = engine.detect_language  # type: ignore[attr-defined]
    out = []
    for seg in segments:
        lang = main
        if seg[1] - seg[0] >= params.stretch_min_s:
            probs = detect(signal[int(seg[0] * rate): int(seg[1] * rate)])
            top = max(probs, key=lambda k: probs[k])
            if (top != main and probs[top] >= params.stretch_min_probability
                    and probs[top] >= params.stretch_min_ratio * probs.get(main, 0.0)):
                lang = top
        out.append((seg, lang))
    return out


def _decode_packed(signal: np.ndarray, segments: list[Segment], engine: AsrEngine,
                   language: str | None, params: TranscribeParams, rate: int,
                   windows: bool = False) -> tuple[list[Word], Any, PackedAudio]:
    packed = pack(signal, segments, rate, params.activity.pack_gap_s,
                  params.activity.glue_margin_s, params.activity.glue_window_s)
    extra = {"window_languages": True} if windows else {}
    result = engine.transcribe(packed.audio, language, params.whisper, **extra)
    raw = [w for seg in result.segments for w in seg.words]
    words = []
    for k, w in enumerate(raw):
        following = raw[k + 1].start if k + 1 < len(raw) else None
        start, end = packed.original_span(w.start, w.end, following)
        words.append(w.model_copy(update={"start": start, "end": end}))
    return words, result, packed


def _window_of(packed: PackedAudio, windows: list[tuple[float, float, dict[str, float]]],
               segments: list[Segment]) -> list[int | None]:
    """The decoding window each speech segment (inside the packed stretches) lies in
    most (None: no window's words)."""
    out: list[int | None] = []
    for a, b in segments:
        k = next((i for i, (s, e) in enumerate(packed.segments) if s <= a < e), None)
        if k is None:
            out.append(None)
            continue
        start = packed.packed_starts[k] + a - packed.segments[k][0]
        end = start + min(b, packed.segments[k][1]) - a
        cover = [min(end, we) - max(start, ws) for ws, we, _ in windows]
        best = int(np.argmax(cover)) if cover else -1
        out.append(best if best >= 0 and cover[best] > 0 else None)
    return out


def _language_runs(segments: list[Segment], language_of: dict[Segment, str], main: str,
                   max_gap_s: float) -> dict[str, list[Segment]]:
    """Per language other than `main`: runs of consecutive segments in it (no segment of
    another language between them, no pause of `max_gap_s` or more), each as one span."""
    runs: dict[str, list[Segment]] = {}
    last: str | None = None
    for seg in segments:
        lang = language_of.get(seg, main)
        spans = runs.setdefault(lang, [])
        if lang == last and spans and seg[0] - spans[-1][1] < max_gap_s:
            spans[-1] = (spans[-1][0], seg[1])
        else:
            spans.append(seg)
        last = lang
    runs.pop(main, None)
    return dict(sorted(runs.items()))


def _recognise(signal: np.ndarray, segments: list[Segment], engine: AsrEngine,
               language: str | None, params: TranscribeParams, rate: int,
               stretches: list[tuple[float, float, str]] | None = None,
               guess: str | None = None, decode_gap_s: float = 0.0) -> tuple[list[Word], str]:
    """Words of one signal's speech segments. Segments closer than `decode_gap_s` are
    decoded as one stretch, the audio between them included (mono calls). With no
    language given, the language of every 30 s window decoded is read from its own
    encoder output; where a window is not clearly the main language, its segments get
    a detection each and are recognised again in their own language (`stretches`
    collects where). `guess` (the other leg's language) is decoded first instead of
    detecting one."""
    spans = decode_stretches(segments, decode_gap_s, len(signal) / rate)
    if is_batched(engine):
        # GPU: every stretch decoded on its own, in batches; no packing needed.
        result = engine.transcribe_clips(signal, spans, language, params.whisper)
        words = [w for seg in result.segments for w in seg.words]
        return finish_words(signal, segments, words, engine, language or result.language,
                            params, rate), result.language
    check = (language is None and params.whisper.stretch_language
             and getattr(engine, "multilingual", False) and hasattr(engine, "detect_language"))
    words, result, packed = _decode_packed(signal, spans, engine, language or guess, params,
                                           rate, windows=check)
    main = language or result.language
    if check and result.windows:
        weight: dict[str, float] = {}
        for ws, we, probs in result.windows:
            for lang, p in probs.items():
                weight[lang] = weight.get(lang, 0.0) + (we - ws) * p
        heard = max(weight, key=lambda k: weight[k])
        if guess and heard != main and weight[heard] >= 2 * weight.get(main, 0.0):
            # The other leg's language was wrong for this one: decode in its own.
            words, result, packed = _decode_packed(signal, spans, engine, heard, params,
                                                   rate, windows=True)
            main = heard
        of = _window_of(packed, result.windows, segments)
        # Doubtful: segments in a window not clearly the main language, and those no
        # decoded window reached (Whisper ended its text before them: a Spanish turn after
        # English speech was skipped with everything after it).
        doubtful = [seg for seg, w in zip(segments, of, strict=True)
                    if (_hesitant(result.windows[w][2], main, params.whisper)
                        if w is not None else not _heard(seg, words))]
        found = stretch_languages(signal, doubtful, engine, params.whisper, rate, main)
        moved = {seg: lang for seg, lang in found if lang != main}
        for lang, again in _language_runs(segments, moved, main, decode_gap_s).items():
            # What is decoded again in this language: its runs of segments, each on its own
            # (a run ends where speech in another language starts).
            words = [w for w in words
                     if not any(a <= (w.start + w.end) / 2 <= b for a, b in again)]
            words += _recognise(signal, again, engine, lang, params, rate)[0]
        if moved and stretches is not None:
            for seg in segments:  # runs of segments in one language
                lang = moved.get(seg, main)
                if stretches and stretches[-1][2] == lang:
                    stretches[-1] = (stretches[-1][0], seg[1], lang)
                else:
                    stretches.append((seg[0], seg[1], lang))
        words.sort(key=lambda w: w.start)
    return finish_words(signal, segments, words, engine, main, params, rate), main


# The share of a retry pass's words that must survive drop_loops for the pass to count.
RETRY_MIN_UNLOOPED = 0.5


def _retry_skipped(signal: np.ndarray, segments: list[Segment], words: list[Word],
                   engine: AsrEngine, language: str | None, params: WhisperParams,
                   rate: int) -> list[Word]:
    skipped = [(start, end) for start, end in segments
               if 0.5 <= end - start <= params.retry_skipped_max_s
               and not _heard((start, end), words)]
    if params.retry_after_last_word_only:
        last = max((w.end for w in words), default=0.0)
        skipped = [(start, end) for start, end in skipped if start >= last]
    if not skipped:
        return []
    # One packed pass over all of them: a pass each cost a 30 s encoder window per
    # segment, and noisy lines have many (the words' confidence still decides per segment).
    packed = pack(signal, skipped, rate, 1.0)
    # Temperature 0 only: a fallback's sampled text would need the confidence below anyway,
    # and on a 0 dB line the fallbacks made the retry 2.7x bare's whole decoding time.
    result = engine.transcribe(packed.audio, language,
                               replace(params, temperature_fallback=False))
    raw = [w for seg in result.segments for w in seg.words]
    # A retry that loops is writing words that were not said: on a 0 dB line one clause
    # came back, at 0.95 probability, over twenty of the skipped segments.
    if len(drop_loops(raw, params.max_repeats)) < RETRY_MIN_UNLOOPED * len(raw):
        return []
    per_segment: dict[int, list[Word]] = {}
    for k, w in enumerate(raw):
        following = raw[k + 1].start if k + 1 < len(raw) else None
        start, end = packed.original_span(w.start, w.end, following)
        at = next((i for i, (a, b) in enumerate(skipped) if a <= start <= b), None)
        if at is not None:
            per_segment.setdefault(at, []).append(
                w.model_copy(update={"start": start, "end": end}))
    return [w for retry in per_segment.values()
            if np.mean([w.probability for w in retry]) >= params.retry_min_probability
            for w in retry]


def call_signals(audio: DecodedAudio) -> list[np.ndarray]:
    """What is recognised: each leg of a stereo call, the mix of a mono one."""
    return list(audio.samples) if audio.channels == 2 else [audio.mono()]


def activity_params(audio: DecodedAudio, params: TranscribeParams) -> ActivityParams:
    """The activity parameters of this call's layout: stereo legs or a mono signal."""
    return params.activity if audio.channels == 2 else params.mono_activity


def layout_params(audio: DecodedAudio, params: TranscribeParams) -> TranscribeParams:
    """`params` with the Whisper settings of this call's layout (mono_whisper for a mono
    signal), so every decode of the call uses them."""
    return params if audio.channels == 2 else replace(params, whisper=params.mono_whisper)


def speech_activity(audio: DecodedAudio, params: TranscribeParams) -> list[list[Segment]]:
    # Energy and Silero activity (transcribe/vad.py): Silero alone, tried first, dropped
    # whole speakers on 8 kHz G.711 legs and fired on echo.
    return channel_activity(np.stack(call_signals(audio)), audio.sample_rate,
                            activity_params(audio, params))


def decode_spans(audio: DecodedAudio, activity: list[list[Segment]],
                 params: TranscribeParams) -> list[list[Segment]]:
    """What the recogniser hears of each signal (`vad.decode_stretches` with the layout's
    `decode_gap_s`): stereo legs their speech segments, a mono call all of it but
    non-speech stretches of at least that length."""
    gap = activity_params(audio, params).decode_gap_s
    return [decode_stretches(segments, gap, audio.duration) for segments in activity]


def finish_words(signal: np.ndarray, segments: list[Segment], words: list[Word],
                 engine: AsrEngine, language: str | None, params: TranscribeParams,
                 rate: int) -> list[Word]:
    """After a recognition pass: skipped speech segments once more, time order, loops."""
    words = words + _retry_skipped(signal, segments, words, engine, language, params.whisper,
                                   rate)
    words.sort(key=lambda w: w.start)
    return drop_loops(words, params.whisper.max_repeats)


@dataclass
class Recognised:
    """What recognition found in one call: the first of transcribe's two steps.

    transcribe.batch builds it for several calls decoded together, then calls
    `assemble_transcript` as `transcribe` does."""

    prepared: PreparedAudio  # what transcribe.legs.prepare decided; .audio is what was heard
    activity: list[list[Segment]]  # speech segments per recognised signal
    words: list[list[Word]]  # per recognised signal, on the call's clock
    language: str | None  # the call's main language, as hinted or detected
    stretches: list[Stretch] = field(default_factory=list)  # where the language changes
    timings: dict[str, float] = field(default_factory=dict)  # activity, asr seconds


def recognise(audio: DecodedAudio, engine: AsrEngine, options: TranscribeOptions,
              hook: ProgressHook | None = None,
              progress: AudioProgress | None = None) -> Recognised:
    """Legs, speech activity and words of one call. `progress(seconds_done,
    seconds_total)`: seconds of the call's audio transcribed, reported as the engine
    decodes each segment (transcribe/progress.py)."""
    t0 = time.perf_counter()
    prepared = prepare(audio, options.params.legs)
    params = layout_params(prepared.audio, options.params)
    signals = call_signals(prepared.audio)
    activity = speech_activity(prepared.audio, params)
    timings = {"activity": time.perf_counter() - t0}

    t0 = time.perf_counter()
    gap = activity_params(prepared.audio, params).decode_gap_s
    heard = decode_spans(prepared.audio, activity, params)
    watch = SpeechProgress(progress, [sum(b - a for a, b in spans) for spans in heard],
                           audio.duration)
    language = options.language
    per_channel: list[list[Word]] = []
    stretches: list[Stretch] = []  # where a call changes language (none: one language)
    for i, signal in enumerate(signals):
        if hook:
            hook("asr", i, len(signals))
        if not activity[i]:
            per_channel.append([])
            continue
        spans: list[tuple[float, float, str]] = []
        with watch.leg(i):
            words, detected = _recognise(signal, activity[i], engine, options.language,
                                         params, prepared.audio.sample_rate, spans,
                                         guess=language, decode_gap_s=gap)
        stretches += [(i, a, b, lang) for a, b, lang in spans]
        language = language or detected  # the first leg decides for the call
        per_channel.append(words)
    if hook:
        hook("asr", len(signals), len(signals))
    watch.finish()
    timings["asr"] = time.perf_counter() - t0
    return Recognised(prepared, activity, per_channel, language, stretches, timings)


def assemble_transcript(recognised: Recognised, engine: AsrEngine, options: TranscribeOptions,
                        hook: ProgressHook | None = None) -> Transcript:
    """Speakers, utterances, roles and turns from what recognition found."""
    params = options.params
    timings = dict(recognised.timings)
    prepared, activity, stretches = recognised.prepared, recognised.activity, recognised.stretches
    audio = prepared.audio
    per_channel = recognised.words
    stereo = audio.channels == 2
    signals = call_signals(audio)

    diarization = "channel" if stereo else "builtin"
    mono_turns: list[SpeakerTurn] = []
    if not stereo:
        # After recognition, so that only stretches with words are clustered: hold music
        # and line noise would otherwise become a speaker of their own.
        t0 = time.perf_counter()
        if hook:
            hook("diarization", 0, 1)
        dparams = params.diarization if options.num_speakers is None else replace(
            params.diarization, num_speakers=options.num_speakers, count_speakers=False)
        if options.pyannote_pipeline is not None:
            found = pyannote_diarize(signals[0], audio.sample_rate, options.pyannote_pipeline,
                                     dparams.num_speakers)
            diarization = "pyannote"
        else:
            # Where words were heard and the detector heard speech: a mono call is decoded
            # whole, and Whisper's word times run over the pauses around them (one voice
            # alone then looked like two: silence embeds apart from speech).
            found = diarize_mono(signals[0], audio.sample_rate,
                                 intersection(_word_regions(per_channel[0]), activity[0]),
                                 dparams)
        mono_turns = _bridge([SpeakerTurn(speaker=f"S{t.speaker}", role="unknown", start=t.start,
                                          end=t.end) for t in found], params.split_gap_s)
        timings["diarization"] = time.perf_counter() - t0

    language = options.language or recognised.language or "en"
    if language == "zh" or any(s[3] == "zh" for s in stretches):
        per_channel = [[w.model_copy(update={"text": normalize_chinese(w.text)}) for w in words]
                       for words in per_channel]
    if stereo:
        utterances = []
        for i, words in enumerate(per_channel):
            others = [seg for j, segs in enumerate(activity) if j != i for seg in segs]
            utterances += _channel_utterances(words, f"S{i}", i, others, params.split_gap_s)
        segments = [(f"S{i}", a, b) for i, segs in enumerate(activity) for a, b in segs]
    else:
        utterances = _mono_utterances(per_channel[0], mono_turns, params.split_gap_s,
                                      params.change_gap_s, params.max_run_s)
        segments = [(t.speaker, t.start, t.end) for t in mono_turns]
    utterances = sorted((u for u in utterances if u.text), key=lambda u: (u.start, u.end))
    for u in utterances:
        u.language = _language_at(u, stretches, language)

    channel_map = options.channel_map if stereo and options.channel_map else None
    if channel_map is not None:
        roles = {f"S{i}": role for i, role in enumerate(channel_map)}
        role_source, confidence = "channel_map", 1.0
    else:
        decision = assign_roles([(u.speaker, u.text) for u in utterances], language,
                                options.roles_path)
        roles, confidence = decision.roles, decision.confidence
        role_source = "content" if roles else "none"
    for u in utterances:
        u.role = roles.get(u.speaker, "unknown")  # type: ignore[assignment]
    # A speaker's turns are joined across pauses that do not split an utterance either.
    turns = _bridge(_turns_with_words(segments, utterances, params.max_wordless_s),
                    params.split_gap_s)
    for t in turns:
        t.role = roles.get(t.speaker, "unknown")  # type: ignore[assignment]
    return Transcript(
        call_id=options.call_id, language=language, duration=round(audio.duration, 3),
        utterances=utterances, engine=engine.name, model=Path(engine.model_name).name,
        version=engine.version, diarization=diarization, speaker_turns=turns,
        role_source=role_source, role_confidence=confidence,
        layout=prepared.layout, notes=prepared.notes,
        stage_seconds={k: round(v, 3) for k, v in timings.items()})


def transcribe(audio: DecodedAudio, engine: AsrEngine, options: TranscribeOptions,
               hook: ProgressHook | None = None,
               progress: AudioProgress | None = None) -> Transcript:
    """One call, both steps: `recognise`, then `assemble_transcript`."""
    return assemble_transcript(recognise(audio, engine, options, hook, progress), engine,
                               options, hook)
