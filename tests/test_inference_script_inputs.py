"""predict.py, score.py and calibrate.py on bad input: output locations, outputs that are inputs, incomplete model
folders, --device, calibrate's --max-documents and --grid, gzip files and folders as input. Each problem stops the
script with one line naming the option or file, before the model loads, or the input is read correctly."""

import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import GOLD_DOCUMENT, SCRIPTS, load_script

from simmemre.streaming_simmemre import iter_documents

NOT_A_MODEL = "no-such-model-folder"  # a problem found before the model is loaded is reported instead of this one
GOLD = GOLD_DOCUMENT
LOW = ["--mention-threshold", "0", "--coref-threshold", "0.5", "--relation-threshold", "0"]


def main_of(script):
    return load_script(SCRIPTS / f"{script}.py", f"{script}_script").main


def refusal(script, argv) -> str:
    with pytest.raises(SystemExit) as stopped:
        main_of(script)(argv)
    return str(stopped.value.code)


def write_jsonl(path, documents):
    path.write_text("".join(json.dumps(document) + "\n" for document in documents), encoding="utf-8")
    return str(path)


@pytest.fixture
def gold(tmp_path):
    return write_jsonl(tmp_path / "gold.jsonl", [GOLD])


@pytest.fixture
def saved_copy(hub_folder, tmp_path):
    """A copy of the tiny saved model that a test may change."""
    return shutil.copytree(hub_folder, tmp_path / "model")


# 1. Output locations: checked before the model loads; missing folders created.


@pytest.mark.parametrize(
    "script, argv, option",
    [
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{folder}"], "--output"),
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{tmp}/new/"], "--output"),
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{tmp}/p.jsonl", "--html", "{folder}"], "--html"),
        ("score", ["--model", NOT_A_MODEL, "--data", "{gold}", "--predictions", "{folder}"], "--predictions"),
        ("calibrate", ["{model}", "--data-dir", "{tmp}", "--format", "bc5cdr", "--output", "{folder}"], "--output"),
    ],
)
def test_an_output_that_names_a_folder_is_refused_before_the_model_loads(
    script, argv, option, gold, saved_copy, tmp_path
):
    folder = tmp_path / "out"
    folder.mkdir()
    values = {"gold": gold, "folder": folder, "tmp": tmp_path, "model": saved_copy}
    argv = [item.format(**values) for item in argv]
    message = refusal(script, argv)
    assert message.startswith(option + " ") and message.endswith(": a folder, not a file name"), message


def test_missing_output_folders_are_created(hub_folder, gold, tmp_path, capsys):
    output, page, predictions = tmp_path / "a" / "p.jsonl", tmp_path / "b" / "p.html", tmp_path / "c" / "s.jsonl"
    argv = ["--model", str(hub_folder), gold, "-o", str(output), "--html", str(page), "--no-progress"]
    assert main_of("predict")(argv + LOW) == 0
    assert main_of("score")(["--model", str(hub_folder), "--data", gold, "--predictions", str(predictions)]) == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [json.loads(line)["id"] for line in predictions.read_text(encoding="utf-8").splitlines()] == ["g0"]


def test_calibrate_writes_its_report_before_it_rewrites_the_model_config(saved_copy, tmp_path, monkeypatch):
    from simmemre import experiment_simmemre

    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    config = (saved_copy / "config.json").read_bytes()
    report = tmp_path / "report.json"

    def calibration_during_which_the_report_location_goes_bad(*args):
        report.mkdir()
        thresholds = {"mention_threshold": 0.123, "coref_threshold": 0.5, "relation_threshold": 0.5}
        return {"thresholds": {**thresholds, "entity_threshold": 0.0}}

    monkeypatch.setattr(experiment_simmemre, "check_corpus_splits", lambda *args: {})
    monkeypatch.setattr(experiment_simmemre, "check_calibration_documents", lambda *args: None)
    monkeypatch.setattr(experiment_simmemre, "corpus_rows", lambda *args: {})
    monkeypatch.setattr(calibrate, "calibrate_and_score", calibration_during_which_the_report_location_goes_bad)
    with pytest.raises(SystemExit) as stopped:
        calibrate.main([str(saved_copy), "--data-dir", str(tmp_path), "--format", "bc5cdr", "--output", str(report)])
    assert str(stopped.value.code).startswith(f"--output {report}: cannot write the report")
    assert (saved_copy / "config.json").read_bytes() == config


