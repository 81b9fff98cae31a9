# coding=utf-8
"""Preprocessing for SimMemRE: subword alignment, input validation, batching and decoding.

This file is Hub remote code: it may import only the standard library, numpy, torch, transformers
and the other remote-code files of this model (relatively).
"""

import itertools
import numbers
import re
from collections.abc import Mapping

import numpy as np
import torch
from transformers import ProcessorMixin
from transformers.utils import logging

from .segmentation_simmemre import segment_spans, split_sentences, split_words

# Keys of one encoded document; `collate` pads each with the value given here.
FEATURE_PADDING = {
    "input_ids": None,  # the tokenizer's pad id
    "attention_mask": 0,
    "word_subword_spans": 0,
    "word_char_spans": 0,
    "word_sentence_ids": 0,
    "word_mask": 0,
    "text_codepoints": -1,
}
SPAN_FEATURES = ("word_subword_spans", "word_char_spans")
# Lone UTF-16 surrogates cannot be encoded by the (Rust) tokenizer. They are replaced one for one (offsets do not
# move) in the copy of the text the model sees; predictions are decoded against the caller's string.
_SURROGATES = re.compile("[\ud800-\udfff]")
# Text that given words must cover: anything but whitespace and invisible format characters (soft hyphen, zero-width
# spaces and joiners, word joiner, byte-order mark), which a tokenizer may leave between its tokens.
_VISIBLE_TEXT = re.compile("[^\\s\u00ad\u200b-\u200f\u2060-\u2064\ufeff]+")

logger = logging.get_logger(__name__)


def span_array(spans) -> np.ndarray:
    """`(n, 2)` int64 array of `(start, end)` pairs (a list of tuples is read as one flat run of integers, about twice
    as fast as `np.asarray` reads the tuples)."""
    if isinstance(spans, np.ndarray):
        return spans.astype(np.int64, copy=False).reshape(-1, 2)
    return np.fromiter(itertools.chain.from_iterable(spans), dtype=np.int64, count=2 * len(spans)).reshape(-1, 2)


