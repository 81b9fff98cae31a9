#!/usr/bin/env python
r"""Convert a BC5CDR (PubTator), DocRED-format, brat standoff or BioC (XML or JSON) corpus to SimMemRE JSON Lines
documents (or, with --to brat / bioc / bioc-json, SimMemRE documents such as predict.py's output to brat or BioC).

Writes OUTPUT/{train,dev,test}.jsonl for the splits found and OUTPUT/labels.json (sorted entity and
relation types of every split in OUTPUT), and prints one JSON line of counts per split:
{"split", "documents", "mentions", "entities", "relations", ...extra counts}. A folder --input removes the split
files ({train,dev,test}.jsonl[.gz]) an earlier conversion left there, so that the folder holds this conversion only;
one file --input replaces only its own split, so split files can be converted one by one into one folder.
An input without documents, or a --rel-info naming none of the corpus's relation ids, is refused.

Examples:
    python scripts/convert_dataset.py --format bc5cdr --input ../shared/data/bc5cdr --output data_converted/bc5cdr
    python scripts/convert_dataset.py --format docred --input ../shared/data/re-docred \
        --rel-info ../shared/data/docred/rel_info.json --output data_converted/re-docred
    python scripts/convert_dataset.py --format brat --input my_brat_corpus --output data_converted/mine
    python scripts/convert_dataset.py --format bioc --input BioRED --output data_converted/biored
    python scripts/convert_dataset.py --format jsonl --to brat --input predictions.jsonl --output predictions_brat
    python scripts/convert_dataset.py --format jsonl --to bioc --input predictions.jsonl --output predictions.xml
"""

import sys

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import convert_parser

if __name__ == "__main__":
    convert_parser().parse_args()  # --help and usage errors before the package's import (convert_command parses again)
    from simmemre.data_simmemre import convert_command
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(convert_command))
