"""Which process group this process joins: a pure function of the cluster and the environment.

Two launchers are understood:

* ``torchrun`` (``python -m torch.distributed.run``) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR`` and ``MASTER_PORT``; its agent already hosts the rendezvous store, so the group is
  joined through ``env://``.
* ``TF_CONFIG`` (as for tf.estimator, parsed into a `ClusterInfo`): the ``chief`` is rank 0 and the
  workers are ranks 1..n in index order (a legacy ``master`` job plays the chief); the chief's
  ``host:port`` is where rank 0 opens the rendezvous store. The ``evaluator`` is not part of the
  group, and ``ps`` tasks are refused: PyTorch has no parameter servers.

Nothing here reads ``os.environ`` itself: callers pass the mapping, tests pass dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from torch_estimator.distribute.tf_config import ClusterInfo, TaskType

__all__ = ["ProcessGroupSpec", "process_group_spec"]

_TORCHRUN_KEYS = ("RANK", "WORLD_SIZE")


@dataclasses.dataclass(frozen=True)
class ProcessGroupSpec:
    """This process's place in the training process group.

    >>> spec = ProcessGroupSpec(rank=1, world_size=3, master_addr="host0", master_port=2222)
    >>> spec.distributed, spec.is_chief, spec.init_method
    (True, False, 'tcp://host0:2222')
    """

    rank: int = 0
    """This process's rank; 0 is the chief, which writes checkpoints and summaries."""
    world_size: int = 1
    """How many processes train together; 1 means no process group."""
    local_rank: int = 0
    """The rank among the processes of this machine (which GPU to use)."""
    master_addr: str | None = None
    """Host of rank 0's rendezvous store."""
    master_port: int | None = None
    """Port of rank 0's rendezvous store."""
    launcher: str = "local"
    """``'local'``, ``'torchrun'`` or ``'tf_config'``."""

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise ValueError(f"world_size must be >= 1. Received: {self.world_size}.")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"rank must be in [0, world_size). Received: rank={self.rank}, world_size={self.world_size}."
            )
        if self.local_rank < 0:
            raise ValueError(f"local_rank must be >= 0. Received: {self.local_rank}.")

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains (a process group is needed)."""
        return self.world_size > 1

    @property
    def is_chief(self) -> bool:
        """Rank 0: the process that writes checkpoints and summaries and runs chief-only hooks."""
        return self.rank == 0

    @property
    def init_method(self) -> str:
        """What ``torch.distributed.init_process_group`` is given: ``env://`` under torchrun (its agent
        hosts the store), else ``tcp://<master_addr>:<master_port>``."""
        if self.launcher == "torchrun":
            return "env://"
        return f"tcp://{self.master_addr}:{self.master_port}"


def process_group_spec(cluster: ClusterInfo, env: Mapping[str, str]) -> ProcessGroupSpec:
    """The process group of a training process, from its TF_CONFIG cluster and torchrun's variables.

    torchrun's ``RANK``/``WORLD_SIZE`` win when set; a TF_CONFIG cluster beside them must agree
    (same world size, chief = rank 0). Without either, the process trains alone.

    Args:
        cluster: the parsed TF_CONFIG (``RunConfig.cluster``).
        env: an environment mapping such as ``os.environ``; only torchrun's variables are read.

    Raises:
        ValueError: a ``ps`` job, an evaluator or another task type that does not train, torchrun
            variables that are not integers or contradict the cluster, or a chief address without a
            port.

    >>> from torch_estimator.distribute.tf_config import parse_tf_config
    >>> import json
    >>> tf_config = {"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]},
    ...              "task": {"type": "worker", "index": 1}}
    >>> cluster = parse_tf_config({"TF_CONFIG": json.dumps(tf_config)})
    >>> spec = process_group_spec(cluster, {})
    >>> spec.rank, spec.world_size, spec.init_method
    (2, 3, 'tcp://host0:2222')
    >>> process_group_spec(parse_tf_config({}), {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h",
    ...                                          "MASTER_PORT": "29500"}).init_method
    'env://'
    """
    _check_trains(cluster)
    from_cluster = _from_cluster(cluster)
    if not any(key in env for key in _TORCHRUN_KEYS):
        return from_cluster
    from_torchrun = _from_torchrun(env)
    if from_cluster.distributed and (
        from_cluster.world_size != from_torchrun.world_size or from_cluster.rank != from_torchrun.rank
    ):
        raise ValueError(
            "torchrun and TF_CONFIG describe different process groups: torchrun gives "
            f"rank={from_torchrun.rank}, world_size={from_torchrun.world_size}; TF_CONFIG gives "
            f"rank={from_cluster.rank} (task {cluster.task_type}:{cluster.task_id}), "
            f"world_size={from_cluster.world_size}. Launch with one of them: unset TF_CONFIG under torchrun."
        )
    return from_torchrun