def word_subword_spans_from_offsets(token_offsets, word_spans) -> np.ndarray:
    """Each word's subword range `[first, last)` from the subwords' character offsets (the tokenizer's offset mapping
    of the running text): a word holds every subword whose characters overlap it.

    A subword that straddles a word boundary (byte-level BPE may join "IL" and "2" where the words split them) is
    shared by both words, so the input ids stay exactly the tokenizer's own tokenization of the text; both words
    max-pool it. A word that overlaps no subword (its characters were normalised away, e.g. a lone combining
    accent) takes the nearest subword before it (after it at the start of the text). Subwords over no word (a
    whitespace marker) stay in the input, in no word.

    Args:
        token_offsets: `(T, 2)` character `(start, end)` per subword, in text order.
        word_spans: `(W, 2)` character spans of the words, sorted and non-overlapping.
    Returns:
        `(W, 2)` int64 array of `(first, last)` per word, `last > first`; `T > 0` is required when `W > 0`.
    """
    offsets, words = span_array(token_offsets), span_array(word_spans)
    if len(words) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # Words overlapping subword t: those with start < t.end and end > t.start (a zero-width subword: strictly inside).
    first_word = np.searchsorted(words[:, 1], offsets[:, 0], side="right")
    counts = np.maximum(np.searchsorted(words[:, 0], offsets[:, 1], side="left") - first_word, 0)
    token_index = np.repeat(np.arange(len(offsets)), counts)
    word_index = np.repeat(first_word, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    first = np.full(len(words), len(offsets), dtype=np.int64)
    last = np.full(len(words), -1, dtype=np.int64)
    np.minimum.at(first, word_index, token_index)
    np.maximum.at(last, word_index, token_index)
    missing = last < 0
    if missing.any():
        # The nearest subword before the word (by start offset), else the first one.
        before = np.searchsorted(offsets[:, 0], words[missing, 0], side="left") - 1
        nearest = np.clip(before, 0, len(offsets) - 1)
        first[missing], last[missing] = nearest, nearest
    return np.stack([first, last + 1], axis=1)


# ----------------------------------------------------------------------------------------------------
# Input validation: written once, for the processor, the pipeline (through its processor) and the data layer.
# A check reports a problem through `fail(error_class, reason, field)`, which raises: the pipeline and the processor
# raise `error_class` (TypeError or ValueError) naming the document; the data layer raises its DocumentError.
# ----------------------------------------------------------------------------------------------------


def is_integer(value) -> bool:
    """An integer offset or index (numpy integers included; bools are not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_span(span, text_length: int, field: str, fail) -> tuple:
    """`(start, end)` of a `{"start", "end"}` mapping: integer offsets with `0 <= start < end <= text_length`."""
    if not isinstance(span, Mapping):
        fail(TypeError, f"expected an object with 'start' and 'end', got {type(span).__name__}", field)
    for key in ("start", "end"):
        if key not in span:
            fail(TypeError, "missing required field", f"{field}.{key}")
        if not is_integer(span[key]):
            fail(TypeError, f"expected an integer, got {span[key]!r}", f"{field}.{key}")
    start, end = int(span["start"]), int(span["end"])
    if start < 0 or start > text_length:
        fail(ValueError, f"offset {start} outside the text (length {text_length})", f"{field}.start")
    if end > text_length:
        fail(ValueError, f"offset {end} outside the text (length {text_length})", f"{field}.end")
    if start >= end:
        fail(ValueError, f"start {start} must be smaller than end {end}", f"{field}.end")
    return start, end


def check_span_list(spans, text_length: int, field: str, fail) -> list:
    """`[(start, end), ...]` of a list of spans (see `check_span`) in increasing, non-overlapping order."""
    if not isinstance(spans, (list, tuple)):
        fail(TypeError, f"expected list, got {type(spans).__name__}", field)
    checked, previous_end = [], 0
    for i, span in enumerate(spans):
        start, end = check_span(span, text_length, f"{field}[{i}]", fail)
        if start < previous_end:
            fail(
                ValueError,
                f"span [{start}, {end}) overlaps or precedes the previous one (ends at {previous_end})",
                f"{field}[{i}].start",
            )
        previous_end = end
        checked.append((start, end))
    return checked


def sentence_ids_of_words(word_spans, sentence_spans, fail, words_given: bool = True) -> np.ndarray:
    """The sentence index of each word `(W,)` (both sorted lists of `(start, end)`); every word must lie inside one
    (words split from the sentences, not given: the text outside every sentence is refused)."""
    if not len(word_spans):
        return np.zeros(0, dtype=np.int64)
    words = np.asarray(word_spans, dtype=np.int64).reshape(-1, 2)
    sentences = np.asarray(sentence_spans, dtype=np.int64).reshape(-1, 2)
    # The first sentence ending after the word's start (sentences are sorted and do not overlap).
    ids = np.searchsorted(sentences[:, 1], words[:, 0], side="right")
    found = ids < len(sentences)
    inside = found.copy()
    inside[found] = (sentences[ids[found], 0] <= words[found, 0]) & (words[found, 1] <= sentences[ids[found], 1])
    if not inside.all():
        k = int(np.argmin(inside))
        start, end = word_spans[k]
        if not words_given:
            fail(ValueError, f"the text at ({start}, {end}) lies outside every sentence", "sentences")
        fail(ValueError, f"word ({start}, {end}) does not lie inside one sentence", f"words[{k}]")
    return ids


def check_decode_inputs(prediction, spans, text, word_char_spans, entity_types, relation_types) -> None:
    """Raises where `decode`'s inputs do not belong together (another document's text or word spans, the two type
    lists swapped): they gave an IndexError, or mention texts cut from the wrong string."""
    if spans.size and int(spans.max()) > len(word_char_spans):
        raise ValueError(
            f"decode: a mention ends at word {int(spans.max())} of {len(word_char_spans)}: word_char_spans belong to "
            "another document (pass this document's batch['word_char_spans'][i])"
        )
    if spans.size and int(word_char_spans[spans[:, 1] - 1, 1].max()) > len(text):
        raise ValueError(
            f"decode: the word spans reach past the text ({len(text)} characters): pass the document's own text"
        )
    for name, labels, indices in (
        ("entity_types", entity_types, prediction["entity_types"]),
        ("relation_types", relation_types, torch.as_tensor(prediction["relations"]).reshape(-1, 3)[:, 2]),
    ):
        largest = int(torch.as_tensor(indices).max()) if len(indices) else -1
        if largest >= len(labels):
            raise ValueError(
                f"decode: {name} has {len(labels)} label(s) but the prediction uses index {largest}: pass "
                "model.config.entity_types, then model.config.relation_types"
            )


def _failing_for(document):
    """The `fail` of the checks above for the pipeline and the processor: raise naming the document and the field."""

    def fail(error_class, reason, field):
        raise error_class(f"document {document}: {field}: {reason}")

    return fail


class ValidatedInput(dict):
    """What `check_input` returns: `{"id", "text", "words", "sentences"}`, with `word_sentence_ids` (`(W,)`, or None
    when the text is still to be segmented) as an attribute; given again to `check_input`, it comes back as is, so the
    pipeline's validation is not repeated when the processor encodes the document."""

    word_sentence_ids = None


