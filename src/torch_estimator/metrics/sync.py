"""Distributed evaluation: metric state summed across ranks before any value is computed.

What each kind of ``eval_metric_ops`` entry needs when ``torch.distributed`` is initialised:

* ``te.metrics`` functions keep additive sums and counts (``MetricState``): summing every state
  tensor over ranks (``reduce_metric_states``) gives exactly the state one process would have after
  seeing every rank's batches, so ``value`` then reads the global metric.
* ``torchmetrics.Metric`` objects (and ``MetricCollection``) sync themselves inside ``compute()``:
  torchmetrics all-gathers each state and applies its reduction whenever torch.distributed is
  initialised (any backend, gloo on CPU included), then restores the local state.
* Any other object with ``update``/``compute``/``reset`` cannot be synced: its value covers only
  the local rank's batches (``unsynced_metric_names`` lists them so the caller can warn).

Every rank must call these functions in the same order with the same metrics (same model_fn), as
for any collective; ranks may have seen different numbers of batches.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist

from torch_estimator.contract.metric_types import is_metric_object
from torch_estimator.graph.graph import Graph
from torch_estimator.metrics.state import metric_states

__all__ = [
    "all_reduce_sum",
    "distributed_rank_and_size",
    "reduce_metric_states",
    "unsynced_compute",
    "unsynced_metric_names",
]


def distributed_rank_and_size() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` when not distributed.

    >>> distributed_rank_and_size()
    (0, 1)
    """
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def all_reduce_sum(tensors: Sequence[torch.Tensor], group: Any = None) -> None:
    """Sums each tensor over the ranks of ``group`` (default: all), in place.

    One flat ``all_reduce`` per dtype and device, after one small collective that checks every rank
    passed the same dtypes and shapes in the same order (a mismatch would otherwise hang or mix
    unrelated numbers). Without an initialised process group, or with one rank, nothing happens.

    Raises:
        ValueError: the ranks passed different layouts.

    >>> totals = torch.tensor([3.0, 2.0])
    >>> all_reduce_sum([totals])  # one process: unchanged
    >>> totals
    tensor([3., 2.])
    """
    if not tensors or not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_world_size(group) == 1:
        return
    _check_same_layout(tensors, group)
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor.dtype, tensor.device), []).append(tensor)
    for members in groups.values():
        if len(members) == 1 and members[0].is_contiguous():
            dist.all_reduce(members[0], op=dist.ReduceOp.SUM, group=group)
            continue
        flat = torch.cat([tensor.reshape(-1) for tensor in members])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        for tensor, part in zip(members, flat.split([tensor.numel() for tensor in members]), strict=True):
            tensor.copy_(part.view_as(tensor))


def reduce_metric_states(graph: Graph, extra: Sequence[torch.Tensor] = (), group: Any = None) -> None:
    """Sums every ``te.metrics`` state tensor of ``graph`` (and ``extra``) over ranks, in place.

    Call it once, after the last update and before reading any value. torchmetrics objects are not
    touched (they sync in ``compute()``).

    >>> from torch_estimator.metrics.state import metric_state
    >>> graph = Graph(lambda features: None)
    >>> state = metric_state(graph, "mean", "mean", None, {"total": ((), torch.float32)})
    >>> reduce_metric_states(graph)  # one process: unchanged
    >>> float(state["total"])
    0.0
    """
    tensors = [tensor for state in metric_states(graph) for tensor in state.tensors()]
    all_reduce_sum([*tensors, *extra], group)


def unsynced_metric_names(metrics: Mapping[str, Any]) -> list[str]:
    """Names of Metric objects in ``metrics`` that cannot sync across ranks (not torchmetrics).

    >>> import torchmetrics
    >>> class Counter:
    ...     def update(self, value): ...
    ...     def compute(self): ...
    ...     def reset(self): ...
    >>> unsynced_metric_names({"mean": torchmetrics.MeanMetric(), "count": Counter()})
    ['count']
    """
    # Imported here: only distributed runs ask, and torchmetrics takes a while to import.
    import torchmetrics

    synced = (torchmetrics.Metric, torchmetrics.MetricCollection)
    return sorted(
        name
        for name, metric in metrics.items()
        if is_metric_object(metric) and not isinstance(metric, synced)
    )


@contextlib.contextmanager
def unsynced_compute(metrics: Mapping[str, Any]) -> Iterator[None]:
    """torchmetrics objects in ``metrics`` compute from this process's state alone (no all_gather).

    >>> import torchmetrics
    >>> mean = torchmetrics.MeanMetric()
    >>> mean.update(torch.tensor([1.0, 3.0]))
    >>> with unsynced_compute({"mean": mean}):
    ...     float(mean.compute())
    2.0
    """
    # torchmetrics syncs in compute() whenever a process group exists; its distributed_available_fn
    # decides that, so the block answers False for the duration.
    saved: list[tuple[Any, Any]] = []
    for metric in metrics.values():
        modules = metric.modules() if isinstance(metric, torch.nn.Module) else ()
        for module in modules:
            if hasattr(module, "distributed_available_fn"):
                saved.append((module, module.distributed_available_fn))
                module.distributed_available_fn = _not_distributed
    try:
        yield
    finally:
        for module, function in saved:
            module.distributed_available_fn = function


def _not_distributed() -> bool:
    return False


def _check_same_layout(tensors: Sequence[torch.Tensor], group: Any) -> None:
    layout = repr([(str(tensor.dtype), tuple(tensor.shape)) for tensor in tensors])
    # crc32, not hash(): str hashes differ between processes. [c, -c] under MAX gives (max, -min).
    checksum = zlib.crc32(layout.encode())
    bounds = torch.tensor([checksum, -checksum], dtype=torch.int64, device=tensors[0].device)
    dist.all_reduce(bounds, op=dist.ReduceOp.MAX, group=group)
    if int(bounds[0]) != checksum or -int(bounds[1]) != checksum:
        raise ValueError(
            "Distributed evaluation needs the same metrics on every rank, but the ranks' metric states "
            f"differ (this rank has {len(tensors)} tensors: {layout[:200]}). Make model_fn create the "
            "same metrics, with the same arguments and input shapes, on every rank."
        )
