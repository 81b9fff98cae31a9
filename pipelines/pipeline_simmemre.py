# coding=utf-8
"""`joint-re` pipeline: raw text or schema documents in, entities (mention clusters with types) and relations out.

Hub remote code: this file is copied next to the model files by `SimMemREModel.save_pretrained`, so it imports only the
standard library, numpy, torch and transformers. Everything model specific comes from the model and the processor
that the pipeline machinery hands over (`AutoProcessor` finds it through `processor_config.json`).

    >>> from transformers import pipeline
    >>> extractor = pipeline("joint-re", model="path/or/hub-id", trust_remote_code=True)
    >>> extractor("Lidocaine-induced cardiac asystole.", mention_threshold=0.5)
    {'text': ..., 'entities': [{'type': 'Chemical', 'score': 0.97, 'mentions': [{'start': 0, 'end': 9, ...}]}], ...}
"""

import collections.abc
import itertools
import numbers
from contextlib import nullcontext

import numpy as np
import torch
from transformers import Pipeline
from transformers.utils import logging

logger = logging.get_logger(__name__)

THRESHOLDS = ("mention_threshold", "coref_threshold", "relation_threshold", "entity_threshold")
TYPE_SELECTIONS = ("entity_types", "relation_types")


class _Encoded:
    """Processor features of one document, wrapped so the pipeline's device placement does not walk the (long) python
    lists element by element."""

    __slots__ = ("features",)

    def __init__(self, features):
        self.features = features


