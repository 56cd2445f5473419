"""What each REST endpoint answers, as plain functions of the manager and the request body.

The HTTP layer (``app.py``) only routes, reads bodies and writes these dicts as JSON.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.serving.errors import InternalError, InvalidArgumentError, ServingError
from torch_estimator.serving.example_codec import (
    check_method,
    decode_examples,
    encode_classify,
    encode_regress,
)
from torch_estimator.serving.jsonio import dump_answer
from torch_estimator.serving.manager import ModelManager, ServedVersion
from torch_estimator.serving.predict_codec import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    PredictCall,
    decode_predict,
    encode_predict,
    find_signature,
    output_class_names,
    parse_json_object,
)
from torch_estimator.serving.tensors import tf_dtype_name

__all__ = [
    "PreparedCall",
    "model_metadata",
    "model_status",
    "prepare_call",
    "run_signature",
    "signature_def",
]

VERBS = ("predict", "classify", "regress")


def model_status(manager: ModelManager, name: str, version: int | None, label: str | None) -> dict[str, Any]:
    """``GET /v1/models/{name}[/versions/{v}|/labels/{l}]``."""
    return {"model_version_status": [status.to_json() for status in manager.status(name, version, label)]}


def _tensor_info(name: str, dtype: torch.dtype, shape: tuple[int | None, ...]) -> dict[str, Any]:
    dims = [{"size": str(-1 if dim is None else dim), "name": ""} for dim in shape]
    return {"dtype": tf_dtype_name(dtype), "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}


def signature_def(signature: Any) -> dict[str, Any]:
    """A signature as TF's ``SignatureDef`` JSON: inputs/outputs with ``DT_*`` dtypes and shape dims.

    Class-id outputs that the server returns as names are listed as ``DT_STRING``, as TF had them.
    """
    outputs = {}
    for name, spec in signature.outputs.items():
        info = _tensor_info(name, spec.dtype, spec.shape)
        if output_class_names(signature, name) is not None:
            info["dtype"] = "DT_STRING"
        outputs[name] = info
    return {
        "inputs": {
            name: _tensor_info(name, spec.dtype, spec.shape) for name, spec in signature.inputs.items()
        },
        "outputs": outputs,
        "method_name": signature.method_name,
    }


def model_metadata(served: ServedVersion) -> dict[str, Any]:
    """``GET .../metadata``: the model spec and every signature def."""
    signatures = served.model.signatures
    return {
        "model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
        "metadata": {
            "signature_def": {"signature_def": {name: signature_def(sig) for name, sig in signatures.items()}}
        },
    }


@dataclasses.dataclass(frozen=True)
class PreparedCall:
    """A decoded request: which signature to run on which tensors, and how to write its outputs."""

    signature: Any
    call: PredictCall
    encode: Callable[[Mapping[str, torch.Tensor], bool], dict[str, Any]]
    """``encode(outputs, arrays)``: the answer as JSON values (``arrays``: see ``json_values``)."""

    def answer(self, outputs: Mapping[str, torch.Tensor]) -> bytes:
        """The JSON text of the answer for the signature's ``outputs``."""
        return dump_answer(functools.partial(self.encode, outputs))


def prepare_call(served: ServedVersion, verb: str, body: bytes) -> PreparedCall:
    """Decodes a ``:predict`` / ``:classify`` / ``:regress`` body for a served version.

    Raises:
        InvalidArgumentError: malformed JSON, unknown signature, wrong method, bad inputs.
    """
    request = parse_json_object(body)
    signature = find_signature(served.model.signatures, request)
    if verb == "predict":
        may_hold_bools = b"true" in body or b"false" in body  # cheaper than scanning every value
        call = decode_predict(request, signature, may_hold_bools=may_hold_bools)
        return PreparedCall(signature, call, functools.partial(_encode_predict, signature, call))
    check_method(signature, CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD)
    call = decode_examples(request, signature)
    encoder = encode_classify if verb == "classify" else encode_regress
    return PreparedCall(signature, call, functools.partial(_encode_results, encoder, signature, call.rows))


def _encode_predict(
    signature: Any, call: PredictCall, outputs: Mapping[str, torch.Tensor], arrays: bool
) -> dict[str, Any]:
    return encode_predict(outputs, signature, call, arrays=arrays)


def _encode_results(
    encoder: Callable[..., dict[str, Any]],
    signature: Any,
    rows: int,
    outputs: Mapping[str, torch.Tensor],
    arrays: bool,
) -> dict[str, Any]:
    return encoder(outputs, signature, rows)  # lists either way: classify/regress answers are small


def run_signature(signature: Any, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Calls the signature without autograd; its input checks become 400s, anything else a 500."""
    try:
        with torch.no_grad():
            return dict(signature.run(tensors))
    except ServingError:
        raise
    except (ValueError, TypeError) as err:
        raise InvalidArgumentError(str(err)) from err
    except Exception as err:
        raise InternalError(f"Signature '{signature.name}' failed: {type(err).__name__}: {err}") from err
