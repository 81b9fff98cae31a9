"""SimMemREModel: paper equations, training/inference forwards, variants, long documents, remote-code loading."""

import functools
import json
import math
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import document_context, tiny_config
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from simmemre import SimMemREConfig, SimMemREModel
from simmemre.configuration_simmemre import COREFERENCE_LINKAGES as LINKAGES
from simmemre.modeling_simmemre import (
    BilinearSimilarity,
    CoreferenceResolution,
    Entities,
    MemoryEnhancedRepresentation,
    MemoryReader,
    MentionLocalization,
    Mentions,
    RangeMaxPool,
    RelationClassification,
    SimilarityMemory,
    _running_max,
    agglomerative_clusters,
    candidate_spans,
    confident_entities,
    edit_distance_matrix,
    few_rows_linear,
    gather_rows,
    linear_in_parts,
    max_pool_short_ranges,
    non_overlapping_spans,
    parallel_linear,
    pool_candidates_with_read_scores,
    weight_blocks,
)

TEXT = (
    "Naloxone reverses the antihypertensive effect of clonidine. "
    "In rats, clonidine lowered blood pressure and naloxone caused hypertension."
)

# Two relation types: the hand-built targets below use both.
modeling_config = functools.partial(tiny_config, relation_types=["CID", "Other"])


def _span(text, word, occurrence=0):
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(word, start + 1)
    return {"start": start, "end": start + len(word)}


DOCUMENT = {
    "id": "toy",
    "text": TEXT,
    "entities": [
        {"type": "Chemical", "mentions": [_span(TEXT, "Naloxone"), _span(TEXT, "naloxone")]},
        {"type": "Chemical", "mentions": [_span(TEXT, "clonidine", 0), _span(TEXT, "clonidine", 1)]},
        {"type": "Disease", "mentions": [_span(TEXT, "hypertension")]},
        {"type": "Disease", "mentions": [_span(TEXT, "blood pressure")]},
    ],
    "relations": [{"head": 0, "tail": 2, "type": "CID"}, {"head": 1, "tail": 3, "type": "Other"}],
}


def gold_batch(processor, config, documents=(DOCUMENT,)):
    """A teacher-forced training batch: gold samples plus all other 1-2 word spans as negatives."""
    rows = []
    for document in documents:
        features = processor.encode_document(document)
        words = features["word_char_spans"]
        start_word = {s: i for i, (s, _) in enumerate(words)}
        end_word = {e: i + 1 for i, (_, e) in enumerate(words)}
        gold = []  # (first_word, last_word_exclusive)
        entity_mentions = []
        for entity in document["entities"]:
            indices = []
            for mention in entity["mentions"]:
                span = (start_word[mention["start"]], end_word[mention["end"]])
                if span not in gold:
                    gold.append(span)
                indices.append(gold.index(span))
            entity_mentions.append(indices)
        sentence = features["word_sentence_ids"]
        negatives = [
            (i, i + w)
            for w in (1, 2)
            for i in range(len(words) - w + 1)
            if sentence[i] == sentence[i + w - 1] and (i, i + w) not in gold
        ]
        samples = gold + negatives
        subword = features["word_subword_spans"]
        owner = {m: e for e, ms in enumerate(entity_mentions) for m in ms}
        coref = [(a, b, int(owner[a] == owner[b])) for a in range(len(gold)) for b in range(len(gold)) if a != b]
        relation_lookup = {
            (r["head"], r["tail"]): config.relation_types.index(r["type"]) for r in document["relations"]
        }
        pairs = [(h, t) for h in range(len(entity_mentions)) for t in range(len(entity_mentions)) if h != t]
        labels = []
        for pair in pairs:
            row = [0.0] * len(config.relation_types)
            if pair in relation_lookup:
                row[relation_lookup[pair]] = 1.0
            labels.append(row)
        rows.append(
            {
                "features": features,
                "mention_subword_spans": [(subword[a][0], subword[b - 1][1]) for a, b in samples],
                "mention_word_spans": samples,
                "mention_sentence_ids": [sentence[a] for a, _ in samples],
                "mention_labels": [1.0] * len(gold) + [0.0] * len(negatives),
                "coref_pairs": [(a, b) for a, b, _ in coref],
                "coref_edit_distances": [abs(a - b) for a, b, _ in coref],
                "coref_labels": [float(label) for _, _, label in coref],
                "entity_mentions": entity_mentions,
                "entity_types": [config.entity_types.index(e["type"]) for e in document["entities"]],
                "relation_pairs": pairs,
                "relation_labels": labels,
            }
        )
    batch = processor.collate([row["features"] for row in rows])
    batch = {k: batch[k] for k in ("input_ids", "attention_mask")}

    def pad(key, fill, mask_key=None):
        length = max(len(r[key]) for r in rows)
        values = []
        for r in rows:
            item = [list(v) if isinstance(v, (tuple, list)) else v for v in r[key]]
            width = len(item[0]) if item and isinstance(item[0], list) else None
            filler = [fill] * width if width else fill
            values.append(item + [filler] * (length - len(item)))
        batch[key] = torch.tensor(values)
        if mask_key:
            batch[mask_key] = torch.tensor([[True] * len(r[key]) + [False] * (length - len(r[key])) for r in rows])

    pad("mention_subword_spans", 0, "mention_mask")
    pad("mention_word_spans", 0)
    pad("mention_sentence_ids", 0)
    pad("mention_labels", 0.0)
    pad("coref_pairs", 0, "coref_mask")
    pad("coref_edit_distances", 0)
    pad("coref_labels", 0.0)
    pad("entity_types", 0, "entity_mask")
    pad("relation_pairs", 0, "relation_mask")
    pad("relation_labels", 0.0)
    slots = max(len(m) for r in rows for m in r["entity_mentions"])
    entities = max(len(r["entity_mentions"]) for r in rows)
    mentions = torch.zeros((len(rows), entities, slots), dtype=torch.long)
    mention_mask = torch.zeros((len(rows), entities, slots), dtype=torch.bool)
    for b, r in enumerate(rows):
        for e, members in enumerate(r["entity_mentions"]):
            mentions[b, e, : len(members)] = torch.tensor(members)
            mention_mask[b, e, : len(members)] = True
    batch["entity_mentions"], batch["entity_mention_mask"] = mentions, mention_mask
    batch["mention_word_spans"] = batch["mention_word_spans"].long()
    return batch


