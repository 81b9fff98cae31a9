"""The package's `evaluate` metrics. `JOINT_RE_F1` is the metric folder's absolute path, so that
`evaluate.load(JOINT_RE_F1)` works from any working directory."""

from pathlib import Path

JOINT_RE_F1 = str(Path(__file__).resolve().parent / "joint_re_f1")

__all__ = ["JOINT_RE_F1"]
