"""The training processes as the engine sees them: one process, or the ranks of a process group.

`join_training_group` is called once per ``train``: it initialises ``torch.distributed`` when the
launch asks for several processes (or adopts a group the user initialised) and returns a `Replicas`
object. The engine asks it, the same way in both cases, which process is the chief, whether any
rank wants to stop, and which checkpoint the chief chose; only the process-group implementation
talks to other processes. A failed collective (a rank died, or stopped answering for
``RunConfig.collective_timeout_secs``) becomes a `DistributedTrainingError`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist

from torch_estimator.distribute.input_context import InputContext
from torch_estimator.distribute.launch import process_group_spec
from torch_estimator.distribute.tf_config import ClusterInfo

__all__ = [
    "DistributedTrainingError",
    "LocalReplica",
    "ProcessGroupReplicas",
    "Replicas",
    "backend_for",
    "join_training_group",
]

logger = logging.getLogger("torch_estimator")

T = TypeVar("T")

# Phrases of the errors gloo, NCCL and the rendezvous store raise when a peer dies or times out.
_COLLECTIVE_FAILURES = (
    "gloo",
    "nccl",
    "connection closed",
    "connection reset",
    "broken pipe",
    "timed out",
    "timeout",
    "socket",
    "store",
    "processgroup",
)


class DistributedTrainingError(RuntimeError):
    """A collective operation failed: another training process died or stopped responding."""


class Replicas(Protocol):
    """The processes that train together, as the training loop uses them."""

    rank: int
    world_size: int
    is_chief: bool

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (every rank must call it at the same point)."""
        ...

    def any_with_chief_time(self, flag: bool) -> tuple[bool, float]:
        """`any` of ``flag`` and rank 0's ``time.monotonic()``, both in one collective."""
        ...

    def chief_value(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (a picklable object)."""
        ...

    def barrier(self) -> None:
        """Waits until every rank arrives."""
        ...

    def collective_errors(self) -> contextlib.AbstractContextManager[None]:
        """Turns a failed collective inside the block into a `DistributedTrainingError`."""
        ...

    @property
    def input_context(self) -> InputContext:
        """What input_fn is told about the input pipelines."""
        ...


@dataclasses.dataclass(frozen=True)
class LocalReplica:
    """One process: no collectives; the chief unless TF_CONFIG says otherwise.

    >>> replica = LocalReplica()
    >>> replica.any(True), replica.chief_value("x"), replica.input_context.num_input_pipelines
    (True, 'x', 1)
    """

    is_chief: bool = True
    rank: int = 0
    world_size: int = 1

    def any(self, flag: bool) -> bool:
        """``flag`` itself."""
        return bool(flag)

    def any_with_chief_time(self, flag: bool) -> tuple[bool, float]:
        """``flag`` itself and this process's ``time.monotonic()``."""
        return bool(flag), time.monotonic()

    def chief_value(self, value: T) -> T:
        """``value`` itself."""
        return value

    def barrier(self) -> None:
        """Nothing to wait for."""

    def collective_errors(self) -> contextlib.AbstractContextManager[None]:
        """No collectives, nothing to translate."""
        return contextlib.nullcontext()

    @property
    def input_context(self) -> InputContext:
        """One pipeline."""
        return InputContext.for_rank(0, 1)


@dataclasses.dataclass(frozen=True)
class ProcessGroupReplicas:
    """The ranks of the default process group; rank 0 is the chief."""

    rank: int
    world_size: int
    timeout_secs: float | None = None
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_chief(self) -> bool:
        """Rank 0."""
        return self.rank == 0

    @property
    def input_context(self) -> InputContext:
        """One pipeline per rank."""
        return InputContext.for_rank(self.rank, self.world_size)

    def any(self, flag: bool) -> bool:
        """One small all-reduce (MAX) of the flag."""
        vote = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self.device)
        dist.all_reduce(vote, op=dist.ReduceOp.MAX)
        return bool(vote.item())

    def any_with_chief_time(self, flag: bool) -> tuple[bool, float]:
        """One small all-reduce (SUM) of ``[flag, rank 0's time or 0]``, read back in one copy."""
        now = time.monotonic() if self.rank == 0 else 0.0
        vote = torch.tensor([1.0 if flag else 0.0, now], dtype=torch.float64, device=self.device)
        dist.all_reduce(vote, op=dist.ReduceOp.SUM)
        votes, chief_time = vote.tolist()
        return votes > 0, chief_time

    def chief_value(self, value: T) -> T:
        """``broadcast_object_list`` from rank 0."""
        box = [value if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]  # type: ignore[return-value]

    def barrier(self) -> None:
        """``torch.distributed.barrier``."""
        dist.barrier()

    @contextlib.contextmanager
    def collective_errors(self) -> Iterator[None]:
        """Re-raises a failed collective as `DistributedTrainingError`, naming this rank and the timeout."""
        try:
            yield
        except DistributedTrainingError:
            raise
        except (RuntimeError, ConnectionError) as err:
            if not _is_collective_failure(err):
                raise
            raise DistributedTrainingError(
                f"Distributed training failed on rank {self.rank} of {self.world_size}: a collective "
                "operation with the other training processes failed, so another process died or stopped "
                f"responding (collective timeout: {self.timeout_secs} s). Check the logs of the other ranks "
                f"for the first error; restart the whole job to resume from the latest checkpoint. "
                f"Cause: {type(err).__name__}: {err}"
            ) from err


