"""TF_CONFIG: where this process sits in a tf.estimator cluster, parsed from an environment mapping.

``TF_CONFIG`` is a JSON object with ``cluster`` (job name -> list of ``host:port`` addresses),
``task`` (``{"type": ..., "index": ...}``) and the optional ``model_dir``, ``session_master``,
``eval_session_master``, ``service`` and ``environment``. The rules are tf.estimator 2.15's
(``RunConfig`` without a distribution strategy); reading the environment is this one pure function
of a mapping, so tests pass plain dicts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["TF_CONFIG_ENV", "ClusterInfo", "TaskType", "parse_tf_config"]

TF_CONFIG_ENV = "TF_CONFIG"
_LOCAL_MASTER = ""
_GRPC_SCHEME = "grpc://"
_FROM_ENV = "Note that these values may be coming from the TF_CONFIG environment variable."


class TaskType:
    """The task types tf.estimator knows, spelled as in TF_CONFIG.

    >>> TaskType.CHIEF, TaskType.WORKER, TaskType.PS, TaskType.EVALUATOR, TaskType.MASTER
    ('chief', 'worker', 'ps', 'evaluator', 'master')
    """

    MASTER = "master"
    PS = "ps"
    WORKER = "worker"
    CHIEF = "chief"
    EVALUATOR = "evaluator"


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """This process's place in the cluster, as ``RunConfig`` exposes it.

    >>> info = parse_tf_config({})
    >>> info.task_type, info.task_id, info.is_chief, info.num_worker_replicas, info.global_id_in_cluster
    ('worker', 0, True, 1, 0)
    """

    cluster_spec: dict[str, list[str]] = dataclasses.field(default_factory=dict, hash=False)
    """Job name -> addresses of its tasks. Empty when local, and for the evaluator (not part of the
    training cluster)."""
    task_type: str | None = TaskType.WORKER
    """This task's job: one of `TaskType` or any job name of the cluster."""
    task_id: int = 0
    """This task's index within its job."""
    master: str | None = _LOCAL_MASTER
    """TF's session target: TF_CONFIG ``session_master``, else ``''`` locally, for a one-node cluster
    and for the evaluator, else ``'grpc://<this task's address>'``."""
    evaluation_master: str | None = _LOCAL_MASTER
    """TF_CONFIG ``eval_session_master`` for the evaluator (and locally), else ``''``."""
    is_chief: bool = True
    """True for the task that writes checkpoints and summaries: the ``chief`` (or legacy ``master``),
    or the only process when local."""
    num_ps_replicas: int = 0
    """Number of ``ps`` tasks; 0 locally and for the evaluator."""
    num_worker_replicas: int = 1
    """Workers plus the chief (or master); 1 locally, 0 for the evaluator."""
    global_id_in_cluster: int | None = 0
    """Unique id over the training cluster: chief 0, then the other jobs in alphabetical order with
    ``ps`` last, by index within a job. None for the evaluator."""
    service: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    """TF_CONFIG ``service`` (a platform-defined dict), or None."""
    model_dir: str | None = None
    """TF_CONFIG ``model_dir``, or None."""

    @property
    def device_filters(self) -> list[str] | None:
        """The device filters TF put in the default distributed ``session_config``; informational only.

        None when local and for the evaluator or any other task type.

        >>> info = parse_tf_config({"TF_CONFIG": '{"cluster": {"chief": ["a:1"], "worker": ["b:1"]},'
        ...                                       ' "task": {"type": "worker", "index": 0}}'})
        >>> info.device_filters
        ['/job:ps', '/job:worker/task:0']
        """
        if not self.cluster_spec:
            return None
        if self.task_type == TaskType.MASTER:
            return ["/job:ps", "/job:master"]
        if self.task_type == TaskType.CHIEF:
            return ["/job:ps", "/job:chief"]
        if self.task_type == TaskType.WORKER:
            return ["/job:ps", f"/job:worker/task:{self.task_id}"]
        if self.task_type == TaskType.PS:
            return ["/job:ps", "/job:worker", "/job:chief", "/job:master"]
        return None


