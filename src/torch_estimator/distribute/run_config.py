"""RunConfig: how an Estimator runs (checkpoint and summary cadence, seed, device, precision, cluster).

tf.estimator 2.15's ``RunConfig`` as a frozen dataclass: the same constructor, defaults, validation
messages and ``replace`` rules, plus the PyTorch fields ``device``, ``precision``, ``compile`` and the
``random_seed`` alias. The cluster comes from ``TF_CONFIG`` (see `parse_tf_config`), read once at
construction.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import numbers
import os
from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.contract.fn_args import fn_args
from torch_estimator.distribute.strategy import check_train_distribute
from torch_estimator.distribute.tf_config import ClusterInfo, parse_tf_config

__all__ = ["RunConfig"]

logger = logging.getLogger("torch_estimator")


class _Unset:
    """Default of save_checkpoints_steps/secs: "not given", which TF tells apart from an explicit None."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()

_SAVE_CKPT_ERR = "`save_checkpoints_steps` and `save_checkpoints_secs` cannot be both set."
_DEFAULT_SAVE_CHECKPOINTS_SECS = 600

# tf.estimator's replaceable properties, then ours.
_REPLACEABLE = (
    "model_dir",
    "tf_random_seed",
    "save_summary_steps",
    "save_checkpoints_steps",
    "save_checkpoints_secs",
    "session_config",
    "keep_checkpoint_max",
    "keep_checkpoint_every_n_hours",
    "log_step_count_steps",
    "train_distribute",
    "device_fn",
    "protocol",
    "eval_distribute",
    "experimental_distribute",
    "experimental_max_worker_delay_secs",
    "session_creation_timeout_secs",
    "checkpoint_save_graph_def",
    "random_seed",
    "device",
    "precision",
    "compile",
    "collective_timeout_secs",
)
_PRECISIONS = ("32", "bf16-mixed", "16-mixed")
_PROTOCOLS = (None, "grpc", "grpc+verbs")
_DEVICE_TYPES = ("cpu", "cuda")


