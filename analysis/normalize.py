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

CJK = re.compile(r"[\u3400-\u9fff]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """NFKC (full width -> half width), simplified Chinese, lower case, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    if has_cjk(text):
        text = _t2s().convert(text)
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
        return text
    text = _t2s().convert(text)
    return _CJK_RUN.sub(lambda m: " " + " ".join(_jieba().cut(m.group())) + " ", text).strip()


def unsegment(text: str) -> str:
    """Undo `index_text`'s spaces around Chinese (highlight marks included)."""
    if not has_cjk(text):
        return text
    return _INSERTED_SPACE.sub("", text)
