"""Recomputes a receiver's features from new receiver tensors by replaying the receiver fn's torch calls.

TF's receiver fn built graph ops from placeholders to features. Here it runs eagerly on example
tensors, so every torch call it makes is recorded (a ``TorchFunctionMode``); to trace a signature,
the calls that consumed a receiver tensor (directly or through an earlier replayed result) run again
on the signature's inputs. Calls that touch no receiver tensor keep their recorded results
(constants, lookup tables). Python numbers read from a tensor (``x.shape[0]``, ``x.item()``) stay the
recorded values: compute features with shape-generic torch ops (``x.reshape(-1, 4)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["ReceiverRecording", "record_receiver_fn"]

# In-place methods; replaying one on a receiver tensor itself would write into the caller's input.
_IN_PLACE_DUNDERS = frozenset(
    {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__",
     "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__"}
)  # fmt: skip


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Any]] = []

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        self.calls.append((func, args, kwargs, result))
        return result


class ReceiverRecording:
    """The torch calls one receiver fn made, replayable from any set of its receiver tensors."""

    def __init__(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Any]]) -> None:
        # The recorded arguments and results stay referenced, so their ids stay unique.
        self.calls = calls

    def replay(
        self, sources: Mapping[str, torch.Tensor], inputs: Mapping[str, torch.Tensor], targets: Any
    ) -> Any:
        """``targets`` (tensors in dicts/lists) recomputed with ``inputs[name]`` for ``sources[name]``.

        Raises:
            ValueError: a target tensor was neither a source nor computed from one.
        """
        env: dict[int, torch.Tensor] = {id(sources[name]): inputs[name] for name in sources}
        source_ids = frozenset(env)
        if not _any_tensor_in(targets, env, negate=True):
            return _substitute(targets, env)
        for func, args, kwargs, result in self.calls:
            if not _any_tensor_in((args, kwargs), env) or not _has_tensor(result):
                continue
            if _writes_into(func, args, source_ids):
                continue
            new_args, new_kwargs = _substitute((args, kwargs), env)
            new_result = func(*new_args, **new_kwargs)
            _bind(result, new_result, env)
        missing = _unreached(targets, env)
        if missing:
            raise ValueError(
                f"Features {missing} cannot be computed from the receiver tensors {sorted(sources)}: they "
                "do not depend on them through torch operations. Make features the receiver tensors "
                "themselves, or compute them from the receiver tensors with torch ops inside the "
                "serving_input_receiver_fn."
            )
        return _substitute(targets, env)


def record_receiver_fn(receiver_fn: Callable[[], Any]) -> tuple[Any, ReceiverRecording]:
    """Calls ``receiver_fn()`` while recording its torch calls; returns its result and the recording.

    >>> recorded = {}
    >>> def receiver_fn():
    ...     recorded["x"] = torch.zeros(2, 3)
    ...     return {"double": recorded["x"] * 2}
    >>> features, recording = record_receiver_fn(receiver_fn)
    >>> recording.replay(recorded, {"x": torch.ones(1, 3)}, features)
    {'double': tensor([[2., 2., 2.]])}
    """
    recorder = _Recorder()
    with recorder:
        result = receiver_fn()
    return result, ReceiverRecording(recorder.calls)


def _writes_into(func: Callable[..., Any], args: tuple[Any, ...], source_ids: frozenset[int]) -> bool:
    name = getattr(func, "__name__", "")
    in_place = name in _IN_PLACE_DUNDERS or (name.endswith("_") and not name.endswith("__"))
    return in_place and bool(args) and isinstance(args[0], torch.Tensor) and id(args[0]) in source_ids


def _any_tensor_in(value: Any, env: Mapping[int, Any], negate: bool = False) -> bool:
    if isinstance(value, torch.Tensor):
        return (id(value) not in env) if negate else (id(value) in env)
    if isinstance(value, (list, tuple)):
        return any(_any_tensor_in(item, env, negate) for item in value)
    if isinstance(value, Mapping):
        return any(_any_tensor_in(item, env, negate) for item in value.values())
    return False


def _has_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(item) for item in value)
    return False


def _substitute(value: Any, env: Mapping[int, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return env.get(id(value), value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_substitute(item, env) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_substitute(item, env) for item in value)
    if isinstance(value, dict):
        return {key: _substitute(item, env) for key, item in value.items()}
    return value


def _bind(recorded: Any, replayed: Any, env: dict[int, torch.Tensor]) -> None:
    if isinstance(recorded, torch.Tensor) and isinstance(replayed, torch.Tensor):
        env[id(recorded)] = replayed
    elif isinstance(recorded, (list, tuple)) and isinstance(replayed, (list, tuple)):
        for old, new in zip(recorded, replayed, strict=False):
            _bind(old, new, env)


def _unreached(targets: Any, env: Mapping[int, Any], path: str = "") -> list[str]:
    if isinstance(targets, torch.Tensor):
        return [] if id(targets) in env else [path or "<tensor>"]
    if isinstance(targets, Mapping):
        items: Any = targets.items()
    elif isinstance(targets, (list, tuple)):
        items = enumerate(targets)
    else:
        return []
    found: list[str] = []
    for key, value in items:
        found.extend(_unreached(value, env, f"{path}[{key!r}]" if path else str(key)))
    return found
