"""scripts/results.py: where a recorded row came from, without the recording machine's layout (paths relative to the
project's checkout, or a name), and what it was scored on (document caps per split, the encoder)."""

import json

import pytest
from helpers import SCRIPTS, load_script
from test_results import fake_run

from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

OUTSIDE_NOTE = "outside any checkout of the project when recorded: its name only"


@pytest.fixture(scope="module")
def results():
    return load_script(SCRIPTS / "results.py", "results_provenance_script")


@pytest.fixture
def add(results, tmp_path, capsys):
    """`results.py add RUN --dataset cdr --name NAME [arguments]` in this process; the rows recorded so far."""

    def run(folder, name="memory", *arguments):
        command = ["--results-dir", str(tmp_path / "results"), "add", str(folder), "--dataset", "cdr", "--name", name]
        assert results.main([*command, *arguments]) == 0
        capsys.readouterr()
        return [json.loads(line) for line in (tmp_path / "results" / "cdr.jsonl").read_text().splitlines()]

    return run


def checkout(folder, worktree=False):
    """A checkout of the project: `.git` (a folder, or the file a git worktree has) beside configuration_simmemre.py."""
    folder.mkdir(parents=True)
    if worktree:
        (folder / ".git").write_text("gitdir: /elsewhere/.git/worktrees/wt\n")
    else:
        (folder / ".git").mkdir()
    (folder / "configuration_simmemre.py").write_text("")
    return folder


def set_data(run, data, encoder=None):
    """The run's run_config.json with this data section (and encoder section)."""
    config = {"data": data, **({"encoder": encoder} if encoder is not None else {})}
    (run / "run_config.json").write_text(json.dumps({"seed": 112, "commit": "abc123", "config": config}))


@pytest.mark.parametrize("worktree", [False, True], ids=["clone", "git worktree"])
def test_a_run_inside_a_checkout_is_recorded_relative_to_the_checkouts_root(tmp_path, add, worktree):
    """Rows held the absolute run folder (/work/frozen_u/runs/...), which names nothing on another machine."""
    root = checkout(tmp_path / "checkout", worktree=worktree)
    fake_run(root / "runs" / "memory_seed112", 112, 20.0)
    set_data(root / "runs" / "memory_seed112", {"data_dir": str(root / "data" / "bc5cdr"), "format": "bc5cdr"})
    (row,) = add(root / "runs" / "memory_seed112")
    assert row["run"] == "runs/memory_seed112" and row["data"]["corpus"]["data_dir"] == "data/bc5cdr"
    assert "path_notes" not in row and str(tmp_path) not in json.dumps(row)


def test_paths_outside_any_checkout_are_recorded_by_their_name_with_a_note(tmp_path, add):
    """/tmp/quick_runs/quick_v6 and /work/shared/data/bc5cdr told another machine nothing but the author's layout; a
    relative path (as a config writes it) and an encoder's name are kept as written."""
    fake_run(tmp_path / "scratch" / "quick_v6", 112, 20.0)
    data = {"data_dir": str(tmp_path / "shared" / "bc5cdr"), "rel_info": "../shared/data/docred/rel_info.json"}
    set_data(tmp_path / "scratch" / "quick_v6", data, encoder={"path": str(tmp_path / "models" / "scibert_cased")})
    (row,) = add(tmp_path / "scratch" / "quick_v6")
    assert row["run"] == "quick_v6" and row["data"]["corpus"]["data_dir"] == "bc5cdr"
    assert row["data"]["corpus"]["rel_info"] == "../shared/data/docred/rel_info.json"
    assert row["data"]["encoder"]["path"] == "scibert_cased"
    notes = {"run": OUTSIDE_NOTE, "data.corpus.data_dir": OUTSIDE_NOTE, "data.encoder.path": OUTSIDE_NOTE}
    assert row["path_notes"] == notes and str(tmp_path) not in json.dumps(row)


