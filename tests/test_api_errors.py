"""The Python API refuses malformed calls by name (or handles them correctly) instead of failing deep inside torch or
giving a silently wrong result: the model's `extract` and `from_encoder`, the processor, the pipeline and
`simmemre.train`."""

import numpy as np
import pytest
import torch
from helpers import LOW, tiny_config

from simmemre import SimMemREModel, SimMemREProcessor

TEXT = "Aspirin causes ulcers in rats. Naloxone reverses clonidine."


@pytest.fixture(scope="module")
def batch(processor):
    return processor([TEXT])


# ---- model.extract ----


@pytest.mark.parametrize("value", ["false", "no", 0])
def test_use_memory_takes_only_booleans(model, batch, value):
    """`bool("false")` is True: the string switched memory reads on."""
    with pytest.raises(TypeError, match="use_memory must be True, False or None"):
        model.extract(**batch, use_memory=value)


def test_numpy_booleans_are_accepted_for_use_memory(model, batch):
    as_python = model.extract(**batch, **LOW, use_memory=False).predictions[0]["mention_scores"]
    as_numpy = model.extract(**batch, **LOW, use_memory=np.bool_(False)).predictions[0]["mention_scores"]
    assert torch.equal(as_python, as_numpy)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda b: {**b, "input_ids": b["input_ids"].tolist()}, TypeError, "input_ids must be a torch tensor"),
        (lambda b: {**b, "input_ids": b["input_ids"][0]}, ValueError, "input_ids must have 2 dimensions"),
        (lambda b: {**b, "input_ids": b["input_ids"].float()}, TypeError, "input_ids must hold integers"),
        (
            lambda b: {**b, "word_subword_spans": torch.cat([b["word_subword_spans"]] * 2)},
            ValueError,
            "word_subword_spans must have 3 dimensions with the batch first",
        ),
        (lambda b: {**b, "given": []}, ValueError, r"given needs one entry per document \(1\), got 0"),
    ],
    ids=["list", "unbatched", "float", "batch-mismatch", "given-length"],
)
def test_malformed_inputs_are_named(model, batch, change, error, message):
    with pytest.raises(error, match=message):
        model.extract(**change(dict(batch)))


def test_word_spans_of_another_document_are_refused(model, processor, batch):
    """Word spans reaching past the document's subwords ran without error, pooling padding."""
    other = processor(["Short text."])
    with pytest.raises(ValueError, match="word_subword_spans reach past a document's subwords"):
        model.extract(**{**batch, "input_ids": other["input_ids"], "attention_mask": other["attention_mask"]})


def test_ids_beyond_the_encoder_vocabulary_are_named(model, batch):
    """`tokenizer.add_tokens` without `resize_token_embeddings` ended in torch's bare IndexError."""
    ids = batch["input_ids"].clone()
    ids[0, 0] = model.get_input_embeddings().num_embeddings
    with pytest.raises(ValueError, match="beyond the encoder's vocabulary.*resize_token_embeddings"):
        model.extract(**{**batch, "input_ids": ids})


def test_a_model_without_any_frame_id_says_so(tokenizer, batch):
    config = tiny_config(tokenizer, cls_token_id=None, sep_token_id=None)
    config.pad_token_id = None
    model = SimMemREModel(config).eval()
    with pytest.raises(ValueError, match="cls_token_id, sep_token_id and pad_token_id are unset"):
        model.extract(**batch)


# ---- from_encoder ----


