"""A call's search document: metadata, utterances with roles and times, analysis results."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from analysis.pii import redact_text
from core.config import params_hash
from core.schemas import SEVERITY_WEIGHT, Analysis, CallMetadata, Transcript, worst_severity
from search.base import CallDocument

# The document's shape and content rules; bump when build_document changes what it writes.
INDEX_VERSION = "2"


def stage_version(redact_pii: bool) -> str:
    """What the index stage records: the document version and a hash of what it was
    built with (masked or clear text), e.g. 2+1c9e0a4f."""
    return f"{INDEX_VERSION}+{params_hash({'redact_pii': redact_pii})}"


def risk_score(analysis: Analysis) -> float:
    """Flags weighted by severity plus negative customer sentiment: the order QA reviews in."""
    score = sum(SEVERITY_WEIGHT[f.severity] for f in analysis.flags)
    if analysis.customer_sentiment == "negative":
        score += 2
    return float(score)


def review_status(flag_keys: list[str], decisions: dict[str, str]) -> str:
    """none (no flags), unreviewed, partial, confirmed (all reviewed, one or more
    confirmed) or dismissed (all reviewed and dismissed)."""
    if not flag_keys:
        return "none"
    done = [decisions[k] for k in flag_keys if k in decisions]
    if not done:
        return "unreviewed"
    if len(done) < len(flag_keys):
        return "partial"
    return "confirmed" if "confirmed" in done else "dismissed"


def build_document(metadata: CallMetadata | Mapping[str, Any], transcript: Transcript,
                   analysis: Analysis, redact_pii: bool = True,
                   decisions: dict[str, str] | None = None) -> CallDocument:
    """The index holds redacted text by default: ID, card and phone numbers, e-mail
    addresses and names never reach it (the original stays with the transcript).
    `metadata` is the call's CallMetadata (or its fields, as `Call.metadata_dict` gives
    them); `decisions` are the latest review per flag key (confirmed or dismissed)."""
    # Fields from our own database or a validated sidecar: constructed, not validated again,
    # so started_at keeps the offset it was recorded with (the index compares instants).
    meta = metadata if isinstance(metadata, CallMetadata) else CallMetadata.model_construct(
        **{k: v for k, v in metadata.items() if k in CallMetadata.model_fields})
    decisions = decisions or {}
    texts = (analysis.redacted_utterances
             if redact_pii and len(analysis.redacted_utterances) == len(transcript.utterances)
             else [u.text for u in transcript.utterances])
    started = meta.started_at
    if started is not None and started.tzinfo is None:  # SQLite returns UTC without offset
        started = started.replace(tzinfo=UTC)
    return {
        "call_id": transcript.call_id,
        "started_at": started.isoformat() if started else None,
        "agent_id": meta.agent_id,
        "team": meta.team,
        "customer_id": meta.customer_id,
        "direction": meta.direction,
        "language": transcript.language,
        # Every language spoken (a call may change language): the language filter and
        # facet count a call under each.
        "languages": transcript.languages(),
        "duration": transcript.duration,
        "primary_intent": analysis.primary_intent,
        "intents": [i.intent for i in analysis.intents],
        "sentiment": analysis.customer_sentiment,
        "sentiment_score": analysis.sentiment_score,
        "rule_ids": sorted({f.rule_id for f in analysis.flags}),
        "max_severity": worst_severity(f.severity for f in analysis.flags),
        "flag_count": len(analysis.flags),
        "critical_flags": sum(f.severity == "critical" for f in analysis.flags),
        "flags": [{"key": f.key, "rule_id": f.rule_id, "title": f.title, "severity": f.severity,
                   "start": f.evidence[0].start if f.evidence else None,
                   "review": decisions.get(f.key)} for f in analysis.flags],
        "review_status": review_status([f.key for f in analysis.flags], decisions),
        "risk": risk_score(analysis),
        "dead_air_s": analysis.metrics.get("dead_air_total_s", 0.0),
        "agent_talk_share": analysis.metrics.get("agent_talk_share"),
        "outcome": analysis.outcome,
        # Built from masked text since analysis 1 of issue 14; masked again for older ones.
        "summary": redact_text(analysis.summary, transcript.language) if redact_pii
        else analysis.summary,
        "pii_redacted": redact_pii,
        "utterances": [{"i": i, "role": u.role, "start": u.start, "end": u.end, "text": text,
                        "language": transcript.language_of(u)}
                       for i, (u, text) in enumerate(zip(transcript.utterances, texts, strict=True))],
    }
