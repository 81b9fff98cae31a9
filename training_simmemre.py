# coding=utf-8
"""Training SimMemRE with the Hugging Face `Trainer`.

- :func:`tokenize_documents`: schema documents -> a `datasets.Dataset` holding, per document, the processor's
  encoding plus the gold structure in word indices (tokenized once, by `datasets.map`).
- :class:`SimMemREDataCollator`: draws each document's training samples afresh every epoch (JEREX negative
  sampling, jerex/sampling) with an RNG derived from (data seed, epoch, document index), and pads them into the
  :class:`~simmemre.modeling_simmemre.TrainingTargets` of :meth:`SimMemREModel.forward` (as keyword arguments).
- :class:`SimMemRETrainer`: logs the four task losses, drives the two-stage memory warm-up (paper 3.3) from the
  trainer state, and evaluates by full end-to-end inference (:meth:`SimMemREModel.extract` through
  `SimMemREModel.predict`, decoded by `SimMemREProcessor.decode`, as the pipeline runs it) scored with the strict
  joint F1 metric.

This module is training-side library code, not Hub remote code.
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import itertools
import json
import logging
import math
import numbers
import os
import sys
import time
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, PredictionOutput, speed_metrics

from .cli_simmemre import GIVEN_LEVELS, THRESHOLD_NAMES
from .data_simmemre import (
    DocumentError,
    document_features,
    forced_split_note,
    normalize_document,
    validate_document,
)
from .metrics.joint_re_f1.joint_re_f1 import (
    THRESHOLD_SWEEP_LEVELS,
    _prf,
    joint_re_scores,
    relation_counts_by_threshold,
)
from .modeling_simmemre import TrainingTargets, _checked_threshold, candidate_spans, propagate_document_mentions
from .processing_simmemre import FEATURE_PADDING

logger = logging.getLogger(__name__)

# JEREX defaults (its configs). The paper's code passed only neg_relation_count to its data module, so it effectively
# trained with 100 negative coreference pairs per document (its CDR config); we keep JEREX's 200 as the default.
DEFAULT_SAMPLING = {
    "neg_mention_count": 200,
    "neg_coref_count": 200,
    "neg_relation_count": 200,
    "neg_mention_overlap_ratio": 0.5,
}


def _is_count(value, minimum: int) -> bool:
    """Whether `value` is an integer (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


TASK_LOSSES = ("mention_loss", "coref_loss", "entity_loss", "relation_loss")
GOLD_COLUMNS = ("gold_mention_spans", "gold_entity_mentions", "gold_entity_types", "gold_relations")
REFERENCE_COLUMNS = ("id", "text", "entities", "relations")


# ----------------------------------------------------------------------------------------------------
# Edit distance
# ----------------------------------------------------------------------------------------------------

try:  # optional speed-up; the DP below gives identical values
    from rapidfuzz.distance import Levenshtein as _RapidfuzzLevenshtein
except ImportError:  # pragma: no cover - depends on the environment
    _RapidfuzzLevenshtein = None


@functools.lru_cache(maxsize=262144)
def levenshtein(first: str, second: str) -> int:
    """Character-level Levenshtein distance (unit costs), as the model's `edit_distance_matrix` computes it."""
    if _RapidfuzzLevenshtein is not None:
        return int(_RapidfuzzLevenshtein.distance(first, second))
    if len(first) < len(second):
        first, second = second, first
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        current = [i]
        for j, b in enumerate(second, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


# ----------------------------------------------------------------------------------------------------
# Tokenization and gold structure
# ----------------------------------------------------------------------------------------------------


def gold_word_structure(
    doc: Mapping, word_char_spans, word_sentence_ids, entity_types: Sequence[str], relation_types: Sequence[str]
) -> dict:
    """The gold annotation of `doc` in word indices.

    Returns python lists (arrow-friendly):
        gold_mention_spans `[n, 2]`: distinct gold mention word spans (first, last + 1), in order of first occurrence
            (entity by entity); a span annotated for two entities is one mention;
        gold_entity_mentions `[E][k]`: indices into gold_mention_spans of each entity's mentions;
        gold_entity_types `[E]`: indices into `entity_types`;
        gold_relations `[q, 3]`: distinct (head entity, tail entity, index into `relation_types`).

    Raises :class:`DocumentError` (naming the document id and field) for a mention that does not start and end on
    word boundaries or crosses a sentence boundary, an unknown type, or a relation argument that does not exist.
    """
    doc_id = doc.get("id")
    text = doc.get("text", "")

    def fail(message, field):
        raise DocumentError(message, doc_id=doc_id, field=field)

    starts = {int(span[0]): index for index, span in enumerate(word_char_spans)}
    ends = {int(span[1]): index for index, span in enumerate(word_char_spans)}
    entity_index = {name: index for index, name in enumerate(entity_types)}
    relation_index = {name: index for index, name in enumerate(relation_types)}

    spans, span_position = [], {}
    entity_mentions, entity_type_ids = [], []
    for i, entity in enumerate(doc["entities"]):
        if entity["type"] not in entity_index:
            fail(
                f"entity type {entity['type']!r} is not one of the model's entity types {list(entity_types)}",
                f"entities[{i}].type",
            )
        entity_type_ids.append(entity_index[entity["type"]])
        members = []
        for j, mention in enumerate(entity["mentions"]):
            start, end = int(mention["start"]), int(mention["end"])
            first, last = starts.get(start), ends.get(end)
            if first is None or last is None or last < first:
                fail(
                    f"mention [{start}, {end}) {text[start:end]!r} is not aligned to word boundaries "
                    "(its start and end must be a word's start and end)",
                    f"entities[{i}].mentions[{j}]",
                )
            if word_sentence_ids[first] != word_sentence_ids[last]:
                fail(
                    f"mention [{start}, {end}) {text[start:end]!r} crosses a sentence boundary",
                    f"entities[{i}].mentions[{j}]",
                )
            span = (first, last + 1)
            if span not in span_position:
                span_position[span] = len(spans)
                spans.append(span)
            if span_position[span] not in members:
                members.append(span_position[span])
        entity_mentions.append(members)

    relations = []
    for i, relation in enumerate(doc["relations"]):
        for role in ("head", "tail"):
            if not 0 <= int(relation[role]) < len(entity_mentions):
                fail(f"entity index {relation[role]} does not exist", f"relations[{i}].{role}")
        if relation["type"] not in relation_index:
            fail(
                f"relation type {relation['type']!r} is not one of the model's relation types {list(relation_types)}",
                f"relations[{i}].type",
            )
        triple = [int(relation["head"]), int(relation["tail"]), relation_index[relation["type"]]]
        if triple not in relations:
            relations.append(triple)
    return {
        "gold_mention_spans": [list(span) for span in spans],
        "gold_entity_mentions": entity_mentions,
        "gold_entity_types": entity_type_ids,
        "gold_relations": relations,
    }


# Model selection: ties on metric_for_best_model go to the higher entity F1, then mention F1, then the later step.
SELECTION_TIE_BREAK = ("entity_f1", "mention_f1")


def given_input(row: Mapping, level: Optional[str]) -> Optional[dict]:
    """Gold input for `SimMemREModel.extract(given=...)` from a row of :func:`tokenize_documents` (its
    :func:`gold_word_structure` columns): `level` "mentions" gives the gold mention spans, "clusters" also the gold
    entities' clusters (a span of two entities is a row of each), "entities" also their types; `None` gives `None`
    (end to end). Entities without a mention are left out."""
    if level is None:
        return None
    if level not in GIVEN_LEVELS:
        raise ValueError(f"given: expected one of {list(GIVEN_LEVELS)} or None, got {level!r}")
    missing = [key for key in ("gold_mention_spans", "gold_entity_mentions", "gold_entity_types") if key not in row]
    if missing:
        raise ValueError(
            f"given={level!r} needs gold columns {missing} (rows of tokenize_documents), "
            f"document {row.get('id')!r} lacks them"
        )
    spans = [list(span) for span in row["gold_mention_spans"]]
    if level == "mentions":
        return {"mention_word_spans": spans}
    rows, clusters, types = [], [], []
    for members, entity_type in zip(row["gold_entity_mentions"], row["gold_entity_types"]):
        if not members:
            continue
        rows.extend(spans[index] for index in members)
        clusters.extend([len(types)] * len(members))
        types.append(entity_type)
    given = {"mention_word_spans": rows, "mention_clusters": clusters}
    if level == "entities":
        given["entity_types"] = types
    return given


def encode_training_document(doc: Mapping, processor, entity_types, relation_types, index: int = 0) -> dict:
    """`processor.encode_document(doc)` plus :func:`gold_word_structure` and `doc_index` (all python lists/ints)."""
    if not isinstance(doc, dict):  # datasets hands rows over as lazy mappings
        doc = {key: doc[key] for key in doc.keys()}
    for position, entity in enumerate(doc.get("entities") or []):
        # The entity loss pools over an entity's mentions: none would make it NaN (read_jsonl refuses this too).
        if not entity.get("mentions"):
            raise DocumentError(
                "an entity needs at least one mention",
                source=f"<training documents>[document {index}]",
                doc_id=doc.get("id"),
                field=f"entities[{position}].mentions",
            )
    try:
        encoded = processor.encode_document(doc, index)
    except ValueError as error:
        raise DocumentError(str(error), doc_id=doc.get("id"), field="words") from None
    encoded.update(
        gold_word_structure(doc, encoded["word_char_spans"], encoded["word_sentence_ids"], entity_types, relation_types)
    )
    encoded["doc_index"] = index
    encoded["length"] = len(encoded["input_ids"])  # for `train_sampling_strategy="group_by_length"`
    return encoded


def _python_rows(dataset):
    """`dataset` read as the python values of the schema: a `datasets.Dataset` under `with_format("torch")`, numpy,
    pandas or a column subset gave tensors (or dropped columns) where the checks, the decoding and the metric read ints
    and lists, and failed deep inside them (the collator itself tensorizes the python rows)."""
    from datasets import Dataset

    if isinstance(dataset, Dataset) and (dataset.format["type"] is not None or dataset.format["columns"] is not None):
        return dataset.with_format(None)
    return dataset


def _rows_to_reread(rows):
    """`rows` as something that can be read several times: scoring reads them once to encode, once to decode and once
    for the references, so a generator scored 0 documents (or lost its references) without a word."""
    return list(rows) if isinstance(rows, collections.abc.Iterator) else _python_rows(rows)


def _check_tokenized(dataset, name: str, columns) -> None:
    """Refuse what the Trainer would fail on deep inside (a KeyError in the collator, a torch sampler error): a
    dataset that is not the rows of `tokenize_documents`, or an empty one (its F1 scores would all read 0)."""
    if not hasattr(dataset, "column_names"):
        raise ValueError(f"{name}: a datasets.Dataset of tokenize_documents() rows, got {type(dataset).__name__}")
    missing = [column for column in columns if column not in (dataset.column_names or columns)]  # None: streamed
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; build it with tokenize_documents()")
    if hasattr(dataset, "__len__") and len(dataset) == 0:
        raise ValueError(f"{name} is empty")


def _check_label_lists(dataset, name: str, config, rows: int = 64) -> None:
    """Refuse rows tokenized with label lists other than the model's. `gold_entity_types` and `gold_relations` hold
    indices into the lists given to `tokenize_documents`; under another order (or other lists) they would train the
    model on swapped types without a word. The rows keep the type names too (`entities`, `relations`), so the first
    `rows` rows are read back through `config.entity_types` / `config.relation_types` and compared."""
    if "gold_entity_types" not in (dataset.column_names or GOLD_COLUMNS) or not hasattr(config, "entity_types"):
        return
    entity_types, relation_types = list(config.entity_types), list(config.relation_types)
    fix = "tokenize them with tokenize_documents(..., model.config.entity_types, model.config.relation_types)"
    for position, row in enumerate(itertools.islice(iter(dataset), rows)):
        where = f"{name} row {position} (document {row.get('id')!r})"
        for index, (entity, type_id) in enumerate(zip(row["entities"] or [], row["gold_entity_types"] or [])):
            given = entity_types[type_id] if 0 <= type_id < len(entity_types) else f"index {type_id}"
            if given != entity["type"]:
                raise ValueError(
                    f"{where}: entity {index} is a {entity['type']!r} but its tokenized type reads as {given!r} under "
                    f"the model's entity_types {entity_types}: the rows were tokenized with other label lists; {fix}"
                )
        named = {relation["type"] for relation in row["relations"] or []}
        read = {
            relation_types[r] if 0 <= r < len(relation_types) else f"index {r}" for *_, r in row["gold_relations"] or []
        }
        if named != read:
            raise ValueError(
                f"{where}: its relations are of types {sorted(named)} but their tokenized types read as "
                f"{sorted(read)} under the model's relation_types {relation_types}: the rows were tokenized with "
                f"other label lists; {fix}"
            )


def _naming_the_field(function, doc, index: int):
    """`function(doc)`; when it fails on a malformed document (a KeyError for no `relations`, a TypeError for offsets
    as strings, "not aligned to word boundaries" for an end past the text), the schema check's `DocumentError` is
    raised instead, naming the document and the field at fault."""
    try:
        return function(doc)
    except (KeyError, TypeError, DocumentError):
        validate_document(dict(doc), source=f"documents[{index}]")
        raise


@functools.lru_cache(maxsize=1)
def _row_code_hash() -> str:
    """A hash of the source of the modules that turn documents into rows (segmentation, the processor, the schema
    reading, the encoding here): the package version stayed 0.1.0 across every change to them, so a cache keyed on it
    served rows of older code."""
    from datasets.fingerprint import Hasher

    from . import data_simmemre, processing_simmemre, segmentation_simmemre

    sources = []
    for module in (segmentation_simmemre, processing_simmemre, data_simmemre, sys.modules[__name__]):
        with open(module.__file__, "rb") as handle:
            sources.append(handle.read())
    return Hasher.hash(sources)


def _rows_key(documents, processor, entity_types, relation_types) -> str:
    """A hash of what tokenized rows depend on: the documents (their `datasets` fingerprint, from their content), the
    label lists, the tokenizer and the code (not the processor object: its one-time warning flags changed the key
    from one run to the next)."""
    from datasets.fingerprint import Hasher

    tokenizer = getattr(processor, "tokenizer", processor)
    parts = [documents._fingerprint, entity_types, relation_types, type(processor).__name__, tokenizer]
    return Hasher.hash(parts + [_row_code_hash()])


def _keyed_cache_file(cache_file_name, key: str) -> str:
    """`cache_file_name` with `key` (:func:`_rows_key`) before the suffix."""
    stem, suffix = os.path.splitext(os.fspath(cache_file_name))
    return f"{stem}-{key}{suffix or '.arrow'}"


def tokenize_documents(
    documents,
    processor,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
    cache_file_name: Optional[str] = None,
    num_proc: Optional[int] = None,
    desc: str = "Tokenizing",
):
    """Schema documents (a list of dicts or a `datasets.Dataset`) -> `datasets.Dataset` for training/evaluation (a
    `DatasetDict` -> a `DatasetDict`, split by split; a streaming dataset is refused).

    Each row keeps `id`, `text`, `entities`, `relations` (the gold reference for evaluation) and gains the
    processor's encoding (`input_ids`, `word_subword_spans`, ...), the gold structure in word indices
    (:func:`gold_word_structure`) and `doc_index` (the row's position, seeding its negative sampling). Documents
    without `words`/`sentences` are segmented first (mention boundaries are respected). Give the model's
    `config.entity_types` / `config.relation_types`: the rows hold indices into them, and [`SimMemRETrainer`] refuses
    rows whose indices read as other types than their names.

    Tokenization runs once through `datasets.map`; a file-backed dataset (e.g. `load_dataset("json")`) is cached
    by `datasets`. With `cache_file_name` the rows are cached in that file with a hash of what they depend on (the
    documents, the label lists, the processor) inserted before its suffix (`train.arrow` -> `train-<hash>.arrow`):
    `datasets` loads an existing cache file whatever it holds, so one fixed name served other documents or another
    tokenizer's ids without a word. The hash covers the source of the modules that make rows, so rows of older code
    are never served.
    """
    from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

    if isinstance(documents, DatasetDict):  # load_dataset("json", data_files={...}) without a split: each split
        return DatasetDict(
            {
                split: tokenize_documents(
                    split_documents, processor, entity_types, relation_types, cache_file_name, num_proc, desc
                )
                for split, split_documents in documents.items()
            }
        )
    if isinstance(documents, (IterableDataset, IterableDatasetDict)):
        raise ValueError(
            "tokenize_documents: a streaming dataset (load_dataset(..., streaming=True)) is not read here; load it "
            "without streaming=True (datasets keeps the rows on disk, not in memory)"
        )
    documents = _python_rows(documents)
    if len(documents) == 0:  # datasets' own error for it is a features "Keys mismatch"
        raise ValueError("tokenize_documents: no documents")
    if isinstance(documents, Dataset) and "words" in documents.column_names:
        note = None  # segmented already (normalised rows carry words)
    else:
        note = forced_split_note(documents)
    if note:
        logger.warning("tokenize_documents: %s", note)
    if not isinstance(documents, Dataset):
        documents = Dataset.from_list(
            [_naming_the_field(normalize_document, doc, index) for index, doc in enumerate(documents)],
            features=document_features(),
        )
    elif not {"words", "sentences"} <= set(documents.column_names):  # segment around the gold mentions first
        from datasets.fingerprint import Hasher

        documents = documents.map(
            lambda doc, index: _naming_the_field(normalize_document, dict(doc), index),
            with_indices=True,
            features=document_features(),
            remove_columns=documents.column_names,
            desc="Segmenting",
            # datasets hashes the lambda, whose module-level code it pickles by name: a change to the segmentation
            # kept the fingerprint and served the cached words and sentences of the older code.
            new_fingerprint=Hasher.hash([documents._fingerprint, "segmenting", _row_code_hash()]),
        )
    entity_types, relation_types = list(entity_types), list(relation_types)

    def encode(example, index):
        return _naming_the_field(
            lambda doc: encode_training_document(doc, processor, entity_types, relation_types, index), example, index
        )

    drop = [name for name in documents.column_names if name not in REFERENCE_COLUMNS]
    # The key is also the rows' fingerprint: `datasets` would hash the `encode` closure, whose module-level code it
    # pickles by name (a code change kept the key) and whose processor carries warning flags (they changed it).
    key = _rows_key(documents, processor, entity_types, relation_types)
    kwargs = {"new_fingerprint": key}
    if cache_file_name is not None:
        kwargs["cache_file_name"] = _keyed_cache_file(cache_file_name, key)
    return documents.map(encode, with_indices=True, remove_columns=drop, num_proc=num_proc, desc=desc, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Negative sampling and collation
# ----------------------------------------------------------------------------------------------------


def self_relation_count(rows) -> int:
    """Gold relations whose head is their tail, over rows of :func:`tokenize_documents`: inference scores pairs of two
    entities, so they are never predicted (and are not trained on)."""
    return sum(head == tail for gold_relations in rows["gold_relations"] for head, tail, _ in gold_relations)


def wide_gold_mentions(rows, max_span_size: int) -> tuple:
    """(gold mentions longer than `max_span_size` words, entities all of whose mentions are, relations involving such
    an entity) over rows of :func:`tokenize_documents`."""
    mentions = entities = relations = 0
    columns = ("gold_mention_spans", "gold_entity_mentions", "gold_relations")
    for spans, members, gold_relations in zip(*(rows[column] for column in columns)):
        wide = [end - start > max_span_size for start, end in spans]
        mentions += sum(wide)
        unreachable = {entity for entity, indices in enumerate(members) if indices and all(wide[i] for i in indices)}
        entities += len(unreachable)
        relations += sum(head in unreachable or tail in unreachable for head, tail, _ in gold_relations)
    return mentions, entities, relations


def candidate_word_spans(word_sentence_ids: np.ndarray, max_span_size: int) -> np.ndarray:
    """:func:`~simmemre.modeling_simmemre.candidate_spans` (the model's candidates at inference) for numpy input:
    `(W,)` sentence ids -> `(C, 2)` word spans (end exclusive), by width then start."""
    sentence_ids = torch.from_numpy(np.ascontiguousarray(word_sentence_ids, dtype=np.int64))
    return candidate_spans(sentence_ids, max_span_size).numpy()


def _gold_and_inside(candidates: np.ndarray, gold: np.ndarray, num_words: int) -> tuple:
    """For word spans `candidates` `(C, 2)` and gold spans `(G, 2)`: whether each candidate is a gold span, and whether
    it lies inside one (itself included), in O((C + G) log G) instead of `(C, G)` comparison tables (a 16,800-word
    document: 167,000 candidates x 2,164 gold spans, 850 MB)."""
    keys = candidates[:, 0] * (num_words + 1) + candidates[:, 1]
    is_gold = np.isin(keys, gold[:, 0] * (num_words + 1) + gold[:, 1])
    order = np.argsort(gold[:, 0], kind="stable")
    starts, furthest_end = gold[order, 0], np.maximum.accumulate(gold[order, 1])
    last = np.searchsorted(starts, candidates[:, 0], side="right") - 1  # the gold spans starting at or before
    is_inside = (last >= 0) & (furthest_end[np.maximum(last, 0)] >= candidates[:, 1])
    return is_gold, is_inside


class SimMemREDataCollator:
    r"""
    Builds the training inputs of [`SimMemREModel`] from rows of :func:`tokenize_documents`, drawing each document's
    samples afresh every epoch (JEREX, jerex/sampling):

    - mention samples: all gold mentions (positives, listed first; a span shared by two entities is one sample) plus
      up to `neg_mention_count` negative spans (1..max_span_size words inside one sentence, not gold), a share
      `neg_mention_overlap_ratio` of them drawn from spans strictly inside a gold span, the rest from the others;
    - coreference pairs: all ordered pairs of distinct gold mentions of the same entity (positives) plus up to
      `neg_coref_count` ordered pairs of mentions that share no entity, each with the character Levenshtein distance
      of the two mention strings;
    - entities: the gold clusters with their gold types;
    - relation pairs: the gold ordered entity pairs with multi-hot labels plus up to `neg_relation_count` ordered pairs
      of distinct gold entities without a relation (strong negatives).

    The RNG of a document is `numpy.random.default_rng([seed, epoch, doc_index])`, so resuming from a checkpoint
    replays the same samples; [`SimMemRETrainer`] tells the collator the epoch (`set_epoch`) and fills in `seed` when
    it is None from `TrainingArguments.data_seed` where set, else `TrainingArguments.seed` (:func:`sampling_seed`), so
    that `data_seed` varies the samples (and the document order) while `seed` keeps the model's initialisation; a
    resume takes the seed the checkpoint's run drew from (:func:`checkpoint_negatives_seed`).

    Args:
        processor ([`SimMemREProcessor`]): gives the padding id.
        config ([`SimMemREConfig`]): gives `max_span_size` and the number of relation types.
        neg_mention_count, neg_coref_count, neg_relation_count: the negative sample caps above (JEREX: 200 each).
        neg_mention_overlap_ratio: the share of negative mentions drawn from inside gold spans.
        max_span_size: the longest negative span in words; None takes `config.max_span_size`, which inference uses
            (a larger value trains on spans the model never scores).
        seed: the sampling seed; None until the trainer sets it (:func:`sampling_seed`).
    """

    def __init__(
        self,
        processor,
        config,
        neg_mention_count: int = 200,
        neg_coref_count: int = 200,
        neg_relation_count: int = 200,
        neg_mention_overlap_ratio: float = 0.5,
        max_span_size: Optional[int] = None,
        seed: Optional[int] = None,
    ):
        for name, value in (
            ("neg_mention_count", neg_mention_count),
            ("neg_coref_count", neg_coref_count),
            ("neg_relation_count", neg_relation_count),
        ):
            if not _is_count(value, 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if max_span_size is not None and not _is_count(max_span_size, 1):
            raise ValueError(f"max_span_size must be a positive integer or None, got {max_span_size!r}")
        ratio = neg_mention_overlap_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0.0 <= float(ratio) <= 1.0:
            raise ValueError(f"neg_mention_overlap_ratio must be in [0, 1], got {neg_mention_overlap_ratio!r}")
        tokenizer = getattr(processor, "tokenizer", processor)
        self.pad_token_id = tokenizer.pad_token_id or 0
        self.num_relation_types = len(config.relation_types)
        self.max_span_size = int(config.max_span_size if max_span_size is None else max_span_size)
        self.neg_mention_count = neg_mention_count
        self.neg_coref_count = neg_coref_count
        self.neg_relation_count = neg_relation_count
        self.neg_mention_overlap_ratio = float(neg_mention_overlap_ratio)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def rng(self, doc_index: int, epoch: Optional[int] = None) -> np.random.Generator:
        epoch = self.epoch if epoch is None else epoch
        return np.random.default_rng([int(self.seed or 0), int(epoch), int(doc_index)])

    # -- one document -------------------------------------------------------------------------------
    def sample_document(self, feature: Mapping, epoch: Optional[int] = None) -> dict:
        """The samples of one document (numpy arrays, unpadded) for `epoch` (default: the current one)."""
        rng = self.rng(feature["doc_index"], epoch)  # drawn from in this order: mentions, coreference, relations
        gold = np.asarray(feature["gold_mention_spans"], dtype=np.int64).reshape(-1, 2)
        entity_members = [list(m) for m in feature["gold_entity_mentions"]]
        samples = self._mention_samples(feature, gold, rng)
        samples.update(self._coref_samples(feature, gold, entity_members, rng))
        samples["entity_mentions"] = entity_members
        samples["entity_types"] = np.asarray(feature["gold_entity_types"], dtype=np.int64)
        samples.update(self._relation_samples(feature["gold_relations"], len(entity_members), rng))
        return samples

    def _mention_samples(self, feature: Mapping, gold: np.ndarray, rng: np.random.Generator) -> dict:
        """Mention samples: positives (gold spans) first, then negatives inside gold spans, then the others."""
        word_sentence_ids = np.asarray(feature["word_sentence_ids"], dtype=np.int64)
        word_subword_spans = np.asarray(feature["word_subword_spans"], dtype=np.int64).reshape(-1, 2)
        num_gold = len(gold)
        candidates = candidate_word_spans(word_sentence_ids, self.max_span_size)
        if num_gold and len(candidates):
            is_gold, is_inside = _gold_and_inside(candidates, gold, len(word_sentence_ids))
        else:
            is_gold = is_inside = np.zeros(len(candidates), dtype=bool)
        inside_pool = np.flatnonzero(~is_gold & is_inside)
        other_pool = np.flatnonzero(~is_gold & ~is_inside)
        inside_count = min(len(inside_pool), int(self.neg_mention_count * self.neg_mention_overlap_ratio))
        other_count = min(len(other_pool), self.neg_mention_count - inside_count)
        negatives = np.concatenate(
            [
                rng.choice(inside_pool, inside_count, replace=False) if inside_count else inside_pool[:0],
                rng.choice(other_pool, other_count, replace=False) if other_count else other_pool[:0],
            ]
        ).astype(np.int64)
        mention_word_spans = np.concatenate([gold, candidates[negatives]]).astype(np.int64)
        mention_labels = np.zeros(len(mention_word_spans), dtype=np.float32)
        mention_labels[:num_gold] = 1.0
        if len(mention_word_spans):
            mention_subword_spans = np.stack(
                [word_subword_spans[mention_word_spans[:, 0], 0], word_subword_spans[mention_word_spans[:, 1] - 1, 1]],
                axis=-1,
            )
            mention_sentence_ids = word_sentence_ids[mention_word_spans[:, 0]]
        else:
            mention_subword_spans = np.zeros((0, 2), dtype=np.int64)
            mention_sentence_ids = np.zeros((0,), dtype=np.int64)
        return {
            "mention_word_spans": mention_word_spans,
            "mention_subword_spans": mention_subword_spans.astype(np.int64),
            "mention_sentence_ids": mention_sentence_ids.astype(np.int64),
            "mention_labels": mention_labels,
        }

    def _coref_samples(
        self, feature: Mapping, gold: np.ndarray, entity_members: list, rng: np.random.Generator
    ) -> dict:
        """Ordered pairs of gold mentions, positive iff some entity holds both, with their strings' edit distance."""
        num_gold, num_entities = len(gold), len(entity_members)
        membership = np.zeros((num_entities, num_gold), dtype=bool)
        for entity, members in enumerate(entity_members):
            membership[entity, members] = True
        # float32: BLAS (an int64 product has none: 29 s for the 2,164 mentions of a 16,800-word document); the counts
        # are small integers, exact in float32.
        shared = (membership.T.astype(np.float32) @ membership.astype(np.float32)) > 0
        off_diagonal = ~np.eye(num_gold, dtype=bool)
        positive_pairs = np.argwhere(shared & off_diagonal)
        negative_pool = np.argwhere(~shared & off_diagonal)
        negative_count = min(len(negative_pool), self.neg_coref_count)
        negative_pairs = (
            negative_pool[rng.choice(len(negative_pool), negative_count, replace=False)]
            if negative_count
            else negative_pool[:0]
        )
        coref_pairs = np.concatenate([positive_pairs, negative_pairs]).reshape(-1, 2).astype(np.int64)
        coref_labels = np.zeros(len(coref_pairs), dtype=np.float32)
        coref_labels[: len(positive_pairs)] = 1.0
        word_char_spans = np.asarray(feature["word_char_spans"], dtype=np.int64).reshape(-1, 2)
        text = feature.get("text")
        if text is None:
            text = "".join(chr(c) for c in feature["text_codepoints"] if c >= 0)
        strings = [text[word_char_spans[a, 0] : word_char_spans[b - 1, 1]] for a, b in gold]
        coref_edit_distances = np.array([levenshtein(strings[a], strings[b]) for a, b in coref_pairs], dtype=np.int64)
        return {"coref_pairs": coref_pairs, "coref_edit_distances": coref_edit_distances, "coref_labels": coref_labels}

    def _relation_samples(self, gold_relations, num_entities: int, rng: np.random.Generator) -> dict:
        """Gold ordered entity pairs with multi-hot labels, then strong negatives (gold entity pairs without one)."""
        labels_by_pair = {}
        for head, tail, relation_type in gold_relations:
            if head == tail:  # inference scores pairs of two entities only (reported as unreachable at loading)
                continue
            labels_by_pair.setdefault((head, tail), np.zeros(self.num_relation_types, dtype=np.float32))[
                relation_type
            ] = 1.0
        positive_relations = list(labels_by_pair)
        heads, tails = np.meshgrid(np.arange(num_entities), np.arange(num_entities), indexing="ij")
        candidate_pairs = np.stack([heads.ravel(), tails.ravel()], axis=-1)
        keep = candidate_pairs[:, 0] != candidate_pairs[:, 1]
        if positive_relations:
            keys = candidate_pairs[:, 0] * max(num_entities, 1) + candidate_pairs[:, 1]
            positive_keys = [h * max(num_entities, 1) + t for h, t in positive_relations]
            keep &= ~np.isin(keys, positive_keys)
        relation_pool = candidate_pairs[keep]
        relation_negative_count = min(len(relation_pool), self.neg_relation_count)
        negative_relations = (
            relation_pool[rng.choice(len(relation_pool), relation_negative_count, replace=False)]
            if relation_negative_count
            else relation_pool[:0]
        )
        relation_pairs = np.concatenate(
            [np.array(positive_relations, dtype=np.int64).reshape(-1, 2), negative_relations.astype(np.int64)]
        ).reshape(-1, 2)
        relation_labels = np.zeros((len(relation_pairs), self.num_relation_types), dtype=np.float32)
        for row, pair in enumerate(positive_relations):
            relation_labels[row] = labels_by_pair[pair]
        return {"relation_pairs": relation_pairs, "relation_labels": relation_labels}

    # -- batch --------------------------------------------------------------------------------------
    def __call__(self, features: Sequence[Mapping]) -> dict:
        samples = [self.sample_document(feature) for feature in features]
        batch = len(features)

        def size(key, minimum=1):
            return max([minimum] + [len(s[key]) for s in samples])

        length = max([1] + [len(f["input_ids"]) for f in features])
        input_ids = torch.full((batch, length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, length), dtype=torch.long)
        S, P, E, R = size("mention_word_spans"), size("coref_pairs"), size("entity_types"), size("relation_pairs")
        M = max([1] + [len(members) for s in samples for members in s["entity_mentions"]])
        targets = TrainingTargets.zeros(batch, S, P, E, M, R, self.num_relation_types)
        out = targets.as_inputs()
        for row, (feature, sample) in enumerate(zip(features, samples)):
            ids = feature["input_ids"]
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
            s = len(sample["mention_word_spans"])
            out["mention_subword_spans"][row, :s] = torch.from_numpy(sample["mention_subword_spans"])
            out["mention_word_spans"][row, :s] = torch.from_numpy(sample["mention_word_spans"])
            out["mention_sentence_ids"][row, :s] = torch.from_numpy(sample["mention_sentence_ids"])
            out["mention_labels"][row, :s] = torch.from_numpy(sample["mention_labels"])
            out["mention_mask"][row, :s] = True
            p = len(sample["coref_pairs"])
            out["coref_pairs"][row, :p] = torch.from_numpy(sample["coref_pairs"])
            out["coref_edit_distances"][row, :p] = torch.from_numpy(sample["coref_edit_distances"])
            out["coref_labels"][row, :p] = torch.from_numpy(sample["coref_labels"])
            out["coref_mask"][row, :p] = True
            for entity, members in enumerate(sample["entity_mentions"]):
                out["entity_mentions"][row, entity, : len(members)] = torch.as_tensor(members, dtype=torch.long)
                out["entity_mention_mask"][row, entity, : len(members)] = True
            e = len(sample["entity_types"])
            out["entity_types"][row, :e] = torch.from_numpy(sample["entity_types"])
            out["entity_mask"][row, :e] = True
            r = len(sample["relation_pairs"])
            out["relation_pairs"][row, :r] = torch.from_numpy(sample["relation_pairs"])
            out["relation_labels"][row, :r] = torch.from_numpy(sample["relation_labels"])
            out["relation_mask"][row, :r] = True
        return {"input_ids": input_ids, "attention_mask": attention_mask, **targets.as_inputs()}


# ----------------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------------


def memory_warmup_steps(config, max_steps: int) -> int:
    """Steps before the memory reads switch on: `int(memory_warmup_proportion * max_steps)` (paper code)."""
    return int(config.memory_warmup_proportion * max_steps)


def memory_reads_due(config, global_step: int, max_steps: int, since: Optional[int] = None) -> bool:
    """Whether the step after `global_step` optimizer steps reads the memories: from the warm-up's end on, or from
    `since` on (the step of a resumed checkpoint that already read them: a run extended with a larger `max_steps`
    moved the warm-up's end past it and switched the trained reads off again)."""
    return global_step >= memory_warmup_steps(config, max_steps) or (since is not None and global_step >= since)


def checkpoint_file(checkpoint, name: str):
    """The JSON value of `checkpoint`/`name` (config.json, trainer_state.json), None when it cannot be read: the
    Trainer names what is wrong with a checkpoint it cannot load."""
    try:
        with open(os.path.join(checkpoint, name), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


# The model config a checkpoint of a peft model keeps beside its adapter. Not config.json: transformers loads a folder
# with adapter_config.json onto its base model (`AutoModel.from_pretrained(checkpoint)`) only where it has no
# config.json, and would look there for the whole model's weights.
ADAPTER_CHECKPOINT_CONFIG = "simmemre_config.json"


def checkpoint_config(checkpoint):
    """The model config `checkpoint` was saved with (config.json, or the one beside a peft adapter), None when there is
    none or it cannot be read."""
    saved = checkpoint_file(checkpoint, "config.json")
    return saved if saved is not None else checkpoint_file(checkpoint, ADAPTER_CHECKPOINT_CONFIG)


def check_checkpoint_labels(checkpoint, config) -> None:
    """Raise ValueError when `config`'s label lists are not those `checkpoint` was trained with: its memory slots and
    classifier rows are named by them, so a resume relabelled them silently (same counts) or failed inside
    load_state_dict."""
    saved = checkpoint_config(checkpoint)
    if not isinstance(saved, dict):
        return
    for name in ("entity_types", "relation_types"):
        if saved.get(name) is not None and list(saved[name]) != list(getattr(config, name)):
            raise ValueError(
                f"resume_from_checkpoint {checkpoint}: it was trained with {name} {saved[name]}, this run has "
                f"{list(getattr(config, name))}; resume with the checkpoint's label lists"
            )


# Model settings that decide a SimMemRE model's parameters, their shapes, which modules exist or what the trained heads
# read (the module constructors of the modeling file use them): a run from a trained model keeps the saved values.
ARCHITECTURE_SETTINGS = (
    "jerex_baseline",
    "classifier_type",
    "relation_classifier",
    "use_entity_memory",
    "use_relation_memory",
    "memory_read_positions",
    "memory_read_mode",
    "memory_read_temperature",
    "entity_memory_slot_size",
    "relation_memory_slot_size",
    "meta_embedding_size",
    "size_embeddings_count",
    "edit_distance_embeddings_count",
    "token_distance_embeddings_count",
    "sentence_distance_embeddings_count",
)

# Settings that define what a checkpoint's weights compute or how they are trained: a resume under other values
# trained on with another model (the config comes from this run's settings, whose defaults may have changed since the
# checkpoint was saved). Thresholds, chunk sizes and the inference-only switches may differ.
TRAINING_SETTINGS = ARCHITECTURE_SETTINGS + (
    "memory_read_gradient",
    "memory_warmup_proportion",
    "max_span_size",
    "dropout",
    "encoder_window_size",
    "encoder_window_overlap",
    "mention_loss_weight",
    "coref_loss_weight",
    "entity_loss_weight",
    "relation_loss_weight",
)


def check_checkpoint_settings(checkpoint, config) -> None:
    """Raise ValueError naming the :data:`TRAINING_SETTINGS` whose values in `config` differ from those `checkpoint`
    was trained with (read through `config`'s class, so a key saved before it existed takes the value that checkpoint
    ran with, e.g. `memory_read_mode` "mean")."""
    saved = checkpoint_config(checkpoint)
    if not isinstance(saved, dict):
        return
    try:
        trained = type(config).from_dict(saved)
    except Exception:  # noqa: BLE001 - an unreadable config is the Trainer's to report
        return

    def plain(value):
        return list(value) if isinstance(value, tuple) else value

    differing = [
        (name, plain(getattr(trained, name)), plain(getattr(config, name)))
        for name in TRAINING_SETTINGS
        if hasattr(trained, name)
        and hasattr(config, name)
        and plain(getattr(trained, name)) != plain(getattr(config, name))
    ]
    if differing:
        shown = "; ".join(f"{name} {old!r} (this run: {new!r})" for name, old, new in differing)
        raise ValueError(
            f"resume_from_checkpoint {checkpoint}: it was trained with {shown}; resume with the checkpoint's settings"
        )


# Beside a peft model's checkpoint: a digest of the encoder weights its adapter was trained on, which a resume compares
# (the checkpoint holds only the adapter, the heads and the memories; the base comes from this run's encoder setting).
BASE_ENCODER_DIGEST_FILE = "simmemre_base_encoder.json"


def base_encoder_digest(model) -> str:
    """The SHA-256 of a peft model's base encoder weights (names and float32 values; the LoRA matrices left out, each
    adapted layer's `base_layer` read as the layer itself): equal for the same weights loaded again, whatever the
    adapter has learnt."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(simmemre_model(model).encoder.state_dict().items()):
        if ".lora_" in name:
            continue
        digest.update(name.replace(".base_layer.", ".").encode("utf-8"))
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_checkpoint_adapter(checkpoint, model, encoder_digest=None) -> None:
    """Raise ValueError when `model` (a `PeftModel` or not) does not match what `checkpoint` holds: a LoRA adapter
    (adapter_config.json) of other settings (`lora_settings_of`) or trained on other encoder weights
    (`BASE_ENCODER_DIGEST_FILE`), an adapter for a model without one, or a whole model for a peft model. The Trainer
    failed with a size mismatch or "Can't find a valid checkpoint", and resumed an adapter on another base silently.
    `encoder_digest` gives `base_encoder_digest(model)` (a trainer's cached one); called only where it is compared."""
    saved = checkpoint_file(checkpoint, "adapter_config.json")
    settings = lora_settings_of(model)
    if saved is None:
        if settings is not None and checkpoint_file(checkpoint, "config.json") is not None:
            raise ValueError(
                f"resume_from_checkpoint {checkpoint}: it holds a whole model trained without LoRA, and this run "
                "trains a LoRA adapter (a peft section); resume without the peft section"
            )
        return
    if not isinstance(saved, dict):
        return  # (the Trainer names what is wrong with it)
    recorded = _lora_settings(saved.get)
    if settings is None:
        raise ValueError(
            f"resume_from_checkpoint {checkpoint}: it holds a LoRA adapter ({recorded}), and this run trains without "
            "one; resume with the checkpoint's peft section"
        )
    differing = [name for name in recorded if recorded[name] != settings[name]]
    if differing:
        shown = "; ".join(f"{name} {recorded[name]!r} (this run: {settings[name]!r})" for name in differing)
        raise ValueError(
            f"resume_from_checkpoint {checkpoint}: its LoRA adapter was trained with {shown}; resume with the "
            "checkpoint's peft section"
        )
    base = checkpoint_file(checkpoint, BASE_ENCODER_DIGEST_FILE)
    digest = encoder_digest or functools.partial(base_encoder_digest, model)
    if isinstance(base, dict) and base.get("sha256") and base["sha256"] != digest():
        raise ValueError(
            f"resume_from_checkpoint {checkpoint}: its LoRA adapter was trained on other encoder weights than this "
            f"run's encoder has ({BASE_ENCODER_DIGEST_FILE} differs); resume with the encoder the run started from"
        )


def checkpoint_reads_since(checkpoint) -> Optional[int]:
    """The global step of `checkpoint` when its saved config has the memory reads on (its last step read them)."""
    config, state = checkpoint_config(checkpoint), checkpoint_file(checkpoint, "trainer_state.json")
    if not isinstance(config, dict) or not config.get("memory_reads_enabled"):
        return None
    try:
        return int(state["global_step"])
    except (KeyError, TypeError, ValueError):
        return None


# The TrainingArguments that decide a run's random draws after a resume (the checkpoint restores the RNG states, but
# the collator's negative samples and the document order are drawn afresh from them each epoch: sampling_seed).
SEED_ARGUMENTS = ("seed", "data_seed")


def recorded_seeds(checkpoint) -> Optional[dict]:
    """`{"seed", "data_seed", "negatives_seed"}` of the run that saved `checkpoint`, as [`TrainingSeedsCallback`]
    records them in its trainer_state.json (`negatives_seed`: the collator's seed, None where a version before it was
    recorded saved the checkpoint); None where not recorded (a checkpoint of an older version) or not readable."""
    state = checkpoint_file(checkpoint, "trainer_state.json")
    attributes = TrainingSeedsCallback.recorded_attributes(
        state.get("stateful_callbacks") if isinstance(state, dict) else None
    )
    if not all(name in attributes for name in SEED_ARGUMENTS):
        return None
    seeds = {name: attributes.get(name) for name in (*SEED_ARGUMENTS, "negatives_seed")}
    if not all(value is None or (isinstance(value, int) and not isinstance(value, bool)) for value in seeds.values()):
        return None
    return seeds


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    """Log `message` once per process: train.py compares a checkpoint's seeds before building the trainer, and the
    trainer compares them again when it loads the checkpoint."""
    logger.warning(message)


def check_checkpoint_seeds(checkpoint, args) -> None:
    """Raise ValueError naming the `seed` and `data_seed` of `args` (TrainingArguments) that differ from those
    `checkpoint` was trained with: the resumed run would draw other negative samples and another document order from
    there on (the resumed epoch's skipped batches then are not those it trained) and record seeds its model was not
    trained with. A checkpoint that records none (an older version's) is not compared, with a warning (once)."""
    recorded = recorded_seeds(checkpoint)
    if recorded is None:
        if isinstance(checkpoint_file(checkpoint, "trainer_state.json"), dict):  # (an unreadable one: the Trainer's)
            _warn_once(
                f"resume_from_checkpoint {checkpoint}: it records no seeds (saved by an older version), so this run's "
                "seed and data_seed are not compared with its own; resume with the seeds it was trained with"
            )
        return
    differing = [
        (name, recorded[name], getattr(args, name, None))
        for name in SEED_ARGUMENTS
        if recorded[name] != getattr(args, name, None)
    ]
    if differing:
        shown = "; ".join(f"{name} {old!r} (this run: {new!r})" for name, old, new in differing)
        raise ValueError(
            f"resume_from_checkpoint {checkpoint}: it was trained with {shown}; resume with the checkpoint's seeds "
            "(others draw other negative samples and another document order from there on)"
        )


def sampling_seed(args) -> int:
    """The seed of the training data's randomness (the collator's negative samples, the document order):
    `TrainingArguments.data_seed` where set, else `seed`, as transformers seeds its samplers; the model's
    initialisation and dropout follow `seed` alone. A run resumed from a checkpoint of a version before 2026-12-07
    keeps drawing its negative samples from `seed`, as that version did (:func:`checkpoint_negatives_seed`)."""
    return args.data_seed if getattr(args, "data_seed", None) is not None else args.seed


def checkpoint_negatives_seed(checkpoint, args) -> tuple[Optional[int], bool]:
    """`(seed, recorded)`: the seed the collator of the run that saved `checkpoint` drew its negative samples from,
    for a resume under `args` (whose seeds :func:`check_checkpoint_seeds` has compared), and whether the checkpoint
    records it. A checkpoint that records no seeds was saved by a version that drew them from `seed` whatever
    `data_seed`; one that records the seeds but not this one, by a version that drew them from :func:`sampling_seed`
    (both where the trainer chose the collator's seed). `(None, False)` where trainer_state.json cannot be read."""
    if not isinstance(checkpoint_file(checkpoint, "trainer_state.json"), dict):
        return None, False
    recorded = recorded_seeds(checkpoint)
    if recorded is None:
        return args.seed, False
    if recorded["negatives_seed"] is not None:
        return recorded["negatives_seed"], True
    return sampling_seed(args), False


class SamplingEpochCallback(TrainerCallback):
    """Tells the collator which epoch starts (also the resumed one), so its samples depend on (seed, epoch, doc)."""

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = 0 if state.epoch is None else int(math.floor(state.epoch + 1e-6))
        self.collator.set_epoch(epoch)


class SamplerEpochCallback(TrainerCallback):
    """Tells the trainer's :class:`EpochSeededLengthGroupedSampler` which epoch starts. The Trainer's own `set_epoch`
    reaches it through its loader wrappers in one process, but not through the three of a resumed multi-process run,
    whose resumed epoch then came in epoch 0's order."""

    def __init__(self, trainer: "SimMemRETrainer"):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        sampler = getattr(self.trainer, "_epoch_seeded_sampler", None)
        if sampler is not None:
            sampler.set_epoch(0 if state.epoch is None else int(math.floor(state.epoch + 1e-6)))


class _CheckpointRecordCallback(TrainerCallback, ExportableState):
    """A callback whose :meth:`state` each checkpoint's trainer_state.json keeps under `stateful_callbacks`, by class
    name: :meth:`recorded_attributes` reads it back, :meth:`start_record` makes sure the Trainer saves it."""

    @classmethod
    def recorded_attributes(cls, stateful_callbacks) -> dict:
        """The attributes of this class's record in `stateful_callbacks` (a trainer state's; the first record where
        the Trainer keeps a list for several callbacks of one class), {} where there is none."""
        record = stateful_callbacks.get(cls.__name__) if isinstance(stateful_callbacks, dict) else None
        record = record[0] if isinstance(record, list) and record else record
        attributes = record.get("attributes") if isinstance(record, dict) else None
        return attributes if isinstance(attributes, dict) else {}

    def start_record(self, state) -> None:
        """Put this callback's record into `state` (at `on_train_begin`, after reading the resumed one): the Trainer
        updates only the records it finds when it saves a checkpoint, so one written before this callback existed
        has none (a KeyError then), and a fresh state holds an earlier train()'s."""
        name = type(self).__name__
        if not isinstance(state.stateful_callbacks.get(name), list):
            state.stateful_callbacks[name] = self.state()


class TrainingTimeCallback(_CheckpointRecordCallback):
    """The training time of a run across its legs (the processes of a run resumed from checkpoints): each checkpoint's
    trainer_state.json records, under `stateful_callbacks`, the seconds from the run's start to that checkpoint (the
    earlier legs' up to the checkpoints they resumed from, plus this leg's so far), the legs and their devices, and a
    resume adds the checkpoint's record to its own leg. Time a stopped leg spent after its last checkpoint is not
    counted (its steps are trained again). Transformers' `train_runtime` is the last leg's alone.

    [`SimMemRETrainer`] adds one; :func:`~simmemre.hub_simmemre.training_procedure` reads :meth:`training_time`."""

    def __init__(self):
        self.earlier_seconds = 0.0  # None: a leg before this one recorded none (a checkpoint of an older version)
        self.earlier_legs = 0
        self.earlier_devices = []
        self._device = None
        self._leg_start = self._leg_seconds = self._start_step = self._end_step = None

    def state(self) -> dict:
        """The record a checkpoint keeps (see `ExportableState`): the time and legs up to now."""
        leg = 0.0 if self._leg_start is None else time.monotonic() - self._leg_start
        seconds = None if self.earlier_seconds is None else self.earlier_seconds + leg
        started = self._leg_start is not None
        return {
            "args": {},
            "attributes": {
                "training_seconds": seconds,
                "training_legs": self.earlier_legs + started,
                "training_devices": self._devices(self._device if started else None),
            },
        }

    def _devices(self, device) -> list:
        """The legs' devices, each once, with `device` (this leg's; None: left out)."""
        new = [device] if device and device not in self.earlier_devices else []
        return self.earlier_devices + new

    def on_train_begin(self, args, state, control, **kwargs):
        self.earlier_seconds, self.earlier_legs, self.earlier_devices = 0.0, 0, []
        if state.global_step > 0:  # resumed: a fresh state starts at step 0, a checkpoint's after it
            attributes = self.recorded_attributes(state.stateful_callbacks)
            seconds, legs = attributes.get("training_seconds"), attributes.get("training_legs")
            devices = attributes.get("training_devices")
            number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
            self.earlier_seconds = float(seconds) if number and math.isfinite(seconds) and seconds >= 0 else None
            self.earlier_legs = legs if _is_count(legs, 1) else 1
            self.earlier_devices = [str(device) for device in devices] if isinstance(devices, list) else []
        self._device, self._start_step, self._end_step = str(args.device), state.global_step, None
        self._leg_start, self._leg_seconds = time.monotonic(), None
        self.start_record(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self._leg_start is not None:
            self._leg_seconds, self._end_step = time.monotonic() - self._leg_start, state.global_step

    def training_time(self, leg_seconds: Optional[float] = None) -> Optional[dict]:
        """`{"seconds", "legs", "devices"}` of the run trained so far (None before training): this leg's time is
        `leg_seconds` where given (transformers' `train_runtime`), else as measured, and a leg that trained no step
        (a resume that only finishes a run) adds neither time nor a leg; `seconds` is None where an earlier leg
        recorded none."""
        if self._leg_start is None:
            return None
        if leg_seconds is None:
            leg_seconds = self._leg_seconds if self._leg_seconds is not None else time.monotonic() - self._leg_start
        trained = self.earlier_legs == 0 or self._end_step is None or self._end_step > self._start_step
        if not trained:
            leg_seconds = 0.0
        seconds = None if self.earlier_seconds is None else self.earlier_seconds + float(leg_seconds)
        return {
            "seconds": seconds,
            "legs": self.earlier_legs + trained,
            "devices": self._devices(self._device if trained else None),
        }


class TrainingSeedsCallback(_CheckpointRecordCallback):
    """Records the run's `seed` and `data_seed` (TrainingArguments) and `negatives_seed` (the seed the collator draws
    its negative samples from) in each checkpoint's trainer_state.json, under `stateful_callbacks`, so that a resume
    can be compared with them (:func:`check_checkpoint_seeds`; transformers keeps the first two only in the pickled
    training_args.bin) and draws its negative samples as the run did (:func:`checkpoint_negatives_seed`).
    [`SimMemRETrainer`] adds one and sets `negatives_seed`; None (another trainer's) records it as unknown."""

    def __init__(self):
        self.seed = self.data_seed = self.negatives_seed = None

    def state(self) -> dict:
        """The record a checkpoint keeps (see `ExportableState`)."""
        seeds = {"seed": self.seed, "data_seed": self.data_seed, "negatives_seed": self.negatives_seed}
        return {"args": {}, "attributes": seeds}

    def on_train_begin(self, args, state, control, **kwargs):
        self.seed, self.data_seed = args.seed, getattr(args, "data_seed", None)
        self.start_record(state)


def simmemre_model(model):
    """The model itself, or the one a peft `PeftModel` wraps: the wrapper forwards attribute reads to it but keeps
    attribute writes (`memory_reads_enabled`, a property of the wrapped model) on itself, where no forward sees them."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def frozen_heads(model) -> list:
    """The names of the heads and memories (the SimMemRE model's children but the encoder) of which a peft model
    trains no parameter: left out of `modules_to_save`, they keep their weights (random in a new model)."""
    wrapped = simmemre_model(model)
    if wrapped is model:
        return []
    return [
        name
        for name, child in wrapped.named_children()
        if name != "encoder"
        and any(True for _ in child.parameters())
        and not any(parameter.requires_grad for parameter in child.parameters())
    ]


# -- LoRA from a train.py config --------------------------------------------------------------------------------------

# The LoraConfig arguments of a train.py config's `peft` section (scripts/train.py). Those left out take peft's defaults
# (r 8, lora_alpha 8, lora_dropout 0); target_modules the encoder's from peft's table (`default_lora_target_modules`).
# `modules_to_save` is not among them: every head and memory starts from random weights and is trained in full.
PEFT_SETTINGS = ("r", "lora_alpha", "lora_dropout", "target_modules")


# The oldest peft whose LoRA train.py was tested with (pyproject.toml's `peft` extra says the same).
PEFT_MIN_VERSION = "0.18"


def _peft_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("peft") is not None
    except (ImportError, ValueError):  # (a broken install, or a `peft` module entered as None)
        return False


def _peft_version() -> Optional[str]:
    """The installed peft's version, None where its metadata cannot be read (a source checkout on the path)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("peft")
    except importlib.metadata.PackageNotFoundError:
        return None


def peft_settings(section, source: str = "config") -> Optional[dict]:
    """The checked `peft` section of a train.py config: None without one (no LoRA), else its settings (a copy). A bad
    value, an unknown key or a missing peft package raises a ValueError that names `source` (the config file) and the
    field; `target_modules` unset is checked against the encoder later (`lora_model`)."""
    if section is None:
        return None
    where = f"{source}: peft"
    if not isinstance(section, Mapping):
        raise ValueError(
            f"{where}: a mapping of LoRA settings ({', '.join(PEFT_SETTINGS)}), or null for no LoRA; got "
            f"{type(section).__name__} {section!r:.60}"
        )
    if "modules_to_save" in section:
        raise ValueError(
            f"{where}.modules_to_save: set by train.py: every head and memory is trained in full (they start from "
            "random weights); leave it out"
        )
    unknown = sorted(set(section) - set(PEFT_SETTINGS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; the peft keys are {', '.join(PEFT_SETTINGS)}")
    settings = dict(section)
    rank = settings.get("r")
    if "r" in settings and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(f"{where}.r: the LoRA rank, a positive whole number, got {rank!r}")
    alpha = settings.get("lora_alpha")
    if "lora_alpha" in settings and (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha <= 0):
        raise ValueError(
            f"{where}.lora_alpha: a positive number (the update is scaled by lora_alpha / r), got {alpha!r}"
        )
    dropout = settings.get("lora_dropout")
    if "lora_dropout" in settings and (
        isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1
    ):
        raise ValueError(f"{where}.lora_dropout: a probability in [0, 1), got {dropout!r}")
    targets = settings.get("target_modules")
    if targets is not None and targets != "all-linear":
        if isinstance(targets, str):  # (peft would read it as a regular expression over whole module names)
            raise ValueError(
                f"{where}.target_modules: a list of the encoder's layer names, e.g. [{targets}], or all-linear; got "
                f"the string {targets!r}"
            )
        if (
            not isinstance(targets, (list, tuple))
            or not targets
            or not all(isinstance(name, str) and name.strip() for name in targets)
        ):
            raise ValueError(
                f"{where}.target_modules: a non-empty list of the encoder's layer names (e.g. [query, value]) or "
                f"all-linear, got {targets!r:.80}"
            )
        settings["target_modules"] = list(targets)
    if not _peft_installed():
        raise ValueError(
            f'{where}: LoRA needs the peft package: pip install ".[peft]" (or pip install "peft>={PEFT_MIN_VERSION}")'
        )
    from packaging.version import InvalidVersion, Version

    installed = _peft_version()
    try:
        too_old = installed is not None and Version(installed) < Version(PEFT_MIN_VERSION)
    except InvalidVersion:  # (a local build's odd version string: let it try)
        too_old = False
    if too_old:  # (pyproject.toml asks for it; train.py's LoRA was never tested with an older peft)
        raise ValueError(
            f'{where}: LoRA needs peft {PEFT_MIN_VERSION} or newer, found {installed}: pip install -U "peft>='
            f'{PEFT_MIN_VERSION}"'
        )
    return settings


def _linear_layer_names(module) -> list:
    """The names (last part) of `module`'s linear layers, which LoRA can adapt."""
    return sorted(
        {name.rsplit(".", 1)[-1] for name, child in module.named_modules() if isinstance(child, torch.nn.Linear)}
    )


def default_lora_target_modules(model) -> list:
    """peft's LoRA target modules for the model type of `model`'s encoder (BERT, RoBERTa, XLM-R, ELECTRA: query and
    value; DeBERTa-v2/v3: query_proj and value_proj); a ValueError naming `peft.target_modules` and the encoder's
    linear layers where peft's table has none (e.g. ModernBERT)."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as by_model_type

    model_type = getattr(getattr(model.encoder, "config", None), "model_type", None)
    if model_type in by_model_type:
        return list(by_model_type[model_type])
    raise ValueError(
        f"peft.target_modules: not set, and peft has no default for the encoder's model type {model_type!r}; name "
        f"the encoder layers to adapt (its linear layers: {', '.join(_linear_layer_names(model.encoder))}), e.g. "
        "target_modules: [query, value], or all-linear"
    )


def _check_lora_targets(model, targets) -> None:
    """Every target name (peft matches a name or a dotted suffix of a module's name) names an encoder layer and no
    head's or memory's: those are trained in full (`modules_to_save`), and a LoRA inside one would not be."""
    encoder_names = [f"encoder.{name}" for name, _ in model.encoder.named_modules() if name]
    other_names = [name for name, _ in model.named_modules() if name and not name.startswith("encoder")]

    def matches(names, target):
        return [name for name in names if name == target or name.endswith("." + target)]

    for target in targets:
        in_heads = matches(other_names, target)
        if in_heads:
            raise ValueError(
                f"peft.target_modules: {target!r} names layers of the heads or memories ({', '.join(in_heads[:3])}), "
                "which are trained in full; name encoder layers only "
                f"({', '.join(_linear_layer_names(model.encoder))})"
            )
        if not matches(encoder_names, target):
            raise ValueError(
                f"peft.target_modules: no encoder layer is named {target!r}; the encoder's linear layers are "
                f"{', '.join(_linear_layer_names(model.encoder))}"
            )


def lora_model(model, settings: Mapping, base_model_name_or_path: Optional[str] = None):
    """The `PeftModel` that train.py trains: `model` (a `SimMemREModel`) with LoRA on the encoder layers
    `settings["target_modules"]` names (default: `default_lora_target_modules`; all-linear: every linear layer name
    of the encoder), of rank `r`, `lora_alpha` and
    `lora_dropout` (peft's defaults where unset; `settings` as `peft_settings` checked them), and every head and memory
    trained in full (`modules_to_save`). `get_peft_model` changes `model` in place.

    `base_model_name_or_path` (the trained SimMemRE model a run starts from) goes into the adapter's config, where
    `AutoModel.from_pretrained(adapter checkpoint, trust_remote_code=True)` looks for the model to load the adapter
    onto; peft records none for a model built from an encoder, which is no SimMemRE model to load."""
    from peft import LoraConfig, get_peft_model

    targets = settings.get("target_modules") or default_lora_target_modules(model)
    if targets == "all-linear":  # the encoder's: peft's own would also name the heads' layers in the adapter config
        targets = _linear_layer_names(model.encoder)
    _check_lora_targets(model, targets)
    heads_and_memories = [name for name, _ in model.named_children() if name != "encoder"]
    given = {name: settings[name] for name in ("r", "lora_alpha", "lora_dropout") if settings.get(name) is not None}
    config = LoraConfig(
        target_modules=list(targets),
        modules_to_save=heads_and_memories,
        **given,
    )
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as error:  # e.g. a layer type LoRA does not support
        raise ValueError(f"peft.target_modules: {error}") from None
    if base_model_name_or_path:
        location = os.fspath(base_model_name_or_path)
        peft_model.peft_config["default"].base_model_name_or_path = (
            os.path.abspath(location) if os.path.isdir(location) else location
        )
    return peft_model


def lora_settings_of(model) -> Optional[dict]:
    """The LoRA settings of a peft model's adapter as a train.py config's `peft` section writes them (target_modules
    sorted, as resolved), None for a model without one."""
    if simmemre_model(model) is model:
        return None
    config = model.peft_config[getattr(model, "active_adapter", "default")]
    return _lora_settings(functools.partial(getattr, config))


def _lora_settings(setting) -> dict:
    """The `PEFT_SETTINGS` as `setting(name)` gives them (a LoraConfig's attributes, or adapter_config.json's keys),
    target_modules sorted (peft keeps them as a set): the form run_config.json records and a resume compares."""
    settings = {name: setting(name) for name in PEFT_SETTINGS}
    targets = settings["target_modules"]
    settings["target_modules"] = targets if isinstance(targets, str) or targets is None else sorted(targets)
    return settings


def describe_lora(settings: Mapping, merged: bool) -> str:
    """A model card's line for LoRA `settings` (`lora_settings_of`)."""
    targets = settings["target_modules"]
    return (
        f"r {settings['r']}, lora_alpha {settings['lora_alpha']:g}, lora_dropout {settings['lora_dropout']:g} on the "
        f"encoder's {targets if isinstance(targets, str) else ', '.join(targets)} layers; heads and memories trained "
        f"in full{'; merged into the encoder' if merged else ''}"
    )


class MemoryWarmupCallback(TrainerCallback):
    """Two-stage training (paper 3.3): memory reads off until `int(memory_warmup_proportion * max_steps)` optimizer
    steps are done, decided from the trainer state before every step (hence right after resuming; a checkpoint that
    read the memories keeps them on even when a larger `max_steps` moves the warm-up's end) and, through
    [`SimMemRETrainer.evaluate`], before every evaluation during training (with the last training step's switch).
    After training with `load_best_model_at_end`, the switch follows the best checkpoint, which was evaluated with
    it."""

    def __init__(self, trainer: "SimMemRETrainer"):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer._memory_schedule_active = True
        self.trainer.apply_memory_warmup()

    def on_step_begin(self, args, state, control, **kwargs):
        self.trainer.apply_memory_warmup()

    def on_train_end(self, args, state, control, **kwargs):
        self.trainer._memory_schedule_active = False
        model = self.trainer.model
        if args.load_best_model_at_end and state.best_model_checkpoint:
            saved = checkpoint_config(state.best_model_checkpoint)
            if isinstance(saved, dict):
                enabled = saved.get("memory_reads_enabled")
            else:  # as its evaluation saw it: the switch of its last training step
                step = state.best_global_step or int(state.best_model_checkpoint.rsplit("-", 1)[-1])
                enabled = self.trainer.memory_reads_due_at(max(step - 1, 0))
            if enabled is not None:
                simmemre_model(model).memory_reads_enabled = bool(enabled)


class TrainingDivergedError(FloatingPointError):
    """Training stopped by [`NonFiniteGradientCallback`]: the gradients were not finite in too many steps in a row."""


def gradients_finite(parameters) -> Optional[bool]:
    """Whether every gradient of `parameters` is finite (one reduction over their norms; True without gradients);
    None where it cannot be told from here: gradients sharded as DTensors (FSDP, tensor parallel)."""
    gradients = [parameter.grad for parameter in parameters if parameter.grad is not None]
    if not gradients:
        return True
    if any(type(gradient) is not torch.Tensor for gradient in gradients):
        return None
    return bool(torch.isfinite(torch.nn.utils.get_total_norm(gradients, error_if_nonfinite=False)))


# fp16's gradient scaler skips the steps whose gradients overflow while it searches for its scale (halving it each
# time, from 2**16): that many skipped steps in a row beyond the limit are its search, not a divergence.
SCALER_SEARCH_STEPS = 20


class NonFiniteGradientCallback(TrainerCallback):
    """Skips an optimizer step whose gradients are not finite (NaN or inf) and stops training with
    [`TrainingDivergedError`] after `limit` such steps in a row. Without it one bad step made every weight NaN (the
    clipping scales every gradient by the NaN norm) while the Trainer logged a finite loss (`logging_nan_inf_filter`),
    and the run went on to save the NaN weights as its best model. A skipped step leaves the weights and the optimizer's
    moments as they were (torch's optimizers pass over a parameter without gradient); the learning-rate schedule moves
    on. Under DDP the gradients are reduced before this check, so every process skips or stops with the others. With
    fp16's gradient scaler, which skips such steps itself, the callback counts the scaler's skips (and allows
    `SCALER_SEARCH_STEPS` more in a row). Gradients it cannot read (DeepSpeed's, sharded DTensors) are not checked."""

    def __init__(self, trainer: "SimMemRETrainer", limit: int = 5):
        self.trainer, self.limit = trainer, limit
        self.skipped = []  # the steps skipped in a row
        self.skipped_since_log = 0  # logged as `skipped_steps` (the Trainer logs a skipped step's loss as the mean)

    def on_train_begin(self, args, state, control, **kwargs):
        self.skipped = []  # (a second train() of the trainer starts its own count)
        self.skipped_since_log = 0

    def _scaler(self):
        return getattr(self.trainer.accelerator, "scaler", None)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self._scaler() is not None:
            return
        parameters = list(self.trainer.model.parameters())
        finite = gradients_finite(parameters)
        if finite is None:
            return
        args = self.trainer.args
        if _is_distributed(args):  # processes that hold only their share of the gradients (FSDP) decide together
            flag = torch.tensor([float(finite)], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            finite = bool(flag.item())
        if finite:
            self.skipped.clear()
            return
        for parameter in parameters:
            parameter.grad = None
        self._skipped(state.global_step + 1, self.limit, state)

    def on_step_end(self, args, state, control, **kwargs):
        if self._scaler() is None:
            return
        if getattr(self.trainer.accelerator, "optimizer_step_was_skipped", False):
            self._skipped(state.global_step, self.limit + SCALER_SEARCH_STEPS, state)
        else:
            self.skipped.clear()

    def _skipped(self, step: int, limit: int, state) -> None:
        """Count the skipped optimizer step `step`; stop training at `limit` in a row."""
        self.skipped.append(step)
        self.skipped_since_log += 1
        sums, args = self.trainer._task_loss_sums, self.trainer.args
        flags = torch.zeros(len(TASK_LOSSES), device=args.device)
        if sums is not None:
            flags = (~torch.isfinite(sums[: len(TASK_LOSSES)].to(args.device))).float()
        if _is_distributed(args):  # the bad losses may be another process's (every one is here at this step)
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        losses = [name for name, flag in zip(TASK_LOSSES, flags.tolist()) if flag]
        losses = f"; not finite since the last log: {', '.join(losses)}" if losses else ""
        steps = f"step {self.skipped[0]}" + (f" to {self.skipped[-1]}" if len(self.skipped) > 1 else "")
        if len(self.skipped) >= limit:
            raise TrainingDivergedError(
                f"training diverged: the gradients were not finite in {len(self.skipped)} optimizer steps in a row "
                f"({steps}{losses}); those steps were skipped, so the weights and checkpoints hold finite values. "
                "Train again with a lower learning_rate or head_learning_rate."
            )
        if state.is_world_process_zero:
            logger.warning(
                "optimizer step %s skipped: the gradients are not finite (%d in a row; training stops at %d)%s",
                step,
                len(self.skipped),
                limit,
                losses,
            )


class EvaluationEpochsCallback(TrainerCallback):
    """With `eval_strategy="epoch"`, evaluate only after epoch `first_epoch` (1-based) and every `interval` epochs
    from there (and always after the last epoch): full-document evaluation costs about a third of an epoch on CPU,
    and early checkpoints are rarely the best. Skipped epochs are still saved; only evaluated checkpoints compete for
    `load_best_model_at_end`."""

    def __init__(self, first_epoch: int = 1, interval: int = 1):
        for name, value in (("first_evaluation_epoch", first_epoch), ("evaluation_epoch_interval", interval)):
            if not _is_count(value, 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.first_epoch, self.interval = first_epoch, interval

    def on_epoch_end(self, args, state, control, **kwargs):
        if state.epoch is None:
            return control
        epoch = int(round(state.epoch))
        last = state.max_steps and state.global_step >= state.max_steps
        if not last and (epoch < self.first_epoch or (epoch - self.first_epoch) % self.interval):
            control.should_evaluate = False
        return control


def _is_distributed(args) -> bool:
    return args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def compact_log_lines(logs: Mapping, width: int = 100) -> list:
    """A Trainer log as short lines: training losses, or an evaluation's F1 per level (the full logs stay in
    trainer_state.json's log_history)."""
    import textwrap

    def number(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    # "eval", or "eval_a" for the set named "a" of a dict of eval sets
    prefixes = sorted({key[: -len("_relation_strict_f1")] for key in logs if key.endswith("_relation_strict_f1")})
    if prefixes:
        parts = []
        for prefix in prefixes:
            levels = [
                (level, logs.get(f"{prefix}_{level}_f1"))
                for level in ("mention", "coref", "entity", "relation_strict", "relation_relaxed", "relation_seq2rel")
            ]
            parts.append(
                f"{prefix} F1: " + ", ".join(f"{level} {value:.2f}" for level, value in levels if value is not None)
            )
            if f"{prefix}_runtime" in logs:
                parts[-1] += f" ({logs[f'{prefix}_runtime']:.0f} s)"
        text = "; ".join(parts)
    else:
        shown = [
            key
            for key in (
                "loss",
                "mention_loss",
                "coref_loss",
                "entity_loss",
                "relation_loss",
                "grad_norm",
                "skipped_steps",
                "learning_rate",
                "epoch",
                "train_runtime",
                "train_loss",
            )
            if key in logs
        ]
        text = ", ".join(f"{key} {number(logs[key])}" for key in shown)
    return textwrap.wrap(text, width=width, subsequent_indent="  ") or [str(dict(logs))[:width]]


def watched_output() -> bool:
    """Whether progress bars reach a person: a terminal or a notebook, not a log file (nohup, CI), where each of their
    frames is written as text."""
    from transformers.utils import is_in_notebook

    return sys.stderr.isatty() or is_in_notebook()


def installed_version(package: str) -> Optional[str]:
    """The installed version of `package`, None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def format_duration(seconds: float) -> str:
    """'3m07s', '1h05m': a duration in a log line."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class CompactProgressCallback(ProgressCallback):
    """Trainer's progress bars, with each log written as one block of lines of at most 100 characters. Where no one
    watches them (`interactive` False: a log file under nohup, CI; see `watched_output`) it draws no bars, whose
    frames filled such logs with carriage returns and escape codes, and prints a line at every tenth of the training
    steps instead (the step, the time so far, and the time left at that pace, evaluations included)."""

    def __init__(self, interactive: Optional[bool] = None, stream=None, every_log: bool = False):
        super().__init__()
        self.interactive = watched_output() if interactive is None else interactive
        self.stream = stream  # of the logs and progress lines; None: standard output (as the Trainer's logs)
        self.every_log = every_log  # also the logs outside training (an evaluate() call), as PrinterCallback's
        self.training = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True
        if self.interactive:
            return super().on_train_begin(args, state, control, **kwargs)
        self.current_step = self.first_step = state.global_step  # (a resumed run starts past 0)
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.interactive:
            return super().on_step_end(args, state, control, **kwargs)
        tenth = max(state.max_steps // 10, 1)
        due = state.global_step // tenth > self.current_step // tenth or state.global_step == state.max_steps
        if state.is_world_process_zero and due:
            elapsed = time.monotonic() - self.started
            done, total = state.global_step - self.first_step, state.max_steps
            left = f", about {format_duration(elapsed / done * (total - state.global_step))} left" if done else ""
            share = 100 * state.global_step / max(total, 1)
            line = f"step {state.global_step}/{total} ({share:.0f} %), {format_duration(elapsed)}{left}"
            print(line, file=self.stream, flush=True)
        self.current_step = state.global_step

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if self.interactive:
            super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero and (self.training or self.every_log) and logs):
            return
        text = "\n".join(compact_log_lines(logs))  # one write: each clears and redraws the bars
        if self.training_bar is not None:
            self.training_bar.write(text, file=self.stream)
        elif not self.interactive:
            print(text, file=self.stream, flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False
        if self.interactive:
            super().on_train_end(args, state, control, **kwargs)


def _metric_prefix(primary: str, eval_set_names: Sequence = ()) -> str:
    """The key prefix of `primary`'s evaluation: "eval_", or "eval_a_" for the set named "a" of a dict of eval sets."""
    for name in sorted(eval_set_names, key=len, reverse=True):
        if primary.startswith(f"eval_{name}_"):
            return f"eval_{name}_"
    return "eval_"


def _selection_key(metrics: Mapping, primary: str, prefix: str = "eval_") -> tuple:
    """Model selection's key of one evaluation: `primary`, then the :data:`SELECTION_TIE_BREAK` scores of the same
    evaluation set."""
    return (metrics[primary], *(metrics.get(f"{prefix}{name}", float("-inf")) for name in SELECTION_TIE_BREAK))


def _selection_entry(step, metrics: Mapping, primary: str, prefix: str = "eval_") -> dict:
    """One evaluation as model selection records it."""
    return {
        "step": step,
        primary: metrics[primary],
        **{name: metrics.get(f"{prefix}{name}") for name in SELECTION_TIE_BREAK},
    }


def _prefer_foreach(optimizer) -> None:
    """torch's Adam/AdamW on the CPU default to one tensor at a time; the multi-tensor ("foreach") kernels give the same
    parameters bit for bit and took a third off the optimizer step (the main job: 184 -> 119 ms, most of it the word
    embeddings' update; the step was 16-18 % of a training step). Groups that chose an implementation keep it."""
    if not isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        return
    for group in optimizer.param_groups:
        if group.get("foreach") is None and not group.get("fused"):
            group["foreach"] = True


def _follow_log_level(args) -> None:
    """The project's warnings (standard logging, outside transformers' logger tree) at the Trainer's `log_level`
    (`log_level_replica` on the other processes), as the Trainer sets transformers' own: `--log_level error` silenced
    transformers' warnings and not these. "passive" leaves them as they are. Like transformers' verbosity, the level
    holds for the rest of the process (a notebook's later inference too), until set again."""
    chosen = args.log_level if args.should_log else args.log_level_replica
    if chosen != "passive":
        logging.getLogger(__package__ or __name__).setLevel(args.get_process_log_level())


@contextlib.contextmanager
def _save_bar_off_unless_watched():
    """transformers' "Writing model shards" bar, off for one save where no one watches (each save wrote its frames
    into the log file). Only for the save: the setting is the process's (train.py turns it off for the whole run), and
    transformers' switch also turns the Hub's bars on and off, so theirs is restored as it was too."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as transformers_logging

    turn_off = transformers_logging.is_progress_bar_enabled() and not watched_output()
    hub_bars_off = are_progress_bars_disabled()
    if turn_off:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if turn_off:
            transformers_logging.enable_progress_bar()
            if hub_bars_off:
                disable_progress_bars()


class EpochSeededLengthGroupedSampler(torch.utils.data.Sampler):
    """transformers' length-grouped order (`get_length_grouped_indices`: shuffled, then sorted by length within
    mega-batches) drawn from a generator seeded by (seed, epoch), as accelerate's seedable sampler draws the "random"
    order. transformers' `LengthGroupedSampler` draws it from the global RNG, which a resume restores to the state of
    its checkpoint: a run resumed from a step checkpoint after its first epoch ordered that epoch otherwise than the
    run it continued, and ended with other weights. The Trainer calls `set_epoch` before each epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator()
        # (seed, epoch) mixed, not added: seed 113's first epoch would be seed 112's second
        generator.manual_seed(int(np.random.SeedSequence([self.seed % 2**64, self.epoch]).generate_state(1)[0]))
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


# The card of a run that trained a peft model: its output folder holds the adapter (and the heads and memories it
# saves), which the usage snippets below the note cannot load on their own.
_ADAPTER_CARD_NOTE = """## Adapter

This folder holds a peft adapter (LoRA on the encoder, with the heads and memories it trains in full), not the whole
model. Load it onto the SimMemRE model it was trained from:

```python
from peft import PeftModel
from transformers import AutoModel, pipeline

base = AutoModel.from_pretrained("<the SimMemRE model the adapter was trained from>", trust_remote_code=True)
model = PeftModel.from_pretrained(base, "<this folder or repository>")
extractor = pipeline("joint-re", model=model.merge_and_unload(), processor="<this folder or repository>")
```

For a repository that the snippets below load as it is, merge the adapter and save the model with
`simmemre.hub_simmemre.save_for_hub(model.merge_and_unload(), processor, folder)`.
"""


class SimMemRETrainer(Trainer):
    r"""
    [`Trainer`] for [`SimMemREModel`].

    - The model's training forward returns the joint loss. Each task loss is a mean over the optimizer step's samples
      (spans, pairs, entities) whatever `gradient_accumulation_steps` and the number of processes: accumulating two
      batches of one document gives the update of one batch of two (see `compute_loss`). The four task losses are
      averaged over the optimizer steps since the last log and logged next to `loss` (so they land in
      `trainer_state.json`'s `log_history`).
    - `EarlyStoppingCallback` counts only improvements of `metric_for_best_model` itself, not this class's
      tie-break: on a corpus where relation F1 stays 0 for the first evaluations, give it a patience beyond them.
    - Memory warm-up through [`MemoryWarmupCallback`]; the run's training time across resumes through
      [`TrainingTimeCallback`] (recorded in each checkpoint); the collator's negative samples drawn from
      `data_seed` where set, else `seed` (:func:`sampling_seed`). Each checkpoint records both seeds and the
      negatives' ([`TrainingSeedsCallback`]); a resume under other seeds is refused (:func:`check_checkpoint_seeds`),
      as one under other label lists or model settings is, and draws its negatives as the checkpoint's run did (a
      checkpoint of a version before 2026-12-07 from `seed`: :func:`checkpoint_negatives_seed`).
    - `evaluate()` runs full inference (eval mode, no labels, `per_device_eval_batch_size` documents at a time; under
      DDP every process takes a share and the predictions are gathered), decodes schema documents, scores them with
      the strict joint F1 metric and returns its flat scores as `{prefix}_...` floats (nested `per_type` is dropped),
      so `metric_for_best_model="relation_strict_f1"` selects on dev (and is used when TrainingArguments would select
      on the loss, which evaluation does not report). The predictions of the last call stay in `last_predictions`;
      `predict()` returns them (schema documents) with the "test" scores. `evaluate_at_thresholds()` scores one
      dataset at several threshold sets from one inference pass (the final test scoring: fixed and calibrated).
    - Rows of the datasets come from :func:`tokenize_documents` with the model's label lists; their columns are kept
      (`remove_unused_columns` is forced off), the collator needs them. `processing_class` is the
      [`SimMemREProcessor`] (the collator is built from it when none is given).
    - `head_learning_rate`: the learning rate of everything outside the encoder (heads, memories, embeddings); None
      trains them at `learning_rate` with the encoder. `given` (one of `GIVEN_LEVELS`): `evaluate()` gives the model
      gold mentions, clusters or entities and runs only the later stages (JEREX's evaluation in isolation).
    - An optimizer step whose gradients are not finite is skipped with a warning, and `max_non_finite_steps` of them in
      a row stop training with [`TrainingDivergedError`] ([`NonFiniteGradientCallback`]); the logs since a skipped
      step, and then the training metrics, count them as `skipped_steps`.
    - Model selection breaks ties on `metric_for_best_model` (when greater is better) by :data:`SELECTION_TIE_BREAK`:
      entity F1, then mention F1, then the later checkpoint. A run whose dev strict relation F1 is 0 at every
      evaluation still keeps its best-trained checkpoint, and `train()` ends with a warning that says so.
    - A peft `PeftModel` (LoRA on the encoder, the heads and memories in `modules_to_save`) trains as the model does:
      the memory switch is set on the model it wraps, each checkpoint gets that model's config beside the adapter
      (`ADAPTER_CHECKPOINT_CONFIG`, for the resume checks and the best checkpoint's switch), the card says how to load
      the adapter, and a warning names the heads and memories the adapter leaves frozen. `merge_peft_model()` merges
      the adapter into the encoder after training (train.py's `peft` section: `lora_model`), and the card's training
      procedure then still names the LoRA settings (`lora_description`).
    """

    def __init__(
        self,
        *args,
        head_learning_rate: Optional[float] = None,
        given: Optional[str] = None,
        max_non_finite_steps: int = 5,
        **kwargs,
    ):
        model, processor = kwargs.get("model", args[0] if args else None), kwargs.get("processing_class")
        if processor is not None and not hasattr(processor, "collate"):  # evaluation needs the processor's collate
            raise ValueError(
                "processing_class: a SimMemREProcessor (SimMemREProcessor(tokenizer) or "
                f"SimMemREProcessor.from_pretrained(folder)), got {type(processor).__name__}"
            )
        if len(args) < 3 and kwargs.get("data_collator") is None and model is not None and processor is not None:
            # transformers' default collator cannot batch these rows ("Could not infer dtype of dict").
            kwargs["data_collator"] = SimMemREDataCollator(processor, model.config)
        if kwargs.get("train_dataset") is not None:  # (evaluation sets are read so by `evaluate`)
            kwargs["train_dataset"] = _python_rows(kwargs["train_dataset"])
            _check_tokenized(kwargs["train_dataset"], "train_dataset", ("input_ids", "doc_index") + GOLD_COLUMNS)
            _check_label_lists(kwargs["train_dataset"], "train_dataset", getattr(model, "config", None))
        given_optimizer = (kwargs.get("optimizers") or (None, None))[0]
        if given_optimizer is not None and head_learning_rate is not None:  # its groups were kept: heads at lr
            raise ValueError(
                "head_learning_rate: not applied to an optimizer given with optimizers=(...); give the heads' "
                "parameter group its rate in that optimizer, or leave optimizers out"
            )
        for name, use in (("compute_loss_func", "the model's joint loss"), ("compute_metrics", "the strict F1 metric")):
            if kwargs.get(name) is not None:
                raise ValueError(f"{name}: not supported by SimMemRETrainer, which trains and evaluates with {use}")
        super().__init__(*args, **kwargs)
        if given is not None and given not in GIVEN_LEVELS:
            raise ValueError(f"given: expected one of {list(GIVEN_LEVELS)} or None, got {given!r}")
        _follow_log_level(self.args)
        # Evaluation given gold input (JEREX's "in isolation"): `evaluate()` runs only the stages after `given`.
        self.given = given
        # The heads and memories start from random weights while the encoder is pretrained; a larger rate for them
        # (as GLiNER-style span extractors do) lets a small encoder's cascade learn within the epochs budget.
        self.head_learning_rate = None if head_learning_rate is None else float(head_learning_rate)
        if self.args.torch_compile:
            # Measured: the first step compiles (minutes on a CPU), the second fails inside the compiler (every
            # document brings other candidate and pair counts, and the encoder's window count).
            raise ValueError(
                "torch_compile: not supported for SimMemRE (the heads' shapes change with every document, and "
                "compiling the second step fails); train without it"
            )
        if self.args.label_smoothing_factor:  # (the Trainer's label smoother never sees the model's own losses)
            raise ValueError("label_smoothing_factor: not supported for SimMemRE (the model computes its joint loss)")
        if self.args.remove_unused_columns:
            self.args.remove_unused_columns = False
        if self.args.metric_for_best_model in ("loss", "eval_loss"):
            # TrainingArguments' default under load_best_model_at_end; evaluation here scores F1 and has no loss, so
            # the Trainer would stop with a KeyError after the first evaluation.
            logger.warning("metric_for_best_model: evaluation reports no loss; selecting on relation_strict_f1")
            self.args.metric_for_best_model, self.args.greater_is_better = "relation_strict_f1", True
        check_selection_metric(self.args.metric_for_best_model)
        frozen = frozen_heads(self.model) if self.model is not None else []
        if frozen:
            logger.warning(
                "the peft model trains none of %s: a new SimMemRE model's heads and memories start from random "
                "weights; give them to the adapter with LoraConfig(modules_to_save=%s) (all but the encoder) unless "
                "they were trained before",
                frozen,
                frozen,
            )
        # The model computes its own mean losses; no `num_items_in_batch`, and Trainer scales for accumulation.
        self.model_accepts_loss_kwargs = False
        self._memory_schedule_active = False
        self._memory_reads_since = None  # set by a resume from a checkpoint that read the memories
        self._merged_lora = None  # the LoRA settings merge_peft_model merged into the encoder
        self._base_encoder_digest = None  # a peft model's frozen encoder weights (`frozen_encoder_digest`)
        self._task_loss_sums = None
        self.last_predictions = None
        self.last_predictions_at = {}
        # Whether this trainer chose the collator's seed (sampling_seed; a resume keeps the checkpoint's: see
        # _load_from_checkpoint), rather than the collator's maker.
        self._chooses_negatives_seed = False
        if hasattr(self.data_collator, "set_epoch"):
            if getattr(self.data_collator, "seed", 0) is None:
                self.data_collator.seed = sampling_seed(self.args)
                self._chooses_negatives_seed = True
            if self.args.dataloader_num_workers > 0 and self.args.dataloader_persistent_workers:
                logger.warning(
                    "dataloader_persistent_workers=True: worker copies of the collator do not see "
                    "set_epoch, so negative samples would repeat every epoch"
                )
            self.add_callback(SamplingEpochCallback(self.data_collator))
        self._epoch_seeded_sampler = None  # (made with the training dataloader)
        self.add_callback(SamplerEpochCallback(self))
        self.add_callback(MemoryWarmupCallback(self))
        self.add_callback(TrainingTimeCallback())
        self.add_callback(TrainingSeedsCallback())
        if not _is_count(max_non_finite_steps, 1):
            raise ValueError(f"max_non_finite_steps must be a positive integer, got {max_non_finite_steps!r}")
        self._non_finite_guard = NonFiniteGradientCallback(self, max_non_finite_steps)
        self.add_callback(self._non_finite_guard)
        self._best_selection_key = None
        self._selection_history = []
        callbacks = self.callback_handler.callbacks
        if any(isinstance(callback, ProgressCallback) for callback in callbacks):
            self.remove_callback(ProgressCallback)
            self.add_callback(CompactProgressCallback)
        elif any(type(callback) is PrinterCallback for callback in callbacks):  # disable_tqdm: its 800-character dicts
            self.remove_callback(PrinterCallback)
            self.add_callback(CompactProgressCallback(interactive=False, every_log=True))

    # -- model selection ----------------------------------------------------------------------------------
    def _determine_best_metric(self, metrics, trial):
        """Trainer's best-checkpoint test with ties broken by :data:`SELECTION_TIE_BREAK`, then the later step."""
        if self.args.metric_for_best_model is None or not self.args.greater_is_better:
            return super()._determine_best_metric(metrics, trial)
        primary = self.args.metric_for_best_model
        primary = primary if primary.startswith("eval_") else f"eval_{primary}"
        if primary not in metrics:
            return super()._determine_best_metric(metrics, trial)  # Trainer's KeyError lists the available metrics
        if self._best_selection_key is None and self.state.best_metric is not None:
            self._restore_selection(primary)
        prefix = self._selection_prefix(primary)
        key = _selection_key(metrics, primary, prefix)
        self._selection_history.append(_selection_entry(self.state.global_step, metrics, primary, prefix))
        # >= : an equal key goes to the later checkpoint (it trained longer).
        if self._best_selection_key is None or key >= self._best_selection_key:
            self._best_selection_key = key
            self.state.best_metric = metrics[primary]
            if self.args.save_strategy in ("steps", "epoch", "best"):
                self.state.best_global_step = self.state.global_step
            return True
        return False

    def _selection_prefix(self, primary: str) -> str:
        names = self.eval_dataset.keys() if isinstance(self.eval_dataset, dict) else ()
        return _metric_prefix(primary, names)

    def _restore_selection(self, primary: str):
        """After a resume, the best key and the evaluations so far from the restored state's log history (the
        Trainer restores `best_metric` but not this class's tie-break key, so the next evaluation would win)."""
        evaluations = [entry for entry in self.state.log_history if primary in entry]
        prefix = self._selection_prefix(primary)
        self._selection_history.extend(
            _selection_entry(entry.get("step"), entry, primary, prefix) for entry in evaluations
        )
        best = [entry for entry in evaluations if entry.get("step") == self.state.best_global_step]
        self._best_selection_key = (
            _selection_key(best[-1], primary, prefix)
            if best
            else (self.state.best_metric, *(float("-inf") for _ in SELECTION_TIE_BREAK))
        )

    def train(self, *args, **kwargs):
        processor = self.processing_class
        if not hasattr(self.data_collator, "set_epoch") and hasattr(processor, "collate") and self.model is not None:
            # With `model_init` the model (and so the collator's label lists) exists only from here on.
            self.data_collator = SimMemREDataCollator(processor, self.model.config)
            self._chooses_negatives_seed = True
            self.add_callback(SamplingEpochCallback(self.data_collator))
        if not hasattr(self.data_collator, "set_epoch"):  # only training batches need it; evaluation collates itself
            raise ValueError(
                "SimMemRETrainer.train needs data_collator=SimMemREDataCollator(processor, model.config) (or "
                "processing_class=the SimMemREProcessor, which builds it)"
            )
        self._task_loss_sums = None  # the steps after the last log of an earlier train() are not this run's
        self._memory_reads_since = None
        if self._chooses_negatives_seed:  # (a resume sets the checkpoint's: _load_from_checkpoint)
            self.data_collator.seed = sampling_seed(self.args)
        self._share_negatives_seed()
        output = super().train(*args, **kwargs)
        primary = self.args.metric_for_best_model or ""
        primary = primary if primary.startswith("eval_") else f"eval_{primary}"
        if self._selection_history and all(not entry.get(primary) for entry in self._selection_history):
            kept = self.state.best_model_checkpoint or f"step {self.state.best_global_step}"
            fallbacks = [name for name in SELECTION_TIE_BREAK if name != primary[5:]]
            task = {"relation": "relations", "entity": "entities", "mention": "mentions", "coref": "coreference"}
            learned = task.get(primary[5:].split("_")[0], primary[5:])
            message = (
                f"{primary[5:]} was 0 at every evaluation ({len(self._selection_history)}), so model "
                f"selection fell back to {', then '.join([*fallbacks, 'the later checkpoint'])}; "
                f"kept {kept}. The model has not learned {learned}: train longer, on more documents, or check "
                f"the annotations (a dev set without any gold {learned} scores 0 whatever the model)."
            )
            if self.is_world_process_zero():  # once, not once per process
                logger.warning(message)  # a warnings.warn beside it printed the message twice
        return output

    def _get_train_sampler(self, train_dataset=None):
        """`train_sampling_strategy="group_by_length"` as an :class:`EpochSeededLengthGroupedSampler` (the order of an
        epoch depends only on the seed and the epoch, whether or not the run was resumed); others as the Trainer's."""
        from transformers.trainer_utils import has_length

        train_dataset = self.train_dataset if train_dataset is None else train_dataset
        strategy = self.args.train_sampling_strategy
        if strategy != "group_by_length" or train_dataset is None or not has_length(train_dataset):
            return super()._get_train_sampler(train_dataset)  # (it warns that an IterableDataset keeps its order)
        columns = getattr(train_dataset, "column_names", None) or ()
        name = self.args.length_column_name  # (rows of tokenize_documents have it; others by their subwords)
        lengths = train_dataset[name] if name in columns else [len(row["input_ids"]) for row in train_dataset]
        seed = sampling_seed(self.args)
        self._epoch_seeded_sampler = EpochSeededLengthGroupedSampler(
            lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps, seed
        )
        return self._epoch_seeded_sampler

    # -- optimizer ----------------------------------------------------------------------------------------
    def _save(self, output_dir: Optional[str] = None, state_dict=None):
        with _save_bar_off_unless_watched():
            super()._save(output_dir, state_dict)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        wrapped = simmemre_model(self.model)
        if wrapped is not self.model and self.args.should_save:
            # A peft model saves only its adapter: the checkpoint gets the model's config too, which a resume checks
            # (label lists, settings), restores the memory switch from and the best checkpoint's switch is read from.
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            wrapped.config.to_json_file(os.path.join(folder, ADAPTER_CHECKPOINT_CONFIG))
            with open(os.path.join(folder, BASE_ENCODER_DIGEST_FILE), "w", encoding="utf-8") as handle:
                json.dump({"sha256": self.frozen_encoder_digest()}, handle)  # (no local path: may be pushed)

    def frozen_encoder_digest(self) -> str:
        """`base_encoder_digest` of the peft model trained, hashed once: LoRA leaves the base weights frozen, and the
        resume checks and every checkpoint's save read it."""
        if self._base_encoder_digest is None:
            self._base_encoder_digest = base_encoder_digest(self.model)
        return self._base_encoder_digest

    # -- LoRA --------------------------------------------------------------------------------------------
    def merge_peft_model(self) -> Optional[dict]:
        """Merge a peft model's LoRA weights into its encoder and put the heads' and memories' trained copies in
        their place (`merge_and_unload`): from here on the trainer holds a plain `SimMemREModel`, which evaluation
        scores, calibration tunes and `save_for_hub` saves, so the scores reported are those of the model saved.
        Returns the merged adapter's settings (`lora_settings_of`); None, and nothing done, for a model without one.
        Training again after it trains the whole model."""
        settings = lora_settings_of(self.model)
        if settings is None:
            return None
        self.model = self.model_wrapped = self.model.merge_and_unload()
        self._merged_lora = settings
        return settings

    def lora_description(self) -> Optional[str]:
        """The model card's line for the LoRA the model was trained with (`describe_lora`), also once merged; None
        for a model trained without it."""
        if self._merged_lora is not None:
            return describe_lora(self._merged_lora, merged=True)
        settings = lora_settings_of(self.model) if self.model is not None else None
        return describe_lora(settings, merged=False) if settings is not None else None

    def create_optimizer(self, model=None):
        """Trainer's optimizer; with `head_learning_rate`, each of its parameter groups is split into the encoder's
        parameters (at `learning_rate`) and everything else (heads, memories, embeddings of sizes and types, at
        `head_learning_rate`). The scheduler, created afterwards, scales both groups alike."""
        split_done = self.optimizer is not None
        optimizer = super().create_optimizer(model)
        if not split_done:
            _prefer_foreach(optimizer)
        if self.head_learning_rate is None or split_done:
            return optimizer
        opt_model = self.model if model is None else model
        encoder = getattr(opt_model, "encoder", None)
        if encoder is None:
            raise ValueError("head_learning_rate needs a model with an `encoder` submodule (SimMemREModel)")
        encoder_ids = {id(parameter) for parameter in encoder.parameters()}
        groups = []
        for group in optimizer.param_groups:
            settings = {key: value for key, value in group.items() if key != "params"}
            encoder_params = [p for p in group["params"] if id(p) in encoder_ids]
            head_params = [p for p in group["params"] if id(p) not in encoder_ids]
            if encoder_params:
                groups.append({**settings, "params": encoder_params})
            if head_params:
                groups.append({**settings, "params": head_params, "lr": self.head_learning_rate})
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    # -- memory warm-up ---------------------------------------------------------------------------------
    def memory_reads_due_at(self, step: int) -> bool:
        return memory_reads_due(self.model.config, step, self.state.max_steps, self._memory_reads_since)

    def apply_memory_warmup(self, evaluation: bool = False):
        """Set `model.memory_reads_enabled` from the trainer state (global step vs. warm-up steps). An evaluation
        uses the switch of the last training step (the one before `global_step`): at the warm-up's end it scored
        reads that no step had trained, and that checkpoint could win model selection or end early stopping."""
        if self.state.max_steps and self.state.max_steps > 0:
            step = self.state.global_step
            if evaluation and step > 0:
                step -= 1
            simmemre_model(self.model).memory_reads_enabled = self.memory_reads_due_at(step)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        check_checkpoint_labels(resume_from_checkpoint, self.model.config)
        check_checkpoint_settings(resume_from_checkpoint, self.model.config)
        check_checkpoint_adapter(resume_from_checkpoint, self.model, self.frozen_encoder_digest)
        check_checkpoint_seeds(resume_from_checkpoint, self.args)
        self._resume_negatives_seed(resume_from_checkpoint)
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self._memory_reads_since = checkpoint_reads_since(resume_from_checkpoint)

    def _resume_negatives_seed(self, checkpoint) -> None:
        """Draw the negative samples from the seed the checkpoint's run drew them from: a run of a version before
        2026-12-07 drew them from `seed` even where `data_seed` was set, and its resume switched them to data_seed from
        the resume step on. A collator seed its maker chose is kept; where the checkpoint records another, the resume is
        refused."""
        if not hasattr(self.data_collator, "seed"):  # (another collator's samples are its own)
            return
        seed, recorded = checkpoint_negatives_seed(checkpoint, self.args)
        collator_seed = self.data_collator.seed
        if seed is None or seed == collator_seed:
            return
        if self._chooses_negatives_seed:
            if not recorded:
                logger.warning(
                    "resume_from_checkpoint %s: saved by a version that drew the negative samples from seed %s, not "
                    "data_seed %s; this run goes on drawing them from seed %s (its checkpoints record it)",
                    checkpoint,
                    seed,
                    self.args.data_seed,
                    seed,
                )
            self.data_collator.seed = seed
            self._share_negatives_seed()
        elif recorded:
            raise ValueError(
                f"resume_from_checkpoint {checkpoint}: its run drew the negative samples from seed {seed}, this run's "
                f"collator from {collator_seed}; give the collator seed={seed} (or None: the checkpoint's)"
            )

    def _load_callback_state(self):
        super()._load_callback_state()
        self._share_negatives_seed()  # (restore_callback_states_from_checkpoint made new callbacks)

    def _share_negatives_seed(self) -> None:
        """Tell the TrainingSeedsCallbacks the seed of the collator's negative samples, which their records keep."""
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TrainingSeedsCallback):
                callback.negatives_seed = getattr(self.data_collator, "seed", None)

    # -- losses -------------------------------------------------------------------------------------
    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Trainer's micro-batches of one optimizer step, with `num_items_in_batch` the step's sample count per task
        `(4,)` (over every micro-batch and process; see `TrainingTargets.sample_counts`)."""
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batch_samples:
            return batch_samples, None
        counts = sum(TrainingTargets.from_inputs(batch).sample_counts().to(device) for batch in batch_samples)
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return batch_samples, counts

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The joint loss of a micro-batch. Given the step's sample counts (`get_batch_samples`), each task loss is
        weighted by this micro-batch's share of the step's samples: the accumulated gradient is then that of one batch
        of all the step's documents (JEREX's means over a batch's samples), whatever `gradient_accumulation_steps`
        and the number of processes (DDP averages their gradients, hence the factor). `training_step` divides what
        this returns by the micro-batches of the step (every transformers 5 release does for a model that takes no
        loss kwargs, without `compute_loss_func`), so the share is returned multiplied by them."""
        outputs = model(**inputs)
        loss = outputs["loss"]
        task_losses = [outputs[name].reshape(()) for name in TASK_LOSSES]
        step_share = 1.0
        if num_items_in_batch is not None:
            processes = self.accelerator.num_processes
            micro_batches = getattr(self, "current_gradient_accumulation_steps", 1)
            # Each micro-batch of each process counts this much of one optimizer step in the logged averages.
            step_share = 1.0 / (micro_batches * processes)
            if micro_batches > 1 or processes > 1:
                counts = TrainingTargets.from_inputs(inputs).sample_counts().to(loss.device)
                shares = counts * processes / num_items_in_batch.to(loss.device).clamp(min=1)
                task_losses = [value * share for value, share in zip(task_losses, shares)]
                config = self.model.config  # `model` may be the DDP wrapper
                weights = (config.mention_loss_weight, config.coref_loss_weight)
                weights += (config.entity_loss_weight, config.relation_loss_weight)
                loss = sum(weight * value for weight, value in zip(weights, task_losses)) * micro_batches
                # The logged task losses: the step's pooled means, their processes' shares summed in `log`.
                task_losses = [value / processes for value in task_losses]
        if model.training:
            # A task's logged mean counts only the steps that had samples of it: steps without (a batch of documents
            # without relations, say) have loss 0 and pulled the logged mean toward 0.
            counts = (
                num_items_in_batch
                if num_items_in_batch is not None
                else TrainingTargets.from_inputs(inputs).sample_counts()
            )
            present = (counts.to(loss.device) > 0).float()
            values = torch.cat([torch.stack([value.detach().float() for value in task_losses]), present * step_share])
            self._task_loss_sums = (
                values
                if self._task_loss_sums is None
                else self._task_loss_sums + values.to(self._task_loss_sums.device)
            )
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, start_time: Optional[float] = None) -> None:
        if "loss" in logs:  # a training log: every process is here at the same time (see _maybe_log_save_evaluate)
            sums = self._task_loss_sums
            if sums is None:
                sums = torch.zeros(2 * len(TASK_LOSSES), device=self.args.device)
            sums = sums.to(self.args.device)
            if _is_distributed(self.args):
                sums = sums.clone()
                torch.distributed.all_reduce(sums)
            self._task_loss_sums = None
            totals, steps = sums[: len(TASK_LOSSES)].tolist(), sums[len(TASK_LOSSES) :].tolist()
            if any(count > 0 for count in steps):  # none: no training step since the last log
                for name, total, count in zip(TASK_LOSSES, totals, steps):
                    logs[name] = total / count if count > 0 else 0.0
        guard = getattr(self, "_non_finite_guard", None)
        # (the end of training reports the steps since the last log)
        if ("loss" in logs or "train_loss" in logs) and guard is not None and guard.skipped_since_log:
            logs["skipped_steps"], guard.skipped_since_log = guard.skipped_since_log, 0
        super().log(logs, start_time)

    # -- inference ----------------------------------------------------------------------------------
    def _infer(self, features: list, texts: list, ids: list, batch_size: int, progress: bool = False) -> list:
        """Decoded schema documents for encoded documents (`processor.encode_document` outputs)."""
        return self._infer_at(features, texts, ids, batch_size, {None: None}, progress)[None]

    def _infer_at(
        self, features: list, texts: list, ids: list, batch_size: int, threshold_sets: Mapping, progress=False
    ) -> dict:
        """`{name: decoded schema documents}` at each of `threshold_sets` (`{name: {threshold name: value}}`, None for
        the model's); with several sets the encoder and the candidate scores run once per batch for all of them."""
        model = self.model
        processor = self.processing_class
        was_training = model.training
        model.eval()
        documents = {name: [] for name in threshold_sets}
        keys = list(FEATURE_PADDING)
        batches = [
            range(start, min(start + batch_size, len(features))) for start in range(0, len(features), batch_size)
        ]
        if progress:
            self.callback_handler.eval_dataloader = batches
        try:
            # float32 even under --bf16/--fp16 (accelerate autocasts only model.forward; evaluation calls
            # model.predict): dev selection and calibration see the precision the pipeline serves in by default.
            with torch.no_grad():
                for indices in batches:
                    batch = [{key: features[i][key] for key in keys} for i in indices]
                    options = {}
                    if self.given is not None:
                        options["given"] = [given_input(features[i], self.given) for i in indices]
                    batch = {key: value.to(self.args.device) for key, value in processor.collate(batch).items()}
                    if len(threshold_sets) > 1:  # one encoding, and one candidate scoring per document, for all
                        options["token_representations"] = model.token_representations(
                            batch["input_ids"], batch["attention_mask"]
                        )
                        options["inference_cache"] = [{} for _ in indices]
                    for name, thresholds in threshold_sets.items():
                        predictions = model.predict(batch, **options, **(thresholds or {}))
                        for i, prediction in zip(indices, predictions):
                            documents[name].append(
                                processor.decode(
                                    prediction,
                                    texts[i],
                                    features[i]["word_char_spans"],
                                    model.config.entity_types,
                                    model.config.relation_types,
                                    document_id=ids[i],
                                )
                            )
                    if progress:
                        self.control = self.callback_handler.on_prediction_step(self.args, self.state, self.control)
                        self._label_prediction_bar(progress)
        finally:
            model.train(was_training)
        return documents

    def _label_prediction_bar(self, progress) -> None:
        """Name the stage on the Trainer's (unlabelled) evaluation progress bar: "Evaluating eval", ... ."""
        label = progress if isinstance(progress, str) else "Evaluating"
        for callback in self.callback_handler.callbacks:
            bar = getattr(callback, "prediction_bar", None)
            # tqdm keeps the description as "label: ", and each refresh wrote another frame (past its rate limit)
            if not hasattr(bar, "set_description"):  # transformers' notebook bar (Jupyter) has no label to set
                continue
            if str(getattr(bar, "desc", "")).removesuffix(": ") != label:
                bar.set_description(label, refresh=False)

    def predict_documents(self, documents: Sequence, batch_size: Optional[int] = None) -> list:
        """Run end-to-end inference on schema documents (or raw strings) in this process; returns schema documents
        (`id` kept, scores on mentions/entities/relations)."""
        processor = self.processing_class
        features, texts, ids = [], [], []
        for index, document in enumerate(documents):
            features.append(processor.encode_document(document, index))
            texts.append(document if isinstance(document, str) else document["text"])
            ids.append(None if isinstance(document, str) else document.get("id"))
        return self._infer(features, texts, ids, batch_size or self.args.per_device_eval_batch_size)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        override = eval_dataset is not None
        eval_dataset = eval_dataset if override else self.eval_dataset
        if isinstance(eval_dataset, dict):
            metrics = {}
            for name, dataset in eval_dataset.items():
                metrics.update(
                    self.evaluate(
                        dataset if override else self.eval_dataset[name], ignore_keys, f"{metric_key_prefix}_{name}"
                    )
                )
            return metrics
        if eval_dataset is None:
            raise ValueError("SimMemRETrainer.evaluate needs an eval_dataset (rows of tokenize_documents)")
        metrics = self._scores_of(eval_dataset, metric_key_prefix)
        self.log(metrics)
        # A copy: Jupyter's NotebookProgressCallback pops the runtime figures from the dict it is given.
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, dict(metrics))
        return metrics

    def evaluate_at_thresholds(self, eval_dataset, threshold_sets: Mapping) -> dict:
        """`evaluate` of one dataset at several threshold sets (`{metric_key_prefix: {threshold name: value}}`, None
        for the model's), the encoder run once per batch for all of them: each prefix's scores are logged as
        `evaluate` logs them, and returned together. The predictions stay in `last_predictions_at[prefix]`.

        Example: `trainer.evaluate_at_thresholds(test, {"test": fixed, "calibrated_test": calibrated})`."""
        if isinstance(eval_dataset, dict) or eval_dataset is None:
            raise ValueError("SimMemRETrainer.evaluate_at_thresholds takes one dataset (rows of tokenize_documents)")
        by_prefix = self._scores_at(eval_dataset, threshold_sets)
        merged = {}
        for metrics in by_prefix.values():
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, dict(metrics))
            merged.update(metrics)
        return merged

    def _scores_of(self, eval_dataset, metric_key_prefix: str) -> dict:
        """Full inference on `eval_dataset` (every process a share) and its strict scores as `{prefix}_...` floats;
        the predictions stay in `last_predictions`."""
        return self._scores_at(eval_dataset, {metric_key_prefix: None})[metric_key_prefix]

    def _scores_at(self, eval_dataset, threshold_sets: Mapping) -> dict:
        """`{prefix: scores}` of `_scores_of` at each threshold set (`{prefix: thresholds or None}`), from one
        inference pass; the predictions stay in `last_predictions_at` (the last set's in `last_predictions`)."""
        from datasets import Dataset, IterableDataset

        if isinstance(eval_dataset, IterableDataset):  # evaluation reads its rows by position (and shards them)
            eval_dataset = Dataset.from_list(list(eval_dataset), features=eval_dataset.features)
        eval_dataset = _python_rows(eval_dataset)
        _check_tokenized(eval_dataset, "eval_dataset", REFERENCE_COLUMNS + ("word_char_spans",))
        _check_label_lists(eval_dataset, "eval_dataset", getattr(self.model, "config", None))
        if self._memory_schedule_active:
            self.apply_memory_warmup(evaluation=True)
        start = time.time()

        total = len(eval_dataset)
        rank, world = (self.args.process_index, self.args.world_size) if _is_distributed(self.args) else (0, 1)
        positions = list(range(rank, total, world))
        rows = [eval_dataset[i] for i in positions]
        label = " and ".join(threshold_sets)
        local = self._infer_at(
            rows,
            [row["text"] for row in rows],
            [row["id"] for row in rows],
            max(1, self.args.per_device_eval_batch_size),
            threshold_sets,
            progress=f"Evaluating {label}" + (f" given {self.given}" if self.given else ""),
        )
        local = {prefix: list(zip(positions, documents)) for prefix, documents in local.items()}
        if world > 1:
            gathered = [None] * world
            torch.distributed.all_gather_object(gathered, local)
            local = {prefix: [item for part in gathered for item in part[prefix]] for prefix in threshold_sets}
        # The text gives the mention strings of the seq2rel level.
        references = [
            {"id": row["id"], "text": row["text"], "entities": row["entities"], "relations": row["relations"]}
            for row in eval_dataset.select_columns(["id", "text", "entities", "relations"])
        ]
        by_prefix, self.last_predictions_at = {}, {}
        for prefix, pairs in local.items():
            predictions = [document for _, document in sorted(pairs, key=lambda item: item[0])]
            scores = joint_re_scores(predictions, references)
            self.last_predictions = self.last_predictions_at[prefix] = predictions
            metrics = {
                f"{prefix}_{key}": float(value)
                for key, value in scores.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
            # (the runtime of the one pass, for each set)
            metrics.update(
                speed_metrics(
                    prefix,
                    start,
                    num_samples=total,
                    num_steps=math.ceil(total / max(1, self.args.per_device_eval_batch_size)),
                )
            )
            by_prefix[prefix] = metrics
        return by_prefix

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test") -> PredictionOutput:
        """The scores of `evaluate` on `test_dataset` (rows of :func:`tokenize_documents`) with prefix "test", returned
        as `PredictionOutput(predictions=<the decoded schema documents, in row order>, label_ids=None, metrics)`. As
        transformers' `predict`, it calls the callbacks' `on_predict` and logs nothing (it was an evaluation: the test
        scores went into `log_history`, and `EarlyStoppingCallback` saw them). (The inherited `predict` ran the
        training forward: sampled losses and training targets, no documents.)"""
        if isinstance(test_dataset, dict):
            raise ValueError("SimMemRETrainer.predict takes one dataset; evaluate() scores a dict of them")
        metrics = self._scores_of(test_dataset, metric_key_prefix)
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, metrics)
        return PredictionOutput(predictions=self.last_predictions, label_ids=None, metrics=metrics)

    # -- Hub ------------------------------------------------------------------------------------------
    def create_model_card(
        self,
        language=None,
        license=None,
        tags=None,
        model_name=None,
        finetuned_from=None,
        tasks=None,
        dataset_tags=None,
        dataset=None,
        dataset_args=None,
    ) -> None:
        """The package's model card in `output_dir`/README.md (labels, the `joint-re` pipeline with
        `trust_remote_code`, the saved thresholds, the strict scores of the evaluation of the model pushed (the best
        checkpoint's under `load_best_model_at_end`, else the last) as the validation results), in
        place of transformers' generic draft, which `push_to_hub` uploads. `tasks` and `dataset_args` are not used."""
        if not self.is_world_process_zero():
            return
        from .hub_simmemre import placeholder_repo_id, render_model_card, training_procedure

        evaluations = [entry for entry in self.state.log_history if "eval_relation_strict_f1" in entry]
        if self.args.load_best_model_at_end and self.state.best_global_step:
            # The model being pushed is the best checkpoint's, not the last evaluated one.
            evaluations = [entry for entry in evaluations if entry.get("step") == self.state.best_global_step]
        scores = {
            key[len("eval_") :]: value
            for key, value in (evaluations[-1] if evaluations else {}).items()
            if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second"))
        }
        first = lambda value: value[0] if isinstance(value, (list, tuple)) and value else value  # noqa: E731
        card = render_model_card(
            self.model.config,
            results={"validation": scores} if scores else None,
            dataset_name=first(dataset) or first(dataset_tags),
            base_model=finetuned_from,
            repo_id=self.args.hub_model_id or placeholder_repo_id(self.args.output_dir),
            model_name=model_name,
            license=license or "apache-2.0",
            language=language or "en",
            tags=[tags] if isinstance(tags, str) else tags,
            dataset_split="validation",
            training=training_procedure(
                self, train_documents=len(self.train_dataset) if hasattr(self.train_dataset, "__len__") else None
            ),
        )
        if simmemre_model(self.model) is not self.model:  # the folder holds a peft adapter, not the model
            card = card.replace("\n## Usage\n", f"\n{_ADAPTER_CARD_NOTE}\n## Usage\n", 1)
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "README.md"), "w", encoding="utf-8") as handle:
            handle.write(card)


# ----------------------------------------------------------------------------------------------------
# Threshold calibration
# ----------------------------------------------------------------------------------------------------

# JEREX's thresholds (0.85/0.85/0.6) were set for BERT on DocRED; the grid spans them and lower values.
DEFAULT_THRESHOLD_GRID = {
    "mention_threshold": (0.3, 0.4, 0.5, 0.6, 0.7, 0.85),
    "coref_threshold": (0.7, 0.85),
    # Up to 0.95: with 0.85 as the top, dev F1 was still rising at 0.85 in three of four CDR runs.
    "relation_threshold": tuple(round(0.2 + 0.05 * step, 2) for step in range(16)),  # 0.2 ... 0.95
    # 0 keeps every entity (JEREX). Chosen on dev (main job, seeds 112 and 113): strict relation F1 rose up to 0.95,
    # 0.98 and 0.99 (docs/results.md, "Entity threshold").
    "entity_threshold": (0.0, 0.8, 0.9, 0.95, 0.98, 0.99),
}


def _with_entities_above(documents: list, threshold: float) -> list:
    """The decoded documents with only the entities whose best mention scores at least `threshold` (and the relations
    between those): what `SimMemREModel.extract(entity_threshold=...)` keeps, as a filter of its output at 0."""
    if threshold <= 0:
        return documents
    filtered = []
    for document in documents:
        index = {}
        for number, entity in enumerate(document["entities"]):
            if max(mention["score"] for mention in entity["mentions"]) >= threshold:
                index[number] = len(index)
        filtered.append(
            {
                **document,
                "entities": [document["entities"][number] for number in index],
                "relations": [
                    {**relation, "head": index[relation["head"]], "tail": index[relation["tail"]]}
                    for relation in document["relations"]
                    if relation["head"] in index and relation["tail"] in index
                ],
            }
        )
    return filtered


def _with_relations_above(documents: list, threshold: float) -> list:
    return [
        {**document, "relations": [r for r in document["relations"] if r["score"] >= threshold]}
        for document in documents
    ]


def _encode_rows(model, processor, rows, device, progress, label: str = "documents"):
    """Per row: (collated batch on `device`, token representations, inference cache): the encoder runs once per
    document, and the candidate scores once (on the first prediction)."""
    from tqdm.auto import tqdm

    keys = list(FEATURE_PADDING)
    encoded = []
    for row in tqdm(rows, desc=f"Encoding {label}", disable=not (progress and watched_output())):
        batch = {key: value.to(device) for key, value in processor.collate([{k: row[k] for k in keys}]).items()}
        encoded.append((batch, model.token_representations(batch["input_ids"], batch["attention_mask"]), [{}]))
    return encoded


def _predict_encoded(model, processor, rows, encoded, thresholds: Mapping, given: Optional[str] = None) -> list:
    config = model.config
    documents = []
    for row, (batch, hidden, cache) in zip(rows, encoded):
        options = {} if given is None else {"given": [given_input(row, given)]}
        prediction = model.predict(batch, token_representations=hidden, inference_cache=cache, **thresholds, **options)[
            0
        ]
        documents.append(
            processor.decode(
                prediction,
                row["text"],
                row["word_char_spans"],
                config.entity_types,
                config.relation_types,
                document_id=row["id"],
            )
        )
    return documents


def _references(rows) -> list:
    return [
        {"id": row["id"], "text": row["text"], "entities": row["entities"], "relations": row["relations"]}
        for row in rows
    ]


def check_selection_metric(name: Optional[str]) -> None:
    """A `metric_for_best_model` that evaluation never reports failed at the first evaluation, hours into a run."""
    if name is None:
        return
    text = [{"id": "", "text": "x", "entities": [], "relations": []}]  # with text: the string levels report too
    reported = sorted(set(_flat(joint_re_scores(text, text))) - {"documents"})
    base = name.removeprefix("eval_")
    # A named evaluation set (eval_dataset={"dev": ...}) prefixes its name: dev_relation_strict_f1.
    if base not in reported and not any(base.endswith(f"_{metric}") for metric in reported):
        import difflib

        close = difflib.get_close_matches(base, reported, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"metric_for_best_model {name!r}: evaluation does not report it; {hint}it reports {reported}")


def _flat(scores: Mapping) -> dict:
    return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _model_device(model, device):
    return torch.device(device) if device is not None else next(model.parameters()).device


def evaluate_thresholds(
    model,
    processor,
    rows: Sequence[Mapping],
    thresholds: Optional[Mapping] = None,
    device=None,
    progress: bool = False,
    given: Optional[str] = None,
    return_predictions: bool = False,
):
    """Strict joint F1 scores (flat dict) of end-to-end inference on `rows` (see :func:`calibrate_thresholds`) at
    `thresholds` (default: the model's); `given` (:data:`GIVEN_LEVELS`) runs only the stages after that gold input.
    With `return_predictions`, `(scores, predicted schema documents)`."""
    scores, documents = evaluate_threshold_sets(
        model, processor, rows, {"": thresholds}, device=device, progress=progress, given=given
    )[""]
    return (scores, documents) if return_predictions else scores


def evaluate_threshold_sets(
    model,
    processor,
    rows: Sequence[Mapping],
    threshold_sets: Mapping[str, Optional[Mapping]],
    device=None,
    progress: bool = False,
    given: Optional[str] = None,
    label: str = "documents",
) -> dict:
    """:func:`evaluate_thresholds` at each of several threshold sets, the encoder run once per document for all of
    them: `{name: (flat scores, predicted schema documents)}`. `label` names the rows in the progress bar."""
    rows = _rows_to_reread(rows)
    was_training = model.training
    model.eval()
    results = {}
    try:
        with torch.no_grad():
            encoded = _encode_rows(model, processor, rows, _model_device(model, device), progress, label)
            for name, thresholds in threshold_sets.items():
                chosen = {
                    key: float((thresholds or {}).get(key, getattr(model.config, key))) for key in THRESHOLD_NAMES
                }
                documents = _predict_encoded(model, processor, rows, encoded, chosen, given)
                results[name] = (_flat(joint_re_scores(documents, _references(rows))), documents)
    finally:
        model.train(was_training)
    return results


def calibrate_thresholds(
    model,
    processor,
    rows: Sequence[Mapping],
    grid: Optional[Mapping] = None,
    device=None,
    objective: str = "relation_strict_f1",
    progress: bool = True,
    min_objective: float = 5.0,
    max_prediction_ratio: float = 3.0,
) -> dict:
    """Grid-search the mention, coreference, relation and entity thresholds on gold documents (the dev split).

    Each document is encoded once (encoder and token memory read); the heads then run once per (mention, coreference)
    grid point at the lowest relation threshold and entity threshold 0, and every entity and relation threshold is a
    filter of that output (no score depends on those two thresholds); a relation `objective` is counted at every
    relation threshold from one parse (`relation_counts_by_threshold`), and the best and the model's current points
    are then scored at every level. The best point maximises `objective`; ties go
    to the higher entity F1, then to the point nearest the model's current thresholds. The model's current
    thresholds are always part of the grid.

    Args:
        rows: rows of :func:`tokenize_documents` (processor features plus `id`, `text`, `entities`, `relations`).
        grid: `{threshold name: values}`; missing names use :data:`DEFAULT_THRESHOLD_GRID`.
    A search whose best point is not usable keeps the model's thresholds: when the best `objective` is below
    `min_objective` (a model that has not learned relations, where the search only trades a handful of hits for
    thousands of predictions), or when the best point predicts more than `max_prediction_ratio` times as many
    mentions or relations as the gold documents hold (predicted / gold = recall / precision). The result then says
    so (`applied: false`, `reason`) and a warning is logged.

    Returns:
        `{"objective", "thresholds": {name: value} to ship, "scores": dev scores there, "applied": whether the
        search's best point is shipped, "reason", "best_thresholds" / "best_scores": the search's best point,
        "fixed_thresholds": the model's thresholds before, "fixed_scores": dev scores at those, "grid": one summary
        per grid point}`.
    """
    from tqdm.auto import tqdm

    unknown = sorted(set(grid or {}) - set(THRESHOLD_NAMES))
    if unknown:
        raise ValueError(f"threshold grid: unknown name(s) {unknown}; use {list(THRESHOLD_NAMES)}")
    grid = {
        name: sorted(set(float(v) for v in (grid or {}).get(name, DEFAULT_THRESHOLD_GRID[name])))
        for name in THRESHOLD_NAMES
    }
    fixed = {name: float(getattr(model.config, name)) for name in THRESHOLD_NAMES}
    for name in THRESHOLD_NAMES:
        if fixed[name] not in grid[name]:
            grid[name] = sorted(grid[name] + [fixed[name]])
    rows = _rows_to_reread(rows)
    references = _references(rows)
    # The objective's level at every relation threshold comes from one parse per (mention, coreference, entity)
    # point; the levels that do not depend on the relation threshold come from one full scoring there.
    level = objective[: -len("_f1")] if objective.endswith("_f1") else None
    sweep = level in THRESHOLD_SWEEP_LEVELS
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            encoded = _encode_rows(
                model, processor, rows, _model_device(model, device), progress, "documents to calibrate on"
            )

            # Mention strings propagate after the entity threshold in `extract`: the grid filters the output at
            # entity threshold 0 without propagation, then propagates each filtered output.
            propagation = model.config.mention_string_propagation

            def predictions_at(mention_threshold, coref_threshold):
                lowest = {
                    "mention_threshold": mention_threshold,
                    "coref_threshold": coref_threshold,
                    "relation_threshold": grid["relation_threshold"][0],
                    "entity_threshold": 0.0,
                }
                model.config.mention_string_propagation = False
                try:
                    return lowest, _predict_encoded(model, processor, rows, encoded, lowest)
                finally:
                    model.config.mention_string_propagation = propagation

            def entities_above(documents, entity_threshold):
                confident = _with_entities_above(documents, entity_threshold)
                if not propagation:
                    return confident
                length = model.config.mention_string_propagation_min_length
                return [
                    propagate_document_mentions(document, row["word_char_spans"], length)
                    for document, row in zip(confident, rows)
                ]

            points = [(m, c) for m in grid["mention_threshold"] for c in grid["coref_threshold"]]
            for mention_threshold, coref_threshold in tqdm(
                points, desc="Threshold grid", disable=not (progress and watched_output())
            ):
                lowest, documents = predictions_at(mention_threshold, coref_threshold)
                for entity_threshold in grid["entity_threshold"]:
                    confident = entities_above(documents, entity_threshold)
                    if sweep:
                        fixed_levels = {
                            key: value
                            for key, value in _flat(joint_re_scores(confident, references)).items()
                            if not key.startswith("relation")
                        }
                        counts = relation_counts_by_threshold(confident, references, grid["relation_threshold"], level)
                    for index, relation_threshold in enumerate(grid["relation_threshold"]):
                        if sweep:
                            precision, recall, f1 = _prf(*counts[index])
                            scores = {
                                **fixed_levels,
                                f"{level}_precision": precision,
                                f"{level}_recall": recall,
                                f"{level}_f1": f1,
                            }
                        else:
                            scores = _flat(
                                joint_re_scores(_with_relations_above(confident, relation_threshold), references)
                            )
                        point = {
                            **lowest,
                            "relation_threshold": relation_threshold,
                            "entity_threshold": entity_threshold,
                        }
                        results.append((point, scores))

            def rank(item):
                thresholds, scores = item
                distance = sum(abs(thresholds[name] - fixed[name]) for name in THRESHOLD_NAMES)
                return (round(scores[objective], 6), round(scores["entity_f1"], 6), -distance)

            def all_scores(thresholds):  # every level at one grid point
                documents = predictions_at(thresholds["mention_threshold"], thresholds["coref_threshold"])[1]
                confident = entities_above(documents, thresholds["entity_threshold"])
                return _flat(
                    joint_re_scores(_with_relations_above(confident, thresholds["relation_threshold"]), references)
                )

            best_thresholds, best_scores = max(results, key=rank)
            best_scores, fixed_scores = all_scores(best_thresholds), all_scores(fixed)
    finally:
        model.train(was_training)

    reason = _unusable_calibration(best_scores, objective, min_objective, max_prediction_ratio)
    if reason:
        logger.warning("Threshold calibration: keeping the model's thresholds %s: %s", fixed, reason)
    shipped_thresholds, shipped_scores = (fixed, fixed_scores) if reason else (best_thresholds, best_scores)
    return {
        "objective": objective,
        "thresholds": shipped_thresholds,
        "scores": shipped_scores,
        "applied": not reason,
        "reason": reason or f"best {objective} on the grid",
        "best_thresholds": best_thresholds,
        "best_scores": best_scores,
        "fixed_thresholds": fixed,
        "fixed_scores": fixed_scores,
        "grid": [
            {
                **thresholds,
                **{key: scores[key] for key in (objective, "entity_f1", "mention_precision", "mention_recall")},
            }
            for thresholds, scores in results
        ],
    }


def _unusable_calibration(
    scores: Mapping, objective: str, min_objective: float, max_prediction_ratio: float
) -> Optional[str]:
    """Why the search's best point must not be shipped, or None when it may."""
    if scores[objective] < min_objective:
        best = f"{scores[objective]:.2f}"
        if float(best) >= min_objective:  # 4.996 would read "5.00, below 5.0"
            best = f"{scores[objective]:.6g}"
        return (
            f"its best dev {objective} is {best}, below {min_objective} "
            "(the model has not learned relations well enough to tune thresholds on)"
        )
    for level in ("mention", objective.rsplit("_f1", 1)[0]):
        precision, recall = scores.get(f"{level}_precision"), scores.get(f"{level}_recall")
        if precision is not None and recall is not None and recall > max_prediction_ratio * precision:
            return (
                f"its best point predicts {recall / max(precision, 1e-9):.1f}x as many {level} tuples as the dev "
                f"documents hold (more than {max_prediction_ratio}x)"
            )
    return None


def apply_thresholds(model, thresholds: Mapping) -> None:
    """Write thresholds into `model.config` (saved with the model, used by the pipeline); each is checked first (a
    name outside `THRESHOLD_NAMES` was ignored, and NaN or 2.0 written, to fail at the next save or prediction)."""
    unknown = sorted(set(thresholds) - set(THRESHOLD_NAMES))
    if unknown:
        hint = "; pass calibrate_thresholds(...)['thresholds']" if "thresholds" in unknown else ""
        raise ValueError(
            f"apply_thresholds: unknown threshold(s) {unknown}; expected some of {list(THRESHOLD_NAMES)}{hint}"
        )
    checked = {name: _checked_threshold(name, value, "apply_thresholds") for name, value in thresholds.items()}
    for name, number in checked.items():
        setattr(model.config, name, number)


__all__ = [
    "DEFAULT_SAMPLING",
    "DEFAULT_THRESHOLD_GRID",
    "THRESHOLD_NAMES",
    "GIVEN_LEVELS",
    "SELECTION_TIE_BREAK",
    "TrainingDivergedError",
    "given_input",
    "apply_thresholds",
    "calibrate_thresholds",
    "evaluate_thresholds",
    "MemoryWarmupCallback",
    "SamplingEpochCallback",
    "SamplerEpochCallback",
    "TrainingTimeCallback",
    "TrainingSeedsCallback",
    "checkpoint_negatives_seed",
    "sampling_seed",
    "simmemre_model",
    "PEFT_SETTINGS",
    "peft_settings",
    "default_lora_target_modules",
    "lora_model",
    "lora_settings_of",
    "describe_lora",
    "EpochSeededLengthGroupedSampler",
    "SimMemREDataCollator",
    "SimMemRETrainer",
    "candidate_word_spans",
    "encode_training_document",
    "gold_word_structure",
    "levenshtein",
    "memory_reads_due",
    "memory_warmup_steps",
    "tokenize_documents",
]
