"""Personal information in call text: find it, redact it, locate it in the audio.

What counts (China's PIPL and the GDPR): Chinese resident ID numbers, bank card
numbers, phone numbers, e-mail addresses, and customer names said after an explicit
cue. A false redaction hides evidence from QA and a missed one leaks PII into the
index, so every number must pass a structural check, not just have the right length:

- ``id_card``: 18 characters (17 digits + digit or X) with a valid ISO 7064 MOD 11-2
  check character, a known province code and a real birth date (1900 to today) at
  positions 7-14; or a legacy 15-digit ID with a province code and a real 19YYMMDD
  date at positions 7-12.
- ``bank_card``: 13-19 digits passing the Luhn check, with a card-network prefix
  (2221-2720 or 2200-2204, 3, 4, 5, 6, 9). The prefix test is what keeps date-based
  order numbers (``2024031512345678``) out even when they happen to pass Luhn.
- ``phone``: Chinese mobiles (``1[3-9]`` + 9 digits, optional 86/+86/0086), Chinese
  and UK numbers with a trunk 0 (``0571-88888888``, ``020 7946 0958``, ``07700
  900123``), North American numbers (``(555) 123-4567``, ``555-123-4567``, ``+1 ...``;
  written without separators the exchange must start with 2-9 as real NANP numbers
  do), and any ``+`` international number of 8-15 digits. Toll-free and service
  lines (400/800, 0800/0808, US 8xx toll free) are a company's, not a person's, and
  are left.
- ``email``: written addresses, and spoken ones ("john dot smith at gmail dot com",
  "zhangsan艾特qq点com") when an e-mail cue precedes them or the domain is a known
  mail provider.
- ``name``: 1-3 capitalised English words after "my/your/his/her/the name is",
  "full/first/last name is", "surname is", "name on the account is", "name's" (a
  bare "name is" only at a sentence start, so "the company name is Acme" stays);
  2-3 hanzi (4 with a compound surname such as 欧阳) after 我叫, 姓名是/为/:, 本人姓名,
  and 名字是/叫 when a person is meant (我的/您的/持卡人... 名字是, not 公司名字叫),
  cut before particles and common words (我叫张伟想问 -> 张伟). Names are also found
  without a cue (see "Names without a cue" below): "Sure, it's Martin Cole", "Mr
  Patel", 请问是吴昊先生吗, 王秀英让我打的电话; 我是小王 stays (小 is no surname).
  With ``role="agent"`` first-person cues (my name is, this is ..., 我叫, 我是, 我的名字是,
  本人姓名) are skipped, since that is the agent introducing themselves; "your name is
  ..." and "the name on the account is ..." still count when the agent says them.

Digits are found however ASR wrote them: ASCII or full-width digits, Chinese numerals
(零〇一二三四五六七八九幺两), English digit words (zero, oh, one ... nine, "double
four"), mixed and grouped by spaces, hyphens, dots, parentheses or (between spoken
digits) commas. The run of digits is normalised, checked, and mapped back to the
original character offsets. A run that fails as a whole is searched group by group
(two cards read one after the other, "oh" before a number).

Deliberately not redacted:

- card and ID tails ("ending in 4821", "尾号4821", "后四位三五二八"): four digits
  identify nobody, and QA needs them to see that identity verification happened;
- amounts and dates: a number right after a currency sign or code ($, ¥, £, €, RMB,
  USD) or right before a unit (元, 块, 万, 亿, %, 年, 月, 日, dollars, pounds, yuan,
  percent) is never PII; commas split written numbers, so "$1,260.50" never forms a
  run; years and dates are too short or fail the checks;
- digits glued to Latin letters (``AB1234567890``): codes, not numbers said aloud.

- reference numbers: a number right after "contract / case / order / reference /
  ticket / invoice / policy / loan ... (number|no|ID|ref) (is)" or 合同/编号/单号/订单/
  流水/案件/工单 is not a card or a phone, even when it passes Luhn or looks like one.

Known limits: English names spelled letter by letter, lower-case names without a cue
("this is", "it's", "speaking to"), and first names that are also English words
(Will, Hope) at a sentence start are missed; a bare 10-digit number shaped like a
North American phone number with no reference word before it is redacted as a phone,
and about one in ten 13-19 digit numbers with a card prefix passes Luhn by chance and
is redacted as a card.

``audio_spans`` maps character spans of an utterance text to (start, end) seconds of
the words they touch, building offsets exactly as ``transcribe.pipeline.join_words``
builds the text, so the audio can be bleeped.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from core.schemas import Word

__all__ = ["PII_KINDS", "PLACEHOLDERS", "PiiSpan", "audio_spans", "find_pii", "redact",
           "redact_text", "redact_values"]

PII_KINDS: tuple[str, ...] = ("id_card", "bank_card", "phone", "email", "name")
PLACEHOLDERS: dict[str, str] = {
    "id_card": "[ID]",
    "bank_card": "[CARD]",
    "phone": "[PHONE]",
    "email": "[EMAIL]",
    "name": "[NAME]",
}


@dataclass(frozen=True)
class PiiSpan:
    kind: str  # id_card | bank_card | phone | email | name
    start: int  # character offsets in the text: text[start:end] == self.text
    end: int
    text: str


# Public API ----------------------------------------------------------------------------


def find_pii(text: str, language: str, *, role: str | None = None) -> list[PiiSpan]:
    """PII in one text (an utterance, or any text): non-overlapping spans sorted by start.

    ``language`` ("en", "zh", "zh-CN"...) only decides whether "oh" is read as zero
    (not in Chinese); every detector runs in both languages, since calls code-switch.
    ``role="agent"`` skips first-person name cues (self-introductions)."""
    if not text:
        return []
    folded = _fold(text)
    lang = (language or "").lower()[:2]
    found: list[tuple[int, int, str]] = []
    emails = _emails(folded)
    found += [(s, e, "email") for s, e in emails]
    found += [(s, e, "name") for s, e in _names(folded, role)]
    found += [(s, e, "name") for s, e in _bare_names_en(folded, role)]
    found += [(s, e, "name") for s, e in _bare_names_zh(folded, role)]
    found += _numbers(folded, lang, blocked=emails)
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    spans: list[PiiSpan] = []
    for start, end, kind in found:
        if spans and start < spans[-1].end:
            continue
        spans.append(PiiSpan(kind=kind, start=start, end=end, text=text[start:end]))
    return spans


def redact(text: str, spans: Iterable[PiiSpan]) -> str:
    """``text`` with each span replaced by its placeholder ([ID], [CARD], [PHONE], [EMAIL],
    [NAME]). Spans must belong to this text and must not overlap (ValueError otherwise)."""
    out: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        _check_span(text, span)
        if span.start < pos:
            raise ValueError(f"overlapping PII spans at {span.start}: {span.text!r}")
        out += [text[pos:span.start], PLACEHOLDERS[span.kind]]
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def redact_text(text: str, language: str = "", *, role: str | None = None) -> str:
    """``text`` with every span find_pii sees masked: for text that was not redacted with
    its utterances (a summary stored by an older version, a search query)."""
    spans = find_pii(text, language, role=role)
    return redact(text, spans) if spans else text


def redact_values(value: Any, language: str = "") -> Any:
    """Every string inside a JSON-like value (dicts, lists) passed through redact_text."""
    if isinstance(value, str):
        return redact_text(value, language)
    if isinstance(value, dict):
        return {k: redact_values(v, language) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(v, language) for v in value]
    return value


def audio_spans(words: Sequence[Word], spans: Iterable[PiiSpan]) -> list[tuple[float, float]]:
    """For each span of the utterance text ``"".join(w.text for w in words).strip()``, the
    (start, end) seconds from the first to the last word it touches, in span order, one
    per span (overlapping results are not merged). A span that does not match that text
    raises ValueError: the spans were found on some other text."""
    joined = "".join(w.text for w in words)
    text = joined.strip()
    pos = -(len(joined) - len(joined.lstrip()))  # offsets relative to the stripped text
    cores: list[tuple[int, int, Word]] = []
    for word in words:
        core = word.text.strip()
        if core:
            start = pos + len(word.text) - len(word.text.lstrip())
            cores.append((start, start + len(core), word))
        pos += len(word.text)
    out: list[tuple[float, float]] = []
    for span in spans:
        _check_span(text, span)
        touched = [w for s, e, w in cores if s < span.end and span.start < e]
        if not touched:  # a whitespace-only span; find_pii never makes one
            raise ValueError(f"PII span {span.text!r} touches no word")
        out.append((min(w.start for w in touched), max(w.end for w in touched)))
    return out


def _check_span(text: str, span: PiiSpan) -> None:
    if span.kind not in PLACEHOLDERS:
        raise ValueError(f"unknown PII kind {span.kind!r}")
    if not 0 <= span.start < span.end <= len(text) or text[span.start:span.end] != span.text:
        raise ValueError(f"PII span {span.start}-{span.end} {span.text!r} does not match the text")


# Text folding ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    """NFKC character by character where that keeps one character (full-width digits,
    letters, ＠, ＋, －, ideographic space), so offsets in the result are offsets in
    ``text``."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Checks ------------------------------------------------------------------------------------