def test_an_html_page_of_one_shard_is_refused_and_the_merge_writes_the_page_of_all(
    hub_folder, tmp_path, capsys, monkeypatch
):
    """Each shard wrote the page of its own part into the same file (under torchrun, all at once); --merge left it."""
    documents = [{**GOLD, "id": f"g{index}"} for index in range(4)]
    inputs, output, page = write_jsonl(tmp_path / "in.jsonl", documents), tmp_path / "p.jsonl", tmp_path / "p.html"
    argv = ["--model", str(hub_folder), inputs, "-o", str(output), "--no-progress"]
    assert refusal("predict", argv + ["--shard", "0/2", "--html", str(page)]) == "2"
    assert "--html with sharding" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun's ranks
    monkeypatch.setenv("RANK", "1")
    assert refusal("predict", argv + ["--html", str(page)]) == "2"
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    capsys.readouterr()
    for shard in ("0/2", "1/2"):
        assert main_of("predict")(argv + ["--shard", shard] + LOW) == 0
        # each part says how to join them (its log did not)
        assert f"once every shard is done: --output {output} --merge 2" in capsys.readouterr().err
    assert main_of("predict")(["-o", str(output), "--merge", "2", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert all(f"Document <bdi>g{index}</bdi>" in text for index in range(4))


# 2. An output that is also an input is refused; the input is kept.


@pytest.mark.parametrize(
    "script, argv, option",
    [
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{same}"], "--output"),
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{same}", "--resume"], "--output"),
        ("predict", ["--model", NOT_A_MODEL, "{gold}", "-o", "{tmp}/p.jsonl", "--html", "{same}"], "--html"),
        ("score", ["--model", NOT_A_MODEL, "--data", "{gold}", "--predictions", "{same}"], "--predictions"),
    ],
)
def test_an_output_that_is_also_an_input_is_refused(script, argv, option, gold, tmp_path):
    kept = (tmp_path / "gold.jsonl").read_bytes()
    same = str(tmp_path / "sub" / ".." / "gold.jsonl")  # another spelling of the input's path
    (tmp_path / "sub").mkdir()
    argv = [item.format(gold=gold, same=same, tmp=tmp_path) for item in argv]
    message = refusal(script, argv)
    assert message.startswith(option + " ") and "is also an input" in message, message
    assert (tmp_path / "gold.jsonl").read_bytes() == kept


def test_predict_refuses_an_html_page_in_place_of_its_output(gold, tmp_path, capsys):
    output = str(tmp_path / "p.jsonl")
    assert refusal("predict", ["--model", NOT_A_MODEL, gold, "-o", output, "--html", output]) == "2"
    assert "--html and --output name the same file" in capsys.readouterr().err


# 3. Incomplete model folders are named, with what is missing.


def _cut_in_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, missing",
    [
        (lambda folder: (folder / "model.safetensors").unlink(), "no model.safetensors or pytorch_model.bin"),
        (lambda folder: (folder / "model.safetensors").write_bytes(b""), "corrupt model.safetensors"),
        (lambda folder: _cut_in_half(folder / "model.safetensors"), "corrupt model.safetensors"),
        (lambda folder: (folder / "tokenizer.json").unlink(), "no tokenizer files"),
    ],
)
def test_an_incomplete_model_folder_is_named_with_what_it_lacks(damage, missing, saved_copy, gold):
    damage(saved_copy)
    message = refusal("predict", ["--model", str(saved_copy), gold, "--no-progress"])
    assert message.startswith(f"--model {saved_copy}: not a complete saved model ({missing}"), message


def test_score_and_calibrate_name_an_incomplete_model_folder(saved_copy, gold, tmp_path):
    (saved_copy / "model.safetensors").unlink()
    expected = f"{saved_copy}: not a complete saved model (no model.safetensors or pytorch_model.bin)"
    score_argv = ["--model", str(saved_copy), "--data", gold, "--given", "mentions"]
    assert refusal("score", score_argv) == "--model " + expected
    assert refusal("calibrate", [str(saved_copy), "--data-dir", str(tmp_path), "--format", "bc5cdr"]) == (
        "MODEL " + expected  # calibrate.py's model is the positional MODEL, not --model
    )


def test_every_inference_script_names_a_model_with_non_finite_weights(saved_copy, gold, tmp_path):
    """A diverged run's folder: predict.py wrote empty documents ("0 error records"); score and calibrate ran."""
    from safetensors.torch import load_file, save_file

    weights = load_file(saved_copy / "model.safetensors")
    weights["relation_classification.similarity.weight"][0, 0] = float("nan")
    save_file(weights, saved_copy / "model.safetensors", metadata={"format": "pt"})
    expected = f"{saved_copy}: 1 weight tensor(s) hold NaN or infinite values (relation_classification.similarity"
    assert refusal("predict", ["--model", str(saved_copy), gold, "--no-progress"]).startswith("--model " + expected)
    assert refusal("score", ["--model", str(saved_copy), "--data", gold]).startswith("--model " + expected)
    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    calibrate_argv = [str(saved_copy), "--data-dir", str(data), "--format", "bc5cdr", "--max-documents", "1"]
    assert refusal("calibrate", calibrate_argv).startswith("MODEL " + expected)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"id": "a", "text": 5}, "document 'a': text: must be a str, got int"),
        ({"id": "a", "text": "Two words.", "words": "x"}, "document 'a': words:"),
    ],
)
def test_predict_strict_names_a_wrongly_typed_field_in_one_line(hub_folder, tmp_path, document, message):
    """A TypeError (a field of the wrong type) ended --strict with a traceback; a missing field gave the line."""
    documents = write_jsonl(tmp_path / "in.jsonl", [document])
    argv = ["--model", str(hub_folder), documents, "--strict", "--no-progress", "--output", str(tmp_path / "p.jsonl")]
    assert refusal("predict", argv).startswith(f"predict.py: {message}")


