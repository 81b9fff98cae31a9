#!/usr/bin/env python
"""Compare a saved model's predictions in float32 and under autocast (bfloat16 or float16); prints one JSON object.

    python benchmarks/compare_precision.py --model runs/x/best_model [--data dev.jsonl | BC5CDR dev] [--documents 100]
                                        [--device cuda:0] [--autocast bfloat16]

Counts, over the documents, the mentions, entities (mention sets with their type) and relations (typed pairs of
entities) predicted by one run only, and how many of the differing mentions are threshold ties (their float32
score within --tie of the mention threshold).
"""

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CDR = REPO.parent / "shared" / "data" / "bc5cdr" / "CDR_DevelopmentSet.PubTator.txt"


def summary(document):
    mentions = {(m["start"], m["end"]): m["score"] for entity in document["entities"] for m in entity["mentions"]}
    entities = [
        (tuple((m["start"], m["end"]) for m in entity["mentions"]), entity["type"]) for entity in document["entities"]
    ]
    relations = {(entities[r["head"]], entities[r["tail"]], r["type"]) for r in document["relations"]}
    return mentions, set(entities), relations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(DEFAULT_CDR), help="schema JSON Lines or a BC5CDR PubTator file")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--device", help="default: cuda:0 when CUDA is available, else cpu")
    parser.add_argument("--autocast", choices=("bfloat16", "float16"), default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--tie", type=float, default=0.02)
    parser.add_argument("--mention-threshold", type=float)
    parser.add_argument("--coref-threshold", type=float)
    parser.add_argument("--relation-threshold", type=float)
    parser.add_argument("--entity-threshold", type=float)
    args = parser.parse_args(argv)

    import torch
    from transformers import pipeline

    from simmemre.data_simmemre import read_jsonl, read_pubtator
    from simmemre.experiment_simmemre import default_device, thresholds_from

    device = torch.device(args.device or default_device())
    if str(args.data).endswith(".jsonl"):
        documents = read_jsonl(args.data)
    else:
        documents = read_pubtator(args.data)[0]
    documents = [{"id": d.get("id"), "text": d["text"]} for d in documents[: args.documents]]
    # This checkout's classes (not a folder's copy of the remote code): the code under test is measured.
    from simmemre import SimMemREModel, SimMemREProcessor

    processor = SimMemREProcessor.from_pretrained(args.model)
    extractor = pipeline(
        "joint-re",
        model=SimMemREModel.from_pretrained(args.model, dtype=torch.float32),
        processor=processor,
        tokenizer=processor.tokenizer,
        device=device,
    )
    thresholds = thresholds_from(args)
    threshold = thresholds.get("mention_threshold", extractor.model.config.mention_threshold)
    exact = extractor(documents, batch_size=args.batch_size, **thresholds)
    with torch.autocast(device.type, dtype=getattr(torch, args.autocast)):
        mixed = extractor(documents, batch_size=args.batch_size, **thresholds)
    counts = dict.fromkeys(
        (
            "mentions",
            "mentions_differing",
            "mention_ties",
            "entities",
            "entities_differing",
            "relations",
            "relations_differing",
            "documents_differing",
        ),
        0,
    )
    for left, right in zip(exact, mixed):
        (m_left, e_left, r_left), (m_right, e_right, r_right) = summary(left), summary(right)
        differing = set(m_left) ^ set(m_right)
        counts["mentions"] += len(m_left)
        counts["mentions_differing"] += len(differing)
        counts["mention_ties"] += sum(
            abs(m_left.get(span, m_right.get(span)) - threshold) <= args.tie for span in differing
        )
        counts["entities"] += len(e_left)
        counts["entities_differing"] += len(e_left ^ e_right)
        counts["relations"] += len(r_left)
        counts["relations_differing"] += len(r_left ^ r_right)
        counts["documents_differing"] += (m_left.keys(), e_left, r_left) != (m_right.keys(), e_right, r_right)
    print(
        json.dumps(
            {
                "model": args.model,
                "device": str(device),
                "autocast": args.autocast,
                "documents": len(documents),
                "thresholds": thresholds,
                **counts,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
