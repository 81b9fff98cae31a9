"""The scripts answer `--help` and usage errors before importing torch: importing the package (which imports torch and
transformers to register the Auto classes) took 7-8 s of each `--help`. The scripts take their options from
cli_simmemre, loaded without the package (scripts/cli_options.py)."""

import subprocess
import sys

import pytest
from helpers import SCRIPT_ENV, SCRIPTS

from simmemre import cli_simmemre
from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

# Runs SCRIPT ARGS as `python SCRIPT ARGS` does, then prints whether torch was imported (its last line).
RUN_AND_REPORT = """
import os, runpy, sys
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(sys.argv[0])  # (as `python SCRIPT` sets it)
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    print("exit status:", stop.code if isinstance(stop.code, int) else 1)
print("torch imported:", "torch" in sys.modules)
"""

# How each script's help begins (train.py prints its docstring; the others are argparse's).
HELP_STARTS = {
    "train": "Train SimMemRE (or the JEREX baseline) with the Hugging Face Trainer.",
    "score": "usage: score.py",
    "predict": "usage: predict.py",
    "calibrate": "usage: calibrate.py",
    "convert_dataset": "usage: convert_dataset.py",
    "results": "usage: results.py",
    "predict_ray": "usage: predict_ray.py",
    "push_to_hub": "usage: push_to_hub.py",
}

# A usage error of each script (a missing argument) and what it says.
USAGE_ERRORS = {
    "train": (["--config", "x.yaml"], "the config file comes first, not --config"),
    "score": (["--data", "gold.jsonl"], "one of the arguments --model --from-predictions is required"),
    "predict": (["notes.txt"], "--model is required"),
    "calibrate": (["--data-dir", "d", "--format", "bc5cdr"], "the model folder is required: MODEL or --model MODEL"),
    "convert_dataset": (["--format", "bc5cdr"], "the following arguments are required: --input, --output"),
    "results": (["table"], "the following arguments are required: --dataset"),
    "predict_ray": (["--model", "m", "corpus.jsonl"], "the following arguments are required: --output/-o"),
    "push_to_hub": (["folder"], "the following arguments are required: repo_id"),
}


def run(script: str, args: list) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", RUN_AND_REPORT, str(SCRIPTS / f"{script}.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=SCRIPT_ENV)


@pytest.mark.parametrize("script", sorted(HELP_STARTS))
def test_help_is_printed_without_importing_torch(script):
    completed = run(script, ["--help"])
    assert completed.stdout.startswith(HELP_STARTS[script]), completed.stderr
    assert completed.stdout.splitlines()[-2:] == ["exit status: 0", "torch imported: False"]


@pytest.mark.parametrize("script", sorted(USAGE_ERRORS))
def test_a_usage_error_is_reported_without_importing_torch(script):
    args, message = USAGE_ERRORS[script]
    completed = run(script, args)
    assert message in completed.stderr
    assert completed.stdout.splitlines()[-2:] == ["exit status: 2", "torch imported: False"]


@pytest.mark.parametrize("script", ["predict", "predict_ray"])
def test_a_dash_led_type_is_named_with_the_equals_form_without_importing_torch(script):
    """`--entity-types -LRB-` said only "expected at least one argument"; the hint comes before torch too."""
    completed = run(script, ["--model", "m", "in.txt", "-o", "out", "--entity-types", "-LRB-"])
    assert "expected at least one argument (a type that begins with '-' is given in the = form" in completed.stderr
    assert completed.stdout.splitlines()[-2:] == ["exit status: 2", "torch imported: False"]


def test_the_cli_levels_are_the_metrics():
    """The metric module is one standalone file (an evaluate Space), so cli_simmemre holds its levels too."""
    assert cli_simmemre.LEVELS == LEVELS


def test_the_scripts_and_the_package_share_one_cli_module():
    """A script loads cli_simmemre before the package (scripts/cli_options.py); the package imported afterwards must
    use that module, not a second copy of it."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import cli_options, simmemre.experiment_simmemre as e; "
        "print(e.add_inference_arguments is cli_options.add_inference_arguments, 'torch' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPTS)], capture_output=True, text=True, timeout=120, env=SCRIPT_ENV
    )
    assert completed.stdout.split() == ["True", "True"], completed.stderr


def test_an_install_older_than_the_scripts_is_named(tmp_path):
    """A package installed before cli_simmemre.py existed gave a FileNotFoundError traceback."""
    (tmp_path / "simmemre").mkdir()
    (tmp_path / "simmemre" / "__init__.py").write_text("")
    env = {**SCRIPT_ENV, "PYTHONPATH": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, str(SCRIPTS / "score.py"), "--help"], capture_output=True, text=True, timeout=120, env=env
    )
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    assert completed.stderr.strip() == (
        f"{tmp_path / 'simmemre'}: the simmemre installed there is older than these scripts; reinstall it"
    )