_PROVINCES = _wordset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _plausible_birth(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _valid_id18(d: str) -> bool:
    if len(d) != 18 or not d[:17].isdigit() or d[:2] not in _PROVINCES:
        return False
    if not _plausible_birth(int(d[6:10]), int(d[10:12]), int(d[12:14])):
        return False
    total = sum(int(c) * w for c, w in zip(d[:17], _ID_WEIGHTS, strict=True))
    return d[17].upper() == _ID_CHECK[total % 11]


def _valid_id15(d: str) -> bool:
    return (len(d) == 15 and d.isdigit() and d[:2] in _PROVINCES
            and _plausible_birth(1900 + int(d[6:8]), int(d[8:10]), int(d[10:12])))


def _luhn(d: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _valid_card(d: str) -> bool:
    if not (13 <= len(d) <= 19 and d.isdigit()):
        return False
    if d[0] == "2":
        if not (2221 <= int(d[:4]) <= 2720 or 2200 <= int(d[:4]) <= 2204):  # Mastercard, Mir
            return False
    elif d[0] not in "34569":
        return False
    return _luhn(d)


_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_TRUNK = re.compile(r"0[1-9]\d{8,10}")  # CN landline or UK number, national format
_NANP = re.compile(r"[2-9]\d{9}")
_NANP_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})
_NANP_FORMATS = ([3, 3, 4], [3, 7])