def make_model(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    return SimMemREModel(modeling_config(tokenizer, **overrides))


# -- paper equations ---------------------------------------------------------------------------------


def test_memory_read_matches_paper_equations():
    torch.manual_seed(0)
    reader = MemoryReader(hidden_size=4, slot_size=3)
    reader.weight.data.normal_()
    memory, x = torch.randn(2, 3), torch.randn(1, 5, 4)
    mask = torch.ones(1, 5, dtype=torch.bool)
    # a^T = Σ_k softmax(m_k W_read X^T); X' = diag(a) X
    attention = sum(torch.softmax(memory[k] @ reader.weight @ x[0].T, dim=-1) for k in range(2))
    expected = torch.diag(attention) @ x[0]
    torch.testing.assert_close(reader(x, memory, mask)[0], expected)


def test_memory_read_ignores_masked_positions():
    torch.manual_seed(0)
    reader = MemoryReader(hidden_size=4, slot_size=3)
    reader.weight.data.normal_()
    memory, x = torch.randn(2, 3), torch.randn(1, 5, 4)
    mask = torch.tensor([[True, True, True, False, False]])
    torch.testing.assert_close(reader(x, memory, mask)[0, :3], reader(x[:, :3], memory, mask[:, :3])[0])


def _seeded_similarity(input_size, slot_size):
    torch.manual_seed(0)
    similarity = BilinearSimilarity(input_size=input_size, slot_size=slot_size)
    similarity.weight.data.normal_()
    return similarity


def test_bilinear_similarity_matches_paper_equation():
    similarity = _seeded_similarity(input_size=4, slot_size=3)
    memory, x = torch.randn(5, 3), torch.randn(4)
    torch.testing.assert_close(similarity(x, memory), memory @ similarity.weight.T @ x)


@pytest.mark.parametrize("slots", [1, 2, 6])
def test_bilinear_similarity_at_inference_equals_the_paper_equation(slots):
    similarity = _seeded_similarity(input_size=16, slot_size=8)
    memory, x = torch.randn(slots, 8), torch.randn(7, 16)
    with torch.inference_mode():
        torch.testing.assert_close(similarity(x, memory), x @ similarity.weight @ memory.T)


@pytest.mark.parametrize("slots", [1, 2])
def test_bilinear_similarity_scores_a_row_the_same_whatever_rows_come_with_it(slots):
    similarity = _seeded_similarity(input_size=384, slot_size=384)
    memory, x = torch.randn(slots, 384), torch.randn(41, 384)
    with torch.inference_mode():
        assert torch.equal(similarity(x, memory)[1:], similarity(x[1:].clone(), memory))


def _realigned(tensor, offset):
    """A copy of `tensor` whose storage starts `offset` elements into a larger buffer (another memory alignment)."""
    buffer = torch.zeros(tensor.numel() + 16)
    buffer[offset : offset + tensor.numel()] = tensor.reshape(-1)
    return buffer[offset : offset + tensor.numel()].view(tensor.shape)


def test_few_rows_linear_equals_linear_and_does_not_depend_on_memory_alignment():
    torch.manual_seed(0)
    rows, weight = torch.randn(2, 384), torch.randn(384, 384)
    table = few_rows_linear(rows, weight)
    torch.testing.assert_close(table, F.linear(rows, weight))
    for offset in range(1, 8):  # a saved and reloaded model's tensors sit elsewhere in memory
        assert torch.equal(few_rows_linear(_realigned(rows, offset), _realigned(weight, offset)), table)


@pytest.mark.parametrize("halves", [False, True])
@pytest.mark.parametrize("out_features", [6, 7])  # an odd block stays whole
def test_parallel_products_equal_one_linear_per_block(halves, out_features):
    torch.manual_seed(0)
    x, first, second = torch.randn(5, 4), torch.randn(out_features, 4), torch.randn(out_features, 4)
    if halves:
        torch.testing.assert_close(linear_in_parts(x, weight_blocks(first, halves=True)), F.linear(x, first))
    else:
        products = parallel_linear(x, weight_blocks(first, second))
        torch.testing.assert_close(products[0], F.linear(x, first))
        torch.testing.assert_close(products[1], F.linear(x, second))


@pytest.mark.parametrize("jerex_baseline", [False, True])  # types as memory rows, as learned embeddings
@pytest.mark.parametrize("relation_classifier", ["multi_instance", "global"])
def test_typed_pair_layer_at_inference_equals_the_concatenated_formula(tokenizer, jerex_baseline, relation_classifier):
    config = modeling_config(tokenizer, jerex_baseline=jerex_baseline, relation_classifier=relation_classifier)
    torch.manual_seed(0)
    head = RelationClassification(config).eval()
    entity_memory = torch.randn(len(config.entity_types), config.entity_slot_size)
    type_size = head.type_representations(torch.tensor([0]), entity_memory).shape[-1]
    pair_input = torch.randn(9, head.pair.in_features - 2 * type_size)
    head_types, tail_types = torch.randint(0, len(config.entity_types), (2, 9))
    expected = head.typed_pair_layer(pair_input, head_types, tail_types, entity_memory)  # training: one product
    with torch.inference_mode():
        torch.testing.assert_close(head.typed_pair_layer(pair_input, head_types, tail_types, entity_memory), expected)


def test_enhanced_representation_is_mean_of_input_and_both_reads(tokenizer):
    config = modeling_config(tokenizer, memory_read_mode="mean")  # the paper's read
    module = MemoryEnhancedRepresentation(config)
    for reader in module.readers.values():
        reader.weight.data.normal_()
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(2, 32)}
    x, mask = torch.randn(1, 6, 32), torch.ones(1, 6, dtype=torch.bool)
    expected = (
        x
        + module.readers["entity"](x, memories["entity"], mask)
        + module.readers["relation"](x, memories["relation"], mask)
    ) / 3
    torch.testing.assert_close(module(x, mask, memories), expected)


READ_MODES = ["mean", "sum", "scaled", "residual"]


def randomised_read(tokenizer, mode):
    module = MemoryEnhancedRepresentation(modeling_config(tokenizer, memory_read_mode=mode))
    for parameter in module.parameters():
        parameter.data.normal_()
    return module


@pytest.mark.parametrize("mode", ["mean", "sum", "scaled"])
def test_chunked_span_read_equals_direct_read(tokenizer, mode):
    torch.manual_seed(0)
    module = randomised_read(tokenizer, mode)
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(2, 32)}
    x = torch.randn(1, 7, 32)
    scores = {name: reader.scores(x[0], memories[name]) for name, reader in module.readers.items()}
    chunked = module.apply_attentions(x[0], module.attentions_from_scores(scores))
    direct = module(x, torch.ones(1, 7, dtype=torch.bool), memories)[0]
    torch.testing.assert_close(chunked, direct)


@pytest.mark.parametrize("mode", ["mean", "sum", "scaled"])
def test_an_in_place_read_equals_the_read_and_scales_its_input(tokenizer, mode):
    torch.manual_seed(0)
    module = randomised_read(tokenizer, mode)
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(2, 32)}
    x, mask = torch.randn(1, 6, 32), torch.ones(1, 6, dtype=torch.bool)
    expected = module(x, mask, memories)
    scaled = module(x, mask, memories, in_place=True)
    assert scaled is x and torch.equal(scaled, expected)


def test_sum_read_adds_both_reads_to_the_input(tokenizer):
    torch.manual_seed(0)
    module = randomised_read(tokenizer, "sum")
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(2, 32)}
    x, mask = torch.randn(1, 6, 32), torch.ones(1, 6, dtype=torch.bool)
    expected = (
        x
        + module.readers["entity"](x, memories["entity"], mask)
        + module.readers["relation"](x, memories["relation"], mask)
    )
    torch.testing.assert_close(module(x, mask, memories), expected)


def test_scaled_read_rescales_attention_by_positions_over_slots(tokenizer):
    torch.manual_seed(0)
    module = randomised_read(tokenizer, "scaled")
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(3, 32)}
    x = torch.randn(1, 6, 32)
    mask = torch.tensor([[True, True, True, True, False, False]])  # N = 4 valid positions
    reads = {name: reader(x, memories[name], mask) for name, reader in module.readers.items()}
    expected = (x + reads["entity"] * 4 / 2 + reads["relation"] * 4 / 3) / 3
    torch.testing.assert_close(module(x, mask, memories)[0, :4], expected[0, :4])


@pytest.mark.parametrize("mode", ["sum", "scaled"])
def test_shock_free_reads_are_the_identity_at_uniform_attention(tokenizer, mode):
    module = MemoryEnhancedRepresentation(modeling_config(tokenizer, memory_read_mode=mode))
    for reader in module.readers.values():
        reader.weight.data.zero_()  # equal scores: uniform attention a = K/N
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(2, 32)}
    x, mask = torch.randn(1, 500, 32), torch.ones(1, 500, dtype=torch.bool)
    tolerance = {"sum": 1e-2, "scaled": 1e-6}[mode]  # "sum" is X (1 + 2K/N)
    torch.testing.assert_close(module(x, mask, memories), x, rtol=tolerance, atol=tolerance)


def test_residual_read_matches_key_value_formula(tokenizer):
    torch.manual_seed(0)
    module = randomised_read(tokenizer, "residual")
    memories = {"entity": torch.randn(2, 32), "relation": torch.randn(3, 32)}
    x, mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
    expected = x.clone()
    for name, reader in module.readers.items():
        slots = torch.softmax(x @ reader.weight.T @ memories[name].T, dim=-1)  # softmax over slots
        expected = expected + slots @ memories[name] @ module.value_projections[name].weight.T
    torch.testing.assert_close(module(x, mask, memories), expected, rtol=1e-4, atol=1e-4)  # float order only


def test_residual_read_starts_as_the_identity(tokenizer):
    model = make_model(tokenizer, memory_read_mode="residual")
    projections = [p for n, p in model.named_parameters() if "value_projections" in n]
    assert projections and all(torch.all(p == 0) for p in projections)
    x = torch.randn(1, 5, 32)
    torch.testing.assert_close(model.token_memory_read(x, torch.ones(1, 5, dtype=torch.bool), model.memories), x)


def test_learned_read_temperature_starts_as_the_paper_read_and_scales_the_scores(tokenizer):
    model = make_model(tokenizer, memory_read_temperature="learned")
    fixed = make_model(tokenizer, memory_read_temperature="fixed")
    fixed.load_state_dict(model.state_dict(), strict=False)
    temperatures = [p for n, p in model.named_parameters() if n.endswith("log_inverse_temperature")]
    assert len(temperatures) == 4 and all(p.item() == 0 for p in temperatures)  # tokens and spans, two memories each
    x, mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
    torch.testing.assert_close(
        model.token_memory_read(x, mask, model.memories), fixed.token_memory_read(x, mask, fixed.memories)
    )
    reader = model.token_memory_read.readers["entity"]
    plain = reader.scores(x, model.memories["entity"])
    with torch.no_grad():
        reader.log_inverse_temperature.fill_(math.log(3.0))
    torch.testing.assert_close(reader.scores(x, model.memories["entity"]), 3 * plain)


