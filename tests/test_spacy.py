"""The spaCy component (simmemre.spacy_simmemre): the joint-re pipeline's predictions on spaCy Docs (the prediction, a
span group, doc.ents, entity and relation getters), batching, errors, saving with the pipeline."""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from helpers import LOW, assert_same_predictions

spacy = pytest.importorskip("spacy", reason="the optional extra: pip install '.[spacy]'")

from spacy.tokens import DocBin  # noqa: E402

from simmemre.spacy_simmemre import SimMemREComponent  # noqa: E402

TEXTS = [
    "Aspirin causes ulcers.",
    "Ibuprofen induced headache and nausea. No nausea was seen after naproxen.",
    "Cisplatin nephrotoxicity (CN) was reduced by magnesium; CN recurred.",
]


@pytest.fixture
def nlp(hub_folder):
    nlp = spacy.blank("en")
    nlp.add_pipe("simmemre", config={"model": str(hub_folder), **LOW})
    return nlp


def fabricated(text, entities, relations=()):
    """A prediction in the pipeline's schema, for the tests of how annotations are set."""
    return {
        "text": text,
        "entities": [
            {
                "type": kind,
                "score": 1.0,
                "mentions": [{"start": s, "end": e, "text": text[s:e], "score": 0.9} for s, e in spans],
            }
            for kind, spans in entities
        ],
        "relations": [{"head": h, "tail": t, "type": kind, "score": 0.8} for h, t, kind in relations],
    }


class FakeExtractor:
    """Stands in for the joint-re pipeline: returns fixed predictions and fails on texts containing "BAD"."""

    def __init__(self, predictions):
        self.predictions = predictions
        self.calls = []

    def __call__(self, inputs, batch_size=None, **options):
        self.calls.append(inputs)
        texts = [inputs] if isinstance(inputs, str) else inputs
        if any("BAD" in text for text in texts):
            raise ValueError("document 0: text: refused")
        results = [self.predictions.get(text) or fabricated(text, []) for text in texts]
        return results[0] if isinstance(inputs, str) else results


def component_with(nlp_blank, predictions, **settings):
    component = nlp_blank.add_pipe("simmemre", config={"model": "unused", **settings})
    component._extractor = FakeExtractor(predictions)
    return component


def test_the_factory_is_registered_as_a_spacy_entry_point():
    names = {point.name: point.value for point in entry_points(group="spacy_factories")}
    assert names.get("simmemre") == "simmemre.spacy_simmemre:make_component"


def test_doc_holds_the_pipelines_prediction(nlp, pipe):
    doc = nlp(TEXTS[1])
    assert_same_predictions([doc._.simmemre], [pipe(TEXTS[1], **LOW)])
    assert doc._.simmemre["entities"], "LOW thresholds find mentions with the tiny model"


def test_every_mention_is_a_span_labelled_with_its_entity_type(nlp):
    doc = nlp(TEXTS[1])
    expected = sorted(
        (mention["start"], mention["end"], entity["type"])
        for entity in doc._.simmemre["entities"]
        for mention in entity["mentions"]
    )
    spans = sorted((span.start_char, span.end_char, span.label_) for span in doc.spans["simmemre"])
    assert spans == expected


def test_a_mention_inside_a_token_covers_the_token_and_keeps_its_exact_offsets():
    nlp_blank = spacy.blank("en")
    text = "Take aspirins daily."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(5, 12)])])})
    doc = nlp_blank(text)
    assert [span.text for span in doc.spans["simmemre"]] == ["aspirins"]
    assert doc._.simmemre["entities"][0]["mentions"][0]["text"] == "aspirin"


def test_overlapping_mentions_keep_the_longer_in_ents_and_both_in_the_span_group():
    nlp_blank = spacy.blank("en")
    text = "Cisplatin nephrotoxicity was seen."
    prediction = fabricated(text, [("Chemical", [(0, 9)]), ("Disease", [(0, 24)])])
    component_with(nlp_blank, {text: prediction})
    doc = nlp_blank(text)
    assert [(span.text, span.label_) for span in doc.ents] == [("Cisplatin nephrotoxicity", "Disease")]
    assert len(doc.spans["simmemre"]) == 2


