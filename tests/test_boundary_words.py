"""Boundary words: the words no training mention begins or ends with (`data_simmemre.boundary_words`), and the
candidate spans that `SimMemREConfig.non_initial_words` / `non_final_words` spare the mention head."""

import pytest
import torch
from helpers import document_context, tiny_config

from simmemre import SimMemREModel
from simmemre.data_simmemre import boundary_words
from simmemre.modeling_simmemre import candidate_spans

TEXT = "The effect of cocaine on the heart. The dose of cocaine in the rats."


def _document(text, mentions):
    """A schema document whose words and sentences come from segmentation, with one entity per mention string."""
    entities = []
    for mention in mentions:
        start = text.index(mention)
        entities.append({"type": "Chemical", "mentions": [{"start": start, "end": start + len(mention)}]})
    return {"id": "d", "text": text, "entities": entities, "relations": []}


def test_frequent_words_that_never_begin_or_end_a_mention_are_listed():
    text = "The dose of the drug. The effect of the drug. The drug of choice."
    lists = boundary_words([_document(text, ["drug of choice", "The dose"])], min_count=2)
    assert "of" in lists["non_initial_words"] and "of" in lists["non_final_words"]  # only ever inside a mention
    assert "the" not in lists["non_initial_words"] and "the" in lists["non_final_words"]  # "The dose" begins with it
    assert "drug" not in lists["non_initial_words"] and "drug" in lists["non_final_words"]
    assert "choice" not in lists["non_final_words"]  # seen once: below min_count


def test_words_below_min_count_are_not_listed():
    document = _document("The dose of the drug. The effect of the drug.", [])
    assert "effect" in boundary_words([document], min_count=1)["non_initial_words"]
    assert boundary_words([document], min_count=5) == {"non_initial_words": [], "non_final_words": []}


def test_a_mention_inside_a_word_counts_the_word_holding_it():
    document = _document("Cocaine-induced seizures. Cocaine-induced seizures.", ["seizures"])
    document["words"] = [{"start": 0, "end": 24}, {"start": 26, "end": 50}]  # whole "Cocaine-induced seizures"
    document["sentences"] = [{"start": 0, "end": 25}, {"start": 26, "end": 51}]
    lists = boundary_words([document], min_count=1)
    assert "cocaine-induced seizures" not in lists["non_initial_words"] + lists["non_final_words"]


@pytest.mark.parametrize("min_count", [0, -1, 2.5, True])
def test_min_count_must_be_a_positive_integer(min_count):
    with pytest.raises(ValueError, match="min_count"):
        boundary_words([], min_count=min_count)


@pytest.mark.parametrize("words", ["the", ["The"], ["of", 3], [""]])
def test_config_names_the_field_of_a_bad_word_list(tokenizer, words):
    with pytest.raises(ValueError, match="non_initial_words"):
        tiny_config(tokenizer, non_initial_words=words)


def _model(tokenizer, **overrides):
    torch.manual_seed(3)
    model = SimMemREModel(tiny_config(tokenizer, **overrides)).eval()
    model.memory_reads_enabled = True
    return model


@pytest.mark.parametrize(
    "overrides",
    [{}, {"memory_read_mode": "residual"}, {"jerex_baseline": True}],
    ids=["read-over-spans", "residual-read", "jerex"],
)
def test_kept_candidates_score_as_without_the_lists(tokenizer, processor, overrides):
    model = _model(tokenizer, **overrides)
    batch = processor(TEXT)
    context, _ = document_context(model, batch)
    everything = model.score_candidates(context)
    model.config.non_initial_words, model.config.non_final_words = ["the", "of", "on", "in"], ["the", "of", "."]
    kept = model.score_candidates(context)
    words = [TEXT[s:e].lower() for s, e in batch["word_char_spans"][0].tolist()]
    expected = [
        [s, e]
        for s, e in candidate_spans(context.word_sentence_ids, model.config.max_span_size).tolist()
        if words[s] not in ("the", "of", "on", "in") and words[e - 1] not in ("the", "of", ".")
    ]
    assert kept.word_spans.tolist() == expected and len(expected) < everything.word_spans.shape[0] / 2
    position = {span: i for i, span in enumerate(map(tuple, everything.word_spans.tolist()))}
    unfiltered = everything.probabilities[[position[tuple(span)] for span in expected]]
    torch.testing.assert_close(kept.probabilities, unfiltered)


