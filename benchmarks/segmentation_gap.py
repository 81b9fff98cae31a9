#!/usr/bin/env python
"""How far the segmentation that training and scoring use differs from the pipeline's on raw text, on BC5CDR.

Schema documents without `words`/`sentences` are segmented around their gold mentions (`add_segmentation`: a mention
is always whole words inside one sentence; the BC5CDR reader also breaks the sentence after the title), while the
pipeline on raw text cannot see gold mentions (`segment_text`). Dev and test scores (score.py, training, calibration)
run on the first; a user's raw text on the second. This prints, per split, how many documents get other sentences or
other words, how many gold mentions a raw-text sentence boundary cuts, and how many are not whole raw-text words.

Example:
    python benchmarks/segmentation_gap.py --data-dir ../shared/data/bc5cdr
"""

import argparse
import bisect
import json
import sys
from pathlib import Path

from simmemre.data_simmemre import read_pubtator
from simmemre.segmentation_simmemre import segment_text

SPLITS = {"train": "CDR_TrainingSet", "dev": "CDR_DevelopmentSet", "test": "CDR_TestSet"}


def spans(items) -> list:
    return [(item["start"], item["end"]) for item in items]


def cut(boundaries: list, start: int, end: int) -> bool:
    """Whether one of the sorted `boundaries` lies strictly inside [start, end)."""
    index = bisect.bisect_right(boundaries, start)
    return index < len(boundaries) and boundaries[index] < end


def gap(documents: list) -> dict:
    counts = {"documents": len(documents), "other_sentences": 0, "other_words": 0, "mentions": 0}
    counts.update(mentions_cut_by_raw_sentences=0, mentions_not_whole_raw_words=0)
    for document in documents:
        sentences, words = segment_text(document["text"])
        counts["other_sentences"] += spans(sentences) != spans(document["sentences"])
        counts["other_words"] += spans(words) != spans(document["words"])
        sentence_ends = sorted(end for _, end in spans(sentences))
        word_starts, word_ends = {start for start, _ in spans(words)}, {end for _, end in spans(words)}
        for entity in document["entities"]:
            for mention in entity["mentions"]:
                counts["mentions"] += 1
                counts["mentions_cut_by_raw_sentences"] += cut(sentence_ends, mention["start"], mention["end"])
                # a raw-text word that begins before or ends after the mention: the pipeline cannot propose it
                whole = mention["start"] in word_starts and mention["end"] in word_ends
                counts["mentions_not_whole_raw_words"] += not whole
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/bc5cdr"))
    args = parser.parse_args(argv)
    for split, stem in SPLITS.items():
        path = Path(args.data_dir) / f"{stem}.PubTator.txt"
        if not path.is_file():
            raise SystemExit(f"--data-dir {args.data_dir}: no {path.name}")
        documents, _ = read_pubtator(path)
        print(json.dumps({"split": split, **gap(documents)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
