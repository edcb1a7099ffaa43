"""Evaluation forms (QA scorecards) as data: YAML files, validated with file:line errors.

A form has sections of questions; each question has a weight, its text in English and
Chinese, and says how it is answered:

- `answer: {rule: ID}`: yes when the rule did not flag the call, no (with the flag's
  evidence) when it did. Markers never flag, so they cannot answer a question.
- `answer: {metric: NAME, op: OP, value: N}`: yes when the call's measurement satisfies
  the comparison (analysis.metrics names); not applicable when the call lacks it.
- `answer: {intent: [IDS], expect: present|absent}`: yes when the call's primary intent is
  (present) or is not (absent) one of them.
- `answer: {sentiment: SIDE, none_of: [LABELS]}` or `{sentiment: SIDE, min: N}`: the
  customer's sentiment label (SIDE customer) or a score (customer, customer_start,
  customer_end: -1..1; agent_tone: -1..1; agent_politeness: 0..1).
- `answer: manual`: the reviewer answers.

`applies_if: {intent: [IDS]}` makes a question not applicable on other calls;
`critical: true` scores the whole form 0 when the answer is no (an auto-fail item).
Scoring itself is analysis.form_scoring.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.yamlio import load_yaml

DEFAULT_FORMS = Path(__file__).parent / "config" / "forms"
LANGS = ("en", "zh")
ID_PATTERN = r"^[a-z0-9_]+$"
MAX_QUESTIONS = 200
MAX_FILE_BYTES = 1_000_000

# sentiment sides and the metric each reads (analysis.analyze adds them)
SENTIMENT_METRICS = {
    "customer": "customer_sentiment_score",
    "customer_start": "customer_sentiment_start",
    "customer_end": "customer_sentiment_end",
    "agent_tone": "agent_tone",
    "agent_politeness": "agent_politeness",
}
SENTIMENT_LABELS = ("negative", "neutral", "positive")


class FormError(ValueError):
    """A form file that does not validate; the message names the file and line."""


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")

    en: str = Field(min_length=1, max_length=500)
    zh: str = Field(min_length=1, max_length=500)

    def get(self, language: str) -> str:
        return self.zh if language.startswith("zh") else self.en


class AutoAnswer(BaseModel):
    """How a question is answered from the analysis: exactly one source."""

    model_config = ConfigDict(extra="forbid")

    rule: str | None = Field(None, pattern=ID_PATTERN)
    metric: str | None = None
    op: Literal[">", ">=", "<", "<="] | None = None
    value: float | None = None
    intent: list[str] | None = Field(None, min_length=1, max_length=100)
    expect: Literal["present", "absent"] | None = None
    sentiment: Literal["customer", "customer_start", "customer_end", "agent_tone",
                       "agent_politeness"] | None = None
    none_of: list[Literal["negative", "neutral", "positive"]] | None = Field(
        None, min_length=1, max_length=3)
    min: float | None = None

    @property
    def source(self) -> str:
        return next(s for s in ("rule", "metric", "intent", "sentiment") if getattr(self, s))

    @model_validator(mode="after")
    def _one_source(self) -> AutoAnswer:
        given = [s for s in ("rule", "metric", "intent", "sentiment") if getattr(self, s)]
        if len(given) != 1:
            raise ValueError("give exactly one of rule, metric, intent or sentiment "
                             f"(got {', '.join(given) or 'none'})")
        extras = {"rule": set(), "metric": {"op", "value"}, "intent": {"expect"},
                  "sentiment": {"none_of", "min"}}[given[0]]
        stray = [k for k in ("op", "value", "expect", "none_of", "min")
                 if getattr(self, k) is not None and k not in extras]
        if stray:
            raise ValueError(f"{', '.join(stray)} does not go with {given[0]}")
        if self.metric:
            from analysis.metrics import METRIC_NAMES

            if self.metric not in METRIC_NAMES:
                raise ValueError(f"metric {self.metric!r} is not one of "
                                 f"{', '.join(sorted(METRIC_NAMES))}")
            if self.op is None or self.value is None:
                raise ValueError("a metric answer needs op and value")
        if self.intent and self.expect is None:
            self.expect = "present"
        if self.sentiment:
            if (self.none_of is None) == (self.min is None):
                raise ValueError("a sentiment answer needs none_of (labels) or min (a score)")
            if self.none_of is not None and self.sentiment != "customer":
                raise ValueError("none_of reads the customer's label: use sentiment: customer")
        return self


class AppliesIf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: list[str] = Field(min_length=1, max_length=100)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    text: Text
    weight: float = Field(gt=0, le=100)
    critical: bool = False
    applies_if: AppliesIf | None = None
    answer: AutoAnswer | Literal["manual"]
    line: int = Field(0, exclude=True)

    @property
    def manual(self) -> bool:
        return self.answer == "manual"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    title: Text
    questions: list[Question] = Field(min_length=1, max_length=MAX_QUESTIONS)


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    version: int = Field(ge=1)
    title: Text
    pass_mark: float = Field(80, ge=0, le=100, description="Scores at or above pass.")
    sections: list[Section] = Field(min_length=1, max_length=50)
    source: str = Field("", exclude=True)

    @property
    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def hash(self) -> str:
        """Of the parsed content: a changed weight or threshold is a different form."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# Line numbers ------------------------------------------------------------------


