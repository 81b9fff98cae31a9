"""The `joint_re_f1` metric as an `evaluate` Hub Space: its Space files, the widget's app and data path, loading by
Hub id, and `scripts/push_to_hub.py --metric` against the tests' FakeHub (extended here to answer for Spaces). gradio
is not installed: the widget is checked through evaluate's own helpers, with `launch_gradio_widget` replaced."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import evaluate
import pandas as pd
import pytest
import yaml
from evaluate.utils.gradio import infer_gradio_input_types, parse_gradio_data
from helpers import SCRIPTS, FakeHub, exit_message, load_script
from huggingface_hub import constants

from simmemre.hub_simmemre import METRIC_SPACE_CARD_KEYS, metric_space_files, metric_space_problems
from simmemre.metrics import JOINT_RE_F1
from simmemre.metrics.joint_re_f1.joint_re_f1 import JointReF1

push = load_script(SCRIPTS / "push_to_hub.py", "push_to_hub_metric_space")
SPACE = "me/joint_re_f1"
SPACE_FILES = ["joint_re_f1.py", "README.md", "app.py", "requirements.txt"]
SPACE_FOLDER = Path(JOINT_RE_F1)

TEXT = "Aspirin causes ulcers. Ibuprofen and aspirin cause headache."
GOLD = [
    {
        "id": "d1",
        "text": TEXT,
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 7}, {"start": 37, "end": 44}]},
            {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
            {"type": "Chemical", "mentions": [{"start": 23, "end": 32}]},
            {"type": "Disease", "mentions": [{"start": 51, "end": 59}]},
        ],
        "relations": [
            {"head": 0, "tail": 1, "type": "CID"},
            {"head": 0, "tail": 3, "type": "CID"},
            {"head": 2, "tail": 3, "type": "CID"},
        ],
    },
    {
        "id": "d2",
        "text": "Cisplatin is toxic.",
        "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 9}]}],
        "relations": [],
    },
]
# d1 splits the aspirin cluster (breaking two relations) and misses one; d2 adds a wrong Disease.
PREDICTED = [
    {
        "id": "d1",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 7}], "score": 0.9},
            {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
            {"type": "Chemical", "mentions": [{"start": 23, "end": 32}]},
            {"type": "Disease", "mentions": [{"start": 51, "end": 59}]},
            {"type": "Chemical", "mentions": [{"start": 37, "end": 44}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 2, "tail": 3, "type": "CID"}],
    },
    {
        "id": "d2",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 9}]},
            {"type": "Disease", "mentions": [{"start": 13, "end": 18}]},
        ],
        "relations": [],
    },
]


def card_front_matter():
    card = (SPACE_FOLDER / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(re.match(r"---\n(.*?)\n---\n", card, re.DOTALL).group(1))


def widget_scores(module, rows):
    """What the Space's widget computes for `rows` (each {column: cell text}): evaluate's own input types for the
    module's features and its parsing of the gradio DataFrame, then `compute`."""
    features = module.features[0] if isinstance(module.features, list) else module.features
    input_types = infer_gradio_input_types(list(features.values()))
    return module.compute(**parse_gradio_data(pd.DataFrame(rows, columns=list(features)), input_types))


@pytest.fixture
def space_folder(tmp_path):
    """A copy of the metric folder with what must stay behind beside the Space files (package and cache files)."""
    folder = tmp_path / "joint_re_f1"
    shutil.copytree(SPACE_FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "joint_re_f1.cpython-311.pyc").write_bytes(b"\0")
    return folder


def test_the_metric_folder_holds_the_space_files_and_the_card_the_space_settings():
    """The folder was no Space: no app.py or requirements.txt, and a card without sdk, sdk_version or app_file."""
    assert all((SPACE_FOLDER / name).is_file() for name in SPACE_FILES)
    meta = card_front_matter()
    assert set(METRIC_SPACE_CARD_KEYS) <= set(meta)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["pinned"] is False
    assert str(meta["sdk_version"]).startswith("3.")  # launch_gradio_widget uses gr.inputs (gradio 3.x)
    assert {"evaluate", "metric"} <= set(meta["tags"])
    assert metric_space_problems(SPACE_FOLDER) == []


