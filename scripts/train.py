#!/usr/bin/env python
"""Train SimMemRE (or the JEREX baseline) with the Hugging Face Trainer.

    python scripts/train.py CONFIG [--section.key value ...] [--training_argument value ...]
    torchrun --nproc_per_node 2 scripts/train.py CONFIG --output_dir DIR

CONFIG (YAML or JSON) has five sections:

    data:      either train_file / validation_file / test_file (schema JSONL; with `format: bc5cdr|docred` they may
               be raw corpus files converted on the fly), or data_dir + format (bc5cdr | docred) for a raw corpus
               converted with simmemre.data_simmemre (splits train/dev/test; reader options drop_ungrounded,
               require_relations, rel_info, or a `reader_options` mapping; `splits` cuts the training splits
               from the corpus' splits, e.g. {train: "dev[:400]", validation: "dev[400:]", test: "test"});
               optional max_train_documents,
               max_eval_documents, max_test_documents (default: max_eval_documents), entity_types/relation_types
               (default: labels.json beside the JSONL files, else all types found in the data), dataset_name,
               cache_dir (a folder for the tokenized datasets' arrow caches).
    encoder:   "minilm" (default, the packaged all-MiniLM-L6-v2), a local model folder,
               {path: minilm|PATH, config_overrides: {attention_probs_dropout_prob: 0.0, ...}} (encoder config
               changes, same weights; add trust_remote_code: true for an encoder that ships its own code), or {tiny: {BertConfig kwargs}, tokenizer: minilm|PATH} for a small randomly
               initialised BERT.
    model:     SimMemREConfig keyword arguments (jerex_baseline, memory_warmup_proportion, ...).
    sampling:  neg_mention_count, neg_coref_count, neg_relation_count, neg_mention_overlap_ratio.
    training:  TrainingArguments keyword arguments (output_dir, num_train_epochs, ...) plus resume_from_checkpoint
               (a checkpoint folder, or true/"last" for the newest one in output_dir). `warmup_ratio` is accepted and
               becomes transformers 5's fractional `warmup_steps`; with first_evaluation_epoch N and
               evaluation_epoch_interval K, evaluation (full inference, costly) runs only after epochs N, N+K, ...
               and the last. calibrate_thresholds: true grid-searches the mention, coreference and relation
               thresholds on the validation split after training (simmemre.training_simmemre.calibrate_thresholds),
               writes them into best_model's config and reports test with both the fixed and the calibrated
               thresholds (calibrated_test_* in all_results.json; the search is in calibration.json);
               calibration_grid ({mention_threshold: [...], ...}) replaces part or all of the default grid.
               head_learning_rate: the rate of everything outside the encoder (heads, memories, embeddings);
               unset, they train at learning_rate with the encoder.

Overrides: `--data.max_train_documents 8`, `--model.memory_warmup_proportion 0.3`, `--encoder minilm`; a key
without a section (`--num_train_epochs 3`, `--output_dir runs/x`) is a training argument. Values are parsed as
YAML scalars (`--model.jerex_baseline true`).

Device and precision: `--device cpu|cuda|cuda:N` (default: the first GPU when CUDA is available, else the CPU; cuda:N
selects that GPU through CUDA_VISIBLE_DEVICES, so it must come before anything initialises CUDA; under torchrun
each process takes its own GPU and --device may only be cuda or cpu). Mixed precision is a training argument:
`--bf16 true` or `--fp16 true` (autocast for training and the evaluation's inference).

Loss-curve check: `--loss-curve STEPS` trains CONFIG for STEPS steps instead (no evaluation, no checkpoints; the
memory warm-up is scheduled over STEPS), prints the logged training loss of the first and last fifth of the run as JSON,
and exits with status 1 unless the loss fell by at least `--loss-curve-min-drop` (default 0.1, i.e. 10 %). Logging
every `--loss-curve-logging-steps` (default 10) steps; `--loss-curve-inference-documents N` also times end-to-end
inference on N dev documents (the per-document cost an epoch's evaluation pays). `--output_dir` is optional there.

    python scripts/train.py scripts/configs/cdr_minilm_memory.yaml --loss-curve 300

Threads: the script keeps torch's default (one intra-op thread per core). On a machine shared with other jobs, run
with OMP_NUM_THREADS=1: competing OpenMP threads made training steps up to 9x slower on 2 cores.

Outputs in output_dir: checkpoints (best and last, save_total_limit 2), trainer_state.json, best_model/ (a Hub-ready
folder: remote code, processor, weights, model card), eval_predictions.jsonl / test_predictions.jsonl, and
{train,eval,test}_results.json + all_results.json (floats).
"""

from __future__ import annotations

import json
import os
import sys

import torch

from simmemre.experiment_simmemre import (build_model, check_config_keys, check_encoder_location, load_config,
                                          loss_curve_report, loss_falls, metrics_table, parse_overrides, resolve_path,
                                          select_device, training_settings)

# Options of the loss-curve check (see the module docstring) and their defaults.
LOSS_CURVE_OPTIONS = {"--loss-curve": None, "--loss-curve-logging-steps": 10, "--loss-curve-inference-documents": 0,
                      "--loss-curve-min-drop": 0.10}


