"""benchmarks/int8_variants.py and bench_serving.agreement: the int8 layouts it screens and how agreement counts."""

import copy
import sys
from pathlib import Path

import pytest
import torch
from helpers import load_script
from transformers import pipeline

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCHMARKS))  # int8_variants imports bench_serving from beside it
    try:
        return load_script(BENCHMARKS / f"{name}.py")
    finally:
        sys.path.remove(str(BENCHMARKS))


def document(relations, mentions=((0, 3), (4, 7), (8, 11))):
    """Entities of one mention each at `mentions`; `relations` as (head, tail, type)."""
    entities = [{"type": "T", "mentions": [{"start": start, "end": end}]} for start, end in mentions]
    return {"entities": entities, "relations": [{"head": h, "tail": t, "type": r} for h, t, r in relations]}


def test_agreement_counts_the_shared_strict_relations_over_those_either_side_predicts():
    agreement = load("bench_serving").agreement
    fp32 = [document([(0, 1, "R"), (1, 2, "R")]), document([])]
    same_f1_other_relations = [document([(0, 1, "R"), (0, 2, "R")]), document([])]  # one kept, one swapped
    assert agreement(fp32, fp32) == {"relation_agreement_with_fp32": 1.0, "mention_agreement_with_fp32": 1.0}
    assert agreement(same_f1_other_relations, fp32)["relation_agreement_with_fp32"] == pytest.approx(1 / 3, abs=1e-4)


def test_agreement_counts_a_relation_whose_cluster_lost_a_mention_as_changed():
    agreement = load("bench_serving").agreement
    fp32 = [document([(0, 1, "R")])]
    fp32[0]["entities"][0]["mentions"].append({"start": 12, "end": 15})
    smaller_cluster = [document([(0, 1, "R")])]
    scores = agreement(smaller_cluster, fp32)
    assert scores["relation_agreement_with_fp32"] == 0.0 and scores["mention_agreement_with_fp32"] == 0.75


def test_agreement_refuses_predictions_of_other_documents():
    with pytest.raises(ValueError, match="same documents: 1 predictions, 2 reference"):
        load("bench_serving").agreement([document([])], [document([]), document([])])


def test_layer_of_reads_the_layer_index_and_ignores_the_layer_list():
    variants = load("int8_variants")
    assert variants._layer_of("encoder.layer.3.output.dense") == 3
    assert variants._layer_of("encoder.layer") is None and variants._layer_of("pooler.dense") is None


def quantized_names(encoder):
    return {
        name
        for name, module in encoder.named_modules()
        if type(module).__module__.startswith("torch.ao.nn.quantized") and not name.endswith("_packed_params")
    }


def test_the_all_variant_is_the_int8_serving_option(model, processor):
    variants = load("int8_variants")
    served = pipeline("joint-re", model=model, processor=processor, serving="int8").model.encoder
    screened = variants.quantized_encoder(model.encoder, "all")
    batch = processor("Naloxone reverses the effect of clonidine.")
    with torch.inference_mode():
        expected = served(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        found = screened(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert quantized_names(screened) == quantized_names(served) and torch.equal(found, expected)


@pytest.mark.parametrize("variant", ["ffn", "attention", "all-but-first", "all-but-last"])
def test_each_partial_variant_quantizes_only_its_layers(model, variant):
    variants = load("int8_variants")
    linears = {name for name, module in model.encoder.named_modules() if isinstance(module, torch.nn.Linear)}
    layers = 1 + max(variants._layer_of(name) for name in linears if variants._layer_of(name) is not None)
    wanted = {name for name in linears if variants.selection(variant, layers)(name)}
    assert wanted and wanted != linears
    assert quantized_names(variants.quantized_encoder(model.encoder, variant)) == wanted
    assert not quantized_names(model.encoder)  # a copy: the model keeps its float encoder


def test_smoothing_leaves_the_float_function_as_it_was(model, processor):
    variants = load("int8_variants")
    texts = ["Naloxone reverses the effect of clonidine.", "Lithium caused tremor in two patients."]
    maxima = variants.input_maxima(model, processor, texts)
    assert set(maxima) == {n for n, m in model.encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    smoothed = variants.smooth(copy.deepcopy(model.encoder), list(maxima), maxima, 0.75)
    assert not all(torch.equal(smoothed.get_submodule(n).weight, model.encoder.get_submodule(n).weight) for n in maxima)
    batch = processor(texts[0])
    with torch.inference_mode():
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        expected, found = model.encoder(**inputs).last_hidden_state, smoothed(**inputs).last_hidden_state
    assert torch.allclose(found, expected, atol=1e-5)


def test_the_smoothing_survives_the_swap_to_quantized_modules(model, processor):
    variants = load("int8_variants")
    maxima = variants.input_maxima(model, processor, ["Naloxone reverses the effect of clonidine."])
    quantized = variants.quantized_encoder(model.encoder, "smooth-0.5", maxima)
    for name in maxima:
        module = quantized.get_submodule(name)
        assert type(module).__module__.startswith("torch.ao.nn")
        assert any(isinstance(hook, variants.SmoothedInput) for hook in module._forward_pre_hooks.values())
