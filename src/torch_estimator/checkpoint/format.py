"""One checkpoint on disk: ``<prefix>.safetensors`` (every tensor) + ``<prefix>.json`` (the rest).

The JSON holds the format version, the global step, the tensor file's byte size and CRC-32, the
index of variables (name, dtype, shape), the non-tensor RNG state and the caller's metadata. It is
written after the tensor file, so a JSON that parses and whose size and checksum match proves the
whole checkpoint landed. Nothing here unpickles: tensors come from safetensors, the rest from JSON.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
from typing import Any

import safetensors
import safetensors.torch
import torch

from torch_estimator.checkpoint.atomic import atomic_write, atomic_write_bytes, crc32_of_file
from torch_estimator.checkpoint.errors import CheckpointNotFoundError, CorruptCheckpointError
from torch_estimator.checkpoint.rng import (
    RNG_TENSOR_PREFIX,
    RngState,
    rng_state_from_checkpoint,
    rng_state_to_checkpoint,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEX_SUFFIX",
    "TENSOR_SUFFIX",
    "Checkpoint",
    "checkpoint_files",
    "checkpoint_prefix",
    "corrupt_error",
    "dtype_name",
    "parse_index",
    "read_checkpoint_file",
    "read_index",
    "remove_checkpoint",
    "verify_checkpoint",
    "write_checkpoint",
]

FORMAT_NAME = "torch_estimator.checkpoint"
FORMAT_VERSION = 1
TENSOR_SUFFIX = ".safetensors"
INDEX_SUFFIX = ".json"
GLOBAL_STEP_NAME = "global_step"


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: variables and slots by name, the global step, metadata and RNG state."""

    path: str
    tensors: dict[str, torch.Tensor]
    global_step: int
    metadata: dict[str, Any]
    rng_state: RngState | None
    format_version: int = FORMAT_VERSION


def checkpoint_prefix(path: str | os.PathLike[str]) -> str:
    """``path`` without a ``.safetensors`` / ``.json`` suffix.

    >>> checkpoint_prefix("d/model.ckpt-5.safetensors"), checkpoint_prefix("d/model.ckpt-5")
    ('d/model.ckpt-5', 'd/model.ckpt-5')
    """
    path = os.fspath(path)
    for suffix in (TENSOR_SUFFIX, INDEX_SUFFIX):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def checkpoint_files(prefix: str) -> tuple[str, str]:
    """The tensor file and the JSON file of the checkpoint ``prefix``.

    >>> checkpoint_files("d/model.ckpt-5")
    ('d/model.ckpt-5.safetensors', 'd/model.ckpt-5.json')
    """
    return prefix + TENSOR_SUFFIX, prefix + INDEX_SUFFIX


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``'float32'``.

    >>> dtype_name(torch.bfloat16)
    'bfloat16'
    """
    return str(dtype).removeprefix("torch.")


# -- writing -----------------------------------------------------------------------------------


def _prepare_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, dense, contiguous CPU tensors, none sharing storage (safetensors refuses that)."""
    prepared: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"Checkpoint tensor names must be non-empty strings. Received: {name!r}.")
        if name.startswith(RNG_TENSOR_PREFIX):
            raise ValueError(
                f"{name!r}: names starting with {RNG_TENSOR_PREFIX!r} are reserved for RNG state."
            )
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Checkpoint value {name!r} must be a torch.Tensor. Received: {type(value).__name__}. "
                "Pass non-tensor state as metadata."
            )
        tensor = value.detach()
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        tensor = tensor.resolve_conj().resolve_neg().cpu()
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        if not tensor.is_contiguous() or (pointer and pointer in storages):
            # Tied weights and views share storage; each gets its own copy on disk.
            tensor = tensor.clone(memory_format=torch.contiguous_format)
            pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        if pointer:
            storages.add(pointer)
        prepared[name] = tensor
    return prepared


def _global_step_from(tensors: dict[str, torch.Tensor], global_step: int | None) -> int:
    step = tensors.get(GLOBAL_STEP_NAME)
    if step is not None and step.numel() == 1:
        return int(step.reshape(()).item())
    return int(global_step) if global_step is not None else 0


