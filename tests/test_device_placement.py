"""Host/accelerator placement and mixed precision, checked on the CPU (CI has no GPU; tests/test_cuda.py runs on one).

How the placement tests work: `device_guard.SimulatedDevice` is a `TorchFunctionMode` that sees every torch call and
keeps, for each (real, CPU) tensor, a simulated placement: tensors made or moved with `device=ACCELERATOR`
(`torch.device("cpu", 0)`), the model's parameters and everything computed from them are "on the accelerator",
whose `.device` then reads `cpu:0`; tensors made without `device=` (`torch.tensor`, `torch.zeros`, `from_numpy`) or
brought back with `.cpu()` are "on the host". An operation mixing the two (host 0-dim scalars excepted), or a host
tensor indexed with accelerator indices, is recorded as an error: that is what raises on CUDA, e.g. issue 13's
`RuntimeError: indices should be either on cpu or on the same device as the indexed tensor (cpu)` from the CPU
edit-distance matrix indexed with mention-pair indices. The guard also counts device-to-host transfers (`.tolist()`,
`.item()`, `int()`, `.cpu()`, ...) by call site. Values are computed for real, so data-dependent inference
(thresholds, clustering in numpy) runs as on a GPU. Reverting the fix of `cluster_mentions` (building the
edit-distance matrix on the CPU and indexing it with device indices) makes
`test_inference_mixes_no_host_and_device_tensors` fail.
"""

import argparse
import os

import pytest
import torch
from device_guard import ACCELERATOR, SimulatedDevice
from helpers import SYNTHETIC_DOCUMENTS, tiny_config
from transformers import TrainingArguments, pipeline

from simmemre import SimMemREModel
from simmemre.experiment_simmemre import add_inference_arguments, default_device, select_device

LOW = {"mention_threshold": 0.0, "coref_threshold": 0.5, "relation_threshold": 0.45}
TEXTS = [
    "Aspirin causes ulcers. Ibuprofen induced headache. Aspirin and aspirin-induced ulcers were seen after naproxen.",
    "Lidocaine-induced cardiac asystole in two patients. Lidocaine was stopped.",
]
# Small chunks: every chunked loop of inference runs several times.
CHUNKS = {"span_chunk_size": 8, "coref_pair_chunk_size": 4, "relation_mention_pair_chunk_size": 3}
SYNTHETIC = SYNTHETIC_DOCUMENTS[0]


def make_model(tokenizer, **overrides):
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, **{**CHUNKS, **overrides})).eval()
    model.memory_reads_enabled = True  # token and span reads run too
    return model


def report(guard):
    return "\n".join(f"{count} x {site}" for site, count in guard.errors.most_common())


@pytest.mark.parametrize(
    "overrides", [{}, {"jerex_baseline": True}, {"relation_classifier": "global"}], ids=["simmemre-mrc", "jerex", "grc"]
)
def test_inference_mixes_no_host_and_device_tensors(tokenizer, processor, overrides):
    model = make_model(tokenizer, **overrides)
    guard = SimulatedDevice()
    with guard:
        guard.put_module(model)
        extractor = pipeline("joint-re", model=model, processor=processor, device=ACCELERATOR)
        documents = extractor(TEXTS, batch_size=2, **LOW)
    assert not guard.errors, report(guard)
    # The run reached every stage: mentions, clusters of several mentions, relations.
    assert all(document["entities"] for document in documents)
    assert any(len(entity["mentions"]) > 1 for document in documents for entity in document["entities"])
    assert any(document["relations"] for document in documents)


def test_guard_reports_a_host_tensor_indexed_with_device_indices():
    """The guard itself, on issue 13's pattern: a matrix built on the host, indexed with indices on the device."""
    guard = SimulatedDevice()
    with guard:
        distances = torch.zeros((3, 3), dtype=torch.long)
        left, right = torch.triu_indices(3, 3, offset=1, device=ACCELERATOR)
        distances[left, right]
        distances.to(ACCELERATOR)[left, right]  # moved first: fine
    assert list(guard.errors.values()) == [1]
    assert "indexed with device indices" in next(iter(guard.errors))


def test_predictions_cross_to_the_host_once_per_batch_and_dtype(tokenizer, processor):
    model = make_model(tokenizer)
    guard = SimulatedDevice()
    with guard:
        guard.put_module(model)
        extractor = pipeline("joint-re", model=model, processor=processor, device=ACCELERATOR)
        extractor(TEXTS, batch_size=2, **LOW)
    assert not guard.errors, report(guard)
    returned = {
        site: count
        for site, count in guard.downloads.items()
        if "pipeline_simmemre" in site or "predictions_to_host" in site or "decode" in site
    }
    # Two dtypes (int64 spans, clusters, types, relations; float32 scores), one batch: two copies in all.
    assert sum(returned.values()) == 2, returned
    # The mention strings for edit distances: one transfer per document.
    edit_distances = sum(count for site, count in guard.downloads.items() if "mention_strings" in site)
    assert edit_distances == len(TEXTS)


