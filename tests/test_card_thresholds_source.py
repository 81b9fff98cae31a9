"""The model card says where its default thresholds come from (hub_simmemre.thresholds_origin_note): chosen on
validation, or the configured values (a start model's, in a run from a trained model) with the reason a calibration
was not applied, or "not calibrated". Before, only an applied calibration was named, so a card with the config's fixed
thresholds (calibration refused, or a run from a trained model without calibration) read as a deliberate choice."""

import shutil
from pathlib import Path

import pytest
import yaml
from helpers import SCRIPTS, load_script, tiny_config

from simmemre.hub_simmemre import render_model_card, thresholds_origin_note
from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

REFUSED = {
    "applied": False,
    "reason": "its best dev relation_strict_f1 is 0.00, below 5.0 (the model has not learned relations well enough)",
    "objective": "relation_strict_f1",
}
APPLIED = {"applied": True, "reason": "best relation_strict_f1 on the grid", "objective": "relation_strict_f1"}


def scores(value):
    return {f"{level}_{name}": value for level in LEVELS for name in ("precision", "recall", "f1")}


def thresholds_line(card: str) -> str:
    return next(line for line in card.splitlines() if line.startswith("- Default thresholds:"))


def indexed_splits(card: str) -> list:
    front_matter = yaml.safe_load(card.split("---")[1])
    return [result["dataset"]["split"] for result in front_matter["model-index"][0]["results"]]


def test_a_refused_calibration_is_named_with_its_reason(tokenizer):
    card = render_model_card(
        tiny_config(tokenizer, relation_threshold=0.5),
        results={"validation": scores(1.0), "test": scores(1.0)},
        thresholds_note=thresholds_origin_note(REFUSED),
    )
    assert thresholds_line(card).endswith(
        "relation 0.5, entity 0.0 (overridable per call); the run's configured values: calibration on validation was "
        f"not applied because {REFUSED['reason']}."
    )


def test_an_applied_calibration_says_the_thresholds_were_chosen_on_validation(tokenizer):
    card = render_model_card(
        tiny_config(tokenizer),
        results={"validation": scores(30.7), "test": scores(25.9)},
        thresholds_tuned_on="validation",
        thresholds_note=thresholds_origin_note(APPLIED),
    )
    assert thresholds_line(card).endswith(
        "(overridable per call); chosen on validation by a grid search for the best strict relation F1."
    )
    assert "The default thresholds were chosen on validation" in card and indexed_splits(card) == ["test"]


@pytest.mark.parametrize(
    "calibrate, calibration, expected",
    [
        (True, APPLIED, "chosen on validation by a grid search for the best strict relation F1"),
        (True, REFUSED, "the run's configured values: calibration on validation was not applied because "),
        (False, None, "the run's configured values (not calibrated)"),
    ],
    ids=["calibrated", "calibration-refused", "not-calibrated"],
)
def test_train_tells_the_card_where_its_thresholds_come_from(monkeypatch, tmp_path, calibrate, calibration, expected):
    from test_experiment import finished_trainer

    from simmemre import experiment_simmemre, hub_simmemre, training_simmemre

    def evaluate(dataset, metric_key_prefix):
        return {f"{metric_key_prefix}_{key}": value for key, value in scores(1.0).items()}

    trainer = finished_trainer(tmp_path, global_step=3, evaluate=evaluate)
    run = {"resume": None, "calibrate": calibrate, "calibration_grid": None, "base_model": None, "data": {}}
    if calibration:
        calibration = {**calibration, "thresholds": {"relation_threshold": 0.5}, "scores": scores(1.0)}
        calibration["fixed_thresholds"] = {"relation_threshold": 0.5}
    saved = {}
    splits = {"validation": [{}]}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, splits, run))
    monkeypatch.setattr(training_simmemre, "calibrate_thresholds", lambda *args, **kwargs: calibration)
    monkeypatch.setattr(training_simmemre, "apply_thresholds", lambda model, thresholds: None)
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: saved.update(kwargs))
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: {})
    monkeypatch.setattr(experiment_simmemre, "write_run_files", lambda *args, **kwargs: None)
    experiment_simmemre.train({"training": {"output_dir": str(tmp_path)}}, print_summary=False)
    assert saved["thresholds_note"].startswith(expected)
    if calibration and not calibration["applied"]:
        assert saved["thresholds_note"].endswith(REFUSED["reason"])


