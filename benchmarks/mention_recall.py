#!/usr/bin/env python
"""Where mention recall is lost: each gold mention of a BC5CDR split is found, or lost to one cause (longer than
max_span_size words, not a candidate for another reason, scored below the mention threshold, or cut by a mention cap).
Prints one JSON object; also the recall, precision and F1 at other mention thresholds (the later stages are not run).

    python benchmarks/mention_recall.py --model runs/cdr_minilm_memory/best_model [--split dev] [--documents 500]

Use it on dev: decisions are made there.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
FILES = {
    "train": "CDR_TrainingSet.PubTator.txt",
    "dev": "CDR_DevelopmentSet.PubTator.txt",
    "test": "CDR_TestSet.PubTator.txt",
}
SWEEP = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "bc5cdr"))
    parser.add_argument("--split", choices=sorted(FILES), default="dev")
    parser.add_argument("--documents", type=int, default=500)
    args = parser.parse_args(argv)

    import torch

    from simmemre.data_simmemre import read_pubtator
    from simmemre.experiment_simmemre import load_trained_model
    from simmemre.modeling_simmemre import DocumentContext
    from simmemre.training_simmemre import tokenize_documents

    model, processor = load_trained_model(args.model, "cpu")
    config = model.config
    documents, _ = read_pubtator(Path(args.data) / FILES[args.split])
    rows = tokenize_documents(documents[: args.documents], processor, config.entity_types, config.relation_types)
    keys = (
        "input_ids",
        "attention_mask",
        "word_subword_spans",
        "word_char_spans",
        "word_sentence_ids",
        "word_mask",
        "text_codepoints",
    )
    causes = {
        "found": 0,
        "longer_than_max_span_size": 0,
        "not_a_candidate_other": 0,
        "below_threshold": 0,
        "cut_by_mention_cap": 0,
    }
    sweep = {threshold: {"true": 0, "predicted": 0} for threshold in SWEEP}
    predicted_total, gold_total = 0, 0
    with torch.inference_mode():
        for row in rows:
            batch = processor.collate([{key: row[key] for key in keys}])
            words = int(batch["word_mask"][0].sum())
            hidden = model.token_representations(batch["input_ids"], batch["attention_mask"])[0]
            context = DocumentContext(
                hidden,
                model.memories,
                model._reads_on(None),
                batch["word_subword_spans"][0, :words],
                batch["word_sentence_ids"][0, :words],
            )
            scores = model.score_candidates(context)
            probability = {tuple(span): p for span, p in zip(scores.word_spans.tolist(), scores.probabilities.tolist())}
            selected = scores.select(config.mention_threshold, config)
            kept = set() if selected is None else {tuple(span) for span in selected.word_spans.tolist()}
            gold = {tuple(span) for span in row["gold_mention_spans"]}
            gold_total += len(gold)
            predicted_total += len(kept)
            for span in gold:
                if span in kept:
                    causes["found"] += 1
                elif span[1] - span[0] > config.max_span_size:
                    causes["longer_than_max_span_size"] += 1
                elif span not in probability:
                    causes["not_a_candidate_other"] += 1
                elif probability[span] < config.mention_threshold:
                    causes["below_threshold"] += 1
                else:
                    causes["cut_by_mention_cap"] += 1
            for threshold, counts in sweep.items():
                above = {span for span, p in probability.items() if p >= threshold}
                counts["true"] += len(above & gold)
                counts["predicted"] += len(above)

    def prf(true, predicted, gold):
        precision = 100 * true / predicted if predicted else 0.0
        recall = 100 * true / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 2), "recall": round(recall, 2), "f1": round(f1, 2)}

    report = {
        "model": args.model,
        "split": args.split,
        "documents": len(rows),
        "gold_mentions": gold_total,
        "mention_threshold": config.mention_threshold,
        "max_span_size": config.max_span_size,
        "lost_by_cause": {cause: count for cause, count in causes.items() if cause != "found"},
        "lost_by_cause_percent_of_gold": {
            cause: round(100 * count / max(gold_total, 1), 2) for cause, count in causes.items() if cause != "found"
        },
        "at_model_threshold": prf(causes["found"], predicted_total, gold_total),
        "threshold_sweep_without_caps": {str(t): prf(c["true"], c["predicted"], gold_total) for t, c in sweep.items()},
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
