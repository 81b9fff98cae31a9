"""Bad inputs of scripts/push_to_hub.py end in one-line errors, and `--private` never uploads to an existing public
repository. Run in process against the tests' FakeHub (extended here to answer like the real Hub for an existing repo,
a missing token and branches) on a placeholder folder: nothing here loads a model."""

import json
from pathlib import Path

import pytest
import torch
from helpers import SCRIPTS, FakeHub, exit_message, load_script
from huggingface_hub import constants
from safetensors.torch import save_file

from simmemre.hub_simmemre import REMOTE_CODE_SOURCES, REQUIRED_FILES, VOCABULARY_FILES, folder_problems

push = load_script(SCRIPTS / "push_to_hub.py", "push_to_hub_inputs")
REPO = "me/simmemre"


@pytest.fixture
def folder(tmp_path):
    """A folder that passes `folder_problems` (placeholder contents: the fake Hub stores bytes, loads nothing)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in (*REQUIRED_FILES, VOCABULARY_FILES[0]):
        (folder / name).write_text("placeholder\n")
    (folder / "processor_config.json").write_text(json.dumps({"auto_map": {"AutoProcessor": "p.P"}}))
    save_file({"weight": torch.zeros(1)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps({"custom_pipelines": {"joint-re": {}}, "auto_map": {"AutoConfig": "a", "AutoModel": "b"}})
    )
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# card\n")
    assert folder_problems(folder) == []
    return folder


class Hub(FakeHub):
    """FakeHub plus: 409 on create for the repos in `existing` (public, readable with GET /api/models/{repo}), 401 for
    any token but hf_fake, POST /api/models/{repo}/branch/{name}, and 404 RevisionNotFound on a commit to a branch that
    was not created."""

    def __init__(self, storage, existing=()):
        super().__init__(storage)
        self.existing, self.branches = set(existing), {"main"}
        hub, base = self, self.server.RequestHandlerClass

        class Handler(base):
            def _refused(self):
                if self.headers.get("Authorization") == "Bearer hf_fake":
                    return False
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(401, {"error": "Invalid username or password."})
                return True

            def do_GET(self):
                path = self.path.split("?")[0]
                if path.startswith("/api/models/") and path[len("/api/models/") :] in hub.existing:
                    hub.requests.append(("GET", path))
                    repo = path[len("/api/models/") :]
                    return self._send(200, {"id": repo, "private": False, "sha": "0" * 40})
                return super().do_GET()

            def do_POST(self):
                path = self.path.split("?")[0]
                if self._refused():
                    return None
                parts = path.split("/")
                if path == "/api/repos/create":
                    data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                    repo = f"{data.get('organization') or 'user'}/{data['name']}"
                    if repo in hub.existing:
                        url = f"http://{self.headers['Host']}/{repo}"
                        return self._send(409, {"error": "You already created this model repo", "url": url})
                    hub.repos[repo] = data
                    return self._send(200, {"url": f"http://{self.headers['Host']}/{repo}", "name": repo})
                if len(parts) == 7 and parts[5] == "branch":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    hub.branches.add(parts[6])
                    return self._send(200, {})
                if len(parts) == 7 and parts[5] == "commit" and parts[6] not in hub.branches:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    error = {"error": f"Invalid rev id: {parts[6]}"}
                    return self._send(404, error, [("X-Error-Code", "RevisionNotFound")])
                return super().do_POST()

        self.server.RequestHandlerClass = Handler

    def knows(self, repo) -> bool:
        return repo in self.existing or super().knows(repo)


@pytest.fixture
def hub(tmp_path, monkeypatch, request):
    existing = getattr(request, "param", ())
    with Hub(tmp_path / "storage", existing) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield hub


def fails_with(argv, capsys):
    """The one-line message push_to_hub exits with."""
    return exit_message(push.main, argv, capsys)


@pytest.mark.parametrize("hub", [(REPO,)], indirect=True)
def test_private_refuses_an_existing_public_repository(hub, folder, tmp_path, capsys):
    message = fails_with([str(folder), REPO, "--token", "hf_fake", "--private"], capsys)
    assert "already exists and is public" in message and "update_repo_settings" in message
    assert not (tmp_path / "storage" / "me" / "simmemre").exists()  # nothing uploaded
    assert not any("/commit/" in path for _, path in hub.requests)


@pytest.mark.parametrize("hub", [(REPO,)], indirect=True)
def test_existing_repository_without_private_is_uploaded(hub, folder, tmp_path, capsys):
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    assert (tmp_path / "storage" / "me" / "simmemre" / "config.json").is_file()


@pytest.mark.parametrize("repo_id", ["bad repo id!!", "a/b/c"])
def test_invalid_repo_id(repo_id, folder, capsys):
    message = fails_with([str(folder), repo_id, "--token", "hf_fake"], capsys)
    assert message.startswith(f"repo_id {repo_id!r}")


def test_invalid_token(hub, folder, capsys):
    message = fails_with([str(folder), REPO, "--token", "hf_wrong"], capsys)
    assert "--token" in message and "hf auth login" in message


def test_revision_creates_the_branch(hub, folder, tmp_path, capsys):
    assert push.main([str(folder), REPO, "--token", "hf_fake", "--revision", "dev"]) == 0
    assert "dev" in hub.branches and (tmp_path / "storage" / "me" / "simmemre" / "config.json").is_file()


def test_revision_not_found_is_one_line(hub, folder, monkeypatch, capsys):
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "create_branch", lambda *args, **kwargs: None)  # the branch is still missing
    message = fails_with([str(folder), REPO, "--token", "hf_fake", "--revision", "dev"], capsys)
    assert message.startswith("--revision dev: no such branch")


def test_offline_mode(folder, monkeypatch, capsys):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    message = fails_with([str(folder), REPO, "--token", "hf_fake"], capsys)
    assert "HF_HUB_OFFLINE" in message and "unset" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{not json", "config.json: not valid JSON"), ("[1, 2]", "config.json: expected a JSON object")],
)
def test_broken_config_json(text, expected, folder, capsys):
    (folder / "config.json").write_text(text)
    message = fails_with([str(folder), REPO, "--token", "hf_fake"], capsys)
    assert expected in message


@pytest.mark.parametrize("name", ["processing_simmemre.py", "segmentation_simmemre.py"])
def test_missing_remote_code_is_named(name, folder, capsys):
    (folder / name).unlink()
    assert f"missing {name}" in fails_with([str(folder), REPO, "--token", "hf_fake"], capsys)


def test_a_folder_of_an_older_version_missing_a_file_is_told_how_to_complete_it(folder, capsys):
    """Folders saved before segmentation_simmemre.py existed load and predict with their own code, but the refusal
    did not say how to make them complete."""
    (folder / "segmentation_simmemre.py").unlink()
    with open(folder / "processing_simmemre.py", "a", encoding="utf-8") as code:
        code.write("\n# an older version\n")
    message = fails_with([str(folder), REPO, "--token", "hf_fake"], capsys)
    assert message.endswith(
        "(saved by another version? load it with this package and save it again with simmemre.save_for_hub)"
    )


def test_dry_run_lists_what_upload_folder_would_send_and_contacts_no_hub(folder, monkeypatch, capsys):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # any Hub request would fail
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "modeling_simmemre.cpython-311.pyc").write_bytes(b"\0")
    (folder / ".DS_Store").write_bytes(b"\0")
    assert push.main([str(folder), REPO, "--private", "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] and plan["repo_id"] == REPO and plan["private"] and plan["revision"] == "main"
    names = [item["path"] for item in plan["files"]]
    assert "config.json" in names and "model.safetensors" in names
    assert not any(name.startswith((".", "__pycache__")) for name in names)
    assert plan["total_bytes"] == sum((folder / name).stat().st_size for name in names)


def test_training_leftovers_and_symbolic_links_stay_behind(folder, tmp_path, capsys):
    """A folder used as a run's output_dir uploaded its checkpoints, logs and optimizer state, and a symbolic link
    uploaded what it points to, outside the folder too."""
    for name in (
        "checkpoint-10/optimizer.pt",
        "runs/Dec01/events.out.tfevents.1",
        "training_args.bin",
        "eval_results.json",
    ):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\0")
    (tmp_path / "secret.txt").write_text("outside the folder\n")
    (folder / "notes.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "data").symlink_to(tmp_path, target_is_directory=True)  # a linked folder: listed, not entered
    (folder / "extra.md").write_text("kept: a file of the user's\n")
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    names = [item["path"] for item in plan["files"]]
    assert "extra.md" in names and "config.json" in names
    assert sorted(plan["left_out"]) == [
        "checkpoint-10/optimizer.pt",
        "data (symbolic link)",
        "eval_results.json",
        "notes.txt (symbolic link)",
        "runs/Dec01/events.out.tfevents.1",
        "training_args.bin",
    ]


def test_a_renamed_folder_is_uploaded_with_the_target_repository_in_its_card(hub, folder, tmp_path, capsys):
    """The placeholder named the folder the card was saved in; renamed since, the card kept <your-user>/old-name."""
    card = (folder / "README.md").read_text(encoding="utf-8") + 'pipeline("joint-re", model="<your-user>/best_model")\n'
    (folder / "README.md").write_text(card, encoding="utf-8")
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["card"] == f"<your-user>/best_model -> {REPO}"


def test_a_dry_run_without_the_check_says_that_the_folder_has_no_card(folder, capsys):
    (folder / "README.md").unlink()
    assert push.main([str(folder), REPO, "--dry-run", "--no-check"]) == 0
    assert json.loads(capsys.readouterr().out)["card"] == "none (no README.md)"  # it said "as saved"


def test_remote_code_of_another_version_is_named_before_upload(folder, capsys):
    """A folder saved by an older package (or edited by hand) uploaded its own copy of the code without a word."""
    package = Path(push.__file__).resolve().parents[1]
    for name, source in REMOTE_CODE_SOURCES.items():
        (folder / name).write_bytes((package / source).read_bytes())
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err
    (folder / "modeling_simmemre.py").write_text("# an older version\n")
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert "modeling_simmemre.py differs from this package's" in capsys.readouterr().err


def test_the_uploaded_card_names_the_target_repository(hub, folder, tmp_path, capsys):
    """A card saved without a repo id (every train.py best_model) told Hub readers to load <your-user>/best_model."""
    from simmemre.hub_simmemre import placeholder_repo_id

    card = (folder / "README.md").read_text(encoding="utf-8")
    card += f'\npipeline("joint-re", model="{placeholder_repo_id(folder)}", trust_remote_code=True)\n'
    (folder / "README.md").write_text(card, encoding="utf-8")
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["card"] == f"{placeholder_repo_id(folder)} -> {REPO}"
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    uploaded = (tmp_path / "storage" / "me" / "simmemre" / "README.md").read_text(encoding="utf-8")
    assert f'model="{REPO}"' in uploaded and "<your-user>" not in uploaded
    assert (folder / "README.md").read_text(encoding="utf-8") == card  # the local folder is left as saved


def test_a_repository_named_without_its_namespace_gets_the_full_id_in_its_card(hub, folder, tmp_path, capsys):
    """`push_to_hub.py FOLDER simmemre-cdr` uploaded snippets naming "simmemre-cdr", which resolves to no repository."""
    from simmemre.hub_simmemre import placeholder_repo_id

    card = (folder / "README.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(card + f'\nmodel="{placeholder_repo_id(folder)}"\n', encoding="utf-8")
    assert push.main([str(folder), "simmemre-cdr", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["card"].endswith("-> <token's user>/simmemre-cdr")
    assert push.main([str(folder), "simmemre-cdr", "--token", "hf_fake"]) == 0
    uploaded = (tmp_path / "storage" / "user" / "simmemre-cdr" / "README.md").read_text(encoding="utf-8")
    assert 'model="user/simmemre-cdr"' in uploaded


def test_a_folder_saved_before_the_token_classification_entry_is_uploaded_with_it(hub, folder, tmp_path, capsys):
    """The card (rewritten by calibrate.py, say) promised `pipeline("token-classification", ...)`, which the folder's
    config.json could not do; its local encoder path was published too."""
    config = json.loads((folder / "config.json").read_text())
    config["encoder_config"] = {"_name_or_path": str(tmp_path / "my-encoder"), "model_type": "bert"}
    (folder / "config.json").write_text(json.dumps(config))
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == (
        "adds the joint-re pipeline under token-classification (the card's pipeline_tag); leaves out the local "
        "encoder path"
    )
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    uploaded = json.loads((tmp_path / "storage" / "me" / "simmemre" / "config.json").read_text(encoding="utf-8"))
    assert set(uploaded["custom_pipelines"]) == {"joint-re", "token-classification"}
    assert (
        uploaded["encoder_config"]["_name_or_path"] == "" and json.loads((folder / "config.json").read_text()) == config
    )


@pytest.mark.parametrize("hub", [("user/simmemre-cdr",)], indirect=True)
def test_an_existing_repository_named_without_a_namespace_that_cannot_be_resolved_is_refused(hub, folder, capsys):
    """After a 409 with no answer from whoami, the commit and the card used the bare name."""
    message = fails_with([str(folder), "simmemre-cdr", "--token", "hf_fake"], capsys)
    assert (
        "simmemre-cdr: its namespace could not be read from the token (whoami); give NAMESPACE/simmemre-cdr" in message
    )
    assert not any("/commit/" in path for _, path in hub.requests)


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("model.safetensors", "garbage", "model.safetensors is not a safetensors file"),
        ("processor_config.json", "{}", "processor_config.json has no auto_map for AutoProcessor"),
        (
            "README.md",
            "---\nmodel-index: 3\n---\n# card\n",
            "README.md: metadata the Hub would refuse",
        ),
        ("README.md", "---\nlicense: [unclosed\n---\n# card\n", "README.md: metadata the Hub would refuse"),
    ],
)
def test_a_folder_the_hub_would_refuse_or_not_load_is_refused_before_upload(folder, capsys, name, content, problem):
    """A garbage weights file, a processor config AutoProcessor cannot follow and card metadata the Hub rejects at
    commit all passed the check (only the files' presence was checked) and were uploaded or sent."""
    (folder / name).write_text(content)
    message = fails_with([str(folder), REPO, "--dry-run"], capsys)
    assert "is not a complete SimMemRE Hub folder" in message and problem in message


def _sharded(folder):
    """The folder saved again with its weights in two shards and an index (as save_pretrained shards a large model)."""
    (folder / "model.safetensors").unlink()
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        save_file({"weight": torch.ones(1)}, str(folder / shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))


def test_a_second_push_deletes_the_files_of_the_first_that_the_folder_no_longer_has(hub, folder, tmp_path, capsys):
    """A re-push left the first push's model.safetensors beside the new shards, and transformers loads a
    model.safetensors before an index: the old weights."""
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    capsys.readouterr()
    _sharded(folder)
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["model.safetensors"]
    remote = {path.name for path in (tmp_path / "storage" / "me" / "simmemre").iterdir()}
    assert remote == {path.name for path in folder.iterdir()}


def test_keep_remote_files_keeps_the_files_of_the_first_push(hub, folder, tmp_path, capsys):
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    capsys.readouterr()
    _sharded(folder)
    assert push.main([str(folder), REPO, "--token", "hf_fake", "--keep-remote-files"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == []
    assert (tmp_path / "storage" / "me" / "simmemre" / "model.safetensors").is_file()


def test_files_of_the_repository_that_transformers_does_not_load_are_kept(hub, folder, tmp_path, capsys):
    """The Hub's .gitattributes (its LFS rules) and files a user added (a licence, an image, logs in a folder) are
    not the model's: deleting what the folder lacks must spare them."""
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    remote = tmp_path / "storage" / "me" / "simmemre"
    added = [".gitattributes", "LICENSE", "figure.png", "runs/events.out.tfevents.1", "onnx/model.onnx"]
    for name in added:
        (remote / name).parent.mkdir(parents=True, exist_ok=True)
        (remote / name).write_text("the user's\n")
    (remote / "old_code.py").write_text("an earlier push's\n")
    capsys.readouterr()
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["old_code.py"]
    assert all((remote / name).is_file() for name in added)


def test_a_dry_run_says_that_files_the_folder_lacks_are_deleted(folder, capsys):
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    assert "*.safetensors" in json.loads(capsys.readouterr().out)["remote_files"]
    assert push.main([str(folder), REPO, "--dry-run", "--keep-remote-files"]) == 0
    assert json.loads(capsys.readouterr().out)["remote_files"] == "kept"


def _pickled(folder, only=False):
    """pytorch_model.bin beside the folder's weights (save_pretrained(safe_serialization=False), or an older save), or
    in their place."""
    torch.save({"weight": torch.zeros(1)}, folder / "pytorch_model.bin")
    if only:
        (folder / "model.safetensors").unlink()


def test_pickled_weights_beside_safetensors_stay_behind(hub, folder, tmp_path, capsys):
    """A folder with model.safetensors and pytorch_model.bin uploaded both: a pickle (code run at load, flagged by
    the Hub) that transformers never loads beside the safetensors file."""
    _pickled(folder)
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    plan = json.loads(out)
    assert "pytorch_model.bin" not in [item["path"] for item in plan["files"]]
    assert "pytorch_model.bin (pickled weights: the safetensors weights are uploaded)" in plan["left_out"]
    assert "pytorch_model.bin: pickled weights left out of the upload" in err
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    remote = tmp_path / "storage" / "me" / "simmemre"
    assert (remote / "model.safetensors").is_file() and not (remote / "pytorch_model.bin").exists()


def test_pickled_weights_only_are_refused_with_how_to_convert_them(hub, folder, tmp_path, capsys):
    """A folder whose only weights are pickled was uploaded as it was under --no-check (and refused without it as
    "missing model.safetensors", which did not say how to get one)."""
    _pickled(folder, only=True)
    for extra in ([], ["--no-check"], ["--dry-run", "--no-check"]):
        message = fails_with([str(folder), REPO, "--token", "hf_fake", *extra], capsys)
        assert "holds pickled weights only (pytorch_model.bin)" in message
        assert ".save_pretrained(" in message and "--allow-pickle" in message
    assert not any("/commit/" in path for _, path in hub.requests)


def test_allow_pickle_uploads_pickled_weights(hub, folder, tmp_path, capsys):
    _pickled(folder, only=True)
    assert push.main([str(folder), REPO, "--token", "hf_fake", "--allow-pickle"]) == 0  # no "missing" refusal
    assert "pickled weights uploaded (--allow-pickle)" in capsys.readouterr().err
    remote = tmp_path / "storage" / "me" / "simmemre"
    assert (remote / "pytorch_model.bin").is_file() and not (remote / "model.safetensors").exists()
    _pickled(folder)
    save_file({"weight": torch.zeros(1)}, str(folder / "model.safetensors"))
    assert push.main([str(folder), REPO, "--dry-run", "--allow-pickle"]) == 0  # both, as asked
    names = [item["path"] for item in json.loads(capsys.readouterr().out)["files"]]
    assert "pytorch_model.bin" in names and "model.safetensors" in names


def _other_pickles(folder):
    """A user's pickle files beside the model (a saved head, a pickled object, vectors in a subfolder, an upper-case
    extension) and a training leftover (optimizer.pt, left out already)."""
    import pickle

    torch.save({"head": torch.zeros(1)}, folder / "head.pt")
    (folder / "label_encoder.pkl").write_bytes(pickle.dumps({"Chemical": 0}))
    (folder / "extras").mkdir()
    torch.save({"vectors": torch.zeros(1)}, folder / "extras" / "vectors.bin")
    (folder / "STATE.PTH").write_bytes(pickle.dumps([1]))
    torch.save({}, folder / "optimizer.pt")
    return ["STATE.PTH", "extras/vectors.bin", "head.pt", "label_encoder.pkl"]


def test_other_pickle_files_stay_behind_with_a_note(hub, folder, tmp_path, capsys):
    """They were uploaded (only pytorch_model*.bin and the Trainer's leftovers stayed behind): the Hub flags them,
    and a user of the repository who loads one runs the code it names."""
    pickles = _other_pickles(folder)
    assert push.main([str(folder), REPO, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    plan = json.loads(out)
    assert not set(pickles) & {item["path"] for item in plan["files"]}
    for name in pickles:
        assert f"{name} (pickle: runs code when loaded; --allow-pickle uploads it)" in plan["left_out"]
    assert "optimizer.pt" in plan["left_out"]  # (a training leftover, as before: no pickle note)
    assert f"note: {', '.join(pickles)}: pickle files left out of the upload" in err
    assert push.main([str(folder), REPO, "--token", "hf_fake"]) == 0
    remote = tmp_path / "storage" / "me" / "simmemre"
    assert (remote / "model.safetensors").is_file()
    assert not any((remote / name).exists() for name in pickles)


def test_allow_pickle_uploads_other_pickle_files(hub, folder, tmp_path, capsys):
    pickles = _other_pickles(folder)
    assert push.main([str(folder), REPO, "--token", "hf_fake", "--allow-pickle"]) == 0
    assert f"note: {', '.join(pickles)}: pickle files uploaded (--allow-pickle)" in capsys.readouterr().err
    remote = tmp_path / "storage" / "me" / "simmemre"
    assert all((remote / name).is_file() for name in pickles) and not (remote / "optimizer.pt").exists()


def test_pickled_weights_are_not_named_twice_among_the_other_pickles(folder):
    from simmemre.hub_simmemre import files_left_out_of_upload

    _pickled(folder)
    torch.save({}, folder / "head.pt")
    left_out = files_left_out_of_upload(folder)
    assert [entry for entry in left_out if entry.startswith("pytorch_model.bin")] == [
        "pytorch_model.bin (pickled weights: the safetensors weights are uploaded)"
    ]
    assert "head.pt (pickle: runs code when loaded; --allow-pickle uploads it)" in left_out