# 4. --device: a mistyped device, or CUDA where there is none.


@pytest.mark.parametrize(
    "script, argv",
    [
        ("predict", ["--model", NOT_A_MODEL, "{gold}"]),
        ("score", ["--model", NOT_A_MODEL, "--data", "{gold}"]),
        ("score", ["--model", NOT_A_MODEL, "--data", "{gold}", "--given", "entities"]),
        ("calibrate", [NOT_A_MODEL, "--data-dir", "{tmp}", "--format", "bc5cdr"]),
    ],
)
def test_a_bad_device_is_refused_before_the_model_loads(script, argv, gold, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = [item.format(gold=gold, tmp=tmp_path) for item in argv]
    assert refusal(script, argv + ["--device", "foo"]) == "--device: not a torch device: 'foo'"
    assert refusal(script, argv + ["--device", "cuda"]).startswith("--device cuda: CUDA is not available here")


@pytest.mark.parametrize("script", ["predict", "score", "predict_ray"])
def test_a_batch_size_below_one_is_refused_by_every_inference_script(script, gold, tmp_path, capsys):
    """score.py and predict_ray.py took --batch-size 0 or -3 and failed only inside the pipeline (or a Ray actor)."""
    argv = {
        "predict": ["--model", NOT_A_MODEL, gold],
        "score": ["--model", NOT_A_MODEL, "--data", gold],
        "predict_ray": ["--model", NOT_A_MODEL, gold, "--output", str(tmp_path / "out")],
    }[script]
    assert refusal(script, argv + ["--batch-size", "0"]) == "2"
    assert "--batch-size: expected a positive integer, got 0" in capsys.readouterr().err


def test_predict_says_where_a_sharding_without_output_comes_from(gold, monkeypatch, capsys):
    """It said "sharding needs --output" to a user who gave no --shard (torchrun set RANK and WORLD_SIZE)."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert refusal("predict", ["--model", NOT_A_MODEL, gold]) == "2"
    assert "sharding (RANK=1 WORLD_SIZE=2: a torchrun or accelerate launch) needs --output" in capsys.readouterr().err


# 5. calibrate.py: --max-documents, --grid and the split names.


def test_calibrate_checks_the_split_names_before_the_model_loads(hub_folder, tmp_path, monkeypatch):
    import simmemre.experiment_simmemre as experiment

    def load_trained_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the split names were checked")

    monkeypatch.setattr(experiment, "load_trained_model", load_trained_model)
    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    argv = [str(hub_folder), "--data-dir", str(data), "--format", "bc5cdr", "--dev-split", "heldout"]
    assert refusal("calibrate", argv + ["--output", str(tmp_path / "c.json")]).startswith(
        f"{data}: no 'heldout' split (found ['dev', 'test', 'train'])"
    )


@pytest.mark.parametrize("splits", [["--dev-split", "test"], ["--dev-split", "dev", "--test-split", "dev"]])
def test_calibrate_refuses_to_choose_thresholds_on_the_split_it_reports(splits, tmp_path):
    """--dev-split test ran, and results.py recorded its scores as a dev-calibrated row."""
    argv = [NOT_A_MODEL, "--data-dir", str(tmp_path), "--format", "bc5cdr", *splits]
    assert "thresholds chosen on the split that is reported" in refusal("calibrate", argv)


def _run_folder_that_trained_on(tmp_path, hub_folder, data, splits=None):
    """A copy of the tiny model as a run's best_model, with the run_config.json of a run on `data`."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(hub_folder, run / "best_model")
    recorded = {"data_dir": str(data), "format": "bc5cdr", **({"splits": splits} if splits else {})}
    (run / "run_config.json").write_text(json.dumps({"config": {"data": recorded}}), encoding="utf-8")
    return run / "best_model"


@pytest.mark.parametrize(
    "splits, run_splits, named",
    [
        (
            ["--dev-split", "train", "--test-split", ""],
            None,
            "split 'train' holds 500 document(s) the model trained on",
        ),
        # A Re-DocRED-style run: trained on dev[:400]; calibrating on all of dev chose thresholds on training documents.
        (["--test-split", ""], {"train": "dev[:400]", "validation": "dev[400:]"}, "split 'dev' holds 400 document(s)"),
        (
            ["--dev-split", "dev[400:]", "--test-split", "dev[:400]"],
            {"train": "dev[:400]"},
            "split 'dev[:400]' holds 400",
        ),
    ],
)
def test_calibrate_refuses_documents_the_model_trained_on(hub_folder, tmp_path, monkeypatch, splits, run_splits, named):
    import simmemre.experiment_simmemre as experiment

    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")
    monkeypatch.setattr(experiment, "load_trained_model", lambda *args, **kwargs: pytest.fail("the model loaded"))
    model = _run_folder_that_trained_on(tmp_path, hub_folder, data, run_splits)
    argv = [str(model), "--data-dir", str(data), "--format", "bc5cdr", "--output", str(tmp_path / "c.json"), *splits]
    assert named in refusal("calibrate", argv)


def test_calibrate_reads_the_run_s_documents_with_its_reader_options(tmp_path):
    """The check re-read the corpus without the run's require_relations, which shifted dev positions: dev[20:] held
    10 training documents and passed, dev[:10] held none and was refused."""
    import argparse
    import shutil

    from simmemre import experiment_simmemre as experiment

    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("CDR_TrainingSet.PubTator.txt", "CDR_TestSet.PubTator.txt"):
        shutil.copy(data / name, corpus / name)
    blocks = (data / "CDR_DevelopmentSet.PubTator.txt").read_text(encoding="utf-8").strip().split("\n\n")[:40]
    dev = [
        "\n".join(line for line in block.split("\n") if i >= 10 or "\tCID\t" not in line)
        for i, block in enumerate(blocks)
    ]
    (corpus / "CDR_DevelopmentSet.PubTator.txt").write_text("\n\n".join(dev) + "\n\n", encoding="utf-8")
    (tmp_path / "run" / "best_model").mkdir(parents=True)
    splits = {"train": "dev[:20]", "validation": "dev[20:]"}
    recorded = {"data_dir": str(corpus), "format": "bc5cdr", "require_relations": True, "splits": splits}
    (tmp_path / "run" / "run_config.json").write_text(json.dumps({"config": {"data": recorded}}), encoding="utf-8")
    verdicts = {}
    for split in ("dev[20:]", "dev[:10]"):
        args = argparse.Namespace(format="bc5cdr", data_dir=str(corpus), dev_split=split, test_split="", rel_info=None)
        try:
            experiment.check_calibration_documents(
                args, experiment.check_corpus_splits(args, [split]), str(tmp_path / "run" / "best_model")
            )
            verdicts[split] = "passed"
        except SystemExit as stop:
            verdicts[split] = str(stop)
    assert "split 'dev[20:]' holds 10 document(s) the model trained on" in verdicts["dev[20:]"]
    assert "validation split" not in verdicts["dev[20:]"]  # its positions are the run's reader's: no hint
    assert verdicts["dev[:10]"] == "passed"


def test_calibrate_refuses_the_file_a_run_trained_on(hub_folder, tmp_path, monkeypatch):
    """A run that named its training file (train on the dev file) passed the check: it looked at data_dir only."""
    import simmemre.experiment_simmemre as experiment

    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")
    monkeypatch.setattr(experiment, "load_trained_model", lambda *args, **kwargs: pytest.fail("the model loaded"))
    model = _run_folder_that_trained_on(tmp_path, hub_folder, data)
    recorded = {"format": "bc5cdr", "train_file": str(data / "CDR_DevelopmentSet.PubTator.txt")}
    (model.parent / "run_config.json").write_text(json.dumps({"config": {"data": recorded}}), encoding="utf-8")
    argv = [str(model), "--data-dir", str(data), "--format", "bc5cdr", "--output", str(tmp_path / "c.json")]
    assert "split 'dev' holds 500 document(s) the model trained on" in refusal("calibrate", argv + ["--test-split", ""])


def test_calibrate_takes_a_slice_the_model_did_not_train_on(hub_folder, tmp_path, monkeypatch):
    import simmemre.experiment_simmemre as experiment

    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")

    def load_trained_model(*args, **kwargs):
        raise SystemExit("checks passed")

    monkeypatch.setattr(experiment, "load_trained_model", load_trained_model)
    model = _run_folder_that_trained_on(tmp_path, hub_folder, data, {"train": "dev[:400]", "validation": "dev[400:]"})
    argv = [str(model), "--data-dir", str(data), "--format", "bc5cdr", "--output", str(tmp_path / "c.json")]
    assert refusal("calibrate", argv + ["--dev-split", "Validation[400:]"]) == "checks passed"


def test_calibrate_refuses_dev_and_test_slices_that_share_documents(hub_folder, tmp_path):
    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")
    argv = [str(hub_folder), "--data-dir", str(data), "--format", "bc5cdr", "--dev-split", "dev[:300]"]
    message = refusal("calibrate", argv + ["--test-split", "dev[200:]", "--output", str(tmp_path / "c.json")])
    assert "--dev-split dev[:300] and --test-split dev[200:] share 100 document(s)" in message


def test_corpus_scripts_name_docred_relations_through_rel_info():
    """calibrate.py on a Re-DocRED model stopped at raw relation ids (P580): it had no --rel-info."""
    from simmemre.experiment_simmemre import check_corpus_splits

    jerex = SCRIPTS.parent.parent / "shared" / "data" / "docred-jerex-joint" / "fixtures_seq2rel_ds"
    if not (jerex / "types.json").is_file():
        pytest.skip("no shared data")
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    argv = [NOT_A_MODEL, "--data-dir", str(jerex), "--format", "docred", "--rel-info", str(jerex / "types.json")]
    corpus = check_corpus_splits(calibrate.build_parser().parse_args(argv), ["dev"])
    types = {relation["type"] for docs, _ in corpus.values() for doc in docs for relation in doc["relations"]}
    assert types and not any(name.startswith("P") and name[1:].isdigit() for name in types)


@pytest.mark.parametrize("count", ["0", "-1"])
def test_calibrate_refuses_a_max_documents_below_one(count, tmp_path, capsys):
    argv = [NOT_A_MODEL, "--data-dir", str(tmp_path), "--format", "bc5cdr", "--max-documents", count]
    assert refusal("calibrate", argv) == "2"
    assert f"--max-documents: expected a positive integer, got {count}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "grid, message",
    [
        ("mention_threshold=1.5", "--grid mention_threshold: thresholds are numbers in [0, 1], got 1.5"),
        ("coref_threshold=0.5,nan", "--grid coref_threshold: thresholds are numbers in [0, 1], got nan"),
        ("foo", "--grid 'foo': expected NAME=V1,V2,..."),
    ],
)
def test_calibrate_checks_the_grid_before_the_model_loads(grid, message, tmp_path):
    argv = [NOT_A_MODEL, "--data-dir", str(tmp_path), "--format", "bc5cdr", "--grid", grid]
    assert refusal("calibrate", argv).startswith(message)