def _is_collective_failure(err: BaseException) -> bool:
    if isinstance(err, (dist.DistError, ConnectionError)):
        return True
    text = str(err).lower()
    return any(phrase in text for phrase in _COLLECTIVE_FAILURES)


_EXIT_BARRIER_SECS = 5.0


def _destroy_own_group() -> None:
    """Destroys the default process group this module initialised, if it is still up.

    With gloo, the ranks first meet at a barrier (given up after a few seconds when a peer is gone
    or busy): a rank that closes its connections while a peer still uses them can make the peer's
    gloo threads abort it.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "gloo":
        with contextlib.suppress(Exception):
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=_EXIT_BARRIER_SECS))
    dist.destroy_process_group()


def backend_for(device: torch.device) -> str:
    """``'nccl'`` for CUDA devices, ``'gloo'`` otherwise.

    >>> backend_for(torch.device("cpu"))
    'gloo'
    """
    return "nccl" if device.type == "cuda" else "gloo"


def join_training_group(
    cluster: ClusterInfo,
    env: Mapping[str, str],
    device: torch.device,
    timeout_secs: float | None,
) -> tuple[Replicas, torch.device]:
    """The training processes of this ``train`` call; initialises the default process group if needed.

    A group the user (or an earlier call) initialised is used as it is. Otherwise, when the launch
    (torchrun or TF_CONFIG, see `process_group_spec`) asks for several processes, the default group
    is initialised here (gloo on CPU, NCCL on CUDA) and stays for later calls; with one process no
    group is made.

    Returns:
        The replicas and this process's device: ``cuda:<local rank>`` when ``device`` is CUDA without
        an index and several processes train, else ``device``.

    Raises:
        ValueError: the launch is invalid (a ``ps`` job, ...) or contradicts an existing group.
        DistributedTrainingError: the other processes did not join within the timeout.
    """
    spec = process_group_spec(cluster, env)
    if device.type == "cuda" and spec.distributed:
        if device.index is None:
            device = torch.device("cuda", spec.local_rank)
        torch.cuda.set_device(device)  # NCCL uses the current device for its communicators.
    timeout = datetime.timedelta(seconds=timeout_secs) if timeout_secs else None
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        if spec.distributed and (spec.rank, spec.world_size) != (rank, world_size):
            raise ValueError(
                f"The initialised process group has rank {rank} of {world_size}, but the launch environment "
                f"says rank {spec.rank} of {spec.world_size}. Initialise the group with the launch's rank "
                "and world size, or leave it to the Estimator."
            )
    elif spec.distributed:
        logger.info(
            "Joining the process group as rank %d of %d (%s, %s).",
            spec.rank,
            spec.world_size,
            backend_for(device),
            spec.init_method,
        )
        options: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            dist.init_process_group(
                backend_for(device),
                init_method=spec.init_method,
                rank=spec.rank,
                world_size=spec.world_size,
                **options,
            )
        except (RuntimeError, ConnectionError) as err:
            raise DistributedTrainingError(
                f"Rank {spec.rank} of {spec.world_size} could not join the process group at "
                f"{spec.init_method} ({type(err).__name__}: {err}). Check that every process was started, "
                "that the chief's address and port are reachable, and that the port is free."
            ) from err
        # Torn down at exit, before the interpreter's own teardown: a gloo or NCCL group left for the
        # C++ destructors can abort the process ("terminate called") once its peers have gone.
        atexit.register(_destroy_own_group)
        rank, world_size = spec.rank, spec.world_size
    else:
        return LocalReplica(is_chief=cluster.is_chief), device
    if world_size == 1:
        return LocalReplica(is_chief=cluster.is_chief), device
    return ProcessGroupReplicas(rank, world_size, timeout_secs, device), device
