"""What a model card claims (hub_simmemre.render_model_card and the cards train.py and the Trainer write) matches the
model and the scores it was given; folders that would not load are named before they are uploaded."""

import json
import math

import pytest
import yaml
from helpers import tiny_config

from simmemre.hub_simmemre import folder_problems, render_model_card
from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS


def scores(value):
    return {f"{level}_{name}": value for level in LEVELS for name in ("precision", "recall", "f1")}


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def indexed_splits(card: str) -> list:
    return [result["dataset"]["split"] for result in front_matter(card)["model-index"][0]["results"]]


def test_scores_on_the_split_the_thresholds_were_tuned_on_are_marked_and_kept_out_of_the_metadata(tokenizer):
    """A calibrated run's card published validation F1 at thresholds chosen on validation, as a plain result."""
    card = render_model_card(
        tiny_config(tokenizer),
        results={"validation": scores(30.7), "test": scores(25.9)},
        thresholds_tuned_on="validation",
    )
    assert indexed_splits(card) == ["test"]
    assert "| validation (thresholds tuned here) | Relation F1 (strict, typed entities) |" in card
    assert "The default thresholds were chosen on validation" in card


def test_the_evaluation_table_names_each_splits_document_count(tokenizer):
    """A quick run tuned its thresholds on 100 dev documents and the card said only "validation"."""
    card = render_model_card(
        tiny_config(tokenizer),
        results={"validation": {**scores(30.7), "documents": 100.0}, "test": {**scores(25.9), "documents": 1500}},
        thresholds_tuned_on="validation",
    )
    assert "| validation (100 documents; thresholds tuned here) | Relation F1 (strict, typed entities) |" in card
    assert "| test (1,500 documents) | Mention F1 |" in card


@pytest.mark.parametrize(
    "settings, expected, absent",
    [
        ({"jerex_baseline": True}, "JEREX (Eberts & Ulges, 2021), the baseline without memory", "memory of"),
        ({}, "SimMemRE: JEREX (Eberts & Ulges, 2021) with the similarity-based memory", "baseline"),
        (
            {"use_entity_memory": False, "use_relation_memory": False},
            "bilinear similarity classifiers of Kościukiewicz et al. (2023), no memory reads",
            "SimMemRE:",
        ),
    ],
    ids=["jerex", "memory", "no-reads"],
)
def test_the_architecture_line_follows_the_config(tokenizer, settings, expected, absent):
    """The JEREX baseline's card said "JEREX baseline (no memory) — ... with the similarity-based memory"."""
    line = next(
        line for line in render_model_card(tiny_config(tokenizer, **settings)).splitlines() if "Architecture" in line
    )
    assert expected in line and absent not in line


def test_windows_are_called_overlapping_only_when_they_overlap(tokenizer):
    card = render_model_card(tiny_config(tokenizer, encoder_window_overlap=0, encoder_window_size=64))
    assert "windows of 64 subwords, so nothing is truncated" in card and "overlapping" not in card
    card = render_model_card(tiny_config(tokenizer, encoder_window_overlap=16, encoder_window_size=64))
    assert "windows of 64 subwords overlapping by 16" in card


def test_trainer_prefixed_results_are_refused_instead_of_giving_an_empty_table(tokenizer):
    prefixed = {f"eval_{key}": value for key, value in scores(50.0).items()}
    with pytest.raises(ValueError, match="without the Trainer's prefixes"):
        render_model_card(tiny_config(tokenizer), results=prefixed)


@pytest.mark.parametrize("missing", [None, float("nan"), math.inf])
def test_a_missing_or_non_finite_score_is_never_published(tokenizer, missing):
    """None crashed; NaN and infinity went into model-index as .nan/.inf."""
    results = {**scores(50.0), "entity_f1": missing, "relation_strict_precision": missing}
    card = render_model_card(tiny_config(tokenizer), results=results)
    names = [metric["config"] for metric in front_matter(card)["model-index"][0]["results"][0]["metrics"]]
    assert "entity" not in names and "relation_strict" in names
    assert "| test | Relation F1 (strict, typed entities) | – | 50.0 | 50.0 |" in card
    assert not any(line.startswith("| test | Entity F1") for line in card.splitlines())


