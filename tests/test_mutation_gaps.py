"""Behaviours of the decoding that no other test pinned down, each found by a mutation that every other test let
pass (thresholds compared with `>` for `>=`, ...). One behaviour per test, hand-made inputs."""

import numpy as np
import torch

from simmemre.modeling_simmemre import (
    abbreviation_groups,
    agglomerative_clusters,
    agglomerative_clusters_from_edges,
    confident_entities,
    find_abbreviations,
)

LINKAGES = ("complete", "average", "single")
TEXT = "Naloxone reverses the antihypertensive effect of clonidine. In rats, clonidine lowered blood pressure."


def test_an_entity_whose_best_mention_scores_exactly_the_entity_threshold_is_kept():
    scores = np.array([0.25, 0.5, 0.125], dtype=np.float32)  # exact in float32 and float64
    clusters = np.array([0, 1, 1])
    kept, renumbered = confident_entities(scores, clusters, 0.5)
    assert kept.tolist() == [1, 2] and renumbered.tolist() == [0, 0]


def test_a_relation_scoring_exactly_the_relation_threshold_is_kept(model, processor):
    """The relation threshold keeps scores that reach it (`>=`, as the threshold sweep of calibration counts)."""
    kwargs = dict(mention_threshold=0.0, coref_threshold=0.5)
    with torch.no_grad():
        every = model(**processor(TEXT), **kwargs, relation_threshold=0.0).predictions[0]
        best = float(every["relation_scores"].max())  # a float32 value, exact as a Python float
        at_best = model(**processor(TEXT), **kwargs, relation_threshold=best).predictions[0]
    expected = int((every["relation_scores"] >= best).sum())
    assert expected >= 1
    assert at_best["relations"].shape[0] == expected
    assert float(at_best["relation_scores"].min()) == best


def test_an_abbreviation_s_first_letter_must_start_a_word_of_the_long_form():
    """Schwartz & Hearst: "D" of "DC" matches only at a word start; the "d" ending "graded" is no definition."""
    assert find_abbreviations("The dye color (DC) scale.") == [("DC", "dye color")]
    assert find_abbreviations("A graded color (DC) scale.") == []


def test_a_long_form_no_longer_than_its_short_form_is_no_definition():
    """Schwartz & Hearst: the long form is longer than the short form; "AB (AB)" repeats it."""
    assert find_abbreviations("We measured AB (AB) twice.") == []


def test_a_mention_scoring_exactly_the_mention_threshold_is_kept(model, processor):
    kwargs = dict(coref_threshold=1.0, relation_threshold=1.0)
    with torch.no_grad():
        every = model(**processor(TEXT), **kwargs, mention_threshold=0.0).predictions[0]
        best = float(every["mention_scores"].max())  # a float32 value, exact as a Python float
        at_best = model(**processor(TEXT), **kwargs, mention_threshold=best).predictions[0]
    assert at_best["mention_scores"].numel() >= 1
    assert float(at_best["mention_scores"].min()) == best


def test_mentions_whose_similarity_equals_the_coreference_threshold_stay_apart():
    """Clusters merge while their linkage scores above the threshold (sklearn's distance_threshold is strict too)."""
    similarity = np.array([[1.0, 0.5, 0.25], [0.5, 1.0, 0.75], [0.25, 0.75, 1.0]])
    first, second = np.array([0, 0, 1]), np.array([1, 2, 2])
    for linkage in LINKAGES:
        assert agglomerative_clusters(similarity, 0.75, linkage).tolist() == [0, 1, 2]
        assert agglomerative_clusters(similarity, 0.5, linkage).tolist() == [0, 1, 1]
        edges = similarity[first, second]
        assert agglomerative_clusters_from_edges(3, first, second, edges, 0.75, linkage).tolist() == [0, 1, 2]
        assert agglomerative_clusters_from_edges(3, first, second, edges, 0.5, linkage).tolist() == [0, 1, 1]


def test_an_abbreviation_s_long_form_is_searched_among_at_most_min_sf_plus_5_and_2sf_words():
    """Schwartz & Hearst's window: min(|SF| + 5, 2 |SF|) words, 4 for "AB"; a fifth word is out of reach."""
    assert find_abbreviations("We saw alpha y z beta (AB) here.") == [("AB", "alpha y z beta")]
    assert find_abbreviations("We saw alpha x y z beta (AB) here.") == []


def test_an_abbreviation_s_punctuation_need_not_occur_in_the_long_form():
    """Schwartz & Hearst match the short form's letters and digits only: the hyphen of "IL-2" is skipped."""
    assert find_abbreviations("Levels of interleukin 2 (IL-2) rose.") == [("IL-2", "interleukin 2")]


def test_a_merged_cluster_whose_complete_linkage_equals_the_threshold_stays_apart():
    """0-1 and 1-2 score above the threshold, 0-2 exactly at it: after 0 and 1 merge, the complete linkage of {0, 1}
    to 2 is 0.5, which does not merge at threshold 0.5."""
    similarity = np.array([[1.0, 0.75, 0.5], [0.75, 1.0, 0.75], [0.5, 0.75, 1.0]])
    first, second = np.array([0, 0, 1]), np.array([1, 2, 2])
    assert agglomerative_clusters(similarity, 0.5, "complete").tolist() == [0, 0, 1]
    edges = similarity[first, second]
    assert agglomerative_clusters_from_edges(3, first, second, edges, 0.5, "complete").tolist() == [0, 0, 1]


def test_an_abbreviation_links_mentions_written_exactly_as_its_short_form():
    """The long form matches case-insensitively, the short form exactly: "pan" (cookware) is not "PAN"."""
    text = "Rats given puromycin aminonucleoside (PAN) developed nephrosis."
    mentions = ["PAN", "pan", "Puromycin aminonucleoside"]
    assert abbreviation_groups(mentions, text) == [[0, 2]]
