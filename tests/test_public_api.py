"""The public API is what torch_estimator re-exports; this golden file pins names and signatures.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_public_api.py
"""

from __future__ import annotations

import inspect
import os
import re
import types
from pathlib import Path

import torch_estimator as te

GOLDEN = Path(__file__).parent / "golden" / "public_api.txt"
NAMESPACES = (
    "",
    "train",
    "layers",
    "losses",
    "regularizers",
    "constraints",
    "metrics",
    "summary",
    "initializers",
    "export",
    "experimental",
    "feature_column",
    "inputs",
    "distribute",
    "saved_model",
)


def describe(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else type(obj).__name__
    if not callable(obj):
        return kind
    try:
        # Defaults that are functions print with their address, which changes from run to run.
        return re.sub(r" at 0x[0-9a-f]+>", ">", f"{kind}{inspect.signature(obj)}")
    except (TypeError, ValueError):
        return kind


def current_api() -> str:
    lines = []
    for namespace in NAMESPACES:
        module = getattr(te, namespace) if namespace else te
        prefix = f"te.{namespace}." if namespace else "te."
        for name in sorted(module.__all__):
            lines.append(f"{prefix}{name}: {describe(getattr(module, name))}")
    return "\n".join(lines) + "\n"


def test_every_exported_name_exists():
    for namespace in NAMESPACES:
        module = getattr(te, namespace) if namespace else te
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"te.{namespace} exports missing names {missing}"


def test_public_api_matches_golden_file():
    api = current_api()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(api)
    assert GOLDEN.exists(), f"{GOLDEN} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert api == GOLDEN.read_text(), (
        "The public API changed. If intended, regenerate: UPDATE_GOLDEN=1 .venv/bin/python -m pytest "
        "tests/test_public_api.py"
    )
