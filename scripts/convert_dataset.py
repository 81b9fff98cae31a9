#!/usr/bin/env python
"""Convert a BC5CDR (PubTator) or DocRED-format corpus to SimMemRE JSON Lines documents.

Writes OUTPUT/{train,dev,test}.jsonl for the splits found and OUTPUT/labels.json (sorted entity and
relation types), and prints one JSON line of counts per split:
{"split", "documents", "mentions", "entities", "relations", ...extra counts}.

Examples:
    python scripts/convert_dataset.py --format bc5cdr --input ../shared/data/bc5cdr --output data_converted/bc5cdr
    python scripts/convert_dataset.py --format docred --input ../shared/data/re-docred \
        --rel-info ../shared/data/docred/rel_info.json --output data_converted/re-docred
"""

import argparse
import json
import os
import sys

from simmemre.data_simmemre import (
    FORMATS,
    DocumentError,
    convert_corpus,
    labels_for,
    stats_line,
    write_jsonl,
    write_labels,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS, help="input format")
    parser.add_argument(
        "--input",
        required=True,
        help="a folder (splits recognised by file name: train/training, dev/development/valid, test) or one file",
    )
    parser.add_argument("--output", required=True, help="output folder for {split}.jsonl and labels.json")
    parser.add_argument("--rel-info", help="docred: rel_info.json or JEREX types.json mapping relation ids to names")
    parser.add_argument("--drop-ungrounded", action="store_true", help="bc5cdr: drop mentions with MeSH id -1")
    parser.add_argument(
        "--require-relations", action="store_true", help="bc5cdr: drop documents without any CID relation"
    )
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = {}
    if args.format == "bc5cdr":
        if args.rel_info:
            parser.error("--rel-info applies to --format docred only")
        options = {"drop_ungrounded": args.drop_ungrounded, "require_relations": args.require_relations}
    else:
        if args.drop_ungrounded or args.require_relations:
            parser.error("--drop-ungrounded and --require-relations apply to --format bc5cdr only")
        options = {"rel_info": args.rel_info}
    try:
        converted = convert_corpus(args.format, args.input, **options)
    except (DocumentError, FileNotFoundError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    for split, (docs, stats) in converted.items():
        write_jsonl(docs, os.path.join(args.output, f"{split}.jsonl"))
        print(stats_line(stats), flush=True)
    labels = labels_for(converted)
    write_labels(args.output, labels["entity_types"], labels["relation_types"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
