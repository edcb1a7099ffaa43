"""Render dialogues to realistic telephone audio with festival and flite voices.

Each turn is synthesised, band-limited to 300-3400 Hz, resampled to 8 kHz and
placed on a timeline with gaps, dead air, hold music and overtalk. The call is
written as G.711 mu-law WAV, stereo (agent left, customer right) with a little
crosstalk, and as a mono mix. Ground truth (turn times from the synthesised
speech itself, expected intents, sentiment, violations) is written beside it.
Everything is seeded from the dialogue id, so a render is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from scipy.signal import butter, sosfilt

from samples.dialogue import Dialogue, turn_start

RATE = 8000


@dataclass(frozen=True)
class Voice:
    engine: str  # festival | flite
    name: str

    def synthesize(self, text: str, out: Path) -> None:
        if self.engine == "festival":
            cmd = ["text2wave", "-eval", f"(voice_{self.name})", "-o", str(out)]
            subprocess.run(cmd, input=text.encode("utf-8"), check=True, capture_output=True,
                           timeout=120)
        else:
            subprocess.run(["flite", "-voice", self.name, "-t", text, "-o", str(out)],
                           check=True, capture_output=True, timeout=120)


# Agents and customers never share a voice: a diarizer must have two speakers.
AGENT_VOICES = [Voice("festival", "cmu_us_slt_arctic_hts"), Voice("festival", "kal_diphone")]
CUSTOMER_VOICES = [Voice("festival", "ked_diphone"), Voice("flite", "awb"),
                   Voice("flite", "rms")]


def missing_tools() -> list[str]:
    return [t for t in ("text2wave", "flite") if shutil.which(t) is None]


def _read_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        chunks = [out.to_ndarray()[0] for frame in container.decode(audio=0)
                  for out in resampler.resample(frame)]
        chunks += [out.to_ndarray()[0] for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)


_TELEPHONE_BAND = butter(4, [300, 3400], btype="bandpass", fs=RATE, output="sos")


def _telephone(speech: np.ndarray, level_dbfs: float) -> np.ndarray:
    band = sosfilt(_TELEPHONE_BAND, speech)
    rms = np.sqrt(np.mean(band**2)) or 1.0
    return band * (10 ** (level_dbfs / 20) / rms)


def _trim(speech: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Cut the synthesiser's leading and trailing silence so turn times are speech times."""
    frame = RATE // 100
    n = len(speech) // frame
    if n == 0:
        return speech
    energy = np.sqrt((speech[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    active = np.flatnonzero(20 * np.log10(energy + 1e-12) > 20 * np.log10(energy.max()) + floor_db)
    return speech[active[0] * frame: (active[-1] + 1) * frame] if len(active) else speech


def _hold_music(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A quiet arpeggio: tonal, not speech, the kind of thing Whisper likes to caption."""
    t = np.arange(int(seconds * RATE)) / RATE
    notes = np.array([523.25, 659.25, 783.99, 659.25])
    idx = (t * 2).astype(int) % len(notes)
    tone = np.sin(2 * np.pi * notes[idx] * t) * 0.5 + np.sin(2 * np.pi * notes[idx] / 2 * t) * 0.3
    return tone * 10 ** (-30 / 20) + rng.normal(0, 10 ** (-70 / 20), len(t))


def _mulaw_roundtrip(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711-like 8-bit companding, so levels and noise match what the switch delivers."""
    x = np.clip(x, -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def _write_wav(path: Path, channels: np.ndarray) -> None:
    """Write (channels, samples) float audio as 8 kHz G.711 mu-law WAV."""
    layout = "stereo" if channels.shape[0] == 2 else "mono"
    pcm = (np.clip(channels, -1, 1) * 32767).astype(np.int16)
    interleaved = pcm.T.reshape(1, -1).copy()
    tmp = path.with_suffix(".tmp.wav")
    with av.open(str(tmp), "w", format="wav") as out:
        stream = out.add_stream("pcm_mulaw", rate=RATE, layout=layout)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


@dataclass
class RenderedCall:
    dialogue_id: str
    stereo: Path
    mono: Path
    truth: Path
    duration: float


def _synthesize_cached(voice: Voice, text: str, cache: Path) -> np.ndarray:
    key = hashlib.sha256(f"{voice.engine}:{voice.name}:{text}".encode()).hexdigest()[:24]
    cached = cache / f"{key}.npy"
    if cached.exists():
        return np.load(cached)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "turn.wav"
        voice.synthesize(text, wav)
        speech = _trim(_read_audio(wav))
    np.save(cached, speech)
    return speech


def render_dialogue(dialogue: Dialogue, out_dir: Path, cache: Path | None = None) -> RenderedCall:
    rng = dialogue.rng()
    noise = np.random.default_rng(rng.randrange(2**32))
    agent_voice = AGENT_VOICES[rng.randrange(len(AGENT_VOICES))]
    customer_voice = CUSTOMER_VOICES[rng.randrange(len(CUSTOMER_VOICES))]
    agent_level, customer_level = rng.uniform(-22, -18), rng.uniform(-26, -18)
    cache = cache or out_dir / ".tts-cache"
    cache.mkdir(parents=True, exist_ok=True)

    placed: list[tuple[str, float, np.ndarray, str]] = []
    holds: list[tuple[float, np.ndarray]] = []
    dead_air: list[tuple[float, float]] = []
    prev_end = 0.5
    for turn in dialogue.turns:
        voice, level = ((agent_voice, agent_level) if turn.speaker == "agent"
                        else (customer_voice, customer_level))
        speech = _telephone(_synthesize_cached(voice, turn.text, cache), level)
        start = turn_start(prev_end, turn, rng)
        if turn.hold_before:
            hold_start = start - turn.hold_before
            holds.append((hold_start, _hold_music(turn.hold_before, noise)))
        if turn.pause_before:
            dead_air.append((round(start - turn.pause_before, 3), round(start, 3)))
        placed.append((turn.speaker, start, speech, turn.text.strip()))
        prev_end = max(prev_end, start + len(speech) / RATE)

    total = int((prev_end + 1.0) * RATE)
    tracks = np.zeros((2, total))
    for speaker, start, speech, _ in placed:
        i = int(start * RATE)
        tracks[0 if speaker == "agent" else 1, i: i + len(speech)] += speech
    for start, music in holds:
        i = int(start * RATE)
        tracks[0, i: i + len(music)] += music[: total - i]
    # Line noise on both legs and a little acoustic echo of each leg into the other.
    stereo = tracks + 0.03 * tracks[::-1] + noise.normal(0, 10 ** (-62 / 20), tracks.shape)
    stereo = _mulaw_roundtrip(stereo)
    mono = _mulaw_roundtrip((tracks[0] + tracks[1]) * 0.8
                            + noise.normal(0, 10 ** (-62 / 20), total))[None, :]

    turns: list[dict[str, Any]] = [
        {"speaker": "A" if spk == "agent" else "B", "role": spk, "start": round(s, 3),
         "end": round(s + len(x) / RATE, 3), "text": text} for spk, s, x, text in placed]
    truth = {
        "id": dialogue.id, "language": dialogue.language, "duration": round(total / RATE, 3),
        "voices": {"agent": agent_voice.name, "customer": customer_voice.name},
        "turns": turns, "dead_air": dead_air,
        "holds": [[round(s, 3), round(s + len(m) / RATE, 3)] for s, m in holds],
        "expected": dialogue.expected.model_dump(),
    }
    paths = {}
    for kind, audio, channel_map, call_id in (
        ("stereo", stereo, ["agent", "customer"], dialogue.id),
        ("mono", mono, None, f"{dialogue.id}-mono"),
    ):
        folder = out_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / f"{dialogue.id}.wav"
        _write_wav(wav, audio)
        meta = dialogue.metadata(channel_map) | {"call_id": call_id}
        (folder / f"{dialogue.id}.json").write_text(json.dumps(meta, indent=1))
        (folder / f"{dialogue.id}.txt").write_text(" ".join(t["text"] for t in turns) + "\n")
        (folder / f"{dialogue.id}.rttm").write_text("".join(
            f"SPEAKER {dialogue.id} 1 {t['start']:.3f} {t['end'] - t['start']:.3f} <NA> <NA> "
            f"{t['role']} <NA> <NA>\n" for t in turns))
        paths[kind] = wav
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth_path = truth_dir / f"{dialogue.id}.json"
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    return RenderedCall(dialogue.id, paths["stereo"], paths["mono"], truth_path, total / RATE)


def render_all(dialogues: list[Dialogue], out_dir: Path, workers: int = 2,
               on_done: Callable[[RenderedCall], None] | None = None) -> list[RenderedCall]:
    """Render English dialogues (no usable Mandarin voice ships offline)."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"missing speech synthesisers: {', '.join(missing)} "
                           "(apt-get install festival festvox-us-slt-hts festvox-kallpc16k "
                           "festvox-kdlpc16k flite)")
    english = [d for d in dialogues if d.language == "en"]
    results: list[RenderedCall] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rendered in pool.map(lambda d: render_dialogue(d, out_dir), english):
            results.append(rendered)
            if on_done:
                on_done(rendered)
    return results
