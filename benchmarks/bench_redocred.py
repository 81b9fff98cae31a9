#!/usr/bin/env python
"""Time and peak memory of the joint-re pipeline on the longest Re-DocRED test document (96 relation types, every
entity pair scored in both directions), at three threshold settings, lightest first in one process (the peak RSS
printed after each is the process' peak so far):

  own:            the model's thresholds;
  most_entities:  mention 0 (the mentions-per-word cap decides), coreference 1 (no links: one entity per mention),
                  relation 0.5;
  most_relations: as most_entities with relation 0 (every type of every ordered pair is kept).

Without --model, the packaged MiniLM with seeded random heads and the Re-DocRED labels (the worst case: random
mention scores keep the cap's worth of mentions). Prints one JSON line per setting.

    python benchmarks/bench_redocred.py [--model FOLDER] [--threads 1]
"""

import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REDOCRED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "re-docred")
SETTINGS = {
    "own": {},
    "most_entities": {"mention_threshold": 0.0, "coref_threshold": 1.0, "relation_threshold": 0.5},
    "most_relations": {"mention_threshold": 0.0, "coref_threshold": 1.0, "relation_threshold": 0.0},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a saved SimMemRE folder (default: MiniLM with random heads)")
    parser.add_argument("--data", default=REDOCRED, help="Re-DocRED folder (test_revised.json[.gz])")
    parser.add_argument("--rel-info", default=os.path.join(REDOCRED, "..", "docred", "rel_info.json"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoTokenizer, pipeline

    from simmemre import SimMemREModel, SimMemREProcessor
    from simmemre.data_simmemre import convert_corpus, labels_for
    from simmemre.experiment_simmemre import load_trained_model, minilm_path

    torch.set_num_threads(args.threads)
    splits = convert_corpus("docred", args.data, rel_info=args.rel_info)
    longest = max(splits["test"][0], key=lambda document: len(document["words"]))
    if args.model:
        model, processor = load_trained_model(args.model)
    else:
        torch.manual_seed(0)
        labels = labels_for(splits)
        model = SimMemREModel.from_encoder(
            minilm_path(),
            labels["entity_types"],
            labels["relation_types"],
            meta_embedding_size=25,
            size_embeddings_count=30,
        )
        processor = SimMemREProcessor(AutoTokenizer.from_pretrained(minilm_path()))
    extractor = pipeline("joint-re", model=model.eval(), processor=processor, device="cpu")
    document = {key: longest[key] for key in ("id", "text", "words", "sentences")}
    print(
        json.dumps(
            {
                "document": longest["id"],
                "words": len(longest["words"]),
                "gold_mentions": sum(len(entity["mentions"]) for entity in longest["entities"]),
                "gold_entities": len(longest["entities"]),
                "gold_relations": len(longest["relations"]),
            }
        )
    )
    for name, thresholds in SETTINGS.items():
        start = time.perf_counter()
        with torch.no_grad():
            output = extractor(document, **thresholds)
        seconds = time.perf_counter() - start
        entities = len(output["entities"])
        print(
            json.dumps(
                {
                    "thresholds": name,
                    "seconds": round(seconds, 2),
                    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                    "mentions": sum(len(entity["mentions"]) for entity in output["entities"]),
                    "entities": entities,
                    "ordered_pairs": entities * (entities - 1),
                    "relations": len(output["relations"]),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