def test_a_split_name_with_a_pipe_does_not_break_the_table(tokenizer):
    card = render_model_card(tiny_config(tokenizer), results={"val|dev": scores(50.0)})
    row = next(line for line in card.splitlines() if line.startswith("| val"))
    assert row.startswith("| val\\|dev | ") and row.replace("\\|", "").count("|") == 6


def test_the_card_names_the_task_users_must_load(tokenizer):
    card = render_model_card(tiny_config(tokenizer))
    assert '`pipeline("token-classification", ...)` with `trust_remote_code=True` runs the same pipeline' in card


def test_a_renamed_folder_gets_the_repository_id_title_and_name_on_upload(tokenizer):
    """The placeholder named the folder the card was saved in: a folder renamed since kept <your-user>/old-name."""
    from simmemre.hub_simmemre import card_with_repo_id

    card = render_model_card(
        tiny_config(tokenizer), results=scores(50.0), repo_id="<your-user>/best_model", model_name="best_model"
    )
    pushed = card_with_repo_id(card, "me/simmemre-cdr")
    assert "<your-user>" not in pushed and 'model="me/simmemre-cdr"' in pushed
    assert "\n# simmemre-cdr\n" in pushed and front_matter(pushed)["model-index"][0]["name"] == "simmemre-cdr"


# ---- folders that would not load ----


@pytest.fixture
def complete_folder(hub_folder, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(hub_folder, folder)
    assert folder_problems(folder) == []
    return folder


def test_an_empty_weights_file_is_named(complete_folder):
    (complete_folder / "model.safetensors").write_bytes(b"")
    assert folder_problems(complete_folder) == ["model.safetensors is empty"]


def test_a_weight_index_without_its_shards_is_named(complete_folder):
    (complete_folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {"encoder.x": "model-00001-of-00002.safetensors"}}
    (complete_folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert folder_problems(complete_folder) == [
        "weight shard(s) named in model.safetensors.index.json are missing: model-00001-of-00002.safetensors"
    ]


def test_a_pipeline_entry_naming_a_missing_file_is_named(complete_folder):
    config = json.loads((complete_folder / "config.json").read_text())
    config["custom_pipelines"]["joint-re"]["impl"] = "pipeline_gone.JointREPipeline"
    (complete_folder / "config.json").write_text(json.dumps(config))
    assert folder_problems(complete_folder) == [
        "custom_pipelines['joint-re'] names pipeline_gone.JointREPipeline, whose file is missing"
    ]


def test_a_card_without_metadata_is_named(complete_folder):
    (complete_folder / "README.md").write_text("# my model\n")
    assert folder_problems(complete_folder) == [
        "README.md has no metadata (YAML front matter): write the card with save_for_hub"
    ]


# ---- the cards train.py and the Trainer write ----


@pytest.mark.parametrize(
    "splits, applied, expected",
    [
        (("validation", "test"), True, {"results": ["validation", "test"], "tuned": "validation"}),
        (("validation", "test"), False, {"results": ["validation", "test"], "tuned": None}),
        (("test",), True, {"results": ["test"], "tuned": None}),
    ],
    ids=["calibrated", "calibration-refused", "no-validation"],
)
def test_train_gives_the_card_the_scores_of_the_saved_thresholds(monkeypatch, tmp_path, splits, applied, expected):
    """Calibration requested without a validation split gave a card without any evaluation."""
    from test_experiment import finished_trainer

    from simmemre import experiment_simmemre, hub_simmemre, training_simmemre

    def evaluate(dataset, metric_key_prefix):
        return {f"{metric_key_prefix}_{key}": value for key, value in scores(40.0).items()}

    trainer = finished_trainer(tmp_path, global_step=3, evaluate=evaluate)
    run = {"resume": None, "calibrate": True, "calibration_grid": None, "base_model": None, "data": {}}
    calibration = {"thresholds": {"relation_threshold": 0.3}, "scores": scores(45.0), "applied": applied, "reason": ""}
    calibration["fixed_thresholds"] = {"relation_threshold": 0.5}
    saved = {}
    monkeypatch.setattr(
        experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {s: [{}] for s in splits}, run)
    )
    monkeypatch.setattr(training_simmemre, "calibrate_thresholds", lambda *args, **kwargs: calibration)
    monkeypatch.setattr(training_simmemre, "apply_thresholds", lambda model, thresholds: None)
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: saved.update(kwargs))
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: {"facts": kwargs})
    monkeypatch.setattr(experiment_simmemre, "write_run_files", lambda *args, **kwargs: None)
    experiment_simmemre.train({"training": {"output_dir": str(tmp_path)}}, print_summary=False)
    assert list(saved["results"]) == expected["results"]
    assert saved["thresholds_tuned_on"] == expected["tuned"]
    assert saved["training"] == {"facts": {"train_documents": None, "train_runtime": None}}  # (no train split here)


