"""The Hub Space's widget for `joint_re_f1`: a table with one row per document, the predicted and the gold document
as JSON, scored by the metric. `python metrics/joint_re_f1/app.py` runs it locally (needs gradio 3.x, see the card)."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

# The module file, not its folder: evaluate looks for a script named after the folder, and a Space's folder is
# called "app", whose script would be this file.
module = evaluate.load(str(Path(__file__).resolve().with_name("joint_re_f1.py")))
launch_gradio_widget(module)
