"""What a head checks and converts before computing anything: logits, labels, weights, vocabularies.

Labels arrive as tensors, numpy arrays or lists; string labels (numpy arrays of ``str``/``bytes``,
lists of ``str``) are turned into int64 ids through ``label_vocabulary`` here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.contract.describe import describe

__all__ = [
    "LABEL_NONE_MESSAGE",
    "check_label_range",
    "check_labels_shape",
    "check_logits",
    "check_prediction_keys",
    "check_thresholds",
    "check_vocabulary",
    "example_weights",
    "is_string_labels",
    "labels_to_ids",
    "labels_to_tensor",
]

LABEL_NONE_MESSAGE = (
    "You must provide a labels Tensor. Given: None. Suggested troubleshooting steps: Check that your data "
    "contains your label feature. Check that your input_fn properly parses and returns labels."
)


def check_logits(logits: Any, logits_dimension: int) -> torch.Tensor:
    """``logits`` as float32 with shape ``[D0, ..., DN, logits_dimension]`` (TF casts them too).

    >>> check_logits(torch.zeros(2), 1)
    Traceback (most recent call last):
    ValueError: logits must have rank at least 2.  Received rank 1, shape (2,). ...
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor. Received: {describe(logits)}.")
    if logits.dim() < 2:
        raise ValueError(
            f"logits must have rank at least 2.  Received rank {logits.dim()}, shape {tuple(logits.shape)}. "
            f"Give the logits a last dimension of size {logits_dimension}."
        )
    if logits.shape[-1] != logits_dimension:
        raise ValueError(
            f"logits shape must be [D0, D1, ... DN, logits_dimension], got {tuple(logits.shape)}; the head's "
            f"logits_dimension is {logits_dimension}. Size the last layer with head.logits_dimension."
        )
    return logits if logits.dtype == torch.float32 else logits.float()


def is_string_labels(labels: Any) -> bool:
    """True for numpy arrays of str/bytes/objects and (nested) lists or tuples whose items are strings."""
    if isinstance(labels, np.ndarray):
        return labels.dtype.kind in "USO"
    if isinstance(labels, (list, tuple)):
        items = list(labels)
        while items and isinstance(items[0], (list, tuple)):
            items = list(items[0])
        return bool(items) and isinstance(items[0], (str, bytes))
    return isinstance(labels, (str, bytes))


def labels_to_tensor(labels: Any, device: torch.device) -> torch.Tensor:
    """Numeric labels (tensor, numpy array, list) as a tensor on ``device``."""
    if labels is None:
        raise ValueError(LABEL_NONE_MESSAGE)
    if isinstance(labels, Mapping):
        raise ValueError(
            f"labels must be a Tensor for this head, not a dict. Received keys: {sorted(labels)}. "
            "Return the label tensor itself from input_fn."
        )
    if isinstance(labels, torch.Tensor):
        tensor = labels
    else:
        try:
            tensor = torch.as_tensor(np.asarray(labels))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"labels must be a numeric Tensor or array. Received: {describe(labels)}."
            ) from err
    if tensor.layout != torch.strided:
        raise ValueError(
            "SparseTensor labels are not supported. Labels must be a dense Tensor of shape "
            "[D0, D1, ..., DN, k]. Call labels.to_dense() in input_fn."
        )
    return tensor.to(device, non_blocking=True)


def labels_to_ids(labels: Any, vocabulary: Sequence[str], device: torch.device) -> torch.Tensor:
    """String labels as int64 ids: the index of each in ``vocabulary``.

    Raises:
        ValueError: labels are not strings ("Labels dtype should be string if there is a vocabulary"),
            or a label is not in the vocabulary (named).

    >>> labels_to_ids(np.array(["b", "a"]), ("a", "b"), torch.device("cpu"))
    tensor([1, 0])
    """
    if labels is None:
        raise ValueError(LABEL_NONE_MESSAGE)
    if not is_string_labels(labels):
        raise ValueError(
            "Labels dtype should be string if there is a vocabulary. Instead got "
            f"{describe(labels)}. Pass the label strings, or drop label_vocabulary to pass class ids."
        )
    array = np.asarray(labels, dtype=object)
    index = {name: position for position, name in enumerate(vocabulary)}
    flat = []
    for value in array.reshape(-1):
        name = value.decode("utf-8") if isinstance(value, bytes) else value
        position = index.get(name)
        if position is None:
            raise ValueError(
                f"Label {name!r} is not in label_vocabulary {list(vocabulary)}. Every label must be one of "
                "the vocabulary's strings."
            )
        flat.append(position)
    return torch.tensor(flat, dtype=torch.int64).reshape(array.shape).to(device, non_blocking=True)


