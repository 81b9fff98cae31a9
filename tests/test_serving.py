"""CPU serving options of the pipeline (`serving="bf16"` / `"int8"`): what each changes, and what it leaves alone."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import LOW, TEXTS, assert_valid_document
from transformers import pipeline


def test_bf16_serving_runs_the_encoder_under_autocast(model, processor):
    seen = []
    dense = model.encoder.encoder.layer[0].intermediate.dense  # (LayerNorm outputs stay float32 under autocast)
    handle = dense.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    try:
        documents = pipeline("joint-re", model=model, processor=processor, serving="bf16")(TEXTS, **LOW)
    finally:
        handle.remove()
    assert seen and set(seen) == {torch.bfloat16}
    for document, text in zip(documents, TEXTS):
        assert_valid_document(document, text, model.config)
    assert model.dtype == torch.float32  # autocast only: the weights stay float32


def test_int8_serving_quantizes_a_copy_of_the_encoder(model, processor):
    extractor = pipeline("joint-re", model=model, processor=processor, serving="int8")
    quantized = [m for m in extractor.model.encoder.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")]
    assert quantized and not any(type(m).__module__.startswith("torch.ao") for m in model.modules())
    heads = [extractor.model.mention_localization, extractor.model.relation_classification]
    assert not any(type(m).__module__.startswith("torch.ao") for head in heads for m in head.modules())
    documents = extractor(TEXTS, **LOW)
    for document, text in zip(documents, TEXTS):
        assert_valid_document(document, text, model.config)


@pytest.mark.parametrize("cast", ["dtype", "model"])
@pytest.mark.parametrize(
    "serving, dtype, message",
    [
        ("int8", torch.bfloat16, "serving='int8' needs a float32 model, got torch.bfloat16"),
        # On the CPU the first call failed inside torch's layer norm ("mixed dtype (CPU)").
        ("bf16", torch.float16, "serving='bf16' autocasts float32 weights to bfloat16, got a float16 model"),
    ],
)
def test_a_serving_mode_beside_weights_it_cannot_take_is_refused_when_built(
    model, processor, cast, serving, dtype, message
):
    import copy

    if cast == "dtype":
        arguments = {"model": copy.deepcopy(model), "dtype": dtype}
    else:
        arguments = {"model": copy.deepcopy(model).to(dtype)}
    with pytest.raises(ValueError, match=message):
        pipeline("joint-re", processor=processor, serving=serving, **arguments)


def test_an_unknown_serving_mode_is_refused_naming_the_choices(model, processor):
    with pytest.raises(ValueError, match="serving must be one of fp32, bf16, int8"):
        pipeline("joint-re", model=model, processor=processor, serving="fp8")


@pytest.mark.parametrize(
    "item, message",
    [
        ("fp64=report.json", "MODE one of fp32, bf16, int8"),
        ("int8=missing.json", "cannot read the report's thresholds"),
    ],
)
def test_bench_serving_refuses_a_bad_calibration_before_loading_anything(tmp_path, item, message):
    completed = subprocess.run(
        [sys.executable, "benchmarks/bench_serving.py", "--model", str(tmp_path / "none"), "--calibration", item],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0 and message in completed.stderr


def test_a_new_pipeline_on_a_model_in_eval_mode_keeps_its_cached_tables(model, processor):
    """Every pipeline called model.eval(), which drops the heads' weight-derived tables: a server building a pipeline
    per request rebuilt them for every request."""
    from transformers import pipeline

    model.eval()
    pipeline("joint-re", model=model, processor=processor)("Aspirin causes ulcers.")
    cached = {name: dict(module.__dict__.get("_weight_derived_cache") or {}) for name, module in model.named_modules()}
    assert any(cached.values())
    pipeline("joint-re", model=model, processor=processor)
    after = {name: dict(module.__dict__.get("_weight_derived_cache") or {}) for name, module in model.named_modules()}
    assert after == cached
    model.train()
    pipeline("joint-re", model=model, processor=processor)
    assert not model.training
