# coding=utf-8
"""PyTorch SimMemRE: JEREX (Eberts & Ulges, 2021) with the similarity-based memory of Kościukiewicz et al. (2023).

Hub remote code: imports only torch, numpy, transformers and the other remote-code files (relatively).

Where the paper and its code differ we follow the paper and say so in a comment; docs/design.md lists the
differences.
"""

import contextvars
import inspect
import itertools
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field, fields, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, logging

from .configuration_simmemre import SimMemREConfig, _flag

try:  # optional: the same Levenshtein distances in C++; the numpy code below serves without it (a Hub user's setup)
    from rapidfuzz.distance import Levenshtein as _RapidfuzzLevenshtein
    from rapidfuzz.process import cdist as _rapidfuzz_cdist
except ImportError:  # pragma: no cover - depends on the environment
    _rapidfuzz_cdist = None

logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------


@dataclass
class SimMemREOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, training step `forward`): the joint loss
        β_M L_M + β_C L_C + β_E L_E + β_R L_R.
    mention_loss, coref_loss, entity_loss, relation_loss (`torch.FloatTensor` of shape `()`): the task losses.
    predictions (`list[dict[str, torch.Tensor]]`, inference `extract`): one dict per document with
        `mention_word_spans` [n, 2] (word indices, end exclusive), `mention_scores` [n], `mention_clusters` [n]
        (entity index of each mention), `entity_types` [c], `entity_scores` [c], `entity_type_probabilities` [c, |E|],
        `relations` [q, 3] (head entity, tail entity, relation type), `relation_scores` [q]; and, only when a
        document-level cap of the config bound, `truncated` [k, 4]: (cap, limit, found, kept) per cap that bound,
        the cap as an index into `config.document_caps` (see `SimMemREConfig.max_mentions_per_document`).
    """

    loss: Optional[torch.FloatTensor] = None
    mention_loss: Optional[torch.FloatTensor] = None
    coref_loss: Optional[torch.FloatTensor] = None
    entity_loss: Optional[torch.FloatTensor] = None
    relation_loss: Optional[torch.FloatTensor] = None
    predictions: Optional[list] = None


def predictions_to_host(predictions: list) -> list:
    """Model predictions (one dict of tensors per document) with their tensors on the CPU, in one device-to-host copy
    per dtype for the whole batch instead of one per tensor (each copy waits for the device). CPU predictions come
    back as they are (detached)."""
    entries = [
        (doc, key, value)
        for doc, prediction in enumerate(predictions)
        for key, value in prediction.items()
        if isinstance(value, torch.Tensor)
    ]
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


@dataclass
class TrainingTargets:
    r"""
    The teacher-forced inputs of a training step, built by the collator: S mention samples, P coreference pairs,
    E entities with up to M mentions, R entity pairs per document, padded, with boolean masks. The HF Trainer calls
    `model(**batch)`, so the collator emits these fields as keyword arguments of the same names
    ([`~TrainingTargets.as_inputs`]) and [`SimMemREModel.forward`] groups them here again.

    mention_subword_spans `(B, S, 2)`, mention_word_spans `(B, S, 2)`, mention_sentence_ids `(B, S)`,
    mention_labels `(B, S)`, mention_mask `(B, S)`;
    coref_pairs `(B, P, 2)` (indices of mention samples), coref_edit_distances `(B, P)`, coref_labels `(B, P)`,
    coref_mask `(B, P)`;
    entity_mentions `(B, E, M)` (indices of mention samples), entity_mention_mask `(B, E, M)`, entity_types `(B, E)`,
    entity_mask `(B, E)`;
    relation_pairs `(B, R, 2)` (entity indices), relation_labels `(B, R, |R|)` (multi-hot), relation_mask `(B, R)`.
    """

    mention_subword_spans: torch.LongTensor
    mention_word_spans: torch.LongTensor
    mention_sentence_ids: torch.LongTensor
    mention_labels: torch.Tensor
    mention_mask: torch.BoolTensor
    coref_pairs: torch.LongTensor
    coref_edit_distances: torch.LongTensor
    coref_labels: torch.Tensor
    coref_mask: torch.BoolTensor
    entity_mentions: torch.LongTensor
    entity_mention_mask: torch.BoolTensor
    entity_types: torch.LongTensor
    entity_mask: torch.BoolTensor
    relation_pairs: torch.LongTensor
    relation_labels: torch.Tensor
    relation_mask: torch.BoolTensor

    @classmethod
    def names(cls) -> tuple:
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_inputs(cls, inputs: dict) -> "TrainingTargets":
        """The targets among `inputs` (other keys are ignored), masks as booleans."""
        missing = [name for name in cls.names() if inputs.get(name) is None]
        if missing:
            raise ValueError(f"training inputs lack {missing} (build them with SimMemREDataCollator)")
        return cls(**{name: inputs[name].bool() if name.endswith("_mask") else inputs[name] for name in cls.names()})

    @classmethod
    def zeros(
        cls, batch: int, mentions: int, pairs: int, entities: int, slots: int, relations: int, num_relation_types: int
    ) -> "TrainingTargets":
        """All-padding targets of the given sizes (S, P, E, M, R), for the collator to fill."""
        long, flag, real = torch.long, torch.bool, torch.float
        shapes = {
            "mention_subword_spans": ((batch, mentions, 2), long),
            "mention_word_spans": ((batch, mentions, 2), long),
            "mention_sentence_ids": ((batch, mentions), long),
            "mention_labels": ((batch, mentions), real),
            "mention_mask": ((batch, mentions), flag),
            "coref_pairs": ((batch, pairs, 2), long),
            "coref_edit_distances": ((batch, pairs), long),
            "coref_labels": ((batch, pairs), real),
            "coref_mask": ((batch, pairs), flag),
            "entity_mentions": ((batch, entities, slots), long),
            "entity_mention_mask": ((batch, entities, slots), flag),
            "entity_types": ((batch, entities), long),
            "entity_mask": ((batch, entities), flag),
            "relation_pairs": ((batch, relations, 2), long),
            "relation_labels": ((batch, relations, num_relation_types), real),
            "relation_mask": ((batch, relations), flag),
        }
        return cls(**{name: torch.zeros(shape, dtype=dtype) for name, (shape, dtype) in shapes.items()})

    def as_inputs(self) -> dict:
        """`{field name: tensor}`, the keyword arguments of `forward` (no copies)."""
        return {name: getattr(self, name) for name in self.names()}

    def sample_counts(self) -> torch.Tensor:
        """The denominators of the four task losses (each a mean over the batch's samples, pooled across its
        documents as JEREX does): mention samples, coreference pairs, entities, entity pairs -> `(4,)` long."""
        masks = (self.mention_mask, self.coref_mask, self.entity_mask, self.relation_mask)
        return torch.stack([mask.sum() for mask in masks])


# ----------------------------------------------------------------------------------------------------
# Tensor utilities
# ----------------------------------------------------------------------------------------------------


def _lowest(dtype):
    return torch.finfo(dtype).min


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`table[index]` for non-negative row indices `index` of any shape -> `(*index.shape, *table.shape[1:])`. Outside
    autograd it is one `index_select`, several times faster on the CPU than advanced indexing for row gathers and the
    same copy; a table that records gradients keeps advanced indexing, whose backward accumulates as training always
    has."""
    if table.requires_grad and torch.is_grad_enabled():
        return table[index]
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def weight_blocks(*blocks: torch.Tensor, halves: bool = False) -> torch.Tensor:
    """`F.linear` weight blocks `(h, d)` as one `(k, d, h)` tensor for `parallel_linear`; with `halves`, one block
    split into its two halves of output columns `(2, d, h/2)` (kept whole when h is odd)."""
    if halves:
        (block,) = blocks
        blocks = block.chunk(2) if block.shape[0] % 2 == 0 else (block,)
    return torch.stack([block.T for block in blocks]).contiguous()


def parallel_linear(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """x `(n, d)` times each weight block `(k, d, h)` -> `(k, n, h)`, as one batched product. The heads' products at
    inference are small (a few dozen mentions or entities against a `(d, d)` block) and bound by reading the block,
    which the encoder has just pushed out of the cache: torch runs the batches of a CPU `bmm` on separate threads, so
    every core streams in its share of the weights (k `F.linear` calls, equal up to rounding, read them on one)."""
    return torch.bmm(x.expand(blocks.shape[0], *x.shape), blocks)


def linear_in_parts(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """`F.linear(x, W)` `(n, h)` from W's output-column parts `weight_blocks(W, halves=True)` (`parallel_linear`)."""
    return parallel_linear(x, blocks).transpose(0, 1).reshape(x.shape[0], -1)


def few_rows_linear(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`F.linear(rows, weight)` `(k, h)` for a few rows `(k, d)` (tables made once per weight version), one row at a
    time element-wise: a product of a few rows takes kernels whose rounding changes with the memory alignment, so a
    model loaded from its folder would score differently from the one that was saved."""
    return torch.stack([(weight * row).sum(-1) for row in rows])


def _on_host(device: torch.device) -> bool:
    return device.type == "cpu" and device.index is None  # "cpu:0" stands for an accelerator in the placement tests


def host_array(values) -> np.ndarray:
    """Integer bookkeeping (spans, slots, pair indices) on the host: a tensor's values as a numpy array (no copy for a
    CPU tensor), an array as it is. On the CPU a numpy operation on a few hundred integers costs a fraction of a
    torch operator's dispatch, and inference runs hundreds of them per document."""
    if isinstance(values, torch.Tensor):
        if _on_host(values.device) and not values.requires_grad:
            return values.numpy()
        return values.detach().cpu().numpy()
    return np.asarray(values)


def device_index(values: np.ndarray, device) -> torch.LongTensor:
    """Host indices `host_array` computed, as an int64 tensor on `device` (no copy on the CPU)."""
    index = torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64))
    return index if device is None or _on_host(device) else index.to(device)


