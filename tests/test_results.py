"""scripts/results.py: runs recorded as rows of results/<dataset>.jsonl, README tables generated from them."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SCRIPTS, load_script

from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

REPO = Path(__file__).resolve().parent.parent


def fake_run(folder: Path, seed: int, test_f1: float, calibrated_f1=None, mode="sum"):
    results = {}
    for prefix, value in (("eval", test_f1 - 1), ("test", test_f1)):
        for level in LEVELS:
            for measure in ("precision", "recall", "f1"):
                results[f"{prefix}_{level}_{measure}"] = value
    calibration = None
    if calibrated_f1 is not None:
        for level in LEVELS:
            for measure in ("precision", "recall", "f1"):
                results[f"calibrated_test_{level}_{measure}"] = calibrated_f1
        calibration = {
            "thresholds": {"mention_threshold": 0.5, "coref_threshold": 0.7, "relation_threshold": 0.4},
            "fixed_thresholds": {"mention_threshold": 0.85, "coref_threshold": 0.85, "relation_threshold": 0.6},
            "scores": {f"{level}_f1": calibrated_f1 - 1 for level in LEVELS},
        }
    (folder / "best_model").mkdir(parents=True)
    (folder / "all_results.json").write_text(json.dumps(results))
    (folder / "run_config.json").write_text(json.dumps({"seed": seed, "commit": "abc123", "device": "cpu"}))
    (folder / "best_model" / "config.json").write_text(
        json.dumps(
            {
                "relation_classifier": "multi_instance",
                "use_entity_memory": True,
                "use_relation_memory": True,
                "memory_read_mode": mode,
                "mention_threshold": 0.85,
                "coref_threshold": 0.85,
                "relation_threshold": 0.6,
            }
        )
    )
    if calibration:
        (folder / "calibration.json").write_text(json.dumps(calibration))


@pytest.fixture(scope="module")
def results():
    return load_script(SCRIPTS / "results.py", "results_script")


@pytest.fixture
def run_script(results, capsys):
    """results.py's `main` in this process (a subprocess spends seconds importing torch for each call): its stdout."""

    def run(*args, tmp_path):
        assert results.main(["--results-dir", str(tmp_path / "results"), *args]) == 0
        return capsys.readouterr().out

    return run


def test_a_results_dir_given_once_is_not_the_next_calls_default(tmp_path, results, monkeypatch, capsys):
    """main() rebound the module's folder: a later call in the process read and wrote the earlier call's folder."""
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "default")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "cdr.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(SystemExit, match="other/cdr.jsonl: no rows"):
        results.main(["--results-dir", str(tmp_path / "other"), "table", "--dataset", "cdr"])
    with pytest.raises(SystemExit, match=r"default/cdr.jsonl: no such file \(recorded datasets here: none\)"):
        results.main(["table", "--dataset", "cdr"])
    with pytest.raises(SystemExit, match=r"other/cdr.jsonl: no rows"):  # the folder named after the command
        results.main(["table", "--dataset", "cdr", "--results-dir", str(tmp_path / "other")])
    with pytest.raises(SystemExit, match=r"other/cdx.jsonl: no such file \(recorded datasets here: \['cdr'\]\)"):
        results.main(["table", "--dataset", "cdx", "--results-dir", str(tmp_path / "other")])