def test_entities_set_by_an_earlier_component_stay():
    nlp_blank = spacy.blank("en")
    ruler = nlp_blank.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "DRUG", "pattern": "Aspirin"}])
    text = "Aspirin causes ulcers."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(0, 7)]), ("Disease", [(15, 21)])])})
    doc = nlp_blank(text)
    assert [(span.text, span.label_) for span in doc.ents] == [("Aspirin", "DRUG"), ("ulcers", "Disease")]


def test_overwrite_ents_replaces_earlier_entities():
    nlp_blank = spacy.blank("en")
    ruler = nlp_blank.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "DRUG", "pattern": "Aspirin"}])
    text = "Aspirin causes ulcers."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(0, 7)])])}, overwrite_ents=True)
    assert [(span.text, span.label_) for span in nlp_blank(text).ents] == [("Aspirin", "Chemical")]


def test_set_ents_false_leaves_ents_alone():
    nlp_blank = spacy.blank("en")
    text = "Aspirin causes ulcers."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(0, 7)])])}, set_ents=False)
    doc = nlp_blank(text)
    assert doc.ents == () and len(doc.spans["simmemre"]) == 1


def test_relation_getter_gives_the_argument_entities_with_their_spans():
    nlp_blank = spacy.blank("en")
    text = "Aspirin causes ulcers; aspirin is common."
    prediction = fabricated(text, [("Chemical", [(0, 7), (23, 30)]), ("Disease", [(15, 21)])], [(0, 1, "CID")])
    component_with(nlp_blank, {text: prediction})
    doc = nlp_blank(text)
    (relation,) = doc._.simmemre_relations
    assert relation["type"] == "CID" and relation["score"] == 0.8
    assert [span.text for span in relation["head"]["mentions"]] == ["Aspirin", "aspirin"]
    assert [span.text for span in relation["tail"]["mentions"]] == ["ulcers"]
    assert relation["head"] == doc._.simmemre_entities[0]


def test_a_doc_the_component_has_not_seen_has_no_entities_or_relations():
    doc = spacy.blank("en")("Aspirin causes ulcers.")
    assert doc._.simmemre is None and doc._.simmemre_entities == [] and doc._.simmemre_relations == []


def test_pipe_gives_what_one_call_per_doc_gives_in_batches(nlp):
    one_by_one = [nlp(text)._.simmemre for text in TEXTS]
    batched = [doc._.simmemre for doc in nlp.pipe(TEXTS, batch_size=2)]
    assert_same_predictions(batched, one_by_one)


def test_pipe_calls_the_model_once_per_batch():
    nlp_blank = spacy.blank("en")
    component = component_with(nlp_blank, {}, batch_size=2)
    docs = list(nlp_blank.pipe(TEXTS + ["Fourth."]))  # spaCy buffers 1000 docs; the component's setting batches
    assert len(docs) == 4 and [len(call) for call in component._extractor.calls] == [2, 2]


def test_a_refused_doc_goes_to_the_error_handler_and_the_others_are_annotated():
    nlp_blank = spacy.blank("en")
    text = "Aspirin causes ulcers."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(0, 7)])])}, batch_size=3)
    refused = []
    nlp_blank.set_error_handler(lambda name, component, docs, error: refused.append((name, docs[0].text, str(error))))
    docs = list(nlp_blank.pipe([text, "A BAD one.", text]))
    assert refused == [("simmemre", "A BAD one.", "document 0: text: refused")]
    assert [len(doc.ents) for doc in docs] == [1, 1]


def test_a_refused_doc_raises_by_default():
    nlp_blank = spacy.blank("en")
    component_with(nlp_blank, {})
    with pytest.raises(ValueError, match="refused"):
        list(nlp_blank.pipe(["A BAD one."]))


def test_an_empty_doc_gets_an_empty_prediction(nlp):
    doc = nlp("")
    assert doc._.simmemre["entities"] == [] and doc.ents == () and len(doc.spans["simmemre"]) == 0


