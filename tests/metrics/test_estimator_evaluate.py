"""te.metrics through Estimator.evaluate: three batches, values back as Python numbers."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.contract import EstimatorSpec
from torch_estimator.estimator import Estimator
from torch_estimator.metrics import accuracy, auc

# Labels [1, 0 | 0, 1 | 1], probabilities [0.9, 0.2 | 0.6, 0.4 | 0.8].
BATCHES = [
    (torch.tensor([0.9, 0.2]), torch.tensor([1, 0])),
    (torch.tensor([0.6, 0.4]), torch.tensor([0, 1])),
    (torch.tensor([0.8]), torch.tensor([1])),
]


def model_fn(features, labels, mode):
    metrics = {"accuracy": accuracy(labels, features > 0.5), "auc": auc(labels, features)}
    return EstimatorSpec(mode, loss=features.mean(), eval_metric_ops=metrics)


def test_evaluate_accumulates_metrics_over_three_batches(tmp_path):
    """accuracy: decisions [T, F, T, F, T] vs labels [1, 0, 0, 1, 1] -> 3/5.
    auc: (FPR, TPR) is (1, 1) below 0.2, (1/2, 1) to 0.4, (1/2, 2/3) to 0.6, (0, 2/3) to 0.8, then
    (0, 1/3) and (0, 0): area 1/2 * 1 + 1/2 * 2/3 = 5/6 (up to TF's 1e-6 epsilons).
    loss: the mean of the batch means (0.55 + 0.5 + 0.8) / 3."""
    estimator = Estimator(model_fn, model_dir=str(tmp_path))
    results = estimator.evaluate(lambda: BATCHES)
    assert results["accuracy"] == pytest.approx(0.6)
    assert results["auc"] == pytest.approx(5 / 6, abs=1e-5)
    assert results["loss"] == pytest.approx((0.55 + 0.5 + 0.8) / 3)
    assert isinstance(results["accuracy"], float) and isinstance(results["auc"], float)
    # A second evaluate starts its metrics from zero: steps=1 sees [0.9, 0.2] vs [1, 0] only -> 2/2.
    assert estimator.evaluate(lambda: BATCHES, steps=1)["accuracy"] == pytest.approx(1.0)