def test_learned_read_temperature_trains_and_survives_save_and_load(tokenizer, tmp_path):
    model = make_model(tokenizer, memory_read_temperature="learned")
    x, mask = torch.randn(1, 5, 32), torch.ones(1, 5, dtype=torch.bool)
    model.token_memory_read(x, mask, model.memories).square().sum().backward()
    reader = model.token_memory_read.readers["entity"]
    assert reader.log_inverse_temperature.grad is not None and reader.log_inverse_temperature.grad != 0
    with torch.no_grad():
        reader.log_inverse_temperature.fill_(0.7)
    model.save_pretrained(tmp_path)
    loaded = SimMemREModel.from_pretrained(tmp_path)
    assert loaded.token_memory_read.readers["entity"].log_inverse_temperature.item() == pytest.approx(0.7)


def test_unknown_read_temperature_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="memory_read_temperature"):
        modeling_config(tokenizer, memory_read_temperature="annealed")


@pytest.mark.parametrize("mode", READ_MODES)
def test_inference_span_scores_equal_the_plain_read_formula(tokenizer, processor, mode):
    """Inference reads all candidates in chunks (a normaliser pass, then a read pass); the mention scores must equal
    the plain formula: pool every candidate, one forward of the read over all of them, then the mention head."""
    model = make_model(tokenizer, seed=1, memory_read_mode=mode, span_chunk_size=7).eval()
    for parameter in model.token_memory_read.parameters():
        parameter.data.normal_(std=0.2)
    for parameter in model.span_memory_read.parameters():
        parameter.data.normal_(std=0.2)
    batch = processor(TEXT)
    prediction = model(**batch, mention_threshold=0.0, coref_threshold=1.0, relation_threshold=1.0).predictions[0]
    with torch.no_grad():
        words = batch["word_subword_spans"][0]
        hidden = model.encode(batch["input_ids"], batch["attention_mask"])
        hidden = model.token_memory_read(hidden, batch["attention_mask"].bool(), model.memories)[0]
        candidates = candidate_spans(batch["word_sentence_ids"][0], model.config.max_span_size)
        spans = RangeMaxPool(hidden)(words[candidates[:, 0], 0], words[candidates[:, 1] - 1, 1])[None]
        spans = model.span_memory_read(spans, torch.ones(spans.shape[:2], dtype=torch.bool), model.memories)[0]
        scores = torch.sigmoid(model.mention_localization(spans, candidates[:, 1] - candidates[:, 0]))
    order = torch.argsort(candidates[:, 0] * (model.config.max_span_size + 1) + candidates[:, 1])
    torch.testing.assert_close(prediction["mention_word_spans"], candidates[order])
    torch.testing.assert_close(prediction["mention_scores"], scores[order])


def test_memories_train_through_the_classifiers_when_reads_are_detached(tokenizer, processor):
    model = make_model(tokenizer, dropout=0.0, memory_read_gradient=False)
    model(**gold_batch(processor, model.config), use_memory=True).loss.backward()
    assert torch.any(model.entity_memory.weight.grad != 0)
    assert torch.any(model.relation_memory.weight.grad != 0)


# -- training forward --------------------------------------------------------------------------------


def test_training_forward_returns_finite_joint_loss(tokenizer, processor):
    model = make_model(tokenizer)
    output = model(**gold_batch(processor, model.config))
    parts = [output.mention_loss, output.coref_loss, output.entity_loss, output.relation_loss]
    assert all(torch.isfinite(p) and p > 0 for p in parts)
    expected = parts[0] + parts[1] + 0.25 * parts[2] + parts[3]
    torch.testing.assert_close(output.loss.detach(), expected)


def test_gradient_reaches_every_parameter_with_memory_on(tokenizer, processor):
    model = make_model(tokenizer, dropout=0.0)
    model.train()
    model(**gold_batch(processor, model.config), use_memory=True).loss.backward()
    without = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert without == []


def test_warmup_leaves_only_the_readers_without_gradient(tokenizer, processor):
    model = make_model(tokenizer, dropout=0.0)
    model(**gold_batch(processor, model.config), use_memory=False).loss.backward()
    without = {n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)}
    readers = {n for n, _ in model.named_parameters() if "memory_read." in n}
    assert readers and without == readers


def test_warmup_switch_changes_exactly_the_reads(tokenizer, processor):
    reading = make_model(tokenizer, seed=3).eval()
    plain = SimMemREModel(modeling_config(tokenizer, memory_read_positions=[])).eval()
    missing, _ = plain.load_state_dict(reading.state_dict(), strict=False), None
    assert missing.missing_keys == []
    batch = gold_batch(processor, reading.config)
    reading.memory_reads_enabled = False
    torch.testing.assert_close(reading(**batch).loss, plain(**batch).loss)
    reading.memory_reads_enabled = True
    assert not torch.allclose(reading(**batch).loss, plain(**batch).loss)


def test_memory_read_gradient_switch_detaches_memory_in_reads(tokenizer, processor):
    model = make_model(tokenizer, dropout=0.0, memory_read_gradient=False, entity_loss_weight=0.0)
    batch = gold_batch(processor, model.config)
    model(**batch, use_memory=True).loss.backward()
    # With the entity loss off, M_E is reached only through reads (detached) and the detached type rows.
    assert model.entity_memory.weight.grad is None or not torch.any(model.entity_memory.weight.grad != 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"relation_classifier": "global"},
        {"jerex_baseline": True},
        {"jerex_baseline": True, "relation_classifier": "global"},
        {"use_relation_memory": False, "memory_read_positions": ["tokens"]},
    ],
    ids=["grc-memory", "jerex-mrc", "jerex-grc", "entity-memory-tokens-only"],
)
def test_variants_train_and_infer(tokenizer, processor, overrides):
    model = make_model(tokenizer, **overrides)
    output = model(**gold_batch(processor, model.config))
    assert torch.isfinite(output.loss)
    output.loss.backward()
    model.eval()
    prediction = model(**processor(TEXT), mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.0)
    assert prediction.predictions[0]["relations"].shape[1] == 3


def test_jerex_baseline_has_no_memory(tokenizer):
    model = make_model(tokenizer, jerex_baseline=True)
    names = [n for n, _ in model.named_parameters()]
    assert not any("memory" in n for n in names)
    assert any("type_embeddings" in n for n in names)
    assert not model.config.uses_memory_reads


# -- inference ---------------------------------------------------------------------------------------


def test_inference_structures_are_consistent(tokenizer, processor):
    model = make_model(tokenizer).eval()
    batch = processor([TEXT, "Short text."])
    output = model(**batch, mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.3)
    for doc, prediction in enumerate(output.predictions):
        clusters = prediction["mention_clusters"]
        entities = prediction["entity_types"].shape[0]
        assert clusters.numel() > 0
        assert set(clusters.tolist()) == set(range(entities))  # clusters partition the kept mentions
        spans = prediction["mention_word_spans"]
        assert len({tuple(s) for s in spans.tolist()}) == spans.shape[0]
        assert int(spans[:, 1].max()) <= int(batch["word_mask"][doc].sum())
        relations = prediction["relations"]
        if relations.numel():
            assert int(relations[:, :2].max()) < entities
            assert bool((relations[:, 0] != relations[:, 1]).all())
            assert relations.tolist() == sorted(relations.tolist())  # by head, tail, type
        for key in ("mention_scores", "entity_scores", "relation_scores"):
            assert bool(((prediction[key] >= 0) & (prediction[key] <= 1)).all())
    assert output.predictions[0]["relations"].shape[0] > 0


def test_inference_respects_thresholds(tokenizer, processor):
    model = make_model(tokenizer, max_mentions_per_word=None).eval()
    batch = processor(TEXT)
    nothing = model(**batch, mention_threshold=1.0).predictions[0]
    assert nothing["mention_word_spans"].shape[0] == 0 and nothing["relations"].shape[0] == 0
    everything = model(**batch, mention_threshold=0.0, coref_threshold=1.0).predictions[0]
    candidates = candidate_spans(batch["word_sentence_ids"][0], model.config.max_span_size)
    assert everything["mention_word_spans"].shape[0] == candidates.shape[0]
    assert everything["entity_types"].shape[0] == candidates.shape[0]  # coref threshold 1: all singletons


