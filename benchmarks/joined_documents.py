#!/usr/bin/env python
"""What a model trained on single abstracts does with several unrelated abstracts given as one text.

Consecutive documents of a split are joined in groups (texts separated by a blank line, gold offsets shifted, each
document's entities kept apart), then predicted once joined and once document by document. Both are scored with the
strict metric against the same gold; the joined run also counts its predicted entities with mentions in two or more
of the joined documents (clusters across unrelated texts), the relations that hold one of them, and the relations
between entities of different documents (pairs that documents predicted one by one never form).

    python benchmarks/joined_documents.py --model runs/x/best_model --data-dir ../shared/data/bc5cdr --format bc5cdr \\
        --split dev --group 5 --max-documents 100 [--output results/cdr-joined-documents.jsonl]

Prints one JSON object and appends it to --output.
"""

import argparse
import json
import sys

from simmemre.data_simmemre import append_jsonl
from simmemre.experiment_simmemre import (
    _converted_corpus,
    add_corpus_arguments,
    corpus_split,
    git_commit,
    load_pipeline,
    recorded_model,
)
from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores
from simmemre.training_simmemre import THRESHOLD_NAMES

SEPARATOR = "\n\n"
LEVELS = ("mention", "coref", "entity", "relation_strict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (a run's best_model)")
    add_corpus_arguments(parser)
    parser.add_argument("--split", type=corpus_split, default="dev")
    parser.add_argument("--group", type=int, default=5, help="documents per joined text (default 5)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--name", help="a name for the row (default: the model folder)")
    parser.add_argument("--output", help="append the JSON object here")
    return parser


def join(documents: list) -> tuple:
    """One schema document of `documents` (texts joined by SEPARATOR, offsets and entity indices shifted) and the
    character range of each part."""
    text, entities, relations, ranges = "", [], [], []
    for document in documents:
        if text:
            text += SEPARATOR
        shift, first_entity = len(text), len(entities)
        text += document["text"]
        ranges.append((shift, len(text)))
        for entity in document["entities"]:
            mentions = [{"start": m["start"] + shift, "end": m["end"] + shift} for m in entity["mentions"]]
            entities.append({"type": entity["type"], "mentions": mentions})
        for relation in document["relations"]:
            head, tail = relation["head"] + first_entity, relation["tail"] + first_entity
            relations.append({"head": head, "tail": tail, "type": relation["type"]})
    joined_id = "+".join(str(document["id"]) for document in documents)
    return {"id": joined_id, "text": text, "entities": entities, "relations": relations}, ranges


def shifted(prediction: dict, documents: list, joined: dict) -> dict:
    """The document-by-document predictions of `documents` as one prediction of the `joined` text."""
    parts = [prediction] if isinstance(prediction, dict) else prediction
    merged, _ = join([{**part, "id": document["id"]} for part, document in zip(parts, documents)])
    return {**merged, "id": joined["id"]}


def entity_parts(prediction: dict, ranges: list) -> list:
    """The set of joined documents (indices into `ranges`) each predicted entity has mentions in."""

    def part(offset):
        return next(index for index, (start, end) in enumerate(ranges) if start <= offset < end)

    return [{part(mention["start"]) for mention in entity["mentions"]} for entity in prediction["entities"]]


def cross_document_entities(prediction: dict, ranges: list) -> set:
    """Indices of the predicted entities with mentions in two or more of the joined documents."""
    return {index for index, parts in enumerate(entity_parts(prediction, ranges)) if len(parts) > 1}


def cross_document_relations(prediction: dict, ranges: list) -> int:
    """Predicted relations whose head and tail share no joined document (pairs that separate documents never form)."""
    parts = entity_parts(prediction, ranges)
    return sum(1 for relation in prediction["relations"] if not parts[relation["head"]] & parts[relation["tail"]])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.group < 2:
        raise SystemExit(f"--group must be at least 2, got {args.group}")
    corpus = _converted_corpus(args.format, args.data_dir, args.rel_info)
    if args.split not in corpus:
        raise SystemExit(f"{args.data_dir}: no {args.split!r} split (found {sorted(corpus)})")
    documents = corpus[args.split][0][: args.max_documents]
    groups = [documents[i : i + args.group] for i in range(0, len(documents) - args.group + 1, args.group)]
    if not groups:
        raise SystemExit(f"{args.split}: fewer than --group {args.group} documents")
    extractor = load_pipeline(args.model, device=args.device)

    gold, separate, joined, cross_entities, cross_relations, cross_pairs = [], [], [], 0, 0, 0
    for group in groups:
        reference, ranges = join(group)
        gold.append(reference)
        predictions = extractor([{"id": d["id"], "text": d["text"]} for d in group], batch_size=len(group))
        separate.append(shifted(predictions, group, reference))
        prediction = extractor({"id": reference["id"], "text": reference["text"]})
        joined.append(prediction)
        crossing = cross_document_entities(prediction, ranges)
        cross_entities += len(crossing)
        cross_relations += sum(1 for r in prediction["relations"] if {r["head"], r["tail"]} & crossing)
        cross_pairs += cross_document_relations(prediction, ranges)

    scores = {name: joint_re_scores(runs, gold) for name, runs in (("separate", separate), ("joined", joined))}
    from stage_scores import run_seed  # benchmarks/, beside this script

    notes = {}  # (the model as results rows write paths: no absolute path of this machine)
    measured = recorded_model(args.model, notes)
    row = {
        "name": args.name or measured["model"],
        **measured,
        "seed": run_seed(args.model),
        "commit": git_commit(short=True),
        "split": args.split,
        "thresholds": {name: getattr(extractor.model.config, name) for name in THRESHOLD_NAMES},
        "documents": len(groups) * args.group,
        "group": args.group,
        **{f"{name}_{level}_f1": round(scores[name][f"{level}_f1"], 2) for name in scores for level in LEVELS},
        "separate_entities": sum(len(p["entities"]) for p in separate),
        "separate_relations": sum(len(p["relations"]) for p in separate),
        "joined_entities": sum(len(p["entities"]) for p in joined),
        "joined_cross_document_entities": cross_entities,
        "joined_relations": sum(len(p["relations"]) for p in joined),
        "joined_relations_with_a_cross_document_entity": cross_relations,
        "joined_relations_between_documents": cross_pairs,
        "test": None,  # like every results row: null says no test figures in this one
        **({"path_notes": notes} if notes else {}),
    }
    print(json.dumps(row))
    if args.output:
        append_jsonl([row], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
