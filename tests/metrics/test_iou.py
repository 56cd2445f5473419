"""mean_iou and mean_per_class_accuracy on a hand-built 3x3 confusion matrix (rows labels, columns
predictions):

    [[2, 1, 0],      class 0: labels 3, predicted 0, 0, 1
     [0, 3, 1],      class 1: labels 4, predicted 1, 1, 1, 2
     [1, 0, 2]]      class 2: labels 3, predicted 0, 2, 2
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator.metrics import mean_iou, mean_per_class_accuracy

LABELS = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
PREDICTIONS = torch.tensor([0, 0, 1, 1, 1, 1, 2, 0, 2, 2])


def both(num_classes, weights=None):
    def metrics_fn(features, labels):
        return {
            "iou": mean_iou(labels, features, num_classes, weights=weights),
            "accuracy": mean_per_class_accuracy(labels, features, num_classes, weights=weights),
        }

    return metrics_fn


def test_mean_iou_and_per_class_accuracy(run_metrics):
    """IoU = diag / (row + column - diag): class 0 2 / (3 + 3 - 2) = 1/2, class 1 3 / (4 + 4 - 3)
    = 3/5, class 2 2 / (3 + 3 - 2) = 1/2: mean 1.6 / 3. Per-class accuracy 2/3, 3/4, 2/3: mean 25/36."""
    values = run_metrics(both(3), [(PREDICTIONS, LABELS)])
    assert float(values["iou"]) == pytest.approx(1.6 / 3)
    assert float(values["accuracy"]) == pytest.approx(25 / 36)


def test_absent_classes(run_metrics):
    """num_classes=4, class 3 never occurs: IoU ignores it (denominator 0), per-class accuracy
    counts it as 0: (2/3 + 3/4 + 2/3 + 0) / 4 = 25/48."""
    values = run_metrics(both(4), [(PREDICTIONS, LABELS)])
    assert float(values["iou"]) == pytest.approx(1.6 / 3)
    assert float(values["accuracy"]) == pytest.approx(25 / 48)


def test_weights_and_batches(run_metrics):
    """Weight 0 on the (label 1, prediction 2) entry: class 1 row 3, class 2 column 2:
    IoU 1/2, 3 / (3 + 4 - 3) = 3/4, 2 / (3 + 2 - 2) = 2/3; accuracy 2/3, 3/3, 2/3.
    Split into two batches, with weights of shape (n, 1) (flattened as TF does)."""
    weights = torch.ones(10)
    weights[6] = 0.0
    batches = [(PREDICTIONS[:4], LABELS[:4]), (PREDICTIONS[4:], LABELS[4:])]
    splits = [weights[:4].reshape(4, 1), weights[4:].reshape(6, 1)]

    def metrics_fn(features, labels):
        batch_weights = splits[0] if features.shape[0] == 4 else splits[1]
        return both(3, batch_weights)(features, labels)

    values = run_metrics(metrics_fn, batches)
    assert float(values["iou"]) == pytest.approx((0.5 + 0.75 + 2 / 3) / 3)
    assert float(values["accuracy"]) == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)


def test_nothing_seen_reads_zero(run_metrics):
    values = run_metrics(both(3, weights=0.0), [(PREDICTIONS, LABELS)])
    assert float(values["iou"]) == 0.0
    assert float(values["accuracy"]) == 0.0


@pytest.mark.parametrize(
    ("labels", "predictions", "weights"),
    [
        ([0, 3], [0, 1], None),  # a label too large
        ([0, -1], [0, 1], None),  # a negative label
        ([0, 1], [0, 3], None),  # a prediction out of range (mean_iou only)
        ([0, 3], [0, 1], [1.0, 0.0]),  # a weight of 0 does not hide it
        ([0, 1], [-1, 1], [0.0, 1.0]),
    ],
)
def test_mean_iou_out_of_range_ids_raise_when_read(run_metrics, labels, predictions, weights):
    def metrics_fn(features, labels):
        return {"iou": mean_iou(labels, features, 3, weights=weights)}

    with pytest.raises(ValueError, match=r"`labels` out of bound: class ids outside \[0, 3\) were seen"):
        run_metrics(metrics_fn, [(torch.tensor(predictions), torch.tensor(labels))])


def test_mean_per_class_accuracy_checks_labels_only(run_metrics):
    """A prediction of 7 is just wrong (TF indexes by labels); a label of 7 is an error."""

    def metrics_fn(features, labels):
        return {"accuracy": mean_per_class_accuracy(labels, features, 2, weights=torch.tensor([1.0, 0.0]))}

    values = run_metrics(metrics_fn, [(torch.tensor([7, 1]), torch.tensor([0, 1]))])
    assert float(values["accuracy"]) == 0.0  # class 0: 0/1, class 1: weight 0 -> 0
    with pytest.raises(ValueError, match=r"`labels` out of bound"):
        run_metrics(metrics_fn, [(torch.tensor([0, 1]), torch.tensor([0, 7]))])


def test_shapes_are_checked(run_metrics):
    with pytest.raises(ValueError, match=r"Shapes \(10,\) and \(10, 1\) are incompatible"):
        run_metrics(lambda f, y: {"iou": mean_iou(y, f, 3)}, [(PREDICTIONS.reshape(10, 1), LABELS)])
    with pytest.raises(ValueError, match=r"weights of shape \(3,\) do not fit labels of shape \(10,\)"):
        run_metrics(both(3, torch.ones(3)), [(PREDICTIONS, LABELS)])


def test_float_weights_raise_no_false_out_of_bound(run_metrics):
    """Weights 0.1, 0.1, 0.7 on three right predictions: every class reads 1 (TF 2.15: 1.0). The
    histogram's total less its inner sum rounds to about 6e-8 in float32; only border cells may say
    an id was out of range."""
    values = run_metrics(
        both(3, torch.tensor([0.1, 0.1, 0.7])), [(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))]
    )
    assert float(values["accuracy"]) == 1.0
    assert float(values["iou"]) == 1.0


def test_weights_spanning_magnitudes_raise_no_false_out_of_bound(run_metrics):
    """Three batches whose weights span 1e-3 to 1e3 (19 classes): the float64 confusion matrix's
    total less its inner sum is not 0 there either. The value is TF's formula over the same matrix."""
    rs = np.random.RandomState(0)
    batches = [
        (rs.randint(0, 19, n), rs.randint(0, 19, n), rs.uniform(0, 1, n) * scale)
        for n, scale in ((1, 1e-3), (1, 1e-3), (64, 1e3))
    ]
    weights = iter([torch.tensor(w) for _, _, w in batches])  # model_fn runs once per batch, in order

    def metrics_fn(features, labels):
        return {"iou": mean_iou(labels, features, 19, weights=next(weights))}

    data = [(torch.tensor(predictions), torch.tensor(labels)) for labels, predictions, _ in batches]
    values = run_metrics(metrics_fn, data)
    matrix = np.zeros((19, 19))
    for labels, predictions, w in batches:
        np.add.at(matrix, (labels, predictions), w)
    diagonal = np.diag(matrix)
    denominator = matrix.sum(0) + matrix.sum(1) - diagonal
    present = denominator > 0
    assert float(values["iou"]) == pytest.approx((diagonal[present] / denominator[present]).mean(), rel=1e-6)


def test_a_single_weight_broadcasts(run_metrics):
    """TF's mean_per_class_accuracy multiplied by weights of shape (1,): every element takes it.
    Weight 2 on everything changes no ratio."""
    values = run_metrics(both(3, torch.tensor([2.0])), [(PREDICTIONS, LABELS)])
    assert float(values["accuracy"]) == pytest.approx(25 / 36)
    assert float(values["iou"]) == pytest.approx(1.6 / 3)
