"""Parameter-efficient fine-tuning with peft: LoRA on the encoder's attention projections, the randomly initialised
heads and memories trained fully (`modules_to_save`), with SimMemRETrainer, the pipeline and save_for_hub."""

import copy
import json
import logging
import os

import pytest
import torch

pytest.importorskip("peft")
pytest.importorskip("accelerate")

from helpers import LOW, TEXTS, TRAIN_DOCUMENT, assert_same_predictions, assert_valid_document, tiny_config  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from transformers import AutoModel, TrainerCallback, TrainingArguments, pipeline  # noqa: E402

from simmemre import SimMemREModel  # noqa: E402
from simmemre.hub_simmemre import save_for_hub  # noqa: E402
from simmemre.training_simmemre import ADAPTER_CHECKPOINT_CONFIG, SimMemRETrainer, tokenize_documents  # noqa: E402


def heads_and_memories(model):
    """Everything but the encoder: the task heads and memories start from random weights and are trained fully."""
    return [name for name, _ in model.named_children() if name != "encoder"]


def lora_model(tokenizer, seed=0, **config_overrides):
    """(the SimMemRE model, its PeftModel): LoRA rank 4 on the BERT encoder's query and value projections."""
    torch.manual_seed(seed)
    config_overrides.setdefault("max_mentions_per_word", 0.5)
    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8, **config_overrides))
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], modules_to_save=heads_and_memories(model))
    return model, get_peft_model(model, lora)


class MemorySwitchRecorder(TrainerCallback):
    """The wrapped SimMemRE model's `memory_reads_enabled` at the end of every optimizer step (the step's switch)."""

    def __init__(self, model):
        self.model, self.switches = model, []

    def on_step_end(self, args, state, control, **kwargs):
        self.switches.append(self.model.memory_reads_enabled)


def train(peft_model, processor, output_dir, callbacks=(), resume_from_checkpoint=None, **arguments):
    rows = tokenize_documents(
        [TRAIN_DOCUMENT, {**TRAIN_DOCUMENT, "id": "u"}],
        processor,
        peft_model.config.entity_types,
        peft_model.config.relation_types,
    )
    settings = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 1,
        "max_steps": 4,
        "learning_rate": 1e-2,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": True,
        "seed": 0,
    }
    trainer = SimMemRETrainer(
        model=peft_model,
        args=TrainingArguments(**{**settings, **arguments}),
        train_dataset=rows,
        eval_dataset=rows,
        processing_class=processor,
        callbacks=list(callbacks),
    )
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return trainer


def test_lora_trains_the_adapters_heads_and_memories_only(tokenizer):
    model, peft_model = lora_model(tokenizer)
    trainable = {name: p.numel() for name, p in peft_model.named_parameters() if p.requires_grad}
    lora = sum(count for name, count in trainable.items() if ".lora_" in name)
    heads = sum(  # (the wrapped modules' originals: their trained copies are under `modules_to_save`)
        p.numel() for name, p in model.named_parameters() if ".original_module." in name
    )
    assert heads == sum(p.numel() for name, p in model.named_parameters() if not name.startswith("encoder.")) / 2
    assert lora == 2 * 2 * 4 * (32 + 32)  # 2 layers x (query, value) x rank 4 x (A: 32 in, B: 32 out)
    assert sum(trainable.values()) == lora + heads
    assert all(".lora_" in name or ".modules_to_save." in name for name in trainable)


def test_memory_warmup_switches_the_model_under_the_peft_wrapper(tokenizer, processor, tmp_path):
    """The wrapper kept the trainer's `memory_reads_enabled` writes on itself: the memories were read from step 1."""
    model, peft_model = lora_model(tokenizer, memory_warmup_proportion=0.5)
    recorder = MemorySwitchRecorder(model)
    trainer = train(peft_model, processor, tmp_path, [recorder], eval_strategy="steps", eval_steps=2)
    assert recorder.switches == [False, False, True, True]
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert [entry["step"] for entry in trainer.state.log_history if "eval_relation_strict_f1" in entry] == [2, 4]


