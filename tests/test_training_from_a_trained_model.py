"""A run started from a trained SimMemRE model (`encoder: PATH` or `--encoder.path PATH` naming a saved folder): it
begins from the saved weights, heads and memories, keeps the saved architecture and label lists, takes the run's
inference and loss settings, and writes a best_model that loads with remote code. Before, such a folder stopped the
run with "SimMemREConfig.encoder_config: must be an encoder config dict with a hidden size"."""

import copy
import json
import re
from pathlib import Path

import pytest
import torch
from helpers import GOLD_DOCUMENT, LOW, REPO_ROOT, SCRIPTS, TINY_ENCODER, TRAIN_DOCUMENT, load_script
from safetensors.torch import load_file

from simmemre.experiment_simmemre import build_trainer, check_encoder_location, train, valid_config_keys
from simmemre.training_simmemre import ARCHITECTURE_SETTINGS


def write_jsonl(path, documents):
    path.write_text("".join(json.dumps(document) + "\n" for document in documents), encoding="utf-8")
    return str(path)


def run_config(folder, train_documents=None, validation_documents=None, encoder=None, **model):
    """A two-step run on two small documents (validation: one), no checkpoints."""
    documents = train_documents or [{**TRAIN_DOCUMENT, "id": "t1"}, {**TRAIN_DOCUMENT, "id": "t2"}]
    return {
        "data": {
            "train_file": write_jsonl(folder / "train.jsonl", documents),
            "validation_file": write_jsonl(folder / "dev.jsonl", validation_documents or [GOLD_DOCUMENT]),
        },
        "encoder": copy.deepcopy(encoder or TINY_ENCODER),
        "model": {"meta_embedding_size": 8, "memory_warmup_proportion": 0.5, **model},
        "sampling": {"neg_mention_count": 10, "neg_coref_count": 10, "neg_relation_count": 10},
        "training": {
            "output_dir": str(folder / "run"),
            "max_steps": 2,
            "per_device_train_batch_size": 2,
            "learning_rate": 1e-3,
            "eval_strategy": "no",
            "save_strategy": "no",
            "report_to": "none",
        },
    }


@pytest.fixture(scope="module")
def start_model(tmp_path_factory):
    """The best_model of a tiny two-step run from a random encoder, under another seed than the runs from it (whose
    random initialisation would otherwise be the start model's before its two steps)."""
    folder = tmp_path_factory.mktemp("start")
    return train(run_config(folder), ["--seed", "7"], print_summary=False)["best_model"]


@pytest.fixture(scope="module")
def still_run(start_model, tmp_path_factory):
    """A run from `start_model` at a learning rate too small to move a float32 weight, with another mention
    threshold (an inference setting) and a memory warm-up in its model section."""
    folder = tmp_path_factory.mktemp("still")
    config = run_config(folder, mention_threshold=0.3)
    overrides = ["--encoder", start_model, "--learning_rate", "1e-30", "--weight_decay", "0"]
    return train(config, overrides, print_summary=False)


def weights(folder):
    return load_file(f"{folder}/model.safetensors")


def saved_config(folder):
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))


def test_a_run_from_a_trained_model_begins_from_its_weights(start_model, still_run):
    """Every saved tensor (encoder, heads, memories) is the start model's when training cannot move them."""
    start, result = weights(start_model), weights(still_run["best_model"])
    assert start.keys() == result.keys()
    for name, tensor in start.items():
        assert torch.allclose(result[name], tensor, rtol=0, atol=1e-20), name


def test_training_from_a_trained_model_moves_its_weights_a_little(start_model, tmp_path):
    """Two AdamW steps at 1e-3 change weights by about 2e-3 at most: they differ from the start model's, and by far
    less than a new random initialisation would (std 0.02)."""
    run = train(run_config(tmp_path), ["--encoder", start_model], print_summary=False)
    start, result = weights(start_model), weights(run["best_model"])
    largest = max((result[name] - tensor).abs().max().item() for name, tensor in start.items())
    assert 0 < largest < 5e-3


def test_an_architecture_setting_that_differs_is_refused_naming_it(start_model, tmp_path):
    """train.py with --encoder.path (a config whose encoder is a path) and another meta_embedding_size stops before
    training, naming the setting, the saved value and the requested one."""
    config_file = tmp_path / "config.json"
    config = run_config(tmp_path, encoder={"path": "minilm", "config_overrides": {"hidden_dropout_prob": 0.0}})
    config_file.write_text(json.dumps(config), encoding="utf-8")
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    arguments = [str(config_file), "--encoder.path", start_model, "--model.meta_embedding_size", "16"]
    with pytest.raises(SystemExit, match=re.escape("model.meta_embedding_size 8 (this run: 16)")):
        train_script.main(arguments)
    assert not (tmp_path / "run").exists()


def test_an_inference_setting_is_taken_from_the_run(start_model, still_run):
    """The run's mention_threshold replaces the saved one (0.85) in the best_model it writes."""
    assert saved_config(start_model)["mention_threshold"] == 0.85
    assert saved_config(still_run["best_model"])["mention_threshold"] == 0.3


