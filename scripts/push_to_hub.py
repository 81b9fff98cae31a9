#!/usr/bin/env python
"""Upload a saved SimMemRE model folder (see `simmemre.save_for_hub`) to the Hugging Face Hub.

Creates the model repository if needed and uploads the model's files of FOLDER in one commit (`create_commit`; training
leftovers and symbolic links stay behind; the files of the repository's root that transformers loads, such as weights,
code and configs, are deleted in it where FOLDER lacks them, unless --keep-remote-files), so that `pipeline("joint-re",
model=REPO_ID, trust_remote_code=True)` and `AutoModel.from_pretrained(REPO_ID, trust_remote_code=True)` load it. The
folder is checked first: config.json with `auto_map` and the `joint-re` entry of `custom_pipelines`, the five
remote-code files, the processor and tokenizer files, the weights and README.md must all be there. Pickled weights
(pytorch_model*.bin, which run code when unpickled) stay behind where the folder has model.safetensors; a folder whose
only weights are pickled is refused (load and save it again: save_pretrained writes safetensors) unless
--allow-pickle, which uploads pickled weights as they are. Other pickle files (*.bin, *.pt, *.pth, *.pkl, *.pickle,
*.ckpt, *.joblib at any depth, besides the training leftovers) stay behind with a note unless --allow-pickle. The
uploaded README.md names the repository (in place of a `<your-user>/...` placeholder), and the uploaded config.json of
a folder saved by an older version gets the `token-classification` pipeline entry and loses a local encoder path
(`--dry-run` says what changes).
A REPO_ID without a namespace takes the token's; one that cannot be read is refused.

With --metric, FOLDER is an `evaluate` metric folder (metrics/joint_re_f1): it is checked (the module named as the
folder, a card with the Space front matter, app.py, requirements.txt), the Space REPO_ID (gradio SDK; named after the
module, since `evaluate.load("user/NAME")` downloads NAME.py) is created if needed and those four files are uploaded in
one commit, so that `evaluate.load(REPO_ID)` loads the metric and the Space shows its widget.

The Hub address comes from HF_ENDPOINT (default https://huggingface.co), the token from --token, HF_TOKEN or the
saved login.

Examples:
    python scripts/push_to_hub.py out/simmemre-cdr my-user/simmemre-cdr --private --dry-run
    python scripts/push_to_hub.py out/simmemre-cdr my-user/simmemre-cdr --private
    python scripts/push_to_hub.py --metric metrics/joint_re_f1 my-user/joint_re_f1 --dry-run
"""

import argparse
import json
import sys
from pathlib import Path

