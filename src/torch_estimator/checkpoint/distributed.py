"""Sharded checkpoints: ``torch.distributed.checkpoint`` (DCP) under the usual state file.

A sharded checkpoint ``<model_dir>/model.ckpt-N`` is the directory ``model.ckpt-N.dcp/`` that DCP
writes (every rank its shards, rank 0 the ``.metadata``) plus ``model.ckpt-N.json``, the index
every checkpoint has (format, global step, variables, RNG state, metadata) with
``"layout": "dcp"``. The directory is written under a temporary name and renamed, then the JSON is
written; the JSON landing last proves the checkpoint complete. Rank 0 updates the ``checkpoint``
state file after both, so readers see only whole checkpoints.

Any number of processes reads it: training under FSDP/DDP on M ranks, or one process (evaluate,
predict, ``load_checkpoint``) that gathers the full tensors. DCP's ``.metadata`` file is a pickle
written by torch; every tensor comes back as plain data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from torch_estimator.checkpoint.atomic import atomic_write_bytes, fsync_directory
from torch_estimator.checkpoint.errors import CheckpointNotFoundError
from torch_estimator.checkpoint.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_SUFFIX,
    Checkpoint,
    corrupt_error,
    dtype_name,
    parse_index,
)
from torch_estimator.checkpoint.rng import (
    RNG_TENSOR_PREFIX,
    capture_rng_state,
    rng_state_from_checkpoint,
    rng_state_to_checkpoint,
)

__all__ = [
    "SHARDED_LAYOUT",
    "SHARDED_SUFFIX",
    "ShardedSaver",
    "is_sharded_checkpoint",
    "read_sharded_checkpoint",
    "read_sharded_index",
    "remove_sharded_checkpoint",
    "sharded_directory",
    "verify_sharded_checkpoint",
    "write_sharded_checkpoint",
]

SHARDED_SUFFIX = ".dcp"
SHARDED_LAYOUT = "dcp"
_TEMP_SUFFIX = ".tmp"


def sharded_directory(prefix: str) -> str:
    """The DCP directory of checkpoint ``prefix``.

    >>> sharded_directory("d/model.ckpt-5")
    'd/model.ckpt-5.dcp'
    """
    return prefix + SHARDED_SUFFIX


def is_sharded_checkpoint(prefix: str) -> bool:
    """Whether ``prefix`` names a sharded checkpoint (its DCP directory exists).

    >>> is_sharded_checkpoint("/nonexistent/model.ckpt-1")
    False
    """
    return os.path.isdir(sharded_directory(prefix))


@contextlib.contextmanager
def _single_process_is_intended() -> Iterator[None]:
    # DCP warns when it reads or writes without a process group; here that is the intent.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def _full_value(value: torch.Tensor) -> torch.Tensor:
    """A tensor DCP can save: DTensors as they are (each rank writes its shard), others detached."""
    return value if type(value).__name__ == "DTensor" else value.detach()


def _index_entry(name: str, value: torch.Tensor) -> dict[str, Any]:
    return {"name": name, "dtype": dtype_name(value.dtype), "shape": list(value.shape)}


def write_sharded_checkpoint(
    prefix: str,
    tensors: dict[str, torch.Tensor],
    global_step: int,
    *,
    is_chief: bool,
    metadata: dict[str, Any] | None = None,
    barrier: Callable[[], None] = lambda: None,
) -> None:
    """Writes checkpoint ``prefix`` collectively: every rank calls this with the same names.

    ``tensors`` may hold DTensors (FSDP shards) and plain tensors (replicated). Rank 0 (``is_chief``)
    clears a leftover temporary directory, renames the finished one and writes the JSON index.
    ``barrier`` synchronises the ranks (a no-op in one process).
    """
    import torch.distributed.checkpoint as dcp

    final = sharded_directory(prefix)
    temp = final + _TEMP_SUFFIX
    if is_chief:
        # Leftovers of saves that died half-way; the model_dir lock keeps other writers out.
        parent = os.path.dirname(final) or "."
        for name in os.listdir(parent):
            if name.endswith(SHARDED_SUFFIX + _TEMP_SUFFIX):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    barrier()
    rng_tensors, rng_entry = rng_state_to_checkpoint(capture_rng_state())
    state = {name: _full_value(value) for name, value in tensors.items()}
    with _single_process_is_intended():
        dcp.save({**state, **rng_tensors}, checkpoint_id=temp, no_dist=not torch.distributed.is_initialized())
    if is_chief:
        # Re-saving a step replaces it: drop the index first, so no reader pairs it with a half state.
        index_path = prefix + INDEX_SUFFIX
        if os.path.exists(index_path):
            os.remove(index_path)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temp, final)
        fsync_directory(os.path.dirname(final) or ".")
        index = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "layout": SHARDED_LAYOUT,
            "global_step": int(global_step),
            "tensor_file": os.path.basename(final),
            "tensor_file_bytes": 0,
            "tensor_file_crc32": 0,
            "variables": [_index_entry(name, value) for name, value in tensors.items()],
            "rng": rng_entry,
            "metadata": json.loads(json.dumps(metadata or {})),
            "torch_version": torch.__version__,
        }
        atomic_write_bytes(index_path, json.dumps(index, indent=1).encode("utf-8"))
    barrier()


def read_sharded_index(prefix: str) -> dict[str, Any]:
    """The parsed JSON index of sharded checkpoint ``prefix``.

    Raises:
        CheckpointNotFoundError: the index is missing.
        CorruptCheckpointError: it does not parse or does not describe a sharded checkpoint.
    """
    index_path = prefix + INDEX_SUFFIX
    index = parse_index(prefix, index_path)
    if index.get("layout") != SHARDED_LAYOUT:
        raise corrupt_error(prefix, f"{index_path} is not the index of a sharded checkpoint.")
    return index


def verify_sharded_checkpoint(prefix: str) -> dict[str, Any]:
    """Checks that sharded checkpoint ``prefix`` is complete: index parses, DCP metadata exists.

    Raises:
        CheckpointNotFoundError: the index or the directory is missing.
        CorruptCheckpointError: the index is bad, or DCP's ``.metadata`` file is missing.
    """
    directory = sharded_directory(prefix)
    if not os.path.isdir(directory):
        raise CheckpointNotFoundError(
            f"The passed save_path is not a valid checkpoint: {prefix} ({directory} does not exist).",
            reason=f"{directory} does not exist",
        )
    index = read_sharded_index(prefix)
    if not os.path.isfile(os.path.join(directory, ".metadata")):
        raise corrupt_error(prefix, f"{directory} has no .metadata file (the save did not finish).")
    return index


def read_sharded_checkpoint(
    prefix: str, names: list[str] | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Loads the full tensors of sharded checkpoint ``prefix`` in this process alone.

    ``names`` restricts the tensors read (default: all). Works with or without a process group,
    whatever number of ranks wrote the checkpoint.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     prefix = os.path.join(model_dir, "model.ckpt-2")
    ...     write_sharded_checkpoint(prefix, {"w": torch.arange(3.0)}, 2, is_chief=True)
    ...     checkpoint = read_sharded_checkpoint(prefix)
    >>> checkpoint.global_step, checkpoint.tensors["w"].tolist()
    (2, [0.0, 1.0, 2.0])
    """
    import torch.distributed.checkpoint as dcp

    index = verify_sharded_checkpoint(prefix)
    reader = dcp.FileSystemReader(sharded_directory(prefix))
    stored = reader.read_metadata().state_dict_metadata
    wanted = [name for name in stored if names is None or name in names or name.startswith(RNG_TENSOR_PREFIX)]
    state: dict[str, Any] = {}
    for name in wanted:
        meta = stored[name]
        size = getattr(meta, "size", None)
        if size is None:
            continue  # Not a tensor: nothing of ours writes one.
        state[name] = torch.empty(tuple(size), dtype=meta.properties.dtype, device=device)
    with _single_process_is_intended():
        dcp.load(state, storage_reader=reader, no_dist=True)
    rng_tensors = {name: value for name, value in state.items() if name.startswith(RNG_TENSOR_PREFIX)}
    tensors = {name: value for name, value in state.items() if not name.startswith(RNG_TENSOR_PREFIX)}
    rng_entry = index.get("rng")
    rng_state = rng_state_from_checkpoint(rng_tensors, rng_entry) if rng_entry else None
    return Checkpoint(
        path=prefix,
        tensors=tensors,
        global_step=int(index["global_step"]),
        metadata=dict(index.get("metadata") or {}),
        rng_state=rng_state,
        format_version=int(index["format_version"]),
    )


