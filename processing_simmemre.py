# coding=utf-8
"""Preprocessing for SimMemRE: text segmentation, subword alignment and candidate spans.

This file is Hub remote code: it may import only the standard library, numpy, torch, transformers
and the other remote-code files of this model (relatively).
"""

import bisect
import re
import unicodedata
from typing import Iterable, Sequence

# ----------------------------------------------------------------------------------------------------
# Text segmentation
#
# Deterministic, offset-preserving and dependency-free, because the same code has to run inside a Hub
# user's process (remote code may import nothing but torch/transformers/numpy). Words are runs of
# letters/digits or single other visible characters, with combining marks (accents in decomposed text,
# Indic vowel signs, variation selectors) kept on the character they modify; sentences end at terminal
# punctuation followed by whitespace and a plausible sentence start, at CJK full stops, and at blank lines.
# ----------------------------------------------------------------------------------------------------

WORD_PATTERN = re.compile(r"[^\W_]+|\S")
_SENTENCE_END_CHARS = ".!?"
_CJK_SENTENCE_END_CHARS = "。！？"
_CLOSING_CHARS = "\"')]}»”’"
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
# A sentence can only end after a word whose last character is one of these (or at a blank line).
_SENTENCE_FINAL_CHARS = _SENTENCE_END_CHARS + _CJK_SENTENCE_END_CHARS + _CLOSING_CHARS
# Tokens that end with a period without ending the sentence ("e.g. Aspirin", "et al. 2019", "Fig. 3").
ABBREVIATIONS = frozenset(
    "al approx ca cf dr e.g eg etc fig figs i.e ie inc jr ltd mr mrs ms no nos prof resp sr st vs viz vol".split()
)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _natural_words(text: str) -> list[tuple[int, int]]:
    """`WORD_PATTERN` matches, with combining marks (Unicode category M, which `\\w` does not match)
    joined to the character before them and letters after such a mark joined to the same word, so
    "Re\\u0301sume\\u0301" (decomposed "Résumé") or Devanagari "हिन्दी" stay one word."""
    words: list[tuple[int, int]] = []
    for match in WORD_PATTERN.finditer(text):
        start, end = match.span()
        if words and words[-1][1] == start:
            previous_start, previous_end = words[-1]
            if _is_mark(text[start]) or (
                _is_mark(text[previous_end - 1]) and match.group()[0].isalnum() and text[previous_start].isalnum()
            ):
                words[-1] = (previous_start, end)
                continue
        words.append((start, end))
    return words