def test_runs_whose_recorded_paths_read_alike_keep_their_own_rows(tmp_path, add):
    """runs/memory_seed112 of two checkouts: adding one must not replace the other's rows (the recorded path alone no
    longer tells them apart); adding the same folder again still replaces its own."""
    for copy in ("copy_a", "copy_b"):
        fake_run(checkout(tmp_path / copy) / "runs" / "memory_seed112", 112, 20.0 if copy == "copy_a" else 21.0)
    add(tmp_path / "copy_a" / "runs" / "memory_seed112")
    rows = add(tmp_path / "copy_b" / "runs" / "memory_seed112")
    assert [row["test"]["relation_strict_f1"] for row in rows] == [20.0, 21.0]
    rows = add(tmp_path / "copy_a" / "runs" / "memory_seed112")
    assert [row["test"]["relation_strict_f1"] for row in rows] == [21.0, 20.0]


def test_adding_a_run_recorded_before_portable_paths_replaces_its_earlier_rows(tmp_path, add):
    """Rows recorded earlier hold the run's absolute path: the same run added now replaces them, as before."""
    fake_run(tmp_path / "run112", 112, 20.0)
    earlier = add(tmp_path / "run112")[0]
    earlier["run"] = str((tmp_path / "run112").resolve())  # (as results.py wrote rows before run_digest)
    for key in ("run_digest", "path_notes", "data"):
        earlier.pop(key)
    (tmp_path / "results" / "cdr.jsonl").write_text(json.dumps(earlier) + "\n")
    (row,) = add(tmp_path / "run112")
    assert row["run"] == "run112" and "run_digest" in row


def test_a_row_records_the_document_cap_of_each_split(tmp_path, add):
    """A capped run's rows listed only the cap keys that were set: the test split, cut to max_eval_documents unless
    max_test_documents is given (null too), could not be told from one scored whole."""
    fake_run(tmp_path / "run112", 112, 20.0)
    set_data(tmp_path / "run112", {"format": "bc5cdr", "max_train_documents": 8, "max_eval_documents": 3})
    assert add(tmp_path / "run112")[-1]["data"]["max_documents"] == {"train": 8, "validation": 3, "test": 3}
    set_data(tmp_path / "run112", {"format": "bc5cdr", "max_eval_documents": 3, "max_test_documents": None})
    assert add(tmp_path / "run112")[-1]["data"]["max_documents"] == {"train": None, "validation": 3, "test": None}


def test_a_recalibration_row_records_its_file_by_relative_path_and_the_training_cap(tmp_path, add):
    """calibrate.py scores whole splits: only the training cap holds for a re-calibration's row; its file was recorded
    by absolute path."""
    root = checkout(tmp_path / "checkout")
    fake_run(root / "runs" / "run112", 112, 20.0)
    set_data(root / "runs" / "run112", {"format": "bc5cdr", "max_train_documents": 8, "max_eval_documents": 3})
    report = {
        "thresholds": {"mention_threshold": 0.7, "coref_threshold": 0.7, "relation_threshold": 0.5},
        "scores": {f"{level}_f1": 24.0 for level in LEVELS},
        "test_scores": {f"{level}_f1": 21.0 for level in LEVELS},
        "corpus": {"data_dir": str(tmp_path / "data" / "bc5cdr"), "format": "bc5cdr", "test_split": "test"},
    }
    recalibration = root / "runs" / "run112" / "calibration_wide.json"
    recalibration.write_text(json.dumps(report))
    (row,) = add(root / "runs" / "run112", "memory", "--calibration", str(recalibration))
    assert row["calibration_file"] == "runs/run112/calibration_wide.json" and len(row["calibration_file_digest"]) == 16
    assert row["data"]["max_documents"] == {"train": 8, "validation": None, "test": None}
    assert row["path_notes"] == {"data.corpus.data_dir": OUTSIDE_NOTE}


def row_with_caps(name, seed, caps):
    data = {"corpus": {}, "documents": {"dev": 3, "test": 3}, "encoder": {}}
    if caps is not None:
        data["max_documents"] = caps
    return {"name": name, "seed": seed, "thresholds": "fixed", "threshold_values": {"mention_threshold": 0.85,
            "coref_threshold": 0.85, "relation_threshold": 0.6}, "dev": {}, "test": {}, "data": data}  # fmt: skip