def test_mention_cap_keeps_the_highest_scoring_spans(tokenizer, processor):
    batch = processor(TEXT)
    words = int(batch["word_mask"][0].sum())
    uncapped = make_model(tokenizer, max_mentions_per_word=None).eval()
    capped = make_model(tokenizer, max_mentions_per_word=0.25).eval()
    capped.load_state_dict(uncapped.state_dict())
    everything = uncapped(**batch, mention_threshold=0.0, coref_threshold=1.0).predictions[0]
    kept = capped(**batch, mention_threshold=0.0, coref_threshold=1.0).predictions[0]
    cap = math.ceil(0.25 * words)
    assert everything["mention_word_spans"].shape[0] > cap
    assert kept["mention_word_spans"].shape[0] == cap
    expected = everything["mention_scores"].topk(cap).values.sort().values
    torch.testing.assert_close(kept["mention_scores"].sort().values, expected)


def test_mention_candidates_stay_inside_sentences_in_width_order(tokenizer):
    model = make_model(tokenizer, max_span_size=3)
    sentence_ids = torch.tensor([0, 0, 0, 0, 1, 1])
    spans = candidate_spans(sentence_ids, model.config.max_span_size).tolist()
    # by width, then start: inference pools the candidates width by width
    assert spans == [[i, i + 1] for i in range(6)] + [[0, 2], [1, 3], [2, 4], [4, 6]] + [[0, 3], [1, 4]]


def test_chunk_sizes_do_not_change_predictions(tokenizer, processor):
    batch = processor(TEXT)
    kwargs = dict(mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.3)
    big = make_model(tokenizer).eval()(**batch, **kwargs).predictions[0]
    small_model = make_model(tokenizer, span_chunk_size=7, coref_pair_chunk_size=5, relation_mention_pair_chunk_size=3)
    small = small_model.eval()(**batch, **kwargs).predictions[0]
    for key in big:
        torch.testing.assert_close(big[key], small[key])


def test_windowed_encoding_equals_single_pass_for_short_documents(tokenizer, processor):
    model = make_model(tokenizer).eval()
    batch = processor(TEXT)
    ids = batch["input_ids"]
    framed = torch.cat([torch.tensor([[tokenizer.cls_token_id]]), ids, torch.tensor([[tokenizer.sep_token_id]])], 1)
    with torch.no_grad():
        direct = model.encoder(input_ids=framed).last_hidden_state[:, 1:-1]
        torch.testing.assert_close(model.encode(ids, batch["attention_mask"]), direct)


def test_documents_longer_than_the_encoder_are_encoded_whole(tokenizer, processor):
    model = make_model(tokenizer, max_position_embeddings=24).eval()  # windows of 22 subwords
    batch = processor(" ".join([TEXT] * 6))
    assert batch["input_ids"].shape[1] > 100
    with torch.no_grad():
        hidden = model.encode(batch["input_ids"], batch["attention_mask"])
    assert torch.isfinite(hidden).all() and bool((hidden.abs().sum(-1) > 0).all())
    prediction = model(**batch, mention_threshold=0.0, coref_threshold=1.0).predictions[0]
    last_word = int(batch["word_mask"].sum())
    assert int(prediction["mention_word_spans"][:, 1].max()) == last_word  # the tail is not truncated


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(result):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return result


def _random_text(words, seed=0):
    rng = random.Random(seed)
    vocabulary = ["aspirin", "causes", "severe", "headache", "in", "patients", "treated", "with", "clonidine", "."]
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def _largest_inference_tensor(model, processor, text):
    batch = processor(text)
    with _LargestTensor() as tracker:
        model(**batch)
    return tracker.largest


def test_5000_word_document_memory_is_bounded_by_chunks(tokenizer, processor):
    model = make_model(tokenizer, span_chunk_size=512).eval()
    half = _largest_inference_tensor(model, processor, _random_text(2500))
    full = _largest_inference_tensor(model, processor, _random_text(5000))
    spans = candidate_spans(processor(_random_text(5000))["word_sentence_ids"][0], model.config.max_span_size).shape[0]
    assert spans > 40000
    assert full <= 2.5 * half  # linear in the document, never quadratic in the spans
    assert full < spans * 64  # far below spans² (~2e9)
    smaller_chunks = make_model(tokenizer, span_chunk_size=64).eval()
    assert _largest_inference_tensor(smaller_chunks, processor, _random_text(5000)) <= full


# -- helpers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("direct_limit", [0, 1024], ids=["blocks", "direct-table"])
def test_range_max_pool_matches_naive_max(direct_limit):
    torch.manual_seed(0)
    hidden = torch.randn(100, 3)
    pool = RangeMaxPool(hidden, block_size=8, direct_limit=direct_limit)
    assert pool.direct == bool(direct_limit)
    starts = torch.randint(0, 100, (300,))
    ends = torch.randint(0, 101, (300,))
    pooled = pool(starts, ends)
    for i in range(300):
        s, e = int(starts[i]), int(ends[i])
        expected = hidden[s:e].amax(0) if e > s else torch.zeros(3)
        torch.testing.assert_close(pooled[i], expected)


def test_mention_localization_matches_the_concatenated_formula(tokenizer):
    torch.manual_seed(0)
    config = modeling_config(tokenizer)
    head = MentionLocalization(config).eval()
    spans, sizes = torch.randn(7, config.hidden_size), torch.tensor([1, 2, 3, 1, 10, 4, 2])
    features = torch.cat([spans, head.size_embeddings(sizes)], dim=-1)
    expected = head.classifier(torch.relu(head.hidden(features))).squeeze(-1)
    torch.testing.assert_close(head(spans, sizes), expected)


@pytest.mark.parametrize("inference", [False, True])
def test_relation_local_representation_matches_the_concatenated_formula(tokenizer, inference):
    torch.manual_seed(0)
    config = modeling_config(tokenizer)
    head = RelationClassification(config).eval()
    d, pairs = config.hidden_size, 9
    mentions, entities, context = torch.randn(5, d), torch.randn(3, d), torch.randn(pairs, d)
    first, second = torch.randint(0, 5, (pairs,)), torch.randint(0, 5, (pairs,))
    heads, tails = torch.randint(0, 3, (pairs,)), torch.randint(0, 3, (pairs,))
    token_gaps, sentence_gaps = (
        torch.tensor([0, 1, 5, 40, 2000, 3, 7, 0, 1]),
        torch.tensor([0, 0, 1, 2, 90, 0, 1, 3, 0]),
    )
    with torch.inference_mode(inference):  # inference applies the blocks side by side (parallel_linear)
        projections = head.local_projections(mentions, entities)
        shared = head.pair_terms(context, token_gaps, sentence_gaps, projections)
        local = head.local_representations(shared, first, second, heads, tails, projections)
    clamp_token = token_gaps.clamp(max=config.token_distance_embeddings_count - 1)
    clamp_sentence = sentence_gaps.clamp(max=config.sentence_distance_embeddings_count - 1)
    features = torch.cat(
        [
            context,
            mentions[first],
            mentions[second],
            entities[heads],
            entities[tails],
            head.token_distance_embeddings(clamp_token),
            head.sentence_distance_embeddings(clamp_sentence),
        ],
        dim=-1,
    )
    torch.testing.assert_close(local, head.local(features))


def test_coreference_pair_logits_match_the_concatenated_formula(tokenizer):
    torch.manual_seed(0)
    config = modeling_config(tokenizer)
    head = CoreferenceResolution(config).eval()
    mentions = torch.randn(6, config.hidden_size)
    first, second = torch.triu_indices(6, 6, offset=1)
    distances = torch.randint(0, 2 * config.edit_distance_embeddings_count, (first.numel(),))  # some past the table
    projections = head.mention_projections(mentions)
    torch.testing.assert_close(
        head.pair_logits(projections, first, second, distances), head(mentions[first], mentions[second], distances)
    )