def test_the_memory_warmup_is_not_repeated(still_run):
    """A run from a trained model reads its trained memories from the first step: the run's
    memory_warmup_proportion 0.5 (meant for a new model) is replaced by 0."""
    config = saved_config(still_run["best_model"])
    assert config["memory_warmup_proportion"] == 0.0
    assert config["memory_reads_enabled"] is True


def test_data_with_a_type_the_model_lacks_is_refused_naming_it_and_the_file(start_model, tmp_path):
    document = copy.deepcopy(TRAIN_DOCUMENT)
    document["entities"][1]["type"] = "Gene"
    config = run_config(tmp_path, train_documents=[document])
    with pytest.raises(SystemExit, match=r"train\.jsonl: entity type\(s\) \['Gene'\].*not types of the trained model"):
        train(config, ["--encoder", start_model], print_summary=False)
    assert not (tmp_path / "run").exists()


def test_data_with_a_subset_of_the_types_keeps_every_type_slot(start_model, tmp_path):
    """Documents of Disease alone, without relations, train the model's Disease slot (index 1 of its list), and the
    model keeps Chemical and CID."""
    document = {**TRAIN_DOCUMENT, "entities": TRAIN_DOCUMENT["entities"][1:], "relations": []}
    config = run_config(tmp_path, [document], [{**document, "id": "d"}], encoder=start_model)
    trainer, datasets, run = build_trainer(config)
    assert datasets["train"][0]["gold_entity_types"] == [1]
    assert trainer.model.config.entity_types == ["Chemical", "Disease"]
    assert trainer.model.config.relation_types == ["CID"]


def test_a_run_from_a_trained_model_keeps_its_boundary_words_and_argument_types(tmp_path, capsys):
    """The shipped configs derive these filters from the training split; from a trained model on a few documents they
    were derived again from those (the quick model's 109 and 102 boundary words became none, and a split without
    relations made every entity pair a candidate)."""
    filters = {
        "non_initial_words": ["and", "of"],
        "non_final_words": ["the"],
        "relation_argument_types": {"CID": [["Chemical", "Disease"]]},
        "coreference_lexicon": [["itching", "pruritus"]],
    }
    (tmp_path / "start").mkdir()
    (tmp_path / "run").mkdir()
    start = train(run_config(tmp_path / "start", **filters), ["--seed", "7"], print_summary=False)["best_model"]
    document = {**TRAIN_DOCUMENT, "entities": TRAIN_DOCUMENT["entities"][1:], "relations": []}
    config = run_config(tmp_path / "run", train_documents=[document, {**document, "id": "t2"}])
    config["data"].update(boundary_word_min_count=1, relation_argument_types=True, coreference_lexicon=True)
    result = saved_config(train(config, ["--encoder", start], print_summary=False)["best_model"])
    assert {name: result[name] for name in filters} == filters
    assert "not applied in a run from the trained model" in capsys.readouterr().err


def test_a_tiny_encoder_beside_a_trained_models_path_is_refused(start_model, tmp_path):
    """`--encoder.path` over a config's `tiny` encoder was silently ignored: the run trained a new random model."""
    with pytest.raises(SystemExit, match="names a trained SimMemRE model, while encoder.tiny builds"):
        train(run_config(tmp_path), ["--encoder.path", start_model], print_summary=False)


def test_the_result_loads_with_remote_code_and_predicts_as_the_start_model(start_model, still_run):
    """The run moved no weight, so at the same thresholds its best_model, loaded by the pipeline with remote code,
    predicts what the start model predicts."""
    from transformers import pipeline

    documents = [
        pipeline("joint-re", model=folder, trust_remote_code=True)(GOLD_DOCUMENT["text"], **LOW)
        for folder in (start_model, still_run["best_model"])
    ]
    assert documents[0]["entities"]
    assert documents[1] == documents[0]


def test_the_card_and_the_run_config_name_the_model_it_started_from(start_model, still_run):
    card = (Path(still_run["best_model"]) / "README.md").read_text(encoding="utf-8")
    assert "- started from: the trained SimMemRE model `run/best_model`" in card
    assert "initialised from a local SimMemRE model" in card
    run_config_file = Path(still_run["output_dir"]) / "run_config.json"
    assert json.loads(run_config_file.read_text(encoding="utf-8"))["trained_from"] == start_model


def test_the_design_doc_names_the_group_of_every_model_setting():
    """docs/design.md lists the architecture settings and the settings taken from the run as the code groups them."""
    text = (REPO_ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("### Training from a trained model", 1)[1].split("\n## ", 1)[0]
    kept, taken = section.split("Taken from the run", 1)
    model_keys = set(valid_config_keys()["model"])
    assert set(ARCHITECTURE_SETTINGS) <= model_keys
    assert {name for name in model_keys if f"`{name}`" in kept} == set(ARCHITECTURE_SETTINGS)
    assert {name for name in model_keys if f"`{name}`" in taken} == model_keys - set(ARCHITECTURE_SETTINGS)


def test_a_run_folder_given_as_the_encoder_is_hinted_at_its_best_model(tmp_path):
    """A run's folder (not its best_model) stopped with "not an encoder folder" and no word of best_model."""
    (tmp_path / "run" / "best_model").mkdir(parents=True)
    with pytest.raises(SystemExit, match=re.escape("not an encoder folder (a run folder? give its best_model)")):
        check_encoder_location(str(tmp_path / "run"))
