"""The dialogue file format (see samples/FORMAT.md) and transcript-only ground truth."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from core.schemas import Transcript, Utterance
from core.yamlio import load_yaml
from samples import DIALOGUES_DIR


class Party(BaseModel):
    id: str
    name: str
    team: str | None = None


class Expected(BaseModel):
    intents: list[str] = Field(min_length=1)
    customer_sentiment: Literal["negative", "neutral", "positive"]
    violations: list[str] = Field(default_factory=list)


class Turn(BaseModel):
    speaker: Literal["agent", "customer"]
    text: str = Field(min_length=1)
    pause_before: float = Field(0.0, ge=0, le=120)
    hold_before: float = Field(0.0, ge=0, le=600)
    overlap: float = Field(0.0, ge=0, le=3)
    violations: list[str] = Field(
        default_factory=list, description="Rule-quality sets: the rules this turn breaks (the "
        "call's `expected.violations` stay the truth; bench/fit_rule_classifiers.py learns "
        "from the turns).")


class Dialogue(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    language: Literal["en", "zh"]
    title: str
    direction: Literal["inbound", "outbound"]
    started_at: datetime
    agent: Party
    customer: Party
    expected: Expected
    turns: list[Turn] = Field(min_length=2)

    @model_validator(mode="after")
    def _first_turn_has_no_overlap(self) -> Dialogue:
        if self.turns[0].overlap:
            raise ValueError("the first turn cannot overlap a previous one")
        return self

    def rng(self) -> random.Random:
        """Deterministic per dialogue, so a render is reproducible."""
        return random.Random(int(hashlib.sha256(self.id.encode()).hexdigest()[:16], 16))

    def metadata(self, channel_map: list[str] | None) -> dict[str, object]:
        return {
            "call_id": self.id,
            "agent_id": self.agent.id,
            "team": self.agent.team,
            "customer_id": self.customer.id,
            "started_at": self.started_at.isoformat(),
            "direction": self.direction,
            "channel_map": channel_map,
            "language": self.language,
        }


class DialogueError(ValueError):
    pass


def load_dialogue(path: Path) -> Dialogue:
    try:
        raw = load_yaml(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise DialogueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DialogueError(f"{path}: expected a mapping at the top level")
    try:
        dialogue = Dialogue.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise DialogueError(f"{path}: {problems}") from exc
    if dialogue.id != path.stem:
        raise DialogueError(f"{path}: id {dialogue.id!r} must equal the file stem {path.stem!r}")
    return dialogue


def load_dialogues(paths: list[Path] | None = None, language: str | None = None) -> list[Dialogue]:
    files: list[Path] = []
    for p in paths or [DIALOGUES_DIR]:
        files += sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
    dialogues = [load_dialogue(f) for f in files]
    return [d for d in dialogues if language is None or d.language == language]


_CJK = re.compile(r"[\u4e00-\u9fff]")


def estimated_seconds(text: str) -> float:
    """Speaking time at a typical call-centre rate (4.5 hanzi/s, 2.6 English words/s)."""
    hanzi = len(_CJK.findall(text))
    words = len(re.findall(r"[A-Za-z0-9']+", text))
    return max(0.6, hanzi / 4.5 + words / 2.6)


def turn_start(prev_end: float, turn: Turn, rng: random.Random) -> float:
    """When a turn starts: after a short gap, dead air and hold, or inside the last turn."""
    gap = rng.uniform(0.3, 0.8)
    if turn.overlap:
        return max(0.0, prev_end - turn.overlap)
    return prev_end + gap + turn.pause_before + turn.hold_before


def scripted_transcript(dialogue: Dialogue) -> Transcript:
    """The dialogue as a Transcript with estimated timings (no audio needed)."""
    rng = dialogue.rng()
    utterances = []
    prev_end = 0.5
    for turn in dialogue.turns:
        start = turn_start(prev_end, turn, rng)
        end = start + estimated_seconds(turn.text)
        utterances.append(Utterance(
            speaker=turn.speaker, role=turn.speaker, start=round(start, 2), end=round(end, 2),
            text=turn.text.strip(), channel=0 if turn.speaker == "agent" else 1))
        prev_end = max(prev_end, end)
    return Transcript(
        call_id=dialogue.id, language=dialogue.language, duration=round(prev_end + 0.5, 2),
        utterances=utterances, engine="script", model="ground-truth", version="1",
        diarization="script")


def transcript_document(dialogue: Dialogue) -> dict[str, object]:
    """The dialogue as an importable transcript file (docs/transcripts.md), timings estimated:
    how `callqa demo --language zh` runs the Chinese calls with no Mandarin audio."""
    transcript = scripted_transcript(dialogue)
    meta = dialogue.metadata(None)
    meta.pop("channel_map")
    return {
        "format": "callqa.transcript/1", "source": "sample-script", "metadata": meta,
        "duration": transcript.duration,
        "utterances": [{"speaker": u.speaker, "role": u.role, "start": u.start, "end": u.end,
                        "text": u.text} for u in transcript.utterances],
    }
