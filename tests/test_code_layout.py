"""The model file stays readable: the model class fits in one sitting, and no internal helper takes a long list of
positional parameters (a per-document context or a small dataclass carries them instead)."""

import ast
from pathlib import Path

MODELING = Path(__file__).resolve().parent.parent / "modeling_simmemre.py"
PUBLIC_ENTRY_POINTS = {"forward", "extract", "__init__"}


def _tree():
    return ast.parse(MODELING.read_text(encoding="utf-8"))


def test_the_model_class_is_at_most_450_lines():
    model = next(n for n in _tree().body if isinstance(n, ast.ClassDef) and n.name == "SimMemREModel")
    assert model.end_lineno - model.lineno + 1 <= 450


def test_no_internal_helper_takes_more_than_8_positional_parameters():
    long_lists = []
    for node in ast.walk(_tree()):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in PUBLIC_ENTRY_POINTS:
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            count = len(names) - (1 if names and names[0] in ("self", "cls") else 0)
            if count > 8:
                long_lists.append(f"{node.name} (line {node.lineno}): {count}")
    assert not long_lists, long_lists