# 6. gzip: read as the library reads it; never written as plain text under a .gz name.


def test_gzip_inputs_are_read_like_the_plain_files(tmp_path, capsys):
    plain = tmp_path / "gold.jsonl"
    write_jsonl(plain, [GOLD, dict(GOLD, id="g1")])
    compressed = tmp_path / "gold.jsonl.gz"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(iter_documents([str(compressed)])) == list(iter_documents([str(plain)]))
    assert main_of("score")(["--from-predictions", str(compressed), "--data", str(compressed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["relation_strict_f1"] == 100.0


def test_a_broken_gzip_input_is_named(tmp_path):
    broken = tmp_path / "gold.jsonl.gz"
    broken.write_bytes(json.dumps(GOLD).encode())  # not compressed
    with pytest.raises(SystemExit) as stopped:
        list(iter_documents([str(broken)]))
    assert str(stopped.value.code).startswith(f"{broken}: cannot read it (Not a gzipped file")
    assert refusal("score", ["--from-predictions", str(broken), "--data", str(broken)]).startswith(
        f"{broken}: cannot read (Not a gzipped file"
    )


def test_predict_refuses_a_gzip_output_name_before_the_model_loads(gold, tmp_path):
    output = tmp_path / "p.jsonl.gz"
    message = refusal("predict", ["--model", NOT_A_MODEL, gold, "-o", str(output)])
    assert message.startswith(f"--output {output}: gzip output is not supported") and not output.exists()


def test_score_writes_gzip_predictions_for_a_gz_name(hub_folder, gold, tmp_path):
    predictions = tmp_path / "p.jsonl.gz"
    assert main_of("score")(["--model", str(hub_folder), "--data", gold, "--predictions", str(predictions)]) == 0
    assert json.loads(gzip.decompress(predictions.read_bytes()))["id"] == "g0"


# 7. A folder given as input.


def test_predict_says_that_a_folder_input_is_a_folder(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    message = refusal("predict", ["--model", NOT_A_MODEL, str(folder)])
    assert message.startswith(f"{folder}: is a folder; give the files in it")


CORPUS_INPUTS = {  # name -> (content, format): corpus files that predict.py read as one text or as error records
    "CDR_TestSet.PubTator.txt": ("1|t|Aspirin.\n1|a|Pain.\n1\t0\t7\tAspirin\tChemical\tD001\n", "bc5cdr"),
    "CDR_TestSet.BioC.xml": (
        "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>\n<collection><source>PubTator"
        "</source><document><id>1</id><passage><offset>0</offset><text>Aspirin.</text></passage></document>"
        "</collection>\n",
        "bioc",
    ),
    "Test.BioC.JSON": (
        json.dumps(
            {"source": "BioRED", "documents": [{"id": "1", "passages": [{"offset": 0, "text": "A."}]}]}, indent=1
        ),
        "bioc",
    ),
    "dev_revised.json": (json.dumps([{"title": "P", "sents": [["P", "."]], "vertexSet": [], "labels": []}]), "docred"),
}


@pytest.mark.parametrize("name", sorted(CORPUS_INPUTS))
def test_predict_names_a_corpus_file_input_and_how_to_convert_it(name, tmp_path):
    """A PubTator or BioC XML file was predicted as one text holding its markup; BioC and DocRED JSON gave an error
    record per document ("missing required field text") that did not say why."""
    content, corpus_format = CORPUS_INPUTS[name]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    message = refusal("predict", ["--model", NOT_A_MODEL, str(path), "-o", str(tmp_path / "p.jsonl")])
    assert message.startswith(f"{path}: it looks like ") and "\n" not in message
    assert f"which predict.py does not read: convert it (convert_dataset.py --format {corpus_format} " in message
    # (a JSON file read as one text would be predicted as JSON: no --format to offer there)
    if name.lower().endswith(".json"):
        assert message.endswith("and predict the .jsonl files written in DIR")
    else:
        assert message.endswith("; --format text reads it as one plain text")
    assert not (tmp_path / "p.jsonl").exists()


def test_predict_reads_a_pubtator_looking_file_as_text_when_told_to(gold, tmp_path):
    content, _ = CORPUS_INPUTS["CDR_TestSet.PubTator.txt"]
    path = tmp_path / "notes.txt"
    path.write_text(content, encoding="utf-8")
    assert "looks like" not in refusal("predict", ["--model", NOT_A_MODEL, "--format", "text", str(path)])
    assert "looks like" not in refusal("predict", ["--model", NOT_A_MODEL, gold])  # (JSON Lines: no corpus format)


def test_predict_reads_documents_with_bioc_key_names_in_their_metadata(tmp_path):
    """Refused as a BioC collection, even with --format jsonl, with advice (--format text) that read it as one text."""
    path = write_jsonl(tmp_path / "notes.jsonl", [{"id": "a", "text": "x", "meta": {"documents": [], "passages": []}}])
    for given in ([], ["--format", "jsonl"]):
        assert refusal("predict", ["--model", NOT_A_MODEL, *given, path]).startswith(f"--model {NOT_A_MODEL}: ")


def test_predict_format_jsonl_still_names_a_bioc_file_and_how_to_convert_it(tmp_path):
    """Under --format jsonl a BioC collection became one error record without a word of BioC, with exit code 0."""
    content, _ = CORPUS_INPUTS["Test.BioC.JSON"]
    path = tmp_path / "documents.json"
    path.write_text(content, encoding="utf-8")
    message = refusal("predict", ["--model", NOT_A_MODEL, "--format", "jsonl", str(path)])
    assert message.startswith(f"{path}: it looks like a BioC") and "convert_dataset.py --format bioc" in message


@pytest.mark.parametrize(
    "value",
    [
        [{"id": "a", "text": "Aspirin.", "vertexSet": []}],  # (SimMemRE documents that carry a vertexSet field)
    ],
)
def test_json_documents_with_a_top_level_text_are_no_docred(value, tmp_path):
    from simmemre.data_simmemre import corpus_format_of

    path = tmp_path / "documents.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    assert corpus_format_of(path) is None


def test_a_bioc_collection_is_judged_by_its_first_document(tmp_path):
    """A collection whose second document lacked passages was no BioC, though a large file is judged by its first."""
    from simmemre.data_simmemre import corpus_format_of

    path = tmp_path / "collection.json"
    path.write_text(json.dumps({"source": "x", "documents": [{"id": "1", "passages": []}, {"id": "2"}]}))
    assert corpus_format_of(path) == "bioc"


def test_calibrate_names_a_missing_data_dir(hub_folder, tmp_path):
    """A FileNotFoundError traceback from the corpus reader."""
    message = refusal("calibrate", [str(hub_folder), "--data-dir", str(tmp_path / "none"), "--format", "bc5cdr"])
    assert message.startswith(f"--data-dir {tmp_path / 'none'}: input not found")


def test_predict_refuses_int8_serving_of_bfloat16_weights_before_the_model_loads(gold):
    """The pipeline's refusal came as a traceback after the model had loaded."""
    argv = ["--model", NOT_A_MODEL, gold, "--serving", "int8", "--dtype", "bfloat16"]
    assert refusal("predict", argv).startswith("--serving int8 needs float32 weights, got --dtype bfloat16")


def test_predict_names_bf16_serving_of_a_folder_saved_in_float16_in_one_line(model, processor, gold, tmp_path):
    """With --dtype auto the pipeline's own refusal came as a traceback."""
    import copy

    from simmemre.hub_simmemre import save_for_hub

    folder = tmp_path / "half"
    save_for_hub(copy.deepcopy(model).to(torch.float16), processor, folder)
    message = refusal("predict", ["--model", str(folder), gold, "--serving", "bf16", "--no-progress"])
    assert message.startswith(f"--model {folder}: serving='bf16' autocasts float32 weights to bfloat16, got a float16")


def test_predict_refuses_bf16_serving_of_float16_weights_before_the_model_loads(gold):
    """It failed at the first document inside torch's layer norm ("mixed dtype (CPU)")."""
    argv = ["--model", NOT_A_MODEL, gold, "--serving", "bf16", "--dtype", "float16"]
    assert refusal("predict", argv).startswith("--serving bf16 autocasts to bfloat16, not beside --dtype float16")


# 8. --entity-types / --relation-types.


def test_predict_keeps_only_the_given_entity_types(hub_folder, tmp_path):
    documents = write_jsonl(
        tmp_path / "in.jsonl", [{"id": "a", "text": "Aspirin causes ulcers. Ibuprofen induced headache."}]
    )
    output = tmp_path / "p.jsonl"
    common = ["--model", str(hub_folder), documents, *LOW, "--coref-threshold", "1", "--no-progress"]
    assert main_of("predict")([*common, "-o", str(output)]) == 0
    everything = json.loads(output.read_text(encoding="utf-8"))
    assert main_of("predict")([*common, "-o", str(output), "--entity-types", "Disease", "--overwrite"]) == 0
    diseases = json.loads(output.read_text(encoding="utf-8"))
    kept = [e for e in everything["entities"] if e["type"] == "Disease"]
    assert everything["relations"] and len(kept) < len(everything["entities"])  # the tiny model: mostly Chemical
    assert diseases["entities"] == kept and len(diseases["relations"]) < len(everything["relations"])


@pytest.mark.parametrize(
    "selection, entity_types, relation_types",
    [
        (["--entity-types", "A", "B", "--entity-types", "C"], ["A", "B", "C"], None),  # (before: the last one alone)
        (["--entity-types=-LRB-", "--entity-types=-RRB-", "--entity-types", "X"], ["-LRB-", "-RRB-", "X"], None),
        (["--relation-types", "CID", "--relation-types=-NONE-"], None, ["CID", "-NONE-"]),
    ],
)
@pytest.mark.parametrize("script", ["predict", "predict_ray"])
def test_repeated_type_options_add_up_and_take_dash_led_types(script, selection, entity_types, relation_types):
    """A repeated option kept its last types only; a Penn Treebank-style name (-LRB-) is given in the `=` form."""
    if script == "predict_ray":
        args = (
            load_script(SCRIPTS / "predict_ray.py", "predict_ray_script")
            .build_parser()
            .parse_args(["--model", "m", "in.txt", "-o", "out", *selection])
        )
        assert (args.entity_types, args.relation_types) == (entity_types, relation_types)
        return
    _, args = load_script(SCRIPTS / "predict.py", "predict_script").parse_arguments(
        ["--model", "m", "in.txt", *selection]
    )
    assert (args.entity_types, args.relation_types, args.inputs) == (entity_types, relation_types, ["in.txt"])


def test_predict_still_refuses_a_type_option_followed_by_an_option(capsys):
    with pytest.raises(SystemExit):
        load_script(SCRIPTS / "predict.py", "predict_script").parse_arguments(
            ["--model", "m", "--entity-types", "-o", "p"]
        )
    assert "argument --entity-types: expected at least one argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    "selection, hint",
    [
        (["--entity-types", "-LRB-"], "--entity-types=-LRB-"),
        (["--relation-types", "CID", "-NONE-"], "--relation-types=-NONE-"),
    ],
)
@pytest.mark.parametrize("script", ["predict", "predict_ray"])
def test_a_dash_led_type_given_without_the_equals_form_is_named_with_it(script, selection, hint, capsys):
    """argparse said only "expected at least one argument" (or "unrecognized arguments: -NONE-")."""
    parser = load_script(SCRIPTS / f"{script}.py", f"{script}_script").build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "in.txt", "-o", "out", *selection])
    assert f"(a type that begins with '-' is given in the = form, one per option: {hint})" in capsys.readouterr().err


@pytest.mark.parametrize(
    "selection",
    [["--entity-types", "--output", "x"], ["--relation-types"], ["-threads", "2"], ["--entity-types", "-o", "x"]],
)
def test_a_usage_error_without_a_dash_led_type_gets_no_equals_form_hint(selection, capsys):
    """The hint named -LRB- for a type option left empty, and --entity-types=-threads where no type option was given."""
    parser = load_script(SCRIPTS / "predict.py", "predict_script").build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "in.txt", *selection])
    assert "= form" not in capsys.readouterr().err


