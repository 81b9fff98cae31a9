"""The benchmarks that the docs cite, run end to end at their smallest size on the tests' tiny model: each crashed
after or before measuring (a loop variable hiding a function, a missing threshold option, a wrong path to predict.py)
and no test ran them."""

import json

import pytest
from helpers import BENCHMARKS, load_script

pytestmark = pytest.mark.integration


def test_bench_serving_prints_and_records_its_rows(hub_folder, tmp_path, capsys):
    bench_serving = load_script(BENCHMARKS / "bench_serving.py")
    results = tmp_path / "serving.jsonl"
    argv = ["--model", str(hub_folder), "--documents", "2", "--threads", "1", "--results", str(results)]
    assert bench_serving.main(argv) == 0
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert {row["mode"] for row in rows} == {"fp32", "bf16", "int8"} and "serving int8" in capsys.readouterr().out


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
