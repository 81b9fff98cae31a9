"""The `joint-re` pipeline: output schema and offsets, input forms, bad input, batching, thresholds, long documents.

Tiny random models (see helpers.py): the default thresholds give empty results, `LOW` thresholds non-empty ones.
"""

import random
import time

import numpy as np
import pytest
import torch
from helpers import (
    LOW,
    TEXTS,
    ModelCallCounter,
    assert_same_predictions,
    assert_valid_document,
    mentions_of,
    tiny_config,
)
from transformers import pipeline

from simmemre import SimMemREModel
from simmemre.pipelines import JointREPipeline

# ----------------------------------------------------------------------------------------------------
# Output schema, offsets, input forms
# ----------------------------------------------------------------------------------------------------


def test_outputs_follow_schema_and_offsets_slice_the_input(pipe, model):
    results = pipe([t for t in TEXTS if t], **LOW)
    assert sum(len(r["entities"]) for r in results) > 0 and sum(len(r["relations"]) for r in results) > 0
    for text, result in zip([t for t in TEXTS if t], results):
        assert_valid_document(result, text, model.config)


def test_string_gives_one_result_and_list_gives_a_list(pipe):
    # By name: pytest also imports the repository root as a package named after the checkout folder, whose copy of
    # the class may own the registry entry.
    assert type(pipe).__name__ == JointREPipeline.__name__
    single = pipe(TEXTS[0], **LOW)
    assert isinstance(single, dict)
    listed = pipe([TEXTS[0]], **LOW)
    assert isinstance(listed, list) and len(listed) == 1
    assert_same_predictions([single], listed)
    assert pipe([], **LOW) == []


def test_schema_document_uses_id_words_sentences_and_ignores_gold(pipe, model):
    text = "Lidocaine-induced asystole. Aspirin helps."
    words = [
        {"start": 0, "end": 17},
        {"start": 18, "end": 26},
        {"start": 26, "end": 27},
        {"start": 28, "end": 35},
        {"start": 36, "end": 41},
        {"start": 41, "end": 42},
    ]
    sentences = [{"start": 0, "end": 27}, {"start": 28, "end": 42}]
    gold = [{"type": "Chemical", "mentions": [{"start": 0, "end": 9}]}]
    document = {
        "id": "doc-7",
        "text": text,
        "words": words,
        "sentences": sentences,
        "entities": gold,
        "relations": [{"head": 0, "tail": 0, "type": "CID"}],
    }
    result = pipe(document, **LOW)
    assert result["id"] == "doc-7"
    assert_valid_document(result, text, model.config)
    starts, ends = {w["start"] for w in words}, {w["end"] for w in words}
    spans = {(m["start"], m["end"]) for m in mentions_of(result)}
    assert spans and all(s in starts and e in ends for s, e in spans)
    assert (0, 17) in spans and (0, 9) not in spans  # the given words, not the gold mention or our segmentation
    assert not any(s < 27 < e for s, e in spans)  # no mention crosses the given sentence boundary
    # gold annotations do not change anything
    bare = pipe({"id": "doc-7", "text": text, "words": words, "sentences": sentences}, **LOW)
    assert_same_predictions([result], [bare], tolerance=0.0)


def test_mentions_never_cross_sentences_or_exceed_max_span_size(pipe, model, processor):
    text = "Aspirin causes ulcers in rats. Ibuprofen induced headache; naproxen did not. " * 2
    result = pipe(text, **LOW)
    features = processor.encode_document(text)
    words = features["word_char_spans"]
    sentence_of = {start: features["word_sentence_ids"][i] for i, (start, _) in enumerate(words)}
    end_sentence = {end: features["word_sentence_ids"][i] for i, (_, end) in enumerate(words)}
    word_index = {start: i for i, (start, _) in enumerate(words)}
    end_index = {end: i for i, (_, end) in enumerate(words)}
    for mention in mentions_of(result):
        assert sentence_of[mention["start"]] == end_sentence[mention["end"]]
        assert end_index[mention["end"]] - word_index[mention["start"]] + 1 <= model.config.max_span_size


