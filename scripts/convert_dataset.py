#!/usr/bin/env python
"""Convert a BC5CDR (PubTator) or DocRED-format corpus to SimMemRE JSON Lines documents.

Writes OUTPUT/{train,dev,test}.jsonl for the splits found and OUTPUT/labels.json (sorted entity and
relation types), removing the split files ({train,dev,test}.jsonl[.gz]) an earlier conversion left there, so that the
folder holds this conversion only, and prints one JSON line of counts per split:
{"split", "documents", "mentions", "entities", "relations", ...extra counts}.

Examples:
    python scripts/convert_dataset.py --format bc5cdr --input ../shared/data/bc5cdr --output data_converted/bc5cdr
    python scripts/convert_dataset.py --format docred --input ../shared/data/re-docred \
        --rel-info ../shared/data/docred/rel_info.json --output data_converted/re-docred
"""

import sys

from simmemre.data_simmemre import convert_command

if __name__ == "__main__":
    sys.exit(convert_command())
