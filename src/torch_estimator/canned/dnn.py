"""DNNClassifier, DNNRegressor, DNNEstimator: a feed-forward network under a head.

Each is a function returning a ``te.Estimator`` whose model_fn runs ``dnn_logits`` and hands the
logits to the head. Variables carry TF's names: ``dnn/input_from_feature_columns/input_layer/...``,
``dnn/hiddenlayer_<i>/kernel|bias``, ``dnn/hiddenlayer_<i>/batchnorm_<i>/...``, ``dnn/logits/...``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from torch_estimator import layers, summary
from torch_estimator.canned.estimator_factory import (
    SUM_OVER_BATCH_SIZE,
    binary_or_multi_class_head,
    check_features,
    check_head,
    column_tuple,
    make_estimator,
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
from torch_estimator.feature_column.input_layer import fused_input_layer
from torch_estimator.graph.variables import variable_scope

__all__ = ["DNNClassifier", "DNNEstimator", "DNNRegressor"]

# tf.contrib.layers.batch_norm's momentum: TF's canned DNN uses it because 0.99 diverged on some problems.
_BATCH_NORM_MOMENTUM = 0.999


def check_hidden_units(hidden_units: Any, argument: str = "hidden_units") -> tuple[int, ...]:
    """``hidden_units`` as a tuple of positive ints (an empty one gives logits straight from the input).

    >>> check_hidden_units([4, 2])
    (4, 2)
    """
    if (
        hidden_units is None
        or isinstance(hidden_units, (str, bytes))
        or not isinstance(hidden_units, Iterable)
    ):
        raise ValueError(
            f"{argument} must be a list of layer sizes, e.g. [64, 32]. Received: {hidden_units!r}."
        )
    units = tuple(hidden_units)
    for size in units:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"{argument} must hold positive integers. Received: {hidden_units!r}.")
    return units


def check_dropout(dropout: Any) -> float | None:
    """``dropout`` (the probability of dropping a unit) if it is None or in [0, 1)."""
    if dropout is None:
        return None
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"dropout must be None or a probability in [0, 1) of dropping a unit. Received: {dropout!r}."
        )
    return float(dropout)


def dnn_logits(
    features: Any,
    feature_columns: Sequence[Any],
    hidden_units: Sequence[int],
    logits_dimension: int,
    mode: str,
    activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
    dropout: float | None = None,
    batch_norm: bool = False,
) -> torch.Tensor:
    """The logits ``[batch, logits_dimension]`` of TF's canned DNN, its variables under ``dnn/``.

    Per hidden layer, as TF: dense with ``activation_fn``, then dropout (TRAIN only), then batch
    normalization (momentum 0.999; batch statistics in TRAIN). In TRAIN records TF's summaries
    ``dnn/<layer>/fraction_of_zero_values`` and ``dnn/<layer>/activation`` (only training writes
    model_fn summaries, so the other modes skip the work).
    """
    training = mode == ModeKeys.TRAIN
    with variable_scope("dnn"):
        with variable_scope("input_from_feature_columns"):
            net = fused_input_layer(features, feature_columns)
        for index, units in enumerate(hidden_units):
            name = f"hiddenlayer_{index}"
            net = layers.dense(net, units, activation=activation_fn, name=name)
            if dropout is not None and training:
                net = layers.dropout(net, rate=dropout, training=True)
            if batch_norm:
                with variable_scope(name):
                    net = layers.batch_normalization(
                        net, momentum=_BATCH_NORM_MOMENTUM, training=training, name=f"batchnorm_{index}"
                    )
            if training:
                add_layer_summary(net, name)
        logits = layers.dense(net, logits_dimension, name="logits")
        if training:
            add_layer_summary(logits, "logits")
    return logits


def add_layer_summary(value: torch.Tensor, tag: str) -> None:
    """TF's ``<tag>/fraction_of_zero_values`` scalar and ``<tag>/activation`` histogram."""
    if not summaries_wanted():
        return
    summary.scalar(f"{tag}/fraction_of_zero_values", zero_fraction([value]))
    summary.histogram(f"{tag}/activation", value)


