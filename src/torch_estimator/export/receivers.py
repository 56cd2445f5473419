"""What a serving_input_receiver_fn returns: the features for model_fn and the tensors a signature takes.

TF's receivers held placeholders. Eager PyTorch has none, so ``receiver_tensors`` are *example*
tensors: their names, dtypes and trailing shapes become the signature's inputs (dim 0 is the batch,
any size); ``features`` are the receiver tensors themselves or computed from them with torch ops,
which the export replays on the signature's inputs.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.contract.describe import describe

__all__ = [
    "ServingInputReceiver",
    "SupervisedInputReceiver",
    "TensorServingInputReceiver",
    "UnsupervisedInputReceiver",
    "wrap_and_check_input_tensors",
]

# TF's names for a bare tensor in each field.
_SINGLE_TENSOR_DEFAULT_NAMES = {
    "feature": "feature",
    "label": "label",
    "receiver_tensor": "input",
    "receiver_tensors_alternative": "input",
}


def wrap_and_check_input_tensors(
    tensors: Any, field_name: str, allow_int_keys: bool = False
) -> dict[Any, Any]:
    """``tensors`` as a dict (a bare tensor gets TF's default name), every key and value checked.

    Raises:
        ValueError: ``tensors`` is None, a key is not a string (or int, when allowed), or a value is
            not a torch.Tensor.

    >>> wrap_and_check_input_tensors(torch.zeros(2, 1), "receiver_tensor").keys()
    dict_keys(['input'])
    """
    if tensors is None:
        raise ValueError(f"{field_name}s must be defined. Received: None.")
    if not isinstance(tensors, Mapping):
        tensors = {_SINGLE_TENSOR_DEFAULT_NAMES[field_name]: tensors}
    for name, tensor in tensors.items():
        _check_tensor_key(name, field_name, allow_int_keys)
        _check_tensor(tensor, name, field_name)
    return dict(tensors)


def _check_tensor_key(name: Any, field_name: str, allow_ints: bool) -> None:
    if isinstance(name, str):
        return
    if not allow_ints:
        raise ValueError(f"{field_name} keys must be strings: {name!r}.")
    if not isinstance(name, int):
        raise ValueError(f"{field_name} keys must be strings or ints: {name!r}.")


def _check_tensor(tensor: Any, name: Any, field_name: str) -> None:
    if isinstance(tensor, torch.Tensor):
        return
    label = f"{field_name} {name}" if name is not None else field_name
    raise ValueError(
        f"{label} must be a Tensor, SparseTensor, or RaggedTensor: here a torch.Tensor. Received: "
        f"{describe(tensor)}. Strings cannot enter an exported program; map them to ids first."
    )


class ServingInputReceiver(
    collections.namedtuple(
        "ServingInputReceiver", ["features", "receiver_tensors", "receiver_tensors_alternatives"]
    )
):
    """Features for model_fn and the example tensors a serving signature takes.

    ``features``: a tensor (named ``'feature'``) or a dict with string or int keys.
    ``receiver_tensors``: a tensor (named ``'input'``) or a dict with string keys; each becomes a
    signature input. ``receiver_tensors_alternatives``: ``{name: tensor or dict}``, each making
    extra signatures ``'<name>:<output key>'`` whose features are computed from those tensors.

    >>> x = torch.zeros(2, 4)
    >>> receiver = ServingInputReceiver({"x": x}, {"x": x})
    >>> sorted(receiver.receiver_tensors), receiver.receiver_tensors_alternatives
    (['x'], None)
    """

    __slots__ = ()

    def __new__(
        cls, features: Any, receiver_tensors: Any, receiver_tensors_alternatives: Any = None
    ) -> ServingInputReceiver:
        features = wrap_and_check_input_tensors(features, "feature", allow_int_keys=True)
        receiver_tensors = wrap_and_check_input_tensors(receiver_tensors, "receiver_tensor")
        alternatives = _check_alternatives(receiver_tensors_alternatives)
        return super().__new__(
            cls,
            features=features,
            receiver_tensors=receiver_tensors,
            receiver_tensors_alternatives=alternatives,
        )


UnsupervisedInputReceiver = ServingInputReceiver
"""TF's alias: a receiver without labels, for exporting EVAL (or PREDICT) graphs."""


class TensorServingInputReceiver(
    collections.namedtuple(
        "TensorServingInputReceiver", ["features", "receiver_tensors", "receiver_tensors_alternatives"]
    )
):
    """Like ServingInputReceiver, but ``features`` is one tensor, passed to model_fn unwrapped.

    >>> x = torch.zeros(2, 4)
    >>> TensorServingInputReceiver(x, {"x": x}).features is x
    True
    """

    __slots__ = ()

    def __new__(
        cls, features: Any, receiver_tensors: Any, receiver_tensors_alternatives: Any = None
    ) -> TensorServingInputReceiver:
        if features is None:
            raise ValueError("features must be defined. Received: None.")
        _check_tensor(features, None, "feature")
        receiver = ServingInputReceiver(features, receiver_tensors, receiver_tensors_alternatives)
        return super().__new__(
            cls,
            features=receiver.features[_SINGLE_TENSOR_DEFAULT_NAMES["feature"]],
            receiver_tensors=receiver.receiver_tensors,
            receiver_tensors_alternatives=receiver.receiver_tensors_alternatives,
        )


class SupervisedInputReceiver(
    collections.namedtuple("SupervisedInputReceiver", ["features", "labels", "receiver_tensors"])
):
    """Features, labels and the example tensors an EVAL (or TRAIN) signature takes.

    ``features`` and ``labels`` may be tensors or dicts (kept as given); ``receiver_tensors`` a tensor
    (named ``'input'``) or a dict with string keys.

    >>> x, y = torch.zeros(2, 4), torch.zeros(2, 1)
    >>> sorted(SupervisedInputReceiver(x, y, {"x": x, "y": y}).receiver_tensors)
    ['x', 'y']
    """

    __slots__ = ()

    def __new__(cls, features: Any, labels: Any, receiver_tensors: Any) -> SupervisedInputReceiver:
        # Checked only; TF keeps features and labels as given (a bare tensor stays bare).
        wrap_and_check_input_tensors(features, "feature", allow_int_keys=True)
        wrap_and_check_input_tensors(labels, "label", allow_int_keys=True)
        receiver_tensors = wrap_and_check_input_tensors(receiver_tensors, "receiver_tensor")
        return super().__new__(cls, features=features, labels=labels, receiver_tensors=receiver_tensors)


def _check_alternatives(alternatives: Any) -> dict[str, dict[str, torch.Tensor]] | None:
    if alternatives is None:
        return None
    if not isinstance(alternatives, Mapping):
        raise ValueError(
            f"receiver_tensors_alternatives must be a dict: {alternatives!r}. Pass "
            "{alternative name: tensor or dict of tensors}."
        )
    return {
        name: wrap_and_check_input_tensors(tensors, "receiver_tensors_alternative")
        for name, tensors in alternatives.items()
    }