def _nanp(d: str, groups: list[int] | None) -> bool:
    """A North American number without the 1. ``groups`` None: prefixed or spoken, any
    grouping and any exchange (the fictional 555-123-4567 has exchange 123)."""
    if not _NANP.fullmatch(d) or d[:3] in _NANP_TOLL_FREE or d[:3] == "400":
        return False
    if groups is None:
        return True
    if len(groups) == 1:
        return d[3] in "23456789"
    return groups in _NANP_FORMATS


def _is_phone(d: str, groups: list[int], plus: bool, spoken: bool) -> bool:
    if not d.isdigit():
        return False
    if not plus and d.startswith("00"):
        plus, d = True, d[2:]
    if plus:
        if d.startswith("86"):
            rest = d[2:]
            return bool(_CN_MOBILE.fullmatch(rest) or re.fullmatch(r"0?[1-9]\d{8,10}", rest)) \
                and not rest.startswith(("400", "800"))
        if d.startswith("1"):
            return _nanp(d[1:], None)
        if d.startswith("44"):
            return bool(re.fullmatch(r"0?[1-9]\d{8,9}", d[2:]))
        return 8 <= len(d) <= 15
    if _CN_MOBILE.fullmatch(d) or (d.startswith("86") and _CN_MOBILE.fullmatch(d[2:])):
        return True
    if d.startswith(("0800", "0808")):
        return False
    if len(groups) == 1:
        if _TRUNK.fullmatch(d) and len(d) >= 11:
            return True
    elif _TRUNK.fullmatch(d) and (spoken or 3 <= groups[0] <= 5):  # area code first
        return True
    if len(d) == 11 and d[0] == "1":
        if groups[0] == 1:
            groups = groups[1:]
        elif len(groups) == 1:
            groups = [10]
        else:
            return False
        d = d[1:]
    return _nanp(d, None if spoken else groups)


def _classify(d: str, groups: list[int], plus: bool, spoken: bool) -> str | None:
    if len(d) < (8 if plus else 10):
        return None
    if "X" in d:
        return "id_card" if not plus and _valid_id18(d) else None
    if not plus:
        if _valid_id18(d):
            return "id_card"
        if groups != [4, 6, 5] and _valid_id15(d):  # 4-6-5 is how Amex numbers are grouped
            return "id_card"
        if _valid_card(d):
            return "bank_card"
    return "phone" if _is_phone(d, groups, plus, spoken) else None


# Digit runs --------------------------------------------------------------------------------