def split_words(text: str, split_points: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Character spans `(start, end)` of the words of `text`.

    `split_points` are character offsets at which a word boundary is forced (e.g. annotated mention
    boundaries that fall inside a run of letters such as "Lidocaine-induced" or "antiHIV").
    """
    points = sorted(set(split_points))
    if not points:
        return _natural_words(text)
    words: list[tuple[int, int]] = []
    point_index = 0
    for start, end in _natural_words(text):
        while point_index < len(points) and points[point_index] <= start:
            point_index += 1
        cut_index = point_index
        while cut_index < len(points) and points[cut_index] < end:
            words.append((start, points[cut_index]))
            start = points[cut_index]
            cut_index += 1
        words.append((start, end))
    return words


def _is_sentence_start(first: str) -> bool:
    return first.isupper() or first.isdigit() or first in "\"'([{«“‘" or not first.isalpha() or not first.isascii()


def split_sentences(
    text: str, words: Sequence[tuple[int, int]], no_break_spans: Iterable[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """Group `words` into sentences; returns `(first_word, last_word_exclusive)` index pairs.

    No sentence boundary is placed strictly inside any of `no_break_spans` (character spans), so an
    annotated mention never straddles two sentences.
    """
    if not words:
        return []
    protected = sorted(no_break_spans)
    # A break before word i is forbidden if a protected span starts before word i and ends after its start.
    forbidden = set()
    if protected:
        word_starts = [start for start, _ in words]
        for span_start, span_end in protected:
            first = bisect.bisect_right(word_starts, span_start)
            last = bisect.bisect_left(word_starts, span_end)
            forbidden.update(range(first, last))

    boundaries = [0]
    for i in range(1, len(words)):
        previous_start, previous_end = words[i - 1]
        start = words[i][0]
        if text[previous_end - 1] not in _SENTENCE_FINAL_CHARS and (
            previous_end == start or "\n" not in text[previous_end:start]
        ):
            continue  # the common case, decided without the checks below
        gap = text[previous_end:start]
        if _PARAGRAPH_BREAK.search(gap):
            breaks = True
        elif text[previous_start:previous_end] in _CJK_SENTENCE_END_CHARS:
            breaks = True
        else:
            breaks = gap != "" and _ends_sentence(text, words, i - 1) and _is_sentence_start(text[start])
        if breaks and i not in forbidden:
            boundaries.append(i)
    boundaries.append(len(words))
    return [(boundaries[k], boundaries[k + 1]) for k in range(len(boundaries) - 1)]


def _ends_sentence(text: str, words: Sequence[tuple[int, int]], index: int) -> bool:
    """Whether word `index` is terminal punctuation (possibly followed by closing quotes/brackets)."""
    k = index
    while k >= 0 and text[words[k][0] : words[k][1]] in _CLOSING_CHARS and words[k][1] - words[k][0] == 1:
        k -= 1
    if k < 0:
        return False
    token = text[words[k][0] : words[k][1]]
    if token in _CJK_SENTENCE_END_CHARS:
        return True
    if token not in _SENTENCE_END_CHARS:
        return False
    if token != "." or k == 0:
        return True
    # "e.g." / "Fig." / "J." — the period belongs to an abbreviation or an initial if it touches it.
    previous_start, previous_end = words[k - 1]
    if previous_end != words[k][0]:
        return True
    previous = text[previous_start:previous_end]
    if len(previous) == 1 and previous.isalpha() and previous.isupper():
        return False
    abbreviation = previous.lower()
    j = k - 1
    # Walk back over "e.g" style dotted abbreviations.
    while j >= 2 and words[j - 1][1] == words[j][0] and text[words[j - 1][0] : words[j - 1][1]] == "." and words[j - 2][1] == words[j - 1][0]:
        abbreviation = text[words[j - 2][0] : words[j - 2][1]].lower() + "." + abbreviation
        j -= 2
    return abbreviation not in ABBREVIATIONS


def segment_text(
    text: str, split_points: Iterable[int] = (), no_break_spans: Iterable[tuple[int, int]] = ()
) -> tuple[list[dict], list[dict]]:
    """Split `text` into sentences and words, both as lists of `{"start", "end"}` character spans.

    Every word lies inside exactly one sentence; offsets index `text` exactly (end exclusive).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = split_words(text, split_points)
    sentence_word_ranges = split_sentences(text, words, no_break_spans)
    sentences = [{"start": words[a][0], "end": words[b - 1][1]} for a, b in sentence_word_ranges]
    return sentences, [{"start": s, "end": e} for s, e in words]


# ----------------------------------------------------------------------------------------------------
# Model inputs
# ----------------------------------------------------------------------------------------------------

import numpy as np  # noqa: E402  (kept below the segmentation helpers, which need only the standard library)
import torch  # noqa: E402
from transformers import ProcessorMixin  # noqa: E402

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


def _as_document(item, index):
    """Accept a raw string or a schema document; return (text, words, sentences) with validation."""
    if isinstance(item, str):
        return item, None, None
    if isinstance(item, dict):
        if "text" not in item:
            raise ValueError(f"document {item.get('id', index)!r}: missing field 'text'")
        text = item["text"]
        if not isinstance(text, str):
            raise TypeError(f"document {item.get('id', index)!r}: field 'text' must be a str, got {type(text).__name__}")
        return text, item.get("words"), item.get("sentences")
    raise TypeError(f"input {index}: expected a str or a document dict with a 'text' field, got {type(item).__name__}")


class SimMemREProcessor(ProcessorMixin):
    r"""
    Turns raw text or schema documents into [`SimMemREModel`] inputs, and model outputs back into schema documents.

    Words are tokenized one by one (as JEREX does) so every word maps to a contiguous subword range; a word the
    tokenizer maps to nothing (a lone control or combining character) becomes `[UNK]`. The model adds
    `[CLS]`/`[SEP]` per encoder window itself, so `input_ids` hold only word subwords.
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    def __init__(self, tokenizer=None, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self._word_subwords = _WordSubwordCache()

    # -- encoding -----------------------------------------------------------------------------------
    def encode_document(self, item, index=0) -> dict:
        """One document (str or schema dict) -> dict of python lists (see `FEATURE_PADDING` for the keys)."""
        text, words, sentences = _as_document(item, index)
        if words is None or sentences is None:
            sentences, words = segment_text(text)
        word_spans = [(int(w["start"]), int(w["end"])) for w in words]
        sentence_spans = [(int(s["start"]), int(s["end"])) for s in sentences]
        word_sentence_ids = []
        sentence_index = 0
        for start, end in word_spans:
            while sentence_index < len(sentence_spans) and sentence_spans[sentence_index][1] <= start:
                sentence_index += 1
            if sentence_index == len(sentence_spans) or not (
                sentence_spans[sentence_index][0] <= start and end <= sentence_spans[sentence_index][1]
            ):
                raise ValueError(f"document {index}: word ({start}, {end}) does not lie inside one sentence")
            word_sentence_ids.append(sentence_index)

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
        pre-split call (about 3x faster on abstracts than a batch of one-word sequences); otherwise word by word."""
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