MODEL_COMMIT_MESSAGE = "Upload SimMemRE model"
# The repository's files a push deletes where FOLDER lacks them: those at its root that transformers or the package
# load (weights and their indexes, remote code, configs, tokenizer and processor files), since an earlier push's would
# be loaded with or instead of this one's (transformers loads a model.safetensors before a sharded index). Other files
# (a LICENSE, images, folders such as runs/, the Hub's .gitattributes) are the user's and stay.
LOADED_FILE_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.h5",
    "*.msgpack",
    "*.py",
    "*.json",
    "*.model",
    "vocab.txt",
    "merges.txt",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder written by save_for_hub (with --metric: an evaluate metric folder)")
    parser.add_argument(
        "repo_id", help="target repository, e.g. my-user/simmemre-cdr (with --metric: my-user/joint_re_f1)"
    )
    parser.add_argument(
        "--metric",
        action="store_true",
        help="FOLDER is an evaluate metric folder: push it as a Space that evaluate.load(REPO_ID) loads",
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="create the repository as private; refuses to upload to an existing public repository",
    )
    parser.add_argument(
        "--token",
        help="Hub token (default: HF_TOKEN or the saved login, which keep it out of the shell history and `ps`)",
    )
    parser.add_argument("--revision", help="branch to commit to, created from main if missing (default: main)")
    parser.add_argument(
        "--commit-message", help=f"default: {MODEL_COMMIT_MESSAGE!r} (with --metric: 'Upload the NAME metric')"
    )
    parser.add_argument(
        "--keep-remote-files",
        action="store_true",
        help="keep the repository's files that FOLDER lacks (default: the commit deletes those at the root that "
        "transformers loads: weights, code, configs and tokenizer files, so that an earlier push's, e.g. a "
        "model.safetensors beside a sharded upload, are not loaded instead; other files stay)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the completeness check of FOLDER")
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="upload pickled weights (pytorch_model*.bin) and other pickle files (*.bin, *.pt, *.pth, *.pkl, "
        "*.pickle, *.ckpt, *.joblib) too (default: pickled weights are left out beside model.safetensors and a folder "
        "with pickled weights only is refused, other pickle files are left out: unpickling runs code, so the Hub "
        "flags them)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check FOLDER and print what would be uploaded where (files and sizes) without contacting the Hub",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Imported after parsing: the package imports torch, which --help and a usage error do not need.
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(args.repo_id)
    except HFValidationError as err:
        raise SystemExit(f"repo_id {args.repo_id!r}: expected 'name' or 'namespace/name' ({err})") from None
    folder = Path(args.folder)
    if not folder.is_dir():
        raise SystemExit(f"not a folder: {folder}")
    if args.metric:
        return push_metric_space(args, folder)
    from simmemre.hub_simmemre import (
        files_for_upload,
        files_left_out_of_upload,
        folder_problems,
        has_safetensors_weights,
        other_pickle_files,
        pickled_weight_files,
        remote_code_differences,
    )

    pickles = pickled_weight_files(folder)
    only_pickles = bool(pickles) and not has_safetensors_weights(folder)
    if only_pickles and not args.allow_pickle:  # (--no-check too: not a completeness matter)
        raise SystemExit(
            f"{folder} holds pickled weights only ({', '.join(pickles)}), which run code when loaded: convert them "
            f"with `from simmemre import SimMemREModel; SimMemREModel.from_pretrained({str(folder)!r})"
            f".save_pretrained({str(folder)!r})` (save_pretrained writes model.safetensors, uploaded in their place), "
            "or pass --allow-pickle to upload them as they are"
        )
    left_out_because = {
        "pickled weights": (pickles, "the safetensors weights are uploaded; --allow-pickle uploads them too"),
        "pickle files": (
            other_pickle_files(folder),
            "they run code when loaded, and the Hub flags them; --allow-pickle uploads them",
        ),
    }
    for kind, (names, reason) in left_out_because.items():
        if names:
            fate = "uploaded (--allow-pickle)" if args.allow_pickle else f"left out of the upload ({reason})"
            print(f"note: {', '.join(names)}: {kind} {fate}", file=sys.stderr)
    if not args.no_check:
        problems = folder_problems(folder)
        if only_pickles:  # (allowed: the pickled weights stand in for model.safetensors)
            problems = [problem for problem in problems if problem != "missing model.safetensors"]
        if problems:
            # A folder saved by an older version lacks files its code did not import then (segmentation_simmemre.py).
            older = remote_code_differences(folder) and all(problem.startswith("missing ") for problem in problems)
            hint = (
                " (saved by another version? load it with this package and save it again with simmemre.save_for_hub)"
                if older
                else ""
            )
            raise SystemExit(f"{folder} is not a complete SimMemRE Hub folder: " + "; ".join(problems) + hint)
    stale = remote_code_differences(folder)
    if stale:
        print(
            f"warning: {folder}: {', '.join(stale)} {'differs' if len(stale) == 1 else 'differ'} from this package's "
            "(saved by another version, or edited): "
            "the Hub copy will run that code; to ship this version's, load the model and save it again with "
            "simmemre.save_for_hub, passing results, dataset_name and base_model again (the card is rewritten)",
            file=sys.stderr,
        )
    from huggingface_hub import constants  # imported late: HF_ENDPOINT is read at import time

    if args.dry_run:
        plan = {
            "dry_run": True,
            "endpoint": constants.ENDPOINT,
            "repo_id": args.repo_id,
            "private": bool(args.private),
            "revision": args.revision or "main",
            **planned_files(folder, files_for_upload(folder, args.allow_pickle)),
            # training leftovers (checkpoints, logs, optimizer state, metric files), pickled weights beside
            # safetensors, other pickle files (unless --allow-pickle) and symbolic links stay behind
            "left_out": files_left_out_of_upload(folder, args.allow_pickle),
            "card": card_change(folder, args.repo_id if "/" in args.repo_id else f"<token's user>/{args.repo_id}"),
            "config": "; ".join(config_for_upload(folder)[1]) or "as saved",
            "remote_files": "kept"
            if args.keep_remote_files
            else "files at the repository's root not listed here and named "
            f"{' '.join(LOADED_FILE_PATTERNS)} are deleted in the same commit (--keep-remote-files keeps them)",
        }
        print(json.dumps(plan, indent=1))
        return 0
    repo_url, commit, deleted = pushed(_push, args, folder)
    print(
        json.dumps(
            {"repo_url": str(repo_url), "commit_url": commit.commit_url, "commit": commit.oid, "deleted": deleted}
        )
    )
    return 0


def planned_files(folder, names) -> dict:
    """The files part of a --dry-run plan: each file of FOLDER to upload with its size, and their total."""
    files = [{"path": name, "bytes": (folder / name).stat().st_size} for name in names]
    return {"files": files, "total_bytes": sum(item["bytes"] for item in files)}