@pytest.fixture(scope="module")
def bos_eos_encoder(family_tokenizers, tmp_path_factory):
    """A tiny encoder whose tokenizer has only BOS/EOS (no CLS, SEP or pad), GPT-2 style."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    backend = family_tokenizers["bpe"].backend_tokenizer
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    folder = tmp_path_factory.mktemp("bos_eos_encoder")
    torch.manual_seed(0)
    encoder_config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertModel(encoder_config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


def test_from_encoder_frames_windows_with_bos_and_eos_when_there_is_no_cls_or_sep(bos_eos_encoder):
    """The model framed windows with the pad id, and with no pad id either failed at its first prediction."""
    from transformers import pipeline

    folder, tokenizer = bos_eos_encoder
    model = SimMemREModel.from_encoder(str(folder), ["Chemical"], ["CID"])
    assert (model.config.cls_token_id, model.config.sep_token_id) == (tokenizer.bos_token_id, tokenizer.eos_token_id)
    assert model.config.pad_token_id == 0  # the encoder config's, not the tokenizer's missing one
    document = pipeline("joint-re", model=model.eval(), processor=SimMemREProcessor(tokenizer))(TEXT, **LOW)
    assert document["text"] == TEXT and document["entities"]


def test_from_encoder_refuses_a_misspelt_setting(minilm_path):
    with pytest.raises(ValueError, match="unknown setting 'mention_threshhold'; did you mean 'mention_threshold'"):
        SimMemREModel.from_encoder(str(minilm_path), ["Chemical"], ["CID"], mention_threshhold=0.5)


@pytest.mark.parametrize(
    "path, error, message",
    [
        ("/no/such/encoder", ValueError, "'/no/such/encoder' is not a folder"),
        (None, TypeError, "encoder_path must be a folder or a Hub model id"),
    ],
)
def test_from_encoder_names_a_bad_encoder_path(path, error, message):
    with pytest.raises(error, match=message):
        SimMemREModel.from_encoder(path, ["Chemical"], ["CID"])


def test_from_encoder_names_overrides_that_are_not_a_dict(minilm_path):
    with pytest.raises(TypeError, match="encoder_config_overrides must be a dict, got list"):
        SimMemREModel.from_encoder(str(minilm_path), ["Chemical"], ["CID"], [("hidden_dropout_prob", 0.0)])


# ---- processor ----


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"truncation": True, "max_length": 4}, TypeError, r"unexpected keyword\(s\) \['max_length', 'truncation'\]"),
        ({"return_tensors": "np"}, ValueError, "returns torch tensors"),
    ],
)
def test_the_processor_refuses_options_it_would_ignore(processor, kwargs, error, message):
    with pytest.raises(error, match=message):
        processor([TEXT], **kwargs)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda p, t, s: (p, None, s), TypeError, "text must be the document's str"),
        (lambda p, t, s: (p, t[:3], s), ValueError, "reach past the text"),
        (lambda p, t, s: (p, t, s[:1]), ValueError, "word_char_spans belong to another document"),
    ],
    ids=["no-text", "other-text", "other-spans"],
)
def test_decode_refuses_inputs_of_another_document(model, processor, batch, change, error, message):
    prediction = model.extract(**batch, **LOW).predictions[0]
    assert len(prediction["mention_word_spans"]) > 0
    arguments = change(prediction, TEXT, batch["word_char_spans"][0])
    with pytest.raises(error, match=message):
        processor.decode(*arguments, model.config.entity_types, model.config.relation_types)


def test_decode_names_the_whole_output_passed_for_one_document(model, processor, batch):
    output = model.extract(**batch, **LOW)
    with pytest.raises(TypeError, match="one document's dict of output.predictions"):
        processor.decode(output, TEXT, batch["word_char_spans"][0], model.config.entity_types, [])


def test_decode_refuses_swapped_type_lists(model, processor, batch):
    prediction = model.extract(**batch, **LOW).predictions[0]
    # Every entity a Disease (type 1): beyond the one label of the relation types, passed in its place.
    prediction = {**prediction, "entity_types": torch.ones_like(prediction["entity_types"])}
    with pytest.raises(ValueError, match="entity_types has 1 label"):
        processor.decode(
            prediction, TEXT, batch["word_char_spans"][0], model.config.relation_types, model.config.entity_types
        )


def test_a_slow_tokenizer_that_reads_a_document_as_unknown_tokens_is_warned_about(minilm_path, caplog):
    """Only the fast path warned; a slow tokenizer turning a text into [UNK]s was silent."""
    import transformers

    slow = getattr(transformers, "BertTokenizerLegacy", None)
    if slow is None:
        pytest.skip("this transformers has no slow BERT tokenizer")
    tokenizer = slow.from_pretrained(minilm_path, do_lower_case=False)  # an uncased vocabulary read cased
    assert not getattr(tokenizer, "is_fast", False)
    with caplog.at_level("WARNING"):
        SimMemREProcessor(tokenizer)(["Aspirin Causes Ulcers."])
    assert "subwords of a document are the tokenizer's unknown token" in caplog.text


# ---- pipeline ----


def test_the_pipeline_refuses_a_dataframe(pipe):
    """Iterating a DataFrame gives its column labels, which ran as texts."""
    pandas = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match=r"got a DataFrame: pass df\['text'\]"):
        pipe(pandas.DataFrame({"id": ["a", "b", "c"], "text": [TEXT] * 3}))


def test_a_batch_of_columns_is_told_apart_from_a_document(pipe):
    """`dataset[:2]` (a dict of columns) was read as one document whose text is a list."""
    with pytest.raises(TypeError, match=r"a batch of columns \(dataset\[:n\]\); pass the dataset"):
        pipe({"id": ["a", "b"], "text": [TEXT, TEXT]})


def test_the_pipeline_reads_a_zero_dimensional_array_as_its_item(pipe):
    assert pipe(np.array(TEXT), **LOW) == pipe(TEXT, **LOW)


@pytest.mark.parametrize("value", [-5, "abc"])
def test_the_pipeline_checks_num_workers(pipe, value):
    with pytest.raises(ValueError, match="num_workers must be a non-negative integer"):
        pipe(TEXT, num_workers=value)


def test_the_pipeline_checks_batch_size_at_construction(model, processor):
    from transformers import pipeline

    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        pipeline("joint-re", model=model, processor=processor, batch_size=0)


def test_the_pipeline_refuses_a_processor_of_another_tokenizer(model, family_tokenizers):
    from transformers import pipeline

    with pytest.raises(ValueError, match="cls_token_id 0, the model 101: it is not the model's tokenizer"):
        pipeline("joint-re", model=model, processor=SimMemREProcessor(family_tokenizers["bpe"]))


# ---- simmemre.train ----


@pytest.mark.parametrize(
    "config, overrides, message",
    [
        (None, (), "config must be a dict or the path"),
        ({}, "--num_train_epochs 3", r"got the string .*shlex.split"),
        ({}, ["--num_train_epochs", 3], r"every override must be a string .* got 3"),
    ],
)
def test_train_names_a_malformed_call(config, overrides, message):
    import simmemre

    with pytest.raises(ValueError, match=message):
        simmemre.train(config, overrides)


def test_a_misspelt_section_in_an_override_is_named():
    from simmemre.experiment_simmemre import check_config_keys

    with pytest.raises(SystemExit, match=r"'modle': did you mean the section 'model' \(--model.KEY\)"):
        check_config_keys({"training": {"modle": {"memory_read_mode": "sum"}}})


def test_the_memory_reads_switch_takes_only_booleans(tokenizer):
    """The setter converted with bool(), so "no" left the reads on."""
    model = SimMemREModel(tiny_config(tokenizer))
    with pytest.raises(ValueError, match="memory_reads_enabled: must be true or false, got 'no'"):
        model.memory_reads_enabled = "no"
    model.memory_reads_enabled = False
    assert model.config.memory_reads_enabled is False


def test_cached_candidate_scores_follow_use_memory(model, batch):
    """The inference cache was keyed on the boundary word lists only: a call with use_memory=False after one with
    the reads on reused the reads-on mention scores."""
    with torch.inference_mode():
        cache = [{}]
        model.extract(**batch, **LOW, inference_cache=cache)  # fills the cache with the reads on
        cached = model.extract(**batch, **LOW, inference_cache=cache, use_memory=False).predictions[0]
        fresh = model.extract(**batch, **LOW, use_memory=False).predictions[0]
    assert torch.equal(cached["mention_scores"], fresh["mention_scores"])


# ---- the training collator ----


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_the_collator_refuses_a_max_span_size_that_is_not_a_positive_integer(processor, value):
    """max_span_size=0 fell back to the config's value without a word (`0 or config.max_span_size`)."""
    from simmemre.training_simmemre import SimMemREDataCollator

    with pytest.raises(ValueError, match="max_span_size must be a positive integer or None"):
        SimMemREDataCollator(processor, tiny_config(processor.tokenizer), max_span_size=value)


