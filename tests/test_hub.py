"""The Hub folder written by `save_for_hub`: its files, the model card, loading its remote code without the package,
and the push round trip through a fake Hub."""

import ast
import copy
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from helpers import LOW, SCRIPTS, TEXTS, FakeHub, assert_same_predictions, run_isolated
from transformers import pipeline

from simmemre.hub_simmemre import REQUIRED_FILES, save_for_hub
from simmemre.metrics.joint_re_f1.joint_re_f1 import JointReF1


def test_save_for_hub_writes_a_complete_repository(hub_folder):
    files = {p.name for p in hub_folder.iterdir()}
    assert {
        "config.json",
        "configuration_simmemre.py",
        "modeling_simmemre.py",
        "processing_simmemre.py",
        "segmentation_simmemre.py",
        "pipeline_simmemre.py",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
        "README.md",
    } <= files
    config = json.loads((hub_folder / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_simmemre.SimMemREConfig",
        "AutoModel": "modeling_simmemre.SimMemREModel",
    }
    assert config["custom_pipelines"]["joint-re"]["impl"] == "pipeline_simmemre.JointREPipeline"
    assert config["custom_pipelines"]["joint-re"]["pt"] == ["AutoModel"]
    processor_config = json.loads((hub_folder / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_simmemre.SimMemREProcessor"}
    # the pipeline file is self-contained remote code: standard library, numpy, torch, transformers only
    tree = ast.parse((hub_folder / "pipeline_simmemre.py").read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert all(node.level == 0 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))
    assert imported <= set(sys.stdlib_module_names) | {"numpy", "torch", "transformers"}, imported


def test_the_completeness_check_requires_every_file_the_remote_code_imports(hub_folder):
    """save_for_hub and push_to_hub.py check REQUIRED_FILES: a folder without an imported file would pass and fail
    to load (processing_simmemre.py imports segmentation_simmemre.py)."""
    from transformers.dynamic_module_utils import get_relative_imports

    required = set(REQUIRED_FILES)
    code = [name for name in required if name.endswith(".py")]
    imported = {f"{module}.py" for name in code for module in get_relative_imports(hub_folder / name)}
    assert imported and imported <= required, imported - required


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
    assert "relation_threshold=0.5, relation_types=['CID'])" in card  # a type of this model
    assert "| test (500 documents) | Relation F1 (strict, typed entities) | 40.0 | 43.1 | 41.5 |" in card


def test_model_card_without_results_has_no_model_index(model, processor, tmp_path):
    save_for_hub(model, processor, tmp_path / "plain")
    meta = yaml.safe_load((tmp_path / "plain" / "README.md").read_text().split("---\n")[1])
    assert "model-index" not in meta and "datasets" not in meta and meta["library_name"] == "transformers"


def test_model_card_examples_follow_the_dataset_and_use_the_saved_thresholds(model):
    from simmemre.hub_simmemre import render_model_card

    cdr = render_model_card(model.config, dataset_name="bigbio/bc5cdr")
    other = render_model_card(model.config, dataset_name="re-docred")
    assert "Lidocaine" in cdr and "Lidocaine" not in other and "Lidocaine" not in render_model_card(model.config)
    assert f'"type": "{model.config.entity_types[0]}"' in other  # the output example uses the model's own labels
    for card in (cdr, other):  # the snippet without the pipeline runs at the thresholds the card states
        assert "outputs = model.extract(**inputs)" in card and "extract(**inputs, " not in card
        assert f"Default thresholds: mention {model.config.mention_threshold}," in card
        # the output example is a valid schema document (its relation's tail was an entity it did not have)
        example = json.loads(card.split("```json\n")[1].split("\n```")[0])
        assert JointReF1().compute(predictions=[example], references=[example])["relation_strict_f1"] == 100.0


def test_in_process_use_of_a_saved_folder_needs_the_flag_only_for_the_pipeline(hub_folder):
    """What simmemre's docstring promises after `import simmemre`: the Auto classes load a folder and the pipeline takes
    loaded objects without trust_remote_code; a folder given to pipeline() needs it (its custom_pipelines entry)."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(hub_folder)
    processor = AutoProcessor.from_pretrained(hub_folder)
    assert type(model).__module__ == "simmemre.modeling_simmemre"
    assert isinstance(pipeline("joint-re", model=model, processor=processor)("Aspirin causes ulcers."), dict)
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("joint-re", model=str(hub_folder))


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
outputs = model.extract(**inputs, **low)
by_model = [
    processor.decode(p, t, s, model.config.entity_types, model.config.relation_types)
    for p, t, s in zip(outputs.predictions, plain, inputs["word_char_spans"])
]
modules = [type(pipe).__module__, type(pipe.model).__module__, type(pipe.processor).__module__,
           type(model).__module__, type(processor).__module__]
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "modules": modules, "pipeline": by_pipeline,
                  "model": by_model}}))
"""


@pytest.mark.integration
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
    # Two tasks name the pipeline (below), so a call without a task is told to name one.
    with pytest.raises(RuntimeError, match="Pick one in joint-re, token-classification"):
        pipeline(model=str(hub_folder), trust_remote_code=True)


def test_the_hub_snippet_of_the_card_s_pipeline_tag_runs_the_joint_re_pipeline(hub_folder, pipe):
    """The Hub's "Use this model" snippet for the card's pipeline_tag, pipeline("token-classification", model=repo,
    trust_remote_code=True), failed: AutoModelForTokenClassification does not know SimMemREConfig."""
    assert "pipeline_tag: token-classification" in (hub_folder / "README.md").read_text(encoding="utf-8")
    loaded = pipeline("token-classification", model=str(hub_folder), trust_remote_code=True)
    assert type(loaded).__name__ == "JointREPipeline"
    assert_same_predictions(loaded(TEXTS, **LOW), pipe(TEXTS, **LOW), tolerance=1e-6)


@pytest.mark.integration
def test_push_round_trip_through_a_fake_hub(hub_folder, pipe, tmp_path):
    storage = tmp_path / "hub_storage"
    with FakeHub(storage) as hub:
        env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(
            HF_ENDPOINT=hub.endpoint,
            HF_HOME=str(tmp_path / "hf_home"),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            OMP_NUM_THREADS="1",
        )
        pushed = subprocess.run(
            [
                sys.executable,
                str(SCRIPTS / "push_to_hub.py"),
                str(hub_folder),
                "me/simmemre-tiny",
                "--token",
                "hf_fake",
                "--private",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
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


PIPELINE_CHILD = """
import json
from transformers import pipeline
pipe = pipeline("joint-re", model={folder!r}, trust_remote_code=True)
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "pipeline": pipe({texts!r}, **{low!r})}}))
"""


@pytest.mark.integration
@pytest.mark.parametrize("writer", ["save_pretrained", "trainer_checkpoint"])
def test_any_saved_folder_loads_in_the_pipeline_without_the_package(model, processor, pipe, tmp_path, writer):
    """Model and processor saved with their own save_pretrained, or by the Trainer: the folder registers the task
    and ships the pipeline's code, so a clean interpreter without simmemre runs it."""
    folder = tmp_path / "saved"
    if writer == "save_pretrained":
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    else:
        from transformers import TrainingArguments

        from simmemre.training_simmemre import SimMemRETrainer

        args = TrainingArguments(output_dir=str(tmp_path / "run"), report_to=[], use_cpu=True)
        SimMemRETrainer(model=model, args=args, processing_class=processor).save_model(str(folder))
    child = json.loads(
        run_isolated(PIPELINE_CHILD.format(folder=str(folder), texts=TEXTS, low=LOW), tmp_path)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert child["importable"] is False
    assert_same_predictions(child["pipeline"], pipe(TEXTS, **LOW), tolerance=1e-6)


@pytest.mark.parametrize("save", ["save_for_hub", "save_pretrained"])
def test_saving_leaves_the_in_memory_model_unchanged(model, processor, tmp_path, save):
    config_before, training_before = model.config.to_dict(), model.training
    state_before = {key: value.clone() for key, value in model.state_dict().items()}
    if save == "save_for_hub":
        save_for_hub(model, processor, tmp_path / "hub")
    else:
        model.save_pretrained(tmp_path / "plain")
    assert model.config.to_dict() == config_before and model.training == training_before
    assert all(torch.equal(value, state_before[key]) for key, value in model.state_dict().items())


def test_a_save_stopped_part_way_leaves_the_earlier_folder_as_it_was(model, processor, tmp_path, monkeypatch):
    """save_for_hub wrote in place: stopped between config.json and the weights, the folder held the new config beside
    the old weights (and loaded)."""
    folder = tmp_path / "hub"
    save_for_hub(model, processor, folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(processor), "save_pretrained", stopped)
    changed = copy.deepcopy(model)
    changed.config.mention_threshold = 0.123
    with pytest.raises(KeyboardInterrupt):
        save_for_hub(changed, processor, folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == before
    with pytest.raises(KeyboardInterrupt):  # a new folder is not created empty (a resume read it as saved)
        save_for_hub(changed, processor, tmp_path / "new")
    assert [path.name for path in tmp_path.iterdir()] == ["hub"]  # and no staging folder is left beside them


def test_a_new_folder_gets_the_processs_umask(model, processor, tmp_path):
    """The staging folder is private (mkdtemp); renamed into place it kept 0o700 (then a fixed 0o755)."""
    import os
    import stat

    earlier = os.umask(0o002)
    try:
        save_for_hub(model, processor, tmp_path / "shared")
    finally:
        os.umask(earlier)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o775


def test_saving_replaces_a_link_at_a_file_name_and_keeps_other_files(model, processor, tmp_path):
    """A link planted in the folder at a saved file's name (pipeline_simmemre.py) was written through, onto its
    target; files of other names are the user's and stay."""
    folder, target = tmp_path / "hub", tmp_path / "elsewhere.py"
    folder.mkdir()
    target.write_text("kept\n")
    (folder / "pipeline_simmemre.py").symlink_to(target)
    (folder / "notes.txt").write_text("mine\n")
    files = save_for_hub(model, processor, folder)
    assert target.read_text() == "kept\n" and not (folder / "pipeline_simmemre.py").is_symlink()
    assert "notes.txt" in files and (folder / "notes.txt").read_text() == "mine\n"


RESAVE_CHILD = """
import json
from transformers import AutoModel, AutoProcessor, pipeline
model = AutoModel.from_pretrained({folder!r}, trust_remote_code=True)
processor = AutoProcessor.from_pretrained({folder!r}, trust_remote_code=True)
model.save_pretrained({resaved!r})
processor.save_pretrained({resaved!r})
pipe = pipeline("joint-re", model={resaved!r}, trust_remote_code=True)
print(json.dumps({{"importable": SIMMEMRE_IMPORTABLE, "pipeline": pipe({texts!r}, **{low!r})}}))
"""


@pytest.mark.integration
def test_a_model_loaded_through_remote_code_saves_again_with_its_pipeline(hub_folder, pipe, tmp_path):
    """transformers caches each remote code file in its own folder, so the pipeline's code is not beside the loaded
    model's: save_pretrained fetches it from the folder the model came from."""
    resaved = tmp_path / "resaved"
    code = RESAVE_CHILD.format(folder=str(hub_folder), resaved=str(resaved), texts=TEXTS, low=LOW)
    child = json.loads(run_isolated(code, tmp_path).stdout.strip().splitlines()[-1])
    assert child["importable"] is False
    assert (resaved / "pipeline_simmemre.py").is_file()
    assert_same_predictions(child["pipeline"], pipe(TEXTS, **LOW), tolerance=1e-6)


def test_a_folder_never_advertises_a_pipeline_whose_code_it_lacks(model, tmp_path, monkeypatch):
    from simmemre import modeling_simmemre

    monkeypatch.setattr(modeling_simmemre, "_pipeline_source_file", lambda: None)
    monkeypatch.setattr(model.config, "_name_or_path", str(tmp_path / "origin-without-the-pipeline"))
    monkeypatch.setattr(model.config, "custom_pipelines", dict(modeling_simmemre.JOINT_RE_PIPELINE), raising=False)
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))
    assert "joint-re" not in saved.get("custom_pipelines", {})
    assert not (tmp_path / "saved" / "pipeline_simmemre.py").exists()


def test_model_card_names_a_local_encoder_without_publishing_its_path(model, tmp_path):
    """A local encoder path went into base_model and the link https://huggingface.co//tmp/.../enc_roberta."""
    from simmemre.hub_simmemre import render_model_card

    (tmp_path / "enc_roberta").mkdir()
    for local in (str(tmp_path / "enc_roberta"), "/gone/enc_roberta"):
        card = render_model_card(model.config, base_model=local)
        assert "base_model" not in yaml.safe_load(card.split("---\n")[1])
        assert "huggingface.co/" not in card.split("## ")[0] and local not in card
        assert "initialised from a local encoder (`enc_roberta`)" in card
    card = render_model_card(model.config, base_model="FacebookAI/roberta-base")
    assert yaml.safe_load(card.split("---\n")[1])["base_model"] == "FacebookAI/roberta-base"
    assert "[`FacebookAI/roberta-base`](https://huggingface.co/FacebookAI/roberta-base)" in card


def test_a_model_loaded_at_a_revision_saves_the_pipeline_of_its_code_commit(monkeypatch, tmp_path):
    """Re-saving a model loaded with revision="v2" wrote v2's modeling code beside main's pipeline_simmemre.py: the
    pipeline file was fetched without a revision. Remote code is cached under transformers_modules/<repo>/<commit>/,
    and that commit is the one asked for."""
    import transformers.utils

    from simmemre import modeling_simmemre

    asked = {}

    def fake_cached_file(repo, filename, **kwargs):
        asked.update(repo=repo, filename=filename, revision=kwargs.get("revision"))
        return None

    monkeypatch.setattr(transformers.utils, "cached_file", fake_cached_file)
    commit = "c53ebb25aedd36cd62022c9486c30e0a5888bef9"
    monkeypatch.setattr(modeling_simmemre, "_code_commit", lambda: commit)
    saved = {"custom_pipelines": {"joint-re": {}}}
    assert modeling_simmemre._pipeline_source_from_origin("me/tiny", saved, tmp_path) is None
    assert asked == {
        "repo": "me/tiny",
        "filename": "pipeline_simmemre.py",
        "revision": "c5" + "3ebb25aedd36cd62022c9486c30e0a5888bef9",
    }
    assert "joint-re" not in saved["custom_pipelines"]  # not found at that commit: not advertised


def test_loading_a_folder_saved_by_another_version_says_so_once(hub_folder, tmp_path, caplog):
    """With the package imported, its code runs on any folder (the Auto classes are registered): a folder saved by
    another version predicted with this one's code, and a newer version's settings were dropped, without a word."""
    import logging
    import shutil

    from simmemre import SimMemREModel

    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(hub_folder, same)
    shutil.copytree(hub_folder, other)
    with open(other / "modeling_simmemre.py", "a", encoding="utf-8") as code:
        code.write("\n# another version\n")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "future_inference_switch": True}))
    with caplog.at_level(logging.WARNING):
        SimMemREModel.from_pretrained(same)
        assert "another version" not in caplog.text and "does not know" not in caplog.text
        SimMemREModel.from_pretrained(other)
        SimMemREModel.from_pretrained(other)
    assert caplog.text.count(f"{other} was saved by another version of SimMemRE") == 1
    assert f"{other}: config.json has settings this version of SimMemRE does not know" in caplog.text
    assert "future_inference_switch" in caplog.text


@pytest.mark.parametrize("name", ["segmentation_simmemre.py", "pipeline_simmemre.py", "configuration_simmemre.py"])
def test_a_folder_whose_other_code_file_differs_is_named_as_another_version(hub_folder, tmp_path, caplog, name):
    """Only modeling_simmemre.py was compared: a folder saved before a change to the sentence splitter alone loaded
    without a word and split (and scored) a text otherwise than its own code."""
    import logging
    import shutil

    from simmemre import SimMemREModel

    folder = tmp_path / "other"
    shutil.copytree(hub_folder, folder)
    with open(folder / name, "a", encoding="utf-8") as code:
        code.write("\n# another version\n")
    with caplog.at_level(logging.WARNING):
        SimMemREModel.from_pretrained(folder)
    assert f"{folder} was saved by another version of SimMemRE: its {name} is not the code running now" in caplog.text


def test_a_folder_whose_code_has_windows_line_ends_is_the_same_version(hub_folder, tmp_path, caplog):
    """A checkout by Git for Windows (or a folder saved there) holds the code with \r\n line ends: every folder read as
    saved by another version, and push_to_hub called its code stale."""
    import logging
    import shutil

    from simmemre import SimMemREModel
    from simmemre.hub_simmemre import remote_code_differences

    folder = tmp_path / "windows"
    shutil.copytree(hub_folder, folder)
    for code in folder.glob("*.py"):
        code.write_bytes(code.read_bytes().replace(b"\n", b"\r\n"))
    with caplog.at_level(logging.WARNING):
        SimMemREModel.from_pretrained(folder)
    assert "another version" not in caplog.text
    assert remote_code_differences(folder) == []


def test_a_scripts_own_code_warning_leaves_the_unknown_settings_warning(hub_folder, tmp_path, caplog, capsys):
    """The scripts name a folder of other code themselves; that also silenced the model's unknown-settings warning."""
    import logging
    import shutil

    from simmemre import SimMemREModel
    from simmemre.experiment_simmemre import warn_if_saved_by_other_code

    folder = tmp_path / "newer"
    shutil.copytree(hub_folder, folder)
    with open(folder / "modeling_simmemre.py", "a", encoding="utf-8") as code:
        code.write("\n# another version\n")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "future_inference_switch": True}))
    warn_if_saved_by_other_code(folder)
    assert "differs from this package's" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING):
        SimMemREModel.from_pretrained(folder)
    assert "was saved by another version" not in caplog.text and "future_inference_switch" in caplog.text


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_folder_with_non_finite_weights_is_refused_when_loaded(model, processor, tmp_path, value):
    """A diverged run's NaN weights loaded without a word, and every document came back empty (NaN fails every
    threshold), through the pipeline and predict.py alike."""
    from simmemre import SimMemREModel

    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.relation_classification.similarity.weight[0, 0] = value
    folder = tmp_path / "diverged"
    save_for_hub(broken, processor, folder)
    message = f"{folder}: 1 weight tensor\\(s\\) hold NaN or infinite values \\(relation_classification.similarity"
    with pytest.raises(ValueError, match=message):
        SimMemREModel.from_pretrained(folder)
    with pytest.raises(ValueError, match="hold NaN or infinite values"):
        pipeline("joint-re", model=str(folder), trust_remote_code=True)


