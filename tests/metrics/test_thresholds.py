"""Threshold metrics: *_at_thresholds, auc, sensitivity/specificity, derived by hand from TF's code.

TF's AUC thresholds for num_thresholds=200: [-1e-7, 1/199, 2/199, ..., 198/199, 1 + 1e-7]; a
prediction is positive at t when prediction > t.
"""

from __future__ import annotations

import logging
import math

import pytest
import torch

from torch_estimator.graph import Graph
from torch_estimator.metrics import (
    auc,
    false_negatives_at_thresholds,
    false_positives_at_thresholds,
    precision_at_thresholds,
    recall_at_thresholds,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    true_negatives_at_thresholds,
    true_positives_at_thresholds,
)
from torch_estimator.metrics.curves import auc_thresholds

THRESHOLDS = [0.5, 0.0, 0.95]  # deliberately unsorted: values come back in this order
LABELS = torch.tensor([1, 1, 0, 0])
PROBABILITIES = torch.tensor([0.9, 0.4, 0.6, 0.1])


def at_thresholds(features, labels, weights=None):
    return {
        "tp": true_positives_at_thresholds(labels, features, THRESHOLDS, weights),
        "fp": false_positives_at_thresholds(labels, features, THRESHOLDS, weights),
        "tn": true_negatives_at_thresholds(labels, features, THRESHOLDS, weights),
        "fn": false_negatives_at_thresholds(labels, features, THRESHOLDS, weights),
        "precision": precision_at_thresholds(labels, features, THRESHOLDS, weights),
        "recall": recall_at_thresholds(labels, features, THRESHOLDS, weights),
    }


def test_counts_at_thresholds(run_metrics):
    """Positives 0.9, 0.4; negatives 0.6, 0.1.
    t=0.5: tp 1 (0.9), fn 1 (0.4), fp 1 (0.6), tn 1 (0.1); t=0: tp 2, fp 2; t=0.95: fn 2, tn 2.
    precision tp / (1e-7 + tp + fp) = [1/2, 2/4, 0]; recall tp / (1e-7 + tp + fn) = [1/2, 1, 0]."""
    values = run_metrics(at_thresholds, [(PROBABILITIES, LABELS)])
    assert values["tp"].tolist() == [1.0, 2.0, 0.0]
    assert values["fn"].tolist() == [1.0, 0.0, 2.0]
    assert values["fp"].tolist() == [1.0, 2.0, 0.0]
    assert values["tn"].tolist() == [1.0, 0.0, 2.0]
    assert values["precision"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert values["recall"].tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert values["tp"].dtype == torch.float32 and values["tp"].shape == (3,)


def test_thresholds_too_close_for_the_bucket_table(run_metrics):
    """Thresholds 0.5, 0.5001, 0.5002 share one bucket-table range, so the update falls back to
    torch.bucketize. Positives 0.50015, 0.6, 0.4; negative 0.9: tp [2, 2, 1], fp [1, 1, 1]."""
    close = [0.5, 0.5001, 0.5002]

    def metrics(features, labels):
        return {
            "tp": true_positives_at_thresholds(labels, features, close),
            "fp": false_positives_at_thresholds(labels, features, close),
        }

    values = run_metrics(metrics, [(torch.tensor([0.50015, 0.6, 0.4, 0.9]), torch.tensor([1, 1, 1, 0]))])
    assert values["tp"].tolist() == [2.0, 2.0, 1.0]
    assert values["fp"].tolist() == [1.0, 1.0, 1.0]


def test_weighted_counts_at_thresholds(run_metrics):
    """Weights [1, 2, 3, 4] at t=0.5: tp 1, fn 2, fp 3, tn 4."""
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    values = run_metrics(lambda f, y: at_thresholds(f, y, weights), [(PROBABILITIES, LABELS)])
    assert [float(values[key][0]) for key in ("tp", "fn", "fp", "tn")] == [1.0, 2.0, 3.0, 4.0]


def test_a_prediction_equal_to_the_threshold_is_negative(run_metrics):
    values = run_metrics(at_thresholds, [(torch.tensor([0.5]), torch.tensor([1]))])
    assert values["tp"].tolist() == [0.0, 1.0, 0.0]


def read_tp_at_half(run_metrics, predictions, weights=None):
    """Runs true_positives_at_thresholds at 0.5 through a Graph; returns a function reading it."""
    metrics_fn = lambda f, y: {"tp": true_positives_at_thresholds(y, f, [0.5], weights)}  # noqa: E731
    graph = Graph(run_metrics.model_fn_for(metrics_fn))
    spec = run_metrics.run_batches(graph, [(predictions, torch.ones(len(predictions)))])
    return spec.eval_metric_ops["tp"][0].compute


@pytest.mark.parametrize(
    ("predictions", "weights"),
    [
        (torch.tensor([1.5, 0.5]), None),
        (torch.tensor([-0.25, 0.5]), None),
        (torch.tensor([float("nan"), 0.5]), None),
        (torch.tensor([1.5, 0.5]), torch.tensor([0.0, 1.0])),  # a weight of 0 does not hide it
        (torch.tensor([float("nan"), 0.5]), torch.tensor([0.0, 1.0])),
    ],
)
def test_predictions_outside_zero_one_raise_when_read(run_metrics, predictions, weights):
    """The update only counts them (no device sync per batch); reading the value raises."""
    read = read_tp_at_half(run_metrics, predictions, weights)
    with pytest.raises(
        ValueError, match=r"predictions must be in \[0, 1\], but some predictions seen were outside"
    ):
        read()


def test_predictions_of_exactly_zero_and_one_are_in_range(run_metrics):
    read = read_tp_at_half(run_metrics, torch.tensor([0.0, -0.0, 1.0]))
    assert read().tolist() == [1.0]  # only 1.0 is above 0.5


def test_auc_thresholds_are_tfs():
    thresholds = auc_thresholds(200)
    assert len(thresholds) == 200
    assert thresholds[0] == -1e-7 and thresholds[-1] == 1.0 + 1e-7
    assert thresholds[1] == 1 / 199 and thresholds[198] == 198 / 199
    assert auc_thresholds(thresholds=[0.7, 0.2]) == [-1e-7, 0.2, 0.7, 1.0 + 1e-7]


def test_roc_auc_with_200_thresholds_on_four_examples(run_metrics):
    """Labels [0, 0, 1, 1], predictions [0.1, 0.4, 0.35, 0.8]. Over the 200 thresholds (FPR, TPR) is
    (1, 1) below 0.1, (1/2, 1) in [0.1, 0.35), (1/2, 1/2) in [0.35, 0.4), (0, 1/2) in [0.4, 0.8) and
    (0, 0) above. With TF's epsilons: FPR = fp / (fp + tn + 1e-6), TPR = (tp + 1e-6) / (P + 1e-6);
    trapezoids: (2/(2+e) - 1/(2+e)) * 1 + (1/(2+e) - 0) * (1+e)/(2+e) = 0.74999975."""
    batches = [(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))]
    values = run_metrics(lambda f, y: {"auc": auc(y, f)}, batches)
    e = 1e-6
    expected = (2 / (2 + e) - 1 / (2 + e)) * 1.0 + (1 / (2 + e)) * (1 + e) / (2 + e)
    assert float(values["auc"]) == pytest.approx(expected, abs=1e-6)


