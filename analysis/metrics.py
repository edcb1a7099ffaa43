"""Conversation metrics: talk time and share, dead air, overtalk, speech rate, latency."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from analysis.normalize import CJK
from core.config import load_config
from core.schemas import Transcript

DEFAULT_METRICS = Path(__file__).parent / "config" / "metrics.yaml"
METRICS_SCHEMA: dict[str, Any] = {"dead_air_min_s": float}


@lru_cache(maxsize=4)
def metrics_config(path: Path | None = None) -> dict[str, Any]:
    """metrics.yaml, with `path` (CALLQA_METRICS_PATH) merged over it."""
    return load_config(DEFAULT_METRICS, METRICS_SCHEMA, path)

_WORD = re.compile(r"[A-Za-z0-9']+")


def _units(text: str) -> int:
    """Words for alphabetic text, characters for Chinese."""
    return len(CJK.findall(text)) + len(_WORD.findall(text))


METRIC_NAMES = frozenset({
    "duration_s", "agent_talk_s", "customer_talk_s", "agent_talk_share", "dead_air_total_s",
    "dead_air_longest_s", "dead_air_count", "overtalk_s", "agent_interruptions",
    "agent_speech_rate_per_min", "customer_speech_rate_per_min", "agent_response_latency_s",
    # added by analyze() from sentiment:
    "customer_sentiment_start", "customer_sentiment_end", "customer_escalated",
    "customer_sentiment_score", "agent_tone", "agent_politeness",
})


def _dead_air_s(dead_air_s: float | None) -> float:
    """A gap between utterances this long or longer is dead air (metrics.yaml)."""
    if dead_air_s is not None:
        return dead_air_s
    from core.settings import get_settings

    return float(metrics_config(get_settings().metrics_path)["dead_air_min_s"])


def conversation_spans(transcript: Transcript, dead_air_s: float | None = None
                       ) -> dict[str, list[tuple[float, float]]]:
    """Where the metrics' dead air and overtalk are, as (start, end) seconds: the call
    page's timeline draws these, so it shows exactly what the numbers count."""
    dead_air_s = _dead_air_s(dead_air_s)
    utts = transcript.utterances
    silence, overtalk = [], []
    last_end = utts[0].end if utts else 0.0
    for prev, cur in pairwise(utts):
        if cur.start - last_end >= dead_air_s:
            silence.append((round(last_end, 2), round(cur.start, 2)))
        elif cur.start <= last_end and cur.role != prev.role and min(last_end, cur.end) > cur.start:
            overtalk.append((round(cur.start, 2), round(min(last_end, cur.end), 2)))
        last_end = max(last_end, cur.end)
    return {"silence": silence, "overtalk": overtalk}


def conversation_metrics(transcript: Transcript, dead_air_s: float | None = None
                         ) -> dict[str, float]:
    dead_air_s = _dead_air_s(dead_air_s)
    utts = transcript.utterances
    talk = {"agent": 0.0, "customer": 0.0}
    units = {"agent": 0, "customer": 0}
    for u in utts:
        if u.role in talk:
            talk[u.role] += u.end - u.start
            units[u.role] += _units(u.text)
    total_talk = sum(talk.values()) or 1.0
    gaps, overtalk, interruptions, latencies = [], 0.0, 0, []
    last_end = utts[0].end if utts else 0.0
    for prev, cur in pairwise(utts):
        if cur.start > last_end:
            gaps.append(cur.start - last_end)
        elif cur.role != prev.role:
            overtalk += min(last_end, cur.end) - cur.start
            if cur.role == "agent":
                interruptions += 1  # the agent started while the customer was speaking
        if prev.role == "customer" and cur.role == "agent" and cur.start >= prev.end:
            latencies.append(cur.start - prev.end)
        last_end = max(last_end, cur.end)
    long_gaps = [g for g in gaps if g >= dead_air_s]
    rate = {r: (units[r] / (talk[r] / 60) if talk[r] else 0.0) for r in talk}
    return {
        "duration_s": round(transcript.duration, 2),
        "agent_talk_s": round(talk["agent"], 2),
        "customer_talk_s": round(talk["customer"], 2),
        "agent_talk_share": round(talk["agent"] / total_talk, 3),
        "dead_air_total_s": round(sum(long_gaps), 2),
        "dead_air_longest_s": round(max(gaps, default=0.0), 2),
        "dead_air_count": float(len(long_gaps)),
        "overtalk_s": round(overtalk, 2),
        "agent_interruptions": float(interruptions),
        "agent_speech_rate_per_min": round(rate["agent"], 1),
        "customer_speech_rate_per_min": round(rate["customer"], 1),
        "agent_response_latency_s": round(sum(latencies) / len(latencies), 2) if latencies else 0.0,
    }