def test_saved_pipeline_loads_without_the_original_model_folder(nlp, hub_folder, tmp_path):
    expected = nlp(TEXTS[2])._.simmemre
    nlp.to_disk(tmp_path / "pipeline")
    moved = tmp_path / "gone"
    shutil.copytree(hub_folder, moved)
    shutil.rmtree(hub_folder)
    try:
        loaded = spacy.load(tmp_path / "pipeline")
        assert_same_predictions([loaded(TEXTS[2])._.simmemre], [expected])
    finally:
        shutil.copytree(moved, hub_folder)


def test_saved_pipeline_loads_in_an_interpreter_that_has_not_imported_the_component(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    code = (
        "import spacy, sys\n"
        f"doc = spacy.load({str(tmp_path / 'pipeline')!r})('Aspirin causes ulcers.')\n"
        "print(type(doc._.simmemre).__name__, 'simmemre' in sys.modules)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["dict", "True"]  # spaCy imported the component through its entry point


def test_docbin_keeps_the_prediction(nlp):
    docs = list(nlp.pipe(TEXTS))
    restored = list(DocBin(store_user_data=True, docs=docs).get_docs(nlp.vocab))
    # msgpack gives lists back as tuples: the same JSON
    assert [json.dumps(doc._.simmemre) for doc in restored] == [json.dumps(doc._.simmemre) for doc in docs]
    assert [span.text for span in restored[1]._.simmemre_entities[0]["mentions"]] == [
        span.text for span in docs[1]._.simmemre_entities[0]["mentions"]
    ]


def test_pickling_leaves_the_loaded_model_behind(nlp):
    component = nlp.get_pipe("simmemre")
    nlp("Aspirin.")
    copy = pickle.loads(pickle.dumps(component))
    assert copy._extractor is None and copy.model_location == component.model_location


@pytest.mark.parametrize(
    "setting, value, named",
    [
        ("mention_threshold", 1.5, "mention_threshold must be a number in [0, 1]"),
        ("batch_size", 0, "batch_size must be a positive integer"),
        ("serving", "fp16", "serving must be one of fp32, bf16, int8"),
        ("dtype", "half", "dtype must be one of auto, float32, bfloat16, float16"),
    ],
)
def test_a_bad_setting_is_refused_when_the_component_is_added(setting, value, named):
    with pytest.raises(ValueError, match=re.escape(f"spaCy component 'simmemre': {named}")):
        spacy.blank("en").add_pipe("simmemre", config={"model": "unused", setting: value})


def test_a_setting_of_the_wrong_type_is_named_by_spacys_config_check():
    with pytest.raises(ValueError, match="simmemre -> entity_types"):
        spacy.blank("en").add_pipe("simmemre", config={"model": "unused", "entity_types": "Chemical"})


def test_an_unknown_type_name_is_refused_before_any_doc_runs(hub_folder):
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", config={"model": str(hub_folder), "entity_types": ["Chemicals"]})
    with pytest.raises(ValueError, match="Chemicals"):
        nlp_blank.initialize()


def test_a_missing_model_folder_is_named(tmp_path):
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", config={"model": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match=r"spaCy component 'simmemre', model '.*nowhere'"):
        nlp_blank("Aspirin.")


def test_no_model_is_named():
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre")
    with pytest.raises(ValueError, match="no model"):
        nlp_blank("Aspirin.")


def test_the_component_class_is_the_factorys():
    assert isinstance(spacy.blank("en").add_pipe("simmemre", config={"model": "unused"}), SimMemREComponent)


def test_a_span_names_its_entity_and_the_group_holds_the_mention_scores():
    nlp_blank = spacy.blank("en")
    text = "Aspirin causes ulcers; aspirin is common."
    prediction = fabricated(text, [("Chemical", [(0, 7), (23, 30)]), ("Disease", [(15, 21)])])
    component_with(nlp_blank, {text: prediction})
    doc = nlp_blank(text)
    group = doc.spans["simmemre"]
    assert [(span.text, span.id_) for span in group] == [("Aspirin", "0"), ("aspirin", "0"), ("ulcers", "1")]
    assert group.attrs["scores"] == [0.9, 0.9, 0.9]


def test_two_mentions_on_the_same_tokens_are_two_spans():
    """Mentions that expand to the same tokens were merged, so the group did not hold every mention."""
    nlp_blank = spacy.blank("en")
    text = "Take aspirins daily."
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(5, 12)]), ("Chemical", [(5, 13)])])})
    assert len(nlp_blank(text).spans["simmemre"]) == 2


