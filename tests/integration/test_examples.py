"""The scripts in examples/ run end to end and reach what a correct model must reach on their data.

Thresholds, from the data each script makes:

* iris_dnn: 30 held-out flowers. Setosa is linearly separable and versicolor/virginica overlap on a
  handful of the 150 flowers (linear discriminant analysis misclassifies 3 of 150 on the training
  data), so a correct model misses at most one or two test flowers; accuracy >= 0.9 allows three.
* linear_regression: y = 3 x1 - 2 x2 + 0.5 + N(0, 0.1^2). The planted model's RMSE on the 1000 test
  rows is the noise, 0.1 (within about 0.003); a learnt linear model adds only its small weight
  error, so RMSE <= 0.15 (50 % above the floor) holds for a correct fit and fails for a wrong one
  (predicting the mean alone gives RMSE about 2.1).
* census_wide_deep: the planted model's AUC on the test rows is the best reachable (0.885). The same
  model without its education x occupation interaction scores 0.847, so AUC >= planted - 0.03
  (0.855) needs the main effects, the age curve and part of the cross learnt; no model beats the
  planted one by more than sampling noise (0.02 allowed).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    """Imports examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_iris_dnn(tmp_path, capsys):
    metrics = load("iris_dnn").main(str(tmp_path / "iris"))
    assert metrics["accuracy"] >= 0.9
    assert metrics["global_step"] == 1000
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.integration
def test_linear_regression(tmp_path, capsys):
    metrics = load("linear_regression").main(str(tmp_path / "linear"))
    assert metrics["rmse"] <= 0.15
    assert "rmse" in capsys.readouterr().out


@pytest.mark.integration
@pytest.mark.slow
def test_census_wide_deep(tmp_path, capsys):
    metrics = load("census_wide_deep").main(str(tmp_path / "census"))
    assert metrics["planted_auc"] - 0.03 <= metrics["auc"] <= metrics["planted_auc"] + 0.02
    assert "planted model's test AUC" in capsys.readouterr().out