@pytest.mark.parametrize("relation_classifier", ["multi_instance", "global"])
def test_relation_logits_with_reverse_equal_both_directions_scored_separately(tokenizer, relation_classifier):
    model = make_model(tokenizer, relation_classifier=relation_classifier).eval()
    torch.manual_seed(1)
    d, tokens = model.config.hidden_size, 40
    starts = torch.tensor([0, 3, 9, 15, 22, 30, 35])
    subword_spans = torch.stack([starts, starts + torch.tensor([2, 1, 3, 2, 1, 2, 4])], -1)
    word_spans, sentence_ids = subword_spans // 2, starts // 10
    entity_mentions = torch.tensor([[0, 4, 0], [1, 2, 6], [3, 0, 0], [5, 0, 0]])
    entity_mention_mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=torch.bool)
    mentions = Mentions(word_spans, subword_spans, sentence_ids, torch.randn(7, d))
    entities = Entities(
        torch.randn(4, d),
        torch.tensor([0, 1, 1, 0]),
        mention_slots=entity_mentions,
        mention_slot_mask=entity_mention_mask,
    )
    pooler, head = RangeMaxPool(torch.randn(tokens, d)), model.relation_classification
    pairs = torch.tensor([[0, 1], [0, 2], [1, 3], [2, 3], [0, 3]])
    chunk = model.config.relation_mention_pair_chunk_size
    with torch.no_grad():
        both = head.logits(pooler, mentions, entities, pairs, model.memories, chunk_limit=chunk, with_reverse=True)
        forward = head.logits(pooler, mentions, entities, pairs, model.memories, chunk_limit=chunk)
        backward = head.logits(pooler, mentions, entities, pairs.flip(-1), model.memories, chunk_limit=chunk)
    torch.testing.assert_close(both, torch.cat([forward, backward]))


@pytest.mark.parametrize("training", [False, True])
def test_one_entity_pairs_mention_pairs_are_pooled_in_blocks_of_the_chunk_size(tokenizer, monkeypatch, training):
    """The chunk size split only between entity pairs: two entities of a thousand mentions each pooled a million mention
    pairs in one call (past 6 GB). Blocks give the same logits (and gradients) with no call over the chunk size."""
    model = make_model(tokenizer, relation_classifier="multi_instance", dropout=0.0).train(training)
    torch.manual_seed(2)
    d, count = model.config.hidden_size, 12  # two entities of 6 mentions: 36 mention pairs per direction
    starts = torch.arange(count) * 3
    subword_spans = torch.stack([starts, starts + 2], -1)
    mentions = Mentions(subword_spans // 2, subword_spans, starts // 9, torch.randn(count, d, requires_grad=training))
    entities = Entities(
        torch.randn(2, d),
        torch.tensor([0, 1]),
        mention_slots=torch.arange(count).view(2, 6),
        mention_slot_mask=torch.ones(2, 6, dtype=torch.bool),
    )
    hidden = torch.randn(3 * count, d)
    head, pairs = model.relation_classification, torch.tensor([[0, 1]])
    rows = []
    original = type(head).pair_terms
    monkeypatch.setattr(
        type(head), "pair_terms", lambda self, context, *a: rows.append(len(context)) or original(self, context, *a)
    )

    def logits(chunk):
        with torch.set_grad_enabled(training):
            pooler = RangeMaxPool(hidden)
            return head.logits(pooler, mentions, entities, pairs, model.memories, chunk_limit=chunk, with_reverse=True)

    whole = logits(10_000)
    assert rows == [36]
    rows.clear()
    blocked = logits(5)
    assert max(rows) <= 5 and sum(rows) == 36
    torch.testing.assert_close(blocked, whole)
    if training:
        (gradient_whole,) = torch.autograd.grad(whole.sum(), mentions.representations)
        (gradient_blocked,) = torch.autograd.grad(blocked.sum(), mentions.representations)
        torch.testing.assert_close(gradient_blocked, gradient_whole)


@pytest.mark.parametrize("with_fallback", [True, False])
@pytest.mark.parametrize("sorted_by_width", [False, True])
def test_short_range_max_pool_matches_naive_max_with_wide_ranges_falling_back(sorted_by_width, with_fallback):
    torch.manual_seed(0)
    hidden = torch.randn(100, 3)
    starts = torch.randint(5, 95, (300,))
    ends = torch.minimum(starts + torch.randint(-1, 12, (300,)), torch.tensor(100))
    ends[:3] = starts[:3] + 30  # wider than max_width: answered by the fallback (or by the main path without one)
    if not with_fallback:  # the running maximum answers ranges inside the rows only
        ends = ends.clamp(max=100)
    if sorted_by_width:  # as candidate spans come: answered slice by slice
        order = torch.argsort((ends - starts).clamp(min=0), stable=True)
        starts, ends = starts[order], ends[order]
    fallback = RangeMaxPool(hidden, block_size=8) if with_fallback else None
    pooled = max_pool_short_ranges(hidden, starts, ends, fallback=fallback, max_width=8)
    for i in range(300):
        s, e = int(starts[i]), int(ends[i])
        expected = hidden[s:e].amax(0) if e > s else torch.zeros(3)
        assert torch.equal(pooled[i], expected)


def test_candidates_pooled_with_read_scores_equal_pooling_all_then_scoring():
    torch.manual_seed(0)
    words = torch.randn(40, 16)
    spans = candidate_spans(torch.tensor([0] * 9 + [1] * 25 + [2] * 6), max_span_size=10)
    keep = torch.randperm(spans.shape[0])[:50].sort().values
    keys = torch.randn(3, 16)
    pooled, scores = pool_candidates_with_read_scores(words, spans, keep, keys, max_width=10)
    every_span = max_pool_short_ranges(words, spans[:, 0], spans[:, 1])
    assert torch.equal(pooled, every_span[keep])
    torch.testing.assert_close(scores, every_span @ keys.T)


@pytest.mark.parametrize("mode", ["mean", "sum", "scaled"])
def test_token_read_at_inference_equals_each_reader_scored_alone(tokenizer, mode):
    torch.manual_seed(0)
    read = MemoryEnhancedRepresentation(modeling_config(tokenizer, memory_read_mode=mode))
    for reader in read.readers.values():
        reader.weight.data.normal_()
    memories = {
        name: torch.randn({"entity": 2, "relation": 1}[name], reader.weight.shape[0])
        for name, reader in read.readers.items()
    }
    x = torch.randn(2, 7, modeling_config(tokenizer).hidden_size)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])  # the second document is padded
    expected = read(x, mask, memories)  # training: one product per reader
    with torch.inference_mode():
        torch.testing.assert_close(read(x, mask, memories), expected)


def test_span_read_from_stacked_keys_equals_each_reader_scored_alone(tokenizer):
    torch.manual_seed(0)
    read = MemoryEnhancedRepresentation(modeling_config(tokenizer)).eval()
    for reader in read.readers.values():
        reader.weight.data.normal_()
    memories = {name: torch.randn(2, reader.weight.shape[0]) for name, reader in read.readers.items()}
    spans = torch.randn(30, modeling_config(tokenizer).hidden_size)
    keys, slot_counts = read.stacked_keys(memories)
    stacked = read.attentions_from_scores(read.split_scores(spans @ keys.T, slot_counts))
    alone = read.attentions_from_scores({name: r.scores(spans, memories[name]) for name, r in read.readers.items()})
    assert stacked.keys() == alone.keys()
    for name in alone:
        torch.testing.assert_close(stacked[name], alone[name])


@pytest.mark.parametrize("module_class", [MemoryReader, BilinearSimilarity, SimilarityMemory])
def test_memory_module_built_alone_starts_from_zeros_not_freed_memory(module_class):
    freed = torch.full((4 * 3,), float("nan"))  # a freed NaN block of the same size: what torch.empty handed back
    del freed
    module = module_class(4, 3)
    assert torch.equal(module.weight, torch.zeros_like(module.weight))


@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_gather_rows_equals_advanced_indexing(shape):
    table, index = torch.randn(10, 5), torch.randint(0, 10, shape)
    with torch.inference_mode():
        assert torch.equal(gather_rows(table, index), table[index])


def test_gather_rows_keeps_advanced_indexing_under_autograd():
    table = torch.randn(10, 5, requires_grad=True)
    gathered = gather_rows(table, torch.tensor([1, 1, 4]))
    assert type(gathered.grad_fn).__name__ == "IndexBackward0"  # the backward training has always used


@pytest.mark.parametrize("reverse", [False, True])
def test_running_max_equals_cummax(reverse):
    blocks = torch.randint(0, 5, (4, 16, 3)).float()  # small integers: many ties
    expected = blocks.flip(1).cummax(1).values.flip(1) if reverse else blocks.cummax(1).values
    torch.testing.assert_close(_running_max(blocks, reverse=reverse), expected, rtol=0, atol=0)


def test_range_max_pool_passes_gradient_to_the_maximum_only():
    hidden = torch.tensor([[1.0], [5.0], [2.0]], requires_grad=True)
    RangeMaxPool(hidden, block_size=2)(torch.tensor([0]), torch.tensor([3])).sum().backward()
    assert hidden.grad.flatten().tolist() == [0.0, 1.0, 0.0]


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def test_edit_distance_matrix_matches_reference():
    strings = ["", "a", "naloxone", "Naloxone", "clonidine", "clonidines", "kitten", "sitting", "é😀"]
    distances = edit_distance_matrix([[ord(c) for c in s] for s in strings])
    for i, a in enumerate(strings):
        for j, b in enumerate(strings):
            assert int(distances[i, j]) == _levenshtein(a, b), (a, b)


