"""QA staff's corrections of a call's intent or sentiment, kept as training labels.

A correction is stored beside the call's outputs (`calls/<id>/labels.json` in the object
store: it goes when the call goes, no schema migration). `review_examples` turns the
corrected calls into (text, label) examples the way `examples_from_dialogues` does: the
customer's opening turns for intent, all of the customer's turns for sentiment.

Every fifth call (by a hash of its id, so stable) is held back: `callqa train
--from-reviews` trains on the rest, `callqa eval --from-reviews` scores on those, so a new
model is compared with the one in use on calls it never saw.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from core.storage import ObjectStore, get_store

LABELS_FILE = "labels.json"
FIELDS = ("intent", "sentiment")
Part = Literal["train", "held_back", "all"]
HELD_BACK_EVERY = 5
OPENING_TURNS = 2


def labels_key(store: ObjectStore, call_id: str) -> str:
    return store.output_key(call_id, LABELS_FILE)


def get_labels(store: ObjectStore, call_id: str) -> dict[str, Any]:
    key = labels_key(store, call_id)
    return store.get_json(key) if store.exists(key) else {"call_id": call_id, "history": []}


def set_labels(store: ObjectStore, call_id: str, reviewer: str, intent: str | None = None,
               sentiment: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """Record a correction; the latest value per field counts, every one is kept."""
    record = get_labels(store, call_id)
    at = datetime.now(UTC).isoformat()
    entry: dict[str, Any] = {"reviewer": reviewer, "at": at, "comment": comment}
    for name, value in (("intent", intent), ("sentiment", sentiment)):
        if value is not None:
            record[name] = value
            entry[name] = value
    record["updated_at"] = at
    record.setdefault("history", []).append(entry)
    store.put_json(labels_key(store, call_id), record)
    return record


def held_back(call_id: str) -> bool:
    return int(hashlib.sha256(call_id.encode()).hexdigest(), 16) % HELD_BACK_EVERY == 0


def review_examples(task: str, part: Part = "train",
                    store: ObjectStore | None = None) -> list[tuple[str, str]]:
    """(text, label) per corrected call with a stored transcript, oldest call id first."""
    from core.schemas import Transcript

    store = store or get_store()
    calls = store.root / "calls"
    out: list[tuple[str, str]] = []
    if not calls.is_dir():
        return out
    for path in sorted(calls.glob(f"*/{LABELS_FILE}")):
        call_id = path.parent.name
        if part != "all" and held_back(call_id) != (part == "held_back"):
            continue
        label = store.get_json(labels_key(store, call_id)).get(task)
        transcript_key = store.output_key(call_id, "transcript.json")
        if not label or not store.exists(transcript_key):
            continue
        transcript = Transcript.model_validate(store.get_json(transcript_key))
        turns = [u.text.strip() for u in transcript.utterances
                 if u.role in ("customer", "unknown") and u.text.strip()]
        if not turns:
            continue
        text = " ".join(turns[:OPENING_TURNS] if task == "intent" else turns)
        out.append((text, str(label)))
    return out