def test_training_forward_mixes_no_host_and_device_tensors(tokenizer, processor):
    from simmemre.training_simmemre import SimMemREDataCollator, tokenize_documents

    model = make_model(tokenizer).train()
    rows = tokenize_documents(
        [SYNTHETIC, {**SYNTHETIC, "id": "synthetic-2"}], processor, ["Chemical", "Disease"], ["CID", "Other"]
    )
    batch = SimMemREDataCollator(processor, model.config, seed=0)([rows[0], rows[1]])
    guard = SimulatedDevice()
    with guard:
        guard.put_module(model)
        loss = model(**{key: value.to(ACCELERATOR) for key, value in batch.items()}).loss
    assert not guard.errors, report(guard)
    assert torch.isfinite(loss)


def test_trainer_evaluation_mixes_no_host_and_device_tensors(tokenizer, processor, tmp_path, monkeypatch):
    from simmemre.training_simmemre import SimMemREDataCollator, SimMemRETrainer, tokenize_documents

    model = make_model(tokenizer, mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.45)
    rows = tokenize_documents(
        [SYNTHETIC, {**SYNTHETIC, "id": "synthetic-2"}], processor, ["Chemical", "Disease"], ["CID", "Other"]
    )
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=2,
        report_to="none",
        remove_unused_columns=False,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SimMemRETrainer(
        model=model,
        args=args,
        data_collator=SimMemREDataCollator(processor, model.config),
        eval_dataset=rows,
        processing_class=processor,
    )
    monkeypatch.setattr(TrainingArguments, "device", property(lambda self: ACCELERATOR))
    guard = SimulatedDevice()
    with guard:
        guard.put_module(model)
        metrics = trainer.evaluate()
    assert not guard.errors, report(guard)
    assert "eval_relation_strict_f1" in metrics
    assert trainer.last_predictions[0]["entities"]
    returned = sum(
        count for site, count in guard.downloads.items() if "predictions_to_host" in site or "decode" in site
    )
    assert returned == 2  # one batch, two dtypes


# ----------------------------------------------------------------------------------------------------
# Mixed precision on the CPU (bfloat16 autocast; float16 autocast needs CUDA: tests/test_cuda.py)
# ----------------------------------------------------------------------------------------------------


def test_bf16_autocast_training_forward_with_memory_reads(tokenizer, processor):
    """Token and span memory reads under autocast: their masks and softmaxes run in float32 (a float32 lowest-value
    mask does not fit bfloat16 or float16 scores)."""
    from simmemre.training_simmemre import SimMemREDataCollator, tokenize_documents

    model = make_model(tokenizer).train()
    rows = tokenize_documents([SYNTHETIC], processor, ["Chemical", "Disease"], ["CID", "Other"])
    batch = SimMemREDataCollator(processor, model.config, seed=0)([rows[0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(**batch)
    output.loss.backward()
    assert torch.isfinite(output.loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_bf16_autocast_inference_gives_valid_documents(tokenizer, processor):
    model = make_model(tokenizer)
    extractor = pipeline("joint-re", model=model, processor=processor, device="cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        documents = extractor(TEXTS, **LOW)
    for document in documents:
        assert document["entities"]
        for entity in document["entities"]:
            assert isinstance(entity["score"], float) and 0.0 <= entity["score"] <= 1.0
            for mention in entity["mentions"]:
                assert document["text"][mention["start"] : mention["end"]] == mention["text"]


def test_pipeline_dtype_casts_a_model_instance(tokenizer, processor):
    model = make_model(tokenizer)
    extractor = pipeline("joint-re", model=model, processor=processor, device="cpu", dtype=torch.bfloat16)
    assert extractor.model.dtype == torch.bfloat16
    document = extractor(TEXTS[0], **LOW)
    assert document["entities"]
    assert all(isinstance(entity["score"], float) for entity in document["entities"])


@pytest.mark.parametrize("dtype", ["bf16", "bfloat", torch.int8])
def test_pipeline_refuses_a_dtype_that_is_not_a_floating_point_torch_dtype(tokenizer, processor, dtype):
    """A misspelt name ("bf16", as `serving` spells it) was dropped for a model instance, which then ran in float32."""
    with pytest.raises(ValueError, match=f"dtype must be a floating-point torch dtype or its name .* got {dtype!r}"):
        pipeline("joint-re", model=make_model(tokenizer), processor=processor, device="cpu", dtype=dtype)


# ----------------------------------------------------------------------------------------------------
# Scripts: device options
# ----------------------------------------------------------------------------------------------------


def test_train_script_device_option(monkeypatch):
    training = {"device": "cpu", "output_dir": "x"}
    select_device(training)
    assert training == {"use_cpu": True, "output_dir": "x"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    training = {"device": "cuda"}
    select_device(training)
    assert training == {}  # the Trainer's own choice: the first GPU
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    select_device({"device": "cuda:1"})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    select_device({"device": "cuda:1"})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    with pytest.raises(SystemExit, match="cpu, cuda or cuda:N"):
        select_device({"device": "meta"})


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_train_script_refuses_cuda_where_there_is_none(monkeypatch, device):
    """The Trainer trained on the CPU without a word (the run line said "cpu")."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=f"--device {device}: CUDA is not available here"):
        select_device({"device": device})


def test_inference_scripts_default_to_cuda_when_available(monkeypatch):
    parser = add_inference_arguments(argparse.ArgumentParser())  # predict.py's and score.py's options
    arguments = parser.parse_args([])
    assert arguments.device is None and arguments.dtype == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == "cpu"
    arguments = parser.parse_args(["--device", "cuda:1", "--dtype", "bfloat16"])
    assert (arguments.device, arguments.dtype) == ("cuda:1", "bfloat16")