def dnn_model_fn(
    features: Any,
    labels: Any,
    mode: str,
    head: Any,
    hidden_units: Sequence[int],
    feature_columns: Sequence[Any],
    optimizer: Any,
    activation_fn: Callable[[torch.Tensor], torch.Tensor] | None,
    dropout: float | None,
    batch_norm: bool,
) -> EstimatorSpec:
    """The canned DNN's model_fn: ``dnn_logits`` into ``head``, trained by ``optimizer``.

    A named optimizer gets the Keras default learning rate (0.001; SGD 0.01), as in TF2.
    """
    features = check_features(features)
    logits = dnn_logits(
        features,
        feature_columns,
        hidden_units,
        head.logits_dimension,
        mode,
        activation_fn,
        dropout,
        batch_norm,
    )
    training = mode == ModeKeys.TRAIN
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        optimizer=get_optimizer_instance(optimizer) if training else None,
        trainable_variables=variables_under("dnn") if training else None,
    )


def DNNEstimator(
    head: Any,
    hidden_units: Sequence[int],
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    optimizer: Any = "Adagrad",
    activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
    dropout: float | None = None,
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    batch_norm: bool = False,
) -> Estimator:
    """An Estimator training a DNN under any ``head`` (``tf.estimator.DNNEstimator``).

    ``optimizer``: 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' or 'SGD' (learning rate 0.001, SGD 0.01,
    as TF2's Keras defaults), a ``te.train`` optimizer, or a zero-argument function returning one.

    Raises:
        ValueError: bad ``hidden_units``, ``dropout`` or optimizer name; non-dict features (at run time).

    >>> import torch_estimator as te
    >>> est = te.DNNEstimator(te.RegressionHead(), [4], [te.feature_column.numeric_column("x")])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=2)
    >>> est.get_variable_value("dnn/logits/kernel").shape
    (4, 1)
    """
    head = check_head(head)
    units = check_hidden_units(hidden_units)
    columns = column_tuple(feature_columns, "feature_columns")
    check_optimizer(optimizer)
    rate = check_dropout(dropout)

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return dnn_model_fn(
            features, labels, mode, head, units, columns, optimizer, activation_fn, rate, bool(batch_norm)
        )

    return make_estimator(model_fn, model_dir, config, warm_start_from)


def DNNClassifier(
    hidden_units: Sequence[int],
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    n_classes: int = 2,
    weight_column: Any = None,
    label_vocabulary: Sequence[str] | None = None,
    optimizer: Any = "Adagrad",
    activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
    dropout: float | None = None,
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    batch_norm: bool = False,
) -> Estimator:
    """An Estimator classifying with a DNN (``tf.estimator.DNNClassifier``).

    ``n_classes == 2`` uses ``BinaryClassHead``, more classes ``MultiClassHead``; the rest is
    ``DNNEstimator``'s.

    >>> import torch_estimator as te
    >>> est = te.DNNClassifier([4], [te.feature_column.numeric_column("x")])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=2)
    >>> next(est.predict(lambda: iter([{"x": torch.ones(1, 1)}])))["class_ids"].shape
    (1,)
    """
    head = binary_or_multi_class_head(n_classes, weight_column, label_vocabulary, loss_reduction)
    return DNNEstimator(
        head, hidden_units, feature_columns, model_dir, optimizer, activation_fn, dropout, config,
        warm_start_from, batch_norm,
    )  # fmt: skip


def DNNRegressor(
    hidden_units: Sequence[int],
    feature_columns: Iterable[Any],
    model_dir: str | os.PathLike[str] | None = None,
    label_dimension: int = 1,
    weight_column: Any = None,
    optimizer: Any = "Adagrad",
    activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = torch.relu,
    dropout: float | None = None,
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    batch_norm: bool = False,
) -> Estimator:
    """An Estimator regressing with a DNN (``tf.estimator.DNNRegressor``; squared-error ``RegressionHead``).

    >>> import torch_estimator as te
    >>> est = te.DNNRegressor([4], [te.feature_column.numeric_column("x")])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=2)
    >>> next(est.predict(lambda: iter([{"x": torch.ones(1, 1)}])))["predictions"].shape
    (1,)
    """
    head = regression_head(label_dimension, weight_column, loss_reduction)
    return DNNEstimator(
        head, hidden_units, feature_columns, model_dir, optimizer, activation_fn, dropout, config,
        warm_start_from, batch_norm,
    )  # fmt: skip
