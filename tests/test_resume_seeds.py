"""A resume from a checkpoint under another `seed` or `data_seed` (TrainingArguments): it drew other negative samples
and another document order from the checkpoint on, and the card and results named seeds the model was not trained
with. Each checkpoint records both seeds and the negatives' (TrainingSeedsCallback); a resume under others is refused,
as one under other model settings is, and draws its negatives as the checkpoint's run did (a version before 2026-12-07
drew them from `seed` even where `data_seed` was set). Tiny in-process runs of a few steps on two short documents."""

import json
import shutil

import pytest
import torch
from test_resumed_training_time import make_trainer
from test_trainer_arguments import DOCUMENTS, ENTITY_TYPES, RELATION_TYPES

from simmemre.training_simmemre import tokenize_documents

pytest.importorskip("accelerate")


@pytest.fixture(scope="module")
def two_documents(processor):
    return tokenize_documents(DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES)


@pytest.fixture(scope="module")
def first_leg(processor, two_documents, tmp_path_factory):
    """A 4-step run with seed 11 and data_seed 5, saved at steps 2 and 4."""
    output_dir = tmp_path_factory.mktemp("seeded") / "run"
    make_trainer(processor, two_documents, output_dir, data_seed=5).train()
    return output_dir


def stopped_checkpoint(first_leg, tmp_path):
    """A copy of the run's checkpoint-2, as a run stopped after step 2 left it."""
    checkpoint = tmp_path / "checkpoint-2"
    shutil.copytree(first_leg / "checkpoint-2", checkpoint)
    return checkpoint


def recorded_seeds(checkpoint):
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return state["stateful_callbacks"]["TrainingSeedsCallback"]["attributes"]


def test_each_checkpoint_records_seed_data_seed_and_the_negatives_seed(first_leg):
    for step in (2, 4):
        assert recorded_seeds(first_leg / f"checkpoint-{step}") == {"seed": 11, "data_seed": 5, "negatives_seed": 5}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"data_seed": 6}, "it was trained with data_seed 5 (this run: 6); resume with the checkpoint's seeds"),
        ({"data_seed": None}, "it was trained with data_seed 5 (this run: None)"),
        ({"seed": 12, "data_seed": 5}, "it was trained with seed 11 (this run: 12); resume"),
    ],
    ids=["another data_seed", "data_seed unset", "another seed"],
)
def test_a_resume_under_other_seeds_is_refused_before_training(
    first_leg, processor, two_documents, tmp_path, arguments, message
):
    """It resumed silently: the negative samples and the document order followed the new seeds from step 2 on."""
    checkpoint = stopped_checkpoint(first_leg, tmp_path)
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", **arguments)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resumed.train(resume_from_checkpoint=str(checkpoint))
    assert not (tmp_path / "resumed" / "checkpoint-4").exists()


def test_a_resume_under_the_same_seeds_goes_on(first_leg, processor, two_documents, tmp_path):
    checkpoint = stopped_checkpoint(first_leg, tmp_path)
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", data_seed=5)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
    assert recorded_seeds(tmp_path / "resumed" / "checkpoint-4") == {"seed": 11, "data_seed": 5, "negatives_seed": 5}


def test_a_checkpoint_without_recorded_seeds_resumes_with_a_warning(
    first_leg, processor, two_documents, tmp_path, caplog
):
    """A checkpoint of an older version: not compared (nothing says what it ran with), and its resume records this
    run's seeds at the next checkpoint (the Trainer updates only the records it finds: a KeyError otherwise)."""
    checkpoint = stopped_checkpoint(first_leg, tmp_path)
    path = checkpoint / "trainer_state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    del state["stateful_callbacks"]["TrainingSeedsCallback"]
    path.write_text(json.dumps(state), encoding="utf-8")
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", data_seed=7)
    with caplog.at_level("WARNING", logger="simmemre.training_simmemre"):
        resumed.train(resume_from_checkpoint=str(checkpoint))
    assert "records no seeds (saved by an older version)" in caplog.text
    assert recorded_seeds(tmp_path / "resumed" / "checkpoint-4") == {"seed": 11, "data_seed": 7, "negatives_seed": 11}


def test_an_unreadable_trainer_state_is_left_to_the_trainer(tmp_path, caplog):
    from transformers import TrainingArguments

    from simmemre.training_simmemre import check_checkpoint_seeds

    (tmp_path / "trainer_state.json").write_text("{cut short", encoding="utf-8")
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with caplog.at_level("WARNING", logger="simmemre.training_simmemre"):
        check_checkpoint_seeds(str(tmp_path), args)  # no refusal and no warning: the Trainer names the problem
    assert "records no seeds" not in caplog.text


