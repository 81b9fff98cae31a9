"""spaCy component: the `joint-re` pipeline inside a spaCy `Language` (not remote code; the optional extra
`pip install ".[spacy]"`, which registers the factory under spaCy's `spacy_factories` entry point).

    >>> import spacy
    >>> nlp = spacy.blank("en")  # or any pipeline: its tokens only place the spans
    >>> nlp.add_pipe("simmemre", config={"model": "runs/cdr_minilm_quick/best_model"})
    >>> doc = nlp("Naloxone reverses the antihypertensive effect of clonidine.")
    >>> doc.ents, doc.spans["simmemre"], doc._.simmemre_entities, doc._.simmemre_relations

The model reads `doc.text` itself (its own words, sentences and windows; spaCy's tokenization changes nothing it
predicts) and the component writes, under its `key` (default "simmemre"; two components in one pipeline need two
keys: a second one is refused when added, but one taken from another pipeline with `add_pipe(..., source=other_nlp)`
only at `nlp.initialize()`, since spaCy builds no component for it and tells a component nothing else of the
pipeline it runs in):

- `doc._.{key}`: the prediction as the pipeline returns it (the one document schema: character offsets, scores);
  plain JSON, so `DocBin(store_user_data=True)` keeps it;
- `doc.spans[key]`: every mention as a `Span` labelled with its entity type (nested and overlapping mentions
  included), its `id_` the index of its entity in the prediction, the mention scores in the group's
  `attrs["scores"]`; spans are aligned to the tokens with `alignment_mode="expand"`: a mention that ends inside a
  token covers that token, while `doc._.{key}` keeps its exact offsets;
- `doc.ents` (with `set_ents`): the mentions that fit, as spaCy's `EntityRuler` decides it: entities already set by an
  earlier component stay unless `overwrite_ents`; of overlapping mentions the longer, then the higher-scoring, is kept;
- the getters `doc._.{key}_entities` (`[{"type", "score", "mentions": [Span, ...]}]`, in the prediction's order)
  and `doc._.{key}_relations` (`[{"head": entity, "type", "tail": entity, "score"}]`, entities from
  `doc._.{key}_entities`).

The model loads on first use (or at `nlp.initialize()`); `nlp.to_disk` and `nlp.to_bytes` carry a float32 copy of it,
so a saved pipeline needs neither the original model folder nor the Hub. spaCy imports every registered factory when
it builds a `Language`, so with the extra installed `spacy.blank` also imports this package (torch and transformers,
about 3 s), as with spacy-transformers.
"""

import io
import numbers
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.util import minibatch

from .pipelines.pipeline_simmemre import SERVING_MODES

FACTORY = "simmemre"
# The scripts' --dtype choices (experiment_simmemre.DTYPES, not imported here: it loads the Trainer, 0.6 s more for
# every spaCy pipeline built where the extra is installed).
DTYPES = ("auto", "float32", "bfloat16", "float16")
_SAVED_MODEL = "model"  # the model's folder inside the component's folder of a saved spaCy pipeline
# What the scripts' refusals call a setting, and what the component calls it.
_SETTING_WORDS = {"--model ": "model ", "--device": "device", "--dtype": "dtype", "--serving": "serving"}


# -- Doc extensions ---------------------------------------------------------------------------------------
def _mention_span(doc: Doc, mention: dict, label: str = "", entity: int = 0):
    # A mention never lies in whitespace alone (the model's words are non-space), so "expand" always finds a token.
    return doc.char_span(
        mention["start"], mention["end"], label=label, alignment_mode="expand", span_id=str(entity) if label else 0
    )


def _entity_view(doc: Doc, entity: dict) -> dict:
    mentions = [_mention_span(doc, mention) for mention in entity["mentions"]]
    return {"type": entity["type"], "score": entity["score"], "mentions": mentions}


class _Getters:
    """The `{key}_entities` and `{key}_relations` getters of one key (a class, so that an extension can be told as
    this component's)."""

    def __init__(self, key: str):
        self.key = key

    def entities(self, doc: Doc) -> List[dict]:
        prediction = doc._.get(self.key)
        return [] if prediction is None else [_entity_view(doc, entity) for entity in prediction["entities"]]

    def relations(self, doc: Doc) -> List[dict]:
        prediction = doc._.get(self.key)
        if prediction is None:
            return []
        entities = self.entities(doc)
        return [
            {"head": entities[r["head"]], "type": r["type"], "tail": entities[r["tail"]], "score": r["score"]}
            for r in prediction["relations"]
        ]