def test_head_learning_rate_splits_the_adapters_from_the_heads(tokenizer, processor, tmp_path):
    model, peft_model = lora_model(tokenizer)
    trainer = train(peft_model, processor, tmp_path, max_steps=1)
    trainer = SimMemRETrainer(
        model=peft_model, args=trainer.args, train_dataset=trainer.train_dataset, processing_class=processor,
        head_learning_rate=1e-3,
    )  # fmt: skip
    optimizer = trainer.create_optimizer()
    names = {id(p): name for name, p in peft_model.named_parameters()}
    by_rate = {}
    for group in optimizer.param_groups:
        by_rate.setdefault(group["lr"], set()).update(names[id(p)] for p in group["params"])
    assert set(by_rate) == {1e-2, 1e-3}
    assert all(".lora_" in name for name in by_rate[1e-2])
    assert all(".modules_to_save." in name for name in by_rate[1e-3])


def test_peft_checkpoints_keep_the_model_config(tokenizer, processor, tmp_path):
    """An adapter checkpoint had no config.json: a resume checked nothing, and the best checkpoint's memory switch was
    guessed from its step."""
    model, peft_model = lora_model(tokenizer, memory_warmup_proportion=0.5)
    train(
        peft_model, processor, tmp_path, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2,
        load_best_model_at_end=True, metric_for_best_model="relation_strict_f1",
    )  # fmt: skip
    for step, reads in ((2, False), (4, True)):
        checkpoint = tmp_path / f"checkpoint-{step}"
        assert (checkpoint / "adapter_model.safetensors").is_file()
        assert not (checkpoint / "config.json").exists()  # (see the next test)
        config = json.loads((checkpoint / ADAPTER_CHECKPOINT_CONFIG).read_text())
        assert config["model_type"] == "simmemre" and config["memory_reads_enabled"] is reads


def test_a_peft_checkpoint_loads_onto_its_base_with_auto_model(tokenizer, processor, tmp_path):
    """transformers loads a folder with adapter_config.json onto the base model it names only where the folder has no
    config.json: with one, `AutoModel.from_pretrained(checkpoint)` looked there for the whole model's weights."""
    torch.manual_seed(0)
    save_for_hub(SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8)), processor, tmp_path / "base")
    base = AutoModel.from_pretrained(tmp_path / "base", trust_remote_code=True)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], modules_to_save=heads_and_memories(base))
    peft_model = get_peft_model(base, lora)
    train(peft_model, processor, tmp_path / "run", max_steps=2, save_strategy="steps", save_steps=2)
    expected = pipeline("joint-re", model=peft_model.eval(), processor=processor)(TEXTS, **LOW)
    loaded = AutoModel.from_pretrained(tmp_path / "run" / "checkpoint-2", trust_remote_code=True).eval()
    assert_same_predictions(expected, pipeline("joint-re", model=loaded, processor=processor)(TEXTS, **LOW))


def test_resuming_a_peft_checkpoint_keeps_its_memory_reads_on(tokenizer, processor, tmp_path):
    """Extending a run (max_steps 4 -> 12) moves the warm-up's end (0.5 x 12 = 6) past the checkpoint's step 4, whose
    steps already read the memories: they stay on, as for a model without adapters."""
    model, peft_model = lora_model(tokenizer, memory_warmup_proportion=0.5)
    train(peft_model, processor, tmp_path, save_strategy="steps", save_steps=4)
    model, peft_model = lora_model(tokenizer, memory_warmup_proportion=0.5)  # (the same base encoder weights)
    model.memory_reads_enabled = False  # (as a model saved during its warm-up has it)
    recorder = MemorySwitchRecorder(model)
    trainer = train(
        peft_model, processor, tmp_path, [recorder], max_steps=12, resume_from_checkpoint=str(tmp_path / "checkpoint-4")
    )
    assert trainer.state.global_step == 12
    assert recorder.switches == [True] * 8


def test_resuming_a_peft_checkpoint_under_other_labels_is_refused(tokenizer, processor, tmp_path):
    model, peft_model = lora_model(tokenizer)
    train(peft_model, processor, tmp_path, max_steps=2, save_strategy="steps", save_steps=2)
    model, peft_model = lora_model(tokenizer, relation_types=["CID", "Other"])
    with pytest.raises(ValueError, match="trained with relation_types"):
        train(peft_model, processor, tmp_path, resume_from_checkpoint=str(tmp_path / "checkpoint-2"))


