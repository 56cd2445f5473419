"""The ``Head`` protocol: what a canned estimator (or a model_fn) needs from a head."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from torch_estimator.canned.heads.losses import LossTerms
from torch_estimator.contract.export_output import ExportOutput
from torch_estimator.contract.spec import EstimatorSpec

__all__ = ["Head", "SpecParts"]


@runtime_checkable
class Head(Protocol):
    """A head turns logits into a loss, predictions, eval metrics and export outputs (TF's
    ``tf.estimator.Head``). ``BinaryClassHead``, ``MultiClassHead``, ``MultiLabelHead`` and
    ``RegressionHead`` satisfy it.

    >>> from torch_estimator.canned.heads.regression_head import RegressionHead
    >>> isinstance(RegressionHead(), Head)
    True
    """

    @property
    def name(self) -> str | None:
        """The head's name: suffixes metric and summary keys with ``/<name>``."""
        ...

    @property
    def logits_dimension(self) -> int:
        """The size of the logits' last dimension."""
        ...

    @property
    def loss_reduction(self) -> str:
        """One of ``te.Reduction`` except NONE."""
        ...

    def loss(
        self,
        labels: Any,
        logits: torch.Tensor,
        features: Any = None,
        mode: str | None = None,
        regularization_losses: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The regularized, reduced training loss (a scalar)."""
        ...

    def predictions(self, logits: torch.Tensor, keys: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Predictions keyed by ``PredictionKeys`` (all of them when ``keys`` is None)."""
        ...

    def create_estimator_spec(
        self,
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
        """The EstimatorSpec for ``mode``."""
        ...


class SpecParts(Protocol):
    """The pieces the shared ``create_estimator_spec`` flow assembles (every head here has them)."""

    @property
    def name(self) -> str | None: ...

    @property
    def loss_reduction(self) -> str: ...

    def predictions(
        self, logits: torch.Tensor, keys: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]: ...

    def export_outputs(self, predictions: Mapping[str, torch.Tensor]) -> dict[str, ExportOutput]: ...

    def loss_terms(self, labels: Any, logits: torch.Tensor, features: Any = None) -> LossTerms: ...

    def eval_metric_ops(
        self, terms: LossTerms, regularization_losses: Sequence[torch.Tensor] | None = None
    ) -> dict[str, Any]: ...