def test_the_collator_takes_the_config_max_span_size_by_default(processor):
    from simmemre.training_simmemre import SimMemREDataCollator

    config = tiny_config(processor.tokenizer)
    assert SimMemREDataCollator(processor, config).max_span_size == config.max_span_size
    assert SimMemREDataCollator(processor, config, max_span_size=3).max_span_size == 3


def test_from_pretrained_refuses_label_lists_other_than_the_saved_ones(hub_folder):
    """`from_pretrained(folder, entity_types=[...])` loaded the saved slots under the given names: swapped, they
    relabelled every entity."""
    saved = SimMemREModel.from_pretrained(hub_folder).config.entity_types
    from transformers import AutoModel

    with pytest.raises(ValueError, match=r"entity_types=.* is not the saved"):
        SimMemREModel.from_pretrained(hub_folder, entity_types=saved[::-1])
    with pytest.raises(ValueError, match=r"entity_types=.* is not the saved"):  # AutoModel passes a loaded config
        AutoModel.from_pretrained(hub_folder, entity_types=saved[::-1])
    assert SimMemREModel.from_pretrained(hub_folder, entity_types=list(saved)).config.entity_types == saved


def test_from_pretrained_without_a_location_takes_the_given_config_and_weights(hub_folder):
    """The label check loaded a config from the location, None here, and went to the Hub."""
    model = SimMemREModel.from_pretrained(hub_folder)
    again = SimMemREModel.from_pretrained(None, config=model.config, state_dict=model.state_dict())
    assert again.config.entity_types == model.config.entity_types


@pytest.mark.parametrize(
    "section, key",
    [("model", "attn_implementation"), ("training", "attn_implementation"), ("model", "hidden_dropout_prob")],
)
def test_an_encoder_setting_in_another_section_names_its_override(section, key):
    """--model.attn_implementation was answered "did you mean 'flat_mentions'?"."""
    from simmemre.experiment_simmemre import check_config_keys

    with pytest.raises(SystemExit, match=rf"'{key}' is an encoder config setting: --encoder.config_overrides.{key}"):
        check_config_keys({section: {key: "eager"}})