def test_of_two_overlapping_mentions_as_long_the_higher_scoring_is_the_entity():
    nlp_blank = spacy.blank("en")
    text = "Cisplatin nephrotoxicity was seen."
    prediction = fabricated(text, [("Chemical", [(0, 9)]), ("Disease", [(0, 9)])])
    prediction["entities"][1]["mentions"][0]["score"] = 0.95
    component_with(nlp_blank, {text: prediction})
    assert [(span.text, span.label_) for span in nlp_blank(text).ents] == [("Cisplatin", "Disease")]


def test_a_second_component_with_the_same_key_is_refused():
    """The second overwrote the first's prediction and spans without a word."""
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", name="cdr", config={"model": "unused"})
    with pytest.raises(ValueError, match=r"component 'cdr' already writes doc\._\.simmemre"):
        nlp_blank.add_pipe("simmemre", name="other", config={"model": "unused"})


def test_two_components_with_their_own_keys_keep_their_own_predictions():
    nlp_blank = spacy.blank("en")
    text = "Aspirin causes ulcers."
    first = nlp_blank.add_pipe("simmemre", name="cdr", config={"model": "unused", "set_ents": False})
    second = nlp_blank.add_pipe("simmemre", name="other", config={"model": "unused", "key": "other_model"})
    first._extractor = FakeExtractor({text: fabricated(text, [("Chemical", [(0, 7)])])})
    second._extractor = FakeExtractor({text: fabricated(text, [("Disease", [(15, 21)])])})
    doc = nlp_blank(text)
    assert [entity["type"] for entity in doc._.simmemre_entities] == ["Chemical"]
    assert [entity["type"] for entity in doc._.other_model_entities] == ["Disease"]
    assert [span.text for span in doc.spans["other_model"]] == ["ulcers"]


def test_a_key_that_another_extension_holds_is_refused():
    from spacy.tokens import Doc

    Doc.set_extension("taken_by_others", getter=lambda doc: 1, force=True)
    try:
        with pytest.raises(ValueError, match=r"doc\._\.taken_by_others is another extension"):
            spacy.blank("en").add_pipe("simmemre", config={"model": "unused", "key": "taken_by_others"})
    finally:
        Doc.remove_extension("taken_by_others")


def test_a_second_component_with_the_same_key_is_refused_while_the_first_is_disabled():
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", name="first", config={"model": "unused"})
    nlp_blank.disable_pipe("first")
    with pytest.raises(ValueError, match=r"component 'first' already writes doc\._\.simmemre"):
        nlp_blank.add_pipe("simmemre", name="second", config={"model": "unused"})


def test_a_component_taken_from_another_pipeline_with_the_same_key_is_refused_at_initialize():
    """`add_pipe(source=...)` reuses the source's object without building it for this pipeline, so the check at
    construction never saw the two components that write doc._.simmemre (spaCy gives no hook at add_pipe); the model
    load at `nlp.initialize()` is the first moment the component sees its pipeline."""
    source = spacy.blank("en")
    source.add_pipe("simmemre", config={"model": "unused"})
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", name="own", config={"model": "unused"})
    nlp_blank.add_pipe("simmemre", name="sourced", source=source)  # (spaCy's limitation: accepted here)
    with pytest.raises(ValueError, match=r"components 'own', 'sourced' all write doc\._\.simmemre"):
        nlp_blank.initialize()


def test_a_component_taken_from_another_pipeline_with_its_own_key_initializes():
    text = "Aspirin causes ulcers."
    source = spacy.blank("en")
    sourced = source.add_pipe("simmemre", config={"model": "unused", "key": "other_model", "set_ents": False})
    sourced._extractor = FakeExtractor({text: fabricated(text, [("Disease", [(15, 21)])])})
    nlp_blank = spacy.blank("en")
    component_with(nlp_blank, {text: fabricated(text, [("Chemical", [(0, 7)])])})
    nlp_blank.add_pipe("simmemre", name="sourced", source=source)
    nlp_blank.initialize()
    doc = nlp_blank(text)
    assert [entity["type"] for entity in doc._.simmemre_entities] == ["Chemical"]
    assert [entity["type"] for entity in doc._.other_model_entities] == ["Disease"]


