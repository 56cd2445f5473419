"""Properties of every metric function: batching does not matter, and states merge by summing.

* split: updating on any split of the data into batches gives the value of one update over all of it;
* merge: two Graphs fed two parts, their states summed tensor by tensor (what an all_reduce(SUM)
  does across ranks), give the value of one Graph fed everything.

Data lie on coarse grids (quarters, 64ths, small integer weights) so float32 sums are exact and
the comparisons can be tight; ties in scores exercise the top-k tie rule.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_estimator.metrics import (
    MetricState,
    accuracy,
    auc,
    average_precision_at_k,
    false_negatives,
    false_negatives_at_thresholds,
    false_positives,
    false_positives_at_thresholds,
    mean,
    mean_absolute_error,
    mean_cosine_distance,
    mean_iou,
    mean_per_class_accuracy,
    mean_relative_error,
    mean_squared_error,
    mean_tensor,
    metric_states,
    percentage_below,
    precision,
    precision_at_k,
    precision_at_thresholds,
    precision_at_top_k,
    recall,
    recall_at_k,
    recall_at_thresholds,
    recall_at_top_k,
    root_mean_squared_error,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    true_negatives,
    true_negatives_at_thresholds,
    true_positives,
    true_positives_at_thresholds,
)

CLASSES = 4
THRESHOLDS = [0.75, 0.25, 0.5]


def every_metric(features: dict[str, torch.Tensor], labels: Any) -> dict[str, Any]:
    """Every metric function (but mean_tensor, whose state has the batch's shape), on one batch."""
    f = features
    w = f["weights"]
    binary, probabilities = f["binary"], f["probabilities"]
    decisions = probabilities > 0.5
    return {
        "mean": mean(f["values"], w),
        "accuracy": accuracy(f["classes"], f["predicted"], w),
        "percentage_below": percentage_below(f["values"], 0.5, w),
        "mse": mean_squared_error(f["targets"], f["values"], w),
        "rmse": root_mean_squared_error(f["targets"], f["values"], w),
        "mae": mean_absolute_error(f["targets"], f["values"]),
        "mre": mean_relative_error(f["targets"], f["values"], f["normalizer"], w),
        "cosine": mean_cosine_distance(f["target_vectors"], f["vectors"], dim=1, weights=w),
        "tp": true_positives(binary, decisions, w),
        "fp": false_positives(binary, decisions, w),
        "tn": true_negatives(binary, decisions),
        "fn": false_negatives(binary, decisions, w),
        "precision": precision(binary, decisions, w),
        "recall": recall(binary, decisions),
        "tp_at": true_positives_at_thresholds(binary, probabilities, THRESHOLDS, w),
        "fp_at": false_positives_at_thresholds(binary, probabilities, THRESHOLDS),
        "tn_at": true_negatives_at_thresholds(binary, probabilities, THRESHOLDS, w),
        "fn_at": false_negatives_at_thresholds(binary, probabilities, THRESHOLDS, w),
        "precision_at": precision_at_thresholds(binary, probabilities, THRESHOLDS, w),
        "recall_at": recall_at_thresholds(binary, probabilities, THRESHOLDS, w),
        "auc": auc(binary, probabilities, w),
        "auc_pr": auc(binary, probabilities, w, curve="PR", summation_method="careful_interpolation"),
        "auc_minoring": auc(binary, probabilities, num_thresholds=7, summation_method="minoring"),
        "sensitivity": sensitivity_at_specificity(binary, probabilities, 0.5, w),
        "specificity": specificity_at_sensitivity(binary, probabilities, 0.5, w, num_thresholds=20),
        "mean_iou": mean_iou(f["classes"], f["predicted"], CLASSES, w),
        "mean_per_class_accuracy": mean_per_class_accuracy(f["classes"], f["predicted"], CLASSES, w),
        "precision_at_k": precision_at_k(f["label_sets"], f["scores"], k=2, weights=w),
        "recall_at_k": recall_at_k(f["label_sets"], f["scores"], k=2),
        "precision_at_k_class": precision_at_k(f["classes"], f["scores"], k=2, class_id=1, weights=w),
        "recall_at_k_class": recall_at_k(f["label_sets"], f["scores"], k=2, class_id=2, weights=w),
        "precision_at_top_k": precision_at_top_k(f["label_sets"], f["top_ids"], weights=w),
        "recall_at_top_k": recall_at_top_k(f["label_sets"], f["top_ids"]),
        "average_precision": average_precision_at_k(f["label_sets"], f["scores"], k=3, weights=w),
        "average_precision_single": average_precision_at_k(f["classes"], f["scores"], k=2, weights=w),
    }


@st.composite
def datasets(draw: st.DrawFn, min_size: int = 1) -> dict[str, torch.Tensor]:
    n = draw(st.integers(min_size, 10))

    def column(elements: st.SearchStrategy[Any], *shape: int) -> list[Any]:
        size = n * math.prod(shape)
        return draw(st.lists(elements, min_size=size, max_size=size))

    quarters = st.integers(-8, 8).map(lambda value: value / 4)
    return {
        "values": torch.tensor(column(quarters)),
        "targets": torch.tensor(column(quarters)),
        "normalizer": torch.tensor(column(quarters)),
        "weights": torch.tensor(column(st.integers(0, 3)), dtype=torch.float32),
        "vectors": torch.tensor(column(quarters, 3)).reshape(n, 3),
        "target_vectors": torch.tensor(column(quarters, 3)).reshape(n, 3),
        "binary": torch.tensor(column(st.integers(0, 1))),
        "probabilities": torch.tensor(column(st.integers(0, 64))) / 64,
        "classes": torch.tensor(column(st.integers(0, CLASSES - 1))),
        "predicted": torch.tensor(column(st.integers(0, CLASSES - 1))),
        "scores": torch.tensor(column(st.integers(0, 3), CLASSES), dtype=torch.float32).reshape(n, CLASSES),
        "label_sets": torch.tensor(column(st.integers(-1, CLASSES), 2)).reshape(n, 2),
        "top_ids": torch.tensor(column(st.integers(0, CLASSES - 1), 2)).reshape(n, 2),
    }


def batches_of(data: dict[str, torch.Tensor], cuts: list[int]) -> list[tuple[dict[str, torch.Tensor], None]]:
    size = len(data["values"])
    bounds = [0, *sorted(cuts), size]
    return [
        ({key: value[start:stop] for key, value in data.items()}, None)
        for start, stop in itertools.pairwise(bounds)
    ]


def assert_same_values(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.allclose(actual[name], value, rtol=1e-5, atol=1e-6, equal_nan=True), (
            f"{name}: {actual[name]} != {value}"
        )


@settings(max_examples=25, deadline=None)
@given(data=datasets(), cut_fractions=st.lists(st.floats(0, 1), max_size=4))
def test_any_split_into_batches_gives_the_value_of_one_batch(run_metrics, data, cut_fractions):
    size = len(data["values"])
    cuts = sorted({int(fraction * size) for fraction in cut_fractions} - {0, size})
    expected = run_metrics(every_metric, batches_of(data, []))
    assert_same_values(run_metrics(every_metric, batches_of(data, cuts)), expected)


@settings(max_examples=25, deadline=None)
@given(data=datasets(min_size=2), cut_fraction=st.floats(0, 1))
def test_states_of_two_graphs_merge_by_summing(run_metrics, data, cut_fraction):
    size = len(data["values"])
    cut = min(max(int(cut_fraction * size), 1), size - 1)
    first, second = batches_of(data, [cut])
    expected = run_metrics(every_metric, [first, second])
    run_metrics(every_metric, [second])
    other_rank = run_metrics.graph
    run_metrics(every_metric, [first])
    for state, other in zip(metric_states(run_metrics.graph), metric_states(other_rank), strict=True):
        for tensor, other_tensor in zip(state.tensors(), other.tensors(), strict=True):
            tensor.add_(other_tensor)
    assert_same_values(run_metrics.values(), expected)


@settings(max_examples=25, deadline=None)
@given(
    batches=st.integers(1, 4).flatmap(
        lambda count: st.lists(
            st.tuples(
                st.lists(st.integers(-8, 8), min_size=6, max_size=6),
                st.lists(st.integers(0, 3), min_size=6, max_size=6),
            ),
            min_size=count,
            max_size=count,
        )
    ),
    halves=st.booleans(),
)
def test_mean_tensor_is_the_weighted_element_wise_mean_and_merges(run_metrics, batches, halves):
    """mean_tensor keeps a state of the batch's shape, so its invariant is element-wise: the value
    is sum(w * v) / sum(w) over batches (0 where no weight), however the batches go to ranks."""
    tensors = [
        (
            torch.tensor(values, dtype=torch.float32).reshape(2, 3),
            torch.tensor(weights, dtype=torch.float32).reshape(2, 3),
        )
        for values, weights in batches
    ]
    values = torch.stack([value for value, _ in tensors])
    weights = torch.stack([weight for _, weight in tensors])
    total, count = (values * weights).sum(0), weights.sum(0)
    expected = torch.where(count > 0, total / torch.where(count > 0, count, 1.0), 0.0)

    def metrics_fn(features, labels):
        return {"m": mean_tensor(features, weights=labels)}

    if not halves or len(tensors) == 1:
        result = run_metrics(metrics_fn, tensors)["m"]
    else:
        run_metrics(metrics_fn, tensors[1:])
        other_rank = run_metrics.graph
        run_metrics(metrics_fn, tensors[:1])
        for state, other in zip(metric_states(run_metrics.graph), metric_states(other_rank), strict=True):
            for tensor, other_tensor in zip(state.tensors(), other.tensors(), strict=True):
                tensor.add_(other_tensor)
        result = run_metrics.values()["m"]
    assert torch.allclose(result, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(data=datasets(), cut_fractions=st.lists(st.floats(0, 1), max_size=4), size=st.sampled_from([1, 7, 40]))
def test_folding_late_in_bulk_gives_the_values_of_folding_every_batch(run_metrics, data, cut_fractions, size):
    """Every metric, every split: flush_size 1 folds each batch in its update op (the old way)."""
    rows = len(data["values"])
    cuts = sorted({int(fraction * rows) for fraction in cut_fractions} - {0, rows})
    original = MetricState.flush_size  # a class setting: restored below
    try:
        MetricState.flush_size = 1
        expected = run_metrics(every_metric, batches_of(data, cuts))
        MetricState.flush_size = size
        actual = run_metrics(every_metric, batches_of(data, cuts))
    finally:
        MetricState.flush_size = original
    assert_same_values(actual, expected)