def test_predict_refuses_a_type_the_model_does_not_have_before_writing(hub_folder, gold, tmp_path):
    output = tmp_path / "p.jsonl"
    message = refusal("predict", ["--model", str(hub_folder), gold, "-o", str(output), "--relation-types", "cid"])
    assert message == "--relation-types: unknown type name(s) ['cid']; this model's are ['CID']"
    assert not output.exists()


def test_a_corpus_of_types_the_model_lacks_is_named_with_a_hint_not_a_traceback(tokenizer, processor):
    """calibrate.py on DocRED ids (P108) for a model trained on named relations ended in a traceback from
    "<memory>", without a word of --rel-info."""
    import argparse

    from helpers import tiny_config

    from simmemre import SimMemREModel
    from simmemre.experiment_simmemre import corpus_rows

    jerex = SCRIPTS.parent.parent / "shared" / "data" / "docred-jerex-joint" / "fixtures_seq2rel_ds"
    if not (jerex / "types.json").is_file():
        pytest.skip("no shared data")
    types = ["LOC", "MISC", "NUM", "ORG", "PER", "TIME"]
    model = SimMemREModel(tiny_config(tokenizer, entity_types=types, relation_types=["country", "employer"]))
    args = argparse.Namespace(format="docred", data_dir=str(jerex), rel_info=None, max_documents=1)
    with pytest.raises(SystemExit, match=r"\(dev split\): document .*: relations\[\d+\]\.type: .* needs --rel-info"):
        corpus_rows(args, model, processor, ["dev"])