def test_roc_auc_treats_predictions_between_two_thresholds_as_tied(run_metrics):
    """0.501 (positive) and 0.502 (negative) both lie in (99/199, 100/199]: the curve jumps from
    (1, 1) straight to (0, 0), area 1/2, where the exact AUC is 0."""
    batches = [(torch.tensor([0.501, 0.502]), torch.tensor([1, 0]))]
    values = run_metrics(lambda f, y: {"auc": auc(y, f)}, batches)
    assert float(values["auc"]) == pytest.approx(0.5, abs=1e-6)


# Labels [1, 0, 1, 1], predictions [0.9, 0.8, 0.3, 0.2], thresholds=[0.5] -> [-1e-7, 0.5, 1 + 1e-7]:
#   t0: tp 3, fp 1, fn 0;   t1: tp 1, fp 1, fn 2;   t2: tp 0, fp 0, fn 3.
# Recall (tp + e) / (tp + fn + e) ~ [1, 1/3, 0]; precision (tp + e) / (tp + fp + e) ~ [3/4, 1/2, 1];
# FPR ~ [1, 1, 0] (one negative, above 0.5).
CURVE_BATCH = [(torch.tensor([0.9, 0.8, 0.3, 0.2]), torch.tensor([1, 0, 1, 1]))]


