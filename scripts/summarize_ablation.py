#!/usr/bin/env python
"""Summarise the runs of scripts/run_cdr_ablation.sh: one row per run (test scores of the dev-selected checkpoint)
and mean +- sample standard deviation per variant, as a Markdown table (and JSON with --json).

    python scripts/summarize_ablation.py runs/cdr_ablation [--split test|eval] [--json FILE]

A run is the folder OUT/<variant>_seed<N>/ with all_results.json; unfinished runs are listed as missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

RUN_NAME = re.compile(r"^(?P<variant>.+)_seed(?P<seed>\d+)$")


def mean_std(values):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def collect(out_dir: str, split: str) -> dict:
    """-> {variant: [(seed, {level: f1}, minutes or None, best checkpoint or None)]}."""
    variants = {}
    for name in sorted(os.listdir(out_dir)):
        match = RUN_NAME.match(name)
        path = os.path.join(out_dir, name, "all_results.json")
        if not match or not os.path.isdir(os.path.join(out_dir, name)):
            continue
        runs = variants.setdefault(match["variant"], [])
        if not os.path.isfile(path):
            runs.append((int(match["seed"]), None, None, None))
            continue
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
        scores = {level: results[f"{split}_{level}_f1"] for level in LEVELS if f"{split}_{level}_f1" in results}
        state_path = os.path.join(out_dir, name, "trainer_state.json")
        best = None
        if os.path.isfile(state_path):
            with open(state_path, encoding="utf-8") as handle:
                best = json.load(handle).get("best_model_checkpoint")
        minutes = results.get("train_runtime")
        runs.append((int(match["seed"]), scores, None if minutes is None else minutes / 60.0, best))
    return variants


def markdown(variants: dict, split: str) -> str:
    header = "| run | seed | " + " | ".join(f"{level} F1" for level in LEVELS) + " | train min |"
    lines = [header, "|" + "---|" * (len(LEVELS) + 3)]
    for variant, runs in variants.items():
        finished = [scores for _, scores, _, _ in runs if scores]
        for seed, scores, minutes, _ in sorted(runs):
            if scores is None:
                lines.append(f"| {variant} | {seed} | " + " | ".join("not finished" for _ in LEVELS) + " | |")
                continue
            cells = " | ".join(f"{scores.get(level, float('nan')):.2f}" for level in LEVELS)
            lines.append(f"| {variant} | {seed} | {cells} | {minutes:.1f} |" if minutes else f"| {variant} | {seed} | {cells} | |")
        if len(finished) > 1:
            cells = []
            for level in LEVELS:
                mean, std = mean_std([scores[level] for scores in finished])
                cells.append(f"**{mean:.2f} ± {std:.2f}**")
            lines.append(f"| **{variant}** | mean ± std ({len(finished)}) | " + " | ".join(cells) + " | |")
    return f"{split} scores (percent) of the dev-selected checkpoint\n\n" + "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--split", default="test", choices=("test", "eval"))
    parser.add_argument("--json", default=None, help="also write the per-run scores and summaries here")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.out_dir):
        print(f"{args.out_dir}: no such folder", file=sys.stderr)
        return 2
    variants = collect(args.out_dir, args.split)
    if not variants:
        print(f"{args.out_dir}: no run folders (<variant>_seed<N>)", file=sys.stderr)
        return 2
    print(markdown(variants, args.split))
    if args.json:
        summary = {}
        for variant, runs in variants.items():
            finished = [(seed, scores) for seed, scores, _, _ in runs if scores]
            summary[variant] = {
                "runs": {str(seed): scores for seed, scores in finished},
                "mean": {level: mean_std([s[level] for _, s in finished])[0] for level in LEVELS} if finished else None,
                "std": {level: mean_std([s[level] for _, s in finished])[1] for level in LEVELS} if finished else None,
            }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
