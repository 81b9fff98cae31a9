#!/usr/bin/env python
"""Results as data: record finished runs in results/<dataset>.jsonl and generate the README's results tables.

    python scripts/results.py add RUN_DIR --dataset cdr --name "SimMemRE, MRC, read sum" [--seed N] [--commit SHA]
    python scripts/results.py table --dataset cdr [--readme docs/results.md]
    python scripts/results.py table --dataset cdr --headline [--readme README.md]
    python scripts/results.py check --dataset cdr

`add` appends one row per thresholds policy found in RUN_DIR: "fixed" (the configured thresholds, from
all_results.json's eval_*/test_*) and, when RUN_DIR/calibration.json exists, "calibrated" (from train.py's
calibrated_test_* or scripts/calibrate.py's test_scores). A row holds name, relation_classifier, memory,
memory_read_mode, seed, data_seed (the run config's training.data_seed, null when unset), commit (from the run's
run_config.json: HEAD at training time, "<sha>-dirty" when tracked files had local changes), thresholds,
threshold_values, dev and test (joint_re_f1 metric dicts), recipe (the training settings), data (the corpus settings;
max_documents, the number of documents each split was cut to, null for all; the documents: those trained on, train, from
all_results.json's train_documents (runs before train.py wrote it have no train), and the dev and test documents scored;
the encoder: its name, or its folder's, and model_type), environment (the library versions, threads and processes
train.py ran with), plus device, run, run_digest and recorded_at. Paths (run, calibration_file, the corpus's folder and
files, the encoder's folder) are written relative to the root of the checkout of the project that holds them (this
repository or a git worktree, clone or copy of it); a path outside any checkout by its last part alone, noted in
path_notes ({field: note}); a relative path as the config wrote it. Rows already recorded for the same (run folder,
thresholds, calibration file) are replaced, told apart by run_digest and calibration_file_digest (digests of the
absolute paths; rows recorded before them hold the absolute paths).
`add RUN_DIR --calibration FILE` records only a "calibrated" row, from a scripts/calibrate.py output (for example a
re-calibration of an older run with the current default grid, `--dry-run --output FILE`); it is recorded after the
run's own calibrated row, so it takes that row's place in the mean, which stays listed as replaced. A calibrate.py
report (either file) whose "model" is not RUN/best_model is refused. Its commit is the training commit unless --commit
gives another; some recorded CDR re-calibrations carry the calibration's commit instead, and docs/results.md names
their training commits.

`compare --dataset cdr --a NAME --b NAME` sets two models side by side on the seeds recorded for each (latest row per
seed, calibrated thresholds unless --thresholds fixed): strict relation F1 on dev and test per seed, the means, their
difference a - b with its standard error (the two groups' sample variances, as in Welch's test), and how many seeds
per model a one-sided test at 5 % would need to detect a difference of --effect points with 80 % power (normal
approximation, the pooled seed spread). It decides nothing by itself: it says how far the recorded seeds go.

`check --dataset cdr` checks that each row follows the schema of the rows `add` writes (`row_problems`): rows recorded
before run_digest need only their basic fields; later ones also the document caps and no absolute path (in POSIX or
Windows form). A benchmark's row (a `model` and no `run`: serving.jsonl, int8_variants.jsonl, cdr-stages.jsonl, ...)
is checked for its common part only (`benchmark_row_problems`): a name and a model, and for rows with model_digest no
absolute model path.

`table --dataset serving` prints the CPU serving table of results/serving.jsonl (benchmarks/bench_serving.py); with
--headline, only the model measured last, at its saved thresholds (the README's table). A model is told apart by its
model_digest where rows record one (the benchmarks write `model` as `add` writes paths: see
experiment_simmemre.recorded_model), else by its recorded path; a line names it by its run folder (or its folder's
last part), followed by the first digits of its model_digest where two models read alike.

`table` prints a Markdown table per thresholds policy (per-seed rows, then mean ± sample std over seeds; a seed is the
pair (seed, data_seed), written "112/5" where the run set a data_seed other than its seed; when a seed was run again
or re-calibrated, the row recorded last counts and the earlier one is listed as replaced; a note under the table names
a model with rows trained or scored on splits that a cap cut, from rows that record data.max_documents: a cap above
a split's recorded document count cut nothing)
and, with --readme, rewrites the text between `<!-- results:DATASET:start -->` and `<!-- results:DATASET:end -->`. With
--headline, one mean line per model for the models that results/headline.json lists for the dataset (the shipped
configs' models, in order: `{"cdr": [NAME, ...]}`), else for the models recorded last. A rerun of a seed is recorded
under its model's name, so that it replaces the earlier run in the means.
"""

import argparse
import collections
import datetime
import json
import math
import re
import statistics
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import LEVELS, THRESHOLD_NAMES

REPO = Path(__file__).resolve().parent.parent
METRIC_SUFFIXES = tuple(f"{level}_{measure}" for level in LEVELS for measure in ("precision", "recall", "f1"))


RESULTS_DIR = REPO / "results"


def dataset_name(value: str) -> str:
    """An argparse type: a results file's name, without folders (`--dataset ../x` wrote outside results/)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise argparse.ArgumentTypeError(
            f"expected a name such as cdr or re-docred (letters, digits, '.', '_', '-'), got {value!r}"
        )
    return value


def results_file(dataset: str) -> Path:
    return RESULTS_DIR / f"{dataset}.jsonl"


def numbered_rows(dataset: str) -> list:
    """[(line number, row)] of results/<dataset>.jsonl; [] when there is no such file."""
    from simmemre.data_simmemre import parse_json

    path = results_file(dataset)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append((number, parse_json(line)))
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return rows


def read_rows(dataset: str) -> list:
    return [row for _, row in numbered_rows(dataset)]


def rewriting(path: Path):
    """Held while `path` is read, changed and written back: two `add`s at once (runs recorded as they finish) each
    rewrote the file from what they had read, and one's rows were lost (4 of 10 tries); another waits."""
    from simmemre.experiment_simmemre import exclusive_use

    return exclusive_use(path, "results file", "another results.py", wait=True)


