"""Text normalisation shared by analysis and search.

Simplified Chinese, half-width characters, lower case, and Chinese word
segmentation, so that a rule phrase, an indexed utterance and a search query
written in different forms still meet.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from typing import Any

from core.text import to_simplified

CJK = re.compile(r"[\u3400-\u9fff]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import warnings

    with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
# A number is either spoken with units (三百八十, 十五, 一万二千) or read digit by digit
# (三五二八, 二零五七); a lone 一 is a word (一下, 统一), not a number.
_NUM = r"[零〇一幺二两三四五六七八九十百千万亿]"
_CN_NUMBER = re.compile(
    rf"{_NUM}*[十百千万亿]{_NUM}*(?:点[零〇一二三四五六七八九]+)?"
    r"|[零〇一幺二三四五六七八九]{3,}"
    r"|[零〇一二两三四五六七八九]点[零〇一二三四五六七八九]+")
# 百分之十五点四 is 15.4%: the rate, not a hundred.
_FRACTION = re.compile(rf"([百千万])分之({_NUM}+(?:点[零〇一二三四五六七八九]+)?|[\d.]+)")
_PER = {"百": "%", "千": "‰", "万": "‱"}


_EN_SMALL = {w: i for i, w in enumerate([
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen"])}
_EN_TENS = {w: 10 * i for i, w in enumerate(
    ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]) if w}
_EN_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_EN_WORD = "|".join(sorted([*_EN_SMALL, *_EN_TENS, *_EN_SCALE], key=len, reverse=True))
# A run of number words, joined by spaces, hyphens or "and" (three hundred and forty-two).
_EN_NUMBER = re.compile(rf"\b(?:{_EN_WORD})(?:(?:[ -]|\s+and\s+)(?:{_EN_WORD}))*\b",
                        re.IGNORECASE)


def _english_value(words: list[str]) -> int | None:
    total, current = 0, 0
    for word in words:
        if word in _EN_SMALL:
            current += _EN_SMALL[word]
        elif word in _EN_TENS:
            current += _EN_TENS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        else:
            total += (current or 1) * _EN_SCALE[word]
            current = 0
    return total + current


def english_numbers_to_digits(text: str) -> str:
    """three hundred and forty two dollars -> 342 dollars; a lone "one" stays a word
    (one moment, no one), as do digit-by-digit readings (those are PII's business)."""
    def convert(m: re.Match[str]) -> str:
        words = [w for w in re.split(r"[ -]+", m.group(0).lower()) if w and w != "and"]
        if len(words) == 1 and words[0] in _EN_SMALL and _EN_SMALL[words[0]] < 10:
            return m.group(0)
        # Digit-by-digit (four one one one ...) is a code, not a quantity: leave it.
        if all(w in _EN_SMALL and _EN_SMALL[w] < 10 for w in words):
            return m.group(0)
        value = _english_value(words)
        return m.group(0) if value is None else str(value)
    return _EN_NUMBER.sub(convert, text)


def _spoken_value(text: str) -> int:
    """A last digit right after 百/千/万 is that unit's next place, as people say amounts:
    一千二 is 1200, 两万八 is 28000, 三百五 is 350; after 零 it is ones (一千零二 is 1002)."""
    total, section, digit, unit, zero = 0, 0, 0, 0, False
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
            zero = zero or digit == 0
        elif ch in _UNITS:
            section += (digit or 1) * _UNITS[ch]
            digit, unit, zero = 0, _UNITS[ch], False
        else:  # 万 / 亿
            total += (section + digit) * _BIG[ch]
            section, digit, unit, zero = 0, 0, _BIG[ch], False
    if digit and unit >= 100 and not zero:
        digit *= unit // 10
    return total + section + digit


def _number(run: str) -> str:
    whole, _, decimals = run.partition("点")
    if not any(ch in _UNITS or ch in _BIG for ch in whole):
        digits = "".join(str(_DIGITS[ch]) for ch in whole)
    else:
        digits = str(_spoken_value(whole))
    return digits + ("." + "".join(str(_DIGITS[ch]) for ch in decimals) if decimals else "")


def chinese_numbers_to_digits(text: str) -> str:
    """一千二百六十元 -> 1260元, 后四位三五二八 -> 后四位3528, 十五号 -> 15号,
    百分之十五点四 -> 15.4%."""
    text = _FRACTION.sub(lambda m: (m.group(2) if m.group(2)[0].isdigit()
                                    else _number(m.group(2))) + _PER[m.group(1)], text)
    return _CN_NUMBER.sub(lambda m: _number(m.group(0)), text)


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """NFKC (full width -> half width), simplified Chinese, Chinese numerals as digits,
    lower case, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    if has_cjk(text):
        text = chinese_numbers_to_digits(to_simplified(text))
    else:
        text = english_numbers_to_digits(text)
    return _SPACE.sub(" ", text.lower()).strip()


_TOKEN = re.compile(r"[\w\u3400-\u9fff]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text; Chinese runs are segmented with jieba."""
    out: list[str] = []
    for run in _TOKEN.findall(normalize(text)):
        if has_cjk(run):
            out += [t for t in _jieba().cut(run) if t.strip()]
        else:
            out.append(run)
    return out


def segmented(text: str) -> str:
    """Tokens joined by spaces."""
    return " ".join(tokens(text))


_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_WIDE = r"\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_MARKS = "\u0002\u0003"
_INSERTED_SPACE = re.compile(f"(?<=[{_WIDE}{_MARKS}]) +(?=[^ ])|(?<=[^ ]) +(?=[{_WIDE}{_MARKS}])")


def index_text(text: str) -> str:
    """What a full-text index stores: the readable text, simplified and half-width, with
    spaces between Chinese words so the tokenizer sees words. Highlights taken from it
    read as the original once `unsegment` removes those spaces."""
    text = unicodedata.normalize("NFKC", text)
    if not has_cjk(text):
        return english_numbers_to_digits(text)
    text = chinese_numbers_to_digits(to_simplified(text))
    return _CJK_RUN.sub(lambda m: " " + " ".join(_jieba().cut(m.group())) + " ", text).strip()


def unsegment(text: str) -> str:
    """Undo `index_text`'s spaces around Chinese (highlight marks included)."""
    if not has_cjk(text):
        return text
    return _INSERTED_SPACE.sub("", text)
