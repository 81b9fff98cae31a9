"""scripts/predict_ray.py and simmemre.ray_simmemre.predict_with_ray refuse a bad model, inputs or output folder with
one line before Ray starts. Ray is replaced here by a stub that fails the test when it is used, so these tests neither
need the optional extra nor start a cluster."""

import json
import sys
import types

import pytest
import torch
from helpers import SCRIPTS, load_script
from safetensors.torch import save_file

from simmemre import ray_simmemre


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """Any use of Ray fails the test: every refusal here must come before Ray starts."""

    def started(*args, **kwargs):
        raise AssertionError("Ray was started")

    stub = types.ModuleType("ray")
    stub.is_initialized = started
    stub.init = started
    monkeypatch.setitem(sys.modules, "ray", stub)


@pytest.fixture
def model_folder(tmp_path):
    """What check_model_location takes for a complete saved model: config.json, readable weights, a tokenizer."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    save_file({"weight": torch.zeros(1)}, str(folder / "model.safetensors"))
    return folder


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    path = folder / "part-0.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "Aspirin causes ulcers."}) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def script():
    return load_script(SCRIPTS / "predict_ray.py", "predict_ray_script")


def run_script(script, args):
    with pytest.raises(SystemExit) as stopped:
        script.main(args)
    return stopped.value.code


@pytest.mark.parametrize("kind", ["missing", "no_config", "no_weights"])
def test_a_bad_model_stops_before_ray_in_the_script_and_the_api(script, kind, tmp_path, model_folder, corpus):
    model = tmp_path / "no-such-model"
    if kind == "no_config":
        model = tmp_path
    elif kind == "no_weights":
        (model_folder / "model.safetensors").unlink()
        model = model_folder
    output = str(tmp_path / "out")
    code = run_script(script, ["--model", str(model), str(corpus), "--output", output])
    assert isinstance(code, str) and code.startswith(f"--model {model}:") and "\n" not in code
    with pytest.raises(ValueError, match=f"^model {model}:"):
        ray_simmemre.predict_with_ray(str(model), [str(corpus)], output)


def test_an_existing_file_as_output_is_refused(script, model_folder, corpus, tmp_path):
    existing = tmp_path / "taken.jsonl"
    existing.write_text("", encoding="utf-8")
    code = run_script(script, ["--model", str(model_folder), str(corpus), "--output", str(existing)])
    assert code == f"--output {existing}: an existing file; give a folder for the output part files"
    with pytest.raises(ValueError, match="an existing file"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(corpus)], str(existing))


def test_a_non_empty_output_folder_is_refused_so_a_rerun_does_not_double_the_predictions(
    script, model_folder, corpus, tmp_path
):
    used = tmp_path / "out"
    used.mkdir()
    (used / "0_000000.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    code = run_script(script, ["--model", str(model_folder), str(corpus), "--output", str(used)])
    assert code.startswith(f"--output {used}: folder already has files") and "remove it first" in code
    with pytest.raises(ValueError, match="folder already has files"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(corpus)], str(used))


def test_an_output_in_an_input_folder_or_the_folder_of_an_input_file_is_refused(script, model_folder, corpus):
    folder = corpus.parent
    code = run_script(script, ["--model", str(model_folder), str(folder), "--output", str(folder / "predictions")])
    assert code.startswith(f"--output {folder / 'predictions'}: inside the input folder {folder}")
    code = run_script(script, ["--model", str(model_folder), str(corpus), "--output", str(folder)])
    assert code.startswith(f"--output {folder}: the folder of the input {corpus}")
    with pytest.raises(ValueError, match="inside the input folder"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(folder)], str(folder))


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--actors", "0", "expected a positive integer, got 0"),
        ("--actors", "-2", "expected a positive integer, got -2"),
        ("--actors", "two", "expected a positive integer, got 'two'"),
        ("--cpus-per-actor", "0", "must be more than 0"),
        ("--gpus-per-actor", "-1", "must be at least 0"),
    ],
)
def test_non_positive_actor_counts_are_argparse_errors(script, option, value, message, model_folder, corpus, capsys):
    args = ["--model", str(model_folder), str(corpus), "--output", "out", option, value]
    assert run_script(script, args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {option}: {message}" in error
    with pytest.raises(ValueError, match="actors must be a positive integer"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(corpus)], "out", actors=0)


def test_there_is_no_device_option_to_ignore(script, model_folder, corpus, capsys):
    """--device was offered (with a default in its help) and never read: the actors use a GPU exactly when
    --gpus-per-actor > 0."""
    assert run_script(script, ["--model", str(model_folder), str(corpus), "--output", "out", "--device", "cuda"]) == 2
    assert "unrecognized arguments: --device cuda" in capsys.readouterr().err


def test_a_folder_input_stands_for_its_jsonl_and_parquet_files(corpus):
    (corpus.parent / "notes.txt").write_text("not an input", encoding="utf-8")
    (corpus.parent / "part-1.ndjson").write_text("", encoding="utf-8")
    (corpus.parent / "part-2.jsonl.gz").write_bytes(b"")
    assert ray_simmemre.check_ray_inputs([str(corpus.parent)]) == [
        str(corpus),
        str(corpus.parent / "part-1.ndjson"),
        str(corpus.parent / "part-2.jsonl.gz"),
    ]
    assert ray_simmemre.check_ray_inputs(["s3://bucket/part-0.jsonl"]) == ["s3://bucket/part-0.jsonl"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.jsonl", "input not found: {path}"),
        ("data.csv.gz", "{path}: not a .jsonl, .ndjson (optionally .gz) or .parquet file"),
        ("data.csv", "{path}: not a .jsonl, .ndjson (optionally .gz) or .parquet file"),
        ("empty_folder", "{path}: a folder without .jsonl, .ndjson (optionally .gz) or .parquet files"),
    ],
)
def test_bad_inputs_stop_with_one_line_naming_the_input(script, name, message, model_folder, tmp_path):
    path = tmp_path / name
    if name == "empty_folder":
        path.mkdir()
    elif name != "missing.jsonl":
        path.write_bytes(b"")
    code = run_script(script, ["--model", str(model_folder), str(path), "--output", str(tmp_path / "out")])
    assert code == message.format(path=path)


def test_mixed_jsonl_and_parquet_inputs_are_refused(model_folder, corpus, tmp_path):
    table = tmp_path / "data.parquet"
    table.write_bytes(b"")
    with pytest.raises(ValueError, match="mix JSON Lines and Parquet"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(corpus), str(table)], str(tmp_path / "out"))


def test_the_help_says_which_inputs_are_read(script, capsys):
    assert run_script(script, ["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(optionally .gz)" in help_text and "a new or empty output folder" in help_text


def test_a_bad_json_lines_line_is_named_by_its_file_and_line_as_predict_py_names_it():
    from simmemre.streaming_simmemre import _decoded_line, _line_document

    def read(raw, where, first):  # what a Ray actor does with one line of its batch
        return _line_document(_decoded_line(raw, where, first), where)

    bad = read(b"not json", "corpus/bad.jsonl:35", False)
    assert (bad.id, bad.error) == ("corpus/bad.jsonl:35", "corpus/bad.jsonl:35: not valid JSON (Expecting value)")
    assert read(b'\xef\xbb\xbf{"text": "x"}\r', "a.jsonl:1", True) == {"text": "x", "id": "a.jsonl:1"}
    assert read(b'{"id": "z", "text": "\xff"}', "a.jsonl:2", False).error.startswith("a.jsonl:2: not UTF-8")
    assert read(b"  ", "a.jsonl:3", False) is None


def test_a_type_the_model_does_not_have_is_refused_before_ray(script, model_folder, corpus, tmp_path):
    labels = {"model_type": "simmemre", "entity_types": ["Chemical", "Disease"], "relation_types": ["CID"]}
    (model_folder / "config.json").write_text(json.dumps(labels), encoding="utf-8")
    args = ["--model", str(model_folder), str(corpus), "--output", str(tmp_path / "out"), "--entity-types", "Drug"]
    assert run_script(script, args) == "--entity-types: unknown type name(s) ['Drug']; this model's are " + str(
        labels["entity_types"]
    )
    with pytest.raises(ValueError, match=r"^relation_types must be a list of type names, e.g. \['CID'\]"):
        ray_simmemre.predict_with_ray(str(model_folder), [str(corpus)], str(tmp_path / "out"), relation_types="CID")


def test_an_actor_pool_holding_every_cpu_stops_the_script_in_one_line(script, model_folder, corpus, tmp_path):
    """The refusal came once Ray ran, as a ValueError traceback from the script."""
    ray = sys.modules["ray"]
    ray.is_initialized = lambda: True
    ray.cluster_resources = lambda: {"CPU": 2.0}
    code = run_script(
        script, ["--model", str(model_folder), str(corpus), "--output", str(tmp_path / "o"), "--actors", "2"]
    )
    assert code.startswith("predict_ray.py: 2 actors x 1 CPUs take all 2 CPUs of the Ray cluster; leave at least one")


def test_a_bad_parquet_row_without_an_id_is_not_named_by_its_place_in_a_ray_batch(hub_folder):
    """Rows were named by their place in their Ray batch: bad rows of two batches were both "#1", neither input row."""
    import numpy as np

    actor = ray_simmemre.JointREActor(str(hub_folder), parquet_input=True, batch_size=2, device="cpu")
    record = json.loads(actor({"text": np.array(["Fine text.", None], dtype=object)})["record"][1])
    assert record == {"id": None, "error": "document without an id: text: missing required field (a schema document "
                      "needs a 'text' field)"}  # fmt: skip
