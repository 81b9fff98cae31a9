#!/usr/bin/env python
"""Paired comparison of the `joint-re` pipeline of two checkouts of this repository in one process: both load the
same trained folder and run the first N BC5CDR test documents, interleaved document by document (the order
alternating), so that drift in the machine's speed falls on both alike. Separate `bench.py` runs of two commits
differ by +-0.004 in the pipeline-over-encoder ratio from run to run, as much as a change of 0.25 ms per document
outside the encoder; here each round's difference is read on the same documents in the same minutes.

    git worktree add /tmp/base <commit>
    python benchmarks/compare_versions.py --model runs/x/best_model --base /tmp/base [--documents 100] [--rounds 3]

Per round and checkout: milliseconds per document outside the encoder's forward (the pipeline's time less
`model.encode`'s), the encoder's, and their ratio; then the medians, whether both gave the same output for every
document, and one JSON line.
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

# Before the library loads huggingface_hub, which reads it once: everything here is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CDR = REPO.parent / "shared" / "data" / "bc5cdr"


def import_checkout(path, name: str) -> dict:
    """The modeling, processing and pipeline modules of the checkout at `path`, imported as the package `name`. The
    package is made here, without running the checkout's `__init__.py`: that one hands every import of the checkout
    under another name to the installed `simmemre`, which would time the same code twice."""
    root = Path(path).resolve()
    for package_name, folder in ((name, root), (f"{name}.pipelines", root / "pipelines")):
        package = types.ModuleType(package_name)
        package.__path__, package.__package__ = [str(folder)], package_name
        sys.modules[package_name] = package
    return {
        module: importlib.import_module(f"{name}.{module}")
        for module in ("modeling_simmemre", "processing_simmemre", "pipelines.pipeline_simmemre")
    }


def timed_pipeline(modules: dict, model_folder):
    """(pipeline, seconds spent in `model.encode` so far as a one-item list) with `modules`' code on `model_folder`."""
    model = modules["modeling_simmemre"].SimMemREModel.from_pretrained(model_folder).eval()
    processor = modules["processing_simmemre"].SimMemREProcessor.from_pretrained(model_folder)
    pipeline_class = modules["pipelines.pipeline_simmemre"].JointREPipeline
    return with_encoder_timer(pipeline_class(model=model, processor=processor, tokenizer=processor.tokenizer))


def with_encoder_timer(pipe):
    spent, encode = [0.0], pipe.model.encode

    def timed_encode(*args, **kwargs):
        start = time.perf_counter()
        try:
            return encode(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    pipe.model.encode = timed_encode
    return pipe, spent


def paired_rounds(pipes: dict, documents: list, rounds: int) -> tuple:
    """`({name: [(outside ms per document, encoder ms per document, ratio) per round]}, same_output)`."""
    for pipe, _ in pipes.values():
        pipe(documents[:2])  # warm-up
    figures, outputs = {name: [] for name in pipes}, {name: [] for name in pipes}
    for round_index in range(rounds):
        totals = {name: [0.0, 0.0] for name in pipes}
        for index, document in enumerate(documents):
            names = list(pipes) if (index + round_index) % 2 == 0 else list(pipes)[::-1]
            for name in names:
                pipe, spent = pipes[name]
                encoder_before, start = spent[0], time.perf_counter()
                result = pipe({"id": document["id"], "text": document["text"]})
                totals[name][0] += time.perf_counter() - start
                totals[name][1] += spent[0] - encoder_before
                if round_index == 0:
                    outputs[name].append(json.dumps(result, sort_keys=True))
        for name, (seconds, encoder_seconds) in totals.items():
            count = len(documents)
            outside, encoder = (seconds - encoder_seconds) / count * 1e3, encoder_seconds / count * 1e3
            figures[name].append((outside, encoder, seconds / encoder_seconds))
    first, *others = outputs.values()
    return figures, all(other == first for other in others)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved SimMemRE folder")
    parser.add_argument("--base", required=True, help="another checkout of this repository (e.g. a git worktree)")
    parser.add_argument("--data", default=str(DEFAULT_CDR), help="BC5CDR PubTator folder")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from simmemre.data_simmemre import convert_corpus

    current = import_checkout(REPO, "simmemre_current")
    base = import_checkout(args.base, "simmemre_base")
    documents = convert_corpus("bc5cdr", args.data)["test"][0][: args.documents]
    pipes = {"base": timed_pipeline(base, args.model), "current": timed_pipeline(current, args.model)}
    figures, same_output = paired_rounds(pipes, documents, args.rounds)
    for round_index in range(args.rounds):
        for name, rows in figures.items():
            outside, encoder, ratio = rows[round_index]
            print(f"round {round_index} {name:<8} outside the encoder {outside:6.2f} ms/doc, encoder {encoder:6.2f}, "
                  f"ratio {ratio:.4f}")  # fmt: skip
    summary = {
        name: {
            "outside_encoder_ms_median": round(statistics.median(row[0] for row in rows), 3),
            "pipeline_over_encoder_median": round(statistics.median(row[2] for row in rows), 4),
        }
        for name, rows in figures.items()
    }
    differences = [current[0] - base[0] for current, base in zip(figures["current"], figures["base"])]
    summary["outside_encoder_ms_difference_per_round"] = [round(value, 3) for value in differences]
    summary["same_output"] = same_output
    summary.update(documents=len(documents), rounds=args.rounds, threads=args.threads, base_checkout=str(args.base))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
