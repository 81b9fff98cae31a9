"""The command-line scripts that run a saved model (predict, score, push_to_hub), each run as a subprocess."""

import json
import os
import subprocess
import sys

import pytest
import torch
from helpers import (
    BENCHMARKS,
    LOW,
    SCRIPT_ENV,
    SCRIPTS,
    assert_same_predictions,
    load_script,
    mentions_of,
    tiny_config,
)

from simmemre import SimMemREModel
from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS


@pytest.mark.integration
def test_predict_script_reads_text_files_jsonl_and_stdin(hub_folder, pipe, tmp_path):
    text_file = tmp_path / "note.txt"
    text_file.write_bytes("Aspirin causes ulcers.\r\nIbuprofen induced headache.\n".encode())
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "text": "No nausea was seen after naproxen", "entities": []})
        + "\n\n"
        + json.dumps({"id": "b", "text": ""})
        + "\n",
        encoding="utf-8",
    )
    thresholds = ["--mention-threshold", "0", "--coref-threshold", "0.5", "--relation-threshold", "0"]
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "predict.py"),
            "--model",
            str(hub_folder),
            str(text_file),
            str(jsonl),
            "-",
            *thresholds,
        ],
        input="x",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=SCRIPT_ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("id") for line in lines] == ["note.txt", "a", "b", "stdin"]
    assert lines[0]["text"] == "Aspirin causes ulcers.\r\nIbuprofen induced headache.\n"  # byte-exact, \r\n kept
    expected = pipe([lines[0]["text"], {"id": "a", "text": "No nausea was seen after naproxen"}, "", "x"], **LOW)
    assert_same_predictions(
        [{**line, "id": None} for line in lines], [{**e, "id": None} for e in expected], tolerance=1e-6
    )