def test_a_model_folder_saved_in_bfloat16_is_saved_in_float32(hub_folder, processor, tmp_path):
    import torch
    from safetensors import safe_open

    from simmemre import SimMemREModel

    half = tmp_path / "bf16"
    SimMemREModel.from_pretrained(hub_folder, dtype=torch.bfloat16).save_pretrained(half)
    processor.save_pretrained(half)
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", config={"model": str(half)})
    nlp_blank.to_disk(tmp_path / "pipeline")
    with safe_open(str(tmp_path / "pipeline" / "simmemre" / "model" / "model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(name).dtype) for name in weights.keys()} == {"torch.float32"}


@pytest.mark.parametrize("settings", [{"dtype": "bfloat16"}, {"serving": "int8"}])
def test_a_pipeline_served_in_low_precision_saves_float32_weights(hub_folder, tmp_path, settings):
    """bfloat16 crashed in to_disk after writing bfloat16 weights and no processor; int8 crashed in transformers."""
    from safetensors import safe_open

    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", config={"model": str(hub_folder), **LOW, **settings})
    nlp_blank("Aspirin causes ulcers.")
    nlp_blank.to_disk(tmp_path / "pipeline")
    saved = tmp_path / "pipeline" / "simmemre" / "model"
    with safe_open(str(saved / "model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(name).dtype) for name in weights.keys()} == {"torch.float32"}
    assert (saved / "tokenizer.json").is_file() and not (tmp_path / "pipeline" / "simmemre" / ".model.partial").exists()


def test_to_bytes_carries_the_model(nlp, hub_folder, tmp_path):
    expected = nlp(TEXTS[2])._.simmemre
    data = nlp.to_bytes()
    moved = tmp_path / "gone"
    shutil.copytree(hub_folder, moved)
    shutil.rmtree(hub_folder)
    try:
        restored = spacy.blank("en")
        restored.add_pipe("simmemre", config={"model": str(hub_folder), **LOW})
        restored.from_bytes(data)
        assert_same_predictions([restored(TEXTS[2])._.simmemre], [expected])
    finally:
        shutil.copytree(moved, hub_folder)


def test_from_bytes_refuses_an_archive_that_leaves_its_folder():
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 1
        archive.addfile(member, io.BytesIO(b"x"))
    component = spacy.blank("en").add_pipe("simmemre", config={"model": "unused"})
    with pytest.raises(ValueError, match=r"archive member '\.\./escaped\.txt'"):
        component.from_bytes(buffer.getvalue())


def test_a_pipeline_saved_without_the_component_loads_with_its_configured_model(nlp, hub_folder, tmp_path):
    nlp.to_disk(tmp_path / "pipeline", exclude=["simmemre"])
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("simmemre").model_location == str(hub_folder)


def test_labels_and_assigned_attributes_are_declared(hub_folder):
    nlp_blank = spacy.blank("en")
    component = nlp_blank.add_pipe("simmemre", config={"model": str(hub_folder)})
    assert component.labels == ("Chemical", "Disease") and component._extractor is None
    assigns = nlp_blank.analyze_pipes()["summary"]["simmemre"]["assigns"]
    assert {"doc.ents", "doc.spans"} <= set(assigns)


def test_a_serving_and_dtype_that_cannot_go_together_are_refused_when_added():
    with pytest.raises(ValueError, match="serving int8 quantizes float32 weights, not beside dtype 'bfloat16'"):
        spacy.blank("en").add_pipe("simmemre", config={"model": "unused", "serving": "int8", "dtype": "bfloat16"})


def test_a_bad_device_is_refused_in_the_components_words():
    with pytest.raises(ValueError, match="spaCy component 'simmemre': device must be a torch device"):
        spacy.blank("en").add_pipe("simmemre", config={"model": "unused", "device": "gpu"})


def test_a_folder_of_another_model_is_named(tmp_path, tokenizer):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    nlp_blank = spacy.blank("en")
    nlp_blank.add_pipe("simmemre", config={"model": str(tmp_path / "encoder")})
    with pytest.raises(ValueError, match="not a SimMemRE model folder \\(its config.json says model_type 'bert'\\)"):
        nlp_blank.initialize()
