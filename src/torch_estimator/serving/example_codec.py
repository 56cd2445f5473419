"""The ``:classify`` and ``:regress`` bodies: ``examples`` (+ ``context``) in, ``results`` out.

An example is a JSON object ``{feature: value or flat list}`` (numbers, strings, ``{"b64": ...}``) or
``{"b64": <serialized tf.Example>}``; the ``context`` features are added to every example (an
example's own feature wins). Features become the signature's input tensors by its ``feature_spec``
(TF's ``parse_example`` rules: ``fixed_len`` with shape and default, ``var_len`` padded to the longest
in the request) or, without one, by name: the feature named like each input, reshaped to the input's
per-example shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from google.protobuf.message import DecodeError

from torch_estimator.serving.errors import InvalidArgumentError
from torch_estimator.serving.predict_codec import CLASSIFY_METHOD, PredictCall
from torch_estimator.serving.protos import example_class
from torch_estimator.serving.tensors import decode_b64, json_values, shape_text, tf_dtype_name, to_tensor

__all__ = ["check_method", "decode_examples", "encode_classify", "encode_regress", "example_features"]

# A feature as tf.Example holds it: its kind ("bytes", "float", "int64", or "" for no values) and its
# flat values.
Feature = tuple[str, list[Any]]

_SPEC_KINDS = {"string": "bytes", "float32": "float", "int64": "int64"}
_TORCH_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def check_method(signature: Any, method: str) -> None:
    """TF Serving's check that ``:classify`` / ``:regress`` address a signature of that method."""
    if signature.method_name != method:
        what = "classification" if method == CLASSIFY_METHOD else "regression"
        raise InvalidArgumentError(
            f"Expected {what} signature method_name to be {method}. Was: {signature.method_name} "
            f"(signature '{signature.name}'). Use :predict for it, or name a {what} signature."
        )


def _json_feature(name: str, value: Any, where: str) -> Feature:
    values = value if isinstance(value, list) else [value]
    if any(isinstance(item, list) for item in values):
        values = np.asarray(values, dtype=object).ravel().tolist()
    if not values:
        return "", []  # an empty list fits a feature of any type
    if all(isinstance(item, (str, dict)) for item in values):
        data = [
            item.encode("utf-8") if isinstance(item, str) else decode_b64(item, f"{where} feature '{name}'")
            for item in values
        ]
        return "bytes", data
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in values):
        return ("float" if any(isinstance(item, float) for item in values) else "int64"), values
    raise InvalidArgumentError(
        f"{where} feature '{name}': values must be numbers, strings or {{\"b64\": ...}} objects of one "
        f"kind, as a value or a flat list. Received: {value!r:.80}."
    )


def example_features(example: Any, where: str = "example") -> dict[str, Feature]:
    """The features of one JSON example or ``{"b64": serialized tf.Example}``.

    >>> example_features({"x": [1.5, 2], "n": 3, "s": "a"})
    {'x': ('float', [1.5, 2]), 'n': ('int64', [3]), 's': ('bytes', [b'a'])}
    """
    if isinstance(example, dict) and set(example) == {"b64"}:
        try:
            proto = example_class().FromString(decode_b64(example, where))
        except DecodeError as err:
            raise InvalidArgumentError(f"{where}: could not parse a serialized tf.Example: {err}.") from err
        features: dict[str, Feature] = {}
        for name, feature in proto.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind is None:
                features[name] = ("", [])
            else:
                features[name] = (kind.split("_")[0], list(getattr(feature, kind).value))
        return features
    if not isinstance(example, dict):
        raise InvalidArgumentError(f"{where} must be a JSON object of features. Received: {example!r:.80}.")
    return {name: _json_feature(name, value, where) for name, value in example.items()}


def _fixed_array(features: Sequence[Mapping[str, Feature]], name: str, spec: Mapping[str, Any]) -> np.ndarray:
    dtype, shape = spec["dtype"], tuple(int(dim) for dim in spec.get("shape") or ())
    size, default = math.prod(shape), spec.get("default_value")
    rows = []
    for index, example in enumerate(features):
        if name not in example:
            if default is None:
                raise InvalidArgumentError(
                    f"Feature: {name} (data type: {dtype}) is required but could not be found "
                    f"(example {index})."
                )
            rows.append(np.broadcast_to(np.asarray(default), shape))
            continue
        kind, values = example[name]
        _check_kind(name, kind, dtype, index)
        if len(values) != size:
            raise InvalidArgumentError(
                f"Key: {name}, Index: {index}. Number of {dtype} values != expected. Values size: "
                f"{len(values)} but output shape: {list(shape)}."
            )
        rows.append(np.asarray(values).reshape(shape))
    return np.stack(rows)


def _var_len_array(
    features: Sequence[Mapping[str, Feature]], name: str, spec: Mapping[str, Any]
) -> np.ndarray:
    rows = []
    for index, example in enumerate(features):
        kind, values = example.get(name, ("", []))
        _check_kind(name, kind, spec["dtype"], index)
        rows.append(values)
    width = max(len(row) for row in rows)
    padded = np.zeros((len(rows), width), dtype=np.float64 if spec["dtype"] == "float32" else np.int64)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row
    return padded