def test_the_space_requirements_name_evaluate_and_datasets_without_pinning_them():
    lines = [line.split("#")[0].strip() for line in (SPACE_FOLDER / "requirements.txt").read_text().splitlines()]
    requirements = {re.match(r"[A-Za-z0-9_.-]+", line).group(0): line for line in lines if line}
    assert {"evaluate", "datasets"} <= set(requirements)
    assert not any("==" in line for line in requirements.values())


def test_the_space_requirements_keep_a_pyarrow_that_imports_with_gradio_3s_numpy_1():
    """gradio 3.50.2 needs numpy 1; pyarrow 26 imports only with numpy 2, so `import datasets` failed in the Space."""
    lines = [line.split("#")[0].strip() for line in (SPACE_FOLDER / "requirements.txt").read_text().splitlines()]
    assert "pyarrow<26" in lines


def test_the_app_loads_the_metric_from_its_own_folder_offline(tmp_path, monkeypatch):
    """The app must load the module beside it from any working directory. A Space's files sit in a folder called
    "app", so loading the folder (not the module file) would look for app.py there: run it from such a folder."""
    space = tmp_path / "app"
    space.mkdir()
    for name in SPACE_FILES:
        shutil.copy(SPACE_FOLDER / name, space / name)
    launched = []
    monkeypatch.setattr(evaluate.utils, "launch_gradio_widget", launched.append)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("joint_re_f1_space_app", space / "app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    (module,) = launched
    assert type(module).__name__ == "JointReF1" and isinstance(module, evaluate.Metric)
    assert module.compute(predictions=GOLD, references=GOLD)["relation_strict_f1"] == 100.0


def test_the_widget_data_path_gives_the_scores_of_a_direct_compute():
    """Each widget row is one document as JSON text in each column; evaluate parses it for the module's features."""
    module = evaluate.load(str(SPACE_FOLDER / "joint_re_f1.py"))
    rows = [{"predictions": json.dumps(p), "references": json.dumps(g)} for p, g in zip(PREDICTED, GOLD)]
    rows.append({"predictions": "", "references": ""})  # an empty row of the table is skipped
    from_widget = widget_scores(module, rows)
    direct = JointReF1().compute(predictions=PREDICTED, references=GOLD)
    assert from_widget == direct
    assert 0 < direct["relation_strict_f1"] < 100 and direct["documents"] == 2


def test_the_card_example_row_pasted_into_the_widget_scores_as_the_card_says():
    card = (SPACE_FOLDER / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(predictions: .*?)```", card, re.DOTALL).group(1)
    row = dict(line.split(": ", 1) for line in block.strip().splitlines())
    scores = widget_scores(evaluate.load(str(SPACE_FOLDER / "joint_re_f1.py")), [row])
    assert (scores["mention_f1"], scores["coref_f1"], scores["entity_f1"]) == (100.0, 100.0, 100.0)
    assert scores["relation_strict_f1"] == 0.0


def test_evaluate_load_by_hub_id_reads_the_module_of_a_space_as_laid_out_on_the_hub(space_folder, monkeypatch):
    """`evaluate.load("user/joint_re_f1")` downloads joint_re_f1.py from the Space's files; here the Hub's file
    addresses point at a local copy of the pushed files."""
    hub_root = space_folder.parent / "hub"
    target = hub_root / "spaces" / SPACE / "resolve" / "main"
    target.mkdir(parents=True)
    for name in metric_space_files(space_folder):
        shutil.copy(space_folder / name, target / name)
    monkeypatch.setattr(evaluate.config, "HUB_EVALUATE_URL", str(hub_root) + "/spaces/{path}/resolve/{revision}/{name}")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)  # no download count request
    # evaluate falls back on a copy cached by an earlier load when the download fails: that must not pass here
    monkeypatch.setattr(evaluate.loading, "CachedEvaluationModuleFactory", None)
    module = evaluate.load(SPACE, undirected_relation_types=["CID"])
    assert type(module).__name__ == "JointReF1" and module.undirected_relation_types == ["CID"]
    assert module.compute(predictions=PREDICTED, references=GOLD) == JointReF1().compute(
        predictions=PREDICTED, references=GOLD, undirected_relation_types=["CID"]
    )


class SpaceHub(FakeHub):
    """FakeHub plus Spaces: /api/spaces/{repo}/preupload and /commit are answered as the model ones (the files are
    written under `storage/{repo}`), and the paths asked for are recorded in `space_requests`."""

    def __init__(self, storage):
        super().__init__(storage)
        self.space_requests = []
        hub, base = self, self.server.RequestHandlerClass

        class Handler(base):
            def do_POST(self):
                if self.path.startswith("/api/spaces/"):
                    hub.space_requests.append(self.path.split("?")[0])
                    self.path = self.path.replace("/api/spaces/", "/api/models/", 1)
                return super().do_POST()

        self.server.RequestHandlerClass = Handler


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with SpaceHub(tmp_path / "storage") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield hub


def fails_with(argv, capsys):
    """The one-line message push_to_hub exits with."""
    return exit_message(push.main, argv, capsys)


def test_metric_push_uploads_exactly_the_space_files_to_a_gradio_space(hub, space_folder, tmp_path, capsys):
    assert push.main(["--metric", str(space_folder), SPACE, "--token", "hf_fake"]) == 0
    assert hub.repos[SPACE]["type"] == "space" and hub.repos[SPACE]["sdk"] == "gradio"
    assert hub.space_requests == [f"/api/spaces/{SPACE}/preupload/main", f"/api/spaces/{SPACE}/commit/main"]
    uploaded = tmp_path / "storage" / SPACE
    assert sorted(path.name for path in uploaded.rglob("*")) == sorted(SPACE_FILES)
    assert all((uploaded / name).read_bytes() == (space_folder / name).read_bytes() for name in SPACE_FILES)
    assert json.loads(capsys.readouterr().out)["load"] == f'evaluate.load("{SPACE}")'


def test_metric_push_with_private_creates_a_private_space(hub, space_folder, capsys):
    assert push.main(["--metric", str(space_folder), SPACE, "--token", "hf_fake", "--private"]) == 0
    created = hub.repos[SPACE]
    assert created.get("visibility") == "private" or created.get("private") is True  # (huggingface_hub sends either)


def test_metric_dry_run_lists_the_space_files_and_contacts_nothing(hub, space_folder, capsys):
    assert push.main(["--metric", str(space_folder), SPACE, "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert hub.requests == [] and hub.repos == {}
    assert plan["repo_type"] == "space" and plan["repo_id"] == SPACE
    assert [item["path"] for item in plan["files"]] == SPACE_FILES
    assert [item["bytes"] for item in plan["files"]] == [(space_folder / name).stat().st_size for name in SPACE_FILES]


def test_a_metric_folder_without_app_py_is_refused_naming_it(hub, space_folder, capsys):
    (space_folder / "app.py").unlink()
    message = fails_with(["--metric", str(space_folder), SPACE, "--token", "hf_fake"], capsys)
    assert message == f"{space_folder} is not a complete evaluate metric Space: app.py is missing"
    assert hub.requests == []


def test_a_card_without_the_space_settings_is_refused_naming_them(space_folder, capsys):
    card = space_folder / "README.md"
    card.write_text(re.sub(r"(?m)^(sdk|sdk_version|app_file): .*\n", "", card.read_text(encoding="utf-8")))
    message = fails_with(["--metric", str(space_folder), SPACE, "--dry-run"], capsys)
    assert message.endswith("README.md: front matter lacks sdk, sdk_version, app_file")


def test_a_space_named_otherwise_than_its_module_is_refused(space_folder, capsys):
    """evaluate.load("me/f1") would download f1.py, which the Space does not have."""
    message = fails_with(["--metric", str(space_folder), "me/f1", "--dry-run"], capsys)
    assert "name the Space joint_re_f1" in message
