#!/usr/bin/env python
"""Evaluate a saved SimMemRE model on a JSON Lines split with the project's strict joint-RE metric.

The model predicts every document of --data (gold entities/relations are not shown to it; its `words`/`sentences` are
used when present) and the predictions are scored with `simmemre.metrics.joint_re_f1` (JEREX strict micro P/R/F1 for
mention, coref, entity, relation and relation_strict, and the comparison levels relation_seq2rel and relation_relaxed).
Prints a table with the thresholds the model ran at, or one JSON object with --json.

Examples:
    python scripts/score.py --model runs/cdr_minilm_memory/best_model --data data_converted/bc5cdr/test.jsonl
    python scripts/score.py --model runs/cdr_minilm_memory/best_model --data test.jsonl --json --predictions pred.jsonl
    python scripts/score.py --from-predictions runs/x/test_predictions.jsonl --data test.jsonl --per-type 10

--from-predictions scores saved predictions (e.g. a training run's test_predictions.jsonl) instead of running a model;
--per-type N adds the N relation types with the most gold relations (strict P/R/F1 and support);
--given mentions|clusters|entities gives the model that gold input and runs only the later stages (JEREX's evaluation
"in isolation"): what each stage costs when everything before it is right.
    python scripts/score.py --model runs/x/best_model --data dev.jsonl --given clusters
"""

import argparse
import gzip
import json
import re
import sys
import zlib
from collections import Counter

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import GIVEN_LEVELS, THRESHOLD_NAMES, add_inference_arguments, non_negative_int, positive_int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="saved model folder (or Hub id) with the joint-re pipeline")
    source.add_argument("--from-predictions", metavar="FILE", help="score these JSON Lines predictions instead")
    parser.add_argument("--data", required=True, help="JSON Lines file of gold schema documents (.jsonl, .jsonl.gz)")
    add_inference_arguments(parser)
    parser.add_argument(
        "--limit", "--max-documents", type=positive_int, help="evaluate only the first N documents", dest="limit"
    )
    parser.add_argument("--predictions", help="also write the predictions as JSON Lines here")
    parser.add_argument("--json", action="store_true", help="print the metric output as one JSON object")
    parser.add_argument(
        "--per-type",
        type=non_negative_int,
        metavar="N",
        default=0,
        help="also print the N relation types with the most gold relations (strict P/R/F1; --json holds every type)",
    )
    parser.add_argument(
        "--undirected-relation-types",
        nargs="+",
        metavar="TYPE",
        help="relation types that relation_seq2rel and relation_relaxed score as unordered pairs (seq2rel scores "
        "CDR's CID so); the strict levels keep the direction",
    )
    parser.add_argument(
        "--given",
        choices=GIVEN_LEVELS,
        help="give the model gold mentions, clusters or typed entities; only later stages run (one document per "
        "forward pass: --batch-size does not apply)",
    )
    return parser


def _decoded_lines(handle, path):
    """The text lines of a binary file handle, split as text mode splits them (\\n, \\r\\n or \\r); a line that is not
    UTF-8 stops the script naming the file and line."""
    line_number = 0
    for raw in handle:
        if line_number == 0:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is no content
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SystemExit(
                f"{path}:{line_number + 1}: not UTF-8 ({error.reason} at byte {error.start + 1} of the line)"
            ) from None
        for line in re.split(r"\r(?!\n)", text):  # a lone carriage return ends a line too, as in text mode
            line_number += 1
            yield line


