"""Finding and reading checkpoints in a model_dir: latest, load, list, one variable, global step."""

from __future__ import annotations

import logging
import os
from typing import Any

import safetensors
import torch
from safetensors import safe_open

from torch_estimator.checkpoint.distributed import (
    is_sharded_checkpoint,
    read_sharded_checkpoint,
    read_sharded_index,
    sharded_directory,
    verify_sharded_checkpoint,
)
from torch_estimator.checkpoint.errors import CheckpointNotFoundError, CorruptCheckpointError
from torch_estimator.checkpoint.format import (
    Checkpoint,
    checkpoint_files,
    checkpoint_prefix,
    corrupt_error,
    read_checkpoint_file,
    read_index,
    verify_checkpoint,
)
from torch_estimator.checkpoint.state_file import STATE_FILENAME, get_checkpoint_state

__all__ = [
    "checkpoint_exists",
    "get_checkpoint_mtimes",
    "global_step_of",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
]

logger = logging.getLogger("torch_estimator")


def latest_checkpoint(model_dir: str | os.PathLike[str], latest_filename: str | None = None) -> str | None:
    """The prefix (``<model_dir>/model.ckpt-N``) of the newest valid checkpoint in the state file.

    Candidates are ``model_checkpoint_path`` and then ``all_model_checkpoint_paths`` newest first;
    one that is missing, truncated or corrupt is skipped with a warning on the ``torch_estimator``
    logger. No state file, or no valid checkpoint, gives None.

    >>> latest_checkpoint("/nonexistent-model-dir") is None
    True
    """
    model_dir = os.fspath(model_dir)
    state = get_checkpoint_state(model_dir, latest_filename)
    if state is None:
        return None
    candidates: list[str] = []
    for prefix in [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]:
        if prefix and prefix not in candidates:
            candidates.append(prefix)
    for prefix in candidates:
        try:
            if is_sharded_checkpoint(prefix):
                verify_sharded_checkpoint(prefix)
            else:
                verify_checkpoint(prefix)
        except (CheckpointNotFoundError, CorruptCheckpointError) as err:
            logger.warning(
                "Skipping checkpoint %s listed in %s: %s; falling back to the previous checkpoint.",
                prefix,
                os.path.join(model_dir, latest_filename or STATE_FILENAME),
                err.reason.rstrip("."),
            )
            continue
        return prefix
    return None


def _read_index(prefix: str) -> dict[str, Any]:
    """The JSON index of either layout."""
    return read_sharded_index(prefix) if is_sharded_checkpoint(prefix) else read_index(prefix)


def _resolve(path: str | os.PathLike[str]) -> str:
    """A checkpoint prefix from a prefix, a file of a checkpoint or a model_dir."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointNotFoundError(
                f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}. Train first, "
                "or pass the path of a checkpoint prefix such as <model_dir>/model.ckpt-100."
            )
        return latest
    return checkpoint_prefix(path)


def load_checkpoint(
    path: str | os.PathLike[str], verify: bool = True, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Loads a checkpoint: a prefix (``<model_dir>/model.ckpt-N``) or a model_dir (its latest).

    Raises:
        CheckpointNotFoundError: no checkpoint there.
        CorruptCheckpointError: the checkpoint is truncated or corrupt.

    >>> import tempfile
    >>> from torch_estimator.checkpoint.format import write_checkpoint
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     _ = write_checkpoint(os.path.join(model_dir, "model.ckpt-3"), {"w": torch.ones(2)}, global_step=3)
    ...     checkpoint = load_checkpoint(os.path.join(model_dir, "model.ckpt-3"))
    >>> checkpoint.global_step, checkpoint.tensors["w"].tolist()
    (3, [1.0, 1.0])
    """
    prefix = _resolve(path)
    if is_sharded_checkpoint(prefix):
        return read_sharded_checkpoint(prefix, device=device)
    return read_checkpoint_file(prefix, verify=verify, device=device)