def test_edit_distance_matrix_matches_reference_on_random_strings():
    generator = random.Random(0)
    strings = ["".join(generator.choice("abc") for _ in range(generator.randint(0, 12))) for _ in range(40)]
    distances = edit_distance_matrix([[ord(c) for c in s] for s in strings])
    for i, a in enumerate(strings):
        for j, b in enumerate(strings):
            assert int(distances[i, j]) == _levenshtein(a, b), (a, b)


def _brute_force_linkage(similarity, threshold, linkage):
    combine = {"complete": min, "single": max, "average": lambda values: sum(values) / len(values)}[linkage]
    clusters = [[i] for i in range(similarity.shape[0])]
    while True:
        best, pair = threshold, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                link = combine([similarity[i, j] for i in clusters[a] for j in clusters[b]])
                if link > best:
                    best, pair = link, (a, b)
        if pair is None:
            return clusters
        a, b = pair
        clusters[a] = clusters[a] + clusters.pop(b)


@pytest.mark.parametrize("linkage", ["complete", "average", "single"])
@pytest.mark.parametrize("seed", range(5))
def test_agglomerative_clusters_match_brute_force(seed, linkage):
    rng = np.random.default_rng(seed)
    n = 12
    similarity = rng.random((n, n))
    similarity = np.maximum(similarity, similarity.T) ** 0.3  # many pairs above the threshold
    labels = agglomerative_clusters(similarity, 0.85, linkage)
    expected = _brute_force_linkage(similarity, 0.85, linkage)
    assert sorted(sorted(np.flatnonzero(labels == c).tolist()) for c in set(labels)) == sorted(map(sorted, expected))


def test_confident_entities_keep_every_mention_of_an_entity_with_one_confident_mention():
    scores = np.array([0.2, 0.97, 0.6, 0.95, 0.3, 0.949], dtype=np.float32)
    clusters = np.array([0, 0, 1, 2, 1, 3])
    kept, renumbered = confident_entities(scores, clusters, 0.95)
    # only entity 0: float32 0.95 is 0.94999999 in float64, where the comparison runs (as on decoded scores)
    assert kept.tolist() == [0, 1] and renumbered.tolist() == [0, 0]
    kept, renumbered = confident_entities(scores, clusters, 0.6)
    assert kept.tolist() == [0, 1, 2, 3, 4, 5] and renumbered.tolist() == [0, 0, 1, 2, 1, 3]
    kept, renumbered = confident_entities(scores, clusters, 0.9)
    assert kept.tolist() == [0, 1, 3, 5] and renumbered.tolist() == [0, 0, 1, 2]
    kept, _ = confident_entities(scores, clusters, 1.0)
    assert kept.size == 0


@pytest.mark.parametrize("seed", range(5))
def test_linkages_order_cluster_sizes(seed):
    # Single linkage merges whenever complete or average would, so its clusters are unions of theirs.
    rng = np.random.default_rng(seed)
    similarity = rng.random((15, 15))
    similarity = np.maximum(similarity, similarity.T) ** 0.3
    counts = {linkage: int(agglomerative_clusters(similarity, 0.85, linkage).max()) + 1 for linkage in LINKAGES}
    assert counts["single"] <= counts["average"] <= counts["complete"]
    assert counts["single"] < counts["complete"]


def test_complete_linkage_keeps_every_pair_of_a_cluster_above_the_threshold():
    rng = np.random.default_rng(0)
    similarity = rng.random((12, 12))
    similarity = np.maximum(similarity, similarity.T) ** 0.3
    labels = agglomerative_clusters(similarity, 0.85)
    for c in set(labels.tolist()):
        members = np.flatnonzero(labels == c)
        assert all(similarity[i, j] > 0.85 for i in members for j in members if i != j)


# -- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"relation_classifier": "pairwise"}, "relation_classifier"),
        ({"classifier_type": "mlp"}, "classifier_type"),
        ({"mention_threshold": 1.5}, "mention_threshold"),
        ({"max_span_size": 40}, "size_embeddings_count"),
        ({"memory_read_positions": ["mentions"]}, "memory_read_positions"),
        ({"entity_types": ["A", "A"]}, "entity_types"),
        ({"span_chunk_size": 0}, "span_chunk_size"),
        ({"coreference_linkage": "ward"}, "coreference_linkage"),
        ({"entity_threshold": 1.5}, "entity_threshold"),
        ({"encoder_window_overlap": 500}, "encoder_window_overlap"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(tokenizer, overrides, field):
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}"):
        modeling_config(tokenizer, **overrides)


@pytest.mark.parametrize("field, value", [("relation_types", "CID"), ("entity_types", "Chemical")])
def test_config_refuses_a_bare_string_for_a_label_list(tokenizer, field, value):
    """`relation_types="CID"` became the types C, I and D (a repeated letter gave a misleading duplicates error)."""
    with pytest.raises(ValueError, match=rf"SimMemREConfig.{field}: a list of type names \(e.g. \['{value}'\]\)"):
        modeling_config(tokenizer, **{field: value})


@pytest.mark.parametrize(
    "override, field",
    [({"mention_threshold": 2.0}, "mention_threshold"), ({"coreference_linkage": "x"}, "coreference_linkage")],
)
def test_from_pretrained_overrides_are_checked_like_the_config(tokenizer, tmp_path, override, field):
    """transformers sets from_pretrained's keyword overrides after the config's checks: 2.0 gave empty predictions."""
    make_model(tokenizer).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}"):
        SimMemREModel.from_pretrained(tmp_path, **override)


def test_config_refuses_a_window_longer_than_the_encoders_positions(tokenizer):
    """A window past the position table failed inside BERT's embeddings at the first long document."""
    assert modeling_config(tokenizer, encoder_window_size=126).window_size == 126  # 128 positions - [CLS]/[SEP]
    with pytest.raises(ValueError, match=r"SimMemREConfig.encoder_window_size: 127 exceeds the 126 subwords"):
        modeling_config(tokenizer, encoder_window_size=127)


def test_config_round_trips_through_json(tokenizer, tmp_path):
    config = modeling_config(tokenizer, relation_classifier="global", memory_warmup_proportion=0.5)
    config.save_pretrained(tmp_path)
    loaded = SimMemREConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


# -- save / load -----------------------------------------------------------------------------------------

CLEAN_PROCESS = textwrap.dedent(
    """
    import json, sys
    class BlockPackage:  # the repository and the installed package must be invisible here
        def find_spec(self, name, path=None, target=None):
            if name == "simmemre" or name.startswith("simmemre."):
                raise ImportError("simmemre is blocked in this process")
    sys.meta_path.insert(0, BlockPackage())
    try:
        import simmemre  # noqa: F401
        raise SystemExit("simmemre was importable")
    except ImportError:
        pass
    import torch
    from transformers import AutoModel, AutoProcessor
    folder, text = sys.argv[1], sys.argv[2]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    assert "transformers_modules" in type(model).__module__, type(model).__module__
    with torch.no_grad():
        prediction = model(**processor(text), mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.3)
    print(json.dumps({k: v.tolist() for k, v in prediction.predictions[0].items()}))
    """
)


@pytest.mark.integration
def test_save_and_load_in_a_clean_process_gives_identical_outputs(tokenizer, processor, tmp_path):
    model = make_model(tokenizer, seed=7).eval()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    saved = {p.name for p in (tmp_path / "model").iterdir()}
    assert {
        "configuration_simmemre.py",
        "modeling_simmemre.py",
        "processing_simmemre.py",
        "segmentation_simmemre.py",
        "model.safetensors",
    } <= saved
    with torch.no_grad():
        expected = model(**processor(TEXT), mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.3)
    expected = {k: v.tolist() for k, v in expected.predictions[0].items()}
    script = tmp_path / "load.py"
    script.write_text(CLEAN_PROCESS)
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path / "model"), TEXT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_packaged_minilm_loads_as_encoder_without_missing_weights(minilm_path):
    from transformers import AutoModel

    model = SimMemREModel.from_encoder(minilm_path, ["Chemical", "Disease"], ["CID"])
    reference = AutoModel.from_pretrained(minilm_path, add_pooling_layer=False).state_dict()
    encoder = model.encoder.state_dict()
    assert set(reference) <= set(encoder)
    for name, tensor in reference.items():
        torch.testing.assert_close(encoder[name], tensor, msg=name)
    assert model.config.hidden_size == 384 and model.config.entity_slot_size == 384