@pytest.fixture(scope="module")
def trained_lora(tokenizer, processor, tmp_path_factory):
    """(base folder: the random model before LoRA, saved for the Hub; the PeftModel with non-zero adapters and changed
    head copies, in eval mode)."""
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8, max_mentions_per_word=0.5))
    base_folder = tmp_path_factory.mktemp("base")
    save_for_hub(model.eval(), processor, base_folder)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["query", "value"], modules_to_save=heads_and_memories(model),
        init_lora_weights=False,
    )  # fmt: skip
    peft_model = get_peft_model(model, lora).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if ".modules_to_save." in name:
                parameter.add_(0.05 * torch.randn_like(parameter))
    return base_folder, peft_model


def test_peft_model_extracts_valid_documents(trained_lora, processor):
    base_folder, peft_model = trained_lora
    inputs = processor(TEXTS, return_tensors="pt")
    predictions = peft_model.extract(**inputs, **LOW).predictions
    config = peft_model.config
    extracted = [
        processor.decode(prediction, text, spans, config.entity_types, config.relation_types)
        for prediction, text, spans in zip(predictions, TEXTS, inputs["word_char_spans"])
    ]
    for document, text in zip(extracted, TEXTS):
        assert_valid_document(document, text, config)
    assert any(document["relations"] for document in extracted)
    assert_same_predictions(extracted, pipeline("joint-re", model=peft_model, processor=processor)(TEXTS, **LOW))


def test_adapter_reloads_onto_the_saved_base_model(trained_lora, processor, tmp_path):
    base_folder, peft_model = trained_lora
    expected = pipeline("joint-re", model=peft_model, processor=processor)(TEXTS, **LOW)
    peft_model.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(AutoModel.from_pretrained(base_folder, trust_remote_code=True), tmp_path)
    assert_same_predictions(expected, pipeline("joint-re", model=loaded.eval(), processor=processor)(TEXTS, **LOW))
    base = AutoModel.from_pretrained(base_folder, trust_remote_code=True).eval()
    untouched = pipeline("joint-re", model=base, processor=processor)(TEXTS, **LOW)
    with pytest.raises(AssertionError):  # the adapters and head copies change the predictions
        assert_same_predictions(expected, untouched)


def test_adapter_carries_every_head_and_memory(trained_lora, processor, tmp_path):
    """With every child but the encoder in `modules_to_save`, the base the adapter loads onto needs only the encoder's
    weights: its own heads and memories (another seed here) are replaced."""
    base_folder, peft_model = trained_lora
    expected = pipeline("joint-re", model=peft_model, processor=processor)(TEXTS, **LOW)
    peft_model.save_pretrained(tmp_path)
    torch.manual_seed(1)
    other = SimMemREModel(peft_model.config)
    other.encoder.load_state_dict(AutoModel.from_pretrained(base_folder, trust_remote_code=True).encoder.state_dict())
    loaded = PeftModel.from_pretrained(other, tmp_path).eval()
    assert_same_predictions(expected, pipeline("joint-re", model=loaded, processor=processor)(TEXTS, **LOW))


def test_merged_model_saves_as_a_plain_simmemre_folder(trained_lora, processor, tmp_path):
    base_folder, peft_model = trained_lora
    expected = pipeline("joint-re", model=peft_model, processor=processor)(TEXTS, **LOW)
    folder = tmp_path / "merged"
    save_for_hub(copy.deepcopy(peft_model).merge_and_unload(), processor, folder)
    assert not (folder / "adapter_config.json").exists()
    loaded = AutoModel.from_pretrained(folder, trust_remote_code=True)
    assert type(loaded).__name__ == "SimMemREModel"
    assert not any("lora_" in name or "modules_to_save" in name for name in loaded.state_dict())
    assert_same_predictions(expected, pipeline("joint-re", model=str(folder), trust_remote_code=True)(TEXTS, **LOW))
    assert os.path.isfile(folder / "model.safetensors")