def write_checkpoint(
    prefix: str,
    tensors: dict[str, torch.Tensor],
    global_step: int | None = None,
    metadata: dict[str, Any] | None = None,
    rng_state: RngState | None = None,
) -> dict[str, Any]:
    """Writes ``<prefix>.safetensors`` then ``<prefix>.json``, each atomically; returns the JSON index.

    The recorded global step is the ``global_step`` tensor when present, else ``global_step``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     prefix = os.path.join(directory, "model.ckpt-1")
    ...     index = write_checkpoint(prefix, {"w": torch.ones(2), "global_step": torch.tensor(1)})
    ...     files = sorted(os.listdir(directory))
    >>> index["global_step"], [variable["name"] for variable in index["variables"]], files
    (1, ['w', 'global_step'], ['model.ckpt-1.json', 'model.ckpt-1.safetensors'])
    """
    metadata = dict(metadata or {})
    try:
        metadata_json = json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"Checkpoint metadata must be JSON-serializable. Received: {metadata!r} ({err})."
        ) from err
    variables = _prepare_tensors(tensors)
    rng_tensors, rng_entry = rng_state_to_checkpoint(rng_state) if rng_state is not None else ({}, None)
    tensor_path, index_path = checkpoint_files(prefix)
    with atomic_write(tensor_path) as temp:
        safetensors.torch.save_file({**variables, **rng_tensors}, temp)
        size, crc = crc32_of_file(temp)
    index = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "global_step": _global_step_from(variables, global_step),
        "tensor_file": os.path.basename(tensor_path),
        "tensor_file_bytes": size,
        "tensor_file_crc32": crc,
        "variables": [
            {"name": name, "dtype": dtype_name(value.dtype), "shape": list(value.shape)}
            for name, value in variables.items()
        ],
        "rng": rng_entry,
        "metadata": metadata_json,
        "torch_version": torch.__version__,
    }
    atomic_write_bytes(index_path, json.dumps(index, indent=1).encode("utf-8"))
    return index


def remove_checkpoint(prefix: str) -> None:
    """Deletes both files of a checkpoint; files already gone are fine."""
    for path in checkpoint_files(prefix):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


# -- reading -----------------------------------------------------------------------------------


def _not_found(prefix: str, missing: str) -> CheckpointNotFoundError:
    return CheckpointNotFoundError(
        f"The passed save_path is not a valid checkpoint: {prefix} ({missing} does not exist). Pass a "
        "checkpoint prefix such as <model_dir>/model.ckpt-100, or a model_dir that has checkpoints.",
        reason=f"{missing} does not exist",
    )


def corrupt_error(prefix: str, detail: str) -> CorruptCheckpointError:
    """The error for a corrupt checkpoint ``prefix``; ``detail`` says what is wrong.

    >>> corrupt_error("d/model.ckpt-1", "d/model.ckpt-1.json is empty").reason
    'd/model.ckpt-1.json is empty'
    """
    return CorruptCheckpointError(f"Checkpoint {prefix} is corrupt: {detail}", reason=detail)


def read_index(prefix: str) -> dict[str, Any]:
    """The parsed JSON of checkpoint ``prefix``, checked for shape but not against the tensor file.

    Raises:
        CheckpointNotFoundError: either file is missing.
        CorruptCheckpointError: the JSON does not parse or is not a torch-estimator checkpoint index.
    """
    tensor_path, index_path = checkpoint_files(prefix)
    for path in (index_path, tensor_path):
        if not os.path.isfile(path):
            raise _not_found(prefix, path)
    return parse_index(prefix, index_path)


def parse_index(prefix: str, index_path: str) -> dict[str, Any]:
    """The parsed JSON index of checkpoint ``prefix`` at ``index_path``, checked for shape only.

    Needs no tensor file (a sharded checkpoint keeps its tensors elsewhere).

    Raises:
        CheckpointNotFoundError: ``index_path`` is missing.
        CorruptCheckpointError: the JSON does not parse, is not a torch-estimator checkpoint index, or
            has a newer format_version than this torch-estimator reads.

    >>> parse_index("d/model.ckpt-1", "d/model.ckpt-1.json")
    Traceback (most recent call last):
    ...
    torch_estimator.checkpoint.errors.CheckpointNotFoundError: The passed save_path is not a valid ...
    """
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise _not_found(prefix, index_path) from None
    except (OSError, ValueError) as err:
        raise corrupt_error(prefix, f"{index_path} is unreadable ({err}).") from err
    integers = ("format_version", "global_step", "tensor_file_bytes", "tensor_file_crc32")
    problems = [] if isinstance(index, dict) else ["not a JSON object"]
    if not problems:
        if index.get("format") != FORMAT_NAME:
            problems.append(f"format is {index.get('format')!r}, expected {FORMAT_NAME!r}")
        problems += [f"{key} is not an integer" for key in integers if type(index.get(key)) is not int]
        if not isinstance(index.get("variables"), list):
            problems.append("variables is not a list")
    if problems:
        raise corrupt_error(prefix, f"{index_path}: {'; '.join(problems)}.")
    if index["format_version"] > FORMAT_VERSION:
        raise CorruptCheckpointError(
            f"Checkpoint {prefix} has format_version {index['format_version']}, newer than this "
            f"torch-estimator reads ({FORMAT_VERSION}). Upgrade torch-estimator to read it.",
            reason=f"format_version {index['format_version']} is newer than {FORMAT_VERSION}",
        )
    return index