def write_rows(dataset: str, rows: list) -> None:
    from simmemre.data_simmemre import write_text_file

    write_text_file(results_file(dataset), "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def metric_dict(results: dict, prefix: str) -> dict:
    return {suffix: results[f"{prefix}_{suffix}"] for suffix in METRIC_SUFFIXES if f"{prefix}_{suffix}" in results}


def load_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing ({what})") from None


# The data settings that name files or folders (written relative to the checkout, or not at all: see portable_path).
CORPUS_PATH_KEYS = ("data_dir", "train_file", "validation_file", "test_file", "rel_info")


def run_identity(row: dict):
    """Which run folder a row came from: its `run_digest`, or for rows recorded before it (their `run` absolute, as
    recorded) the digest of their `run`."""
    from simmemre.experiment_simmemre import path_digest

    return row.get("run_digest") or (path_digest(row["run"]) if row.get("run") is not None else None)


def calibration_identity(row: dict):
    """Which re-calibration file a row came from (None for a run's own rows), as `run_identity`."""
    from simmemre.experiment_simmemre import path_digest

    if row.get("calibration_file_digest"):
        return row["calibration_file_digest"]
    return path_digest(row["calibration_file"]) if row.get("calibration_file") is not None else None


def relation_grid_top(calibration: dict):
    """The largest relation threshold a calibration searched (None for files that do not list their grid)."""
    return max((point["relation_threshold"] for point in calibration.get("grid") or []), default=None)


RECIPE_TRAINING_KEYS = (
    "learning_rate",
    "head_learning_rate",
    "num_train_epochs",
    "warmup_ratio",
    "per_device_train_batch_size",
    "bf16",
)
RECIPE_MODEL_KEYS = (
    "max_span_size",
    "abbreviation_coreference",
    "word_form_coreference",
    "flat_mentions",
    "mention_string_propagation",
    "coreference_linkage",
    "encoder_window_size",
    "memory_read_temperature",
    "relation_argument_types",
)


def recipe_fields(run_config: dict, model_config: dict) -> dict:
    """The training recipe of a run: the training settings of its config (None where unset, the library default) and
    the model settings that change inference."""
    training = (run_config.get("config") or {}).get("training") or {}
    sampling = (run_config.get("config") or {}).get("sampling") or {}
    recipe = {key: training.get(key) for key in RECIPE_TRAINING_KEYS}
    recipe.update({key: model_config.get(key) for key in RECIPE_MODEL_KEYS})
    # The boundary word lists by their lengths (the lists themselves are in the model's config.json).
    lists = [model_config.get(key) or [] for key in ("non_initial_words", "non_final_words")]
    recipe["boundary_words"] = [len(words) for words in lists] if any(lists) else None
    # The coreference lexicon by its number of groups (the groups are in the model's config.json).
    recipe["coreference_lexicon"] = len(model_config.get("coreference_lexicon") or []) or None
    recipe.update({key: value for key, value in sampling.items() if key.startswith("neg_")})
    return recipe


def data_description(corpus: dict, model_config: dict, run_config: dict, documents: dict, caps, notes):
    """What a row was scored on: the corpus as its data settings name it (its paths as `portable_path` writes them,
    notes in `notes`), the number of documents each split was cut to (`caps`, see `split_document_limits`) and each
    split held (`documents`: dev and test, and train where the run recorded it), and the encoder. Seeds of one model
    averaged over other documents (a dev cap, another folder) or another encoder are not one model's spread; `table`
    names such groups."""
    from simmemre.experiment_simmemre import DATA_KEYS, portable_path

    # The data settings that decide which gold documents a row was scored on (train.py's data keys, less its cache and
    # the inference settings derived from the corpus, which the recipe holds).
    source_keys = [
        key
        for key in DATA_KEYS
        if key not in ("cache_dir", "boundary_word_min_count", "relation_argument_types", "coreference_lexicon")
    ]
    described = {key: corpus[key] for key in source_keys if corpus.get(key) is not None}
    for key in CORPUS_PATH_KEYS:
        described[key] = portable_path(described.get(key), f"data.corpus.{key}", notes)
    options = described.get("reader_options")
    if isinstance(options, dict) and options.get("rel_info") is not None:
        rel_info = portable_path(options["rel_info"], "data.corpus.reader_options.rel_info", notes)
        described["reader_options"] = {**options, "rel_info": rel_info}
    encoder = model_config.get("encoder_config") or {}
    configured = (run_config.get("config") or {}).get("encoder")
    tiny = isinstance(configured, dict) and bool(configured.get("tiny"))  # (a randomly initialised test encoder)
    configured = configured.get("path") if isinstance(configured, dict) else configured  # (`encoder: minilm` too)
    described_encoder = {
        "path": portable_path(configured or encoder.get("_name_or_path"), "data.encoder.path", notes),
        "model_type": encoder.get("model_type"),
        "layers": encoder.get("num_hidden_layers"),
        "hidden_size": encoder.get("hidden_size"),
    }
    if tiny:
        described_encoder["tiny"] = True
    return {
        "corpus": {key: value for key, value in described.items() if value is not None},
        "max_documents": caps,
        "documents": documents,
        "encoder": described_encoder,
    }


def document_count(value):
    """A count of documents as the metric writes it (a float), or None when the run wrote none."""
    return int(value) if isinstance(value, (int, float)) else None


def config_at_training(run: Path) -> dict:
    """The fields of RUN/best_model/config.json that scripts/calibrate.py rewrote since training, as they were: each of
    its reports in RUN records them (`config_before`), the earliest holding train.py's values. Rows recorded after a
    calibration took its switches as the training run's (rows scored without string propagation said it was on)."""
    reports = []
    for path in run.glob("*.json"):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(report, dict) or not isinstance(report.get("config_before"), dict):
            continue
        model = report.get("model")
        if isinstance(model, str) and Path(model).resolve() == (run / "best_model").resolve():
            reports.append((path.stat().st_mtime, path.name, report["config_before"]))
    before = {}
    for _, _, fields in sorted(reports):
        for key, value in fields.items():
            before.setdefault(key, value)
    return before


def rows_for_run(run: Path, name: str, seed=None, commit=None, device=None, calibration_file=None) -> list:
    results = load_json(run / "all_results.json", "written by scripts/train.py at the end of a run")
    run_config = json.loads((run / "run_config.json").read_text()) if (run / "run_config.json").is_file() else {}
    if (run / "best_model" / "config.json").is_file():
        model_config = load_json(run / "best_model" / "config.json", "the run's saved model")
    elif run_config.get("config", {}).get("model") is not None:
        # best_model is written last; a run cut short after its fixed-threshold evaluation has only run_config.json.
        from simmemre import SimMemREConfig

        model_config = SimMemREConfig(**run_config["config"]["model"]).to_dict()
    else:
        raise SystemExit(f"{run}: neither best_model/config.json nor run_config.json with a model section")
    model_config = {**model_config, **config_at_training(run)}
    if calibration_file is not None:
        calibration = load_json(Path(calibration_file), "written by scripts/calibrate.py")
        if "test_scores" not in calibration:
            raise SystemExit(f"{calibration_file}: no test_scores (calibrate.py scores test unless --no-test)")
        cut = (calibration.get("corpus") or {}).get("max_documents")
        if cut:  # (a quick check of the script, not a result: 4 test documents were recorded as the run's)
            raise SystemExit(
                f"{calibration_file}: calibrated and scored on the first {cut} documents of each split "
                "(calibrate.py --max-documents): not a result to record"
            )
    else:
        calibration = (
            json.loads((run / "calibration.json").read_text()) if (run / "calibration.json").is_file() else None
        )
    check_calibrated_model(run, calibration, calibration_file or run / "calibration.json")
    if run_config.get("complete") is False:  # written before calibration and saving: the run stopped after that
        print(
            f"warning: {run}: the run stopped before it completed (its run files are the fixed-threshold ones written "
            "before calibration and saving); finish it with train.py --resume_from_checkpoint true, then add it",
            file=sys.stderr,
        )
    asked = (run_config.get("config", {}).get("training") or {}).get("calibrate_thresholds")
    if asked and calibration is None:  # the run stopped before its calibration finished (or it had no dev split)
        print(
            f"warning: {run}: the run asked for threshold calibration but holds no calibration.json; only its "
            "fixed-threshold rows are recorded",
            file=sys.stderr,
        )
    seed = seed if seed is not None else run_config.get("seed")
    if seed is None:
        source = "no seed in run_config.json" if (run / "run_config.json").is_file() else "no run_config.json"
        raise SystemExit(f"{run}: {source} to read the seed from; pass --seed")
    # (the seed of the negatives and the document order where set: runs that differ in it alone are other runs)
    data_seed = ((run_config.get("config") or {}).get("training") or {}).get("data_seed")
    if data_seed is not None and not is_whole(data_seed):
        raise SystemExit(
            f"{run / 'run_config.json'}: config.training.data_seed: a whole number or null, got {data_seed!r}"
        )
    from simmemre.experiment_simmemre import path_digest, portable_path, split_document_limits

    memory = bool(model_config.get("use_entity_memory") or model_config.get("use_relation_memory"))
    run_notes = {}  # (paths written by their name only: see portable_path)
    common = {
        "name": name,
        "relation_classifier": model_config.get("relation_classifier"),
        "memory": memory,
        "memory_read_mode": model_config.get("memory_read_mode", "mean") if memory else None,
        "seed": int(seed),
        "data_seed": data_seed,
        "commit": commit or run_config.get("commit"),
        "device": device or run_config.get("device"),
        "run": portable_path(str(run), "run", run_notes),
        "run_digest": path_digest(run),
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe_fields(run_config, model_config),
    }
    if run_config.get("environment"):  # (versions, threads, processes: what else decides the weights bit for bit)
        common["environment"] = run_config["environment"]
    corpus = (run_config.get("config") or {}).get("data") or {}
    caps = split_document_limits(corpus)  # (as train.py cut the splits)
    # The documents the model trained on (all_results.json's train_documents, written by train.py since it records
    # them; rows of earlier runs leave train out).
    trained_on = document_count(results.get("train_documents"))
    trained = {"train": trained_on} if trained_on is not None else {}
    fixed_values = (calibration or {}).get("fixed_thresholds") or {n: model_config.get(n, 0.0) for n in THRESHOLD_NAMES}
    rows = []
    if calibration_file is None:  # (with a re-calibration file only its calibrated row is recorded)
        notes = dict(run_notes)
        row = {
            **common,
            "thresholds": "fixed",
            "threshold_values": fixed_values,
            "dev": metric_dict(results, "eval"),
            "test": metric_dict(results, "test"),
            "data": data_description(
                corpus,
                model_config,
                run_config,
                {
                    **trained,
                    "dev": document_count(results.get("eval_documents")),
                    "test": document_count(results.get("test_documents")),
                },
                caps,
                notes,
            ),
        }
        if notes:
            row["path_notes"] = notes
        rows.append(row)
    if calibration is not None:
        test_scores = {k: v for k, v in (calibration.get("test_scores") or {}).items() if k in METRIC_SUFFIXES}
        test = test_scores if calibration_file is not None else (metric_dict(results, "calibrated_test") or test_scores)
        dev = {k: v for k, v in calibration["scores"].items() if k in METRIC_SUFFIXES}
        if calibration_file is not None:  # calibrate.py's corpus: its folder and format, not train.py's data section
            report_corpus = calibration.get("corpus") or {}
            scored_on = {key: report_corpus.get(key) for key in ("data_dir", "format")}
            scored_on["splits"] = {"validation": calibration.get("dev_split"), "test": report_corpus.get("test_split")}
            test_documents = (calibration.get("test_scores") or {}).get("documents")
            # calibrate.py scores whole splits (a --max-documents report is refused above); the model trained as cut.
            scored_caps = {**caps, "validation": None, "test": None}
        else:
            scored_on = corpus
            test_documents = results.get("calibrated_test_documents", results.get("test_documents"))
            scored_caps = caps
        notes = dict(run_notes)
        row = {
            **common,
            "thresholds": "calibrated",
            "threshold_values": calibration["thresholds"],
            "relation_grid_top": relation_grid_top(calibration),
            "dev": dev,
            "test": test,
            "data": data_description(
                scored_on,
                model_config,
                run_config,
                {
                    **trained,
                    "dev": document_count(calibration["scores"].get("documents")),
                    "test": document_count(test_documents),
                },
                scored_caps,
                notes,
            ),
        }
        if "applied" in calibration:  # False: the search's best point was refused and the fixed thresholds kept
            row["calibration_applied"] = calibration["applied"]
        if calibration_file is not None:
            resolved = Path(calibration_file).resolve()
            row["calibration_file"] = portable_path(str(resolved), "calibration_file", notes)
            row["calibration_file_digest"] = path_digest(resolved)
            # The re-calibration's own switches (calibrate.py --mention-string-propagation, ...), not train.py's.
            switches = ("mention_string_propagation", "relation_argument_types", "coreference_lexicon")
            row["recipe"] = {**row["recipe"], **{key: calibration[key] for key in switches if key in calibration}}
        if notes:
            row["path_notes"] = notes
        rows.append(row)
    return rows


def check_calibrated_model(run: Path, calibration, source) -> None:
    """Stop when a scripts/calibrate.py report calibrated another model than RUN/best_model (a re-calibration of
    another run, or an earlier run's report left in a reused output_dir): its scores are not this run's. train.py's
    own calibration.json records no model path, and is taken as it is."""
    model = calibration.get("model") if isinstance(calibration, dict) else None
    if isinstance(model, str) and Path(model).resolve() != (run / "best_model").resolve():
        raise SystemExit(f"{source}: calibrates {model}, not this run's model {run / 'best_model'}")
    if isinstance(calibration, dict) and calibration.get("config_updated") is False:
        raise SystemExit(
            f"{source}: calibrate.py stopped before it wrote these thresholds into {model or 'the model'}/config.json "
            "(config_updated false); run it again"
        )


# The fields of every row `add` writes, with their JSON types.
ROW_FIELDS = dict(name=str, seed=int, run=str, thresholds=str, threshold_values=dict, dev=dict, test=dict)
SPLITS = ("train", "validation", "test")


def is_whole(value) -> bool:
    """An int that is not a bool (JSON's true would pass isinstance(value, int))."""
    return isinstance(value, int) and not isinstance(value, bool)


def path_notes_problems(row: dict) -> list:
    """A row's `path_notes`, where present, must be an object of text notes by field."""
    notes = row.get("path_notes", {})
    if isinstance(notes, dict) and all(isinstance(note, str) for note in notes.values()):
        return []
    return ["path_notes: an object of notes (text) by field"]


def absolute_path(value) -> bool:
    """Whether a recorded path names the recording machine's layout: absolute in POSIX form (/work/...) or Windows form
    (C:\\Users\\..., a UNC \\\\server\\share), or under a home folder (~). Rows are read on either system, where
    the other's absolute paths read as relative (C:\\Users\\... passed on POSIX)."""
    return isinstance(value, str) and (
        PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith("~")
    )


def is_benchmark_row(row) -> bool:
    """A row a benchmark wrote (bench_serving.py, int8_variants.py, stage_scores.py, coref_errors.py,
    joined_documents.py, calibration_holdout.py): it names the `model` it measured and no run folder."""
    return isinstance(row, dict) and "model" in row and "run" not in row


def benchmark_row_problems(row: dict) -> list:
    """What is off the benchmarks' rows' common part, each as "field: problem": a name and the model measured; rows
    recorded since `model_digest` (its 16 hex digits) hold no absolute model path (experiment_simmemre.recorded_model).
    The rest of a row is its benchmark's own."""
    problems = [
        f"{key}: a non-empty string expected, got {json.dumps(row.get(key))[:40]}"
        for key in ("name", "model")
        if not isinstance(row.get(key), str) or not row.get(key)
    ]
    if "model_digest" not in row:  # (rows recorded before it hold the recording machine's absolute paths)
        return problems
    if not re.fullmatch(r"[0-9a-f]{16}", str(row["model_digest"])):
        problems.append(f"model_digest: 16 hex digits, got {json.dumps(row['model_digest'])[:40]}")
    if absolute_path(row.get("model")):
        problems.append(f"model: an absolute path ({row['model'][:40]}), which no other machine has")
    return problems + path_notes_problems(row)


def row_problems(row) -> list:
    """What is off the schema of the rows `add` writes, each as "field: problem": every row has ROW_FIELDS; rows
    recorded since `run_digest` also hold no absolute path (see portable_path), their calibration file's digest and
    a `data` section with the corpus, the document caps of each split (`max_documents`), the documents scored and the
    encoder. Earlier rows lack these and are read as they are (their tables must not change)."""
    if not isinstance(row, dict):
        return [f"the row: a JSON object, got {type(row).__name__}"]
    problems = [
        f"{key}: {kind.__name__} expected, got {json.dumps(row.get(key))[:40]}"
        for key, kind in ROW_FIELDS.items()
        if not isinstance(row.get(key), kind) or isinstance(row.get(key), bool)
    ]
    if row.get("thresholds") not in ("fixed", "calibrated"):
        problems.append(f"thresholds: fixed or calibrated, got {json.dumps(row.get('thresholds'))[:40]}")
    data_seed = row.get("data_seed")  # (recorded since rows carry it; null where the run set none)
    if data_seed is not None and not is_whole(data_seed):
        problems.append(f"data_seed: a whole number or null, got {json.dumps(data_seed)[:40]}")
    if "run_digest" not in row:
        return problems
    if not re.fullmatch(r"[0-9a-f]{16}", str(row["run_digest"])):
        problems.append(f"run_digest: 16 hex digits, got {json.dumps(row['run_digest'])[:40]}")
    if ("calibration_file" in row) != ("calibration_file_digest" in row):
        problems.append("calibration_file_digest: recorded with calibration_file, and only with it")
    data = row.get("data")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), dict) for key in ("corpus", "documents")):
        return problems + ["data: an object with corpus, max_documents, documents and encoder"]
    caps = data.get("max_documents")
    if not isinstance(caps, dict) or sorted(caps) != sorted(SPLITS):
        problems.append(f"data.max_documents: an object of {', '.join(SPLITS)}")
    else:
        problems += [
            f"data.max_documents.{split}: a positive whole number or null, got {json.dumps(cap)[:40]}"
            for split, cap in caps.items()
            if cap is not None and not (is_whole(cap) and cap >= 1)
        ]
    trained = data["documents"].get("train")  # (recorded since train.py writes train_documents)
    if "train" in data["documents"] and not (is_whole(trained) and trained >= 1):
        problems.append(f"data.documents.train: a positive whole number, got {json.dumps(trained)[:40]}")
    encoder = data.get("encoder")
    if not isinstance(encoder, dict) or "path" not in encoder or "model_type" not in encoder:
        problems.append("data.encoder: an object with path and model_type")
    corpus = data["corpus"]
    paths = {"run": row.get("run"), "calibration_file": row.get("calibration_file")}
    paths.update({f"data.corpus.{key}": corpus.get(key) for key in CORPUS_PATH_KEYS})
    options = corpus.get("reader_options")
    paths["data.corpus.reader_options.rel_info"] = options.get("rel_info") if isinstance(options, dict) else None
    paths["data.encoder.path"] = encoder.get("path") if isinstance(encoder, dict) else None
    problems += [
        f"{field}: an absolute path ({value[:40]}), which no other machine has"
        for field, value in paths.items()
        if absolute_path(value)
    ]
    return problems + path_notes_problems(row)