def test_peft_run_card_says_how_to_load_the_adapter(tokenizer, processor, tmp_path):
    """The card of a peft run's folder gave only the snippets of a full model, which cannot load an adapter."""
    model, peft_model = lora_model(tokenizer)
    base_folder = tmp_path / "base"
    save_for_hub(copy.deepcopy(peft_model).unload(), processor, base_folder)  # the model the adapter starts from
    trainer = train(peft_model, processor, tmp_path / "run", max_steps=1)
    trainer.save_model()
    trainer.create_model_card(model_name="simmemre-lora")
    card = (tmp_path / "run" / "README.md").read_text()
    assert card.index("## Adapter") < card.index("## Usage") and "PeftModel.from_pretrained" in card
    # the card's snippet
    base = AutoModel.from_pretrained(base_folder, trust_remote_code=True)
    loaded = PeftModel.from_pretrained(base, tmp_path / "run")
    extractor = pipeline("joint-re", model=loaded.merge_and_unload(), processor=str(tmp_path / "run"))
    expected = pipeline("joint-re", model=peft_model.eval(), processor=processor)(TEXTS, **LOW)
    assert_same_predictions(expected, extractor(TEXTS, **LOW))


def test_trainer_warns_when_the_adapter_leaves_heads_frozen(tokenizer, processor, tmp_path, caplog):
    """Without `modules_to_save` a new model's random heads and memories stayed random: nothing said so."""
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    _, peft_model = lora_model(tokenizer)
    with caplog.at_level(logging.WARNING, logger="simmemre.training_simmemre"):
        SimMemRETrainer(model=peft_model, args=arguments)
    assert "trains none of" not in caplog.text
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8))
    lora = LoraConfig(r=4, target_modules=["query", "value"], modules_to_save=["entity_memory"])
    with caplog.at_level(logging.WARNING, logger="simmemre.training_simmemre"):
        SimMemRETrainer(model=get_peft_model(model, lora), args=arguments)
    frozen = heads_and_memories(model)
    frozen.remove("entity_memory")
    assert f"the peft model trains none of {frozen}" in caplog.text


@pytest.mark.parametrize("which", ["peft model", "model changed in place"])
def test_save_for_hub_refuses_an_unmerged_peft_model(tokenizer, processor, tmp_path, which):
    """The PeftModel failed with "classes must be registered for the Auto classes"; the model get_peft_model changed in
    place was saved under names that loaded as newly initialised weights."""
    model, peft_model = lora_model(tokenizer)
    with pytest.raises(ValueError, match=r"a peft model .*merge_and_unload\(\)"):
        save_for_hub(peft_model if which == "peft model" else model, processor, tmp_path / "folder")
    assert not (tmp_path / "folder").exists()


# -- LoRA from a train.py config (the `peft` section) ------------------------------------------------------------------


def lora_run_config(folder, peft=None):
    """A tiny four-step run with a validation and a test split, a checkpoint every two steps, the memory warm-up over
    the first half, calibration, thresholds low enough for a random model to predict, and LoRA `peft` (None: none)."""
    from helpers import GOLD_DOCUMENT, TINY_ENCODER

    def write(name, documents):
        path = folder / name
        path.write_text("".join(json.dumps(document) + "\n" for document in documents), encoding="utf-8")
        return str(path)

    config = {
        "data": {
            "train_file": write("train.jsonl", [{**TRAIN_DOCUMENT, "id": "t1"}, {**TRAIN_DOCUMENT, "id": "t2"}]),
            "validation_file": write("dev.jsonl", [GOLD_DOCUMENT]),
            "test_file": write("test.jsonl", [{**GOLD_DOCUMENT, "id": "g-test"}]),
        },
        "encoder": copy.deepcopy(TINY_ENCODER),
        "model": {"meta_embedding_size": 8, "memory_warmup_proportion": 0.5, "max_mentions_per_word": 0.5, **LOW},
        "sampling": {"neg_mention_count": 10, "neg_coref_count": 10, "neg_relation_count": 10},
        "training": {
            "output_dir": str(folder / "run"),
            "max_steps": 4,
            "per_device_train_batch_size": 2,
            "learning_rate": 1e-2,
            "eval_strategy": "steps",
            "eval_steps": 2,
            "save_strategy": "steps",
            "save_steps": 2,
            "report_to": "none",
            "disable_tqdm": True,
            "calibrate_thresholds": True,
            "calibration_grid": {"mention_threshold": [0.0, 0.5], "relation_threshold": [0.0]},
        },
    }
    if peft is not None:
        config["peft"] = peft
    return config


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """train.py's run with `peft: {r: 4, lora_alpha: 8}` (target modules: peft's default for BERT)."""
    from simmemre.experiment_simmemre import train as train_run

    folder = tmp_path_factory.mktemp("lora-run")
    return train_run(lora_run_config(folder, {"r": 4, "lora_alpha": 8}), print_summary=False)