@pytest.mark.parametrize(
    ("curve", "method", "expected"),
    [
        # PR trapezoids: (1 - 1/3) * (3/4 + 1/2) / 2 + (1/3) * (1/2 + 1) / 2 = 5/12 + 1/4.
        ("PR", "trapezoidal", 2 / 3),
        ("PR", "minoring", (2 / 3) * 0.5 + (1 / 3) * 0.5),
        ("PR", "majoring", (2 / 3) * 0.75 + (1 / 3) * 1.0),
        # Interval t0->t1: dTP 2, dP 2, slope 1, intercept 1 - 2 = -1, P ratio 4/2:
        #   1 * (2 - ln 2) / (tp1 + fn1 = 3). Interval t1->t2: slope 1/2, intercept 0, P_B = 0 so
        #   ratio 1: (1/2 * 1) / 3.
        ("PR", "careful_interpolation", (2 - math.log(2)) / 3 + 1 / 6),
        # ROC: only t1 -> t2 has width (FPR 1 -> 0): 1 * (1/3 + 0) / 2.
        ("ROC", "trapezoidal", 1 / 6),
        ("ROC", "careful_interpolation", 1 / 6),
        ("ROC", "minoring", 0.0),
        ("ROC", "majoring", 1 / 3),
    ],
)
def test_auc_curves_and_summation_methods(run_metrics, curve, method, expected):
    def metrics_fn(features, labels):
        return {"auc": auc(labels, features, curve=curve, summation_method=method, thresholds=[0.5])}

    values = run_metrics(metrics_fn, CURVE_BATCH)
    assert float(values["auc"]) == pytest.approx(expected, abs=2e-6)


def test_pr_trapezoidal_logs_tfs_warning(run_metrics, caplog):
    run_metrics(lambda f, y: {"auc": auc(y, f, curve="PR")}, CURVE_BATCH)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        run_metrics.values()
    assert "Trapezoidal rule is known to produce incorrect PR-AUCs" in caplog.text


def test_auc_argument_errors(run_metrics):
    with pytest.raises(ValueError, match=r"Curve must be either ROC or PR\. Curve XY is unknown"):
        run_metrics(lambda f, y: {"auc": auc(y, f, curve="XY")}, CURVE_BATCH)
    with pytest.raises(ValueError, match="Invalid summation_method: simpson"):
        run_metrics(lambda f, y: {"auc": auc(y, f, summation_method="simpson")}, CURVE_BATCH)
    with pytest.raises(ValueError, match=r"weights can not be broadcast to values. values.shape=\(4,\)"):
        run_metrics(lambda f, y: {"auc": auc(y, f, weights=torch.ones(2, 4))}, CURVE_BATCH)


# Negatives [0.1, 0.2, 0.3, 0.4], positives [0.25, 0.5, 0.6, 0.7]. With 4 of each, tn + fp + 1e-7 is
# exactly 4 in float32, so specificities are exactly 0, 1/4, 1/2, 3/4, 1 (and sensitivities too).
SENSITIVITY_BATCH = [
    (torch.tensor([0.1, 0.2, 0.3, 0.4, 0.25, 0.5, 0.6, 0.7]), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]))
]


def test_sensitivity_at_specificity(run_metrics):
    """Specificity 3/4 holds for t in [0.3, 0.4); there tp = 3 (0.5, 0.6, 0.7): sensitivity 3/4."""
    values = run_metrics(lambda f, y: {"s": sensitivity_at_specificity(y, f, 0.75)}, SENSITIVITY_BATCH)
    assert float(values["s"]) == pytest.approx(0.75)


def test_sensitivity_at_specificity_takes_the_first_of_tied_thresholds(run_metrics):
    """0.625 is 1/8 from both 1/2 and 3/4. argmin takes the first (lowest) such threshold,
    40/199 = 0.201, where specificity is 1/2 and all four positives are above: sensitivity 1."""
    values = run_metrics(lambda f, y: {"s": sensitivity_at_specificity(y, f, 0.625)}, SENSITIVITY_BATCH)
    assert float(values["s"]) == 1.0


def test_specificity_at_sensitivity_takes_the_last_of_tied_thresholds(run_metrics):
    """0.875 is 1/8 from both 1 (t < 0.25) and 3/4 (t in [0.25, 0.5)). TF takes the last such
    threshold, 99/199 = 0.497, where all four negatives are at or below: specificity 1 (the first
    one, t = -1e-7, would give 0)."""
    values = run_metrics(lambda f, y: {"s": specificity_at_sensitivity(y, f, 0.875)}, SENSITIVITY_BATCH)
    assert float(values["s"]) == 1.0


def test_sensitivity_and_specificity_arguments_are_checked(run_metrics):
    with pytest.raises(
        ValueError, match=r"`specificity` must be in the range \[0, 1\]. Currently, `specificity` got 2"
    ):
        run_metrics(lambda f, y: {"s": sensitivity_at_specificity(y, f, 2)}, SENSITIVITY_BATCH)
    with pytest.raises(ValueError, match=r"`sensitivity` must be in the range \[0, 1\]"):
        run_metrics(lambda f, y: {"s": specificity_at_sensitivity(y, f, -0.1)}, SENSITIVITY_BATCH)
