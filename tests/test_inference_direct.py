"""Inference stages checked directly against their definitions: entity typing (argmax), entity pooling (max over the
mentions, JEREX), relation directions, the coreference edit-distance feature and the mention strings behind it.

`test_reference_outputs.py` catches the same bugs only as a changed digest, which is regenerated for every intended
change; these tests name the behaviour that broke. Tiny random models (helpers.tiny_config): their scores are
arbitrary but fixed, which is all these checks need.
"""

import numpy as np
import pytest
import torch
from helpers import tiny_config

from simmemre import SimMemREModel
from simmemre.modeling_simmemre import CoreferenceResolution, Mentions, RelationClassification, mention_strings

TEXT = (
    "Naloxone reverses the antihypertensive effect of clonidine. "
    "In rats, clonidine lowered blood pressure and naloxone caused hypertension."
)
# Every candidate a mention; the tiny model's coreference probabilities sit near 0.5, so some pairs link.
LINKING = {"mention_threshold": 0.0, "coref_threshold": 0.5, "relation_threshold": 0.0}


def _levenshtein(first: str, second: str) -> int:
    """Character edit distance (unit costs), the textbook dynamic programme: the reference the model's bit-vector
    algorithm must agree with."""
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def _span_texts(text: str, batch, word_spans) -> list:
    """The text of each word span `(n, 2)` (end exclusive): from its first word's first character to its last word's
    last, sliced from the document by the processor's character offsets."""
    char_spans = batch["word_char_spans"][0].tolist()
    return [text[char_spans[start][0] : char_spans[end - 1][1]] for start, end in word_spans.tolist()]


def test_each_entity_takes_its_most_probable_type_with_that_probability(tokenizer, processor):
    """An entity's type is the argmax of its type distribution, and its score that highest probability. JEREX's linear
    classifier, as the tiny similarity classifier gives every entity of this text the same type."""
    torch.manual_seed(0)
    config = tiny_config(tokenizer, entity_types=["Chemical", "Disease", "Gene"], jerex_baseline=True)
    model = SimMemREModel(config).eval()
    with torch.no_grad():  # spread the type probabilities (about uniform at the initializer's scale)
        for parameter in model.entity_classification.parameters():
            parameter.normal_(0.0, 0.2)
    prediction = model.extract(**processor(TEXT), **LINKING).predictions[0]
    probabilities = prediction["entity_type_probabilities"]
    assert probabilities.shape[0] > 1 and len(set(prediction["entity_types"].tolist())) > 1
    assert (probabilities.amax(-1) > probabilities.amin(-1)).all()  # no ties: argmax and argmin differ
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(probabilities.shape[0]))
    assert torch.equal(prediction["entity_types"], probabilities.argmax(-1))
    assert torch.equal(prediction["entity_scores"], probabilities.amax(-1))


def test_an_entity_is_the_max_pool_of_its_mentions(tokenizer):
    """JEREX represents an entity by the element-wise max over its mentions' representations, not their mean; its type
    probabilities are the classifier's softmax on that vector."""
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer)).eval()
    clusters = np.array([0, 1, 0, 2, 1, 0])
    count, size = clusters.shape[0], model.config.hidden_size
    representations = torch.randn(count, size)
    spans = torch.stack([torch.arange(count), torch.arange(count) + 1], -1)
    mentions = Mentions(spans, spans, torch.zeros(count, dtype=torch.long), representations, torch.full((count,), 0.9))
    memory = model.memories.get("entity")
    entities = model.entity_classification.entities(mentions, clusters, memory)
    expected = torch.stack([representations[torch.from_numpy(clusters == c)].amax(0) for c in range(3)])
    assert not torch.allclose(expected[0], representations[clusters == 0].mean(0))
    assert torch.equal(entities.representations, expected)
    torch.testing.assert_close(entities.probabilities, model.entity_classification(expected, memory).softmax(-1))


