"""`SimMemREConfig.mention_string_propagation`: further occurrences of a kept mention's string join its entity."""

import pytest
import torch
from helpers import tiny_config

from simmemre import SimMemREModel
from simmemre.modeling_simmemre import propagate_document_mentions, propagated_mentions

TEXT = "Lithium carbonate caused tremor. The lithium dose and lithium carbonate levels rose. NO and no tremor."


def _words(text):
    """Whitespace words, with a sentence's final period as a word of its own."""
    spans, start = [], None
    for index, char in enumerate(text + " "):
        if char in " ." and start is not None:
            spans.append([start, index])
            start = None
        if char == ".":
            spans.append([index, index + 1])
        elif char != " " and start is None:
            start = index
    return spans


WORDS = _words(TEXT)


def _span(*words):
    """The word span of consecutive `words` at their first occurrence in TEXT."""
    strings = [TEXT[s:e] for s, e in WORDS]
    for first in range(len(strings)):
        if strings[first : first + len(words)] == list(words):
            return [first, first + len(words)]
    raise ValueError(words)


def _found_strings(spans, clusters, min_length=2):
    found = propagated_mentions(TEXT, WORDS, spans, clusters, min_length)
    return [(TEXT[WORDS[first][0] : WORDS[end - 1][1]], first, entity) for first, end, entity in found]


def test_an_occurrence_joins_the_entity_of_its_string():
    found = _found_strings([_span("tremor")], [0])
    assert [(string, entity) for string, _, entity in found] == [("tremor", 0)]
    assert found[0][1] == len(WORDS) - 2  # the second "tremor", before the last period


def test_a_sentence_initial_capital_matches_the_lower_case_form():
    lower = _span("lithium")
    found = _found_strings([lower], [3])
    assert sorted(string for string, _, _ in found) == ["Lithium", "lithium"]
    assert {entity for _, _, entity in found} == {3}


def test_a_capital_second_letter_keeps_the_case():
    no = _span("NO")
    assert _found_strings([no], [0]) == []  # "no" is not "NO"


def test_longer_strings_take_their_occurrences_first():
    lithium, carbonate = _span("lithium"), _span("Lithium", "carbonate")
    found = _found_strings([lithium, carbonate], [0, 1])
    assert ("lithium carbonate", 1) in [(string, entity) for string, _, entity in found]
    # the "lithium" inside the second "lithium carbonate" is taken by the longer string
    assert [string for string, _, entity in found if entity == 0] == []


def test_a_string_two_entities_share_is_not_propagated():
    capital, lower = _span("Lithium"), _span("lithium")  # the third occurrence, "lithium carbonate levels", is free
    assert _found_strings([capital, lower], [0, 0]) and _found_strings([capital, lower], [0, 1]) == []


def test_occurrences_overlapping_a_mention_are_left_alone():
    dose = _span("The", "lithium", "dose")
    found = _found_strings([_span("lithium"), dose], [0, 1])
    assert all(not (dose[0] <= first < dose[1]) for _, first, _ in found)


@pytest.mark.parametrize("min_length, expected", [(2, 1), (7, 0)])
def test_strings_shorter_than_the_minimum_are_not_propagated(min_length, expected):
    assert len(_found_strings([_span("tremor")], [0], min_length)) == expected


def _model_batch_thresholds(tokenizer, processor):
    """A tiny random model (propagation off), TEXT as a batch, and thresholds whose mention threshold keeps some
    spans and leaves out others."""
    torch.manual_seed(5)
    model = SimMemREModel(tiny_config(tokenizer, flat_mentions=True)).eval()
    batch = processor(TEXT)
    thresholds = dict(coref_threshold=1.0, relation_threshold=0.0)
    candidates = model.predict(batch, mention_threshold=0.0, **thresholds)[0]
    thresholds["mention_threshold"] = float(candidates["mention_scores"].median())
    return model, batch, thresholds


