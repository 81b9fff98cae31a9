"""Speed and memory benchmark of SimMemRE against its bare encoder; prints one JSON object.

    python benchmarks/bench.py [--model FOLDER] [--documents 100] [--train-steps 20] [--long-words 20000]
                            [--device cuda:0] [--dtype bfloat16]

Figures (targets from the project's results issue):
  (a) pipeline_over_encoder: end-to-end `pipeline("joint-re")` time on the first N BC5CDR test documents divided by
      the bare encoder's forward time on the same subword inputs, the two timed document by document and interleaved
      (target <= 1.15);
  (b) train_step_over_encoder: one training step (forward + backward of the joint loss on a collated batch of 2
      documents) divided by the bare encoder's forward + backward on the same subwords (target <= 1.4);
  (c) inference_documents_per_second: N / end-to-end pipeline time;
  (d) long_document_peak_rss_gb: peak resident memory of a fresh process running the pipeline on a document of
      `--long-words` words (target <= 4 GB).
Without `--model`, the packaged MiniLM encoder with randomly initialised heads is used; random heads keep almost no
mentions at the default thresholds, so pass a trained folder for representative figures.
--device (default: cuda:0 when CUDA is available, else cpu) places model and inputs; on CUDA every timed region ends
with a synchronisation and the report adds the peak GPU memory. --dtype sets the weights' dtype (default float32).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Before the library loads huggingface_hub, which reads it once: everything here is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from simmemre.experiment_simmemre import default_device, load_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CDR = REPO.parent / "shared" / "data" / "bc5cdr"


def synchronize(device):
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def bare_encoder_forward(model, batch, backward=False):
    """The encoder alone on the same windows the model builds (`model.encode`), with no task head."""
    import torch

    if backward:
        hidden = model.encode(batch["input_ids"], batch["attention_mask"])
        hidden.float().pow(2).mean().backward()
        return
    with torch.no_grad():
        model.encode(batch["input_ids"], batch["attention_mask"])


def inference_ratio(model, processor, documents, device="cpu"):
    """(pipeline seconds, bare encoder seconds) over `documents`, timed document by document and interleaved (the
    order alternates), so that drift in the machine's speed falls on both sides alike."""
    from transformers import pipeline

    joint_re = pipeline("joint-re", model=model, processor=processor, tokenizer=processor.tokenizer, device=device)
    joint_re(documents[:2])  # warm-up
    # The pipeline moves each batch to the device inside its timed region; so does the encoder's side here.
    batches = [processor(d["text"]) for d in documents]
    bare_encoder_forward(model, {key: value.to(device) for key, value in batches[0].items()})
    pipeline_seconds = encoder_seconds = 0.0
    for index, (document, batch) in enumerate(zip(documents, batches)):
        for side in ("pipeline", "encoder") if index % 2 == 0 else ("encoder", "pipeline"):
            synchronize(device)
            start = time.perf_counter()
            if side == "pipeline":
                joint_re({"id": document["id"], "text": document["text"]})
            else:
                bare_encoder_forward(model, {key: value.to(device) for key, value in batch.items()})
            synchronize(device)
            if side == "pipeline":
                pipeline_seconds += time.perf_counter() - start
            else:
                encoder_seconds += time.perf_counter() - start
    return pipeline_seconds, encoder_seconds


def training_ratio(model, processor, documents, steps, device="cpu"):

    from simmemre.training_simmemre import SimMemREDataCollator, tokenize_documents

    config = model.config
    rows = tokenize_documents(documents[: 2 * steps], processor, config.entity_types, config.relation_types)
    collator = SimMemREDataCollator(processor, config, seed=0)
    model.train()
    model.memory_reads_enabled = True
    step_times, encoder_times = [], []
    for step in range(steps + 1):
        batch = collator([rows[2 * step % len(rows)], rows[(2 * step + 1) % len(rows)]])
        batch = {key: value.to(device) for key, value in batch.items()}
        model.zero_grad(set_to_none=True)
        synchronize(device)
        start = time.perf_counter()
        model(**batch).loss.backward()
        synchronize(device)
        step_time = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        bare_encoder_forward(model, batch, backward=True)
        synchronize(device)
        encoder_time = time.perf_counter() - start
        if step:  # the first step warms up allocators and kernels
            step_times.append(step_time)
            encoder_times.append(encoder_time)
    model.eval()
    return statistics.median(step_times), statistics.median(encoder_times)