def check_input(item, index=0) -> ValidatedInput:
    """Validate one input (a str or a schema document) and return `{"id", "text", "words", "sentences"}`.

    Raises `TypeError` / `ValueError` naming the document (its `id`, else its position `index`) and the field, before
    anything is tokenized. Gold `entities`/`relations` and any other field of a schema document are ignored. Given
    `words` and `sentences` (lists of `{"start", "end"}`) keep their spans (copied as new `{"start", "end"}` dicts, any
    other key dropped); neither: the text is segmented; only
    `words`: sentences are grouped from them; only `sentences`: words are split inside them (as the data layer's
    `add_segmentation` does). Every word must lie inside one sentence.
    """
    if isinstance(item, ValidatedInput):
        return item
    if isinstance(item, str):
        return ValidatedInput(id=None, text=item, words=None, sentences=None)
    if not isinstance(item, Mapping):
        where = "an input" if index is None else f"input {index}"
        raise TypeError(
            f"{where}: expected a str or a schema document (dict with a 'text' field), got {type(item).__name__}"
        )
    document_id = item.get("id")
    # A document without id is named by its position, worded apart from an integer id ("document 1").
    named = "without an id" if index is None else f"at input {index} (no id)"  # (None: no position known)
    fail = _failing_for(named if document_id is None else repr(document_id))
    if "text" not in item:
        fail(ValueError, "missing required field (a schema document needs a 'text' field)", "text")
    text = item["text"]
    if isinstance(text, (list, tuple)) and isinstance(document_id, (list, tuple)):  # `dataset[:n]`: columns
        fail(
            TypeError,
            "is a list: this is a batch of columns (dataset[:n]); pass the dataset or a list of documents",
            "text",
        )
    if not isinstance(text, str):
        fail(TypeError, f"must be a str, got {type(text).__name__}", "text")
    words, sentences = item.get("words"), item.get("sentences")
    if words is None and sentences is None:
        return ValidatedInput(id=item.get("id"), text=text, words=None, sentences=None)
    if words is not None:
        word_spans = check_span_list(words, len(text), "words", fail)
        previous_end = 0
        for position, (start, end) in enumerate(word_spans + [(len(text), len(text))]):
            word = text[start:end]
            if word != word.strip():  # mentions are built from words: they would carry the spaces
                what = "only whitespace" if not word.strip() else "leading or trailing whitespace"
                fail(
                    ValueError,
                    f"{word!r} ({start}, {end}) has {what}; a word is a run of non-space text",
                    f"words[{position}]",
                )
            # Text between words would never be read: words for another version of the text, or `words: []`.
            if start > previous_end and not text[previous_end:start].isspace():
                uncovered = _VISIBLE_TEXT.search(text, previous_end, start)
                if uncovered:
                    fail(
                        ValueError,
                        f"the text at ({uncovered.start()}, {uncovered.end()}) {uncovered.group()[:40]!r} lies outside "
                        "every given word; words must cover all non-space text (leave words out to segment the text)",
                        "words",
                    )
            previous_end = end
    if sentences is None:  # grouped from the given words
        ranges = split_sentences(text, word_spans)
        sentence_spans = [(word_spans[first][0], word_spans[last - 1][1]) for first, last in ranges]
    else:
        sentence_spans = check_span_list(sentences, len(text), "sentences", fail)
    if words is None:  # split with the sentences' bounds as word boundaries
        word_spans = split_words(text, [bound for span in sentence_spans for bound in span])
    validated = ValidatedInput(
        id=item.get("id"),
        text=text,
        words=[{"start": start, "end": end} for start, end in word_spans],
        sentences=[{"start": start, "end": end} for start, end in sentence_spans],
    )
    validated.word_sentence_ids = sentence_ids_of_words(word_spans, sentence_spans, fail, words_given=words is not None)
    return validated


