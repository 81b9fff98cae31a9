"""Bad or unusual input to scripts/convert_dataset.py and scripts/results.py: a one-line error naming the file or
option, or a correct result; never a traceback, never silently lost data."""

import json
import os
import re

import pytest
from helpers import SCRIPTS, load_script

from simmemre.data_simmemre import convert_command, read_labels

# Two PubTator splits with different label inventories: dev has both entity types and a CID relation, train only a
# Disease.
PUBTATOR_DEV = (
    "1|t|Aspirin causes pain.\n"
    "1|a|Rats had pain.\n"
    "1\t0\t7\tAspirin\tChemical\tD001\n"
    "1\t15\t19\tpain\tDisease\tD002\n"
    "1\tCID\tD001\tD002\n"
    "\n"
)
PUBTATOR_TRAIN = "2|t|Pain.\n2|a|Ache.\n2\t0\t4\tPain\tDisease\tD002\n\n"
DOCRED = [
    {
        "title": "T",
        "sents": [["Ann", "met", "Bob", "."]],
        "vertexSet": [
            [{"sent_id": 0, "pos": [0, 1], "type": "PER", "name": "Ann"}],
            [{"sent_id": 0, "pos": [2, 3], "type": "PER", "name": "Bob"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P1"}, {"h": 1, "t": 0, "r": "P2"}],
    }
]


def write(folder, name, content):
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def convert(*args):
    return convert_command(["--output", *map(str, args)])


# ----------------------------------------------------------------------------------------------------
# convert_dataset.py
# ----------------------------------------------------------------------------------------------------


def test_split_files_converted_one_by_one_add_up_and_labels_cover_them_all(tmp_path, capsys):
    out = tmp_path / "out"
    dev, train = write(tmp_path, "dev.txt", PUBTATOR_DEV), write(tmp_path, "train.txt", PUBTATOR_TRAIN)
    assert convert(out, "--format", "bc5cdr", "--input", dev) == 0
    write(out, "train.jsonl.gz", "")  # the split's other file form is replaced with it
    assert convert(out, "--format", "bc5cdr", "--input", train) == 0
    assert sorted(os.listdir(out)) == ["dev.jsonl", "labels.json", "train.jsonl"]
    assert read_labels(out) == {"entity_types": ["Chemical", "Disease"], "relation_types": ["CID"]}
    assert "kept dev of an earlier conversion" in capsys.readouterr().err
    # A folder --input still leaves the folder holding that conversion only.
    (tmp_path / "dev.txt").unlink()
    assert convert(out, "--format", "bc5cdr", "--input", tmp_path) == 0
    assert sorted(os.listdir(out)) == ["labels.json", "train.jsonl"]
    assert read_labels(out) == {"entity_types": ["Disease"], "relation_types": []}


@pytest.mark.parametrize(("format", "content"), [("bc5cdr", ""), ("bc5cdr", "\n\n"), ("docred", "[]")])
def test_an_input_without_documents_is_refused_naming_the_file(tmp_path, capsys, format, content):
    empty = write(tmp_path, "empty_train.txt" if format == "bc5cdr" else "empty_train.json", content)
    assert convert(tmp_path / "out", "--format", format, "--input", empty) == 2
    assert capsys.readouterr().err == f"error: {empty}: no documents\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("rel_info", "message"),
    [
        ('{"P1": "knows"', "invalid JSON"),
        ('["P1", "P2"]', "rel_info must map relation ids to names"),
        ('{"P9": "unrelated"}', "names none of the corpus's relation ids (P1, P2)"),
    ],
)
def test_a_rel_info_file_that_cannot_name_the_relations_is_refused_naming_it(tmp_path, capsys, rel_info, message):
    corpus = write(tmp_path, "train.json", DOCRED)
    path = write(tmp_path, "rel.json", rel_info)
    assert convert(tmp_path / "out", "--format", "docred", "--input", corpus, "--rel-info", path) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and message in err and len(err.splitlines()) == 1


def test_a_rel_info_file_naming_some_relation_ids_keeps_the_others_and_counts_them(tmp_path, capsys):
    corpus = write(tmp_path, "train.json", DOCRED)
    path = write(tmp_path, "rel.json", {"P1": "knows"})
    assert convert(tmp_path / "out", "--format", "docred", "--input", corpus, "--rel-info", path) == 0
    assert json.loads(capsys.readouterr().out)["unnamed_relation_types"] == 1
    assert read_labels(tmp_path / "out")["relation_types"] == ["P2", "knows"]


# ----------------------------------------------------------------------------------------------------
# results.py
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results():
    return load_script(SCRIPTS / "results.py", "results_script")


def fake_run(folder):
    (folder / "best_model").mkdir(parents=True)
    write(folder, "all_results.json", {"test_relation_strict_f1": 20.0, "eval_relation_strict_f1": 19.0})
    write(folder, "run_config.json", {"seed": 112, "commit": "abc123", "device": "cpu"})
    write(folder / "best_model", "config.json", {"relation_classifier": "multi_instance"})
    return folder


def calibration_report(model):
    thresholds = {"mention_threshold": 0.5, "coref_threshold": 0.7, "relation_threshold": 0.4}
    return {
        "model": str(model),
        "thresholds": thresholds,
        "fixed_thresholds": thresholds,
        "scores": {"relation_strict_f1": 22.0},
        "test_scores": {"relation_strict_f1": 23.0},
    }


def test_results_path_mistakes_get_a_message(tmp_path, results):
    run = fake_run(tmp_path / "run")
    results_dir = ["--results-dir", str(tmp_path / "res")]
    with pytest.raises(SystemExit, match=r"all_results.json: is a file; give the run's output_dir"):
        results.main([*results_dir, "add", str(run / "all_results.json"), "--dataset", "cdr", "--name", "x"])
    assert results.main([*results_dir, "add", str(run), "--dataset", "cdr", "--name", "x"]) == 0
    with pytest.raises(SystemExit, match=r"--readme .*nonexist.md: cannot read it \(No such file or directory\)"):
        results.main([*results_dir, "table", "--dataset", "cdr", "--readme", str(tmp_path / "nonexist.md")])


@pytest.mark.parametrize("given", [True, False], ids=["--calibration", "RUN/calibration.json"])
def test_a_calibration_report_of_another_model_is_refused(tmp_path, results, given):
    run = fake_run(tmp_path / "run")
    other = tmp_path / "other_run" / "best_model"
    report = write(run, "calibration_x.json" if given else "calibration.json", calibration_report(other))
    argv = ["--results-dir", str(tmp_path / "res"), "add", str(run), "--dataset", "cdr", "--name", "x"]
    message = f"{report}: calibrates {other}, not this run's model {run / 'best_model'}"
    with pytest.raises(SystemExit, match=re.escape(message)):
        results.main(argv + (["--calibration", str(report)] if given else []))
    assert not (tmp_path / "res").exists()
    # The same report of this run's model (named through a link to the run folder) is recorded.
    os.symlink(run, tmp_path / "link")
    write(run, report.name, calibration_report(tmp_path / "link" / "best_model"))
    assert results.main(argv + (["--calibration", str(report)] if given else [])) == 0
    rows = [json.loads(line) for line in (tmp_path / "res" / "cdr.jsonl").read_text().splitlines()]
    assert rows[-1]["thresholds"] == "calibrated" and rows[-1]["test"] == {"relation_strict_f1": 23.0}


@pytest.mark.parametrize("option", ["--input", "--output"])
def test_a_dash_for_the_input_or_output_is_refused_by_name(tmp_path, capsys, monkeypatch, option):
    """--output - made a folder named "-"; --input - was "input not found: -"."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "CDR_DevelopmentSet.PubTator.txt", PUBTATOR_DEV)
    paths = {"--input": "CDR_DevelopmentSet.PubTator.txt", "--output": "out", option: "-"}
    with pytest.raises(SystemExit) as stopped:
        convert_command(["--format", "bc5cdr", "--input", paths["--input"], "--output", paths["--output"]])
    assert stopped.value.code == 2 and f"{option} -: " in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    """A file where a folder of the --output path should be: a NotADirectoryError traceback."""
    source = write(tmp_path, "CDR_DevelopmentSet.PubTator.txt", PUBTATOR_DEV)
    assert convert(tmp_path / "CDR_DevelopmentSet.PubTator.txt" / "out", "--format", "bc5cdr", "--input", source) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --output {tmp_path}/CDR_DevelopmentSet.PubTator.txt/out: cannot create it (")
    assert len(error.strip().splitlines()) == 1