_ZH_DIGITS = dict(zip("零〇一幺二两兩三四五六七八九", "00112223456789", strict=True))
_EN_DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
              "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_TOKEN = re.compile(
    r"(?P<ad>[0-9])"
    r"|(?P<zh>[零〇一幺二两兩三四五六七八九])"
    r"|(?P<x>叉|(?<![A-Za-z])[Xx](?![A-Za-z]))"
    r"|(?P<plus>\+|(?<![A-Za-z])(?i:plus)(?![A-Za-z]))"
    r"|(?<![A-Za-z])(?i:(?P<en>zero|oh|one|two|three|four|five|six|seven|eight|nine)"
    r"|(?P<mult>double|triple))(?![A-Za-z])"
)
_GAP_SPACE = re.compile(r"\s{1,3}")
_GAP_DASH = re.compile(r"\s?[-‐‑–—]\s?")
_GAP_PAREN = re.compile(r"\)\s?|\s?\(")
_GAP_COMMA = re.compile(r",\s?")
_GAP_AFTER_PLUS = re.compile(r"\s{0,2}\(?")
_CURRENCY_BEFORE = re.compile(r"(?:[$¥£€]|(?<![A-Za-z])(?i:rmb|usd|cny|hkd|gbp|eur))\s*$")
_UNIT_AFTER = re.compile(
    r"\s*(?:[元块万亿角%年月日]|(?i:dollars?|pounds?|yuan|rmb|bucks|cents?|percent|euros?)(?![A-Za-z]))")


@dataclass
class _Tok:
    kind: str  # ad (arabic digit) | zh | en (spoken digits) | x (ID check char) | plus
    start: int
    end: int
    digits: str
    oh: bool = False  # the English word "oh"
    group: int = 0


def _tokens(folded: str, lang: str, blocked: list[tuple[int, int]]) -> list[_Tok]:
    raw: list[tuple[_Tok | None, re.Match[str]]] = []
    for m in _TOKEN.finditer(folded):
        if any(s <= m.start() < e for s, e in blocked):
            continue
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ad":
            raw.append((_Tok("ad", m.start(), m.end(), text), m))
        elif kind == "zh":
            raw.append((_Tok("zh", m.start(), m.end(), _ZH_DIGITS[text]), m))
        elif kind == "en":
            word = text.lower()
            if word == "oh" and lang == "zh":
                continue
            raw.append((_Tok("en", m.start(), m.end(), _EN_DIGITS[word], oh=word == "oh"), m))
        elif kind == "x":
            raw.append((_Tok("x", m.start(), m.end(), "X"), m))
        elif kind == "plus":
            raw.append((_Tok("plus", m.start(), m.end(), ""), m))
        else:  # double / triple: multiplies the digit that follows
            raw.append((None, m))
    toks: list[_Tok] = []
    i = 0
    while i < len(raw):
        tok, m = raw[i]
        if tok is None:
            nxt = raw[i + 1][0] if i + 1 < len(raw) else None
            gap = folded[m.end():nxt.start] if nxt else ""
            if nxt and nxt.kind in ("ad", "zh", "en") and _GAP_SPACE.fullmatch(gap):
                count = 2 if m.group().lower() == "double" else 3
                toks.append(_Tok("en", m.start(), nxt.end, nxt.digits * count))
                i += 2
                continue
        else:
            toks.append(tok)
        i += 1
    return toks


def _continues(prev: _Tok, tok: _Tok, gap: str) -> bool:
    if prev.kind == "x" or tok.kind == "plus":
        return False
    if prev.kind == "plus":
        return tok.kind != "x" and bool(_GAP_AFTER_PLUS.fullmatch(gap))
    if not gap or _GAP_SPACE.fullmatch(gap) or _GAP_DASH.fullmatch(gap) or _GAP_PAREN.fullmatch(gap):
        return True
    if gap == ".":
        return prev.kind == tok.kind == "ad"
    if _GAP_COMMA.fullmatch(gap):  # "幺三八，零零一三" / "five five five, one two three"
        return prev.kind in ("zh", "en") and tok.kind in ("zh", "en")
    return False


def _new_group(prev: _Tok, tok: _Tok, gap: str) -> bool:
    if tok.kind == "x":
        return bool(gap)
    if (prev.kind == "ad") != (tok.kind == "ad"):
        return True
    if not gap:
        return False
    return not (prev.kind == tok.kind == "en" and gap.isspace())


def _runs(folded: str, toks: list[_Tok]) -> Iterator[tuple[_Tok | None, list[list[_Tok]]]]:
    """Runs of digit tokens: (the + in front or None, the digit tokens in groups)."""
    run: list[_Tok] = []

    def flush() -> Iterator[tuple[_Tok | None, list[list[_Tok]]]]:
        plus = run[0] if run and run[0].kind == "plus" else None
        digits = run[1:] if plus else run
        if digits:
            groups: list[list[_Tok]] = []
            for tok in digits:
                if groups and tok.group == groups[-1][-1].group:
                    groups[-1].append(tok)
                else:
                    groups.append([tok])
            yield plus, groups

    for tok in toks:
        if run and _continues(run[-1], tok, folded[run[-1].end:tok.start]):
            prev = run[-1]
            gap = folded[prev.end:tok.start]
            tok.group = prev.group + (prev.kind != "plus" and _new_group(prev, tok, gap))
            run.append(tok)
            continue
        yield from flush()
        run = [tok]
    yield from flush()


