"""The analysis YAML files: checked like the transcription parameters, one source of
defaults, and a recorded version that changes with them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analysis.analyze import stage_version
from analysis.heads import HeadOptions
from analysis.intents import EmbeddingIntentClassifier, intents_config
from analysis.metrics import conversation_metrics, metrics_config
from analysis.rules import load_rules
from analysis.sentiment import ModelSentiment, sentiment_config
from core.config import ConfigError
from core.schemas import Transcript, Utterance
from core.settings import reset_settings

LOADERS: dict[str, Callable[[Path], Any]] = {
    "sentiment": sentiment_config, "intents": intents_config,
    "metrics": metrics_config.__wrapped__, "training": HeadOptions.load}
BAD: dict[str, tuple[str, str]] = {  # a wrong value, and what the error names
    "sentiment": ("call:\n  negative_turns: two\n", "call.negative_turns: expected an integer"),
    "intents": ("similarity:\n  enabled: maybe\n", "similarity.enabled: expected true or false"),
    "metrics": ("dead_air_min_s: [5]\n", "dead_air_min_s: expected a number"),
    "training": ("word_ngrams: 2\n", "word_ngrams: expected a list"),
}


@pytest.mark.parametrize("name", LOADERS)
def test_unknown_keys_and_wrong_types_are_refused_with_the_path(name: str,
                                                                tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text("no_such_parameter: 1\n")
    with pytest.raises(ConfigError, match=rf"{path}: top level: unknown keys \['no_such_"):
        LOADERS[name](path)
    text, message = BAD[name]
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{path}: {message}"):
        LOADERS[name](path)


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "sentiment.yaml"
    path.write_text("call:\n  negative_turns: 3\n")
    mine, packaged = ModelSentiment.load(path), ModelSentiment.load()
    assert mine.call.negative_turns == 3
    assert mine.call.anger_weight == packaged.call.anger_weight
    assert mine.calibration == packaged.calibration and mine.models == packaged.models


def test_a_taxonomy_of_its_own_takes_no_packaged_examples(tmp_path: Path) -> None:
    path = tmp_path / "intents.yaml"
    path.write_text("intents:\n  refund: {title: Refunds, en: [refund]}\n"
                    "  pets: {title: Pets, en: [my dog]}\n")
    raw = intents_config(path)
    assert set(raw["intents"]) == {"refund", "pets"}
    assert set(raw["examples"]) == {"refund"}  # packaged refund examples, nothing else
    assert set(EmbeddingIntentClassifier(path).example_intents) == {"refund"}


def test_dead_air_threshold_comes_from_the_metrics_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    transcript = Transcript(call_id="c", language="en", duration=20.0, utterances=[
        Utterance(speaker="S0", role="agent", start=0.0, end=2.0, text="Hello."),
        Utterance(speaker="S1", role="customer", start=5.5, end=7.0, text="Hi."),
    ], engine="scripted", model="none", version="0", diarization="channel")
    assert conversation_metrics(transcript)["dead_air_count"] == 0.0  # 3.5 s < 5 s
    path = tmp_path / "metrics.yaml"
    path.write_text("dead_air_min_s: 3.0\n")
    monkeypatch.setenv("CALLQA_METRICS_PATH", str(path))
    reset_settings()
    try:
        assert conversation_metrics(transcript)["dead_air_count"] == 1.0
    finally:
        monkeypatch.delenv("CALLQA_METRICS_PATH")
        reset_settings()


def test_recorded_version_changes_with_a_parameter_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules()
    packaged = stage_version(rules)
    assert packaged.startswith(f"1-{rules.version}+") and packaged == stage_version(rules)
    path = tmp_path / "sentiment.yaml"
    path.write_text("call:\n  anger_weight: 0.3\n")
    monkeypatch.setenv("CALLQA_SENTIMENT_PATH", str(path))
    reset_settings()
    try:
        assert stage_version(rules) != packaged
    finally:
        monkeypatch.delenv("CALLQA_SENTIMENT_PATH")
        reset_settings()
