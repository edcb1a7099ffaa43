"""Fine-tune the top layers of the packaged sentence encoder on labelled texts, on a CPU.

The lower layers run once over every text (no gradients; their outputs are kept), then
only the top `layers` transformer layers and a cosine-similarity head train, with warm-up
and linear decay. An epoch costs about `layers`/6 of a full encoder pass forward and
backward, so three epochs over BANKING77's 10,003 queries take minutes on 2 cores where
a full fine-tune takes most of an hour. The tuned layers' weights (numpy arrays, a few
MB per layer) travel inside the head model; the rest comes from the packaged encoder.

Measured on BANKING77 (docs/analysis.md): the logistic-regression head over the tuned
embeddings beats the same head over the frozen ones; the cosine head alone does not.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from analysis.training import TrainProgress


@dataclass
class TuneOptions:
    """training.yaml's `tune:` block. layers 0 keeps the encoder frozen."""

    layers: int = 3  # top transformer layers trained (all-MiniLM-L6-v2 has 6)
    epochs: int = 3
    lr: float = 1e-4  # the tuned layers' peak learning rate
    head_lr: float = 5e-3  # the cosine head's (initialised at the class centroids)
    batch_size: int = 32
    scale: float = 20.0  # cosine similarities times this are the logits
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128  # word pieces per text while training
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_layers(layers: Any, config: Any, hidden: Any, mask: Any) -> Any:
    from transformers.masking_utils import create_bidirectional_mask

    attention = create_bidirectional_mask(config=config, inputs_embeds=hidden,
                                          attention_mask=mask)
    for layer in layers:
        out = layer(hidden, attention_mask=attention)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def _pool(hidden: Any, mask: Any) -> Any:
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def tune_top_layers(texts: Sequence[str], y: Sequence[int], n_labels: int,
                    options: TuneOptions,
                    progress: Callable[[TrainProgress], None] | None = None,
                    ) -> dict[str, np.ndarray]:
    """Train the top `options.layers` layers on (text, label index) pairs; returns their
    weights by state-dict name, for `SentenceEncoder(tuned_state=...)`."""
    import torch

    from analysis.embeddings import get_encoder
    from analysis.training import TrainingError, TrainProgress

    base = get_encoder()
    model = base.model
    tokenizer = base.tokenizer
    n_layers = int(model.config.num_hidden_layers)
    if not 1 <= options.layers <= n_layers:
        raise TrainingError(f"tune.layers must be 1-{n_layers}, got {options.layers}")
    if options.epochs < 1 or options.batch_size < 1 or options.lr <= 0:
        raise TrainingError("tune: epochs and batch_size at least 1, lr above 0")
    low = n_layers - options.layers
    torch.manual_seed(options.seed)
    # A private copy of the top layers: the process-wide encoder stays frozen.
    top = torch.nn.ModuleList(copy.deepcopy(list(model.encoder.layer[low:])))
    targets = torch.tensor(list(y))

    # Lower layers once, batches of similar length; each text keeps its unpadded rows.
    kept: list[Any] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with base._lock, torch.inference_mode():
        for b in range(0, len(order), 64):
            idx = order[b:b + 64]
            enc = tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True,
                            max_length=options.max_length, return_tensors="pt")
            hidden = model.embeddings(input_ids=enc["input_ids"],
                                      token_type_ids=enc.get("token_type_ids"))
            hidden = _run_layers(model.encoder.layer[:low], model.config, hidden,
                                 enc["attention_mask"])
            for row, i in enumerate(idx):
                kept[i] = hidden[row, :int(enc["attention_mask"][row].sum())].clone()

    def batch(idx: list[int]) -> tuple[Any, Any]:
        longest = max(kept[i].shape[0] for i in idx)
        hidden = torch.zeros(len(idx), longest, kept[idx[0]].shape[1])
        mask = torch.zeros(len(idx), longest, dtype=torch.long)
        for row, i in enumerate(idx):
            hidden[row, :kept[i].shape[0]] = kept[i]
            mask[row, :kept[i].shape[0]] = 1
        return hidden, mask

    def embed_all(rows: list[int]) -> Any:
        top.eval()
        out = torch.zeros(len(rows), model.config.hidden_size)
        with torch.inference_mode():
            for b in range(0, len(rows), 64):
                idx = rows[b:b + 64]
                hidden, mask = batch(idx)
                out[b:b + len(idx)] = _pool(_run_layers(top, model.config, hidden, mask), mask)
        return out

    # The head starts at the class centroids of the untuned embeddings: training starts
    # from the frozen model's nearest-centroid classifier instead of from noise.
    centroids = torch.zeros(n_labels, model.config.hidden_size)
    centroids.index_add_(0, targets, embed_all(list(range(len(texts)))))
    head = torch.nn.Parameter(torch.nn.functional.normalize(centroids, dim=-1))

    params = [p for p in top.parameters()]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW([{"params": params, "lr": options.lr},
                                   {"params": [head], "lr": options.head_lr}],
                                  weight_decay=options.weight_decay)
    per_epoch = math.ceil(len(texts) / options.batch_size)
    total = per_epoch * options.epochs
    warm = max(1, int(options.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm)))
    generator = torch.Generator().manual_seed(options.seed)
    step = 0
    for epoch in range(1, options.epochs + 1):
        top.train()
        # Shuffle, then sort within runs of 50 batches by length: less padding, still mixed.
        perm = torch.randperm(len(texts), generator=generator).tolist()
        span = options.batch_size * 50
        batches: list[list[int]] = []
        for start in range(0, len(perm), span):
            run = sorted(perm[start:start + span], key=lambda i: kept[i].shape[0])
            batches += [run[k:k + options.batch_size]
                        for k in range(0, len(run), options.batch_size)]
        losses: list[float] = []
        right = 0
        for k in torch.randperm(len(batches), generator=generator).tolist():
            idx = batches[k]
            hidden, mask = batch(idx)
            emb = _pool(_run_layers(top, model.config, hidden, mask), mask)
            logits = options.scale * emb @ torch.nn.functional.normalize(head, dim=-1).T
            loss = torch.nn.functional.cross_entropy(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(float(loss.detach()))
            right += int((logits.argmax(-1) == targets[idx]).sum())
            if progress:
                progress(TrainProgress(epoch, options.epochs, step, total, losses[-1]))
        if progress:
            progress(TrainProgress(epoch, options.epochs, step, total, losses[-1],
                                   epoch_done=True,
                                   epoch_loss=round(sum(losses) / len(losses), 4),
                                   epoch_accuracy=round(right / len(texts), 4)))
    names = [f"encoder.layer.{low + j}.{name}" for j, layer in enumerate(top)
             for name, _ in layer.named_parameters()]
    values = [p.detach().cpu().numpy().copy() for layer in top for p in layer.parameters()]
    return dict(zip(names, values, strict=True))
