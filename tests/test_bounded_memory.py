"""Bounded memory at any thresholds (issue 25): coreference scored in blocks with exactly the clusters of the dense
path, Myers edit distances equal to the dynamic programme, document-level caps that keep the most likely candidates
and say so, and configs saved before the caps existed."""

import json
import logging
import math
import random

import numpy as np
import pytest
import torch
from helpers import document_context, tiny_config
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from transformers import pipeline

from simmemre import SimMemREConfig, SimMemREModel, modeling_simmemre
from simmemre.modeling_simmemre import (
    PairEditDistances,
    RelationClassification,
    agglomerative_clusters,
    agglomerative_clusters_from_edges,
    edit_distance_matrix,
    mention_edit_distances,
    mention_strings,
    threshold_components,
    triu_pairs,
)

TEXT = (
    "Naloxone reverses the antihypertensive effect of clonidine. "
    "In rats, clonidine lowered blood pressure and naloxone caused hypertension. "
    "Clonidine-induced hypotension was reversed by naloxone (NLX) in anesthetized rats. "
    "NLX had no effect on heart rate."
)


def make_model(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    return SimMemREModel(tiny_config(tokenizer, **overrides)).eval()


def _stage_inputs(model, processor, text, mention_threshold=0.0):
    """Mentions of `text` (every candidate span at threshold 0) and the document's inference context."""
    context, _ = document_context(model, processor(text))
    candidates = model.score_candidates(context)
    return context, candidates, candidates.select(mention_threshold, model.config)


# ----------------------------------------------------------------------------------------------------
# Pair helpers
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alphabet", ["ab", "abcdefghij", "aé😀 -"])
@pytest.mark.parametrize("dense_table_limit", [1 << 20, 1], ids=["dense-table", "sorted-keys"])
@pytest.mark.parametrize("backend", ["numpy", "rapidfuzz"])
def test_pair_edit_distances_equal_the_dynamic_programme(alphabet, dense_table_limit, backend, monkeypatch):
    if backend == "numpy":  # Myers' algorithm, what a Hub user without rapidfuzz runs
        monkeypatch.setattr(modeling_simmemre, "_rapidfuzz_cdist", None)
    elif modeling_simmemre._rapidfuzz_cdist is None:
        pytest.skip("rapidfuzz is not installed")
    rng = random.Random(len(alphabet))
    lengths = [0, 1, 2, 5, 31, 63, 64, 65, 100, 127, 128, 129, 140] + [rng.randint(0, 150) for _ in range(30)]
    strings = [[ord(rng.choice(alphabet)) for _ in range(length)] for length in lengths]
    strings += [strings[5][:], strings[8][:-1], strings[8] + [ord("z")]]  # duplicates and near duplicates
    expected = edit_distance_matrix(strings).numpy()
    distances = PairEditDistances(strings, dense_table_limit=dense_table_limit)
    first, second = np.meshgrid(np.arange(len(strings)), np.arange(len(strings)), indexing="ij")
    first, second = first.reshape(-1), second.reshape(-1)
    assert np.array_equal(distances(first, second), expected[first, second])


def test_triu_pairs_equal_torch_triu_indices():
    for count in range(0, 30):
        reference = torch.triu_indices(count, count, offset=1)
        total = reference.shape[1]
        for begin, end in [(0, total), (0, total // 2), (total // 3, total)]:
            first, second = triu_pairs(count, np.arange(begin, end))
            assert first.tolist() == reference[0, begin:end].tolist()
            assert second.tolist() == reference[1, begin:end].tolist()


@pytest.mark.parametrize("linkage", ["complete", "average", "single"])
@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("whole_argmax_limit", [32, 0], ids=["whole-argmax", "row-maxima"])
def test_agglomerative_clusters_from_edges_equals_the_dense_function(seed, linkage, whole_argmax_limit, monkeypatch):
    monkeypatch.setattr(modeling_simmemre, "_WHOLE_ARGMAX_LIMIT", whole_argmax_limit)
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 45))
    similarity = rng.random((count, count)).astype(np.float32)
    if seed % 3 == 0:
        similarity = np.round(similarity * 5).astype(np.float32) / 5  # many ties: the row-major tie-break matters
    similarity = np.maximum(similarity, similarity.T) ** np.float32(rng.choice([0.05, 0.3, 1.0]))
    threshold = float(rng.choice([0.0, 0.4, 0.6, 0.85, 0.8]))
    if seed % 4 == 1:  # a threshold equal to a score: float32 / float64 comparisons at the edge
        threshold = float(similarity[0, 1])
    expected = agglomerative_clusters(similarity, threshold, linkage)
    first, second = np.triu_indices(count, k=1)
    values = similarity[first, second]
    # Only the pairs above the threshold, or those plus some below; average linkage: all pairs of a component.
    above = values > threshold - 1e-6
    component = threshold_components(count, first[values > threshold], second[values > threshold])
    inside = component[first] == component[second]
    for extra in (0.0, 0.3):
        keep = (inside if linkage == "average" else above) | (rng.random(values.shape) < extra)
        labels = agglomerative_clusters_from_edges(count, first[keep], second[keep], values[keep], threshold, linkage)
        assert labels.tolist() == expected.tolist()


def test_mention_pair_slots_equal_the_nonzero_of_the_pair_mask():
    generator = torch.Generator().manual_seed(0)
    head = torch.rand((9, 6), generator=generator) < 0.5
    tail = torch.rand((9, 6), generator=generator) < 0.5
    head[3] = False  # an entity pair without mention pairs
    expected = (head[:, :, None] & tail[:, None, :]).nonzero(as_tuple=True)
    actual = RelationClassification.mention_pair_slots(head.numpy(), tail.numpy())
    for got, want in zip(actual, expected):
        assert np.array_equal(got, want.numpy())


# ----------------------------------------------------------------------------------------------------
# Chunked coreference = the dense path
# ----------------------------------------------------------------------------------------------------


def _dense_similarity(model, mentions, word_char_spans, text_codepoints):
    """The unchunked path as it was before the blocks: the (n, n) edit-distance and probability matrices."""
    mention_reprs, count = mentions.representations, mentions.representations.shape[0]
    strings, _ = mention_strings(mentions.word_spans, word_char_spans, text_codepoints)
    distances = mention_edit_distances(strings, count)
    left, right = torch.triu_indices(count, count, offset=1)
    similarity = torch.zeros((count, count))
    chunk = model.config.coref_pair_chunk_size
    with torch.inference_mode():
        projections = model.coreference_resolution.mention_projections(mention_reprs)
        for begin in range(0, left.numel(), chunk):
            a, b = left[begin : begin + chunk], right[begin : begin + chunk]
            probabilities = torch.sigmoid(model.coreference_resolution.pair_logits(projections, a, b, distances[a, b]))
            similarity[a, b] = probabilities
            similarity[b, a] = probabilities
        return similarity.numpy()


@pytest.mark.parametrize("chunk, linkage", [(8192, "complete"), (7, "complete"), (7, "average"), (8192, "single")])
def test_chunked_coreference_gives_the_clusters_of_the_dense_path(tokenizer, processor, chunk, linkage):
    model = make_model(tokenizer, seed=3, coref_pair_chunk_size=chunk, coreference_linkage=linkage)
    context, _, mentions = _stage_inputs(model, processor, TEXT)
    count = mentions.word_spans.shape[0]
    assert count > 150  # every candidate span: over 11,000 pairs
    char_spans, codepoints = context.word_char_spans, context.text_codepoints
    similarity = _dense_similarity(model, mentions, char_spans, codepoints)
    scores = similarity[np.triu_indices(count, k=1)]
    # Thresholds that give singletons, small clusters, large components, one cluster; and one equal to a score.
    thresholds = [
        0.0,
        float(np.quantile(scores, 0.5)),
        float(np.quantile(scores, 0.9)),
        float(np.quantile(scores, 0.99)),
        float(scores[123]),
        0.85,
        1.0,
    ]
    sizes = set()
    for threshold in thresholds:
        expected = agglomerative_clusters(similarity, threshold, linkage)
        actual = model.coreference_resolution.cluster(context, mentions, threshold, model.config)
        assert actual.tolist() == expected.tolist(), threshold
        sizes.add(int(actual.max()) + 1)
    assert len(sizes) >= 4  # the thresholds gave different clusterings


def test_chunked_coreference_stays_below_the_pair_matrix(tokenizer, processor):
    """No tensor of the coreference stage grows with the n x n pairs (at a threshold few pairs pass)."""
    model = make_model(tokenizer, seed=3, coref_pair_chunk_size=64)
    context, _, mentions = _stage_inputs(model, processor, TEXT)
    count = mentions.word_spans.shape[0]

    class Largest(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            for leaf in tree_leaves(result):
                if isinstance(leaf, torch.Tensor):
                    Largest.largest = max(Largest.largest, leaf.numel())
            return result

    with Largest():
        model.coreference_resolution.cluster(context, mentions, 0.9, model.config)
    config = model.config
    # blocks of pairs, the mentions' two projections made side by side (`parallel_linear`), tables
    bound = max(64, 2 * count, config.edit_distance_embeddings_count) * config.hidden_size
    assert Largest.largest <= bound < count * (count - 1) // 2


# ----------------------------------------------------------------------------------------------------
# Caps
# ----------------------------------------------------------------------------------------------------


def _notes(prediction, config):
    rows = prediction.get("truncated")
    if rows is None:
        return {}
    return {config.document_caps[cap]: (limit, found, kept) for cap, limit, found, kept in rows.tolist()}


def test_defaults_do_not_bind_and_add_no_key(tokenizer, processor):
    """Defaults on a normal document: no `truncated` key, the same predictions as without caps."""
    model = make_model(tokenizer, seed=1)
    uncapped = make_model(
        tokenizer,
        seed=1,
        max_mentions_per_document=None,
        max_entity_pairs_per_document=None,
        max_relations_per_document=None,
    )
    batch = processor(TEXT)
    kwargs = dict(mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.3)
    with torch.no_grad():
        capped, free = model(**batch, **kwargs).predictions[0], uncapped(**batch, **kwargs).predictions[0]
    assert "truncated" not in capped and set(capped) == set(free)
    for key in free:
        assert torch.equal(capped[key], free[key]), key


def test_mention_cap_keeps_the_highest_scores_and_says_so(tokenizer, processor, caplog, monkeypatch):
    import simmemre.modeling_simmemre as modeling

    monkeypatch.setattr(modeling, "_SAID_ONCE", set())  # (a cap is logged once per process)
    free = make_model(tokenizer, seed=2)
    capped = make_model(tokenizer, seed=2, max_mentions_per_document=40)
    batch = processor(TEXT)
    kwargs = dict(mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.5)
    with torch.no_grad():
        everything = free(**batch, **kwargs).predictions[0]
        with caplog.at_level(logging.WARNING):
            kept = capped(**batch, **kwargs).predictions[0]
    found = everything["mention_word_spans"].shape[0]
    assert _notes(kept, capped.config) == {"max_mentions_per_document": (40, found, 40)}
    assert kept["mention_word_spans"].shape[0] == 40
    torch.testing.assert_close(
        kept["mention_scores"].sort().values, everything["mention_scores"].topk(40).values.sort().values
    )
    assert "max_mentions_per_document=40 bound" in caplog.text
    spans = kept["mention_word_spans"].tolist()
    assert spans == sorted(spans)  # still in document order


def test_a_binding_cap_is_logged_once_per_process_and_recorded_in_every_prediction(
    tokenizer, processor, caplog, monkeypatch
):
    """A line per document, again at every point of a calibration grid, filled the logs."""
    import simmemre.modeling_simmemre as modeling

    monkeypatch.setattr(modeling, "_SAID_ONCE", set())
    capped = make_model(tokenizer, seed=2, max_mentions_per_document=40)
    batch = processor([TEXT, TEXT])
    with torch.no_grad(), caplog.at_level(logging.WARNING):
        for _ in range(2):
            predictions = capped(**batch, mention_threshold=0.0, coref_threshold=1.0).predictions
            assert all("max_mentions_per_document" in _notes(p, capped.config) for p in predictions)
    assert caplog.text.count("max_mentions_per_document=40 bound") == 1
    assert "further documents bound by max_mentions_per_document=40 are not logged" in caplog.text


def test_the_per_word_cap_is_logged_once_for_documents_of_every_length(tokenizer, processor, caplog, monkeypatch):
    """The per-word cap's limit differs with each document's length: it was logged once per length (8 blocks for 8
    documents in a notebook cell), naming the document's limit as if it were the setting."""
    import simmemre.modeling_simmemre as modeling

    monkeypatch.setattr(modeling, "_SAID_ONCE", set())
    model = make_model(tokenizer, max_mentions_per_word=0.5)
    with torch.no_grad(), caplog.at_level(logging.WARNING):
        for words in (12, 20, 28):
            batch = processor(" ".join(TEXT.split()[:words]))
            model(**batch, mention_threshold=0.0, coref_threshold=1.0, relation_threshold=1.0)
    assert caplog.text.count("max_mentions_per_word=0.5 bound (a limit of ") == 1
    assert caplog.text.count("SimMemRE inference:") == 1


def test_the_smaller_mention_cap_is_the_one_reported(tokenizer, processor):
    batch = processor(TEXT)
    words = int(batch["word_mask"][0].sum())
    model = make_model(tokenizer, max_mentions_per_word=0.5, max_mentions_per_document=1000)
    with torch.no_grad():
        prediction = model(**batch, mention_threshold=0.0, coref_threshold=1.0, relation_threshold=1.0).predictions[0]
    ((name, (limit, _, kept)),) = _notes(prediction, model.config).items()
    assert name == "max_mentions_per_word" and limit == kept == math.ceil(0.5 * words)


def test_entity_pair_cap_keeps_the_nearest_pairs(tokenizer, processor):
    """At the cap, the kept pairs are those whose nearest mentions are fewest sentences apart, then those of the most
    likely entities; relations are found only among them, with the scores of the uncapped run. Small blocks."""
    cap = 300
    free = make_model(tokenizer, seed=4, max_mentions_per_document=60)
    capped = make_model(
        tokenizer, seed=4, max_mentions_per_document=60, max_entity_pairs_per_document=cap, coref_pair_chunk_size=3
    )
    batch = processor(TEXT)
    kwargs = dict(mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.0)  # every pair, every type
    with torch.no_grad():
        everything, kept = free(**batch, **kwargs).predictions[0], capped(**batch, **kwargs).predictions[0]
    entities = kept["entity_types"].shape[0]
    total = entities * (entities - 1) // 2
    assert total > cap
    assert _notes(kept, capped.config)["max_entity_pairs_per_document"] == (cap, total, cap)
    pairs = {tuple(sorted(pair)) for pair in kept["relations"][:, :2].tolist()}
    assert len(pairs) == cap  # threshold 0: every kept pair gives relations
    # Brute force: nearest-mention sentence distance and best mention score of every entity pair.
    words = int(batch["word_mask"][0].sum())
    sentence_of_word = batch["word_sentence_ids"][0, :words]
    sentences = sentence_of_word[kept["mention_word_spans"][:, 0]].tolist()
    clusters, scores = kept["mention_clusters"].tolist(), kept["mention_scores"].tolist()
    best = [max(s for s, c in zip(scores, clusters) if c == e) for e in range(entities)]
    members = [[sentences[i] for i, c in enumerate(clusters) if c == e] for e in range(entities)]

    def rank(pair):
        h, t = pair
        return min(abs(a - b) for a in members[h] for b in members[t]), -best[h] * best[t]

    all_pairs = [(h, t) for h in range(entities) for t in range(h + 1, entities)]
    kept_ranks = [rank(p) for p in pairs]
    dropped_ranks = [rank(p) for p in all_pairs if p not in pairs]
    assert max(kept_ranks)[0] <= min(dropped_ranks)[0]
    boundary = max(kept_ranks)[0]
    kept_at = [-r[1] for r in kept_ranks if r[0] == boundary]
    dropped_at = [-r[1] for r in dropped_ranks if r[0] == boundary]
    if kept_at and dropped_at:
        assert min(kept_at) >= max(dropped_at) - 1e-6
    # Same relation scores as the uncapped run for the kept pairs.
    free_scores = dict(zip(map(tuple, everything["relations"].tolist()), everything["relation_scores"].tolist()))
    for relation, score in zip(kept["relations"].tolist(), kept["relation_scores"].tolist()):
        assert free_scores[tuple(relation)] == pytest.approx(score, abs=1e-6)


def test_relation_cap_keeps_the_highest_scores_in_order(tokenizer, processor):
    cap = 500
    free = make_model(tokenizer, seed=5, max_mentions_per_document=50)
    capped = make_model(tokenizer, seed=5, max_mentions_per_document=50, max_relations_per_document=cap)
    batch = processor(TEXT)
    kwargs = dict(mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.2)
    with torch.no_grad():
        everything, kept = free(**batch, **kwargs).predictions[0], capped(**batch, **kwargs).predictions[0]
    found = everything["relations"].shape[0]
    assert found > cap
    assert _notes(kept, capped.config)["max_relations_per_document"] == (cap, found, cap)
    order = torch.sort(everything["relation_scores"], descending=True, stable=True).indices[:cap].sort().values
    assert torch.equal(kept["relations"], everything["relations"][order])
    assert torch.equal(kept["relation_scores"], everything["relation_scores"][order])
    # Filtering the capped run at a higher threshold gives the uncapped run's relations there.
    high = float(kept["relation_scores"].min()) + 1e-4
    assert torch.equal(
        kept["relations"][kept["relation_scores"] >= high],
        everything["relations"][everything["relation_scores"] >= high],
    )


def test_pipeline_document_lists_the_caps_that_bound(tokenizer, processor):
    model = make_model(
        tokenizer,
        seed=6,
        max_mentions_per_document=30,
        max_entity_pairs_per_document=100,
        max_relations_per_document=50,
    )
    extractor = pipeline("joint-re", model=model, processor=processor)
    document = extractor(TEXT, mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.0)
    assert [note["cap"] for note in document["truncated"]] == [
        "max_mentions_per_document",
        "max_entity_pairs_per_document",
        "max_relations_per_document",
    ]
    assert document["truncated"][0] == {
        "cap": "max_mentions_per_document",
        "limit": 30,
        "found": document["truncated"][0]["found"],
        "kept": 30,
    }
    assert document["truncated"][1] == {
        "cap": "max_entity_pairs_per_document",
        "limit": 100,
        "found": 30 * 29 // 2,
        "kept": 100,
    }
    assert len(document["relations"]) == 50 and sum(len(e["mentions"]) for e in document["entities"]) == 30
    json.dumps(document)  # plain Python values
    plain = extractor(TEXT)  # the config's thresholds: nothing binds
    assert "truncated" not in plain


def test_configs_saved_before_the_caps_load_with_the_defaults(tokenizer, tmp_path):
    config = tiny_config(tokenizer)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for key in ("max_mentions_per_document", "max_entity_pairs_per_document", "max_relations_per_document"):
        assert key in saved
        del saved[key]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = SimMemREConfig.from_pretrained(tmp_path)
    assert (
        loaded.max_mentions_per_document,
        loaded.max_entity_pairs_per_document,
        loaded.max_relations_per_document,
    ) == (2048, 50000, 100000)
    assert "document_caps" not in loaded.to_dict()


@pytest.mark.parametrize(
    "field", ["max_mentions_per_document", "max_entity_pairs_per_document", "max_relations_per_document"]
)
@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_config_rejects_bad_caps(tokenizer, field, value):
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}"):
        tiny_config(tokenizer, **{field: value})
    assert getattr(tiny_config(tokenizer, **{field: None}), field) is None