def test_the_model_adds_occurrences_and_keeps_everything_else(tokenizer, processor):
    model, batch, thresholds = _model_batch_thresholds(tokenizer, processor)
    off = model.predict(batch, **thresholds)[0]
    model.config.mention_string_propagation = True
    on = model.predict(batch, **thresholds)[0]
    spans = lambda p: [tuple(s) for s in p["mention_word_spans"].tolist()]  # noqa: E731
    kept = {s: (c, score) for s, c, score in zip(spans(off), off["mention_clusters"].tolist(), off["mention_scores"])}
    added = [
        (s, c) for s, c, score in zip(spans(on), on["mention_clusters"].tolist(), on["mention_scores"]) if s not in kept
    ]
    assert added, "the test text should leave an occurrence to propagate"
    assert spans(on) == sorted(spans(on))
    for span, cluster, score in zip(spans(on), on["mention_clusters"].tolist(), on["mention_scores"]):
        if span in kept:
            assert (cluster, score) == kept[span]
    char_spans = batch["word_char_spans"][0].tolist()
    written = lambda s: TEXT[char_spans[s[0]][0] : char_spans[s[1] - 1][1]].lower()  # noqa: E731
    for span, cluster in added:
        assert written(span) in {written(s) for s, (c, _) in kept.items() if c == cluster}
    for key in ("entity_types", "entity_scores", "relations", "relation_scores"):
        assert torch.equal(on[key], off[key]), key


def test_decoded_documents_propagate_as_the_model_does(tokenizer, processor):
    # Threshold calibration propagates decoded output (character offsets); it must add what `extract` adds.
    model, batch, thresholds = _model_batch_thresholds(tokenizer, processor)
    config = model.config
    decoded = {}
    for on in (False, True):
        config.mention_string_propagation = on
        prediction = model.predict(batch, **thresholds)[0]
        word_char_spans = batch["word_char_spans"][0]
        decoded[on] = processor.decode(prediction, TEXT, word_char_spans, config.entity_types, config.relation_types)
    mirrored = propagate_document_mentions(decoded[False], word_char_spans.tolist(), 2)
    without_scores = lambda d: [[(m["start"], m["end"]) for m in e["mentions"]] for e in d["entities"]]  # noqa: E731
    assert without_scores(mirrored) == without_scores(decoded[True]) != without_scores(decoded[False])


def _naive_propagated_mentions(text, word_char_spans, mention_word_spans, clusters, min_length):
    """The definition, window by window: every window of a mention's word length is keyed and looked up."""

    def key(string):
        return string[0].lower() + string[1:] if string[1:2].islower() else string

    owners, lengths = {}, set()
    for (first, end), entity in zip(mention_word_spans, clusters):
        string = text[word_char_spans[first][0] : word_char_spans[end - 1][1]]
        if len(string) >= min_length:
            owners.setdefault(key(string), set()).add(entity)
            lengths.add(end - first)
    covered = [False] * len(word_char_spans)
    for first, end in mention_word_spans:
        covered[first:end] = [True] * (end - first)
    found = []
    for length in sorted(lengths, reverse=True):
        for first in range(len(word_char_spans) - length + 1):
            end = first + length
            if any(covered[first:end]):
                continue
            owner = owners.get(key(text[word_char_spans[first][0] : word_char_spans[end - 1][1]]))
            if owner is not None and len(owner) == 1:
                found.append((first, end, next(iter(owner))))
                covered[first:end] = [True] * length
    return found


@pytest.mark.parametrize("seed", range(25))
def test_propagation_equals_the_window_by_window_definition(seed):
    import random

    rng = random.Random(seed)
    vocabulary = ["Li", "li", "lithium", "Lithium", "LITHIUM", "ΟΔΟΣ", "οδος", "é", "Étoile", "a-b", "NO", "no", "x"]
    words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 60))]
    text, spans = "", []
    for word in words:
        text += rng.choice([" ", "  ", ""]) if text else ""
        spans.append([len(text), len(text) + len(word)])
        text += word
    mentions, clusters = [], []
    for _ in range(rng.randint(0, 6)):
        first = rng.randrange(len(words))
        end = min(len(words), first + rng.randint(1, 3))
        if all(end <= a or first >= b for a, b in mentions):
            mentions.append([first, end])
            clusters.append(rng.randrange(3))
    min_length = rng.choice([1, 2, 3])
    expected = _naive_propagated_mentions(text, spans, mentions, clusters, min_length)
    assert propagated_mentions(text, spans, mentions, clusters, min_length) == expected


def test_a_string_whose_first_letter_lengthens_when_lower_cased_still_repeats():
    text = "İstanbul grew. Then İstanbul grew."  # "İ".lower() is two code points
    words = [(0, 8), (9, 13), (13, 14), (15, 19), (20, 28), (29, 33), (33, 34)]
    assert propagated_mentions(text, words, [[0, 1]], [0], 2) == [(4, 5, 0)]