def test_inference_cache_reuses_candidate_scores_without_changing_predictions(tokenizer, processor):
    model = make_model(tokenizer, seed=2).eval()
    batch = processor([TEXT, "Short text."])
    cache = [{}, {}]
    for mention_threshold, coref_threshold in ((0.0, 0.5), (0.3, 0.7), (0.0, 0.9)):
        kwargs = dict(mention_threshold=mention_threshold, coref_threshold=coref_threshold, relation_threshold=0.3)
        plain = model(**batch, **kwargs).predictions
        cached = model(**batch, inference_cache=cache, **kwargs).predictions
        assert all("candidate_scores" in entry for entry in cache)
        for expected, actual in zip(plain, cached):
            for key in expected:
                torch.testing.assert_close(actual[key], expected[key])


LOW_THRESHOLDS = dict(mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.2)


def test_weight_derived_tables_made_under_autocast_are_not_reused_outside_it(tokenizer, processor):
    batch = processor([TEXT])
    expected = make_model(tokenizer, seed=2).eval()(**batch, **LOW_THRESHOLDS).predictions
    model = make_model(tokenizer, seed=2).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(**batch, **LOW_THRESHOLDS)  # makes its tables (size terms, memory keys, distance terms) in bfloat16
    actual = model(**batch, **LOW_THRESHOLDS).predictions
    for got, want in zip(actual, expected):
        for key in want:
            assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key


def test_weight_derived_tables_of_both_autocast_states_are_kept_side_by_side():
    """One slot per table, replaced at every switch of autocast state and then read a second time: threads sharing a
    model under float32 and bfloat16 (two pipelines, serving="bf16" beside the default) got each other's tables, with
    wrong scores or a float/bfloat16 matmul error (a threaded repro: 1 call in 20)."""
    from simmemre.modeling_simmemre import _weight_derived

    module = torch.nn.Linear(3, 3)
    made_under_autocast = []

    def transposed():
        made_under_autocast.append(torch.is_autocast_enabled("cpu"))
        return module.weight.t().contiguous()

    with torch.no_grad():
        plain = _weight_derived(module, "t", (module.weight,), transposed)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = _weight_derived(module, "t", (module.weight,), transposed)
        assert _weight_derived(module, "t", (module.weight,), transposed) is plain
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert _weight_derived(module, "t", (module.weight,), transposed) is mixed
    assert made_under_autocast == [False, True]


def test_a_fused_optimizer_step_then_eval_gives_the_predictions_of_the_new_weights(tokenizer, processor):
    """A fused AdamW step (the Trainer's default optim) updates weights in place without bumping their version
    counters, so the heads' cached tables stayed those of the first evaluation: every later one scored stale heads."""
    import copy

    batch = processor([TEXT])
    model = make_model(tokenizer, seed=2).eval()
    before = model(**batch, **LOW_THRESHOLDS).predictions  # makes the tables
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, fused=True)
    model.train()
    for parameter in model.parameters():
        parameter.grad = torch.randn_like(parameter)
    optimizer.step()
    model.eval()
    after = model(**batch, **LOW_THRESHOLDS).predictions
    fresh = copy.deepcopy(model)(**batch, **LOW_THRESHOLDS).predictions  # the same weights, no table
    assert not torch.equal(after[0]["mention_scores"], before[0]["mention_scores"])
    for got, want in zip(after, fresh):
        for key in want:
            assert torch.equal(got[key], want[key]), key


# -- the inference entry point and its stages ------------------------------------------------------------

from simmemre.modeling_simmemre import TrainingTargets  # noqa: E402

LOW = dict(mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.2)


def _assert_same_predictions(actual, expected):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert set(got) == set(want)
        for key in want:
            assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key


@pytest.mark.parametrize(
    "overrides",
    [{}, {"relation_classifier": "global", "memory_read_mode": "residual"}],
    ids=["mrc-mean", "grc-residual"],
)
def test_forward_without_targets_returns_extract(tokenizer, processor, overrides):
    model = make_model(tokenizer, seed=4, **overrides).eval()
    model.memory_reads_enabled = True
    batch = processor([TEXT, "Short text.", ""])
    with torch.no_grad():
        extracted = model.extract(**batch, **LOW)
        forwarded = model(**batch, **LOW, unknown_option=1)  # unknown keys are ignored, as before
        defaults = model.extract(**batch)
    assert isinstance(extracted, type(forwarded)) and forwarded.loss is None
    _assert_same_predictions(forwarded.predictions, extracted.predictions)
    _assert_same_predictions(model(**batch).predictions, defaults.predictions)  # the config's thresholds
    assert sum(p["relations"].shape[0] for p in extracted.predictions) > 0


@pytest.mark.parametrize(
    "name, value", [("mention_threshold", float("nan")), ("relation_threshold", 1.5), ("coref_threshold", "0.5")]
)
def test_extract_refuses_a_threshold_override_outside_0_1_naming_it(model, processor, name, value):
    """NaN or 1.5 kept nothing without a word, and a string failed inside the coreference stage."""
    with pytest.raises(ValueError, match=f"extract: {name} must be a number in \\[0, 1\\], got {value!r}"):
        model.extract(**processor(TEXT), **{name: value})


def test_stages_are_callable_and_compose_to_extract(tokenizer, processor):
    model = make_model(tokenizer, seed=5, span_chunk_size=8, coref_pair_chunk_size=5).eval()
    model.memory_reads_enabled = True
    batch = processor(TEXT)
    expected = model.extract(**batch, **LOW).predictions[0]
    context, words = document_context(model, batch)
    candidates = model.score_candidates(context)
    count = candidate_spans(context.word_sentence_ids, model.config.max_span_size).shape[0]
    assert candidates.word_spans.shape == (count, 2) and candidates.probabilities.shape == (count,)
    assert candidates.probabilities.dtype == torch.float32
    mentions = candidates.select(LOW["mention_threshold"], model.config)
    n = mentions.word_spans.shape[0]
    assert mentions.representations.shape == (n, context.hidden.shape[-1]) and mentions.scores.shape == (n,)
    assert candidates.select(1.01, model.config) is None  # nothing passes
    clusters = model.coreference_resolution.cluster(context, mentions, LOW["coref_threshold"], model.config)
    assert isinstance(clusters, np.ndarray) and clusters.shape == (n,)
    entities = model.entity_classification.entities(mentions, clusters, context.memories.get("entity"))
    relations, relation_scores = model.relation_classification.relations(
        context, candidates.pooler, mentions, entities, LOW["relation_threshold"], model.config
    )
    assert relations.shape[1] == 3 and relations.shape[0] == relation_scores.shape[0] > 0
    staged = {
        "mention_word_spans": mentions.word_spans,
        "mention_scores": mentions.scores,
        "mention_clusters": entities.mention_clusters,
        "entity_types": entities.types,
        "entity_scores": entities.scores,
        "entity_type_probabilities": entities.probabilities,
        "relations": relations,
        "relation_scores": relation_scores,
    }
    _assert_same_predictions([staged], [expected])


def test_training_targets_group_the_forward_keywords(tokenizer, processor):
    model = make_model(tokenizer).eval()  # no dropout: the two calls must agree exactly
    batch = gold_batch(processor, model.config)
    flat = model(**batch)
    targets = TrainingTargets.from_inputs(batch)
    grouped = model(batch["input_ids"], batch["attention_mask"], targets=targets)
    for key in ("loss", "mention_loss", "coref_loss", "entity_loss", "relation_loss"):
        assert torch.equal(getattr(flat, key), getattr(grouped, key)), key
    assert flat.predictions is None
    with pytest.raises(ValueError, match="coref_pairs"):
        model(**{key: value for key, value in batch.items() if key != "coref_pairs"})
    zeros = TrainingTargets.zeros(2, 5, 4, 3, 2, 6, num_relation_types=7).as_inputs()
    assert list(zeros) == list(TrainingTargets.names())
    assert zeros["relation_labels"].shape == (2, 6, 7) and zeros["entity_mentions"].shape == (2, 3, 2)
    assert all(zeros[name].dtype == torch.bool for name in zeros if name.endswith("_mask"))
    assert all(zeros[name].dtype == torch.float for name in zeros if name.endswith("_labels"))


def test_model_predict_is_extract_on_the_host(tokenizer, processor):
    model = make_model(tokenizer, seed=6).eval()
    batch = processor([TEXT, "Short text."])
    with torch.no_grad():
        expected = model.extract(**batch, **LOW).predictions
        predicted = model.predict(batch, device="cpu", **LOW)
    assert all(value.device.type == "cpu" for prediction in predicted for value in prediction.values())
    _assert_same_predictions(predicted, expected)


