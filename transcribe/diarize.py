"""Built-in offline diarization for mono calls: who spoke when, without pyannote.

Speech regions (energy activity) are cut into overlapping 1.6 s windows, each
window gets a speaker embedding (resemblyzer's d-vector encoder, whose weights
ship in its PyPI package), and spectral clustering splits the windows into the
configured number of speakers (2 for calls), kept only where delta BIC says the
embeddings really hold two voices (a one-speaker clip must not be split).
Every 10 ms frame of speech then takes the label of the nearest window centre,
and runs shorter than `min_turn_s` are absorbed by their neighbours.

Where a local pyannote.audio pipeline is configured (the GPU image), that is
used instead; see `pyannote_diarize`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from core.devices import resolve_device
from transcribe.vad import Segment

FRAME_S = 0.01


@dataclass(frozen=True)
class DiarizationParams:
    num_speakers: int = 2
    window_rate: float = 2.0     # embedding windows (1.6 s each) per second of speech
    min_turn_s: float = 0.4      # shorter speaker runs are absorbed by their neighbours
    min_region_s: float = 0.3    # speech regions shorter than this are not embedded alone
    # One speaker or two (voicemail, IVR prompts, one-sided recordings): the two clusters
    # are kept only if two Gaussians explain the embeddings better than one by this
    # much (delta BIC per window, in a PCA space). On the sample calls two-speaker mixes
    # scored 0.75-2.95, one voice alone -0.40-0.22; centroid similarity overlapped.
    count_speakers: bool = True
    min_delta_bic: float = 0.5
    bic_dims: int = 8


@dataclass(frozen=True)
class SpeakerTurn:
    speaker: int
    start: float
    end: float


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


@contextmanager
def _one_thread() -> Iterator[None]:
    """The encoder's small LSTM, the SVD and the spectral clustering gain nothing from
    more threads, and on a loaded machine they lose much: 2 torch threads varied 0.2-22 s
    per pass (0.11-0.16 s on 1), a 142x256 SVD took 4.4 s on the BLAS pool. Restored
    after: the settings are process-wide."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def warm_up() -> None:
    """Load the speaker encoder and run it once (benchmarks keep this out of timings)."""
    with _one_thread():
        _encoder().embed_utterance(np.zeros(16000, np.float32) + 1e-3, rate=2.0)


