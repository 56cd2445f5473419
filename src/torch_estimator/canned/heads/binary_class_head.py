"""BinaryClassHead: one logit per example, sigmoid cross-entropy (TF's ``tf.estimator.BinaryClassHead``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.canned.heads.checks import (
    check_label_range,
    check_labels_shape,
    check_logits,
    check_prediction_keys,
    check_thresholds,
    check_vocabulary,
    example_weights,
    is_string_labels,
    labels_to_ids,
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
from torch_estimator.canned.heads.metric_ops import (
    accuracy_baseline,
    regularization_metric,
    threshold_metrics,
)
from torch_estimator.canned.heads.spec import (
    REGRESS_SERVING_KEY,
    all_class_ids,
    build_estimator_spec,
    classification_outputs,
    head_loss,
)
from torch_estimator.contract.export_output import (
    ExportOutput,
    RegressionOutput,
)
from torch_estimator.metrics import accuracy, mean, precision, recall
from torch_estimator.metrics.curves import keras_auc

__all__ = ["BinaryClassHead"]

_VALID_KEYS = (
    PredictionKeys.LOGITS,
    PredictionKeys.LOGISTIC,
    PredictionKeys.PROBABILITIES,
    PredictionKeys.CLASS_IDS,
    PredictionKeys.CLASSES,
    PredictionKeys.ALL_CLASS_IDS,
    PredictionKeys.ALL_CLASSES,
)


class BinaryClassHead:
    """A head for single-label binary classification with ``sigmoid_cross_entropy`` loss.

    Logits have shape ``[D0, ..., DN, 1]``; labels ``[D0, ..., DN, 1]`` or ``[D0, ..., DN]``, floats in
    ``[0, 1]`` (or strings from ``label_vocabulary``). Weights from ``weight_column`` multiply each
    example's loss.

    Args:
        weight_column: a feature key or numeric column (anything with ``.key``) holding example weights.
        thresholds: floats in (0, 1); each adds accuracy/precision/recall at that threshold to eval.
        label_vocabulary: the two class names (a list or tuple of strings); labels are then strings.
        loss_reduction: ``te.Reduction.SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional ``loss_fn(labels, logits[, features])`` returning the ``[D0, ..., DN, 1]`` loss.
        name: suffixes metric and summary keys with ``/<name>``.

    >>> head = BinaryClassHead()
    >>> logits, labels = torch.tensor([[45.0], [-41.0]]), torch.tensor([[1], [1]])
    >>> head.loss(labels, logits)  # (0 + 41) / 2
    tensor(20.5000)
    """

    def __init__(
        self,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        name: str | None = None,
    ) -> None:
        vocabulary = check_vocabulary(label_vocabulary)
        if vocabulary is not None and len(vocabulary) != 2:
            raise ValueError(
                f"label_vocabulary of a binary head needs exactly 2 entries. Received: {list(vocabulary)}."
            )
        self.thresholds = check_thresholds(thresholds)
        validate_loss_reduction(loss_reduction)
        if loss_fn is not None:
            validate_loss_fn(loss_fn)
        self.weight_column = weight_column
        self.label_vocabulary = vocabulary
        self.loss_fn = loss_fn
        self._loss_reduction = loss_reduction
        self._name = name

    @property
    def name(self) -> str | None:
        """The head's name, or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """Always 1."""
        return 1

    @property
    def loss_reduction(self) -> str:
        """The ``te.Reduction`` of the training loss."""
        return self._loss_reduction

    def loss_terms(self, labels: Any, logits: torch.Tensor, features: Any = None) -> LossTerms:
        """Checked logits, float labels in [0, 1], the unreduced ``[..., 1]`` loss and the weights."""
        logits = check_logits(logits, 1)
        if self.label_vocabulary is not None:
            ids = labels_to_ids(labels, self.label_vocabulary, logits.device)
            label_values = check_labels_shape(ids, logits, 1).float()
        else:
            if is_string_labels(labels):
                raise ValueError(
                    "Labels are strings but the head has no label_vocabulary. Pass "
                    "label_vocabulary=[negative, positive] or numeric labels in [0, 1]."
                )
            tensor = labels_to_tensor(labels, logits.device)
            label_values = check_labels_shape(tensor, logits, 1).float()
        label_values = check_label_range(label_values, 2, "binary labels must be in [0, 1]")
        if self.loss_fn is not None:
            loss = call_loss_fn(self.loss_fn, label_values, logits, features, 1)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, label_values, reduction="none")
        weights = example_weights(features, self.weight_column, logits)
        return LossTerms(logits, label_values, loss, weights)

    # The reduced loss plus regularization, as every head computes it (TF's Head.loss).
    loss = head_loss

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``logits``, ``logistic``, ``probabilities``, ``class_ids``, ``classes``, ``all_class_ids``,
        ``all_classes`` (or only ``keys``). Class "strings" are int64 ids (see PredictionKeys)."""
        if keys:
            check_prediction_keys(keys, _VALID_KEYS)
        wanted = keys or _VALID_KEYS
        logits = check_logits(logits, 1)
        two_class_logits = torch.cat((torch.zeros_like(logits), logits), dim=-1)
        class_ids = two_class_logits.argmax(dim=-1, keepdim=True)
        values = {
            PredictionKeys.LOGITS: lambda: logits,
            PredictionKeys.LOGISTIC: lambda: torch.sigmoid(logits),
            PredictionKeys.PROBABILITIES: lambda: torch.softmax(two_class_logits, dim=-1),
            PredictionKeys.CLASS_IDS: lambda: class_ids,
            PredictionKeys.CLASSES: lambda: class_ids,
            PredictionKeys.ALL_CLASS_IDS: lambda: all_class_ids(logits, 2),
            PredictionKeys.ALL_CLASSES: lambda: all_class_ids(logits, 2),
        }
        return {key: values[key]() for key in _VALID_KEYS if key in wanted}

    def export_outputs(self, predictions: dict[str, torch.Tensor]) -> dict[str, ExportOutput]:
        """serving_default and classification: scores and classes; regression: the logistic; predict: all."""
        regression = {REGRESS_SERVING_KEY: RegressionOutput(predictions[PredictionKeys.LOGISTIC])}
        return classification_outputs(
            predictions, PredictionKeys.ALL_CLASS_IDS, self.label_vocabulary, regression
        )

    def eval_metric_ops(
        self, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """TF's default binary metrics as ``te.metrics`` pairs (call inside model_fn).

        average_loss, accuracy, precision, recall, prediction/mean, label/mean, accuracy_baseline,
        auc, auc_precision_recall, regularization_loss (with regularization losses), and
        accuracy/precision/recall at each threshold; keys suffixed ``/<name>`` for a named head.
        """
        key = self._key
        logits, labels, weights = terms.logits.detach(), terms.labels, terms.weights
        logistic = torch.sigmoid(logits)
        class_ids = (logits > 0).long()  # argmax([0, logit]): ties go to class 0
        label_mean = mean(labels, weights, name=key(MetricKeys.LABEL_MEAN))
        metrics: dict[str, Any] = {
            key(MetricKeys.LOSS_MEAN): mean(
                terms.unweighted_loss.detach(), weights, name=key(MetricKeys.LOSS_MEAN)
            ),
            key(MetricKeys.ACCURACY): accuracy(labels, class_ids, weights, name=key(MetricKeys.ACCURACY)),
            key(MetricKeys.PRECISION): precision(labels, class_ids, weights, name=key(MetricKeys.PRECISION)),
            key(MetricKeys.RECALL): recall(labels, class_ids, weights, name=key(MetricKeys.RECALL)),
            key(MetricKeys.PREDICTION_MEAN): mean(logistic, weights, name=key(MetricKeys.PREDICTION_MEAN)),
            key(MetricKeys.LABEL_MEAN): label_mean,
            key(MetricKeys.ACCURACY_BASELINE): accuracy_baseline(
                label_mean, key(MetricKeys.ACCURACY_BASELINE)
            ),
            # TF's heads take both areas from tf.keras.metrics.AUC (keras_auc), not metrics.auc.
            key(MetricKeys.AUC): keras_auc(labels, logistic, weights, name=key(MetricKeys.AUC)),
            key(MetricKeys.AUC_PR): keras_auc(
                labels, logistic, weights, curve="PR", name=key(MetricKeys.AUC_PR)
            ),
        }
        metrics.update(regularization_metric(regularization_losses, logits, self._name))
        metrics.update(threshold_metrics(labels, logistic, weights, self.thresholds, self._name))
        return metrics

    # The flow every head shares, bound as this head's method (TF's Head.create_estimator_spec).
    create_estimator_spec = build_estimator_spec

    def _key(self, key: str) -> str:
        return summary_key(key, self._name)