@dataclasses.dataclass(frozen=True, repr=False)
class RunConfig:
    """How an Estimator runs: tf.estimator's RunConfig, plus ``device``, ``precision`` and ``compile``.

    Checkpoint frequency: with neither ``save_checkpoints_steps`` nor ``save_checkpoints_secs`` given,
    checkpoints are saved every 600 seconds; giving one sets the other to None (so
    ``save_checkpoints_steps=None`` alone disables checkpointing); giving both non-None is an error,
    both None disables checkpointing.

    The cluster properties (``task_type``, ``is_chief``, ``cluster_spec``, ...) come from the
    ``TF_CONFIG`` environment variable, read once here; pass ``cluster=`` to give them directly.

    ``session_config``, ``device_fn``, ``protocol`` and ``checkpoint_save_graph_def`` have no PyTorch
    meaning: they are kept, validated as TF did, and otherwise ignored.

    >>> config = RunConfig(model_dir="/tmp/model", save_checkpoints_steps=100, random_seed=7)
    >>> config.save_checkpoints_steps, config.save_checkpoints_secs, config.tf_random_seed
    (100, None, 7)
    >>> config.replace(save_checkpoints_secs=60)
    RunConfig(model_dir='/tmp/model', tf_random_seed=7, save_checkpoints_secs=60)
    """

    model_dir: str | None = None
    """Where checkpoints, summaries and exports go. None lets the Estimator choose (a temporary
    directory). ``PathLike`` values are stored as strings."""
    tf_random_seed: int | None = None
    """Seeds torch, numpy and Python's ``random`` for each Estimator call, so initialisation and
    dropout are reproducible. None: not seeded."""
    save_summary_steps: int | None = 100
    """Write summaries every this many steps; 0 or None disables them."""
    save_checkpoints_steps: int | None = _UNSET
    """Save a checkpoint every this many steps, or None. Not together with ``save_checkpoints_secs``."""
    save_checkpoints_secs: float | None = _UNSET
    """Save a checkpoint every this many seconds, or None (600 when neither frequency is given)."""
    session_config: Any = None
    """TF's ``ConfigProto``; there is none in PyTorch, so any object is accepted and ignored."""
    keep_checkpoint_max: int | None = 5
    """How many recent checkpoints to keep; 0 or None keeps all."""
    keep_checkpoint_every_n_hours: float | None = 10000
    """Also keep one checkpoint per this many hours (10000 effectively disables it)."""
    log_step_count_steps: int | None = 100
    """Log the loss and global_step/sec (and write the latter as a summary) every this many steps."""
    train_distribute: Any = None
    """How several training processes share the work: None (DDP when the world size is > 1), ``'ddp'``,
    or a strategy object such as ``te.distribute.DDPStrategy(find_unused_parameters=True)``. Names are
    stored as strategy objects. One process trains without a wrapper whatever this says."""
    device_fn: Callable[[Any], Any] | None = None
    """TF's per-op device function: a callable of exactly one parameter ``op``. Ignored in PyTorch
    (use ``device``)."""
    protocol: str | None = None
    """TF's server protocol: None, ``'grpc'`` or ``'grpc+verbs'``. Ignored in PyTorch."""
    eval_distribute: Any = None
    """The distribution strategy used for evaluation, or None."""
    experimental_distribute: Any = None
    """TF's ``DistributeConfig``; kept as given."""
    experimental_max_worker_delay_secs: int | None = None
    """Upper bound on a non-chief worker's start delay (TF's default staggering is up to 60 s)."""
    session_creation_timeout_secs: float | None = 7200
    """How long a worker waits for the chief to make the session (checkpoint) ready."""
    checkpoint_save_graph_def: bool = True
    """TF wrote ``graph.pbtxt`` and ``.meta`` files; there is no graph to write in PyTorch. Kept as given."""
    _: dataclasses.KW_ONLY
    random_seed: int | None = None
    """Alias of ``tf_random_seed``; both always hold the same value."""
    device: str = "auto"
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
    ``torch.device``; stored as a string. See `resolved_device`."""
    precision: str = "32"
    """``"32"`` (float32), ``"bf16-mixed"`` (bfloat16 autocast) or ``"16-mixed"`` (float16 autocast
    with gradient scaling)."""
    compile: bool = False
    """Whether to ``torch.compile`` the Graph."""
    collective_timeout_secs: float = 1800.0
    """How long a training process waits on the others (joining the process group, a gradient
    all-reduce, the stop vote) before failing with ``te.distribute.DistributedTrainingError``."""
    cluster: ClusterInfo = None  # type: ignore[assignment]
    """This process's place in the cluster. None (the default) parses ``os.environ["TF_CONFIG"]``."""

    def __post_init__(self) -> None:
        steps, secs = _resolve_checkpoint_frequency(self.save_checkpoints_steps, self.save_checkpoints_secs)
        seed = _resolve_seed(self.tf_random_seed, self.random_seed)
        self._set(
            save_checkpoints_steps=steps, save_checkpoints_secs=secs, tf_random_seed=seed, random_seed=seed
        )
        self._set(model_dir=_model_dir_to_str(self.model_dir))
        cluster = self.cluster
        if cluster is None:
            # The only environment read in RunConfig.
            cluster = parse_tf_config(os.environ)
        elif not isinstance(cluster, ClusterInfo):
            raise TypeError(
                f"cluster must be a ClusterInfo or None. Received: {cluster!r}. "
                "Build one with te.distribute.parse_tf_config({'TF_CONFIG': ...})."
            )
        self._set(cluster=cluster, model_dir=_merge_model_dir(self.model_dir, cluster.model_dir))
        self._check_fields()

    def replace(self, **kwargs: Any) -> RunConfig:
        """A new RunConfig with the given fields changed; all checks run again and ``self`` is unchanged.

        Only TF's replaceable fields (``model_dir``, ``tf_random_seed``, the save/keep/log settings,
        the distribution settings, ``device_fn``, ``protocol``, ...) and ``random_seed``, ``device``,
        ``precision``, ``compile`` may change; the cluster may not. Passing one checkpoint frequency
        non-None sets the other to None; passing one as None leaves the other as it was. Values are
        shared with ``self``, not deep-copied (a strategy may hold process groups).

        Raises:
            ValueError: a field that cannot be replaced ("Replacing master is not supported"), both
                checkpoint frequencies non-None, or any constructor check.

        >>> config = RunConfig(save_checkpoints_steps=10)
        >>> new = config.replace(save_checkpoints_secs=30)
        >>> (new.save_checkpoints_steps, new.save_checkpoints_secs), config.save_checkpoints_steps
        ((None, 30), 10)
        """
        for key in kwargs:
            if key not in _REPLACEABLE:
                raise ValueError(
                    f"Replacing {key} is not supported. Allowed properties are {list(_REPLACEABLE)}."
                )
        changes = dict(kwargs)
        if "save_checkpoints_steps" in changes and "save_checkpoints_secs" in changes:
            if changes["save_checkpoints_steps"] is not None and changes["save_checkpoints_secs"] is not None:
                raise ValueError(_both_frequencies_message(changes))
        elif changes.get("save_checkpoints_steps") is not None:
            changes["save_checkpoints_secs"] = None
        elif changes.get("save_checkpoints_secs") is not None:
            changes["save_checkpoints_steps"] = None
        if "tf_random_seed" in changes or "random_seed" in changes:
            seed = _resolve_seed(changes.get("tf_random_seed"), changes.get("random_seed"))
            changes.update(tf_random_seed=seed, random_seed=seed)
        new = copy.copy(self)
        new._set(**changes)
        new._check_fields()
        return new

    # -- cluster properties (from TF_CONFIG) ----------------------------------------------------------

    @property
    def cluster_spec(self) -> dict[str, list[str]]:
        """Job name -> task addresses; empty when local and for the evaluator."""
        return {job: list(addresses) for job, addresses in self.cluster.cluster_spec.items()}

    @property
    def task_type(self) -> str | None:
        """This task's job (``'worker'`` when local)."""
        return self.cluster.task_type

    @property
    def task_id(self) -> int:
        """This task's index within its job."""
        return self.cluster.task_id

    @property
    def master(self) -> str | None:
        """TF's session target (``''`` when local); kept for compatibility."""
        return self.cluster.master

    @property
    def evaluation_master(self) -> str | None:
        """TF's evaluation session target (``''`` unless TF_CONFIG sets ``eval_session_master``)."""
        return self.cluster.evaluation_master

    @property
    def is_chief(self) -> bool:
        """True for the task that writes checkpoints and summaries."""
        return self.cluster.is_chief

    @property
    def num_ps_replicas(self) -> int:
        """Number of ``ps`` tasks."""
        return self.cluster.num_ps_replicas

    @property
    def num_worker_replicas(self) -> int:
        """Workers plus the chief; 1 when local, 0 for the evaluator."""
        return self.cluster.num_worker_replicas

    @property
    def global_id_in_cluster(self) -> int | None:
        """Unique id over the training cluster (chief 0); None for the evaluator."""
        return self.cluster.global_id_in_cluster

    @property
    def service(self) -> dict[str, Any] | None:
        """TF_CONFIG's platform-defined ``service`` dict, or None."""
        return self.cluster.service

    @property
    def resolved_device(self) -> torch.device:
        """The device to run on: ``device`` with ``"auto"`` resolved now (CUDA when available, else CPU).

        >>> RunConfig(device="cpu").resolved_device
        device(type='cpu')
        """
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def __repr__(self) -> str:
        """Only the fields that differ from the defaults, so a config reads as it was written."""
        parts = []
        for field in dataclasses.fields(self):
            if field.name in ("_", "random_seed"):  # random_seed mirrors tf_random_seed
                continue
            value = getattr(self, field.name)
            default = _REPR_DEFAULTS.get(field.name, field.default)
            if value is not default and value != default:
                parts.append(f"{field.name}={value!r}")
        return f"RunConfig({', '.join(parts)})"

    # -- internals ----------------------------------------------------------------------------------

    def _set(self, **values: Any) -> None:
        # The dataclass is frozen for users; construction and replace() fill in resolved values.
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _check_fields(self) -> None:
        """tf.estimator's property checks in its order, then ours; normalises model_dir and device."""
        self._set(model_dir=_model_dir_to_str(self.model_dir))
        _check_number("save_summary_steps", self.save_summary_steps, "Pass 0 or None to disable summaries.")
        _check_number("save_checkpoints_steps", self.save_checkpoints_steps, "Pass None to disable it.")
        _check_number("save_checkpoints_secs", self.save_checkpoints_secs, "Pass None to disable it.")
        # session_config: TF required a ConfigProto; PyTorch has none, so anything is accepted.
        _check_number("keep_checkpoint_max", self.keep_checkpoint_max, "Pass 0 or None to keep all.")
        _check_number(
            "keep_checkpoint_every_n_hours",
            self.keep_checkpoint_every_n_hours,
            "Pass a positive number of hours (10000 disables the feature).",
            positive=True,
        )
        _check_number(
            "log_step_count_steps", self.log_step_count_steps, "Pass None to disable it.", positive=True
        )
        if self.tf_random_seed is not None and not isinstance(self.tf_random_seed, int):
            raise ValueError(
                f"tf_random_seed must be integer. Received: {self.tf_random_seed!r} "
                f"({type(self.tf_random_seed).__name__}). Pass an int such as 42, or None."
            )
        delay = self.experimental_max_worker_delay_secs
        if delay is not None and not isinstance(delay, int):
            raise ValueError(
                f"experimental_max_worker_delay_secs must be an integer if set. Received: {delay!r}."
            )
        _check_number(
            "session_creation_timeout_secs",
            self.session_creation_timeout_secs,
            "Pass a positive number of seconds.",
            positive=True,
        )
        _check_device_fn(self.device_fn)
        if self.protocol not in _PROTOCOLS:
            raise ValueError(
                f"protocol should be grpc or grpc+verbs. Received: {self.protocol!r}. "
                "It has no effect in PyTorch; leave it None."
            )
        self._set(device=_normalize_device(self.device))
        if self.precision not in _PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(repr(p) for p in _PRECISIONS)}. "
                f"Received: {self.precision!r}."
            )
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be True or False. Received: {self.compile!r}.")
        self._set(train_distribute=check_train_distribute(self.train_distribute))
        _check_number(
            "collective_timeout_secs",
            self.collective_timeout_secs,
            "Pass a positive number of seconds.",
            positive=True,
        )
        if self.collective_timeout_secs is None:
            raise ValueError("collective_timeout_secs must be a number of seconds > 0. Received: None.")