def test_train_py_lora_run_saves_a_plain_model_that_loads_with_auto_model_and_the_pipeline(lora_run):
    """A `peft` section was refused ("unknown top-level keys ['peft']"); its best_model is the adapter merged into the
    encoder, which scored the run's test split (test_predictions.jsonl) as the pipeline does from the folder."""
    from helpers import GOLD_DOCUMENT

    folder = lora_run["best_model"]
    assert not os.path.exists(os.path.join(folder, "adapter_config.json"))
    loaded = AutoModel.from_pretrained(folder, trust_remote_code=True)
    assert type(loaded).__name__ == "SimMemREModel"
    assert not any("lora_" in name or "modules_to_save" in name for name in loaded.state_dict())
    extracted = pipeline("joint-re", model=folder, trust_remote_code=True)(GOLD_DOCUMENT["text"])
    with open(os.path.join(lora_run["output_dir"], "test_predictions.jsonl"), encoding="utf-8") as handle:
        scored = json.loads(handle.readline())
    assert scored["entities"]  # (LOW thresholds: something to compare)
    assert_same_predictions([{**scored, "id": None}], [extracted])
    assert "calibrated_test_relation_strict_f1" in lora_run["results"]


def test_train_py_lora_checkpoints_hold_the_adapter_with_every_head_and_memory_and_the_memory_switch(lora_run):
    from safetensors.torch import load_file

    heads = heads_and_memories(SimMemREModel(json_config(lora_run["best_model"])))
    for step, reads in ((2, False), (4, True)):
        checkpoint = os.path.join(lora_run["output_dir"], f"checkpoint-{step}")
        assert not os.path.exists(os.path.join(checkpoint, "config.json"))
        with open(os.path.join(checkpoint, ADAPTER_CHECKPOINT_CONFIG), encoding="utf-8") as handle:
            assert json.load(handle)["memory_reads_enabled"] is reads  # the warm-up switched the wrapped model
        with open(os.path.join(checkpoint, "adapter_config.json"), encoding="utf-8") as handle:
            adapter = json.load(handle)
        assert (adapter["r"], adapter["lora_alpha"], sorted(adapter["target_modules"])) == (4, 8, ["query", "value"])
        assert sorted(adapter["modules_to_save"]) == sorted(heads)
        saved = load_file(os.path.join(checkpoint, "adapter_model.safetensors"))
        assert all(any(f".{head}." in name for name in saved) for head in heads)
        assert all(name.startswith("base_model.model.encoder.") for name in saved if ".lora_" in name)


def json_config(folder):
    from simmemre import SimMemREConfig

    return SimMemREConfig.from_pretrained(folder)


