"""How the benchmarks' results rows (results/serving.jsonl, cdr-stages.jsonl, ...) name the model they measured: by the
rule scripts/results.py records runs by (experiment_simmemre.portable_path: relative to the project's checkout, else
by name with a note), with a digest of its absolute path; and how the serving table tells recorded models apart."""

import json

import pytest
from helpers import SCRIPTS, load_script

from simmemre.experiment_simmemre import OUTSIDE_CHECKOUT_NOTE, path_digest, recorded_model


def checkout(folder):
    """A checkout of the project: `.git` beside configuration_simmemre.py."""
    (folder / ".git").mkdir(parents=True)
    (folder / "configuration_simmemre.py").write_text("")
    return folder


def model_folder(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_a_model_inside_a_checkout_is_recorded_relative_to_its_root(tmp_path):
    """Rows held /work/frozen_g/runs/main_bf16_seed112/best_model, which names nothing on another machine."""
    model = model_folder(checkout(tmp_path / "clone") / "runs" / "main_seed112" / "best_model")
    notes = {}
    assert recorded_model(str(model), notes) == {
        "model": "runs/main_seed112/best_model",
        "model_digest": path_digest(model.resolve()),
    }
    assert notes == {}


def test_a_relative_model_folder_is_resolved_before_it_is_recorded(tmp_path, monkeypatch):
    """../runs/x/best_model from the benchmarks folder names the same folder as runs/x/best_model from the root."""
    root = checkout(tmp_path / "clone")
    model_folder(root / "runs" / "x" / "best_model")
    (root / "benchmarks").mkdir()
    monkeypatch.chdir(root / "benchmarks")
    assert recorded_model("../runs/x/best_model", {})["model"] == "runs/x/best_model"


def test_a_best_model_outside_any_checkout_keeps_its_run_folders_name(tmp_path):
    """best_model alone names no run: the run folder's name stays with it, as the serving table's label reads it."""
    notes = {}
    fields = recorded_model(str(model_folder(tmp_path / "frozen" / "runs" / "main_seed112" / "best_model")), notes)
    assert fields["model"] == "main_seed112/best_model" and len(fields["model_digest"]) == 16
    assert notes == {"model": "outside any checkout of the project when recorded: its last 2 parts only"}
    notes = {}
    assert recorded_model(str(model_folder(tmp_path / "hub" / "simmemre-tiny")), notes)["model"] == "simmemre-tiny"
    assert notes == {"model": OUTSIDE_CHECKOUT_NOTE}


def test_a_hub_id_is_recorded_as_given():
    notes = {}
    assert recorded_model("me/simmemre-tiny", notes) == {"model": "me/simmemre-tiny"} and notes == {}


def serving_rows(model, digest, docs_per_second):
    rows = []
    for mode in ("fp32", "bf16", "int8"):
        row = {"name": f"x, serving {mode}", "seed": 112, "thresholds": "saved", "threshold_values": {}, "test": {}}
        row.update(model=model, commit="abc1234", mode=mode, documents=500, threads=2, speedup=1.0)
        row.update(documents_per_second=docs_per_second, relation_strict_f1=20.0, entity_f1=50.0, mention_f1=80.0)
        row.update({f"delta_{level}_f1": 0.0 for level in ("relation_strict", "entity", "mention")})
        if digest is not None:
            row["model_digest"] = digest
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def results():
    return load_script(SCRIPTS / "results.py", "results_run_provenance_script")


def serving_table(results, tmp_path, capsys, *options, label="x"):
    assert results.main(["--results-dir", str(tmp_path), "table", "--dataset", "serving", *options]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {label} ")]


def test_two_models_recorded_alike_get_a_serving_line_each(tmp_path, results, capsys):
    """runs/x/best_model of two checkouts read as one model: the table mixed their modes into one line, and the
    headline took both as the model measured last."""
    rows = serving_rows("runs/x/best_model", "a" * 16, 10.0) + serving_rows("runs/x/best_model", "b" * 16, 12.0)
    (tmp_path / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    lines = serving_table(results, tmp_path, capsys)
    assert [line.split(" | ")[3] for line in lines] == ["10.00", "12.00"]
    (headline,) = serving_table(results, tmp_path, capsys, "--headline")
    assert headline.split(" | ")[3] == "12.00"


def test_serving_rows_without_a_digest_are_grouped_by_their_recorded_path(tmp_path, results, capsys):
    """The rows recorded before model_digest (the checked-in table's) are read as before."""
    rows = serving_rows("/work/frozen_c/runs/x/best_model", None, 10.0)
    rows += serving_rows("runs/x/best_model", "b" * 16, 12.0)
    (tmp_path / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert [line.split(" | ")[3] for line in serving_table(results, tmp_path, capsys)] == ["10.00", "12.00"]


def test_two_models_recorded_alike_are_named_apart_by_their_digests(tmp_path, results, capsys):
    """Their lines both read "x (abc1234)": a reader could not tell which measured which model."""
    rows = serving_rows("runs/x/best_model", "a" * 16, 10.0) + serving_rows("runs/x/best_model", "b" * 16, 12.0)
    (tmp_path / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert [line.split(" | ")[0] for line in serving_table(results, tmp_path, capsys)] == [
        "| x [aaaaaa] (abc1234)",
        "| x [bbbbbb] (abc1234)",
    ]
    (headline,) = serving_table(results, tmp_path, capsys, "--headline")  # (one model: its name alone)
    assert headline.startswith("| x (abc1234) |")


def test_rows_of_one_model_and_of_models_named_apart_keep_their_labels(tmp_path, results, capsys):
    """Two measurements of one model (other thread counts) are not two models recorded alike."""
    rows = serving_rows("runs/x/best_model", "a" * 16, 10.0) + serving_rows("runs/y/best_model", "b" * 16, 12.0)
    rows += [{**row, "threads": 1} for row in serving_rows("runs/x/best_model", "a" * 16, 8.0)]
    (tmp_path / "serving.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert results.main(["--results-dir", str(tmp_path), "table", "--dataset", "serving"]) == 0
    text = capsys.readouterr().out
    labels = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and "(abc1234)" in line]
    assert labels == ["| x (abc1234)", "| y (abc1234)", "| x (abc1234)"] and "model_digest" not in text


def test_a_model_recorded_as_the_checkouts_root_gets_a_label(tmp_path, results, capsys):
    """A model saved in the checkout's root is recorded as "." and its line had an empty label."""
    (tmp_path / "serving.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in serving_rows(".", "a" * 16, 10.0))
    )
    (line,) = serving_table(results, tmp_path, capsys, label="checkout root (.)")
    assert line.startswith("| checkout root (.) (abc1234) |")


@pytest.mark.parametrize("value, name", [("C:\\Users\\me\\runs\\x", "x"), ("\\\\server\\share\\bc5cdr", "bc5cdr")])
def test_a_windows_absolute_path_is_recorded_by_its_name_on_posix(value, name):
    """It read as a relative path on POSIX and was kept whole (results.py check then refused the row)."""
    from simmemre.experiment_simmemre import portable_path

    notes = {}
    assert portable_path(value, "data.corpus.data_dir", notes) == name
    assert notes == {"data.corpus.data_dir": OUTSIDE_CHECKOUT_NOTE}
