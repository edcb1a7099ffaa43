"""PII found by analysis reaches neither the search index nor unmasked summaries."""

from __future__ import annotations

from pathlib import Path

from analysis.analyze import analyze
from core.schemas import Transcript, Utterance, Word
from search.base import SearchQuery
from search.documents import build_document
from search.embedded import EmbeddedBackend


def _utterance(role: str, words: list[str], start: float) -> Utterance:
    ws = [Word(start=start + i * 0.4, end=start + i * 0.4 + 0.35, text=w) for i, w in enumerate(words)]
    return Utterance(speaker=role, role=role, start=ws[0].start, end=ws[-1].end,  # type: ignore[arg-type]
                     text="".join(w.text for w in ws).strip(), words=ws)


def test_pii_is_masked_in_the_index_and_located_in_the_audio(tmp_path: Path) -> None:
    card = "4111 1111 1111 1111"
    transcript = Transcript(
        call_id="pii-1", language="en", duration=20.0, engine="t", model="t", version="1",
        diarization="t", utterances=[
            _utterance("agent", [" My", " name", " is", " Emily."], 0.0),
            _utterance("customer", [" My", " card", " number", " is", *(" " + g for g in card.split()),
                                    "."], 3.0),
            _utterance("customer", [" Call", " me", " on", " 138", " 0013", " 8000."], 8.0),
        ])
    analysis = analyze(transcript)
    kinds = {(h.utterance, h.kind) for h in analysis.pii}
    assert kinds == {(1, "bank_card"), (2, "phone")}  # the agent's own name is not PII
    card_hit = next(h for h in analysis.pii if h.kind == "bank_card")
    assert (card_hit.start, card_hit.end) == (4.6, 6.15)  # the four digit groups, to bleep
    assert analysis.redacted_utterances[1] == "My card number is [CARD]."
    assert analysis.redacted_utterances[0] == "My name is Emily."

    backend = EmbeddedBackend(tmp_path / "s.db")
    backend.index([build_document({}, transcript, analysis)])
    stored = backend.get("pii-1")
    assert stored is not None and card not in str(stored) and "0013" not in str(stored)
    assert backend.search(SearchQuery(text="4111")).total == 0
    assert backend.search(SearchQuery(text="card number")).total == 1
    # Opting out (CALLQA_INDEX_PII=true) indexes the original text.
    backend.index([build_document({}, transcript, analysis, redact_pii=False)])
    assert backend.search(SearchQuery(text="4111")).total == 1


def test_sentiment_per_utterance_and_per_speaker() -> None:
    transcript = Transcript(
        call_id="s", language="en", duration=10.0, engine="t", model="t", version="1",
        diarization="t", utterances=[
            _utterance("agent", [" Thank", " you", " so", " much."], 0.0),
            _utterance("customer", [" This", " is", " ridiculous", " and", " unacceptable."], 3.0),
        ])
    analysis = analyze(transcript)
    assert len(analysis.utterance_sentiment) == 2
    assert analysis.utterance_sentiment[1] < 0 < analysis.utterance_sentiment[0]
    assert analysis.speaker_sentiment["customer"] < 0 < analysis.speaker_sentiment["agent"]