@pytest.mark.parametrize(
    "data, dataset_name",
    [({"format": "bc5cdr"}, "bc5cdr"), ({"format": "bioc"}, None), ({"format": "brat", "dataset_name": "BB"}, "BB")],
)
def test_the_card_names_a_dataset_only_where_the_data_names_one(monkeypatch, tmp_path, data, dataset_name):
    """A corpus read as BioC or brat got a card whose datasets metadata said "bioc": a format, not a dataset."""
    from test_experiment import finished_trainer

    from simmemre import experiment_simmemre, hub_simmemre

    trainer = finished_trainer(tmp_path, global_step=3, evaluate=lambda dataset, metric_key_prefix: {})
    run = {"resume": None, "calibrate": False, "calibration_grid": None, "base_model": None, "data": data}
    saved = {}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: saved.update(kwargs))
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: {"facts": kwargs})
    monkeypatch.setattr(experiment_simmemre, "write_run_files", lambda *args, **kwargs: None)
    experiment_simmemre.train({"training": {"output_dir": str(tmp_path)}}, print_summary=False)
    assert saved["dataset_name"] == dataset_name


def test_the_trainer_card_reports_the_best_checkpoint_it_loaded(model, processor, tmp_path):
    """Under load_best_model_at_end the card published the last evaluation, not the pushed model's."""
    from transformers import TrainingArguments

    from simmemre.training_simmemre import SimMemREDataCollator, SimMemRETrainer

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    trainer = SimMemRETrainer(
        model=model, args=args, data_collator=SimMemREDataCollator(processor, model.config), processing_class=processor
    )
    trainer.args.load_best_model_at_end = True  # as after train(): no eval set is needed to write the card
    trainer.state.log_history = [
        {"step": 2, "eval_relation_strict_f1": 40.0, "eval_entity_f1": 70.0},
        {"step": 4, "eval_relation_strict_f1": 20.0, "eval_entity_f1": 60.0},
    ]
    trainer.state.best_global_step = 2
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "| validation | Relation F1 (strict, typed entities) | – | – | 40.0 |" in card


def test_the_output_example_uses_labels_the_model_can_give(tokenizer):
    """A non-BC5CDR model saved with a BC5CDR dataset name showed Chemical/CID; a relation restricted to one type pair
    showed another pair."""
    import re

    config = tiny_config(
        tokenizer,
        entity_types=["PER", "ORG", "LOC"],
        relation_types=["works_for"],
        relation_argument_types={"works_for": [["PER", "ORG"]]},
    )
    card = render_model_card(config, dataset_name="bigbio/bc5cdr")
    example = json.loads(re.search(r"```json\n(.*)\n```", card).group(1))
    assert [entity["type"] for entity in example["entities"]] == ["PER", "ORG"]
    assert example["relations"][0]["type"] == "works_for" and "Lidocaine" not in card


