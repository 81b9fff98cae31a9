#!/usr/bin/env python
"""Where coreference loses strict F1: a saved model's clusters set against the gold entities, error by error.

Strict relation scoring needs each argument's cluster exactly, so a gold entity is either recovered whole or lost.
This sorts every gold entity (with at least one found mention) into: recovered, split (its found mentions sit in
two or more predicted clusters), merged (its cluster also holds mentions of another gold entity, of the same or of a
different type), both, or (end to end) one cluster that misses mentions or holds non-gold spans; and each split by
how its pieces are written (a piece shares a lower-cased string with another piece, one piece is an abbreviation of
another's long form, or the pieces are written differently: synonyms). Given the gold mentions (default) the mention
stage is out of the picture.

    python benchmarks/coref_errors.py --model runs/x/best_model --data-dir ../shared/data/bc5cdr --format bc5cdr \\
        --split dev [--given mentions|none] [--coref-threshold 0.85] [--name NAME] \\
        [--output results/cdr-coref-errors.jsonl]

Prints one JSON object (shares in percent of the gold entities with a found mention) and appends it to --output.
"""

import argparse
import collections
import json
import sys

import torch

from simmemre.data_simmemre import append_jsonl
from simmemre.experiment_simmemre import (
    add_corpus_arguments,
    corpus_rows,
    corpus_split,
    default_device,
    git_commit,
    load_trained_model,
    probability,
    recorded_model,
    thresholds_from,
)
from simmemre.training_simmemre import THRESHOLD_NAMES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (a run's best_model)")
    add_corpus_arguments(parser)
    parser.add_argument("--split", type=corpus_split, default="dev")
    parser.add_argument("--given", default="mentions", choices=["mentions", "none"])
    for name in THRESHOLD_NAMES:
        parser.add_argument("--" + name.replace("_", "-"), type=probability, help=f"override the model's {name}")
    parser.add_argument("--name", help="a name for the row (default: the model folder)")
    parser.add_argument("--output", help="append the JSON object here")
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda:0 when CUDA is available, else cpu)"
    )
    return parser


def _span_sets(entities: list) -> list:
    return [{(m["start"], m["end"]) for m in entity["mentions"]} for entity in entities]


def classify_document(gold_entities: list, predicted_entities: list, text: str, abbreviation_pairs: set) -> list:
    """One (kind, split kind) per gold entity with a found mention. kind: recovered (exactly), split, merged_same_type,
    merged_other_type, split_and_merged, or (one cluster, nothing merged) missing_mentions, extra_spans (non-gold
    spans in the cluster), missing_mentions_and_extra_spans; split kind (splits only): same_string, abbreviation,
    synonym."""
    gold_spans = _span_sets(gold_entities)
    owner = collections.defaultdict(set)  # span -> gold entity indices (a span may belong to two)
    for index, spans in enumerate(gold_spans):
        for span in spans:
            owner[span].add(index)
    cluster_of = {}
    predicted_spans = _span_sets(predicted_entities)
    for cluster, spans in enumerate(predicted_spans):
        for span in spans:
            cluster_of[span] = cluster
    out = []
    for index, spans in enumerate(gold_spans):
        found = [span for span in spans if span in cluster_of]
        if not found:
            continue
        clusters = {cluster_of[span] for span in found}
        split = len(clusters) > 1
        others = set()
        for cluster in clusters:
            for span in predicted_spans[cluster]:
                others |= owner.get(span, set()) - {index}
        merged_types = {gold_entities[other]["type"] for other in others}
        if split and others:
            kind = "split_and_merged"
        elif split:
            kind = "split"
        elif others:
            kind = "merged_same_type" if gold_entities[index]["type"] in merged_types else "merged_other_type"
        else:  # one cluster, no other gold entity's mention in it
            missing = len(found) < len(spans)
            extra = bool(predicted_spans[next(iter(clusters))] - spans)  # non-gold spans (end to end only)
            kind = {
                (False, False): "recovered",
                (True, False): "missing_mentions",
                (False, True): "extra_spans",
                (True, True): "missing_mentions_and_extra_spans",
            }[(missing, extra)]
        split_kind = None
        if split:
            pieces = collections.defaultdict(set)
            for span in found:
                pieces[cluster_of[span]].add(text[span[0] : span[1]].lower())
            strings = list(pieces.values())
            shared = any(strings[a] & strings[b] for a in range(len(strings)) for b in range(a + 1, len(strings)))
            abbreviated = any(
                (x, y) in abbreviation_pairs or (y, x) in abbreviation_pairs
                for a in range(len(strings))
                for b in range(a + 1, len(strings))
                for x in strings[a]
                for y in strings[b]
            )
            split_kind = "same_string" if shared else "abbreviation" if abbreviated else "synonym"
        out.append((kind, split_kind))
    return out


def main(argv=None) -> int:
    from simmemre.modeling_simmemre import find_abbreviations
    from simmemre.training_simmemre import _encode_rows, _predict_encoded

    args = build_parser().parse_args(argv)
    device = args.device or default_device()
    model, processor = load_trained_model(args.model, device)
    thresholds = {**{name: getattr(model.config, name) for name in THRESHOLD_NAMES}, **thresholds_from(args)}
    rows = corpus_rows(args, model, processor, [args.split])[args.split]
    with torch.no_grad():
        encoded = _encode_rows(model, processor, rows, torch.device(device), progress=True)
        predictions = _predict_encoded(
            model, processor, rows, encoded, thresholds, None if args.given == "none" else args.given
        )
    kinds, split_kinds = collections.Counter(), collections.Counter()
    for row, prediction in zip(rows, predictions):
        pairs = {(long.lower(), short.lower()) for short, long in find_abbreviations(row["text"])}
        for kind, split_kind in classify_document(row["entities"], prediction["entities"], row["text"], pairs):
            kinds[kind] += 1
            if split_kind:
                split_kinds[split_kind] += 1
    total = max(1, sum(kinds.values()))  # a model that finds nothing reports no kinds
    from stage_scores import run_seed  # benchmarks/, beside this script

    notes = {}  # (the model as results rows write paths: no absolute path of this machine)
    measured = recorded_model(args.model, notes)
    report = {
        "name": args.name or measured["model"],
        **measured,
        "seed": run_seed(args.model),
        "commit": git_commit(),
        "split": args.split,
        "given": args.given,
        "thresholds": thresholds,
        "gold_entities_with_a_found_mention": sum(kinds.values()),
        "kinds_percent": {kind: round(100 * count / total, 2) for kind, count in kinds.most_common()},
        "splits_by_writing_percent": {
            kind: round(100 * count / max(1, sum(split_kinds.values())), 2) for kind, count in split_kinds.most_common()
        },
    }
    if notes:
        report["path_notes"] = notes
    if args.split != "test":
        report["test"] = None  # like every results row: no test figures in this one
    print(json.dumps(report, indent=1))
    if args.output:
        append_jsonl([report], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
