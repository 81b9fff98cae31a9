"""Word-form coreference: the key under which inflected and derived forms meet, and the cluster merge behind
`SimMemREConfig.word_form_coreference`."""

import numpy as np
import pytest
from helpers import entity_texts_with_switch

from simmemre.modeling_simmemre import merge_linked_clusters, word_form_groups, word_form_key

TEXT = "Seizures were frequent. One seizure recurred after cocaine."


def test_inflected_and_derived_forms_share_a_key():
    assert word_form_key("Seizures") == word_form_key("seizure")
    assert word_form_key("hypertension") == word_form_key("Hypertensive")
    assert word_form_key("toxicities") == word_form_key("toxicity")
    assert word_form_key("breast cancer") == word_form_key("breast-cancer")


def test_short_words_keep_their_ending():
    assert word_form_key("renal") == "renal"
    assert word_form_key("acid") == "acid"


def test_different_terms_keep_different_keys():
    assert word_form_key("hypertension") != word_form_key("hypotension")
    assert word_form_key("cocaine") != word_form_key("codeine")


def test_groups_hold_only_keys_written_more_than_once():
    strings = ["Seizures", "cocaine", "seizure", "aspirin", "seizures"]
    assert word_form_groups(strings) == [[0, 2, 4]]
    clusters = np.array([0, 1, 2, 3, 2])
    assert merge_linked_clusters(clusters, word_form_groups(strings)).tolist() == [0, 1, 0, 2, 0]


def test_pipeline_merges_word_forms_on_raw_text_only_when_switched_on(tokenizer, processor):
    outputs = entity_texts_with_switch(tokenizer, processor, TEXT, "word_form_coreference")
    assert ["Seizures", "seizure"] in outputs[True]
    assert ["Seizures"] in outputs[False] and ["seizure"] in outputs[False]


@pytest.mark.parametrize("seed", range(5))
def test_word_form_key_equals_its_definition(seed):
    import random

    from simmemre.modeling_simmemre import _WORD_FORM_MIN_STEM, _WORD_FORM_SUFFIXES

    def definition(string):
        key = "".join(char for char in string.lower() if char.isalnum())
        for suffix in _WORD_FORM_SUFFIXES:
            if key.endswith(suffix) and len(key) - len(suffix) >= _WORD_FORM_MIN_STEM:
                return key[: -len(suffix)]
        return key

    rng = random.Random(seed)
    pieces = ["toxic", "ities", "ity", "ion", "Hypertens", "ive", "-", " ", "'", "É", "ß", "İ", "2", "_", "ies", "a"]
    for _ in range(300):
        string = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        assert word_form_key(string) == definition(string), string
