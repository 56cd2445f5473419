"""The ``:predict`` request and response bodies of TF Serving's REST API.

Row format: ``{"instances": [...]}`` -- one element per example, a value when the signature has one
input, else an object ``{input name: value}`` -- answered with ``{"predictions": [...]}`` (one value
per example for a single output, else one object per example). Columnar format: ``{"inputs": value or
{name: batch value}}`` answered with ``{"outputs": value or {name: batch value}}``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torch_estimator.serving.errors import InvalidArgumentError
from torch_estimator.serving.jsonio import parse_json
from torch_estimator.serving.tensors import json_values, to_tensor

__all__ = [
    "CLASSIFY_METHOD",
    "DEFAULT_SIGNATURE",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "PredictCall",
    "decode_predict",
    "encode_predict",
    "find_signature",
    "output_class_names",
    "parse_json_object",
]

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


@dataclasses.dataclass(frozen=True)
class PredictCall:
    """Decoded request: the signature's input tensors, their batch size and the body format."""

    tensors: dict[str, torch.Tensor]
    rows: int
    row_format: bool


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        InvalidArgumentError: not UTF-8 JSON, or JSON that is not an object.

    >>> parse_json_object(b'{"instances": [1]}')
    {'instances': [1]}
    """
    try:
        request = parse_json(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidArgumentError(f"JSON Parse error: {err}") from err
    if not isinstance(request, dict):
        raise InvalidArgumentError(
            f"JSON Parse error: the request body must be a JSON object. Received: {type(request).__name__}."
        )
    return request


def find_signature(signatures: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
    """The signature named by ``signature_name`` (default ``serving_default``).

    Raises:
        InvalidArgumentError: unknown name (TF Serving: "Serving signature name ... not found in
            signature def"), or a name that is not a string.
    """
    name = request.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise InvalidArgumentError(f"'signature_name' must be a string. Received: {name!r:.80}.")
    if name not in signatures:
        raise InvalidArgumentError(
            f'Serving signature name: "{name}" not found in signature def. '
            f"Available signatures: {sorted(signatures)}."
        )
    return signatures[name]


def _is_value(item: Any) -> bool:
    """A value rather than an object of named inputs (``{"b64": ...}`` is a value)."""
    return not isinstance(item, dict) or set(item) == {"b64"}


def _check_names(given: set[str], signature: Any, where: str) -> None:
    expected = set(signature.inputs)
    if given != expected:
        raise InvalidArgumentError(
            f"{where}: input names do not match signature '{signature.name}': "
            f"{len(given)}!={len(expected)}. Sent extra: {sorted(given - expected)}. "
            f"Missing but required: {sorted(expected - given)}."
        )


def _tensor(value: Any, signature: Any, name: str, may_hold_bools: bool) -> torch.Tensor:
    spec = signature.inputs[name]
    return to_tensor(value, spec.dtype, spec.shape, name, may_hold_bools=may_hold_bools)


def _rows_of(tensors: dict[str, torch.Tensor]) -> int:
    sizes = {name: (int(tensor.shape[0]) if tensor.dim() else -1) for name, tensor in tensors.items()}
    if len(set(sizes.values())) != 1 or -1 in sizes.values():
        raise InvalidArgumentError(
            f"Every input needs the same batch size (dimension 0). Received batch sizes: {sizes}."
        )
    return next(iter(sizes.values()))


def decode_predict(request: Mapping[str, Any], signature: Any, *, may_hold_bools: bool = True) -> PredictCall:
    """The input tensors of a ``:predict`` body, checked against the signature (``may_hold_bools``:
    see ``to_tensor``).

    Raises:
        InvalidArgumentError: neither or both of ``instances``/``inputs``, unknown or missing input
            names, mixed instance forms, or a value of the wrong dtype or shape (named in the message).
    """
    if ("instances" in request) == ("inputs" in request):
        raise InvalidArgumentError(
            "Missing 'inputs' or 'instances' key"
            if "instances" not in request
            else "Not both 'instances' and 'inputs' can be given; use one of the two formats."
        )
    single = next(iter(signature.inputs)) if len(signature.inputs) == 1 else None
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidArgumentError(
                f"'instances' must be a non-empty list. Received: {json.dumps(instances)[:80]}."
            )
        if all(_is_value(item) for item in instances):
            if single is None:
                raise InvalidArgumentError(
                    f"'instances' is a list of values, but signature '{signature.name}' has "
                    f"{len(signature.inputs)} inputs {sorted(signature.inputs)}: send a list of objects "
                    "{input name: value}."
                )
            tensors = {single: _tensor(instances, signature, single, may_hold_bools)}
        elif all(isinstance(item, dict) for item in instances):
            for index, item in enumerate(instances):
                _check_names(set(item), signature, f"Element {index} of 'instances'")
            tensors = {
                name: _tensor([item[name] for item in instances], signature, name, may_hold_bools)
                for name in signature.inputs
            }
        else:
            raise InvalidArgumentError(
                "Mixed 'instances': every element must be a value, or every element an object of named "
                "inputs."
            )
        return PredictCall(tensors, len(instances), row_format=True)
    inputs = request["inputs"]
    if _is_value(inputs):
        if single is None:
            raise InvalidArgumentError(
                f"'inputs' is a single value, but signature '{signature.name}' has {len(signature.inputs)} "
                f"inputs {sorted(signature.inputs)}: send an object {{input name: value}}."
            )
        tensors = {single: _tensor(inputs, signature, single, may_hold_bools)}
    else:
        _check_names(set(inputs), signature, "'inputs'")
        tensors = {name: _tensor(inputs[name], signature, name, may_hold_bools) for name in signature.inputs}
    return PredictCall(tensors, _rows_of(tensors), row_format=False)


def output_class_names(signature: Any, output_name: str) -> Sequence[str] | None:
    """Names for an output of class ids: the classify signature's ``classes`` output gets its
    ``class_names``, an output in ``output_vocabularies`` (a predict signature's ``classes``) its
    vocabulary (``()`` = ``str(id)``, TF's default names); any other output ``None``."""
    if signature.method_name == CLASSIFY_METHOD and output_name == "classes":
        return signature.class_names if signature.class_names is not None else ()
    vocabularies = getattr(signature, "output_vocabularies", None) or {}
    if output_name in vocabularies:
        vocabulary = vocabularies[output_name]
        return vocabulary if vocabulary is not None else ()
    return None


def encode_predict(
    outputs: Mapping[str, torch.Tensor], signature: Any, call: PredictCall, *, arrays: bool = False
) -> dict[str, Any]:
    """The response body for ``outputs`` of a decoded call (``arrays``: see ``json_values``).

    Raises:
        InvalidArgumentError: in row format, an output without the batch dimension.
    """
    values = {
        name: json_values(tensor, output_class_names(signature, name), arrays=arrays)
        for name, tensor in outputs.items()
    }
    if not call.row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    for name, tensor in outputs.items():
        if tensor.dim() == 0 or tensor.shape[0] != call.rows:
            raise InvalidArgumentError(
                f"Tensor name: {name} has inconsistent batch size: "
                f"{tensor.shape[0] if tensor.dim() else 'none (a scalar)'} expecting: {call.rows}"
            )
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {
        "predictions": [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]
    }