def _is_scalar(value, kind) -> bool:
    """A number of `kind` (`numbers.Real` / `numbers.Integral`, numpy's included) or a 0-d tensor or array holding one;
    never a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, kind):
        return True
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return _is_scalar(value.item(), kind)
    return False


def _check_threshold(name, value):
    if not _is_scalar(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def checked_type_names(name, value, known) -> frozenset:
    """`entity_types` / `relation_types` (`name`, as the caller calls it) of a call: a list of this model's type names
    (`known`). A bare string is refused, not read as its characters."""
    if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(f"{name} must be a list of type names, e.g. [{value!r}], got {type(value).__name__}")
    names = list(value)
    unknown = [item for item in names if not isinstance(item, str) or item not in known]
    if unknown:
        raise ValueError(f"{name}: unknown type name(s) {unknown}; this model's are {list(known)}")
    return frozenset(names)


def select_types(document: dict, entity_types=None, relation_types=None) -> dict:
    """`document` (pipeline output) with only the entities of `entity_types` and the relations of `relation_types`
    between kept entities (`None`: all of that kind); `head`/`tail` re-indexed. An entity's type and a pair's relation
    scores do not depend on the other entities, so this is what the model would give for those types alone, unless a
    document cap bound (`truncated`: the caps count every type)."""
    entities = document["entities"]
    kept = [index for index, entity in enumerate(entities) if entity_types is None or entity["type"] in entity_types]
    position = {old: new for new, old in enumerate(kept)}
    relations = [
        {**relation, "head": position[relation["head"]], "tail": position[relation["tail"]]}
        for relation in document["relations"]
        if relation["head"] in position
        and relation["tail"] in position
        and (relation_types is None or relation["type"] in relation_types)
    ]
    return {**document, "entities": [entities[index] for index in kept], "relations": relations}


def _chunks(iterable, size):
    iterator = iter(iterable)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


def _padding_bounded_groups(lengths, waste: float = 2.0) -> list:
    """Positions of `lengths` (subwords per document) in model calls whose padded size (count x longest) is at most
    `waste` times their subwords, shortest first: a long document padded every short one of its batch to its length
    (one 50k-word document among 31 abstracts took 6 GB at batch 32, 2 GB alone)."""
    groups, current, total = [], [], 0
    for position in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        length = max(1, lengths[position])
        if current and (len(current) + 1) * length > waste * (total + length):
            groups.append(current)
            current, total = [], 0
        current.append(position)
        total += length
    return groups + ([current] if current else [])


SERVING_MODES = ("fp32", "bf16", "int8")


def _with_int8_encoder(model, device):
    """A copy of `model` whose encoder Linear layers are int8 dynamically quantized (weights int8 per output channel,
    activations quantized per batch). The heads stay float32: they apply blocks of their weight matrices separately
    (the concatenation tricks of the JEREX heads), which a quantized module does not expose, and they are a small
    part of the time. torchao's int8 dynamic quantization measured slower than torch.ao's in eager CPU mode."""
    import copy
    import warnings

    if device.type != "cpu":
        raise ValueError(f"serving='int8' runs on the CPU only (dynamic int8 kernels), not on {device}")
    quantized = copy.deepcopy(model)
    with warnings.catch_warnings():  # torch.ao's deprecation notices, once per layer
        warnings.simplefilter("ignore")
        # Per-channel weight scales: on 80 BC5CDR dev documents (seed-112 main job) they kept F1 closer to float32
        # than one scale per tensor at about the same speed (relation strict -0.8 against -3.9 points).
        quantized.encoder = torch.ao.quantization.quantize_dynamic(
            quantized.encoder, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    return quantized.eval()


def _check_tokenizer_matches(config, tokenizer) -> None:
    """A processor built on another encoder's tokenizer gives ids the model never learnt (and other CLS/SEP ids):
    its output is meaningless, so it is refused where the two disagree."""
    if tokenizer is None:
        return
    for name, fallback in (("cls_token_id", "bos_token_id"), ("sep_token_id", "eos_token_id")):
        expected = getattr(config, name, None)
        own = getattr(tokenizer, name, None)
        own = own if own is not None else getattr(tokenizer, fallback, None)
        if expected is not None and own is not None and own != expected:
            raise ValueError(
                f"the processor's tokenizer ({type(tokenizer).__name__}) has {name} {own}, the model {expected}: it is "
                "not the model's tokenizer; load the processor from the model's folder"
            )


class JointREPipeline(Pipeline):
    r"""
    Document-level joint entity and relation extraction ("joint-re").

    Inputs: a string, a schema document (`{"id"?, "text", "words"?, "sentences"?, ...}`; gold `entities`/`relations`
    are ignored), or a list / generator / dataset of them. A list returns a list; a generator or dataset returns a lazy
    iterator; `batch_size` groups documents into model calls (of documents of similar length, so that one long
    document does not pad the others to its length). Documents of any length are processed whole: the
    model encodes them in overlapping windows, nothing is truncated.

    Output per document: `{"id"? , "text", "entities": [{"type", "score", "mentions": [{"start", "end", "text",
    "score"}]}], "relations": [{"head", "tail", "type", "score"}]}`. Offsets are character (code point) offsets into
    the caller's string, end exclusive, so `text[start:end] == mention["text"]`; `head`/`tail` index `entities`.
    When a document-level cap of the model config bound (`max_mentions_per_document`, `max_mentions_per_word`,
    `max_entity_pairs_per_document`, `max_relations_per_document`), the document also has `"truncated": [{"cap",
    "limit", "found", "kept"}, ...]` (and a warning is logged); without it, nothing was cut.

    Parameters (at construction or per call): `mention_threshold`, `coref_threshold`, `relation_threshold`,
    `entity_threshold` (numbers in [0, 1]; default: the model config's); `entity_types` / `relation_types` (lists of
    the model's type names) keep only the entities of those types and the relations of those types between kept
    entities, `head`/`tail` re-indexed (default: all; a per-call value replaces the construction's, `None` keeps it).
    At construction, `device` places the model (as in every pipeline; `0` or `"cuda:0"` is the first GPU) and `dtype`
    (or the older `torch_dtype`; e.g. `torch.bfloat16`) sets its weights' dtype. Both act on the model given, in place:
    another pipeline sharing that model object runs on the same device and dtype from then on. For mixed precision
    instead, call the pipeline under `torch.autocast(device_type, dtype=...)`. On an accelerator the batch crosses to
    the device once and the predictions come back in one copy per dtype.

    `serving` (at construction) trades exactness for CPU speed: "fp32" (default), "bf16" (every model call under
    bfloat16 autocast) or "int8" (the encoder's Linear layers dynamically quantized to int8 with `torch.ao`, on a
    copy of the model: the caller's model is left as it is; CPU only). docs/performance.md has their speed and F1
    on BC5CDR test.

    Bad input (a non-str, a document without a str `text`, malformed `words`/`sentences`, a bad threshold) raises
    `TypeError`/`ValueError` before the model runs on it (for a list, before it runs at all; a generator or dataset is
    checked as it is read); empty or whitespace-only text gives a document with no entities.
    """

    _load_processor = None  # optional: with only a tokenizer, __init__ builds the processor or explains what is missing
    _load_tokenizer = False  # the processor brings its tokenizer
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args, serving="fp32", **kwargs):
        # `pipeline(..., dtype=...)` loads a model from a folder in that dtype; a model passed as an instance is cast
        # here (the base class drops the argument). `torch_dtype` is transformers' older name for it.
        dtype = kwargs.get("dtype", kwargs.get("torch_dtype"))
        if serving not in SERVING_MODES:
            raise ValueError(f"serving must be one of {', '.join(SERVING_MODES)}, got {serving!r}")
        if dtype is not None and dtype != "auto":
            # A misspelt name ("bf16", the `serving` spelling) was dropped and the model ran in float32.
            resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
            if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
                raise ValueError(
                    f"dtype must be a floating-point torch dtype or its name (torch.bfloat16 or 'bfloat16'), got "
                    f"{dtype!r}; for bfloat16 autocast use serving='bf16'"
                )
            dtype = resolved
        super().__init__(*args, **kwargs)
        if self._batch_size is not None and (
            not _is_scalar(self._batch_size, numbers.Integral) or self._batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, got {self._batch_size!r}")
        self.serving = serving
        wanted = dtype if isinstance(dtype, torch.dtype) else self.model.dtype
        if serving == "bf16" and wanted == torch.float16:
            # bfloat16 autocast beside float16 weights: the CPU's layer norm refuses the mixed dtypes at the first call.
            raise ValueError(
                "serving='bf16' autocasts float32 weights to bfloat16, got a float16 model; use dtype=torch.bfloat16 "
                "or float32 with serving='bf16', or float16 weights with serving='fp32'"
            )
        if serving == "int8":
            # The dynamic int8 kernels take float32 activations, and the heads stay float32 beside them.
            if wanted != torch.float32:
                raise ValueError(
                    f"serving='int8' needs a float32 model, got {wanted}; for bfloat16 use serving='bf16' (autocast)"
                )
            self.model = _with_int8_encoder(self.model, self.device)
        if isinstance(dtype, torch.dtype) and self.model.dtype != dtype:
            self.model.to(dtype)
        if self.processor is None and self.tokenizer is not None:
            self.processor = self._processor_from_tokenizer(self.tokenizer)
        missing = [
            name
            for name in ("check_input", "encode_document_arrays", "collate", "decode")
            if not hasattr(self.processor, name)
        ]
        if self.processor is not None and missing and hasattr(self.processor, "encode_document"):
            # A SimMemREProcessor of another version: an installed (imported) simmemre registers its own classes for
            # the Auto classes, which then load a folder saved by another version with them.
            raise ValueError(
                f"JointREPipeline: the processor ({type(self.processor).__module__}) is from another version of "
                f"SimMemRE than this pipeline (it lacks {', '.join(missing)}): an installed simmemre package, once "
                "imported, loads every saved folder with its own classes. Load the folder without importing simmemre, "
                "or install the version that saved it"
            )
        if self.processor is None or missing:
            raise ValueError(
                "JointREPipeline needs the model's SimMemREProcessor: load the pipeline from a saved folder or Hub id "
                "(pipeline('joint-re', model=..., trust_remote_code=True)) or pass "
                "processor=SimMemREProcessor(tokenizer)"
            )
        if self.tokenizer is None:
            self.tokenizer = getattr(self.processor, "tokenizer", None)
        _check_tokenizer_matches(self.model.config, getattr(self.processor, "tokenizer", None))
        if self.model.training:  # eval() drops the heads' cached tables: a pipeline per request rebuilt them each time
            self.model.eval()

    def _processor_from_tokenizer(self, tokenizer):
        """The processor class registered for this model's config (in-process `AutoProcessor.register`)."""
        try:
            from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

            return PROCESSOR_MAPPING[type(self.model.config)](tokenizer=tokenizer)
        except Exception:  # noqa: BLE001 - not registered: the caller gets the ValueError of __init__
            return None

    def normalize_input(self, item, index=0):
        """Validate one input with the processor (`check_input`: raises naming the document and field, before anything
        is tokenized) and return it as `{"id", "text", "words", "sentences"}`; a validated input comes back as is."""
        return self.processor.check_input(item, index)

    # -- parameters --------------------------------------------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        forward_params, postprocess_params = {}, {}
        for name in THRESHOLDS:
            if name in kwargs:
                value = kwargs.pop(name)
                if value is not None:
                    forward_params[name] = _check_threshold(name, value)
        for name in TYPE_SELECTIONS:
            if name in kwargs:
                value = kwargs.pop(name)
                if value is not None:
                    postprocess_params[name] = checked_type_names(name, value, getattr(self.model.config, name))
        if kwargs:
            raise TypeError(
                f"JointREPipeline got unexpected parameters {sorted(kwargs)}; it accepts "
                f"{', '.join(THRESHOLDS + TYPE_SELECTIONS)} and batch_size"
            )
        return {}, forward_params, postprocess_params

    # -- calling -----------------------------------------------------------------------------------------
    def __call__(self, inputs, *args, batch_size=None, num_workers=None, **kwargs):
        """Run on a str / schema document (returns one result) or a list of them (returns a list); a generator or
        dataset returns a lazy iterator. All inputs of a list are validated before the model runs. `num_workers`, a
        transformers pipeline argument, is accepted and has no effect: documents are encoded in this process."""
        if args:
            raise TypeError(f"JointREPipeline takes the documents as its only positional argument, got {len(args) + 1}")
        if num_workers is not None and (not _is_scalar(num_workers, numbers.Integral) or int(num_workers) < 0):
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        if getattr(inputs, "ndim", None) == 0 and hasattr(inputs, "item"):  # a 0-d numpy/torch value: its item
            inputs = inputs.item()
        if hasattr(inputs, "columns") and hasattr(inputs, "iterrows"):  # iterating a DataFrame gives its labels
            raise TypeError(
                "JointREPipeline got a DataFrame: pass df['text'] (texts) or df.to_dict('records') (schema documents)"
            )
        if batch_size is None:
            batch_size = self._batch_size if self._batch_size is not None else 1
        if not _is_scalar(batch_size, numbers.Integral) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        params = (
            {**self._preprocess_params, **preprocess_params},
            {**self._forward_params, **forward_params},
            {**self._postprocess_params, **postprocess_params},
        )
        self.call_count += 1
        if isinstance(inputs, (str, collections.abc.Mapping)):
            document = self.normalize_input(inputs, 0)
            return next(self._run([document], 1, *params))
        if isinstance(inputs, (list, tuple)):
            documents = [self.normalize_input(item, index) for index, item in enumerate(inputs)]
            return list(self._run(documents, batch_size, *params))
        if not isinstance(inputs, (bytes, bytearray)) and not isinstance(inputs, collections.abc.Iterable):
            if hasattr(inputs, "__getitem__") and hasattr(inputs, "__len__"):  # torch-style map dataset (KeyDataset)
                dataset = inputs
                inputs = (dataset[index] for index in range(len(dataset)))
        if isinstance(inputs, (bytes, bytearray)) or not isinstance(inputs, collections.abc.Iterable):
            raise TypeError(
                "JointREPipeline expects a str, a schema document (dict with 'text'), or a list/iterable of them; "
                f"got {type(inputs).__name__}"
            )
        documents = (self.normalize_input(item, index) for index, item in enumerate(inputs))
        return self._run(documents, batch_size, *params)

    def _run(self, documents, batch_size, preprocess_params, forward_params, postprocess_params):
        for chunk in _chunks(documents, batch_size):
            encoded = [self.preprocess(document, **preprocess_params) for document in chunk]
            features = [features for item in encoded for features in item["features"].features]
            documents_of_chunk = [document for item in encoded for document in item["documents"]]
            singles = [None] * len(features)
            # A batch runs as model calls of documents of similar length (`_padding_bounded_groups`); the results
            # come back in input order.
            for group in _padding_bounded_groups([len(item["input_ids"]) for item in features]):
                model_inputs = {
                    "features": _Encoded([features[position] for position in group]),
                    "documents": [documents_of_chunk[position] for position in group],
                }
                outputs = self.forward(model_inputs, **forward_params)
                for position, prediction, document, spans in zip(
                    group, outputs["predictions"], outputs["documents"], outputs["word_char_spans"]
                ):
                    singles[position] = {
                        "predictions": [prediction],
                        "documents": [document],
                        "word_char_spans": [spans],
                    }
            for single in singles:
                yield self.postprocess(single, **postprocess_params)

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        document = self.normalize_input(inputs, 0)
        return next(self._run([document], 1, preprocess_params, forward_params, postprocess_params))

    # -- steps -------------------------------------------------------------------------------------------
    def preprocess(self, document, **kwargs):
        document = self.normalize_input(document, 0)
        text = document["text"]  # the processor encodes a copy without lone surrogates; decoding reads this one
        if document["words"] is not None:
            item = {"text": text, "words": document["words"], "sentences": document["sentences"]}
        else:
            item = text
        features = self.processor.encode_document_arrays(item, 0)
        return {"features": _Encoded([features]), "documents": [{"id": document["id"], "text": text}]}

    def forward(self, model_inputs, **forward_params):
        """The base class's `forward` without its walks over every input and output to place tensors: `_forward`
        moves the batch to the device itself (`model.predict`) and returns host tensors."""
        with self.device_placement(), self.get_inference_context()():
            return self._forward(model_inputs, **forward_params)

    def _forward(self, model_inputs, **thresholds):
        if self.model.training and not getattr(self, "_training_named", False):
            # (not switched here: another thread may be training the model; building the pipeline called eval())
            logger.warning(
                "JointREPipeline: the model is in training mode (model.train() since the pipeline was built), so "
                "dropout makes its predictions vary from call to call; call model.eval() to predict"
            )
            self._training_named = True
        features = model_inputs["features"].features
        batch = self.processor.collate(features)
        word_char_spans = [batch["word_char_spans"][row, : len(f["word_char_spans"])] for row, f in enumerate(features)]
        # model.extract; the predictions come back to the host in one copy per dtype for the batch.
        serving = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.serving == "bf16" else nullcontext()
        with serving:
            predictions = self.model.predict(batch, device=self.device, **thresholds)
        return {"predictions": predictions, "documents": model_inputs["documents"], "word_char_spans": word_char_spans}

    def postprocess(self, model_outputs, entity_types=None, relation_types=None):
        config = self.model.config
        document = model_outputs["documents"][0]
        prediction = model_outputs["predictions"][0]
        result = self.processor.decode(
            prediction,
            document["text"],
            model_outputs["word_char_spans"][0],
            list(config.entity_types),
            list(config.relation_types),
            document_id=document["id"],
        )
        truncated = prediction.get("truncated")
        if truncated is not None and len(truncated) and "truncated" not in result:  # which caps bound
            names = getattr(config, "document_caps", ())
            result["truncated"] = [
                {"cap": names[cap] if 0 <= cap < len(names) else str(cap), "limit": limit, "found": found, "kept": kept}
                for cap, limit, found, kept in torch.as_tensor(truncated).tolist()
            ]
        if entity_types is not None or relation_types is not None:
            result = select_types(result, entity_types, relation_types)
        return result
