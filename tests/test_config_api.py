"""SimMemREConfig and the PreTrainedModel surface as a transformers user exercises them: switches and numbers checked
as such, the JEREX shortcut, configs changed after construction, configs saved by older versions, attention
implementation, token embeddings."""

import json
import logging
import math

import numpy as np
import pytest
import torch
from helpers import tiny_config

from simmemre import SimMemREConfig, SimMemREModel
from simmemre.configuration_simmemre import FLAGS


@pytest.mark.parametrize("field", FLAGS)
def test_a_switch_refuses_a_string(tokenizer, field):
    """bool("no") is True: `--model.flat_mentions no` turned flat decoding on."""
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}: must be true or false, got 'no'"):
        tiny_config(tokenizer, **{field: "no"})


def test_a_switch_takes_numpy_bools_and_zero_or_one(tokenizer):
    config = tiny_config(tokenizer, flat_mentions=np.True_, word_form_coreference=0)
    assert config.flat_mentions is True and config.word_form_coreference is False


def test_numpy_scalars_become_python_numbers(tokenizer):
    """A threshold picked from a numpy grid was refused as a float32, and a numpy int could not be saved as JSON."""
    config = tiny_config(tokenizer, mention_threshold=np.float32(0.5), max_span_size=np.int64(8))
    assert type(config.mention_threshold) is float and type(config.max_span_size) is int
    assert json.loads(config.to_json_string())["max_span_size"] == 8


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_mentions_per_word", math.inf),
        ("max_mentions_per_word", math.nan),
        ("relation_loss_weight", math.nan),
        ("mention_threshold", True),
        ("entity_memory_slot_size", True),
        ("initializer_range", -1.0),
        ("mention_string_propagation_min_length", 0),
        ("mention_string_propagation_min_length", "abc"),
    ],
)
def test_non_finite_boolean_and_out_of_range_numbers_are_refused_by_name(tokenizer, field, value):
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}: must be"):
        tiny_config(tokenizer, **{field: value})


def test_type_lists_refuse_a_set(tokenizer):
    """Memory slot k is type k; a set's order changes with the process's hash seed."""
    with pytest.raises(ValueError, match="SimMemREConfig.entity_types: an ordered list, got a set"):
        tiny_config(tokenizer, entity_types={"Chemical", "Disease"})


@pytest.mark.parametrize(
    "given, meant", [("memroy_read_mode", "memory_read_mode"), ("mention_treshold", "mention_threshold")]
)
def test_a_misspelt_keyword_is_refused_with_the_one_meant(tokenizer, given, meant):
    """PretrainedConfig keeps unknown keywords as attributes, so the typo was accepted and changed nothing."""
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{given}'; did you mean '{meant}'"):
        tiny_config(tokenizer, **{given: "mean"})


def test_unknown_keywords_unlike_any_setting_stay_attributes(tokenizer):
    """transformers' own keywords and attributes users add are not typos of a SimMemREConfig setting."""
    config = tiny_config(tokenizer, bos_token_id=0, corpus_note="BC5CDR v2")
    assert (config.bos_token_id, config.corpus_note) == (0, "BC5CDR v2")


def test_a_misspelt_override_at_load_is_refused_and_a_right_one_applied(tokenizer, tmp_path):
    """from_pretrained(folder, mention_treshold=0.3) dropped the override silently and kept the saved threshold."""
    SimMemREModel(tiny_config(tokenizer)).save_pretrained(tmp_path)
    with pytest.raises(TypeError, match="'mention_treshold'; did you mean 'mention_threshold'"):
        SimMemREConfig.from_pretrained(tmp_path, mention_treshold=0.3)
    with pytest.raises(TypeError, match="'memroy_read_mode'; did you mean 'memory_read_mode'"):
        SimMemREModel.from_pretrained(tmp_path, memroy_read_mode="mean")
    assert SimMemREConfig.from_pretrained(tmp_path, mention_threshold=0.3).mention_threshold == 0.3


def test_a_saved_config_with_a_key_like_a_setting_still_loads(tokenizer, tmp_path):
    """The check is for code that builds a config; a folder saved with such a key loads as transformers loads it."""
    SimMemREModel(tiny_config(tokenizer)).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "memroy_read_mode": "mean"}))
    assert SimMemREConfig.from_pretrained(tmp_path).memory_read_mode == "sum"


def test_the_jerex_shortcut_fills_unset_fields(tokenizer):
    config = tiny_config(tokenizer, jerex_baseline=True)
    assert (config.classifier_type, config.use_entity_memory, config.use_relation_memory) == ("mlp", False, False)


