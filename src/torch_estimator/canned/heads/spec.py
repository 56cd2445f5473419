"""The flow every head shares: predictions, loss, train op, summaries and metrics into an EstimatorSpec.

Per mode, as TF's heads:

    predictions = head.predictions(logits)
    PREDICT: EstimatorSpec(predictions, export_outputs=head.export_outputs(predictions))
    terms = head.loss_terms(labels, logits, features); loss = reduce(terms) + add_n(regularization)
    EVAL:    EstimatorSpec(predictions, loss, eval_metric_ops=head.eval_metric_ops(terms, ...))
    TRAIN:   train_op = optimizer.minimize(loss, global_step) or train_op_fn(loss), grouped with
             update_ops; summaries 'loss' (and 'regularization_loss');
             EstimatorSpec(predictions, loss, train_op)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.canned.heads.keys import MetricKeys, PredictionKeys, summary_key
from torch_estimator.canned.heads.losses import (
    LossTerms,
    add_regularization,
    regularization_total,
    weighted_loss,
)
from torch_estimator.canned.heads.protocol import SpecParts
from torch_estimator.contract.current import current_graph
from torch_estimator.contract.describe import describe
from torch_estimator.contract.export_output import ClassificationOutput, ExportOutput, PredictOutput
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import DEFAULT_SERVING_KEY, EstimatorSpec
from torch_estimator.graph.global_step import get_or_create_global_step
from torch_estimator.summary import scalar
from torch_estimator.train.optimizer import group

__all__ = [
    "CLASSIFY_SERVING_KEY",
    "PREDICT_SERVING_KEY",
    "REGRESS_SERVING_KEY",
    "all_class_ids",
    "build_estimator_spec",
    "classification_outputs",
    "head_loss",
    "name_class_outputs",
    "regularized_loss",
    "train_op_for",
]

# TF Serving defines only 'serving_default'; these three are tf.estimator's own convention.
CLASSIFY_SERVING_KEY = "classification"
REGRESS_SERVING_KEY = "regression"
PREDICT_SERVING_KEY = "predict"


def build_estimator_spec(
    head: SpecParts,
    features: Any,
    mode: str,
    logits: torch.Tensor,
    labels: Any = None,
    optimizer: Any = None,
    trainable_variables: Sequence[torch.Tensor] | None = None,
    train_op_fn: Callable[[torch.Tensor], Any] | None = None,
    update_ops: Sequence[Any] | None = None,
    regularization_losses: Sequence[torch.Tensor] | None = None,
) -> EstimatorSpec:
    """The EstimatorSpec of ``head`` for ``mode`` (the module docstring gives the order); TRAIN needs
    exactly one of ``optimizer`` (a ``te.train`` optimizer: its minimize advances the global step) and
    ``train_op_fn``. Every head binds it as its ``create_estimator_spec`` method."""
    predictions = head.predictions(logits)
    if mode == ModeKeys.PREDICT:
        name_class_outputs(predictions, getattr(head, "label_vocabulary", None))
        return EstimatorSpec(mode, predictions=predictions, export_outputs=head.export_outputs(predictions))
    terms = head.loss_terms(labels, logits, features)
    loss = regularized_loss(head, terms, regularization_losses)
    if mode == ModeKeys.EVAL:
        metrics = head.eval_metric_ops(terms, regularization_losses)
        return EstimatorSpec(mode, predictions=predictions, loss=loss, eval_metric_ops=metrics)
    train_op = train_op_for(loss, optimizer, trainable_variables, train_op_fn, update_ops)
    scalar(summary_key(MetricKeys.LOSS, head.name), loss)
    if regularization_losses is not None:
        regularization = regularization_total(regularization_losses, loss)
        scalar(summary_key(MetricKeys.LOSS_REGULARIZATION, head.name), regularization)
    return EstimatorSpec(ModeKeys.TRAIN, predictions=predictions, loss=loss, train_op=train_op)


def head_loss(
    head: SpecParts,
    labels: Any,
    logits: torch.Tensor,
    features: Any = None,
    mode: str | None = None,
    regularization_losses: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """The reduced training loss plus the sum of ``regularization_losses`` (``mode`` is accepted, as in
    TF, and unused). Every head binds it as its ``loss`` method.

    >>> from torch_estimator.canned.heads.multi_class_head import MultiClassHead
    >>> MultiClassHead(3).loss(torch.tensor([0, 1]), torch.zeros(2, 3))  # ln 3 per example
    tensor(1.0986)
    """
    del mode
    return regularized_loss(head, head.loss_terms(labels, logits, features), regularization_losses)


def regularized_loss(
    head: SpecParts, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None
) -> torch.Tensor:
    """``terms`` reduced by ``head.loss_reduction``, plus the sum of ``regularization_losses``."""
    return add_regularization(weighted_loss(terms, head.loss_reduction), regularization_losses)


def classification_outputs(
    predictions: Mapping[str, torch.Tensor],
    classes_key: str,
    vocabulary: Sequence[str] | None,
    extra: Mapping[str, ExportOutput] | None = None,
) -> dict[str, ExportOutput]:
    """A classification head's export outputs: serving_default and classification (probabilities
    and ``predictions[classes_key]``, named by ``vocabulary``), then ``extra``, then predict (every
    prediction).

    >>> predictions = {"probabilities": torch.ones(1, 2), "all_class_ids": torch.tensor([[0, 1]])}
    >>> outputs = classification_outputs(predictions, "all_class_ids", None)
    >>> list(outputs)
    ['serving_default', 'classification', 'predict']
    """
    classifier = ClassificationOutput(
        scores=predictions[PredictionKeys.PROBABILITIES],
        classes=predictions[classes_key],
        class_names=list(vocabulary) if vocabulary is not None else None,
    )
    return {
        DEFAULT_SERVING_KEY: classifier,
        CLASSIFY_SERVING_KEY: classifier,
        **(extra or {}),
        PREDICT_SERVING_KEY: PredictOutput(predictions),
    }


def name_class_outputs(predictions: dict[str, torch.Tensor], vocabulary: Sequence[str] | None) -> None:
    """Tells the running Graph that ``classes`` / ``all_classes`` are class ids named by ``vocabulary``
    (None: ``str(id)``), so ``predict()`` yields them as strings, as TF did. No-op outside model_fn."""
    graph = current_graph()
    if graph is None:
        return
    for key in (PredictionKeys.CLASSES, PredictionKeys.ALL_CLASSES):
        if key in predictions:
            graph.set_output_vocabulary(key, vocabulary)


def train_op_for(
    loss: torch.Tensor,
    optimizer: Any,
    trainable_variables: Sequence[torch.Tensor] | None,
    train_op_fn: Callable[[torch.Tensor], Any] | None,
    update_ops: Sequence[Any] | None,
) -> Any:
    """The train op: ``optimizer.minimize`` (advancing the global step) or ``train_op_fn(loss)``,
    then the ``update_ops`` in order. Exactly one of ``optimizer`` / ``train_op_fn`` must be set.

    ``trainable_variables=None`` trains every trainable variable of the Graph. No loss scaling for
    replicas: DDP averages gradients across ranks, where TF's strategies summed them.
    """
    if update_ops is not None and not isinstance(update_ops, (list, tuple)):
        raise ValueError(f"update_ops should be a list or a tuple. Given type: {type(update_ops)}.")
    if optimizer is not None:
        if train_op_fn is not None:
            raise ValueError(
                "train_op_fn and optimizer cannot both be set. Pass optimizer=te.train.<Optimizer>(...) or "
                "train_op_fn=lambda loss: ..., not both."
            )
        if not callable(getattr(optimizer, "minimize", None)):
            raise ValueError(
                "The given optimizer is not a te.train optimizer (an object with "
                f"minimize(loss, global_step=..., var_list=...)). Given: {describe(optimizer)}."
            )
        if trainable_variables is not None and not isinstance(trainable_variables, (list, tuple)):
            raise ValueError(
                f"trainable_variables should be a list or a tuple. Given type: {type(trainable_variables)}."
            )
        var_list = list(trainable_variables) if trainable_variables is not None else None
        train_op = optimizer.minimize(loss, global_step=get_or_create_global_step(), var_list=var_list)
    elif train_op_fn is not None:
        train_op = train_op_fn(loss)
    else:
        raise ValueError(
            "train_op_fn and optimizer cannot both be None. In TRAIN mode pass "
            "optimizer=te.train.<Optimizer>(...) or train_op_fn=lambda loss: optimizer.minimize(loss, ...)."
        )
    if update_ops:
        train_op = group(train_op, *update_ops, name="train_op")
    return train_op


def all_class_ids(logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[0, 1, ..., n_classes - 1]`` for every example: int64 of shape ``[D0, ..., DN, n_classes]``.

    >>> all_class_ids(torch.zeros(2, 1), 2).tolist()
    [[0, 1], [0, 1]]
    """
    ids = torch.arange(n_classes, dtype=torch.int64, device=logits.device)
    return ids.expand(*logits.shape[:-1], n_classes).contiguous()