def test_train_py_lora_settings_are_in_the_run_config_and_the_card(lora_run):
    with open(os.path.join(lora_run["output_dir"], "run_config.json"), encoding="utf-8") as handle:
        recorded = json.load(handle)["config"]["peft"]
    assert recorded == {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query", "value"]}
    with open(os.path.join(lora_run["best_model"], "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    assert (
        "LoRA (peft): r 4, lora_alpha 8, lora_dropout 0 on the encoder's query, value layers; heads and memories "
        "trained in full; merged into the encoder"
    ) in card
    assert "## Adapter" not in card  # (best_model is a whole model)


def test_train_py_resumes_a_lora_run_from_its_adapter_checkpoint(tmp_path):
    """`--peft.r 4` turns LoRA on from the command line; the resume loads the adapter and trains the rest."""
    from simmemre.experiment_simmemre import train as train_run

    config = lora_run_config(tmp_path)
    config["training"].update(eval_strategy="no", calibrate_thresholds=False, load_best_model_at_end=False)
    train_run(config, ["--peft.r", "4", "--max_steps", "2"], print_summary=False)
    result = train_run(config, ["--peft.r", "4", "--resume_from_checkpoint", "true"], print_summary=False)
    with open(os.path.join(result["output_dir"], "trainer_state.json"), encoding="utf-8") as handle:
        assert json.load(handle)["global_step"] == 4
    assert type(AutoModel.from_pretrained(result["best_model"], trust_remote_code=True)).__name__ == "SimMemREModel"
    with pytest.raises(SystemExit, match=r"its LoRA adapter was trained with r 4 \(this run: 8\)"):
        train_run(config, ["--peft.r", "8", "--resume_from_checkpoint", "true", "--max_steps", "6"])
    with pytest.raises(SystemExit, match="it holds a LoRA adapter .* this run trains without one"):
        train_run(config, ["--resume_from_checkpoint", "true", "--max_steps", "6"])


def test_train_py_lora_from_a_trained_model_records_it_as_the_adapters_base(lora_run, tmp_path):
    """adapter_config.json said base_model_name_or_path null: `AutoModel.from_pretrained(checkpoint)` had no model to
    load the adapter onto."""
    from simmemre.experiment_simmemre import train as train_run

    config = lora_run_config(tmp_path, {"r": 4})
    config["training"].update(eval_strategy="no", calibrate_thresholds=False, load_best_model_at_end=False)
    del config["model"]["memory_warmup_proportion"]  # (a trained model's warm-up is not repeated)
    result = train_run(config, ["--encoder", lora_run["best_model"]], print_summary=False)
    checkpoint = os.path.join(result["output_dir"], "checkpoint-4")
    with open(os.path.join(checkpoint, "adapter_config.json"), encoding="utf-8") as handle:
        assert json.load(handle)["base_model_name_or_path"] == os.path.abspath(lora_run["best_model"])
    loaded = AutoModel.from_pretrained(checkpoint, trust_remote_code=True)
    assert type(loaded).__name__ == "SimMemREModel" and any(".lora_" in name for name in loaded.state_dict())


@pytest.mark.parametrize(
    "peft, field, says",
    [
        ({"r": 0}, "peft.r", "a positive whole number"),
        ({"r": 2.5}, "peft.r", "a positive whole number"),
        ({"lora_alpha": -1}, "peft.lora_alpha", "a positive number"),
        ({"lora_dropout": 1.0}, "peft.lora_dropout", r"a probability in \[0, 1\)"),
        ({"target_modules": "query"}, "peft.target_modules", r"e.g. \[query\]"),
        ({"target_modules": []}, "peft.target_modules", "a non-empty list"),
        ({"modules_to_save": ["entity_memory"]}, "peft.modules_to_save", "every head and memory is trained in full"),
        ({"rank": 4}, "peft", r"unknown key\(s\) \['rank'\]"),
        ([4], "peft", "a mapping of LoRA settings"),
    ],
)
def test_train_py_refuses_a_bad_peft_section_naming_the_config_file_and_field(tmp_path, peft, field, says):
    import yaml

    from simmemre.experiment_simmemre import train as train_run

    path = tmp_path / "lora.yaml"
    config = lora_run_config(tmp_path)
    config["peft"] = peft
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(SystemExit, match=rf"^{path}: {field}(: |\.| )"):
        train_run(str(path))
    with pytest.raises(SystemExit, match=says):
        train_run(str(path))
    assert not (tmp_path / "run").exists()  # (before any data is read)


def test_train_py_lora_without_peft_installed_says_how_to_install_it(tmp_path, monkeypatch):
    from simmemre.experiment_simmemre import train as train_run

    monkeypatch.setitem(__import__("sys").modules, "peft", None)  # (an import of peft fails)
    with pytest.raises(SystemExit, match=r'^config: peft: LoRA needs the peft package: pip install "\.\[peft\]"'):
        train_run(lora_run_config(tmp_path, {"r": 4}))


def test_lora_target_modules_default_to_peft_s_for_the_encoder_family(tokenizer):
    from simmemre.training_simmemre import lora_model as train_py_lora_model

    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8))
    peft_model = train_py_lora_model(model, {"r": 2})
    adapted = {name.rsplit(".", 1)[-1] for name, module in peft_model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {"query", "value"}
    assert all(
        ".encoder." in name for name, module in peft_model.named_modules() if hasattr(module, "lora_A")
    )  # fmt: skip
    assert sorted(peft_model.peft_config["default"].modules_to_save) == sorted(heads_and_memories(model))
    assert peft_model.peft_config["default"].r == 2 and peft_model.peft_config["default"].lora_alpha == 8  # (peft's)


def test_lora_all_linear_adapts_and_records_the_encoder_s_layers_only(tokenizer):
    """peft's all-linear recorded the heads' layers among the target modules (their copies in modules_to_save keep
    them from LoRA), which the run config and the card would have named."""
    from simmemre.training_simmemre import lora_model as train_py_lora_model
    from simmemre.training_simmemre import lora_settings_of

    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8))
    peft_model = train_py_lora_model(model, {"target_modules": "all-linear"})
    adapted = [name for name, module in peft_model.named_modules() if hasattr(module, "lora_A")]
    assert len(adapted) == 2 * 6 and all(".encoder." in name for name in adapted)  # 2 layers x q, k, v, 3 dense
    assert lora_settings_of(peft_model)["target_modules"] == ["dense", "key", "query", "value"]


