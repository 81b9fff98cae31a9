#!/usr/bin/env python
"""Evaluate a saved SimMemRE model on a JSON Lines split with the project's strict joint-RE metric.

The model predicts every document of --data (gold entities/relations are not shown to it; its `words`/`sentences` are
used when present) and the predictions are scored with `simmemre.metrics.joint_re_f1` (JEREX strict micro P/R/F1 for
mention, coref, entity, relation and relation_strict). Prints a table, or one JSON object with --json.

Examples:
    python scripts/evaluate.py --model out/simmemre-cdr --data data_converted/bc5cdr/test.jsonl
    python scripts/evaluate.py --model out/simmemre-cdr --data test.jsonl --json --predictions pred.jsonl
"""

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

# Run as `python scripts/evaluate.py`, this file's folder is sys.path[0] and its name would shadow the `evaluate`
# library that the metric imports: drop the folder from the import path.
SCRIPT_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != SCRIPT_DIR]
if __name__ != "__main__":
    # Another script of this folder ran `import evaluate` and found this file first: hand over to the library.
    del sys.modules[__name__]
    sys.modules[__name__] = importlib.import_module("evaluate")

LEVELS = ("mention", "coref", "entity", "relation", "relation_strict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (or Hub id) with the joint-re pipeline")
    parser.add_argument("--data", required=True, help="JSON Lines file of gold schema documents")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--mention-threshold", type=float)
    parser.add_argument("--coref-threshold", type=float)
    parser.add_argument("--relation-threshold", type=float)
    parser.add_argument("--device", default=None,
                        help="torch device, e.g. cpu or cuda:0 (default: cuda:0 when CUDA is available, else cpu)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                        help="weights' dtype (default: auto, as saved)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N documents")
    parser.add_argument("--predictions", help="also write the predictions as JSON Lines here")
    parser.add_argument("--json", action="store_true", help="print the metric output as one JSON object")
    return parser


def read_gold(path, limit=None) -> list:
    documents = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
            if not isinstance(document, dict) or not isinstance(document.get("text"), str):
                raise SystemExit(f"{path}:{line_number}: expected a schema document with a 'text' string")
            documents.append(document)
            if limit is not None and len(documents) >= limit:
                break
    # The metric matches documents by id: give id-less documents a positional one (same on both sides).
    for index, document in enumerate(documents):
        if document.get("id") is None:
            document["id"] = f"doc-{index}"
    ids = [str(document["id"]) for document in documents]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"{path}: document ids must be unique")
    return documents


def format_table(results) -> str:
    rows = [f"{'level':<16}{'precision':>10}{'recall':>10}{'f1':>10}"]
    for level in LEVELS:
        rows.append(
            f"{level:<16}{results[f'{level}_precision']:>10.2f}{results[f'{level}_recall']:>10.2f}"
            f"{results[f'{level}_f1']:>10.2f}"
        )
    rows.append(f"documents: {results['documents']}")
    return "\n".join(rows)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    spec = importlib.util.spec_from_file_location("_simmemre_predict_script", SCRIPT_DIR / "predict.py")
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    load_pipeline, thresholds_from = predict.load_pipeline, predict.thresholds_from

    gold = read_gold(args.data, args.limit)
    extractor = load_pipeline(args.model, args.device, args.batch_size, args.dtype)
    predictions = extractor(gold, batch_size=args.batch_size, **thresholds_from(args)) if gold else []
    for prediction, document in zip(predictions, gold):
        prediction["id"] = document["id"]
    results = joint_re_scores(predictions, gold)
    if args.predictions:
        Path(args.predictions).write_text(
            "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8"
        )
    if args.json:
        print(json.dumps(results, sort_keys=True))
    else:
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
