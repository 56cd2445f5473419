"""DNNLinearCombined{Classifier,Regressor,Estimator}: wide (linear) and deep (DNN) logits, summed.

Each is a function returning a ``te.Estimator``. The two parts keep the variables of the canned
Linear and DNN models (``linear/linear_model/...``, ``dnn/...``) and each is trained by its own
optimizer on its own variables: one backward pass of the loss feeds both optimizers (a
``te.train.group`` of their ``minimize`` ops), each applying its share; only the DNN's optimizer
(the linear one when there is no DNN) advances the global step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from torch_estimator.canned.dnn import add_layer_summary, check_dropout, check_hidden_units, dnn_logits
from torch_estimator.canned.estimator_factory import (
    SUM_OVER_BATCH_SIZE,
    binary_or_multi_class_head,
    check_features,
    check_head,
    column_tuple,
    make_estimator,
    regression_head,
    variables_under,
)
from torch_estimator.canned.linear import check_sparse_combiner, linear_logits
from torch_estimator.canned.optimizers import check_optimizer, get_optimizer_instance
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.contract.train_op import TrainOp
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.graph.global_step import get_global_step
from torch_estimator.train import Optimizer, group

__all__ = ["DNNLinearCombinedClassifier", "DNNLinearCombinedEstimator", "DNNLinearCombinedRegressor"]

_DNN_LEARNING_RATE = 0.001
_LINEAR_LEARNING_RATE = 0.005

Activation = Callable[[torch.Tensor], torch.Tensor] | None


def linear_learning_rate(num_linear_feature_columns: int) -> float:
    """TF's rate for a named linear optimizer: min(0.005, 1/sqrt(#linear columns)).

    >>> linear_learning_rate(26)
    0.005
    """
    return min(_LINEAR_LEARNING_RATE, 1.0 / math.sqrt(max(num_linear_feature_columns, 1)))


def combined_train_op(loss: torch.Tensor, parts: Sequence[tuple[Optimizer, list[torch.Tensor]]]) -> TrainOp:
    """Trains each ``(optimizer, variables)`` part on ``loss``; the first part advances the global step.

    As TF's wide-and-deep: a ``group`` of one ``minimize`` per part. The group back-propagates the
    loss once for every part (through ``.grad``, so DDP averages the gradients across ranks), then
    each optimizer applies the gradients of its own variables.
    """
    global_step = get_global_step()
    ops = [
        optimizer.minimize(loss, global_step=global_step if index == 0 else None, var_list=variables)
        for index, (optimizer, variables) in enumerate(parts)
    ]
    return ops[0] if len(ops) == 1 else group(*ops)


def combined_model_fn(
    features: Any,
    labels: Any,
    mode: str,
    head: Any,
    linear_feature_columns: Sequence[Any],
    linear_optimizer: Any,
    dnn_feature_columns: Sequence[Any],
    dnn_optimizer: Any,
    dnn_hidden_units: Sequence[int],
    dnn_activation_fn: Activation,
    dnn_dropout: float | None,
    batch_norm: bool,
    linear_sparse_combiner: str,
) -> EstimatorSpec:
    """The canned wide-and-deep model_fn: the sum of the parts' logits into ``head``."""
    features = check_features(features)
    training = mode == ModeKeys.TRAIN
    parts: list[tuple[Optimizer, list[torch.Tensor]]] = []
    logits = None
    if dnn_feature_columns:
        logits = dnn_logits(
            features, dnn_feature_columns, dnn_hidden_units, head.logits_dimension, mode,
            dnn_activation_fn, dnn_dropout, batch_norm,
        )  # fmt: skip
        if training:
            parts.append((get_optimizer_instance(dnn_optimizer, _DNN_LEARNING_RATE), variables_under("dnn")))
    if linear_feature_columns:
        linear = linear_logits(
            features, linear_feature_columns, head.logits_dimension, linear_sparse_combiner, mode
        )
        if training:
            add_layer_summary(linear, "linear")
        logits = linear if logits is None else logits + linear
        if training:
            rate = linear_learning_rate(len(linear_feature_columns))
            parts.append((get_optimizer_instance(linear_optimizer, rate), variables_under("linear")))
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        train_op_fn=(lambda loss: combined_train_op(loss, parts)) if training else None,
    )


def DNNLinearCombinedEstimator(
    head: Any,
    model_dir: str | os.PathLike[str] | None = None,
    linear_feature_columns: Iterable[Any] | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_feature_columns: Iterable[Any] | None = None,
    dnn_optimizer: Any = "Adagrad",
    dnn_hidden_units: Sequence[int] | None = None,
    dnn_activation_fn: Activation = torch.relu,
    dnn_dropout: float | None = None,
    config: RunConfig | None = None,
    batch_norm: bool = False,
    linear_sparse_combiner: str = "sum",
) -> Estimator:
    """An Estimator training wide-and-deep logits under any ``head``.

    The counterpart of ``tf.estimator.DNNLinearCombinedEstimator``.

    A named ``dnn_optimizer`` gets a learning rate of 0.001, a named ``linear_optimizer``
    min(0.005, 1/sqrt(#linear columns)); either may also be a ``te.train`` optimizer or a
    zero-argument function returning one.

    Raises:
        ValueError: neither column list given ('Either linear_feature_columns or
            dnn_feature_columns must be defined.'); DNN columns without ``dnn_hidden_units``; bad
            optimizer names, dropout or sparse combiner.

    >>> import torch_estimator as te
    >>> x = te.feature_column.numeric_column("x")
    >>> est = te.DNNLinearCombinedEstimator(te.RegressionHead(), linear_feature_columns=[x],
    ...                                     dnn_feature_columns=[x], dnn_hidden_units=[2])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=2)
    >>> est.get_variable_value("global_step")
    2
    """
    return combined_estimator(
        head, model_dir, linear_feature_columns, linear_optimizer, dnn_feature_columns, dnn_optimizer,
        dnn_hidden_units, dnn_activation_fn, dnn_dropout, config, batch_norm, linear_sparse_combiner,
    )  # fmt: skip