@pytest.mark.parametrize("script", ["scripts/calibrate.py", "benchmarks/memory_read_stats.py"])
def test_the_model_folder_may_be_given_as_an_option_as_the_other_scripts_take_it(script, tmp_path, capsys):
    """`calibrate.py --model M` stopped at "the following arguments are required: model"; memory_read_stats.py named
    a --model option it did not have."""
    main = load_script(SCRIPTS.parent / script, Path(script).stem + "_script").main
    corpus = ["--data-dir", str(tmp_path), "--format", "bc5cdr"]
    for argv, code, message in (
        (["--model", NOT_A_MODEL, *corpus], f"--model {NOT_A_MODEL}: no such model folder", None),
        ([NOT_A_MODEL, *corpus], f"MODEL {NOT_A_MODEL}: no such model folder", None),
        ([NOT_A_MODEL, "--model", "other", *corpus], 2, "give the model folder once: MODEL or --model MODEL"),
        (corpus, 2, "the model folder is required: MODEL or --model MODEL"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert str(stopped.value.code).startswith(str(code))  # (and: "(HF_HUB_OFFLINE is set ...)")
        if message:
            assert message in capsys.readouterr().err


def test_memory_read_stats_checks_its_output_before_loading_the_model(tmp_path):
    """--output - wrote a file named "-", and a path that cannot be written lost the measurement after the work."""
    main = load_script(SCRIPTS.parent / "benchmarks" / "memory_read_stats.py", "memory_read_stats_script").main
    corpus = ["--data-dir", str(tmp_path), "--format", "bc5cdr"]
    with pytest.raises(SystemExit) as stopped:
        main([NOT_A_MODEL, *corpus, "--output", "-"])
    assert stopped.value.code == "--output -: standard output is not written here; give a file name"


def test_a_folder_of_another_model_is_named_before_it_loads(tmp_path, tokenizer, monkeypatch):
    """An encoder folder given as --model loaded whole, printed transformers' load report, then failed in the
    pipeline with advice for the transformers API."""
    from transformers import BertConfig, BertModel

    import simmemre.experiment_simmemre as experiment

    folder = tmp_path / "encoder"
    BertModel(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    monkeypatch.setattr(experiment, "load_trained_model", lambda *args, **kwargs: pytest.fail("the model loaded"))
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    message = refusal("score", ["--model", str(folder), "--data", gold])
    assert message == (
        f"--model {folder}: not a SimMemRE model folder (its config.json says model_type 'bert'); give a trained "
        "SimMemRE folder such as a run's best_model"
    )


def test_calibrate_says_when_it_cannot_read_the_run_s_training_documents(hub_folder, tmp_path, capsys):
    """The check was skipped without a word when the run's data had moved."""
    import argparse

    from simmemre import experiment_simmemre as experiment

    data = SCRIPTS.parent.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip("no shared data")
    model = _run_folder_that_trained_on(tmp_path, hub_folder, tmp_path / "moved-away")
    args = argparse.Namespace(format="bc5cdr", data_dir=str(data), dev_split="dev", test_split="", rel_info=None)
    experiment.check_calibration_documents(args, experiment.check_corpus_splits(args, ["dev"]), str(model))
    assert "note: the documents the model trained on could not be read again (" in capsys.readouterr().err