def pushed(push, args, folder):
    """`push(args, folder)`'s result; offline mode stops first, and a Hub error is one line, not a traceback."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise SystemExit("offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set): unset it to push")
    try:
        return push(args, folder)
    except Exception as err:
        message = _hub_error_message(err, args)
        if message is None:
            raise
        raise SystemExit(message) from None


def push_metric_space(args, folder) -> int:
    """--metric: check the evaluate metric FOLDER, then print the plan (--dry-run) or push it as the Space REPO_ID."""
    if args.no_check or args.revision or args.keep_remote_files or args.allow_pickle:
        raise SystemExit(
            "--metric takes none of --no-check, --revision, --keep-remote-files and --allow-pickle: a Space is "
            "checked and loaded from main, its other files are left as they are, and it has no weights"
        )
    from simmemre.hub_simmemre import metric_module_name, metric_space_files, metric_space_problems

    problems = metric_space_problems(folder)
    if problems:
        raise SystemExit(f"{folder} is not a complete evaluate metric Space: " + "; ".join(problems))
    module = metric_module_name(folder)
    if args.repo_id.split("/")[-1] != module:
        raise SystemExit(
            f"repo_id {args.repo_id!r}: name the Space {module}, after its module, since "
            f'evaluate.load("<user>/NAME") downloads NAME.py (here {module}.py)'
        )
    from huggingface_hub import constants  # imported late: HF_ENDPOINT is read at import time

    if args.dry_run:
        load_id = args.repo_id if "/" in args.repo_id else f"<token's user>/{module}"
        plan = {
            "dry_run": True,
            "endpoint": constants.ENDPOINT,
            "repo_id": args.repo_id,
            "repo_type": "space",
            "space_sdk": "gradio",
            "private": bool(args.private),
            **planned_files(folder, metric_space_files(folder)),
            "load": f'evaluate.load("{load_id}")',
        }
        print(json.dumps(plan, indent=1))
        return 0
    repo_url, repo_id, commit = pushed(_push_metric_space, args, folder)
    result = {"repo_url": str(repo_url), "commit_url": commit.commit_url, "commit": commit.oid}
    print(json.dumps({**result, "load": f'evaluate.load("{repo_id}")'}))
    return 0


def _push_metric_space(args, folder):
    """create_repo (a gradio Space) and one create_commit of the Space's files, as they are in FOLDER."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from simmemre.hub_simmemre import metric_module_name, metric_space_files

    api = HfApi(token=args.token)
    repo_url, repo_id = _create_repo(api, args, repo_type="space", space_sdk="gradio")
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in metric_space_files(folder)
    ]
    message = args.commit_message or f"Upload the {metric_module_name(folder)} metric"
    commit = api.create_commit(repo_id, operations, commit_message=message, repo_type="space")
    return repo_url, repo_id, commit


