"""Distribution strategies: how the Graph is wrapped when several processes train together.

A strategy is chosen once per ``train`` call (`resolve_strategy`) from
``RunConfig.train_distribute`` and the world size, and wraps the Graph after the build pass and the
restore; the training loop then calls the wrapped module, so DDP's gradient all-reduce hooks fire
on every step.

* `SingleProcessStrategy`: the Graph as it is (one process).
* `DDPStrategy`: ``torch.nn.parallel.DistributedDataParallel`` (the default when world size > 1).
* `FSDPStrategy`: FSDP2's ``fully_shard``: each rank keeps a shard of every parameter and slot.

A strategy's ``checkpoint_format`` says how training checkpoints are written: ``'safetensors'``
(rank 0 writes one file) or ``'dcp'`` (every rank writes its shards with
``torch.distributed.checkpoint``; readable by any number of processes).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

CHECKPOINT_FORMATS = ("safetensors", "dcp")

__all__ = [
    "CHECKPOINT_FORMATS",
    "DDPStrategy",
    "FSDPStrategy",
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
    checkpoint_format: str = "safetensors"
    """``'safetensors'`` (rank 0 writes the usual files) or ``'dcp'`` (sharded, every rank writes)."""
    name: str = dataclasses.field(default="ddp", init=False, repr=False)

    def __post_init__(self) -> None:
        check_checkpoint_format(self.checkpoint_format)
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


@dataclasses.dataclass(frozen=True)
class FSDPStrategy:
    """FSDP2 (``torch.distributed.fsdp.fully_shard``) on the whole Graph: parameters, gradients and
    optimizer slots are sharded across ranks; checkpoints are sharded too (``checkpoint_format``
    is always ``'dcp'``), and any number of processes can resume from them.

    Wrapping broadcasts rank 0's variables first (so ranks agree without a seed), shards the Graph
    in place, then rebinds every optimizer of the Graph to the sharded parameters, sharding any
    slots it already holds (restored from a checkpoint) the same way.

    >>> FSDPStrategy().checkpoint_format
    'dcp'
    """

    reshard_after_forward: bool = True
    """Free the gathered parameters after the forward pass and gather them again for backward
    (less memory, one more all-gather per step)."""
    name: str = dataclasses.field(default="fsdp", init=False, repr=False)
    checkpoint_format: str = dataclasses.field(default="dcp", init=False)

    def wrap(self, graph: nn.Module, device: torch.device) -> nn.Module:
        """Shards ``graph`` in place with ``fully_shard`` and returns it."""
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        # fully_shard keeps each rank's own values; DDP would have broadcast rank 0's. The global
        # step (kept on the CPU, which NCCL cannot send) advances and is restored alike everywhere.
        with torch.no_grad():
            for name, tensor in [*graph.named_parameters(), *graph.named_buffers()]:
                if name != "global_step":
                    dist.broadcast(tensor.data, src=0)
        # The mesh on the Graph's device: fully_shard's default mesh is on the machine's accelerator,
        # which a CPU (gloo) run on a machine with a GPU does not use.
        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        fully_shard(graph, mesh=mesh, reshard_after_forward=self.reshard_after_forward)
        parameters = dict(graph.named_parameters())
        for owned in getattr(graph, "objects", {}).values():
            rebind = getattr(owned, "rebind_variables", None)
            if rebind is not None:
                rebind(parameters, shard_like)
        return graph


def shard_like(value: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """``value`` sharded as ``parameter`` is, when it has the parameter's full shape (a slot).

    Other values (scalars such as Adam's ``step``) are returned unchanged.
    """
    from torch.distributed.tensor import DTensor, distribute_tensor

    if (
        not isinstance(value, torch.Tensor)
        or isinstance(value, DTensor)
        or not isinstance(parameter, DTensor)
    ):
        return value
    if value.shape != parameter.shape:
        return value
    return distribute_tensor(value.to(parameter.device), parameter.device_mesh, parameter.placements)


def check_checkpoint_format(value: str) -> str:
    """``value`` if it names a checkpoint format.

    >>> check_checkpoint_format("dcp")
    'dcp'
    """
    if value not in CHECKPOINT_FORMATS:
        raise ValueError(f"checkpoint_format must be one of {list(CHECKPOINT_FORMATS)}. Received: {value!r}.")
    return value


def checkpoint_format_of(strategy: Strategy) -> str:
    """How ``strategy`` writes training checkpoints: ``'safetensors'`` unless it says ``'dcp'``.

    >>> checkpoint_format_of(SingleProcessStrategy()), checkpoint_format_of(FSDPStrategy())
    ('safetensors', 'dcp')
    """
    return str(getattr(strategy, "checkpoint_format", "safetensors"))


_BY_NAME = ("ddp", "fsdp")


def check_train_distribute(value: Any) -> Any:
    """``RunConfig.train_distribute`` as stored: None, a `Strategy`, or ``'ddp'``/``'fsdp'`` made one.

    Raises:
        ValueError: an unknown name, or a parameter-server strategy.
        TypeError: an object that is not a Strategy.

    >>> check_train_distribute("ddp")
    DDPStrategy(find_unused_parameters=False, broadcast_buffers=True, bucket_cap_mb=None, \
gradient_as_bucket_view=False, static_graph=False, checkpoint_format='safetensors')
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value == "ddp":
            return DDPStrategy()
        if value == "fsdp":
            return FSDPStrategy()
        raise ValueError(
            f"train_distribute must be one of {list(_BY_NAME)}, a strategy such as "
            f"te.distribute.DDPStrategy() or te.distribute.FSDPStrategy(), or None. Received: {value!r}."
        )
    if "ParameterServer" in type(value).__name__:
        raise ValueError(
            "ParameterServerStrategy is not supported: there are no parameter servers in torch-estimator. "
            f"Received: {value!r}. Use te.distribute.DDPStrategy()."
        )
    if not isinstance(value, Strategy):
        raise TypeError(
            "train_distribute must be None, 'ddp', 'fsdp' or a strategy with a name and "
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
