"""What every canned estimator shares: its head, its feature check, and the Estimator it returns.

A canned estimator is a function that builds a ``model_fn`` from a head and a network and hands it
to a plain ``te.Estimator``; nothing about training, evaluation or export is special to it. So
``te.DNNClassifier(...)`` returns an Estimator: ``train`` / ``evaluate`` / ``predict`` /
``export_saved_model`` / ``model_dir`` / ``config`` are the Estimator's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from torch_estimator.canned import heads as head_lib
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.graph.graph import require_graph

__all__ = [
    "SUM_OVER_BATCH_SIZE",
    "binary_or_multi_class_head",
    "check_features",
    "check_head",
    "column_tuple",
    "make_estimator",
    "named_variables_under",
    "regression_head",
    "summaries_wanted",
    "variables_under",
]

SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
"""TF2's default ``loss_reduction`` of the canned estimators (``tf.losses.Reduction.SUM_OVER_BATCH_SIZE``)."""


def check_features(features: Any) -> Mapping[str, Any]:
    """``features`` if it is a dict; canned models read their inputs by feature name.

    Raises:
        ValueError: ``features`` is not a dict ('features should be a dictionary of `Tensor`s').

    >>> check_features({"x": torch.ones(1)})["x"]
    tensor([1.])
    """
    if not isinstance(features, Mapping):
        raise ValueError(
            f"features should be a dictionary of `Tensor`s. Given type: {type(features)}. "
            "Return a dict of feature name -> Tensor from input_fn."
        )
    return features


def column_tuple(columns: Iterable[Any] | None, argument: str) -> tuple[Any, ...]:
    """The feature columns as a tuple (TF accepts any iterable; a lone column is a mistake).

    >>> column_tuple(None, "feature_columns")
    ()
    """
    if columns is None:
        return ()
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        raise ValueError(
            f"{argument} must be a list of feature columns. Received: {type(columns).__name__} "
            f"{columns!r}. Wrap a single column in a list."
        )
    return tuple(columns)


def binary_or_multi_class_head(
    n_classes: int, weight_column: Any, label_vocabulary: Any, loss_reduction: str
) -> Any:
    """``BinaryClassHead`` when ``n_classes == 2``, else ``MultiClassHead`` (which rejects n_classes ≤ 2)."""
    if n_classes == 2:
        return head_lib.BinaryClassHead(
            weight_column=weight_column, label_vocabulary=label_vocabulary, loss_reduction=loss_reduction
        )
    return head_lib.MultiClassHead(
        n_classes,
        weight_column=weight_column,
        label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction,
    )


def regression_head(label_dimension: int, weight_column: Any, loss_reduction: str) -> Any:
    """The ``RegressionHead`` of the canned regressors."""
    return head_lib.RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column, loss_reduction=loss_reduction
    )


def check_head(head: Any) -> Any:
    """``head`` if it offers what a canned model_fn uses: ``logits_dimension`` and ``create_estimator_spec``.

    Raises:
        TypeError: anything else.
    """
    if not (hasattr(head, "logits_dimension") and callable(getattr(head, "create_estimator_spec", None))):
        raise TypeError(
            "head must be a head such as te.BinaryClassHead(), with logits_dimension and "
            f"create_estimator_spec. Received: {type(head).__name__} {head!r}."
        )
    return head


def named_variables_under(scope: str) -> dict[str, torch.Tensor]:
    """The trainable variables of the current Graph whose names start with ``<scope>/``, by name.

    Listed once per Graph and kept (as TF listed them once, when it built the graph): the canned
    model_fns ask after their network has created every variable, and they ask on every step.
    """
    graph = require_graph("variables_under")

    def listing() -> dict[str, torch.Tensor]:
        prefix = scope + "/"
        return {
            name: parameter
            for name, parameter in graph.named_parameters()
            if name.startswith(prefix) and parameter.requires_grad
        }

    if graph.building:
        return listing()  # the build pass may still be creating variables
    return dict(graph.get_object(f"canned/variables_under/{scope}", listing))


def variables_under(scope: str) -> list[torch.Tensor]:
    """The trainable variables of the current Graph whose names start with ``<scope>/``."""
    return list(named_variables_under(scope).values())


def summaries_wanted() -> bool:
    """False while torch.export traces model_fn: an export has no summaries, and a histogram of a
    variable leaves an unused parameter constant that torch.export cannot lift."""
    return not torch.compiler.is_exporting()


def make_estimator(
    model_fn: Callable[..., EstimatorSpec],
    model_dir: str | os.PathLike[str] | None,
    config: RunConfig | None,
    warm_start_from: Any = None,
) -> Estimator:
    """The ``te.Estimator`` running a canned ``model_fn(features, labels, mode, config)``."""
    if warm_start_from is None:
        return Estimator(model_fn, model_dir=model_dir, config=config)
    return Estimator(model_fn, model_dir=model_dir, config=config, warm_start_from=warm_start_from)