def test_an_older_checkpoint_is_named_once_however_often_its_seeds_are_compared(
    first_leg, processor, two_documents, tmp_path, caplog
):
    """train.py compares the seeds before building the trainer and the trainer again when it loads the checkpoint:
    the warning came twice."""
    from simmemre.training_simmemre import check_checkpoint_seeds

    checkpoint = stopped_checkpoint(first_leg, tmp_path)
    as_an_older_version_saved_it(checkpoint)
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", data_seed=5)
    with caplog.at_level("WARNING", logger="simmemre.training_simmemre"):
        check_checkpoint_seeds(str(checkpoint), resumed.args)
        resumed.train(resume_from_checkpoint=str(checkpoint))
    assert caplog.text.count("records no seeds") == 1


def test_a_collator_seed_other_than_the_recorded_negatives_seed_is_refused(
    first_leg, processor, two_documents, tmp_path
):
    checkpoint = stopped_checkpoint(first_leg, tmp_path)
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", collator_seed=3, data_seed=5)
    with pytest.raises(ValueError, match="its run drew the negative samples from seed 5, this run's collator from 3"):
        resumed.train(resume_from_checkpoint=str(checkpoint))


# ----------------------------------------------------------------------------------------------------
# A checkpoint of a version before 2026-12-07, which drew the negative samples from `seed` whatever `data_seed`
# ----------------------------------------------------------------------------------------------------


def as_an_older_version_saved_it(checkpoint) -> None:
    """Remove the records a version before 2026-12-07 did not write."""
    path = checkpoint / "trainer_state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    for name in ("TrainingSeedsCallback", "TrainingTimeCallback"):
        del state["stateful_callbacks"][name]
    path.write_text(json.dumps(state), encoding="utf-8")


@pytest.fixture(scope="module")
def older_version_run(processor, two_documents, tmp_path_factory):
    """A 6-step run with seed 11 and data_seed 5 as a version before 2026-12-07 trained it (negative samples from
    seed 11, the document order from data_seed 5), saved at steps 2, 4 and 6: its weights and losses."""
    output_dir = tmp_path_factory.mktemp("older") / "run"
    trainer = make_trainer(
        processor, two_documents, output_dir, collator_seed=11, data_seed=5, max_steps=6, logging_steps=1
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that resume it run (conftest; another count sums in another order)
    try:
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    as_an_older_version_saved_it(output_dir / "checkpoint-2")
    reference = trained_state(trainer)
    assert len(reference[1]) == 6  # (a loss per step)
    return output_dir, reference


def trained_state(trainer):
    weights = {name: tensor.detach().clone() for name, tensor in trainer.model.state_dict().items()}
    return weights, [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def assert_same_training(trainer, reference):
    weights, losses = trained_state(trainer)
    assert losses == reference[1]  # (the resumed log holds the checkpoint's losses too)
    assert [name for name in reference[0] if not torch.equal(weights[name], reference[0][name])] == []


@pytest.mark.parametrize("restore_callback_states", [False, True])
def test_an_older_checkpoint_with_data_seed_resumes_drawing_the_negatives_from_seed(
    older_version_run, processor, two_documents, tmp_path, caplog, restore_callback_states
):
    """Its resume drew the negative samples from data_seed from the resume step on: the steps after it trained on
    other samples than the run would have (and its later checkpoints recorded nothing to tell)."""
    output_dir, reference = older_version_run
    checkpoint = tmp_path / "checkpoint-2"
    shutil.copytree(output_dir / "checkpoint-2", checkpoint)
    options = dict(data_seed=5, max_steps=6, logging_steps=1)
    options["restore_callback_states_from_checkpoint"] = restore_callback_states
    resumed = make_trainer(processor, two_documents, tmp_path / "resumed", **options)
    with caplog.at_level("WARNING", logger="simmemre.training_simmemre"):
        resumed.train(resume_from_checkpoint=str(checkpoint))
    assert_same_training(resumed, reference)
    assert caplog.text.count("drew the negative samples from seed 11, not data_seed 5") == 1
    # Its checkpoints record the seed, so that a later resume keeps it too (without a word).
    assert recorded_seeds(tmp_path / "resumed" / "checkpoint-4") == {"seed": 11, "data_seed": 5, "negatives_seed": 11}
    caplog.clear()
    again = make_trainer(processor, two_documents, tmp_path / "again", **options)
    with caplog.at_level("WARNING", logger="simmemre.training_simmemre"):
        again.train(resume_from_checkpoint=str(tmp_path / "resumed" / "checkpoint-4"))
    assert_same_training(again, reference)
    assert "negative samples" not in caplog.text
