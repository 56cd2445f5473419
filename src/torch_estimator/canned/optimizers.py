"""The ``optimizer`` argument of the canned estimators: a name, an optimizer, or a function making one.

TF2's canned estimators map the names 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' and 'SGD' to optimizer
classes and fill in a learning rate each estimator chooses. Here the names map to ``te.train``'s
TF optimizers, whose checkpoint slot names (``<variable>/Adagrad``, ...) the canned checkpoints use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeAlias

from torch_estimator.train import (
    AdagradOptimizer,
    AdamOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    Optimizer,
    RMSPropOptimizer,
)

__all__ = ["OPTIMIZER_CLASSES", "OptimizerSpec", "check_optimizer", "get_optimizer_instance"]

OptimizerSpec: TypeAlias = "str | Optimizer | Callable[[], Optimizer]"
"""What the canned estimators accept as ``optimizer``."""

OPTIMIZER_CLASSES: dict[str, Callable[..., Optimizer]] = {
    "Adagrad": AdagradOptimizer,
    "Adam": AdamOptimizer,
    "Ftrl": FtrlOptimizer,
    # TF2 builds tf.keras.optimizers.legacy.RMSprop: mean square from zeros, epsilon 1e-7.
    "RMSProp": functools.partial(RMSPropOptimizer, epsilon=1e-7, keras=True),
    "SGD": GradientDescentOptimizer,
}
"""The optimizer names TF's canned estimators accept, and the ``te.train`` optimizer each makes."""


def check_optimizer(optimizer: Any, argument: str = "optimizer") -> None:
    """Checks an ``optimizer`` argument when the estimator is built (a bad name fails early).

    Raises:
        ValueError: an unknown name, or something that is neither a name, an optimizer nor callable.

    >>> check_optimizer("Adagrad")
    >>> check_optimizer("Adadelta")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unsupported optimizer name: Adadelta. Supported names are: ('Adagrad', 'Adam', ...
    """
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZER_CLASSES:
            raise ValueError(
                f"Unsupported optimizer name: {optimizer}. Supported names are: "
                f"{tuple(sorted(OPTIMIZER_CLASSES))}. Pass one of them, a te.train optimizer, or a "
                "zero-argument function returning one."
            )
        return
    if not (isinstance(optimizer, Optimizer) or callable(optimizer)):
        raise ValueError(
            f"{argument} must be an optimizer name, a te.train.Optimizer instance or a zero-argument "
            f"function returning one. Given: {type(optimizer).__name__} {optimizer!r}."
        )


def get_optimizer_instance(optimizer: Any, learning_rate: float | None = None) -> Optimizer:
    """The ``te.train.Optimizer`` an ``optimizer`` argument stands for.

    A name gets ``learning_rate``, or when that is None the default learning rate of the Keras
    optimizer TF2 would build (Adagrad, Adam, Ftrl, RMSProp 0.001; SGD 0.01). A callable is
    called; the result, like a directly given optimizer, must be a ``te.train.Optimizer``.

    Raises:
        ValueError: an unsupported name ('Unsupported optimizer name'), or not an Optimizer.

    >>> get_optimizer_instance("Adam").hyperparameters["lr"]
    0.001
    >>> get_optimizer_instance("Ftrl", learning_rate=0.2).hyperparameters["lr"]
    0.2
    """
    if isinstance(optimizer, str):
        check_optimizer(optimizer)
        if learning_rate is None:
            learning_rate = _KERAS_DEFAULT_LEARNING_RATES[optimizer]
        return OPTIMIZER_CLASSES[optimizer](learning_rate=learning_rate)
    if callable(optimizer) and not isinstance(optimizer, Optimizer):
        optimizer = optimizer()
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            "The given object is not a te.train.Optimizer instance. "
            f"Given: {type(optimizer).__name__} {optimizer!r}. Pass e.g. te.train.AdagradOptimizer(0.05)."
        )
    return optimizer


# tf.keras.optimizers' defaults: what TF2's canned estimators use for a bare name.
_KERAS_DEFAULT_LEARNING_RATES: dict[str, float] = {
    "Adagrad": 0.001,
    "Adam": 0.001,
    "Ftrl": 0.001,
    "RMSProp": 0.001,
    "SGD": 0.01,
}
