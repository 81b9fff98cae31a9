# coding=utf-8
"""Preprocessing for SimMemRE: subword alignment, input validation, batching and decoding.

This file is Hub remote code: it may import only the standard library, numpy, torch, transformers
and the other remote-code files of this model (relatively).
"""

import numbers
from collections.abc import Mapping

import numpy as np
import torch
from transformers import ProcessorMixin

from .segmentation_simmemre import segment_text

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


class _WordSubwordCache(dict):
    """word -> subword ids (tuple), for tokenizers that split words independently. Bounded by `limit` words, and
    tied to one tokenizer vocabulary (`vocabulary_size`; adding tokens changes it). Copies and pickles of the
    processor (`to_dict`, `datasets.map` workers) start empty instead of carrying the cache."""

    limit = 200_000

    def __init__(self):
        super().__init__()
        self.vocabulary_size = None

    def __deepcopy__(self, memo):
        return _WordSubwordCache()

    def __reduce__(self):
        return _WordSubwordCache, ()


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
            fail(ValueError, f"span [{start}, {end}) overlaps or precedes the previous one (ends at {previous_end})",
                 f"{field}[{i}].start")
        previous_end = end
        checked.append((start, end))
    return checked


def sentence_ids_of_words(word_spans, sentence_spans, fail) -> list:
    """The sentence index of each word (both sorted lists of `(start, end)`); every word must lie inside one."""
    ids = []
    sentence_index = 0
    for k, (start, end) in enumerate(word_spans):
        while sentence_index < len(sentence_spans) and sentence_spans[sentence_index][1] <= start:
            sentence_index += 1
        if sentence_index == len(sentence_spans) or not (
            sentence_spans[sentence_index][0] <= start and end <= sentence_spans[sentence_index][1]
        ):
            fail(ValueError, f"word ({start}, {end}) does not lie inside one sentence", f"words[{k}]")
        ids.append(sentence_index)
    return ids


def _failing_for(document):
    """The `fail` of the checks above for the pipeline and the processor: raise naming the document and the field."""

    def fail(error_class, reason, field):
        raise error_class(f"document {document}: {field}: {reason}")

    return fail


def check_input(item, index=0) -> dict:
    """Validate one input (a str or a schema document) and return `{"id", "text", "words", "sentences"}`.

    Raises `TypeError` / `ValueError` naming the document (its `id`, else its position `index`) and the field, before
    anything is tokenized. Gold `entities`/`relations` and any other field of a schema document are ignored. `words`
    and `sentences` (lists of `{"start", "end"}`) go together: both are used, or neither (the text is segmented); one
    without the other is refused. Every word must lie inside one sentence.
    """
    if isinstance(item, str):
        return {"id": None, "text": item, "words": None, "sentences": None}
    if not isinstance(item, Mapping):
        raise TypeError(
            f"input {index}: expected a str or a schema document (dict with a 'text' field), got {type(item).__name__}"
        )
    fail = _failing_for(repr(item.get("id", index)))
    if "text" not in item:
        fail(ValueError, "missing required field (a schema document needs a 'text' field)", "text")
    text = item["text"]
    if not isinstance(text, str):
        fail(TypeError, f"must be a str, got {type(text).__name__}", "text")
    words, sentences = item.get("words"), item.get("sentences")
    if (words is None) != (sentences is None):
        # Words alone do not say where sentences end, and sentences alone do not split words: refuse rather than
        # silently segment the text again.
        given, missing = ("words", "sentences") if sentences is None else ("sentences", "words")
        fail(ValueError, f"'{given}' is given without '{missing}'; give both, or neither to segment the text",
             missing)
    if words is None:
        return {"id": item.get("id"), "text": text, "words": None, "sentences": None}
    word_spans = check_span_list(words, len(text), "words", fail)
    sentence_spans = check_span_list(sentences, len(text), "sentences", fail)
    sentence_ids_of_words(word_spans, sentence_spans, fail)
    return {
        "id": item.get("id"),
        "text": text,
        "words": [{"start": start, "end": end} for start, end in word_spans],
        "sentences": [{"start": start, "end": end} for start, end in sentence_spans],
    }