def _lines(node: yaml.Node, path: tuple[Any, ...] = (), out: dict[tuple[Any, ...], int] | None
           = None) -> dict[tuple[Any, ...], int]:
    """The 1-based line of every mapping key and list item, by its path."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _lines(value, (*path, i), out)
    return out


def _line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


@dataclass
class References:
    """Ids a form may name: flagging rules (markers excluded) and intents."""

    rules: set[str]
    markers: set[str]
    intents: set[str]


def default_references() -> References:
    from analysis.intents import DEFAULT_INTENTS
    from analysis.tasks import active_rules
    from core.settings import get_settings
    from core.yamlio import read_yaml

    ruleset = active_rules()
    path = get_settings().intents_path or DEFAULT_INTENTS
    intents = set((read_yaml(path).get("intents") or {}).keys())
    return References(rules={r.id for r in ruleset.rules if r.type != "marker"},
                      markers={r.id for r in ruleset.rules if r.type == "marker"},
                      intents=intents)


def parse_form(text: str, source: str = "<form>", refs: References | None = None) -> Form:
    if len(text.encode()) > MAX_FILE_BYTES:
        raise FormError(f"{source}:1: a form file is at most {MAX_FILE_BYTES} bytes")
    try:
        data = load_yaml(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FormError(f"{source}:{mark.line + 1 if mark else 1}: not valid YAML: "
                        f"{getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict) or root is None:
        raise FormError(f"{source}:1: a form file is a mapping (id, version, title, sections)")
    lines = _lines(root)
    try:
        form = Form.model_validate({**data, "source": source})
    except ValidationError as exc:
        raw = exc.errors()
        problems = []
        for e in raw:
            # `answer` is a mapping or the word manual: of the union's two complaints, show
            # the one about the form the file used.
            tags = [str(p) for p in e["loc"] if "[" in str(p) or str(p)[:1].isupper()]
            if any(t.startswith("literal[") for t in tags) and isinstance(e["input"], dict):
                continue
            if any("AutoAnswer" in t for t in tags) and e["type"] in ("model_type", "dict_type"):
                continue
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and (
                "[" in p or p[:1].isupper())))
            where = ".".join(str(p) for p in loc) or "form"
            message = str(e["msg"]).removeprefix("Value error, ")
            problems.append((_line(lines, loc), f"{where}: {message}"))
        problems = sorted(set(problems))
        raise FormError("\n".join(f"{source}:{n}: {m}" for n, m in problems)) from exc
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for si, section in enumerate(form.sections):
        for qi, q in enumerate(section.questions):
            q.line = _line(lines, ("sections", si, "questions", qi))
            if q.id in seen:
                errors.append((q.line, f"question id {q.id!r} is used twice (first on line "
                                       f"{seen[q.id]})"))
            seen.setdefault(q.id, q.line)
            if refs is not None:
                errors += _check_refs(q, refs, lines, ("sections", si, "questions", qi))
    section_ids = [s.id for s in form.sections]
    for si, sid in enumerate(section_ids):
        if sid in section_ids[:si]:
            errors.append((_line(lines, ("sections", si)), f"section id {sid!r} is used twice"))
    if errors:
        raise FormError("\n".join(f"{source}:{n}: {m}" for n, m in sorted(errors)))
    return form


def _check_refs(q: Question, refs: References, lines: dict[tuple[Any, ...], int],
                at: tuple[Any, ...]) -> list[tuple[int, str]]:
    out = []
    answer = q.answer
    if isinstance(answer, AutoAnswer):
        if answer.rule and answer.rule not in refs.rules:
            why = (" is a marker: markers never flag" if answer.rule in refs.markers
                   else " is not a rule of the active rule set")
            out.append((_line(lines, (*at, "answer", "rule")),
                        f"question {q.id!r}: rule {answer.rule!r}{why}"))
        for intent in answer.intent or []:
            if intent not in refs.intents:
                out.append((_line(lines, (*at, "answer", "intent")),
                            f"question {q.id!r}: unknown intent {intent!r}"))
    for intent in (q.applies_if.intent if q.applies_if else []):
        if intent not in refs.intents:
            out.append((_line(lines, (*at, "applies_if", "intent")),
                        f"question {q.id!r}: applies_if names unknown intent {intent!r}"))
    return out


def load_form_file(path: Path, refs: References | None = None) -> Form:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(f"{path}:1: not UTF-8 text") from exc
    except OSError as exc:
        raise FormError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_form(text, str(path), refs)


def load_forms(path: Path | None = None, refs: References | None = None) -> list[Form]:
    """Every form in a file or folder (*.yaml), ids unique."""
    path = path or DEFAULT_FORMS
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise FormError(f"{path}: no form files (*.yaml)")
    forms = [load_form_file(f, refs) for f in files]
    first: dict[str, str] = {}
    for form in forms:
        if form.id in first:
            raise FormError(f"{form.source}:1: form id {form.id!r} is also in {first[form.id]}")
        first[form.id] = form.source
    return forms


_cache: dict[tuple[str, float], list[Form]] = {}


def active_forms() -> list[Form]:
    """CALLQA_FORMS_PATH (a file or folder), else the packaged forms; reloaded when the
    files change; references checked against the active rules and intents."""
    from core.settings import get_settings

    path = get_settings().forms_path or DEFAULT_FORMS
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    stamp = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
    key = (str(path), stamp)
    if key not in _cache:
        _cache.clear()
        _cache[key] = load_forms(path, default_references())
    return _cache[key]


def get_form(form_id: str) -> Form | None:
    return next((f for f in active_forms() if f.id == form_id), None)