def parse_tf_config(env: Mapping[str, str]) -> ClusterInfo:
    """Parses ``env["TF_CONFIG"]`` into a `ClusterInfo`; absent or empty means local (one worker).

    Args:
        env: an environment mapping, such as ``os.environ``. Only its ``TF_CONFIG`` key is read.

    Returns:
        The task's type, index, cluster, master addresses, replica counts and global id.

    Raises:
        ValueError: TF_CONFIG is not a JSON object, or breaks one of tf.estimator's cluster rules
            (a ``cluster`` needs exactly one ``chief`` node, a ``task`` type and index inside it, ...).
        TypeError: ``service`` is not a dict, or ``cluster``/``task`` have the wrong shape.

    >>> tf_config = {
    ...     "cluster": {"chief": ["host0:2222"], "ps": ["host1:2222"], "worker": ["host2:2222", "host3:2"]},
    ...     "task": {"type": "worker", "index": 1},
    ... }
    >>> info = parse_tf_config({"TF_CONFIG": json.dumps(tf_config)})
    >>> info.master, info.num_ps_replicas, info.num_worker_replicas, info.global_id_in_cluster, info.is_chief
    ('grpc://host3:2', 1, 3, 2, False)
    """
    tf_config = _load(env.get(TF_CONFIG_ENV))
    model_dir = _model_dir(tf_config)
    service = tf_config.get("service")
    if service is not None and not isinstance(service, dict):
        raise TypeError(
            f'If "service" is set in TF_CONFIG, it must be a dict. Given {type(service)}: {service!r}. '
            'Write it as a JSON object, e.g. "service": {"name": "..."}.'
        )
    cluster_spec = _cluster_spec(tf_config.get("cluster", {}))
    task_env = tf_config.get("task", {})
    if not isinstance(task_env, dict):
        raise TypeError(
            '"task" in TF_CONFIG must be a dict like {"type": "worker", "index": 0}. '
            f"Received: {task_env!r}."
        )
    common = {"service": service, "model_dir": model_dir}
    if cluster_spec and TaskType.MASTER in cluster_spec:
        return _legacy_master_cluster(cluster_spec, task_env, tf_config, common)
    if cluster_spec:
        return _chief_cluster(cluster_spec, task_env, tf_config, common)
    return _local(task_env, tf_config, common)


def _load(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({err}). Received: {text!r}. Set it to a JSON object such as "
            '{"cluster": {...}, "task": {"type": "worker", "index": 0}}, or unset it to train locally.'
        ) from err
    if not isinstance(tf_config, dict):
        raise ValueError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task' keys. Received: {text!r}. "
            "Unset it to train locally."
        )
    return tf_config


def _model_dir(tf_config: Mapping[str, Any]) -> str | None:
    model_dir = tf_config.get("model_dir")
    if model_dir == "":
        raise ValueError(
            "model_dir in TF_CONFIG should be non-empty. Received: ''. Remove the key or give a directory."
        )
    if model_dir is not None and not isinstance(model_dir, str):
        raise TypeError(f"model_dir in TF_CONFIG must be a string. Received: {model_dir!r}.")
    return model_dir


def _cluster_spec(cluster: Any) -> dict[str, list[str]]:
    if not isinstance(cluster, dict):
        raise TypeError(
            '"cluster" in TF_CONFIG must be a dict mapping job names to lists of network addresses. '
            f"Received: {cluster!r}."
        )
    spec: dict[str, list[str]] = {}
    for job, tasks in cluster.items():
        if not isinstance(tasks, (list, tuple)) or not all(isinstance(address, str) for address in tasks):
            raise TypeError(
                f"The tasks for job {job!r} must be a list of address strings like ['host:2222']. "
                f"Received: {tasks!r}."
            )
        spec[str(job)] = list(tasks)
    return spec


