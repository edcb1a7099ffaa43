"""Text classifiers that train in minutes on a CPU: a scikit-learn logistic-regression head
over frozen sentence embeddings (English) and/or word and character n-gram TF-IDF
features (the only choice for Chinese here: no pretrained Chinese encoder offline).

Recipes and hyper-parameters live in analysis/config/training.yaml. A model directory
holds `callqa_head.json` (task, recipe, labels, training figures) and `head.joblib`
(the fitted vectorisers and head). `HeadClassifier` has `TransformersTextClassifier`'s
interface (`labels`, `task`, `probabilities`, `predict`), so the intent and sentiment
wrappers in analysis.classifiers take either.

head.joblib is a pickle: load model directories you wrote yourself, as with any model.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.encoder_tuning import TuneOptions
from analysis.normalize import has_cjk
from core.config import check, schema_of
from core.yamlio import read_yaml

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from analysis.training import TrainProgress

DEFAULT_TRAINING = Path(__file__).parent / "config" / "training.yaml"
HEAD_META = "callqa_head.json"
HEAD_FILE = "head.joblib"
RECIPES = ("auto", "embedding", "embedding+ngrams", "long-text", "char-ngrams", "finetune")
HEAD_RECIPES = ("embedding", "embedding+ngrams", "long-text", "char-ngrams")
CLASSIFIERS = ("logreg", "svm")


@dataclass
class HeadOptions:
    recipe: str = "auto"
    c_grid: list[float] = field(default_factory=lambda: [16.0])
    selection_share: float = 0.1
    seed: int = 13
    max_iter: int = 3000
    embedding_weight: float = 1.0
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    zh_char_ngrams: tuple[int, int] = (1, 3)
    min_df: int = 2
    cjk_share: float = 0.5
    long_text_words: float = 60.0
    long_word_ngrams: tuple[int, int] = (1, 2)
    long_c: float = 1.0
    long_embedding_weight: float = 0.0  # 0: long-text uses no embeddings (no encoding)
    # long-text: p = (1 - w) * SVM(n-grams) + w * LR(tuned window embeddings); 0 = SVM only.
    long_fusion_weight: float = 0.0
    long_tune_epochs: int = 4  # the encoder tuning long-text does for fusion
    long_tune_max_length: int = 256
    solver: str = "logreg"  # or "sgd": logistic loss by SGD, seconds on large corpora
    sgd_alpha: float = 3e-6
    classifier: str = "logreg"  # or "svm": a linear SVM, scores through a softmax
    long_classifier: str = "svm"  # calibrated linear SVM (CalibratedSVM)
    # The encoder's top layers fine-tuned before the head is fitted (embedding recipes).
    tune: TuneOptions = field(default_factory=TuneOptions)

    @classmethod
    def load(cls, path: Path = DEFAULT_TRAINING, **overrides: Any) -> HeadOptions:
        raw = read_yaml(path) or {}
        schema = schema_of(cls) | {"tune": schema_of(TuneOptions)}
        check(raw, schema, path)  # unknown keys and wrong types refused
        known = dict(raw)
        known["tune"] = TuneOptions(**(known.get("tune") or {}))
        for key in ("word_ngrams", "char_ngrams", "zh_char_ngrams", "long_word_ngrams"):
            if key in known:
                known[key] = tuple(known[key])
        known |= {k: v for k, v in overrides.items() if v is not None}
        if known.get("recipe", "auto") not in RECIPES:
            raise ValueError(f"unknown recipe {known['recipe']!r}: {', '.join(RECIPES)}")
        for key in ("classifier", "long_classifier"):
            if known.get(key, "logreg") not in CLASSIFIERS:
                raise ValueError(f"unknown {key} {known[key]!r}: {', '.join(CLASSIFIERS)}")
        fusion = float(known.get("long_fusion_weight", 0.0))
        if not 0.0 <= fusion <= 1.0:
            raise ValueError(f"long_fusion_weight {fusion} is not between 0 and 1")
        if fusion > 0 and float(known.get("long_embedding_weight", 0.0)) > 0:
            raise ValueError("long_fusion_weight and long_embedding_weight: set one of them")
        return cls(**known)

    def long_tune(self) -> TuneOptions:
        """The encoder tuning for long-text fusion: `tune` with long texts' length, epochs."""
        return replace(self.tune, epochs=self.long_tune_epochs,
                       max_length=self.long_tune_max_length)


