#!/usr/bin/env python
"""What each stage of the cascade costs: a saved model scored end to end and given gold input (JEREX's evaluation
"in isolation"), on the splits of a raw corpus, each document encoded once.

For each split the model runs four times: end to end, then given the gold mentions, the gold clusters and the gold
typed entities (`SimMemREModel.extract(given=...)`); every run is scored with the joint_re_f1 metric (all levels,
including `relation_seq2rel` and `relation_relaxed`). One JSON line per (given, abbreviation, word-form and
flat-mention switch), holding the scores of each split under its name (dev, test), goes to --output, with the model,
its seed, thresholds and commit.

    python benchmarks/stage_scores.py --model runs/x/best_model --data-dir ../shared/data/bc5cdr --format bc5cdr \\
        --splits dev test --name "SimMemRE main job, seed 112" --output results/cdr-stages.jsonl
    python benchmarks/stage_scores.py --model runs/x/best_model --data-dir ../shared/data/bc5cdr --format bc5cdr \\
        --splits dev --abbreviation-coreference on off     # the abbreviation merge's ablation, end to end only
    python benchmarks/stage_scores.py ... --splits dev --given none --flat-mentions on off  # flat decoding's ablation
    python benchmarks/stage_scores.py ... --splits dev --given none --word-form-coreference off on  # word forms
    python benchmarks/stage_scores.py ... --splits dev --given none --boundary-word-min-count off 100 300
    python benchmarks/stage_scores.py ... --splits dev --given none --relation-argument-types off on
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch

from simmemre.data_simmemre import append_jsonl
from simmemre.experiment_simmemre import (
    add_corpus_arguments,
    corpus_boundary_words,
    corpus_coreference_lexicon,
    corpus_relation_argument_types,
    corpus_rows,
    corpus_split,
    default_device,
    git_commit,
    load_trained_model,
    recorded_model,
)
from simmemre.training_simmemre import GIVEN_LEVELS, THRESHOLD_NAMES

REPO = Path(__file__).resolve().parent.parent
STAGE_LEVELS = ("mention", "coref", "entity", "relation_strict", "relation_seq2rel", "relation_relaxed")
BOUNDARY_FIELDS = ("non_initial_words", "non_final_words")
# CDR's chemical-induced-disease relation is scored without direction by seq2rel.
UNDIRECTED = {"bc5cdr": ["CID"], "docred": []}


# The inference-only config switches, one option each: (what it is, its column in the markdown table).
SWITCHES = {
    "abbreviation_coreference": ("the abbreviation merge", "abbreviations"),
    "word_form_coreference": ("the word-form merge", "word forms"),
    "flat_mentions": ("flat mention decoding", "flat mentions"),
    "mention_string_propagation": ("mention string propagation", "propagation"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (a run's best_model)")
    add_corpus_arguments(parser)
    parser.add_argument("--splits", nargs="+", type=corpus_split, default=["dev"], help="corpus splits (dev, test)")
    parser.add_argument(
        "--given",
        nargs="+",
        default=["none", *GIVEN_LEVELS],
        choices=["none", *GIVEN_LEVELS],
        help="gold input levels to run (none = end to end)",
    )
    for name, (what, _) in SWITCHES.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            nargs="+",
            default=["model"],
            choices=["model", "on", "off"],
            help=f"{what} as saved (model), or switched on / off; several: one run each",
        )
    parser.add_argument(
        "--boundary-word-min-count",
        nargs="+",
        default=["model"],
        help="the boundary word lists as saved (model), off, or derived from the corpus's train split with this "
        "min count (data_simmemre.boundary_words); several: one run each",
    )
    parser.add_argument(
        "--relation-argument-types",
        nargs="+",
        default=["model"],
        choices=["model", "on", "off"],
        help="relation argument types as saved (model), derived from the corpus's train split (on), or none (off); "
        "several: one run each",
    )
    parser.add_argument(
        "--coreference-lexicon",
        nargs="+",
        default=["model"],
        choices=["model", "on", "off"],
        help="the coreference lexicon as saved (model), derived from the gold clusters of the corpus's train split "
        "(on), or none (off); several: one run each",
    )
    parser.add_argument("--name", help="a name for the rows (default: the model folder)")
    parser.add_argument("--output", help="append one JSON line per run here (e.g. results/cdr-stages.jsonl)")
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda:0 when CUDA is available, else cpu)"
    )
    return parser


def boundary_word_settings(args, config) -> dict:
    """`{min count: {non_initial_words, non_final_words}}` for each --boundary-word-min-count value: "model" keeps
    the saved lists, "off" none, a number derives them from the corpus's train split."""
    settings = {}
    for value in args.boundary_word_min_count:
        if value == "model":
            settings[value] = {field: list(getattr(config, field)) for field in BOUNDARY_FIELDS}
        elif value == "off":
            settings[value] = {field: [] for field in BOUNDARY_FIELDS}
        else:
            try:
                min_count = int(value)
            except ValueError:
                raise SystemExit(f"--boundary-word-min-count: model, off or a number, got {value!r}") from None
            settings[value] = corpus_boundary_words(args, min_count)
    return settings


def int_or_model(value: str):
    return value if value == "model" else int(value)


def commit() -> str:
    return git_commit(short=True) or "unknown"  # "-dirty" when tracked files have local changes