class SimMemREProcessor(ProcessorMixin):
    r"""
    Turns raw text or schema documents into [`SimMemREModel`] inputs, and model outputs back into schema documents.

    The running text is tokenized once, as the encoder saw text in pretraining, and each word takes the subwords
    that overlap it by character offsets (`word_subword_spans_from_offsets`; JEREX tokenized word by word, which
    drops byte-level BPE's space marker and gives SentencePiece a stray "▁" before punctuation). A tokenizer
    without offsets (a slow, Python-only one) falls back to word-by-word tokenization with a warning; there a word
    the tokenizer maps to nothing becomes `[UNK]`. The model adds `[CLS]`/`[SEP]` per encoder window itself, so
    `input_ids` hold only the text's subwords.
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    # The one validation of inputs: the pipeline calls it through its processor.
    check_input = staticmethod(check_input)

    def __init__(self, tokenizer=None, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self._warned_word_by_word = False
        self._warned_unknown = False

    # -- encoding -----------------------------------------------------------------------------------
    def encode_document(self, item, index=0) -> dict:
        """One document (str or schema dict) -> dict of python lists (see `FEATURE_PADDING` for the keys; a span is a
        `[start, end]` list).

        The input is validated first (`check_input`); without both `words` and `sentences` the text is segmented."""
        return {key: values.tolist() for key, values in self.encode_document_arrays(item, index).items()}

    def encode_document_arrays(self, item, index=0) -> dict:
        """`encode_document` as int64 numpy arrays, `(n,)` or `(n, 2)` for the spans: what `collate` pads, without the
        round trip through python lists (the pipeline's path)."""
        document = self.check_input(item, index)
        text, words = _SURROGATES.sub("\ufffd", document["text"]), document["words"]
        if words is None:
            word_spans, sentence_word_ranges = segment_spans(text)
            # Segmented words lie in their sentences by construction: each takes its word range's index.
            counts = [last - first for first, last in sentence_word_ranges]
            word_sentence_ids = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        else:  # checked by `check_input`, which also found each word's sentence
            word_spans = [(w["start"], w["end"]) for w in words]
            word_sentence_ids = document.word_sentence_ids
        word_spans = span_array(word_spans)
        input_ids, word_subword_spans = self._subwords(text, word_spans)
        return {
            "input_ids": input_ids,
            "attention_mask": np.ones(input_ids.shape[0], dtype=np.int64),
            "word_subword_spans": word_subword_spans,
            "word_char_spans": word_spans,
            "word_sentence_ids": word_sentence_ids,
            "word_mask": np.ones(word_spans.shape[0], dtype=np.int64),
            "text_codepoints": np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64),
        }

    def _subwords(self, text: str, word_spans: np.ndarray) -> tuple:
        """`(input_ids (T,), word_subword_spans (W, 2))` of a document, int64 arrays: the running text's subwords (see
        the class docstring)."""
        if word_spans.shape[0] == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
        if getattr(self.tokenizer, "is_fast", False):
            # verbose=False: the document is not cut to the encoder's length (the model encodes it in windows).
            # split_special_tokens: a literal "[SEP]" or "<pad>" in the text is text, not a control token.
            encoding = self.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False, split_special_tokens=True
            )
            if encoding["input_ids"]:
                spans = word_subword_spans_from_offsets(encoding["offset_mapping"], word_spans)
                input_ids = np.asarray(encoding["input_ids"], dtype=np.int64)
                self._warn_about_unknown_subwords(text, input_ids, encoding["offset_mapping"])
                return input_ids, spans
        elif not self._warned_word_by_word:
            logger.warning(
                "%s gives no character offsets, so words are tokenized one by one: subwords may differ from the "
                "tokenizer's own tokenization of the text. Load the fast tokenizer (use_fast=True) to avoid this.",
                type(self.tokenizer).__name__,
            )
            self._warned_word_by_word = True
        input_ids, spans = self._word_by_word_subwords([text[start:end] for start, end in word_spans.tolist()])
        input_ids, spans = np.asarray(input_ids, dtype=np.int64), np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        # Each subword's characters are its word's (for the warning's example).
        offsets = np.repeat(word_spans, spans[:, 1] - spans[:, 0], axis=0)
        self._warn_about_unknown_subwords(text, input_ids, offsets)
        return input_ids, spans

    def _warn_about_unknown_subwords(self, text: str, input_ids: np.ndarray, offsets) -> None:
        """Once per processor: the text holds characters the encoder reads only as the unknown token (a script or
        symbols outside the vocabulary, or a run of letters longer than the tokenizer's limit: 100 for WordPiece)."""
        unknown_id = getattr(self.tokenizer, "unk_token_id", None)
        if self._warned_unknown or unknown_id is None:
            return
        unknown = np.flatnonzero(input_ids == unknown_id)
        if unknown.size:
            start, end = offsets[int(unknown[0])]
            logger.warning(
                "%d of %d subwords of a document are the tokenizer's unknown token (first: %r): the encoder cannot "
                "read that text, so mentions in it are unlikely to be found. An encoder whose vocabulary covers "
                "the text's script reads it; for Latin text, check that the tokenizer lower-cases as its vocabulary "
                "needs (do_lower_case). (Shown once.)",
                unknown.size,
                input_ids.size,
                text[start:end][:40],
            )
            self._warned_unknown = True

    def _word_by_word_subwords(self, word_strings: list) -> tuple:
        """`(input_ids, word_subword_spans)` tokenizing each word alone (JEREX); an empty word becomes `[UNK]`."""
        encoded = self.tokenizer(word_strings, add_special_tokens=False, verbose=False, split_special_tokens=True)
        encoded = encoded["input_ids"]
        input_ids, spans = [], []
        for ids in encoded:
            ids = ids or [self.tokenizer.unk_token_id]
            spans.append((len(input_ids), len(input_ids) + len(ids)))
            input_ids.extend(ids)
        return input_ids, spans

    def collate(self, features: list) -> dict:
        """Pad a list of `encode_document` (or `encode_document_arrays`) outputs into a batch of tensors."""
        batch = {}
        for key, pad in FEATURE_PADDING.items():
            if pad is None:
                pad = self.tokenizer.pad_token_id or 0
            rows = [f[key] for f in features]
            length = max((len(r) for r in rows), default=0)
            row_shape = (length, 2) if key in SPAN_FEATURES else (length,)
            # numpy converts lists of ints several times faster than torch.tensor does.
            padded = np.full((len(rows), *row_shape), pad, dtype=np.int64)
            for row, values in enumerate(rows):
                if len(values):
                    padded[row, : len(values)] = np.asarray(values, dtype=np.int64).reshape(-1, *row_shape[1:])
            batch[key] = torch.from_numpy(padded)
        return batch

    def __call__(self, documents, return_tensors="pt", **kwargs):
        """Encode a string, a schema document, or a list of them into a padded batch of torch tensors. Documents are
        never truncated or padded to a length (the model encodes long ones in windows), so tokenizer options such as
        `truncation` or `max_length` are refused rather than ignored."""
        if kwargs:
            raise TypeError(
                f"SimMemREProcessor got unexpected keyword(s) {sorted(kwargs)}: it takes the documents and "
                "return_tensors='pt'; documents are never truncated (long ones are encoded in windows)"
            )
        if return_tensors not in ("pt", None):
            raise ValueError(f"SimMemREProcessor returns torch tensors (return_tensors='pt'), got {return_tensors!r}")
        if isinstance(documents, (str, Mapping)):
            documents = [documents]
        if not isinstance(documents, (list, tuple)):
            raise TypeError(f"expected a str, a document dict or a list of them, got {type(documents).__name__}")
        features = [self.encode_document_arrays(item, index) for index, item in enumerate(documents)]
        return self.collate(features)

    # -- decoding -----------------------------------------------------------------------------------
    def decode(self, prediction: dict, text: str, word_char_spans, entity_types, relation_types, document_id=None):
        """One document's inference output (see `SimMemREModel.extract`) -> schema document with scores.

        Args:
            prediction: dict with `mention_word_spans` [n, 2], `mention_scores` [n], `mention_clusters` [n],
                `entity_types` [c], `entity_scores` [c], `relations` [q, 3] (head, tail, type), `relation_scores` [q].
            text: the original string; offsets of the result index it exactly.
            word_char_spans: [num_words, 2] character spans of the words the model saw.
            entity_types, relation_types: the model's label lists (`model.config.entity_types`, `.relation_types`).
            document_id: put first in the result as `id` when given.
        Returns:
            `{"id"?, "text", "entities": [{"type", "score", "mentions": [{"start", "end", "text", "score"}]}],
            "relations": [{"head", "tail", "type", "score"}]}`; the pipeline adds `truncated` where a cap bound.
        """
        if not isinstance(prediction, Mapping) or "mention_word_spans" not in prediction:
            raise TypeError(
                "decode: prediction must be one document's dict of output.predictions (SimMemREModel.extract), got "
                f"{type(prediction).__name__}"
                + (" with keys " + str(sorted(prediction)) if isinstance(prediction, Mapping) else "")
            )
        if not isinstance(text, str):
            raise TypeError(f"decode: text must be the document's str, got {type(text).__name__}")
        # Only the mentions' first and last words are looked up, not every word's span.
        word_char_spans = torch.as_tensor(word_char_spans).reshape(-1, 2).cpu().numpy()
        spans = torch.as_tensor(prediction["mention_word_spans"]).reshape(-1, 2).cpu().numpy()
        check_decode_inputs(prediction, spans, text, word_char_spans, entity_types, relation_types)
        starts, ends = word_char_spans[spans[:, 0], 0].tolist(), word_char_spans[spans[:, 1] - 1, 1].tolist()
        mention_scores = prediction["mention_scores"].tolist()
        clusters = prediction["mention_clusters"].tolist()
        entities = [
            {"type": entity_types[t], "score": s, "mentions": []}
            for t, s in zip(prediction["entity_types"].tolist(), prediction["entity_scores"].tolist())
        ]
        for start, end, score, cluster in zip(starts, ends, mention_scores, clusters):
            entities[cluster]["mentions"].append({"start": start, "end": end, "text": text[start:end], "score": score})
        for entity in entities:
            entity["mentions"].sort(key=lambda m: (m["start"], m["end"]))
        relations = [
            {"head": h, "tail": t, "type": relation_types[r], "score": s}
            for (h, t, r), s in zip(prediction["relations"].tolist(), prediction["relation_scores"].tolist())
        ]
        document = {"text": text, "entities": entities, "relations": relations}
        if document_id is not None:
            document = {"id": document_id, **document}
        return document
