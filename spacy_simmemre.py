"""spaCy component: the `joint-re` pipeline inside a spaCy `Language` (not remote code; the optional extra
`pip install ".[spacy]"`, which registers the factory under spaCy's `spacy_factories` entry point).

    >>> import spacy
    >>> nlp = spacy.blank("en")  # or any pipeline: its tokens only place the spans
    >>> nlp.add_pipe("simmemre", config={"model": "runs/cdr_minilm_quick/best_model"})
    >>> doc = nlp("Naloxone reverses the antihypertensive effect of clonidine.")
    >>> doc.ents, doc.spans["simmemre"], doc._.simmemre_entities, doc._.simmemre_relations

The model reads `doc.text` itself (its own words, sentences and windows; spaCy's tokenization changes nothing it
predicts) and the component writes:

- `doc._.simmemre`: the prediction as the pipeline returns it (the one document schema: character offsets, scores);
  plain JSON, so `DocBin(store_user_data=True)` keeps it;
- `doc.spans[spans_key]`: every mention as a `Span` labelled with its entity type (nested and overlapping mentions
  included), aligned to the tokens with `alignment_mode="expand"`: a mention that ends inside a token covers that
  token, while `doc._.simmemre` keeps its exact offsets;
- `doc.ents` (with `set_ents`): the mentions that fit, as spaCy's `EntityRuler` does it: entities already set by an
  earlier component stay unless `overwrite_ents`, and of overlapping mentions the longer one is kept;
- the getters `doc._.simmemre_entities` (`[{"type", "score", "mentions": [Span, ...]}]`, in the prediction's order)
  and `doc._.simmemre_relations` (`[{"head": entity, "type", "tail": entity, "score"}]`, entities from
  `doc._.simmemre_entities`).

The model loads on first use (or at `nlp.initialize()`); `nlp.to_disk` saves it with the pipeline, so `spacy.load`
of that folder needs neither the original model folder nor the Hub. spaCy imports every registered factory when it
builds a `Language`, so with the extra installed `spacy.blank` also imports this package (torch and transformers,
about 3 s), as with spacy-transformers.
"""

import numbers
from typing import Iterable, Iterator, List, Optional

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.util import filter_spans, minibatch

from .pipelines.pipeline_simmemre import SERVING_MODES

FACTORY = "simmemre"
DTYPES = ("auto", "float32", "bfloat16", "float16")
_SAVED_MODEL = "model"  # the model's folder inside the component's folder of a saved spaCy pipeline


def _entities_getter(doc: Doc) -> List[dict]:
    prediction = doc._.simmemre
    if prediction is None:
        return []
    return [_entity_view(doc, entity) for entity in prediction["entities"]]


def _entity_view(doc: Doc, entity: dict) -> dict:
    mentions = [_mention_span(doc, mention) for mention in entity["mentions"]]
    return {"type": entity["type"], "score": entity["score"], "mentions": mentions}


def _relations_getter(doc: Doc) -> List[dict]:
    prediction = doc._.simmemre
    if prediction is None:
        return []
    entities = _entities_getter(doc)
    return [
        {"head": entities[r["head"]], "type": r["type"], "tail": entities[r["tail"]], "score": r["score"]}
        for r in prediction["relations"]
    ]


def _mention_span(doc: Doc, mention: dict, label: str = ""):
    # A mention never lies in whitespace alone (the model's words are non-space), so "expand" always finds a token.
    return doc.char_span(mention["start"], mention["end"], label=label, alignment_mode="expand")


for _name, _options in (
    ("simmemre", {"default": None}),
    ("simmemre_entities", {"getter": _entities_getter}),
    ("simmemre_relations", {"getter": _relations_getter}),
):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, **_options)