def _variants(toks: list[_Tok]) -> Iterator[list[_Tok]]:
    """The tokens, then without an "oh" at either end ("Oh, one three eight ...")."""
    yield toks
    lead, tail = toks[0].oh, toks[-1].oh
    if lead and len(toks) > 1:
        yield toks[1:]
    if tail and len(toks) > 1:
        yield toks[:-1]
    if lead and tail and len(toks) > 2:
        yield toks[1:-1]


# Numbers that a word in front of them says are references, not a person's: "contract
# number 3201 2026 1105 0017", "case ref ...", 合同编号…, 工单号…, 申请单号…
_REFERENCE_BEFORE = re.compile(
    r"(?:(?i:\b(?:contract|case|order|reference|ref|ticket|invoice|policy|agreement|claim|dispute|"
    r"complaint|membership|application|transaction|tracking|confirmation|loan|booking|"
    r"serial|account\s+reference)\b)(?i:\s*(?:number|no\.?|num|#|id|ref(?:erence)?|code))?"
    r"|合同|编号|单号|订单|流水|案件|案号|工单|保单|发票|借据|批次|快递)"
    r"(?i:\s*(?:is|was|will be|=)?\s*)(?:[:：是为]|号码?|号是|号为)?\s*$")


def _context_ok(folded: str, start: int, end: int) -> bool:
    if _CURRENCY_BEFORE.search(folded, 0, start) or _UNIT_AFTER.match(folded, end):
        return False
    if _REFERENCE_BEFORE.search(folded, max(0, start - 40), start):
        return False
    glued_before = start > 0 and folded[start - 1].isascii() and folded[start - 1].isalpha()
    glued_after = end < len(folded) and folded[end].isascii() and folded[end].isalpha()
    return not (glued_before or glued_after)


def _match(folded: str, plus: _Tok | None, toks: list[_Tok]) -> tuple[int, int, str] | None:
    for variant in _variants(toks):
        d = "".join(t.digits for t in variant)
        sizes: dict[int, int] = {}
        for t in variant:
            sizes[t.group] = sizes.get(t.group, 0) + len(t.digits)
        groups = list(sizes.values())
        spoken = any(t.kind in ("zh", "en") for t in variant)
        if len(groups) > 1 and all(g == 1 for g in groups):  # "1 3 8 0 0 ...": digit by digit
            groups, spoken = [len(d)], True
        use_plus = plus if variant[0] is toks[0] else None
        kind = _classify(d, groups, use_plus is not None, spoken)
        if kind is None:
            continue
        start = use_plus.start if use_plus else variant[0].start
        end = variant[-1].end
        if start > 0 and folded[start - 1] == "(" and ")" in folded[start:end]:
            start -= 1
        if _context_ok(folded, start, end):
            return start, end, kind
    return None


_MAX_DIGITS = 21  # a 19-digit card, or an 18-character ID, with an "oh" at each end