def test_lora_without_a_default_for_the_encoder_names_the_field_and_its_layers(tokenizer):
    """An encoder family absent from peft's table (ModernBERT) must name its layers."""
    from simmemre.training_simmemre import lora_model as train_py_lora_model

    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8))
    model.encoder.config.model_type = "modernbert"
    with pytest.raises(ValueError, match=r"^peft.target_modules: not set, .* model type 'modernbert'.* query, value"):
        train_py_lora_model(model, {})


@pytest.mark.parametrize(
    "target, says", [("classifier", "names layers of the heads or memories"), ("q_proj", "no encoder layer")]
)
def test_lora_target_modules_outside_the_encoder_are_refused(tokenizer, target, says):
    from simmemre.training_simmemre import lora_model as train_py_lora_model

    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8))
    with pytest.raises(ValueError, match=rf"^peft.target_modules: '{target}' {says}|^peft.target_modules: {says}"):
        train_py_lora_model(model, {"target_modules": [target]})


def test_merge_peft_model_leaves_the_trainer_a_plain_model_that_predicts_as_the_adapter(tokenizer, processor, tmp_path):
    model, peft_model = lora_model(tokenizer)
    trainer = train(peft_model, processor, tmp_path, max_steps=2)
    expected = trainer.predict_documents(TEXTS)
    assert trainer.merge_peft_model() == {
        "r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "target_modules": ["query", "value"],
    }
    assert type(trainer.model) is SimMemREModel and trainer.model_wrapped is trainer.model
    assert not any("lora_" in name or "modules_to_save" in name for name in trainer.model.state_dict())
    assert_same_predictions(expected, trainer.predict_documents(TEXTS))
    assert trainer.lora_description().endswith("merged into the encoder")
    assert trainer.merge_peft_model() is None  # (nothing left to merge)


def test_resuming_a_peft_checkpoint_under_other_lora_settings_is_refused(tokenizer, processor, tmp_path):
    """The Trainer failed inside load_state_dict with a size mismatch (another rank), or not at all (another alpha)."""
    model, peft_model = lora_model(tokenizer)
    train(peft_model, processor, tmp_path, max_steps=2, save_strategy="steps", save_steps=2)
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, meta_embedding_size=8, max_mentions_per_word=0.5))
    lora = LoraConfig(r=4, lora_alpha=16, target_modules=["query", "value"], modules_to_save=heads_and_memories(model))
    with pytest.raises(ValueError, match=r"its LoRA adapter was trained with lora_alpha 8 \(this run: 16\)"):
        train(get_peft_model(model, lora), processor, tmp_path, resume_from_checkpoint=str(tmp_path / "checkpoint-2"))


