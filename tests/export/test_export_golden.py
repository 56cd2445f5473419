"""A golden file pins the export layout and the signature file of the conftest classifier.

Regenerate after an intended format change with:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/export/test_export_golden.py
(the torch version is masked; the timestamp directory name is not part of the layout).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

import torch_estimator as te

GOLDEN = Path(__file__).parent.parent / "golden" / "export_classifier.json"


def layout(path: str) -> list[str]:
    """Every file and directory under ``path``, relative, directories ending in '/'."""
    entries = []
    for current, directories, files in os.walk(path):
        relative = os.path.relpath(current, path)
        prefix = "" if relative == "." else relative + "/"
        entries.extend(prefix + name + "/" for name in directories)
        entries.extend(prefix + name for name in files)
    return sorted(entries)


def test_export_layout_and_signature_file_match_the_golden_file(make_trained, export_fakes, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")

    def receiver_fn():
        x = torch.zeros(2, 2)
        return te.export.ServingInputReceiver({"x": x}, {"x": x}, {"raw": {"features": x}})

    path = make_trained().export_saved_model(
        str(tmp_path / "export"), receiver_fn, assets_extra={"docs/notes.txt": str(notes)}
    )
    with open(os.path.join(path, "saved_model.json")) as f:
        metadata = json.load(f)
    assert metadata["torch_version"] == torch.__version__
    metadata["torch_version"] = "<masked>"
    current = json.dumps({"layout": layout(path), "saved_model.json": metadata}, indent=2) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(current)
    assert GOLDEN.exists(), f"{GOLDEN} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert current == GOLDEN.read_text(), (
        "The export format changed. If intended, regenerate: UPDATE_GOLDEN=1 .venv/bin/python -m pytest "
        "tests/export/test_export_golden.py"
    )
