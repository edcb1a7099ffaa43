"""A call full of personal data goes through analysis and every output a redacted role,
the CRM or a receiver sees: none of the data may be in any of them.

Outputs walked: the analysis summary, the search document (and what the embedded index
gives back for a search, a customer summary and the CSV export columns), the webhook
payloads, the API's redacted transcript, analysis and flag views, the call insight, and
an audit entry for a search that typed a phone number."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analysis import analyze, load_rules
from analysis.analyze import AnalysisModels
from api import audit
from api.routes.insight import EXPORT_COLUMNS
from api.views import flag_views, redact
from core.schemas import Transcript, Utterance
from core.webhooks import call_events
from search.base import SearchQuery
from search.documents import build_document
from search.embedded import EmbeddedBackend
from search.insight import customer_summary

CARD = "4111 1111 1111 1111"
ID = "11010519491231002X"
PHONE_EN = "(415) 555-2671"
PHONE_ZH = "13912345678"
EMAIL = "martin.cole@gmail.com"
# Each value as it must never appear (also without its spaces and punctuation).
SECRETS = ["Martin Cole", "Martin", CARD, ID, PHONE_EN, PHONE_ZH, EMAIL, "王秀英", "张伟",
           "one three nine one two three four five six seven eight"]

EN_TURNS = [
    ("agent", "Thanks for calling Brightline, this call is recorded. Who am I speaking with?"),
    ("customer", "Sure, it's Martin Cole."),
    ("agent", "Thanks Martin. Can you confirm your date of birth?"),
    ("customer", "Fourth of March ninety. My new card is " + CARD + "."),
    ("agent", "I will update the card to " + CARD + " and call you back on " + PHONE_EN + "."),
    ("customer", "Great, or email me at " + EMAIL + ". My Chinese ID is " + ID + "."),
    ("agent", "I'll send it to " + EMAIL + " within two working days. Anything else, Martin?"),
    ("customer", "No, thanks. Actually I might be late with the next payment."),
    ("agent", "Martin Cole, we know where you work, and " + PHONE_EN + " is on file."),  # a flag
    ("agent", "Have a good day, goodbye."),
]
ZH_TURNS = [
    ("agent", "您好，本次通话将被录音。请问是王秀英女士吗？"),
    ("customer", "是我，我的手机号是" + PHONE_ZH + "，身份证" + ID + "。"),
    ("agent", "好的王秀英女士，核实通过。我会给您回电到一三九一二三四五六七八，已经为您登记了。"),
    ("customer", "我老公张伟的卡" + CARD.replace(" ", "") + "也帮我换一下。"),
    ("agent", "张伟要是不还，我们知道他在哪上班，他的手机" + PHONE_ZH + "我们也有。"),  # a flag
    ("agent", "好的，已为您提交，三个工作日内短信通知您。祝您生活愉快，再见。"),
]


def call(turns: list[tuple[str, str]], language: str, call_id: str) -> Transcript:
    utterances = []
    t = 0.5
    for role, text in turns:
        utterances.append(Utterance(speaker=role, role=role, start=t, end=t + 3.0, text=text))
        t += 3.5
    return Transcript(call_id=call_id, language=language, duration=t, utterances=utterances,
                      engine="script", model="test", version="1", diarization="script")


def leaks(value: Any) -> list[str]:
    text = json.dumps(value, ensure_ascii=False, default=str)
    squeezed = re.sub(r"[\s()\-.]", "", text)
    return [s for s in SECRETS
            if s in text or (len(re.sub(r"[\s()\-.]", "", s)) > 6
                             and re.sub(r"[\s()\-.]", "", s) in squeezed)]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rules = load_rules()
    models = AnalysisModels.default()
    backend = EmbeddedBackend(tmp_path_factory.mktemp("index"), "UTC")
    out: dict[str, Any] = {}
    docs = []
    for turns, language in ((EN_TURNS, "en"), (ZH_TURNS, "zh")):
        transcript = call(turns, language, f"walk-{language}")
        analysis = analyze(transcript, rules, models)
        metadata = {"agent_id": "A1", "team": "service", "customer_id": f"C-{language}",
                    "direction": "inbound", "started_at": datetime(2026, 11, 3, 9, tzinfo=UTC)}
        doc = build_document(metadata, transcript, analysis, redact_pii=True)
        docs.append(doc)
        masked_transcript, masked_analysis = redact(transcript, analysis)
        assert masked_transcript is not None and masked_analysis is not None
        out[language] = {
            "raw_analysis": analysis,
            "summary": analysis.summary,
            "document": doc,
            "webhooks": call_events(transcript.call_id, doc),
            "redacted_transcript": masked_transcript.model_dump(),
            "redacted_analysis": masked_analysis.model_dump(),
            "flag_views": [f.model_dump() for f in flag_views(analysis, {}, transcript,
                                                               redact=True)],
        }
    assert backend.index(docs) == 2
    for language in ("en", "zh"):
        hits = backend.search(SearchQuery(customer_id=f"C-{language}", size=10)).hits
        out[language]["search_hits"] = [h.__dict__ for h in hits]
        out[language]["csv_row"] = [getattr(h, c) for h in hits for c in EXPORT_COLUMNS]
        out[language]["crm_summary"] = customer_summary(backend, f"C-{language}")
    return out


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_raw_call_has_the_data(outputs: dict[str, Any], language: str) -> None:
    """The check below means something: the transcript did carry the data, and analysis
    found each kind."""
    assert any(f.rule_id == "threat_or_abuse" for f in outputs[language]["raw_analysis"].flags)
    kinds = {h.kind for h in outputs[language]["raw_analysis"].pii}
    assert {"name", "bank_card", "id_card", "phone"} <= kinds
    if language == "en":
        assert "email" in kinds


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("output", ["summary", "document", "webhooks", "redacted_transcript",
                                    "redacted_analysis", "flag_views", "search_hits", "csv_row",
                                    "crm_summary"])
def test_no_personal_data_in_any_output(outputs: dict[str, Any], language: str,
                                        output: str) -> None:
    assert outputs[language][output], f"{output} is empty: nothing was checked"
    assert leaks(outputs[language][output]) == []


def test_the_summary_still_says_what_happened(outputs: dict[str, Any]) -> None:
    assert "Follow-ups" in outputs["en"]["summary"]
    assert "[CARD]" in outputs["en"]["summary"] or "[PHONE]" in outputs["en"]["summary"]
    assert "坐席承诺" in outputs["zh"]["summary"] or "后续跟进" in outputs["zh"]["summary"]


def test_audit_entry_of_a_search_for_a_phone_number_is_masked(tmp_path: Path) -> None:
    added: list[Any] = []

    class Db:
        def add(self, entry: Any) -> None:
            added.append(entry)

    audit.record(Db(), "qa@example", "search", "search",  # type: ignore[arg-type]
                 {"query": {"q": f"caller {PHONE_ZH} or {EMAIL}", "agent_id": "A1"}})
    assert added and leaks(added[0].detail) == []
    assert added[0].detail["query"]["agent_id"] == "A1"


def test_the_walk_would_see_a_leak(outputs: dict[str, Any]) -> None:
    """The stored analysis keeps the raw quotes for qa: the same check finds them there."""
    for language in ("en", "zh"):
        assert leaks(outputs[language]["raw_analysis"].model_dump())


def test_the_turn_a_reply_answers_is_masked_too() -> None:
    """A reply_to flag quotes the customer's turn as well (evidence.context): redacted like
    the quote, and dropped where there is no redacted text for it."""
    from core.schemas import Analysis, Evidence, EvidenceContext, Flag

    t = call([("customer", f"My card is {CARD} and my credit is bad, will I get it?"),
              ("agent", "Don't worry, the money is yours.")], "en", "reply-call")
    masked = ["My card is [CARD] and my credit is bad, will I get it?",
              "Don't worry, the money is yours."]

    def analysis(context_utterance: int) -> Analysis:
        context = EvidenceContext(utterance=context_utterance, start=0.5, end=3.5,
                                  quote=t.utterances[0].text, matched="my credit is bad",
                                  score=0.8)
        flag = Flag(rule_id="guaranteed_approval", rule_version=1, title="t", severity="high",
                    evidence=[Evidence(utterance=1, start=4.0, end=7.0, quote=t.utterances[1].text,
                                       matched_by="reply", context=context)])
        return Analysis(call_id="reply-call", language="en", version="1", rules_version="1",
                        flags=[flag], primary_intent=None, intents=[], customer_sentiment="neutral",
                        sentiment_score=0.0, metrics={}, summary="", redacted_utterances=masked)

    _, shown = redact(t, analysis(0))
    assert shown is not None and shown.flags[0].evidence[0].context is not None
    assert shown.flags[0].evidence[0].context.quote == masked[0]
    assert leaks(shown.model_dump()) == []
    _, shown = redact(t, analysis(7))
    assert shown is not None and shown.flags[0].evidence[0].context is None