def _register_extensions(key: str, where: str) -> None:
    """`doc._.{key}`, `doc._.{key}_entities`, `doc._.{key}_relations`; refuses names that other extensions hold (they
    would be replaced)."""
    if Doc.has_extension(key):
        if Doc.get_extension(key) != (None, None, None, None):  # (default, method, getter, setter)
            raise ValueError(f"{where}: doc._.{key} is another extension; give the component another key")
    else:
        Doc.set_extension(key, default=None)
    getters = _Getters(key)
    for name, getter in ((f"{key}_entities", getters.entities), (f"{key}_relations", getters.relations)):
        if Doc.has_extension(name) and not isinstance(getattr(Doc.get_extension(name)[2], "__self__", None), _Getters):
            raise ValueError(f"{where}: doc._.{name} is another extension; give the component another key")
        Doc.set_extension(name, getter=getter, force=True)


# -- settings --------------------------------------------------------------------------------------------
def _checked_settings(where, batch_size, device, dtype, serving, thresholds, type_selections, key) -> None:
    """Refuse a bad setting when the component is added (the model itself loads on first use), naming the setting."""
    from .experiment_simmemre import parse_device

    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    if device is not None:
        try:
            parse_device(device)
        except SystemExit:  # parse_device's refusal names the command-line option
            raise ValueError(
                f"{where}: device must be a torch device such as 'cpu' or 'cuda:0', or null, got {device!r}"
            ) from None
    if dtype not in DTYPES:
        raise ValueError(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if serving not in SERVING_MODES:
        raise ValueError(f"{where}: serving must be one of {', '.join(SERVING_MODES)}, got {serving!r}")
    if serving == "int8" and dtype not in ("auto", "float32"):
        raise ValueError(f"{where}: serving int8 quantizes float32 weights, not beside dtype {dtype!r}")
    if serving == "bf16" and dtype == "float16":
        raise ValueError(f"{where}: serving bf16 autocasts to bfloat16, not beside dtype 'float16'")
    for setting, value in thresholds.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{where}: {setting} must be a number in [0, 1] or null, got {value!r}")
    for setting, value in type_selections.items():
        if value is not None and (isinstance(value, str) or not all(isinstance(item, str) for item in value)):
            raise ValueError(f"{where}: {setting} must be a list of type names or null, got {value!r}")
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
        raise ValueError(
            f"{where}: key must be a Python identifier not starting with '_' (it names doc._.KEY), got {key!r}"
        )


def _component_words(message: str) -> str:
    """A script's refusal in the component's words: the settings, not command-line options."""
    for option, setting in _SETTING_WORDS.items():
        message = message.replace(option, setting)
    return message


def _safe_members(archive: tarfile.TarFile) -> list:
    """The archive's members, refusing any outside the target folder or other than files and folders (the bytes may
    come from elsewhere)."""
    members = archive.getmembers()
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts or not (member.isfile() or member.isdir()):
            raise ValueError(f"not a SimMemRE component's bytes: archive member {member.name!r}")
    return members


class SimMemREComponent(Pipe):
    """Runs a saved SimMemRE model on each `Doc` (see the module docstring for what it writes). `pipe` batches
    `batch_size` documents per model call; a document the model refuses goes to the component's error handler
    (`set_error_handler`; spaCy's default raises) and the others go on."""

    def __init__(
        self,
        nlp: Language,
        name: str = FACTORY,
        *,
        model: Optional[str],
        batch_size: int = 8,
        device: Optional[str] = None,
        dtype: str = "auto",
        serving: str = "fp32",
        mention_threshold: Optional[float] = None,
        coref_threshold: Optional[float] = None,
        relation_threshold: Optional[float] = None,
        entity_threshold: Optional[float] = None,
        entity_types: Optional[List[str]] = None,
        relation_types: Optional[List[str]] = None,
        key: str = "simmemre",
        set_ents: bool = True,
        overwrite_ents: bool = False,
    ):
        where = f"spaCy component {name!r}"
        thresholds = {
            "mention_threshold": mention_threshold,
            "coref_threshold": coref_threshold,
            "relation_threshold": relation_threshold,
            "entity_threshold": entity_threshold,
        }
        selections = {"entity_types": entity_types, "relation_types": relation_types}
        _checked_settings(where, batch_size, device, dtype, serving, thresholds, selections, key)
        for other_name, other in nlp.components:  # disabled ones too: they may be enabled again
            if isinstance(other, SimMemREComponent) and other.key == key:
                raise ValueError(
                    f"{where}: component {other_name!r} already writes doc._.{key} and doc.spans[{key!r}]; give this "
                    'one another key (config={"key": ...})'
                )
        _register_extensions(key, where)
        self.name = name
        self.model_location = None if model is None else str(model)
        self.batch_size = int(batch_size)
        self.device, self.dtype, self.serving = device, dtype, serving
        self.key = key
        self.set_ents, self.overwrite_ents = bool(set_ents), bool(overwrite_ents)
        self._call_options = {setting: value for setting, value in thresholds.items() if value is not None}
        self._call_options.update({setting: list(value) for setting, value in selections.items() if value is not None})
        self._extractor = None
        self._unpacked = None  # the temporary folder of a model read by from_bytes

    # -- the model ---------------------------------------------------------------------------------------
    @property
    def extractor(self):
        """The `joint-re` pipeline, loaded from `model` on first use."""
        if self._extractor is None:
            self._extractor = self._load(self.model_location)
        return self._extractor

    @property
    def labels(self) -> tuple:
        """The model's entity types (from a local folder's config.json before the model loads; a Hub id's once it
        has loaded)."""
        if self._extractor is not None:
            return tuple(self._extractor.model.config.entity_types)
        from .experiment_simmemre import saved_config_value

        types = saved_config_value(self.model_location, "entity_types") if self.model_location else None
        return tuple(types) if isinstance(types, list) else ()

    def _where(self, location=None) -> str:
        return f"spaCy component {self.name!r}" + (f", model {location!r}" if location is not None else "")

    def _load(self, location):
        from .experiment_simmemre import load_pipeline, refusals_as_value_errors

        if location is None:
            raise ValueError(
                f"{self._where()}: no model; add it with config={{'model': FOLDER_OR_HUB_ID}} or load a saved "
                "pipeline that holds one"
            )
        try:
            with refusals_as_value_errors():
                extractor = load_pipeline(
                    location, device=self.device, batch_size=self.batch_size, dtype=self.dtype, serving=self.serving
                )
            # Thresholds and type names are checked against the model once, before any document runs.
            extractor._sanitize_parameters(**self._call_options)
        except ValueError as error:
            message = str(error)
            prefix = f"--model {location}: "
            reason = message[len(prefix) :] if message.startswith(prefix) else message
            raise ValueError(f"{self._where(location)}: {_component_words(reason)}") from None
        return extractor

    def initialize(self, get_examples=None, *, nlp=None):
        """Load the model now (`nlp.initialize()`), instead of at the first document; first refuse another component
        of `nlp` with this key. (A component taken from another pipeline, `add_pipe(..., source=other_nlp)`, is the
        source's object, never built for `nlp`, so the check at construction did not see its new neighbours; spaCy
        tells a component nothing else of the pipeline it runs in.)"""
        if nlp is not None:
            writers = [
                name for name, other in nlp.components if isinstance(other, SimMemREComponent) and other.key == self.key
            ]
            if len(writers) > 1:
                raise ValueError(
                    f"{self._where()}: components {', '.join(map(repr, writers))} all write doc._.{self.key} and "
                    f"doc.spans[{self.key!r}]; give each its own key (one taken from another pipeline keeps the key "
                    "it has there: add it to that pipeline with another one)"
                )
        self.extractor

    # -- annotating --------------------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], [self.extractor(doc.text, **self._call_options)])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Annotate `stream` with one model call per `batch_size` docs of the component's setting (`nlp.pipe`'s own
        `batch_size` only sets how many docs spaCy buffers)."""
        extractor = self.extractor  # a model that cannot load stops here, not once per document
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=self.batch_size):
            try:
                predictions = extractor([doc.text for doc in docs], batch_size=self.batch_size, **self._call_options)
            except Exception:
                predictions = None  # one document of the batch failed: run them one by one to name it
            if predictions is not None:
                self.set_annotations(docs, predictions)
                yield from docs
                continue
            for doc in docs:
                try:
                    yield self(doc)
                except Exception as error:
                    error_handler(self.name, self, [doc], error)

    def set_annotations(self, docs: List[Doc], predictions: List[dict]) -> None:
        for doc, prediction in zip(docs, predictions):
            doc._.set(self.key, prediction)
            mentions, scores = [], []
            for index, entity in enumerate(prediction["entities"]):
                for mention in entity["mentions"]:
                    mentions.append(_mention_span(doc, mention, entity["type"], index))
                    scores.append(float(mention["score"]))
            doc.spans[self.key] = mentions
            doc.spans[self.key].attrs["scores"] = scores
            if not self.set_ents:
                continue
            kept = [] if self.overwrite_ents else list(doc.ents)
            taken = {token for span in kept for token in range(span.start, span.end)}
            # As spaCy's filter_spans, the longer span first; of two as long, the higher-scoring one.
            order = sorted(range(len(mentions)), key=lambda i: (-len(mentions[i]), -scores[i], mentions[i].start))
            for index in order:
                span = mentions[index]
                if not taken.intersection(range(span.start, span.end)):
                    kept.append(span)
                    taken.update(range(span.start, span.end))
            doc.ents = sorted(kept, key=lambda span: span.start)

    # -- saving ------------------------------------------------------------------------------------------
    def to_disk(self, path, *, exclude=()):
        """Save a float32 copy of the model (weights, config, processor and remote code) into `path`/model, whatever
        the serving dtype, so the saved spaCy pipeline holds it; written into a staging folder, then renamed."""
        from .experiment_simmemre import load_trained_model, refusals_as_value_errors

        if self.model_location is None:
            raise ValueError(f"{self._where()}: no model to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        target, staging = path / _SAVED_MODEL, path / f".{_SAVED_MODEL}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with refusals_as_value_errors():
                model, processor = load_trained_model(self.model_location, "cpu", setting="model")
        except ValueError as error:
            message = str(error)
            prefix = f"model {self.model_location}: "  # (load_trained_model names the location too)
            reason = message[len(prefix) :] if message.startswith(prefix) else message
            raise ValueError(f"{self._where(self.model_location)}: {_component_words(reason)}") from None
        model = model.float()  # a folder saved in bfloat16 loads as saved
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)

    def from_disk(self, path, *, exclude=()):
        """Use the model saved in `path`/model; a pipeline saved without it (`exclude`) keeps the config's `model`."""
        folder = Path(path) / _SAVED_MODEL
        if folder.is_dir():
            if not (folder / "config.json").is_file():
                raise ValueError(f"{self._where()}: {folder} holds no saved model (config.json)")
            self.model_location = str(folder)
            self._extractor = None
        return self

    def to_bytes(self, *, exclude=()) -> bytes:
        """The saved model (`to_disk`'s folder) as an uncompressed tar archive."""
        with tempfile.TemporaryDirectory(prefix="simmemre-spacy-") as folder:
            self.to_disk(folder)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                archive.add(os.path.join(folder, _SAVED_MODEL), arcname=_SAVED_MODEL)
            return buffer.getvalue()

    def from_bytes(self, data: bytes, *, exclude=()):
        """Use the model of `to_bytes`, unpacked into a temporary folder kept while the component lives."""
        unpacked = tempfile.TemporaryDirectory(prefix="simmemre-spacy-")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
            archive.extractall(unpacked.name, members=_safe_members(archive))
        self._unpacked = unpacked
        return self.from_disk(unpacked.name)

    def __reduce__(self):
        # Another process (nlp.pipe(n_process=...) under spawn) loads the model again from its location instead of
        # receiving a pickled copy. (spaCy's Pipe is a Cython class, whose own pickling would copy everything.)
        state = dict(self.__dict__)
        state["_extractor"] = None
        return _unpickled_component, (state,)