def check_command(args) -> int:
    path = results_file(args.dataset)
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    rows = numbered_rows(args.dataset)
    for number, row in rows:
        problems = benchmark_row_problems(row) if is_benchmark_row(row) else row_problems(row)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            which = "row"
            if isinstance(row, dict):  # (benchmark rows need not name a seed)
                which = repr(row.get("name")) + (f" seed {row['seed']}" if "seed" in row else "")
            raise SystemExit(f"{path}:{number}: {which}: {problems[0]}{more}")
    measured = [row for _, row in rows if is_benchmark_row(row)]
    recorded = [row for _, row in rows if not is_benchmark_row(row)]
    parts = []
    if recorded or not measured:
        recent = sum(1 for row in recorded if "run_digest" in row)
        parts.append(f"{len(recorded)} rows follow the schema ({recent} with portable paths and document caps)")
    if measured:
        recent = sum(1 for row in measured if "model_digest" in row)
        parts.append(
            f"{len(measured)} benchmark rows (benchmarks/*.py) name their model ({recent} with model_digest and a "
            "portable path; the rest of each is its benchmark's own)"
        )
    print(f"{path}: {'; '.join(parts)}")
    return 0


def add(args) -> int:
    run = Path(args.run).resolve()
    if not run.is_dir():  # e.g. RUN/all_results.json given for RUN
        what = "is a file" if run.exists() else "not found"
        raise SystemExit(f"{args.run}: {what}; give the run's output_dir (the folder with all_results.json)")
    new = rows_for_run(run, args.name, args.seed, args.commit, args.device, args.calibration)
    # The rows are recorded anyway, but their scores can be traced only to code that a commit holds.
    commit = new[0]["commit"]
    if not commit:
        where = "in run_config.json" if (run / "run_config.json").is_file() else "(the run has no run_config.json)"
        print(f"warning: {run}: no commit recorded {where}; pass --commit SHA", file=sys.stderr)
    elif str(commit).endswith("-dirty"):
        print(
            f"warning: {run}: trained from {commit}: the tracked files had local changes that no commit holds",
            file=sys.stderr,
        )

    for row in new:  # (a row off the schema is a bug here: refused before it is written)
        problem = next(iter(row_problems(row)), None)
        if problem:
            raise SystemExit(f"{run}: the row for {row['thresholds']} thresholds is off the schema: {problem}")

    def key(row):  # (rows recorded before run_digest hold the absolute paths; see run_identity)
        return run_identity(row), row.get("thresholds"), calibration_identity(row)

    keys = {key(row) for row in new}
    with rewriting(results_file(args.dataset)):
        rows = [row for row in read_rows(args.dataset) if key(row) not in keys] + new
        write_rows(args.dataset, rows)
    for row in new:
        print(
            f"{row['name']} seed {seed_label(seed_key(row))} ({row['thresholds']}): test relation_strict_f1 "
            f"{row['test'].get('relation_strict_f1', float('nan')):.2f}, "
            f"dev {row['dev'].get('relation_strict_f1', float('nan')):.2f}"
        )
    return 0


