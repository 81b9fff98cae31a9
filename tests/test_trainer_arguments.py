"""SimMemRETrainer under TrainingArguments and Trainer options beyond the defaults: gradient accumulation, loss
logging, refused Trainer hooks, dicts of evaluation sets, model_init."""

import pytest
import torch
from helpers import tiny_config
from transformers import TrainerCallback, TrainingArguments

from simmemre import SimMemREModel
from simmemre.training_simmemre import (
    SimMemREDataCollator,
    SimMemRETrainer,
    _metric_prefix,
    _selection_key,
    compact_log_lines,
    tokenize_documents,
)

pytest.importorskip("accelerate")

ENTITY_TYPES = ["Chemical", "Disease"]
RELATION_TYPES = ["CID"]


def training_config(processor, **kwargs):
    return tiny_config(processor.tokenizer, meta_embedding_size=8, max_mentions_per_word=0.5, **kwargs)


# Two documents with different sample counts (spans, pairs, entities), so that a mean per document and a mean over
# the batch differ.
DOCUMENTS = [
    {
        "id": "a",
        "text": "Aspirin causes ulcers. Ulcers after aspirin are common.",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 7}, {"start": 36, "end": 43}]},
            {"type": "Disease", "mentions": [{"start": 15, "end": 21}, {"start": 23, "end": 29}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    },
    {
        "id": "b",
        "text": "Cisplatin caused nephrotoxicity and deafness in children. Deafness was permanent. Lithium was safe.",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 9}]},
            {"type": "Disease", "mentions": [{"start": 17, "end": 31}]},
            {"type": "Disease", "mentions": [{"start": 36, "end": 44}, {"start": 58, "end": 66}]},
            {"type": "Chemical", "mentions": [{"start": 82, "end": 89}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 0, "tail": 2, "type": "CID"}],
    },
]


@pytest.fixture(scope="module")
def two_documents(processor):
    return tokenize_documents(DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES)


def make_trainer(processor, dataset, tmp_path, **arguments):
    """A tiny model without dropout (so that two runs see the same function) trained with plain SGD."""
    torch.manual_seed(0)
    config = training_config(processor, dropout=0.0, memory_warmup_proportion=0.0)
    config.encoder_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = SimMemREModel(config)
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=1,
        max_steps=1,
        learning_rate=1.0,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=11,
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    defaults.update(arguments)
    collator = SimMemREDataCollator(processor, model.config, neg_mention_count=30, neg_coref_count=20)
    return SimMemRETrainer(
        model=model,
        args=TrainingArguments(**defaults),
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
    )