def run_seed(model_folder: str):
    """The training seed recorded beside a run's best_model (run_config.json), or None."""
    path = Path(model_folder).resolve().parent / "run_config.json"
    try:
        return json.loads(path.read_text()).get("seed")
    except (OSError, ValueError):
        return None


def markdown(rows: list) -> str:
    lines = [
        "| split | "
        + " | ".join(column for _, column in SWITCHES.values())
        + " | boundary words | argument types | lexicon | given | mention recall | "
        + " | ".join(STAGE_LEVELS)
        + " |",
        "|---|" + "---|" * (len(SWITCHES) + 5 + len(STAGE_LEVELS)),
    ]
    for row in rows:
        for split in ("dev", "test"):
            scores = row.get(split)
            if not scores:
                continue
            cells = [f"{scores.get('mention_recall', float('nan')):.2f}"]
            cells += [f"{scores.get(level + '_f1', float('nan')):.2f}" for level in STAGE_LEVELS]
            switches = ["on" if row.get(name) else "off" for name in SWITCHES]
            boundary = str(row.get("boundary_word_min_count") or "off")
            argument_types = "on" if row.get("relation_argument_types") else "off"
            lexicon = str(row.get("coreference_lexicon") or "off")  # (its number of groups)
            cells = [*switches, boundary, argument_types, lexicon, row["given"], *cells]
            lines.append(f"| {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores
    from simmemre.training_simmemre import _encode_rows, _predict_encoded

    args = build_parser().parse_args(argv)
    device = args.device or default_device()
    model, processor = load_trained_model(args.model, device)
    saved_switches = {name: getattr(model.config, name) for name in SWITCHES}
    boundary_lists = boundary_word_settings(args, model.config)
    argument_types = {
        "model": dict(model.config.relation_argument_types),
        "off": {},
        **({"on": corpus_relation_argument_types(args)} if "on" in args.relation_argument_types else {}),
    }
    lexicons = {
        "model": list(model.config.coreference_lexicon),
        "off": [],
        **({"on": corpus_coreference_lexicon(args)} if "on" in args.coreference_lexicon else {}),
    }
    thresholds = {name: getattr(model.config, name) for name in THRESHOLD_NAMES}
    notes = {}  # (the model as results rows write paths: no absolute path of this machine)
    measured = recorded_model(args.model, notes)
    undirected = UNDIRECTED.get(args.format, [])
    rows_out = {}  # (switches..., given) -> one row with the scores of every split
    for split in args.splits:
        rows = corpus_rows(args, model, processor, [split])[split]
        references = [
            {"id": row["id"], "text": row["text"], "entities": row["entities"], "relations": row["relations"]}
            for row in rows
        ]
        with torch.no_grad():
            encoded = _encode_rows(model, processor, rows, torch.device(device), progress=True)
            for *switches, min_count, signatures, lexicon in itertools.product(
                *(getattr(args, name) for name in SWITCHES),
                boundary_lists,
                args.relation_argument_types,
                args.coreference_lexicon,
            ):
                model.config.relation_argument_types = argument_types[signatures]
                signatures = bool(argument_types[signatures])
                model.config.coreference_lexicon = lexicons[lexicon]
                lexicon = len(lexicons[lexicon]) or None  # recorded by its number of groups
                for name, switch in zip(SWITCHES, switches):
                    setattr(model.config, name, saved_switches[name] if switch == "model" else switch == "on")
                for field in BOUNDARY_FIELDS:
                    setattr(model.config, field, boundary_lists[min_count][field])
                # Recorded as off (None) when there are no lists, else "model" or the number.
                min_count = None if not any(boundary_lists[min_count].values()) else int_or_model(min_count)
                for given in args.given:
                    level = None if given == "none" else given
                    predictions = _predict_encoded(model, processor, rows, encoded, thresholds, level)
                    for prediction, row in zip(predictions, rows):
                        prediction["text"] = row["text"]
                    scores = joint_re_scores(predictions, references, undirected_relation_types=undirected)
                    scores.pop("per_type", None)
                    key = (*(getattr(model.config, name) for name in SWITCHES), min_count, signatures, lexicon, given)
                    row = rows_out.setdefault(
                        key,
                        {
                            "name": args.name or measured["model"],
                            **measured,
                            **({"path_notes": notes} if notes else {}),
                            "seed": run_seed(args.model),
                            "given": given,
                            **{name: getattr(model.config, name) for name in SWITCHES},
                            "boundary_word_min_count": min_count,
                            "relation_argument_types": signatures,
                            "coreference_lexicon": lexicon,
                            "thresholds": thresholds,
                            "commit": commit(),
                            "documents": {},
                            "test": None,  # replaced when the test split is scored: null says dev only
                        },
                    )
                    row[split] = scores
                    row["documents"][split] = len(rows)
                    print(
                        json.dumps(
                            {
                                "split": split,
                                "given": given,
                                **dict(zip([*SWITCHES, "boundary", "argument types", "lexicon"], key)),
                            }
                        )
                        + " "
                        + " ".join(f"{lvl}={scores.get(lvl + '_f1', float('nan')):.2f}" for lvl in STAGE_LEVELS),
                        flush=True,
                    )
    rows_out = list(rows_out.values())
    if args.output:
        append_jsonl(rows_out, args.output, sort_keys=True)
    print(markdown(rows_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
