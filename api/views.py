"""How calls look through the API: metadata, stage status, flags with their reviews,
and transcripts and analyses redacted for keys that may not see personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.pii import redact_text
from api.errors import not_found
from api.models import CallSummary, FlagView, ReviewOut, StageStatus
from core.db import Call, Review
from core.schemas import Analysis, Evidence, Transcript
from core.status import STAGES
from core.status import StageStatus as StageState
from core.storage import ObjectStore
from core.storage import load_outputs as stored_outputs
from search.documents import review_status


def get_call(db: Session, call_id: str) -> Call:
    call = db.get(Call, call_id)
    if call is None:
        raise not_found(f"call {call_id!r}")
    return call


def call_summary(call: Call) -> CallSummary:
    from ingest.transcripts import has_audio

    summary = CallSummary.model_validate(call, from_attributes=True)
    summary.has_audio = has_audio(call)
    return summary


def stage_statuses(call: Call) -> list[StageStatus]:
    out = []
    for name in STAGES:
        run = call.stage(name)
        if run is None:
            out.append(StageStatus(stage=name, status=StageState.pending))
        else:
            out.append(StageStatus.model_validate(run, from_attributes=True))
    return out


def load_outputs(store: ObjectStore, call: Call) -> tuple[Transcript | None, Analysis | None]:
    return stored_outputs(store, call.outputs())


def review_history(db: Session, call_id: str) -> list[ReviewOut]:
    rows = db.scalars(select(Review).where(Review.call_id == call_id)
                      .order_by(Review.created_at, Review.id))
    return [ReviewOut.model_validate(r, from_attributes=True) for r in rows]


def _redacted_texts(transcript: Transcript, analysis: Analysis) -> list[str] | None:
    texts = analysis.redacted_utterances
    return texts if len(texts) == len(transcript.utterances) else None


def flag_views(analysis: Analysis | None, reviews: dict[str, Review],
               transcript: Transcript | None, redact: bool, with_quotes: bool = True
               ) -> list[FlagView]:
    if analysis is None:
        return []
    texts = _redacted_texts(transcript, analysis) if (redact and transcript) else None
    out = []
    for flag in analysis.flags:
        ev = flag.evidence[0] if flag.evidence else None
        quote: str | None = None
        if ev is not None and with_quotes:
            if not redact or ev.utterance is None:
                quote = ev.quote
            elif texts is not None and 0 <= ev.utterance < len(texts):
                quote = texts[ev.utterance]
        review = reviews.get(flag.key)
        out.append(FlagView(key=flag.key, rule_id=flag.rule_id, title=flag.title,
                            severity=flag.severity, start=ev.start if ev else None, quote=quote,
                            review=review.decision if review else None,
                            review_comment=review.comment if review else None,
                            reviewer=review.reviewer if review else None))
    return out


def call_review_status(analysis: Analysis | None, reviews: dict[str, Review]) -> str | None:
    if analysis is None:
        return None
    return review_status([f.key for f in analysis.flags],
                         {k: r.decision for k, r in reviews.items()})


def _redacted_evidence(e: Evidence, texts: list[str]) -> Evidence:
    """The quote, and the quote of the turn it answers (a reply_to match), redacted."""
    update: dict[str, Any] = {}
    if e.utterance is not None and 0 <= e.utterance < len(texts):
        update["quote"] = texts[e.utterance]
    if e.context is not None:  # another turn's words: shown only where they can be masked
        i = e.context.utterance
        update["context"] = (e.context.model_copy(update={"quote": texts[i]})
                             if 0 <= i < len(texts) else None)
    return e.model_copy(update=update) if update else e


def redact(transcript: Transcript | None, analysis: Analysis | None
           ) -> tuple[Transcript | None, Analysis | None]:
    """Texts with personal data masked, word lists dropped (they carry the raw words) and
    evidence quotes replaced by their redacted utterance. Without an analysis there is no
    redaction to apply, so no transcript is shown."""
    if transcript is None or analysis is None:
        return None, analysis
    texts = _redacted_texts(transcript, analysis)
    if texts is None:
        return None, None
    utterances = [u.model_copy(update={"text": text, "words": []})
                  for u, text in zip(transcript.utterances, texts, strict=True)]
    flags = []
    for flag in analysis.flags:
        evidence = [_redacted_evidence(e, texts) for e in flag.evidence]
        flags.append(flag.model_copy(update={"evidence": evidence}))
    intents = [i.model_copy(update={"evidence": [_redacted_evidence(e, texts)
                                                 for e in i.evidence]})
               for i in analysis.intents]
    summary = redact_text(analysis.summary, analysis.language)
    return (transcript.model_copy(update={"utterances": utterances}),
            analysis.model_copy(update={"flags": flags, "intents": intents, "summary": summary}))
