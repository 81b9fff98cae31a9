"""The benchmarks that the docs cite, run end to end at their smallest size on the tests' tiny model: each crashed
after or before measuring (a loop variable hiding a function, a missing threshold option, a wrong path to predict.py)
and no test ran them."""

import json
import shutil

import pytest
from helpers import BENCHMARKS, load_script

from simmemre.experiment_simmemre import OUTSIDE_CHECKOUT_NOTE, path_digest

pytestmark = pytest.mark.integration


def test_bench_serving_prints_and_records_its_rows(hub_folder, tmp_path, capsys):
    bench_serving = load_script(BENCHMARKS / "bench_serving.py")
    results = tmp_path / "serving.jsonl"
    argv = ["--model", str(hub_folder), "--documents", "2", "--threads", "1", "--results", str(results)]
    assert bench_serving.main(argv) == 0
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert {row["mode"] for row in rows} == {"fp32", "bf16", "int8"} and "serving int8" in capsys.readouterr().out


def test_bench_serving_records_no_absolute_path(hub_folder, tmp_path):
    """Its rows held the model folder and the calibration report as given (/work/frozen_c/runs/...), which name
    nothing on another machine: they are written as scripts/results.py writes a run's paths."""
    bench_serving = load_script(BENCHMARKS / "bench_serving.py")
    report = tmp_path / "calibration_int8.json"
    report.write_text(json.dumps({"thresholds": {"mention_threshold": 0.5}}))
    test = tmp_path / "CDR_TestSet.PubTator.txt"
    test.write_text(PUBTATOR_DEV, encoding="utf-8")
    results = tmp_path / "serving.jsonl"
    argv = ["--model", str(hub_folder), "--data", str(test), "--documents", "1", "--threads", "1"]
    assert bench_serving.main([*argv, "--results", str(results), "--calibration", f"int8={report}"]) == 0
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert {row["model"] for row in rows} == {"simmemre-tiny"}
    assert {row["model_digest"] for row in rows} == {path_digest(hub_folder.resolve())}
    assert rows[-1]["thresholds"] == "calibrated under int8 (calibration_int8.json)"
    notes = {"model": OUTSIDE_CHECKOUT_NOTE, "thresholds (int8 calibration report)": OUTSIDE_CHECKOUT_NOTE}
    assert rows[-1]["path_notes"] == notes
    assert str(tmp_path) not in results.read_text() and str(hub_folder) not in results.read_text()


# Two PubTator dev documents of the tiny model's types (Chemical, Disease, CID).
PUBTATOR_DEV = (
    "1|t|Aspirin causes ulcers.\n1|a|Rarely.\n"
    "1\t0\t7\tAspirin\tChemical\tD001\n1\t15\t21\tulcers\tDisease\tD002\n1\tCID\tD001\tD002\n\n"
    "2|t|Lithium causes tremor.\n2|a|Often.\n"
    "2\t0\t7\tLithium\tChemical\tD003\n2\t15\t21\ttremor\tDisease\tD004\n2\tCID\tD003\tD004\n\n"
)
CORPUS_BENCHMARKS = {
    "stage_scores.py": ["--splits", "dev", "--given", "none", "--device", "cpu"],
    "coref_errors.py": ["--split", "dev", "--device", "cpu"],
    "joined_documents.py": ["--split", "dev", "--group", "2"],
    "calibration_holdout.py": ["--device", "cpu"],
}