def remove_sharded_checkpoint(prefix: str) -> None:
    """Deletes the index and the DCP directory of ``prefix``; what is already gone is fine."""
    index_path = prefix + INDEX_SUFFIX
    if os.path.exists(index_path):
        os.remove(index_path)
    shutil.rmtree(sharded_directory(prefix), ignore_errors=True)


class ShardedSaver:
    """A Saver for collective training: every rank calls ``save`` at the same step; all write
    their shards with DCP, rank 0 writes the index and, through ``saver``, the state file (and
    deletes checkpoints beyond ``max_to_keep``). ``restore`` reads either layout.

    Args:
        saver: the `Saver` whose checkpoint list and settings rank 0 uses.
        is_chief: whether this process is rank 0.
        barrier: synchronises the ranks around a save.

    >>> import tempfile
    >>> from torch_estimator.checkpoint.saver import Saver
    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph, get_variable
    >>> graph = Graph(lambda features, mode: EstimatorSpec(mode, predictions=get_variable("w", [2])))
    >>> _ = graph(torch.ones(1), None, ModeKeys.PREDICT)
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     saver = ShardedSaver(Saver(max_to_keep=1), is_chief=True)
    ...     for step in (1, 2):
    ...         prefix = saver.save(graph, os.path.join(model_dir, "model.ckpt"), step)
    ...     print(sorted(os.listdir(model_dir)))
    ['checkpoint', 'model.ckpt-2.dcp', 'model.ckpt-2.json']
    """

    def __init__(self, saver: Any, is_chief: bool, barrier: Callable[[], None] = lambda: None) -> None:
        self.saver = saver
        self.is_chief = is_chief
        self.barrier = barrier

    def save(
        self,
        graph_or_session: Any,
        save_path: str | os.PathLike[str],
        global_step: int | torch.Tensor | None = None,
        **options: Any,
    ) -> str:
        """Writes ``<save_path>-<global_step>`` collectively and, on rank 0, updates the state file."""
        graph = getattr(graph_or_session, "graph", graph_or_session)
        if isinstance(global_step, torch.Tensor):
            global_step = int(global_step.item())
        if global_step is None:
            raise ValueError("A sharded checkpoint needs a global_step. Received: global_step=None.")
        prefix = self.saver.checkpoint_path(os.fspath(save_path), global_step)
        directory = os.path.dirname(prefix) or "."
        if not os.path.isdir(directory):
            raise ValueError(
                f"Parent directory of {save_path} doesn't exist, can't save. Create {directory} first."
            )
        write_sharded_checkpoint(
            prefix,
            graph.checkpoint_tensors(),
            global_step,
            is_chief=self.is_chief,
            metadata=options.get("metadata"),
            barrier=self.barrier,
        )
        if self.is_chief:
            self.saver.record_checkpoint(prefix, options.get("latest_filename"))
        return prefix

    def restore(self, graph_or_session: Any, save_path: Any, *, restore_rng: bool = False) -> Any:
        """``saver.restore``: reads the full tensors of either layout."""
        return self.saver.restore(graph_or_session, save_path, restore_rng=restore_rng)

    def __getattr__(self, name: str) -> Any:
        # Everything else (last_checkpoints, max_to_keep, ...) is the wrapped Saver's.
        return getattr(self.__dict__["saver"], name)
