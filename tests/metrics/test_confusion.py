"""Binary counts, precision and recall: labels and predictions cast to bool (nonzero), as TF."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.metrics import (
    false_negatives,
    false_positives,
    precision,
    recall,
    true_negatives,
    true_positives,
)

LABELS = torch.tensor([1, 1, 0, 0, 1])
# Nonzero is True: 0.3, 2.0 and -1.0 are positive predictions.
PREDICTIONS = torch.tensor([0.3, 0.0, 2.0, 0.0, -1.0])
WEIGHTS = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])


def all_counts(features, labels, weights=None):
    return {
        "tp": true_positives(labels, features, weights),
        "fp": false_positives(labels, features, weights),
        "tn": true_negatives(labels, features, weights),
        "fn": false_negatives(labels, features, weights),
        "precision": precision(labels, features, weights),
        "recall": recall(labels, features, weights),
    }


def test_counts_precision_recall(run_metrics):
    """Bool labels [T, T, F, F, T], predictions [T, F, T, F, T]: tp = items 0, 4; fn = 1; fp = 2;
    tn = 3. Precision 2 / 3, recall 2 / 3."""
    values = run_metrics(all_counts, [(PREDICTIONS, LABELS)])
    assert {key: float(value) for key, value in values.items() if key in ("tp", "fp", "tn", "fn")} == {
        "tp": 2.0,
        "fp": 1.0,
        "tn": 1.0,
        "fn": 1.0,
    }
    assert float(values["precision"]) == pytest.approx(2 / 3)
    assert float(values["recall"]) == pytest.approx(2 / 3)


def test_weighted_counts(run_metrics):
    """Weights [1..5]: tp = 1 + 5, fn = 2, fp = 3, tn = 4; precision 6 / 9, recall 6 / 8."""
    values = run_metrics(lambda f, y: all_counts(f, y, WEIGHTS), [(PREDICTIONS, LABELS)])
    assert [float(values[key]) for key in ("tp", "fn", "fp", "tn")] == [6.0, 2.0, 3.0, 4.0]
    assert float(values["precision"]) == pytest.approx(6 / 9)
    assert float(values["recall"]) == pytest.approx(0.75)


def test_precision_and_recall_are_zero_without_positives(run_metrics):
    values = run_metrics(all_counts, [(torch.zeros(3), torch.zeros(3))])
    assert float(values["precision"]) == 0.0
    assert float(values["recall"]) == 0.0
    assert float(values["tn"]) == 3.0


def test_batches_accumulate(run_metrics):
    """tp: 1 in the first batch, 2 in the second."""
    batches = [(torch.tensor([1, 0]), torch.tensor([1, 1])), (torch.tensor([1, 1]), torch.tensor([1, 1]))]
    values = run_metrics(lambda f, y: {"tp": true_positives(y, f)}, batches)
    assert float(values["tp"]) == 3.0


def test_weights_of_another_rank_are_rejected(run_metrics):
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) do not fit values of shape \(5,\)"):
        run_metrics(lambda f, y: {"tp": true_positives(y, f, torch.ones(2, 3))}, [(PREDICTIONS, LABELS)])


def test_shape_mismatch_names_both_shapes(run_metrics):
    with pytest.raises(ValueError, match=r"Shapes \(5,\) and \(4,\) are incompatible"):
        run_metrics(lambda f, y: {"p": precision(y, f)}, [(torch.ones(4), LABELS)])