def _checked_settings(name, batch_size, device, dtype, serving, thresholds, entity_types, relation_types, spans_key):
    """Refuse a bad setting when the component is added (the model itself loads on first use), naming the setting."""
    where = f"spaCy component {name!r}"
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    if device is not None and not isinstance(device, str):
        raise ValueError(f"{where}: device must be a string such as 'cpu' or 'cuda:0', or null, got {device!r}")
    if dtype not in DTYPES:
        raise ValueError(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if serving not in SERVING_MODES:
        raise ValueError(f"{where}: serving must be one of {', '.join(SERVING_MODES)}, got {serving!r}")
    for setting, value in thresholds.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{where}: {setting} must be a number in [0, 1] or null, got {value!r}")
    for setting, value in (("entity_types", entity_types), ("relation_types", relation_types)):
        if value is not None and (isinstance(value, str) or not all(isinstance(item, str) for item in value)):
            raise ValueError(f"{where}: {setting} must be a list of type names or null, got {value!r}")
    if not isinstance(spans_key, str) or not spans_key:
        raise ValueError(f"{where}: spans_key must be a non-empty string, got {spans_key!r}")


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
        spans_key: str = "simmemre",
        set_ents: bool = True,
        overwrite_ents: bool = False,
    ):
        thresholds = {
            "mention_threshold": mention_threshold,
            "coref_threshold": coref_threshold,
            "relation_threshold": relation_threshold,
            "entity_threshold": entity_threshold,
        }
        _checked_settings(name, batch_size, device, dtype, serving, thresholds, entity_types, relation_types, spans_key)
        self.name = name
        self.model_location = None if model is None else str(model)
        self.batch_size = int(batch_size)
        self.device, self.dtype, self.serving = device, dtype, serving
        self.spans_key = spans_key
        self.set_ents, self.overwrite_ents = bool(set_ents), bool(overwrite_ents)
        self._call_options = {key: value for key, value in thresholds.items() if value is not None}
        for setting, value in (("entity_types", entity_types), ("relation_types", relation_types)):
            if value is not None:
                self._call_options[setting] = list(value)
        self._extractor = None

    # -- the model ---------------------------------------------------------------------------------------
    @property
    def extractor(self):
        """The `joint-re` pipeline, loaded from `model` on first use."""
        if self._extractor is None:
            self._extractor = self._load(self.model_location)
        return self._extractor

    def _load(self, location):
        from .experiment_simmemre import load_pipeline, refusals_as_value_errors

        if location is None:
            raise ValueError(
                f"spaCy component {self.name!r}: no model; add it with config={{'model': FOLDER_OR_HUB_ID}} "
                "or load a saved pipeline that holds one"
            )
        try:
            with refusals_as_value_errors():
                extractor = load_pipeline(
                    location, device=self.device, batch_size=self.batch_size, dtype=self.dtype, serving=self.serving
                )
        except ValueError as error:  # the scripts' refusals say "--model X: ..."; here it is the component's setting
            message = str(error)
            prefix = f"--model {location}: "
            reason = message[len(prefix) :] if message.startswith(prefix) else message
            raise ValueError(f"spaCy component {self.name!r}, model {location!r}: {reason}") from None
        # Thresholds and type names are checked against the model once, before any document runs.
        extractor._sanitize_parameters(**self._call_options)
        return extractor

    def initialize(self, get_examples=None, *, nlp=None):
        """Load the model now (`nlp.initialize()`), instead of at the first document."""
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
            doc._.simmemre = prediction
            mentions = [
                _mention_span(doc, mention, entity["type"])
                for entity in prediction["entities"]
                for mention in entity["mentions"]
            ]
            mentions = sorted({(span.start, span.end, span.label_): span for span in mentions}.values())
            doc.spans[self.spans_key] = mentions
            if not self.set_ents:
                continue
            if self.overwrite_ents:
                doc.ents = filter_spans(mentions)
            else:
                kept = list(doc.ents)
                taken = {token for span in kept for token in range(span.start, span.end)}
                free = [span for span in mentions if not taken.intersection(range(span.start, span.end))]
                doc.ents = kept + filter_spans(free)

    # -- saving ------------------------------------------------------------------------------------------
    def to_disk(self, path, *, exclude=()):
        """Save the model (weights, config, processor and remote code) into `path`/model, so the saved spaCy pipeline
        holds it."""
        from pathlib import Path

        folder = Path(path) / _SAVED_MODEL
        folder.mkdir(parents=True, exist_ok=True)
        self.extractor.model.save_pretrained(folder)
        self.extractor.processor.save_pretrained(folder)

    def from_disk(self, path, *, exclude=()):
        from pathlib import Path

        folder = Path(path) / _SAVED_MODEL
        if not (folder / "config.json").is_file():
            raise ValueError(f"spaCy component {self.name!r}: {folder} holds no saved model (config.json)")
        self.model_location = str(folder)
        self._extractor = None
        return self

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
        "spans_key": "simmemre",
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
    spans_key: str,
    set_ents: bool,
    overwrite_ents: bool,
) -> SimMemREComponent:
    """spaCy factory of :class:`SimMemREComponent` (`nlp.add_pipe("simmemre", config={"model": ...})`)."""
    settings = dict(locals())
    del settings["nlp"], settings["name"]
    return SimMemREComponent(nlp, name, **settings)