def _embed_windows(signal: np.ndarray, rate: int, regions: list[Segment],
                   params: DiarizationParams) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and centre times (s) of the windows over all speech regions."""
    return _embed(_encoder(), signal, rate, regions, params)


def _embed(encoder: Any, signal: np.ndarray, rate: int, regions: list[Segment],
           params: DiarizationParams) -> tuple[np.ndarray, np.ndarray]:
    embeds, centres = [], []
    for start, end in regions:
        if end - start < params.min_region_s:
            continue
        a, b = int(start * rate), int(end * rate)
        _, partials, slices = encoder.embed_utterance(
            signal[a:b].astype(np.float32), return_partials=True, rate=params.window_rate,
            min_coverage=0.5)
        for emb, sl in zip(partials, slices, strict=True):
            mid = start + (sl.start + min(sl.stop, b - a)) / 2 / rate
            embeds.append(emb)
            centres.append(min(mid, end))
    if not embeds:
        return np.zeros((0, 256), np.float32), np.zeros(0)
    return np.asarray(embeds), np.asarray(centres)


def delta_bic(embeddings: np.ndarray, labels: np.ndarray, dims: int) -> float:
    """BIC gain per window of modelling the embeddings as one Gaussian per label rather
    than one for all (full covariances, in the top principal directions)."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    groups = [k for k in np.unique(labels)]
    n = len(unit)
    d = max(1, min(dims, n // 12))  # enough windows per covariance entry
    if len(groups) < 2 or min(int((labels == k).sum()) for k in groups) <= d + 1:
        return float("-inf")
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    z = centred @ vt[:d].T

    def loglik(x: np.ndarray) -> float:
        cov = np.atleast_2d(np.cov(x.T)) + 1e-6 * np.eye(d)
        return -0.5 * len(x) * float(np.linalg.slogdet(cov)[1])

    extra = (len(groups) - 1) * (d + d * (d + 1) / 2)
    gain = sum(loglik(z[labels == k]) for k in groups) - loglik(z) - 0.5 * extra * np.log(n)
    return float(gain / n)


def cluster(embeddings: np.ndarray, num_speakers: int) -> np.ndarray:
    """Spectral clustering on cosine affinity (average linkage broke off outliers)."""
    if num_speakers <= 1:
        return np.zeros(len(embeddings), dtype=int)
    if len(embeddings) <= num_speakers:
        return np.arange(len(embeddings)) % max(1, num_speakers)
    from sklearn.cluster import SpectralClustering

    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    affinity = np.clip(unit @ unit.T, 0.0, 1.0)
    model = SpectralClustering(n_clusters=num_speakers, affinity="precomputed", random_state=0,
                               assign_labels="cluster_qr")
    return np.asarray(model.fit_predict(affinity))


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, start frame, end frame) of runs of equal labels, -1 = no speech."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], edges, [len(labels)]])
    return [(int(labels[a]), int(a), int(b)) for a, b in pairwise(bounds)]


def diarize_mono(signal: np.ndarray, rate: int, regions: list[Segment],
                 params: DiarizationParams) -> list[SpeakerTurn]:
    with _one_thread():
        return _diarize(signal, rate, regions, params)


def _diarize(signal: np.ndarray, rate: int, regions: list[Segment],
             params: DiarizationParams) -> list[SpeakerTurn]:
    embeds, centres = _embed_windows(signal, rate, regions, params)
    if len(embeds) == 0:
        return []
    window_labels = cluster(embeds, params.num_speakers)
    if (params.count_speakers and params.num_speakers == 2
            and delta_bic(embeds, window_labels, params.bic_dims) < params.min_delta_bic):
        window_labels = np.zeros_like(window_labels)  # one voice: no speaker changes
    n = int(signal.shape[-1] / rate / FRAME_S) + 1
    labels = np.full(n, -1, dtype=int)
    times = np.arange(n) * FRAME_S
    for start, end in regions:
        a, b = int(start / FRAME_S), min(n, int(end / FRAME_S))
        nearest = np.abs(centres[None, :] - times[a:b, None]).argmin(axis=1)
        labels[a:b] = window_labels[nearest]
    # Absorb short runs into the previous speaker (or the next, at the start).
    min_frames = int(params.min_turn_s / FRAME_S)
    runs = _runs(labels)
    for k, (label, a, b) in enumerate(runs):
        if label >= 0 and b - a < min_frames:
            neighbours = [r[0] for r in (runs[k - 1] if k else None,
                                         runs[k + 1] if k + 1 < len(runs) else None)
                          if r is not None and r[0] >= 0]
            if neighbours:
                labels[a:b] = neighbours[0]
    return [SpeakerTurn(label, round(a * FRAME_S, 3), round(b * FRAME_S, 3))
            for label, a, b in _runs(labels) if label >= 0]


def pyannote_diarize(audio: np.ndarray, rate: int, pipeline_path: Path,
                     num_speakers: int) -> list[SpeakerTurn]:
    """A local pyannote.audio pipeline (config.yaml with local model paths; GPU image)."""
    import torch

    pipeline = _pyannote_pipeline(str(pipeline_path))
    waveform = torch.from_numpy(np.asarray(audio, dtype=np.float32)[None, :])
    output = pipeline({"waveform": waveform, "sample_rate": rate}, num_speakers=num_speakers)
    return turns_from_pyannote(output)


def turns_from_pyannote(output: Any) -> list[SpeakerTurn]:
    """Speaker turns from what a pyannote pipeline returned: an Annotation (3.x), or a
    DiarizeOutput (4.x), whose exclusive diarization has no overlapping turns, so each
    word has one speaker."""
    annotation = getattr(output, "exclusive_speaker_diarization", None)
    if annotation is None:
        annotation = getattr(output, "speaker_diarization", output)
    names: dict[str, int] = {}
    turns = []
    for segment, _, label in annotation.itertracks(yield_label=True):
        turns.append(SpeakerTurn(names.setdefault(label, len(names)), round(segment.start, 3),
                                 round(segment.end, 3)))
    return turns


@lru_cache(maxsize=1)
def _pyannote_pipeline(path: str) -> Any:
    import torch
    from pyannote.audio import Pipeline

    pipeline = Pipeline.from_pretrained(path)
    if resolve_device("auto", "torch") == "cuda":
        pipeline.to(torch.device("cuda"))
    return pipeline
