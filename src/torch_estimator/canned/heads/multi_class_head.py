"""MultiClassHead: ``n_classes`` logits, sparse softmax cross-entropy (TF's ``MultiClassHead``)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_estimator.canned.heads.checks import (
    check_label_range,
    check_labels_shape,
    check_logits,
    check_prediction_keys,
    check_vocabulary,
    example_weights,
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
from torch_estimator.canned.heads.metric_ops import regularization_metric
from torch_estimator.canned.heads.spec import (
    all_class_ids,
    build_estimator_spec,
    classification_outputs,
    head_loss,
)
from torch_estimator.contract.export_output import ExportOutput
from torch_estimator.metrics import accuracy, mean

__all__ = ["MultiClassHead"]

_VALID_KEYS = (
    PredictionKeys.LOGITS,
    PredictionKeys.PROBABILITIES,
    PredictionKeys.CLASS_IDS,
    PredictionKeys.CLASSES,
    PredictionKeys.ALL_CLASS_IDS,
    PredictionKeys.ALL_CLASSES,
)


class MultiClassHead:
    """A head for single-label classification over ``n_classes > 2`` classes, softmax cross-entropy.

    Logits have shape ``[D0, ..., DN, n_classes]``; labels ``[D0, ..., DN, 1]`` or ``[D0, ..., DN]``:
    integer class ids in ``[0, n_classes)``, or strings from ``label_vocabulary``.

    Args:
        n_classes: the number of classes, > 2 (use BinaryClassHead for 2).
        weight_column: a feature key or numeric column (anything with ``.key``) holding example weights.
        label_vocabulary: the ``n_classes`` class names (a list or tuple of strings).
        loss_reduction: ``te.Reduction.SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        loss_fn: optional ``loss_fn(labels, logits[, features])`` returning the ``[D0, ..., DN, 1]`` loss;
            it receives int64 class ids.
        name: suffixes metric and summary keys with ``/<name>``.

    >>> head = MultiClassHead(n_classes=3)
    >>> logits = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    >>> head.predictions(logits, keys=["class_ids"])["class_ids"].tolist()
    [[0], [1]]
    """

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        name: str | None = None,
    ) -> None:
        if n_classes is None:
            raise ValueError("n_classes cannot be None. Pass the number of classes (> 2).")
        if isinstance(n_classes, numbers.Integral) and not isinstance(n_classes, bool):
            n_classes = int(n_classes)  # numpy integers too, as TF took them
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes <= 2:
            raise ValueError(f"n_classes must be > 2: {n_classes!r}. Use BinaryClassHead for two classes.")
        self.label_vocabulary = check_vocabulary(label_vocabulary, n_classes)
        validate_loss_reduction(loss_reduction)
        if loss_fn is not None:
            validate_loss_fn(loss_fn)
        self.n_classes = n_classes
        self.weight_column = weight_column
        self.loss_fn = loss_fn
        self._loss_reduction = loss_reduction
        self._name = name

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
        """Checked logits, int64 label ids ``[..., 1]``, the unreduced ``[..., 1]`` loss and the weights."""
        logits = check_logits(logits, self.n_classes)
        if self.label_vocabulary is not None:
            ids = check_labels_shape(labels_to_ids(labels, self.label_vocabulary, logits.device), logits, 1)
        else:
            ids = check_labels_shape(labels_to_tensor(labels, logits.device), logits, 1)
            if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
                raise ValueError(
                    f"Labels dtype should be integer. Instead got {ids.dtype}. Pass class ids in "
                    f"[0, {self.n_classes}) (labels.long()), or strings with label_vocabulary."
                )
        ids = check_label_range(ids, self.n_classes).long()
        if self.loss_fn is not None:
            loss = call_loss_fn(self.loss_fn, ids, logits, features, 1)
        else:
            flat = F.cross_entropy(logits.reshape(-1, self.n_classes), ids.reshape(-1), reduction="none")
            loss = flat.reshape(ids.shape)
        weights = example_weights(features, self.weight_column, logits)
        return LossTerms(logits, ids, loss, weights)

    # The reduced loss plus regularization, as every head computes it (TF's Head.loss).
    loss = head_loss

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``logits``, ``probabilities`` (softmax), ``class_ids``, ``classes``, ``all_class_ids``,
        ``all_classes`` (or only ``keys``). Class "strings" are int64 ids (see PredictionKeys)."""
        if keys:
            check_prediction_keys(keys, _VALID_KEYS)
        wanted = keys or _VALID_KEYS
        logits = check_logits(logits, self.n_classes)
        class_ids = logits.argmax(dim=-1, keepdim=True)
        values = {
            PredictionKeys.LOGITS: lambda: logits,
            PredictionKeys.PROBABILITIES: lambda: torch.softmax(logits, dim=-1),
            PredictionKeys.CLASS_IDS: lambda: class_ids,
            PredictionKeys.CLASSES: lambda: class_ids,
            PredictionKeys.ALL_CLASS_IDS: lambda: all_class_ids(logits, self.n_classes),
            PredictionKeys.ALL_CLASSES: lambda: all_class_ids(logits, self.n_classes),
        }
        return {key: values[key]() for key in _VALID_KEYS if key in wanted}

    def export_outputs(self, predictions: dict[str, torch.Tensor]) -> dict[str, ExportOutput]:
        """serving_default and classification: scores and classes; predict: every prediction."""
        return classification_outputs(predictions, PredictionKeys.ALL_CLASS_IDS, self.label_vocabulary)

    def eval_metric_ops(
        self, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """average_loss, accuracy (and regularization_loss) as ``te.metrics`` pairs, keys suffixed
        ``/<name>`` for a named head (call inside model_fn)."""
        loss_key = summary_key(MetricKeys.LOSS_MEAN, self._name)
        accuracy_key = summary_key(MetricKeys.ACCURACY, self._name)
        class_ids = terms.logits.detach().argmax(dim=-1, keepdim=True)
        metrics: dict[str, Any] = {
            loss_key: mean(terms.unweighted_loss.detach(), terms.weights, name=loss_key),
            accuracy_key: accuracy(terms.labels, class_ids, terms.weights, name=accuracy_key),
        }
        metrics.update(regularization_metric(regularization_losses, terms.logits, self._name))
        return metrics

    # The flow every head shares, bound as this head's method (TF's Head.create_estimator_spec).
    create_estimator_spec = build_estimator_spec