def _push(args, folder):
    """create_repo (refusing an existing public repository under --private), create_branch, create_commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=args.token)
    repo_url, repo_id = _create_repo(api, args)
    if args.revision and args.revision != "main":
        try:
            api.create_branch(repo_id, branch=args.revision, repo_type="model", exist_ok=True)
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code in (401, 403):
                raise
            raise SystemExit(f"--revision {args.revision}: could not create the branch ({_first_line(err)})") from None
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    from simmemre.hub_simmemre import files_for_upload

    # One commit of the files --dry-run lists; the card's usage snippets get the target repository's id.
    names = files_for_upload(folder, args.allow_pickle)
    operations = []
    for name in names:
        content = card_for(folder, repo_id) if name == "README.md" else str(folder / name)
        if name == "config.json":
            content = config_for_upload(folder)[0] or content
        operations.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=content))
    deleted = [] if args.keep_remote_files else remote_files_not_uploaded(api, repo_id, args.revision, names)
    operations += [CommitOperationDelete(path_in_repo=name) for name in deleted]
    commit = api.create_commit(
        repo_id,
        operations,
        commit_message=args.commit_message or MODEL_COMMIT_MESSAGE,
        repo_type="model",
        revision=args.revision,
    )
    return repo_url, commit, deleted


def remote_files_not_uploaded(api, repo_id, revision, names) -> list:
    """The files of REPO_ID at `revision` that its commit deletes: those at the root, named by
    `LOADED_FILE_PATTERNS`, that an upload of `names` lacks."""
    from fnmatch import fnmatchcase

    remote = api.list_repo_files(repo_id, revision=revision, repo_type="model")
    loaded = [name for name in remote if "/" not in name and any(fnmatchcase(name, p) for p in LOADED_FILE_PATTERNS)]
    return sorted(set(loaded) - set(names))


def _create_repo(api, args, repo_type="model", **space_options):
    """(repo_url, repo_id with its namespace) of REPO_ID, created if missing; an existing public one is refused under
    --private."""
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = args.repo_id  # with its namespace once known: the card's snippets must name a repository that resolves
    try:
        repo_url = api.create_repo(
            args.repo_id, private=True if args.private else None, repo_type=repo_type, **space_options
        )
        repo_id = getattr(repo_url, "repo_id", None) or repo_id
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status not in (401, 402, 403, 409):
            raise
        # 409: it exists; 401/402/403: it may exist and the token only lack the right to create repositories
        try:
            repo_id = args.repo_id if "/" in args.repo_id else f"{api.whoami()['name']}/{args.repo_id}"
            info = api.repo_info(repo_id, repo_type=repo_type)
        except HfHubHTTPError:
            if status == 409 and args.private:
                raise SystemExit(
                    f"{args.repo_id} already exists and its visibility could not be read: not uploading with --private"
                ) from None
            if status != 409:
                raise err from None
            info = None
        repo_url = f"{api.endpoint}/{'' if repo_type == 'model' else 'spaces/'}{repo_id}"
        if args.private and info is not None and not info.private:
            type_argument = "" if repo_type == "model" else f", repo_type={repo_type!r}"
            raise SystemExit(
                f"{args.repo_id} already exists and is public, so --private would not apply: make it private first "
                f"(HfApi().update_repo_settings({args.repo_id!r}, private=True{type_argument}) or the repository's "
                "Settings page on the Hub), or push without --private"
            )
    if "/" not in repo_id:  # the card's snippets (or evaluate.load) would name a repository that does not resolve
        raise SystemExit(
            f"{args.repo_id}: its namespace could not be read from the token (whoami); give NAMESPACE/{args.repo_id}"
        )
    return repo_url, repo_id


def card_change(folder, repo_id) -> str:
    """What the upload changes in FOLDER/README.md, in words (--dry-run)."""
    from simmemre.hub_simmemre import PLACEHOLDER_PATTERN

    card = folder / "README.md"
    if not card.is_file():  # only with --no-check: the completeness check requires a card
        return "none (no README.md)"
    match = PLACEHOLDER_PATTERN.search(card.read_text(encoding="utf-8"))
    return f"{match.group(0)} -> {repo_id}" if match else "as saved"


def config_for_upload(folder) -> tuple:
    """(FOLDER/config.json as uploaded, or None when it goes as saved; what changes, in words): a folder saved before
    them gets the joint-re pipeline under `token-classification` too (the card's pipeline_tag: the Hub's generated
    snippet asks for that task) and loses a local encoder path (a user's home path, published otherwise)."""
    from simmemre.modeling_simmemre import JOINT_RE_PIPELINE, _unpublish_local_encoder_path

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # (only with --no-check) uploaded as it is
        return None, []
    changes = []
    pipelines = config.get("custom_pipelines")
    if isinstance(pipelines, dict) and "joint-re" in pipelines:
        missing = [task for task in JOINT_RE_PIPELINE if task not in pipelines]
        if missing:
            pipelines.update({task: pipelines["joint-re"] for task in missing})
            changes.append(f"adds the joint-re pipeline under {', '.join(missing)} (the card's pipeline_tag)")
    origin = (config.get("encoder_config") or {}).get("_name_or_path")
    _unpublish_local_encoder_path(config)
    if origin and not (config.get("encoder_config") or {}).get("_name_or_path"):
        changes.append("leaves out the local encoder path")
    if not changes:
        return None, []
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(), changes


def card_for(folder, repo_id) -> bytes:
    """FOLDER/README.md with the placeholder repository id of a card saved without one (whatever the folder was
    called then) replaced by `repo_id`, and its title and model-index name by the repository's name."""
    from simmemre.hub_simmemre import card_with_repo_id

    return card_with_repo_id((folder / "README.md").read_text(encoding="utf-8"), repo_id).encode()


def _first_line(err):
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _hub_error_message(err, args):
    """The one-line message for a Hub error of `_push` (None: not a Hub error, let it raise)."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(err, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set): unset it to push"
    if isinstance(err, LocalTokenNotFoundError):
        return "not logged in to the Hub: pass --token or run `hf auth login`"
    if isinstance(err, RevisionNotFoundError):
        return f"--revision {args.revision}: no such branch in {args.repo_id}"
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else None
        first_line = _first_line(err)
        if status == 401:
            return f"not logged in or the token is invalid ({first_line}): pass --token or run `hf auth login`"
        if status == 403:
            return f"no write access to {args.repo_id} ({first_line}): use a token with write access (--token)"
        if isinstance(err, RepositoryNotFoundError):
            return f"repository {args.repo_id} not found or not accessible with this token ({first_line})"
        return f"the Hub refused the upload to {args.repo_id}: {first_line}"
    if isinstance(err, ConnectionError) or type(err).__module__.split(".")[0] in ("httpx", "httpx2", "requests"):
        return f"cannot reach the Hub: {err}"
    return None


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors before the package (and torch) is imported
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