def _task_index(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Task index in TF_CONFIG must be an integer. Received: {value!r}.") from err


def _validate_task(
    cluster_spec: Mapping[str, list[str]], task_env: Mapping[str, Any], chief_task_type: str
) -> tuple[str, int]:
    """tf.estimator's ``_validate_task_type_and_task_id``, message phrases included."""
    # A job with an empty address list counts as missing.
    if not cluster_spec.get(chief_task_type):
        raise ValueError(
            f'If "cluster" is set in TF_CONFIG, it must have one "{chief_task_type}" node. '
            f"Received jobs: {sorted(cluster_spec)}. Add a {chief_task_type!r} job with one address."
        )
    if len(cluster_spec[chief_task_type]) > 1:
        raise ValueError(
            f'The "cluster" in TF_CONFIG must have only one "{chief_task_type}" node. '
            f"Received: {cluster_spec[chief_task_type]}. Move the others to 'worker'."
        )
    task_type = task_env.get("type")
    task_id = task_env.get("index")
    if not task_type:
        raise ValueError(
            'If "cluster" is set in TF_CONFIG, task type must be set. '
            f'Received task: {dict(task_env)!r}. Add "task": {{"type": ..., "index": ...}}.'
        )
    if task_id is None:
        raise ValueError(
            'If "cluster" is set in TF_CONFIG, task index must be set. '
            f'Received task: {dict(task_env)!r}. Add "index" to "task".'
        )
    task_id = _task_index(task_id)
    if task_id < 0:
        raise ValueError(f"Task index must be non-negative number. Received: {task_id}.")
    # The evaluator is not part of the training cluster, so its index has no upper bound.
    if task_type == TaskType.EVALUATOR:
        return task_type, task_id
    if task_type not in cluster_spec:
        raise ValueError(
            f"{task_type} is not a valid task_type in the cluster_spec:\n{cluster_spec}\n\n{_FROM_ENV}"
        )
    if not 0 <= task_id < len(cluster_spec[task_type]):
        raise ValueError(
            f"{task_id} is not a valid task_id for task_type {task_type} in the cluster_spec:\n"
            f"{cluster_spec}\n\n{_FROM_ENV}"
        )
    return task_type, task_id


def _session_master(
    cluster_spec: Mapping[str, list[str]], task_type: str, task_id: int, tf_config: Mapping[str, Any]
) -> str:
    if "session_master" in tf_config:
        return tf_config["session_master"]
    # A one-node cluster runs locally: a direct master is faster than going through RPC.
    jobs = list(cluster_spec)
    if len(jobs) == 1 and len(cluster_spec[jobs[0]]) == 1:
        return _LOCAL_MASTER
    return _GRPC_SCHEME + cluster_spec[task_type][task_id]


def _global_id(
    cluster_spec: Mapping[str, list[str]], task_type: str, task_id: int, chief_task_type: str
) -> int:
    """Chief first, then the other jobs alphabetically with ``ps`` last; index order within a job."""
    ordered = [chief_task_type]
    ordered += [job for job in sorted(cluster_spec) if job not in (chief_task_type, TaskType.PS)]
    if TaskType.PS in cluster_spec:
        ordered.append(TaskType.PS)
    next_id = 0
    for job in ordered:
        if job == task_type:
            return next_id + task_id
        next_id += len(cluster_spec[job])
    raise RuntimeError(f"Internal error: task_type {task_type!r} is not in the cluster_spec {cluster_spec}.")


def _chief_cluster(
    cluster_spec: dict[str, list[str]],
    task_env: Mapping[str, Any],
    tf_config: Mapping[str, Any],
    common: dict[str, Any],
) -> ClusterInfo:
    task_type, task_id = _validate_task(cluster_spec, task_env, TaskType.CHIEF)
    if task_type == TaskType.EVALUATOR:
        return ClusterInfo(
            cluster_spec={},
            task_type=task_type,
            task_id=task_id,
            master=_LOCAL_MASTER,
            evaluation_master=tf_config.get("eval_session_master", _LOCAL_MASTER),
            is_chief=False,
            num_ps_replicas=0,
            num_worker_replicas=0,
            global_id_in_cluster=None,
            **common,
        )
    return ClusterInfo(
        cluster_spec=cluster_spec,
        task_type=task_type,
        task_id=task_id,
        master=_session_master(cluster_spec, task_type, task_id, tf_config),
        evaluation_master=_LOCAL_MASTER,
        is_chief=task_type == TaskType.CHIEF,
        num_ps_replicas=len(cluster_spec.get(TaskType.PS, [])),
        num_worker_replicas=len(cluster_spec.get(TaskType.WORKER, [])) + len(cluster_spec[TaskType.CHIEF]),
        global_id_in_cluster=_global_id(cluster_spec, task_type, task_id, TaskType.CHIEF),
        **common,
    )


def _legacy_master_cluster(
    cluster_spec: dict[str, list[str]],
    task_env: Mapping[str, Any],
    tf_config: Mapping[str, Any],
    common: dict[str, Any],
) -> ClusterInfo:
    # Both a chief and a master would make "which one is the chief?" ambiguous; TF refuses it.
    if TaskType.CHIEF in cluster_spec:
        raise ValueError(
            "If `master` node exists in `cluster`, job `chief` is not supported. "
            f"Received jobs: {sorted(cluster_spec)}. Rename 'master' to 'chief'."
        )
    task_type, task_id = _validate_task(cluster_spec, task_env, TaskType.MASTER)
    if task_type == TaskType.EVALUATOR:
        raise ValueError(
            "If `master` node exists in `cluster`, task_type `evaluator` is not supported. "
            "Rename the 'master' job to 'chief' to run an evaluator."
        )
    return ClusterInfo(
        cluster_spec=cluster_spec,
        task_type=task_type,
        task_id=task_id,
        master=_session_master(cluster_spec, task_type, task_id, tf_config),
        evaluation_master=_LOCAL_MASTER,
        is_chief=task_type == TaskType.MASTER,
        num_ps_replicas=len(cluster_spec.get(TaskType.PS, [])),
        num_worker_replicas=len(cluster_spec.get(TaskType.WORKER, [])) + len(cluster_spec[TaskType.MASTER]),
        global_id_in_cluster=_global_id(cluster_spec, task_type, task_id, TaskType.MASTER),
        **common,
    )


def _local(task_env: Mapping[str, Any], tf_config: Mapping[str, Any], common: dict[str, Any]) -> ClusterInfo:
    task_type = task_env.get("type", TaskType.WORKER)
    task_id = _task_index(task_env.get("index", 0))
    if task_type != TaskType.WORKER:
        raise ValueError(
            f'If "cluster" is not set in TF_CONFIG, task type must be WORKER. Received: {task_type!r}. '
            'Add a "cluster" or drop "task".'
        )
    if task_id != 0:
        raise ValueError(
            f'If "cluster" is not set in TF_CONFIG, task index must be 0. Received: {task_id}. '
            'Add a "cluster" or drop "task".'
        )
    return ClusterInfo(
        cluster_spec={},
        task_type=task_type,
        task_id=task_id,
        master=tf_config.get("session_master", _LOCAL_MASTER),
        evaluation_master=tf_config.get("eval_session_master", _LOCAL_MASTER),
        is_chief=True,
        num_ps_replicas=0,
        num_worker_replicas=1,
        global_id_in_cluster=0,
        **common,
    )