def mean_std(values: list) -> str:
    """Mean ± sample standard deviation of the values present; "(n of N)" when some are missing (a run without dev
    scores), so a cell never reads as a mean over seeds it does not hold."""
    present = [value for value in values if value is not None]
    if not present:
        return "–"
    missing = f" ({len(present)} of {len(values)})" if len(present) < len(values) else ""
    if len(present) == 1:
        return f"{present[0]:.2f}{missing}"
    return f"{statistics.mean(present):.2f} ± {statistics.stdev(present):.2f}{missing}"


def cell(scores: dict, key: str) -> str:
    return f"{scores[key]:.2f}" if key in scores else "–"


def seed_key(row: dict) -> tuple:
    """The seeds a row's run trained under: (seed, data_seed), data_seed None where the run set none or set it to the
    seed (the negatives and the document order then come from the seed alike). Runs that differ in data_seed alone
    (the model's start fixed, the data varied) are other runs, not reruns of one seed."""
    data_seed = row.get("data_seed")
    return row["seed"], (None if data_seed is None or data_seed == row["seed"] else data_seed)


def seed_label(key: tuple) -> str:
    """A `seed_key` as the tables write it: "112", or "112/5" with a data_seed."""
    seed, data_seed = key
    return str(seed) if data_seed is None else f"{seed}/{data_seed}"