def _numbers(folded: str, lang: str, blocked: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for plus, groups in _runs(folded, _tokens(folded, lang, blocked)):
        head = plus.start if plus else groups[0][0].start
        if _REFERENCE_BEFORE.search(folded, max(0, head - 40), head):
            continue  # "case number 3301 0620 1188 7723": no part of it is a phone either
        # The whole run first; failing that, the longest run of groups from each group on.
        ends = list(itertools.accumulate(sum(len(t.digits) for t in g) for g in groups))
        i = 0
        while i < len(groups):
            before = ends[i - 1] if i else 0
            longest = bisect.bisect_right(ends, before + _MAX_DIGITS)  # groups[i:longest] fit
            for j in range(longest, i, -1):
                hit = _match(folded, plus if i == 0 else None, [t for g in groups[i:j] for t in g])
                if hit:
                    found.append(hit)
                    i = j
                    break
            else:
                i += 1
    return found


# E-mail ------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*\s?@\s?"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z0-9])")
_LABEL = r"[a-z0-9]+"
_DOMAIN_LABEL = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_SPOKEN_DOT = r"(?:\s+dot\s+|\.|\s*点\s*)"
_SPOKEN_EMAIL = re.compile(
    rf"(?i)(?<![a-z0-9._-])(?P<local>{_LABEL}(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-]){_LABEL})*)"
    rf"(?:\s+at\s+|\s*(?:@|艾特)\s*)"
    rf"(?P<domain>{_DOMAIN_LABEL}(?:{_SPOKEN_DOT}{_DOMAIN_LABEL})*?)"
    rf"{_SPOKEN_DOT}(?:com|net|org|edu|gov|cn|uk|io|me|info|biz)(?![a-z0-9])")
_EMAIL_CUE = re.compile(r"(?i)e-?mail|邮箱|邮件|电邮")
_MAIL_PROVIDERS = _wordset(
    "gmail googlemail yahoo hotmail outlook live msn icloud me aol protonmail proton gmx "
    "btinternet qq foxmail 163 126 yeah sina sohu 139 aliyun")
_NOT_A_MAILBOX = _wordset(
    "it us me them him her this that there here one site website online page app you "
    "look looked looking find found order ordered buy bought go went visit pay paid")


def _emails(folded: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _EMAIL.finditer(folded)]
    for m in _SPOKEN_EMAIL.finditer(folded):
        if "@" not in m.group():
            cued = bool(_EMAIL_CUE.search(folded, max(0, m.start() - 60), m.start()))
            domain = re.split(r"\s+dot\s+|\.|点", m.group("domain").strip(), flags=re.I)[0].lower()
            if m.group("local").lower() in _NOT_A_MAILBOX or not (cued or domain in _MAIL_PROVIDERS):
                continue
        if not any(s < m.end() and m.start() < e for s, e in spans):
            spans.append((m.start(), m.end()))
    return sorted(spans)


# Names -------------------------------------------------------------------------------------

_EN_NAME_WORD = r"[A-Z](?:[a-z]+(?:['’-]?[A-Z][a-z]+)*|['’][A-Z][a-z]+)"
_EN_NAME = re.compile(
    r"(?i:\b(?:(?P<own>my|your|his|her|their|the|customer'?s|account\s+holder'?s)\s+)?"
    r"(?P<qual>(?:full|first|last|middle|maiden|legal)\s+|sur)?name"
    r"(?P<acct>\s+on\s+(?:the|my|your|this)\s+(?:account|card|loan))?(?:\s+is\b|['’]s\b))"
    r"\s*:?\s*(?:(?i:mr|mrs|ms|miss|dr)\.?\s+)?"
    rf"(?P<name>{_EN_NAME_WORD}(?:\s{_EN_NAME_WORD}){{0,2}})(?![A-Za-z])")
_EN_NOT_NAMES = _wordset(
    "The And But So It Is Yes No Not Okay Ok That This What Correct Right Sure Thank Thanks "
    "Please Hello Hi Sorry Just Well Um Uh Yeah Here There Also On In With For")

# "the company name is Acme" is no person's name: a bare "name is" needs nothing before it
# but a sentence break or one of these words.
_EN_BARE_CUE_AFTER = _wordset("yes yeah ok okay and so sure well um uh")
_ZH_NAME_CUE = re.compile(
    r"(?P<cue>我叫|本人姓名(?:是|为|叫)?|(?P<own>我的|我|本人)?(?P<noun>姓名|名字)\s*(?:是|叫|为|:))\s*:?\s*")
# 姓名 is always a person's; 名字 (any name: an app's, a company's) only after one of these.
_ZH_PERSON_BEFORE = re.compile(
    r"(?:您|你|他|她|持卡人|客户|借款人|开户人|户主|请问)的?\s*$|(?:^|[^\u3400-\u9fff\s])\s*$")
_HANZI = re.compile(r"[\u3400-\u9fff]+")
_COMPOUND_SURNAMES = _wordset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 独孤 "
    "南宫 西门 百里 呼延 澹台 公冶 宗政 濮阳 太史 申屠 赫连 闻人 歐陽 司馬 諸葛 皇甫")
_ZH_NOT_FIRST = frozenset("你您他她它我们這这那什谁哪了的是不没別别大都一个人啥些过着到")
_ZH_NAME_STOP = frozenset("是的了啊呀吧呢嘛哦嗯哈啦呃我你您他她们在要想就也都还還不没"
                          "這这那今现現身手电電卡号號打说說请請问問对對吗嗎")