def test_the_jerex_shortcut_refuses_a_contradicting_field(tokenizer):
    """It overwrote an explicit classifier_type; set after construction, a reloaded model lost its heads."""
    with pytest.raises(ValueError, match="SimMemREConfig.jerex_baseline: the baseline has classifier_type='mlp'"):
        tiny_config(tokenizer, jerex_baseline=True, classifier_type="similarity")


def test_a_config_changed_after_construction_is_checked_before_saving(tokenizer, tmp_path):
    """A threshold of 85 was saved, and the folder then failed to load even with a corrected override."""
    model = SimMemREModel(tiny_config(tokenizer))
    model.config.update({"mention_threshold": 85})
    with pytest.raises(ValueError, match="SimMemREConfig.mention_threshold: must be a number in"):
        model.save_pretrained(tmp_path)


def test_extract_checks_the_config_thresholds(tokenizer, processor):
    """A config threshold of 85 gave no mentions and no error."""
    model = SimMemREModel(tiny_config(tokenizer)).eval()
    model.config.mention_threshold = 85
    with pytest.raises(ValueError, match="mention_threshold: must be a number in"):
        model.extract(**processor(["Aspirin causes ulcers."]))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_span_size", 0, "max_span_size: must be a positive integer"),  # 0 entities, no error
        ("flat_mentions", "no", "flat_mentions: must be true or false"),  # read as on
        ("coreference_linkage", "Average", "coreference_linkage: must be one of"),  # ran some linkage
    ],
)
def test_extract_checks_a_config_changed_after_loading(tokenizer, processor, field, value, message):
    model = SimMemREModel(tiny_config(tokenizer)).eval()
    setattr(model.config, field, value)
    with pytest.raises(ValueError, match=f"SimMemREConfig.{message}"):
        model.extract(**processor(["Aspirin causes ulcers."]))


@pytest.mark.parametrize("field, value", [("classifier_type", ""), ("memory_read_mode", 0)])
def test_an_empty_choice_is_refused_not_read_as_the_default(tokenizer, field, value):
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}: must be one of"):
        tiny_config(tokenizer, **{field: value})


def test_a_config_saved_before_memory_read_mode_reads_as_its_model_did(tokenizer, tmp_path):
    """Until that field existed, reads took the paper's mean; the later default, "sum", changed their scores."""
    SimMemREModel(tiny_config(tokenizer)).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved.pop("memory_read_mode") == "sum"
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert SimMemREConfig.from_pretrained(tmp_path).memory_read_mode == "mean"
    assert tiny_config(tokenizer).memory_read_mode == "sum"  # a new config


def test_attn_implementation_given_at_load_reaches_the_encoder(tokenizer, tmp_path):
    SimMemREModel(tiny_config(tokenizer)).save_pretrained(tmp_path)
    model = SimMemREModel.from_pretrained(tmp_path, attn_implementation="eager")
    assert model.encoder.config._attn_implementation == "eager"


def test_resized_token_embeddings_save_a_folder_that_loads(tokenizer, tmp_path):
    """Resizing through the encoder left the saved vocabulary size stale: the folder failed with a size mismatch."""
    model = SimMemREModel(tiny_config(tokenizer))
    assert model.get_input_embeddings() is model.encoder.get_input_embeddings()
    size = model.get_input_embeddings().num_embeddings + 3
    model.resize_token_embeddings(size, mean_resizing=False)
    model.save_pretrained(tmp_path)
    reloaded = SimMemREModel.from_pretrained(tmp_path)
    assert reloaded.get_input_embeddings().num_embeddings == size
    torch.testing.assert_close(reloaded.get_input_embeddings().weight, model.get_input_embeddings().weight)


@pytest.mark.parametrize("field", ["cls_token_id", "sep_token_id", "pad_token_id"])
def test_token_ids_outside_the_vocabulary_are_refused(tokenizer, field):
    """They failed at the first prediction with an IndexError from the embedding lookup."""
    with pytest.raises(ValueError, match=f"SimMemREConfig.{field}: must be None or a token id in"):
        tiny_config(tokenizer, **{field: tokenizer.vocab_size})


def test_an_encoder_config_without_a_model_type_is_refused():
    with pytest.raises(ValueError, match="SimMemREConfig.encoder_config: has no 'model_type'"):
        SimMemREConfig(encoder_config={"hidden_size": 32}, entity_types=["Chemical"])


def test_unset_cls_and_sep_ids_are_reported(tokenizer, caplog):
    """Windows were framed with the pad id without a word (mention scores moved by up to 0.16 on a trained model)."""
    config = tiny_config(tokenizer, cls_token_id=None, sep_token_id=None)
    with caplog.at_level(logging.WARNING):
        SimMemREModel(config)
    assert "cls_token_id/sep_token_id are unset" in caplog.text
