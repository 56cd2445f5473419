"""RegressionHead: ``label_dimension`` real values, squared error (TF's ``tf.estimator.RegressionHead``)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_estimator.canned.heads.checks import (
    check_labels_shape,
    check_logits,
    check_prediction_keys,
    example_weights,
    labels_to_tensor,
)
from torch_estimator.canned.heads.keys import MetricKeys, PredictionKeys, summary_key
from torch_estimator.canned.heads.losses import (
    LossTerms,
    Reduction,
    call_loss_fn,
    validate_loss_fn,
    validate_loss_reduction,
)
from torch_estimator.canned.heads.metric_ops import regularization_metric
from torch_estimator.canned.heads.spec import (
    PREDICT_SERVING_KEY,
    REGRESS_SERVING_KEY,
    build_estimator_spec,
    head_loss,
)
from torch_estimator.contract.export_output import ExportOutput, PredictOutput, RegressionOutput
from torch_estimator.contract.spec import DEFAULT_SERVING_KEY
from torch_estimator.metrics import mean

__all__ = ["RegressionHead"]


class RegressionHead:
    """A head for regression with mean squared error loss.

    Logits and labels have shape ``[D0, ..., DN, label_dimension]`` (``[D0, ..., DN]`` labels are
    accepted when ``label_dimension`` is 1). Weights may be ``[..., 1]`` or ``[..., label_dimension]``.

    Args:
        label_dimension: the number of regression targets per example.
        weight_column: a feature key or numeric column (anything with ``.key``) holding example weights.
        loss_reduction: ``te.Reduction.SUM_OVER_BATCH_SIZE`` (default: divides by
            ``batch_size * label_dimension``) or ``SUM``.
        loss_fn: optional ``loss_fn(labels, logits[, features])`` returning the
            ``[D0, ..., DN, label_dimension]`` loss.
        inverse_link_fn: optional mean function: ``predictions = inverse_link_fn(logits)``.
        name: suffixes metric and summary keys with ``/<name>``.

    >>> head = RegressionHead()
    >>> head.loss(torch.tensor([1.0, 2.0]), torch.tensor([[2.0], [4.0]]))  # (1 + 4) / 2
    tensor(2.5000)
    """

    def __init__(
        self,
        label_dimension: int = 1,
        weight_column: Any = None,
        loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        inverse_link_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(label_dimension, numbers.Integral) and not isinstance(label_dimension, bool):
            label_dimension = int(label_dimension)  # numpy integers too, as TF took them
        if not isinstance(label_dimension, int) or isinstance(label_dimension, bool) or label_dimension < 1:
            raise ValueError(f"Invalid label_dimension {label_dimension!r}. Pass an int >= 1.")
        validate_loss_reduction(loss_reduction)
        if loss_fn is not None:
            validate_loss_fn(loss_fn)
        if inverse_link_fn is not None and not callable(inverse_link_fn):
            raise ValueError(f"inverse_link_fn must be callable. Received: {inverse_link_fn!r}.")
        self.label_dimension = label_dimension
        self.weight_column = weight_column
        self.loss_fn = loss_fn
        self.inverse_link_fn = inverse_link_fn
        self._loss_reduction = loss_reduction
        self._name = name

    @property
    def name(self) -> str | None:
        """The head's name, or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """``label_dimension``."""
        return self.label_dimension

    @property
    def loss_reduction(self) -> str:
        """The ``te.Reduction`` of the training loss."""
        return self._loss_reduction

    def loss_terms(self, labels: Any, logits: torch.Tensor, features: Any = None) -> LossTerms:
        """Checked logits, float labels, the unreduced ``[..., label_dimension]`` loss and the weights."""
        logits = check_logits(logits, self.label_dimension)
        tensor = labels_to_tensor(labels, logits.device)
        if not (tensor.is_floating_point() or tensor.dtype in _INTEGER_DTYPES):
            raise ValueError(f"Regression labels must be numbers. Received labels of dtype {tensor.dtype}.")
        values = check_labels_shape(tensor, logits, self.label_dimension).float()
        if self.loss_fn is not None:
            loss = call_loss_fn(self.loss_fn, values, logits, features, self.label_dimension)
        else:
            loss = (logits - values) ** 2
        weights = example_weights(features, self.weight_column, logits, allow_per_logit_weights=True)
        return LossTerms(logits, values, loss, weights)

    # The reduced loss plus regularization, as every head computes it (TF's Head.loss).
    loss = head_loss

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``predictions`` (the logits, or ``inverse_link_fn(logits)`` plus a ``logits`` key)."""
        valid = (PredictionKeys.PREDICTIONS, PredictionKeys.LOGITS) if self.inverse_link_fn else _PLAIN_KEYS
        if keys:
            check_prediction_keys(keys, valid)
        logits = check_logits(logits, self.label_dimension)
        if self.inverse_link_fn is None:
            return {PredictionKeys.PREDICTIONS: logits}
        predictions = {
            PredictionKeys.PREDICTIONS: self.inverse_link_fn(logits),
            PredictionKeys.LOGITS: logits,
        }
        return {key: value for key, value in predictions.items() if not keys or key in keys}

    def export_outputs(self, predictions: dict[str, torch.Tensor]) -> dict[str, ExportOutput]:
        """serving_default and regression: the predicted values; predict: every prediction."""
        regression = RegressionOutput(predictions[PredictionKeys.PREDICTIONS])
        return {
            DEFAULT_SERVING_KEY: regression,
            REGRESS_SERVING_KEY: regression,
            PREDICT_SERVING_KEY: PredictOutput(predictions),
        }

    def eval_metric_ops(
        self, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """average_loss, prediction/mean, label/mean (and regularization_loss) as ``te.metrics``
        pairs, keys suffixed ``/<name>`` for a named head (call inside model_fn)."""
        keys = {key: summary_key(key, self._name) for key in _METRIC_KEYS}
        predicted = self.predictions(terms.logits.detach())[PredictionKeys.PREDICTIONS]
        weights = terms.weights
        metrics: dict[str, Any] = {
            keys[MetricKeys.LOSS_MEAN]: mean(
                terms.unweighted_loss.detach(), weights, name=keys[MetricKeys.LOSS_MEAN]
            ),
            keys[MetricKeys.PREDICTION_MEAN]: mean(predicted, weights, name=keys[MetricKeys.PREDICTION_MEAN]),
            keys[MetricKeys.LABEL_MEAN]: mean(terms.labels, weights, name=keys[MetricKeys.LABEL_MEAN]),
        }
        metrics.update(regularization_metric(regularization_losses, terms.logits, self._name))
        return metrics

    # The flow every head shares, bound as this head's method (TF's Head.create_estimator_spec).
    create_estimator_spec = build_estimator_spec


_PLAIN_KEYS = (PredictionKeys.PREDICTIONS,)
_METRIC_KEYS = (MetricKeys.LOSS_MEAN, MetricKeys.PREDICTION_MEAN, MetricKeys.LABEL_MEAN)
_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