def test_the_processor_does_not_run_the_model():
    """Processors pre- and post-process; the pipeline, the trainer and calibration call `model.predict`."""
    import inspect

    from simmemre import processing_simmemre

    source = inspect.getsource(processing_simmemre)
    assert "extract(" not in source and ".predict(" not in source and "model(" not in source


def test_non_overlapping_spans_keeps_the_best_of_overlapping_ones_in_input_order():
    spans = np.array([[0, 2], [1, 3], [3, 4], [2, 5], [5, 6], [0, 1]])
    scores = np.array([0.6, 0.9, 0.5, 0.7, 0.2, 0.6], dtype=np.float32)
    # 0.9 [1, 3) first; then 0.7 [2, 5) overlaps it; 0.6 [0, 2) overlaps; 0.6 [0, 1) fits; 0.5 [3, 4); 0.2 [5, 6).
    assert non_overlapping_spans(spans, scores).tolist() == [1, 2, 4, 5]
    assert non_overlapping_spans(spans[:0], scores[:0]).tolist() == []


def _overlapping_pairs(spans):
    spans = spans.tolist()
    return sum(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])


def test_flat_mentions_leaves_no_two_predicted_mentions_overlapping(tokenizer, processor):
    batch = processor(TEXT)
    nested = make_model(tokenizer, seed=5).extract(**batch, **LOW).predictions[0]
    flat = make_model(tokenizer, seed=5, flat_mentions=True).extract(**batch, **LOW).predictions[0]
    assert _overlapping_pairs(nested["mention_word_spans"]) > 0
    assert _overlapping_pairs(flat["mention_word_spans"]) == 0
    kept = {tuple(span) for span in flat["mention_word_spans"].tolist()}
    assert kept < {tuple(span) for span in nested["mention_word_spans"].tolist()}


def test_a_left_padded_attention_mask_is_refused(tokenizer, processor):
    """A document's length is its count of ones, encoded from its first positions: a left-padded row came back as
    all-zero rows (its padding encoded in place of its subwords) without a word."""
    model = make_model(tokenizer).eval()
    batch = processor(["Aspirin.", TEXT])
    short = int(batch["attention_mask"][0].sum())
    width = batch["attention_mask"].shape[1]
    left_padded = {**batch, "attention_mask": batch["attention_mask"].clone()}
    left_padded["attention_mask"][0] = torch.cat([torch.zeros(width - short), torch.ones(short)]).to(torch.long)
    with pytest.raises(ValueError, match="attention_mask must be right-padded"):
        model.extract(**left_padded)


# -- mutation audit (h2mut-b) --


def test_propagation_skips_an_occurrence_whose_later_word_lies_in_a_mention():
    """The second "lithium carbonate" overlaps the mention "carbonate levels" at its second word only: it is left
    alone, as one overlapping at its first word is."""
    from simmemre.modeling_simmemre import propagated_mentions

    text = "Lithium carbonate was given. Serum lithium carbonate levels rose."
    words = [[0, 7], [8, 17], [18, 21], [22, 27], [27, 28], [29, 34], [35, 42], [43, 52], [53, 59], [60, 64], [64, 65]]
    assert propagated_mentions(text, words, [[0, 2], [7, 9]], [0, 1], min_length=2) == []
    assert propagated_mentions(text, words, [[0, 2]], [0], min_length=2) == [(6, 8, 0)]  # free, it is added


def test_a_propagated_occurrence_that_no_candidate_covers_scores_zero(tokenizer, processor):
    """An added occurrence takes the probability of its own candidate span, and 0 where no candidate covers it (a
    span across two given sentences), never a neighbouring candidate's."""
    from types import SimpleNamespace

    model = make_model(tokenizer, mention_string_propagation=True).eval()
    context, _ = document_context(model, processor("Lithium causes tremor. The lithium dose rose."))
    # Words: Lithium causes tremor . The lithium dose rose . -- the candidates hold "Lithium" and "dose", not "lithium".
    candidates = SimpleNamespace(
        host_word_spans=lambda: np.array([[0, 1], [6, 7]]), probabilities=torch.tensor([0.75, 0.5])
    )
    prediction = {
        "mention_word_spans": torch.tensor([[0, 1]]),
        "mention_scores": torch.tensor([0.75]),
        "mention_clusters": torch.tensor([0]),
    }
    model._propagate_mention_strings(prediction, context, candidates)
    assert prediction["mention_word_spans"].tolist() == [[0, 1], [5, 6]]
    assert prediction["mention_scores"].tolist() == [0.75, 0.0]
    assert prediction["mention_clusters"].tolist() == [0, 0]


class _PositionEncoder(torch.nn.Module):
    """A stand-in encoder whose state for each input position is that position (1 for the first token after
    [CLS]), so the windowed states show which windows were averaged."""

    def forward(self, input_ids, attention_mask):
        from types import SimpleNamespace

        positions = torch.arange(input_ids.shape[1], dtype=torch.float).expand(input_ids.shape)
        return SimpleNamespace(last_hidden_state=positions[..., None].expand(*input_ids.shape, 2))


@pytest.mark.parametrize("windows_per_call", [1, 16])
def test_overlapping_windows_average_their_states(windows_per_call):
    """10 subwords in windows of 6 overlapping by 2: windows [0, 6) and [4, 10); subwords 4 and 5 lie in both and get
    the mean of their two states, every other subword the state of its one window."""
    from types import SimpleNamespace

    from simmemre.modeling_simmemre import encode_in_windows

    config = SimpleNamespace(
        hidden_size=2, window_size=6, window_overlap=2, cls_token_id=1, sep_token_id=2, pad_token_id=0,
        encoder_batch_windows=windows_per_call,
    )  # fmt: skip
    input_ids = torch.arange(3, 15)[None]  # 12 positions, the last two padding
    attention_mask = torch.tensor([[1] * 10 + [0] * 2])
    hidden = encode_in_windows(_PositionEncoder(), input_ids, attention_mask, config, torch.float32)
    assert hidden[0, :, 0].tolist() == [1, 2, 3, 4, (5 + 1) / 2, (6 + 2) / 2, 3, 4, 5, 6, 0, 0]


def test_a_component_of_two_mentions_is_numbered_by_its_first_mention():
    """Entities are numbered by first mention: mentions 0 and 2 linked, 1 alone -> [0, 1, 0], from the pairs as from
    the matrix (a two-mention component has a shortcut of its own in the pair version)."""
    from simmemre.modeling_simmemre import agglomerative_clusters_from_edges

    similarity = np.array([[1.0, 0.1, 0.9], [0.1, 1.0, 0.1], [0.9, 0.1, 1.0]], dtype=np.float32)
    assert agglomerative_clusters(similarity, 0.5).tolist() == [0, 1, 0]
    pairs = agglomerative_clusters_from_edges(3, np.array([0]), np.array([2]), np.array([0.9], dtype=np.float32), 0.5)
    assert pairs.tolist() == [0, 1, 0]


@pytest.mark.parametrize("cap", ["max_mentions_per_document", "max_relations_per_document"])
def test_a_cap_exactly_met_keeps_everything_without_a_note(tokenizer, processor, cap):
    """A document with exactly as many mentions (relations) as the cap is within it: nothing is dropped and no
    `truncated` note is added (the note says that a cap bound); one fewer allowed does bind."""
    batch = processor(TEXT)
    thresholds = dict(mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.2)
    with torch.no_grad():
        scores = make_model(tokenizer, seed=5).extract(**batch, **thresholds).predictions[0]["mention_scores"]
        thresholds["mention_threshold"] = float(scores.sort(descending=True).values[19])  # 20 mentions: 380 pairs
        free = make_model(tokenizer, seed=5).extract(**batch, **thresholds).predictions[0]
        found = free["mention_word_spans" if cap == "max_mentions_per_document" else "relations"].shape[0]
        assert found > 1 and "truncated" not in free
        exactly = make_model(tokenizer, seed=5, **{cap: found}).extract(**batch, **thresholds).predictions[0]
        one_fewer = make_model(tokenizer, seed=5, **{cap: found - 1}).extract(**batch, **thresholds).predictions[0]
    assert exactly.keys() == free.keys() and all(torch.equal(exactly[key], free[key]) for key in free)
    assert "truncated" in one_fewer


def test_a_one_character_parenthesis_defines_no_abbreviation():
    """Short forms have at least two characters: "(A)" labels an arm, it abbreviates nothing."""
    from simmemre.modeling_simmemre import find_abbreviations

    assert find_abbreviations("Patients in arm (A) and arm (B) were seen.") == []
