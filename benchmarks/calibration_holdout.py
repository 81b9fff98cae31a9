#!/usr/bin/env python
"""How much a threshold grid fits the dev split rather than the task: calibrate on one half of dev, score the chosen
point on the other half, both ways, for several grids, from dev alone.

Dev is split into its even- and odd-numbered documents. `calibrate_thresholds` runs once per half over the default
grid, with the model's thresholds first reset to the library defaults (a trained model's folder holds thresholds
already calibrated on all of dev, which must not take part). Each grid variant below is a subset of those points, so a
variant's choice on one half (ranked as calibration ranks: objective, then entity F1, then nearness to the defaults) is
scored on the other half from the same two searches. A grid that fits dev noise shows a large gap between the score
where it chose and the score on the held-out half.

    python benchmarks/calibration_holdout.py --model runs/x/best_model \\
        --data-dir ../shared/data/bc5cdr --format bc5cdr \\
        [--output results/cdr-calibration-holdout.jsonl --name "main job, seed 112"]
"""

import argparse
import inspect
import sys

import torch

from simmemre import SimMemREConfig
from simmemre.data_simmemre import append_jsonl
from simmemre.experiment_simmemre import (
    add_corpus_arguments,
    corpus_rows,
    corpus_split,
    default_device,
    git_commit,
    load_trained_model,
    recorded_model,
)
from simmemre.training_simmemre import (
    DEFAULT_THRESHOLD_GRID,
    THRESHOLD_NAMES,
    apply_thresholds,
    calibrate_thresholds,
)

OBJECTIVE = "relation_strict_f1"
# Each variant keeps the grid points its predicate accepts (calibration always keeps the library defaults too).
VARIANTS = {
    "default grid (mention x coreference x relation x entity)": lambda point: True,
    "no entity threshold (entity 0)": lambda point: point["entity_threshold"] == 0.0,
    "entity threshold 0 or 0.95": lambda point: point["entity_threshold"] in (0.0, 0.95),
    "relation thresholds in steps of 0.1": lambda point: round(point["relation_threshold"] * 10, 6).is_integer(),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (a run's best_model)")
    add_corpus_arguments(parser)
    parser.add_argument("--dev-split", type=corpus_split, default="dev")
    parser.add_argument("--name", help="a name for the JSON line (default: the model folder)")
    parser.add_argument("--output", help="append one JSON line with every variant's figures here")
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda:0 when CUDA is available, else cpu)"
    )
    return parser


def choose(entries: list, keep, fixed: dict) -> dict:
    """The entry calibration would pick among those `keep` accepts."""

    def rank(entry):
        distance = sum(abs(entry[name] - fixed[name]) for name in THRESHOLD_NAMES)
        return (round(entry[OBJECTIVE], 6), round(entry["entity_f1"], 6), -distance)

    return max((entry for entry in entries if keep(entry) or all(entry[n] == fixed[n] for n in fixed)), key=rank)


def holdout(searches: dict, fixed: dict) -> dict:
    """Per variant: for each half, the point chosen there, its score there and on the other half."""
    points = {
        half: {tuple(entry[name] for name in THRESHOLD_NAMES): entry for entry in entries}
        for half, entries in searches.items()
    }
    report = {}
    for variant, keep in VARIANTS.items():
        folds = []
        for chosen_on, scored_on in (("even", "odd"), ("odd", "even")):
            entry = choose(searches[chosen_on], keep, fixed)
            key = tuple(entry[name] for name in THRESHOLD_NAMES)
            folds.append(
                {
                    "chosen_on": chosen_on,
                    "thresholds": dict(zip(THRESHOLD_NAMES, key)),
                    "chosen_score": entry[OBJECTIVE],
                    "held_out_score": points[scored_on][key][OBJECTIVE],
                }
            )
        report[variant] = {
            "folds": folds,
            "mean_chosen": sum(f["chosen_score"] for f in folds) / 2,
            "mean_held_out": sum(f["held_out_score"] for f in folds) / 2,
        }
    return report


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    device = args.device or default_device()
    model, processor = load_trained_model(args.model, device)
    rows = corpus_rows(args, model, processor, [args.dev_split])[args.dev_split]
    halves = {"even": rows[0::2], "odd": rows[1::2]}
    shipped = {name: float(getattr(model.config, name)) for name in THRESHOLD_NAMES}
    defaults = inspect.signature(SimMemREConfig.__init__).parameters
    fixed = {name: float(defaults[name].default) for name in THRESHOLD_NAMES}
    apply_thresholds(model, fixed)
    searches = {}
    for half, half_rows in halves.items():
        print(f"calibrating on the {half} half ({len(half_rows)} documents)", file=sys.stderr)
        with torch.no_grad():
            searches[half] = calibrate_thresholds(
                model, processor, half_rows, grid=dict(DEFAULT_THRESHOLD_GRID), device=device
            )["grid"]
    report = holdout(searches, fixed)
    print("| grid | chosen on even -> odd | chosen on odd -> even | mean where chosen | mean held out |")
    print("|---|---|---|---|---|")
    for variant, figures in report.items():
        even, odd = figures["folds"]
        print(
            f"| {variant} | {even['chosen_score']:.2f} -> {even['held_out_score']:.2f} | "
            f"{odd['chosen_score']:.2f} -> {odd['held_out_score']:.2f} | {figures['mean_chosen']:.2f} | "
            f"**{figures['mean_held_out']:.2f}** |"
        )
    if args.output:
        from stage_scores import run_seed  # benchmarks/, beside this script

        notes = {}  # (the model as results rows write paths: no absolute path of this machine)
        measured = recorded_model(args.model, notes)
        line = {
            "name": args.name or measured["model"],
            **measured,
            "seed": run_seed(args.model),
            "commit": git_commit(),
            "thresholds": shipped,  # the model's own, calibrated on all of dev; not used by the searches
            "fixed_thresholds": fixed,
            "split": args.dev_split,
            "test": None,  # a dev-only analysis: no test split is scored
            "variants": report,
            **({"path_notes": notes} if notes else {}),
        }
        append_jsonl([line], args.output, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
