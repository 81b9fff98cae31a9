"""SimMemREProcessor: word-by-word subword alignment and its word cache."""

import pytest
from pipeline_helpers import one_torch_thread, processor, tokenizer  # noqa: F401  (fixtures)
from transformers import AutoTokenizer

from simmemre import SimMemREProcessor
from simmemre.segmentation_simmemre import segment_text


@pytest.mark.parametrize("text", [
    "Naloxone reverses the antihypertensive effect of clonidine (0.3 mg/kg, i.v.) in SHR rats.",
    "Re\u0301sume\u0301 \u0301 \x00 control, 🇫🇷 👨\u200d👩\u200d👧, 中文字, एस्पिरिन से अल्सर, Аспирин.",
    "x" * 150 + " word-longer-than-wordpiece's-limit",
])
def test_pre_split_tokenization_equals_word_by_word(tokenizer, text):
    processor = SimMemREProcessor(tokenizer)  # an empty word cache
    assert processor._splits_words_like_bert()  # MiniLM: the one-call path is the one under test
    words = [text[w["start"] : w["end"]] for w in segment_text(text)[1]]
    expected = processor._subword_ids(words, word_by_word=True)
    assert processor._subword_ids(words) == expected  # new words: one pre-split call
    assert processor._subword_ids(words) == expected  # the same words again: from the cache


def test_word_cache_is_dropped_when_the_vocabulary_grows(minilm_path):
    processor = SimMemREProcessor(AutoTokenizer.from_pretrained(minilm_path))
    before = processor._subword_ids(["naloxone"])[0]
    processor.tokenizer.add_tokens(["naloxone"])
    after = processor._subword_ids(["naloxone"])[0]
    assert len(before) > 1 and after == [processor.tokenizer.convert_tokens_to_ids("naloxone")]


def test_word_cache_is_not_copied_pickled_or_saved(processor, tmp_path):
    import copy
    import pickle

    processor._subword_ids(["aspirin", "ulcers"])
    assert processor._word_subwords
    assert not copy.deepcopy(processor)._word_subwords
    assert not pickle.loads(pickle.dumps(processor))._word_subwords
    processor.save_pretrained(tmp_path)
    assert "subword" not in (tmp_path / "processor_config.json").read_text()


# ----------------------------------------------------------------------------------------------------
# Input validation (the one copy: the pipeline calls it through its processor, the data layer reuses its span checks)
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document, error, field",
    [
        ({"id": "d", "text": "abc", "words": [{"start": 0, "end": 9}], "sentences": [{"start": 0, "end": 3}]},
         ValueError, "words[0].end"),
        ({"id": "d", "text": "abc", "words": [{"start": 0, "end": 3}], "sentences": [{"start": 0, "end": 2}]},
         ValueError, "words[0]"),
        ({"id": "d", "text": "abc", "words": [{"start": "0", "end": 3}], "sentences": [{"start": 0, "end": 3}]},
         TypeError, "words[0].start"),
        ({"id": "d", "text": "abc", "words": [{"start": 0, "end": 3}], "sentences": "0-3"}, TypeError, "sentences"),
        ({"id": "d", "text": "abc", "words": [{"start": 1, "end": 3}, {"start": 0, "end": 1}],
          "sentences": [{"start": 0, "end": 3}]}, ValueError, "words[1].start"),
        ({"id": "d", "text": 7}, TypeError, "text"),
        ({"id": "d"}, ValueError, "text"),
    ],
    ids=["offset-out-of-range", "word-outside-sentence", "offset-not-int", "spans-not-a-list", "words-unsorted",
         "text-not-str", "no-text"],
)
def test_bad_documents_raise_naming_the_document_and_field(processor, document, error, field):
    with pytest.raises(error) as raised:
        processor.encode_document(document)
    assert "document 'd'" in str(raised.value) and f" {field}: " in str(raised.value)


def test_check_input_normalizes_strings_and_documents(processor):
    assert processor.check_input("abc") == {"id": None, "text": "abc", "words": None, "sentences": None}
    document = {"id": "d", "text": "ab", "words": [{"start": 0, "end": 2}], "sentences": [{"start": 0, "end": 2}],
                "entities": [{"type": "T"}]}
    assert processor.check_input(document) == {"id": "d", "text": "ab", "words": [{"start": 0, "end": 2}],
                                               "sentences": [{"start": 0, "end": 2}]}
    with pytest.raises(ValueError, match="'words' is given without 'sentences'"):  # one without the other: refused
        processor.check_input({"text": "ab", "words": [{"start": 0, "end": 2}]})


def test_a_document_without_id_is_named_by_its_position(processor):
    with pytest.raises(ValueError, match="document 3: text"):
        processor.check_input({"words": []}, 3)
    with pytest.raises(TypeError, match="input 2: expected a str or a schema document"):
        processor.check_input(42, 2)