def test_a_run_from_a_trained_model_without_calibration_says_whose_thresholds_the_card_gives(tmp_path):
    """The run's model section gives mention_threshold (taken); the others are the start model's saved ones."""
    from test_training_from_a_trained_model import run_config

    from simmemre.experiment_simmemre import train

    (tmp_path / "first").mkdir()
    start_model = train(run_config(tmp_path / "first"), ["--seed", "7"], print_summary=False)["best_model"]
    (tmp_path / "further").mkdir()
    run = train(
        run_config(tmp_path / "further", mention_threshold=0.3), ["--encoder", start_model], print_summary=False
    )
    line = thresholds_line(Path(run["best_model"], "README.md").read_text(encoding="utf-8"))
    assert line.startswith("- Default thresholds: mention 0.3, coreference ")
    assert line.endswith(
        "(overridable per call); mention from the run's config, the others as the start model `run/best_model` had "
        "them (not calibrated in this run)."
    )


def rewritten_card(hub_folder, tmp_path, tokenizer, earlier_note, report, **earlier_card):
    """calibrate.py's card of `report` for a folder whose earlier card ended its thresholds line with `earlier_note`
    (and was rendered with `earlier_card`'s keywords)."""
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    folder = tmp_path / "model"
    shutil.copytree(hub_folder, folder)
    config = tiny_config(tokenizer, relation_threshold=0.5)
    earlier = render_model_card(config, dataset_name="bc5cdr", thresholds_note=earlier_note, **earlier_card)
    (folder / "README.md").write_text(earlier, encoding="utf-8")
    calibrate.rewrite_model_card(
        str(folder), config, {**report, "scores": scores(1.0), "test_scores": scores(1.0)}, "t"
    )
    return (folder / "README.md").read_text(encoding="utf-8")


def test_calibrate_says_a_refused_calibration_kept_the_saved_thresholds_and_why(hub_folder, tmp_path, tokenizer):
    """The rewritten card said "chosen on validation" and marked validation as tuned for thresholds it had kept."""
    earlier = thresholds_origin_note(None, start_model="/x/first/best_model")
    card = rewritten_card(hub_folder, tmp_path, tokenizer, earlier, REFUSED)
    assert thresholds_line(card).endswith(
        "(overridable per call); the values the model was saved with (as the start model `first/best_model` had "
        f"them): calibration on validation was not applied because {REFUSED['reason']}."
    )
    assert "thresholds tuned here" not in card and indexed_splits(card)[0] == "validation"


def test_calibrate_replaces_the_earlier_note_when_its_calibration_is_applied(hub_folder, tmp_path, tokenizer):
    card = rewritten_card(hub_folder, tmp_path, tokenizer, thresholds_origin_note(REFUSED), APPLIED)
    assert thresholds_line(card).endswith(
        "(overridable per call); chosen on validation by a grid search for the best strict relation F1."
    )
    assert "not applied" not in card and "thresholds tuned here" in card


def test_calibrate_keeps_thresholds_tuned_in_training_marked_as_tuned_when_its_calibration_is_refused(
    hub_folder, tmp_path, tokenizer
):
    """The thresholds line said "chosen on validation" while validation went into model-index as held out."""
    trained = {"results": {"validation": scores(1.0), "test": scores(1.0)}, "thresholds_tuned_on": "validation"}
    card = rewritten_card(hub_folder, tmp_path, tokenizer, thresholds_origin_note(APPLIED), REFUSED, **trained)
    assert "the values the model was saved with (chosen on validation" in thresholds_line(card)
    assert "thresholds tuned here" in card and indexed_splits(card) == ["test"]
