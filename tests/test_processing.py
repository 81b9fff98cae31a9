"""SimMemREProcessor: running-text subword alignment by character offsets, and input validation."""

import copy
import re

import pytest
import torch

from simmemre import SimMemREProcessor
from simmemre.processing_simmemre import word_subword_spans_from_offsets
from simmemre.segmentation_simmemre import segment_text


@pytest.mark.parametrize(
    "text",
    [
        "Naloxone reverses the antihypertensive effect of clonidine (0.3 mg/kg, i.v.) in SHR rats.",
        "Re\u0301sume\u0301 \u0301 \x00 control, 🇫🇷 👨\u200d👩\u200d👧, 中文字, एस्पिरिन से अल्सर, Аспирин.",
        "x" * 150 + " word-longer-than-wordpiece's-limit",
    ],
)
def test_running_text_subwords_are_the_tokenizers_and_cover_every_word(tokenizer, text):
    processor = SimMemREProcessor(tokenizer)
    encoded = processor.encode_document(text)
    assert encoded["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(encoded["word_subword_spans"]) == len(encoded["word_char_spans"])
    assert all(0 <= start < end <= len(encoded["input_ids"]) for start, end in encoded["word_subword_spans"])


def test_a_subword_straddling_a_word_boundary_belongs_to_both_words():
    # offsets of subwords "IL" | "2-" | "rec" over the words "IL2" split as "IL", "2", "-rec"
    offsets = [(0, 2), (2, 4), (4, 7)]
    words = [(0, 2), (2, 3), (3, 7)]
    assert word_subword_spans_from_offsets(offsets, words).tolist() == [[0, 1], [1, 2], [1, 3]]


def test_a_word_without_subwords_takes_the_nearest_one_before_it():
    # the middle word's characters were normalised away (no subword overlaps it)
    spans = word_subword_spans_from_offsets([(0, 2), (5, 7)], [(0, 2), (3, 4), (5, 7)])
    assert spans.tolist() == [[0, 1], [0, 1], [1, 2]]
    assert word_subword_spans_from_offsets([(5, 7)], [(0, 2), (5, 7)]).tolist() == [[0, 1], [0, 1]]


def test_subwords_over_no_word_stay_in_the_input():
    # a whitespace marker subword (3, 4) between the words: in the input, in no word
    assert word_subword_spans_from_offsets([(0, 3), (3, 4), (4, 6)], [(0, 3), (4, 6)]).tolist() == [[0, 1], [2, 3]]


def test_a_tokenizer_without_offsets_falls_back_to_word_by_word_with_a_warning(tokenizer, caplog):
    class NoOffsets:  # a slow tokenizer: no `is_fast`, no offset mapping
        unk_token_id = tokenizer.unk_token_id

        def __call__(self, texts, **kwargs):
            return tokenizer(texts, **kwargs)

    processor = SimMemREProcessor(tokenizer)
    processor.tokenizer = NoOffsets()
    with caplog.at_level("WARNING"):
        encoded = processor.encode_document("Aspirin-induced ulcers.")
    assert "no character offsets" in caplog.text
    words = ["Aspirin", "-", "induced", "ulcers", "."]
    assert encoded["input_ids"] == [i for w in words for i in tokenizer(w, add_special_tokens=False)["input_ids"]]


def test_text_the_encoder_reads_only_as_unknown_tokens_is_warned_about_once(tokenizer, caplog):
    """A letter run longer than WordPiece's 100 characters, or a script outside the vocabulary, became [UNK] without a
    word: the model could not find mentions there and nothing said why."""
    processor = SimMemREProcessor(tokenizer)
    with caplog.at_level("WARNING"):
        processor.encode_document("Aspirin causes ulcers.")
        assert "unknown token" not in caplog.text
        processor.encode_document("Aspirin " + "a" * 101 + " ulcers.")
        processor.encode_document("Aspirin " + "b" * 101 + " ulcers.")
    assert caplog.text.count("unknown token") == 1
    assert f"1 of 8 subwords of a document are the tokenizer's unknown token (first: '{'a' * 40}')" in caplog.text


# ----------------------------------------------------------------------------------------------------
# Input validation (the one copy: the pipeline calls it through its processor, the data layer reuses its span checks)
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document, error, field",
    [
        (
            {"id": "d", "text": "abc", "words": [{"start": 0, "end": 9}], "sentences": [{"start": 0, "end": 3}]},
            ValueError,
            "words[0].end",
        ),
        (
            {"id": "d", "text": "abc", "words": [{"start": 0, "end": 3}], "sentences": [{"start": 0, "end": 2}]},
            ValueError,
            "words[0]",
        ),
        (
            {"id": "d", "text": "abc", "words": [{"start": "0", "end": 3}], "sentences": [{"start": 0, "end": 3}]},
            TypeError,
            "words[0].start",
        ),
        (
            {
                "id": "d",
                "text": "ab cd ef",
                "words": [{"start": 0, "end": 2}, {"start": 3, "end": 5}, {"start": 6, "end": 8}],
                "sentences": [{"start": 0, "end": 2}, {"start": 6, "end": 8}],
            },
            ValueError,
            "words[1]",
        ),
        (
            {
                "id": "d",
                "text": "ab cd",
                "words": [{"start": 0, "end": 2}, {"start": 3, "end": 5}],
                "sentences": [{"start": 0, "end": 2}],
            },
            ValueError,
            "words[1]",
        ),
        ({"id": "d", "text": "abc", "words": [{"start": 0, "end": 3}], "sentences": "0-3"}, TypeError, "sentences"),
        (
            {
                "id": "d",
                "text": "abc",
                "words": [{"start": 1, "end": 3}, {"start": 0, "end": 1}],
                "sentences": [{"start": 0, "end": 3}],
            },
            ValueError,
            "words[1].start",
        ),
        ({"id": "d", "text": 7}, TypeError, "text"),
        ({"id": "d"}, ValueError, "text"),
    ],
    ids=[
        "offset-out-of-range",
        "word-outside-sentence",
        "word-between-sentences",
        "word-after-the-last-sentence",
        "offset-not-int",
        "spans-not-a-list",
        "words-unsorted",
        "text-not-str",
        "no-text",
    ],
)
def test_bad_documents_raise_naming_the_document_and_field(processor, document, error, field):
    with pytest.raises(error) as raised:
        processor.encode_document(document)
    assert "document 'd'" in str(raised.value) and f" {field}: " in str(raised.value)