@pytest.mark.parametrize("script", CORPUS_BENCHMARKS)
def test_a_benchmark_row_names_its_model_without_the_machines_layout(script, hub_folder, tmp_path, monkeypatch):
    """results/cdr-stages.jsonl, cdr-coref-errors.jsonl, cdr-joined-documents.jsonl and the calibration-holdout rows
    held /work/frozen_a/runs/jerex_seed113/best_model (and it as the default name): a run's best_model outside any
    checkout keeps its run folder's name, with a note and the digest of its absolute path."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # (they import run_seed from stage_scores, beside them)
    model = tmp_path / "frozen" / "runs" / "tiny_seed7" / "best_model"
    shutil.copytree(hub_folder, model)
    (model.parent / "run_config.json").write_text(json.dumps({"seed": 7}))
    corpus = tmp_path / "bc5cdr"
    corpus.mkdir()
    (corpus / "CDR_DevelopmentSet.PubTator.txt").write_text(PUBTATOR_DEV, encoding="utf-8")
    output = tmp_path / "rows.jsonl"
    benchmark = load_script(BENCHMARKS / script, f"provenance_{script[:-3]}")
    argv = ["--model", str(model), "--data-dir", str(corpus), "--format", "bc5cdr", "--output", str(output)]
    assert benchmark.main([*argv, *CORPUS_BENCHMARKS[script]]) == 0
    row = json.loads(output.read_text(encoding="utf-8").splitlines()[0])
    assert row["model"] == row["name"] == "tiny_seed7/best_model" and row["seed"] == 7
    assert row["model_digest"] == path_digest(model.resolve())
    assert row["path_notes"] == {"model": "outside any checkout of the project when recorded: its last 2 parts only"}
    assert str(tmp_path) not in output.read_text(encoding="utf-8")


def test_compare_precision_takes_every_threshold_option(hub_folder, capsys):
    compare_precision = load_script(BENCHMARKS / "compare_precision.py")
    compare_precision.main(
        ["--model", str(hub_folder), "--device", "cpu", "--documents", "2", "--entity-threshold", "0"]
    )
    assert capsys.readouterr().out.strip()


def test_bench_streaming_runs_the_prediction_script(capsys):
    bench_streaming = load_script(BENCHMARKS / "bench_streaming.py")
    assert bench_streaming.main(["--documents", "3", "--batch-size", "2"]) == 0
    assert '"documents": 3' in capsys.readouterr().out


def test_segmentation_gap_counts_what_raw_text_segments_otherwise(capsys):
    segmentation_gap = load_script(BENCHMARKS / "segmentation_gap.py")
    if not (BENCHMARKS.parent.parent / "shared/data/bc5cdr/CDR_TestSet.PubTator.txt").is_file():
        pytest.skip("BC5CDR not found")
    assert segmentation_gap.main([]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["split"] for row in rows] == ["train", "dev", "test"]
    assert all(row["documents"] == 500 and row["mentions_cut_by_raw_sentences"] == 0 for row in rows)


def test_coref_errors_checks_its_thresholds_before_anything_loads(capsys):
    """A threshold of 1.5 ran until the pipeline refused it, with a traceback."""
    coref_errors = load_script(BENCHMARKS / "coref_errors.py")
    with pytest.raises(SystemExit) as stopped:
        coref_errors.build_parser().parse_args(["--model", "m", "--data-dir", "d", "--format", "bc5cdr",
                                                "--coref-threshold", "1.5"])  # fmt: skip
    assert stopped.value.code == 2
    assert "argument --coref-threshold: expected a number in [0, 1], got 1.5" in capsys.readouterr().err


def test_int8_variants_records_no_absolute_path(hub_folder, tmp_path, monkeypatch):
    """results/int8_variants.jsonl held /work/frozen_g/runs/main_bf16_seed112/best_model in every row."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    model = tmp_path / "frozen" / "runs" / "tiny_seed7" / "best_model"
    shutil.copytree(hub_folder, model)
    dev = tmp_path / "CDR_DevelopmentSet.PubTator.txt"
    dev.write_text(PUBTATOR_DEV, encoding="utf-8")
    results = tmp_path / "int8_variants.jsonl"
    int8_variants = load_script(BENCHMARKS / "int8_variants.py", "provenance_int8_variants")
    argv = ["--model", str(model), "--data", str(dev), "--documents", "1", "--threads", "1", "--variants", "ffn"]
    assert int8_variants.main([*argv, "--results", str(results)]) == 0
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [row["model"] for row in rows] == ["tiny_seed7/best_model"] * 2
    assert {row["model_digest"] for row in rows} == {path_digest(model.resolve())}
    assert str(tmp_path) not in results.read_text(encoding="utf-8")