def check_labels_shape(labels: torch.Tensor, logits: torch.Tensor, expected_dimension: int) -> torch.Tensor:
    """Labels of shape ``[D0, ..., DN, expected_dimension]``; labels one rank below the logits (a
    ``[batch_size]`` vector) gain a last axis of size 1 first, as in TF.

    >>> check_labels_shape(torch.zeros(3), torch.zeros(3, 1), 1).shape
    torch.Size([3, 1])
    """
    if labels.dim() == logits.dim() - 1:
        labels = labels.unsqueeze(-1)
    if labels.dim() < 2:
        raise ValueError(
            f"labels must have rank at least 2.  Received rank {labels.dim()}, shape {tuple(labels.shape)}. "
            f"Give labels the shape [batch_size, {expected_dimension}]."
        )
    if labels.shape[-1] != expected_dimension:
        raise ValueError(
            f"Mismatched label shape. Expected labels dimension={expected_dimension}.  Received "
            f"{labels.shape[-1]} (labels shape {tuple(labels.shape)}). Suggested Fix: If your classifier "
            "expects one-hot encoding label, check your n_classes argument to the estimator and/or the shape "
            "of your label. Otherwise, check the shape of your label."
        )
    expected = (*logits.shape[:-1], expected_dimension)
    if tuple(labels.shape) != expected:
        raise ValueError(
            f"labels shape must be [D0, D1, ... DN, {expected_dimension}]. Suggested Fix: check your "
            "n_classes argument to the head and/or the shape of your label., expected_labels_shape: "
            f"{expected}. "
            f"labels_shape: {tuple(labels.shape)}."
        )
    return labels


def check_label_range(labels: torch.Tensor, n_classes: int, message: str | None = None) -> torch.Tensor:
    """Labels must lie in ``[0, n_classes - 1]``; the error names the first offending value.

    >>> check_label_range(torch.tensor([[0], [3]]), 3)
    Traceback (most recent call last):
    ValueError: Labels must be <= 3 - 1. Received a label of 3 ...
    """
    # One host sync per batch, as TF's eager check.
    too_big = labels > n_classes - 1
    too_small = labels < 0
    if bool((too_big | too_small).any()):
        if bool(too_big.any()):
            value, phrase = labels[too_big][0].item(), f"Labels must be <= {n_classes} - 1"
        else:
            value, phrase = labels[too_small][0].item(), "Labels must be >= 0"
        detail = message or f"labels must be in [0, {n_classes - 1}]"
        raise ValueError(f"{phrase}. Received a label of {value} ({detail}).")
    return labels


def example_weights(
    features: Any, weight_column: Any, logits: torch.Tensor, allow_per_logit_weights: bool = False
) -> torch.Tensor | None:
    """The float32 example weights from ``features`` (None without a ``weight_column``).

    ``weight_column`` is a feature key or a numeric column (anything with a ``.key``; its
    ``normalizer_fn`` is applied). A rank-1 weight gains a last axis of size 1, as TF's numeric column.
    The weights must have shape ``[D0, ..., DN, 1]`` (or ``[..., logits_dimension]`` when
    ``allow_per_logit_weights``).

    >>> example_weights({"w": torch.tensor([1.0, 2.0])}, "w", torch.zeros(2, 1)).tolist()
    [[1.0], [2.0]]
    """
    if weight_column is None:
        return None
    key, normalizer_fn = _weight_key(weight_column)
    if not isinstance(features, Mapping) or key not in features:
        available = sorted(features) if isinstance(features, Mapping) else type(features).__name__
        raise ValueError(
            f"The weight column {key!r} is not in features (keys: {available}). Return the weights from "
            "input_fn under that key."
        )
    raw = features[key]
    weights = raw if isinstance(raw, torch.Tensor) else _numeric_array(raw, key)
    if weights.is_complex() or weights.dtype == torch.bool:
        raise ValueError(f"Weight column should be castable to float. Given dtype: {weights.dtype}.")
    if weights.dim() == 0:
        raise ValueError(f"Feature (key: {key}) cannot have rank 0. Give: {describe(weights)}.")
    if weights.dim() == 1:
        weights = weights.unsqueeze(-1)
    if normalizer_fn is not None:
        weights = normalizer_fn(weights)
    weights = weights.to(logits.device, torch.float32)
    return _check_weights_shape(weights, logits, allow_per_logit_weights)


