"""precision_at_k, recall_at_k, average_precision_at_k with sparse labels, derived by hand from TF's
set semantics (labels of a row are a set; recall counts any label not in the top k, -1 included)."""

from __future__ import annotations

import math

import pytest
import torch

from torch_estimator.metrics import (
    average_precision_at_k,
    precision_at_k,
    precision_at_top_k,
    recall_at_k,
    recall_at_top_k,
)
from torch_estimator.metrics.ranking import label_rank

# Two rows over 4 classes. Top 2: row 0 -> [3, 2]; row 1 -> [0, 1].
SCORES = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
LABELS = torch.tensor([[0, 3], [2, -1]])


def test_precision_and_recall_at_k_on_two_examples(run_metrics):
    """Row 0: top {3, 2}, labels {0, 3}: tp 1, fp 1, fn 1. Row 1: top {0, 1}, labels {2, -1}:
    tp 0, fp 2, fn 2 (-1 is a label that is never retrieved). Precision 1/4, recall 1/4.
    Weights [2, 1]: precision 2 / (2 + 2 + 2) = 1/3; recall 2 / (2 + 2 + 2) = 1/3."""

    def metrics_fn(features, labels):
        return {
            "precision": precision_at_k(labels, features, k=2),
            "recall": recall_at_k(labels, features, k=2),
            "w_precision": precision_at_k(labels, features, k=2, weights=torch.tensor([2.0, 1.0])),
            "w_recall": recall_at_k(labels, features, k=2, weights=torch.tensor([2.0, 1.0])),
        }

    values = run_metrics(metrics_fn, [(SCORES, LABELS)])
    assert float(values["precision"]) == pytest.approx(0.25)
    assert float(values["recall"]) == pytest.approx(0.25)
    assert float(values["w_precision"]) == pytest.approx(1 / 3)
    assert float(values["w_recall"]) == pytest.approx(1 / 3)
    assert values["precision"].dtype == torch.float64
    assert sorted(run_metrics.graph.objects) == [
        "metric:precision_at_2",
        "metric:precision_at_2_1",
        "metric:recall_at_2",
        "metric:recall_at_2_1",
    ]


@pytest.mark.parametrize(
    ("class_id", "precision", "recall"),
    [
        (3, 1.0, 1.0),  # in row 0's top 2 and labels
        (2, 0.0, 0.0),  # in row 0's top 2 but not its labels; row 1's label but not in its top 2
        (1, 0.0, math.nan),  # in row 1's top 2, no row has it as a label: recall 0/0 is NaN (TF)
    ],
)
def test_class_id(run_metrics, class_id, precision, recall):
    def metrics_fn(features, labels):
        return {
            "precision": precision_at_k(labels, features, k=2, class_id=class_id),
            "recall": recall_at_k(labels, features, k=2, class_id=class_id),
        }

    values = run_metrics(metrics_fn, [(SCORES, LABELS)])
    assert float(values["precision"]) == pytest.approx(precision)
    assert float(values["recall"]) == pytest.approx(recall, nan_ok=True)
    assert f"metric:precision_at_2_class{class_id}" in run_metrics.graph.objects


def test_single_labels_ties_and_duplicates(run_metrics):
    """Equal scores rank the lower class first (TF's top_k): top 1 of [0.5, 0.5, 0.5] is class 0.
    Labels [[3, 3]] are the set {3}: precision@2 of top {3, 2} is 1/2, recall 1/1."""
    tied = run_metrics(
        lambda f, y: {"p": precision_at_k(y, f, k=1)}, [(torch.full((2, 3), 0.5), torch.tensor([0, 2]))]
    )
    assert float(tied["p"]) == 0.5  # row 0 right (class 0), row 1 wrong (class 0, label 2)

    def metrics_fn(features, labels):
        return {"p": precision_at_k(labels, features, k=2), "r": recall_at_k(labels, features, k=2)}

    duplicated = run_metrics(metrics_fn, [(SCORES[:1], torch.tensor([[3, 3]]))])
    assert float(duplicated["p"]) == 0.5
    assert float(duplicated["r"]) == 1.0


