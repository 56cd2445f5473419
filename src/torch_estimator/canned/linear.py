"""LinearClassifier, LinearRegressor, LinearEstimator: a linear model over feature columns under a head.

Each is a function returning a ``te.Estimator`` whose model_fn runs ``linear_logits`` and hands
the logits to the head. Variables carry TF's names: ``linear/linear_model/<column>/weights`` and
``linear/linear_model/bias_weights``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from torch_estimator import summary
from torch_estimator.canned.estimator_factory import (
    SUM_OVER_BATCH_SIZE,
    binary_or_multi_class_head,
    check_features,
    check_head,
    column_tuple,
    make_estimator,
    named_variables_under,
    regression_head,
    summaries_wanted,
    variables_under,
)
from torch_estimator.canned.optimizers import check_optimizer, get_optimizer_instance
from torch_estimator.canned.summaries import zero_fraction
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.feature_column.linear_model import fused_linear_model
from torch_estimator.graph.graph import require_graph
from torch_estimator.graph.variables import variable_scope
from torch_estimator.train import FtrlOptimizer, Optimizer
from torch_estimator.train.fused_rows import fused_rows_registry

__all__ = ["LinearClassifier", "LinearEstimator", "LinearRegressor"]

_LEARNING_RATE = 0.2
_SPARSE_COMBINERS = ("mean", "sqrtn", "sum")


def check_sparse_combiner(sparse_combiner: Any, argument: str = "sparse_combiner") -> str:
    """``sparse_combiner`` if it is 'mean', 'sqrtn' or 'sum'.

    >>> check_sparse_combiner("sum")
    'sum'
    """
    if sparse_combiner not in _SPARSE_COMBINERS:
        raise ValueError(
            f"{argument} must be one of {_SPARSE_COMBINERS}: how to combine the weights of a multivalent "
            f"categorical column. Received: {sparse_combiner!r}."
        )
    return str(sparse_combiner)


def default_linear_optimizer(feature_columns: Sequence[Any]) -> Optimizer:
    """TF's default for ``optimizer=None``: Ftrl with a rate of min(0.2, 1/sqrt(#columns)).

    >>> default_linear_optimizer([None] * 100).hyperparameters["lr"]
    0.1
    """
    return FtrlOptimizer(learning_rate=min(_LEARNING_RATE, 1.0 / math.sqrt(max(len(feature_columns), 1))))


def linear_logits(
    features: Any,
    feature_columns: Sequence[Any],
    logits_dimension: int,
    sparse_combiner: str = "sum",
    mode: str = ModeKeys.TRAIN,
) -> torch.Tensor:
    """The logits ``[batch, logits_dimension]`` of TF's canned linear model, its variables under ``linear/``.

    In TRAIN records TF's summaries ``linear/bias`` and ``linear/fraction_of_zero_weights`` (only
    training writes model_fn summaries, so the other modes skip the work).
    """
    with variable_scope("linear") as scope:
        logits = fused_linear_model(features, feature_columns, logits_dimension, sparse_combiner)
        if mode != ModeKeys.TRAIN or not summaries_wanted():
            return logits
        variables = named_variables_under(scope)
        bias = variables.pop(f"{scope}/linear_model/bias_weights", None)
        # Fused weights are counted through their storage: one tensor instead of one per column.
        weights = fused_rows_registry(require_graph("linear_logits")).covering(list(variables.values()))
        if bias is not None:
            if logits_dimension == 1:
                summary.scalar("bias", bias.reshape(-1)[0])
            else:
                summary.histogram("bias", bias)
        if weights:
            summary.scalar("fraction_of_zero_weights", zero_fraction(weights))
    return logits


def linear_model_fn(
    features: Any,
    labels: Any,
    mode: str,
    head: Any,
    feature_columns: Sequence[Any],
    optimizer: Any,
    sparse_combiner: str,
) -> EstimatorSpec:
    """The canned linear model_fn: ``linear_logits`` into ``head``, trained by ``optimizer``.

    A name gets a learning rate of 0.2; ``optimizer=None`` gets Ftrl at min(0.2, 1/sqrt(#columns)).
    """
    features = check_features(features)
    logits = linear_logits(features, feature_columns, head.logits_dimension, sparse_combiner, mode)
    training = mode == ModeKeys.TRAIN
    resolved = None
    if training:
        resolved = get_optimizer_instance(
            optimizer or default_linear_optimizer(feature_columns), _LEARNING_RATE
        )
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        optimizer=resolved,
        trainable_variables=variables_under("linear") if training else None,
    )


def LinearEstimator(
    head: Any,
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
    sparse_combiner: str = "sum",
    warm_start_from: Any = None,
) -> Estimator:
    """An Estimator training a linear model under any ``head`` (``tf.estimator.LinearEstimator``).

    ``optimizer``: 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' or 'SGD' (learning rate 0.2), a ``te.train``
    optimizer, a zero-argument function returning one, or None (Ftrl at min(0.2, 1/sqrt(#columns))).
    ``sparse_combiner`` ('sum', 'mean', 'sqrtn') combines the weights of a multivalent column.

    >>> import torch_estimator as te
    >>> est = te.LinearEstimator(te.RegressionHead(), [te.feature_column.numeric_column("x")])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=2)
    >>> sorted(name for name in est.get_variable_names() if "Ftrl" not in name)
    ['global_step', 'linear/linear_model/bias_weights', 'linear/linear_model/x/weights']
    """
    head = check_head(head)
    columns = column_tuple(feature_columns, "feature_columns")
    if optimizer is not None:
        check_optimizer(optimizer)
    combiner = check_sparse_combiner(sparse_combiner)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return linear_model_fn(features, labels, mode, head, columns, optimizer, combiner)

    return make_estimator(model_fn, model_dir, config, warm_start_from)


def LinearClassifier(
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    n_classes: int = 2,
    weight_column: Any = None,
    label_vocabulary: Sequence[str] | None = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    sparse_combiner: str = "sum",
) -> Estimator:
    """An Estimator classifying with a linear model (``tf.estimator.LinearClassifier``).

    >>> import torch_estimator as te
    >>> est = te.LinearClassifier([te.feature_column.numeric_column("x")], n_classes=3)
    >>> _ = est.train(lambda: ({"x": torch.ones(2, 1)}, torch.tensor([[0], [2]])), steps=1)
    >>> est.get_variable_value("linear/linear_model/x/weights").shape
    (1, 3)
    """
    head = binary_or_multi_class_head(n_classes, weight_column, label_vocabulary, loss_reduction)
    return LinearEstimator(
        head, feature_columns, model_dir, optimizer, config, sparse_combiner, warm_start_from
    )


def LinearRegressor(
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    label_dimension: int = 1,
    weight_column: Any = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    sparse_combiner: str = "sum",
) -> Estimator:
    """An Estimator regressing with a linear model (``tf.estimator.LinearRegressor``).

    >>> import torch_estimator as te
    >>> est = te.LinearRegressor([te.feature_column.numeric_column("x")])
    >>> _ = est.train(lambda: ({"x": torch.ones(2, 1)}, torch.ones(2, 1)), steps=1)
    >>> est.get_variable_value("linear/linear_model/bias_weights").shape
    (1,)
    """
    head = regression_head(label_dimension, weight_column, loss_reduction)
    return LinearEstimator(
        head, feature_columns, model_dir, optimizer, config, sparse_combiner, warm_start_from
    )