def _unpickled_component(state: dict) -> SimMemREComponent:
    component = SimMemREComponent.__new__(SimMemREComponent)
    component.__dict__.update(state)
    return component


@Language.factory(
    FACTORY,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": None,
        "batch_size": 8,
        "device": None,
        "dtype": "auto",
        "serving": "fp32",
        "mention_threshold": None,
        "coref_threshold": None,
        "relation_threshold": None,
        "entity_threshold": None,
        "entity_types": None,
        "relation_types": None,
        "key": "simmemre",
        "set_ents": True,
        "overwrite_ents": False,
    },
)
def make_component(
    nlp: Language,
    name: str,
    model: Optional[str],
    batch_size: int,
    device: Optional[str],
    dtype: str,
    serving: str,
    mention_threshold: Optional[float],
    coref_threshold: Optional[float],
    relation_threshold: Optional[float],
    entity_threshold: Optional[float],
    entity_types: Optional[List[str]],
    relation_types: Optional[List[str]],
    key: str,
    set_ents: bool,
    overwrite_ents: bool,
) -> SimMemREComponent:
    """spaCy factory of :class:`SimMemREComponent` (`nlp.add_pipe("simmemre", config={"model": ...})`)."""
    settings = dict(locals())
    del settings["nlp"], settings["name"]
    return SimMemREComponent(nlp, name, **settings)