_REPR_DEFAULTS: dict[str, Any] = {
    "save_checkpoints_steps": None,
    "save_checkpoints_secs": _DEFAULT_SAVE_CHECKPOINTS_SECS,
    "cluster": ClusterInfo(),
}


def _resolve_checkpoint_frequency(steps: Any, secs: Any) -> tuple[Any, Any]:
    """tf.estimator's resolution: unset means "not given", which differs from an explicit None."""
    if steps is _UNSET and secs is _UNSET:
        return None, _DEFAULT_SAVE_CHECKPOINTS_SECS
    if secs is _UNSET:
        return steps, None
    if steps is _UNSET:
        return None, secs
    if steps is not None and secs is not None:
        raise ValueError(
            _both_frequencies_message({"save_checkpoints_steps": steps, "save_checkpoints_secs": secs})
        )
    return steps, secs


def _both_frequencies_message(values: dict[str, Any]) -> str:
    return (
        f"{_SAVE_CKPT_ERR} Received: save_checkpoints_steps={values['save_checkpoints_steps']!r}, "
        f"save_checkpoints_secs={values['save_checkpoints_secs']!r}. Set one of them (or both to None "
        "to disable checkpointing)."
    )


def _resolve_seed(tf_random_seed: Any, random_seed: Any) -> Any:
    if tf_random_seed is not None and random_seed is not None and tf_random_seed != random_seed:
        raise ValueError(
            "random_seed is an alias of tf_random_seed and they differ. Received: "
            f"tf_random_seed={tf_random_seed!r}, random_seed={random_seed!r}. Pass only one of them."
        )
    return tf_random_seed if tf_random_seed is not None else random_seed


