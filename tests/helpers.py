"""Helpers shared by the tests (the fixtures are in conftest.py): the tiny model config, output checks, an interpreter
where the simmemre package cannot be imported, and a fake Hub.

Tiny random models (BERT, hidden 32, 2 layers, 128 positions) with the packaged MiniLM tokenizer. Their scores sit near
0.5, so the default thresholds (0.85) give empty results and `LOW` thresholds give non-empty ones.
"""

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # everything here is local; only the push subprocess talks to the (fake) Hub

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from transformers import BertConfig  # noqa: E402

from simmemre import SimMemREConfig  # noqa: E402
from simmemre.modeling_simmemre import DocumentContext  # noqa: E402


def load_script(path: Path, name=None):
    """A script or benchmark file (not a module of the package) loaded as a module, to test its functions. The
    scripts' folder goes on `sys.path` (last), as a script's own folder is when it runs: they import cli_options."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name or Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
# A gold schema document for the scripts' input tests.
GOLD_DOCUMENT = {
    "id": "g0", "text": "Aspirin causes ulcers.",
    "entities": [
        {"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
        {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}  # fmt: skip
# A DocRED-format document (JEREX's joint split: title, sentences of words, vertexSet, labels).
DOCRED_DOCUMENT = {
    "title": "Paris",
    "sents": [["Paris", "is", "in", "France", "."]],
    "vertexSet": [
        [{"name": "Paris", "sent_id": 0, "pos": [0, 1], "type": "LOC"}],
        [{"name": "France", "sent_id": 0, "pos": [3, 4], "type": "LOC"}],
    ],
    "labels": [{"h": 0, "t": 1, "r": "P17", "evidence": [0]}],
}
BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPT_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
LOW = {"mention_threshold": 0.0, "coref_threshold": 0.5, "relation_threshold": 0.0}
# One small training document (two entities, one relation) for the tests that train a few steps.
TRAIN_DOCUMENT = {
    "id": "t",
    "text": "Aspirin causes ulcers. Ulcers after aspirin are common.",
    "entities": [
        {"type": "Chemical", "mentions": [{"start": 0, "end": 7}, {"start": 36, "end": 43}]},
        {"type": "Disease", "mentions": [{"start": 15, "end": 21}, {"start": 23, "end": 29}]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}
TEXTS = [
    "Aspirin causes ulcers. Ibuprofen induced headache.",
    "",
    "Lidocaine-induced cardiac asystole in two patients.",
    "x",
    "No nausea was seen after naproxen",
]


# ----------------------------------------------------------------------------------------------------
# The tiny model
# ----------------------------------------------------------------------------------------------------


# A tiny random BERT as a train.py config's encoder section (the packaged MiniLM's tokenizer).
TINY_ENCODER = {
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    },
    "tokenizer": "minilm",
}


def exit_message(main, argv, capsys) -> str:
    """The one-line message a script's `main(argv)` exits with; it must print no traceback."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    message = str(exited.value.code)
    assert "\n" not in message and "Traceback" not in capsys.readouterr().err
    return message


def tiny_config(tokenizer, **overrides):
    """The tests' one model config: a random BERT encoder (hidden 32, 2 layers, 128 positions unless
    `max_position_embeddings` is given) with the tokenizer's ids, Chemical/Disease entities and the CID relation.
    Tests push thresholds to 0 to see every candidate span, so the per-word mention cap is off unless overridden."""
    encoder = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=overrides.pop("max_position_embeddings", 128),
    )
    settings = {
        "entity_types": ["Chemical", "Disease"],
        "relation_types": ["CID"],
        "max_mentions_per_word": None,
        "cls_token_id": tokenizer.cls_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": 0,
    }
    return SimMemREConfig(encoder_config=encoder.to_dict(), **{**settings, **overrides})


def entity_texts_with_switch(tokenizer, processor, text: str, switch: str) -> dict:
    """`{False: ..., True: ...}`: the pipeline's entities on `text` (each as its sorted mention strings) from a tiny
    random model with the config switch `switch` off and on, every candidate a mention and no learned coreference
    link, so only the switch's merge can join mentions."""
    from transformers import pipeline

    from simmemre import SimMemREModel

    no_learned_merge = {"mention_threshold": 0.0, "coref_threshold": 1.0, "relation_threshold": 1.0}
    outputs = {}
    for on in (False, True):
        torch.manual_seed(0)
        model = SimMemREModel(tiny_config(tokenizer, **{switch: on})).eval()
        result = pipeline("joint-re", model=model, processor=processor)(text, **no_learned_merge)
        outputs[on] = [sorted({mention["text"] for mention in entity["mentions"]}) for entity in result["entities"]]
    return outputs


