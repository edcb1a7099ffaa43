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
_COMMIT = {
    "en": re.compile(r"[^.?!]*\b(?:i will|i'll|we will|we'll|i can arrange|i've|i have (?:set|sent|"
                     r"updated|raised|logged|submitted))\b[^.?!]*[.?!]?", re.I),
    "zh": re.compile(r"[^。？！，]*(?:我会|我们会|帮您|给您|已经为您|已为您|马上)[^。？！]*[。？！]?"),
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


def summarize(transcript: Transcript, intents: list[IntentHit], titles: dict[str, str],
              sentiment: str, flags: list[Flag]) -> str:
    zh = transcript.language == "zh"
    lang = "zh" if zh else "en"
    agent = [u.text for u in transcript.utterances if u.role == "agent"]
    needs = [titles.get(i.intent, i.intent) for i in intents[:3]]
    amounts = _first(_AMOUNT[lang], [u.text for u in transcript.utterances], 3)
    commitments = _first(_COMMIT[lang], agent, 2)
    flag_titles = [f.title for f in flags]
    if zh:
        parts = [f"客户诉求：{'、'.join(needs) if needs else '未识别'}。"]
        if amounts:
            parts.append(f"提及金额：{'、'.join(amounts)}。")
        if commitments:
            parts.append(f"坐席承诺：{'；'.join(commitments)}")
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
    parts.append(f"Customer sentiment: {sentiment}.")
    parts.append(f"Flags: {', '.join(flag_titles)}." if flag_titles else "Flags: none.")
    return " ".join(parts)
