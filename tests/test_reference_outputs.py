"""Outputs stay bit-identical across refactors and speed-ups: a seeded tiny model's predictions and training losses
against tests/data/reference_outputs.json (written by tests/make_reference_outputs.py before the change)."""

import json

import pytest
from make_reference_outputs import REFERENCE, reference_outputs


@pytest.fixture(scope="module")
def outputs(tokenizer):
    return reference_outputs(tokenizer), json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("mode", ["jerex", "simmemre"])
def test_predictions_are_bit_identical_to_the_reference(outputs, mode):
    current, reference = outputs
    assert len(current["predictions"][mode]) == len(reference["predictions"][mode])
    for got, expected in zip(current["predictions"][mode], reference["predictions"][mode]):
        assert got.keys() == expected.keys()
        assert got["mention_word_spans"]["shape"][0] > 0  # something to compare
        for key in expected:
            assert got[key] == expected[key], key


@pytest.mark.parametrize("mode", ["jerex", "simmemre"])
def test_training_losses_are_bit_identical_to_the_reference(outputs, mode):
    current, reference = outputs
    assert current["losses"][mode] == reference["losses"][mode]
