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
    model, peft_model = lora_model(tokenizer, seed=1, memory_warmup_proportion=0.5)
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