def pick_recipe(texts: Sequence[str], options: HeadOptions) -> str:
    """auto: char-ngrams for mostly Chinese text, long-text when the median text has at
    least `long_text_words` words (complaint narratives), embedding+ngrams otherwise."""
    if options.recipe != "auto":
        return options.recipe
    cjk = sum(1 for t in texts if has_cjk(t)) / max(1, len(texts))
    if cjk >= options.cjk_share:
        return "char-ngrams"
    words = sorted(len(t.split()) for t in texts)
    if words and words[len(words) // 2] >= options.long_text_words:
        return "long-text"
    return "embedding+ngrams"


class Features:
    """Texts -> one feature matrix: embeddings and/or TF-IDF blocks, per the recipe."""

    def __init__(self, recipe: str, options: HeadOptions,
                 tuned_state: dict[str, np.ndarray] | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.recipe = recipe
        self.tuned_state = tuned_state  # the encoder's tuned top layers (encoder_tuning)
        self._encoder: Any = None
        # Fusion keeps the embedding block apart (first, unweighted) for its own head.
        self.fused = recipe == "long-text" and options.long_fusion_weight > 0
        self.embedding_weight = (1.0 if self.fused else options.long_embedding_weight
                                 if recipe == "long-text" else options.embedding_weight)
        # Long texts: every MAX_TOKENS window of a text is encoded, not only the first.
        self.chunked = recipe == "long-text"
        self.vectorizers: list[Any] = []
        if recipe == "long-text":
            self.vectorizers = [TfidfVectorizer(analyzer="word", sublinear_tf=True,
                                                lowercase=True, min_df=options.min_df,
                                                ngram_range=options.long_word_ngrams)]
        elif recipe == "char-ngrams":
            self.vectorizers = [TfidfVectorizer(analyzer="char", sublinear_tf=True,
                                                ngram_range=options.zh_char_ngrams,
                                                min_df=options.min_df)]
        elif recipe == "embedding+ngrams":
            self.vectorizers = [
                TfidfVectorizer(analyzer="word", sublinear_tf=True, lowercase=True,
                                ngram_range=options.word_ngrams, min_df=options.min_df),
                TfidfVectorizer(analyzer="char_wb", sublinear_tf=True, lowercase=True,
                                ngram_range=options.char_ngrams, min_df=options.min_df)]

    @property
    def uses_embeddings(self) -> bool:
        if self.recipe == "long-text":
            return self.embedding_weight > 0
        return self.recipe in ("embedding", "embedding+ngrams")

    def _stack(self, texts: Sequence[str], blocks: list[Any],
               embeddings: np.ndarray | None) -> Any:
        from scipy import sparse

        if self.uses_embeddings:
            if embeddings is None:
                embeddings = self.encoder().encode(list(texts), chunked=self.chunked)
            blocks = [sparse.csr_matrix(embeddings * self.embedding_weight), *blocks]
        return blocks[0] if len(blocks) == 1 else sparse.hstack(blocks, format="csr")

    def fit_transform(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> Any:
        return self._stack(texts, [v.fit_transform(texts) for v in self.vectorizers], embeddings)

    def transform(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> Any:
        return self._stack(texts, [v.transform(texts) for v in self.vectorizers], embeddings)

    def encoder(self) -> Any:
        """The packaged encoder, with this head's tuned top layers when it has them."""
        from analysis.embeddings import SentenceEncoder, encoder_path, get_encoder

        if self.tuned_state is None:
            return get_encoder()
        if self._encoder is None:
            self._encoder = SentenceEncoder(encoder_path(), tuned_state=self.tuned_state)
        return self._encoder

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_encoder"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Heads saved before `chunked`, `tuned_state` and `fused` existed.
        self.__dict__.update({"chunked": False, "tuned_state": None, "fused": False} | state)
        self._encoder = None


class CalibratedSVM:
    """A linear SVM (one-vs-rest, liblinear) with probabilities: sigmoid-calibrated on
    3 internal folds (scikit-learn's CalibratedClassifierCV) when every label has 3 rows,
    else its decision scores through a softmax. Raw softmax scores of an SVM are too flat
    for the intent wrapper's confidence bars (median top score 0.38 on 5 CFPB products)."""

    def __init__(self, c: float, seed: int) -> None:
        self.c = c
        self.seed = seed
        self.model: Any = None

    def fit(self, x: Any, y: Any) -> CalibratedSVM:
        import numpy as np
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=self.c, random_state=self.seed)
        if int(np.bincount(np.asarray(y)).min()) >= 3:
            self.model = CalibratedClassifierCV(svm, cv=3, method="sigmoid").fit(x, y)
        else:
            self.model = svm.fit(x, y)
        return self

    def predict(self, x: Any) -> Any:
        return self.predict_proba(x).argmax(axis=1) if hasattr(self.model, "predict_proba") \
            else self.model.predict(x)

    def predict_proba(self, x: Any) -> np.ndarray:
        import numpy as np

        if hasattr(self.model, "predict_proba"):
            return np.asarray(self.model.predict_proba(x), dtype=np.float64)
        scores = np.asarray(self.model.decision_function(x), dtype=np.float64)
        if scores.ndim == 1:  # two labels: one score for the second
            scores = np.stack([-scores, scores], axis=1)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)


class LateFusion:
    """Two heads over one stacked matrix, their probabilities mixed: logistic regression on
    the first `dim` columns (the tuned encoder's window embeddings) and `text_head` on the
    rest (n-gram TF-IDF). On CFPB it scored above the SVM alone in CV and below it on the
    real test split, so training.yaml leaves it off (docs/analysis.md)."""

    def __init__(self, dim: int, text_head: Any, c: float, weight: float,
                 max_iter: int) -> None:
        self.dim = dim
        self.text_head = text_head
        self.weight = weight
        self.c = c
        self.max_iter = max_iter
        self.embedding_head: Any = None

    def fit(self, x: Any, y: Any) -> LateFusion:
        from sklearn.linear_model import LogisticRegression

        x = x.tocsc()
        self.text_head.fit(x[:, self.dim:].tocsr(), y)
        self.embedding_head = LogisticRegression(C=self.c, max_iter=self.max_iter).fit(
            x[:, :self.dim].toarray(), y)
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        import numpy as np

        x = x.tocsc()
        text = np.asarray(self.text_head.predict_proba(x[:, self.dim:].tocsr()))
        emb = np.asarray(self.embedding_head.predict_proba(x[:, :self.dim].toarray()))
        return (1.0 - self.weight) * text + self.weight * emb

    def predict(self, x: Any) -> Any:
        return self.predict_proba(x).argmax(axis=1)


@dataclass
class HeadMetrics:
    task: str
    recipe: str
    out_dir: str
    examples: int
    labels: list[str]
    c: float
    selection: dict[str, float]  # C -> accuracy on the selection part
    seed: int
    seconds: float
    train_accuracy: float = 0.0
    epoch_loss: list[float] = field(default_factory=list)  # TrainMetrics' shape
    epochs: int = 1
    device: str = "cpu"
    tune: dict[str, Any] | None = None  # TuneOptions used, None when the encoder was frozen
    tune_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _classifier(recipe: str, c: float, options: HeadOptions, dim: int = 0) -> Any:
    """The head for `recipe`; `dim`: the embedding columns a long-text fusion head splits off."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    kind = options.long_classifier if recipe == "long-text" else options.classifier
    if recipe == "long-text" and options.long_fusion_weight > 0:
        text_options = replace(options, long_fusion_weight=0.0)
        return LateFusion(dim, _classifier(recipe, c, text_options), options.c_grid[-1],
                          options.long_fusion_weight, options.max_iter)
    if kind == "svm":
        return CalibratedSVM(c, options.seed)
    if options.solver == "sgd":
        return SGDClassifier(loss="log_loss", alpha=options.sgd_alpha,
                             random_state=options.seed, max_iter=50, tol=1e-4)
    return LogisticRegression(C=c, max_iter=options.max_iter)


def encoder_tuning(recipe: str, options: HeadOptions) -> TuneOptions | None:
    """How `recipe` tunes the encoder before its head is fitted; None: it does not (no
    embeddings, `layers: 0`, or long-text without fusion)."""
    features = Features(recipe, options)
    tune = options.long_tune() if features.fused else options.tune
    if not features.uses_embeddings or tune.layers <= 0:
        return None
    return tune if recipe != "long-text" or features.fused else None


def _dim(embeddings: np.ndarray | None) -> int:
    return 0 if embeddings is None else int(embeddings.shape[1])


def fit_head(task: str, examples: Sequence[tuple[str, str]], out_dir: Path | str,
             options: HeadOptions | None = None,
             embeddings: np.ndarray | None = None,
             progress: Callable[[TrainProgress], None] | None = None) -> HeadMetrics:
    """Fit features + logistic regression, choose C on a seeded part, refit on all, save.

    Embedding recipes first fine-tune the encoder's top layers (`options.tune`, reported
    through `progress`) unless tune.layers is 0 or `embeddings` are given (one frozen row
    per example: saves re-encoding when the caller has them). The model is written to a
    temporary directory and moved into place whole."""
    import joblib
    import numpy as np

    from analysis.training import _check_out_dir, _replace_dir

    options = options or HeadOptions.load()
    out_dir = Path(out_dir).expanduser()
    _check_out_dir(out_dir)
    started = time.perf_counter()
    texts = [t for t, _ in examples]
    labels = sorted({label for _, label in examples})
    y = np.array([labels.index(label) for _, label in examples])
    recipe = pick_recipe(texts, options)
    if recipe not in HEAD_RECIPES:
        raise ValueError(f"fit_head: recipe {recipe!r} is not a head recipe")
    tuned_state = None
    tune_seconds = 0.0
    tune = encoder_tuning(recipe, options)
    if embeddings is None and Features(recipe, options).uses_embeddings:
        if tune is not None:
            from analysis.embeddings import SentenceEncoder, encoder_path
            from analysis.encoder_tuning import tune_top_layers

            tuning = time.perf_counter()
            tuned_state = tune_top_layers(texts, y.tolist(), len(labels), tune, progress)
            embeddings = SentenceEncoder(encoder_path(), tuned_state=tuned_state).encode(
                texts, chunked=recipe == "long-text")
            tune_seconds = round(time.perf_counter() - tuning, 2)
        else:
            from analysis.embeddings import embed

            embeddings = embed(texts, chunked=recipe == "long-text")

    selection: dict[str, float] = {}
    grid = sorted(set([options.long_c] if recipe == "long-text" else options.c_grid))
    best_c = grid[0]
    if len(grid) > 1:
        # Choose C on a seeded per-label part of the training rows, never on test data.
        rng = random.Random(options.seed)
        held: list[int] = []
        for j in range(len(labels)):
            rows = [i for i in range(len(texts)) if y[i] == j]
            rng.shuffle(rows)
            if len(rows) >= 3:
                held += rows[:max(1, round(len(rows) * options.selection_share))]
        held_set = set(held)
        fit_rows = [i for i in range(len(texts)) if i not in held_set]
        if held and len({int(y[i]) for i in fit_rows}) == len(labels):
            feats = Features(recipe, options, tuned_state)
            emb = embeddings
            a = feats.fit_transform([texts[i] for i in fit_rows],
                                    None if emb is None else emb[fit_rows])
            b = feats.transform([texts[i] for i in held], None if emb is None else emb[held])
            for c in grid:
                head = _classifier(recipe, c, options, _dim(emb)).fit(a, y[fit_rows])
                selection[str(c)] = round(float((head.predict(b) == y[held]).mean()), 4)
            best_c = max(grid, key=lambda c: (selection[str(c)], -c))
    feats = Features(recipe, options, tuned_state)
    x = feats.fit_transform(texts, embeddings)
    head = _classifier(recipe, best_c, options, _dim(embeddings)).fit(x, y)
    metrics = HeadMetrics(task=task, recipe=recipe, out_dir=str(out_dir), examples=len(texts),
                          labels=labels, c=best_c, selection=selection, seed=options.seed,
                          seconds=0.0,
                          train_accuracy=round(float((head.predict(x) == y).mean()), 4),
                          tune=tune.to_dict() if tune and tuned_state else None,
                          tune_seconds=tune_seconds)
    metrics.seconds = round(time.perf_counter() - started, 2)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        joblib.dump({"features": feats, "head": head}, tmp / HEAD_FILE)
        (tmp / HEAD_META).write_text(json.dumps(metrics.to_dict(), indent=2,
                                                ensure_ascii=False) + "\n", "utf-8")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return metrics


def is_head_dir(path: Path | str) -> bool:
    return (Path(path) / HEAD_META).is_file()


class HeadClassifier:
    """A model directory written by `fit_head`."""

    def __init__(self, model_dir: Path | str) -> None:
        import joblib

        from analysis.classifiers import ModelLoadError

        path = Path(model_dir).expanduser()
        if not (path / HEAD_META).is_file() or not (path / HEAD_FILE).is_file():
            raise ModelLoadError(f"{path}: not a callqa head model ({HEAD_META}, {HEAD_FILE})")
        try:
            meta = json.loads((path / HEAD_META).read_text("utf-8"))
            saved = joblib.load(path / HEAD_FILE)
        except (OSError, ValueError, EOFError) as exc:
            raise ModelLoadError(f"{path}: cannot load the head model: {exc}") from exc
        self.model_dir = path
        self.meta = meta
        self.task: str | None = meta.get("task")
        self.recipe: str = meta.get("recipe", "")
        self.labels: list[str] = list(meta["labels"])
        self.features: Features = saved["features"]
        self.head = saved["head"]

    def probabilities(self, texts: Sequence[str],
                      embeddings: np.ndarray | None = None) -> np.ndarray:
        """One row of label probabilities per text (`embeddings`: the texts' encoder rows,
        when the caller has them)."""
        import numpy as np

        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        probs = self.head.predict_proba(self.features.transform([t or " " for t in texts],
                                                                embeddings))
        return np.asarray(probs, dtype=np.float32)

    def predict(self, texts: Sequence[str],
                embeddings: np.ndarray | None = None) -> list[tuple[str, float]]:
        probs = self.probabilities(texts, embeddings)
        return [(self.labels[int(row.argmax())], float(row.max())) for row in probs]