def test_a_model_without_relation_types_publishes_no_relation_score_or_example(tokenizer):
    """An NER and coreference model's card headlined "Relation F1 0.0" and showed a relation of type "RELATION",
    which the model does not have and the pipeline refuses."""
    card = render_model_card(tiny_config(tokenizer, relation_types=[]), results={"test": scores(40.0)})
    configs = [metric["config"] for metric in front_matter(card)["model-index"][0]["results"][0]["metrics"]]
    assert configs and not any(config.startswith("relation") for config in configs)
    assert '"RELATION"' not in card and "relation_types=[]" not in card and '"relations": []' in card


def test_type_names_with_backticks_stay_inside_their_code_spans(tokenizer):
    card = render_model_card(tiny_config(tokenizer, entity_types=["a`b", "Disease"]))
    assert "`` a`b ``, `Disease`" in card


def test_calibrate_writes_the_card_again_for_the_thresholds_it_saves(hub_folder, model, tmp_path):
    """calibrate.py rewrote config.json's thresholds but not README.md: the card, uploaded by push_to_hub.py, stated
    the old thresholds and their scores."""
    import copy
    import shutil

    from helpers import SCRIPTS, load_script

    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    folder = tmp_path / "model"
    shutil.copytree(hub_folder, folder)
    config = copy.deepcopy(model.config)
    config.relation_threshold = 0.3
    scores = {"relation_strict_f1": 12.5, "entity_f1": 50.0, "mention_f1": 70.0}
    calibrate.rewrite_model_card(str(folder), config, {"scores": scores, "test_scores": scores}, "test")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"relation 0.3, entity {config.entity_threshold}" in card and "thresholds tuned here" in card
    assert "bigbio/bc5cdr" in card and "sentence-transformers/all-MiniLM-L6-v2" in card  # kept from the old card
    assert "41.5" not in card and "12.5" in card


def test_bc5cdr_is_named_by_its_hub_dataset_id(model):
    """The card's datasets said "bc5cdr", which links to no dataset page."""
    from huggingface_hub import ModelCard

    from simmemre.hub_simmemre import render_model_card

    card = ModelCard(render_model_card(model.config, {"relation_strict_f1": 40.0}, dataset_name="bc5cdr"))
    assert card.data.datasets == ["bigbio/bc5cdr"]
    assert (
        card.data.eval_results[0].dataset_type == "bigbio/bc5cdr" and card.data.eval_results[0].dataset_name == "BC5CDR"
    )


def test_another_corpus_named_after_bc5cdr_keeps_its_name(model):
    from huggingface_hub import ModelCard

    from simmemre.hub_simmemre import render_model_card

    card = ModelCard(render_model_card(model.config, {"relation_strict_f1": 40.0}, dataset_name="my-bc5cdr-resplit"))
    assert card.data.datasets == ["my-bc5cdr-resplit"] and card.data.eval_results[0].dataset_name == "my-bc5cdr-resplit"


def training_facts(tmp_path, model, processor, epochs_trained=None, warmup=0.1, collator_seed=None, **arguments):
    from transformers import TrainingArguments

    from simmemre.hub_simmemre import training_procedure
    from simmemre.training_simmemre import SimMemREDataCollator, SimMemRETrainer

    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        report_to="none",
        learning_rate=5e-5,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        num_train_epochs=20,
        warmup_steps=warmup,
        seed=112,
        **arguments,
    )
    collator = SimMemREDataCollator(processor, model.config, neg_mention_count=200, seed=collator_seed)
    trainer = SimMemRETrainer(
        model=model, args=args, data_collator=collator, processing_class=processor, head_learning_rate=1e-3
    )
    trainer.state.epoch = epochs_trained
    return training_procedure(trainer, train_documents=500, train_runtime=3119.0)


