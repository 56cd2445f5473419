"""Benchmarks are not tests (timing never gates CI), but they must keep importing as the code changes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "common.py"


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda path: path.name)
def test_benchmark_imports(path: Path):
    needs_anchors = path.name == "estimator_bench.py" or "from estimator_bench import" in path.read_text()
    if needs_anchors and not ANCHORS.exists():
        pytest.skip(f"needs the anchor benchmarks beside the project: {ANCHORS} is missing")
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)
