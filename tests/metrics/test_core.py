"""mean, mean_tensor, accuracy, percentage_below: numbers derived by hand from TF's definitions."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.metrics import accuracy, mean, mean_tensor, percentage_below


def test_mean_over_batches(run_metrics):
    """total = 1 + 2 + 3 + 6 = 12 over count 4 -> 3."""
    batches = [(torch.tensor([1.0, 2.0]), None), (torch.tensor([3.0, 6.0]), None)]
    values = run_metrics(lambda features, labels: {"mean": mean(features)}, batches)
    assert float(values["mean"]) == 3.0
    assert values["mean"].dtype == torch.float32 and values["mean"].dim() == 0


def test_mean_broadcasts_weights_and_counts_their_sum(run_metrics):
    """values [[1, 2], [3, 4]]; weights [[1], [0]] broadcast to [[1, 1], [0, 0]]: (1 + 2) / 2 = 1.5.
    A scalar weight 2 counts 2 per value: (2 * 10) / (2 * 4) = 2.5."""
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])

    def metrics_fn(features, labels):
        return {
            "column": mean(features, weights=torch.tensor([[1.0], [0.0]])),
            "rank_below": mean(features, weights=torch.tensor([1.0, 0.0])),  # gains a trailing dim
            "scalar": mean(features, weights=2.0),
        }

    result = run_metrics(metrics_fn, [(values, None)])
    assert float(result["column"]) == 1.5
    assert float(result["rank_below"]) == 1.5
    assert float(result["scalar"]) == 2.5


def test_mean_is_zero_when_all_weights_are_zero(run_metrics):
    result = run_metrics(lambda f, labels: {"m": mean(f, weights=torch.zeros(2))}, [(torch.ones(2), None)])
    assert float(result["m"]) == 0.0  # TF's div_no_nan, not NaN


def test_weights_that_do_not_broadcast_name_both_shapes(run_metrics):
    with pytest.raises(ValueError, match=r"weights can not be broadcast to values.*\(4, 3\).*\(3, 3\)"):
        run_metrics(lambda f, labels: {"m": mean(f, weights=torch.ones(3, 3))}, [(torch.ones(4, 3), None)])


def test_mean_tensor_is_element_wise(run_metrics):
    """[[1, 2], [3, 4]] and [[5, 6], [7, 8]] -> [[3, 4], [5, 6]]. With row weights [[1], [0]] then
    [[1], [1]]: totals [[6, 8], [7, 8]] over counts [[2, 2], [1, 1]] -> [[3, 4], [7, 8]]."""
    first, second = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    batches = [(first, torch.tensor([[1.0], [0.0]])), (second, torch.tensor([[1.0], [1.0]]))]

    def metrics_fn(features, labels):
        return {"plain": mean_tensor(features), "weighted": mean_tensor(features, weights=labels)}

    values = run_metrics(metrics_fn, batches)
    assert values["plain"].tolist() == [[3.0, 4.0], [5.0, 6.0]]
    assert values["weighted"].tolist() == [[3.0, 4.0], [7.0, 8.0]]


def test_mean_tensor_rejects_a_batch_of_another_shape(run_metrics):
    batches = [(torch.ones(2, 3), None), (torch.ones(1, 3), None)]
    with pytest.raises(
        ValueError, match=r"Metric 'mean' already exists .* of shape \(2, 3\).* of shape \(1, 3\)"
    ):
        run_metrics(lambda features, labels: {"m": mean_tensor(features)}, batches)


def test_accuracy_casts_predictions_to_the_labels_dtype(run_metrics):
    """Predictions [1.0, 2.7, 3.0, 0.0] cast to int64 are [1, 2, 3, 0] (TF's cast truncates):
    3 of 4 equal the labels [1, 2, 3, 4]."""
    batches = [(torch.tensor([[1.0], [2.7], [3.0], [0.0]]), torch.tensor([1, 2, 3, 4]))]
    values = run_metrics(lambda features, labels: {"acc": accuracy(labels, features)}, batches)
    assert float(values["acc"]) == 0.75


def test_accuracy_with_weights(run_metrics):
    """Correct [1, 1, 0, 1] with weights [1, 2, 3, 4]: (1 + 2 + 4) / 10 = 0.7."""
    labels, predictions = torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    values = run_metrics(lambda f, y: {"acc": accuracy(y, f, weights=weights)}, [(predictions, labels)])
    assert float(values["acc"]) == pytest.approx(0.7)


def test_accuracy_shape_mismatch_names_both_shapes(run_metrics):
    with pytest.raises(
        ValueError, match=r"Shapes \(3,\) and \(4,\) are incompatible: labels has shape \(3,\)"
    ):
        run_metrics(lambda f, y: {"acc": accuracy(y, f)}, [(torch.zeros(4), torch.zeros(3))])


def test_accuracy_names_an_input_that_is_not_a_tensor(run_metrics):
    with pytest.raises(TypeError, match=r"accuracy: labels must be a Tensor .* Received: .*object"):
        run_metrics(lambda f, y: {"acc": accuracy(object(), f)}, [(torch.zeros(2), torch.zeros(2))])


def test_accuracy_takes_lists_and_tensors_that_require_grad(run_metrics):
    """Labels [1, 2, 3] as a list, predictions [1, 2, 0] requiring grad: 2 of 3 agree."""
    predictions = torch.tensor([1.0, 2.0, 0.0], requires_grad=True)
    values = run_metrics(lambda f, y: {"acc": accuracy([1, 2, 3], predictions)}, [(torch.zeros(3), None)])
    assert float(values["acc"]) == pytest.approx(2 / 3)


def test_percentage_below_is_strict_and_weighted(run_metrics):
    """Values [1, 2, 3, 4] below 3: [1, 1, 0, 0]; with weights [0, 1, 1, 1]: 1 / 3."""
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])

    def metrics_fn(features, labels):
        return {
            "plain": percentage_below(features, 3.0),
            "weighted": percentage_below(features, 3.0, weights=torch.tensor([0.0, 1.0, 1.0, 1.0])),
        }

    result = run_metrics(metrics_fn, [(values, None)])
    assert float(result["plain"]) == 0.5
    assert float(result["weighted"]) == pytest.approx(1 / 3)
    assert result["plain"] is not None and run_metrics.graph.objects.keys() == {
        "metric:percentage_below_threshold",
        "metric:percentage_below_threshold_1",
    }