def _model_dir_to_str(model_dir: Any) -> str | None:
    if model_dir is None:
        return None
    if not isinstance(model_dir, (str, bytes, os.PathLike)):
        raise TypeError(f"model_dir must be a path (str or os.PathLike) or None. Received: {model_dir!r}.")
    model_dir = os.fsdecode(os.fspath(model_dir))
    if not model_dir:
        raise ValueError(
            "model_dir should be non-empty. Received: ''. Pass a directory, or None to let the Estimator "
            "choose a temporary one."
        )
    return model_dir


def _merge_model_dir(model_dir: str | None, model_dir_in_tf_config: str | None) -> str | None:
    if model_dir_in_tf_config:
        if model_dir and model_dir != model_dir_in_tf_config:
            raise ValueError(
                "`model_dir` provided in RunConfig construct, if set, must have the same value as the "
                f'model_dir in TF_CONFIG. model_dir: {model_dir}\nTF_CONFIG["model_dir"]: '
                f"{model_dir_in_tf_config}.\nSet it in one place."
            )
        logger.info("Using model_dir in TF_CONFIG: %s", model_dir_in_tf_config)
    return model_dir or model_dir_in_tf_config


def _check_number(name: str, value: Any, fix: str, *, positive: bool = False) -> None:
    """None passes; otherwise ``value >= 0`` (``> 0`` when ``positive``), TF's phrase in the message."""
    if value is None:
        return
    phrase = f"{name} should be {'> 0' if positive else '>= 0'}"
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{phrase}. Received: {value!r} ({type(value).__name__}). {fix}")
    if not (value > 0 if positive else value >= 0):
        raise ValueError(f"{phrase}. Received: {value!r}. {fix}")


def _check_device_fn(device_fn: Any) -> None:
    if device_fn is None:
        return
    message = 'device_fn must be callable with exactly one argument "op".'
    if not callable(device_fn):
        raise ValueError(f"{message} Received: {device_fn!r}. It has no effect in PyTorch; leave it None.")
    try:
        names = fn_args(device_fn)
    except TypeError as err:
        raise ValueError(f"{message} Received: {device_fn!r}, whose signature cannot be read.") from err
    if set(names) != {"op"}:
        raise ValueError(
            f"{message} Received: {device_fn!r} with arguments {names}. It has no effect in PyTorch; "
            "leave it None."
        )


def _normalize_device(device: Any) -> str:
    hint = "Use 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device."
    if isinstance(device, str) and device == "auto":
        return device
    if isinstance(device, str):
        try:
            parsed = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not a device torch knows. {hint}") from err
    elif isinstance(device, torch.device):
        parsed = device
    else:
        raise TypeError(f"device must be a string or a torch.device. Received: {device!r}. {hint}")
    if parsed.type not in _DEVICE_TYPES:
        raise ValueError(f"device must be a CPU or CUDA device. Received: {device!r}. {hint}")
    return str(parsed)
