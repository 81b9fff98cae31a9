#!/usr/bin/env python
"""Paired comparison of the `joint-re` pipeline of two checkouts of this repository in one process: both load the
same trained folder and run the first N BC5CDR test documents, interleaved document by document (the order
alternating), so that drift in the machine's speed falls on both alike. Separate `bench.py` runs of two commits
differ by +-0.004 in the pipeline-over-encoder ratio from run to run, as much as a change of 0.25 ms per document
outside the encoder; here each round's difference is read on the same documents in the same minutes.

    git worktree add /tmp/base <commit>
    python benchmarks/compare_versions.py --model runs/x/best_model --base /tmp/base [--documents 100] [--rounds 3]

Per round and checkout: milliseconds per document outside the encoder's forward (the pipeline's time less
`model.encode`'s), the encoder's, and their ratio; then the medians and one JSON line, which also says whether both
gave the same output for every document, byte for byte (`same_output`) or scores aside (`same_predictions`, with
the largest score difference).
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


def predictions_only(document: dict) -> tuple:
    """A result without its scores: each entity's type and mention offsets, each relation's (head, tail, type)."""
    entities = [(e["type"], [(m["start"], m["end"]) for m in e["mentions"]]) for e in document["entities"]]
    return entities, [(r["head"], r["tail"], r["type"]) for r in document["relations"]]


def scores_of(document: dict) -> list:
    """Every score of a result, in order: entities, their mentions, relations."""
    scores = []
    for entity in document["entities"]:
        scores += [entity["score"]] + [mention["score"] for mention in entity["mentions"]]
    return scores + [relation["score"] for relation in document["relations"]]


def compare_outputs(first: list, other: list) -> dict:
    """How two pipelines' results for the same documents differ: `same_output` (every byte), `same_predictions`
    (the same entities, mentions, types and relations, scores aside) and, when those agree, the largest score
    difference (a change that only rounds differently, e.g. re-associated products)."""
    same_predictions = all(predictions_only(a) == predictions_only(b) for a, b in zip(first, other))
    largest = None
    if same_predictions:
        differences = [abs(x - y) for a, b in zip(first, other) for x, y in zip(scores_of(a), scores_of(b))]
        largest = max(differences, default=0.0)
    return {"same_output": first == other, "same_predictions": same_predictions, "max_score_difference": largest}


def paired_rounds(pipes: dict, documents: list, rounds: int) -> tuple:
    """`({name: [(outside ms per document, encoder ms per document, ratio) per round]}, comparison)`, the comparison
    of the first pipeline's outputs with the others' from `compare_outputs` (the least agreement over them)."""
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
                    outputs[name].append(json.loads(json.dumps(result)))  # as written to JSON Lines
        for name, (seconds, encoder_seconds) in totals.items():
            count = len(documents)
            outside, encoder = (seconds - encoder_seconds) / count * 1e3, encoder_seconds / count * 1e3
            figures[name].append((outside, encoder, seconds / encoder_seconds))
    first, *others = outputs.values()
    comparisons = [compare_outputs(first, other) for other in others]
    largest = [c["max_score_difference"] for c in comparisons]
    return figures, {
        "same_output": all(c["same_output"] for c in comparisons),
        "same_predictions": all(c["same_predictions"] for c in comparisons),
        "max_score_difference": None if None in largest else max(largest, default=0.0),
    }


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
    figures, comparison = paired_rounds(pipes, documents, args.rounds)
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
    summary.update(comparison)
    summary.update(documents=len(documents), rounds=args.rounds, threads=args.threads, base_checkout=str(args.base))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
