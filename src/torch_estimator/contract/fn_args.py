"""How model_fn and input_fn are inspected and called: by keyword, with only the names they declare."""

from __future__ import annotations

import copy
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.contract.spec import EstimatorSpec

__all__ = [
    "VALID_INPUT_FN_ARGS",
    "VALID_MODEL_FN_ARGS",
    "call_input_fn",
    "call_model_fn",
    "fn_args",
    "split_input_fn_result",
    "verify_model_fn_args",
]

logger = logging.getLogger("torch_estimator")

VALID_MODEL_FN_ARGS = frozenset({"features", "labels", "mode", "params", "self", "config"})
VALID_INPUT_FN_ARGS = frozenset({"mode", "params", "config", "input_context"})


def fn_args(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The parameter names ``fn`` can take by keyword, minus those a ``functools.partial`` binds.

    Callable objects report their ``__call__`` (an ``nn.Module`` its ``forward``); bound methods drop
    ``self``. ``*args`` and ``**kwargs`` are not names and are not reported.

    >>> def model_fn(features, labels, mode, params): ...
    >>> fn_args(functools.partial(model_fn, params={}))
    ('features', 'labels', 'mode')
    """
    if isinstance(fn, functools.partial):
        names = fn_args(fn.func)
        names = names[len(fn.args) :]
        return tuple(name for name in names if name not in fn.keywords)
    target = fn
    if isinstance(fn, torch.nn.Module):
        # nn.Module.__call__ is (*args, **kwargs) and hands them to forward: forward declares the names.
        target = fn.forward
    elif not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
        call = type(fn).__call__
        if inspect.isfunction(call):
            target = fn.__call__
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"Cannot read the signature of {fn!r}: pass a function or a callable object."
        ) from err
    return tuple(
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    )


def verify_model_fn_args(model_fn: Callable[..., Any], params: Any) -> None:
    """Checks model_fn's parameter names as Estimator's constructor does.

    Raises:
        ValueError: no ``features`` parameter; ``params`` given to the Estimator but not declared;
            a parameter name model_fn cannot be given.
    """
    args = set(fn_args(model_fn))
    if "features" not in args:
        raise ValueError(
            f"model_fn ({model_fn}) must include features argument. Received parameters: "
            f"{sorted(args)}. Declare model_fn(features, labels, mode, params, config)."
        )
    if params is not None and "params" not in args:
        raise ValueError(
            f"model_fn ({model_fn}) does not include params argument, but params ({params}) is passed "
            "to Estimator. Add a params parameter to model_fn or drop params."
        )
    if params is None and "params" in args:
        logger.warning(
            "Estimator's model_fn (%s) includes params argument, but params are not passed to Estimator.",
            model_fn,
        )
    unexpected = sorted(args - VALID_MODEL_FN_ARGS)
    if unexpected:
        raise ValueError(
            f"model_fn ({model_fn}) has following not expected args: {unexpected}. Allowed names are "
            f"{sorted(VALID_MODEL_FN_ARGS - {'self'})}."
        )


def call_model_fn(
    model_fn: Callable[..., Any],
    features: Any,
    labels: Any,
    mode: Any,
    params: Any,
    config: Any,
    declared: tuple[str, ...] | None = None,
) -> EstimatorSpec:
    """Calls model_fn by keyword with the names it declares and checks that it returned a spec.

    ``declared`` lets a caller that runs model_fn on every step read the signature once.
    """
    names = fn_args(model_fn) if declared is None else declared
    kwargs: dict[str, Any] = {}
    if "labels" in names:
        kwargs["labels"] = labels
    elif labels is not None:
        raise ValueError(
            "model_fn does not take labels, but input_fn returns labels. Add a labels parameter to "
            "model_fn or return features only from input_fn."
        )
    if "mode" in names:
        kwargs["mode"] = mode
    if "params" in names:
        kwargs["params"] = params
    if "config" in names:
        kwargs["config"] = config
    result = model_fn(features=features, **kwargs)
    if not isinstance(result, EstimatorSpec):
        raise ValueError(
            f"model_fn should return an EstimatorSpec. Received: {type(result).__name__}. "
            "Return te.EstimatorSpec(mode, ...)."
        )
    return result


def call_input_fn(
    input_fn: Callable[..., Any],
    mode: Any,
    params: Any = None,
    config: Any = None,
    input_context: Any = None,
) -> Any:
    """Calls input_fn with no positional arguments, passing only the names it declares.

    ``params`` is passed as a deep copy; ``input_context`` only when one exists.
    """
    if not callable(input_fn):
        raise TypeError(f"input_fn must be callable. Received: {input_fn!r}.")
    names = fn_args(input_fn)
    kwargs: dict[str, Any] = {}
    if "mode" in names:
        kwargs["mode"] = mode
    if "params" in names:
        kwargs["params"] = copy.deepcopy(params) if params is not None else {}
    if "config" in names:
        kwargs["config"] = config
    if "input_context" in names and input_context is not None:
        kwargs["input_context"] = input_context
    return input_fn(**kwargs)


def split_input_fn_result(result: Any) -> tuple[Any, Any]:
    """``(features, labels)`` from one input element: a 2-tuple/list, or features alone.

    >>> split_input_fn_result(({"x": 1}, 0))
    ({'x': 1}, 0)
    >>> split_input_fn_result({"x": 1})
    ({'x': 1}, None)
    """
    if isinstance(result, (tuple, list)):
        if len(result) != 2:
            raise ValueError(
                "input_fn should return (features, labels) as a len 2 tuple. "
                f"Received a {type(result).__name__} of length {len(result)}."
            )
        return result[0], result[1]
    return result, None