def test_at_top_k_takes_class_ids(run_metrics):
    """Ids [[3, 2], [0, 1]] are the top 2 above: the same 1/4 and 1/4."""

    def metrics_fn(features, labels):
        return {"p": precision_at_top_k(labels, features, k=2), "r": recall_at_top_k(labels, features, k=2)}

    values = run_metrics(metrics_fn, [(torch.tensor([[3, 2], [0, 1]]), LABELS)])
    assert float(values["p"]) == pytest.approx(0.25)
    assert float(values["r"]) == pytest.approx(0.25)
    # Float ids are cast to int64 as TF cast them, truncating: [[3.5, 2.0], [0.9, 1.0]] are the same.
    values = run_metrics(metrics_fn, [(torch.tensor([[3.5, 2.0], [0.9, 1.0]]), LABELS)])
    assert float(values["p"]) == pytest.approx(0.25)
    assert float(values["r"]) == pytest.approx(0.25)


def test_average_precision_at_k(run_metrics):
    """k=3. Row 0: top [3, 2, 1], labels {0, 3}: relevant [1, 0, 0], precisions [1, 1/2, 1/3],
    sum 1, over min(2 labels, 3) = 2 -> 1/2. Row 1: top [0, 1, 2], labels [2, -1]: relevant
    [0, 0, 1], sum 1/3, over 1 non-negative label -> 1/3. Mean 5/12; weights [1, 3]: (1/2 + 1) / 4."""

    def metrics_fn(features, labels):
        return {
            "ap": average_precision_at_k(labels, features, k=3),
            "weighted": average_precision_at_k(labels, features, k=3, weights=torch.tensor([1.0, 3.0])),
        }

    values = run_metrics(metrics_fn, [(SCORES, LABELS)])
    assert float(values["ap"]) == pytest.approx(5 / 12)
    assert float(values["weighted"]) == pytest.approx(0.375)
    assert "metric:average_precision_at_3" in run_metrics.graph.objects


def test_average_precision_with_one_label_per_row(run_metrics):
    """Labels [1, 2], top 3 [1, 2, 0] and [0, 1, 2]: hits at rank 1 and 3 -> (1 + 1/3) / 2. The same
    with a -1 pad column. A row whose only label is -1 has no relevant item: 0 / 0 = NaN (TF)."""
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])

    def metrics_fn(features, labels):
        padded = torch.stack([labels, torch.full_like(labels, -1)], dim=-1)
        return {
            "single": average_precision_at_k(labels, features, k=3),
            "padded": average_precision_at_k(padded, features, k=3),
        }

    values = run_metrics(metrics_fn, [(scores, torch.tensor([1, 2]))])
    assert float(values["single"]) == pytest.approx(2 / 3)
    assert float(values["padded"]) == pytest.approx(2 / 3)
    values = run_metrics(metrics_fn, [(scores, torch.tensor([1, -1]))])
    assert math.isnan(float(values["single"])) and math.isnan(float(values["padded"]))


def test_average_precision_ignores_labels_out_of_range_and_counts_duplicates(run_metrics):
    """Label 7 >= 4 classes is ignored (TF replaces it by -1): row [0, 7], top 3 [3, 2, 1] has no
    hit -> 0 / 1 = 0. Row [3, 3]: relevant [1, 0, 0], TF counts both non-negative entries -> 1 / 2."""
    batch = [(torch.cat([SCORES[:1], SCORES[:1]]), torch.tensor([[0, 7], [3, 3]]))]
    values = run_metrics(lambda f, y: {"ap": average_precision_at_k(y, f, k=3)}, batch)
    assert float(values["ap"]) == pytest.approx(0.25)


