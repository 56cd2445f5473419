"""Ready-made serving_input_receiver_fns: raw tensors, raw supervised tensors, parsed examples.

``default_batch_size`` only sizes the example tensors made from shape specs: every exported
signature takes any batch size (TF fixed the placeholders' batch dimension to it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.export.parsing import check_feature_spec, example_tensor
from torch_estimator.export.receivers import (
    ServingInputReceiver,
    SupervisedInputReceiver,
)

__all__ = [
    "ParsingServingInputReceiverFn",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "build_raw_supervised_input_receiver_fn",
]

_EXAMPLE_BATCH_SIZE = 2  # torch.export specialises a dimension of size 0 or 1: examples use 2 rows


def build_raw_serving_input_receiver_fn(
    features: Mapping[str, Any], default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn whose signature inputs are ``features``' names, dtypes and trailing shapes.

    Args:
        features: ``{name: example tensor}`` (dim 0 is the batch; the values are used as the example
            the export traces with) or ``{name: spec}`` where a spec has ``dtype`` and ``shape``
            (e.g. ``te.saved_model.TensorSpec(torch.float32, (None, 4))``; dim 0 is ignored).
        default_batch_size: the batch size of example tensors made from specs.

    >>> fn = build_raw_serving_input_receiver_fn({"x": torch.zeros(3, 4)})
    >>> receiver = fn()
    >>> receiver.features["x"] is receiver.receiver_tensors["x"]
    True
    """
    _check_named(features, "features")

    def serving_input_receiver_fn() -> ServingInputReceiver:
        tensors = _example_tensors(features, default_batch_size)
        return ServingInputReceiver(tensors, tensors)

    return serving_input_receiver_fn


def build_raw_supervised_input_receiver_fn(
    features: Any, labels: Any, default_batch_size: int | None = None
) -> Callable[[], SupervisedInputReceiver]:
    """A receiver fn for EVAL exports: the signature takes features and labels.

    Each of ``features`` and ``labels`` is one example tensor (or spec) or a dict of them; a single
    tensor's input is named ``'input'`` (features) or ``'label'`` (labels).

    Raises:
        ValueError: features and labels share a key.

    >>> fn = build_raw_supervised_input_receiver_fn(torch.zeros(2, 4), torch.zeros(2, 1))
    >>> sorted(fn().receiver_tensors)
    ['input', 'label']
    """
    feature_keys = list(features) if isinstance(features, Mapping) else ["input"]
    label_keys = list(labels) if isinstance(labels, Mapping) else ["label"]
    overlap = sorted(set(feature_keys) & set(label_keys))
    if overlap:
        raise ValueError(
            f"Features and labels must have distinct keys. Found overlapping keys: {overlap}. Rename them."
        )

    def supervised_input_receiver_fn() -> SupervisedInputReceiver:
        input_features = _example_tensors_or_one(features, default_batch_size)
        input_labels = _example_tensors_or_one(labels, default_batch_size)
        receiver_tensors = (
            dict(input_features) if isinstance(input_features, dict) else {"input": input_features}
        )
        if isinstance(input_labels, dict):
            receiver_tensors.update(input_labels)
        else:
            receiver_tensors["label"] = input_labels
        return SupervisedInputReceiver(input_features, input_labels, receiver_tensors)

    return supervised_input_receiver_fn


class ParsingServingInputReceiverFn:
    """The receiver fn of :func:`build_parsing_serving_input_receiver_fn`; ``feature_spec`` goes into
    the signature file so the server can parse examples."""

    def __init__(self, feature_spec: dict[str, Any], default_batch_size: int | None) -> None:
        self.feature_spec = feature_spec
        self.default_batch_size = default_batch_size

    def __call__(self) -> ServingInputReceiver:
        batch_size = self.default_batch_size or _EXAMPLE_BATCH_SIZE
        parsed = {name: example_tensor(feature, batch_size) for name, feature in self.feature_spec.items()}
        return ServingInputReceiver(parsed, parsed)

    def __repr__(self) -> str:
        return f"ParsingServingInputReceiverFn(features={sorted(self.feature_spec)})"


def build_parsing_serving_input_receiver_fn(
    feature_spec: Mapping[str, Any], default_batch_size: int | None = None
) -> ParsingServingInputReceiverFn:
    """A receiver fn for parsed examples: the signature takes the parsed features.

    TF's signature took serialized ``tf.Example`` strings. Torch programs cannot hold strings, so
    the program takes the features ``feature_spec`` describes and the signature file keeps the spec:
    the server parses JSON or ``{"b64": ...}`` examples with it. String features are not supported.

    Args:
        feature_spec: ``{name: FixedLenFeature | VarLenFeature}`` (e.g. from
            ``te.feature_column.make_parse_example_spec``).
        default_batch_size: the batch size of the example tensors.

    >>> from torch_estimator.export.parsing import FixedLenFeature
    >>> fn = build_parsing_serving_input_receiver_fn({"x": FixedLenFeature([4], torch.float32)})
    >>> fn().receiver_tensors["x"].shape
    torch.Size([2, 4])
    """
    return ParsingServingInputReceiverFn(check_feature_spec(feature_spec), default_batch_size)


def _check_named(tensors: Any, what: str) -> None:
    if not isinstance(tensors, Mapping):
        raise ValueError(
            f"{what} must be a dict of names to example tensors (or specs). "
            f"Received: {type(tensors).__name__}."
        )


def _example_tensors(specs: Mapping[str, Any], default_batch_size: int | None) -> dict[str, torch.Tensor]:
    return {name: _example_tensor(name, spec, default_batch_size) for name, spec in specs.items()}


def _example_tensors_or_one(specs: Any, default_batch_size: int | None) -> Any:
    if isinstance(specs, Mapping):
        return _example_tensors(specs, default_batch_size)
    return _example_tensor("input", specs, default_batch_size)


def _example_tensor(name: str, spec: Any, default_batch_size: int | None) -> torch.Tensor:
    if isinstance(spec, torch.Tensor):
        if spec.dim() == 0:
            raise ValueError(
                f"Example tensor {name!r} needs a batch dimension (dim 0). Received a scalar; pass "
                "tensor.reshape(1) or a (batch, ...) example."
            )
        return spec.detach().clone()
    dtype, shape = getattr(spec, "dtype", None), getattr(spec, "shape", None)
    if not isinstance(dtype, torch.dtype) or shape is None:
        raise ValueError(
            f"Feature {name!r} must be an example torch.Tensor or a spec with a torch dtype and a shape. "
            f"Received: {spec!r}."
        )
    trailing = tuple(shape)[1:]
    if any(size is None or int(size) < 0 for size in trailing):
        raise ValueError(
            f"Spec {name!r} has an unknown dimension after the batch: shape {tuple(shape)}. Only dim 0 (the "
            "batch) may be unknown."
        )
    batch_size = default_batch_size or _EXAMPLE_BATCH_SIZE
    return torch.zeros((batch_size, *(int(size) for size in trailing)), dtype=dtype)