# ----------------------------------------------------------------------------------------------------
# Unusual and bad input: one test each
# ----------------------------------------------------------------------------------------------------


def test_empty_string_gives_an_empty_document(pipe):
    assert pipe("", **LOW) == {"text": "", "entities": [], "relations": []}


def test_whitespace_only_gives_an_empty_document(pipe):
    text = " \t\n\u00a0\u2003\r\n  "
    assert pipe(text, **LOW) == {"text": text, "entities": [], "relations": []}


def test_single_character(pipe, model):
    for text in ("x", ".", "7", "é"):
        result = pipe(text, **LOW)
        assert_valid_document(result, text, model.config)
        assert [(m["start"], m["end"]) for m in mentions_of(result)] == [(0, 1)]


@pytest.mark.parametrize(
    "text",
    [
        "aspirin causes ulcers in rats and ibuprofen induced headache in mice",  # no sentence punctuation
        # non-Latin scripts
        "阿司匹林导致溃疡。布洛芬引起头痛。",
        "الأسبرين يسبب القرحة. الإيبوبروفين يسبب الصداع.",
        "एस्पिरिन से अल्सर होता है। हिन्दी",
        "Аспирин вызывает язву. Ибупрофен вызывает головную боль.",
        "Η ασπιρίνη προκαλεί έλκος.",
        "アスピリンは潰瘍を引き起こす。",
        # emoji and combining characters
        "Aspirin 💊 causes ulcers 😷 in 👨\u200d👩\u200d👧 families.",
        "Re\u0301sume\u0301 of cafe\u0301 patients: ibuprofe\u0300n.",  # decomposed accents
        "\u0301 leading combining mark, then text \u20dd and keycap 1\ufe0f\u20e3.",
        "🇫🇷 flag, skin tone 👍🏽, variation selector ☺\ufe0f.",
    ],
)
def test_unusual_texts_give_valid_documents_with_mentions(pipe, model, text):
    result = pipe(text, **LOW)
    assert_valid_document(result, text, model.config)
    assert mentions_of(result)


def test_tabs_newlines_and_nbsp(pipe, model):
    text = "Aspirin\tcauses\nulcers.\r\n\r\nIbuprofen\u00a0induced\u2028headache\u2029in\u000b\u000crats."
    result = pipe(text, **LOW)
    assert_valid_document(result, text, model.config)
    assert {m["text"] for m in mentions_of(result)} >= {"Aspirin", "Ibuprofen", "rats", "Ibuprofen\u00a0induced"}


def test_control_characters_and_lone_surrogates(pipe, model):
    texts = [
        "Aspirin\x00causes\x01 ulcers\x1b[31m.\x7f",
        "\x00\x01\x02",
        "Ibuprofen \ud800 induced \udfff headache.",  # lone surrogates cannot be tokenized: mapped 1:1 for the model
        "\u200b\u200d\ufeff zero-width \u202eAspirin\u202c bidi",
    ]
    for text in texts:
        result = pipe(text, **LOW)
        assert_valid_document(result, text, model.config)


def test_fifty_thousand_word_document(pipe, model):
    rng = random.Random(0)
    vocabulary = "aspirin causes ulcers in patients treated with doses of ibuprofen which induced headache".split()
    words = []
    while len(words) < 50_000:
        sentence = [rng.choice(vocabulary) for _ in range(rng.randint(6, 30))]
        words += [sentence[0].capitalize()] + sentence[1:-1] + [sentence[-1] + "."]
    text = " ".join(words[:50_000])
    started = time.perf_counter()
    result = pipe(text)  # default thresholds
    elapsed = time.perf_counter() - started
    assert_valid_document(result, text, model.config)
    assert elapsed < 150, f"50,000 words took {elapsed:.0f} s"


