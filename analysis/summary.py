"""A deterministic call summary for the CRM, in the call's language.

Built from what analysis found (intents, flags, sentiment) and what was said
(amounts, dates, the agent's commitments), never generated freely, so the same
transcript always yields the same summary and every sentence has a source.
"""

from __future__ import annotations

import re

from core.schemas import Flag, IntentHit, Transcript

_AMOUNT = {
    "en": re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)? (?:dollars|pounds|yuan)\b", re.I),
    "zh": re.compile(r"\d[\d,]*(?:\.\d+)?\s?(?:元|块)|[一二三四五六七八九十百千万两零点]+(?:元|块)"),
}
# An English sentence's body: a full stop between digits ($108.50) does not end it.
_EN_SENTENCE = r"(?:[^.?!]|(?<=\d)\.(?=\d))*"

_COMMIT = {
    "en": re.compile(_EN_SENTENCE + r"\b(?:i will|i'll|we will|we'll|i can arrange|i've|i have (?:set|sent|"
                     r"updated|raised|logged|submitted))\b" + _EN_SENTENCE + r"[.?!]?", re.I),
    "zh": re.compile(r"[^。？！，]*(?:我会|我们会|帮您|给您|已经为您|已为您|马上)[^。？！]*[。？！]?"),
}


# Something the agent will do after the call: a deadline, a call-back, a document sent.
_FOLLOW_UP = {
    "en": re.compile(_EN_SENTENCE + r"\b(?:within (?:\d+|one|two|three|five|seven|ten|twenty[- ]four|"
                     r"forty[- ]eight) (?:hours?|days?|working days|business days)|call you back|"
                     r"email you|send you|mail you|get back to you|by (?:monday|tuesday|wednesday|"
                     r"thursday|friday|tomorrow|the end of)|i'?ve (?:logged|submitted|raised|"
                     r"opened)|reference number)\b" + _EN_SENTENCE + r"[.?!]?", re.I),
    "zh": re.compile(r"[^。？！]*(?:\d+个?工作日|\d+小时内|回电|回复您|短信通知|发送给您|发给您|"
                     r"已经为您提交|已为您提交|登记|工单|申请编号)[^。？！]*[。？！]?"),
}


def _first(pattern: re.Pattern[str], texts: list[str], limit: int) -> list[str]:
    found: list[str] = []
    for text in texts:
        for m in pattern.finditer(text):
            value = m.group(0).strip(" ,，")
            if value and value not in found:
                found.append(value)
            if len(found) >= limit:
                return found
    return found


def call_outcome(transcript: Transcript, sentiment: str) -> str:
    """resolved, follow_up (the agent promised something after the call) or unresolved."""
    lang = "zh" if transcript.language == "zh" else "en"
    agent = [u.text for u in transcript.utterances if u.role == "agent"]
    if _first(_FOLLOW_UP[lang], agent, 1):
        return "follow_up"
    return "unresolved" if sentiment == "negative" else "resolved"


def summarize(transcript: Transcript, intents: list[IntentHit],
              titles: dict[str, str | dict[str, str]], sentiment: str, flags: list[Flag]) -> str:
    from analysis.normalize import chinese_numbers_to_digits
    from analysis.rules import localized

    zh = transcript.language == "zh"
    lang = "zh" if zh else "en"
    agent = [u.text for u in transcript.utterances if u.role == "agent"]
    needs = [localized(titles.get(i.intent, i.intent), lang) for i in intents[:3]]
    texts = [chinese_numbers_to_digits(u.text) if zh else u.text for u in transcript.utterances]
    amounts = _first(_AMOUNT[lang], texts, 3)
    follow_ups = _first(_FOLLOW_UP[lang], agent, 2)
    # A question ("请问有什么可以帮您？") offers help; it does not promise anything.
    commitments = [c for c in _first(_COMMIT[lang], agent, 4)
                   if not any(c in f for f in follow_ups) and c[-1] not in "?？"][:2]
    flag_titles = [f.title for f in flags]
    outcome = call_outcome(transcript, sentiment)
    if zh:
        parts = [f"客户诉求：{'、'.join(needs) if needs else '未识别'}。"]
        if amounts:
            parts.append(f"提及金额：{'、'.join(amounts)}。")
        if commitments:
            parts.append(f"坐席承诺：{'；'.join(commitments)}")
        parts.append("处理结果：" + {"follow_up": "待跟进", "unresolved": "未解决，客户不满",
                                "resolved": "通话中已处理"}[outcome] + "。")
        if follow_ups:
            parts.append(f"后续跟进：{'；'.join(follow_ups)}")
        mood = {"negative": "负面", "neutral": "中性", "positive": "正面"}[sentiment]
        parts.append(f"客户情绪：{mood}。")
        parts.append(f"质检问题：{'、'.join(flag_titles)}。" if flag_titles else "质检问题：无。")
        return "".join(parts)
    parts = [f"Customer needs: {', '.join(needs) if needs else 'not identified'}."]
    if amounts:
        parts.append(f"Amounts mentioned: {', '.join(amounts)}.")
    if commitments:
        parts.append("Agent commitments: " + " ".join(c if c[-1] in ".?!" else c + "."
                                                      for c in commitments))
    parts.append("Outcome: " + {"follow_up": "follow-up pending.",
                                "unresolved": "unresolved, customer dissatisfied.",
                                "resolved": "handled in the call."}[outcome])
    if follow_ups:
        parts.append("Follow-ups: " + " ".join(f if f[-1] in ".?!" else f + "."
                                               for f in follow_ups))
    parts.append(f"Customer sentiment: {sentiment}.")
    parts.append(f"Flags: {', '.join(flag_titles)}." if flag_titles else "Flags: none.")
    return " ".join(parts)