def test_check_input_normalizes_strings_and_documents(processor):
    assert processor.check_input("abc") == {"id": None, "text": "abc", "words": None, "sentences": None}
    document = {
        "id": "d",
        "text": "ab",
        "words": [{"start": 0, "end": 2}],
        "sentences": [{"start": 0, "end": 2}],
        "entities": [{"type": "T"}],
    }
    assert processor.check_input(document) == {
        "id": "d",
        "text": "ab",
        "words": [{"start": 0, "end": 2}],
        "sentences": [{"start": 0, "end": 2}],
    }
    only_words = processor.check_input({"text": "ab", "words": [{"start": 0, "end": 2}]})  # sentences grouped
    assert only_words["sentences"] == [{"start": 0, "end": 2}]


def test_a_validated_document_is_encoded_without_validating_it_again(processor, monkeypatch):
    """The pipeline validates each input before the processor encodes it: given words were checked twice."""
    from simmemre import processing_simmemre

    document = {"text": "Aspirin causes ulcers", "words": [{"start": 0, "end": 7}, {"start": 8, "end": 14}]}
    document["words"].append({"start": 15, "end": 21})
    expected = processor.encode_document(document)
    validated = processor.check_input(document)

    def validated_again(*args):
        pytest.fail("the words were checked again")

    monkeypatch.setattr(processing_simmemre, "check_span_list", validated_again)
    monkeypatch.setattr(processing_simmemre, "sentence_ids_of_words", validated_again)
    assert processor.check_input(validated) is validated
    assert processor.encode_document(validated) == expected


@pytest.mark.parametrize(
    "words, uncovered",
    [([], "(0, 7) 'Aspirin'"), ([(0, 7), (8, 14)], "(15, 21) 'ulcers'"), ([(8, 14), (15, 21)], "(0, 7) 'Aspirin'")],
)
def test_given_words_must_cover_the_text(processor, words, uncovered):
    """Text outside every given word was never read: `words: []` gave an empty document without a word."""
    document = {"id": "d", "text": "Aspirin causes ulcers", "words": [{"start": s, "end": e} for s, e in words]}
    with pytest.raises(ValueError, match=re.escape(f"document 'd': words: the text at {uncovered} lies outside")):
        processor.check_input(document)