def write(tmp_path, rows):
    (tmp_path / "results").mkdir(exist_ok=True)
    (tmp_path / "results" / "cdr.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_a_table_notes_a_model_trained_or_scored_on_capped_splits(tmp_path, results, capsys):
    """A quick run on 8 training documents sat in the table like a full run; rows recorded before the caps were (the
    checked-in tables) are not marked."""
    capped = {"train": 8, "validation": 3, "test": 3}
    whole = {"train": None, "validation": None, "test": None}
    rows = [row_with_caps("quick", 112, capped), row_with_caps("full", 112, whole), row_with_caps("earlier", 112, None)]
    write(tmp_path, rows)
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: quick was trained or scored on splits cut to their first documents (train 8, dev 3, test 3: the rows' "
        "`data.max_documents`)."
    ]


def test_a_table_names_a_model_whose_seeds_trained_on_different_caps(tmp_path, results, capsys):
    """The dev and test counts are recorded, the training cap was not: seeds trained on 8 and on all training
    documents read as one model's spread."""
    rows = [
        row_with_caps("a", 112, {"train": 8, "validation": None, "test": None}),
        row_with_caps("a", 113, {"train": None, "validation": None, "test": None}),
        row_with_caps("a", 114, None),  # (recorded before the caps: says nothing of them)
    ]
    write(tmp_path, rows)
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    assert "Note: a's seeds were scored with different document caps" in capsys.readouterr().out


@pytest.mark.parametrize("dataset", ["cdr", "cdr-quick", "re-docred"])
def test_check_passes_the_recorded_rows(results, dataset, capsys):
    """The rows recorded before the provenance fields are read as they are: the check asks those fields of new rows
    only."""
    assert results.main(["check", "--dataset", dataset]) == 0
    assert "rows follow the schema" in capsys.readouterr().out


def test_check_names_the_line_the_row_and_the_field_of_an_absolute_path_in_a_new_row(tmp_path, results, add):
    fake_run(tmp_path / "run112", 112, 20.0)
    (row,) = add(tmp_path / "run112")
    row["data"]["corpus"]["data_dir"] = "/work/shared/data/bc5cdr"
    write(tmp_path, [row])
    with pytest.raises(SystemExit, match=r"cdr.jsonl:1: 'memory' seed 112: data.corpus.data_dir: an absolute path"):
        results.main(["--results-dir", str(tmp_path / "results"), "check", "--dataset", "cdr"])


def test_a_row_records_the_documents_the_run_trained_on(tmp_path, add):
    """all_results.json named the dev and test documents scored, not how many the model trained on: a run capped by
    max_train_documents (or on a smaller train file) sat beside full runs with nothing to tell them apart."""
    fake_run(tmp_path / "run112", 112, 20.0, calibrated_f1=21.0)
    results_file = tmp_path / "run112" / "all_results.json"
    results_file.write_text(json.dumps({**json.loads(results_file.read_text()), "train_documents": 8.0}))
    fixed, calibrated = add(tmp_path / "run112")
    assert fixed["data"]["documents"]["train"] == 8 and calibrated["data"]["documents"]["train"] == 8


def test_a_run_that_did_not_record_its_training_documents_gives_a_valid_row_without_them(tmp_path, results, add):
    fake_run(tmp_path / "run112", 112, 20.0)
    (row,) = add(tmp_path / "run112")
    assert row["data"]["documents"] == {"dev": None, "test": None}
    assert results.main(["--results-dir", str(tmp_path / "results"), "check", "--dataset", "cdr"]) == 0


def test_check_names_a_training_document_count_that_is_not_a_positive_whole_number(tmp_path, results, add):
    fake_run(tmp_path / "run112", 112, 20.0)
    (row,) = add(tmp_path / "run112")
    row["data"]["documents"]["train"] = 0
    write(tmp_path, [row])
    with pytest.raises(SystemExit, match=r"cdr.jsonl:1: 'memory' seed 112: data.documents.train: a positive whole"):
        results.main(["--results-dir", str(tmp_path / "results"), "check", "--dataset", "cdr"])


def test_a_table_names_a_model_whose_seeds_trained_on_different_numbers_of_documents(tmp_path, results, capsys):
    """Seeds trained on 8 and on 500 documents read as one model's spread; a row that does not record its training
    documents (recorded before train.py wrote them) says nothing of them."""
    caps = {"train": None, "validation": None, "test": None}
    rows = [row_with_caps("a", seed, caps) for seed in (112, 113, 114)]
    rows[0]["data"]["documents"]["train"] = 8
    rows[1]["data"]["documents"]["train"] = 500
    write(tmp_path, rows)
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    assert "Note: a's seeds were scored with different training documents (the rows' `data`)" in capsys.readouterr().out
    rows[1]["data"]["documents"]["train"] = 8
    write(tmp_path, rows)
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    assert "Note:" not in capsys.readouterr().out


def test_a_cap_at_or_above_a_splits_recorded_documents_is_not_noted(tmp_path, results, capsys):
    """A cap of 1000 on a 500-document dev cut nothing, and the table said the model was scored on a cut split."""
    uncut = row_with_caps("uncut", 112, {"train": None, "validation": 1000, "test": None})
    uncut["data"]["documents"] = {"dev": 500, "test": 500}
    cut = row_with_caps("cut", 112, {"train": 400, "validation": 1000, "test": None})
    cut["data"]["documents"] = {"train": 400, "dev": 500, "test": 500}
    write(tmp_path, [uncut, cut])
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: cut was trained or scored on splits cut to their first documents (train 400: the rows' "
        "`data.max_documents`)."
    ]


def test_seeds_under_a_cap_that_cut_nothing_and_under_none_are_not_told_apart(tmp_path, results, capsys):
    rows = [row_with_caps("a", 112, {"train": None, "validation": 1000, "test": None})]
    rows.append(row_with_caps("a", 113, {"train": None, "validation": None, "test": None}))
    for row in rows:
        row["data"]["documents"] = {"dev": 500, "test": 500}
    write(tmp_path, rows)
    assert results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "cdr"]) == 0
    assert "Note:" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "field, value",
    [("run", "C:\\Users\\me\\runs\\x"), ("data_dir", "D:\\data\\bc5cdr"), ("data_dir", "\\\\server\\share\\bc5cdr")],
    ids=["drive", "drive data_dir", "UNC"],
)
def test_check_names_a_windows_absolute_path(tmp_path, results, add, field, value):
    """On POSIX, C:\\Users\\... read as a relative path and passed the check (and /work/... would pass on Windows)."""
    fake_run(tmp_path / "run112", 112, 20.0)
    (row,) = add(tmp_path / "run112")
    if field == "run":
        row["run"] = value
    else:
        row["data"]["corpus"]["data_dir"] = value
    assert any(problem.endswith("which no other machine has") for problem in results.row_problems(row))


