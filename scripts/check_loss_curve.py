#!/usr/bin/env python
"""Check that training makes the loss fall: train CONFIG for a few hundred steps (no evaluation, no checkpoints)
and compare the logged training loss at the start and at the end; optionally time end-to-end inference on a few
dev documents (the per-document cost that an epoch's evaluation pays).

    python scripts/check_loss_curve.py [CONFIG] [--steps 300] [--logging_steps 10] [--inference_documents 20]
                                       [--section.key value ...]

CONFIG defaults to scripts/configs/cdr_minilm_memory.yaml. The memory warm-up is scheduled over `--steps`, so with
the CDR config (proportion 0.5) both stages are covered. Exit status 1 if the mean logged loss of the last fifth of
the run is not at least `--min_drop` (default 10 %) below that of the first fifth.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

# scripts/train.py, loaded by path: putting scripts/ on sys.path would let scripts/evaluate.py shadow `evaluate`.
_SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _SCRIPT_DIR]
_spec = importlib.util.spec_from_file_location("simmemre_train_script", os.path.join(_SCRIPT_DIR, "train.py"))
train_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_script)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=os.path.join(os.path.dirname(__file__), "configs",
                                                                  "cdr_minilm_memory.yaml"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--logging_steps", type=int, default=10)
    parser.add_argument("--inference_documents", type=int, default=0,
                        help="time end-to-end inference on this many validation documents after training")
    parser.add_argument("--min_drop", type=float, default=0.10)
    parser.add_argument("--output_dir", default=None)
    known, overrides = parser.parse_known_args(argv)

    config = train_script.parse_overrides(train_script.load_config(known.config), overrides)

    from transformers import TrainingArguments, set_seed

    from simmemre.training_simmemre import DEFAULT_SAMPLING, SimMemREDataCollator, SimMemRETrainer, tokenize_documents

    training = dict(train_script.TRAINING_DEFAULTS)
    training.update(config.get("training") or {})
    if "warmup_ratio" in training:
        training["warmup_steps"] = float(training.pop("warmup_ratio"))
    for key in ("resume_from_checkpoint", "first_evaluation_epoch", "evaluation_epoch_interval"):  # train.py's own
        training.pop(key, None)
    training.update(
        output_dir=known.output_dir or tempfile.mkdtemp(prefix="simmemre-loss-curve-"), max_steps=known.steps,
        logging_steps=known.logging_steps, eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
        metric_for_best_model=None, dataloader_pin_memory=False,
    )
    data = dict(config.get("data") or {})
    if known.inference_documents:
        data["max_eval_documents"] = known.inference_documents
    splits, labels = train_script.load_splits(data)
    set_seed(int(training["seed"]))
    model, processor, _ = train_script.build_model(config.get("encoder"), dict(config.get("model") or {}), labels)
    args = TrainingArguments(**training)
    train_dataset = tokenize_documents(splits["train"], processor, labels["entity_types"], labels["relation_types"])
    collator = SimMemREDataCollator(processor, model.config, seed=args.seed,
                                    **{**DEFAULT_SAMPLING, **(config.get("sampling") or {})})
    trainer = SimMemRETrainer(model=model, args=args, data_collator=collator, train_dataset=train_dataset,
                              processing_class=processor)
    result = trainer.train()

    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    fifth = max(1, len(logs) // 5)

    def mean(entries, key):
        return sum(entry[key] for entry in entries) / len(entries)

    report = {
        "steps": trainer.state.global_step,
        "train_runtime_s": result.metrics["train_runtime"],
        "steps_per_second": result.metrics["train_steps_per_second"],
        "seconds_per_step": result.metrics["train_runtime"] / max(1, trainer.state.global_step),
        "memory_warmup_steps": int(model.config.memory_warmup_proportion * trainer.state.max_steps),
        "loss_start": mean(logs[:fifth], "loss"),
        "loss_end": mean(logs[-fifth:], "loss"),
        "first_logged_loss": logs[0]["loss"],
        "last_logged_loss": logs[-1]["loss"],
    }
    for name in ("mention_loss", "coref_loss", "entity_loss", "relation_loss"):
        report[f"{name}_start"] = mean(logs[:fifth], name)
        report[f"{name}_end"] = mean(logs[-fifth:], name)
    report["loss_curve"] = " ".join(f"{entry['step']}:{entry['loss']:.3f}" for entry in logs)

    if known.inference_documents and splits.get("validation"):
        eval_dataset = tokenize_documents(splits["validation"], processor, labels["entity_types"],
                                          labels["relation_types"])
        start = time.time()
        metrics = trainer.evaluate(eval_dataset)
        elapsed = time.time() - start
        report["inference_documents"] = len(eval_dataset)
        report["inference_seconds_per_document"] = elapsed / max(1, len(eval_dataset))
        report["inference_relation_strict_f1"] = metrics["eval_relation_strict_f1"]
        report["inference_mention_f1"] = metrics["eval_mention_f1"]

    print(json.dumps(report, indent=2))
    falls = report["loss_end"] <= (1.0 - known.min_drop) * report["loss_start"]
    print(f"loss {report['loss_start']:.4f} (first fifth) -> {report['loss_end']:.4f} (last fifth): "
          f"{'falls' if falls else 'DOES NOT FALL'}; {report['steps_per_second']:.3f} steps/s")
    return 0 if falls else 1


if __name__ == "__main__":
    sys.exit(main())