def test_the_card_states_how_the_model_was_trained(model, processor, tmp_path):
    """Cards said nothing of the training run (transformers' Trainer cards list its hyperparameters and versions)."""
    import transformers

    card = render_model_card(model.config, training=training_facts(tmp_path, model, processor))
    section = card.split("## Training procedure")[1].split("\n## ")[0]
    for fact in (
        "- training documents: 500",
        "- learning_rate: 5e-05",
        "- head_learning_rate (heads, memories, embeddings): 0.001",
        "- total_train_batch_size: 4",
        "- warmup: 10% of the steps",
        "- seed: 112",
        "- mixed_precision: float32",
        "- training time: 51m59s on cpu",
        "- negative samples per document (mention / coreference / relation): 200 / ",
        f"- Transformers: {transformers.__version__}",
    ):
        assert fact in section, fact


def test_calibrate_keeps_the_training_section_of_the_card_it_rewrites(hub_folder, model, processor, tmp_path):
    """The training run is unchanged by calibration; a rewritten card must not drop what it says of it."""
    import copy
    import shutil

    from helpers import SCRIPTS, load_script

    from simmemre.hub_simmemre import card_section

    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    folder = tmp_path / "model"
    shutil.copytree(hub_folder, folder)
    card = render_model_card(model.config, dataset_name="bc5cdr", training=training_facts(tmp_path, model, processor))
    (folder / "README.md").write_text(card, encoding="utf-8")
    config = copy.deepcopy(model.config)
    config.relation_threshold = 0.3
    calibrate.rewrite_model_card(str(folder), config, {"scores": {"relation_strict_f1": 12.5}}, None)
    rewritten = (folder / "README.md").read_text(encoding="utf-8")
    assert card_section(rewritten) == card_section(card) and "- seed: 112" in card_section(rewritten)
    assert rewritten.index("## Training procedure") < rewritten.index("## Citation")


def test_the_card_gives_the_epochs_trained_and_a_small_warm_up_as_it_is(model, processor, tmp_path):
    """A run stopped by max_steps after 3 epochs had a card saying 20; a 0.5 % warm-up showed as "0% of the steps"."""
    facts = training_facts(tmp_path, model, processor, epochs_trained=3.0, warmup=0.005)["Training hyperparameters"]
    assert (facts["num_epochs"], facts["warmup"]) == ("3", "0.5% of the steps")


def test_the_card_gives_the_data_seed_where_set(model, processor, tmp_path):
    """data_seed draws the negative samples and the document order: a card without it did not say how they were
    drawn."""
    facts = training_facts(tmp_path, model, processor, data_seed=7)["Training hyperparameters"]
    assert (facts["seed"], facts["data_seed"]) == (112, 7)
    assert "data_seed" not in training_facts(tmp_path, model, processor)["Training hyperparameters"]
    assert (
        "negative samples seed"
        not in training_facts(tmp_path, model, processor, data_seed=7)["Training hyperparameters"]
    )


def test_the_card_names_the_negatives_seed_of_a_run_resumed_under_the_old_rule(model, processor, tmp_path):
    """A run resumed from a checkpoint written before data_seed seeded the negatives keeps drawing them from seed."""
    facts = training_facts(tmp_path, model, processor, data_seed=7, collator_seed=112)["Training hyperparameters"]
    assert (facts["data_seed"], facts["negative samples seed"]) == (7, 112)


def test_card_section_ends_at_a_heading_outside_code_fences():
    """A "## " line inside a code block ended the section there, leaving its fence open in the rewritten card."""
    from simmemre.hub_simmemre import card_section

    card = "# m\n\n## Training procedure\n\n```text\n## not a heading\n```\n- seed: 1\n\n## Citation\n\nx\n"
    assert card_section(card) == "## Training procedure\n\n```text\n## not a heading\n```\n- seed: 1\n"
