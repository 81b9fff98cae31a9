"""The README works as written: its Python snippets run (on a tiny model standing in for the trained folders), and
every shell command names a script that exists and flags that script accepts."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from simmemre.hub_simmemre import save_for_hub

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def shell_commands():
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(".venv/bin/python scripts/"):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_is_a_short_user_path():
    lines = README.splitlines()
    assert len(lines) <= 200
    first_example = next(index for index, line in enumerate(lines) if line.startswith("```python"))
    assert first_example < 40
    assert " python scripts/" not in README.replace(".venv/bin/python scripts/", "")  # no bare `python scripts/...`


def test_readme_python_snippets_run_on_a_tiny_model(model, processor, tmp_path, monkeypatch):
    folder = tmp_path / "best_model"
    save_for_hub(model, processor, folder)
    encoder = tmp_path / "encoder"
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=processor.tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    ).save_pretrained(encoder)
    processor.tokenizer.save_pretrained(encoder)
    namespace = {}
    for snippet in blocks("python"):
        code = snippet.replace("runs/cdr_minilm_quick/best_model", str(folder)).replace("path/to/encoder", str(encoder))
        # training from Python: the smoke config (tiny encoder, a few documents) for one epoch
        code = code.replace(
            '"scripts/configs/cdr_minilm_quick.yaml", ["--output_dir", "runs/quick"]',
            f'"{REPO / "scripts/configs/smoke.yaml"}", ["--output_dir", "{tmp_path / "run"}", '
            '"--num_train_epochs", "1", "--data.data_dir", "' + str(REPO.parent / "shared/data/bc5cdr") + '"]',
        )
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own snippets
    assert isinstance(namespace["document"], dict) and "entities" in namespace["document"]
    assert namespace["scores"]["documents"] == 1 and "relation_seq2rel_f1" in namespace["scores"]
    assert (tmp_path / "run" / "best_model" / "config.json").is_file() and "test_relation_strict_f1" in namespace[
        "run"
    ]["results"]


@pytest.mark.integration
@pytest.mark.parametrize("command", shell_commands(), ids=lambda command: " ".join(command)[:60])
def test_readme_commands_name_existing_scripts_and_flags(command):
    script = REPO / command[0]
    assert script.is_file(), f"README names {command[0]}, which does not exist"
    flags = [token.split("=")[0] for token in command[1:] if token.startswith("--")]
    if script.name == "train.py":  # a config, then --section.key / training-argument overrides
        from simmemre.experiment_simmemre import valid_config_keys

        valid = valid_config_keys()
        for flag in flags:
            section, _, key = flag[2:].rpartition(".")
            assert key in valid[section or "training"], f"train.py: unknown override {flag}"
        return
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, cwd=REPO
    ).stdout
    for flag in flags:
        assert re.search(rf"{re.escape(flag)}\b", help_text), f"{command[0]} does not accept {flag}"
