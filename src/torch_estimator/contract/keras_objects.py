"""What ``te.regularizers`` and ``te.constraints`` share with Keras: lookup by name or config dict
(``get``), ``serialize``, and a repr from ``get_config``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["config_repr", "from_identifier", "serialize"]


def from_identifier(
    identifier: Any, by_name: Mapping[str, Callable[..., Any]], kind: str, example: str
) -> Any:
    """None or a callable as it is; a Keras name (``"l2"``) or a ``serialize`` dict made by ``by_name``.

    Raises:
        ValueError: anything else, or a name ``by_name`` lacks (``kind`` and ``example`` name what
            was expected).
    """
    if identifier is None or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, str):
        name, config = identifier, {}
    elif isinstance(identifier, Mapping) and "class_name" in identifier:
        name, config = identifier["class_name"], identifier.get("config") or {}
    else:
        raise ValueError(
            f"Could not interpret {kind} identifier: {identifier!r}. Pass a callable (e.g. {example}), one "
            f"of the names {sorted(by_name)}, or a serialize() dict."
        )
    factory = by_name.get(name)
    if factory is None:
        raise ValueError(f"Unknown {kind.split()[0]}: {name!r}. Known names: {sorted(by_name)}.")
    return factory(**config)


def serialize(instance: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a regularizer or constraint, what ``get`` takes back.

    >>> from torch_estimator.regularizers import L2
    >>> serialize(L2(0.5))
    {'class_name': 'L2', 'config': {'l2': 0.5}}
    """
    return {"class_name": type(instance).__name__, "config": instance.get_config()}


def config_repr(instance: Any) -> str:
    """``Name(arg=value, ...)`` from ``get_config()``."""
    arguments = ", ".join(f"{key}={value!r}" for key, value in instance.get_config().items())
    return f"{type(instance).__name__}({arguments})"
