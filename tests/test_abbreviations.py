"""Abbreviation-aware coreference: Schwartz & Hearst definitions and the cluster merge behind
`SimMemREConfig.abbreviation_coreference`."""

import numpy as np
from helpers import entity_texts_with_switch

from simmemre.modeling_simmemre import find_abbreviations, merge_abbreviation_clusters

TEXT = "Rats given puromycin aminonucleoside (PAN) developed nephrosis. PAN caused proteinuria."


def test_definitions_pair_short_and_long_forms():
    text = "The heart rate (HR) and acute renal failure (ARF) rose (p < 0.05) in Parkinson's disease (PD)."
    assert find_abbreviations(text) == [
        ("HR", "heart rate"),
        ("ARF", "acute renal failure"),
        ("PD", "Parkinson's disease"),
    ]


def test_long_form_stays_inside_its_sentence():
    text = "It was given. Often, doxorubicin (Adriamycin) was used."
    assert find_abbreviations(text) == []


def test_the_long_form_window_is_read_back_from_the_parenthesis():
    """The words before each parenthesis were found by splitting the whole text before it (quadratic in the text);
    read back from the parenthesis, spaces, line breaks and the text's start bound the window as the split did."""
    assert find_abbreviations("(HR)") == []
    assert find_abbreviations("heart rate   (HR)") == [("HR", "heart rate")]  # trailing spaces stripped
    assert find_abbreviations("the  heart rate (HR)") == [("HR", "heart rate")]
    assert find_abbreviations("heart\nrate (HR)") == [("HR", "heart rate")]
    long_text = "filler words here. " * 2000 + "heart rate (HR)"
    assert find_abbreviations(long_text) == [("HR", "heart rate")]


def test_any_whitespace_separates_the_words_of_a_long_form():
    """Words were split on ASCII spaces only: a double space ended the window, a tab or a no-break space hid the long
    form, and a line break between title and abstract glued "report.\nScleroderma" into one word. On 60 BC5CDR test
    documents with tabs or no-break spaces the quick model lost 3.0 entity F1 and 5.2 strict relation F1 (audit)."""
    assert find_abbreviations("A case report.\nScleroderma renal crisis (SRC) is rare.") == [
        ("SRC", "Scleroderma renal crisis")
    ]
    for space in ("  ", "\t", "\u00a0", " \u200b", "\r\n"):
        assert find_abbreviations(f"acute{space}renal failure (ARF)") == [("ARF", "acute renal failure")], space


def test_mentions_written_with_other_whitespace_join_their_definition():
    from simmemre.modeling_simmemre import abbreviation_groups

    text = "Acute renal\tfailure (ARF) was seen; acute renal failure and ARF recurred."
    assert abbreviation_groups(["Acute renal\tfailure", "ARF", "acute renal failure", "ARF"], text) == [[1, 3, 0, 2]]


def test_text_without_definitions_gives_none():
    assert find_abbreviations("Aspirin (10 mg) causes ulcers (see below).") == []


def test_merge_joins_clusters_of_the_short_and_the_long_form():
    clusters = np.array([0, 1, 2, 1, 3])
    strings = ["puromycin aminonucleoside", "nephrosis", "PAN", "nephrosis", "PAN"]
    assert merge_abbreviation_clusters(clusters, strings, TEXT).tolist() == [0, 1, 0, 1, 0]


def test_merge_leaves_clusters_without_definitions_alone():
    clusters = np.array([0, 1, 2])
    assert merge_abbreviation_clusters(clusters, ["a", "b", "c"], "No definitions here.").tolist() == [0, 1, 2]


def test_pipeline_merges_abbreviations_on_raw_text_only_when_switched_on(tokenizer, processor):
    outputs = entity_texts_with_switch(tokenizer, processor, TEXT, "abbreviation_coreference")
    merged = [texts for texts in outputs[True] if "PAN" in texts]
    assert merged == [["PAN", "puromycin aminonucleoside"]]
    assert ["PAN"] in outputs[False] and ["puromycin aminonucleoside"] in outputs[False]