def _running_max(blocks: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """`blocks.cummax(1).values` (`reverse`: from the end) for `(n, k, d)` blocks, as k-1 element-wise maxima: CPU
    cummax over this short middle axis is slow."""
    order = range(blocks.shape[1] - 1, -1, -1) if reverse else range(blocks.shape[1])
    columns = []
    for position in order:
        columns.append(blocks[:, position] if not columns else torch.maximum(columns[-1], blocks[:, position]))
    return torch.stack(columns[::-1] if reverse else columns, 1)


class RangeMaxPool:
    """Max-pooling over arbitrary contiguous ranges of one sequence, without a [ranges, T, d] tensor.

    JEREX pools spans and mention-pair contexts with a masked [chunk, T, d] expansion, which grows with the document
    length. Here block maxima plus a sparse table over blocks answer each range with O(block_size) gathered rows, so
    cost and memory grow with the number of ranges only. Empty ranges pool to the zero vector (JEREX's convention).

    Sequences of at most `direct_limit` rows, outside autograd (inference), are pooled per call instead: the ranges'
    distinct ends cut the rows into segments, one scatter takes each segment's maximum, and a sparse table over the
    segments (a few dozen rows for the mention-pair contexts of a document) answers each range with two lookups.

    Args:
        hidden (`torch.Tensor` of shape `(T, d)`).
    """

    def __init__(self, hidden: torch.Tensor, block_size: int = 16, direct_limit: int = 1024):
        length, dim = hidden.shape
        self.length = length
        self.direct = 0 < length <= direct_limit and not (torch.is_grad_enabled() and hidden.requires_grad)
        if self.direct:
            self.hidden = hidden
            return
        self.block_size = block_size
        self.num_blocks = max(1, -(-length // block_size))
        pad = self.num_blocks * block_size - length
        self.rows = F.pad(hidden, (0, 0, 0, pad), value=_lowest(hidden.dtype))  # [num_blocks * block, d]
        blocks = self.rows.view(self.num_blocks, block_size, dim)
        # Within-block prefix and suffix maxima: a range's partial first and last blocks become one lookup each.
        self.prefix = _running_max(blocks).reshape(-1, dim)  # max(rows[block start .. i])
        self.suffix = _running_max(blocks, reverse=True).reshape(-1, dim)  # max(rows[i .. block end - 1])
        levels = [blocks.amax(1)]
        step = 1
        while 2 * step <= self.num_blocks:
            previous = levels[-1]
            levels.append(torch.maximum(previous[:-step], previous[step:]))
            step *= 2
        self.table = torch.stack(
            [F.pad(level, (0, 0, 0, self.num_blocks - level.shape[0]), value=_lowest(hidden.dtype)) for level in levels]
        )  # [levels, num_blocks, d]

    def _segment_maxima(self, starts: np.ndarray, ends: np.ndarray) -> torch.Tensor:
        """Maxima `(n, d)` of the non-empty ranges [starts, ends) `(n,)` (host arrays): every range is a run of whole
        segments between consecutive distinct ends, so a sparse table over the segments' maxima answers it exactly."""
        device = self.hidden.device
        cuts = np.unique(np.concatenate([starts, ends]))  # sorted; segment i is rows [cuts[i], cuts[i + 1])
        count, dim = cuts.shape[0] - 1, self.hidden.shape[-1]
        first, last = int(cuts[0]), int(cuts[-1])
        segment_of_row = device_index(np.searchsorted(cuts, np.arange(first, last), side="right") - 1, device)
        table = self.hidden.new_empty((count.bit_length() * count, dim))  # level k at rows [k count, (k + 1) count)
        table[:count].scatter_reduce_(
            0, segment_of_row[:, None].expand(-1, dim), self.hidden[first:last], "amax", include_self=False
        )
        # Level k holds the maximum of segments i .. i + 2^k - 1 in its rows i <= count - 2^k.
        for level in range(1, count.bit_length()):
            step, below = 1 << (level - 1), (level - 1) * count
            valid = count - 2 * step + 1
            torch.maximum(
                table[below : below + valid],
                table[below + step : below + step + valid],
                out=table[below + count : below + count + valid],
            )
        first_segment = np.searchsorted(cuts, starts)
        segments = np.searchsorted(cuts, ends) - first_segment  # >= 1
        powers = 1 << np.arange(count.bit_length(), dtype=np.int64)
        level = np.searchsorted(powers, segments, side="right") - 1  # floor(log2(segments))
        base = level * count + first_segment
        low, high = device_index(base, device), device_index(base + segments - powers[level], device)
        return torch.maximum(gather_rows(table, low), gather_rows(table, high))

    def _gather(self, starts, ends):
        offsets = torch.arange(self.block_size, device=starts.device)
        index = starts[:, None] + offsets  # [n, block]
        valid = index < ends[:, None]
        rows = self.rows[index.clamp(max=self.rows.shape[0] - 1)]  # [n, block, d]
        return rows.masked_fill(~valid[..., None], _lowest(rows.dtype)).amax(1)

    def __call__(self, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """starts, ends (`torch.LongTensor` or host integer arrays of shape `(n,)`, end exclusive) -> `(n, d)`
        maxima."""
        if self.direct:
            starts, ends = host_array(starts), host_array(ends)
            ends = np.minimum(ends, self.length)  # like slicing: a range past the end stops there
            empty = np.flatnonzero(ends <= starts)
            starts = np.minimum(starts, self.length - 1)  # empty ranges may start at the end; they are zeroed below
            ends = np.maximum(ends, starts + 1)
            if starts.size == 0:
                return self.hidden.new_zeros((0, self.hidden.shape[-1]))
            pooled = self._segment_maxima(starts, ends)
            return pooled.index_fill_(0, device_index(empty, pooled.device), 0.0) if empty.size else pooled
        device = self.rows.device
        starts, ends = torch.as_tensor(starts, device=device), torch.as_tensor(ends, device=device)
        block = self.block_size
        ends = ends.clamp(max=self.length)  # like slicing: a range past the end stops there
        empty = ends <= starts
        ends = torch.maximum(ends, starts + 1)
        first_full = (starts + block - 1) // block
        last_full = ends // block  # exclusive
        # Ranges over two or more blocks: suffix max of the first block, prefix max of the last (both inside the
        # range). Ranges inside one block are gathered directly below.
        last_row = self.rows.shape[0] - 1
        head = self.suffix[starts.clamp(max=last_row)]  # empty ranges may start at the end; they are zeroed below
        tail = self.prefix[(ends - 1).clamp(max=last_row)]
        has_middle = last_full > first_full
        length = (last_full - first_full).clamp(min=1)
        level = torch.floor(torch.log2(length.float())).long()
        left = self.table[level, first_full.clamp(max=self.num_blocks - 1)]
        right = self.table[level, (last_full - (1 << level)).clamp(min=0, max=self.num_blocks - 1)]
        middle = torch.maximum(left, right).masked_fill(~has_middle[:, None], _lowest(left.dtype))
        pooled = torch.maximum(torch.maximum(head, tail), middle)
        inside_one_block = (starts // block) == ((ends - 1) // block)
        if bool(inside_one_block.any()):
            short = inside_one_block.nonzero().squeeze(-1)
            pooled = pooled.index_put((short,), self._gather(starts[short], ends[short]))
        return pooled.masked_fill(empty[:, None], 0.0)


def max_pool_short_ranges(
    rows: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, fallback=None, max_width: int = 16
) -> torch.Tensor:
    """Max over `rows[start:end]` for many short ranges with a running maximum by width: after step w,
    `running[s] = max(rows[s : s + w])`, so each range is one lookup and the work is `width x T x d` instead of a
    `[n, width, d]` gather (candidate spans outnumber words about tenfold). Ranges wider than `max_width` go to
    `fallback` (a [`RangeMaxPool`]) when given. Empty ranges pool to zero. The maxima are exact. Ranges sorted by
    width (candidate spans) are answered slice by slice; unsorted ones (word pieces) by `_max_pool_word_pieces`.

    Args: rows `(T, d)`; starts, ends `(n,)` (end exclusive; tensors or host arrays). Returns `(n, d)`.
    """
    starts, ends = host_array(starts), host_array(ends)  # the bookkeeping runs on the host
    if starts.size == 0:
        return rows.new_zeros((0, rows.shape[-1]))
    widths = np.maximum(ends - starts, 0)
    width = int(widths.max())
    if not (widths[1:] >= widths[:-1]).all():
        return _max_pool_word_pieces(rows, starts, widths, width, fallback, max_width)
    # Sorted: width w occupies one slice; each slice is written once, straight from the running maximum.
    pooled = rows.new_empty((starts.shape[0], rows.shape[-1]))
    low, high = int(starts.min()), int(np.maximum(ends, starts).max())
    rows = rows[low:high]  # only the rows the ranges cover
    local_starts = device_index(starts - low, rows.device)
    bounds = np.cumsum(np.bincount(widths, minlength=width + 1)).tolist()
    pooled[: bounds[0]] = 0.0  # empty ranges
    running = rows
    for step in range(1, width + 1):
        first, last = bounds[step - 1], bounds[step]
        if fallback is not None and step > max_width:
            pooled[first:] = fallback(starts[first:], ends[first:])
            break
        if step > 1:
            running = torch.maximum(running[:-1], rows[step - 1 :])
        if last > first:
            torch.index_select(running, 0, local_starts[first:last], out=pooled[first:last])
    return pooled


def stacked_read_scores(rows: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Read scores `(n, ΣK)` of rows `(n, h)` against stacked keys `(ΣK, h)`. A single row is scored as two: a
    one-row product takes another kernel, whose rounding differs, and a row's score should not depend on its block."""
    if rows.shape[0] == 1:
        return (rows.expand(2, -1) @ keys.T)[:1]
    return rows @ keys.T


def pool_candidates_with_read_scores(
    rows: torch.Tensor, word_spans: torch.LongTensor, keep: torch.LongTensor, keys: torch.Tensor, max_width: int
) -> tuple:
    """Stage 1 of a document whose span read normalises over all candidates, in one pass by width: each width's
    running maximum over the word vectors (as in `max_pool_short_ranges`) is scored against the readers' stacked
    keys while it is in cache, and only the spans at `keep` are written out, so the candidates left out by the
    boundary word lists are never materialised.

    Args: rows `(W, d)` word vectors; word_spans `(S, 2)` ordered by width (`candidate_spans`); keep `(k,)` ascending
    indices of the spans to pool; keys `(ΣK, d)`; max_width: the widest span. Returns pooled `(k, d)` of the kept
    spans and read scores `(S, ΣK)` of all spans.
    """
    word_spans, keep = host_array(word_spans), host_array(keep)  # the bookkeeping runs on the host
    starts, widths = word_spans[:, 0], word_spans[:, 1] - word_spans[:, 0]
    bounds = np.cumsum(np.bincount(widths, minlength=max_width + 1))
    bounds, kept_bounds = bounds.tolist(), np.searchsorted(keep, bounds).tolist()
    scores = rows.new_empty((starts.shape[0], keys.shape[0]))
    pooled = rows.new_empty((keep.shape[0], rows.shape[-1]))
    kept_starts, starts = device_index(starts[keep], rows.device), device_index(starts, rows.device)
    running = rows
    for width in range(1, max_width + 1):
        first, last = bounds[width - 1], bounds[width]
        if first == starts.shape[0]:
            break
        if width > 1:
            running = torch.maximum(running[:-1], rows[width - 1 :])
        if last > first:
            # Assigned, not written with out=: under autocast the scores come in its dtype (the buffer casts them).
            scores[first:last] = stacked_read_scores(running, keys).index_select(0, starts[first:last])
            kept_first, kept_last = kept_bounds[width - 1], kept_bounds[width]
            if kept_last > kept_first:
                torch.index_select(running, 0, kept_starts[kept_first:kept_last], out=pooled[kept_first:kept_last])
    return pooled, scores


def _max_pool_word_pieces(rows, starts, widths, max_found, fallback, max_width) -> torch.Tensor:
    """The unsorted case of `max_pool_short_ranges` (words over their subwords, in document order; starts and widths
    on the host): most words are one subword, so every range first takes its first row, and only the few longer ones
    are gathered `(n, w, d)` (the last row repeated, which leaves the maximum unchanged) or, past `max_width`, pooled
    by `fallback`. A running maximum would make one pass over all rows per width for a handful of words."""
    if rows.shape[0] == 0:
        return rows.new_zeros((starts.shape[0], rows.shape[-1]))
    device = rows.device
    pooled = rows.index_select(0, device_index(np.minimum(starts, rows.shape[0] - 1), device))
    if max_found > 1:
        others = np.flatnonzero(widths > 1)
        other_starts, other_widths = starts[others], widths[others]
        if fallback is not None and max_found > max_width:
            wide = other_widths > max_width
            pooled[device_index(others[wide], device)] = fallback(
                other_starts[wide], other_starts[wide] + other_widths[wide]
            )
            others, other_starts, other_widths = others[~wide], other_starts[~wide], other_widths[~wide]
        if others.size:
            offsets = np.arange(int(other_widths.max()))
            last = np.minimum(other_starts + other_widths - 1, rows.shape[0] - 1)  # like slicing: stops at the end
            index = np.minimum(other_starts[:, None] + offsets, last[:, None])
            pooled[device_index(others, device)] = gather_rows(rows, device_index(index, device)).amax(1)
    empty = np.flatnonzero(widths == 0)
    return pooled.index_fill_(0, device_index(empty, device), 0.0) if empty.size else pooled


def edit_distance_matrix(strings: list) -> torch.Tensor:
    """Character-level Levenshtein distances between all pairs of `strings` (lists of code points), vectorised.

    Row-by-row dynamic programme over all pairs at once (numpy: hundreds of small steps per document); the in-row
    dependency D[i][j-1] + 1 is resolved with a cumulative minimum: D[i][j] = j + min_{k<=j} (E[k] - k) where E holds
    the substitution/deletion candidates. Each pair runs with its shorter string as rows (the distance is symmetric),
    so the loop is as long as the longest shorter string.

    Returns `torch.LongTensor` of shape `(len(strings), len(strings))`.
    """
    count = len(strings)
    distances = np.zeros((count, count), dtype=np.int64)
    if count < 2:
        return torch.from_numpy(distances)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    width = int(lengths.max())
    codes = np.full((count, max(width, 1)), -1, dtype=np.int64)
    for i, s in enumerate(strings):
        codes[i, : len(s)] = s
    left, right = np.triu_indices(count, k=1)
    swap = lengths[left] > lengths[right]
    left, right = np.where(swap, right, left), np.where(swap, left, right)  # left: the shorter string
    # Pairs in order of their row count, so the pairs still running at row i are a suffix of the chunk.
    order = np.argsort(lengths[left], kind="stable")
    left, right = left[order], right[order]
    columns = np.arange(width + 1, dtype=np.int64)
    for chunk in range(0, left.size, 65536):
        a, b = left[chunk : chunk + 65536], right[chunk : chunk + 65536]
        a_codes, b_codes, a_len, b_len = codes[a], codes[b], lengths[a], lengths[b]
        values = np.empty(a.size, dtype=np.int64)
        previous = np.broadcast_to(columns, (a.size, width + 1)).copy()  # D[0][j] = j
        done = 0  # pairs [0, done) are finished
        for i in range(1, int(a_len[-1]) + 1):
            running = int(np.searchsorted(a_len, i))  # pairs shorter than i rows end at row i - 1
            if running > done:
                values[done:running] = np.take_along_axis(previous[: running - done], b_len[done:running, None], 1)[
                    :, 0
                ]
                previous, done = previous[running - done :], running
            cost = a_codes[done:, i - 1 : i] != b_codes[done:]  # [p, width]
            candidates = np.empty_like(previous)
            candidates[:, 0] = i
            np.minimum(previous[:, 1:] + 1, previous[:, :-1] + cost, out=candidates[:, 1:])
            previous = np.minimum.accumulate(candidates - columns, axis=1) + columns
        values[done:] = np.take_along_axis(previous, b_len[done:, None], 1)[:, 0]
        distances[a, b] = values
        distances[b, a] = values
    return torch.from_numpy(distances)


def _merged_linkage(linkage: np.ndarray, a: int, b: int, sizes: np.ndarray, rule: str) -> np.ndarray:
    """The linkage of the merged cluster a + b to every cluster (row a of the next step)."""
    if rule == "complete":  # the worst pair decides
        return np.minimum(linkage[a], linkage[b])
    if rule == "single":  # the best pair decides
        return np.maximum(linkage[a], linkage[b])
    return (sizes[a] * linkage[a] + sizes[b] * linkage[b]) / (sizes[a] + sizes[b])  # UPGMA: the mean over pairs


def agglomerative_clusters(similarity: np.ndarray, threshold: float, linkage: str = "complete") -> np.ndarray:
    """Cluster labels for agglomerative clustering that merges while the linkage between two clusters scores above
    `threshold`: "complete" (every cross pair above it: sklearn `AgglomerativeClustering(linkage="complete",
    distance_threshold=1 - threshold)` on distance 1 - similarity, as JEREX does), "average" or "single". Clusters
    are subsets of the connected components of the graph "similarity > threshold" (every linkage above the threshold
    has a cross pair above it), so merging runs inside each component only.

    Args:
        similarity (`np.ndarray` of shape `(n, n)`, symmetric). Returns `np.ndarray` of shape `(n,)`, labels 0..C-1
        numbered by first member.
    """
    n = similarity.shape[0]
    labels = np.arange(n)
    if n < 2:
        return labels
    adjacency = similarity > threshold
    np.fill_diagonal(adjacency, False)
    component = np.arange(n)
    while True:  # min-label propagation: connected components in a few vectorised sweeps
        neighbour_min = np.where(adjacency, component[None, :], n).min(1)
        updated = np.minimum(component, neighbour_min)
        updated = updated[updated]
        if np.array_equal(updated, component):
            break
        component = updated
    for root in np.unique(component):
        members = np.flatnonzero(component == root)
        if members.size < 2:
            continue
        scores = similarity[np.ix_(members, members)].astype(np.float64)
        np.fill_diagonal(scores, -np.inf)
        labels[members] = members[_merged_owners(scores, threshold, linkage)]
    _, relabelled = np.unique(labels, return_inverse=True)  # labels are first members, so order is by position
    return relabelled.reshape(-1)


def _merged_owners(scores: np.ndarray, threshold: float, linkage: str) -> np.ndarray:
    """The merges of one component: `scores` `(m, m)` float64 linkages (diagonal -inf; changed in place) -> `(m,)`
    the first member of each row's cluster. Each step merges the highest linkage, ties to the first in row-major
    order (`np.argmax` over the matrix)."""
    size = scores.shape[0]
    owner, sizes = np.arange(size), np.ones(size)
    while True:
        a, b = divmod(int(np.argmax(scores)), size)
        if not scores[a, b] > threshold:
            return owner
        _merge_clusters(scores, owner, sizes, min(a, b), max(a, b), linkage)


def _merge_clusters(scores: np.ndarray, owner: np.ndarray, sizes: np.ndarray, a: int, b: int, linkage: str):
    """Merges cluster b into cluster a (a < b), in place: row and column a take the merged linkage, b is retired."""
    merged = _merged_linkage(scores, a, b, sizes, linkage)
    scores[a], scores[:, a] = merged, merged
    scores[a, a] = -np.inf
    scores[b], scores[:, b] = -np.inf, -np.inf
    owner[owner == b] = a
    sizes[a] += sizes[b]


_UINT64_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


class PairEditDistances:
    """Character-level Levenshtein distances for any given pairs of `strings` (lists of code points), without the
    (n, n) matrix of :func:`edit_distance_matrix` (same values): coreference scores mention pairs block by block.

    Myers' (1999) bit-vector algorithm in Hyyrö's (2003) form for the global edit distance, vectorised over pairs:
    the shorter string of a pair is the pattern, held as ceil(m / 64) 64-bit words (one big integer: additions carry
    and shifts move bits across words), and the longer string is read one character per step, so a pair costs
    O(longer length x words) word operations instead of the O(m x n) cells of the dynamic programme.

    The pattern bit masks ("Peq": the positions of each character in each string) are a dense (strings x alphabet)
    table when it has at most `dense_table_limit` rows, and sorted keys looked up by binary search otherwise (large
    alphabets), so memory grows with the total string length.
    """

    def __init__(self, strings: list, dense_table_limit: int = 1 << 20):
        # With rapidfuzz installed, a document's (strings x strings) matrix at once while it is that small.
        self.matrix = None
        if _rapidfuzz_cdist is not None and len(strings) ** 2 <= dense_table_limit:
            self.matrix = _rapidfuzz_cdist(
                strings, strings, scorer=_RapidfuzzLevenshtein.distance, dtype=np.int64, workers=1
            )
            return
        self.lengths = np.array([len(s) for s in strings], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        total = int(self.offsets[-1])
        flat = np.fromiter((c for s in strings for c in s), dtype=np.int64, count=total)
        alphabet, self.characters = np.unique(flat, return_inverse=True)  # characters: alphabet index of each
        self.alphabet_size = max(1, alphabet.size)
        self.words = max(1, -(-int(self.lengths.max(initial=0)) // 64))
        owner = np.repeat(np.arange(len(strings)), self.lengths)
        position = np.arange(total) - self.offsets[owner]
        keys = owner * self.alphabet_size + self.characters
        bits = np.left_shift(np.uint64(1), (position % 64).astype(np.uint64))
        word = position // 64
        if len(strings) * self.alphabet_size <= dense_table_limit:
            self.table = np.zeros((len(strings) * self.alphabet_size, self.words), dtype=np.uint64)
            np.bitwise_or.at(self.table, (keys, word), bits)
            self.keys = None
        else:
            self.keys, row = np.unique(keys, return_inverse=True)
            self.table = np.zeros((self.keys.size, self.words), dtype=np.uint64)
            np.bitwise_or.at(self.table, (row, word), bits)

    def _equal_masks(self, keys: np.ndarray, words: int) -> np.ndarray:
        """Peq rows `(p, words)` for keys `pattern * alphabet + character` (zero where the character is absent)."""
        if self.keys is None:
            return self.table[keys, :words]
        row = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where((self.keys[row] == keys)[:, None], self.table[row, :words], np.uint64(0))

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Distances `(p,)` int64 between strings `first[k]` and `second[k]` (index arrays `(p,)`)."""
        first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
        if self.matrix is not None:
            return self.matrix[first, second]
        swap = self.lengths[first] > self.lengths[second]
        pattern, text = np.where(swap, second, first), np.where(swap, first, second)
        pattern_length, text_length = self.lengths[pattern], self.lengths[text]
        distances = text_length.copy()  # an empty pattern (and a pair of equal strings below)
        words = -(-pattern_length // 64)
        busy = (pattern_length > 0) & (pattern != text)
        distances[pattern == text] = 0
        for count in np.unique(words[busy]):
            group = np.flatnonzero(busy & (words == count))
            group = group[np.argsort(-text_length[group], kind="stable")]  # pairs still reading are a prefix
            distances[group] = self._myers(
                pattern[group], pattern_length[group], text[group], text_length[group], int(count)
            )
        return distances

    def _myers(self, pattern, pattern_length, text, text_length, words: int) -> np.ndarray:
        """Edit distances of pairs sorted by text length (longest first) whose patterns fill `words` 64-bit words."""
        count = pattern.size
        positive = np.full((count, words), _UINT64_ONES)  # Pv: vertical deltas +1 (column 0: D[i][0] = i)
        negative = np.zeros((count, words), dtype=np.uint64)  # Mv: vertical deltas -1
        score = pattern_length.copy()  # D[m][j], from D[m][0] = m
        top_bit = np.left_shift(np.uint64(1), ((pattern_length - 1) % 64).astype(np.uint64))
        one, shift = np.uint64(1), np.uint64(63)
        pattern_keys, text_start, negated = pattern * self.alphabet_size, self.offsets[text], -text_length
        for step in range(int(text_length[0])):
            active = int(np.searchsorted(negated, -step, side="left"))  # pairs whose text has a character `step`
            positive, negative = positive[:active], negative[:active]
            equal = self._equal_masks(pattern_keys[:active] + self.characters[text_start[:active] + step], words)
            vertical = equal | negative  # Xv
            added = equal & positive
            if words == 1:
                total = added + positive  # wraps around, as the algorithm wants
            else:  # the addition carried across words
                total = np.empty_like(positive)
                carry = np.zeros(active, dtype=bool)
                for word in range(words):
                    partial = added[:, word] + positive[:, word]
                    overflow = partial < added[:, word]
                    total[:, word] = partial + carry
                    carry = overflow | (carry & (total[:, word] == 0))
            horizontal = (total ^ positive) | equal  # Xh
            plus = negative | ~(horizontal | positive)  # Ph
            minus = positive & horizontal  # Mh
            score[:active] += (plus[:, -1] & top_bit[:active]) != 0
            score[:active] -= (minus[:, -1] & top_bit[:active]) != 0
            # Shift left by one (across words); row 0 of the global distance grows by one per column: Ph gets a 1.
            if words == 1:
                plus, minus = (plus << one) | one, minus << one
            else:
                plus = np.concatenate([(plus[:, :1] << one) | one, (plus[:, 1:] << one) | (plus[:, :-1] >> shift)], 1)
                minus = np.concatenate([minus[:, :1] << one, (minus[:, 1:] << one) | (minus[:, :-1] >> shift)], 1)
            positive = minus | ~(vertical | plus)
            negative = plus & vertical
        return score


def threshold_components(count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Connected components of the graph with edges `first[k] - second[k]`: `(count,)` labels, each the smallest
    member of its component (min-label propagation over the edges, with pointer jumping)."""
    component = np.arange(count)
    while first.size:
        updated = component.copy()
        np.minimum.at(updated, first, component[second])
        np.minimum.at(updated, second, component[first])
        updated = updated[updated]
        if np.array_equal(updated, component):
            break
        component = updated
    return component


# Components of at most this many mentions merge by an argmax over their whole matrix (`_merged_owners`).
_WHOLE_ARGMAX_LIMIT = 32


def agglomerative_clusters_from_edges(
    count: int, first: np.ndarray, second: np.ndarray, similarity: np.ndarray, threshold: float, linkage="complete"
) -> np.ndarray:
    """:func:`agglomerative_clusters` from the pairs `first[k] < second[k]` scoring `similarity[k]` (float32),
    without the (n, n) matrix: every pair scoring above `threshold` must be among them (others may be), pairs not
    given count as scoring 0; for "average" linkage every pair inside a component of the graph "similarity >
    threshold" must be given. Same labels as the dense function: clusters are subsets of those components, and only
    linkages above the threshold are ever merged, so a component's merges need its own pairs only. Memory: the pairs
    plus the largest component's square.

    Merging picks the highest linkage of the component, ties to the first in row-major order, as `np.argmax` over
    the whole matrix does; each row's maximum is kept and updated only where a merge touched it.
    """
    labels = np.arange(count)
    if count < 2:
        return labels
    similarity = np.asarray(similarity, dtype=np.float32)
    edge = similarity > threshold  # the dense function's `adjacency`, same dtype semantics
    component = threshold_components(count, first[edge], second[edge])
    order = np.argsort(component, kind="stable")  # members of each component in index order
    roots, starts, sizes = np.unique(component[order], return_index=True, return_counts=True)
    local = np.empty(count, dtype=np.int64)
    local[order] = np.arange(count) - np.repeat(starts, sizes)
    pair_component = component[first]
    same = pair_component == component[second]
    pair_order = np.argsort(pair_component[same], kind="stable")
    pair_first, pair_second = first[same][pair_order], second[same][pair_order]
    pair_values = similarity[same][pair_order].astype(np.float64)
    pair_bounds = np.searchsorted(pair_component[same][pair_order], np.concatenate([roots, [count]]))
    missing = 0.0 if linkage == "average" else -np.inf  # complete and single: never above the threshold
    # A component of two holds one pair, above the threshold: under any linkage it merges, into its first member.
    pairs_of_two = starts[sizes == 2]
    labels[order[pairs_of_two + 1]] = order[pairs_of_two]
    for index in np.flatnonzero(sizes > 2):
        members = order[starts[index] : starts[index] + sizes[index]]
        lo, hi = pair_bounds[index], pair_bounds[index + 1]
        size = members.size
        scores = np.full((size, size), missing)
        a_local, b_local = local[pair_first[lo:hi]], local[pair_second[lo:hi]]
        scores[a_local, b_local] = pair_values[lo:hi]
        scores[b_local, a_local] = pair_values[lo:hi]
        np.fill_diagonal(scores, -np.inf)
        if size <= _WHOLE_ARGMAX_LIMIT:  # a small matrix: an argmax over it costs less than keeping rows' maxima
            labels[members] = members[_merged_owners(scores, threshold, linkage)]
            continue
        owner, cluster_sizes = np.arange(size), np.ones(size)
        row_best, row_arg = scores.max(1), scores.argmax(1)
        while True:
            a = int(np.argmax(row_best))
            b = int(row_arg[a])
            if not scores[a, b] > threshold:
                break
            a, b = min(a, b), max(a, b)
            _merge_clusters(scores, owner, cluster_sizes, a, b, linkage)
            # Rows whose maximum sat in column a or b (and rows a, b) are recomputed; elsewhere only column a can
            # have risen (average, single; complete only lowers it), so it may become the row's first maximum.
            stale = np.union1d(np.flatnonzero((row_arg == a) | (row_arg == b)), [a, b])
            column = scores[:, a]
            risen = (column > row_best) | ((column == row_best) & (a < row_arg))
            row_best[risen], row_arg[risen] = column[risen], a
            row_best[stale], row_arg[stale] = scores[stale].max(1), scores[stale].argmax(1)
        labels[members] = members[owner]
    _, relabelled = np.unique(labels, return_inverse=True)  # labels are first members, so order is by position
    return relabelled.reshape(-1)


def triu_pairs(count: int, flat: np.ndarray) -> tuple:
    """Rows `flat` of `torch.triu_indices(count, count, offset=1).T` (the pairs i < j in row-major order) as two int64
    numpy arrays, without the whole list."""
    flat = np.asarray(flat, dtype=np.int64)
    rows = np.arange(count, dtype=np.int64)
    row_starts = rows * count - rows * (rows + 1) // 2  # flat index of (i, i + 1)
    first = np.searchsorted(row_starts, flat, side="right") - 1
    return first, flat - row_starts[first] + first + 1


_ABBREVIATION_PATTERN = re.compile(r"\(([^()]{1,10})\)")
_SPACES_PATTERN = re.compile("[\\s\u200b\ufeff]+")


def _single_spaced(text: str) -> str:
    """`text` with each run of whitespace or invisible separators (zero-width space, byte-order mark) as one space:
    Schwartz & Hearst read words between whitespace, and a tab, a line break or a double space must not end a long
    form or glue two words into one."""
    return _SPACES_PATTERN.sub(" ", text)


def _best_long_form(short: str, candidate: str) -> Optional[int]:
    """Schwartz & Hearst (2003) matching: walk the short form's characters from the end, each matched in the
    candidate long form right to left, its first character at a word start. Returns the long form's start offset
    in `candidate`, or None."""
    short_index, long_index = len(short) - 1, len(candidate) - 1
    while short_index >= 0:
        char = short[short_index].lower()
        if not char.isalnum():
            short_index -= 1
            continue
        while long_index >= 0 and (
            candidate[long_index].lower() != char
            or (short_index == 0 and long_index > 0 and candidate[long_index - 1].isalnum())
        ):
            long_index -= 1
        if long_index < 0:
            return None
        long_index -= 1
        short_index -= 1
    return candidate.rfind(" ", 0, long_index + 1) + 1


def find_abbreviations(text: str) -> list:
    """Abbreviation definitions "long form (SHORT)" in `text` by the Schwartz & Hearst (2003) algorithm.

    A short form is the text inside parentheses: at most 2 words and 10 characters, starting with a letter or digit
    and containing a letter; the long form is searched among the min(|SF| + 5, 2|SF|) words before the parenthesis.
    Returns `[(short form, long form), ...]` as strings, in text order, their whitespace single spaces.
    """
    text = _single_spaced(text)
    definitions = []
    for match in _ABBREVIATION_PATTERN.finditer(text):
        short = match.group(1).strip()
        if (
            not short
            or len(short.split()) > 2
            or not short[0].isalnum()
            or not any(c.isalpha() for c in short)
            or len(short) < 2
        ):
            continue
        max_words = min(len(short) + 5, 2 * len(short))
        # The last max_words + 1 words of `text[: match.start()].rstrip().split(" ")`, found from the parenthesis
        # back: splitting the whole text before every parenthesis made the search quadratic in the text.
        end = match.start()
        while end > 0 and text[end - 1].isspace():
            end -= 1
        words_back = []
        while len(words_back) <= max_words:
            cut = text.rfind(" ", 0, end)
            words_back.append(text[cut + 1 : end])
            if cut < 0:
                break
            end = cut
        # The long form stays inside its clause: stop at a parenthesis, a semicolon or the previous sentence's end.
        window = []
        for word in words_back:
            if not word or any(c in word for c in "();") or len(window) >= max_words or (window and word[-1] in ".?!"):
                break
            window.insert(0, word)
        candidate = " ".join(window)
        if not candidate:
            continue
        start = _best_long_form(short, candidate)
        if start is None:
            continue
        long_form = candidate[start:].strip(" ,")
        if len(long_form) <= len(short) or len(long_form.split()) > max_words:
            continue
        definitions.append((short, long_form))
    return definitions


def merge_linked_clusters(clusters: np.ndarray, linked_groups: list) -> np.ndarray:
    """Cluster labels `(n,)` after merging, for each group of mention indices in `linked_groups`, every cluster that
    holds one of them into one (union-find). Labels stay numbered by first member."""
    if not linked_groups or clusters.size < 2:
        return clusters
    parent = np.arange(int(clusters.max()) + 1)

    def root(label):
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    for group in linked_groups:
        linked = sorted({int(clusters[i]) for i in group})
        if len(linked) < 2:
            continue
        first = root(linked[0])
        for label in linked[1:]:
            other = root(label)
            if other != first:
                parent[max(first, other)] = min(first, other)
                first = min(first, other)
    roots = np.array([root(int(label)) for label in clusters])
    _, first_position = np.unique(roots, return_index=True)
    order = {int(roots[position]): rank for rank, position in enumerate(sorted(first_position))}
    return np.array([order[int(label)] for label in roots], dtype=clusters.dtype)


def abbreviation_groups(mention_strings: list, text: str) -> list:
    """For each abbreviation definition in `text` (:func:`find_abbreviations`), the indices of the mentions written
    as the short form (exactly) or as its long form (case-insensitively)."""
    spaced = [_single_spaced(string).strip() for string in mention_strings]  # as the definitions are written
    lowered = [string.lower() for string in spaced]
    groups = []
    for short, long_form in find_abbreviations(text):
        long_lowered = long_form.lower()
        group = [i for i, string in enumerate(spaced) if string == short]
        group += [i for i, string in enumerate(lowered) if string == long_lowered]
        if group:
            groups.append(group)
    return groups


def merge_abbreviation_clusters(clusters: np.ndarray, mention_strings: list, text: str) -> np.ndarray:
    """Cluster labels `(n,)` after merging, for each abbreviation definition in `text` (:func:`find_abbreviations`),
    every cluster holding a mention written as the short form with every cluster holding a mention written as its
    long form (exact strings, the long form case-insensitively). Labels stay numbered by first member."""
    return merge_linked_clusters(clusters, abbreviation_groups(mention_strings, text))


# Longest first (the first that fits is cut), one cut per string; a cut must leave at least _WORD_FORM_MIN_STEM
# characters, so short words keep their ending ("renal", "acid").
_WORD_FORM_SUFFIXES = (
    "ities",
    "isms",
    "ions",
    "ity",
    "ies",
    "ism",
    "ion",
    "ive",
    "ed",
    "es",
    "ic",
    "al",
    "s",
    "y",
    "e",
)
_WORD_FORM_MIN_STEM = 5


def word_form_key(string: str) -> str:
    """The key under which word forms of one term meet: lower-cased, letters and digits only, then cut by the longest
    suffix of `_WORD_FORM_SUFFIXES` that leaves at least 5 characters ("Hypertensive" and "hypertension" ->
    "hypertens", "toxicities" and "toxicity" -> "toxic"). On BC5CDR train and dev the gold mentions of a document
    that share a key but differ in writing belong to one entity in 201 of 204 pairs, and never to two types."""
    key = string.lower()
    if not key.isalnum():
        key = "".join(char for char in key if char.isalnum())
    if not key.endswith(_WORD_FORM_SUFFIXES):
        return key
    for suffix in _WORD_FORM_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= _WORD_FORM_MIN_STEM:
            return key[: -len(suffix)]
    return key


def word_form_groups(mention_strings: list) -> list:
    """Indices of the mentions grouped by `word_form_key`, for the groups of two or more."""
    groups = {}
    for index, string in enumerate(mention_strings):
        groups.setdefault(word_form_key(string), []).append(index)
    return [group for key, group in groups.items() if key and len(group) > 1]


def lexicon_key(string: str) -> str:
    """How a mention string is looked up in `SimMemREConfig.coreference_lexicon`: lower-cased, each run of whitespace
    or invisible separators as one space, trimmed ("Pruritus" and "pruritus" meet)."""
    return _single_spaced(string).strip().lower()


def lexicon_groups(mention_strings: list, lexicon: Sequence[Sequence[str]]) -> list:
    """Indices of the mentions whose strings (`lexicon_key`) fall in one group of `lexicon` (groups of strings known
    to name one entity), for the groups where two or more differently written strings occur: the lexicon joins
    synonyms, and leaves repeats of one string to the model's own coreference."""
    group_of = {string: number for number, group in enumerate(lexicon) for string in group}
    found = {}
    for index, string in enumerate(mention_strings):
        key = lexicon_key(string)
        number = group_of.get(key)
        if number is not None:
            found.setdefault(number, []).append((index, key))
    return [[index for index, _ in members] for members in found.values() if len({key for _, key in members}) > 1]


def _propagation_key(string: str) -> str:
    """A capital first letter followed by a lower-case one is compared lower-cased: a sentence's first word. The key
    keeps the string's length (which `propagated_mentions` filters on), so "İ", whose lower case is two code points,
    stays as written."""
    first = string[0].lower()
    return first + string[1:] if len(first) == 1 and string[1:2].islower() else string


def propagated_mentions(text: str, word_char_spans: list, mention_word_spans: list, clusters: list, min_length: int):
    """`mention_string_propagation`: the further occurrences of the mentions' strings, as word spans that overlap no
    mention, each given the entity of the mentions written that way; longer spans first, so an occurrence of
    "lithium carbonate" is not taken by "lithium". Strings that mentions of two entities share are skipped.

    Args:
        text: the document; word_char_spans: `[W, 2]` character spans of its words.
        mention_word_spans: `[n, 2]` word spans (end exclusive); clusters: `[n]` entity of each mention.

    Returns: `list` of `(first word, end word, entity)`, in the order found.
    """
    owners, lengths = {}, set()
    for (first, end), entity in zip(mention_word_spans, clusters):
        string = text[word_char_spans[first][0] : word_char_spans[end - 1][1]]
        if len(string) >= min_length:
            owners.setdefault(_propagation_key(string), set()).add(entity)
            lengths.add(end - first)
    if not owners:
        return []
    covered = [False] * len(word_char_spans)
    for first, end in mention_word_spans:
        covered[first:end] = [True] * (end - first)
    # A key keeps its string's length and last character, so only windows that share both with an owner can match:
    # found at once per length, then checked one by one in text order (a match covers words for the windows after).
    shapes = np.sort(np.fromiter({len(key) << 21 | ord(key[-1]) for key in owners}, dtype=np.int64))
    codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
    char_spans = np.asarray(word_char_spans, dtype=np.int64).reshape(-1, 2)
    found = []
    for length in sorted(lengths, reverse=True):
        window_starts, window_ends = char_spans[: len(char_spans) - length + 1, 0], char_spans[length - 1 :, 1]
        window_shapes = (window_ends - window_starts) << 21 | codepoints[window_ends - 1]
        # Membership by binary search in the few sorted shapes (several times faster than np.isin here).
        nearest = shapes[np.minimum(np.searchsorted(shapes, window_shapes), shapes.shape[0] - 1)]
        for first in np.flatnonzero(nearest == window_shapes).tolist():
            end = first + length
            if any(covered[first:end]):
                continue
            owner = owners.get(_propagation_key(text[word_char_spans[first][0] : word_char_spans[end - 1][1]]))
            if owner is not None and len(owner) == 1:
                found.append((first, end, next(iter(owner))))
                covered[first:end] = [True] * length
    return found


def propagate_document_mentions(document: dict, word_char_spans: list, min_length: int) -> dict:
    """`mention_string_propagation` on a decoded document (schema, character offsets) whose mentions fall on the
    words `word_char_spans` `[W, 2]`: a copy with the mentions `SimMemREModel.extract` adds, scored 0. Threshold
    calibration filters one output at entity threshold 0 by each entity threshold and propagates after the filter,
    as `extract` does."""
    first_word = {start: index for index, (start, _) in enumerate(word_char_spans)}
    end_word = {end: index + 1 for index, (_, end) in enumerate(word_char_spans)}
    spans, clusters = [], []
    for number, entity in enumerate(document["entities"]):
        for mention in entity["mentions"]:
            spans.append([first_word[mention["start"]], end_word[mention["end"]]])
            clusters.append(number)
    found = propagated_mentions(document["text"], word_char_spans, spans, clusters, min_length)
    if not found:
        return document
    entities = [{**entity, "mentions": list(entity["mentions"])} for entity in document["entities"]]
    for first, end, number in found:
        start, stop = word_char_spans[first][0], word_char_spans[end - 1][1]
        entities[number]["mentions"].append(
            {"start": start, "end": stop, "text": document["text"][start:stop], "score": 0.0}
        )
    for entity in entities:
        entity["mentions"].sort(key=lambda mention: (mention["start"], mention["end"]))
    return {**document, "entities": entities}


def non_overlapping_spans(spans: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the spans `(n, 2)` (word start, end; host arrays) kept by greedy flat decoding: the highest score
    first, then each next span that overlaps none kept (ties: earlier span first). Returns the kept rows in their
    input order."""
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    occupied = np.zeros(int(spans[:, 1].max(initial=0)), dtype=bool)
    kept = []
    for rank, (start, end) in enumerate(spans[order].tolist()):
        if not occupied[start:end].any():
            occupied[start:end] = True
            kept.append(rank)
    return np.sort(order[kept])


def candidate_spans(word_sentence_ids: torch.LongTensor, max_span_size: int) -> torch.LongTensor:
    """All spans of 1..max_span_size words inside one sentence, the one definition of candidate spans (inference
    scores them all; the training collator draws its negative mention samples from them).

    Args:
        word_sentence_ids (`torch.LongTensor` or host array of shape `(W,)`): sentence index of each word; a host
            array gives a CPU tensor.
    Returns:
        `torch.LongTensor` of shape `(S, 2)`: word indices, end exclusive, ordered by width, then start (inference
        pools them width by width).
    """
    device = word_sentence_ids.device if isinstance(word_sentence_ids, torch.Tensor) else None  # None: the host
    sentence_ids = host_array(word_sentence_ids)
    words = sentence_ids.shape[0]
    max_width = min(max_span_size, words)
    if max_width == 0:
        return device_index(np.zeros((0, 2), dtype=np.int64), device)
    starts = np.broadcast_to(np.arange(words), (max_width, words))  # [K, W]
    ends = starts + np.arange(1, max_width + 1)[:, None]
    inside = (ends <= words) & (sentence_ids[starts] == sentence_ids[np.minimum(ends - 1, words - 1)])
    spans = np.stack([starts[inside], ends[inside]], axis=-1)  # row-major: width, then start
    return device_index(spans, device)


def boundary_word_mask(word_spans: torch.LongTensor, context: "DocumentContext", config) -> Optional[torch.Tensor]:
    """Which candidate spans to score under `config.non_initial_words` / `non_final_words`: `(S,)` bool, False for a
    span that begins with a non-initial word or ends with a non-final one; None when no list is set or the text is
    not at hand (every span is scored).

    Args:
        word_spans (`torch.LongTensor` of shape `(S, 2)`): word indices, end exclusive.
    """
    if not (config.non_initial_words or config.non_final_words):
        return None
    if context.word_char_spans is None or context.text_codepoints is None:
        return None
    text = context.text()
    # Lower-cased word by word: lower() can lengthen a string ("İ"), so the whole text's offsets would shift.
    words = [text[start:end].lower() for start, end in context.word_char_spans.tolist()]
    non_initial, non_final = set(config.non_initial_words), set(config.non_final_words)
    can_begin = np.fromiter((word not in non_initial for word in words), dtype=bool, count=len(words))
    can_end = np.fromiter((word not in non_final for word in words), dtype=bool, count=len(words))
    spans = host_array(word_spans)
    return torch.from_numpy(can_begin[spans[:, 0]] & can_end[spans[:, 1] - 1]).to(word_spans.device)


def relation_argument_mask(config) -> Optional[np.ndarray]:
    """`config.relation_argument_types` as a mask `(R, E, E)`: [r, h, t] is True when relation type r may join a head
    of entity type h to a tail of type t (a relation type the dict does not name may join any); None when the dict
    is empty (every pair is scored)."""
    if not config.relation_argument_types:
        return None
    argument_types, entity_types = config.relation_argument_types, config.entity_types
    entity_index = {name: index for index, name in enumerate(entity_types)}
    relation_types = config.relation_types
    mask = np.ones((len(relation_types), len(entity_types), len(entity_types)), dtype=bool)  # built on the host
    for index, relation in enumerate(relation_types):
        if relation in argument_types:
            mask[index] = False
            for head, tail in argument_types[relation]:
                mask[index, entity_index[head], entity_index[tail]] = True
    return mask


def no_relations(device) -> tuple:
    """The relations `(0, 3)` and relation scores `(0,)` of a document without any."""
    return torch.zeros((0, 3), dtype=torch.long, device=device), torch.zeros((0,), device=device)


def empty_prediction(num_entity_types: int, device) -> dict:
    """The prediction of a document without mentions (see [`SimMemREOutput`]`.predictions`)."""
    relations, relation_scores = no_relations(device)
    return {
        "mention_word_spans": torch.zeros((0, 2), dtype=torch.long, device=device),
        "mention_scores": torch.zeros((0,), device=device),
        "mention_clusters": torch.zeros((0,), dtype=torch.long, device=device),
        "entity_types": torch.zeros((0,), dtype=torch.long, device=device),
        "entity_scores": torch.zeros((0,), device=device),
        "entity_type_probabilities": torch.zeros((0, num_entity_types), device=device),
        "relations": relations,
        "relation_scores": relation_scores,
    }


# What this process has already said once: a cap that bound at a limit (each document's prediction records it in
# "truncated"; a line per document, again at every point of a threshold grid, filled the logs), a folder named as
# saved by another version (see `_first_time_named`).
_SAID_ONCE = set()


def _first_time(key) -> bool:
    """Whether `key` has not been said in this process yet (and now is)."""
    new = key not in _SAID_ONCE
    _SAID_ONCE.add(key)
    return new


def _truncation(truncated: Optional[list], cap: str, limit: int, found: int, kept: int, setting=None) -> dict:
    """Record that the document-level cap `cap` (a `SimMemREConfig` field) bound: `found` items passed their
    threshold, `kept` of them were kept. The note goes into `truncated` (the document's prediction), and the first
    time a cap binds at a setting in a process a warning says so, so a cap is never silent. `setting` is the config's
    value when the document's `limit` is computed from it (`max_mentions_per_word` x words): one warning per setting,
    not per document length."""
    note = {"cap": cap, "limit": int(limit), "found": int(found), "kept": int(kept)}
    if truncated is not None:
        truncated.append(note)
    setting = limit if setting is None else setting
    if _first_time(("cap bound", cap, setting)):
        here = "" if setting == limit else f" (a limit of {limit} for this document)"
        logger.warning(
            f"SimMemRE inference: {cap}={setting} bound{here}, {found} found, {kept} kept (see the config docstring "
            f'for which ones are kept; set it to None to disable). Each such prediction says so in "truncated"; '
            f"further documents bound by {cap}={setting} are not logged."
        )
    return note


def _masked_mean(values, mask):
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


# ----------------------------------------------------------------------------------------------------
# Memory (paper section 3)
# ----------------------------------------------------------------------------------------------------


class SimilarityMemory(nn.Module):
    """Memory matrix M ∈ R^{m×s}: one slot per entity or relation type. Written only through gradients of the
    similarity classifier (and of the reads when `memory_read_gradient`)."""

    def __init__(self, num_slots: int, slot_size: int):
        super().__init__()
        # Zeros, not torch.empty: a module built on its own (outside the model's `_init_weights`) must not read freed
        # memory, and drawing random numbers here would shift every seeded model's initialisation.
        self.weight = nn.Parameter(torch.zeros(num_slots, slot_size))


class BilinearSimilarity(nn.Module):
    """S(x, M) = M Wᵀ x (paper eq. 5), W ∈ R^{h×s}.

    Forward: x `(..., h)`, memory `(m, s)` -> `(..., m)` similarities.
    """

    def __init__(self, input_size: int, slot_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(input_size, slot_size))  # zeros: see SimilarityMemory

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return (x @ self.weight) @ memory.T
        # Inference: x (W Mᵀ) with M Wᵀ `(m, h)` made once per weight version, so each call reads m rows instead of
        # the (h, s) W (the same product, associated the other way: equal up to rounding).
        folded = _weight_derived(self, "folded", (self.weight, memory), lambda: few_rows_linear(memory, self.weight))
        if folded.shape[0] > 4:
            return x @ folded.T
        # A few output columns (up to four) take small-matrix kernels whose rounding can change with the row count
        # and the memory alignment (one column: the matrix-vector kernel); the element-wise form gives the same bits.
        return (x[..., None, :] * folded).sum(-1)


class MemoryReader(nn.Module):
    """One memory read (paper eq. 1-2): a = Σ_k softmax_n(m_k W_read Xᵀ), X' = diag(a) X, with W_read ∈ R^{s×h}.
    With `learned_temperature` the scores are multiplied by exp(log_inverse_temperature), a learned scalar (0 at
    initialisation: the paper's read).

    `scores`: x `(..., N, h)`, memory `(m, s)` -> `(..., N, m)`;
    `forward`: x `(B, N, h)`, mask `(B, N)` -> X' `(B, N, h)`.
    """

    def __init__(self, hidden_size: int, slot_size: int, learned_temperature: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(slot_size, hidden_size))  # zeros: see SimilarityMemory
        self.log_inverse_temperature = nn.Parameter(torch.zeros(())) if learned_temperature else None

    def scores(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        weights = (memory, self.weight, self.log_inverse_temperature)
        return x @ _weight_derived(self, "keys", weights, lambda: self.keys(memory)).T

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """m_k W_read `(m, h)` (times the inverse temperature): the same for every document, so inference computes
        them once per weight version."""
        keys = memory @ self.weight
        if self.log_inverse_temperature is not None:
            keys = keys * self.log_inverse_temperature.exp().to(keys.dtype)
        return keys

    def attention(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """a `(B, N)`: softmax over the N positions per slot, summed over slots."""
        # float32: under autocast the scores are half precision, where float32's lowest value overflows and a softmax
        # over thousands of positions loses its small weights.
        scores = self.scores(x, memory).float().masked_fill(~mask[..., None], _lowest(torch.float32))
        return scores.softmax(dim=-2).sum(-1).to(x.dtype)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.attention(x, memory, mask)[..., None] * x


class MemoryEnhancedRepresentation(nn.Module):
    """X enhanced by reads from the enabled memories, one W_read `(s, h)` per memory; `config.memory_read_mode` picks
    the formula (N positions, K slots, a_M = Σ_k softmax_n(m_k W_read Xᵀ) `(N,)`):

    - "mean" (paper section 3.1): X' = mean(X, diag(a_E)X, diag(a_R)X) = X ⊙ (1 + a_E + a_R) / 3;
    - "sum": X' = X ⊙ (1 + a_E + a_R);
    - "scaled": X' = X ⊙ (1 + a_E N/K + a_R N/K) / 3;
    - "residual": X' = X + Σ_M W_o,M (softmax_k(X W_readᵀ Mᵀ) M), W_o,M `(h, s)` initialised to zero.

    The first three read over positions (`position_attentions` then `apply_attentions`, which inference splits to
    normalise over all candidate spans chunk by chunk); "residual" reads each row on its own (`read_rows`).
    """

    def __init__(self, config: SimMemREConfig):
        super().__init__()
        self.mode = config.memory_read_mode
        self.detach_memories = not config.memory_read_gradient
        self.readers = nn.ModuleDict()
        learned = config.memory_read_temperature == "learned"
        if config.use_entity_memory:
            self.readers["entity"] = MemoryReader(config.hidden_size, config.entity_slot_size, learned)
        if config.use_relation_memory:
            self.readers["relation"] = MemoryReader(config.hidden_size, config.relation_slot_size, learned)
        if self.mode == "residual":
            self.value_projections = nn.ModuleDict(
                {
                    name: ZeroInitLinear(reader.weight.shape[0], config.hidden_size)
                    for name, reader in self.readers.items()
                }
            )

    @property
    def reads_over_positions(self) -> bool:
        return self.mode != "residual"

    def _memories(self, memories: dict) -> dict:
        if self.detach_memories:
            return {name: memories[name].detach() for name in self.readers}
        return memories

    def forward(self, x: torch.Tensor, mask: torch.Tensor, memories: dict, in_place: bool = False) -> torch.Tensor:
        """x `(B, N, h)`, mask `(B, N)` -> X' `(B, N, h)`; `in_place`: a read over positions scales x itself."""
        if not self.reads_over_positions:
            return self.read_rows(x, memories)
        return self.apply_attentions(x, self.position_attentions(x, mask, memories), in_place)

    def position_attentions(self, x: torch.Tensor, mask: torch.Tensor, memories: dict) -> dict:
        """`{memory: a (B, N)}` over the unmasked positions, times N/K in "scaled" mode."""
        memories = self._memories(memories)
        if torch.is_grad_enabled():
            attentions = {name: reader.attention(x, memories[name], mask) for name, reader in self.readers.items()}
        else:  # inference: every reader's scores from one product (`stacked_keys`), x read once
            keys, slot_counts = self.stacked_keys(memories)
            scores = (x @ keys.T).float().masked_fill(~mask[..., None], _lowest(torch.float32))
            parts = scores.split(slot_counts, dim=-1)
            attentions = {name: part.softmax(dim=-2).sum(-1).to(x.dtype) for name, part in zip(self.readers, parts)}
        if self.mode == "scaled":
            for name, attention in attentions.items():
                positions = mask.sum(-1, keepdim=True).to(attention.dtype)
                attentions[name] = attention * positions / memories[name].shape[0]
        return attentions

    def stacked_keys(self, memories: dict) -> tuple:
        """Inference: all readers' keys in one table `(ΣK, h)` and the slot count of each memory, so that a block of
        rows gets every read score from one product (alone, a one-slot memory's product takes torch's matrix-vector
        kernel, whose rounding changes with the number of rows)."""
        readers = list(self.readers.items())
        weights = [
            weight
            for name, reader in readers
            for weight in (memories[name], reader.weight, reader.log_inverse_temperature)
        ]
        keys = _weight_derived(
            self, "stacked_keys", weights, lambda: torch.cat([reader.keys(memories[name]) for name, reader in readers])
        )
        return keys, [memories[name].shape[0] for name, _ in readers]

    def split_scores(self, scores: torch.Tensor, slot_counts: list) -> dict:
        """`{memory: (N, K)}` from the stacked read scores `(N, ΣK)` (see `stacked_keys`)."""
        return {name: part.contiguous() for name, part in zip(self.readers, scores.split(slot_counts, dim=-1))}

    def attentions_from_scores(self, scores: dict) -> dict:
        """`{memory: a (N,)}` from all N positions' read scores `{memory: (N, K)}` (inference over every candidate)."""
        attentions = {}
        for name, memory_scores in scores.items():
            attention = memory_scores.float().softmax(dim=0).sum(-1)
            if self.mode == "scaled":
                attention = attention * (memory_scores.shape[0] / memory_scores.shape[1])
            attentions[name] = attention.to(memory_scores.dtype)
        return attentions

    def apply_attentions(self, x: torch.Tensor, attentions: dict, in_place: bool = False) -> torch.Tensor:
        """X' from x `(..., N, h)` and attention weights `{memory: (..., N)}`, one scale per row (`in_place`: x is
        scaled, the same products)."""
        total = 1 + sum(attentions[name] for name in self.readers)
        scale = total if self.mode == "sum" else total / (len(self.readers) + 1)
        return x.mul_(scale[..., None]) if in_place else scale[..., None] * x

    def read_rows(self, x: torch.Tensor, memories: dict) -> torch.Tensor:
        """Residual key-value read of each row: x `(..., h)` -> x + Σ_M W_o,M softmax_k(scores) M `(..., h)`."""
        memories = self._memories(memories)
        read = x
        for name, reader in self.readers.items():
            slots = reader.scores(x, memories[name]).softmax(dim=-1)  # (..., K)
            read = read + self.value_projections[name](slots @ memories[name])
        return read


class ZeroInitLinear(nn.Linear):
    """A bias-free linear layer initialised to zero, so a residual branch starts as the identity."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)


# ----------------------------------------------------------------------------------------------------
# Task heads (JEREX, jerex/models/modules)
# ----------------------------------------------------------------------------------------------------


def _weight_derived(module: nn.Module, name: str, weights: Sequence[torch.Tensor], compute):
    """`compute()`, a tensor (or tuple) that depends only on `weights`: cached on `module` at inference until a weight
    changes (new storage, dtype or an in-place update that bumps its version; `train()`/`eval()` drop every table, for
    the fused optimizers' updates that do not), recomputed whenever autograd may record. Contiguous weight
    blocks and per-table-row projections are the same for every document, and making them costs more per document
    than the products they feed."""
    if torch.is_grad_enabled():
        return compute()
    device_type = weights[0].device.type
    # Products computed under autocast are in its dtype: a table made inside it is not reused outside, or after.
    key = (torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)) + tuple(
        (weight.data_ptr(), weight._version, weight.dtype, weight.device) for weight in weights if weight is not None
    )
    # One table per key, read once: threads sharing a model under different autocast states each find their own (a
    # check, then a second read of one shared slot, gave a thread the other's table between the two).
    tables = module.__dict__.setdefault("_weight_derived_cache", {}).setdefault(name, {})
    table = tables.get(key)
    if table is None:
        table = compute()
        if len(tables) >= 4:  # stale weight versions (the autocast states in use stay under this)
            tables.clear()
        tables[key] = table
    return table


class MentionLocalization(nn.Module):
    """p_M(s) = σ(w_M · Dropout(ReLU(W_M [s; w_size]))). Forward: spans `(..., d)`, sizes `(...)` -> logits `(...)`."""

    def __init__(self, config: SimMemREConfig):
        super().__init__()
        self.size_embeddings = nn.Embedding(config.size_embeddings_count, config.meta_embedding_size)
        self.hidden = nn.Linear(config.hidden_size + config.meta_embedding_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, 1)

    def forward(self, spans: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
        sizes = sizes.clamp(max=self.size_embeddings.num_embeddings - 1)
        # W_M [s; w_size] = W_s s + W_size w_size: the size term has one value per size, so it is computed per
        # size table row instead of per span (there are thousands of candidate spans per abstract).
        span_size = spans.shape[-1]
        weights = (self.hidden.weight, self.size_embeddings.weight)
        # [sizes, hidden], and the span block of W_M as a contiguous copy: the product over thousands of spans runs
        # about 13 % faster than on the strided slice, with bitwise the same result.
        size_terms, span_weight = _weight_derived(
            self,
            "size_terms",
            weights,
            lambda: (
                F.linear(self.size_embeddings.weight, self.hidden.weight[:, span_size:]),
                self.hidden.weight[:, :span_size].contiguous(),
            ),
        )
        x = F.linear(spans, span_weight, self.hidden.bias)
        x += gather_rows(size_terms, sizes)  # in place: thousands of rows per document
        return self.classifier(self.dropout(F.relu(x, inplace=True))).squeeze(-1)

    def loss(self, spans, sizes, labels, mask) -> torch.Tensor:
        """Mean binary cross-entropy over the sampled spans: spans `(B, S, d)`, sizes, labels, mask `(B, S)`."""
        logits = self(spans, sizes)
        return _masked_mean(F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none"), mask)


class CoreferenceResolution(nn.Module):
    """p_C(s_i, s_j) = σ(w_C · Dropout(ReLU(W_C [s_i; s_j; e_ed]))), e_ed embeds the character edit distance.

    Forward: first, second `(..., d)`, edit_distances `(...)` -> logits `(...)`.
    """

    def __init__(self, config: SimMemREConfig):
        super().__init__()
        self.edit_distance_embeddings = nn.Embedding(config.edit_distance_embeddings_count, config.meta_embedding_size)
        self.hidden = nn.Linear(2 * config.hidden_size + config.meta_embedding_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, 1)

    def forward(self, first, second, edit_distances):
        edit_distances = edit_distances.clamp(max=self.edit_distance_embeddings.num_embeddings - 1)
        x = torch.cat([first, second, self.edit_distance_embeddings(edit_distances)], dim=-1)
        return self.classifier(self.dropout(F.relu(self.hidden(x)))).squeeze(-1)

    def mention_projections(self, mentions: torch.Tensor) -> tuple:
        """W_C [s_i; s_j; e_ed] is a sum of one block of W_C per input, so inference over all mention pairs applies
        the mention blocks once per mention and the distance block once per table row: mentions `(n, d)` ->
        (first `(n, h)`, second `(n, h)`, edit-distance table `(K, h)` with the bias)."""
        size = mentions.shape[-1]
        weight = self.hidden.weight
        mention_blocks, distance_terms = _weight_derived(
            self,
            "blocks",
            (weight, self.hidden.bias, self.edit_distance_embeddings.weight),
            lambda: (
                weight_blocks(weight[:, :size], weight[:, size : 2 * size]),
                F.linear(self.edit_distance_embeddings.weight, weight[:, 2 * size :], self.hidden.bias),
            ),
        )
        first_terms, second_terms = parallel_linear(mentions, mention_blocks)
        return first_terms, second_terms, distance_terms

    def pair_logits(self, projections: tuple, first: torch.Tensor, second: torch.Tensor, edit_distances):
        """`forward` for mention pairs given as indices `(p,)` into the mentions of `mention_projections` -> `(p,)`."""
        first_terms, second_terms, distance_terms = projections
        edit_distances = edit_distances.clamp(max=distance_terms.shape[0] - 1)
        x = gather_rows(first_terms, first) + gather_rows(second_terms, second)
        x += gather_rows(distance_terms, edit_distances)  # in place: one mention pair per row, hundreds of them
        return self.classifier(self.dropout(F.relu(x, inplace=True))).squeeze(-1)

    def loss(self, spans: torch.Tensor, targets: "TrainingTargets") -> torch.Tensor:
        """Mean binary cross-entropy over the sampled mention pairs; spans `(B, S, d)`."""
        gather = torch.arange(spans.shape[0], device=spans.device)
        first = spans[gather[:, None], targets.coref_pairs[..., 0]]
        second = spans[gather[:, None], targets.coref_pairs[..., 1]]
        logits = self(first, second, targets.coref_edit_distances)
        return _masked_mean(
            F.binary_cross_entropy_with_logits(logits, targets.coref_labels.float(), reduction="none"),
            targets.coref_mask,
        )

    @torch.inference_mode()
    def cluster(self, context: "DocumentContext", mentions: "Mentions", threshold: float, config) -> np.ndarray:
        """Stage 3: coreference probabilities of all mention pairs i < j in document order (one direction, as
        JEREX's clustering effectively reads, though JEREX orders candidates by sentence, width, then start, so a
        longer span that starts first comes second there), then agglomerative clustering at `threshold`
        (`coreference_linkage`; JEREX: complete), then the abbreviation, word-form and lexicon merges
        (`abbreviation_coreference`, `word_form_coreference`, `coreference_lexicon`). At a threshold of 1 or more no
        pair can link, so none is scored.

        Returns `np.ndarray` of shape `(n,)` (host): entity index of each mention, numbered by first mention.
        """
        count = mentions.representations.shape[0]
        if count < 2:
            return np.arange(count)
        strings, codepoints = mention_strings(mentions.word_spans, context.word_char_spans, context.text_codepoints)
        if threshold >= 1.0:
            clusters = np.arange(count)  # a probability never exceeds 1: every mention is its own entity
        else:
            clusters = self.linked_clusters(
                mentions.representations,
                strings,
                threshold,
                config.coref_pair_chunk_size,
                config.coreference_linkage,
            )
        lexicon = config.coreference_lexicon
        if strings is not None and (config.abbreviation_coreference or config.word_form_coreference or lexicon):
            written = ["".join(map(chr, s)) for s in strings]
            linked_groups = []
            if config.abbreviation_coreference:
                linked_groups += abbreviation_groups(written, context.text(codepoints))
            if config.word_form_coreference:
                linked_groups += word_form_groups(written)
            if lexicon:
                linked_groups += lexicon_groups(written, lexicon)
            clusters = merge_linked_clusters(clusters, linked_groups)
        return clusters

    def linked_clusters(
        self, mention_reprs, strings: Optional[list], threshold: float, pair_chunk: int, linkage: str = "complete"
    ) -> np.ndarray:
        """Agglomerative clustering (`linkage`) of the coreference probabilities of the mention pairs i < j, scored
        in blocks of `pair_chunk` pairs (row-major order), so memory grows with the block and with the pairs above
        the threshold, never with the n x n matrix. Each block's edit distances are computed on the CPU (Myers'
        bit-vector algorithm, :class:`PairEditDistances`) and moved to the device with its pair indices; each block's
        probabilities come back to the host, which keeps the pairs that may score above the threshold. Average
        linkage also needs the pairs below the threshold inside each component of the pairs above it: they are scored
        again, component by component. Same clusters as the dense `agglomerative_clusters` of the n x n probability
        matrix."""
        count, device = mention_reprs.shape[0], mention_reprs.device
        if strings is not None:
            unique = sorted(set(strings))
            position = {s: i for i, s in enumerate(unique)}
            string_index = np.array([position[s] for s in strings], dtype=np.int64)
            edit_distances = PairEditDistances([list(s) for s in unique])
        projections = self.mention_projections(mention_reprs)

        def probabilities_of(first: np.ndarray, second: np.ndarray) -> torch.Tensor:
            if strings is not None:
                distances = edit_distances(string_index[first], string_index[second])
            else:
                distances = np.zeros(first.shape, dtype=np.int64)
            a, b, distances = (device_index(values, device) for values in (first, second, distances))
            return torch.sigmoid(self.pair_logits(projections, a, b, distances).float())

        # Pairs kept for clustering: a superset of those scoring above the threshold in float32 or float64 (the
        # clustering decides exactly, on the host); a pair not kept counts as scoring 0, which changes nothing.
        floor = min(float(threshold), float(np.float32(threshold))) - 1e-6
        total = count * (count - 1) // 2
        # The kept pairs go into host buffers grown by doubling: small arrays kept alive between the blocks' large
        # temporaries would split the freed space, and the host heap would grow by a block's worth per block.
        capacity, size = min(total, 4 * pair_chunk), 0
        kept_pairs = np.empty((capacity,), dtype=np.int64)
        kept_probabilities = np.empty((capacity,), dtype=np.float32)
        for begin in range(0, total, pair_chunk):
            probabilities = host_array(
                probabilities_of(*triu_pairs(count, np.arange(begin, min(begin + pair_chunk, total))))
            )
            kept = np.flatnonzero(probabilities > floor)
            added = kept.shape[0]
            if size + added > capacity:
                capacity = min(total, max(2 * capacity, size + added))
                kept_pairs = np.concatenate([kept_pairs[:size], np.empty((capacity - size,), dtype=np.int64)])
                kept_probabilities = np.concatenate(
                    [kept_probabilities[:size], np.empty((capacity - size,), dtype=np.float32)]
                )
            np.add(kept, begin, out=kept_pairs[size : size + added])
            np.take(probabilities, kept, out=kept_probabilities[size : size + added])
            size += added
            del kept, probabilities
        flat, values = kept_pairs[:size], kept_probabilities[:size]
        first, second = triu_pairs(count, flat)
        if linkage == "average":
            first, second, values = self._component_pairs(
                count, first, second, values, threshold, probabilities_of, pair_chunk
            )
        return agglomerative_clusters_from_edges(count, first, second, values, threshold, linkage)

    @staticmethod
    def _component_pairs(count, first, second, values, threshold, probabilities_of, pair_chunk) -> tuple:
        """Every pair i < j inside each connected component of the pairs scoring above `threshold`, with its
        probability (from `values` where kept, scored by `probabilities_of` otherwise)."""
        above = values > np.float32(threshold)
        component = threshold_components(count, first[above], second[above])
        order = np.argsort(component, kind="stable")
        _, starts, sizes = np.unique(component[order], return_index=True, return_counts=True)
        blocks = [order[start : start + size] for start, size in zip(starts, sizes) if size > 1]
        if not blocks:
            return first[:0], second[:0], values[:0]
        pairs = [np.triu_indices(block.size, k=1) for block in blocks]
        all_first = np.concatenate([block[i] for block, (i, _) in zip(blocks, pairs)])
        all_second = np.concatenate([block[j] for block, (_, j) in zip(blocks, pairs)])
        # The kept pairs are in row-major order, so their keys increase; a component implies a kept pair.
        known = first * count + second
        keys = all_first * count + all_second
        slot = np.minimum(np.searchsorted(known, keys), known.size - 1)
        found = known[slot] == keys
        scored = np.where(found, values[slot], np.nan).astype(np.float32)
        unknown = np.flatnonzero(~found)
        for begin in range(0, unknown.size, pair_chunk):
            chunk = unknown[begin : begin + pair_chunk]
            scored[chunk] = probabilities_of(all_first[chunk], all_second[chunk]).cpu().numpy()
        return all_first, all_second, scored


class EntityClassification(nn.Module):
    """Entity type logits. Similarity (paper eq. 3): S(e, M_E) = M_E W_Eᵀ e, no hidden layer (paper code).
    MLP (JEREX): W_2 Dropout(ReLU(W_1 e)). Forward: entities `(..., d)` -> logits `(..., |E|)`."""

    def __init__(self, config: SimMemREConfig):
        super().__init__()
        self.use_similarity = config.classifier_type == "similarity"
        self.pooled_dropout = nn.Dropout(config.dropout)  # on the max-pooled entities in training (JEREX)
        if self.use_similarity:
            self.similarity = BilinearSimilarity(config.hidden_size, config.entity_slot_size)
        else:
            self.hidden = nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = nn.Dropout(config.dropout)
            self.classifier = nn.Linear(config.hidden_size, len(config.entity_types))

    def forward(self, entities: torch.Tensor, entity_memory: Optional[torch.Tensor]) -> torch.Tensor:
        if self.use_similarity:
            return self.similarity(entities, entity_memory)
        return self.classifier(self.dropout(F.relu(self.hidden(entities))))

    def loss(self, spans: torch.Tensor, entity_memory: Optional[torch.Tensor], targets: "TrainingTargets") -> tuple:
        """Gold entities `(B, E, d)` (max over their sampled mentions `spans` `(B, S, d)`, dropout) and the mean
        cross-entropy of their types."""
        gather = torch.arange(spans.shape[0], device=spans.device)
        members = spans[gather[:, None, None], targets.entity_mentions]  # [B, E, M, d]
        members = members.masked_fill(~targets.entity_mention_mask[..., None], _lowest(members.dtype))
        entity_reprs = self.pooled_dropout(members.amax(2).masked_fill(~targets.entity_mask[..., None], 0.0))
        logits = self(entity_reprs, entity_memory)
        loss = _masked_mean(
            F.cross_entropy(logits.flatten(0, 1), targets.entity_types.flatten().clamp(min=0), reduction="none"),
            targets.entity_mask.flatten(),
        )
        return entity_reprs, loss

    @torch.inference_mode()
    def entities(self, mentions: "Mentions", clusters: np.ndarray, entity_memory: Optional[torch.Tensor]) -> "Entities":
        """Stage 4: each entity (cluster, `clusters` `(n,)` on the host) is the max-pool of its mentions'
        representations, then typed."""
        mention_reprs = mentions.representations
        mention_clusters = torch.as_tensor(clusters, dtype=torch.long, device=mention_reprs.device)
        num_entities = int(clusters.max()) + 1  # from the host copy: no device sync
        entity_reprs = mention_reprs.new_full((num_entities, mention_reprs.shape[-1]), _lowest(mention_reprs.dtype))
        entity_reprs = entity_reprs.scatter_reduce(
            0, mention_clusters[:, None].expand_as(mention_reprs), mention_reprs, reduce="amax", include_self=True
        )
        # float32 under autocast / half-precision weights too
        probabilities = self(entity_reprs, entity_memory).softmax(-1, dtype=torch.float32)
        scores, types = probabilities.max(-1)
        return Entities(
            entity_reprs,
            types,
            mention_clusters=mention_clusters,
            clusters=clusters,
            probabilities=probabilities,
            scores=scores,
        )


class RelationClassification(nn.Module):
    """Relation logits for entity pairs, MRC (multi-instance) or GRC (global), ending in S(z, M_R) = M_R W_Rᵀ z
    (paper eq. 4-5) or, for the JEREX baseline, a linear layer. Entity types enter as detached rows of M_E (paper
    code) or as learned type embeddings (JEREX).

    MRC: u_jk = Dropout(W_u [c_jk; s_j; s_k; e_h; e_t; d_tok; d_sent]) for every mention pair, u = max_jk u_jk,
         z = Dropout(ReLU(W_z [u; t_h; t_t])).
    GRC: z = Dropout(ReLU(W [e_h; e_t; t_h; t_t])).
    """

    def __init__(self, config: SimMemREConfig):
        super().__init__()
        hidden, meta = config.hidden_size, config.meta_embedding_size
        self.hidden_size, self.num_relation_types = hidden, len(config.relation_types)
        self.multi_instance = config.relation_classifier == "multi_instance"
        self.use_similarity = config.classifier_type == "similarity"
        type_size = config.entity_slot_size if self.use_similarity else meta
        if not self.use_similarity:
            self.type_embeddings = nn.Embedding(len(config.entity_types), meta)
        self.dropout = nn.Dropout(config.dropout)
        if self.multi_instance:
            self.token_distance_embeddings = nn.Embedding(config.token_distance_embeddings_count, meta)
            self.sentence_distance_embeddings = nn.Embedding(config.sentence_distance_embeddings_count, meta)
            self.local = nn.Linear(5 * hidden + 2 * meta, hidden)
            self.pair = nn.Linear(hidden + 2 * type_size, hidden)
        else:
            self.pair = nn.Linear(2 * hidden + 2 * type_size, hidden)
        if self.use_similarity:
            self.similarity = BilinearSimilarity(hidden, config.relation_slot_size)
        else:
            self.classifier = nn.Linear(hidden, len(config.relation_types))

    def type_table(self, entity_memory: Optional[torch.Tensor]) -> torch.Tensor:
        """One row per entity type `(|E|, t)`: the detached rows of M_E (paper code) or the learned type embeddings."""
        return entity_memory.detach() if self.use_similarity else self.type_embeddings.weight

    def type_representations(self, types: torch.Tensor, entity_memory: Optional[torch.Tensor]) -> torch.Tensor:
        return F.embedding(types, self.type_table(entity_memory))

    def local_projections(self, mention_reprs: torch.Tensor, entity_reprs: torch.Tensor) -> dict:
        """W_u [c; s_j; s_k; e_h; e_t; d_tok; d_sent] is a sum of one block of W_u per input, so the mention, entity
        and distance blocks are applied once per row here instead of once per mention pair.

        mention_reprs `(S, d)`, entity_reprs `(E, d)` -> dict of `(S, d)`, `(E, d)` and distance-table `(K, d)` terms,
        and the context block for `pair_terms`: `(d, d)` in training, its halves `(2, d, d/2)` at inference.
        """
        hidden = mention_reprs.shape[-1]
        meta = self.token_distance_embeddings.embedding_dim
        inference = not torch.is_grad_enabled()

        def weight_terms():
            blocks = self.local.weight.split([hidden] * 5 + [meta] * 2, dim=1)
            distance_terms = [
                F.linear(self.token_distance_embeddings.weight, blocks[5]),
                F.linear(self.sentence_distance_embeddings.weight, blocks[6], self.local.bias),
            ]
            if inference:  # products of the same input run side by side (`parallel_linear`)
                context = weight_blocks(blocks[0], halves=True)
                return [context, weight_blocks(*blocks[1:3]), weight_blocks(*blocks[3:5])] + distance_terms
            return [block.contiguous() for block in blocks[:5]] + distance_terms

        weights = (
            self.local.weight,
            self.local.bias,
            self.token_distance_embeddings.weight,
            self.sentence_distance_embeddings.weight,
        )
        blocks = _weight_derived(self, "blocks", weights, weight_terms)
        if inference:
            context, mention_blocks, entity_blocks, token_distance, sentence_distance = blocks
            head_mention, tail_mention = parallel_linear(mention_reprs, mention_blocks)
            head_entity, tail_entity = parallel_linear(entity_reprs, entity_blocks)
        else:
            context, token_distance, sentence_distance = blocks[0], blocks[5], blocks[6]
            head_mention, tail_mention = F.linear(mention_reprs, blocks[1]), F.linear(mention_reprs, blocks[2])
            head_entity, tail_entity = F.linear(entity_reprs, blocks[3]), F.linear(entity_reprs, blocks[4])
        return {
            "context": context,
            "head_mention": head_mention,
            "tail_mention": tail_mention,
            "head_entity": head_entity,
            "tail_entity": tail_entity,
            "token_distance": token_distance,
            "sentence_distance": sentence_distance,
        }

    def pair_terms(self, context, token_distances, sentence_distances, projections: dict) -> torch.Tensor:
        """The parts of u_jk that do not depend on which mention is head: W_c c + distance terms + bias, `(q, d)`."""
        token_distances = host_array(token_distances).clip(max=self.token_distance_embeddings.num_embeddings - 1)
        sentence_distances = host_array(sentence_distances).clip(
            max=self.sentence_distance_embeddings.num_embeddings - 1
        )
        block = projections["context"]
        terms = F.linear(context, block) if block.dim() == 2 else linear_in_parts(context, block)
        # Summed in place, in the same order: one row per mention pair.
        terms += gather_rows(projections["token_distance"], device_index(token_distances, context.device))
        terms += gather_rows(projections["sentence_distance"], device_index(sentence_distances, context.device))
        return terms

    def local_representations(
        self, pair_terms, head_mentions, tail_mentions, head_entities, tail_entities, projections: dict
    ) -> torch.Tensor:
        """u_jk `(q, d)` (no activation, as in JEREX) from `pair_terms` `(q, d)` and index tensors `(q,)` into the
        projected mentions and entities."""
        local = (
            pair_terms
            + gather_rows(projections["head_mention"], head_mentions)
            + gather_rows(projections["tail_mention"], tail_mentions)
            + gather_rows(projections["head_entity"], head_entities)
            + gather_rows(projections["tail_entity"], tail_entities)
        )
        return self.dropout(local)

    def typed_pair_layer(self, pair_input, head_types, tail_types, entity_memory: Optional[torch.Tensor]):
        """W [x; t_h; t_t] + b `(r, d)` for pair inputs x `(r, k)` and the entity type indices `(r,)` of heads and
        tails. At inference W's type blocks are applied to the |E| type rows once per weight version and gathered per
        pair, so the product over the pairs reads only the x block (equal up to rounding)."""
        if torch.is_grad_enabled():
            head = self.type_representations(head_types, entity_memory)
            tail = self.type_representations(tail_types, entity_memory)
            return self.pair(torch.cat([pair_input, head, tail], dim=-1))
        type_table = self.type_table(entity_memory)
        size, type_size, weight = pair_input.shape[-1], type_table.shape[-1], self.pair.weight

        def blocks():
            head_block, tail_block = weight[:, size:].split(type_size, dim=1)
            return (
                weight_blocks(weight[:, :size], halves=True),
                few_rows_linear(type_table, head_block) + self.pair.bias,
                few_rows_linear(type_table, tail_block),
            )

        input_block, head_terms, tail_terms = _weight_derived(
            self, "typed_pair_blocks", (weight, self.pair.bias, type_table), blocks
        )
        return (
            linear_in_parts(pair_input, input_block)
            + gather_rows(head_terms, head_types)
            + gather_rows(tail_terms, tail_types)
        )

    def classify(self, pair_input: torch.Tensor, head_types, tail_types, memories: dict) -> torch.Tensor:
        """pair_input `(r, d)` (MRC: pooled u) or `(r, 2d)` (GRC: [e_h; e_t]) and the entity type indices `(r,)` of
        heads and tails -> `(r, |R|)`."""
        z = self.dropout(F.relu(self.typed_pair_layer(pair_input, head_types, tail_types, memories.get("entity"))))
        if self.use_similarity:
            return self.similarity(z, memories.get("relation"))
        return self.classifier(z)

    def logits(
        self, pooler, mentions: "Mentions", entities: "Entities", pairs, memories: dict, *, chunk_limit: int,
        with_reverse: bool = False, projections: Optional[dict] = None,
    ) -> torch.Tensor:  # fmt: skip
        """Relation logits `(R, |R|)` for entity pairs `(R, 2)` of one document; with `with_reverse`, `(2R, |R|)` for
        `pairs` followed by the same pairs reversed (MRC then pools each mention pair's context once). MRC pools the
        mention pairs in chunks of about `chunk_limit` (one entity pair with more mention pairs in blocks of
        `chunk_limit`); `projections` from `local_projections` (computed here when
        not given)."""
        host_pairs, device = host_array(pairs), entities.representations.device
        if with_reverse:
            head = np.concatenate([host_pairs[:, 0], host_pairs[:, 1]])
            tail = np.concatenate([host_pairs[:, 1], host_pairs[:, 0]])
        else:
            head, tail = host_pairs[:, 0], host_pairs[:, 1]
        head, tail = device_index(head, device), device_index(tail, device)
        head_types, tail_types = entities.types[head], entities.types[tail]
        entity_reprs = entities.representations
        if not self.multi_instance:
            return self.classify(
                torch.cat([entity_reprs[head], entity_reprs[tail]], dim=-1), head_types, tail_types, memories
            )
        if projections is None:
            projections = self.local_projections(mentions.representations, entity_reprs)
        # MRC: every (head mention, tail mention) combination, chunked by mention-pair count.
        counts = host_array(entities.mention_slot_mask).sum(-1)
        cumulative = np.cumsum(counts[host_pairs[:, 0]] * counts[host_pairs[:, 1]]).tolist()
        forward, backward = [], []
        start = 0
        while start < pairs.shape[0]:
            offset = cumulative[start - 1] if start else 0
            end = start + 1
            while end < pairs.shape[0] and cumulative[end] - offset <= chunk_limit:
                end += 1
            heads, tails = host_pairs[start:end, 0], host_pairs[start:end, 1]
            pooled = self.pooled_mention_pairs(
                pooler, mentions, entities, heads, tails, projections, with_reverse, row_limit=chunk_limit
            )
            forward.append(pooled[0])
            if with_reverse:
                backward.append(pooled[1])
            start = end
        pooled = torch.cat(forward + backward) if forward else mentions.representations.new_zeros((0, self.hidden_size))
        return self.classify(pooled, head_types, tail_types, memories)

    def pooled_mention_pairs(
        self, pooler, mentions, entities, head, tail, projections, with_reverse=False, row_limit=None
    ) -> tuple:
        """Multi-instance representation u `(r, d)` of the entity pairs (head, tail) `(r,)`: max over the local
        representations of all their mention pairs. Returns `(u,)`, or `(u, u_reversed)` with `with_reverse`, where
        u_reversed is that of (tail, head): context and distances do not depend on the direction, so they are pooled
        and projected once. Which mention pairs, their context ranges and distances are integer bookkeeping, done on
        the host (`host_array`); the representations stay on their device. The mention pairs are pooled `row_limit`
        at a time into running maxima (exact: max is associative), so two entities of a thousand mentions each take
        blocks of rows, not one `(10^6, d)` tensor per term."""
        device = mentions.representations.device
        head, tail = host_array(head), host_array(tail)
        slots, slot_mask = host_array(entities.mention_slots), host_array(entities.mention_slot_mask)
        subword_spans, word_spans, sentence_ids = mentions.host_spans
        pair_index, head_slot, tail_slot = self.mention_pair_slots(slot_mask[head], slot_mask[tail])
        first = slots[head[pair_index], head_slot]
        second = slots[tail[pair_index], tail_slot]
        head_first = subword_spans[first, 0] <= subword_spans[second, 0]
        context_start = np.where(head_first, subword_spans[first, 1], subword_spans[second, 1])
        context_end = np.where(head_first, subword_spans[second, 0], subword_spans[first, 0])
        # Words between the pair: one less than JEREX's start(second) - last(first) (end is exclusive here), an index
        # shift of a learned table kept because every recorded model was trained with it.
        word_gap = np.where(
            head_first, word_spans[second, 0] - word_spans[first, 1], word_spans[first, 0] - word_spans[second, 1]
        ).clip(min=0)
        sentence_gap = np.abs(sentence_ids[first] - sentence_ids[second])
        heads, tails = device_index(head, device), device_index(tail, device)
        # Without dropout (eval mode) the entity terms, the same for all mention pairs of an entity pair, are added
        # after the max, in the same order: rounding is monotonic, so the result is the same, bit for bit. Outside
        # autograd only: the sums are then built in place.
        entity_terms_after_max = not self.training and not torch.is_grad_enabled()
        directions = 2 if with_reverse else 1
        maxima = [None] * directions
        rows, step = pair_index.shape[0], max(1, int(row_limit or pair_index.shape[0]))
        for low in range(0, max(rows, 1), step):
            block = slice(low, low + step)
            shared = self.pair_terms(
                pooler(context_start[block], context_end[block]), word_gap[block], sentence_gap[block], projections
            )
            block_pairs, block_first, block_second = (
                device_index(values[block], device) for values in (pair_index, first, second)
            )
            oriented = [(block_first, block_second, heads, tails), (block_second, block_first, tails, heads)]
            for direction, (head_mentions, tail_mentions, head_entities, tail_entities) in enumerate(
                oriented[:directions]
            ):
                if entity_terms_after_max:  # the sum built in one buffer, in the same order
                    local = shared + gather_rows(projections["head_mention"], head_mentions)
                    local += gather_rows(projections["tail_mention"], tail_mentions)
                else:
                    local = self.local_representations(
                        shared,
                        head_mentions,
                        tail_mentions,
                        head_entities[block_pairs],
                        tail_entities[block_pairs],
                        projections,
                    )
                if maxima[direction] is None:
                    maxima[direction] = local.new_full((head.shape[0], local.shape[-1]), _lowest(local.dtype))
                maxima[direction] = maxima[direction].scatter_reduce(
                    0, block_pairs[:, None].expand_as(local), local, reduce="amax"
                )
        pooled = []
        for direction, (head_entities, tail_entities) in enumerate([(heads, tails), (tails, heads)][:directions]):
            if entity_terms_after_max:
                maxima[direction] += gather_rows(projections["head_entity"], head_entities)
                maxima[direction] += gather_rows(projections["tail_entity"], tail_entities)
            pooled.append(maxima[direction])
        return tuple(pooled)

    @staticmethod
    def mention_pair_slots(head_mask: np.ndarray, tail_mask: np.ndarray) -> tuple:
        """`np.nonzero(head_mask[:, :, None] & tail_mask[:, None, :])` for host slot masks `(r, M)`, in the same order,
        without the `(r, M, M)` mask: M is the largest entity's mention count, so a chunk of pairs of single mentions
        next to one entity of a thousand mentions would otherwise take r x 10^6 bytes."""
        _, head_slots = np.nonzero(head_mask)  # row-major: pair, then slot
        _, tail_slots = np.nonzero(tail_mask)
        head_counts, tail_counts = head_mask.sum(-1), tail_mask.sum(-1)
        sizes = head_counts * tail_counts
        pair_index = np.repeat(np.arange(head_mask.shape[0]), sizes)
        within = np.arange(pair_index.shape[0]) - (np.cumsum(sizes) - sizes)[pair_index]  # position in the pair's block
        tails = tail_counts[pair_index]
        head_slot = head_slots[(np.cumsum(head_counts) - head_counts)[pair_index] + within // tails]
        tail_slot = tail_slots[(np.cumsum(tail_counts) - tail_counts)[pair_index] + within % tails]
        return pair_index, head_slot, tail_slot

    def loss(self, poolers, spans, entity_reprs, memories, targets: "TrainingTargets", chunk_limit: int):
        """Relation loss (binary cross-entropy summed over types, averaged over the sampled entity pairs of the
        batch), or None when the batch samples no pair. spans `(B, S, d)`, entity_reprs `(B, E, d)`."""
        relation_losses = []
        for doc in range(len(poolers)):
            relation_mask = targets.relation_mask[doc]
            pairs = targets.relation_pairs[doc][relation_mask]
            if pairs.numel() == 0 or not self.num_relation_types:
                continue
            mentions = Mentions(
                targets.mention_word_spans[doc],
                targets.mention_subword_spans[doc],
                targets.mention_sentence_ids[doc],
                spans[doc],
            )
            entities = Entities(
                entity_reprs[doc],
                targets.entity_types[doc].clamp(min=0),
                mention_slots=targets.entity_mentions[doc],
                mention_slot_mask=targets.entity_mention_mask[doc],
            )
            logits = self.logits(poolers[doc], mentions, entities, pairs, memories, chunk_limit=chunk_limit)
            relation_targets = targets.relation_labels[doc][relation_mask].float()
            relation_losses.append(
                F.binary_cross_entropy_with_logits(logits, relation_targets, reduction="none").sum(-1)
            )
        return torch.cat(relation_losses).mean() if relation_losses else None

    @torch.inference_mode()
    def relations(self, context, pooler, mentions: "Mentions", entities: "Entities", threshold: float, config) -> tuple:
        """Stage 5: every unordered entity pair once (at most `max_entity_pairs_per_document`: the nearest, see
        `nearest_entity_pairs`), scored in both directions (MRC pools each mention pair's context once),
        thresholded once per document (at most `max_relations_per_document` relations: the highest scores).

        Returns relations `(q, 3)` (head entity, tail entity, relation type), ordered, and relation_scores `(q,)`.
        """
        num_entities = entities.representations.shape[0]
        slots, slot_mask = entity_mention_slots(entities.clusters, num_entities)
        entities = replace(entities, mention_slots=slots, mention_slot_mask=slot_mask)
        device = entities.mention_clusters.device
        total_pairs, pair_cap = num_entities * (num_entities - 1) // 2, config.max_entity_pairs_per_document
        if pair_cap is not None and total_pairs > pair_cap:
            pairs = nearest_entity_pairs(mentions, entities, pair_cap, max(1, 64 * config.coref_pair_chunk_size))
            pairs = host_array(pairs)
            _truncation(context.truncated, "max_entity_pairs_per_document", pair_cap, total_pairs, pair_cap)
        else:
            pairs = np.stack(np.triu_indices(num_entities, k=1), axis=-1)  # [c(c-1)/2, 2], row-major
        # Pairs, types and the thresholding are bookkeeping on the host; the logits are computed on the device.
        types = host_array(entities.types)
        admitted = relation_argument_mask(config)  # [R, E, E] or None
        if admitted is not None:
            # Only pairs that some relation type admits in one direction or the other are scored.
            either = admitted.any(0)
            head, tail = types[pairs[:, 0]], types[pairs[:, 1]]
            pairs = pairs[either[head, tail] | either[tail, head]]
            if pairs.shape[0] == 0:
                return no_relations(device)
        projections = None
        if self.multi_instance:
            projections = self.local_projections(mentions.representations, entities.representations)
        # Each chunk's pairs, then the same pairs reversed, written into buffers allocated once (small tensors kept
        # alive between the chunks' large temporaries would fragment the host heap).
        probabilities, scored_pairs = None, np.empty((2 * pairs.shape[0], 2), dtype=np.int64)
        pair_chunk = max(1, config.relation_mention_pair_chunk_size)
        for begin in range(0, pairs.shape[0], pair_chunk):
            chunk_pairs = pairs[begin : begin + pair_chunk]
            logits = self.logits(
                pooler, mentions, entities, chunk_pairs, context.memories,
                chunk_limit=config.relation_mention_pair_chunk_size,
                with_reverse=True, projections=projections,
            )  # fmt: skip
            if probabilities is None:
                probabilities = torch.empty((2 * pairs.shape[0], logits.shape[-1]), dtype=torch.float32, device=device)
            rows = slice(2 * begin, 2 * begin + 2 * chunk_pairs.shape[0])
            probabilities[rows] = torch.sigmoid(logits.float())
            scored_pairs[rows] = np.concatenate([chunk_pairs, chunk_pairs[:, ::-1]])
            del logits
        # Thresholded once per document, on the host (one transfer), not once per chunk.
        probabilities = host_array(probabilities)
        selected = probabilities >= np.float32(threshold)
        if admitted is not None:  # [R, P] -> [P, R]: each direction keeps the relation types its types admit
            selected &= admitted[:, types[scored_pairs[:, 0]], types[scored_pairs[:, 1]]].T
        relation_cap, found = config.max_relations_per_document, 0
        if relation_cap is not None:
            found = int(selected.sum())
            if found > relation_cap:
                # The cap-th highest selected score; ties with it are settled by (head, tail, type) order below.
                ranked = np.where(selected, probabilities, np.float32(-1.0)).ravel()
                selected &= probabilities >= np.partition(ranked, -relation_cap)[-relation_cap]
        pair_index, relation_type = np.nonzero(selected)
        relations = np.concatenate([scored_pairs[pair_index], relation_type[:, None]], axis=-1)
        relation_scores = probabilities[pair_index, relation_type]
        # Ordered by (head, tail, type), as when the ordered pairs were scored one by one (the keys are distinct).
        order = np.argsort(
            (relations[:, 0] * num_entities + relations[:, 1]) * self.num_relation_types + relations[:, 2]
        )
        relations, relation_scores = relations[order], relation_scores[order]
        if relation_cap is not None and found > relation_cap:
            best = np.sort(np.argsort(-relation_scores, kind="stable")[:relation_cap])
            relations, relation_scores = relations[best], relation_scores[best]
            _truncation(context.truncated, "max_relations_per_document", relation_cap, found, relation_cap)
        return device_index(relations, device), torch.from_numpy(np.ascontiguousarray(relation_scores)).to(device)


# ----------------------------------------------------------------------------------------------------
# Windowed encoding and one document's inference state
# ----------------------------------------------------------------------------------------------------


def encode_in_windows(encoder: nn.Module, input_ids, attention_mask, config: SimMemREConfig, dtype) -> torch.Tensor:
    """Subword embeddings `(B, T, d)` of whole documents of any length, from `input_ids`, `attention_mask` `(B, T)`.

    Documents longer than the encoder's positions are cut into overlapping windows of `config.window_size`, each
    framed by [CLS]/[SEP] (JEREX fed bare subwords and extended the position table with randomly initialised rows
    instead), `config.encoder_batch_windows` windows per encoder call; token embeddings of overlapping windows are
    averaged. Windows start every `window_size - window_overlap` subwords and the last one ends at the document's
    end, so it may overlap its neighbour by more. `attention_mask` rows are right-padded (ones, then zeros), as the
    processor makes them: a document's length is its count of ones.
    """
    if attention_mask.shape[1] > 1 and bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
        # A left-padded or gappy row would be encoded from its first positions: padding in place of its subwords.
        raise ValueError("attention_mask must be right-padded: each row ones, then zeros (as the processor pads)")
    batch, length = input_ids.shape
    hidden_size = config.hidden_size
    window, stride = config.window_size, config.window_size - config.window_overlap
    cls_id = config.cls_token_id if config.cls_token_id is not None else config.pad_token_id
    sep_id = config.sep_token_id if config.sep_token_id is not None else config.pad_token_id
    if cls_id is None or sep_id is None:
        raise ValueError(
            "SimMemREConfig.cls_token_id, sep_token_id and pad_token_id are unset, so encoder windows have no frame: "
            "set cls_token_id and sep_token_id to the tokenizer's (or its bos/eos ids)"
        )
    try:
        vocabulary = getattr(encoder.get_input_embeddings(), "num_embeddings", None)
    except (NotImplementedError, AttributeError):  # an encoder of its own code may not expose its embeddings
        vocabulary = None
    if vocabulary is not None and input_ids.numel() and int(input_ids.max()) >= vocabulary:
        raise ValueError(
            f"input id {int(input_ids.max())} is beyond the encoder's vocabulary ({vocabulary} ids): the tokenizer "
            "has tokens the encoder lacks (call model.resize_token_embeddings(len(tokenizer)) after add_tokens), or "
            "it is not the model's tokenizer"
        )
    lengths = attention_mask.sum(-1).tolist()
    pieces = []  # (document, start, end)
    for doc, doc_length in enumerate(lengths):
        if doc_length == 0:
            continue
        starts = list(range(0, max(doc_length - window, 0), stride)) + [max(doc_length - window, 0)]
        pieces.extend((doc, start, min(start + window, doc_length)) for start in sorted(set(starts)))
    summed = input_ids.new_zeros((batch * length, hidden_size), dtype=dtype).float()
    counts = input_ids.new_zeros((batch * length,), dtype=torch.float)
    for first in range(0, len(pieces), config.encoder_batch_windows):
        group = pieces[first : first + config.encoder_batch_windows]
        width = max(end - start for _, start, end in group) + 2
        ids = input_ids.new_full((len(group), width), config.pad_token_id or 0)
        mask = torch.zeros_like(ids)
        targets = []
        for row, (doc, start, end) in enumerate(group):
            size = end - start
            ids[row, 0] = cls_id
            ids[row, 1 : size + 1] = input_ids[doc, start:end]
            ids[row, size + 1] = sep_id
            mask[row, : size + 2] = 1
            targets.append(torch.arange(doc * length + start, doc * length + end, device=ids.device))
        states = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        if states.shape[1] != width:  # the index_add below would fail deep in torch
            raise ValueError(
                f"the encoder ({type(encoder).__name__}) returned {states.shape[1]} hidden states for {width} input "
                "tokens: it pools the sequence (e.g. a Funnel 'base' model), and SimMemRE needs one state per token; "
                "use a model that returns them (e.g. FunnelModel)"
            )
        rows = torch.cat([states[row, 1 : end - start + 1] for row, (_, start, end) in enumerate(group)])
        target = torch.cat(targets)
        # In place: a copy of the whole buffer per group made long documents cost more than linearly.
        summed.index_add_(0, target, rows.float())
        counts.index_add_(0, target, torch.ones_like(target, dtype=torch.float))
    hidden = summed / counts.clamp(min=1.0)[:, None]
    return hidden.view(batch, length, hidden_size).to(dtype)


@dataclass
class DocumentContext:
    """One document at inference: what the stages of the cascade read, and the notes of the caps that bound.

    hidden `(T, d)`: token representations; word_subword_spans `(W, 2)`; word_sentence_ids `(W,)`; memories,
    reads_on: as `SimMemREModel.memories` / `SimMemREModel._reads_on`; word_char_spans `(W, 2)` and text_codepoints
    `(C,)` give the mention strings (None: edit distances 0, no string merges); truncated: notes of `_truncation`.
    """

    hidden: torch.Tensor
    memories: dict
    reads_on: bool
    word_subword_spans: torch.LongTensor
    word_sentence_ids: torch.LongTensor
    word_char_spans: Optional[torch.LongTensor] = None
    text_codepoints: Optional[torch.LongTensor] = None
    truncated: list = field(default_factory=list)
    _text: Optional[str] = field(default=None, repr=False)

    @cached_property
    def host_word_subword_spans(self) -> np.ndarray:
        """`word_subword_spans` on the host, copied once per document (bookkeeping reads it several times)."""
        return host_array(self.word_subword_spans)

    @cached_property
    def host_word_sentence_ids(self) -> np.ndarray:
        """`word_sentence_ids` on the host, copied once per document."""
        return host_array(self.word_sentence_ids)

    def text(self, host_codepoints: Optional[list] = None) -> Optional[str]:
        """The document's text, decoded once from `text_codepoints` (None without them); `host_codepoints`: the same
        code points already on the host, to save a transfer. A batch pads the code points with -1 after the text; the
        words' character spans index the text before the padding."""
        if self._text is None and self.text_codepoints is not None:
            codepoints = self.text_codepoints.tolist() if host_codepoints is None else host_codepoints
            codepoints = np.asarray(codepoints, dtype=np.int64)
            # UTF-32 decoding is the join of chr over the code points; surrogatepass keeps lone surrogates as chr does.
            self._text = codepoints[codepoints >= 0].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
        return self._text


@dataclass
class Mentions:
    """Mentions of one document: word_spans and subword_spans `(n, 2)` (end exclusive), sentence_ids `(n,)` (of the
    first word), representations `(n, d)`, scores `(n,)` (mention probabilities; None for training samples)."""

    word_spans: torch.LongTensor
    subword_spans: torch.LongTensor
    sentence_ids: torch.LongTensor
    representations: torch.Tensor
    scores: Optional[torch.Tensor] = None

    @cached_property
    def host_spans(self) -> tuple:
        """(subword_spans, word_spans, sentence_ids) on the host, copied once (the relation stage's bookkeeping)."""
        return host_array(self.subword_spans), host_array(self.word_spans), host_array(self.sentence_ids)

    def subset(self, keep: torch.Tensor) -> "Mentions":
        """The mentions at indices `keep` `(k,)`, in that order."""
        return Mentions(
            gather_rows(self.word_spans, keep),
            gather_rows(self.subword_spans, keep),
            gather_rows(self.sentence_ids, keep),
            gather_rows(self.representations, keep),
            None if self.scores is None else gather_rows(self.scores, keep),
        )


def confident_entities(mention_scores: np.ndarray, clusters: np.ndarray, threshold: float) -> tuple:
    """The entities whose highest mention probability reaches `threshold` (`entity_threshold`).

    Args:
        mention_scores (`np.ndarray` of shape `(n,)`), clusters (`np.ndarray` of shape `(n,)`, entities numbered by
        first mention). Compared in float64 on the host, as the decoded documents' scores are.
    Returns:
        (indices `(k,)` of the mentions kept, in order; their clusters `(k,)`, renumbered 0..c'-1 in the same order)
    """
    best = np.full(int(clusters.max(initial=-1)) + 1, -np.inf)
    np.maximum.at(best, clusters, mention_scores.astype(np.float64))
    kept = np.flatnonzero(best[clusters] >= threshold)
    _, renumbered = np.unique(clusters[kept], return_inverse=True)
    return kept, renumbered.reshape(-1)


@dataclass
class Entities:
    """Entities of one document: representations `(c, d)` (max over their mentions), types `(c,)`; mention_slots
    and mention_slot_mask `(c, M)`: each entity's mention indices (the relation stage fills them in a copy, as host
    arrays). At inference also mention_clusters `(n,)` (entity of each mention) with its host copy `clusters`,
    probabilities `(c, |E|)` float32 and scores `(c,)`."""

    representations: torch.Tensor
    types: torch.LongTensor
    mention_slots: Optional[Union[torch.LongTensor, np.ndarray]] = None
    mention_slot_mask: Optional[Union[torch.Tensor, np.ndarray]] = None
    mention_clusters: Optional[torch.LongTensor] = None
    clusters: Optional[np.ndarray] = None
    probabilities: Optional[torch.Tensor] = None
    scores: Optional[torch.Tensor] = None

    def with_given_types(self, entity_types) -> "Entities":
        """These entities with the gold types (probability 1) in place of the predicted ones."""
        types = torch.as_tensor(entity_types, dtype=torch.long, device=self.types.device).reshape(-1)
        probabilities = F.one_hot(types, self.probabilities.shape[-1]).float()
        return replace(self, types=types, probabilities=probabilities, scores=torch.ones_like(probabilities[:, 0]))


@dataclass
class CandidateSpans:
    """Stage 1 of one document: every candidate span and its mention probability, with what it takes to build a
    span's representation again (pooled, then the span memory read) for the few that are selected. Thresholds play
    no part, so threshold calibration scores a document's candidates once.

    pooler: [`RangeMaxPool`] over the token representations; word_spans, subword_spans `(S, 2)`; word_sentence_ids
    `(W,)`; word_reprs `(W, d)`: the words max-pooled over their subwords; pooled_once `(S, d)`: all spans pooled
    (and read, when the read was applied at once), or None (long documents pool chunk by chunk); span_read,
    memories: the span memory read still to apply (None: reads off or applied);
    read_attentions `{memory: (S, slots)}`: its weights when it reads over positions; probabilities `(S,)` float32.
    """

    pooler: RangeMaxPool
    word_spans: torch.LongTensor
    subword_spans: torch.LongTensor
    word_sentence_ids: torch.LongTensor
    word_reprs: torch.Tensor
    pooled_once: Optional[torch.Tensor]
    span_read: Optional[nn.Module]
    memories: dict
    read_attentions: Optional[dict] = None
    probabilities: Optional[torch.Tensor] = None
    known_host_spans: Optional[np.ndarray] = field(default=None, repr=False)  # word_spans on the host, when at hand

    def host_word_spans(self) -> np.ndarray:
        """`word_spans` on the host (copied only when not at hand)."""
        return host_array(self.word_spans) if self.known_host_spans is None else self.known_host_spans

    @classmethod
    def score(
        cls, context: DocumentContext, mention_localization, span_read, config, extra_spans=None
    ) -> "CandidateSpans":
        """All spans of `candidate_spans` but those `boundary_word_mask` leaves out (plus `extra_spans` `(m, 2)`, word
        spans scored although they are no candidates: gold input given), pooled over the words' pooled vectors (a
        span's subwords are the union of its words', so a span pools at most max_span_size rows), read, and scored
        by `mention_localization`."""
        hidden, chunk, word_subword_spans = context.hidden, config.span_chunk_size, context.word_subword_spans
        device = context.word_sentence_ids.device
        # The spans and which of them to score are worked out on the host; the device gets its copies.
        host_spans = candidate_spans(context.host_word_sentence_ids, config.max_span_size)
        word_spans = host_spans.to(device)
        scored = boundary_word_mask(host_spans, context, config)  # on the host
        if extra_spans is not None and extra_spans.numel():
            host_spans = None  # the spans change below
            scored = None if scored is None else scored.to(device)
            extra_spans = extra_spans.to(word_spans)
            flags = None if scored is None else [scored, scored.new_ones(extra_spans.shape[0])]  # given: scored
            word_spans, inverse = torch.unique(torch.cat([word_spans, extra_spans]), dim=0, return_inverse=True)
            if scored is not None:
                scored = torch.zeros(word_spans.shape[0], dtype=torch.long, device=inverse.device)
                scored = scored.scatter_reduce_(0, inverse, torch.cat(flags).long(), "amax").bool()
        span_read = span_read if context.reads_on else None
        reads_over_positions = span_read is not None and span_read.reads_over_positions
        if scored is not None and not reads_over_positions:  # a read over positions normalises over all spans
            host_spans, word_spans, scored = None, word_spans[scored.to(device)], None
        pooler = RangeMaxPool(hidden)
        word_reprs = hidden.new_empty((word_subword_spans.shape[0], hidden.shape[-1]))  # [W, d], pooled in chunks
        host_subwords = context.host_word_subword_spans
        for begin in range(0, word_reprs.shape[0], chunk):
            word_chunk = host_subwords[begin : begin + chunk]
            word_reprs[begin : begin + chunk] = max_pool_short_ranges(
                hidden, word_chunk[:, 0], word_chunk[:, 1], fallback=pooler
            )
        # Pooled at once (and kept for the read's second pass) while that costs no more memory than one chunk's
        # [chunk, width, d] gather; longer documents pool chunk by chunk, so memory stays bounded by the chunk size.
        pool_at_once = word_spans.shape[0] <= chunk * config.max_span_size
        if reads_over_positions and pool_at_once and extra_spans is None:
            # Candidates in width order: pooled, read-scored and filtered in one pass (the same values as below).
            host_spans = host_spans.numpy()
            keep = np.arange(host_spans.shape[0]) if scored is None else np.flatnonzero(host_array(scored))
            keys, slot_counts = span_read.stacked_keys(context.memories)
            pooled, scores = pool_candidates_with_read_scores(word_reprs, host_spans, keep, keys, config.max_span_size)
            attentions = span_read.attentions_from_scores(span_read.split_scores(scores, slot_counts))
            host_spans, keep, scored = host_spans[keep], device_index(keep, device), None
            attentions = {name: attention.index_select(0, keep) for name, attention in attentions.items()}
            # The read scales each kept row once, in place (the products `representations` would compute chunk by
            # chunk): the candidates keep their finished representations and no read.
            read = span_read.apply_attentions(pooled, attentions, in_place=True)
            candidates = cls(
                pooler, device_index(host_spans, device), _subword_spans(host_spans, host_subwords, device),
                context.word_sentence_ids, word_reprs, read, None, context.memories, known_host_spans=host_spans,
            )  # fmt: skip
        else:
            pooled_once = None
            if pool_at_once:
                pooled_once = max_pool_short_ranges(word_reprs, word_spans[:, 0], word_spans[:, 1])
            candidates = cls(
                pooler, word_spans, _subword_spans(word_spans, host_subwords, device), context.word_sentence_ids,
                word_reprs, pooled_once, span_read, context.memories,
            )  # fmt: skip
            if reads_over_positions:
                candidates.read_attentions = candidates._read_attentions(chunk)
        if scored is not None:
            candidates = candidates.subset(device_index(np.flatnonzero(host_array(scored)), device))
        word_spans = candidates.word_spans
        count = word_spans.shape[0]
        candidates.probabilities = hidden.new_empty((count,), dtype=torch.float32)  # thresholded: float32 always
        for begin in range(0, count, chunk):
            spans = candidates.representations(slice(begin, begin + chunk))
            sizes = word_spans[begin : begin + chunk, 1] - word_spans[begin : begin + chunk, 0]
            sizes = sizes.clamp(max=config.size_embeddings_count - 1)  # only a given span can be longer
            candidates.probabilities[begin : begin + chunk] = torch.sigmoid(mention_localization(spans, sizes).float())
        return candidates

    def subset(self, keep: torch.LongTensor) -> "CandidateSpans":
        """These candidates at indices `keep` `(k,)` (before scoring); read weights keep their normaliser."""
        return replace(
            self,
            word_spans=self.word_spans[keep],
            subword_spans=self.subword_spans[keep],
            known_host_spans=None,
            pooled_once=None if self.pooled_once is None else gather_rows(self.pooled_once, keep),
            read_attentions=None
            if self.read_attentions is None
            else {name: attention[keep] for name, attention in self.read_attentions.items()},
        )

    def pooled(self, index) -> torch.Tensor:
        """Max-pooled spans `(s, d)` of the candidates at `index`."""
        if self.pooled_once is not None:
            return self.pooled_once[index] if isinstance(index, slice) else gather_rows(self.pooled_once, index)
        starts, ends = self.word_spans[index, 0], self.word_spans[index, 1]
        rows = starts[:, None] + torch.arange(int((ends - starts).max()), device=self.word_reprs.device)
        rows = torch.minimum(rows, (ends - 1)[:, None])  # repeating the last word leaves the max unchanged
        return gather_rows(self.word_reprs, rows).amax(1)

    def representations(self, index) -> torch.Tensor:
        """Span representations `(s, d)` of the candidates at `index`: pooled, then read from the memories."""
        spans = self.pooled(index)
        if self.read_attentions is not None:
            spans = self.span_read.apply_attentions(spans, {name: a[index] for name, a in self.read_attentions.items()})
        elif self.span_read is not None:
            spans = self.span_read.read_rows(spans, self.memories)
        return spans

    def _read_attentions(self, chunk: int) -> dict:
        """Span memory read weights: the softmax runs over all candidate spans of the document, so its normaliser is
        gathered in a chunked first pass (the pooling is repeated in the second)."""
        count = self.word_spans.shape[0]
        keys, slot_counts = self.span_read.stacked_keys(self.memories)
        # One buffer allocated once: small per-chunk tensors kept alive between the chunks' large temporaries
        # fragment the host allocator's heap.
        scores = self.word_reprs.new_empty((count, keys.shape[0]))
        for begin in range(0, count, chunk):
            scores[begin : begin + chunk] = stacked_read_scores(self.pooled(slice(begin, begin + chunk)), keys)
        return self.span_read.attentions_from_scores(self.span_read.split_scores(scores, slot_counts))

    def select(self, mention_threshold: float, config, truncated: Optional[list] = None) -> Optional[Mentions]:
        """Stage 2: the candidates scoring at least `mention_threshold` (overlapping ones dropped with
        `flat_mentions`; at most `max_mentions_per_word` x W and `max_mentions_per_document` of them, the highest),
        in document order (start, then end); None when none passes. `truncated` gets a note when a cap binds."""
        probabilities, word_spans = host_array(self.probabilities), self.host_word_spans()  # bookkeeping: host
        kept_index = np.flatnonzero(probabilities >= np.float32(mention_threshold))
        if kept_index.size == 0:
            return None
        if config.flat_mentions:
            kept_index = kept_index[non_overlapping_spans(word_spans[kept_index], probabilities[kept_index])]
        caps = []
        if config.max_mentions_per_word is not None:
            num_words = self.word_sentence_ids.shape[0]
            per_word = config.max_mentions_per_word
            caps.append((max(1, math.ceil(per_word * num_words)), "max_mentions_per_word", per_word))
        if config.max_mentions_per_document is not None:
            per_document = config.max_mentions_per_document
            caps.append((per_document, "max_mentions_per_document", per_document))
        if caps:
            cap, name, setting = min(caps)  # the smaller limit binds first
            found = kept_index.size
            if found > cap:
                kept_index = kept_index[torch.from_numpy(probabilities[kept_index]).topk(cap).indices.numpy()]
                _truncation(truncated, name, cap, found, cap, setting)
        spans = word_spans[kept_index]
        kept_index = kept_index[np.argsort(spans[:, 0] * (config.max_span_size + 1) + spans[:, 1])]  # distinct keys
        return self.mentions(device_index(kept_index, self.word_spans.device), config.span_chunk_size)

    def given(self, spans: torch.LongTensor, chunk: int) -> Mentions:
        """Stage 2 given gold mentions: the rows of `spans` `(n, 2)` (scored as `extra_spans`), in the given order,
        with the model's scores."""
        width = int(max(self.word_spans[:, 1].max(), spans[:, 1].max())) + 1
        keys = self.word_spans[:, 0] * width + self.word_spans[:, 1]
        order = torch.argsort(keys)
        return self.mentions(order[torch.searchsorted(keys[order], spans[:, 0] * width + spans[:, 1])], chunk)

    def mentions(self, index: torch.LongTensor, chunk: int) -> Mentions:
        """The candidates at `index` as mentions; pooled and read again, both exact, so the representations are those
        the mention classifier saw."""
        representations = self.word_reprs.new_empty((index.shape[0], self.word_reprs.shape[-1]))
        for begin in range(0, index.shape[0], chunk):
            representations[begin : begin + chunk] = self.representations(index[begin : begin + chunk])
        word_spans = self.word_spans[index]
        return Mentions(
            word_spans,
            self.subword_spans[index],
            self.word_sentence_ids[word_spans[:, 0]],
            representations,
            self.probabilities[index],
        )


def _subword_spans(word_spans, word_subword_spans, device) -> torch.LongTensor:
    """Subword spans `(S, 2)` on `device` of word spans `(S, 2)` (tensors or host arrays): from the first word's first
    subword to the last word's last."""
    spans, subwords = host_array(word_spans), host_array(word_subword_spans)
    return device_index(np.stack([subwords[spans[:, 0], 0], subwords[spans[:, 1] - 1, 1]], axis=-1), device)


def mention_strings(mention_word_spans, word_char_spans, text_codepoints) -> tuple:
    """`(strings, text)`: the mentions' original strings as tuples of code points (JEREX decoded subwords instead) and
    the document's text code points, or `(None, None)` without the text. Both cross to the host in one transfer."""
    if word_char_spans is None or text_codepoints is None:
        return None, None
    count = mention_word_spans.shape[0]
    word_spans = mention_word_spans.to(word_char_spans.device)
    char_spans = torch.cat(
        [
            word_char_spans[word_spans[:, 0], 0],
            word_char_spans[word_spans[:, 1] - 1, 1],
            text_codepoints.to(word_char_spans.device),
        ]
    ).tolist()
    char_starts, char_ends, codepoints = char_spans[:count], char_spans[count : 2 * count], char_spans[2 * count :]
    return [tuple(codepoints[s:e]) for s, e in zip(char_starts, char_ends)], codepoints


def mention_edit_distances(strings: Optional[list], count: int = 0) -> torch.Tensor:
    """Edit distances `(n, n)` between mention strings (from `mention_strings`; zero when None), as a CPU tensor."""
    if strings is None:
        return torch.zeros((count, count), dtype=torch.long)
    unique = sorted(set(strings))
    position = {s: i for i, s in enumerate(unique)}
    index = torch.tensor([position[s] for s in strings], dtype=torch.long)
    return edit_distance_matrix([list(s) for s in unique])[index[:, None], index[None, :]]


def entity_mention_slots(clusters: np.ndarray, num_entities: int) -> tuple:
    """entity_mentions `(c, M)` (mention indices) and entity_mention_mask `(c, M)`, host arrays, from the host copy
    `clusters` `(n,)` of the mentions' entity indices (the relation stage's bookkeeping reads them on the host)."""
    clusters = np.asarray(clusters, dtype=np.int64)
    count = clusters.shape[0]
    sizes = np.bincount(clusters, minlength=num_entities)
    entity_mentions = np.zeros((num_entities, int(sizes.max(initial=0))), dtype=np.int64)
    entity_mention_mask = np.zeros(entity_mentions.shape, dtype=bool)
    # Rank of each mention inside its cluster, vectorised: position in cluster-sorted order minus cluster offset.
    order = np.argsort(clusters, kind="stable")
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count) - (np.cumsum(sizes) - sizes)[clusters[order]]
    entity_mentions[clusters, rank] = np.arange(count)
    entity_mention_mask[clusters, rank] = True
    return entity_mentions, entity_mention_mask


def nearest_entity_pairs(mentions: Mentions, entities: Entities, cap: int, budget: int) -> torch.LongTensor:
    """The `cap` unordered entity pairs `(cap, 2)` (head < tail, in row-major order) kept when a document has more:
    fewest sentences between the two entities' nearest mentions first, then the highest product of the entities'
    best mention scores, then text order (see `SimMemREConfig.max_entity_pairs_per_document`).

    Never builds the c(c-1)/2 pairs: the head entities are taken in blocks whose (mention x mention) sentence
    distances number about `budget`, and a running best `cap` pairs is merged with each.
    """
    sentence_ids, mention_scores = mentions.sentence_ids, mentions.scores
    mention_clusters, clusters = entities.mention_clusters, entities.clusters
    num_entities = entities.representations.shape[0]
    device, count = mention_clusters.device, mention_clusters.shape[0]
    best_score = (
        mention_scores.new_zeros((num_entities,))
        .float()
        .scatter_reduce(0, mention_clusters, mention_scores.float(), reduce="amax", include_self=True)
    )
    order = torch.argsort(mention_clusters, stable=True)  # mentions grouped by entity
    sorted_clusters, sorted_sentences = mention_clusters[order], sentence_ids[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(clusters, minlength=num_entities))])  # host: no sync
    resolution = (1 << 24) - 1
    kept_keys = torch.zeros((0,), dtype=torch.long, device=device)
    kept_pairs = torch.zeros((0, 2), dtype=torch.long, device=device)
    entity_index = torch.arange(num_entities, device=device)
    head = 0
    while head < num_entities - 1:
        last = head + 1  # entities [head, last): at least one, then as many as the budget allows
        while last < num_entities - 1 and (bounds[last + 1] - bounds[head]) * (count + num_entities) <= budget:
            last += 1
        rows = slice(int(bounds[head]), int(bounds[last]))
        gaps = (sorted_sentences[rows, None] - sentence_ids[None, :]).abs()  # [block mentions, n]
        nearest = gaps.new_full((gaps.shape[0], num_entities), torch.iinfo(gaps.dtype).max).scatter_reduce(
            1, mention_clusters.expand_as(gaps), gaps, reduce="amin", include_self=True
        )  # [block mentions, c]
        nearest = nearest.new_full((last - head, num_entities), torch.iinfo(gaps.dtype).max).scatter_reduce(
            0, (sorted_clusters[rows] - head)[:, None].expand_as(nearest), nearest, reduce="amin", include_self=True
        )  # [block entities, c]
        heads = entity_index[head:last, None].expand_as(nearest)
        upper = entity_index[None, :] > heads  # tail > head only
        prior = best_score[head:last, None] * best_score[None, :]
        keys = nearest * (resolution + 1) + torch.round((1.0 - prior) * resolution).long()
        block_pairs = torch.stack([heads[upper], entity_index[None, :].expand_as(nearest)[upper]], -1)
        # The kept pairs precede the block's in row-major order, so a stable sort settles ties by text order.
        kept_keys = torch.cat([kept_keys, keys[upper]])
        kept_pairs = torch.cat([kept_pairs, block_pairs])
        first = torch.sort(kept_keys, stable=True).indices[:cap]
        kept_keys, kept_pairs = kept_keys[first], kept_pairs[first]
        head = last
    return kept_pairs[torch.argsort(kept_pairs[:, 0] * num_entities + kept_pairs[:, 1])]


# ----------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------


def _local_reference(reference: str) -> str:
    """ "module.Class" of an `auto_map` entry ("repo--module.Class" names the repository holding the code)."""
    return reference.split("--")[-1]


def unknown_config_keys_message(values, config, setting: str) -> Optional[str]:
    """Why the keys of `values` that are not attributes of `config` are refused, with the closest known key; None
    when every key is known. `from_pretrained` drops such keys silently: a misspelt attention_probs_dropout_prob would
    leave the dropout on."""
    import difflib

    unknown = sorted(key for key in values if not hasattr(config, key))
    if not unknown:
        return None
    known = sorted(config.to_dict())
    hints = {key: difflib.get_close_matches(key, known, n=1) for key in unknown}
    hint = "; ".join(f"{key!r}: did you mean {match[0]!r}?" for key, match in hints.items() if match)
    return (
        f"{setting}: {unknown} {'is not an attribute' if len(unknown) == 1 else 'are not attributes'} of the "
        f"encoder's {type(config).__name__}{'; ' + hint if hint else ''}"
    )


def check_encoder_arguments(encoder_path, overrides, config_kwargs: dict) -> None:
    """`from_encoder`'s arguments, checked before transformers reads them: a missing local folder was reported as a
    malformed Hub repo id, and a misspelt setting (`mention_threshhold=`) was stored unused beside the real one."""
    import difflib

    if not isinstance(encoder_path, (str, os.PathLike)) or not str(encoder_path):
        raise TypeError(f"from_encoder: encoder_path must be a folder or a Hub model id, got {encoder_path!r}")
    path = str(encoder_path)
    looks_local = os.path.isabs(path) or path.startswith(("./", "../", "~")) or path.count("/") > 1
    if (looks_local or os.path.exists(path)) and not os.path.isdir(os.path.expanduser(path)):
        raise ValueError(f"from_encoder: encoder_path {path!r} is not a folder (an encoder saved with save_pretrained)")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(f"from_encoder: encoder_config_overrides must be a dict, got {type(overrides).__name__}")
    settings = [
        name for name in inspect.signature(SimMemREConfig.__init__).parameters if name not in ("self", "kwargs")
    ]
    for name in config_kwargs:
        close = difflib.get_close_matches(name, settings, n=1, cutoff=0.8)
        if name not in settings and close:
            raise ValueError(f"from_encoder: unknown setting {name!r}; did you mean {close[0]!r}?")


def window_frame_ids(tokenizer) -> dict:
    """The ids that frame each encoder window: the tokenizer's CLS/SEP, else its BOS/EOS (an encoder whose tokenizer
    has only those); its pad id when it has one (else the config keeps the encoder config's)."""
    ids = {
        "cls_token_id": tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id,
        "sep_token_id": tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id,
    }
    if tokenizer.pad_token_id is not None:
        ids["pad_token_id"] = tokenizer.pad_token_id
    return ids


def candidate_scores_key(config, reads_on: bool, hidden: torch.Tensor) -> tuple:
    """What cached candidate scores (`extract`'s `inference_cache`) depend on besides the document: the boundary word
    lists (a screen may switch them), the memory reads (`use_memory`) and the autocast dtype in force."""
    device = hidden.device.type
    autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    return tuple(config.non_initial_words), tuple(config.non_final_words), reads_on, autocast


def check_inference_inputs(input_ids, attention_mask, word_subword_spans, word_sentence_ids, word_mask, given):
    """`extract`'s inputs as the processor makes them, checked where a wrong one failed deep inside torch (a list,
    an unbatched tensor, float ids) or ran on subwords past the document (another document's word spans)."""
    if word_subword_spans is None or word_sentence_ids is None:
        raise ValueError("inference needs word_subword_spans and word_sentence_ids (use SimMemREProcessor)")
    expected = {"input_ids": 2, "attention_mask": 2, "word_subword_spans": 3, "word_sentence_ids": 2, "word_mask": 2}
    values = dict(zip(expected, (input_ids, attention_mask, word_subword_spans, word_sentence_ids, word_mask)))
    for name, dimensions in expected.items():
        value = values[name]
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"extract: {name} must be a torch tensor (from SimMemREProcessor), got {type(value).__name__}"
            )
        if value.dim() != dimensions or value.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"extract: {name} must have {dimensions} dimensions with the batch first, like input_ids "
                f"{tuple(input_ids.shape)}; got shape {tuple(value.shape)} (a batch from SimMemREProcessor)"
            )
        if value.is_floating_point() or value.is_complex():
            raise TypeError(f"extract: {name} must hold integers, got {value.dtype}")
    if given is not None and len(given) != input_ids.shape[0]:
        raise ValueError(f"extract: given needs one entry per document ({input_ids.shape[0]}), got {len(given)}")
    lengths = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).sum(-1)
    words = word_mask.bool() if word_mask is not None else torch.ones_like(word_sentence_ids, dtype=torch.bool)
    ends = torch.where(words, word_subword_spans[..., 1], 0).amax(-1, keepdim=False) if words.numel() else lengths
    if bool((ends > lengths.to(ends.device)).any()):
        raise ValueError(
            "extract: word_subword_spans reach past a document's subwords (attention_mask): the word spans belong to "
            "other inputs"
        )


def _pretrained_encoder_config(encoder_path, trust_remote_code: bool, overrides: Optional[dict]):
    """The encoder's config with `overrides` applied; a key the config does not have raises a ValueError."""
    config, unused = AutoConfig.from_pretrained(
        encoder_path, trust_remote_code=trust_remote_code, return_unused_kwargs=True, **(overrides or {})
    )
    message = unknown_config_keys_message(unused, config, "encoder_config_overrides")
    if message:
        raise ValueError(message)
    return config


# Inside `from_pretrained`: whether it was given `trust_remote_code=True` (a saved config's `encoder_trust_remote_code`
# alone must not run the code of the folder it came from). None outside it: a model built from a config object the
# caller made (`SimMemREModel(config)`, `AutoModel.from_config`, a Trainer's `model_init`) builds what it says.
_ENCODER_CODE_TRUSTED = contextvars.ContextVar("simmemre_encoder_code_trusted", default=None)


def check_encoder_code_trusted(config: SimMemREConfig) -> None:
    """Refuse to build an encoder with its own code (`encoder_trust_remote_code`) unless the loading call trusted it:
    transformers runs a folder's code only with `trust_remote_code=True`, and a config file is part of the folder."""
    if not config.encoder_trust_remote_code or _ENCODER_CODE_TRUSTED.get() is not False:
        return
    auto_map = (config.encoder_config or {}).get("auto_map") or {}
    where = config.name_or_path or "this config"
    raise ValueError(
        f"{where}: the encoder runs its own code ({auto_map.get('AutoModel', 'encoder_config.auto_map')}); load it "
        "with from_pretrained(..., trust_remote_code=True) to run that code, or pass the encoder built yourself "
        "(SimMemREModel(config, encoder=...))"
    )


def check_saved_label_lists(config_class, location, kwargs: dict) -> None:
    """`from_pretrained(folder, entity_types=[...])` loaded the saved memory slots and classifier rows under the
    given names, in the given order: refuse label lists that are not the saved ones."""
    if location is None:  # from_pretrained(None, config=..., state_dict=...): no saved config to compare with
        return
    names = ("entity_types", "relation_types")
    given = {name: kwargs[name] for name in names if kwargs.get(name) is not None}
    config = kwargs.get("config")
    if config is not None and not isinstance(config, (str, os.PathLike)):  # AutoModel passes the config it loaded
        given.update({name: getattr(config, name) for name in names if getattr(config, name, None) is not None})
    if not given:
        return
    hub = ("cache_dir", "revision", "token", "local_files_only", "subfolder")
    saved = config_class.from_pretrained(location, **{key: kwargs[key] for key in hub if key in kwargs})
    for name, value in given.items():
        if list(value) != list(getattr(saved, name)):
            raise ValueError(
                f"{name}={list(value)} is not the saved {list(getattr(saved, name))}: the weights' rows are those "
                f"types in that order, so the names cannot change at loading (train a model with the new types)"
            )


# The remote-code files a saved folder holds, compared with the running ones: in the package the pipeline's file is in
# its `pipelines` folder, in a folder loaded with `trust_remote_code` beside this file (hub_simmemre's
# REMOTE_CODE_SOURCES, which the scripts compare, maps the same names to their package paths).
_SAVED_CODE_FILES = (
    "configuration_simmemre.py",
    "modeling_simmemre.py",
    "processing_simmemre.py",
    "segmentation_simmemre.py",
    "pipeline_simmemre.py",
)


@lru_cache(maxsize=None)
def _running_code(name: str) -> Optional[bytes]:
    """The source of the running copy of remote-code file `name`, read once when first compared (not at import)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, name), os.path.join(here, "pipelines", name)):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
            continue
    return None


def _other_code_files(folder: str) -> list:
    """The remote-code files of `folder` that are not the running ones (line ends aside); files either side lacks are
    not compared."""
    differing = []
    for name in _SAVED_CODE_FILES:
        running = _running_code(name)
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                saved = handle.read()
        except OSError:
            continue
        if running is not None and not same_source(saved, running):
            differing.append(name)
    return differing


def same_source(saved: bytes, running: bytes) -> bool:
    """Whether two copies of a source file are the same code: equal but for their line ends (a checkout or upload
    from Windows may hold \r\n)."""
    return saved.replace(b"\r\n", b"\n") == running.replace(b"\r\n", b"\n")


def _first_time_named(kind: str, folder: str) -> bool:
    """Whether `folder` has not been named by `warn_if_other_version` for `kind` yet (and is now): kind "code" (the
    scripts name a folder's other code their own way and mark it here) or "settings"."""
    return _first_time(("other version", kind, os.path.realpath(folder)))


# Keys of a saved config.json that are not SimMemRE settings: transformers' bookkeeping and generic attributes (some
# versions save `use_cache`, token ids, `tie_word_embeddings`) and the Hub entries saving adds.
_SAVED_CONFIG_BOOKKEEPING = {
    "architectures",
    "auto_map",
    "custom_pipelines",
    "model_type",
    "transformers_version",
    "use_cache",
    "tie_word_embeddings",
    "torch_dtype",
    "dtype",
}


def _unknown_saved_settings(folder: str) -> list:
    """The keys of `folder`'s config.json that are neither settings of this version nor bookkeeping."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            saved = set(json.load(handle))
    except (OSError, ValueError, TypeError):
        return []
    known = set(SimMemREConfig().to_dict()) | _SAVED_CONFIG_BOOKKEEPING
    return sorted(key for key in saved - known if not key.endswith("_token_id") and not key.startswith("_"))


def warn_if_other_version(location) -> None:
    """Warn once per folder when a local saved folder was written by another version of this code: one of its
    remote-code files (configuration, modeling, processing, segmentation, pipeline) is not the running one (the running
    code is then an installed `simmemre`, whose import registers it for the Auto classes, so the folder's own code does
    not run; a folder differing in its sentence splitter alone predicted differently without a word), or its
    config.json holds settings this version does not know (a newer version's, which would be ignored)."""
    folder = str(location) if location is not None else ""
    if not os.path.isdir(folder):
        return
    other_code = _other_code_files(folder) if _first_time_named("code", folder) else []
    unknown = _unknown_saved_settings(folder) if _first_time_named("settings", folder) else []
    if other_code:
        logger.warning(
            "%s was saved by another version of SimMemRE: its %s %s not the code running now, that of the installed "
            "simmemre package (which `import simmemre` registers for the Auto classes), and the two can predict "
            "differently. Load it without importing simmemre to run its own code; save it again with "
            "simmemre.save_for_hub only after checking its predictions with this version (e.g. scripts/score.py on "
            "dev), as saving replaces its code.",
            folder,
            ", ".join(other_code),
            "is" if len(other_code) == 1 else "are",
        )
    if unknown:
        logger.warning(
            "%s: config.json has settings this version of SimMemRE does not know, which are ignored (saved by a "
            "newer version?): %s",
            folder,
            ", ".join(unknown),
        )


def check_finite_weights(model: nn.Module, location) -> None:
    """Refuses a loaded model with NaN or infinite weights (those of a diverged training run): every score it computes
    is NaN, fails every threshold, and it predicted empty documents without a word."""
    checked = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # (isfinite has no float8 kernels)
    bad = [
        name
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers())
        if type(tensor) in (torch.Tensor, nn.Parameter)  # not quantized or sharded subclasses
        and tensor.dtype in checked
        and tensor.device.type != "meta"
        and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ValueError(
            f"{location}: {len(bad)} weight tensor(s) hold NaN or infinite values ({shown}), as a diverged training "
            "run saves them; such a model predicts nothing. Train it again (a lower learning rate)."
        )


def _build_encoder(encoder_config: dict, trust_remote_code: bool = False, code_source=None, attn_implementation=None):
    """A randomly initialised encoder from its config dict. An encoder with its own code (`auto_map` and
    `trust_remote_code`) is built from the code in `code_source` (its folder or Hub id, or a saved SimMemRE folder,
    which holds a copy). `attn_implementation`: the one asked of the SimMemRE model (`from_pretrained(...,
    attn_implementation="eager")`), which transformers sets only on the outer config; "sdpa" and None leave the
    encoder its own default."""
    auto_map = encoder_config.get("auto_map") or {}
    if trust_remote_code and "AutoModel" in auto_map:
        if not code_source:
            raise ValueError(
                "the encoder's code comes from its folder: build the model with SimMemREModel.from_encoder "
                "or load a saved folder with from_pretrained"
            )
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        config_class = get_class_from_dynamic_module(_local_reference(auto_map["AutoConfig"]), code_source)
        model_class = get_class_from_dynamic_module(_local_reference(auto_map["AutoModel"]), code_source)
        config = config_class.from_dict(dict(encoder_config))
        build = model_class
    else:
        config = AutoConfig.for_model(**encoder_config)
        build = _encoder_only_class(config) or AutoModel.from_config
    if attn_implementation not in (None, "sdpa"):
        config._attn_implementation = attn_implementation
    return _without_pooler(build, config)


def _without_pooler(build, *args, **kwargs):
    """`build(*args, add_pooling_layer=False, **kwargs)` (SimMemRE reads token states only), or without the switch for
    an encoder class that has none; any other TypeError is the build's own."""
    try:
        return build(*args, add_pooling_layer=False, **kwargs)
    except TypeError as error:
        if "add_pooling_layer" not in str(error):
            raise
        return build(*args, **kwargs)


def _encoder_only_class(config):
    """For a config of an encoder-decoder family (T5 and its kin, also an encoder-only export of one), the family's
    encoder-only model class, whose weights are the full model's `shared` and `encoder.*` (`AutoModel` builds the full
    model, whose decoder wants decoder inputs); None for an encoder. An encoder-decoder model without one is refused."""
    import transformers

    name = type(config).__name__.removesuffix("Config") + "EncoderModel"
    encoder_class = getattr(transformers, name, None)
    if encoder_class is None:
        if not getattr(config, "is_encoder_decoder", False):
            return None
        raise ValueError(
            f"encoder: {config.model_type} is an encoder-decoder model without an encoder-only class in transformers "
            f"(no {name}); SimMemRE reads an encoder's token states: use an encoder (BERT, RoBERTa, DeBERTa, ...) or "
            "a T5-family model"
        )
    return encoder_class._from_config


def _copy_pretrained_weights(encoder, pretrained, encoder_path, overrides) -> None:
    """Load `pretrained`'s weights into `encoder` (built from the same config with `overrides`), naming what fails."""
    try:
        result = encoder.load_state_dict(pretrained.state_dict(), strict=False)
    except RuntimeError as error:  # "size mismatch for ...": an override changed a weight's shape
        if overrides and "size mismatch" in str(error):
            raise ValueError(
                f"encoder_config_overrides {overrides} change the shape of {encoder_path}'s weights "
                f"({str(error).strip().splitlines()[-1].strip()}); override only settings that keep them "
                "(dropout, ...); for shorter encoder windows set encoder_window_size instead"
            ) from None
        raise
    if result.missing_keys:
        raise ValueError(f"encoder weights missing from {encoder_path}: {result.missing_keys}")


def _load_encoder_without_pooler_report(encoder_path, trust_remote_code: bool = False):
    """The pretrained encoder without its pooler (SimMemRE reads token states only). transformers logs a load report
    for the checkpoint's unused pooler weights at every start; that one report is dropped, any other stays."""
    import logging as _logging

    from transformers.modeling_utils import logger as loading_logger

    held = []

    class _HoldLoadReport(_logging.Filter):
        def filter(self, record):
            if "LOAD REPORT" in str(record.msg):
                held.append(record)
                return False
            return True

    report_filter = _HoldLoadReport()
    loading_logger.addFilter(report_filter)
    try:
        pretrained, info = _without_pooler(
            AutoModel.from_pretrained, encoder_path, output_loading_info=True, trust_remote_code=trust_remote_code
        )
    finally:
        loading_logger.removeFilter(report_filter)
    only_pooler = (
        not info.get("missing_keys")
        and not info.get("mismatched_keys")
        and all(key.split(".")[0] == "pooler" or ".pooler." in key for key in info.get("unexpected_keys", ()))
    )
    if not only_pooler:
        for record in held:
            loading_logger.handle(record)
    return pretrained


# The task entry `Pipeline.save_pretrained` writes for the registered pipeline (pipelines/__init__.py registers it).
_JOINT_RE_ENTRY = {"impl": "pipeline_simmemre.JointREPipeline", "pt": ["AutoModel"], "type": "text"}
# The Hub lists no joint-RE task: the card's pipeline_tag is token-classification, whose generated snippet
# (`pipeline("token-classification", model=repo, trust_remote_code=True)`) gets the same pipeline.
JOINT_RE_PIPELINE = {"joint-re": _JOINT_RE_ENTRY, "token-classification": _JOINT_RE_ENTRY}


def _complete_saved_folder(model, folder: Path) -> None:
    """What `SimMemREModel.save_pretrained` adds to the folder transformers wrote: the `joint-re` pipeline (its code and
    config.json's `custom_pipelines` entries), no local encoder path, and an encoder's own remote code."""
    source = _pipeline_source_file()
    config_file = folder / "config.json"
    if not config_file.is_file():
        return
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    source = source or _pipeline_source_from_origin(model.config._name_or_path, saved, folder)
    if source is not None:
        if not (folder / source.name).is_file() or not (folder / source.name).samefile(source):
            shutil.copyfile(source, folder / source.name)
        saved["custom_pipelines"] = {**saved.get("custom_pipelines", {}), **JOINT_RE_PIPELINE}
    _unpublish_local_encoder_path(saved)
    if model.config.encoder_trust_remote_code:
        # The encoder's own code travels with the folder, and its auto_map points there.
        from transformers.dynamic_module_utils import custom_object_save

        custom_object_save(model.encoder, folder)
        custom_object_save(model.encoder.config, folder)
        encoder_auto_map = saved["encoder_config"].get("auto_map") or {}
        saved["encoder_config"]["auto_map"] = {
            key: _local_reference(value) if isinstance(value, str) else value for key, value in encoder_auto_map.items()
        }
    config_file.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _save_then_push(model, save_directory, *args, push_to_hub=True, repo_id=None, **kwargs):
    """`save_pretrained(..., push_to_hub=True)`: save the completed folder, then `push_to_hub`, which saves through
    `save_pretrained` again (transformers' own upload ran before the folder was completed: the local encoder path, and
    no `joint-re` pipeline)."""
    push = {name: kwargs.pop(name) for name in ("commit_message", "private", "create_pr", "revision") if name in kwargs}
    model.save_pretrained(save_directory, *args, **kwargs)
    return model.push_to_hub(repo_id or Path(save_directory).name, token=kwargs.get("token"), **push)


def _unpublish_local_encoder_path(saved: dict) -> None:
    """Blank the encoder config's `_name_or_path` in a config.json about to be written when it names a local folder
    (a user's home path would be published with the model); a Hub id stays, as the encoder's origin."""
    origin = saved.get("encoder_config", {}).get("_name_or_path")
    if isinstance(origin, str) and origin and (os.path.isabs(origin) or origin[0] in ".~" or os.path.isdir(origin)):
        saved["encoder_config"]["_name_or_path"] = ""


def _pipeline_source_file() -> Optional[Path]:
    """pipeline_simmemre.py: beside this file in a saved folder or the Hub's module cache, in pipelines/ in the
    package; None where it is absent."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "pipeline_simmemre.py", here / "pipelines" / "pipeline_simmemre.py"):
        if candidate.is_file():
            return candidate
    return None


def _code_commit() -> Optional[str]:
    """The Hub commit this file's code came from (transformers caches a repository's remote code under
    transformers_modules/<repo>/<commit>/), or None for a local folder or the package."""
    name = Path(__file__).resolve().parent.name
    return name if re.fullmatch(r"[0-9a-f]{40}", name) else None


def _pipeline_source_from_origin(name_or_path, saved_config: dict, folder: Path) -> Optional[Path]:
    """pipeline_simmemre.py of the folder or Hub repository a model was loaded from (transformers caches each remote
    code file in its own folder, so a model loaded with trust_remote_code does not find it beside its own code), at
    the commit its code came from (a model loaded at another revision got main's pipeline beside its own code).
    Where it is not there either, the joint-re entry leaves `saved_config`: a folder never advertises a pipeline
    whose code it does not hold."""
    found = None
    if name_or_path:
        try:
            from transformers.utils import cached_file

            found = cached_file(
                str(name_or_path),
                "pipeline_simmemre.py",
                revision=_code_commit(),
                _raise_exceptions_for_missing_entries=False,
                _raise_exceptions_for_connection_errors=False,
            )
        except (OSError, ValueError):
            found = None
    if found:
        return Path(found)
    pipelines = saved_config.get("custom_pipelines", {})
    if pipelines.get("token-classification") == _JOINT_RE_ENTRY:  # (another token-classification pipeline stays)
        del pipelines["token-classification"]
    if pipelines.pop("joint-re", None) is not None:
        logger.warning(
            "pipeline_simmemre.py was found neither beside the model's code nor at %r: %s is saved without the "
            "joint-re pipeline",
            name_or_path,
            folder,
        )
    return None


class SimMemREPreTrainedModel(PreTrainedModel):
    """Base class: ties `SimMemREConfig` to the model for `from_pretrained` / `save_pretrained`, initialises the heads
    (`config.initializer_range`), delegates input embeddings to the encoder, and clears the heads' cached inference
    tables whenever the mode switches (`train()` / `eval()`)."""

    config_class = SimMemREConfig
    config: SimMemREConfig
    base_model_prefix = "simmemre"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`; an encoder with its own code (a saved `encoder_trust_remote_code`) is
        built only with `trust_remote_code=True` (`AutoModel` and `pipeline` pass theirs on)."""
        check_saved_label_lists(cls.config_class, pretrained_model_name_or_path, kwargs)
        warn_if_other_version(pretrained_model_name_or_path)
        token = _ENCODER_CODE_TRUSTED.set(kwargs.get("trust_remote_code") is True)
        try:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        finally:
            _ENCODER_CODE_TRUSTED.reset(token)
        check_finite_weights(loaded[0] if isinstance(loaded, tuple) else loaded, pretrained_model_name_or_path)
        return loaded

    def train(self, mode: bool = True):
        # The heads cache weight-derived tables at inference, keyed on the weights' version counters
        # (`_weight_derived`); a fused optimizer step (fused AdamW, the Trainer's default optim) updates weights in
        # place without bumping them, so every switch between training and inference (`eval()` included) starts with
        # no table.
        for module in self.modules():
            module.__dict__.pop("_weight_derived_cache", None)
        return super().train(mode)

    def post_init(self):
        super().post_init()
        unset = [name for name in ("cls_token_id", "sep_token_id") if getattr(self.config, name) is None]
        if unset:
            logger.warning(
                "SimMemREConfig.%s %s unset: encoder windows are framed with the pad id instead. Set them to the "
                "tokenizer's CLS/SEP (or BOS/EOS) ids.",
                "/".join(unset),
                "are" if len(unset) > 1 else "is",
            )

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module):
        self.encoder.set_input_embeddings(value)

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """The encoder's `resize_token_embeddings` (after adding tokens to the tokenizer); the saved encoder config
        follows, so that the folder loads again."""
        embeddings = self.encoder.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.encoder_config["vocab_size"] = embeddings.num_embeddings
        return embeddings

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, (SimilarityMemory, BilinearSimilarity, MemoryReader)):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if getattr(module, "log_inverse_temperature", None) is not None:
                init.zeros_(module.log_inverse_temperature)
        elif isinstance(module, ZeroInitLinear):
            init.zeros_(module.weight)


def _checked_threshold(name: str, value, caller: str = "extract") -> float:
    """A threshold given to `caller` (a per-call one of `extract`) as a float in [0, 1]: NaN or 1.5 silently kept
    nothing, and a string failed deep inside the cascade."""
    number = None
    if not isinstance(value, (bool, str, bytes)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    if number is None or not 0.0 <= number <= 1.0:  # also NaN
        raise ValueError(f"{caller}: {name} must be a number in [0, 1], got {value!r}")
    return number


class SimMemREModel(SimMemREPreTrainedModel):
    r"""
    Document-level joint entity and relation extraction: mention localization, coreference, entity classification and
    relation classification over one encoder pass, with entity/relation memories read back into token and candidate-span
    representations (Kościukiewicz et al., 2023). With `config.jerex_baseline=True` it is JEREX.

    As a transformers generating model splits training and generation:
    - [`~SimMemREModel.forward`] is the training step, teacher-forced on gold samples plus negatives drawn by the
      collator ([`TrainingTargets`]); it returns the joint loss and each task's loss. Called without targets (e.g.
      `model(**processor(texts))`) it returns [`~SimMemREModel.extract`]'s output;
    - [`~SimMemREModel.extract`] is inference, per document ([`DocumentContext`]) the cascade
      [`CandidateSpans.score`] → [`CandidateSpans.select`] → [`CoreferenceResolution.cluster`] →
      [`EntityClassification.entities`] → [`RelationClassification.relations`], returning one prediction dict of
      tensors per document (see [`SimMemREOutput`]).

    Each head owns its loss and its pooling; this class holds the encoder, the memories and the two drivers.
    """

    def __init__(self, config: SimMemREConfig, encoder: Optional[nn.Module] = None):
        super().__init__(config)
        if not config.encoder_config:
            raise ValueError(
                "SimMemREConfig.encoder_config is empty: build the model with SimMemREModel.from_encoder()"
            )
        if not config.entity_types:
            raise ValueError("SimMemREConfig.entity_types is empty: the model needs at least one entity type")
        # Again here: `from_pretrained(folder, mention_threshold=2.0)` sets its overrides after the config's checks.
        config.validate_hyperparameters()
        # `name_or_path`: the saved folder being loaded, which holds a copy of an encoder's own code.
        if encoder is None:
            check_encoder_code_trusted(config)
            code = config.encoder_trust_remote_code
            encoder = _build_encoder(config.encoder_config, code, config.name_or_path, config._attn_implementation)
        self.encoder = encoder
        use_similarity = config.classifier_type == "similarity"
        if use_similarity:
            self.entity_memory = SimilarityMemory(len(config.entity_types), config.entity_slot_size)
            self.relation_memory = SimilarityMemory(max(1, len(config.relation_types)), config.relation_slot_size)
        self.token_memory_read = (
            MemoryEnhancedRepresentation(config)
            if config.uses_memory_reads and "tokens" in config.memory_read_positions
            else None
        )
        self.span_memory_read = (
            MemoryEnhancedRepresentation(config)
            if config.uses_memory_reads and "spans" in config.memory_read_positions
            else None
        )
        self.mention_localization = MentionLocalization(config)
        self.coreference_resolution = CoreferenceResolution(config)
        self.entity_classification = EntityClassification(config)
        self.relation_classification = RelationClassification(config)
        self.post_init()

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_encoder(
        cls,
        encoder_path: str,
        entity_types,
        relation_types,
        encoder_config_overrides=None,
        trust_remote_code: bool = False,
        **config_kwargs,
    ) -> "SimMemREModel":
        """A model whose encoder weights come from a pretrained checkpoint (e.g. the packaged MiniLM); heads and
        memories are initialised randomly. `encoder_config_overrides` (e.g. `{"attention_probs_dropout_prob": 0.0}`)
        change the encoder's config, not its weights. `trust_remote_code` runs an encoder's own code (its config's
        `auto_map`) for the encoder and its tokenizer; saved folders carry a copy. Raises if an override is not an
        attribute of the encoder's config or any encoder weight is missing. `config_kwargs` are `SimMemREConfig`
        fields; a name within a typo of one is refused, any other is stored on the config as transformers does."""
        check_encoder_arguments(encoder_path, encoder_config_overrides, config_kwargs)
        encoder_config = _pretrained_encoder_config(encoder_path, trust_remote_code, encoder_config_overrides)
        tokenizer = AutoTokenizer.from_pretrained(encoder_path, trust_remote_code=trust_remote_code)
        config = SimMemREConfig(
            encoder_config=encoder_config.to_dict(),
            encoder_trust_remote_code=trust_remote_code and bool(getattr(encoder_config, "auto_map", None)),
            entity_types=entity_types,
            relation_types=relation_types,
            **{**window_frame_ids(tokenizer), **config_kwargs},
        )
        encoder = _build_encoder(
            config.encoder_config, config.encoder_trust_remote_code, str(encoder_path), config._attn_implementation
        )
        model = cls(config, encoder=encoder)
        pretrained = _load_encoder_without_pooler_report(encoder_path, trust_remote_code)
        _copy_pretrained_weights(model.encoder, pretrained, encoder_path, encoder_config_overrides)
        return model

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained` plus the `joint-re` pipeline (in config.json's `custom_pipelines`, not the
        in-memory config; its code copied beside the model's): every saved folder, a checkpoint too, loads with
        `pipeline("joint-re", model=folder, trust_remote_code=True)` once its processor is saved with it."""
        if kwargs.get("push_to_hub"):  # transformers uploads inside its save, before the folder is completed here
            return _save_then_push(self, save_directory, *args, **kwargs)
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            _complete_saved_folder(self, Path(save_directory))

    @property
    def memories(self) -> dict:
        """`{"entity": M_E (|E|, s_E), "relation": M_R (|R|, s_R)}`, the similarity classifiers' memory matrices
        (paper 3.1) that the reads attend with; empty for linear classifiers (JEREX mode), which have none."""
        if self.config.classifier_type != "similarity":
            return {}
        # Detached (memory_read_gradient=False) only inside the reads, so the classifiers still train M_E and M_R.
        return {"entity": self.entity_memory.weight, "relation": self.relation_memory.weight}

    @property
    def memory_reads_enabled(self) -> bool:
        """Two-stage training switch (paper 3.3, after TriMF): reads stay off until the trainer turns them on. Stored
        in the config so a checkpoint saved during warm-up is evaluated without reads, as dev selection saw it (the
        paper code always tested with reads on)."""
        return self.config.memory_reads_enabled

    @memory_reads_enabled.setter
    def memory_reads_enabled(self, value: bool):
        self.config.memory_reads_enabled = _flag("memory_reads_enabled", value)  # bool("no") is True

    def _reads_on(self, use_memory: Optional[bool]) -> bool:
        if use_memory is not None and not isinstance(use_memory, (bool, np.bool_)):  # bool("false") is True
            raise TypeError(f"use_memory must be True, False or None, got {use_memory!r}")
        return self.config.uses_memory_reads and (self.memory_reads_enabled if use_memory is None else bool(use_memory))

    # -- encoder ---------------------------------------------------------------------------------------
    def encode(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> torch.Tensor:
        """Subword embeddings `(B, T, d)` of whole documents of any length ([`encode_in_windows`])."""
        return encode_in_windows(self.encoder, input_ids, attention_mask, self.config, self.dtype)

    def token_representations(
        self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor, use_memory: Optional[bool] = None
    ) -> torch.Tensor:
        """Encoder output `(B, T, d)` after the token memory read (when reads are on)."""
        hidden = self.encode(input_ids, attention_mask)
        if self._reads_on(use_memory) and self.token_memory_read is not None:
            # Outside autograd the encoder's output, a tensor made for this call, is scaled where it lies.
            in_place = not torch.is_grad_enabled()
            hidden = self.token_memory_read(hidden, attention_mask.bool(), self.memories, in_place=in_place)
        return hidden

    # -- forward (training step) -----------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.LongTensor] = None,
        mention_labels: Optional[torch.Tensor] = None,
        coref_labels: Optional[torch.Tensor] = None,
        relation_labels: Optional[torch.Tensor] = None,
        targets: Optional[TrainingTargets] = None,
        use_memory: Optional[bool] = None,
        token_representations: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> SimMemREOutput:
        r"""
        The teacher-forced training step: the joint loss and each task's loss on gold samples plus the negatives the
        collator drew. Without training targets it is inference: `model(**processor(texts))` returns
        [`~SimMemREModel.extract`]`(**inputs)`.

        input_ids, attention_mask (`(B, T)`): word subwords of each document, no special tokens (see the processor).
        mention_labels `(B, S)`, coref_labels `(B, P)`, relation_labels `(B, R, |R|)` and the other fields of
            [`TrainingTargets`] (keyword arguments of the same names, as the collator emits them and the HF Trainer
            passes them), or `targets`, all of them grouped.
        use_memory: override the warm-up switch `model.memory_reads_enabled` for this call.
        token_representations `(B, T, d)`: the output of [`~SimMemREModel.token_representations`] for these inputs,
            which skips the encoder.
        kwargs: the other training targets; without targets, the inputs and options of `extract` (other keys are
            ignored).
        """
        if targets is None and mention_labels is not None:
            targets = TrainingTargets.from_inputs(
                dict(kwargs, mention_labels=mention_labels, coref_labels=coref_labels, relation_labels=relation_labels)
            )
        if targets is None:
            options = {name: value for name, value in kwargs.items() if name in _EXTRACT_ARGUMENTS}
            return self.extract(
                input_ids, attention_mask, use_memory=use_memory, token_representations=token_representations, **options
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        reads_on = self._reads_on(use_memory)
        memories = self.memories
        if token_representations is not None:
            hidden = token_representations
        else:
            hidden = self.token_representations(input_ids, attention_mask, use_memory)
        return self._training_losses(hidden, memories, reads_on, targets)

    def _training_losses(self, hidden, memories, reads_on, targets: TrainingTargets) -> SimMemREOutput:
        """The joint loss β_M L_M + β_C L_C + β_E L_E + β_R L_R of a batch, hidden `(B, T, d)`: the mention samples
        are pooled (then read from the memories) once and shared by the four heads' losses."""
        config = self.config
        poolers = [RangeMaxPool(hidden[doc]) for doc in range(hidden.shape[0])]
        subword_spans = targets.mention_subword_spans
        spans = torch.stack(
            [poolers[doc](subword_spans[doc, :, 0], subword_spans[doc, :, 1]) for doc in range(len(poolers))]
        )  # [B, S, d]
        if reads_on and self.span_memory_read is not None:
            spans = self.span_memory_read(spans, targets.mention_mask, memories)
        sizes = targets.mention_word_spans[..., 1] - targets.mention_word_spans[..., 0]
        mention_loss = self.mention_localization.loss(spans, sizes, targets.mention_labels, targets.mention_mask)
        coref_loss = self.coreference_resolution.loss(spans, targets)
        entity_reprs, entity_loss = self.entity_classification.loss(spans, memories.get("entity"), targets)
        relation_loss = self.relation_classification.loss(
            poolers, spans, entity_reprs, memories, targets, config.relation_mention_pair_chunk_size
        )
        if relation_loss is None:
            relation_loss = hidden.sum() * 0.0
        loss = (
            config.mention_loss_weight * mention_loss
            + config.coref_loss_weight * coref_loss
            + config.entity_loss_weight * entity_loss
            + config.relation_loss_weight * relation_loss
        )
        return SimMemREOutput(
            loss=loss,
            # Not detached: SimMemRETrainer re-weights them when an optimizer step spans several micro-batches.
            mention_loss=mention_loss,
            coref_loss=coref_loss,
            entity_loss=entity_loss,
            relation_loss=relation_loss,
        )

    # -- inference -------------------------------------------------------------------------------------
    def predict(self, batch: Mapping, device=None, **options) -> list:
        """[`~SimMemREModel.extract`] on a collated batch (`SimMemREProcessor.collate`), predictions brought to the
        host: the inference step that the pipeline, the trainer's evaluation and threshold calibration share (each
        decodes with `SimMemREProcessor.decode`).

        Args:
            batch: tensors as `SimMemREProcessor.collate` (or the processor's `__call__`) returns them.
            device: where the batch goes first (default: where it is).
            options: options of `extract` (thresholds, `use_memory`, `token_representations`, `inference_cache`,
                `given`).
        Returns:
            one dict of CPU tensors per document (see [`SimMemREOutput`]`.predictions`).
        """
        if device is not None:
            batch = {key: value.to(device) for key, value in batch.items()}
        return predictions_to_host(self.extract(**batch, **options).predictions)

    def extract(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.LongTensor] = None,
        word_subword_spans: Optional[torch.LongTensor] = None,
        word_char_spans: Optional[torch.LongTensor] = None,
        word_sentence_ids: Optional[torch.LongTensor] = None,
        word_mask: Optional[torch.Tensor] = None,
        text_codepoints: Optional[torch.LongTensor] = None,
        use_memory: Optional[bool] = None,
        mention_threshold: Optional[float] = None,
        coref_threshold: Optional[float] = None,
        relation_threshold: Optional[float] = None,
        entity_threshold: Optional[float] = None,
        token_representations: Optional[torch.Tensor] = None,
        inference_cache: Optional[list] = None,
        given: Optional[Sequence[Optional[Mapping]]] = None,
    ) -> SimMemREOutput:
        r"""
        End-to-end inference, the entry point of the pipeline and of evaluation: per document the cascade
        [`CandidateSpans.score`] → [`CandidateSpans.select`] → [`CoreferenceResolution.cluster`] →
        [`EntityClassification.entities`] → [`RelationClassification.relations`].

        Inputs (from [`SimMemREProcessor`]): input_ids, attention_mask `(B, T)`; word_subword_spans `(B, W, 2)`,
        word_char_spans `(B, W, 2)`, word_sentence_ids `(B, W)`, word_mask `(B, W)`, text_codepoints `(B, C)` (code
        points of the text, -1 padded; edit distances are computed on the original mention strings).

        use_memory: override the warm-up switch `model.memory_reads_enabled` for this call.
        mention_threshold, coref_threshold, relation_threshold, entity_threshold: override the config's thresholds
            for this call.
        token_representations `(B, T, d)`: the output of [`~SimMemREModel.token_representations`] for these inputs,
            which skips the encoder (threshold calibration runs the heads many times over one encoding).
        inference_cache: one dict per document, kept by the caller between calls on the same inputs: the candidate
            scores (stage 1, independent of the thresholds) are computed on the first call and reused after.
        given: gold input per document (JEREX's evaluation "in isolation"), `None` for end to end. A dict with
            `mention_word_spans` `(n, 2)` replaces mention selection; with `mention_clusters` `(n,)` (entity index of
            each row; a span may appear in several entities) also clustering; with `entity_types` `(c,)` also entity
            typing (scores 1). Only the later stages run on the model's own predictions; no entity threshold applies.

        Returns [`SimMemREOutput`] with `predictions`, one dict of tensors per document.
        """
        check_inference_inputs(input_ids, attention_mask, word_subword_spans, word_sentence_ids, word_mask, given)
        if token_representations is None:  # config.update / assignment skip its checks (not per calibration call)
            self.config.validate_hyperparameters()
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        reads_on = self._reads_on(use_memory)
        memories = self.memories
        if token_representations is not None:
            hidden = token_representations
        else:
            hidden = self.token_representations(input_ids, attention_mask, use_memory)
        if word_mask is None:
            word_mask = torch.ones_like(word_sentence_ids)
        overrides = {
            "mention_threshold": mention_threshold,
            "coref_threshold": coref_threshold,
            "relation_threshold": relation_threshold,
            "entity_threshold": entity_threshold,
        }
        thresholds = tuple(
            _checked_threshold(name, getattr(self.config, name) if value is None else value)
            for name, value in overrides.items()
        )
        predictions = []
        # The documents' lengths cross to the host in one transfer per batch.
        word_counts, lengths = torch.stack([word_mask.sum(-1), attention_mask.sum(-1).to(word_mask.device)]).tolist()
        for doc in range(input_ids.shape[0]):
            words = word_counts[doc]
            context = DocumentContext(
                hidden[doc, : lengths[doc]],
                memories,
                reads_on,
                word_subword_spans[doc, :words],
                word_sentence_ids[doc, :words],
                word_char_spans[doc, :words] if word_char_spans is not None else None,
                text_codepoints[doc] if text_codepoints is not None else None,
            )
            candidates, document_given = None, given[doc] if given is not None else None
            if inference_cache is not None and words > 0 and lengths[doc] > 0 and document_given is None:
                key = candidate_scores_key(self.config, reads_on, hidden)
                cached = inference_cache[doc].get("candidate_scores")
                if cached is None or cached[0] != key:
                    cached = inference_cache[doc]["candidate_scores"] = (key, self.score_candidates(context))
                candidates = cached[1]
            predictions.append(self._extract_document(context, thresholds, candidates, document_given))
        return SimMemREOutput(predictions=predictions)

    @torch.inference_mode()
    def score_candidates(self, context: DocumentContext, extra_spans=None) -> CandidateSpans:
        """Stage 1: [`CandidateSpans.score`] with this model's mention head and span memory read."""
        return CandidateSpans.score(context, self.mention_localization, self.span_memory_read, self.config, extra_spans)

    @torch.inference_mode()  # cheaper per op than no_grad; predictions are never differentiated
    def _extract_document(self, context: DocumentContext, thresholds: tuple, candidates=None, given=None) -> dict:
        """One document's cascade (the driver of the stages) at `thresholds` (mention, coreference, relation, entity);
        `candidates` (from :meth:`score_candidates`) skips stage 1; `given` (see `extract`) replaces the stages it
        covers with gold input. Shapes as in [`SimMemREOutput`]`.predictions`."""
        config, device = self.config, context.hidden.device
        mention_threshold, coref_threshold, relation_threshold, entity_threshold = thresholds
        if context.hidden.shape[0] == 0 or context.word_subword_spans.shape[0] == 0:
            return empty_prediction(len(self.config.entity_types), device)
        given_spans = None
        if given is not None:
            given_spans = torch.as_tensor(
                given["mention_word_spans"], dtype=torch.long, device=context.word_sentence_ids.device
            ).reshape(-1, 2)
            if given_spans.shape[0] == 0:
                return empty_prediction(len(self.config.entity_types), device)
        if candidates is None:
            candidates = self.score_candidates(context, extra_spans=given_spans)
        if given_spans is None:
            mentions = candidates.select(mention_threshold, config, context.truncated)
        else:
            mentions = candidates.given(given_spans, config.span_chunk_size)
        if mentions is None:
            return empty_prediction(len(self.config.entity_types), device)
        if given is not None and given.get("mention_clusters") is not None:
            clusters = np.asarray(given["mention_clusters"], dtype=np.int64).reshape(-1)
        else:
            clusters = self.coreference_resolution.cluster(context, mentions, coref_threshold, config)
        if given is None and entity_threshold > 0:  # gold input is never dropped
            kept, clusters = confident_entities(mentions.scores.float().cpu().numpy(), clusters, entity_threshold)
            if kept.size == 0:
                return self._with_truncation_notes(empty_prediction(len(self.config.entity_types), device), context)
            if kept.size < mentions.scores.shape[0]:
                mentions = mentions.subset(torch.from_numpy(kept).to(mentions.word_spans.device))
        entities = self.entity_classification.entities(mentions, clusters, context.memories.get("entity"))
        if given is not None and given.get("entity_types") is not None:
            entities = entities.with_given_types(given["entity_types"])
        if entities.representations.shape[0] > 1 and config.relation_types:
            relations, relation_scores = self.relation_classification.relations(
                context, candidates.pooler, mentions, entities, relation_threshold, config
            )
        else:
            relations, relation_scores = no_relations(device)
        prediction = {
            "mention_word_spans": mentions.word_spans,
            "mention_scores": mentions.scores,
            "mention_clusters": entities.mention_clusters,
            "entity_types": entities.types,
            "entity_scores": entities.scores,
            "entity_type_probabilities": entities.probabilities,
            "relations": relations,
            "relation_scores": relation_scores,
        }
        if config.mention_string_propagation and given is None and context.text_codepoints is not None:
            self._propagate_mention_strings(prediction, context, candidates)
        return self._with_truncation_notes(prediction, context)

    def _propagate_mention_strings(self, prediction: dict, context: DocumentContext, candidates: "CandidateSpans"):
        """`mention_string_propagation`: adds the further occurrences of the mentions' strings to `prediction` (in
        place), each scored by the model's probability for its span, and orders the mentions by position again."""
        device, spans = prediction["mention_word_spans"].device, host_array(prediction["mention_word_spans"])
        found = propagated_mentions(
            context.text(),
            context.word_char_spans.tolist(),
            spans.tolist(),
            prediction["mention_clusters"].tolist(),
            self.config.mention_string_propagation_min_length,
        )
        if not found:
            return
        added = np.array(found, dtype=np.int64)
        # Each added span's candidate row (candidate spans are distinct), or none: a span no candidate covers.
        width = int(context.word_subword_spans.shape[0]) + 1
        scored_spans = candidates.host_word_spans()
        keys = scored_spans[:, 0] * width + scored_spans[:, 1]
        wanted = added[:, 0] * width + added[:, 1]
        order = np.argsort(keys)  # distinct keys
        slots = order[np.minimum(np.searchsorted(keys[order], wanted), keys.shape[0] - 1)]  # mentions: candidates
        scores = host_array(candidates.probabilities)[slots] * (keys[slots] == wanted)
        word_spans = np.concatenate([spans, added[:, :2]])
        order = device_index(np.argsort(word_spans[:, 0] * (word_spans[:, 1].max() + 1) + word_spans[:, 1]), device)
        mention_scores = torch.from_numpy(scores).to(device=device, dtype=prediction["mention_scores"].dtype)
        prediction["mention_word_spans"] = device_index(word_spans, device)[order]
        prediction["mention_scores"] = torch.cat([prediction["mention_scores"], mention_scores])[order]
        clusters = torch.cat([prediction["mention_clusters"], device_index(added[:, 2], device)])
        prediction["mention_clusters"] = clusters[order]

    def _with_truncation_notes(self, prediction: dict, context: DocumentContext) -> dict:
        if context.truncated:  # only when a cap bound: documents within the caps keep their keys
            notes = [
                [self.config.document_caps.index(note["cap"]), note["limit"], note["found"], note["kept"]]
                for note in context.truncated
            ]
            prediction["truncated"] = torch.tensor(notes, dtype=torch.long, device=prediction["relations"].device)
        return prediction


# The keyword arguments `forward` hands to `extract` when it is called without training targets.
_EXTRACT_ARGUMENTS = frozenset(inspect.signature(SimMemREModel.extract).parameters) - {"self"}

__all__ = ["SimMemREPreTrainedModel", "SimMemREModel", "SimMemREOutput", "TrainingTargets", "candidate_spans"]
