#!/usr/bin/env python
"""Run a saved SimMemRE model on text files, JSON Lines documents or stdin; write JSON Lines predictions.

Each INPUT is a text file (one document: the whole file, read byte-exactly as UTF-8, id = file name), a .jsonl/.json
file of schema documents (one JSON object per line; `id`, `text` and optional `words`/`sentences` are used, gold
annotations are ignored), or "-" for stdin (JSON Lines if every non-empty line is a JSON object, else one text). With no
INPUT, stdin is read. One prediction per document is written as a JSON line to stdout or --output, in input order.

Examples:
    python scripts/predict.py --model out/simmemre-cdr abstract.txt
    python scripts/predict.py --model out/simmemre-cdr data/test.jsonl --output pred.jsonl --html pred.html
    echo "Aspirin-induced ulcers." | python scripts/predict.py --model out/simmemre-cdr --mention-threshold 0.5
"""

import argparse
import json
import sys
from pathlib import Path

from simmemre.experiment_simmemre import add_inference_arguments, iter_jsonl_objects, load_pipeline, thresholds_from
from simmemre.visualization_simmemre import render_html


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder (or Hub id) with the joint-re pipeline")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="text file, .jsonl/.json documents, or - (stdin)")
    parser.add_argument("--format", choices=("auto", "text", "jsonl"), default="auto",
                        help="how to read inputs: auto (by extension; stdin by content), text or jsonl")
    parser.add_argument("--output", "-o", help="write JSON Lines here instead of stdout")
    parser.add_argument("--html", help="also write a readable HTML page of the predictions")
    add_inference_arguments(parser,
                            dtype_help="weights' dtype (default: auto, as saved); bfloat16/float16 halve the memory")
    return parser


def _parse_jsonl(content: str, source: str) -> list:
    return [document for _, document in iter_jsonl_objects(content.splitlines(), source)]


def _looks_like_jsonl(content: str) -> bool:
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in lines)
    except json.JSONDecodeError:
        return False


def read_inputs(inputs, fmt="auto", stdin=None) -> list:
    """Documents (str-text dicts with ids) from the given inputs, in order."""
    documents = []
    for source in inputs or ["-"]:
        if source == "-":
            stream = stdin if stdin is not None else sys.stdin
            raw = getattr(stream, "buffer", None)  # bytes: no newline translation, UTF-8 whatever the locale
            content = raw.read().decode("utf-8") if raw is not None else stream.read()
            if fmt == "jsonl" or (fmt == "auto" and _looks_like_jsonl(content)):
                documents.extend(_parse_jsonl(content, "<stdin>"))
            else:
                documents.append({"id": "stdin", "text": content})
            continue
        path = Path(source)
        if not path.is_file():
            raise SystemExit(f"input not found: {source}")
        # newline="" keeps \r\n as is, so offsets index the file's text exactly.
        with open(path, encoding="utf-8", newline="") as handle:
            content = handle.read()
        if fmt == "jsonl" or (fmt == "auto" and path.suffix.lower() in (".jsonl", ".json", ".ndjson")):
            stripped = content.lstrip()
            if stripped.startswith("[") and path.suffix.lower() == ".json":
                data = json.loads(content)
                documents.extend(data)
            else:
                documents.extend(_parse_jsonl(content, source))
        else:
            documents.append({"id": path.name, "text": content})
    return documents


def main(argv=None, stdin=None, stdout=None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit("--batch-size must be positive")
    documents = read_inputs(args.inputs, args.format, stdin)
    extractor = load_pipeline(args.model, args.device, args.batch_size, args.dtype)
    predictions = extractor(documents, batch_size=args.batch_size, **thresholds_from(args)) if documents else []

    lines = "".join(json.dumps(prediction, ensure_ascii=False) + "\n" for prediction in predictions)
    if args.output:
        Path(args.output).write_text(lines, encoding="utf-8")
    else:
        stream = stdout or sys.stdout
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            stream.flush()
            raw.write(lines.encode("utf-8"))
            raw.flush()
        else:
            stream.write(lines)
    if args.html:
        title = f"SimMemRE predictions — {Path(args.model).name or args.model}"
        Path(args.html).write_text(render_html(predictions, title=title), encoding="utf-8")
    print(
        f"{len(predictions)} document(s), {sum(len(p['entities']) for p in predictions)} entities, "
        f"{sum(len(p['relations']) for p in predictions)} relations",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