def seed_order(key: tuple) -> tuple:
    """A `seed_key`'s place in a table: by seed, the run without a data_seed first."""
    seed, data_seed = key
    return seed, data_seed is not None, data_seed if data_seed is not None else 0


def seed_list(keys) -> str:
    """Seed keys as a list in a note: "[112, 113/5]"."""
    return "[" + ", ".join(seed_label(key) for key in sorted(keys, key=seed_order)) + "]"


def table(rows: list, thresholds: str) -> str:
    selected = [row for row in rows if row.get("thresholds") == thresholds]
    names = list(dict.fromkeys(row["name"] for row in selected))
    lines = [
        "| model | seed | trained on | thresholds (m / c / r, e) | dev rel. strict | mention | coref | entity | "
        "relation | **relation strict** |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name in names:
        runs = [row for row in selected if row["name"] == name]
        # A rerun of a seed (recorded later) replaces the earlier run in the mean; the earlier row stays listed.
        latest = {seed_key(row): row for row in runs}
        listed = sorted(runs, key=lambda row: (seed_order(seed_key(row)), row is latest[seed_key(row)]))
        group = sorted(latest.values(), key=lambda row: seed_order(seed_key(row)))
        first = True
        for row in listed:
            values = " / ".join(f"{row['threshold_values'][n]:g}" for n in THRESHOLD_NAMES[:3])
            if row["threshold_values"].get("entity_threshold"):  # rows before the entity threshold have none
                values += f", e {row['threshold_values']['entity_threshold']:g}"
            if row.get("relation_grid_top"):  # calibrated rows only
                values += f" (r grid to {row['relation_grid_top']:g})"
            if row.get("calibration_applied") is False:  # (the search's best point was refused: the fixed ones kept)
                values += " (calibration refused: fixed kept)"
            test = row["test"]
            seed = seed_label(seed_key(row))
            if row is not latest[seed_key(row)]:
                later = latest[seed_key(row)]
                how = "a re-calibration" if run_identity(later) == run_identity(row) else "a rerun"
                seed = f"{seed} (replaced by {how})"
            lines.append(
                f"| {name if first else ''} | {seed} | {row.get('device') or '–'} | {values} | "
                f"{cell(row['dev'], 'relation_strict_f1')} | "
                + " | ".join(cell(test, level + "_f1") for level in LEVELS[:-1])
                + f" | **{cell(test, 'relation_strict_f1')}** |"
            )
            first = False
        capped = capped_splits(runs)
        if capped:
            notes.append(
                f"Note: {name} was trained or scored on splits cut to their first documents ({capped}: the rows' "
                "`data.max_documents`)."
            )
        if len(group) > 1:
            differing = data_differences(group)
            if differing:
                notes.append(
                    f"Note: {name}'s seeds were scored with different {' and '.join(differing)} (the rows' `data`): "
                    "their spread is not the seeds' alone."
                )
            dev = mean_std([row["dev"].get("relation_strict_f1") for row in group])
            cells = [mean_std([row["test"].get(level + "_f1") for row in group]) for level in LEVELS]
            lines.append(
                f"| | mean ± std ({len(group)}) | | | {dev} | " + " | ".join(cells[:-1]) + f" | **{cells[-1]}** |"
            )
    return "\n".join(lines + ([""] + notes if notes else []))


def data_differences(group: list) -> list:
    """Which parts of the rows' data descriptions differ within a group of seeds: the corpus by its format and name
    (its folder may be written relative or absolute, and a re-calibration names its splits), the documents scored and
    those trained on, the document caps, the encoder; rows recorded before descriptions (or before the field) existed
    are left out."""
    described = [row["data"] for row in group if isinstance(row.get("data"), dict)]
    # (a re-calibration's row names no dataset_name: one not recorded is no difference)
    names = {(data.get("corpus") or {}).get("dataset_name") for data in described} - {None}
    name = names.pop() if len(names) == 1 else None
    parts = {
        "corpus": lambda data: {
            "format": (data.get("corpus") or {}).get("format"),
            "dataset_name": (data.get("corpus") or {}).get("dataset_name") or name,
        },
        "documents": lambda data: scored_documents(data.get("documents")),
        "training documents": lambda data: data["documents"]["train"],
        "document caps": cutting_caps,  # (a cap that cut nothing is no cap)
        "encoder": lambda data: encoder_identity(data.get("encoder")),
    }
    differing = []
    for part, of in parts.items():
        # (caps are recorded since run_digest, training documents since train.py writes them: rows before say nothing
        # of them, rather than "no caps" or "none")
        values = {json.dumps(of(data), sort_keys=True) for data in described if recorded(part, data)}
        if len(values) > 1:
            differing.append(part)
    return differing


def scored_documents(documents):
    """A row's data.documents less train (compared on its own, in rows that record it)."""
    if not isinstance(documents, dict):
        return documents
    return {split: count for split, count in documents.items() if split != "train"}


def recorded(part: str, data: dict) -> bool:
    """Whether a row's data description records `part` of `data_differences` (rows before its field say nothing)."""
    if part == "document caps":
        return "max_documents" in data
    if part == "training documents":
        return isinstance(data.get("documents"), dict) and data["documents"].get("train") is not None
    return True


def encoder_identity(encoder):
    """An encoder description compared by its folder's or Hub id's last part: rows since run_digest write a folder
    outside the checkout by its name alone, earlier rows as configured."""
    if not isinstance(encoder, dict) or not isinstance(encoder.get("path"), str):
        return encoder
    return {**encoder, "path": encoder["path"].rstrip("/").rsplit("/", 1)[-1]}


def cutting_caps(data: dict):
    """{split: cap} of a row's `data.max_documents`, None for a split the cap did not cut: one whose recorded document
    count (`data.documents`: train, dev, test) is below its cap (a cap of 1000 on a 500-document dev). A split without
    a recorded count keeps its cap: nothing says it did not cut. None for rows recorded before the caps."""
    caps = data.get("max_documents")
    if not isinstance(caps, dict):
        return None
    documents = data.get("documents") if isinstance(data.get("documents"), dict) else {}
    counts = {"train": documents.get("train"), "validation": documents.get("dev"), "test": documents.get("test")}
    return {
        split: cap
        if not isinstance(cap, int) or not isinstance(counts.get(split), int) or counts[split] >= cap
        else None
        for split, cap in caps.items()
    }


def capped_splits(rows: list) -> str:
    """The document caps of `rows` that cut a split ("train 8, dev 3, test 3"; "... or ..." when they differ), from
    their `data.max_documents` and `cutting_caps` (rows recorded before the caps are not marked: their tables stay as
    generated)."""
    described = []
    for row in rows:
        caps = cutting_caps(row["data"]) if isinstance(row.get("data"), dict) else None
        if isinstance(caps, dict) and any(caps.values()):
            cut = [(split, caps.get(split)) for split in SPLITS if caps.get(split)]
            text = ", ".join(f"{'dev' if split == 'validation' else split} {cap}" for split, cap in cut)
            if text not in described:
                described.append(text)
    return " or ".join(described)


def serving_model(row: dict):
    """Which model a results/serving.jsonl row measured: its model_digest (rows written since the benchmarks record
    portable paths, which two models may share: runs/x/best_model of two checkouts), else its recorded path."""
    return row.get("model_digest") or row["model"]


def serving_measurement(row: dict) -> tuple:
    """The measurement a results/serving.jsonl row belongs to: (model, commit, threads, documents), one row per mode."""
    return serving_model(row), row["commit"], row["threads"], row["documents"]


def serving_label(model: str) -> str:
    """A serving-table line's model: its run folder's name for a run's best_model, else the folder's or Hub id's last
    part; a model recorded as the checkout's root (".", a model saved there) or as "best_model" alone reads as
    recorded ("." had no name, so an empty label)."""
    path = PurePosixPath(model.replace("\\", "/"))
    if path.name == "best_model" and path.parent.name:
        return path.parent.name
    if path.name:
        return path.name
    return "checkout root (.)" if path == PurePosixPath(".") else model


def serving_labels(rows: list) -> tuple:
    """({serving_model: label}, whether two models read alike) for the models of `rows`: `serving_label`, and where two
    models read alike (runs/x of two checkouts) the first 6 digits of each one's model_digest after it (of its recorded
    path's digest for rows before model_digest)."""
    from simmemre.experiment_simmemre import path_digest

    models = {serving_model(row): row for row in rows}
    labels = {model: serving_label(row["model"]) for model, row in models.items()}
    shared = collections.Counter(labels.values())
    for model, row in models.items():
        if shared[labels[model]] > 1:
            labels[model] += f" [{(row.get('model_digest') or path_digest(row['model']))[:6]}]"
    return labels, any(count > 1 for count in shared.values())


def serving_table(rows: list) -> str:
    """results/serving.jsonl (benchmarks/bench_serving.py): one line per measurement (model, commit, threads,
    documents), fp32 speed and F1, then each faster mode's speed-up and F1 change against fp32 of the same run."""
    groups = {}
    for row in rows:
        groups.setdefault(serving_measurement(row), {})[row["mode"]] = row
    lines = [
        "| model | threads | documents | fp32 docs/s | fp32 relation strict | bf16 speed-up | bf16 Δ relation / "
        "entity / mention | int8 speed-up | int8 Δ relation / entity / mention |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    labels, alike = serving_labels(rows)
    for (model, commit, threads, documents), modes in groups.items():
        name = labels[model]
        base = modes.get("fp32")
        if base is None:
            continue
        calibrated = [mode for mode, row in modes.items() if str(row.get("thresholds", "")).startswith("calibrated")]
        label = f"{name} ({commit})" + (
            f"; {', '.join(calibrated)} at thresholds calibrated under it" if calibrated else ""
        )
        cells = [
            label,
            str(threads),
            str(documents),
            f"{base['documents_per_second']:.2f}",
            f"{base['relation_strict_f1']:.2f}",
        ]
        for mode in ("bf16", "int8"):
            row = modes.get(mode)
            if row is None:
                cells += ["–", "–"]
                continue
            deltas = " / ".join(
                f"{row[f'delta_{level}_f1']:+.2f}" for level in ("relation_strict", "entity", "mention")
            )
            if "relation_agreement_with_fp32" in row:  # measured since bench_serving.py reports it
                deltas += f" ({100 * row['relation_agreement_with_fp32']:.0f} % same relations)"
            cells += [f"**{row['speedup']:.2f}x**", deltas]
        lines.append("| " + " | ".join(cells) + " |")
    return (
        "\n".join(lines)
        + "\n\nBC5CDR test documents; Δ in F1 points against fp32 of the same run; same relations: the strict "
        + "relations fp32 and the mode share, over those either predicts (Jaccard);"
        + (" [digits]: the start of the model_digest of models recorded alike;" if alike else "")
        + " target: >= 1.8x with |Δ relation| <= 0.5."
    )


def tables(dataset: str) -> str:
    rows = read_rows(dataset)
    if not results_file(dataset).is_file():  # (a mistyped --dataset or --results-dir read as a file without rows)
        recorded = sorted(path.stem for path in RESULTS_DIR.glob("*.jsonl"))
        raise SystemExit(f"{results_file(dataset)}: no such file (recorded datasets here: {recorded or 'none'})")
    if not rows:
        raise SystemExit(f"{results_file(dataset)}: no rows")
    if dataset == "serving":
        return serving_table(rows)
    if all(is_benchmark_row(row) for row in rows):  # (it printed nothing)
        raise SystemExit(
            f"{results_file(dataset)}: benchmark rows (benchmarks/*.py), which table does not print (it prints the "
            "runs `add` records, and results/serving.jsonl); read them as JSON Lines, or `check` them"
        )
    parts = []
    for thresholds in ("fixed", "calibrated"):
        if any(row.get("thresholds") == thresholds for row in rows):
            parts.append(
                f"Thresholds **{thresholds}** (test strict F1 in percent; dev = the selection metric):\n\n"
                + table(rows, thresholds)
            )
    return "\n\n".join(parts)


def seed_scores(rows: list, name: str, thresholds: str) -> dict:
    """{seed_key: row}: the latest row per seed (and data_seed) of model `name` at `thresholds`."""
    return {seed_key(row): row for row in rows if row["name"] == name and row.get("thresholds") == thresholds}


HEADLINE_MODELS = 7  # without a headline list: the models recorded last


def headline_names(dataset: str) -> list:
    """The models the README headlines for `dataset`, in order: RESULTS_DIR/headline.json (`{"cdr": [name, ...]}`,
    the shipped configs' models, chosen when a recipe ships), else [] (then `headline` shows the models recorded
    last). A listed name without rows stops the table: a renamed or mistyped model would silently drop out."""
    from simmemre.data_simmemre import parse_json

    path = RESULTS_DIR / "headline.json"
    if not path.is_file():
        return []
    try:
        listed = parse_json(path.read_text(encoding="utf-8")).get(dataset, [])
    except (OSError, ValueError, AttributeError) as error:
        raise SystemExit(f"{path}: not a JSON object of model-name lists ({error})") from None
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise SystemExit(f"{path}: {dataset!r} must be a list of model names")
    return listed


def headline(dataset: str) -> str:
    """One line per model, for the models of `headline_names` (else the `HEADLINE_MODELS` recorded last;
    docs/results.md lists every run): test F1 means over its latest run per seed, at calibrated thresholds where
    recorded. For "serving": the measurements of the model measured last, at its saved thresholds."""
    rows = read_rows(dataset)
    if not rows:
        raise SystemExit(f"{results_file(dataset)}: no rows")
    if dataset == "serving":  # the model measured last (the shipped one), at its own saved thresholds: what users get
        other_thresholds = {serving_measurement(row) for row in rows if row.get("thresholds") != "saved"}
        latest = serving_model(rows[-1])
        return serving_table(
            [row for row in rows if serving_model(row) == latest and serving_measurement(row) not in other_thresholds]
        )
    listed = headline_names(dataset)
    missing = [name for name in listed if not any(row["name"] == name for row in rows)]
    if missing:
        raise SystemExit(f"{RESULTS_DIR / 'headline.json'}: no rows in {results_file(dataset)} named {missing[0]!r}")
    recent = (
        listed
        or list(dict.fromkeys(row["name"] for row in rows if "earlier runs" not in row["name"]))[-HEADLINE_MODELS:]
    )
    rows = sorted((row for row in rows if row["name"] in recent), key=lambda row: recent.index(row["name"]))
    lines = [
        "| model | thresholds | seeds | dev rel. strict | test mention | test entity | **test relation strict** |",
        "|---|---|---|---|---|---|---|",
    ]
    for thresholds in ("calibrated", "fixed"):
        selected = [row for row in rows if row.get("thresholds") == thresholds]
        for name in dict.fromkeys(row["name"] for row in selected):
            if "earlier runs" in name or any(line.startswith(f"| {name} |") for line in lines):
                continue
            group = sorted(seed_scores(selected, name, thresholds).items(), key=lambda item: seed_order(item[0]))
            seeds = ", ".join(seed_label(key) for key, _ in group)
            group = [row for _, row in group]
            lines.append(
                f"| {name} | {thresholds} | {seeds} | "
                f"{mean_std([row['dev'].get('relation_strict_f1') for row in group])} | "
                f"{mean_std([row['test'].get('mention_f1') for row in group])} | "
                f"{mean_std([row['test'].get('entity_f1') for row in group])} | "
                f"**{mean_std([row['test'].get('relation_strict_f1') for row in group])}** |"
            )
    return "\n".join(lines)


def compare(rows: list, first: str, second: str, thresholds: str = "calibrated", effect: float = 0.9) -> str:
    """The text of `compare` (see the module docstring) for models `first` (a) and `second` (b)."""
    groups = [seed_scores(rows, name, thresholds) for name in (first, second)]
    for name, group in zip((first, second), groups):
        if not group:
            known = sorted({row["name"] for row in rows if row.get("thresholds") == thresholds})
            raise SystemExit(f"no {thresholds} rows named {name!r}; recorded: " + "; ".join(known))
    z_alpha, z_power = statistics.NormalDist().inv_cdf(0.95), statistics.NormalDist().inv_cdf(0.8)
    lines = [f"a = {first}", f"b = {second}", "", "| split | a: per seed | b: per seed | a mean | b mean | a - b | "
             "standard error | seeds per model for 80 % power |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    notes = []
    seeds = [set(group) for group in groups]
    if seeds[0] != seeds[1]:
        notes.append(
            f"the seeds differ (a: {seed_list(seeds[0])}, b: {seed_list(seeds[1])}): the comparison is unpaired"
        )
    for label, name in zip("ab", (first, second)):
        counts = collections.Counter(
            seed_key(row) for row in rows if row["name"] == name and row.get("thresholds") == thresholds
        )
        repeated = [key for key, count in counts.items() if count > 1]
        if repeated:
            notes.append(
                f"{label}: seed(s) {seed_list(repeated)} recorded more than once; the row recorded last is used"
            )
    for split in ("dev", "test"):
        values = []
        for label, group in zip("ab", groups):
            scored = {}
            for key, row in sorted(group.items(), key=lambda item: seed_order(item[0])):
                score = (row.get(split) or {}).get("relation_strict_f1")
                if score is None:  # a run without this split's scores (unfinished, or an early run)
                    notes.append(
                        f"{label}: seed {seed_label(key)} has no {split} score and is left out of the {split} line"
                    )
                else:
                    scored[seed_label(key)] = score
            values.append(scored)
        cells = [", ".join(f"{seed}: {value:.2f}" for seed, value in v.items()) or "–" for v in values]
        means = [statistics.mean(v.values()) if v else None for v in values]
        if None in means:
            lines.append(f"| {split} | {cells[0]} | {cells[1]} | – | – | – | – | – |")
            continue
        variances = [statistics.variance(v.values()) if len(v) > 1 else None for v in values]
        difference = means[0] - means[1]
        if None in variances:
            error = needed = "– (one seed)"
        else:
            error = f"{math.sqrt(variances[0] / len(values[0]) + variances[1] / len(values[1])):.2f}"
            pooled = (variances[0] + variances[1]) / 2
            needed = str(math.ceil(2 * (z_alpha + z_power) ** 2 * pooled / effect**2)) if pooled > 0 else "1"
        lines.append(
            f"| {split} | {cells[0]} | {cells[1]} | {means[0]:.2f} | {means[1]:.2f} | {difference:+.2f} | {error} | "
            f"{needed} |"
        )
    lines.append("")
    lines.append(f"(strict relation F1, {thresholds} thresholds; power for a true difference of {effect:g} points)")
    lines.extend(f"note: {note}" for note in notes)
    return "\n".join(lines)


def compare_command(args) -> int:
    print(compare(read_rows(args.dataset), args.a, args.b, args.thresholds, args.effect))
    return 0


def table_command(args) -> int:
    text = headline(args.dataset) if args.headline else tables(args.dataset)
    if not args.readme:
        print(text)
        return 0
    readme = Path(args.readme)
    with rewriting(readme):  # (docs/results.md holds several datasets' tables)
        return rewrite_section(args, readme, text)


def rewrite_section(args, readme: Path, text: str) -> int:
    from simmemre.data_simmemre import write_text_file

    try:
        content = readme.read_text(encoding="utf-8")
    except OSError as error:  # a mistyped --readme: the file is rewritten in place, never created
        raise SystemExit(f"--readme {readme}: cannot read it ({error.strerror or error})") from None
    marker = f"{args.dataset}-headline" if args.headline else args.dataset
    start, end = f"<!-- results:{marker}:start -->", f"<!-- results:{marker}:end -->"
    if start not in content or end not in content:
        raise SystemExit(f"{readme}: markers {start} / {end} not found")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    generated = (
        f"{start}\n<!-- generated by `.venv/bin/python scripts/results.py table --dataset {args.dataset} "
        f"{'--headline ' if args.headline else ''}--readme {args.readme}` from results/{args.dataset}.jsonl; "
        f"do not edit by hand -->\n\n{text}\n\n{end}"
    )
    if head + generated + tail == content:
        print(f"{readme}: results:{marker} table unchanged")
        return 0
    write_text_file(readme, head + generated + tail)
    print(f"{readme}: results:{marker} table rewritten")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser("add", help="record a finished run")
    add_parser.add_argument("run", help="the run's output_dir (all_results.json, best_model/, calibration.json)")
    add_parser.add_argument(
        "--dataset", type=dataset_name, required=True, help="results/<dataset>.jsonl, e.g. cdr or re-docred"
    )
    add_parser.add_argument("--name", required=True, help="the table row's model name")
    add_parser.add_argument("--seed", type=int, help="default: from the run's run_config.json")
    add_parser.add_argument("--commit", help="default: from the run's run_config.json")
    add_parser.add_argument("--device", help="where the run trained (default: from run_config.json)")
    add_parser.add_argument(
        "--calibration",
        help="record only a calibrated row, from this scripts/calibrate.py "
        "output (e.g. RUN_DIR/calibration_grid095.json) instead of RUN_DIR/calibration.json",
    )
    table_parser = commands.add_parser("table", help="print (or write into the README) the results tables")
    table_parser.add_argument("--dataset", type=dataset_name, required=True)
    table_parser.add_argument("--readme", help="rewrite this file's results:DATASET section (e.g. docs/results.md)")
    table_parser.add_argument(
        "--headline",
        action="store_true",
        help="only one mean line per model (the README's results:DATASET-headline section)",
    )
    check_parser = commands.add_parser(
        "check", help="check that the rows follow their schema (the rows add writes, or a benchmark's)"
    )
    check_parser.add_argument("--dataset", type=dataset_name, required=True)
    compare_parser = commands.add_parser("compare", help="two models side by side over their recorded seeds")
    compare_parser.add_argument("--dataset", type=dataset_name, required=True)
    compare_parser.add_argument("--a", required=True, help="the first model's name, as recorded")
    compare_parser.add_argument("--b", required=True, help="the second model's name, as recorded")
    compare_parser.add_argument("--thresholds", default="calibrated", choices=("calibrated", "fixed"))
    compare_parser.add_argument(
        "--effect", type=float, default=0.9, help="true difference for the power figure (default 0.9: the paper's "
        "memory over JEREX on CDR, 43.75 against 42.88)"
    )  # fmt: skip
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="folder of the <dataset>.jsonl files")
    # also after the command (it was refused there)
    for command in (add_parser, table_parser, compare_parser, check_parser):
        command.add_argument("--results-dir", default=argparse.SUPPRESS, help="folder of the <dataset>.jsonl files")
    return parser


def main(argv=None) -> int:
    global RESULTS_DIR
    args = build_parser().parse_args(argv)
    from simmemre.experiment_simmemre import escape_unencodable_stdout

    escape_unencodable_stdout()  # the tables' –, ± and Δ on a latin-1 or ASCII stdout: escaped, not a crash
    commands_by_name = {"add": add, "table": table_command, "compare": compare_command, "check": check_command}
    default, RESULTS_DIR = RESULTS_DIR, Path(args.results_dir)
    try:
        return commands_by_name[args.command](args)
    finally:  # for this call only: a later main() in the process (a notebook, the tests) read the earlier folder
        RESULTS_DIR = default


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors before the package's import (main parses again)
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