@pytest.mark.integration
def test_add_records_fixed_and_calibrated_rows_with_their_thresholds(tmp_path):
    """The script run as a program; the other tests call its `main`."""
    fake_run(tmp_path / "run112", 112, 20.0, calibrated_f1=23.0)
    completed = subprocess.run(
        [sys.executable, "scripts/results.py", "--results-dir", str(tmp_path / "results"), "add"]
        + [str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert [row["thresholds"] for row in rows] == ["fixed", "calibrated"]
    fixed, calibrated = rows
    assert fixed["seed"] == 112 and fixed["commit"] == "abc123" and fixed["memory_read_mode"] == "sum"
    assert fixed["threshold_values"]["mention_threshold"] == 0.85 and fixed["test"]["relation_strict_f1"] == 20.0
    assert fixed["dev"]["relation_strict_f1"] == 19.0
    assert calibrated["threshold_values"]["mention_threshold"] == 0.5
    assert calibrated["test"]["relation_strict_f1"] == 23.0 and calibrated["dev"]["relation_strict_f1"] == 22.0


def test_a_row_records_the_corpus_the_documents_scored_the_encoder_and_the_environment(tmp_path, run_script):
    """Rows did not say what they were scored on: a dev cap or another encoder could not be told from the rows, nor
    the thread count or versions that decide the weights bit for bit."""
    fake_run(tmp_path / "run112", 112, 20.0, calibrated_f1=23.0)
    all_results = json.loads((tmp_path / "run112" / "all_results.json").read_text())
    all_results.update(eval_documents=100, test_documents=500)
    (tmp_path / "run112" / "all_results.json").write_text(json.dumps(all_results))
    calibration = json.loads((tmp_path / "run112" / "calibration.json").read_text())
    calibration["scores"]["documents"] = 100.0  # (the metric writes its counts as floats)
    (tmp_path / "run112" / "calibration.json").write_text(json.dumps(calibration))
    data = {"data_dir": "/data/bc5cdr", "format": "bc5cdr", "max_eval_documents": 100, "max_test_documents": None}
    environment = {"torch": "2.13.0", "threads": 2, "processes": 1}  # (train.py's run_environment)
    run_config = {"seed": 112, "commit": "abc123", "config": {"data": data, "encoder": {"path": "minilm"}}}
    run_config["environment"] = environment
    (tmp_path / "run112" / "run_config.json").write_text(json.dumps(run_config))
    model_config = json.loads((tmp_path / "run112" / "best_model" / "config.json").read_text())
    model_config["encoder_config"] = {"model_type": "bert", "num_hidden_layers": 6, "hidden_size": 384}
    (tmp_path / "run112" / "best_model" / "config.json").write_text(json.dumps(model_config))
    run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    fixed, calibrated = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    corpus = {"data_dir": "bc5cdr", "format": "bc5cdr", "max_eval_documents": 100}  # (outside a checkout: its name)
    encoder = {"path": "minilm", "model_type": "bert", "layers": 6, "hidden_size": 384}
    caps = {"train": None, "validation": 100, "test": None}  # (max_test_documents null: the test split whole)
    documents = {"dev": 100, "test": 500}
    assert fixed["data"] == {"corpus": corpus, "max_documents": caps, "documents": documents, "encoder": encoder}
    assert calibrated["data"] == fixed["data"]
    assert fixed["environment"] == calibrated["environment"] == environment
    run_config["config"]["encoder"] = "minilm"  # (a config may name the encoder alone)
    (tmp_path / "run112" / "run_config.json").write_text(json.dumps(run_config))
    run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert rows[-1]["data"]["encoder"]["path"] == "minilm"


def test_a_table_names_a_model_whose_seeds_were_scored_on_different_documents(tmp_path, run_script):
    """A mean over seeds scored on 100 and on 500 dev documents read as one model's spread."""
    described = lambda dev: {"corpus": {}, "documents": {"dev": dev, "test": 500}, "encoder": {}}  # noqa: E731
    rows = [row("a", 112, 20.0, 19.0), row("a", 113, 21.0, 18.0), row("b", 112, 18.0, 17.0), row("b", 113, 17.0, 16.0)]
    rows[0]["data"], rows[1]["data"] = described(100), described(500)
    rows[2]["data"] = rows[3]["data"] = described(100)
    for each in rows:
        each["threshold_values"] = {"mention_threshold": 0.85, "coref_threshold": 0.85, "relation_threshold": 0.6}
    # b's second seed was re-calibrated by calibrate.py, which names its corpus otherwise: the same corpus
    rows[3]["data"] = {**described(100), "corpus": {"data_dir": "../bc5cdr", "format": "bc5cdr", "splits": {}}}
    rows[2]["data"] = {**described(100), "corpus": {"data_dir": "/data/bc5cdr", "format": "bc5cdr"}}
    write_rows(tmp_path, rows)
    text = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    assert "Note: a's seeds were scored with different documents" in text
    assert "Note: b's" not in text


@pytest.mark.parametrize("recalibrated_name, noted", [(None, False), ("docred", True)])
def test_a_recalibrated_row_without_a_dataset_name_is_the_same_corpus(tmp_path, run_script, recalibrated_name, noted):
    """calibrate.py's row names no dataset_name; beside train.py's (dataset_name bc5cdr) the table said the seeds
    "were scored with different corpus"; a dataset_name that does differ is still noted."""
    corpus = {"data_dir": "../shared/data/bc5cdr", "format": "bc5cdr", "dataset_name": "bc5cdr"}
    described = lambda corpus: {"corpus": corpus, "documents": {"dev": 500, "test": 500}, "encoder": {}}  # noqa: E731
    rows = [row("a", 112, 20.0, 19.0), row("a", 113, 21.0, 18.0)]
    recalibrated = {"data_dir": "bc5cdr", "format": "bc5cdr", "splits": {"validation": "dev", "test": "test"}}
    if recalibrated_name:
        recalibrated["dataset_name"] = recalibrated_name
    rows[0]["data"], rows[1]["data"] = described(corpus), described(recalibrated)
    for each in rows:
        each["threshold_values"] = {"mention_threshold": 0.85, "coref_threshold": 0.85, "relation_threshold": 0.6}
    write_rows(tmp_path, rows)
    text = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    assert ("Note: a's seeds were scored with different corpus" in text) is noted


def test_two_adds_at_once_keep_both_runs_rows(tmp_path, results, monkeypatch, capsys):
    """Each add rewrote the file from what it had read: of two runs recorded at once, one's rows were lost."""
    import threading
    import time
    from types import SimpleNamespace

    for seed in (112, 113):
        fake_run(tmp_path / f"run{seed}", seed, 20.0)
    original, first_read = results.read_rows, threading.Event()

    def slow_read(dataset):  # the first add reads, then lingers before writing
        rows = original(dataset)
        first_read.set()
        time.sleep(0.5)
        return rows

    monkeypatch.setattr(results, "read_rows", slow_read)
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")  # (main() would reset it when the first ends)
    adds = [
        threading.Thread(
            target=results.add,
            args=(
                SimpleNamespace(
                    run=str(tmp_path / f"run{seed}"),
                    dataset="cdr",
                    name="memory",
                    seed=None,
                    commit=None,
                    device=None,
                    calibration=None,
                ),
            ),  # fmt: skip
        )
        for seed in (112, 113)
    ]
    adds[0].start()
    first_read.wait(timeout=30)
    adds[1].start()
    for add in adds:
        add.join(timeout=60)
    recorded = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert sorted(row["seed"] for row in recorded) == [112, 113]


def test_add_warns_about_a_dirty_or_missing_commit(tmp_path, results, capsys):
    """Rows of a run trained from uncommitted code were recorded without a word."""
    warnings = []
    for commit in ("abc123-dirty", None):
        fake_run(tmp_path / f"run-{commit}", 112, 20.0)
        run_config = tmp_path / f"run-{commit}" / "run_config.json"
        run_config.write_text(json.dumps({"seed": 112, "commit": commit, "device": "cpu"}))
        arguments = ["add", str(run_config.parent), "--dataset", "cdr", "--name", "memory"]
        assert results.main(["--results-dir", str(tmp_path / "results"), *arguments]) == 0
        warnings.append(capsys.readouterr().err)
    assert "abc123-dirty: the tracked files had local changes" in warnings[0]
    assert "no commit recorded in run_config.json" in warnings[1]
    (tmp_path / "run-None" / "run_config.json").unlink()  # a run of a version that wrote none: named as such
    arguments = ["add", str(tmp_path / "run-None"), "--dataset", "cdr", "--name", "memory", "--seed", "112"]
    assert results.main(["--results-dir", str(tmp_path / "results"), *arguments]) == 0
    assert "no commit recorded (the run has no run_config.json)" in capsys.readouterr().err


def test_adding_a_run_again_replaces_its_rows(tmp_path, run_script):
    fake_run(tmp_path / "run112", 112, 20.0)
    for _ in range(2):
        run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    assert len((tmp_path / "results" / "cdr.jsonl").read_text().splitlines()) == 1


def test_table_shows_each_seed_and_the_mean_and_rewrites_only_the_marked_section(tmp_path, run_script):
    for seed, value in ((112, 20.0), (113, 22.0)):
        fake_run(tmp_path / f"run{seed}", seed, value)
        run_script("add", str(tmp_path / f"run{seed}"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- results:cdr:start -->\nSTALE\n<!-- results:cdr:end -->\nafter\n")
    run_script("table", "--dataset", "cdr", "--readme", str(readme), tmp_path=tmp_path)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "STALE" not in text
    assert "**20.00**" in text and "**22.00**" in text and "21.00 ± 1.41" in text


def test_a_table_that_would_not_change_is_left_alone(tmp_path, run_script):
    """It said "table rewritten" (and rewrote the file) when nothing had changed."""
    fake_run(tmp_path / "run112", 112, 20.0)
    run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:cdr:start -->\n<!-- results:cdr:end -->\n")
    assert "table rewritten" in run_script("table", "--dataset", "cdr", "--readme", str(readme), tmp_path=tmp_path)
    os.utime(readme, (0, 0))
    output = run_script("table", "--dataset", "cdr", "--readme", str(readme), tmp_path=tmp_path)
    assert "results:cdr table unchanged" in output and readme.stat().st_mtime == 0


def test_a_rerun_of_a_seed_replaces_the_earlier_run_in_the_mean(tmp_path, run_script):
    for folder, seed, value in (("gpu112", 112, 18.0), ("run113", 113, 22.0), ("cpu112", 112, 20.0)):
        fake_run(tmp_path / folder, seed, value)
        run_script("add", str(tmp_path / folder), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    text = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    assert "21.00 ± 1.41" in text and "mean ± std (2)" in text  # 20 (the rerun) and 22, not 18
    lines = text.splitlines()
    replaced = next(i for i, line in enumerate(lines) if "112 (replaced by a rerun)" in line)
    assert "**18.00**" in lines[replaced] and "**20.00**" in lines[replaced + 1]


def record_models(tmp_path, run_script, models):
    for name, value in models:
        for seed in (112, 113):
            folder = tmp_path / f"{name}{seed}"
            fake_run(folder, seed, value, calibrated_f1=value + 1)
            run_script("add", str(folder), "--dataset", "cdr", "--name", name, tmp_path=tmp_path)


def test_the_headline_shows_the_models_listed_in_headline_json_in_their_order(tmp_path, run_script):
    """Without a list the headline showed the models recorded last, so screens recorded after the shipped models
    pushed their way into the README's table."""
    record_models(tmp_path, run_script, (("shipped", 20.0), ("baseline", 18.0), ("screen", 25.0)))
    (tmp_path / "results" / "headline.json").write_text(json.dumps({"cdr": ["shipped", "baseline"]}))
    lines = run_script("table", "--dataset", "cdr", "--headline", tmp_path=tmp_path).splitlines()
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == ["shipped", "baseline"]
    assert "| shipped | calibrated | 112, 113 |" in lines[2] and "**21.00 ± 0.00**" in lines[2]


def test_a_headline_name_without_rows_stops_the_table(tmp_path, run_script, results):
    """A renamed or mistyped model would otherwise drop out of the README's table without a word."""
    record_models(tmp_path, run_script, (("shipped", 20.0),))
    (tmp_path / "results" / "headline.json").write_text(json.dumps({"cdr": ["shipped", "shiped"]}))
    with pytest.raises(SystemExit, match=r"headline.json: no rows in .*cdr.jsonl named 'shiped'"):
        results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr", "--headline"])


def test_without_a_headline_list_the_headline_shows_the_models_recorded_last(tmp_path, run_script, results):
    names = [f"model{index}" for index in range(results.HEADLINE_MODELS + 1)]
    record_models(tmp_path, run_script, [(name, 20.0) for name in names])
    text = run_script("table", "--dataset", "cdr", "--headline", tmp_path=tmp_path)
    assert f"| {names[0]} |" not in text and all(f"| {name} |" in text for name in names[1:])


def test_a_recalibration_replaces_the_runs_own_calibrated_row_and_keeps_it_listed(tmp_path, run_script):
    for seed, calibrated in ((112, 23.0), (113, 25.0)):
        fake_run(tmp_path / f"run{seed}", seed, 20.0, calibrated_f1=calibrated)
        run_script("add", str(tmp_path / f"run{seed}"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    recalibration = tmp_path / "run112" / "calibration_wide.json"
    recalibration.write_text(
        json.dumps(
            {
                "thresholds": {"mention_threshold": 0.7, "coref_threshold": 0.7, "relation_threshold": 0.95},
                "scores": {f"{level}_f1": 24.0 for level in LEVELS},
                "test_scores": {**{f"{level}_f1": 21.0 for level in LEVELS}, "documents": 500.0},
                "dev_split": "validation",
                "corpus": {"data_dir": "/data/bc5cdr", "format": "bc5cdr", "test_split": "test", "max_documents": None},
                "grid": [
                    {"mention_threshold": 0.7, "coref_threshold": 0.7, "relation_threshold": r} for r in (0.2, 0.95)
                ],
            }
        )
    )
    for _ in range(2):  # recording the same re-calibration again replaces it
        run_script(
            "add",
            str(tmp_path / "run112"),
            "--dataset",
            "cdr",
            "--name",
            "memory",
            "--calibration",
            str(recalibration),
            tmp_path=tmp_path,
        )
    rows = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert [(row["seed"], row["thresholds"]) for row in rows] == [
        (112, "fixed"),
        (112, "calibrated"),
        (113, "fixed"),
        (113, "calibrated"),
        (112, "calibrated"),
    ]
    assert rows[-1]["relation_grid_top"] == 0.95 and rows[-1]["test"]["relation_strict_f1"] == 21.0
    assert rows[-1]["data"]["corpus"] == {
        "data_dir": "bc5cdr",  # (calibrate.py writes it absolute; outside a checkout, a row holds its name)
        "format": "bc5cdr",
        "splits": {"validation": "validation", "test": "test"},
    }
    assert rows[-1]["data"]["documents"] == {"dev": None, "test": 500}  # (its dev scores here hold no count)
    text = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    calibrated = text.split("Thresholds **calibrated**")[1]
    assert "23.00 ± 2.83" in calibrated  # 21 (the re-calibration) and 25, not 23 and 25
    assert "112 (replaced by a re-calibration)" in calibrated and "(r grid to 0.95)" in calibrated


def test_a_recalibration_file_without_test_scores_is_refused(tmp_path, results):
    fake_run(tmp_path / "run112", 112, 20.0)
    (tmp_path / "dev_only.json").write_text(json.dumps({"thresholds": {}, "scores": {}}))
    arguments = ["add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory"]
    with pytest.raises(SystemExit, match="dev_only.json: no test_scores"):
        results.main(
            ["--results-dir", str(tmp_path / "results"), *arguments, "--calibration", str(tmp_path / "dev_only.json")]
        )


def test_a_refused_calibration_is_marked_in_the_calibrated_table(tmp_path, run_script):
    """A calibration that kept the fixed thresholds (its best point unusable) sat in the "calibrated" table as if
    calibrated."""
    fake_run(tmp_path / "run112", 112, 20.0, calibrated_f1=20.0)
    calibration = json.loads((tmp_path / "run112" / "calibration.json").read_text())
    kept = {**calibration, "thresholds": calibration["fixed_thresholds"], "applied": False, "reason": "below 5.0"}
    (tmp_path / "run112" / "calibration.json").write_text(json.dumps(kept))
    run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    table = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    assert "(calibration refused: fixed kept)" in table.split("Thresholds **calibrated**")[1]
    assert "refused" not in table.split("Thresholds **calibrated**")[0]


def test_a_calibration_of_the_first_documents_only_is_refused(tmp_path, results):
    """calibrate.py --max-documents 4 (a check of the script) was recorded as the run's calibrated test row."""
    fake_run(tmp_path / "run112", 112, 20.0)
    report = {"thresholds": {}, "scores": {}, "test_scores": {}, "corpus": {"max_documents": 4}}
    (tmp_path / "cut.json").write_text(json.dumps(report))
    arguments = ["add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory"]
    with pytest.raises(SystemExit, match="on the first 4 documents of each split"):
        results.main(
            ["--results-dir", str(tmp_path / "results"), *arguments, "--calibration", str(tmp_path / "cut.json")]
        )


def test_a_calibration_stopped_before_it_rewrote_the_model_config_is_refused(tmp_path, results):
    """calibrate.py writes its report first: stopped before rewriting config.json, the report said "applied" while the
    model kept its old thresholds, and results.py recorded a calibrated row the model never had."""
    fake_run(tmp_path / "run112", 112, 20.0)
    model = str(tmp_path / "run112" / "best_model")
    report = {"model": model, "thresholds": {}, "scores": {}, "test_scores": {}, "config_updated": False}
    (tmp_path / "cut.json").write_text(json.dumps(report))
    arguments = ["add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory"]
    with pytest.raises(SystemExit, match="calibrate.py stopped before it wrote these thresholds"):
        results.main(
            ["--results-dir", str(tmp_path / "results"), *arguments, "--calibration", str(tmp_path / "cut.json")]
        )


def test_a_run_that_asked_for_calibration_but_holds_none_is_warned_about(tmp_path, results, capsys):
    """A run killed during its calibration was recorded with its fixed rows only, without a word."""
    fake_run(tmp_path / "run112", 112, 20.0)
    config = {"seed": 112, "commit": "abc123", "device": "cpu", "config": {"training": {"calibrate_thresholds": True}}}
    (tmp_path / "run112" / "run_config.json").write_text(json.dumps(config))
    arguments = ["add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory"]
    assert results.main(["--results-dir", str(tmp_path / "results"), *arguments]) == 0
    assert "asked for threshold calibration but holds no calibration.json" in capsys.readouterr().err


def test_compare_gives_the_difference_its_standard_error_and_the_seeds_needed(tmp_path, run_script):
    for name, values in (("memory", (20.0, 22.0)), ("jerex", (18.0, 19.0))):
        for seed, value in zip((112, 113), values):
            fake_run(tmp_path / f"{name}{seed}", seed, value)
            run_script("add", str(tmp_path / f"{name}{seed}"), "--dataset", "cdr", "--name", name, tmp_path=tmp_path)
    text = run_script(
        "compare", "--dataset", "cdr", "--a", "memory", "--b", "jerex", "--thresholds", "fixed", "--effect", "1",
        tmp_path=tmp_path,
    )  # fmt: skip
    test_line = next(line for line in text.splitlines() if line.startswith("| test |"))
    # means 21 and 18.5; variances 2 and 0.5: error sqrt(2/2 + 0.5/2); seeds 2 (1.645 + 0.842)^2 1.25 / 1^2 = 15.5
    assert "| 21.00 | 18.50 | +2.50 | 1.12 | 16 |" in test_line
    assert "112: 20.00, 113: 22.00" in test_line


def test_compare_names_the_recorded_models_when_one_is_unknown(tmp_path, results, run_script):
    fake_run(tmp_path / "run112", 112, 20.0)
    run_script("add", str(tmp_path / "run112"), "--dataset", "cdr", "--name", "memory", tmp_path=tmp_path)
    arguments = ["compare", "--dataset", "cdr", "--a", "memory", "--b", "jerex", "--thresholds", "fixed"]
    with pytest.raises(SystemExit, match="'jerex'.*memory"):
        results.main(["--results-dir", str(tmp_path / "results"), *arguments])


def test_the_serving_headline_shows_only_the_model_measured_last_at_its_saved_thresholds(tmp_path, run_script):
    rows = []
    for model, commit in (("runs/old/best_model", "abc1234"), ("runs/shipped/best_model", "abc1234")) + (
        ("runs/shipped/best_model", "def5678"),  # int8 at thresholds calibrated under it: not in the headline
    ):
        for mode, speed in (("fp32", 10.0), ("bf16", 12.0), ("int8", 15.0)):
            thresholds = "calibrated under int8 (r.json)" if commit == "def5678" and mode == "int8" else "saved"
            rows.append(
                {
                    "model": model, "commit": commit, "threads": 2, "documents": 500, "mode": mode,
                    "thresholds": thresholds, "documents_per_second": speed, "speedup": speed / 10.0,
                    "relation_strict_f1": 25.0,
                    **{f"delta_{level}_f1": 0.0 for level in ("relation_strict", "entity", "mention")},
                }
            )  # fmt: skip
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    full = run_script("table", "--dataset", "serving", tmp_path=tmp_path)
    headline = run_script("table", "--dataset", "serving", "--headline", tmp_path=tmp_path)
    assert "| old (abc1234) |" in full and "| shipped (abc1234) |" in full
    assert (
        "| old (abc1234) |" not in headline
        and "| shipped (abc1234) | 2 | 500 | 10.00 | 25.00 | **1.20x** |" in headline
    )
    assert "def5678" in full and "def5678" not in headline


def test_the_serving_table_says_which_modes_ran_at_thresholds_calibrated_under_them(tmp_path, run_script):
    rows = [
        {
            "model": "runs/shipped/best_model", "commit": "abc1234", "threads": 1, "documents": 100, "mode": mode,
            "thresholds": thresholds, "documents_per_second": 10.0, "speedup": 1.0, "relation_strict_f1": 25.0,
            **{f"delta_{level}_f1": 0.0 for level in ("relation_strict", "entity", "mention")},
        }
        for mode, thresholds in (("fp32", "saved"), ("int8", "calibrated under int8 (report.json)"))
    ]  # fmt: skip
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = run_script("table", "--dataset", "serving", tmp_path=tmp_path)
    assert "| shipped (abc1234); int8 at thresholds calibrated under it | 1 | 100 |" in table


def test_the_serving_table_shows_the_share_of_fp32_relations_a_mode_keeps_when_measured(tmp_path, run_script):
    rows = [
        {
            "model": "runs/shipped/best_model", "commit": "abc1234", "threads": 2, "documents": 500, "mode": mode,
            "thresholds": "saved", "documents_per_second": 10.0, "speedup": 1.0, "relation_strict_f1": 25.0,
            **{f"delta_{level}_f1": delta for level in ("relation_strict", "entity", "mention")}, **extra,
        }
        for mode, delta, extra in (
            ("fp32", 0.0, {"relation_agreement_with_fp32": 1.0}),
            ("bf16", -0.1, {"relation_agreement_with_fp32": 0.9816}),
            ("int8", -0.4, {}),  # measured before bench_serving.py reported it
        )
    ]  # fmt: skip
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = run_script("table", "--dataset", "serving", tmp_path=tmp_path)
    assert "| -0.10 / -0.10 / -0.10 (98 % same relations) |" in table
    assert "| -0.40 / -0.40 / -0.40 |" in table


def write_rows(tmp_path, rows):
    folder = tmp_path / "results"
    folder.mkdir(exist_ok=True)
    (folder / "cdr.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def row(name, seed, dev, test):
    scores = lambda value: {} if value is None else {"relation_strict_f1": value}  # noqa: E731
    return {"name": name, "seed": seed, "thresholds": "fixed", "threshold_values": {}, "dev": scores(dev),
            "test": scores(test)}  # fmt: skip


def test_compare_leaves_out_a_run_without_scores_and_says_so(tmp_path, run_script):
    """A row without dev scores (an early run, or an unfinished one) stopped compare with a KeyError."""
    write_rows(tmp_path, [row("a", 112, 20.0, 19.0), row("a", 113, None, 18.0), row("b", 112, 18.0, 17.0),
                          row("b", 113, 17.0, 16.0)])  # fmt: skip
    text = run_script("compare", "--dataset", "cdr", "--a", "a", "--b", "b", "--thresholds", "fixed", tmp_path=tmp_path)
    assert "| dev | 112: 20.00 | 112: 18.00, 113: 17.00 |" in text
    assert "note: a: seed 113 has no dev score and is left out of the dev line" in text


def test_compare_names_unmatched_seeds_and_seeds_recorded_twice(tmp_path, run_script):
    write_rows(tmp_path, [row("a", 112, 20.0, 19.0), row("a", 112, 21.0, 19.5), row("a", 113, 20.0, 18.0),
                          row("b", 113, 18.0, 17.0), row("b", 114, 17.0, 16.0)])  # fmt: skip
    text = run_script("compare", "--dataset", "cdr", "--a", "a", "--b", "b", "--thresholds", "fixed", tmp_path=tmp_path)
    assert "note: the seeds differ (a: [112, 113], b: [113, 114]): the comparison is unpaired" in text
    assert "note: a: seed(s) [112] recorded more than once; the row recorded last is used" in text
    assert "112: 21.00" in text


def test_a_mean_over_fewer_seeds_than_the_row_lists_says_how_many(results):
    """A dev mean over 2 of 3 seeds was labelled "mean ± std (3)"."""
    assert results.mean_std([1.0, None, 3.0]) == "2.00 ± 1.41 (2 of 3)"
    assert results.mean_std([1.0, 3.0]) == "2.00 ± 1.41"


GENERATED = re.compile(r"<!-- generated by `\.venv/bin/python (scripts/results\.py table [^`]*?) --readme (\S+)`")


def test_the_checked_in_tables_are_what_the_rows_generate(results, tmp_path, monkeypatch):
    """Every generated region of README.md and docs/*.md equals a regeneration from results/*.jsonl now."""
    root = SCRIPTS.parent
    commands = set()
    for document in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        commands.update(GENERATED.findall(document.read_text(encoding="utf-8")))
    assert len(commands) >= 5
    for _, target in commands:  # copies at the same relative paths: the regions name their file
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text((root / target).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for command, target in sorted(commands):
        arguments = command.split()[2:]  # after "scripts/results.py table"
        assert results.main(["--results-dir", str(root / "results"), "table", *arguments, "--readme", target]) == 0
    for command, target in commands:
        assert (tmp_path / target).read_text(encoding="utf-8") == (root / target).read_text(encoding="utf-8"), command


def test_rows_of_a_run_keep_the_switches_it_was_scored_with_after_a_recalibration(tmp_path, run_script):
    """calibrate.py --mention-string-propagation rewrote best_model/config.json; rows of the run's own scores added
    after it said propagation was on."""
    fake_run(tmp_path / "run", 112, 20.0)
    config_file = tmp_path / "run" / "best_model" / "config.json"
    config = json.loads(config_file.read_text())
    config["mention_string_propagation"] = True  # as calibrate.py left it
    config_file.write_text(json.dumps(config))
    report = {
        "model": str(tmp_path / "run" / "best_model"),
        "config_before": {"mention_string_propagation": False, "mention_threshold": 0.85},
        "mention_string_propagation": True,
        "thresholds": {"mention_threshold": 0.5, "coref_threshold": 0.7, "relation_threshold": 0.4},
        "scores": {f"{level}_f1": 24.0 for level in LEVELS},
        "test_scores": {f"{level}_f1": 22.0 for level in LEVELS},
    }
    (tmp_path / "run" / "calibration_propagation.json").write_text(json.dumps(report))
    run_script("add", str(tmp_path / "run"), "--dataset", "cdr", "--name", "m", tmp_path=tmp_path)
    calibration = str(tmp_path / "run" / "calibration_propagation.json")
    run_script("add", str(tmp_path / "run"), "--dataset", "cdr", "--name", "m+p", "--calibration", calibration,
               tmp_path=tmp_path)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert [(row["name"], row["recipe"]["mention_string_propagation"]) for row in rows] == [("m", False), ("m+p", True)]


def test_add_warns_about_a_run_that_stopped_before_it_completed(tmp_path, results, capsys):
    """The fixed-threshold run files are written before calibration and saving: a run stopped there was recorded as
    if it had finished."""
    fake_run(tmp_path / "run", 112, 20.0)
    (tmp_path / "run" / "run_config.json").write_text(json.dumps({"seed": 112, "commit": "abc123", "complete": False}))
    arguments = ["add", str(tmp_path / "run"), "--dataset", "cdr", "--name", "memory"]
    assert results.main(["--results-dir", str(tmp_path / "results"), *arguments]) == 0
    assert "the run stopped before it completed" in capsys.readouterr().err


def test_a_table_prints_on_a_latin_1_standard_output(results, monkeypatch):
    """The tables' – and ± ended in UnicodeEncodeError where stdout was not UTF-8 (PYTHONIOENCODING=latin-1)."""
    import io
    import sys

    latin_1 = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    monkeypatch.setattr(sys, "stdout", latin_1)
    assert results.main(["table", "--dataset", "cdr"]) == 0
    latin_1.flush()
    assert b"\\u2013" in latin_1.buffer.getvalue()  # (escaped, as the user can read it)


def data_seed_run(folder, seed, data_seed, value):
    """A fake run whose resolved config sets training.data_seed (None: unset)."""
    fake_run(folder, seed, value)
    training = {} if data_seed is None else {"data_seed": data_seed}
    run_config = {"seed": seed, "commit": "abc123", "device": "cpu", "config": {"training": training}}
    (folder / "run_config.json").write_text(json.dumps(run_config))


def test_runs_that_differ_only_in_data_seed_are_other_runs_not_reruns_of_their_seed(tmp_path, run_script):
    """A data_seed sweep (the model's start fixed, the negatives and document order varied) collapsed into its last
    run, the others listed as "replaced by a rerun"."""
    for data_seed, value in ((5, 20.0), (6, 22.0), (None, 24.0)):
        data_seed_run(tmp_path / f"run{data_seed}", 112, data_seed, value)
        run_script("add", str(tmp_path / f"run{data_seed}"), "--dataset", "cdr", "--name", "m", tmp_path=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]
    assert [row["data_seed"] for row in rows] == [5, 6, None]
    text = run_script("table", "--dataset", "cdr", tmp_path=tmp_path)
    lines = [line for line in text.splitlines() if line.startswith("| ")][1:]  # (after the header)
    assert [line.split(" | ")[1] for line in lines] == ["112", "112/5", "112/6", "mean ± std (3)"]
    assert "replaced" not in text and "22.00 ± 2.00" in text


def test_the_headline_and_compare_list_a_runs_data_seed_beside_its_seed(tmp_path, run_script):
    for data_seed, value in ((5, 20.0), (6, 22.0)):
        for name in ("a", "b"):
            data_seed_run(tmp_path / f"{name}{data_seed}", 112, data_seed, value)
            run_script("add", str(tmp_path / f"{name}{data_seed}"), "--dataset", "cdr", "--name", name,
                       tmp_path=tmp_path)  # fmt: skip
    assert "| a | fixed | 112/5, 112/6 | " in run_script("table", "--dataset", "cdr", "--headline", tmp_path=tmp_path)
    text = run_script("compare", "--dataset", "cdr", "--a", "a", "--b", "b", "--thresholds", "fixed", tmp_path=tmp_path)
    assert "| test | 112/5: 20.00, 112/6: 22.00 | 112/5: 20.00, 112/6: 22.00 | 21.00 | 21.00 | +0.00 |" in text


def test_a_data_seed_equal_to_the_seed_is_that_seeds_run(results):
    """The negatives and the document order come from the seed when data_seed is unset: the same draws."""
    assert results.seed_key({"seed": 112, "data_seed": 112}) == results.seed_key({"seed": 112}) == (112, None)
    assert results.seed_label(results.seed_key({"seed": 112, "data_seed": 5})) == "112/5"
