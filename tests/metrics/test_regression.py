"""Regression errors: numbers derived by hand from TF's definitions."""

from __future__ import annotations

import math

import pytest
import torch

from torch_estimator.metrics import (
    mean_absolute_error,
    mean_cosine_distance,
    mean_relative_error,
    mean_squared_error,
    root_mean_squared_error,
)

LABELS = torch.tensor([1.0, 2.0, 3.0])
PREDICTIONS = torch.tensor([[2.0], [2.0], [5.0]])  # the trailing dimension is squeezed


def errors(features, labels):
    return {
        "mse": mean_squared_error(labels, features),
        "rmse": root_mean_squared_error(labels, features),
        "mae": mean_absolute_error(labels, features),
        "weighted_mse": mean_squared_error(labels, features, weights=torch.tensor([0.0, 1.0, 1.0])),
    }


def test_squared_absolute_and_root_errors(run_metrics):
    """Errors [1, 0, 2]: MSE (1 + 0 + 4) / 3 = 5/3, RMSE sqrt(5/3), MAE 3/3 = 1;
    weights [0, 1, 1]: MSE (0 + 4) / 2 = 2."""
    values = run_metrics(errors, [(PREDICTIONS, LABELS)])
    assert float(values["mse"]) == pytest.approx(5 / 3)
    assert float(values["rmse"]) == pytest.approx(math.sqrt(5 / 3))
    assert float(values["mae"]) == pytest.approx(1.0)
    assert float(values["weighted_mse"]) == pytest.approx(2.0)


def test_rmse_is_the_root_of_the_accumulated_mean(run_metrics):
    """Batches with squared errors [0] and [4]: sqrt(4 / 2) = sqrt(2), not (0 + 2) / 2 = 1."""
    batches = [(torch.tensor([0.0]), torch.tensor([0.0])), (torch.tensor([2.0]), torch.tensor([0.0]))]
    values = run_metrics(lambda f, y: {"rmse": root_mean_squared_error(y, f)}, batches)
    assert float(values["rmse"]) == pytest.approx(math.sqrt(2))


def test_mean_relative_error_counts_zero_normalizer_as_zero(run_metrics):
    """|l - p| / n = [1/2, 0 (n = 0), 2/4]: mean (0.5 + 0 + 0.5) / 3 = 1/3."""
    normalizer = torch.tensor([2.0, 0.0, 4.0])
    values = run_metrics(lambda f, y: {"mre": mean_relative_error(y, f, normalizer)}, [(PREDICTIONS, LABELS)])
    assert float(values["mre"]) == pytest.approx(1 / 3)


def test_mean_relative_error_normalizer_shape_is_checked(run_metrics):
    with pytest.raises(
        ValueError, match=r"Shapes \(3,\) and \(2,\) are incompatible: predictions .* normalizer"
    ):
        run_metrics(lambda f, y: {"mre": mean_relative_error(y, f, torch.ones(2))}, [(PREDICTIONS, LABELS)])


def test_mean_cosine_distance(run_metrics):
    """Row dot products [1, 0, 0.96]: 1 - 1.96/3 = 0.346667; weights [1, 0, 1]: 1 - 1.96/2 = 0.02."""
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    predictions = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.8, 0.6]])

    def metrics_fn(features, labels):
        return {
            "plain": mean_cosine_distance(labels, features, dim=1),
            "weighted": mean_cosine_distance(labels, features, dim=1, weights=torch.tensor([1.0, 0.0, 1.0])),
        }

    values = run_metrics(metrics_fn, [(predictions, labels)])
    assert float(values["plain"]) == pytest.approx(1 - 1.96 / 3)
    assert float(values["weighted"]) == pytest.approx(0.02, abs=1e-6)


@pytest.mark.parametrize("dim", [2, -3])
def test_mean_cosine_distance_rejects_a_dimension_out_of_range(run_metrics, dim):
    with pytest.raises(ValueError, match=rf"Invalid reduction dimension {dim} for inputs of shape \(3, 2\)"):
        run_metrics(
            lambda f, y: {"d": mean_cosine_distance(y, f, dim=dim)}, [(torch.ones(3, 2), torch.ones(3, 2))]
        )


def test_shape_mismatch_names_both_shapes(run_metrics):
    with pytest.raises(ValueError, match=r"Shapes \(3,\) and \(3, 2\) are incompatible"):
        run_metrics(lambda f, y: {"mse": mean_squared_error(y, f)}, [(torch.ones(3, 2), LABELS)])
