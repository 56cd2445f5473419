"""Distribution strategies: how the Graph is wrapped when several processes train together.

A strategy is chosen once per ``train`` call (`resolve_strategy`) from
``RunConfig.train_distribute`` and the world size, and wraps the Graph after the build pass and the
restore; the training loop then calls the wrapped module, so DDP's gradient all-reduce hooks fire
on every step.

* `SingleProcessStrategy`: the Graph as it is (one process).
* `DDPStrategy`: ``torch.nn.parallel.DistributedDataParallel`` (the default when world size > 1).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = [
    "DDPStrategy",
    "SingleProcessStrategy",
    "Strategy",
    "check_train_distribute",
    "resolve_strategy",
]


@runtime_checkable
class Strategy(Protocol):
    """What a distribution strategy does: wrap the built, restored Graph for training."""

    name: str

    def wrap(self, graph: nn.Module, device: torch.device) -> nn.Module:
        """The module the training loop calls instead of ``graph``."""
        ...


@dataclasses.dataclass(frozen=True)
class SingleProcessStrategy:
    """One process: the Graph is trained as it is.

    >>> graph = nn.Linear(2, 1)
    >>> SingleProcessStrategy().wrap(graph, torch.device("cpu")) is graph
    True
    """

    name: str = dataclasses.field(default="single", init=False, repr=False)

    def wrap(self, graph: nn.Module, device: torch.device) -> nn.Module:
        """Returns ``graph`` unchanged."""
        return graph


@dataclasses.dataclass(frozen=True)
class DDPStrategy:
    """DistributedDataParallel: each rank holds a full replica; gradients are averaged in backward.

    The arguments are DDP's. ``static_graph=True`` is refused: the train op from
    ``optimizer.minimize`` backpropagates the loss model_fn computed, while DDP's static-graph mode
    needs the backward to start from the loss DDP hands back (its first iteration's gradient
    all-reduce is queued there), so replicas would silently drift apart.

    >>> DDPStrategy(find_unused_parameters=True).find_unused_parameters
    True
    """

    find_unused_parameters: bool = False
    """Let DDP find parameters model_fn did not use in a step (costs a graph traversal per step)."""
    broadcast_buffers: bool = True
    """Broadcast rank 0's buffers (batch-norm statistics) at each forward. The global step is left
    out: it advances alike on every rank."""
    bucket_cap_mb: float | None = None
    """Gradient bucket size in MiB (None: DDP's default, 25)."""
    gradient_as_bucket_view: bool = False
    """Let gradients be views into the all-reduce buckets (saves memory)."""
    static_graph: bool = False
    """Must stay False (see above)."""
    name: str = dataclasses.field(default="ddp", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.static_graph:
            raise ValueError(
                "DDPStrategy(static_graph=True) is not supported. Received: static_graph=True. The train_op "
                "from optimizer.minimize backpropagates the loss model_fn computed, but DDP's static-graph "
                "mode queues its first gradient all-reduce on the loss it returns, so the replicas would "
                "drift apart. Use DDPStrategy() (static_graph=False)."
            )

    def wrap(self, graph: nn.Module, device: torch.device) -> nn.Module:
        """``DistributedDataParallel(graph)``: broadcasts rank 0's parameters and buffers now."""
        from torch.nn.parallel import DistributedDataParallel

        # The global step advances by one on every rank and is restored alike, so it needs no
        # broadcast: without it a Graph with no other buffer skips a collective per step.
        names = dict(graph.named_buffers())
        if "global_step" in names:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(graph, ["global_step"])
        options: dict[str, Any] = {}
        if self.bucket_cap_mb is not None:
            options["bucket_cap_mb"] = self.bucket_cap_mb
        # torch 2.13 renamed broadcast_buffers (still accepted, with a FutureWarning).
        parameters = inspect.signature(DistributedDataParallel.__init__).parameters
        sync_name = "forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers"
        options[sync_name] = self.broadcast_buffers
        return DistributedDataParallel(
            graph,
            device_ids=[device.index if device.index is not None else 0] if device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
            gradient_as_bucket_view=self.gradient_as_bucket_view,
            **options,
        )


_BY_NAME = ("ddp",)


def check_train_distribute(value: Any) -> Any:
    """``RunConfig.train_distribute`` as stored: None, a `Strategy`, or ``'ddp'`` made one.

    Raises:
        ValueError: an unknown name, or a parameter-server strategy.
        TypeError: an object that is not a Strategy.

    >>> check_train_distribute("ddp")
    DDPStrategy(find_unused_parameters=False, broadcast_buffers=True, bucket_cap_mb=None, \
gradient_as_bucket_view=False, static_graph=False)
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value == "ddp":
            return DDPStrategy()
        raise ValueError(
            f"train_distribute must be one of {list(_BY_NAME)}, a strategy such as "
            f"te.distribute.DDPStrategy(), or None. Received: {value!r}."
        )
    if "ParameterServer" in type(value).__name__:
        raise ValueError(
            "ParameterServerStrategy is not supported: there are no parameter servers in torch-estimator. "
            f"Received: {value!r}. Use te.distribute.DDPStrategy()."
        )
    if not isinstance(value, Strategy):
        raise TypeError(
            "train_distribute must be None, 'ddp' or a strategy with a name and "
            f"wrap(graph, device), such as te.distribute.DDPStrategy(). Received: {value!r}."
        )
    return value


def resolve_strategy(train_distribute: Any, world_size: int) -> Strategy:
    """The strategy a ``train`` call uses: DDP by default when several processes train.

    One process always trains as it is, whatever ``train_distribute`` says.

    >>> resolve_strategy(None, 2).name, resolve_strategy("ddp", 1).name
    ('ddp', 'single')
    """
    strategy = check_train_distribute(train_distribute)
    if world_size <= 1:
        return SingleProcessStrategy()
    return strategy if strategy is not None else DDPStrategy()
