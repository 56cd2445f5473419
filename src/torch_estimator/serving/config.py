"""What the server serves: models, their version policies and labels, batching parameters.

Read from TF Serving's flags or its text-proto files (``--model_config_file``,
``--batching_parameters_file``), with TF Serving's defaults.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from torch_estimator.serving.protos import parse_text_proto

__all__ = [
    "BatchingOptions",
    "ModelConfig",
    "VersionPolicy",
    "read_batching_parameters_file",
    "read_model_config_file",
]

_POLICY_KINDS = ("latest", "specific", "all")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which numeric version directories under a model's base path are served (TF Serving's
    ``ServableVersionPolicy``); the default serves the newest one.

    >>> VersionPolicy().select([1, 3, 2])
    [3]
    >>> VersionPolicy("specific", versions=(1, 2)).select([2, 3])
    [2]
    """

    kind: str = "latest"
    """``"latest"`` (the ``num_versions`` newest), ``"specific"`` (exactly ``versions``) or ``"all"``."""
    num_versions: int = 1
    """For ``latest``: how many of the newest versions to serve (0 means 1, as in TF Serving)."""
    versions: tuple[int, ...] = ()
    """For ``specific``: the version numbers to serve."""

    def __post_init__(self) -> None:
        if self.kind not in _POLICY_KINDS:
            raise ValueError(f"Unknown version policy {self.kind!r}. Expected one of {_POLICY_KINDS}.")
        if self.num_versions < 0:
            raise ValueError(f"latest.num_versions must be >= 0. Received: {self.num_versions}.")
        object.__setattr__(self, "versions", tuple(int(v) for v in self.versions))

    def select(self, on_disk: Sequence[int]) -> list[int]:
        """The versions to serve out of those found on disk, newest first."""
        found = sorted(set(on_disk), reverse=True)
        if self.kind == "latest":
            return found[: max(1, self.num_versions)]
        if self.kind == "specific":
            return [version for version in found if version in self.versions]
        return found


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: its name in URLs, the directory of its numeric versions, policy and labels.

    >>> ModelConfig("mnist", "/models/mnist", version_labels={"stable": 1}).version_labels["stable"]
    1
    """

    name: str
    """The model name used in ``/v1/models/<name>``."""
    base_path: str
    """Directory holding one export per numeric version subdirectory (``<base_path>/1``, ``/2``, ...)."""
    version_policy: VersionPolicy = VersionPolicy()
    """Which versions to serve."""
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Label -> version, addressable as ``/v1/models/<name>/labels/<label>``."""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"A model name must be non-empty without '/' or ':'. Received: {self.name!r}.")
        if not self.base_path:
            raise ValueError(f"Model {self.name!r} needs a base_path. Received: {self.base_path!r}.")
        labels = {str(label): int(version) for label, version in dict(self.version_labels).items()}
        object.__setattr__(self, "version_labels", MappingProxyType(labels))


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Server-side batching (TF Serving's ``BatchingParameters``): concurrent requests to one signature
    are merged into one call of at most ``max_batch_size`` rows, waiting at most
    ``batch_timeout_micros`` for a batch to fill.

    >>> BatchingOptions(max_batch_size=8).batch_timeout_micros
    1000
    """

    max_batch_size: int = 32
    """Most rows in one merged call; a single request with more rows is rejected (as in TF Serving)."""
    batch_timeout_micros: int = 1000
    """Longest time the oldest waiting request waits for the batch to fill."""
    num_batch_threads: int = 1
    """Batches run concurrently per signature."""
    max_enqueued_batches: int = 1000
    """Queue bound in batches; beyond it a request is refused with 503 (UNAVAILABLE)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if not isinstance(value, int) or value < minimum:
                raise ValueError(
                    f"BatchingOptions.{field.name} must be an int >= {minimum}. Received: {value!r}."
                )


def _read(path: str | os.PathLike[str], what: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as err:
        raise ValueError(f"Could not read the {what} {os.fspath(path)!r}: {err}") from err


def _policy(proto: Any) -> VersionPolicy:
    choice = proto.WhichOneof("policy_choice")
    if choice == "specific":
        return VersionPolicy("specific", versions=tuple(proto.specific.versions))
    if choice == "all":
        return VersionPolicy("all")
    return VersionPolicy("latest", num_versions=proto.latest.num_versions if choice else 1)


def read_model_config_file(path: str | os.PathLike[str]) -> list[ModelConfig]:
    """The models of a TF Serving ``--model_config_file`` (text ``ModelServerConfig``).

    Understood per ``config``: ``name``, ``base_path``, ``model_platform`` (ignored),
    ``model_version_policy`` (``latest { num_versions }``, ``specific { versions }``, ``all {}``)
    and ``version_labels``. A relative base_path is relative to the working directory.

    Raises:
        ValueError: unreadable file, bad text proto, or a model listed twice.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".config", delete=False) as file:
    ...     _ = file.write("model_config_list { config { name: 'm' base_path: '/m' "
    ...                    "model_version_policy { all {} } } }")
    >>> read_model_config_file(file.name)[0].version_policy.kind
    'all'
    """
    proto = parse_text_proto(_read(path, "model config file"), "ModelServerConfig")
    configs: list[ModelConfig] = []
    for entry in proto.model_config_list.config:
        if any(config.name == entry.name for config in configs):
            raise ValueError(f"Illegal to list model {entry.name} multiple times in config list {path}.")
        configs.append(
            ModelConfig(
                name=entry.name,
                base_path=entry.base_path,
                version_policy=_policy(entry.model_version_policy),
                version_labels=dict(entry.version_labels),
            )
        )
    return configs


def read_batching_parameters_file(
    path: str | os.PathLike[str], defaults: BatchingOptions | None = None
) -> BatchingOptions:
    """Batching options from a TF Serving ``--batching_parameters_file`` (text ``BatchingParameters``,
    e.g. ``max_batch_size { value: 64 }``); fields not set keep ``defaults``. ``allowed_batch_sizes``,
    ``pad_variable_length_inputs`` and ``thread_pool_name`` are accepted and ignored.
    """
    proto = parse_text_proto(_read(path, "batching parameters file"), "BatchingParameters")
    options = defaults or BatchingOptions()
    changes = {
        name: int(getattr(proto, name).value)
        for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")
        if proto.HasField(name)
    }
    return dataclasses.replace(options, **changes)