class SimMemREProcessor(ProcessorMixin):
    r"""
    Turns raw text or schema documents into [`SimMemREModel`] inputs, and model outputs back into schema documents.

    Words are tokenized one by one (as JEREX does) so every word maps to a contiguous subword range; a word the
    tokenizer maps to nothing (a lone control or combining character) becomes `[UNK]`. The model adds
    `[CLS]`/`[SEP]` per encoder window itself, so `input_ids` hold only word subwords.
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    # The one validation of inputs: the pipeline calls it through its processor.
    check_input = staticmethod(check_input)

    def __init__(self, tokenizer=None, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self._word_subwords = _WordSubwordCache()

    # -- encoding -----------------------------------------------------------------------------------
    def encode_document(self, item, index=0) -> dict:
        """One document (str or schema dict) -> dict of python lists (see `FEATURE_PADDING` for the keys).

        The input is validated first (`check_input`); without both `words` and `sentences` the text is segmented."""
        document = self.check_input(item, index)
        text, words, sentences = document["text"], document["words"], document["sentences"]
        if words is None:
            sentences, words = segment_text(text)
        word_spans = [(w["start"], w["end"]) for w in words]
        sentence_spans = [(s["start"], s["end"]) for s in sentences]
        # Given words were checked above and segmented ones lie in their sentences by construction.
        word_sentence_ids = sentence_ids_of_words(word_spans, sentence_spans, _failing_for(index))

        word_strings = [text[start:end] for start, end in word_spans]
        encoded = self._subword_ids(word_strings)
        unk = self.tokenizer.unk_token_id
        input_ids, word_subword_spans = [], []
        for ids in encoded:
            ids = ids or [unk]
            word_subword_spans.append((len(input_ids), len(input_ids) + len(ids)))
            input_ids.extend(ids)
        return {
            "input_ids": input_ids,
            "attention_mask": [1] * len(input_ids),
            "word_subword_spans": word_subword_spans,
            "word_char_spans": word_spans,
            "word_sentence_ids": word_sentence_ids,
            "word_mask": [1] * len(word_spans),
            "text_codepoints": [ord(c) for c in text],
        }

    def _splits_words_like_bert(self) -> bool:
        """Whether one pre-split call gives every word the same subwords as tokenizing it alone: true for WordPiece
        with BERT's character-local normaliser and pre-tokenizer (BERT, SciBERT, MiniLM); byte-level BPE, for
        example, encodes a word differently after a space."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        return (
            backend is not None
            and type(backend.model).__name__ == "WordPiece"
            and type(backend.pre_tokenizer).__name__ == "BertPreTokenizer"
            and type(backend.normalizer).__name__ in ("BertNormalizer", "NoneType")
        )

    def _subword_ids(self, word_strings: list, word_by_word: bool = False) -> list:
        """Subword ids of each word (an empty list for a word the tokenizer drops).

        Where words tokenize independently (`_splits_words_like_bert`), each distinct word is tokenized once per
        processor (a cache: words recur within and across documents) and the new words of a document in one
        pre-split call (faster than a batch of one-word sequences); otherwise word by word."""
        if not word_strings:
            return []
        if word_by_word or not self._splits_words_like_bert():
            return self.tokenizer(word_strings, add_special_tokens=False)["input_ids"]
        cache = self._word_subwords
        if cache.vocabulary_size != len(self.tokenizer):
            cache.clear()
            cache.vocabulary_size = len(self.tokenizer)
        new_words = list(dict.fromkeys(word for word in word_strings if word not in cache))
        if new_words:
            # verbose=False: the document is not cut to the encoder's length (the model encodes it in windows).
            encoding = self.tokenizer(new_words, is_split_into_words=True, add_special_tokens=False, verbose=False)
            per_word = [[] for _ in new_words]
            for token_id, word in zip(encoding["input_ids"], encoding.word_ids()):
                per_word[word].append(token_id)
            if len(cache) + len(new_words) > cache.limit:
                cache.clear()
            cache.update(zip(new_words, map(tuple, per_word)))
        return [list(cache[word]) for word in word_strings]

    def collate(self, features: list) -> dict:
        """Pad a list of `encode_document` outputs into a batch of tensors."""
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

    def predict(self, model, features, device=None, **options) -> list:
        """Run `model.extract` on a batch of encoded documents and bring its predictions to the host: the inference
        step that the pipeline, the trainer's evaluation and threshold calibration share (each decodes with
        :meth:`decode`).

        Args:
            model: a [`SimMemREModel`]; a model without `extract` (older remote code) infers in its forward.
            features: `encode_document` outputs (a list, padded here with :meth:`collate`) or a batch of tensors.
            device: where the batch goes first (default: where it is).
            options: options of `extract` (thresholds, `use_memory`, `token_representations`, `inference_cache`).
        Returns:
            one dict of CPU tensors per document (see `SimMemREOutput.predictions`).
        """
        batch = self.collate(features) if isinstance(features, (list, tuple)) else features
        if device is not None:
            batch = {key: value.to(device) for key, value in batch.items()}
        extract = getattr(model, "extract", model)
        return self.predictions_to_host(extract(**batch, **options).predictions)

    @staticmethod
    def predictions_to_host(predictions: list) -> list:
        """Model predictions (one dict of tensors per document) with their tensors on the CPU, in one device-to-host
        copy per dtype for the whole batch instead of one per tensor (each copy waits for the device). CPU
        predictions come back as they are (detached)."""
        entries = [(doc, key, value) for doc, prediction in enumerate(predictions) for key, value in prediction.items()
                   if isinstance(value, torch.Tensor)]
        host = [dict(prediction) for prediction in predictions]
        by_dtype = {}
        for doc, key, value in entries:
            if value.device == torch.device("cpu"):
                host[doc][key] = value.detach()
            else:
                by_dtype.setdefault(value.dtype, []).append((doc, key, value))
        for group in by_dtype.values():
            flat = torch.cat([value.detach().reshape(-1) for _, _, value in group]).cpu()
            for (doc, key, value), part in zip(group, flat.split([value.numel() for _, _, value in group])):
                host[doc][key] = part.view(value.shape)
        return host

    def __call__(self, documents, return_tensors="pt", **kwargs):
        """Encode a string, a schema document, or a list of them into a padded batch."""
        if isinstance(documents, (str, dict)):
            documents = [documents]
        if not isinstance(documents, (list, tuple)):
            raise TypeError(f"expected a str, a document dict or a list of them, got {type(documents).__name__}")
        features = [self.encode_document(item, index) for index, item in enumerate(documents)]
        return self.collate(features)

    # -- decoding -----------------------------------------------------------------------------------
    def decode(self, prediction: dict, text: str, word_char_spans, entity_types, relation_types, document_id=None):
        """One document's inference output (see `SimMemREModel.extract`) -> schema document with scores.

        Args:
            prediction: dict with `mention_word_spans` [n, 2], `mention_scores` [n], `mention_clusters` [n],
                `entity_types` [c], `entity_scores` [c], `relations` [q, 3] (head, tail, type), `relation_scores` [q].
            text: the original string; offsets of the result index it exactly.
            word_char_spans: [num_words, 2] character spans of the words the model saw.
        """
        word_char_spans = torch.as_tensor(word_char_spans).tolist()
        spans = prediction["mention_word_spans"].tolist()
        mention_scores = prediction["mention_scores"].tolist()
        clusters = prediction["mention_clusters"].tolist()
        entities = [
            {"type": entity_types[t], "score": s, "mentions": []}
            for t, s in zip(prediction["entity_types"].tolist(), prediction["entity_scores"].tolist())
        ]
        for (first_word, last_word), score, cluster in zip(spans, mention_scores, clusters):
            start, end = word_char_spans[first_word][0], word_char_spans[last_word - 1][1]
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