def test_check_names_a_data_seed_that_is_not_a_whole_number(results):
    row = row_with_caps("a", 112, None)
    assert results.row_problems({**row, "run": "runs/a", "data_seed": None}) == []
    assert results.row_problems({**row, "run": "runs/a", "data_seed": "5"}) == [
        'data_seed: a whole number or null, got "5"'
    ]


BENCHMARK_FILES = [
    "serving",
    "int8_variants",
    "cdr-stages",
    "cdr-coref-errors",
    "cdr-joined-documents",
    "cdr-calibration-holdout",
    "cdr-quick-calibration-holdout",
]


@pytest.mark.parametrize("dataset", BENCHMARK_FILES)
def test_check_passes_the_benchmarks_recorded_rows(results, dataset, capsys):
    """The benchmarks' rows were checked against the rows `add` writes: "run: str expected, got null" for each."""
    assert results.main(["check", "--dataset", dataset]) == 0
    assert "benchmark rows (benchmarks/*.py) name their model" in capsys.readouterr().out


@pytest.mark.parametrize(
    "model", ["/work/frozen/runs/x/best_model", "C:\\runs\\x\\best_model"], ids=["posix", "windows"]
)
def test_check_names_an_absolute_model_path_in_a_benchmark_row_with_a_digest(tmp_path, results, model):
    """Rows recorded since model_digest write the model relative to the checkout (recorded_model); earlier rows hold
    absolute paths and pass."""
    row = {"name": "x, serving fp32", "model": model, "mode": "fp32"}
    (tmp_path / "serving.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "model_digest": "a" * 16}))
    with pytest.raises(SystemExit, match=r"serving.jsonl:2: 'x, serving fp32': model: an absolute path"):
        results.main(["--results-dir", str(tmp_path), "check", "--dataset", "serving"])


def test_table_of_a_benchmark_file_names_what_it_holds(results):
    """`table --dataset cdr-stages` printed an empty string."""
    with pytest.raises(SystemExit, match=r"cdr-stages\.jsonl: benchmark rows \(benchmarks/\*\.py\), which table"):
        results.main(["table", "--dataset", "cdr-stages"])
