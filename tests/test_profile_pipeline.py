"""benchmarks/profile_pipeline.py: the wall-clock stage timers time the pipeline's parts and leave it as it was."""

from pathlib import Path

from helpers import LOW, TEXTS, assert_same_predictions, load_script

from simmemre import modeling_simmemre

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_pipeline.py"


def load_profile_pipeline():
    return load_script(PATH)


def test_stage_timers_time_each_part_and_restore_the_methods(pipe):
    profile_pipeline = load_profile_pipeline()
    originals = {
        (owner, attribute): modeling_simmemre.__dict__[owner].__dict__[attribute]
        for _, owner, attribute in profile_pipeline.TIMED
        if owner not in ("pipeline", "processor")
    }
    expected = pipe(TEXTS[0], **LOW)
    with profile_pipeline.stage_timers(pipe) as seconds:
        timed = pipe(TEXTS[0], **LOW)
    assert_same_predictions([expected], [timed], tolerance=0.0)
    for label in ("pipeline.preprocess (segmentation, tokenizer)", "model.encoder forward", "stage 3: coreference"):
        assert seconds[label] > 0, label
    assert seconds["model.token representations (encoder + token read)"] >= seconds["model.encoder forward"]
    for (owner, attribute), function in originals.items():
        assert modeling_simmemre.__dict__[owner].__dict__[attribute] is function
    assert "preprocess" not in vars(pipe) and "collate" not in vars(pipe.processor)