@pytest.mark.integration
def test_predict_script_writes_output_file_and_html(hub_folder, tmp_path):
    text_file = tmp_path / "in.txt"
    text_file.write_text("Aspirin causes ulcers. Ibuprofen induced <b>headache</b> & nausea.", encoding="utf-8")
    out, page = tmp_path / "pred.jsonl", tmp_path / "pred.html"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "predict.py"),
            "--model",
            str(hub_folder),
            str(text_file),
            "--output",
            str(out),
            "--html",
            str(page),
            "--mention-threshold",
            "0",
            "--coref-threshold",
            "0.5",
            "--relation-threshold",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=SCRIPT_ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (prediction,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    html_text = page.read_text(encoding="utf-8")
    assert html_text.startswith("<!DOCTYPE html>") and "&lt;b&gt;" in html_text and "<b>headache</b>" not in html_text
    assert html_text.count('class="tag"') == len(mentions_of(prediction))
    assert "— <b><bdi>CID</bdi></b> →" in html_text
    assert "<title>SimMemRE predictions — simmemre-tiny</title>" in html_text


@pytest.mark.integration
def test_score_script_prints_the_strict_metric(hub_folder, tmp_path):
    gold = [
        {
            "id": "g1",
            "text": "Aspirin causes ulcers.",
            "entities": [
                {"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
                {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
            ],
            "relations": [{"head": 0, "tail": 1, "type": "CID"}],
        },
        {"text": "x", "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 1}]}], "relations": []},
    ]
    data = tmp_path / "split.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in gold), encoding="utf-8")
    common = [
        sys.executable,
        str(SCRIPTS / "score.py"),
        "--model",
        str(hub_folder),
        "--data",
        str(data),
        "--mention-threshold",
        "0",
        "--coref-threshold",
        "1",
    ]
    result = subprocess.run(
        common + ["--json"], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=SCRIPT_ENV
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["documents"] == 2
    # every one-to-ten-word span is predicted, so every gold mention is found: mention recall 100
    assert scores["mention_recall"] == 100.0 and 0 < scores["mention_precision"] < 100
    assert set(scores) >= {f"{level}_f1" for level in LEVELS}


def test_predict_help_says_what_an_input_is_and_shows_the_batch_size_default():
    help_text = " ".join(load_script(SCRIPTS / "predict.py", "predict_script").build_parser().format_help().split())
    assert "a text file (one document: the whole file" in help_text and "With no INPUT, stdin is read" in help_text
    assert "--model runs/cdr_minilm_memory/best_model abstract.txt" in help_text and "out/simmemre" not in help_text
    assert "documents per forward pass (default: 4)" in help_text


def test_score_table_shows_the_comparison_levels_and_the_thresholds_used(hub_folder, tmp_path, capsys):
    from helpers import GOLD_DOCUMENT

    data = tmp_path / "gold.jsonl"
    data.write_text(json.dumps(GOLD_DOCUMENT) + "\n", encoding="utf-8")
    score = load_script(SCRIPTS / "score.py", "score_script")
    assert score.main(["--model", str(hub_folder), "--data", str(data), "--mention-threshold", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[-5:]] == [
        "relation_strict",
        "relation_seq2rel",
        "relation_relaxed",
        "documents:",
        "thresholds:",
    ]
    config = json.loads((hub_folder / "config.json").read_text())
    assert lines[-1] == (
        f"thresholds: mention 0.5, coref {config['coref_threshold']:g}, relation {config['relation_threshold']:g}, "
        f"entity {config['entity_threshold']:g}"
    )
    # with --given only the thresholds that still apply: gold input is never dropped, a given stage has none
    from simmemre import SimMemREConfig
    from simmemre.training_simmemre import GIVEN_LEVELS

    assert set(score.GIVEN_THRESHOLDS) == set(GIVEN_LEVELS)
    args = score.build_parser().parse_args(["--model", "m", "--data", "d", "--given", "clusters"])
    assert score.thresholds_used(SimMemREConfig(relation_threshold=0.4), args) == {"relation_threshold": 0.4}


@pytest.mark.integration
def test_push_script_refuses_an_incomplete_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "push_to_hub.py"), str(tmp_path), "me/x", "--token", "hf_fake"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert result.returncode != 0
    assert "missing modeling_simmemre.py" in result.stderr and "custom_pipelines" in result.stderr
    assert "missing a tokenizer vocabulary" in result.stderr  # tokenizer_config.json alone does not load


@pytest.mark.integration
def test_score_script_scores_saved_predictions_per_type(tmp_path):
    gold = [
        {
            "id": "d1",
            "text": "A and B and C.",
            "entities": [
                {"type": "T", "mentions": [{"start": 0, "end": 1}]},
                {"type": "T", "mentions": [{"start": 6, "end": 7}]},
                {"type": "T", "mentions": [{"start": 12, "end": 13}]},
            ],
            "relations": [
                {"head": 0, "tail": 1, "type": "likes"},
                {"head": 1, "tail": 2, "type": "likes"},
                {"head": 0, "tail": 2, "type": "knows"},
            ],
        },
    ]
    predicted = [{**gold[0], "relations": [gold[0]["relations"][0], {"head": 2, "tail": 0, "type": "knows"}]}]
    (tmp_path / "gold.jsonl").write_text(json.dumps(gold[0]) + "\n", encoding="utf-8")
    (tmp_path / "pred.jsonl").write_text(json.dumps(predicted[0]) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "score.py"),
            "--from-predictions",
            str(tmp_path / "pred.jsonl"),
            "--data",
            str(tmp_path / "gold.jsonl"),
            "--per-type",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=SCRIPT_ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    assert rows["likes"] == ["100.00", "50.00", "66.67", "2"]  # one of two gold "likes" found, nothing wrong
    assert rows["knows"] == ["0.00", "0.00", "0.00", "1"]  # predicted in the wrong direction
    assert rows["relation_strict"][-1] == "40.00"  # micro F1 over both types: tp 1, fp 1, fn 2
    assert result.stdout.index("likes") < result.stdout.index("knows")  # ranked by support


def _memory_read_stats(folder, tmp_path, *extra):
    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip(f"BC5CDR not found at {data}")
    return subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "memory_read_stats.py"),
            str(folder),
            "--data-dir",
            str(data),
            "--format",
            "bc5cdr",
            "--max-documents",
            "2",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=SCRIPT_ENV,
    )


@pytest.mark.integration
def test_memory_read_stats_reports_uniform_attention_as_peak_one(tokenizer, processor, tmp_path):
    """Zero read weights give equal scores, so every read's attention is uniform: a·N/K is exactly 1 at its peak, the
    largest weight is 1/N of the slots, and a "sum" read scales every row by 1 + (K_E + K_R)/N."""
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, memory_read_mode="sum"))
    for read in (model.token_memory_read, model.span_memory_read):
        for reader in read.readers.values():
            torch.nn.init.zeros_(reader.weight)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    result = _memory_read_stats(tmp_path / "model", tmp_path, "--output", str(tmp_path / "stats.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "stats.json").read_text())
    assert report["documents"] == 2 and set(report["reads"]) == {"tokens", "spans"}
    slots = {"entity": 2, "relation": 1}
    for position, entry in report["reads"].items():
        assert entry["documents"] == 2
        for name, count in slots.items():
            assert entry[name]["peak"] == pytest.approx(1.0, abs=1e-4)
            assert entry[name]["top_share"] == pytest.approx(1 / entry["positions_median"], rel=0.5)
        assert entry["max_scale"] == pytest.approx(1 + 3 / entry["positions_median"], rel=0.5)
    assert set(report["scores_reads_off"]) == set(report["scores_reads_on"])
    assert "peak a·N/K" in result.stdout


@pytest.mark.integration
def test_memory_read_stats_reports_no_change_for_a_residual_read_at_initialisation(tokenizer, processor, tmp_path):
    """The residual read's output projections start at zero, so every row read is unchanged (relative change 0) and
    the scores with the reads on equal those with the reads off."""
    torch.manual_seed(0)
    SimMemREModel(tiny_config(tokenizer, memory_read_mode="residual")).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    result = _memory_read_stats(tmp_path / "model", tmp_path, "--output", str(tmp_path / "stats.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "stats.json").read_text())
    assert set(report["reads"]) == {"tokens", "spans"}
    for entry in report["reads"].values():
        assert entry["rows"] > 0 and entry["change_mean"] == 0.0 and entry["change_max"] == 0.0
    assert report["scores_reads_on"] == report["scores_reads_off"]


@pytest.mark.integration
def test_memory_read_stats_refuses_a_model_without_memory_reads(tokenizer, processor, tmp_path):
    SimMemREModel(tiny_config(tokenizer, jerex_baseline=True)).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    result = _memory_read_stats(tmp_path / "model", tmp_path)
    assert result.returncode != 0
    assert "no memory reads to measure" in result.stderr and "Traceback" not in result.stderr


def test_calibration_holdout_scores_each_half_s_choice_on_the_other_half():
    holdout = load_script(BENCHMARKS / "calibration_holdout.py")
    fixed = {"mention_threshold": 0.85, "coref_threshold": 0.85, "relation_threshold": 0.6, "entity_threshold": 0.0}

    def entry(entity_threshold, strict, relation_threshold=0.5):
        point = {**fixed, "relation_threshold": relation_threshold, "entity_threshold": entity_threshold}
        return {**point, "relation_strict_f1": strict, "entity_f1": 50.0}

    # An entity threshold of 0.99 wins on each half by chance and loses on the other; 0.95 holds on both.
    searches = {
        "even": [entry(0.0, 20.0), entry(0.95, 22.0), entry(0.99, 25.0, 0.4), entry(0.99, 18.0)],
        "odd": [entry(0.0, 20.0), entry(0.95, 22.0), entry(0.99, 18.0, 0.4), entry(0.99, 25.0)],
    }
    report = holdout.holdout(searches, fixed)
    default = report["default grid (mention x coreference x relation x entity)"]
    assert [f["thresholds"]["entity_threshold"] for f in default["folds"]] == [0.99, 0.99]
    assert (default["mean_chosen"], default["mean_held_out"]) == (25.0, 18.0)
    coarse = report["entity threshold 0 or 0.95"]
    assert (coarse["mean_chosen"], coarse["mean_held_out"]) == (22.0, 22.0)
    assert report["no entity threshold (entity 0)"]["mean_held_out"] == 20.0


def test_coref_errors_sorts_each_gold_entity_into_recovered_split_or_merged():
    coref_errors = load_script(BENCHMARKS / "coref_errors.py")
    text = "puromycin aminonucleoside (PAN) and PAN gave nephrosis; nephrotic injury and toxin toxin"
    spans = {"puro": (0, 25), "PAN1": (27, 30), "PAN2": (36, 39), "neph": (45, 54), "inj": (56, 71), "t1": (76, 81)}
    spans["t2"] = (82, 87)

    def entity(kind, *names):
        return {"type": kind, "mentions": [{"start": spans[n][0], "end": spans[n][1]} for n in names]}

    gold = [
        entity("Chemical", "puro", "PAN1", "PAN2"),
        entity("Disease", "neph", "inj"),
        entity("Chemical", "t1", "t2"),
    ]
    predicted = [
        entity("Chemical", "puro"),  # split from its short forms by an abbreviation
        entity("Chemical", "PAN1", "PAN2", "neph"),  # ... and merged with a disease mention
        entity("Disease", "inj"),  # the disease split into differently written pieces
        entity("Chemical", "t1", "t2"),  # recovered
    ]
    pairs = {("puromycin aminonucleoside", "pan")}
    kinds = coref_errors.classify_document(gold, predicted, text, pairs)
    assert kinds == [("split_and_merged", "abbreviation"), ("split_and_merged", "synonym"), ("recovered", None)]
    one_cluster_two_strings = [entity("Chemical", "t1"), entity("Chemical", "t2")]
    assert coref_errors.classify_document([gold[2]], one_cluster_two_strings, text, set()) == [("split", "same_string")]
    merged = [entity("Chemical", "t1", "t2", "puro")]
    assert coref_errors.classify_document([gold[2], gold[0]], merged, text, set())[0] == ("merged_same_type", None)
    merged_other = [entity("Chemical", "t1", "t2", "neph")]
    assert coref_errors.classify_document([gold[2], gold[1]], merged_other, text, set())[0] == (
        "merged_other_type",
        None,
    )
    incomplete = [entity("Chemical", "t1")]
    assert coref_errors.classify_document([gold[2]], incomplete, text, set()) == [("missing_mentions", None)]
    with_extra = [entity("Chemical", "t1", "t2", "puro")]
    assert coref_errors.classify_document([gold[2]], with_extra, text, set()) == [("extra_spans", None)]
    nothing_found = [entity("Chemical", "puro")]
    assert coref_errors.classify_document([gold[2]], nothing_found, text, set()) == []


def test_ctrl_c_ends_a_script_with_one_line_and_status_130(capsys):
    """Ctrl-C printed a page of traceback (62 lines for train.py)."""
    from simmemre.experiment_simmemre import run_script

    def interrupted():
        raise KeyboardInterrupt

    assert run_script(interrupted) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert run_script(lambda: 0) == 0


PRINTS_A_LINE = (
    "import sys\nfrom simmemre.experiment_simmemre import run_script\n"
    "sys.exit(run_script(lambda: print('one line') or 0))\n"
)
PRINTS_A_LOT = (
    "import sys\nfrom simmemre.experiment_simmemre import run_script\n"
    "def main():\n    for _ in range(20000):\n        print('x' * 100)\n    return 0\n"
    "sys.exit(run_script(main))\n"
)


@pytest.mark.integration
def test_a_reader_that_stops_early_ends_a_script_quietly_with_status_141():
    """`predict.py ... | head -n 1` ended in a BrokenPipeError traceback, and Python's exit flush complained again."""
    process = subprocess.Popen([sys.executable, "-c", PRINTS_A_LOT], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline() == b"x" * 100 + b"\n"
    process.stdout.close()  # as head does after its line
    assert process.wait(timeout=120) == 141 and process.stderr.read() == b""


@pytest.mark.integration
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_standard_output_ends_a_script_with_one_line():
    """`> /dev/full` (a full disk) ended in a page of traceback."""
    with open("/dev/full", "wb") as full:
        completed = subprocess.run(
            [sys.executable, "-c", PRINTS_A_LOT], stdout=full, stderr=subprocess.PIPE, timeout=120
        )
    assert completed.returncode == 1
    assert completed.stderr.decode().splitlines() == ["No space left on device"]


def test_a_broken_pipe_that_is_not_standard_output_is_not_hidden():
    from simmemre.experiment_simmemre import run_script

    def worker_pipe_broke():
        raise BrokenPipeError("a worker's pipe")

    with pytest.raises(BrokenPipeError):
        run_script(worker_pipe_broke)


@pytest.mark.parametrize("rank, printed", [("0", True), ("1", False)])
def test_a_loss_curve_report_is_printed_by_the_first_process_only(monkeypatch, capsys, rank, printed):
    """Under torchrun every process printed the whole JSON report and its verdict."""
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    report = {"loss_start": 2.0, "loss_end": 1.0, "steps": 3, "steps_per_second": 1.5}
    monkeypatch.setattr(train_script, "loss_curve_report", lambda *args, **kwargs: report)
    monkeypatch.setenv("RANK", rank)
    options = dict(train_script.LOSS_CURVE_OPTIONS, **{"--loss-curve": 3})
    assert train_script.check_loss_curve({}, options) == 0  # the verdict holds on every process
    assert ('"loss_start"' in capsys.readouterr().out) == printed


def test_a_loss_curve_logged_once_is_not_judged(capsys):
    """`--loss-curve 16` logged one point (every 10 steps), compared it with itself and said DOES NOT FALL."""
    from simmemre.experiment_simmemre import loss_falls

    report = {"loss_start": 2.0, "loss_end": 2.0, "steps": 16, "steps_per_second": 1.5, "logged_points": 1}
    assert loss_falls(report) is False
    assert "loss logged 1 time(s) in 16 steps: too few to tell" in capsys.readouterr().err


def test_calibrate_names_settings_the_folders_own_older_code_does_not_know(tmp_path, capsys):
    """calibrate.py wrote --relation-argument-types into a folder saved before the setting existed: loaded alone with
    its own code, the folder ignored it, with only the generic "code differs" warning."""
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "configuration_simmemre.py").write_text("mention_threshold = 0.85  # an older version's settings\n")
    calibrate.update_saved_config(str(tmp_path), {"mention_threshold": 0.3, "relation_argument_types": {"CID": []}})
    err = capsys.readouterr().err
    assert "does not know relation_argument_types:" in err and "mention_threshold" not in err.split("does not know")[1]
    assert json.loads((tmp_path / "config.json").read_text())["mention_threshold"] == 0.3


def test_train_script_says_that_the_config_file_comes_first(capsys):
    """`train.py --config x.yaml` read "--config" as the config file: "--config: cannot read the config file"."""
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    assert train_script.main(["--config", "x.yaml"]) == 2
    assert "usage: train.py CONFIG [--section.key value ...]: the config file comes first, not --config" in (
        capsys.readouterr().err
    )


def test_train_script_without_arguments_prints_its_usage_to_standard_error(capsys):
    """The 7 KB docstring went to standard output with status 2; --help keeps it on standard output with status 0."""
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    assert train_script.main([]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and "python scripts/train.py CONFIG" in printed.err
    assert train_script.main(["--help"]) == 0 and "python scripts/train.py CONFIG" in capsys.readouterr().out


@pytest.mark.parametrize("rank, printed", [("0", True), ("1", False)])
def test_a_diverged_run_is_named_once_per_launch(monkeypatch, capsys, rank, printed):
    """Under torchrun every process printed the error (each stops at the same step)."""
    from simmemre.training_simmemre import TrainingDivergedError

    train_script = load_script(SCRIPTS / "train.py", "train_script")
    monkeypatch.setenv("RANK", rank)
    assert train_script.report_divergence(TrainingDivergedError("training diverged: ...")) == 1
    assert ("error: training diverged" in capsys.readouterr().err) == printed


def test_predict_in_a_log_file_writes_no_loading_bar(hub_folder, tmp_path, capsys):
    """--no-progress (and a log file) still had transformers' "Loading weights" bar frames in it."""
    import io

    from transformers.utils import logging as transformers_logging

    predict = load_script(SCRIPTS / "predict.py", "predict_script")
    transformers_logging.enable_progress_bar()
    try:
        assert predict.main(["--model", str(hub_folder), "-"], stdin=io.StringIO("Aspirin."), stdout=io.StringIO()) == 0
        assert "Loading weights" not in capsys.readouterr().err
    finally:
        transformers_logging.enable_progress_bar()


@pytest.mark.integration
def test_json_lines_on_stdin_are_predicted_as_they_arrive(hub_folder):
    import select

    """Stdin was read to its end first: `producer | predict.py -` answered nothing until the producer finished."""
    command = [sys.executable, str(SCRIPTS / "predict.py"), "--model", str(hub_folder), "--batch-size", "1", "-"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=SCRIPT_ENV)  # fmt: skip
    try:
        process.stdin.write(b'{"id": "first", "text": "Aspirin."}\n')
        process.stdin.flush()
        readable, _, _ = select.select([process.stdout], [], [], 120)  # (a failure, not a hang, when it waits)
        assert readable, "no prediction while standard input stays open"
        assert json.loads(process.stdout.readline())["id"] == "first"
        process.stdin.write(b'{"id": "second", "text": "Ulcers."}\n')
        process.stdin.close()
        assert json.loads(process.stdout.readline())["id"] == "second" and process.wait(timeout=120) == 0
    finally:
        process.kill()


def test_standard_input_given_twice_is_refused():
    from simmemre.streaming_simmemre import check_inputs

    with pytest.raises(SystemExit, match="standard input"):
        check_inputs(["-", "a.txt", "-"])


@pytest.mark.integration
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_short_output_that_fails_at_the_last_flush_ends_with_one_line():
    """A short output (score.py --json) failed only in Python's exit flush: "Exception ignored ..." and status 120."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    with open("/dev/full", "wb") as full:
        completed = subprocess.run([sys.executable, "-c", PRINTS_A_LINE], stdout=full, stderr=subprocess.PIPE,
                                   env=environment, timeout=120)  # fmt: skip
    assert (completed.returncode, completed.stderr.decode()) == (1, "No space left on device\n")


@pytest.mark.integration
def test_predict_refuses_a_page_or_shards_with_a_pipe_output_before_the_model_loads(tmp_path):
    """--html read the output back: from a pipe, whose reader had its lines, the run hung."""
    predict = load_script(SCRIPTS / "predict.py", "predict_script")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for extra in (["--html", str(tmp_path / "page.html")], ["--shard", "0/2"]):
        with pytest.raises(SystemExit, match="not a regular file; --resume, sharding and --html need one"):
            predict.main(["--model", "no-such-model", "-", "-o", str(fifo), *extra])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
