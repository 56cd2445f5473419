"""InputContext (what an input_fn learns about the input pipelines) and `shard` for any iterable.

An ``input_fn`` that declares ``input_context`` receives one: when several processes train, each
calls input_fn once and should read only its share of the data (``input_pipeline_id`` of
``num_input_pipelines``), as tf.distribute's ``InputContext`` told tf.estimator input_fns.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["InputContext", "shard"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class InputContext:
    """Which input pipeline this process runs, of how many (tf.distribute.InputContext).

    >>> context = InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    >>> context.get_per_replica_batch_size(64)
    32
    >>> list(context.shard(range(6)))
    [1, 3, 5]
    """

    num_input_pipelines: int = 1
    """How many processes each call input_fn (the world size)."""
    input_pipeline_id: int = 0
    """This pipeline's index in ``[0, num_input_pipelines)`` (the rank)."""
    num_replicas_in_sync: int = 1
    """How many replicas train in lockstep (one per process)."""

    def __post_init__(self) -> None:
        if self.num_input_pipelines < 1 or self.num_replicas_in_sync < 1:
            raise ValueError(
                "num_input_pipelines and num_replicas_in_sync must be >= 1. Received: "
                f"num_input_pipelines={self.num_input_pipelines}, "
                f"num_replicas_in_sync={self.num_replicas_in_sync}."
            )
        if not 0 <= self.input_pipeline_id < self.num_input_pipelines:
            raise ValueError(
                f"input_pipeline_id must be in [0, {self.num_input_pipelines}). "
                f"Received: {self.input_pipeline_id}."
            )

    @classmethod
    def for_rank(cls, rank: int, world_size: int) -> InputContext:
        """One input pipeline per process, each process one replica: pipeline ``rank`` of ``world_size``.

        >>> InputContext.for_rank(2, 3)
        InputContext(num_input_pipelines=3, input_pipeline_id=2, num_replicas_in_sync=3)
        """
        return cls(world_size, rank, world_size)

    def get_per_replica_batch_size(self, global_batch_size: int) -> int:
        """The batch size of one replica for ``global_batch_size`` over all replicas.

        Raises:
            ValueError: ``global_batch_size`` is not divisible by ``num_replicas_in_sync``.
        """
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(
                f"The `global_batch_size` {global_batch_size} is not divisible by `num_replicas_in_sync` "
                f"{self.num_replicas_in_sync}. Pick a multiple of {self.num_replicas_in_sync}."
            )
        return global_batch_size // self.num_replicas_in_sync

    def shard(self, iterable: Iterable[T]) -> Iterator[T]:
        """This pipeline's share of ``iterable``: see `shard`."""
        return shard(iterable, self.num_input_pipelines, self.input_pipeline_id)


def shard(iterable: Iterable[T], num_shards: int, index: int) -> Iterator[T]:
    """Every ``num_shards``-th element of ``iterable``, starting at element ``index`` (tf.data's shard).

    Works on any iterable (a list, a generator of batches, a DataLoader); each shard sees about
    ``1/num_shards`` of the elements and the shards together see each element once.

    Raises:
        ValueError: ``num_shards < 1`` or ``index`` outside ``[0, num_shards)``.

    >>> list(shard(range(7), 3, 0)), list(shard(range(7), 3, 2))
    ([0, 3, 6], [2, 5])
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be an int >= 1. Received: {num_shards!r}.")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_shards:
        raise ValueError(f"index must be an int in [0, {num_shards}). Received: {index!r}.")
    return itertools.islice(iterable, index, None, num_shards)
