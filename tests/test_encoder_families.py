"""Encoder families a user brings: tiny random configs of each build, train a few steps with a falling loss, encode a
document ten times longer than their window, and save and reload with identical outputs.

Position capacity differs by family: RoBERTa-style models (RoBERTa, XLM-RoBERTa, MPNet) number positions from
padding_idx + 1, DistilBERT stores the hidden size as `dim`. Each family gets a tokenizer of its own algorithm
(`family_tokenizers` in conftest.py: WordPiece, byte-level BPE or SentencePiece); tests/test_tokenization.py checks
that the model's subwords are the tokenizer's own.
"""

import pytest
import torch
from helpers import TRAIN_DOCUMENT
from transformers import (
    AlbertConfig,
    AutoTokenizer,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ModernBertConfig,
    MPNetConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor
from simmemre.segmentation_simmemre import segment_text
from simmemre.training_simmemre import SimMemREDataCollator, encode_training_document

SMALL = {"num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
FAMILIES = {
    "bert": lambda vocab: BertConfig(vocab_size=vocab, hidden_size=32, max_position_embeddings=40, **SMALL),
    "roberta": lambda vocab: RobertaConfig(
        vocab_size=vocab, hidden_size=32, max_position_embeddings=42, pad_token_id=1, type_vocab_size=1, **SMALL
    ),
    "xlm-roberta": lambda vocab: XLMRobertaConfig(
        vocab_size=vocab, hidden_size=32, max_position_embeddings=42, pad_token_id=1, type_vocab_size=1, **SMALL
    ),
    "deberta-v2": lambda vocab: DebertaV2Config(vocab_size=vocab, hidden_size=32, max_position_embeddings=40, **SMALL),
    "electra": lambda vocab: ElectraConfig(
        vocab_size=vocab, hidden_size=32, embedding_size=16, max_position_embeddings=40, **SMALL
    ),
    "distilbert": lambda vocab: DistilBertConfig(
        vocab_size=vocab, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=40
    ),
    "albert": lambda vocab: AlbertConfig(
        vocab_size=vocab, hidden_size=32, embedding_size=16, max_position_embeddings=40, **SMALL
    ),
    "modernbert": lambda vocab: ModernBertConfig(
        vocab_size=vocab,
        hidden_size=32,
        max_position_embeddings=40,
        num_hidden_layers=2,  # one global and one local attention layer (one global layer of one fails on 5.5-5.16)
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=0,
        global_attn_every_n_layers=2,
        local_attention=16,
    ),
    "mpnet": lambda vocab: MPNetConfig(
        vocab_size=vocab, hidden_size=32, max_position_embeddings=42, pad_token_id=1, **SMALL
    ),
}
TOKENIZER_KIND = {
    "bert": "wordpiece",
    "electra": "wordpiece",
    "distilbert": "wordpiece",
    "mpnet": "wordpiece",
    "roberta": "bpe",
    "modernbert": "bpe",
    "xlm-roberta": "sentencepiece",
    "deberta-v2": "sentencepiece",
    "albert": "sentencepiece",
}
SENTENCE = "Aspirin causes gastric ulcers in patients treated for chronic pain."


def family_model(name, tokenizer, **overrides):
    encoder = FAMILIES[name](len(tokenizer))
    if getattr(encoder, "pad_token_id", None) is not None:
        # The encoder's padding id is the tokenizer's: RoBERTa-style position ids skip it (XLM-R's 1 was the test
        # SentencePiece tokenizer's <unk>, so its windows were checked against the wrong position count).
        encoder.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    return SimMemREModel(family_config(encoder, tokenizer, **overrides))


def family_config(encoder, tokenizer, **overrides) -> SimMemREConfig:
    """A small SimMemRE config around `encoder` (an encoder config) with `tokenizer`'s special tokens."""
    return SimMemREConfig(
        encoder_config=encoder.to_dict(),
        entity_types=["Chemical", "Disease"],
        relation_types=["CID"],
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        meta_embedding_size=8,
        max_mentions_per_word=None,
        **overrides,
    )


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_windows_fit_the_real_position_capacity(name, family_tokenizers, single_torch_thread):
    tokenizer = family_tokenizers[TOKENIZER_KIND[name]]
    model = family_model(name, tokenizer).eval()
    processor = SimMemREProcessor(tokenizer)
    window = model.config.window_size
    text = " ".join([SENTENCE] * 40)
    batch = processor([text])
    assert batch["input_ids"].shape[1] >= 10 * window  # ten windows and more
    with torch.no_grad():
        output = model.extract(**batch, mention_threshold=0.5, coref_threshold=0.9, relation_threshold=0.9)
    assert len(output.predictions) == 1


THRESHOLDS = {"mention_threshold": 0.3, "coref_threshold": 0.6, "relation_threshold": 0.3}
RELOAD_TEXT = " ".join([SENTENCE] * 6)


@pytest.fixture(scope="module")
def trained_families(family_tokenizers, tmp_path_factory):
    """{family: (losses of 6 training steps, saved folder, the in-memory pipeline's output on RELOAD_TEXT)}; each
    folder is written by the model's and the processor's own save_pretrained."""
    import torch
    from transformers import pipeline

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trained = {}
    for name in sorted(FAMILIES):
        tokenizer = family_tokenizers[TOKENIZER_KIND[name]]
        model = family_model(name, tokenizer)
        processor = SimMemREProcessor(tokenizer)
        row = encode_training_document(TRAIN_DOCUMENT, processor, ["Chemical", "Disease"], ["CID"])
        batch = SimMemREDataCollator(
            processor, model.config, neg_mention_count=10, neg_coref_count=10, neg_relation_count=4, seed=0
        )([row])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        losses = []
        model.train()
        for _ in range(6):
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        folder = tmp_path_factory.mktemp(name) / "model"
        model.eval().save_pretrained(folder)
        processor.save_pretrained(folder)
        output = pipeline("joint-re", model=model, processor=processor)(RELOAD_TEXT, **THRESHOLDS)
        trained[name] = (losses, folder, output)
    torch.set_num_threads(previous_threads)
    return trained


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_trains_with_a_finite_falling_loss(name, trained_families):
    losses, _, _ = trained_families[name]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_reloads_in_the_pipeline_with_identical_outputs_and_exact_offsets(
    name, trained_families, single_torch_thread
):
    from transformers import pipeline

    _, folder, expected = trained_families[name]
    output = pipeline("joint-re", model=str(folder), trust_remote_code=True)(RELOAD_TEXT, **THRESHOLDS)
    assert output == expected and expected["entities"]
    words = segment_text(RELOAD_TEXT)[1]
    starts, ends = {w["start"] for w in words}, {w["end"] for w in words}
    for entity in output["entities"]:
        for mention in entity["mentions"]:
            assert mention["text"] == RELOAD_TEXT[mention["start"] : mention["end"]]
            assert mention["start"] in starts and mention["end"] in ends


FAMILIES_CHILD = """
import json
from transformers import pipeline
outputs = {{}}
for name, folder in {folders!r}.items():
    pipe = pipeline("joint-re", model=folder, trust_remote_code=True)
    assert type(pipe.model).__module__.startswith("transformers_modules."), type(pipe.model).__module__
    outputs[name] = pipe({text!r}, **{thresholds!r})
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "outputs": outputs}}))
"""


@pytest.mark.integration
def test_every_family_reloads_through_remote_code_without_the_package(trained_families, tmp_path):
    import json

    from helpers import assert_same_predictions, run_isolated

    folders = {name: str(folder) for name, (_, folder, _) in trained_families.items()}
    code = FAMILIES_CHILD.format(folders=folders, text=RELOAD_TEXT, thresholds=THRESHOLDS)
    child = json.loads(run_isolated(code, tmp_path).stdout.strip().splitlines()[-1])
    assert child["importable"] is False
    for name, (_, _, expected) in trained_families.items():
        assert_same_predictions([child["outputs"][name]], [expected], tolerance=1e-6)


# ----------------------------------------------------------------------------------------------------
# An encoder that ships its own code (trust_remote_code)
# ----------------------------------------------------------------------------------------------------

REMOTE_CONFIGURATION = """from transformers import BertConfig


class TinyRemoteConfig(BertConfig):
    model_type = "tiny-remote-encoder"
"""
REMOTE_MODELING = """from transformers import BertModel

from .configuration_tiny_remote import TinyRemoteConfig


class TinyRemoteModel(BertModel):
    config_class = TinyRemoteConfig
"""
REMOTE_PIPELINE_CHILD = """
import json
from transformers import pipeline
pipe = pipeline("joint-re", model={folder!r}, trust_remote_code=True)
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "encoder": type(pipe.model.encoder).__name__,
                  "pipeline": pipe({text!r}, mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.3)}}))
"""


@pytest.fixture
def remote_code_encoder(tokenizer, tmp_path):
    """A folder like a Hub encoder with its own code: config.json with `auto_map` and an unregistered model type."""
    import json

    from transformers import BertModel

    folder = tmp_path / "remote-encoder"
    torch.manual_seed(0)
    BertModel(FAMILIES["bert"](tokenizer.vocab_size), add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "configuration_tiny_remote.py").write_text(REMOTE_CONFIGURATION)
    (folder / "modeling_tiny_remote.py").write_text(REMOTE_MODELING)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="tiny-remote-encoder",
        architectures=["TinyRemoteModel"],
        auto_map={
            "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
            "AutoModel": "modeling_tiny_remote.TinyRemoteModel",
        },
    )
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_an_encoder_with_its_own_code_needs_trust_remote_code(remote_code_encoder):
    with pytest.raises(ValueError, match="trust_remote_code"):
        SimMemREModel.from_encoder(str(remote_code_encoder), ["Chemical", "Disease"], ["CID"])


def test_a_saved_encoder_with_its_own_code_runs_only_when_the_load_trusts_it(remote_code_encoder, tmp_path):
    """A saved config's `encoder_trust_remote_code` ran the folder's encoder code on a plain
    `SimMemREModel.from_pretrained(folder)` (or `AutoModel.from_pretrained(folder)` after `import simmemre`): any
    folder could run its own code without `trust_remote_code=True`."""
    from transformers import AutoModel

    model = SimMemREModel.from_encoder(
        str(remote_code_encoder), ["Chemical", "Disease"], ["CID"], trust_remote_code=True, meta_embedding_size=8
    )
    model.save_pretrained(tmp_path / "saved")
    marker = tmp_path / "ran"
    modeling = tmp_path / "saved" / "modeling_tiny_remote.py"
    modeling.write_text(f"open({str(marker)!r}, 'w').close()\n" + modeling.read_text())
    for load in (SimMemREModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(ValueError, match=r"runs its own code .*trust_remote_code=True"):
            load(tmp_path / "saved")
    assert not marker.exists()
    loaded = SimMemREModel.from_pretrained(tmp_path / "saved", trust_remote_code=True)
    assert type(loaded.encoder).__name__ == "TinyRemoteModel" and marker.exists()
    # A model built from a config object the caller made (a Trainer's model_init, AutoModel.from_config) builds
    # what the config says, as before the loading check.
    rebuilt = SimMemREModel(loaded.config)
    assert type(rebuilt.encoder).__name__ == "TinyRemoteModel"


@pytest.mark.integration
def test_an_encoder_with_its_own_code_trains_saves_and_loads_without_the_package(
    remote_code_encoder, tmp_path, single_torch_thread
):
    import json

    from helpers import assert_same_predictions, run_isolated
    from transformers import pipeline

    model = SimMemREModel.from_encoder(
        str(remote_code_encoder),
        ["Chemical", "Disease"],
        ["CID"],
        trust_remote_code=True,
        meta_embedding_size=8,
        max_mentions_per_word=None,
    )
    assert type(model.encoder).__name__ == "TinyRemoteModel" and model.config.encoder_trust_remote_code
    processor = SimMemREProcessor(AutoTokenizer.from_pretrained(remote_code_encoder, trust_remote_code=True))
    row = encode_training_document(TRAIN_DOCUMENT, processor, ["Chemical", "Disease"], ["CID"])
    batch = SimMemREDataCollator(
        processor, model.config, neg_mention_count=10, neg_coref_count=10, neg_relation_count=4, seed=0
    )([row])
    model(**batch).loss.backward()  # a training step runs through the encoder's own code
    model.eval().save_pretrained(tmp_path / "saved")
    processor.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "modeling_tiny_remote.py").is_file()
    text = " ".join([SENTENCE] * 6)
    expected = pipeline("joint-re", model=model, processor=processor)(
        text, mention_threshold=0.3, coref_threshold=0.6, relation_threshold=0.3
    )
    child = json.loads(
        run_isolated(REMOTE_PIPELINE_CHILD.format(folder=str(tmp_path / "saved"), text=text), tmp_path)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert expected["entities"]  # something to compare
    assert child["importable"] is False and child["encoder"] == "TinyRemoteModel"
    assert_same_predictions([child["pipeline"]], [expected], tolerance=1e-6)


@pytest.mark.parametrize("export", ["T5Model", "T5EncoderModel"])
def test_a_t5_checkpoint_gives_its_encoder_stack(export, family_tokenizers, tmp_path, single_torch_thread):
    """AutoModel built the full encoder-decoder T5Model (also from an encoder-only export), whose decoder failed the
    first forward with "You must specify exactly one of input_ids or inputs_embeds"."""
    import transformers
    from transformers import T5Config

    tokenizer = family_tokenizers["sentencepiece"]
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2)
    getattr(transformers, export)(config).save_pretrained(tmp_path / "t5")
    tokenizer.save_pretrained(tmp_path / "t5")
    model = SimMemREModel.from_encoder(tmp_path / "t5", ["Chemical", "Disease"], ["CID"]).eval()
    assert type(model.encoder).__name__ == "T5EncoderModel"
    batch = SimMemREProcessor(tokenizer)([SENTENCE])
    with torch.no_grad():
        before = model.extract(**batch, mention_threshold=0.0, coref_threshold=0.9, relation_threshold=0.9)
        model.save_pretrained(tmp_path / "saved")
        reloaded = SimMemREModel.from_pretrained(tmp_path / "saved").eval()
        after = reloaded.extract(**batch, mention_threshold=0.0, coref_threshold=0.9, relation_threshold=0.9)
    assert type(reloaded.encoder).__name__ == "T5EncoderModel"
    spans = before.predictions[0]["mention_word_spans"]
    assert len(spans) > 0 and torch.equal(spans, after.predictions[0]["mention_word_spans"])


def test_an_encoder_that_pools_the_sequence_is_named(tokenizer, tmp_path, single_torch_thread):
    """A Funnel "base" checkpoint returns fewer states than tokens: index_add_() failed deep inside torch."""
    from transformers import FunnelBaseModel, FunnelConfig

    config = FunnelConfig(
        vocab_size=tokenizer.vocab_size, d_model=32, n_head=2, d_head=16, d_inner=64, block_sizes=[1, 1]
    )
    torch.manual_seed(0)
    FunnelBaseModel(config).save_pretrained(tmp_path / "funnel-base")
    tokenizer.save_pretrained(tmp_path / "funnel-base")
    model = SimMemREModel.from_encoder(tmp_path / "funnel-base", ["Chemical"], ["CID"]).eval()
    batch = SimMemREProcessor(tokenizer)([SENTENCE])
    with pytest.raises(ValueError, match=r"returned \d+ hidden states for \d+ input tokens: it pools the sequence"):
        model.extract(**batch)


def test_an_override_that_changes_a_weight_shape_is_named(tokenizer, tmp_path):
    """encoder_config_overrides={"vocab_size": ...} failed inside load_state_dict with torch's "size mismatch"."""
    from transformers import BertModel

    BertModel(FAMILIES["bert"](tokenizer.vocab_size), add_pooling_layer=False).save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    overrides = {"vocab_size": tokenizer.vocab_size + 8}
    with pytest.raises(ValueError, match=r"change the shape of .* for shorter encoder windows set encoder_window_size"):
        SimMemREModel.from_encoder(tmp_path / "bert", ["Chemical"], ["CID"], encoder_config_overrides=overrides)


def test_an_encoder_that_lets_padding_through_scores_a_document_alone_or_in_a_batch(tokenizer, single_torch_thread):
    """FNet mixes every position, padding included: with windows batched (16 per call), a short document beside a
    longer one got other mention scores (up to 0.05 apart) than alone. Such encoders get one window per call."""
    from transformers import FNetConfig

    encoder = FNetConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, intermediate_size=64)
    config = family_config(encoder, tokenizer)
    assert config.encoder_batch_windows == 1
    torch.manual_seed(0)
    model = SimMemREModel(config).eval()
    processor = SimMemREProcessor(tokenizer)
    longer = SENTENCE + " Naloxone reverses the antihypertensive effect of clonidine in rats with high blood pressure."
    alone = model.extract(**processor([SENTENCE]), mention_threshold=0.0)
    beside = model.extract(**processor([SENTENCE, longer]), mention_threshold=0.0)
    scores_alone = alone.predictions[0]["mention_scores"]
    assert len(scores_alone) > 0
    torch.testing.assert_close(beside.predictions[0]["mention_scores"], scores_alone, rtol=0, atol=1e-6)


def test_encoders_that_ignore_padding_keep_sixteen_windows_per_call_and_a_given_count_stays():
    bert = BertConfig(vocab_size=50, hidden_size=32, **SMALL).to_dict()
    assert SimMemREConfig(encoder_config=bert, entity_types=["A"], relation_types=["R"]).encoder_batch_windows == 16
    fnet = {"model_type": "fnet", "hidden_size": 32}
    given = SimMemREConfig(encoder_config=fnet, entity_types=["A"], relation_types=["R"], encoder_batch_windows=4)
    assert given.encoder_batch_windows == 4