def _weight_key(weight_column: Any) -> tuple[str, Any]:
    if isinstance(weight_column, str):
        return weight_column, None
    key = getattr(weight_column, "key", None)
    if not isinstance(key, str):
        raise TypeError(
            "Weight column must be either a string or NumericColumn. Given type: "
            f"{type(weight_column).__name__}. Pass the weight feature's key or "
            "te.feature_column.numeric_column(key)."
        )
    return key, getattr(weight_column, "normalizer_fn", None)


def _numeric_array(raw: Any, key: str) -> torch.Tensor:
    array = np.asarray(raw)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"Weight column should be castable to float. Given dtype: {array.dtype} (key {key!r})."
        )
    return torch.from_numpy(array)


def _check_weights_shape(
    weights: torch.Tensor, logits: torch.Tensor, allow_per_logit_weights: bool
) -> torch.Tensor:
    logits_shape, weights_shape = tuple(logits.shape), tuple(weights.shape)
    if weights.dim() == logits.dim() - 1:
        if logits_shape[:-1] != weights_shape:
            raise ValueError(_weights_message(allow_per_logit_weights, logits_shape, weights_shape))
        return weights.unsqueeze(-1)
    supported = [(*logits_shape[:-1], 1)]
    if allow_per_logit_weights:
        supported.append(logits_shape)
    if weights_shape not in supported:
        raise ValueError(_weights_message(allow_per_logit_weights, logits_shape, weights_shape))
    return weights


def _weights_message(allow_per_logit_weights: bool, logits_shape: tuple, weights_shape: tuple) -> str:
    if allow_per_logit_weights:
        expected = (
            "weights shape must be [D0, D1, ... DN], [D0, D1, ... DN, 1] or "
            "[D0, D1, ... DN, logits_dimension]"
        )
    else:
        expected = "weights shape must be [D0, D1, ... DN] or [D0, D1, ... DN, 1]"
    return f"{expected}, logits_shape: {logits_shape}. weights_shape: {weights_shape}."


def check_vocabulary(label_vocabulary: Any, n_classes: int | None = None) -> tuple[str, ...] | None:
    """``label_vocabulary`` as a tuple of strings, or None; it must be a list or tuple.

    >>> check_vocabulary("ab")
    Traceback (most recent call last):
    ValueError: label_vocabulary should be a list or a tuple. Given type: <class 'str'>...
    """
    if label_vocabulary is None:
        return None
    if not isinstance(label_vocabulary, (list, tuple)):
        raise ValueError(
            f"label_vocabulary should be a list or a tuple. Given type: {type(label_vocabulary)}. "
            "Pass the class names as a list of strings."
        )
    if not all(isinstance(name, str) for name in label_vocabulary):
        raise ValueError(f"label_vocabulary must hold strings. Received: {list(label_vocabulary)!r}.")
    if len(set(label_vocabulary)) != len(label_vocabulary):
        raise ValueError(f"label_vocabulary has duplicate entries: {list(label_vocabulary)!r}.")
    if n_classes is not None and len(label_vocabulary) != n_classes:
        raise ValueError(
            '"label_vocabulary" does not have "n_classes" items. '
            f"len(label_vocabulary)={len(label_vocabulary)}, n_classes={n_classes}, "
            f"label_vocabulary={list(label_vocabulary)}"
        )
    return tuple(label_vocabulary)


def check_thresholds(thresholds: Any) -> tuple[float, ...]:
    """``thresholds`` as a tuple of floats, each in the open interval (0, 1).

    >>> check_thresholds([0.5, 1.0])
    Traceback (most recent call last):
    ValueError: thresholds not in (0, 1): ((0.5, 1.0),). ...
    """
    values = tuple(float(threshold) for threshold in thresholds) if thresholds else ()
    for threshold in values:
        if threshold <= 0.0 or threshold >= 1.0:
            raise ValueError(
                f"thresholds not in (0, 1): {(values,)}. Each threshold is applied to a probability; "
                f"{threshold} is outside the open interval."
            )
    return values


def check_prediction_keys(keys: Sequence[str], valid_keys: Sequence[str]) -> None:
    """Every requested key must be one the head predicts."""
    for key in keys:
        if key not in valid_keys:
            raise ValueError(
                f"Prediction key must be in PredictionKeys, given: {key}.Valid prediction keys include "
                f"{list(valid_keys)}."
            )
