"""benchmarks/compare_versions.py: two checkouts side by side in one process, timed on the same documents."""

import json
import shutil
from pathlib import Path

import torch
from helpers import TEXTS, load_script, tiny_config

from simmemre import SimMemREModel

REPO = Path(__file__).resolve().parent.parent
PATH = REPO / "benchmarks" / "compare_versions.py"


def load_compare_versions():
    return load_script(PATH)


def test_a_checkout_is_imported_as_its_own_code_not_the_installed_package(tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".*", "tests", "runs", "results", "docs"))
    modules = load_compare_versions().import_checkout(checkout, "simmemre_checkout_under_test")
    for name, module in modules.items():
        assert module.__name__ == f"simmemre_checkout_under_test.{name}"
        assert Path(module.__file__).resolve().is_relative_to(checkout.resolve()), module.__file__
    assert modules["modeling_simmemre"].SimMemREModel is not SimMemREModel


def _timed_pipe(compare_versions, tokenizer, processor, **overrides):
    from transformers import pipeline

    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, **overrides)).eval()
    return compare_versions.with_encoder_timer(pipeline("joint-re", model=model, processor=processor))


def test_paired_rounds_time_both_pipelines_and_compare_their_outputs(tokenizer, processor):
    compare_versions = load_compare_versions()
    documents = [{"id": str(index), "text": text} for index, text in enumerate(TEXTS) if text]
    pipes = {name: _timed_pipe(compare_versions, tokenizer, processor, mention_threshold=0.0) for name in "ab"}
    figures, comparison = compare_versions.paired_rounds(pipes, documents, rounds=2)
    assert comparison == {"same_output": True, "same_predictions": True, "max_score_difference": 0.0}
    for rows in figures.values():
        assert len(rows) == 2
        assert all(outside > 0 and encoder > 0 and ratio > 1 for outside, encoder, ratio in rows)
    # A pipeline that finds mentions against one that finds none: the outputs differ and the tool says so.
    pipes["b"] = _timed_pipe(compare_versions, tokenizer, processor, mention_threshold=1.0)
    comparison = compare_versions.paired_rounds(pipes, documents, rounds=1)[1]
    assert comparison == {"same_output": False, "same_predictions": False, "max_score_difference": None}


def test_outputs_that_differ_only_in_their_scores_are_the_same_predictions():
    compare_versions = load_compare_versions()
    mention = {"start": 0, "end": 9, "text": "Lidocaine", "score": 0.91}
    document = {
        "id": "1",
        "text": "Lidocaine ...",
        "entities": [{"type": "Chemical", "score": 0.8, "mentions": [mention]}],
        "relations": [{"head": 0, "tail": 0, "type": "CID", "score": 0.6}],
    }
    rounded = json.loads(json.dumps(document))
    rounded["relations"][0]["score"] = 0.6 + 3e-7
    comparison = compare_versions.compare_outputs([document], [rounded])
    assert not comparison["same_output"] and comparison["same_predictions"]
    assert abs(comparison["max_score_difference"] - 3e-7) < 1e-12
    moved = json.loads(json.dumps(document))
    moved["entities"][0]["mentions"][0]["end"] = 8
    assert not compare_versions.compare_outputs([document], [moved])["same_predictions"]