def _check_trains(cluster: ClusterInfo) -> None:
    if TaskType.PS in cluster.cluster_spec:
        raise ValueError(
            "Parameter servers are not supported: torch-estimator trains with one process group of "
            f"data-parallel replicas (chief = rank 0, then the workers). Received a cluster with "
            f"{len(cluster.cluster_spec[TaskType.PS])} 'ps' task(s): {cluster.cluster_spec}. Remove the "
            "'ps' job from TF_CONFIG; every 'worker' trains a full replica."
        )
    if cluster.task_type == TaskType.EVALUATOR:
        raise ValueError(
            "The evaluator does not train: it is a separate process outside the training process group. "
            "Use te.train_and_evaluate, which runs the evaluator role for this task."
        )


def _from_cluster(cluster: ClusterInfo) -> ProcessGroupSpec:
    spec = cluster.cluster_spec
    chief_job = TaskType.MASTER if TaskType.MASTER in spec else TaskType.CHIEF
    if not spec:
        return ProcessGroupSpec()
    if cluster.task_type not in (chief_job, TaskType.WORKER):
        raise ValueError(
            f"Task type {cluster.task_type!r} cannot train: the training process group has the "
            f"{chief_job!r} (rank 0) and the 'worker' tasks (ranks 1..n). Received cluster jobs: "
            f"{sorted(spec)}. Rename the job to 'worker'."
        )
    rank = 0 if cluster.task_type == chief_job else 1 + cluster.task_id
    world_size = len(spec[chief_job]) + len(spec.get(TaskType.WORKER, []))
    if world_size == 1:
        return ProcessGroupSpec()
    host, port = _split_address(spec[chief_job][0], chief_job)
    return ProcessGroupSpec(
        rank=rank,
        world_size=world_size,
        local_rank=0,
        master_addr=host,
        master_port=port,
        launcher="tf_config",
    )


def _split_address(address: str, job: str) -> tuple[str, int]:
    host, separator, port = address.removeprefix("grpc://").rpartition(":")
    if not separator or not host or not port.isdigit():
        raise ValueError(
            f"The {job!r} address in TF_CONFIG must be 'host:port'. Received: {address!r}. Rank 0 opens "
            "the process group's rendezvous store on that port."
        )
    return host.strip("[]"), int(port)


def _from_torchrun(env: Mapping[str, str]) -> ProcessGroupSpec:
    values = {}
    for key, default in (("RANK", None), ("WORLD_SIZE", None), ("LOCAL_RANK", "0"), ("MASTER_PORT", "0")):
        text = env.get(key, default)
        try:
            values[key] = int(text)  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"torchrun's environment variable {key} must be an integer. Received: {key}={text!r}. "
                "Launch with `torchrun --nproc_per_node=N script.py`, which sets RANK and WORLD_SIZE "
                "together."
            ) from err
    if values["WORLD_SIZE"] > 1 and "MASTER_ADDR" not in env:
        raise ValueError(
            "torchrun's environment sets WORLD_SIZE > 1 but not MASTER_ADDR. Launch with torchrun, or set "
            "MASTER_ADDR and MASTER_PORT to rank 0's address."
        )
    return ProcessGroupSpec(
        rank=values["RANK"],
        world_size=values["WORLD_SIZE"],
        local_rank=values["LOCAL_RANK"],
        master_addr=env.get("MASTER_ADDR"),
        master_port=values["MASTER_PORT"] or None,
        launcher="torchrun",
    )