def _check_kind(name: str, kind: str, dtype: str, index: int) -> None:
    expected = _SPEC_KINDS.get(dtype)
    # JSON integers are fine for float features (TF would insist on 1.0); empty lists fit any type;
    # anything else must match.
    if kind not in (expected, "") and not (kind == "int64" and expected == "float"):
        raise InvalidArgumentError(
            f"Name: <unknown>, Key: {name}, Index: {index}. Data types don't match. Data type: {kind} "
            f"but expected type: {dtype}."
        )


def _direct_array(features: Sequence[Mapping[str, Feature]], name: str, spec: Any) -> np.ndarray:
    shape = tuple(int(dim) for dim in spec.shape[1:])
    rows = []
    for index, example in enumerate(features):
        if name not in example:
            raise InvalidArgumentError(
                f"Feature: {name} (data type: {tf_dtype_name(spec.dtype)}) is required but could not be "
                f"found (example {index}); the signature takes it as a {shape_text(spec.shape)} input."
            )
        kind, values = example[name]
        if kind == "bytes":
            raise InvalidArgumentError(
                f"Feature '{name}' holds strings, but input '{name}' is {tf_dtype_name(spec.dtype)}."
            )
        if len(values) != math.prod(shape):
            raise InvalidArgumentError(
                f"Key: {name}, Index: {index}. Input '{name}' takes {math.prod(shape)} values per example "
                f"(shape {list(shape)}); received {len(values)}."
            )
        rows.append(np.asarray(values).reshape(shape))
    return np.stack(rows)


def decode_examples(request: Mapping[str, Any], signature: Any) -> PredictCall:
    """The signature's input tensors for the ``examples`` (and ``context``) of a request.

    Raises:
        InvalidArgumentError: no ``examples`` list, a bad example, a missing required feature, or a
            feature whose type or size does not fit its spec or input.
    """
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise InvalidArgumentError(f"'examples' must be a non-empty list. Received: {examples!r:.80}.")
    context = example_features(request["context"], "'context'") if "context" in request else {}
    features = [
        {**context, **example_features(example, f"Element {index} of 'examples'")}
        for index, example in enumerate(examples)
    ]
    spec_map = signature.feature_spec or {}
    tensors: dict[str, torch.Tensor] = {}
    for name, input_spec in signature.inputs.items():
        feature_spec = spec_map.get(name)
        if feature_spec is None:
            array = _direct_array(features, name, input_spec)
        elif feature_spec.get("kind") == "var_len":
            array = _var_len_array(features, name, feature_spec)
        else:
            array = _fixed_array(features, name, feature_spec)
        tensors[name] = to_tensor(array, input_spec.dtype, tuple(array.shape), name)
    return PredictCall(tensors, len(examples), row_format=True)


def _rows(tensor: torch.Tensor, rows: int, name: str) -> torch.Tensor:
    if tensor.dim() == 0 or tensor.shape[0] != rows or tensor.dim() > 2:
        raise InvalidArgumentError(
            f"Expected output Tensor '{name}' shape to be either [batch_size] or [batch_size, k] with "
            f"batch_size {rows}, but got {list(tensor.shape)}."
        )
    return tensor.reshape(rows, -1)


def encode_classify(outputs: Mapping[str, torch.Tensor], signature: Any, rows: int) -> dict[str, Any]:
    """``{"results": [[[label, score], ...] per example]}`` from a classify signature's outputs.

    Labels: with ``classes`` and ``scores`` of the same [batch, k] shape, each score's class id; with
    ``scores`` [batch, k] alone (or ``classes`` of argmax ids [batch]), column j is class j. Ids become
    ``class_names[id]``, else ``str(id)``. Without scores each label gets score 0 (TF's proto default).
    """
    names = signature.class_names or ()
    scores, classes = outputs.get("scores"), outputs.get("classes")
    if scores is None and classes is None:
        raise InvalidArgumentError(
            f"Classification signature '{signature.name}' returns neither 'scores' nor 'classes'; "
            f"its outputs are {sorted(outputs)}."
        )
    score_values = json_values(_rows(scores, rows, "scores")) if scores is not None else None
    if classes is not None and (scores is None or classes.shape == scores.shape):
        labels = json_values(_rows(classes, rows, "classes"), names)
    else:
        width = len(score_values[0])
        labels = [[names[j] if j < len(names) else str(j) for j in range(width)]] * rows
    if score_values is None:
        score_values = [[0.0] * len(row) for row in labels]
    return {
        "results": [
            [[label, score] for label, score in zip(row_labels, row_scores, strict=True)]
            for row_labels, row_scores in zip(labels, score_values, strict=True)
        ]
    }


def encode_regress(outputs: Mapping[str, torch.Tensor], signature: Any, rows: int) -> dict[str, Any]:
    """``{"results": [value per example]}`` from a regress signature's ``outputs`` output."""
    value = outputs.get("outputs", next(iter(outputs.values())) if len(outputs) == 1 else None)
    if value is None:
        raise InvalidArgumentError(
            f"Regression signature '{signature.name}' has no 'outputs' output; its outputs are "
            f"{sorted(outputs)}."
        )
    value = _rows(value, rows, "outputs")
    if value.shape[1] != 1:
        raise InvalidArgumentError(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(value.shape)}."
        )
    return {"results": json_values(value.reshape(rows))}