def sgd_update(processor, dataset, tmp_path, **arguments):
    trainer = make_trainer(processor, dataset, tmp_path, **arguments)
    before = {name: value.detach().clone() for name, value in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    return {name: after[name] - before[name] for name in before}, trainer


def test_gradient_accumulation_gives_the_update_of_one_larger_batch(
    processor, two_documents, tmp_path, single_torch_thread
):
    """Each task loss is a mean over the batch's samples (JEREX); accumulating the two documents one at a time weighted
    them equally instead (relative difference of the updates 0.55 in a trainer audit)."""
    batch, _ = sgd_update(processor, two_documents, tmp_path / "batch", per_device_train_batch_size=2)
    accumulated, _ = sgd_update(processor, two_documents, tmp_path / "accumulated", gradient_accumulation_steps=2)
    norm = torch.sqrt(sum((update.double() ** 2).sum() for update in batch.values()))
    difference = torch.sqrt(sum(((batch[name] - accumulated[name]).double() ** 2).sum() for name in batch))
    assert norm > 0.01
    assert difference / norm < 1e-5


def test_logged_task_losses_add_up_to_the_logged_loss_across_accumulated_micro_batches(
    processor, two_documents, tmp_path, single_torch_thread
):
    """Three documents at accumulation 2: one step of two micro-batches, then one of a single micro-batch, logged
    together (the task losses were averaged over micro-batches, `loss` over steps)."""
    three = tokenize_documents(DOCUMENTS + DOCUMENTS[:1], processor, ENTITY_TYPES, RELATION_TYPES)
    _, trainer = sgd_update(
        processor,
        three,
        tmp_path,
        gradient_accumulation_steps=2,
        max_steps=-1,
        num_train_epochs=1,
        learning_rate=1e-3,
        logging_steps=2,
    )
    config = trainer.model.config
    weights = {
        "mention_loss": config.mention_loss_weight,
        "coref_loss": config.coref_loss_weight,
        "entity_loss": config.entity_loss_weight,
        "relation_loss": config.relation_loss_weight,
    }
    logs = [entry for entry in trainer.state.log_history if "mention_loss" in entry]
    assert len(logs) == 1
    for entry in logs:
        assert entry["loss"] == pytest.approx(sum(weight * entry[name] for name, weight in weights.items()), rel=1e-5)


def test_task_loss_sums_after_the_last_log_do_not_reach_the_next_train_call(
    processor, two_documents, tmp_path, single_torch_thread
):
    trainer = make_trainer(processor, two_documents, tmp_path, max_steps=1, logging_steps=5, learning_rate=1e-3)
    trainer.train()
    assert trainer._task_loss_sums is not None  # the step after the last log, kept until the next log

    class SumsAtStart(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.sums = trainer._task_loss_sums

    callback = SumsAtStart()
    trainer.add_callback(callback)
    trainer.train()
    assert callback.sums is None


@pytest.mark.parametrize("hook", ["compute_loss_func", "compute_metrics"])
def test_trainer_hooks_it_would_ignore_are_refused(processor, two_documents, tmp_path, hook):
    """compute_loss_func was never called, and made transformers skip the accumulation scaling (a doubled loss)."""
    model = SimMemREModel(training_config(processor))
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match=f"{hook}: not supported by SimMemRETrainer"):
        SimMemRETrainer(
            model=model, args=arguments, train_dataset=two_documents, processing_class=processor, **{hook: len}
        )


def test_model_selection_breaks_ties_within_the_named_evaluation_set():
    """With eval_dataset={"a": ..., "b": ...} the tie-break looked for eval_entity_f1, which does not exist."""
    metrics = {
        "eval_a_relation_strict_f1": 0.0,
        "eval_a_entity_f1": 40.0,
        "eval_a_mention_f1": 60.0,
        "eval_b_entity_f1": 5.0,
        "eval_ab_entity_f1": 1.0,
    }
    primary = "eval_a_relation_strict_f1"
    prefix = _metric_prefix(primary, ["ab", "a", "b"])
    assert prefix == "eval_a_"
    assert _selection_key(metrics, primary, prefix) == (0.0, 40.0, 60.0)
    assert _metric_prefix("eval_relation_strict_f1", ()) == "eval_"


def test_the_progress_log_line_shows_the_scores_of_each_named_evaluation_set():
    logs = {"eval_a_relation_strict_f1": 1.5, "eval_a_mention_f1": 60.0, "eval_b_relation_strict_f1": 2.0}
    text = " ".join(compact_log_lines(logs, width=200))
    assert "eval_a F1: mention 60.00, relation_strict 1.50" in text
    assert "eval_b F1: relation_strict 2.00" in text


def test_model_init_with_a_processor_trains_without_a_collator(processor, two_documents, tmp_path, single_torch_thread):
    """The collator is built from the processor once model_init has made the model (it needs the label lists)."""
    arguments = TrainingArguments(
        output_dir=str(tmp_path), max_steps=1, report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True
    )
    trainer = SimMemRETrainer(
        model_init=lambda: SimMemREModel(training_config(processor)),
        args=arguments,
        train_dataset=two_documents,
        processing_class=processor,
    )
    trainer.train()
    assert isinstance(trainer.data_collator, SimMemREDataCollator)
    assert trainer.state.global_step == 1


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"fp16": True, "use_cpu": True}, "training.fp16: no fp16 autocast on the CPU"),
        ({"label_smoothing_factor": 0.1}, "training.label_smoothing_factor: not supported"),
        ({"push_to_hub": True, "hub_model_id": "me/x"}, "training.push_to_hub: train.py does not push"),
    ],
    ids=["fp16 on the CPU", "label smoothing", "push_to_hub"],
)
def test_trainer_options_the_training_would_ignore_are_refused_in_one_line(setting, message):
    """fp16 on the CPU trained in float32 while the log and card said fp16; label smoothing was a silent no-op;
    push_to_hub ended in a 55-line traceback offline, and would never upload the calibrated best_model."""
    from simmemre.experiment_simmemre import check_trainer_options

    with pytest.raises(SystemExit, match=f"^{message}"):
        check_trainer_options({"output_dir": "x", **setting})


def test_a_reporting_integration_that_is_not_installed_is_named():
    """report_to: tensorboard without tensorboard ended in a 38-line traceback from the Trainer's constructor."""
    from transformers.integrations import get_available_reporting_integrations

    from simmemre.experiment_simmemre import check_trainer_options

    missing = next(
        name for name in ("tensorboard", "wandb", "mlflow") if name not in get_available_reporting_integrations()
    )
    with pytest.raises(SystemExit, match=f"^training.report_to: {missing} is not installed"):
        check_trainer_options({"report_to": [missing]})
    check_trainer_options({"report_to": "none"})


def test_the_trainer_refuses_label_smoothing(processor, two_documents, tmp_path):
    with pytest.raises(ValueError, match="label_smoothing_factor: not supported"):
        make_trainer(processor, two_documents, tmp_path, label_smoothing_factor=0.1)


def test_the_summary_names_the_last_steps_model_when_the_best_is_not_loaded(tmp_path, capsys):
    """With load_best_model_at_end off, the summary named the best checkpoint as the source of best_model, which
    holds the last step's weights."""
    from test_training_from_a_trained_model import run_config

    from simmemre.experiment_simmemre import train

    config = run_config(tmp_path)
    config["training"].update(eval_strategy="steps", save_strategy="steps", eval_steps=1, save_steps=1)
    train(config, ["--load_best_model_at_end", "false", "--calibrate_thresholds", "false"], print_summary=True)
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Best model: ")]
    assert summary == [
        f"Best model: {tmp_path / 'run' / 'best_model'} (the last step's model: load_best_model_at_end is off)"
    ]