def _json_lines(path, expected: str):
    """(line number, dict) of a JSON Lines file (.gz decompressed, as data_simmemre.read_jsonl reads it); a missing
    file, a broken .gz, or a line that is not UTF-8, stops the script naming it."""
    from simmemre.experiment_simmemre import iter_jsonl_objects

    try:
        with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as handle:
            yield from iter_jsonl_objects(_decoded_lines(handle, path), path, expected)
    except (OSError, EOFError, zlib.error) as error:  # EOFError, zlib.error: a .gz cut short or corrupt
        raise SystemExit(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None


def _with_unique_ids(documents: list, path) -> list:
    # The metric matches documents by id: give id-less documents a positional one (same on both sides).
    for index, document in enumerate(documents):
        if document.get("id") is None:
            document["id"] = f"doc-{index}"
    ids = [str(document["id"]) for document in documents]
    if len(set(ids)) != len(ids):
        repeated = sorted(doc_id for doc_id, count in Counter(ids).items() if count > 1)
        raise SystemExit(f"{path}: document ids must be unique (repeated: {', '.join(repeated[:3])})")
    return documents


def read_gold(path, limit=None) -> tuple[list, list]:
    """The first `limit` (all when None) gold documents of `path` and the line number of each."""
    documents, lines = [], []
    expected = "a schema document with a 'text' string"
    for line_number, document in _json_lines(path, expected):
        if not isinstance(document.get("text"), str):
            raise SystemExit(f"{path}:{line_number}: expected {expected}")
        documents.append(document)
        lines.append(line_number)
        if limit is not None and len(documents) >= limit:  # limit >= 1 (positive_int): no line past it is read
            break
    if not documents:
        raise SystemExit(f"{path}: no documents to score")
    return _with_unique_ids(documents, path), lines


def read_predictions(path) -> list:
    """Predicted documents (`text` optional, as for the metric); predict.py's error records stop the script."""
    documents = []
    for line_number, document in _json_lines(path, "a predicted document"):
        if "error" in document:
            raise SystemExit(
                f"{path}:{line_number}: document {document.get('id')!r} has no prediction, only predict.py's error "
                f"record: {document['error']}"
            )
        documents.append(document)
    if not documents:
        raise SystemExit(f"{path}: no predictions to score")
    return _with_unique_ids(documents, path)


def check_gold_input(gold: list, lines: list, path, given) -> None:
    """Before a model runs on `gold`: every document follows the schema (`validate_document`: offsets inside the
    text, entities with mentions, relations naming existing entities) and, end to end, is a valid pipeline input
    (`check_input`: words inside the sentences, no text outside them). Stops the script naming `path:line`, the
    document and field."""
    from simmemre.data_simmemre import DocumentError, validate_document
    from simmemre.processing_simmemre import check_input

    for document, line in zip(gold, lines):
        source = f"{path}:{line}"
        try:
            validate_document({**document, "id": str(document["id"])}, source=source)  # the metric takes int ids
            if not given:
                check_input(document)
        except DocumentError as error:
            raise SystemExit(str(error)) from None
        except (TypeError, ValueError) as error:  # check_input names the document and field
            raise SystemExit(f"{source}: {error}") from None


# The thresholds a run with --given still applies: gold input is never dropped (no entity threshold, see
# SimMemREModel.extract), and a given stage has none.
GIVEN_THRESHOLDS = {
    "mentions": ("coref_threshold", "relation_threshold"),
    "clusters": ("relation_threshold",),
    "entities": ("relation_threshold",),
}


def thresholds_used(config, args) -> dict:
    """The thresholds a model with `config` runs at: its saved ones, with those given on the command line; with
    --given, only those it applies."""
    from simmemre.experiment_simmemre import thresholds_from

    used = {**{name: getattr(config, name) for name in THRESHOLD_NAMES}, **thresholds_from(args)}
    given = getattr(args, "given", None)
    return {name: value for name, value in used.items() if not given or name in GIVEN_THRESHOLDS[given]}


def predict_given(args, gold) -> list:
    """The model's predictions on `gold` given its gold input at level `args.given` (see `SimMemREModel.extract`);
    `args.model_config` is set to the loaded model's config."""
    import torch

    from simmemre.experiment_simmemre import load_trained_model, thresholds_from
    from simmemre.training_simmemre import evaluate_thresholds, tokenize_documents

    model, processor = load_trained_model(args.model, args.device)
    args.model_config = model.config
    if args.dtype not in (None, "auto"):
        model = model.to(getattr(torch, args.dtype))
    # The gold input is mentions, clusters or typed entities: the relations are only scored, so a gold relation type
    # the model does not know (one absent from the slice it was trained on) is a miss, as without --given.
    without_relations = [{**document, "relations": []} for document in gold]
    entity_types = model.config.entity_types
    if args.given != "entities" and entity_types:
        # Given mentions or clusters, the model types the entities itself: a gold type it does not know is only
        # scored (a miss at the typed levels), so it is tokenized as a placeholder the model never reads.
        known = set(entity_types)
        without_relations = [
            {
                **document,
                "entities": [
                    entity if entity["type"] in known else {**entity, "type": entity_types[0]}
                    for entity in document["entities"]
                ],
            }
            for document in without_relations
        ]
    dataset = tokenize_documents(
        without_relations, processor, entity_types, model.config.relation_types, desc="Tokenizing"
    )
    rows = [dataset[i] for i in range(len(dataset))]
    _, predictions = evaluate_thresholds(
        model, processor, rows, thresholds_from(args), progress=True, given=args.given, return_predictions=True
    )
    return predictions


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from simmemre.data_simmemre import write_jsonl
    from simmemre.experiment_simmemre import (
        bars_off_unless_watched,
        check_output_location,
        inference_device,
        load_pipeline,
        per_type_table,
        scores_table,
        thresholds_from,
    )
    from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS, joint_re_scores

    # The metric's levels in the table: JEREX's, then the comparison levels in the README's order.
    table_levels = LEVELS + ("relation_seq2rel", "relation_relaxed")

    bars_off_unless_watched()

    # Before any scoring: a bad output path found after it would lose the work, and --predictions = --data would
    # overwrite the gold annotations.
    for option, path in (("--data", args.data), ("--from-predictions", args.from_predictions)):
        if path == "-":  # (read as a file named "-": "No such file")
            raise SystemExit(f"{option} -: standard input is not read here; give a file name")
    if args.from_predictions:  # the saved predictions are scored as they are: these options would change nothing
        given = ["--" + name.replace("_", "-") for name in THRESHOLD_NAMES if getattr(args, name) is not None] + [
            option
            for option, value, default in (
                ("--device", args.device, None),
                ("--dtype", args.dtype, "auto"),
                ("--serving", args.serving, "fp32"),
            )
            if value != default
        ]
        if given:
            raise SystemExit(
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --model runs; --from-predictions "
                "scores the saved predictions as they are (predict again with predict.py to change them)"
            )
    if args.predictions and not args.from_predictions:
        check_output_location(args.predictions, "--predictions", [args.data])
    if args.model:
        args.device = inference_device(args.device)
    if args.predictions and args.from_predictions:  # nothing is predicted: the file was silently never written
        raise SystemExit(
            "--predictions writes the model's predictions; with --from-predictions there are none to write"
        )
    gold, lines = read_gold(args.data, args.limit)
    if args.given and not args.model:
        raise SystemExit("--given needs --model (it runs the model on gold input)")
    if args.given and args.serving != "fp32":  # it ran, silently without them
        raise SystemExit(
            f"--serving {args.serving} applies to the pipeline; --given runs the model directly (use --dtype)"
        )
    if args.model:  # before loading the model: a bad gold document stops the script at once
        check_gold_input(gold, lines, args.data, args.given)
    if args.given:
        from simmemre.data_simmemre import DocumentError

        try:
            predictions = predict_given(args, gold)
        except DocumentError as error:  # from tokenize_documents, which names no file: name the data file and line
            line = dict(zip((str(document["id"]) for document in gold), lines)).get(str(error.doc_id))
            source = f"{args.data}:{line}" if line is not None else str(args.data)
            raise SystemExit(
                str(DocumentError(error.reason, source=source, doc_id=error.doc_id, field=error.field))
            ) from None
        except ValueError as error:  # any other refusal of the gold input
            raise SystemExit(f"{args.data}: {error}") from None
    elif args.from_predictions:
        wanted = {str(document["id"]) for document in gold}
        predictions = read_predictions(args.from_predictions)
        unknown = [str(p["id"]) for p in predictions if str(p["id"]) not in wanted]
        if unknown and args.limit is None:  # with --limit, predictions past it are expected
            raise SystemExit(
                f"{args.from_predictions}: {len(unknown)} prediction(s) for documents {args.data} does not hold "
                f"(first: {', '.join(unknown[:3])})"
            )
        predictions = [p for p in predictions if str(p["id"]) in wanted]
    else:
        from tqdm.auto import tqdm

        from simmemre.training_simmemre import watched_output

        extractor = load_pipeline(args.model, args.device, args.batch_size, args.dtype, serving=args.serving)
        args.model_config = extractor.model.config
        try:  # a generator: the pipeline yields each document as it is done, which the bar counts
            predicted = extractor(iter(gold), batch_size=args.batch_size, **thresholds_from(args))
            bar = tqdm(predicted, total=len(gold), desc="Predicting", unit="doc", disable=not watched_output())
            predictions = list(bar)
        except (ValueError, TypeError) as error:  # the pipeline's input check names the document and field
            raise SystemExit(f"{args.data}: {error}") from None
        for prediction, document in zip(predictions, gold):
            prediction["id"] = document["id"]
    try:
        results = joint_re_scores(predictions, gold, undirected_relation_types=args.undirected_relation_types)
    except ValueError as error:  # the metric says which side ("reference document ..." or "prediction ...")
        side = args.data if str(error).startswith("reference") else (args.from_predictions or args.model)
        position = re.search(r"\(references\[(\d+)\]\)", str(error)) if side == args.data else None
        if position:  # the gold document's line
            side = f"{side}:{lines[int(position.group(1))]}"
        raise SystemExit(f"{side}: {error}") from None
    if args.predictions and not args.from_predictions:
        write_jsonl(predictions, args.predictions)  # gzip for a .gz name, as the library reads it
    if args.json:
        print(json.dumps(results, sort_keys=True))
    else:
        config = getattr(args, "model_config", None)  # none for --from-predictions: their thresholds are unknown
        print(scores_table(results, table_levels, thresholds_used(config, args) if config is not None else None))
        if args.per_type:
            print()
            print(per_type_table(results, "relation_strict", args.per_type))
    return 0


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors before the package's import (main parses again)
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