# (device, inode, size, mtime_ns) of both files -> verified. Files are only ever replaced by rename
# (a new inode), so a hit means the same bytes; it spares an evaluator re-reading large files per poll.
_VERIFIED: collections.OrderedDict[tuple[int, ...], None] = collections.OrderedDict()
_VERIFIED_MAX = 64


def _file_key(path: str) -> tuple[int, ...]:
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def verify_checkpoint(prefix: str) -> dict[str, Any]:
    """Checks that checkpoint ``prefix`` is complete: JSON parses, tensor file size and CRC-32 match.

    Returns the JSON index.

    Raises:
        CheckpointNotFoundError: a file is missing.
        CorruptCheckpointError: the files are truncated, mismatched or unreadable.

    >>> try:
    ...     verify_checkpoint("/nonexistent/model.ckpt-1")
    ... except CheckpointNotFoundError as err:
    ...     print(str(err)[:47])
    The passed save_path is not a valid checkpoint:
    """
    index = read_index(prefix)
    tensor_path, index_path = checkpoint_files(prefix)
    try:
        key = _file_key(tensor_path) + _file_key(index_path)
        if key in _VERIFIED:
            return index
        size, crc = crc32_of_file(tensor_path)
    except FileNotFoundError:
        raise _not_found(prefix, tensor_path) from None
    except OSError as err:
        raise corrupt_error(prefix, f"{tensor_path} is unreadable ({err}).") from err
    if size != index["tensor_file_bytes"]:
        raise corrupt_error(
            prefix,
            f"{tensor_path} has {size} bytes, its index records "
            f"{index['tensor_file_bytes']} (truncated or overwritten).",
        )
    if crc != index["tensor_file_crc32"]:
        raise corrupt_error(
            prefix,
            f"{tensor_path} checksum {crc:#010x} does not match its index "
            f"({index['tensor_file_crc32']:#010x}).",
        )
    _VERIFIED[key] = None
    while len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return index


def read_checkpoint_file(prefix: str, verify: bool = True, device: str | torch.device = "cpu") -> Checkpoint:
    """Loads checkpoint ``prefix`` (a prefix, not a directory); see ``load_checkpoint`` for directories.

    Raises:
        CheckpointNotFoundError: a file is missing.
        CorruptCheckpointError: the files are truncated, mismatched or unreadable.
    """
    index = verify_checkpoint(prefix) if verify else read_index(prefix)
    tensor_path, _ = checkpoint_files(prefix)
    try:
        loaded = safetensors.torch.load_file(tensor_path, device=str(device))
    except FileNotFoundError:
        raise _not_found(prefix, tensor_path) from None
    except (OSError, safetensors.SafetensorError) as err:
        raise corrupt_error(prefix, f"{tensor_path}: {err}.") from err
    rng_entry = index.get("rng")
    rng_state = None
    try:
        names = [variable["name"] for variable in index["variables"]]
        if isinstance(rng_entry, dict):
            rng_state = rng_state_from_checkpoint(loaded, rng_entry)
        tensors = {name: loaded[name] for name in names}
    except (KeyError, TypeError) as err:
        raise corrupt_error(
            prefix, f"its index names tensor {err} that {tensor_path} does not hold."
        ) from err
    metadata = index.get("metadata")
    return Checkpoint(
        path=prefix,
        tensors=tensors,
        global_step=index["global_step"],
        metadata=metadata if isinstance(metadata, dict) else {},
        rng_state=rng_state,
        format_version=index["format_version"],
    )
