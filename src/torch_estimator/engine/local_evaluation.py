"""Local evaluation: one process evaluates alone while the others of its process group train on.

``train_and_evaluate``'s local role evaluates inside training on the rank that saves checkpoints
(rank 0) only. Such an evaluation must read all the eval data and sync nothing across ranks: the
other ranks never join its collectives (they wait at their next training collective, bounded by
``RunConfig.collective_timeout_secs``). Inside ``local_evaluation()`` the evaluation engine treats
the process as a world of one: ``evaluation_rank_and_size()`` is ``(0, 1)``, input_fn gets a single
input pipeline, and metrics are not reduced across ranks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from torch_estimator.metrics.sync import distributed_rank_and_size

__all__ = ["evaluation_rank_and_size", "is_local_evaluation", "local_evaluation"]

_LOCAL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "torch_estimator_local_evaluation", default=False
)


@contextlib.contextmanager
def local_evaluation() -> Iterator[None]:
    """Evaluations (``Estimator.evaluate``) inside this block run in this process alone.

    >>> with local_evaluation():
    ...     is_local_evaluation()
    True
    >>> is_local_evaluation()
    False
    """
    token = _LOCAL.set(True)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def is_local_evaluation() -> bool:
    """Whether the caller is inside ``local_evaluation()``."""
    return _LOCAL.get()


def evaluation_rank_and_size() -> tuple[int, int]:
    """``(rank, world_size)`` as an evaluation sees it: ``(0, 1)`` inside ``local_evaluation()``,
    else the default process group's (``(0, 1)`` when not distributed).

    >>> evaluation_rank_and_size()
    (0, 1)
    """
    if _LOCAL.get():
        return 0, 1
    return distributed_rank_and_size()
