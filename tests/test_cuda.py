"""Training, evaluation and inference on a CUDA GPU (issue 13). Skipped where CUDA is absent.

`SIMMEMRE_TEST_DEVICE=cpu` runs the same tests on the CPU (a dry run of the test logic; float16 steps are skipped
there). The CPU-only placement checks are in tests/test_device_placement.py.
"""

import os
from pathlib import Path

import pytest
import torch
from helpers import SYNTHETIC_DOCUMENTS, tiny_config
from transformers import TrainingArguments, pipeline

from simmemre import SimMemREModel

DEVICE = torch.device(os.environ.get("SIMMEMRE_TEST_DEVICE", "cuda:0"))
pytestmark = pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(), reason="needs CUDA")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bc5cdr"
ENTITY_TYPES, RELATION_TYPES = ["Chemical", "Disease"], ["CID", "Other"]
TEXTS = [
    "Aspirin causes ulcers. Ibuprofen induced headache. Aspirin and aspirin-induced ulcers were seen after naproxen.",
    "Lidocaine-induced cardiac asystole in two patients. Lidocaine was stopped after the asystole.",
    "Naproxen",
    "",
]
LOW = {"mention_threshold": 0.3, "coref_threshold": 0.5, "relation_threshold": 0.3}


@pytest.fixture(autouse=True)
def exact_float32():
    """No TF32 in float32 matmuls, so CPU and CUDA agree to float32 rounding."""
    if not torch.cuda.is_available():
        yield
        return
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def spread_model(tokenizer, seed=0, **overrides):
    """A tiny random model whose mention, coreference and relation scores spread over (0, 1) instead of sitting at
    0.5 (the last layers' weights are scaled up), so thresholds split them and float rounding rarely decides."""
    torch.manual_seed(seed)
    model = SimMemREModel(tiny_config(tokenizer, **overrides)).eval()
    model.memory_reads_enabled = True
    with torch.no_grad():
        model.mention_localization.classifier.weight.mul_(40.0)
        model.coreference_resolution.classifier.weight.mul_(40.0)
        relation = model.relation_classification
        (relation.similarity.weight if relation.use_similarity else relation.classifier.weight).mul_(40.0)
    return model


def summary(document):
    """Entities (mention spans and type) and relations (as pairs of entity keys) of a predicted document."""
    entities = [
        (tuple((m["start"], m["end"]) for m in entity["mentions"]), entity["type"]) for entity in document["entities"]
    ]
    relations = {(entities[r["head"]], entities[r["tail"]], r["type"]) for r in document["relations"]}
    return set(entities), relations


def training_rows(processor, count=6):
    from simmemre.data_simmemre import read_pubtator
    from simmemre.training_simmemre import tokenize_documents

    documents = list(SYNTHETIC_DOCUMENTS)
    if DATA.is_dir():
        documents = read_pubtator(DATA / "CDR_TrainingSet.PubTator.txt")[0][:count]
    return tokenize_documents(documents, processor, ENTITY_TYPES, RELATION_TYPES)


def make_trainer(model, processor, train_rows, tmp_path, **arguments):
    from simmemre.training_simmemre import SimMemREDataCollator, SimMemRETrainer, tokenize_documents

    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
        max_steps=6,
        learning_rate=1e-3,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=3,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        use_cpu=DEVICE.type == "cpu",
    )
    defaults.update(arguments)
    collator = SimMemREDataCollator(
        processor, model.config, neg_mention_count=30, neg_coref_count=20, neg_relation_count=10, seed=0
    )
    eval_rows = tokenize_documents(SYNTHETIC_DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES)
    return SimMemRETrainer(
        model=model,
        args=TrainingArguments(**defaults),
        data_collator=collator,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=processor,
    )


def test_smoke_training_with_evaluation(tokenizer, processor, tmp_path):
    """Issue 13: training on the GPU died at its first evaluation (edit distances on the CPU, indices on the GPU)."""
    model = spread_model(
        tokenizer,
        **{
            "mention_threshold": 0.3,
            "coref_threshold": 0.5,
            "relation_threshold": 0.3,
            "memory_warmup_proportion": 0.3,
        },
    )
    trainer = make_trainer(model, processor, training_rows(processor), tmp_path)
    trainer.train()
    assert next(trainer.model.parameters()).device.type == DEVICE.type
    evaluations = [entry for entry in trainer.state.log_history if "eval_relation_strict_f1" in entry]
    assert len(evaluations) == 2
    metrics = trainer.evaluate()
    assert all(key in metrics for key in ("eval_mention_f1", "eval_coref_f1", "eval_relation_strict_f1"))
    assert any(len(entity["mentions"]) > 1 for document in trainer.last_predictions for entity in document["entities"])


