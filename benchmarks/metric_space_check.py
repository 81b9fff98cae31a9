"""Build the joint_re_f1 Space's widget as the Hub would and score the metric card's example row through it.

Needs a separate environment with the Space's packages (gradio is not a project dependency):

    python -m venv /tmp/space-env
    /tmp/space-env/bin/pip install "gradio==3.50.2" -r metrics/joint_re_f1/requirements.txt
    /tmp/space-env/bin/python benchmarks/metric_space_check.py

`gradio.Interface.launch` is replaced by a stub, so nothing is served; the widget's own function then scores the card's
example row (a DataFrame of JSON cells, as the widget sends it). Prints the installed versions and the scores.
"""

import importlib.metadata
import json
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import gradio
import pandas

METRIC_FOLDER = Path(__file__).resolve().parent.parent / "metrics" / "joint_re_f1"
SPACE_FILES = ("joint_re_f1.py", "README.md", "app.py", "requirements.txt")


def main() -> int:
    built = {}
    gradio.Interface.launch = lambda interface, *args, **kwargs: built.setdefault("widget", interface)
    with tempfile.TemporaryDirectory() as root:
        space = Path(root) / "app"  # a Space's files sit in a folder named app
        space.mkdir()
        for name in SPACE_FILES:
            shutil.copy(METRIC_FOLDER / name, space / name)
        sys.path.insert(0, str(space))
        runpy.run_path(str(space / "app.py"), run_name="__main__")
    card = (METRIC_FOLDER / "README.md").read_text(encoding="utf-8").splitlines()
    row = {
        column: next(line for line in card if line.startswith(f"{column}: "))[len(column) + 2 :]
        for column in ("predictions", "references")
    }
    scores = built["widget"].fns[0].fn(pandas.DataFrame({column: [cell] for column, cell in row.items()}))
    versions = {
        name: importlib.metadata.version(name) for name in ("gradio", "evaluate", "datasets", "pyarrow", "numpy")
    }
    levels = ("mention_f1", "coref_f1", "entity_f1", "relation_strict_f1")
    print(json.dumps({"versions": versions, "scores": {level: scores[level] for level in levels}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
