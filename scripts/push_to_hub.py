#!/usr/bin/env python
"""Upload a saved SimMemRE model folder (see `simmemre.save_for_hub`) to the Hugging Face Hub.

Creates the model repository if needed and uploads every file of FOLDER in one commit (huggingface_hub
`upload_folder`), so that `pipeline("joint-re", model=REPO_ID, trust_remote_code=True)` and
`AutoModel.from_pretrained(REPO_ID, trust_remote_code=True)` load it. The folder is checked first: config.json with
`auto_map` and the `joint-re` entry of `custom_pipelines`, the four remote-code files, the processor and tokenizer
files,
the weights and README.md must all be there.

The Hub address comes from HF_ENDPOINT (default https://huggingface.co), the token from --token, HF_TOKEN or the
saved login.

Examples:
    python scripts/push_to_hub.py out/simmemre-cdr my-user/simmemre-cdr --private
"""

import argparse
import json
import sys
from pathlib import Path

from simmemre.hub_simmemre import folder_problems  # the check save_for_hub makes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder written by save_for_hub")
    parser.add_argument("repo_id", help="target repository, e.g. my-user/simmemre-cdr")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--revision", help="branch to commit to (default: main)")
    parser.add_argument("--commit-message", default="Upload SimMemRE model")
    parser.add_argument("--no-check", action="store_true", help="skip the completeness check of FOLDER")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise SystemExit(f"not a folder: {folder}")
    if not args.no_check:
        problems = folder_problems(folder)
        if problems:
            raise SystemExit(f"{folder} is not a complete SimMemRE Hub folder: " + "; ".join(problems))

    from huggingface_hub import HfApi  # imported late: HF_ENDPOINT is read at import time

    api = HfApi(token=args.token)
    repo_url = api.create_repo(args.repo_id, private=True if args.private else None, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=args.repo_id,
        repo_type="model",
        revision=args.revision,
        commit_message=args.commit_message,
        ignore_patterns=["__pycache__/*", "*.pyc", ".*"],
    )
    print(json.dumps({"repo_url": str(repo_url), "commit_url": commit.commit_url, "commit": commit.oid}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