def test_list_mixing_empty_and_normal_texts(pipe, model):
    texts = ["", "Aspirin causes ulcers.", "   ", "x", "", "Ibuprofen induced headache in rats."]
    results = pipe(texts, batch_size=4, **LOW)
    assert len(results) == len(texts)
    for text, result in zip(texts, results):
        assert_valid_document(result, text, model.config)
    assert [bool(r["entities"]) for r in results] == [False, True, False, True, False, True]
    assert_same_predictions(results, [pipe(t, **LOW) for t in texts], tolerance=0.0)


@pytest.mark.parametrize(
    "bad, error",
    [
        (42, TypeError),
        (3.5, TypeError),
        (None, TypeError),
        (b"bytes are not text", TypeError),
        ([["nested", "list"]], TypeError),
        (["fine", None], TypeError),
        (["fine", 7], TypeError),
        ([{"id": "no-text"}], ValueError),
        ([{"id": "d", "text": 12}], TypeError),
        ({"text": "abc", "words": [{"start": 0, "end": 9}], "sentences": [{"start": 0, "end": 3}]}, ValueError),
        ({"text": "abc", "words": [{"start": 0, "end": 3}], "sentences": [{"start": 0, "end": 2}]}, ValueError),
        ({"text": "abc", "words": [{"start": "0", "end": 3}], "sentences": [{"start": 0, "end": 3}]}, TypeError),
    ],
    ids=[
        "int",
        "float",
        "None",
        "bytes",
        "nested-list",
        "None-in-list",
        "int-in-list",
        "doc-without-text",
        "doc-text-not-str",
        "word-out-of-range",
        "word-outside-sentence",
        "offset-not-int",
    ],
)
def test_wrong_types_raise_before_the_model_runs(pipe, monkeypatch, bad, error):
    counter = ModelCallCounter(monkeypatch, pipe.model)
    with pytest.raises(error):
        pipe(bad, **LOW)
    assert counter.calls == 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"mention_threshold": 1.5}, ValueError),
        ({"coref_threshold": -0.1}, ValueError),
        ({"relation_threshold": float("nan")}, ValueError),
        ({"relation_threshold": "0.5"}, TypeError),
        ({"mention_treshold": 0.5}, TypeError),  # misspelt parameter
        ({"batch_size": 0}, ValueError),
        ({"entity_types": "Chemical"}, TypeError),  # a bare string is not read as its letters
        ({"relation_types": ["cid"]}, ValueError),  # not this model's type name
    ],
    ids=["above-1", "negative", "nan", "string", "unknown-parameter", "batch-size-0", "bare-type", "unknown-type"],
)
def test_bad_parameters_raise_before_the_model_runs(pipe, monkeypatch, kwargs, error):
    counter = ModelCallCounter(monkeypatch, pipe.model)
    with pytest.raises(error):
        pipe(["Aspirin causes ulcers."], **kwargs)
    assert counter.calls == 0


@pytest.mark.parametrize(
    "value", [np.float32(0.5), np.float16(0.5), torch.tensor(0.5), np.int64(1)], ids=["f32", "f16", "tensor", "i64"]
)
def test_numpy_and_torch_numbers_are_thresholds_like_floats(pipe, value):
    expected = pipe("Aspirin causes ulcers.", mention_threshold=float(value))
    assert pipe("Aspirin causes ulcers.", mention_threshold=value) == expected


def test_a_numpy_batch_size_is_accepted(pipe):
    texts = ["Aspirin causes ulcers.", "Lithium caused tremor."]
    assert pipe(texts, batch_size=np.int64(2)) == pipe(texts, batch_size=2)


def test_the_pipeline_factory_builds_the_processor_from_a_tokenizer(model, tokenizer):
    extractor = pipeline("joint-re", model=model, tokenizer=tokenizer)
    assert type(extractor.processor).__name__ == "SimMemREProcessor"
    assert_valid_document(extractor("Aspirin causes ulcers.", **LOW), "Aspirin causes ulcers.", model.config)


