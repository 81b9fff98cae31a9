"""The training time of a run resumed from a checkpoint (its model card gave none: `train_runtime` is the last leg's),
and the seed of the collator's negative samples (`data_seed` where set, as transformers seeds its samplers). Tiny
in-process runs of a few steps on two short documents."""

import json

import pytest
import torch
from test_trainer_arguments import DOCUMENTS, ENTITY_TYPES, RELATION_TYPES, training_config
from transformers import TrainingArguments

from simmemre import SimMemREModel
from simmemre.hub_simmemre import training_procedure
from simmemre.training_simmemre import (
    SimMemREDataCollator,
    SimMemRETrainer,
    TrainingTimeCallback,
    tokenize_documents,
)

pytest.importorskip("accelerate")

TWO_HOURS = 7200.0


@pytest.fixture(scope="module")
def two_documents(processor):
    return tokenize_documents(DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES)


def make_trainer(processor, dataset, output_dir, collator_seed=None, **arguments):
    torch.manual_seed(0)
    config = training_config(processor)
    defaults = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=1,
        max_steps=4,
        save_strategy="steps",
        save_steps=2,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=11,
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    defaults.update(arguments)
    return SimMemRETrainer(
        model=SimMemREModel(config),
        args=TrainingArguments(**defaults),
        data_collator=SimMemREDataCollator(processor, config, neg_mention_count=10, seed=collator_seed),
        train_dataset=dataset,
        processing_class=processor,
    )


def recorded_time(checkpoint) -> dict:
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return state["stateful_callbacks"]["TrainingTimeCallback"]["attributes"]


def set_recorded_time(checkpoint, attributes) -> None:
    """The checkpoint as a leg that ran `attributes` would have saved it (None: as an older version saved it)."""
    path = checkpoint / "trainer_state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    if attributes is None:
        del state["stateful_callbacks"]["TrainingTimeCallback"]
    else:
        state["stateful_callbacks"]["TrainingTimeCallback"]["attributes"].update(attributes)
    path.write_text(json.dumps(state), encoding="utf-8")


def training_time(trainer, **kwargs):
    return training_procedure(trainer, **kwargs)["Training hyperparameters"].get("training time")


@pytest.fixture(scope="module")
def first_leg(processor, two_documents, tmp_path_factory):
    """A 4-step run saved at steps 2 and 4 (its checkpoint-2 stands for a run stopped after step 2)."""
    output_dir = tmp_path_factory.mktemp("first") / "run"
    trainer = make_trainer(processor, two_documents, output_dir)
    trainer.train()
    return trainer, output_dir


def test_each_checkpoint_records_the_training_time_so_far(first_leg):
    trainer, output_dir = first_leg
    early, late = recorded_time(output_dir / "checkpoint-2"), recorded_time(output_dir / "checkpoint-4")
    assert early["training_legs"] == late["training_legs"] == 1 and late["training_devices"] == ["cpu"]
    assert 0 < early["training_seconds"] <= late["training_seconds"]
    assert training_time(trainer).endswith(" on cpu")  # one leg: no resume named


@pytest.mark.parametrize("restore_callback_states", [False, True])
def test_a_resumed_run_reports_the_time_of_every_leg(
    first_leg, processor, two_documents, tmp_path, restore_callback_states
):
    """The card of a resumed run gave no training time (train.py) or the last leg's alone (train_runtime)."""
    import shutil

    _, output_dir = first_leg
    checkpoint = tmp_path / "checkpoint-2"
    shutil.copytree(output_dir / "checkpoint-2", checkpoint)
    set_recorded_time(checkpoint, {"training_seconds": TWO_HOURS})  # a long first leg, stopped after step 2
    resumed = make_trainer(
        processor,
        two_documents,
        tmp_path / "resumed",
        restore_callback_states_from_checkpoint=restore_callback_states,
    )
    result = resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
    expected = "2h00m on cpu over 2 legs (resumed once from a checkpoint)"
    assert training_time(resumed) == expected  # as train.py asks (no train_runtime after a resume)
    assert training_time(resumed, train_runtime=result.metrics["train_runtime"]) == expected
    legs = recorded_time(tmp_path / "resumed" / "checkpoint-4")
    assert legs["training_legs"] == 2 and TWO_HOURS < legs["training_seconds"] < TWO_HOURS + 600


def test_a_resume_that_trains_no_step_adds_no_leg(first_leg, processor, two_documents, tmp_path):
    """A run stopped after its last step is finished by its resume (train.py: evaluation and saving only)."""
    import shutil

    _, output_dir = first_leg
    checkpoint = tmp_path / "checkpoint-4"
    shutil.copytree(output_dir / "checkpoint-4", checkpoint)
    set_recorded_time(checkpoint, {"training_seconds": TWO_HOURS})
    finishing = make_trainer(processor, two_documents, tmp_path / "finishing")
    finishing.train(resume_from_checkpoint=str(checkpoint))
    assert training_time(finishing) == "2h00m on cpu"


def test_a_checkpoint_without_a_recorded_time_resumes_and_gives_no_time(first_leg, processor, two_documents, tmp_path):
    """A checkpoint of an older version: the Trainer saved only the callback records it found (a KeyError at the
    next checkpoint), and the earlier legs' time is unknown, so the card states none rather than the last leg's."""
    import shutil

    _, output_dir = first_leg
    checkpoint = tmp_path / "checkpoint-2"
    shutil.copytree(output_dir / "checkpoint-2", checkpoint)
    set_recorded_time(checkpoint, None)
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed")
    result = resumed.train(resume_from_checkpoint=str(checkpoint))
    assert training_time(resumed, train_runtime=result.metrics["train_runtime"]) is None
    assert recorded_time(tmp_path / "resumed" / "checkpoint-4")["training_seconds"] is None


def test_the_trainer_keeps_one_training_clock(processor, two_documents, tmp_path):
    trainer = make_trainer(processor, two_documents, tmp_path)
    assert sum(isinstance(cb, TrainingTimeCallback) for cb in trainer.callback_handler.callbacks) == 1


# ----------------------------------------------------------------------------------------------------
# The seed of the collator's negative samples
# ----------------------------------------------------------------------------------------------------


def test_the_collator_samples_with_data_seed_where_set(processor, two_documents, tmp_path):
    """TrainingArguments.data_seed (the data samplers' seed, independent of the model's) left the negative samples
    on `seed`: a user could not vary them with the model's initialisation fixed."""
    assert make_trainer(processor, two_documents, tmp_path, data_seed=5).data_collator.seed == 5
    assert make_trainer(processor, two_documents, tmp_path).data_collator.seed == 11
    given = make_trainer(processor, two_documents, tmp_path, collator_seed=3, data_seed=5)
    assert given.data_collator.seed == 3  # a collator's own seed is kept


def test_without_data_seed_the_samples_are_those_of_seed(processor, two_documents, tmp_path):
    """A run without data_seed draws exactly the samples it drew before (from `seed`), bit for bit; data_seed
    changes them."""
    rows = [two_documents[i] for i in range(len(two_documents))]

    def samples(collator, epoch=1):
        collator.set_epoch(epoch)
        return collator(rows)

    config = training_config(processor)
    reference = samples(SimMemREDataCollator(processor, config, neg_mention_count=10, seed=11))
    seeded = samples(make_trainer(processor, two_documents, tmp_path).data_collator)
    assert reference.keys() == seeded.keys()
    assert all(torch.equal(reference[key], seeded[key]) for key in reference)
    other = samples(make_trainer(processor, two_documents, tmp_path, data_seed=5).data_collator)
    assert not torch.equal(reference["mention_word_spans"], other["mention_word_spans"])
