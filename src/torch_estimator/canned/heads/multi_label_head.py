"""MultiLabelHead: ``n_classes`` independent sigmoids (TF's ``tf.estimator.MultiLabelHead``).

Labels are a multi-hot indicator ``[D0, ..., DN, n_classes]`` (a tensor, a numeric array, or
equal-length lists of 0/1), or the class ids / names of each example: a sparse COO tensor of ids
(TF's SparseTensor labels), ragged per-example lists of ids, or (with ``label_vocabulary``) lists or
string arrays of names.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from torch_estimator.canned.heads.checks import (
    LABEL_NONE_MESSAGE,
    check_label_range,
    check_labels_shape,
    check_logits,
    check_prediction_keys,
    check_thresholds,
    check_vocabulary,
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
from torch_estimator.canned.heads.metric_ops import regularization_metric, threshold_metrics
from torch_estimator.canned.heads.spec import (
    all_class_ids,
    build_estimator_spec,
    classification_outputs,
    head_loss,
)
from torch_estimator.contract.export_output import ExportOutput
from torch_estimator.metrics import mean
from torch_estimator.metrics.curves import keras_auc

__all__ = ["MultiLabelHead"]

_VALID_KEYS = (PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES, PredictionKeys.CLASSES)
_INDICATOR_MESSAGE = "labels must be an integer indicator Tensor with values in [0, 1]"


class MultiLabelHead:
    """A head for multi-label classification: sigmoid cross-entropy per class, averaged over classes.

    Args:
        n_classes: the number of classes, > 1.
        weight_column: a feature key or numeric column (anything with ``.key``) holding example weights.
        thresholds: floats in (0, 1); each adds accuracy/precision/recall at that threshold to eval.
        label_vocabulary: the ``n_classes`` class names, for labels given as names.
        loss_reduction: ``te.Reduction.SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional ``loss_fn(labels, logits[, features])`` returning the ``[D0, ..., DN, 1]`` loss;
            it receives the float multi-hot labels.
        classes_for_class_based_metrics: class ids (or names from the vocabulary) that get
            ``probability_mean``, ``auc`` and ``auc_precision_recall`` metrics of their own.
        name: suffixes metric and summary keys with ``/<name>``.

    >>> head = MultiLabelHead(n_classes=2)
    >>> head.loss(torch.tensor([[1, 0]]), torch.zeros(1, 2))  # ln 2 for each class, averaged
    tensor(0.6931)
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        classes_for_class_based_metrics: Sequence[int | str] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(n_classes, numbers.Integral) and not isinstance(n_classes, bool):
            n_classes = int(n_classes)  # numpy integers too, as TF took them
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
            raise ValueError(f"n_classes must be > 1 for multi-label classification. Given: {n_classes!r}")
        self.thresholds = check_thresholds(thresholds)
        self.label_vocabulary = check_vocabulary(label_vocabulary, n_classes)
        if loss_fn is not None:
            validate_loss_fn(loss_fn)
        validate_loss_reduction(loss_reduction)
        self.n_classes = n_classes
        self.weight_column = weight_column
        self.loss_fn = loss_fn
        self.classes_for_class_based_metrics = self._class_ids(classes_for_class_based_metrics)
        self._loss_reduction = loss_reduction
        self._name = name

    def _class_ids(self, classes: Sequence[int | str] | None) -> tuple[int, ...]:
        if not classes:
            return ()
        ids = []
        for item in classes:
            if isinstance(item, str):
                if not self.label_vocabulary:
                    raise ValueError(
                        "label_vocabulary must be provided when classes_for_class_based_metrics are strings."
                    )
                if item not in self.label_vocabulary:
                    raise ValueError(
                        f"classes_for_class_based_metrics entry {item!r} is not in label_vocabulary "
                        f"{list(self.label_vocabulary)}."
                    )
                ids.append(self.label_vocabulary.index(item))
            elif not 0 <= int(item) < self.n_classes:
                raise ValueError(
                    f"All classes_for_class_based_metrics must be in range [0, {self.n_classes - 1}]. "
                    f"Given: {item}"
                )
            else:
                ids.append(int(item))
        return tuple(ids)

    @property
    def name(self) -> str | None:
        """The head's name, or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """``n_classes``."""
        return self.n_classes

    @property
    def loss_reduction(self) -> str:
        """The ``te.Reduction`` of the training loss."""
        return self._loss_reduction

    def loss_terms(self, labels: Any, logits: torch.Tensor, features: Any = None) -> LossTerms:
        """Checked logits, float multi-hot labels, the unreduced ``[..., 1]`` loss and the weights."""
        logits = check_logits(logits, self.n_classes)
        indicator = check_labels_shape(self._indicator(labels, logits.device), logits, self.n_classes).float()
        if self.loss_fn is not None:
            loss = call_loss_fn(self.loss_fn, indicator, logits, features, 1)
        else:
            per_class = F.binary_cross_entropy_with_logits(logits, indicator, reduction="none")
            loss = per_class.mean(dim=-1, keepdim=True)
        weights = example_weights(features, self.weight_column, logits)
        return LossTerms(logits, indicator, loss, weights)

    def _indicator(self, labels: Any, device: torch.device) -> torch.Tensor:
        if labels is None:
            raise ValueError(LABEL_NONE_MESSAGE)
        if isinstance(labels, torch.Tensor) and labels.layout == torch.sparse_coo:
            if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
                raise ValueError(
                    f"Labels dtype should be integer. Instead got {labels.dtype}: a sparse tensor of labels "
                    "holds class ids. Cast its values to int64 (or pass a dense 0/1 indicator)."
                )
            coalesced = labels.coalesce()
            rows, ids = coalesced.indices()[0], coalesced.values()
            return self._scatter(rows.tolist(), ids.tolist(), labels.shape[0], device, "SparseTensor")
        if _is_id_lists(labels):
            rows, ids = [], []
            for row, classes in enumerate(labels):
                for item in np.asarray(classes, dtype=object).reshape(-1).tolist():
                    rows.append(row)
                    ids.append(self._id_of(item))
            return self._scatter(rows, ids, len(labels), device, "label lists")
        dense = labels_to_tensor(labels, device)
        return check_label_range(dense, 2, _INDICATOR_MESSAGE)

    def _id_of(self, item: Any) -> int:
        if isinstance(item, bytes):
            item = item.decode("utf-8")
        if isinstance(item, str):
            if self.label_vocabulary is None:
                raise ValueError(
                    f"Labels are strings ({item!r}) but the head has no label_vocabulary. Pass "
                    "label_vocabulary, or class ids."
                )
            if item not in self.label_vocabulary:
                raise ValueError(f"Label {item!r} is not in label_vocabulary {list(self.label_vocabulary)}.")
            return self.label_vocabulary.index(item)
        if isinstance(item, (float, np.floating)) and not float(item).is_integer():
            raise ValueError(f"Labels dtype should be integer. Instead got the class id {item!r}.")
        return int(item)

    def _scatter(
        self, rows: list[int], ids: list[int], batch: int, device: torch.device, what: str
    ) -> torch.Tensor:
        for class_id in ids:
            if not 0 <= class_id < self.n_classes:
                raise ValueError(
                    f"labels must be an integer SparseTensor with values in [0, {self.n_classes}). Received "
                    f"class id {class_id} in the {what}."
                )
        indicator = torch.zeros(batch, self.n_classes, dtype=torch.int64)
        if ids:
            indicator[torch.tensor(rows), torch.tensor(ids)] = 1
        return indicator.to(device, non_blocking=True)

    # The reduced loss plus regularization, as every head computes it (TF's Head.loss).
    loss = head_loss

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``logits``, ``probabilities`` (sigmoid) and ``classes`` (every class id; see PredictionKeys)."""
        if keys:
            check_prediction_keys(keys, _VALID_KEYS)
        wanted = keys or _VALID_KEYS
        logits = check_logits(logits, self.n_classes)
        values = {
            PredictionKeys.LOGITS: lambda: logits,
            PredictionKeys.PROBABILITIES: lambda: torch.sigmoid(logits),
            PredictionKeys.CLASSES: lambda: all_class_ids(logits, self.n_classes),
        }
        return {key: values[key]() for key in _VALID_KEYS if key in wanted}

    def export_outputs(self, predictions: dict[str, torch.Tensor]) -> dict[str, ExportOutput]:
        """serving_default and classification: scores and classes; predict: every prediction."""
        return classification_outputs(predictions, PredictionKeys.CLASSES, self.label_vocabulary)

    def eval_metric_ops(
        self, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """average_loss, auc, auc_precision_recall, threshold metrics, per-class metrics (and
        regularization_loss) as ``te.metrics`` pairs (call inside model_fn)."""
        key = self._key
        labels, weights = terms.labels, terms.weights
        probabilities = torch.sigmoid(terms.logits.detach())
        loss_key, auc_key, auc_pr_key = key(MetricKeys.LOSS_MEAN), key(MetricKeys.AUC), key(MetricKeys.AUC_PR)
        metrics: dict[str, Any] = {
            loss_key: mean(terms.unweighted_loss.detach(), weights, name=loss_key),
            auc_key: keras_auc(labels, probabilities, weights, name=auc_key),
            auc_pr_key: keras_auc(labels, probabilities, weights, curve="PR", name=auc_pr_key),
        }
        metrics.update(regularization_metric(regularization_losses, terms.logits, self._name))
        metrics.update(threshold_metrics(labels, probabilities, weights, self.thresholds, self._name))
        for class_id in self.classes_for_class_based_metrics:
            class_labels = labels[..., class_id : class_id + 1]
            class_probabilities = probabilities[..., class_id : class_id + 1]
            if self.label_vocabulary is None:
                templates = (
                    MetricKeys.PROBABILITY_MEAN_AT_CLASS,
                    MetricKeys.AUC_AT_CLASS,
                    MetricKeys.AUC_PR_AT_CLASS,
                )
                suffix: Any = class_id
            else:
                templates = (
                    MetricKeys.PROBABILITY_MEAN_AT_NAME,
                    MetricKeys.AUC_AT_NAME,
                    MetricKeys.AUC_PR_AT_NAME,
                )
                suffix = self.label_vocabulary[class_id]
            mean_key, class_auc_key, class_auc_pr_key = (key(template % suffix) for template in templates)
            metrics[mean_key] = mean(class_probabilities, weights, name=mean_key)
            metrics[class_auc_key] = keras_auc(class_labels, class_probabilities, weights, name=class_auc_key)
            metrics[class_auc_pr_key] = keras_auc(
                class_labels, class_probabilities, weights, curve="PR", name=class_auc_pr_key
            )
        return metrics

    # The flow every head shares, bound as this head's method (TF's Head.create_estimator_spec).
    create_estimator_spec = build_estimator_spec

    def _key(self, key: str) -> str:
        return summary_key(key, self._name)


def _is_id_lists(labels: Any) -> bool:
    """Per-example lists of class ids or names (not a dense multi-hot array)."""
    if isinstance(labels, np.ndarray):
        return labels.dtype.kind in "USO"
    if not isinstance(labels, (list, tuple)) or not labels:
        return False
    first = labels[0]
    if isinstance(first, (list, tuple, np.ndarray)):
        lengths = {len(row) for row in labels}
        flat = [item for row in labels for item in row]
        return len(lengths) > 1 or any(isinstance(item, (str, bytes)) for item in flat)
    return False
