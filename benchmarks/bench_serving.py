#!/usr/bin/env python
"""CPU serving options of a trained model on BC5CDR test: documents per second and strict F1 of each `--serving`
mode (fp32, bf16 autocast, int8 dynamic quantization), all in one process with the same thread count; prints one
JSON object per mode and appends them to results/serving.jsonl (`--no-record` to skip).

    python benchmarks/bench_serving.py --model runs/cdr_minilm_memory/best_model [--documents 500] [--threads 2]
    python scripts/results.py table --dataset serving --readme docs/performance.md   # every measurement

Each mode predicts the same documents with the model's own (saved) thresholds after one warm-up document, or with the
thresholds calibrated on dev for that mode (`--calibration int8=RUN/calibration_int8.json`, from `scripts/calibrate.py
--serving int8`); speed-up and F1 deltas are against fp32 of the same run. The order of modes rotates over `--repeats`
rounds and the median time is kept, so a slower moment of a shared machine does not land on one mode.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEST = REPO.parent / "shared" / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"
MODES = ("fp32", "bf16", "int8")
LEVELS = ("mention", "entity", "relation_strict")


def _strict_relations(document: dict) -> set:
    """A predicted document's relations as strict keys: (head mention spans, tail mention spans, type)."""
    clusters = [frozenset((m["start"], m["end"]) for m in entity["mentions"]) for entity in document["entities"]]
    return {(clusters[r["head"]], clusters[r["tail"]], r["type"]) for r in document["relations"]}


def _mentions(document: dict) -> set:
    return {(m["start"], m["end"]) for entity in document["entities"] for m in entity["mentions"]}


def agreement(predictions: list, reference: list) -> dict:
    """How much of `reference`'s output (fp32, same documents in the same order) `predictions` reproduce: over all
    documents, shared / either (Jaccard) of the strict relations and of the mention spans, in [0, 1] (1 when both are
    empty). F1 against gold can stay put while many predictions change; this shows how far a mode moves them."""
    if len(predictions) != len(reference):
        raise ValueError(
            f"agreement needs the same documents: {len(predictions)} predictions, {len(reference)} reference"
        )
    result = {}
    for name, keys in (("relation", _strict_relations), ("mention", _mentions)):
        shared = either = 0
        for predicted, expected in zip(predictions, reference):
            a, b = keys(predicted), keys(expected)
            shared, either = shared + len(a & b), either + len(a | b)
        result[f"{name}_agreement_with_fp32"] = round(shared / either, 4) if either else 1.0
    return result


def run_record(model_path, model) -> tuple:
    """(run folder, seed, saved thresholds) of a trained model: its training run folder holds run_config.json (the
    seed) beside best_model/; the thresholds are those its config was saved with."""
    run = Path(model_path).parent
    run_config = run / "run_config.json"
    seed = json.loads(run_config.read_text()).get("seed") if run_config.is_file() else None
    saved = {
        name: getattr(model.config, name)
        for name in ("mention_threshold", "coref_threshold", "relation_threshold", "entity_threshold")
    }
    return run, seed, saved


def report(rows: list, results=None):
    """Print each row as one JSON object and, given a results file, append them to it (one run a line)."""
    for row in rows:
        print(json.dumps(row))
    if results is not None:
        from simmemre.data_simmemre import append_jsonl

        append_jsonl(rows, results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained, saved model folder")
    parser.add_argument("--data", default=str(DEFAULT_TEST), help="BC5CDR PubTator file (default: the test set)")
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds per mode (the median is kept)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--results", default=str(REPO / "results" / "serving.jsonl"))
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="MODE=REPORT",
        help="serve MODE with the thresholds of a scripts/calibrate.py report (its 'thresholds'); repeatable",
    )
    args = parser.parse_args(argv)
    calibrated = {}
    for item in args.calibration:
        mode, _, report_path = item.partition("=")  # not `report`: that is the function that prints the table
        if mode not in MODES or not report_path:
            raise SystemExit(f"--calibration {item!r}: expected MODE=REPORT with MODE one of {', '.join(MODES)}")
        try:
            calibrated[mode] = (report_path, json.loads(Path(report_path).read_text())["thresholds"])
        except (OSError, ValueError, KeyError) as error:
            raise SystemExit(f"--calibration {item!r}: cannot read the report's thresholds ({error})") from None

    import torch
    from transformers import pipeline

    from simmemre.data_simmemre import read_pubtator
    from simmemre.experiment_simmemre import git_commit, load_trained_model, portable_path, recorded_model
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    torch.set_num_threads(args.threads)
    gold, _ = read_pubtator(args.data)
    gold = gold[: args.documents]
    inputs = [{"id": document["id"], "text": document["text"]} for document in gold]
    # This package's pipeline (not the folder's copy, which may predate `serving`), on one loaded model.
    model, processor = load_trained_model(args.model, "cpu")
    pipelines = {
        mode: pipeline("joint-re", model=model, processor=processor, device="cpu", serving=mode) for mode in MODES
    }
    times = {mode: [] for mode in MODES}
    predictions = {}
    for round_index in range(args.repeats):
        order = MODES[round_index % len(MODES) :] + MODES[: round_index % len(MODES)]
        for mode in order:
            pipelines[mode](inputs[:1])  # warm-up
            started = time.perf_counter()
            thresholds = calibrated[mode][1] if mode in calibrated else {}
            predictions[mode] = pipelines[mode](inputs, batch_size=args.batch_size, **thresholds)
            times[mode].append(time.perf_counter() - started)
    commit = git_commit(short=True)  # "-dirty" when tracked files have local changes
    run, seed, saved = run_record(args.model, model)
    # (the model and the calibration reports as results rows write paths: no absolute path of this machine)
    notes = {}
    measured = recorded_model(args.model, notes)
    reports = {
        mode: portable_path(str(Path(path).resolve()), f"thresholds ({mode} calibration report)", notes)
        for mode, (path, _) in calibrated.items()
    }
    rows = []
    for mode in MODES:
        scores = joint_re_scores(predictions[mode], gold)
        seconds = statistics.median(times[mode])
        test = {f"{level}_f1": round(scores[f"{level}_f1"], 2) for level in LEVELS}
        rows.append(
            {
                "name": f"{run.name}, serving {mode}",
                "seed": seed,
                "thresholds": f"calibrated under {mode} ({reports[mode]})" if mode in calibrated else "saved",
                "threshold_values": calibrated[mode][1] if mode in calibrated else saved,
                "test": test,
                **measured,
                "commit": commit,
                "mode": mode,
                "dataset": Path(args.data).name,
                "documents": len(gold),
                "threads": args.threads,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "seconds": round(seconds, 2),
                "documents_per_second": round(len(gold) / seconds, 2),
                **test,
                **({"path_notes": notes} if notes else {}),
            }
        )
    base = rows[0]
    for row in rows:
        # (from the unrounded times: a run of a few small documents rounds to 0.00 s, a division by zero)
        row["speedup"] = round(statistics.median(times["fp32"]) / statistics.median(times[row["mode"]]), 3)
        for level in LEVELS:
            row[f"delta_{level}_f1"] = round(row[f"{level}_f1"] - base[f"{level}_f1"], 2)
        row.update(agreement(predictions[row["mode"]], predictions["fp32"]))
    report(rows, None if args.no_record else args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