def test_a_processor_of_another_simmemre_version_is_named(model, processor):
    """An installed, imported simmemre older than a saved folder loaded it with its own processor, which lacks what
    the folder's pipeline calls; the pipeline said to load it "with trust_remote_code=True", as it just had been."""

    class OlderProcessor:  # an older SimMemREProcessor: no encode_document_arrays
        tokenizer = processor.tokenizer
        check_input, encode_document, collate, decode = (
            processor.check_input,
            processor.encode_document,
            processor.collate,
            processor.decode,
        )

    with pytest.raises(
        ValueError, match="is from another version of SimMemRE than this pipeline .* encode_document_arr"
    ):
        pipeline("joint-re", model=model, processor=OlderProcessor())


# ----------------------------------------------------------------------------------------------------
# Batching, thresholds, long documents
# ----------------------------------------------------------------------------------------------------


def test_a_model_switched_back_to_training_is_named_once(model, processor, caplog):
    """A shared model put back into train mode (online fine-tuning, a notebook) predicted with dropout, without a
    word: two identical calls could differ."""
    import logging

    extractor = pipeline("joint-re", model=model, processor=processor)
    model.train()
    try:
        with caplog.at_level(logging.WARNING):
            extractor(TEXTS[0], **LOW)
            extractor(TEXTS[0], **LOW)
    finally:
        model.eval()
    assert caplog.text.count("the model is in training mode") == 1


def test_batching_gives_the_same_results_as_one_by_one(pipe):
    one_by_one = [pipe(text, **LOW) for text in TEXTS]
    for batch_size in (2, 5):
        assert_same_predictions(pipe(TEXTS, batch_size=batch_size, **LOW), one_by_one)


def test_generator_input_is_processed_lazily(pipe):
    results = pipe((text for text in TEXTS[:3]), batch_size=2, **LOW)
    assert not isinstance(results, list)
    assert_same_predictions(list(results), pipe(TEXTS[:3], **LOW))


def test_datasets_and_key_datasets_are_accepted(pipe):
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    rows = Dataset.from_list([{"id": f"d{i}", "text": text} for i, text in enumerate(TEXTS)])
    expected = pipe([{"id": f"d{i}", "text": text} for i, text in enumerate(TEXTS)], **LOW)
    assert_same_predictions(list(pipe(rows, batch_size=2, **LOW)), expected)
    assert_same_predictions(list(pipe(KeyDataset(rows, "text"), **LOW)), pipe(TEXTS, **LOW))


