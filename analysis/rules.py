"""Compliance rules as data: YAML files, validated with line-numbered errors.

A rule is one of:
- `must_say`: flag when the speaker never says any of the phrases (in a window).
- `must_not_say`: flag each time the speaker says one of the phrases (in a window,
  or before/after another rule's first match, e.g. account details before the
  identity check).
- `marker`: never flags; other rules anchor on where it matched.
- `dead_air`: flag silences longer than `min_s` that no hold announcement excuses.
- `condition`: flag when a conversation metric crosses a threshold (talk share,
  overtalk, interruptions, speech rate, customer sentiment; see analysis.metrics).
Phrases are matched on normalised text: English fuzzily, Chinese exactly or, for
phrases of three characters or more, by pinyin (a recogniser's errors in Mandarin
are mostly homophones: 录音 heard as 路音). Regexes match exactly. `match: all`
needs every phrase in the same utterance. `examples:` are whole utterances an
utterance may paraphrase: it matches when it is at least `threshold` close to one
(analysis.semantic: MiniLM cosine for English, pinyin bigrams for Chinese); the
evidence names the example and the score.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator
from rapidfuzz import fuzz

from analysis.normalize import CJK, has_cjk, normalize
from core.schemas import (
    CUSTOMER_ROLES,
    Evidence,
    EvidenceContext,
    Flag,
    Severity,
    Transcript,
    Utterance,
)
from core.yamlio import load_yaml

DEFAULT_RULES = Path(__file__).parent / "config" / "rules"
# Labelled utterances for the default pack's classifiers (bench/fit_rule_classifiers.py).
DEFAULT_TRAINING = Path(__file__).parent / "config" / "rule_training.yaml"
DEFAULT_THRESHOLD = {"en": 0.6, "zh": 0.65}
DEFAULT_CLASSIFIER_THRESHOLD = {"en": 0.85, "zh": 0.75}


REGEX_MAX_LEN = 2000


@lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Any:
    """A rule regex, case-insensitive, compiled by RE2: matching is linear in the text
    whatever the pattern, so a rule like `(\\w+\\s?)+;` cannot hang a worker or the API
    (Python's backtracking `re` takes exponential time on it). RE2 has no lookaround or
    backreferences; such a pattern is refused with its reason. ValueError if invalid."""
    import re2

    if len(pattern) > REGEX_MAX_LEN:
        raise ValueError(f"longer than {REGEX_MAX_LEN} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = 8 << 20  # a huge counted repetition is refused, not built
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"{reason} (rule regexes use RE2 syntax: linear time, no "
                         "lookaround or backreferences)") from exc


class RuleError(ValueError):
    """A rule file that does not validate; the message names the file and line."""


class Window(BaseModel):
    model_config = {"extra": "forbid"}

    first_s: float | None = Field(None, gt=0, description="Only the first N seconds.")
    last_s: float | None = Field(None, gt=0, description="Only the last N seconds.")
    last_turns: int | None = Field(None, gt=0, description="Only the speaker's last N turns.")


class Condition(BaseModel):
    model_config = {"extra": "forbid"}

    metric: str
    op: Literal[">", ">=", "<", "<="]
    value: float | dict[str, float] = Field(description="A number, or one per language.")

    def threshold(self, language: str) -> float | None:
        if isinstance(self.value, dict):
            return self.value.get(language, self.value.get("any"))
        return self.value

    def holds(self, measured: float, language: str) -> bool:
        limit = self.threshold(language)
        if limit is None:
            return False
        return {">": measured > limit, ">=": measured >= limit, "<": measured < limit,
                "<=": measured <= limit}[self.op]


# Bounds on what a rule lists (uploaded packs go through the same loader): examples,
# cues and replies are encoded and phrases searched for every call, so their number and
# length stay small. The default packs use at most 35 entries of 88 characters.
REPLY_TURNS_MAX = 4
REPLY_LIST_MAX = 100
REPLY_TEXT_MAX = 300
RULE_LIST_MAX = 200
RULE_LANGUAGES_MAX = 8


def _bounded_lists(name: str, lists: dict[str, list[str]], most: int = REPLY_LIST_MAX,
                   longest: int = REPLY_TEXT_MAX) -> None:
    if len(lists) > RULE_LANGUAGES_MAX:
        raise ValueError(f"{name}: at most {RULE_LANGUAGES_MAX} languages")
    for lang, items in lists.items():
        if len(items) > most:
            raise ValueError(f"{name}.{lang}: at most {most} entries")
        if any(not item.strip() or len(item) > longest for item in items):
            raise ValueError(f"{name}.{lang}: every entry is 1 to {longest} characters")


class ReplyTo(BaseModel):
    """An utterance read with the other party's turn just before it: it matches when
    that turn is close to one of `cues` (a customer doubting approval) and the utterance
    to one of `replies` (an assurance that names no approval: "you've got the money")."""

    model_config = {"extra": "forbid"}

    turns: int = Field(2, ge=1, le=REPLY_TURNS_MAX, description="How many utterances back "
                       "the other party's turn may be.")
    cues: dict[str, list[str]] = Field(description="Per language: what the other party says "
                                       "(closeness as for `examples`).")
    cue_threshold: float | dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLD))
    replies: dict[str, list[str]] = Field(description="Per language: what the rule's speaker "
                                          "answers to it.")
    threshold: float | dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLD))

    @model_validator(mode="after")
    def _bounded(self) -> ReplyTo:
        _bounded_lists("cues", self.cues)
        _bounded_lists("replies", self.replies)
        if not any(self.cues.values()) or not any(self.replies.values()):
            raise ValueError("reply_to needs cues and replies")
        for name in ("cue_threshold", "threshold"):
            _check_unit_interval(name, getattr(self, name))
        return self

    def cues_for(self, language: str) -> list[str]:
        return self.cues.get(language, []) + self.cues.get("any", [])

    def replies_for(self, language: str) -> list[str]:
        return self.replies.get(language, []) + self.replies.get("any", [])

    def cue_threshold_for(self, pack: str) -> float:
        return _per_language(self.cue_threshold, pack, DEFAULT_THRESHOLD)

    def threshold_for(self, pack: str) -> float:
        return _per_language(self.threshold, pack, DEFAULT_THRESHOLD)


def _check_unit_interval(name: str, value: float | dict[str, float]) -> None:
    """A threshold (one number or one per language) must lie in (0, 1]."""
    if any(not 0 < t <= 1 for t in (value.values() if isinstance(value, dict) else [value])):
        raise ValueError(f"{name}: every value must be in (0, 1]")


def _per_language(value: float | dict[str, float], pack: str, default: dict[str, float]
                  ) -> float:
    if isinstance(value, dict):
        return value.get(pack, value.get("any", default.get(pack, default["en"])))
    return value


class Rule(BaseModel):
    model_config = {"extra": "forbid"}

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str | dict[str, str] = Field(description="A string, or one per language.")
    version: int = 1
    severity: Severity = "medium"
    type: Literal["must_say", "must_not_say", "marker", "dead_air", "condition"]
    who: Literal["agent", "customer", "any"] = "agent"
    phrases: dict[str, list[str]] = Field(default_factory=dict)
    examples: dict[str, list[str]] = Field(
        default_factory=dict, description="Utterances per language that a match paraphrases.")
    threshold: float | dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLD),
        description="Closeness to an example that counts as a match: one number or one per "
        "language (English: cosine, Chinese: share of the example heard).")
    counter_examples: dict[str, list[str]] = Field(
        default_factory=dict, description="Near misses per language that must not match: an "
        "utterance at least as close to one of these as to the closest example does not match "
        "by example ('I can't promise approval' beside 'approval is certain').")
    polarity: bool = Field(False, description="examples: an utterance and an example only "
                           "compare when both or neither are negated.")
    match: Literal["any", "all"] = Field("any", description="all: every phrase, one utterance.")
    phonetic: bool = Field(True, description="Chinese phrases of 3+ characters also match by "
                           "pinyin.")
    condition: Condition | None = None
    regex: dict[str, list[str]] = Field(default_factory=dict)
    counter_regex: dict[str, list[str]] = Field(
        default_factory=dict, description="Patterns per language of near misses: a match by "
        "example, classifier or reply whose matched words contain one is no match (a rate "
        "per month is close to the annual-rate examples, and is not the annual rate). "
        "Phrase and regex matches are not affected.")
    window: Window | None = None
    before: str | None = Field(None, description="Only matches before this rule's first match.")
    after: str | None = None
    applies_if: str | None = Field(None, description="Only check calls where this rule matched.")
    min_s: float | None = Field(None, gt=0, description="dead_air: the shortest silence flagged.")
    excused_by: str | None = Field(None, description="dead_air: a marker that excuses a silence.")
    fuzzy: int = Field(88, ge=50, le=100, description="Minimum fuzzy score for a phrase, 0-100.")
    negation_guard: bool = Field(
        True, description="must_not_say: ignore a match right after a negation ('cannot "
        "guarantee approval', '不会上门').")
    classifier: bool = Field(
        True, description="examples: also score with a classifier fitted on the examples "
        "against the counter-examples and the other rules' examples (analysis.semantic."
        "RuleClassifier); false: closeness to the nearest example alone.")
    classifier_threshold: float | dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CLASSIFIER_THRESHOLD),
        description="The classifier's probability that counts as a match (one number or one "
        "per language); an utterance matches when its closeness reaches `threshold` or its "
        "probability reaches this.")
    reply_to: ReplyTo | None = Field(
        None, description="must_not_say: an utterance that answers the other party's cue "
        "(the turn just before it) with one of these replies also matches.")
    line: int = Field(0, exclude=True)
    source: str = Field("", exclude=True)
    # The other rules' examples per language (set by load_rules): the classifier's negatives.
    _others: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    # Labelled utterances per language (load_rules, from the training file): (positives, negatives).
    _training: dict[str, tuple[list[str], list[str]]] = PrivateAttr(default_factory=dict)
    # classifier_data per language, built on first use (after load_rules set the above).
    _classifier_data: dict[str, tuple[list[str], list[str]] | None] = PrivateAttr(
        default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.type == "dead_air":
            if self.min_s is None:
                raise ValueError("dead_air rules need min_s")
        elif self.type == "condition":
            if self.condition is None:
                raise ValueError("condition rules need a condition: {metric, op, value}")
            from analysis.metrics import METRIC_NAMES

            if self.condition.metric not in METRIC_NAMES:
                raise ValueError(f"condition.metric {self.condition.metric!r} is not one of "
                                 f"{', '.join(sorted(METRIC_NAMES))}")
        elif not self.phrases and not self.regex and not self.examples and not self.reply_to:
            raise ValueError(f"{self.type} rules need phrases, regex or examples")
        for name in ("threshold", "classifier_threshold"):
            _check_unit_interval(name, getattr(self, name))
        for name in ("phrases", "examples", "counter_examples"):
            _bounded_lists(name, getattr(self, name), RULE_LIST_MAX)
        for name in ("regex", "counter_regex"):
            _bounded_lists(name, getattr(self, name), RULE_LIST_MAX, REGEX_MAX_LEN)
        if self.reply_to is not None and (self.type != "must_not_say" or self.who == "any"):
            raise ValueError("reply_to is for must_not_say rules of the agent or the customer")
        for name in ("regex", "counter_regex"):
            for lang, patterns in getattr(self, name).items():
                for pattern in patterns:
                    try:
                        compile_regex(pattern)
                    except ValueError as exc:
                        raise ValueError(f"{name}.{lang}: {pattern!r} is not a valid regex: "
                                         f"{exc}") from exc
        return self

    def threshold_for(self, language: str) -> float:
        return _per_language(self.threshold, language, DEFAULT_THRESHOLD)

    def classifier_threshold_for(self, language: str) -> float:
        return _per_language(self.classifier_threshold, language, DEFAULT_CLASSIFIER_THRESHOLD)

    def examples_for(self, language: str) -> list[str]:
        return self.examples.get(language, []) + self.examples.get("any", [])

    def counter_examples_for(self, language: str) -> list[str]:
        return self.counter_examples.get(language, []) + self.counter_examples.get("any", [])

    def classifier_data(self, language: str) -> tuple[list[str], list[str]] | None:
        """What the rule's classifier learns from: positives (its examples and the labelled
        utterances that break it) and negatives (its counter-examples, the other rules'
        examples, labelled utterances that do not break it); None: the classifier is off."""
        if not self.classifier:
            return None
        if language not in self._classifier_data:
            self._classifier_data[language] = self._build_classifier_data(language)
        return self._classifier_data[language]

    def _build_classifier_data(self, language: str) -> tuple[list[str], list[str]] | None:
        positives, negatives = self._training.get(language, ([], []))
        if not positives or not negatives:
            return None  # examples alone are too few to learn a direction from
        own = set(self.examples_for(language)) | set(positives)
        others = self._others.get(language, []) + self._others.get("any", [])
        negatives = self.counter_examples_for(language) + [e for e in others if e not in own] + [
            n for n in negatives if n not in own]
        return (self.examples_for(language) + positives, negatives) if negatives else None

    @cached_property
    def compiled(self) -> dict[str, list[Any]]:
        return _compile_all(self.regex)

    @cached_property
    def compiled_counters(self) -> dict[str, list[Any]]:
        return _compile_all(self.counter_regex)

    def counter_pattern_in(self, pack: str, text: str) -> bool:
        """Whether `text` holds one of the rule's counter patterns (its pack's, any)."""
        norm = normalize(text)
        return any(p.search(norm) for p in self.compiled_counters.get(pack, [])
                   + self.compiled_counters.get("any", []))

    @cached_property
    def normalized_phrases(self) -> dict[str, list[str]]:
        return {lang: [normalize(p) for p in ps] for lang, ps in self.phrases.items()}


def _compile_all(patterns: dict[str, list[str]]) -> dict[str, list[Any]]:
    return {lang: [compile_regex(p) for p in ps] for lang, ps in patterns.items()}


@dataclass
class RuleSet:
    rules: list[Rule]
    version: str

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _line_of(node: yaml.Node, index: int) -> int:
    try:
        rules_node = next(v for k, v in node.value if k.value == "rules")
        return int(rules_node.value[index].start_mark.line) + 1
    except (StopIteration, IndexError, AttributeError):
        return 0


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    try:
        data = load_yaml(text)  # first: it refuses nesting the recursive composer cannot take
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise RuleError(f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"
                        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{source}:1: a rule file is a mapping with a 'rules' list")
    rules = []
    for i, raw in enumerate(data["rules"]):
        line = _line_of(root, i) if root is not None else 0
        if not isinstance(raw, dict):
            raise RuleError(f"{source}:{line}: rule {i + 1} is not a mapping")
        try:
            rules.append(Rule.model_validate({**raw, "line": line, "source": source}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}"
                                 for e in exc.errors())
            raise RuleError(f"{source}:{line}: rule {raw.get('id', i + 1)!r}: {problems}") from exc
    return rules


def load_rules(path: Path | None = None) -> RuleSet:
    path = path or DEFAULT_RULES
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise RuleError(f"{path}: no rule files (*.yaml)")
    rules: list[Rule] = []
    for f in files:
        rules += parse_rules(f.read_text("utf-8"), str(f))
    first: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in first:
            raise RuleError(f"{rule.where}: duplicate rule id {rule.id!r} "
                            f"(first defined at {first[rule.id].where})")
        first[rule.id] = rule
    for rule in rules:
        for ref in (rule.before, rule.after, rule.applies_if, rule.excused_by):
            if ref and ref not in first:
                raise RuleError(f"{rule.where}: rule {rule.id!r} refers to unknown rule {ref!r}")
    for rule in rules:
        rule._others = {lang: [e for other in rules if other is not rule
                               for e in other.examples.get(lang, [])]
                        for lang in {lang for r in rules for lang in r.examples}}
    training = _training_file(path)
    if training is not None:
        for rule in rules:
            for lang, data in (training.get(rule.id) or {}).items():
                rule._training[lang] = (list(data.get("positives") or []),
                                        list(data.get("negatives") or []))
    version = "+".join(f"{r.id}@{r.version}" for r in rules)
    return RuleSet(rules, hashlib.sha256(version.encode()).hexdigest()[:12])


def _training_file(rules_path: Path) -> dict[str, Any] | None:
    """The labelled utterances for a pack: `CALLQA_RULE_TRAINING` (a YAML file, or `none`),
    else the default pack's own file (only for the default pack: another pack's rules are
    not those utterances' rules)."""
    from core.settings import get_settings

    chosen = get_settings().rule_training
    if chosen:
        path = None if chosen.lower() == "none" else Path(chosen)
    else:
        default = rules_path.resolve() in (DEFAULT_RULES.resolve(),
                                           (DEFAULT_RULES / "default.yaml").resolve())
        path = DEFAULT_TRAINING if default and DEFAULT_TRAINING.is_file() else None
    if path is None:
        return None
    data = load_yaml(path.read_text("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        raise RuleError(f"{path}:1: a training file is a mapping with a 'rules' mapping")
    return data["rules"]


def localized(title: str | dict[str, str], language: str) -> str:
    """A title in the call's language, else English, else any."""
    if isinstance(title, str):
        return title
    return title.get(language) or title.get("en") or next(iter(title.values()), "")


# Evaluation ---------------------------------------------------------------


@dataclass
class Match:
    utterance: int
    start: float
    end: float
    quote: str
    role: str
    example: str | None = None
    score: float | None = None
    by: str | None = None  # "classifier" when the rule's classifier matched it, "reply"
    context: Match | None = None  # by "reply": the other party's turn it answers


NEGATIONS = {
    "en": re.compile(r"\b(?:not|no|never|cannot|can't|cant|won't|don't|doesn't|isn't|wouldn't)"
                     r"(?:\s+\w+){0,2}\s*$"
                     # ... or a promise denied, then what it would have promised: "I can't
                     # promise you you'll definitely be approved".
                     r"|\b(?:not|never|cannot|can't|cant|won't|don't|couldn't|wouldn't)\s+"
                     r"(?:\w+\s+){0,2}(?:promise|guarantee|say|tell you)\b(?:\s+\S+){0,4}\s*$"),
    "zh": re.compile(r"(?:不|没|别|无法|不能|不会|绝不|从不)[^，。？！,.?!]{0,2}$"
                     r"|(?:没办法|没法|不敢)[^，。？！,.?!]{0,3}$"
                     r"|(?:不|没|无法|不能|不敢|没法|没办法)[^，。？！,.?!]{0,4}"
                     r"(?:保证|打包票|打包票说|承诺|担保|确定|说)[^，。？！,.?!]{0,3}$"),
}


def _negated(norm: str, start: int, lang: str) -> bool:
    pattern = NEGATIONS.get(lang)
    return bool(pattern and pattern.search(norm[:start]))


_RETROFLEX = re.compile(r"^([zcs])h")


@lru_cache(maxsize=8192)
def _syllable(char: str) -> str:
    """The character's syllable, tones ignored, folded by the fuzzy-pinyin pairs that
    Mandarin speakers and recognisers confuse (the pairs input methods offer as 模糊音):
    zh/z, ch/c, sh/s, n/l, and -ng/-n (ing/in, eng/en, ang/an): 路应 is heard as 录音,
    四是 as 是是."""
    from pypinyin import lazy_pinyin

    syllable = _RETROFLEX.sub(r"\1", str(lazy_pinyin(char)[0]))
    if syllable.startswith("n") and len(syllable) > 1:
        syllable = "l" + syllable[1:]
    return syllable[:-1] if syllable.endswith("ng") and len(syllable) > 2 else syllable


@lru_cache(maxsize=16384)
def _pinyin_index(text: str) -> tuple[str, tuple[int, ...]]:
    """" s1 s2 ... " for the Chinese characters of `text`, and each one's offset."""
    offsets = tuple(i for i, c in enumerate(text) if CJK.match(c))
    return " " + " ".join(_syllable(text[i]) for i in offsets) + " ", offsets


def pinyin_find(phrase: str, text: str) -> int:
    """Offset in `text` where `phrase` is heard (same syllables, tones ignored), or -1.
    Syllables are taken character by character, so phrase and text convert alike."""
    target, _ = _pinyin_index(phrase)
    spoken, offsets = _pinyin_index(text)
    at = spoken.find(target)
    return -1 if at < 0 else offsets[spoken.count(" ", 0, at)]


_WORD = re.compile(r"[\w']+")
# Each word of a fuzzy phrase must be at least this close to the word heard in its place:
# a slip such as coal/call (75) or recorder/recorded (87.5) passes, a different short word
# such as get/regret (67) does not.
WORD_FLOOR = 70


def fuzzy_word_find(phrase: str, norm: str, cutoff: int) -> int:
    """Offset in `norm` where `phrase` is heard word for word, or -1: the same number of
    words, as close as `cutoff` together and each word at least WORD_FLOOR. A slip inside
    a word still matches ("this coal may be recorder") while a short phrase cannot match
    across other words ("you will regret" is not "you will get a"). A phrase word the
    recogniser split in two, or two it joined, also matches ("any thing else")."""
    if len(phrase) > len(norm) + 2 or fuzz.partial_ratio(phrase, norm) < cutoff:
        return -1  # the cheap character-level bound: most utterances stop here
    want = _WORD.findall(phrase)
    if not want:
        return -1
    words = list(_WORD.finditer(norm))
    n, said, joined = len(want), " ".join(want), "".join(want)
    for i in range(len(words)):
        window = [w.group() for w in words[i:i + n]]
        if (len(window) == n and fuzz.ratio(said, " ".join(window)) >= cutoff
                and all(fuzz.ratio(w, got) >= WORD_FLOOR
                        for w, got in zip(want, window, strict=True))):
            return words[i].start()
        for size in (n - 1, n + 1):
            span = words[i:i + size]
            if size > 0 and len(span) == size and "".join(w.group() for w in span) == joined:
                return words[i].start()
    return -1


def _phrase_hits(rule: Rule, lang: str, text: str) -> list[str]:
    norm = normalize(text)
    guard = rule.type == "must_not_say" and rule.negation_guard
    hits = []
    phrases = rule.normalized_phrases.get(lang, []) + rule.normalized_phrases.get("any", [])
    for phrase in phrases:
        if has_cjk(phrase):
            at = norm.find(phrase)
            if at < 0 and rule.phonetic and len(CJK.findall(phrase)) >= 3:
                at = pinyin_find(phrase, norm)
        elif rule.fuzzy >= 100:
            at = norm.find(phrase)
        else:
            at = fuzzy_word_find(phrase, norm, rule.fuzzy)
        if at >= 0 and not (guard and _negated(norm, at, lang)):
            hits.append(phrase)
        elif rule.match == "all":
            return []  # one phrase missing: the utterance does not match
    for pattern in rule.compiled.get(lang, []) + rule.compiled.get("any", []):
        found = pattern.search(norm)
        if found and not (guard and _negated(norm, found.start(), lang)):
            hits.append(found.group(0))
    return hits


def _candidates(rule: Rule, transcript: Transcript) -> list[int]:
    mine = [i for i, u in enumerate(transcript.utterances) if rule.who in ("any", u.role)]
    if rule.window and rule.window.last_turns:
        mine = mine[-rule.window.last_turns:]
    return [i for i in mine
            if _in_window(rule.window, transcript.utterances[i], transcript.duration)]


def _closest(rule: Rule, transcript: Transcript, indexes: list[int]) -> dict[int, Any]:
    """The closest example for each utterance (analysis.semantic.Similar), among the
    examples of the utterance's own language (a call may change language)."""
    if not indexes:
        return {}
    from analysis.semantic import best_matches

    out: dict[int, Any] = {}
    by_language: dict[str, list[int]] = {}
    for i in indexes:
        by_language.setdefault(transcript.language_of(transcript.utterances[i]), []).append(i)
    for language, part in by_language.items():
        examples = rule.examples_for(language)
        if not examples:
            continue
        lang = "zh" if language.startswith("zh") else "en"
        found = best_matches(examples, [transcript.utterances[i].text for i in part], lang,
                             polarity=rule.polarity, classifier=rule.classifier_data(language))
        out.update((i, s) for i, s in zip(part, found, strict=True) if s is not None)
    return out


def _counter_scores(rule: Rule, language: str, matched: list[str]) -> list[float]:
    """How close each matched segment is to the rule's closest counter-example (0 when
    it has none): the same words, not another clause of the utterance ("okay then" in
    "Okay then, enjoy your weekend" must not undo the closing)."""
    counters = rule.counter_examples_for(language)
    if not counters or not matched:
        return [0.0] * len(matched)
    from analysis.semantic import best_matches

    lang = "zh" if language.startswith("zh") else "en"
    found = best_matches(counters, matched, lang, polarity=rule.polarity, whole=True)
    scores = [s.score if s is not None else 0.0 for s in found]
    if lang == "zh":  # also the matched clause heard inside a longer counter-example
        from analysis.semantic import chinese_scores

        inside = chinese_scores([normalize(m) for m in matched], [normalize(c) for c in counters])
        scores = [max(a, float(b)) for a, b in zip(scores, inside.max(axis=0), strict=True)]
    return scores


def _vetoed(rule: Rule, pack: str, texts: list[str], bars: list[float]) -> list[bool]:
    """Which texts are at least as close to one of the rule's counter-examples (named near
    misses) as their bar: a match whose words are nearer a near miss is not a match."""
    counter = _counter_scores(rule, pack, texts)
    return [against >= bar for against, bar in zip(counter, bars, strict=True)]


def _hedged(rule: Rule, pack: str, matched: list[tuple[str, str]]) -> list[bool]:
    """For each (matched segment, utterance): whether the sentence the segment was cut
    from holds a near miss as close as the rule's threshold, as a reply's turn is read
    (_replies): "plenty of folks in your spot do get approved, but it genuinely depends on
    what comes back" promises nothing."""
    from analysis.semantic import segments, sentences

    bar = rule.threshold_for(pack)
    out = []
    for segment, text in matched:
        around = next((s for s in sentences(text) if segment in s), None)
        # The sentence's other words: no piece holding the match, or held in it.
        pieces = [p for p in segments(around) if segment not in p and p not in segment] \
            if around else []
        out.append(bool(around and rule.counter_pattern_in(pack, around))
                   or max(_counter_scores(rule, pack, pieces), default=0.0) >= bar)
    return out


def _classifier_vetoed(rule: Rule, pack: str, texts: list[str]) -> list[bool]:
    """The near-miss check for classifier matches, on whole utterances (the classifier
    reads every segment, not the closest one): vetoed when as close to a counter-example
    as a match would be to an example, and nearer it than to any example. Without it the
    classifier read "report it to the police and we'll freeze the card" as a threat."""
    from analysis.semantic import best_matches

    lang = "zh" if pack.startswith("zh") else "en"
    near = best_matches(rule.examples_for(pack), texts, lang, polarity=rule.polarity,
                        whole=True)
    bars = [max(rule.threshold_for(pack), e.score if e else 0.0) for e in near]
    return _vetoed(rule, pack, texts, bars)


@dataclass
class _Reply:
    """An utterance scored as a reply (ReplyTo): the other party's turn before it and
    its closest cue, the utterance's closest reply, and whether a hedge vetoes it."""

    utterance: int
    context: int
    cue: Any  # analysis.semantic.Similar
    reply: Any
    threshold: float  # the reply's own, in the utterance's language
    vetoed: bool


def _replies(rule: Rule, transcript: Transcript, indexes: list[int]) -> list[_Reply]:
    """The utterances of `indexes` that follow, within `reply_to.turns`, an utterance of
    the other party at least `cue_threshold` close to a cue, with their closest reply.
    Only those are scored as replies, so the cue gates where the encoder runs on a call.
    A reply is vetoed when its closest segment is nearer a counter-example than to the
    reply, or any of its segments is as close to a counter-example as the rule's own
    threshold (a hedge by the rule's measure): an assurance with "I can't promise" in the
    same turn is no promise."""
    reply_to = rule.reply_to
    utts = transcript.utterances
    if reply_to is None or not indexes:
        return []
    from analysis.semantic import best_matches, segments

    other = "customer" if rule.who == "agent" else "agent"
    before = {i: [j for j in range(max(0, i - reply_to.turns), i) if utts[j].role == other]
              for i in indexes}
    cues: dict[int, Any] = {}
    for language, part in _by_language(transcript, sorted(set().union(*before.values()))).items():
        lang = "zh" if language.startswith("zh") else "en"
        found = best_matches(reply_to.cues_for(language), [utts[j].text for j in part], lang)
        cues.update((j, c) for j, c in zip(part, found, strict=True) if c is not None
                    and c.score >= reply_to.cue_threshold_for(transcript.pack_of(utts[j])))
    # Each utterance answers the closest cue among the turns just before it.
    asked_at = {i: max((j for j in js if j in cues), key=lambda j: cues[j].score)
                for i, js in before.items() if any(j in cues for j in js)}
    out = []
    for language, part in _by_language(transcript, asked_at).items():
        lang = "zh" if language.startswith("zh") else "en"
        found = best_matches(reply_to.replies_for(language), [utts[i].text for i in part], lang,
                             polarity=rule.polarity)
        pack = transcript.pack_of(utts[part[0]])
        bar = rule.threshold_for(pack)
        for i, reply in zip(part, found, strict=True):
            if reply is None:
                continue
            hedges = _counter_scores(rule, pack, [reply.segment, *segments(utts[i].text)])
            vetoed = hedges[0] >= reply.score or max(hedges[1:], default=0.0) >= bar
            out.append(_Reply(i, asked_at[i], cues[asked_at[i]], reply,
                              reply_to.threshold_for(pack), vetoed))
    return out


def _reply_matches(rule: Rule, transcript: Transcript, indexes: list[int]) -> list[Match]:
    out = []
    for r in _replies(rule, transcript, indexes):
        if not r.vetoed and r.reply.score >= r.threshold and not rule.counter_pattern_in(
                transcript.pack_of(transcript.utterances[r.utterance]), r.reply.segment):
            heard = transcript.utterances[r.utterance]
            out.append(Match(r.utterance, heard.start, heard.end, heard.text, heard.role,
                             r.reply.example, r.reply.score, by="reply",
                             context=_cue_match(transcript, r)))
    return out


def _cue_match(transcript: Transcript, r: _Reply) -> Match:
    """The other party's turn a reply answers, with its closest cue."""
    said = transcript.utterances[r.context]
    return Match(r.context, said.start, said.end, said.text, said.role, r.cue.example,
                 r.cue.score)


def _by_language(transcript: Transcript, indexes: Iterable[int]) -> dict[str, list[int]]:
    """Utterance indexes grouped by the language each was spoken in."""
    out: dict[str, list[int]] = {}
    for i in indexes:
        out.setdefault(transcript.language_of(transcript.utterances[i]), []).append(i)
    return out


def _by_pack(transcript: Transcript, indexes: Iterable[int]) -> dict[str, list[int]]:
    """Utterance indexes grouped by the rule pack language each utterance is checked in."""
    out: dict[str, list[int]] = {}
    for i in indexes:
        out.setdefault(transcript.pack_of(transcript.utterances[i]), []).append(i)
    return out


def _classifier_says(rule: Rule, transcript: Transcript, i: int, sim: Any) -> bool:
    pack = transcript.pack_of(transcript.utterances[i])
    return sim.probability is not None and sim.probability >= rule.classifier_threshold_for(pack)


def _probable(rule: Rule, transcript: Transcript, closest: dict[int, Any],
              skip: set[int]) -> tuple[list[int], set[int]]:
    """The utterances (not in `skip`) the rule's classifier says are its kind: those that
    match, and those a near miss vetoes (a counter pattern in the segment it read, or
    _classifier_vetoed). find_matches and near_misses read the same split."""
    utts = transcript.utterances
    probable = [i for i, sim in closest.items()
                if i not in skip and _classifier_says(rule, transcript, i, sim)]
    vetoed = {i for i in probable if rule.counter_pattern_in(
        transcript.pack_of(utts[i]), closest[i].probable_segment or closest[i].segment)}
    for pack, part in _by_pack(transcript, [i for i in probable if i not in vetoed]).items():
        vetoes = _classifier_vetoed(rule, pack, [utts[i].text for i in part])
        vetoed |= {i for i, veto in zip(part, vetoes, strict=True) if veto}
    return [i for i in probable if i not in vetoed], vetoed


# A flag needs more than a few words cut from a longer sentence: "what you owe", in a list
# of what underwriting looks at, scored 0.74 against "you owe three hundred dollars".
FLAG_MIN_FRAGMENT_WORDS = 4


def _fragment(segment: str, text: str) -> bool:
    """Whether `segment` is a short English piece of one of `text`'s sentences, not a
    sentence of its own (markers and closings still match "security's done", "take care")."""
    from analysis.semantic import sentences

    return (not has_cjk(segment) and len(segment.split()) < FLAG_MIN_FRAGMENT_WORDS
            and segment not in sentences(text))


def find_matches(rule: Rule, transcript: Transcript,
                 span: tuple[float, float] = (float("-inf"), float("inf"))) -> list[Match]:
    """Every utterance that matches; only those starting inside `span` (before or after
    another rule's anchor) are looked at, so the encoder never scores what cannot count.
    Phrases, examples, thresholds and counter-examples of each utterance's own language."""
    out = []
    rest = []
    for i in _candidates(rule, transcript):
        # The anchor's own utterance is read too (span's end included): the order of
        # its sentences decides (_said_before).
        if not span[0] < transcript.utterances[i].start <= span[1]:
            continue
        utt = transcript.utterances[i]
        if _phrase_hits(rule, transcript.language_of(utt), utt.text):
            out.append(Match(i, utt.start, utt.end, utt.text, utt.role))
        else:
            rest.append(i)
    closest = _closest(rule, transcript, rest)
    close = {}
    for i, sim in closest.items():
        pack, text = transcript.pack_of(transcript.utterances[i]), transcript.utterances[i].text
        if (sim.score >= rule.threshold_for(pack) and not rule.counter_pattern_in(pack, sim.segment)
                and not (rule.type == "must_not_say" and _fragment(sim.segment, text))):
            close[i] = sim
    for pack, part in _by_pack(transcript, close).items():
        vetoed = _vetoed(rule, pack, [close[i].segment for i in part],
                         [close[i].score for i in part])
        if rule.type == "must_not_say":
            hedged = _hedged(rule, pack, [(close[i].segment, transcript.utterances[i].text)
                                          for i in part])
            vetoed = [a or b for a, b in zip(vetoed, hedged, strict=True)]
        for i, veto in zip(part, vetoed, strict=True):
            if not veto:
                utt, similar = transcript.utterances[i], close[i]
                out.append(Match(i, utt.start, utt.end, utt.text, utt.role, similar.example,
                                 similar.score))
    # The classifier: an utterance none of whose segments is close enough to one example
    # may still be the rule's kind, unless it is a named near miss (_classifier_vetoed).
    for i in _probable(rule, transcript, closest, {m.utterance for m in out})[0]:
        utt, sim = transcript.utterances[i], closest[i]
        out.append(Match(i, utt.start, utt.end, utt.text, utt.role,
                         sim.probable_example, sim.probability, by="classifier"))
    # A reply to the other party's cue (reply_to): what the turn means in its context.
    matched = {m.utterance for m in out}
    out += _reply_matches(rule, transcript, [i for i in rest if i not in matched])
    return sorted(out, key=lambda m: m.utterance)


@dataclass
class NearMiss:
    rule_id: str
    utterance: int
    quote: str
    example: str
    score: float
    threshold: float
    # "classifier": `score` is its probability, `threshold` its own; "vetoed": the
    # classifier matched but a counter-example was as close (find_matches drops it);
    # "reply": a reply_to reply just under its threshold, answering `context`.
    by: str | None = None
    context: Match | None = None


def near_misses(rule: Rule, transcript: Transcript, margin: float = 0.1) -> list[NearMiss]:
    """Utterances just under the rule's threshold (within `margin`) that no phrase or
    regex matched: what a slightly lower threshold would add. An utterance the classifier
    matches but a counter-example vetoes is listed too, with by "vetoed": what removing
    or narrowing that counter-example would add."""
    utts = transcript.utterances
    rest = [i for i in _candidates(rule, transcript)
            if not _phrase_hits(rule, transcript.language_of(utts[i]), utts[i].text)]
    closest = _closest(rule, transcript, rest)
    vetoed = _probable(rule, transcript, closest, set())[1]
    out = []
    for i, s in closest.items():
        limit = rule.threshold_for(transcript.pack_of(utts[i]))
        above = rule.classifier_threshold_for(transcript.pack_of(utts[i]))
        if i in vetoed:
            out.append(NearMiss(rule.id, i, utts[i].text, s.probable_example or s.example,
                                float(s.probability or 0.0), above, by="vetoed"))
        elif _classifier_says(rule, transcript, i, s):
            continue  # the classifier matches it
        elif limit - margin <= s.score < limit:
            out.append(NearMiss(rule.id, i, utts[i].text, s.example, s.score, limit))
        elif s.probability is not None and above - margin <= s.probability < above:
            out.append(NearMiss(rule.id, i, utts[i].text, s.probable_example or s.example,
                                s.probability, above, by="classifier"))
    # Replies to a cue (reply_to) just under the reply threshold, among the utterances
    # nothing above matches; the cue's turn comes with them.
    taken = {i for i, s in closest.items() if _classifier_says(rule, transcript, i, s)
             or s.score >= rule.threshold_for(transcript.pack_of(utts[i]))} - vetoed
    for r in _replies(rule, transcript, [i for i in rest if i not in taken]):
        if not r.vetoed and r.threshold - margin <= r.reply.score < r.threshold:
            out.append(NearMiss(rule.id, r.utterance, utts[r.utterance].text, r.reply.example,
                                r.reply.score, r.threshold, by="reply",
                                context=_cue_match(transcript, r)))
    return out


def _in_window(window: Window | None, utt: Utterance, duration: float) -> bool:
    if window is None:
        return True
    if window.first_s is not None and utt.start > window.first_s:
        return False
    return not (window.last_s is not None and utt.end < duration - window.last_s)


def _evidence(m: Match) -> Evidence:
    return Evidence(utterance=m.utterance, start=m.start, end=m.end, quote=m.quote,
                    speaker_role=m.role, matched=m.example, score=m.score,
                    matched_by=m.by, context=None if m.context is None else EvidenceContext(
                        utterance=m.context.utterance, start=m.context.start,
                        end=m.context.end, quote=m.context.quote,
                        speaker_role=m.context.role, matched=m.context.example or "",
                        score=m.context.score or 0.0))


# A pause written into the text ("[pause 12s]", "(silence: 15 seconds)", "（静音12秒）"):
# imported or hand-typed transcripts mark dead air this way instead of with times.
_PAUSE_MARK = re.compile(
    r"[\[(（【<]\s*(?:(?:long\s+)?(?:pause|silence|dead air|hold)|静音|停顿|沉默|无声)\s*[:：]?\s*"
    r"(?P<a>\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?|秒钟?)?\s*[\])）】>]"
    r"|[\[(（【<]\s*(?P<b>\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?|秒)(?:钟)?\s*(?:of\s+)?"
    r"(?:pause|silence|dead air|静音|停顿|沉默|无声)\s*[\])）】>]", re.IGNORECASE)


def _said_before(rule: Rule, anchor: Rule | None, transcript: Transcript, index: int) -> bool:
    """Whether, inside one utterance, a sentence matching `rule` comes before the first
    sentence matching its `before` anchor ("I can see the payment of 212 pounds bounced.
    Can I take your date of birth?"). Read by phrases and patterns only: where either
    cannot be placed, the utterance counts as after the anchor, as before."""
    from analysis.semantic import sentences

    if anchor is None:
        return False
    utt = transcript.utterances[index]
    lang = transcript.language_of(utt)
    said = [bool(_phrase_hits(rule, lang, s)) for s in sentences(utt.text)]
    checked = [bool(_phrase_hits(anchor, lang, s)) for s in sentences(utt.text)]
    return True in said and True in checked and said.index(True) < checked.index(True)


def dead_air_gaps(transcript: Transcript, min_s: float) -> list[tuple[int, float, float]]:
    """Silences of at least min_s: between utterances (from their times), between the
    words of one utterance (a transcript whose utterances were not split at pauses), and
    pauses written into the text. (index of the utterance before, start, end)."""
    gaps = []
    last_end, last_idx = 0.0, -1
    for i, utt in enumerate(transcript.utterances):
        if utt.start - last_end >= min_s and last_idx >= 0:
            gaps.append((last_idx, last_end, utt.start))
        for a, b in zip(utt.words, utt.words[1:], strict=False):
            if b.start - a.end >= min_s:
                gaps.append((i, a.end, b.start))
        for m in _PAUSE_MARK.finditer(utt.text):
            seconds = float(m.group("a") or m.group("b"))
            if seconds >= min_s:
                gaps.append((i, utt.start, utt.start + seconds))
        if utt.end > last_end:
            last_end, last_idx = utt.end, i
    return gaps


def _all_matches(ruleset: RuleSet, transcript: Transcript) -> dict[str, list[Match]]:
    """Matches of every phrase rule. Anchors (rules others refer to) first, so a rule
    whose `applies_if` or `after` anchor never matched is not scored at all, and a
    `before`/`after` rule only scores the utterances on its side of the anchor: the
    cheap checks decide where the sentence encoder runs."""
    wanted = [r for r in ruleset.rules if r.type not in ("dead_air", "condition")]
    anchors = {ref for r in ruleset.rules for ref in (r.before, r.after, r.applies_if, r.excused_by)
               if ref}
    matches = {r.id: find_matches(r, transcript) for r in wanted if r.id in anchors}
    for rule in wanted:
        if rule.id in matches:
            continue
        def first(ref: str | None, default: float) -> float | None:
            if not ref:
                return default
            found = matches.get(ref)
            return found[0].start if found else None

        low, high = first(rule.after, float("-inf")), first(rule.before, float("inf"))
        if first(rule.applies_if, 0.0) is None or low is None:
            matches[rule.id] = []  # its anchor never matched: nothing of it can count
            continue
        matches[rule.id] = find_matches(rule, transcript,
                                        (low, float("inf") if high is None else high))
    return matches


def evaluate(ruleset: RuleSet, transcript: Transcript,
             metrics: dict[str, float] | None = None,
             holds: list[tuple[float, float]] | None = None) -> list[Flag]:
    """Flags of every rule; `metrics` (analysis.metrics) feed the condition rules. The
    silences a dead-air rule's marker excuses (the agent announced a hold or a wait) are
    appended to `holds` as (start, end) seconds."""
    matches = _all_matches(ruleset, transcript)
    flags = []
    for rule in ruleset.rules:
        if rule.applies_if and not matches.get(rule.applies_if):
            continue
        evidence: list[Evidence] = []
        if rule.type == "must_say":
            if not matches[rule.id] and transcript.utterances:
                first = transcript.utterances[0]
                window = rule.window.first_s if rule.window and rule.window.first_s else None
                if window:
                    quote = f"not said by the {rule.who} in the first {window:.0f} s"
                elif rule.window and rule.window.last_turns:
                    quote = f"not said in the {rule.who}'s last {rule.window.last_turns} turns"
                else:
                    quote = f"never said by the {rule.who}"
                evidence.append(Evidence(utterance=None, start=first.start,
                                         end=min(transcript.duration, window or transcript.duration),
                                         quote=quote, speaker_role=None))
        elif rule.type == "must_not_say":
            found = matches[rule.id]
            if rule.before:
                anchor = matches.get(rule.before) or []
                cut = anchor[0].start if anchor else float("inf")
                found = [m for m in found if m.start < cut or (
                    m.utterance == anchor[0].utterance
                    and _said_before(rule, ruleset.by_id(rule.before), transcript, m.utterance))]
            if rule.after:
                anchor = matches.get(rule.after) or []
                found = [m for m in found if anchor and m.start > anchor[0].start]
            evidence = [_evidence(m) for m in found]
        elif rule.type == "condition":
            assert rule.condition is not None
            measured = (metrics or {}).get(rule.condition.metric)
            lang = "zh" if transcript.language == "zh" else "en"
            if measured is not None and rule.condition.holds(measured, lang):
                evidence.append(Evidence(
                    utterance=None, start=0.0, end=transcript.duration, speaker_role=None,
                    quote=f"{rule.condition.metric} = {measured:g} "
                          f"({rule.condition.op} {rule.condition.threshold(lang):g})"))
        elif rule.type == "dead_air":
            excuses = {m.utterance for m in matches.get(rule.excused_by or "", [])}
            excused: dict[int, int] = {}  # announcement -> the last silence it excused
            for idx, start, end in dead_air_gaps(transcript, rule.min_s or 0):
                # "Please hold." "Sure." <silence>: the announcement may be a turn or two
                # back. Once the customer has spoken after the wait, it is spent: a later
                # silence after their next question is dead air again.
                by = next((k for k in sorted(excuses & {idx, idx - 1, idx - 2}, reverse=True)
                           if k not in excused or not any(
                               u.role in CUSTOMER_ROLES
                               for u in transcript.utterances[excused[k] + 1:idx + 1])), None)
                if by is not None:
                    excused[by] = idx
                    if holds is not None and (round(start, 2), round(end, 2)) not in holds:
                        holds.append((round(start, 2), round(end, 2)))
                    continue
                evidence.append(Evidence(utterance=idx, start=round(start, 2), end=round(end, 2),
                                         quote=f"{end - start:.1f} s of silence", speaker_role=None))
        if evidence:
            flags.append(Flag(rule_id=rule.id, rule_version=rule.version,
                              title=localized(rule.title, transcript.language),
                              severity=rule.severity, evidence=evidence))
    return flags


def rules_summary(ruleset: RuleSet) -> list[dict[str, Any]]:
    return [{"id": r.id, "title": localized(r.title, "en"), "type": r.type, "severity": r.severity,
             "version": r.version} for r in ruleset.rules]