def list_variables(path: str | os.PathLike[str]) -> list[tuple[str, tuple[int, ...], str]]:
    """``(name, shape, dtype)`` of every variable in a checkpoint (prefix or model_dir), sorted by name.

    Reads only the JSON index. RNG state is not a variable and is not listed.

    >>> import tempfile
    >>> from torch_estimator.checkpoint.format import write_checkpoint
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     prefix = os.path.join(model_dir, "model.ckpt-0")
    ...     _ = write_checkpoint(prefix, {"b": torch.zeros(3), "a": torch.tensor(1)})
    ...     list_variables(prefix)
    [('a', (), 'int64'), ('b', (3,), 'float32')]
    """
    index = _read_index(_resolve(path))
    try:
        found = [(v["name"], tuple(int(d) for d in v["shape"]), str(v["dtype"])) for v in index["variables"]]
    except (KeyError, TypeError, ValueError) as err:
        raise corrupt_error(os.fspath(path), f"bad variables index ({err}).") from err
    return sorted(found)


def load_variable(path: str | os.PathLike[str], name: str) -> torch.Tensor:
    """The value of variable ``name`` in a checkpoint (prefix or model_dir), reading only that tensor.

    Raises:
        KeyError: no variable ``name`` in the checkpoint (TF: "Key ... not found in checkpoint").

    >>> import tempfile
    >>> from torch_estimator.checkpoint.format import write_checkpoint
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     _ = write_checkpoint(os.path.join(model_dir, "model.ckpt-0"), {"w": torch.full((2,), 7.0)})
    ...     load_variable(os.path.join(model_dir, "model.ckpt-0"), "w").tolist()
    [7.0, 7.0]
    """
    prefix = _resolve(path)
    index = _read_index(prefix)
    names = [variable.get("name") for variable in index["variables"] if isinstance(variable, dict)]
    if name not in names:
        shown = ", ".join(sorted(str(n) for n in names)[:20]) + (", ..." if len(names) > 20 else "")
        raise KeyError(
            f"Key {name} not found in checkpoint {prefix}. It holds: {shown}. Use list_variables(path) "
            "to see every name."
        )
    if is_sharded_checkpoint(prefix):
        return read_sharded_checkpoint(prefix, names=[name]).tensors[name]
    tensor_path, _ = checkpoint_files(prefix)
    try:
        with safe_open(tensor_path, framework="pt") as f:
            return f.get_tensor(name)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"The passed save_path is not a valid checkpoint: {prefix}.") from None
    except (OSError, safetensors.SafetensorError) as err:
        raise corrupt_error(prefix, f"{tensor_path}: {err}.") from err


def global_step_of(path: str | os.PathLike[str]) -> int:
    """The global step of the latest valid checkpoint in a model_dir (or of a prefix); 0 on any failure.

    >>> global_step_of("/nonexistent-model-dir")
    0
    """
    try:
        prefix = _resolve(path)
        return int(_read_index(prefix)["global_step"])
    except (ValueError, OSError, KeyError, TypeError):
        return 0


def checkpoint_exists(path: str | os.PathLike[str]) -> bool:
    """Whether checkpoint prefix ``path`` exists: its JSON index and its tensor file or sharded
    directory (without checking their contents).

    >>> checkpoint_exists("/nonexistent/model.ckpt-1")
    False
    """
    prefix = checkpoint_prefix(path)
    tensor_path, index_path = checkpoint_files(prefix)
    return os.path.isfile(index_path) and (os.path.isfile(tensor_path) or is_sharded_checkpoint(prefix))


def get_checkpoint_mtimes(prefixes: list[str]) -> list[float]:
    """Modification time of each existing checkpoint (its tensor file); missing ones are skipped.

    >>> get_checkpoint_mtimes(["/nonexistent/model.ckpt-1"])
    []
    """
    times = []
    for prefix in prefixes:
        try:
            tensor_path = checkpoint_files(checkpoint_prefix(prefix))[0]
            if not os.path.exists(tensor_path):
                tensor_path = sharded_directory(checkpoint_prefix(prefix))
            times.append(os.path.getmtime(tensor_path))
        except OSError:
            continue
    return times
