"""Running-text tokenization: for tokenizers of each algorithm family, the model's subwords are exactly the
tokenizer's own tokenization of the text, and every word holds the subwords that overlap it."""

import pytest

from simmemre import SimMemREProcessor


def assert_words_hold_their_overlapping_subwords(encoded, offsets, document_id):
    for (start, end), (first, last) in zip(encoded["word_char_spans"], encoded["word_subword_spans"]):

        def overlaps(t):
            token_start, token_end = offsets[t]
            return token_start < end and token_end > start if token_end > token_start else start < token_start < end

        if not any(overlaps(t) for t in range(first, last)):
            continue  # a word of no subword borrows its neighbour's
        assert overlaps(first) and overlaps(last - 1), (document_id, start, end)
        assert first == 0 or not overlaps(first - 1), (document_id, start, end)
        assert last == len(offsets) or not overlaps(last), (document_id, start, end)


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "sentencepiece"])
def test_subwords_of_every_cdr_test_document_are_the_tokenizers_own(kind, family_tokenizers, cdr_test_documents):
    tokenizer = family_tokenizers[kind]
    processor = SimMemREProcessor(tokenizer)
    for document in cdr_test_documents:
        reference = tokenizer(document["text"], add_special_tokens=False, return_offsets_mapping=True)
        for given in (document, document["text"]):  # PubTator words (split at mentions), then the pipeline's own
            encoded = processor.encode_document(given)
            assert encoded["input_ids"] == reference["input_ids"], document["id"]
            assert_words_hold_their_overlapping_subwords(encoded, reference["offset_mapping"], document["id"])


def test_byte_level_bpe_keeps_the_space_marker_that_word_by_word_tokenization_drops(family_tokenizers):
    tokenizer = family_tokenizers["bpe"]
    encoded = SimMemREProcessor(tokenizer).encode_document("Aspirin causes ulcers.")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    first, last = encoded["word_subword_spans"][1]  # "causes", after a space
    assert tokens[first].startswith("Ġ")
    word_alone = tokenizer.convert_ids_to_tokens(tokenizer("causes", add_special_tokens=False)["input_ids"])
    assert not word_alone[0].startswith("Ġ")  # what word-by-word tokenization fed the encoder


def test_sentencepiece_punctuation_gets_no_stray_metaspace(family_tokenizers):
    tokenizer = family_tokenizers["sentencepiece"]
    text = "Naloxone (0.3 mg/kg, i.v.) reverses it."
    encoded = SimMemREProcessor(tokenizer).encode_document(text)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert sum(token == "▁" or token.startswith("▁") for token in tokens) == len(text.split())
