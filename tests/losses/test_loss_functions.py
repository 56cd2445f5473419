"""te.losses loss functions and reductions against tf.compat.v1.losses.

Expected values are TF 2.15's (graph mode, the same inputs); the simple ones are also derived by hand.
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te
from torch_estimator.losses import Reduction

LABELS = torch.tensor([[1.0], [0.0], [2.0], [3.0]])
PREDICTIONS = torch.tensor([[1.5], [0.5], [1.0], [3.0]])
WEIGHTS = torch.tensor([[1.0], [0.0], [2.0], [0.5]])
LOGITS = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0], [0.2, 0.1, 3.0]])
CLASS_IDS = torch.tensor([0, 1, 2, 0])
MULTI_LABELS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        # Squared errors [0.25, 0.25, 1, 0] times weights [1, 0, 2, 0.5] = [0.25, 0, 2, 0]: sum 2.25.
        (Reduction.SUM, 2.25),
        (Reduction.MEAN, 2.25 / 3.5),  # over the sum of the weights
        (Reduction.SUM_OVER_BATCH_SIZE, 2.25 / 4),  # over the four elements
        (Reduction.SUM_BY_NONZERO_WEIGHTS, 2.25 / 3),  # over the three nonzero weights (the default)
    ],
)
def test_mean_squared_error_reductions(reduction, expected):
    loss = te.losses.mean_squared_error(LABELS, PREDICTIONS, weights=WEIGHTS, reduction=reduction)
    assert loss.shape == ()
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_reduction_none_keeps_the_weighted_losses():
    loss = te.losses.mean_squared_error(LABELS, PREDICTIONS, weights=WEIGHTS, reduction=Reduction.NONE)
    assert loss.tolist() == [[0.25], [0.0], [2.0], [0.0]]


def test_reduction_names_and_order_are_tfs():
    assert Reduction.all() == (
        "none",
        "weighted_sum",
        "weighted_mean",
        "weighted_sum_over_batch_size",
        "weighted_sum_by_nonzero_weights",
        "weighted_sum_by_nonzero_weights",
    )
    assert Reduction.SUM_OVER_NONZERO_WEIGHTS == Reduction.SUM_BY_NONZERO_WEIGHTS


@pytest.mark.parametrize(
    ("compute", "expected"),
    [
        # |errors| [0.5, 0.5, 1, 0] weighted: 0.5 + 2 = 2.5 over three nonzero weights.
        (lambda: te.losses.absolute_difference(LABELS, PREDICTIONS, weights=WEIGHTS), 2.5 / 3),
        (lambda: te.losses.absolute_difference(LABELS, PREDICTIONS, weights=0.0), 0.0),
        (lambda: te.losses.absolute_difference(LABELS, PREDICTIONS, weights=2.0), 1.0),  # 2 * 2 / 4
        (lambda: te.losses.huber_loss(LABELS, PREDICTIONS, weights=WEIGHTS, delta=0.75), 0.35416666),
        # Signs [1, -1, 1, -1]: max(0, 1 - s * logit) = [0.7, 0, 1.5, 1.7], mean 0.975.
        (
            lambda: te.losses.hinge_loss(
                torch.tensor([[1.0], [0.0], [1.0], [0.0]]), torch.tensor([[0.3], [-2.0], [-0.5], [0.7]])
            ),
            0.975,
        ),
        (
            lambda: te.losses.log_loss(
                torch.tensor([[1.0], [0.0], [1.0], [0.0]]),
                torch.tensor([[0.9], [0.2], [0.4], [0.0]]),
                weights=WEIGHTS,
            ),
            0.6459805,
        ),
        (lambda: te.losses.sparse_softmax_cross_entropy(CLASS_IDS, LOGITS), 1.1613233),
        (
            lambda: te.losses.sparse_softmax_cross_entropy(
                CLASS_IDS.reshape(4, 1), LOGITS, weights=torch.tensor([[1.0], [2.0], [0.0], [1.0]])
            ),
            1.2555767,
        ),
        (
            lambda: te.losses.softmax_cross_entropy(
                torch.nn.functional.one_hot(CLASS_IDS, 3),
                LOGITS,
                weights=torch.tensor([1.0, 2.0, 0.0, 1.0]),
                label_smoothing=0.1,
            ),
            1.3511324,
        ),
        (
            lambda: te.losses.sigmoid_cross_entropy(
                MULTI_LABELS, LOGITS, weights=torch.tensor([[1.0], [0.0], [2.0], [1.0]]), label_smoothing=0.2
            ),
            1.1616976,
        ),
        (
            lambda: te.losses.cosine_distance(
                torch.tensor([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.8, 0.6]]),
                torch.tensor([[0.8, 0.6], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
                axis=1,
                weights=WEIGHTS,
            ),
            0.74666667,
        ),
        # d = [[1, 0, -3], [1, -2, 0]], n = 3: 2 * [10, 5] / 2 - 2 * [4, 1] / 6 = [8.667, 4.667];
        # weighted by [1, 2]: 18.
        (
            lambda: te.losses.mean_pairwise_squared_error(
                torch.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 1.0]]),
                torch.tensor([[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]]),
                weights=torch.tensor([[1.0], [2.0]]),
            ),
            18.0,
        ),
        (
            lambda: te.losses.mean_pairwise_squared_error(
                torch.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 1.0]]),
                torch.tensor([[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]]),
                weights=torch.tensor([[1.0, 0.0, 1.0], [2.0, 1.0, 1.0]]),
            ),
            50.666668,
        ),
        # The default scalar weight: TF's graph mode (what an Estimator ran) gives 8.667 + 4.667;
        # TF's eager mode differs here (5.667), counting every element of the batch as present.
        (
            lambda: te.losses.mean_pairwise_squared_error(
                torch.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 1.0]]),
                torch.tensor([[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]]),
            ),
            13.333334,
        ),
        # Weights [[0], [2]] broadcast over the rows: 2 * (3 + 4) = 14 over two nonzero elements.
        (
            lambda: te.losses.compute_weighted_loss(
                torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0], [2.0]])
            ),
            7.0,
        ),
        (
            lambda: te.losses.compute_weighted_loss(
                torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0], [2.0]]), reduction=Reduction.MEAN
            ),
            3.5,
        ),
        (
            lambda: te.losses.compute_weighted_loss(
                torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.zeros(2, 1)
            ),
            0.0,
        ),
    ],
)
def test_losses_match_tf(compute, expected):
    assert float(compute()) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_sigmoid_cross_entropy_unreduced_matches_tf():
    loss = te.losses.sigmoid_cross_entropy(MULTI_LABELS, LOGITS, reduction=Reduction.NONE)
    expected = [
        [0.126928, 1.3132617, 0.64439666],
        [0.974077, 2.5788898, 0.5543552],
        [0.3132617, 0.3132617, 1.3132617],
        [0.79813886, 0.64439666, 3.0485873],
    ]
    torch.testing.assert_close(loss, torch.tensor(expected))


def test_dtypes_follow_tf():
    half = torch.zeros(4, dtype=torch.float16)
    assert te.losses.mean_squared_error(half, half).dtype == torch.float32  # cast to float32 first
    logits = torch.zeros(4, 3, dtype=torch.float64)
    # The cross entropies keep the logits' dtype.
    assert (
        te.losses.sparse_softmax_cross_entropy(torch.zeros(4, dtype=torch.long), logits).dtype
        == torch.float64
    )


def test_gradients_reach_predictions_but_not_onehot_labels():
    logits = LOGITS.clone().requires_grad_()
    labels = torch.nn.functional.one_hot(CLASS_IDS, 3).float().requires_grad_()
    te.losses.softmax_cross_entropy(labels, logits).backward()
    assert logits.grad is not None and labels.grad is None


@pytest.mark.parametrize(
    ("compute", "error", "phrase"),
    [
        (
            lambda: te.losses.mean_squared_error(None, PREDICTIONS),
            ValueError,
            "Argument `labels` must not be None",
        ),
        (
            lambda: te.losses.mean_squared_error(torch.zeros(4), torch.zeros(4, 1)),
            ValueError,
            "are incompatible",
        ),
        (
            lambda: te.losses.mean_squared_error(torch.zeros(4, 1), torch.zeros(4, 1), weights=torch.ones(4)),
            ValueError,
            "weights can not be broadcast to values",
        ),
        (
            lambda: te.losses.mean_squared_error(
                torch.zeros(4, 2), torch.zeros(4, 2), weights=torch.ones(3, 1)
            ),
            ValueError,
            "weights can not be broadcast to values",
        ),
        (
            lambda: te.losses.compute_weighted_loss(torch.zeros(4), reduction="bad"),
            ValueError,
            "Invalid Reduction Key bad",
        ),
        (
            lambda: te.losses.compute_weighted_loss(torch.zeros(4), reduction=te.Reduction.SUM),
            ValueError,
            "Invalid Reduction Key sum",
        ),
        (
            lambda: te.losses.cosine_distance(torch.zeros(4), torch.zeros(4)),
            ValueError,
            "You must specify argument `axis`",
        ),
        (
            lambda: te.losses.sparse_softmax_cross_entropy(
                torch.zeros(4, dtype=torch.long), torch.zeros(5, 3)
            ),
            ValueError,
            "`labels.shape` must equal `logits.shape` except for the last dimension",
        ),
        (
            lambda: te.losses.sparse_softmax_cross_entropy(torch.zeros(4), torch.zeros(4, 3)),
            TypeError,
            "labels must be integer class ids",
        ),
        (
            lambda: te.losses.mean_squared_error(LABELS, PREDICTIONS, weights=None),
            ValueError,
            "`weights` must not be None",
        ),
    ],
)
def test_bad_inputs_raise_tfs_errors(compute, error, phrase):
    with pytest.raises(error, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        compute()


@pytest.mark.parametrize("label", [-100, -1, 3])
def test_sparse_labels_out_of_range_raise(label):
    # -100 included: torch's cross_entropy would skip it silently (its ignore_index); TF raises.
    with pytest.raises(RuntimeError, match="out of bounds"):
        te.losses.sparse_softmax_cross_entropy(torch.tensor([0, label]), torch.zeros(2, 3))