def test_leading_dimensions_beyond_the_batch(run_metrics):
    """Scores [2, 2, 3] and labels [2, 2] are four rows. Top 2 and the label: [1, 2] with label 1
    (hit at rank 1); [0, 1] with 2 (miss); [2, 1] with 1 (hit at rank 2); [0, 2] with 1 (miss).
    precision@2 = 2 / 8, recall@2 = 2 / 4, AP@2 = (1 + 0 + 1/2 + 0) / 4. Weights [[1], [3]]
    weigh the rows of the first dimension: AP = (1 + 0 + 3 * 1/2 + 0) / (1 + 1 + 3 + 3)."""
    scores = torch.tensor([[[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]])
    labels = torch.tensor([[1, 2], [1, 1]])
    weights = torch.tensor([[1.0], [3.0]])

    def metrics_fn(features, labels):
        return {
            "p": precision_at_k(labels, features, k=2),
            "r": recall_at_k(labels, features, k=2),
            "ap": average_precision_at_k(labels, features, k=2),
            "weighted_ap": average_precision_at_k(labels, features, k=2, weights=weights),
        }

    values = run_metrics(metrics_fn, [(scores, labels)] * 2)  # two batches: the same ratios
    assert float(values["p"]) == pytest.approx(0.25)
    assert float(values["r"]) == pytest.approx(0.5)
    assert float(values["ap"]) == pytest.approx(0.375)
    assert float(values["weighted_ap"]) == pytest.approx(2.5 / 8)


def test_k_and_shape_errors(run_metrics):
    with pytest.raises(ValueError, match=r"Invalid k=0. `k` should be >= 1"):
        run_metrics(lambda f, y: {"ap": average_precision_at_k(y, f, k=0)}, [(SCORES, LABELS)])
    with pytest.raises(ValueError, match=r"input must have at least k columns\. Had 4, needed 5"):
        run_metrics(lambda f, y: {"p": precision_at_k(y, f, k=5)}, [(SCORES, LABELS)])
    with pytest.raises(
        ValueError, match=r"Unexpected labels shape \(2, 2, 1\) for predictions shape \(2, 2\)"
    ):
        run_metrics(lambda f, y: {"p": precision_at_k(y, f, k=2)}, [(SCORES, LABELS.unsqueeze(-1))])
    with pytest.raises(
        ValueError, match=r"labels of shape \(3, 1\) and predictions of shape \(2, 2\) differ"
    ):
        run_metrics(lambda f, y: {"r": recall_at_k(y, f, k=2)}, [(SCORES, torch.tensor([1, 2, 3]))])
    with pytest.raises(ValueError, match=r"weights can not be broadcast to values. values.shape=\(2,\)"):
        run_metrics(lambda f, y: {"r": recall_at_k(y, f, k=2, weights=torch.ones(2, 1))}, [(SCORES, LABELS)])
    with pytest.raises(TypeError, match="labels must hold integer class ids"):
        run_metrics(lambda f, y: {"r": recall_at_k(y, f, k=2)}, [(SCORES, LABELS.float())])


def test_label_rank_is_the_position_in_the_stable_descending_sort():
    """Ties (lower id first), -0.0 == 0.0, infinities and NaN (above everything, NaNs in id order)
    rank exactly as torch.sort(descending=True, stable=True) orders them."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(-2, 3, (2000, 6), generator=generator).to(torch.float32)
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0])
    mask = torch.rand(scores.shape, generator=generator) < 0.15
    scores[mask] = specials[torch.randint(0, 4, (int(mask.sum()),), generator=generator)]
    labels = torch.randint(0, 6, (2000, 1), generator=generator)
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    expected = (order == labels).to(torch.int64).argmax(-1)
    assert torch.equal(label_rank(scores, labels), expected)
    for other in (scores.nan_to_num(0.0), torch.randn(2000, 6, generator=generator)):  # ties; neither
        order = torch.sort(other, dim=-1, descending=True, stable=True).indices
        assert torch.equal(label_rank(other, labels), (order == labels).to(torch.int64).argmax(-1))


def test_tf1_deprecated_names():
    """tf.compat.v1.metrics kept sparse_precision_at_k and sparse_average_precision_at_k as aliases."""
    from torch_estimator import metrics

    assert metrics.sparse_precision_at_k is precision_at_k
    assert metrics.sparse_average_precision_at_k is average_precision_at_k