def test_the_finite_weights_check_passes_over_dtypes_it_cannot_read():
    """isfinite has no float8 kernels: a model with float8 weights could not be loaded at all."""
    from simmemre.modeling_simmemre import check_finite_weights

    module = torch.nn.Module()
    module.register_buffer("scales", torch.ones(3).to(torch.float8_e4m3fn))
    module.register_buffer("counts", torch.ones(3, dtype=torch.long))
    check_finite_weights(module, "folder")
    module.register_buffer("bad", torch.tensor([float("inf")]))
    with pytest.raises(ValueError, match="folder: 1 weight tensor\\(s\\) hold NaN or infinite values \\(bad\\)"):
        check_finite_weights(module, "folder")


def test_a_local_encoder_folder_is_not_named_in_the_saved_config(tmp_path, processor, minilm_path):
    """config.json published the encoder's local path (a user's home folder) as encoder_config._name_or_path."""
    from simmemre import SimMemREModel

    model = SimMemREModel.from_encoder(minilm_path, ["Chemical", "Disease"], ["CID"])
    assert model.config.encoder_config["_name_or_path"] == str(minilm_path)  # kept in memory
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))
    assert saved["encoder_config"]["_name_or_path"] == "" and str(minilm_path) not in json.dumps(saved)


def test_a_hub_encoder_id_stays_in_the_saved_config(tmp_path, model):
    model.config.encoder_config["_name_or_path"] = "sentence-transformers/all-MiniLM-L6-v2"
    try:
        model.save_pretrained(tmp_path / "saved")
    finally:
        model.config.encoder_config["_name_or_path"] = ""
    saved = json.loads((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))
    assert saved["encoder_config"]["_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_save_pretrained_with_push_to_hub_uploads_the_completed_folder(tmp_path, minilm_path, monkeypatch):
    """transformers uploaded inside its own save_pretrained, before the package's save completed the folder: the
    uploaded config.json held the local encoder path and no joint-re pipeline."""
    import types
    from pathlib import Path

    import transformers.utils.hub as transformers_hub
    from transformers import PreTrainedModel

    from simmemre import SimMemREModel

    uploaded = {}

    def upload(self, working_dir, repo_id, files_timestamps, **kwargs):
        uploaded.update(repo_id=repo_id, config=json.loads((Path(working_dir) / "config.json").read_text()))

    monkeypatch.setattr(PreTrainedModel, "_upload_modified_files", upload)
    repository = types.SimpleNamespace(create_repo=lambda repo_id, **kwargs: types.SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(transformers_hub, "hf_api", lambda *args, **kwargs: repository)
    card = types.SimpleNamespace(save=lambda path: Path(path).write_text("card"))
    monkeypatch.setattr(transformers_hub, "create_and_tag_model_card", lambda *args, **kwargs: card)
    model = SimMemREModel.from_encoder(minilm_path, ["Chemical", "Disease"], ["CID"])
    model.save_pretrained(tmp_path / "saved", push_to_hub=True, repo_id="me/simmemre")
    assert uploaded["repo_id"] == "me/simmemre"
    assert uploaded["config"]["encoder_config"]["_name_or_path"] == ""
    assert set(uploaded["config"]["custom_pipelines"]) == {"joint-re", "token-classification"}
    assert (tmp_path / "saved" / "config.json").is_file()