# ----------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------


def git_commit():
    """The repository's HEAD commit (recorded with the results), or None outside a git checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_run_files(args, config: dict, results: dict) -> None:
    """run_config.json (the resolved config, seed, commit, device) and all_results.json in the output folder."""
    with open(os.path.join(args.output_dir, "run_config.json"), "w", encoding="utf-8") as handle:
        json.dump({"config": config, "seed": args.seed, "commit": git_commit(), "device": str(args.device)},
                  handle, indent=2, default=str)
    with open(os.path.join(args.output_dir, "all_results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, sort_keys=True)


def float_metrics(metrics: dict) -> dict:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def pop_loss_curve_options(arguments: list) -> dict:
    """Remove the `--loss-curve*` options (see LOSS_CURVE_OPTIONS) from `arguments`; return their values by name."""
    values = {option: default for option, default in LOSS_CURVE_OPTIONS.items()}
    rest = []
    index = 0
    while index < len(arguments):
        option, _, inline = arguments[index].partition("=")
        if option not in LOSS_CURVE_OPTIONS:
            rest.append(arguments[index])
            index += 1
            continue
        if inline:
            raw, index = inline, index + 1
        elif index + 1 < len(arguments):
            raw, index = arguments[index + 1], index + 2
        else:
            raise SystemExit(f"{option} needs a value")
        try:
            values[option] = (float if option == "--loss-curve-min-drop" else int)(raw)
        except ValueError:
            raise SystemExit(f"{option}: not a number: {raw!r}") from None
    arguments[:] = rest
    return values


def check_loss_curve(config: dict, options: dict, output_dir=None) -> int:
    """The --loss-curve mode: exit status 0 if the training loss falls by at least --loss-curve-min-drop."""
    report = loss_curve_report(config, steps=options["--loss-curve"],
                               logging_steps=options["--loss-curve-logging-steps"],
                               inference_documents=options["--loss-curve-inference-documents"], output_dir=output_dir)
    return 0 if loss_falls(report, options["--loss-curve-min-drop"]) else 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    overrides = argv[1:]
    loss_curve = pop_loss_curve_options(overrides)
    config = parse_overrides(load_config(argv[0]), overrides)
    check_config_keys(config)
    check_encoder_location(config.get("encoder"))
    select_device(config.setdefault("training", {}) or {})
    if loss_curve["--loss-curve"] is not None:
        # Only an --output_dir given on the command line: the config's run folder is not for this check.
        output_dir = (parse_overrides({}, list(overrides)).get("training") or {}).get("output_dir")
        return check_loss_curve(config, loss_curve, output_dir)

    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    import simmemre  # noqa: F401  (registers the auto classes: checkpoints get remote code and auto_map)
    from simmemre import data_simmemre
    from simmemre.experiment_simmemre import load_splits
    from simmemre.training_simmemre import (DEFAULT_SAMPLING, EvaluationEpochsCallback, SimMemREDataCollator,
                                            SimMemRETrainer, apply_thresholds, calibrate_thresholds,
                                            tokenize_documents)

    data_config = dict(config.get("data") or {})
    training_config = training_settings(config)
    resume = training_config.pop("resume_from_checkpoint", None)
    first_evaluation_epoch = training_config.pop("first_evaluation_epoch", None)
    evaluation_epoch_interval = training_config.pop("evaluation_epoch_interval", None)
    calibrate = str(training_config.pop("calibrate_thresholds", False)).lower() in ("true", "1", "yes")
    calibration_grid = training_config.pop("calibration_grid", None)
    head_learning_rate = training_config.pop("head_learning_rate", None)
    if not training_config.get("output_dir"):
        raise SystemExit("set training.output_dir (or --output_dir DIR)")
    if not torch.cuda.is_available():
        training_config.setdefault("dataloader_pin_memory", False)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            training_config.setdefault("ddp_backend", "gloo")
    model_kwargs = dict(config.get("model") or {})

    splits, labels = load_splits(data_config)
    has_validation = bool(splits.get("validation"))
    if not has_validation:
        training_config.update(eval_strategy="no", load_best_model_at_end=False, metric_for_best_model=None)
        if training_config.get("save_strategy") == "best":
            training_config["save_strategy"] = "epoch"
    set_seed(int(training_config["seed"]))
    model, processor, base_model = build_model(config.get("encoder"), model_kwargs, labels)
    # During the memory warm-up the memory readers get no gradient; a batch without relation pairs leaves the
    # relation head unused; so DDP must look for unused parameters (the cost is small for this model).
    training_config.setdefault("ddp_find_unused_parameters", True)
    args = TrainingArguments(**training_config)

    cache_dir = data_config.get("cache_dir")
    datasets = {}
    with args.main_process_first(desc="tokenization"):
        for split, docs in splits.items():
            if not docs:
                continue
            cache_file = None
            if cache_dir:
                from datasets.fingerprint import Hasher

                os.makedirs(resolve_path(cache_dir), exist_ok=True)
                key = Hasher.hash([docs, labels, processor.tokenizer.get_vocab(), simmemre.__version__])
                cache_file = os.path.join(resolve_path(cache_dir), f"{split}-{key}.arrow")
            datasets[split] = tokenize_documents(docs, processor, labels["entity_types"], labels["relation_types"],
                                                 cache_file_name=cache_file, desc=f"Tokenizing {split}")

    sampling = {**DEFAULT_SAMPLING, **(config.get("sampling") or {})}
    collator = SimMemREDataCollator(processor, model.config, seed=args.seed, **sampling)
    trainer = SimMemRETrainer(
        model=model, args=args, data_collator=collator, train_dataset=datasets["train"],
        eval_dataset=datasets.get("validation"), processing_class=processor, head_learning_rate=head_learning_rate,
    )
    if (first_evaluation_epoch or evaluation_epoch_interval) and has_validation:
        trainer.add_callback(EvaluationEpochsCallback(int(first_evaluation_epoch or 1),
                                                      int(evaluation_epoch_interval or 1)))
    if resume in (True, "last", "true"):
        resume = get_last_checkpoint(args.output_dir)
    elif resume:
        resume = resolve_path(str(resume))
    train_result = trainer.train(resume_from_checkpoint=resume or None)
    trainer.save_state()

    results = {}
    trainer.log_metrics("train", float_metrics(train_result.metrics))
    trainer.save_metrics("train", float_metrics(train_result.metrics))
    results.update(float_metrics(train_result.metrics))
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if split not in datasets:
            continue
        metrics = float_metrics(trainer.evaluate(datasets[split], metric_key_prefix=prefix))
        trainer.save_metrics(prefix, metrics)
        results.update(metrics)
        if trainer.is_world_process_zero():
            data_simmemre.write_jsonl(trainer.last_predictions,
                                      os.path.join(args.output_dir, f"{prefix}_predictions.jsonl"))

    if trainer.is_world_process_zero():  # the fixed-threshold results are kept even if calibration is cut short
        write_run_files(args, config, results)

    if calibrate and "validation" in datasets:
        validation = datasets["validation"]
        calibration = calibrate_thresholds(trainer.model, processor, [validation[i] for i in range(len(validation))],
                                           grid=calibration_grid, device=args.device,
                                           progress=not args.disable_tqdm)
        apply_thresholds(trainer.model, calibration["thresholds"])
        results.update({f"calibrated_{name}": value for name, value in calibration["thresholds"].items()})
        results.update({f"calibrated_eval_{key}": value for key, value in calibration["scores"].items()})
        if "test" in datasets:
            metrics = float_metrics(trainer.evaluate(datasets["test"], metric_key_prefix="calibrated_test"))
            trainer.save_metrics("calibrated_test", metrics)
            results.update(metrics)
            if trainer.is_world_process_zero():
                data_simmemre.write_jsonl(trainer.last_predictions,
                                          os.path.join(args.output_dir, "calibrated_test_predictions.jsonl"))
        if trainer.is_world_process_zero():
            with open(os.path.join(args.output_dir, "calibration.json"), "w", encoding="utf-8") as handle:
                json.dump(calibration, handle, indent=2)
    elif calibrate:
        print("calibrate_thresholds: no validation split, thresholds left as configured", file=sys.stderr)

    if trainer.is_world_process_zero():
        best_dir = os.path.join(args.output_dir, "best_model")
        dataset_name = data_config.get("dataset_name") or data_config.get("format")
        try:
            from simmemre.hub_simmemre import save_for_hub
        except ImportError:
            save_for_hub = None
        if save_for_hub is not None:
            by_split = {}
            # The card reports the thresholds the saved config holds: the calibrated ones when calibrated.
            prefixes = (("validation", "calibrated_eval"), ("test", "calibrated_test")) if calibrate else (
                ("validation", "eval"), ("test", "test"))
            for split, prefix in prefixes:
                scores = {key[len(prefix) + 1:]: value for key, value in results.items()
                          if key.startswith(prefix + "_") and not key.endswith(("_runtime", "_per_second"))}
                if scores:
                    by_split[split] = scores
            save_for_hub(trainer.model, processor, best_dir, results=by_split or None, dataset_name=dataset_name,
                         base_model=base_model)
        else:
            print("simmemre.hub_simmemre.save_for_hub is not available: saving best_model with save_pretrained "
                  "(no custom_pipelines entry, no model card)", file=sys.stderr)
            trainer.model.save_pretrained(best_dir)
            processor.save_pretrained(best_dir)
        write_run_files(args, config, results)
        table = metrics_table(results)
        print(f"\nBest model: {best_dir}" + (f" (from {trainer.state.best_model_checkpoint})"
                                             if trainer.state.best_model_checkpoint else ""))
        print(f"train_loss {results.get('train_loss', float('nan')):.4f}   "
              f"train_runtime {results.get('train_runtime', float('nan')):.1f}s   "
              f"steps {trainer.state.global_step}")
        if table:
            print(table)
            with open(os.path.join(args.output_dir, "results.md"), "w", encoding="utf-8") as handle:
                handle.write(metrics_table(results, markdown=True) + "\n")
            print(f"(precision, recall and F1: {os.path.join(args.output_dir, 'results.md')})")
    if args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