def combined_estimator(
    head: Any,
    model_dir: str | os.PathLike[str] | None,
    linear_feature_columns: Iterable[Any] | None,
    linear_optimizer: Any,
    dnn_feature_columns: Iterable[Any] | None,
    dnn_optimizer: Any,
    dnn_hidden_units: Sequence[int] | None,
    dnn_activation_fn: Activation,
    dnn_dropout: float | None,
    config: RunConfig | None,
    batch_norm: bool,
    linear_sparse_combiner: str,
    warm_start_from: Any = None,
) -> Estimator:
    """What the three combined estimators share: argument checks, then the Estimator."""
    head = check_head(head)
    linear_columns = column_tuple(linear_feature_columns, "linear_feature_columns")
    dnn_columns = column_tuple(dnn_feature_columns, "dnn_feature_columns")
    if not linear_columns and not dnn_columns:
        raise ValueError(
            "Either linear_feature_columns or dnn_feature_columns must be defined. Received: "
            f"linear_feature_columns={linear_feature_columns!r}, dnn_feature_columns={dnn_feature_columns!r}."
        )
    hidden_units: tuple[int, ...] = ()
    if dnn_columns:
        if not dnn_hidden_units:
            raise ValueError(
                "dnn_hidden_units must be defined when dnn_feature_columns is specified. Received: "
                f"dnn_hidden_units={dnn_hidden_units!r}. Pass the layer sizes, e.g. [64, 32]."
            )
        hidden_units = check_hidden_units(dnn_hidden_units, "dnn_hidden_units")
    check_optimizer(linear_optimizer, "linear_optimizer")
    check_optimizer(dnn_optimizer, "dnn_optimizer")
    dropout = check_dropout(dnn_dropout)
    combiner = check_sparse_combiner(linear_sparse_combiner, "linear_sparse_combiner")

    def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        return combined_model_fn(
            features, labels, mode, head, linear_columns, linear_optimizer, dnn_columns, dnn_optimizer,
            hidden_units, dnn_activation_fn, dropout, bool(batch_norm), combiner,
        )  # fmt: skip

    return make_estimator(model_fn, model_dir, config, warm_start_from)


def DNNLinearCombinedClassifier(
    model_dir: str | os.PathLike[str] | None = None,
    linear_feature_columns: Iterable[Any] | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_feature_columns: Iterable[Any] | None = None,
    dnn_optimizer: Any = "Adagrad",
    dnn_hidden_units: Sequence[int] | None = None,
    dnn_activation_fn: Activation = torch.relu,
    dnn_dropout: float | None = None,
    n_classes: int = 2,
    weight_column: Any = None,
    label_vocabulary: Sequence[str] | None = None,
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    batch_norm: bool = False,
    linear_sparse_combiner: str = "sum",
) -> Estimator:
    """An Estimator classifying with wide-and-deep logits (``tf.estimator.DNNLinearCombinedClassifier``).

    >>> import torch_estimator as te
    >>> x = te.feature_column.numeric_column("x")
    >>> est = te.DNNLinearCombinedClassifier(linear_feature_columns=[x])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=1)
    >>> est.get_variable_value("linear/linear_model/x/weights").shape
    (1, 1)
    """
    head = binary_or_multi_class_head(n_classes, weight_column, label_vocabulary, loss_reduction)
    return combined_estimator(
        head, model_dir, linear_feature_columns, linear_optimizer, dnn_feature_columns, dnn_optimizer,
        dnn_hidden_units, dnn_activation_fn, dnn_dropout, config, batch_norm, linear_sparse_combiner,
        warm_start_from,
    )  # fmt: skip


def DNNLinearCombinedRegressor(
    model_dir: str | os.PathLike[str] | None = None,
    linear_feature_columns: Iterable[Any] | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_feature_columns: Iterable[Any] | None = None,
    dnn_optimizer: Any = "Adagrad",
    dnn_hidden_units: Sequence[int] | None = None,
    dnn_activation_fn: Activation = torch.relu,
    dnn_dropout: float | None = None,
    label_dimension: int = 1,
    weight_column: Any = None,
    config: RunConfig | None = None,
    warm_start_from: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    batch_norm: bool = False,
    linear_sparse_combiner: str = "sum",
) -> Estimator:
    """An Estimator regressing with wide-and-deep logits (``tf.estimator.DNNLinearCombinedRegressor``).

    >>> import torch_estimator as te
    >>> x = te.feature_column.numeric_column("x")
    >>> est = te.DNNLinearCombinedRegressor(dnn_feature_columns=[x], dnn_hidden_units=[2])
    >>> _ = est.train(lambda: ({"x": torch.ones(4, 1)}, torch.ones(4, 1)), steps=1)
    >>> est.get_variable_value("dnn/hiddenlayer_0/kernel").shape
    (1, 2)
    """
    head = regression_head(label_dimension, weight_column, loss_reduction)
    return combined_estimator(
        head, model_dir, linear_feature_columns, linear_optimizer, dnn_feature_columns, dnn_optimizer,
        dnn_hidden_units, dnn_activation_fn, dnn_dropout, config, batch_norm, linear_sparse_combiner,
        warm_start_from,
    )  # fmt: skip
