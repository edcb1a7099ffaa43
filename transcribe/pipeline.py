"""transcribe(audio, options) -> Transcript: activity, ASR per speaker, utterances, roles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.schemas import Transcript, Utterance, Word
from transcribe.asr import AsrEngine, WhisperParams, drop_loops
from transcribe.audio import DecodedAudio
from transcribe.text import normalize_chinese
from transcribe.vad import ActivityParams, Segment, channel_activity, overlaps, pack

DEFAULT_PARAMS = Path(__file__).parent / "config" / "default.yaml"

# Pipeline hook, pyannote-style: hook(step_name, completed, total).
ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TranscribeParams:
    activity: ActivityParams = field(default_factory=ActivityParams)
    whisper: WhisperParams = field(default_factory=WhisperParams)
    split_gap_s: float = 1.0

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_PARAMS) -> TranscribeParams:
        raw = yaml.safe_load(path.read_text("utf-8")) or {}

        def pick(klass: Any, section: dict[str, Any]) -> Any:
            known = {f.name for f in fields(klass)}
            unknown = set(section) - known
            if unknown:
                raise ValueError(f"{path}: unknown parameters {sorted(unknown)}")
            return klass(**section)

        return cls(
            activity=pick(ActivityParams, raw.get("activity", {})),
            whisper=pick(WhisperParams, raw.get("whisper", {})),
            split_gap_s=float(raw.get("utterances", {}).get("split_gap_s", 1.0)),
        )


@dataclass
class TranscribeOptions:
    call_id: str
    channel_map: list[str] | None = None  # role per channel; None = one mixed channel
    language: str | None = None
    params: TranscribeParams = field(default_factory=TranscribeParams)


def _utterances(words: list[Word], speaker: str, role: str, channel: int | None,
                others: list[Segment], split_gap_s: float) -> list[Utterance]:
    """Group one speaker's words; split at long pauses and wherever someone else spoke."""
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            prev = groups[-1][-1]
            gap = word.start - prev.end
            if gap > split_gap_s or (gap > 0.2 and overlaps(prev.end, word.start, others) > 0.2):
                groups.append([word])
                continue
            groups[-1].append(word)
        else:
            groups.append([word])
    return [Utterance(
        speaker=speaker, role=role, channel=channel,
        start=g[0].start, end=g[-1].end, text=join_words(g),
        confidence=round(float(np.mean([w.probability for w in g])), 4), words=g)
        for g in groups]


def join_words(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


def transcribe(audio: DecodedAudio, engine: AsrEngine, options: TranscribeOptions,
               hook: ProgressHook | None = None) -> Transcript:
    """Stereo with a channel map: the channel is the speaker. Otherwise one mixed track."""
    timings: dict[str, float] = {}
    params = options.params
    t0 = time.perf_counter()
    stereo = options.channel_map is not None and audio.channels == len(options.channel_map) > 1
    signals = list(audio.samples) if stereo else [audio.mono()]
    roles = list(options.channel_map or []) if stereo else ["unknown"]
    # Energy activity per leg decides what the recogniser hears. Silero VAD was tried
    # first: on 8 kHz G.711 legs it dropped whole speakers and fired on echo.
    activity = channel_activity(np.stack(signals), audio.sample_rate, params.activity)
    timings["activity"] = time.perf_counter() - t0

    language = options.language
    per_channel: list[list[Word]] = []
    t0 = time.perf_counter()
    for i, signal in enumerate(signals):
        if hook:
            hook("asr", i, len(signals))
        if not activity[i]:
            per_channel.append([])
            continue
        packed = pack(signal, activity[i], audio.sample_rate, params.activity.pack_gap_s)
        result = engine.transcribe(packed.audio, language, params.whisper)
        language = language or result.language  # the first leg decides for the call
        raw = [w for seg in result.segments for w in seg.words]
        words = []
        for k, w in enumerate(raw):
            following = raw[k + 1].start if k + 1 < len(raw) else None
            start, end = packed.original_span(w.start, w.end, following)
            words.append(w.model_copy(update={"start": start, "end": end}))
        per_channel.append(drop_loops(words, params.whisper.max_repeats))
    if hook:
        hook("asr", len(signals), len(signals))
    timings["asr"] = time.perf_counter() - t0

    language = language or "en"
    utterances: list[Utterance] = []
    for i, words in enumerate(per_channel):
        if language == "zh":
            words = [w.model_copy(update={"text": normalize_chinese(w.text)}) for w in words]
        others = [seg for j, segs in enumerate(activity) if j != i for seg in segs]
        speaker = f"S{i}"
        utterances += _utterances(words, speaker, roles[i], i if stereo else None, others,
                                  params.split_gap_s)
    utterances = [u for u in utterances if u.text]
    utterances.sort(key=lambda u: (u.start, u.end))
    return Transcript(
        call_id=options.call_id, language=language, duration=round(audio.duration, 3),
        utterances=utterances, engine=engine.name, model=Path(engine.model_name).name,
        version=engine.version, diarization="channel" if stereo else "none",
        stage_seconds={k: round(v, 3) for k, v in timings.items()})