def test_given_words_may_leave_out_whitespace_and_invisible_format_characters(processor):
    text = "\ufeffAspirin\u200b causes\u00a0\n ulcers "
    words = [{"start": 1, "end": 8}, {"start": 10, "end": 16}, {"start": 19, "end": 25}]
    assert processor.check_input({"text": text, "words": words})["words"] == words


def test_a_document_without_id_is_named_by_its_position(processor):
    with pytest.raises(ValueError, match=re.escape("document at input 3 (no id): text")):
        processor.check_input({"words": []}, 3)
    with pytest.raises(TypeError, match="input 2: expected a str or a schema document"):
        processor.check_input(42, 2)


def test_an_integer_id_and_a_position_are_named_apart(processor):
    """Both read "document 1", so with integer ids (DocRED-style) a message could point at the wrong document."""
    with pytest.raises(TypeError, match=re.escape("document 1: text")):
        processor.check_input({"id": 1, "text": None}, 0)
    with pytest.raises(TypeError, match=re.escape("document at input 1 (no id): text")):
        processor.check_input({"text": None}, 1)


def test_a_document_whose_id_is_none_is_named_by_its_position(processor):
    with pytest.raises(TypeError, match=re.escape("document at input 2 (no id): text")):
        processor.check_input({"id": None, "text": None}, 2)


@pytest.mark.parametrize("word", [(0, 8), (7, 9)], ids=["trailing-space", "only-whitespace"])
def test_given_words_with_whitespace_are_refused_naming_the_word(processor, word):
    document = {"text": "Aspirin  causes", "words": [{"start": word[0], "end": word[1]}]}
    document["sentences"] = [{"start": 0, "end": 15}]
    with pytest.raises(ValueError, match=r"words\[0\]: .* whitespace"):
        processor.check_input(document)


def test_segmented_words_take_the_sentence_that_contains_them(processor):
    text = "Naloxone reverses clonidine. Aspirin-induced ulcers!\n\nA new paragraph (e.g. this one). Done"
    features = processor.encode_document_arrays(text)
    sentences, _ = segment_text(text)
    assert features["word_sentence_ids"].max() == len(sentences) - 1
    for (start, end), sentence_id in zip(features["word_char_spans"].tolist(), features["word_sentence_ids"].tolist()):
        assert sentences[sentence_id]["start"] <= start and end <= sentences[sentence_id]["end"]


def test_a_batch_of_arrays_equals_a_batch_of_lists(processor):
    texts = ["Naloxone reverses clonidine.", "Aspirin-induced ulcers in rats. Lidocaine"]
    from_arrays = processor.collate([processor.encode_document_arrays(text) for text in texts])
    from_lists = processor.collate([processor.encode_document(text) for text in texts])
    assert from_arrays.keys() == from_lists.keys()
    assert all(torch.equal(from_arrays[key], from_lists[key]) for key in from_arrays)


def test_lone_surrogates_are_encoded_in_place_without_moving_offsets(processor):
    text = "Ibuprofen \ud800 induced headache."
    features = processor.encode_document(text)
    clean = processor.encode_document(text.replace("\ud800", "\ufffd"))
    assert features["input_ids"] == clean["input_ids"] and features["word_char_spans"] == clean["word_char_spans"]
    assert processor(text)["input_ids"].shape[-1] == len(features["input_ids"])


def test_special_token_strings_in_the_text_are_encoded_as_text(processor):
    tokenizer = processor.tokenizer
    features = processor.encode_document("Aspirin [SEP] causes [CLS] ulcers [PAD] .")
    assert not set(features["input_ids"]) & {tokenizer.sep_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id}


def test_special_token_strings_stay_text_after_the_tokenizer_was_called_without_splitting(processor):
    tokenizer = processor.tokenizer
    processor.encode_document("Aspirin causes ulcers.")  # the next call may take the backend directly
    tokenizer("Aspirin [SEP] causes", split_special_tokens=False)  # leaves the backend keeping special tokens whole
    features = processor.encode_document("Aspirin [SEP] causes [CLS] ulcers [PAD] .")
    assert not set(features["input_ids"]) & {tokenizer.sep_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id}