@pytest.mark.parametrize("relation_classifier", ["multi_instance", "global"])
def test_each_relation_has_the_score_of_its_own_direction(tokenizer, processor, monkeypatch, relation_classifier):
    """Inference scores each entity pair in both directions at once (`with_reverse`); every relation (head, tail, type)
    must carry the probability of (head, tail), scored alone, not that of (tail, head)."""
    original = RelationClassification.logits
    alone = {}

    def spy(self, pooler, mentions, entities, pairs, memories, **options):
        if options.get("with_reverse"):
            single = dict(options, with_reverse=False)
            host_pairs = np.asarray(pairs)
            for ordered in (host_pairs, host_pairs[:, ::-1].copy()):
                scores = torch.sigmoid(original(self, pooler, mentions, entities, ordered, memories, **single).float())
                alone.update({(int(h), int(t)): row for (h, t), row in zip(ordered, scores)})
        return original(self, pooler, mentions, entities, pairs, memories, **options)

    monkeypatch.setattr(RelationClassification, "logits", spy)
    torch.manual_seed(0)
    config = tiny_config(tokenizer, relation_types=["CID", "Other"], relation_classifier=relation_classifier)
    model = SimMemREModel(config).eval()
    with torch.no_grad():  # spread the relation scores (about 0.5 +- 1e-4 at the initializer's scale)
        for parameter in model.relation_classification.parameters():
            parameter.normal_(0.0, 0.2)
    prediction = model.extract(**processor(TEXT), **LINKING).predictions[0]
    num_entities = prediction["entity_types"].shape[0]
    assert num_entities > 2
    # At threshold 0 every ordered pair of entities is a relation of every type.
    relations = prediction["relations"].tolist()
    assert len(relations) == num_entities * (num_entities - 1) * 2
    directions_apart = [float((alone[(h, t)] - alone[(t, h)]).abs().max()) for h, t in alone]
    assert np.median(directions_apart) > 1e-3
    expected = torch.stack([alone[(head, tail)][relation_type] for head, tail, relation_type in relations])
    torch.testing.assert_close(prediction["relation_scores"], expected, rtol=1e-5, atol=1e-6)


def test_coreference_pairs_are_scored_with_the_edit_distance_of_their_strings(tokenizer, processor, monkeypatch):
    """The pair feature e_ed embeds the character edit distance between the two mentions' strings, as in training."""
    original = CoreferenceResolution.pair_logits
    scored = []

    def spy(self, projections, first, second, edit_distances):
        scored.append((first.tolist(), second.tolist(), edit_distances.tolist()))
        return original(self, projections, first, second, edit_distances)

    monkeypatch.setattr(CoreferenceResolution, "pair_logits", spy)
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, max_span_size=3)).eval()
    batch = processor(TEXT)
    prediction = model.extract(**batch, **LINKING).predictions[0]
    # No entity threshold and no string propagation: the predicted mentions are those clustered, in that order.
    strings = _span_texts(TEXT, batch, prediction["mention_word_spans"])
    count = len(strings)
    pairs = [(a, b, d) for first, second, distances in scored for a, b, d in zip(first, second, distances)]
    assert len(pairs) == count * (count - 1) // 2  # every pair i < j scored once
    assert len({d for _, _, d in pairs}) > 5
    for a, b, distance in pairs:
        assert distance == _levenshtein(strings[a], strings[b]), (strings[a], strings[b])


@pytest.mark.parametrize("text", [TEXT, "Naïve β-blocker users (n=12) had ulcers"], ids=["sentences", "non_ascii"])
def test_mention_strings_are_the_exact_text_of_their_words(processor, text):
    """The strings behind the edit distances, abbreviations, word forms and the lexicon run from a span's first word's
    first character to its last word's last, the document's last word included."""
    batch = processor(text)
    num_words = batch["word_char_spans"].shape[1]
    word_spans = torch.tensor([(s, e) for s in range(num_words) for e in range(s + 1, min(s + 3, num_words) + 1)])
    strings, _ = mention_strings(word_spans, batch["word_char_spans"][0], batch["text_codepoints"][0])
    assert ["".join(map(chr, string)) for string in strings] == _span_texts(text, batch, word_spans)