# ----------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------
# A fresh interpreter without the package, and a fake Hub
# ----------------------------------------------------------------------------------------------------


def run_isolated(code, cwd, timeout=300, extra_env=None):
    """Run `code` in a fresh interpreter where the simmemre package cannot be imported: isolated mode (-I: no
    PYTHONPATH, no cwd, no user site) and a meta-path finder, first in line, refusing `simmemre` whatever the install
    mode (the editable-install finder comes after it). `SIMMEMRE_IMPORTABLE` tells the code whether that held."""
    boot = (
        "import sys\n"
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
        [sys.executable, "-I", "-c", boot + code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


class FakeHub:
    """A stand-in for the Hugging Face Hub on 127.0.0.1, enough for `create_repo` + `upload_folder`:
    POST /api/repos/create, /api/validate-yaml (parses the README front matter), /api/models/{repo}/preupload/{rev}
    (every file "regular", so no LFS/xet), /api/models/{repo}/commit/{rev} (NDJSON with base64 files, written under
    `storage/{repo}`, and deleted files, removed there) and GET /api/models/{repo}/tree/{rev} (the files under
    `storage/{repo}` of a created repository, one revision for all); anything else answers 404. Use as a context
    manager: the server thread starts and stops with it.
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
                parts = self.path.split("?")[0].split("/")
                repo = "/".join(parts[3:5])
                if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] == "tree" and hub.knows(repo):
                    root = hub.storage / repo
                    files = sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else []
                    listing = [
                        {"type": "file", "path": path.relative_to(root).as_posix(), "size": path.stat().st_size}
                        | {"oid": hashlib.sha1(path.read_bytes()).hexdigest()}
                        for path in files
                    ]
                    return self._send(200, listing)
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
                    return self._send(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                for f in files
                            ]
                        },
                    )
                if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] == "commit":
                    repo, oid = "/".join(parts[3:5]), hashlib.sha1(body).hexdigest()
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            target = hub.storage / repo / item["value"]["path"]
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_bytes(base64.b64decode(item["value"]["content"]))
                        elif item["key"] == "deletedFile":
                            (hub.storage / repo / item["value"]["path"]).unlink()
                        elif item["key"] != "header":
                            return self._send(400, {"error": f"unsupported operation {item['key']}"})
                    return self._send(200, {"commitUrl": f"{base}/{repo}/commit/{oid}", "commitOid": oid})
                return self._send(404, {"error": "unknown endpoint"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def knows(self, repo) -> bool:
        """Whether `repo` exists here (its tree can be listed)."""
        return repo in self.repos

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def document_context(model, batch, doc: int = 0):
    """The `DocumentContext` that `extract` builds for document `doc` of a processor batch (token representations
    computed here), and its word count."""
    words = int(batch["word_mask"][doc].sum())
    with torch.no_grad():
        hidden = model.token_representations(batch["input_ids"], batch["attention_mask"])[doc]
    length = int(batch["attention_mask"][doc].sum())
    context = DocumentContext(
        hidden[:length],
        model.memories,
        model._reads_on(None),
        batch["word_subword_spans"][doc, :words],
        batch["word_sentence_ids"][doc, :words],
        batch["word_char_spans"][doc, :words],
        batch["text_codepoints"][doc],
    )
    return context, words


# Two tiny gold documents (BC5CDR schema) for device and placement tests.
SYNTHETIC_DOCUMENTS = [
    {
        "id": "synthetic-1",
        "text": "Cisplatin caused ovarian and peritoneal cancer. Cisplatin is toxic.",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 9}, {"start": 48, "end": 57}]},
            {"type": "Disease", "mentions": [{"start": 17, "end": 46}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    },
    {
        "id": "synthetic-2",
        "text": "Lidocaine-induced cardiac asystole. Lidocaine was stopped.",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 9}, {"start": 36, "end": 45}]},
            {"type": "Disease", "mentions": [{"start": 18, "end": 34}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    },
]
