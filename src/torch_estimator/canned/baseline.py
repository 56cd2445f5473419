"""BaselineClassifier, BaselineRegressor, BaselineEstimator: a learned bias that ignores the features.

The logits are one variable, ``baseline/bias`` ``[logits_dimension]``, repeated per example, so a
classifier learns the class prior and a regressor the label mean. The features only give the
batch size (the ``weight_column`` feature is not consulted, so serving does not need it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torch_estimator import summary
from torch_estimator.canned.estimator_factory import (
    SUM_OVER_BATCH_SIZE,
    binary_or_multi_class_head,
    check_features,
    check_head,
    make_estimator,
    regression_head,
    summaries_wanted,
)
from torch_estimator.canned.optimizers import check_optimizer, get_optimizer_instance
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.graph.initializers import zeros
from torch_estimator.graph.variables import get_variable, variable_scope

__all__ = ["BaselineClassifier", "BaselineEstimator", "BaselineRegressor"]

_LEARNING_RATE = 0.3


def batch_size_of(features: Mapping[str, Any], weight_column: Any = None) -> Any:
    """The batch size shared by every feature but the weight column (symbolic while exporting).

    Raises:
        ValueError: no feature to take it from, or features disagree on their first dimension.

    >>> batch_size_of({"x": torch.ones(3, 2), "w": torch.ones(5)}, weight_column="w")
    3
    """
    sizes = {
        # shape[0], not int(): torch.export keeps the batch dimension symbolic.
        key: value.shape[0] if isinstance(value, torch.Tensor) else len(value)
        for key, value in features.items()
        if key != weight_column
    }
    if not sizes:
        raise ValueError(
            "Baseline estimators take the batch size from the features, but features has none besides "
            f"the weight column. Received keys: {sorted(features)}. Add any feature to input_fn's dict."
        )
    first = next(iter(sizes.values()))
    if any(size != first for size in sizes.values()):
        raise ValueError(f"Features must share their first (batch) dimension. Received batch sizes: {sizes}.")
    return first


def baseline_logits(
    features: Mapping[str, Any], logits_dimension: int, weight_column: Any = None
) -> torch.Tensor:
    """``[batch, logits_dimension]`` copies of ``baseline/bias`` (zeros at the start)."""
    batch_size = batch_size_of(features, weight_column)
    with variable_scope("baseline"):
        bias = get_variable("bias", [logits_dimension], initializer=zeros())
        if summaries_wanted():
            if logits_dimension == 1:
                summary.scalar("bias", bias[0])
            else:
                summary.histogram("bias", bias)
    return bias.unsqueeze(0).expand(batch_size, logits_dimension)


def weight_column_key(weight_column: Any) -> Any:
    """The feature key of a weight column given as a name or as a numeric column."""
    return getattr(weight_column, "key", weight_column)


def baseline_model_fn(
    features: Any, labels: Any, mode: str, head: Any, optimizer: Any, weight_column: Any = None
) -> EstimatorSpec:
    """The canned baseline's model_fn: a bias into ``head``, trained by ``optimizer`` (lr 0.3 for a name)."""
    features = check_features(features)
    logits = baseline_logits(features, head.logits_dimension, weight_column_key(weight_column))
    training = mode == ModeKeys.TRAIN
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        optimizer=get_optimizer_instance(optimizer, _LEARNING_RATE) if training else None,
    )


def BaselineEstimator(
    head: Any,
    model_dir: str | os.PathLike[str] | None = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
) -> Estimator:
    """An Estimator learning only a bias under any ``head`` (``tf.estimator.BaselineEstimator``).

    ``optimizer``: 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' or 'SGD' (learning rate 0.3), a ``te.train``
    optimizer, or a zero-argument function returning one.

    >>> import torch_estimator as te
    >>> est = te.BaselineEstimator(te.RegressionHead(), optimizer="SGD")
    >>> _ = est.train(lambda: ({"x": torch.ones(2, 1)}, torch.ones(2, 1)), steps=1)
    >>> [round(float(b), 4) for b in est.get_variable_value("baseline/bias")]
    [0.6]
    """
    head = check_head(head)
    check_optimizer(optimizer)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return baseline_model_fn(features, labels, mode, head, optimizer)

    return make_estimator(model_fn, model_dir, config)


def BaselineClassifier(
    model_dir: str | os.PathLike[str] | None = None,
    n_classes: int = 2,
    weight_column: Any = None,
    label_vocabulary: Sequence[str] | None = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
) -> Estimator:
    """An Estimator predicting the class prior (``tf.estimator.BaselineClassifier``).

    >>> import torch_estimator as te
    >>> est = te.BaselineClassifier(n_classes=3)
    >>> _ = est.train(lambda: ({"x": torch.ones(2, 1)}, torch.tensor([[0], [2]])), steps=1)
    >>> est.get_variable_value("baseline/bias").shape
    (3,)
    """
    head = binary_or_multi_class_head(n_classes, weight_column, label_vocabulary, loss_reduction)
    check_optimizer(optimizer)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return baseline_model_fn(features, labels, mode, head, optimizer, weight_column)

    return make_estimator(model_fn, model_dir, config)


def BaselineRegressor(
    model_dir: str | os.PathLike[str] | None = None,
    label_dimension: int = 1,
    weight_column: Any = None,
    optimizer: Any = "Ftrl",
    config: RunConfig | None = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
) -> Estimator:
    """An Estimator predicting the label mean (``tf.estimator.BaselineRegressor``).

    >>> import torch_estimator as te
    >>> est = te.BaselineRegressor(label_dimension=2)
    >>> _ = est.train(lambda: ({"x": torch.ones(2, 1)}, torch.ones(2, 2)), steps=1)
    >>> est.get_variable_value("baseline/bias").shape
    (2,)
    """
    head = regression_head(label_dimension, weight_column, loss_reduction)
    check_optimizer(optimizer)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return baseline_model_fn(features, labels, mode, head, optimizer, weight_column)

    return make_estimator(model_fn, model_dir, config)
