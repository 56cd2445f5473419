"""The outputs a serving signature returns, declared in ``EstimatorSpec.export_outputs``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.contract.describe import describe
from torch_estimator.contract.metric_types import is_metric_object

__all__ = [
    "ClassificationOutput",
    "EvalOutput",
    "ExportOutput",
    "PredictOutput",
    "RegressionOutput",
    "TrainOutput",
]


class ExportOutput:
    """Base class of the signature outputs; ``outputs`` maps output keys to tensors."""

    method_name: str = ""

    @property
    def outputs(self) -> dict[str, Any]:
        raise NotImplementedError


def _is_float_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


class ClassificationOutput(ExportOutput):
    """Scores and classes for the ``tensorflow/serving/classify`` method.

    ``scores`` is a float tensor (batch, num_classes). ``classes`` is an integer tensor of class ids:
    torch has no string tensors, so the strings TF returned are made at the edge (the server and the
    signature file) from ``class_names`` when given, else as ``str(id)`` -- TF's own default names.

    >>> out = ClassificationOutput(scores=torch.tensor([[0.2, 0.8]]))
    >>> sorted(out.outputs)
    ['scores']
    """

    method_name = "tensorflow/serving/classify"

    def __init__(
        self,
        scores: torch.Tensor | None = None,
        classes: torch.Tensor | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        if scores is None and classes is None:
            raise ValueError(
                "At least one of scores and classes must be set. Received: scores=None, classes=None."
            )
        if scores is not None and not _is_float_tensor(scores):
            raise ValueError(f"Classification scores must be a float Tensor. Received: {describe(scores)}.")
        if classes is not None and not (
            isinstance(classes, torch.Tensor) and not classes.is_floating_point() and not classes.is_complex()
        ):
            raise ValueError(
                "Classification classes must be an integer Tensor of class ids (torch has no string "
                f"tensors; pass class_names to name them). Received: {describe(classes)}."
            )
        self.scores = scores
        self.classes = classes
        self.class_names = list(class_names) if class_names is not None else None

    @property
    def outputs(self) -> dict[str, Any]:
        result = {}
        if self.scores is not None:
            result["scores"] = self.scores
        if self.classes is not None:
            result["classes"] = self.classes
        return result


class RegressionOutput(ExportOutput):
    """One float value per example, for the ``tensorflow/serving/regress`` method.

    >>> RegressionOutput(torch.tensor([1.5])).outputs["outputs"]
    tensor([1.5000])
    """

    method_name = "tensorflow/serving/regress"

    def __init__(self, value: torch.Tensor) -> None:
        if not _is_float_tensor(value):
            raise ValueError(f"Regression output value must be a float Tensor. Received: {describe(value)}.")
        self.value = value

    @property
    def outputs(self) -> dict[str, Any]:
        return {"outputs": self.value}


class PredictOutput(ExportOutput):
    """Any named tensors, for the ``tensorflow/serving/predict`` method.

    A single tensor is keyed ``'output'``; tuple keys are joined with ``'/'``.

    >>> sorted(PredictOutput({("head", "logits"): torch.zeros(1)}).outputs)
    ['head/logits']
    """

    method_name = "tensorflow/serving/predict"

    def __init__(self, outputs: torch.Tensor | Mapping[Any, torch.Tensor]) -> None:
        if not isinstance(outputs, Mapping):
            outputs = {"output": outputs}
        checked: dict[str, torch.Tensor] = {}
        for key, value in outputs.items():
            name = "/".join(str(part) for part in key) if isinstance(key, tuple) else key
            if not isinstance(name, str):
                raise ValueError(f"Prediction output key must be a string. Received: {key!r}.")
            if not isinstance(value, torch.Tensor):
                raise ValueError(
                    f"Prediction output value must be a Tensor. Received for key {name!r}: {describe(value)}."
                )
            checked[name] = value
        self._outputs = checked

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self._outputs)


class _SupervisedOutput(ExportOutput):
    """Loss, predictions and metrics keyed ``loss[/k]``, ``predictions[/k]``, ``metrics/<name>/...``."""

    def __init__(self, loss: Any = None, predictions: Any = None, metrics: Mapping[str, Any] | None = None):
        self.loss = _prefix("loss", loss)
        self.predictions = _prefix("predictions", predictions)
        self.metrics: dict[str, Any] = {}
        if metrics is not None:
            if not isinstance(metrics, Mapping):
                raise ValueError(f"Metrics must be a dict of metric pairs. Received: {metrics!r}.")
            for name, metric in metrics.items():
                if is_metric_object(metric):
                    value, update = metric.compute, metric.update
                elif isinstance(metric, tuple) and len(metric) == 2:
                    value, update = metric
                else:
                    raise ValueError(
                        f"Metric {name!r} must be a (metric_value, update_op) tuple or a Metric object. "
                        f"Received: {metric!r}."
                    )
                self.metrics[f"metrics/{name}/value"] = value
                self.metrics[f"metrics/{name}/update_op"] = update

    @property
    def outputs(self) -> dict[str, Any]:
        return {**self.loss, **self.predictions, **self.metrics}


class TrainOutput(_SupervisedOutput):
    """Outputs of a training signature."""

    method_name = "tensorflow/supervised/training"


class EvalOutput(_SupervisedOutput):
    """Outputs of an evaluation signature."""

    method_name = "tensorflow/supervised/eval"


def _prefix(prefix: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {f"{prefix}/{key}": tensor for key, tensor in value.items()}
    return {prefix: value}