def test_thresholds_override_per_call_and_at_construction(pipe, model, processor):
    text = TEXTS[0]
    assert pipe(text) == {"text": text, "entities": [], "relations": []}  # config thresholds 0.85: nothing
    low = pipe(text, **LOW)
    assert low["entities"] and low["relations"]
    assert pipe(text, **{**LOW, "relation_threshold": 1.0})["relations"] == []
    separate = pipe(text, **{**LOW, "coref_threshold": 1.0})  # nothing merges: one entity per mention
    merged = pipe(text, **{**LOW, "coref_threshold": 0.0})  # every pair scores above 0: one cluster
    assert all(len(e["mentions"]) == 1 for e in separate["entities"])
    assert len(merged["entities"]) == 1 < len(separate["entities"])
    # mention threshold filters by score
    cut = sorted(m["score"] for m in mentions_of(low))[len(mentions_of(low)) // 2]
    assert all(m["score"] >= cut for m in mentions_of(pipe(text, **{**LOW, "mention_threshold": cut})))
    # entity threshold: only entities with a mention at or above it stay, with all their mentions
    confident = pipe(text, **{**LOW, "entity_threshold": cut})
    assert confident["entities"] and len(confident["entities"]) < len(low["entities"])
    assert all(max(m["score"] for m in e["mentions"]) >= cut for e in confident["entities"])
    assert all(e in low["entities"] for e in confident["entities"])
    # construction-time thresholds, overridden per call
    configured = pipeline("joint-re", model=model, processor=processor, **LOW)
    assert_same_predictions([configured(text)], [low], tolerance=0.0)
    assert configured(text, mention_threshold=1.0)["entities"] == []
    assert model.config.mention_threshold == 0.85  # the config is not changed by overrides


def _relations_by_name(document):
    entity = [tuple(sorted((m["start"], m["end"]) for m in e["mentions"])) for e in document["entities"]]
    return {(entity[r["head"]], entity[r["tail"]], r["type"], r["score"]) for r in document["relations"]}


def test_type_selection_keeps_those_types_and_reindexes_relations(tokenizer, processor):
    torch.manual_seed(1)
    model = SimMemREModel(tiny_config(tokenizer, relation_types=["CID", "TREATS"])).eval()
    extractor = pipeline("joint-re", model=model, processor=processor)
    text, low = TEXTS[0], {**LOW, "coref_threshold": 1.0}  # one entity per mention: both types occur
    everything = extractor(text, **low)
    chemicals = extractor(text, entity_types=["Chemical"], **low)
    treats = extractor(text, relation_types=["TREATS"], **low)
    assert {e["type"] for e in everything["entities"]} == {"Chemical", "Disease"}
    assert {r["type"] for r in everything["relations"]} == {"CID", "TREATS"}
    assert chemicals["entities"] == [e for e in everything["entities"] if e["type"] == "Chemical"]
    kept = {tuple(sorted((m["start"], m["end"]) for m in e["mentions"])) for e in chemicals["entities"]}
    assert chemicals["relations"] and _relations_by_name(chemicals) == {
        relation for relation in _relations_by_name(everything) if relation[0] in kept and relation[1] in kept
    }
    assert treats["entities"] == everything["entities"]
    assert treats["relations"] == [r for r in everything["relations"] if r["type"] == "TREATS"]
    configured = pipeline("joint-re", model=model, processor=processor, relation_types=["TREATS"], **low)
    assert configured(text) == treats and configured(text, relation_types=["CID", "TREATS"]) == everything
    assert extractor(text, entity_types=[], **low)["relations"] == []


def test_long_document_is_not_truncated(tokenizer, processor):
    torch.manual_seed(1)
    # one-word spans and full coreference merging keep the cascade cheap with every candidate kept
    model = SimMemREModel(tiny_config(tokenizer, max_span_size=1)).eval()
    extractor = pipeline("joint-re", model=model, processor=processor)
    rng = random.Random(0)
    vocabulary = "aspirin causes ulcers in patients treated with ibuprofen which induced headache".split()
    sentences = [" ".join(rng.choice(vocabulary) for _ in range(12)).capitalize() + "." for _ in range(60)]
    text = " ".join(sentences) + " Naproxen"
    features = processor.encode_document(text)
    assert len(features["input_ids"]) > 700  # well beyond 512 subwords (and the tiny encoder's 126-subword window)
    result = extractor(text, mention_threshold=0.0, coref_threshold=0.0, relation_threshold=0.0)
    spans = {(m["start"], m["end"]) for m in mentions_of(result)}
    assert spans == {tuple(span) for span in features["word_char_spans"]}  # every word, to the very last one
    assert (len(text) - len("Naproxen"), len(text)) in spans
    tail_start = next(
        start
        for (start, _), (first, _) in zip(features["word_char_spans"], features["word_subword_spans"])
        if first >= 512
    )
    assert any(start >= tail_start for start, _ in spans)


def test_a_long_document_does_not_pad_the_short_ones_of_its_batch(pipe, monkeypatch):
    """A batch ran as one model call padded to its longest document: one 50k-word document among 31 abstracts took
    6 GB at batch 32 against 2 GB alone. Documents of similar length now share a call; results stay in input order."""
    short, long = "Aspirin causes ulcers.", " ".join(["Lithium caused tremor in rats."] * 60)
    texts = [short, short + " Naloxone.", long, short, "Ibuprofen induced headache."]
    one_by_one = pipe(texts, batch_size=1, **LOW)
    widths = []
    predict = pipe.model.predict
    monkeypatch.setattr(
        pipe.model, "predict", lambda batch, **k: widths.append(batch["input_ids"].shape) or predict(batch, **k)
    )
    batched = pipe(texts, batch_size=5, **LOW)
    assert_same_predictions(batched, one_by_one)
    assert sorted(shape[0] for shape in widths) == [1, 4] and max(shape[1] for shape in widths if shape[0] == 4) < 20
