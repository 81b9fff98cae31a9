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