def test_pipeline_gives_many_mentions_clusters_and_relations(tokenizer, processor):
    extractor = pipeline("joint-re", model=spread_model(tokenizer), processor=processor, device=DEVICE)
    assert extractor.model.device.type == DEVICE.type
    documents = extractor(TEXTS, batch_size=2, **LOW)
    mentions = sum(len(entity["mentions"]) for document in documents for entity in document["entities"])
    clusters = sum(len(entity["mentions"]) > 1 for document in documents for entity in document["entities"])
    relations = sum(len(document["relations"]) for document in documents)
    assert mentions >= 20 and clusters >= 2 and relations >= 10, (mentions, clusters, relations)
    for document, text in zip(documents, TEXTS):
        for entity in document["entities"]:
            for mention in entity["mentions"]:
                assert text[mention["start"] : mention["end"]] == mention["text"]


@pytest.mark.parametrize(
    "overrides", [{}, {"jerex_baseline": True}, {"relation_classifier": "global"}], ids=["simmemre-mrc", "jerex", "grc"]
)
def test_cpu_and_cuda_predictions_are_equal(tokenizer, processor, overrides):
    model = spread_model(tokenizer, **overrides)
    on_cpu = pipeline("joint-re", model=model, processor=processor, device="cpu")(TEXTS, batch_size=2, **LOW)
    on_device = pipeline("joint-re", model=model, processor=processor, device=DEVICE)(TEXTS, batch_size=2, **LOW)
    assert sum(len(document["entities"]) for document in on_cpu) >= 5
    for left, right in zip(on_cpu, on_device):
        assert summary(left) == summary(right)
        for entity_left, entity_right in zip(left["entities"], right["entities"]):
            assert entity_left["score"] == pytest.approx(entity_right["score"], abs=1e-4)
        for relation_left, relation_right in zip(left["relations"], right["relations"]):
            assert relation_left["score"] == pytest.approx(relation_right["score"], abs=1e-4)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_steps(tokenizer, processor, tmp_path, precision):
    """Trainer with --bf16/--fp16: autocast training with memory reads on from the first step, then an evaluation
    (the accelerator's autocast wraps the model's forward, so inference runs under it too)."""
    if precision == "fp16" and DEVICE.type != "cuda":
        pytest.skip("float16 mixed precision needs CUDA")
    model = spread_model(tokenizer, memory_warmup_proportion=0.0, **{key: value for key, value in LOW.items()})
    trainer = make_trainer(
        model, processor, training_rows(processor), tmp_path, max_steps=4, eval_strategy="no", **{precision: True}
    )
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(loss == loss and abs(loss) < 1e4 for loss in losses)
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    metrics = trainer.evaluate()
    assert "eval_relation_strict_f1" in metrics


def mention_scores(document):
    return {(m["start"], m["end"]): m["score"] for entity in document["entities"] for m in entity["mentions"]}


def test_autocast_inference_matches_float32(tokenizer, processor):
    """bfloat16 autocast against float32 on the same model: the same mentions up to threshold ties (a mention kept by
    one run only scores within 0.02 of the threshold in the other); the entity and relation differences that follow
    from ties are counted and printed (pytest -s). On a random model many scores sit near the thresholds: figures on
    a trained model come from benchmarks/compare_precision.py."""
    model = spread_model(tokenizer)
    extractor = pipeline("joint-re", model=model, processor=processor, device=DEVICE)
    exact = extractor(TEXTS, batch_size=2, **LOW)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        mixed = extractor(TEXTS, batch_size=2, **LOW)
    counts = dict.fromkeys(("mentions", "mention_diff", "entities", "entity_diff", "relations", "relation_diff"), 0)
    low = dict(LOW, mention_threshold=0.0)
    everything = extractor(TEXTS, batch_size=2, **low)  # every candidate's float32 score
    for left, right, full in zip(exact, mixed, everything):
        scores_left, scores_right, all_scores = mention_scores(left), mention_scores(right), mention_scores(full)
        for span in set(scores_left) ^ set(scores_right):
            assert abs(all_scores[span] - LOW["mention_threshold"]) < 0.02, (span, all_scores[span])
        (entities_left, relations_left), (entities_right, relations_right) = summary(left), summary(right)
        counts["mentions"] += len(scores_left)
        counts["mention_diff"] += len(set(scores_left) ^ set(scores_right))
        counts["entities"] += len(entities_left)
        counts["entity_diff"] += len(entities_left ^ entities_right)
        counts["relations"] += len(relations_left)
        counts["relation_diff"] += len(relations_left ^ relations_right)
    print(f"\nautocast bf16 vs fp32 (symmetric differences): {counts}")
    assert counts["mentions"] >= 20