def test_truncation_and_padding_set_on_the_tokenizer_do_not_cut_the_document(tokenizer):
    tokenizer = copy.deepcopy(tokenizer)
    text = "Naloxone reverses the antihypertensive effect of clonidine in spontaneously hypertensive rats."
    expected = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokenizer.backend_tokenizer.enable_truncation(4)
    tokenizer.backend_tokenizer.enable_padding(length=64)
    processor = SimMemREProcessor(tokenizer)
    for _ in range(2):  # the first call resets the backend's settings; the second may take the backend directly
        assert processor.encode_document(text)["input_ids"] == expected


def test_the_processor_takes_any_mapping_as_one_document(processor):
    from types import MappingProxyType

    document = {"id": "d1", "text": "Aspirin causes ulcers."}
    assert torch.equal(processor(MappingProxyType(document))["input_ids"], processor(document)["input_ids"])


def test_decode_turns_word_spans_into_character_offsets_grouped_by_entity(processor):
    """A hand-made prediction: each mention's offsets run from its first word's start to its last word's end, its
    entity's mentions in text order, relations keep head and tail."""
    text = "Aspirin causes gastric ulcers, aspirin says."
    word_char_spans = [[0, 7], [8, 14], [15, 22], [23, 29], [29, 30], [31, 38], [39, 43], [43, 44]]
    prediction = {
        "mention_word_spans": torch.tensor([[5, 6], [2, 4], [0, 1]]),
        "mention_scores": torch.tensor([0.625, 0.75, 0.875]),
        "mention_clusters": torch.tensor([0, 1, 0]),
        "entity_types": torch.tensor([0, 1]),
        "entity_scores": torch.tensor([0.875, 0.75]),
        "relations": torch.tensor([[0, 1, 0]]),
        "relation_scores": torch.tensor([0.5]),
    }
    document = processor.decode(prediction, text, word_char_spans, ["Chemical", "Disease"], ["CID"], document_id="d")
    assert document == {
        "id": "d",
        "text": text,
        "entities": [
            {
                "type": "Chemical",
                "score": 0.875,
                "mentions": [
                    {"start": 0, "end": 7, "text": "Aspirin", "score": 0.875},
                    {"start": 31, "end": 38, "text": "aspirin", "score": 0.625},
                ],
            },
            {
                "type": "Disease",
                "score": 0.75,
                "mentions": [{"start": 15, "end": 29, "text": "gastric ulcers", "score": 0.75}],
            },
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID", "score": 0.5}],
    }


# -- mutation audit (h2mut-b) --


def test_decode_names_types_by_their_index_and_keeps_each_score_with_its_own_mention(processor):
    """Two relation types and mention scores that sorting would reorder: with one relation type an index read off by
    one names the same type, and with scores already in order a score detached from its mention goes unnoticed."""
    text = "Aspirin causes gastric ulcers."
    prediction = {
        "mention_word_spans": torch.tensor([[3, 4], [0, 1], [2, 4]]),  # ulcers, Aspirin, gastric ulcers
        "mention_scores": torch.tensor([0.875, 0.75, 0.25]),
        "mention_clusters": torch.tensor([1, 0, 1]),
        "entity_types": torch.tensor([0, 1]),
        "entity_scores": torch.tensor([0.625, 0.5]),
        "relations": torch.tensor([[0, 1, 1]]),
        "relation_scores": torch.tensor([0.375]),
    }
    words = [[0, 7], [8, 14], [15, 22], [23, 29], [29, 30]]
    document = processor.decode(prediction, text, words, ["Chemical", "Disease"], ["Other", "CID"])
    assert [[(m["text"], m["score"]) for m in entity["mentions"]] for entity in document["entities"]] == [
        [("Aspirin", 0.75)],
        [("gastric ulcers", 0.25), ("ulcers", 0.875)],
    ]
    assert [(entity["type"], entity["score"]) for entity in document["entities"]] == [
        ("Chemical", 0.625),
        ("Disease", 0.5),
    ]
    assert document["relations"] == [{"head": 0, "tail": 1, "type": "CID", "score": 0.375}]