def _names(folded: str, role: str | None) -> list[tuple[int, int]]:
    agent = role == "agent"
    spans: list[tuple[int, int]] = []
    for m in _EN_NAME.finditer(folded):
        if agent and (m.group("own") or "").lower() == "my":
            continue
        if not (m.group("own") or m.group("qual") or m.group("acct")):
            before = re.search(r"[A-Za-z']+(?=\s*$)", folded[:m.start()])
            if before and before.group().lower() not in _EN_BARE_CUE_AFTER:
                continue
        words = m.group("name").split(" ")
        keep = 0
        for word in words:
            if word in _EN_NOT_NAMES:
                break
            keep += 1
        if keep:
            start = m.start("name")
            spans.append((start, start + len(" ".join(words[:keep]))))
    for m in _ZH_NAME_CUE.finditer(folded):
        first_person = m.group("cue").startswith(("我叫", "本人")) or m.group("own") is not None
        if agent and first_person:
            continue
        if m.group("noun") == "名字" and not m.group("own") and not _ZH_PERSON_BEFORE.search(
                folded, 0, m.start()):
            continue
        run = _HANZI.match(folded, m.end())
        if not run or run.group()[0] in _ZH_NOT_FIRST:
            continue
        chars = run.group()
        name = chars[:4 if chars[:2] in _COMPOUND_SURNAMES else 3]
        for k in range(1, len(name)):
            if name[k] in _ZH_NAME_STOP:
                name = name[:k]
                break
        if len(name) >= 2:
            spans.append((run.start(), run.start() + len(name)))
    return spans


# Names without a cue ------------------------------------------------------------------------
#
# English: no named-entity model installs offline from PyPI with its weights, so a name is
# a capitalised word that is a known first name (gender-guesser's 60,000-name dictionary,
# less English words), with the capitalised words after it; a capitalised word after a
# title (Mr, Ms, ...); and, for lower-case recogniser output, a known first name after
# "this is", "it's", "I'm", "speaking to". Chinese: jieba's person tag (nr) on a word that
# starts with a surname, or a surname before 先生/女士/小姐.

_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mister|Madam|Dr|Mx)\.?\s+(?P<name>"
                    rf"{_EN_NAME_WORD}(?:\s{_EN_NAME_WORD})?)(?![A-Za-z])")
_CAP_WORD = re.compile(r"(?<![A-Za-z'’])[A-Za-z][A-Za-z]*(?:['’-][A-Za-z]+)*")
_LOWER_CUE = re.compile(r"(?i)\b(?:this\s+is|it['’]?s|i['’]?m|speaking\s+(?:to|with)|talking\s+to|"
                        r"looking\s+for|ask\s+for|for|with|to|is)\s+$")
_SELF_CUE = re.compile(r"(?i)\b(?:this\s+is|it['’]?s|i['’]?m|i\s+am|my\s+name['’]?s?(?:\s+is)?|"
                       r"name['’]s)\s+$")
_SELF_AFTER = re.compile(r"(?i)^\s*(?:here\b|speaking\b|from\b|at\b|with\s+(?:you|brightline)|"
                         r"calling\s+from\b)")
# Capitalised words that are first names in some country but, in a call, almost always
# words: greetings, days, months, finance terms.
_EN_COMMON = _wordset(
    "okay ok sure thanks thank right well yeah yes yep nope hello hi hey morning afternoon evening "
    "oh ah um uh er erm hmm mm aw ow wow ha yo ya yay aye one two three four five six seven eight "
    "nine ten zero double triple dot at plus "
    "night good great fine lovely perfect brilliant cheers sorry please just look listen so and "
    "but or if then now today tomorrow yesterday monday tuesday wednesday thursday friday "
    "saturday sunday january february march april may june july august september october "
    "november december christmas easter god lord madam sir mister mate love dear honey baby "
    "card bank loan credit account payment balance finance money cash pay visa amex master "
    "online app email phone mobile number street road lane avenue close drive way court "
    "hope faith joy grace will bill mark rich chase sterling penny summer autumn winter spring "
    "china chinese english american british london paris york boston jersey")
_EN_NOT_SURNAME = _wordset(
    "finance credit bank loans loan card cards insurance services service limited ltd inc plc "
    "group team department road street lane avenue close drive court centre center office "
    "street app online street here speaking from")


@lru_cache(maxsize=1)
def _english_stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _EN_COMMON


@lru_cache(maxsize=1)
def _first_names() -> frozenset[str]:
    """Known first names, lower case, less common English words."""
    try:
        from gender_guesser.detector import Detector
    except ImportError:  # a slim install: titles and cues still find names
        return frozenset()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    names = {n.lower() for n in Detector(case_sensitive=False).names}
    return frozenset(n for n in names if n.isalpha() and len(n) > 1
                     and n not in ENGLISH_STOP_WORDS and n not in _EN_COMMON)


def _cap(word: str) -> bool:
    return (word[0].isupper() and not word.isupper()) or (len(word) > 1 and word.istitle())


