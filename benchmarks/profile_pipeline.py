#!/usr/bin/env python
"""Where a document's time goes beyond the encoder: the `joint-re` pipeline on the first N BC5CDR test documents,
first with wall-clock timers around each part (no profiler, so the figures are those of a plain run: milliseconds per
document), then under cProfile, its time split into the encoder's forward and the stages around it, then the heads'
torch operators (torch.profiler, encoder output given). Prints tables; the speed target itself is bench.py's (a).

    python benchmarks/profile_pipeline.py --model runs/x/best_model [--documents 100] [--threads 1] [--timers-only]
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CDR = REPO.parent / "shared" / "data" / "bc5cdr"

# (label, function names as cProfile reports them): the pipeline's parts, by cumulative time.
PARTS = (
    ("encoder forward", ("token_representations",)),
    ("stage 1: candidate spans scored", ("score_candidates",)),
    ("stages 2-4: mentions, coreference, entities, relations", ("_extract_document",)),
    ("preprocessing (segmentation, tokenizer)", ("preprocess",)),
    ("postprocessing (decoding to characters)", ("postprocess",)),
)


# (label, owner, attribute): the parts timed by `stage_timers`, as "where.what". Nested parts are listed under their
# stage; a stage's "other" is its time outside the parts listed.
TIMED = (
    ("pipeline.preprocess (segmentation, tokenizer)", "pipeline", "preprocess"),
    ("pipeline.collate", "processor", "collate"),
    ("pipeline.postprocess (decoding to characters)", "pipeline", "postprocess"),
    ("model.encoder forward", "SimMemREModel", "encode"),
    ("model.token representations (encoder + token read)", "SimMemREModel", "token_representations"),
    ("stage 1: candidate spans scored", "SimMemREModel", "score_candidates"),
    ("stage 1: span memory read weights", "CandidateSpans", "_read_attentions"),
    ("stage 1: mention classifier", "MentionLocalization", "forward"),
    ("stage 2: mention selection", "CandidateSpans", "select"),
    ("stage 3: coreference", "CoreferenceResolution", "cluster"),
    ("stage 4: entity typing", "EntityClassification", "entities"),
    ("stage 5: relations", "RelationClassification", "relations"),
    ("mention string propagation", "SimMemREModel", "_propagate_mention_strings"),
)


@contextmanager
def stage_timers(joint_re):
    """Wall-clock seconds per `TIMED` part while the block runs (a Counter), the methods wrapped and restored after."""
    from simmemre import modeling_simmemre

    owners = {"pipeline": joint_re, "processor": joint_re.processor}
    seconds, restore = Counter(), []
    for label, owner_name, attribute in TIMED:
        owner = owners.get(owner_name) or getattr(modeling_simmemre, owner_name)
        original = getattr(owner, attribute)

        def timed(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[_label] += time.perf_counter() - start

        restore.append((owner, attribute, owner.__dict__.get(attribute)))
        setattr(owner, attribute, timed)
    try:
        yield seconds
    finally:
        for owner, attribute, previous in reversed(restore):
            if previous is None:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, previous)


def print_stage_times(joint_re, documents) -> None:
    """The pipeline on `documents` one by one under `stage_timers`: milliseconds per document per part."""
    with stage_timers(joint_re) as seconds:
        start = time.perf_counter()
        for document in documents:
            joint_re({"id": document["id"], "text": document["text"]})
        total = time.perf_counter() - start
    count = len(documents)
    print(f"wall-clock timers, {count} documents: {1000 * total / count:.2f} ms per document")
    for label, _, _ in TIMED:
        print(f"  {label:<58} {1000 * seconds[label] / count:7.2f} ms")
    encoder = seconds["model.encoder forward"]
    print(f"  {'everything but the encoder forward':<58} {1000 * (total - encoder) / count:7.2f} ms")
    if encoder:
        print(f"  pipeline over its own encoder forward: {total / encoder:.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved SimMemRE folder")
    parser.add_argument("--data", default=str(DEFAULT_CDR), help="BC5CDR PubTator folder")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--timers-only", action="store_true", help="only the wall-clock timers, no profilers")
    args = parser.parse_args(argv)

    import torch
    from transformers import pipeline

    from simmemre.data_simmemre import convert_corpus
    from simmemre.experiment_simmemre import load_trained_model

    if args.threads:
        torch.set_num_threads(args.threads)
    documents = convert_corpus("bc5cdr", args.data)["test"][0][: args.documents]
    model, processor = load_trained_model(args.model, "cpu")
    joint_re = pipeline("joint-re", model=model, processor=processor, tokenizer=processor.tokenizer, device="cpu")
    joint_re([{"id": d["id"], "text": d["text"]} for d in documents[:2]])  # warm-up
    print_stage_times(joint_re, documents)
    if args.timers_only:
        return 0

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for document in documents:
        joint_re({"id": document["id"], "text": document["text"]})
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    cumulative = {}
    for (_, _, name), (_, _, _, cumtime, _) in stats.stats.items():
        cumulative[name] = cumulative.get(name, 0.0) + cumtime
    print(f"pipeline, {len(documents)} documents, {torch.get_num_threads()} thread(s): {total:.2f} s (under cProfile)")
    seconds = {label: sum(cumulative.get(name, 0.0) for name in names) for label, names in PARTS}
    seconds[PARTS[2][0]] -= seconds[PARTS[1][0]]  # stage 1 runs inside _extract_document
    for label, value in seconds.items():
        print(f"  {label:<58} {value:7.2f} s  {100 * value / total:5.1f} %")

    # The heads' operators: the encoder output computed first, then only the cascade profiled.
    batches = [processor(d["text"]) for d in documents]
    with torch.no_grad():
        hidden = [model.token_representations(b["input_ids"], b["attention_mask"]) for b in batches]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as operators:
        for batch, states in zip(batches, hidden):
            model.predict(batch, token_representations=states)
    print(operators.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    print(operators.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=12))
    return 0


if __name__ == "__main__":
    sys.exit(main())