def test_resuming_a_peft_checkpoint_onto_other_encoder_weights_is_refused(tokenizer, processor, tmp_path):
    """The checkpoint holds the adapter, heads and memories only: a resume onto another base encoder (another
    encoder setting, or files changed since) trained the adapter on weights it was never fitted to, silently."""
    from simmemre.training_simmemre import BASE_ENCODER_DIGEST_FILE

    _, peft_model = lora_model(tokenizer, seed=0)
    train(peft_model, processor, tmp_path, max_steps=2, save_strategy="steps", save_steps=2)
    assert (tmp_path / "checkpoint-2" / BASE_ENCODER_DIGEST_FILE).exists()
    _, other_base = lora_model(tokenizer, seed=1)
    with pytest.raises(ValueError, match=r"its LoRA adapter was trained on other encoder weights than this run's"):
        train(other_base, processor, tmp_path, resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    _, same_base = lora_model(tokenizer, seed=0)
    resumed = train(same_base, processor, tmp_path, resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert resumed.state.global_step == 4


def test_train_py_loss_curve_check_refuses_a_bad_peft_section_naming_the_file(tmp_path):
    """`train.py CONFIG --loss-curve N` builds the LoRA model a run builds, and checks its peft section alike."""
    import yaml
    from helpers import SCRIPTS, load_script

    path = tmp_path / "lora.yaml"
    path.write_text(yaml.safe_dump({**lora_run_config(tmp_path), "peft": {"lora_dropout": 2}}), encoding="utf-8")
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    with pytest.raises(SystemExit, match=rf"^{path}: peft.lora_dropout: a probability in \[0, 1\), got 2$"):
        train_script.main([str(path), "--loss-curve", "2"])


@pytest.mark.parametrize("loss_curve", [False, True])
def test_train_py_refuses_lora_target_modules_the_encoder_lacks_naming_the_config_file(tmp_path, loss_curve):
    """Checked once the encoder is built: the message named the field but not the config file it is in."""
    import yaml
    from helpers import SCRIPTS, load_script

    path = tmp_path / "lora.yaml"
    path.write_text(yaml.safe_dump(lora_run_config(tmp_path, {"target_modules": ["qkv"]})), encoding="utf-8")
    train_script = load_script(SCRIPTS / "train.py", "train_script")
    with pytest.raises(SystemExit, match=rf"^{path}: peft.target_modules: no encoder layer is named 'qkv'; .* query"):
        train_script.main([str(path)] + (["--loss-curve", "2"] if loss_curve else []))
    assert not (tmp_path / "run" / "checkpoint-2").exists()


@pytest.mark.parametrize("installed, refused", [("0.10.0", True), ("0.18.0", False), ("0.22.0.dev0", False)])
def test_train_py_lora_with_a_peft_older_than_the_extra_asks_for_says_so(tmp_path, monkeypatch, installed, refused):
    """pyproject.toml's `peft` extra asks for peft>=0.18; an older one went on untested."""
    from simmemre import training_simmemre
    from simmemre.experiment_simmemre import check_run_config

    monkeypatch.setattr(training_simmemre, "_peft_version", lambda: installed)
    config = lora_run_config(tmp_path, {"r": 4})
    if refused:
        with pytest.raises(SystemExit, match=rf"^x.yaml: peft: LoRA needs peft 0.18 or newer, found {installed}: pip"):
            check_run_config(config, "x.yaml")
    else:
        check_run_config(config, "x.yaml")


def test_the_first_log_line_of_a_lora_run_names_its_rank_and_layers():
    """The log's first line (what is trained where) said nothing of LoRA; run_config.json and the card did."""
    from types import SimpleNamespace

    from simmemre.experiment_simmemre import _run_description

    args = SimpleNamespace(
        output_dir="runs/x", seed=1, device="cpu", world_size=1, bf16=False, fp16=False, max_steps=4, num_train_epochs=1
    )
    trainer = SimpleNamespace(args=args)
    settings = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["query", "value"]}
    assert _run_description({"peft": settings}, trainer, {}).endswith("4 steps; LoRA r 4 on query, value")
    assert "LoRA" not in _run_description({"peft": None}, trainer, {})


def test_with_a_head_learning_rate_lora_weights_train_at_the_encoders_rate_and_the_heads_at_theirs(tokenizer, tmp_path):
    """The LoRA matrices sit inside the encoder, so `learning_rate` is theirs; the trained copies of the heads and
    memories (`modules_to_save`) get `head_learning_rate`; the frozen base weights are in no group."""
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, learning_rate=5e-5)
    _, peft_model = lora_model(tokenizer)
    trainer = SimMemRETrainer(model=peft_model, args=arguments, head_learning_rate=1e-3)
    rate = {id(p): group["lr"] for group in trainer.create_optimizer().param_groups for p in group["params"]}
    named = dict(peft_model.named_parameters())
    lora = [id(p) for name, p in named.items() if ".lora_" in name]
    heads = [id(p) for name, p in named.items() if "modules_to_save" in name]
    assert lora and heads
    assert {rate[p] for p in lora} == {5e-5} and {rate[p] for p in heads} == {1e-3}
    assert set(rate) == {id(p) for p in peft_model.parameters() if p.requires_grad}
