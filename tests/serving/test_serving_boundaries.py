"""DESIGN 5: ``serving`` reads only the export format -- it imports ``torch_estimator.saved_model`` and
its own modules, never the engine, the Estimator or the model's code."""

from __future__ import annotations

import ast
from pathlib import Path

import torch_estimator.serving

SERVING = Path(torch_estimator.serving.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(
                node.module if node.module != "torch_estimator" else f"torch_estimator.{node.names[0].name}"
            )
    return names


def test_serving_imports_only_the_loader_and_itself():
    found = {
        name
        for path in SERVING.glob("*.py")
        for name in imported_modules(path)
        if name.startswith("torch_estimator")
    }
    allowed = {name for name in found if name.startswith("torch_estimator.serving")} | {
        "torch_estimator.saved_model"
    }
    assert found - allowed == set()
    assert "torch_estimator.saved_model" in found