LONG_DOCUMENT_CHILD = """
import json, resource, sys, time
import torch
from transformers import pipeline
from simmemre.experiment_simmemre import load_model
model, processor, _ = load_model({folder!r}, {device!r}, {dtype!r})
text = open({text_file!r}).read()
start = time.perf_counter()
result = pipeline("joint-re", model=model, processor=processor, tokenizer=processor.tokenizer, device={device!r})(text)
print(json.dumps({{"seconds": time.perf_counter() - start,
                   "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
                   "peak_gpu_gb": torch.cuda.max_memory_allocated() / 1024 ** 3 if torch.cuda.is_available() else None,
                   "entities": len(result["entities"])}}))
"""


def long_document_memory(folder, documents, words, workdir, device="cpu", dtype="float32"):
    text_parts, count = [], 0
    while count < words:
        for document in documents:
            text_parts.append(document["text"])
            count += len(document["text"].split())
            if count >= words:
                break
    text = " ".join(text_parts)
    text = " ".join(text.split(" ")[:words])
    text_file = Path(workdir) / "long_document.txt"
    text_file.write_text(text)
    child = LONG_DOCUMENT_CHILD.format(folder=folder, text_file=str(text_file), device=device, dtype=dtype)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["words"] = len(text.split())
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved SimMemRE folder (default: packaged MiniLM with random heads)")
    parser.add_argument("--data", default=str(DEFAULT_CDR), help="BC5CDR PubTator folder")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--long-words", type=int, default=20000)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--device", help="torch device (default: cuda:0 when CUDA is available, else cpu)")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), default="float32", help="the weights' dtype"
    )
    args = parser.parse_args(argv)
    device = args.device or default_device()

    import tempfile

    import torch

    from simmemre.data_simmemre import read_pubtator

    data = Path(args.data)
    test_documents, _ = read_pubtator(data / "CDR_TestSet.PubTator.txt")
    train_documents, _ = read_pubtator(data / "CDR_TrainingSet.PubTator.txt")
    model, processor, name = load_model(args.model, device, args.dtype)
    documents = test_documents[: args.documents]

    pipeline_seconds, encoder_seconds = inference_ratio(model, processor, documents, device)
    step_seconds, encoder_step_seconds = training_ratio(model, processor, train_documents, args.train_steps, device)
    report = {
        "model": name,
        "device": str(device),
        "dtype": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "documents": len(documents),
        "pipeline_seconds": round(pipeline_seconds, 3),
        "encoder_forward_seconds": round(encoder_seconds, 3),
        "pipeline_over_encoder": round(pipeline_seconds / encoder_seconds, 3),
        "train_step_seconds_median": round(step_seconds, 4),
        "encoder_forward_backward_seconds_median": round(encoder_step_seconds, 4),
        "train_step_over_encoder": round(step_seconds / encoder_step_seconds, 3),
        "inference_documents_per_second": round(len(documents) / pipeline_seconds, 2),
    }
    if torch.device(device).type == "cuda":
        report["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1024**3, 3)
    if not args.skip_long:
        with tempfile.TemporaryDirectory() as workdir:
            long_figures = long_document_memory(
                args.model, test_documents, args.long_words, workdir, device, args.dtype
            )
        report.update(
            {
                "long_document_words": long_figures["words"],
                "long_document_seconds": round(long_figures["seconds"], 2),
                "long_document_peak_rss_gb": round(long_figures["peak_rss_gb"], 3),
            }
        )
        if long_figures.get("peak_gpu_gb") is not None:
            report["long_document_peak_gpu_gb"] = round(long_figures["peak_gpu_gb"], 3)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