def _bare_names_en(folded: str, role: str | None) -> list[tuple[int, int]]:
    if not re.search(r"[A-Za-z]", folded):
        return []
    first = _first_names()
    spans: list[tuple[int, int]] = []
    for m in _TITLE.finditer(folded):
        titled = [w for w in m.group("name").split(" ") if w not in _EN_NOT_NAMES]
        if titled:
            spans.append((m.start("name"), m.start("name") + len(" ".join(titled))))
    words = list(_CAP_WORD.finditer(folded))
    i = 0
    while i < len(words):
        w = words[i]
        lower = w.group().lower()
        capital = _cap(w.group())
        cue = _LOWER_CUE.search(folded, max(0, w.start() - 20), w.start())
        if lower in first and (capital or cue):
            j = i + 1
            while (j < len(words) and j - i <= 2
                   and folded[words[j - 1].end():words[j].start()] == " "
                   and words[j].group().lower() not in _EN_NOT_SURNAME
                   and words[j].group() not in _EN_NOT_NAMES
                   and words[j].group().lower() not in _english_stop_words()
                   and (_cap(words[j].group()) if capital else words[j].group().lower() in first)):
                j += 1
            start, end = w.start(), words[j - 1].end()
            sentence_start = not folded[:start].strip() or folded[:start].rstrip()[-1] in ".?!"
            alone = j == i + 1
            # "Will you ..." / "Mark it down": a lone capitalised name that opens a sentence
            # and runs into lower-case words is a word.
            opens = (alone and sentence_start and not cue
                     and not re.match(r"\s*(?:[,.!?]|$|here\b|speaking\b)", folded[end:]))
            self_intro = role == "agent" and (
                _SELF_CUE.search(folded, max(0, start - 20), start)
                or _SELF_AFTER.match(folded, end))
            if not opens and not self_intro:
                spans.append((start, end))
            i = j
            continue
        i += 1
    return spans


_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫"
    "孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅"
    "童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车"
    "项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛"
    "仲虞敖巩佘池查麻苑迟邝官封谈匡鞠惠荆冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺楼闻厉伊仝区郜阚权帅屠"
    "朴练廉禹井祖漆巴丰支卿狄计索宣晋初门容敬扈晁芮阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况宿鲜印"
    "逯隆茹诸战慕危亢嵇湛宾戎勾茅於呼居揭干尉冶斯束檀衣展阴昝幸奉植衡富尧闭")
_HONORIFIC = re.compile(r"先生|女士|小姐")
_NOT_BEFORE_TITLE = frozenset("这那哪位各两老男女您你他她")
_ZH_PERSON_TAGS = ("nr", "nrfg", "nrt")


def _surname_len(word: str) -> int:
    if word[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in _SURNAMES else 0


def _bare_names_zh(folded: str, role: str | None) -> list[tuple[int, int]]:
    if not _HANZI.search(folded):
        return []
    import jieba.posseg as pseg

    tokens: list[tuple[str, str, int]] = []
    pos = 0
    for pair in pseg.cut(folded):
        tokens.append((pair.word, pair.flag, pos))
        pos += len(pair.word)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        word, flag, start = tokens[i]
        # 王 + 秀英, 欧阳 + 娜娜: a surname jieba split off its given name
        if (i + 1 < len(tokens) and _surname_len(word) == len(word)
                and tokens[i + 1][1] in _ZH_PERSON_TAGS and 1 <= len(tokens[i + 1][0]) <= 2
                and _surname_len(tokens[i + 1][0]) != len(tokens[i + 1][0])):
            word, flag = word + tokens[i + 1][0], "nr"
            i += 1
        i += 1
        title = _HONORIFIC.search(word)
        core = word[:title.start()] if title else word
        cut = _surname_len(core)
        if not cut:
            continue
        before = folded[start - 1] if start else ""
        if len(core) == cut:  # a surname alone: only before a title (李先生)
            nxt = folded[start + len(core):start + len(core) + 2]
            if not (title or _HONORIFIC.match(nxt)) or (before and before in _NOT_BEFORE_TITLE):
                continue
        elif (flag not in _ZH_PERSON_TAGS or len(core) > cut + 2 or (before and before in "这那哪每一")
              or any(c in _ZH_NAME_STOP or c in "谢卡" for c in core[cut:])):
            continue  # 这张卡, 谢谢: jieba's person tag on everyday words
        if role == "agent" and re.search(r"(?:我是|我叫|我姓|工号)[^，。？！,.?!]*$", folded[:start]):
            continue
        spans.append((start, start + len(core)))
    return spans
