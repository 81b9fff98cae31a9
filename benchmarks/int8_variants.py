#!/usr/bin/env python
"""Which int8 layout of the encoder keeps a trained model closest to float32? A screen on BC5CDR dev (never test):
each variant's strict F1 on dev (`dev`; `test` stays null), its change, and how many of fp32's relations and
mentions it reproduces (`bench_serving.agreement`), with its documents per second against fp32 in the same process.
Prints one JSON object per variant and appends them to results/int8_variants.jsonl (`--no-record` to skip).

    python benchmarks/int8_variants.py --model runs/x/best_model [--documents 500] [--threads 2] [--variants a,b]

Variants (all torch.ao dynamic int8, one weight scale per output channel, activations quantized per batch, as
`serving="int8"`): every Linear of the encoder (`all`, the serving option); only the feed-forward layers
(`ffn`); only the attention layers (`attention`); all but the first or last layer (`all-but-first`,
`all-but-last`); and SmoothQuant (Xiao et al., 2023) with migration strength 0.5 or 0.75 (`smooth-0.5`,
`smooth-0.75`): each Linear's input channels are divided by s_j = max|X_j|^a / max|W_j|^(1-a) and its weight columns
multiplied by s_j, with max|X_j| taken over `--calibration-documents` BC5CDR train documents, so activation outliers
move into the per-channel weight scales.
"""

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "bc5cdr"
VARIANTS = ("all", "ffn", "attention", "all-but-first", "all-but-last", "smooth-0.5", "smooth-0.75")
LEVELS = ("mention", "entity", "relation_strict")


def _is_ffn(name: str) -> bool:
    return name.endswith("intermediate.dense") or (name.endswith("output.dense") and "attention" not in name)


def _layer_of(name: str):
    """The transformer layer index in a module name ("encoder.layer.3.output.dense" -> 3), or None."""
    parts = name.split(".")
    for part, following in zip(parts, parts[1:]):
        if part == "layer" and following.isdigit():
            return int(following)
    return None


def selection(variant: str, layers: int):
    """The encoder Linear names `variant` quantizes (a predicate on the module name)."""
    if variant == "ffn":
        return _is_ffn
    if variant == "attention":
        return lambda name: "attention" in name
    if variant in ("all-but-first", "all-but-last"):
        skipped = 0 if variant == "all-but-first" else layers - 1
        return lambda name: _layer_of(name) != skipped
    return lambda name: True


class SmoothedInput:
    """Divides a Linear's input by its smoothing factors before the (quantized) Linear; a forward pre-hook."""

    def __init__(self, inverse_scale):
        self.inverse_scale = inverse_scale

    def __call__(self, module, args):
        return (args[0] * self.inverse_scale,)