def test_a_padded_batch_predicts_each_document_as_alone(tokenizer, processor):
    # A batch pads the shorter document's code points with -1; the lists must read the text before the padding.
    model = _model(tokenizer, non_initial_words=["the", "of"], non_final_words=["the", "."])
    texts = ["The dose of cocaine.", TEXT]
    thresholds = dict(mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.5)
    together = model.predict(processor(texts), **thresholds)
    for text, prediction in zip(texts, together):
        alone = model.predict(processor([text]), **thresholds)[0]
        assert prediction["mention_word_spans"].tolist() == alone["mention_word_spans"].tolist()


def test_given_spans_are_scored_even_when_they_begin_with_a_listed_word(tokenizer, processor):
    model = _model(tokenizer, non_initial_words=["the"])
    batch = processor(TEXT)
    context, _ = document_context(model, batch)
    given = torch.tensor([[0, 3]])  # "The effect of"
    assert [0, 3] not in model.score_candidates(context).word_spans.tolist()
    assert [0, 3] in model.score_candidates(context, extra_spans=given).word_spans.tolist()


def test_cached_candidate_scores_follow_the_lists(tokenizer, processor):
    model = _model(tokenizer)
    batch = processor(TEXT)
    thresholds = dict(mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.5)
    with torch.no_grad():
        hidden = model.token_representations(batch["input_ids"], batch["attention_mask"])
    cache = [{}]
    model.predict(batch, token_representations=hidden, inference_cache=cache, **thresholds)
    model.config.non_initial_words = ["the"]
    cached = model.predict(batch, token_representations=hidden, inference_cache=cache, **thresholds)[0]
    fresh = model.predict(batch, token_representations=hidden, **thresholds)[0]
    assert torch.equal(cached["mention_word_spans"], fresh["mention_word_spans"])
    char_spans = batch["word_char_spans"][0].tolist()
    first_words = [TEXT[slice(*char_spans[start])].lower() for start, _ in cached["mention_word_spans"].tolist()]
    assert first_words and "the" not in first_words


def test_training_derives_the_inference_settings_from_the_train_split(tmp_path, monkeypatch):
    """`data.boundary_word_min_count`, `data.relation_argument_types` and `data.coreference_lexicon` in a training
    config put the train split's boundary words, relation argument types and lexicon into the model config (and so
    into every saved checkpoint)."""
    from helpers import REPO_ROOT

    from simmemre.data_simmemre import coreference_lexicon, relation_argument_types
    from simmemre.experiment_simmemre import build_trainer, load_config, load_splits, parse_overrides

    data = REPO_ROOT.parent / "shared" / "data" / "bc5cdr"
    if not data.is_dir():
        pytest.skip(f"BC5CDR not found at {data}")
    monkeypatch.chdir(REPO_ROOT)
    config = parse_overrides(
        load_config(str(REPO_ROOT / "scripts" / "configs" / "smoke.yaml")),
        ["--output_dir", str(tmp_path / "run"), "--data.boundary_word_min_count", "5"]
        + ["--data.relation_argument_types", "true", "--data.coreference_lexicon", "true"],
    )
    trainer, _, _ = build_trainer(config)
    splits, _ = load_splits(config["data"])
    expected = boundary_words(splits["train"], 5)
    assert expected["non_initial_words"] and expected["non_final_words"]
    assert trainer.model.config.non_initial_words == expected["non_initial_words"]
    assert trainer.model.config.non_final_words == expected["non_final_words"]
    assert trainer.model.config.relation_argument_types == relation_argument_types(splits["train"])
    assert trainer.model.config.relation_argument_types == {"CID": [["Chemical", "Disease"]]}
    assert trainer.model.config.coreference_lexicon == coreference_lexicon(splits["train"])
    assert len(trainer.model.config.coreference_lexicon) > 5