def input_maxima(model, processor, texts) -> dict:
    """max |x_j| of every encoder Linear's input channels over `texts` (float32 forward)."""
    maxima, handles = {}, []
    for name, module in model.encoder.named_modules():
        if isinstance(module, torch.nn.Linear):

            def record(module, args, output, name=name):
                found = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0)
                maxima[name] = torch.maximum(maxima[name], found) if name in maxima else found

            handles.append(module.register_forward_hook(record))
    try:
        with torch.inference_mode():
            for text in texts:
                batch = processor(text)
                model.encode(batch["input_ids"], batch["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    return maxima


@torch.no_grad()
def smooth(encoder, names, maxima: dict, strength: float):
    """SmoothQuant in place on `encoder`'s Linear layers `names`: weight columns times s, inputs divided by s (a
    pre-hook), s_j = max|X_j|^strength / max|W_j|^(1 - strength). The float function is unchanged."""
    for name in names:
        linear = encoder.get_submodule(name)
        scale = maxima[name].clamp(min=1e-5) ** strength
        scale = (scale / linear.weight.abs().amax(0).clamp(min=1e-5) ** (1 - strength)).clamp(min=1e-5)
        linear.weight.mul_(scale)  # W diag(s) (x / s) = W x
        linear.register_forward_pre_hook(SmoothedInput(1.0 / scale))
    return encoder


def quantized_encoder(encoder, variant: str, maxima=None):
    """A copy of `encoder` with the Linear layers of `variant` dynamically quantized to int8."""
    layers = 1 + max((_layer_of(n) for n, _ in encoder.named_modules() if _layer_of(n) is not None), default=0)
    chosen = selection(variant, layers)
    encoder = copy.deepcopy(encoder)
    names = [n for n, m in encoder.named_modules() if isinstance(m, torch.nn.Linear) and chosen(n)]
    if variant.startswith("smooth-"):
        smooth(encoder, names, maxima, float(variant.split("-", 1)[1]))
    with warnings.catch_warnings():  # torch.ao's deprecation notices, once per layer
        warnings.simplefilter("ignore")
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        return torch.ao.quantization.quantize_dynamic(encoder, {n: qconfig for n in names}, dtype=torch.qint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained, saved model folder")
    parser.add_argument("--data", default=str(DATA / "CDR_DevelopmentSet.PubTator.txt"), help="dev PubTator file")
    parser.add_argument("--calibration-data", default=str(DATA / "CDR_TrainingSet.PubTator.txt"))
    parser.add_argument("--calibration-documents", type=int, default=100)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--results", default=str(REPO / "results" / "int8_variants.jsonl"))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    from transformers import pipeline

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_serving import agreement, report, run_record

    from simmemre.data_simmemre import read_pubtator
    from simmemre.experiment_simmemre import git_commit, load_trained_model, recorded_model
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    torch.set_num_threads(args.threads)
    gold = read_pubtator(args.data)[0][: args.documents]
    inputs = [{"id": document["id"], "text": document["text"]} for document in gold]
    model, processor = load_trained_model(args.model, "cpu")
    float_encoder = model.encoder
    extractor = pipeline("joint-re", model=model, processor=processor, device="cpu")

    def predict(encoder):
        model.encoder = encoder
        extractor(inputs[:1])  # warm-up
        started = time.perf_counter()
        predictions = extractor(inputs)
        seconds = time.perf_counter() - started
        scores = joint_re_scores(predictions, gold)
        return predictions, seconds, {f"{level}_f1": round(scores[f"{level}_f1"], 2) for level in LEVELS}

    reference, base_seconds, base_f1 = predict(float_encoder)
    maxima = None
    if any(v.startswith("smooth-") for v in variants):
        calibration = read_pubtator(args.calibration_data)[0][: args.calibration_documents]
        model.encoder = float_encoder
        maxima = input_maxima(model, processor, [document["text"] for document in calibration])
    commit = git_commit(short=True)  # "-dirty" when tracked files have local changes
    run, seed, saved = run_record(args.model, model)
    notes = {}  # (the model as results rows write paths: no absolute path of this machine)
    measured = recorded_model(args.model, notes)
    common = {
        "seed": seed,
        "thresholds": "saved",
        "threshold_values": saved,
        "test": None,  # a dev screen: decided on dev, never measured on test
        **measured,
        "commit": commit,
        "dataset": Path(args.data).name,
        "documents": len(gold),
        "threads": args.threads,
        **({"path_notes": notes} if notes else {}),
    }
    rows = [
        {"name": f"{run.name}, fp32", "variant": "fp32", **common, "dev": base_f1, "seconds": round(base_seconds, 2)}
    ]
    for variant in variants:
        predictions, seconds, f1 = predict(quantized_encoder(float_encoder, variant, maxima))
        rows.append(
            {
                "name": f"{run.name}, int8 {variant}",
                "variant": variant,
                **common,
                "dev": f1,
                "seconds": round(seconds, 2),
                "speedup": round(base_seconds / seconds, 3),
                **{f"delta_{key}": round(value - base_f1[key], 2) for key, value in f1.items()},
                **agreement(predictions, reference),
            }
        )
    model.encoder = float_encoder
    report(rows, None if args.no_record else args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
