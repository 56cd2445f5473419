"""``te.train.Saver``: TF's v1 Saver on the torch-estimator checkpoint format."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.checkpoint.atomic import remove_stale_temp_files
from torch_estimator.checkpoint.distributed import (
    is_sharded_checkpoint,
    read_sharded_checkpoint,
    remove_sharded_checkpoint,
)
from torch_estimator.checkpoint.errors import CheckpointNotFoundError
from torch_estimator.checkpoint.format import (
    INDEX_SUFFIX,
    TENSOR_SUFFIX,
    Checkpoint,
    checkpoint_prefix,
    read_checkpoint_file,
    remove_checkpoint,
    write_checkpoint,
)
from torch_estimator.checkpoint.reader import checkpoint_exists, get_checkpoint_mtimes
from torch_estimator.checkpoint.rng import capture_rng_state, restore_rng_state
from torch_estimator.checkpoint.state_file import STATE_FILENAME, get_checkpoint_state, write_checkpoint_state

__all__ = ["Saver"]

logger = logging.getLogger("torch_estimator")

VarList = Sequence[str | torch.Tensor] | Mapping[str, torch.Tensor]


def _checkpointable(graph_or_session: Any) -> Any:
    """What holds ``checkpoint_tensors`` / ``restore_tensors``: a Graph, or a session's ``.graph``."""
    if hasattr(graph_or_session, "checkpoint_tensors"):
        return graph_or_session
    graph = getattr(graph_or_session, "graph", None)
    if graph is not None and hasattr(graph, "checkpoint_tensors"):
        return graph
    raise TypeError(
        "Saver needs a te.Graph, or a session with a .graph attribute. "
        f"Received: {type(graph_or_session).__name__}."
    )


def _is_our_file(final_name: str) -> bool:
    return (
        final_name.endswith((TENSOR_SUFFIX, INDEX_SUFFIX)) or os.path.basename(final_name) == STATE_FILENAME
    )


def _same(left: str, right: str) -> bool:
    return os.path.abspath(left) == os.path.abspath(right)


class Saver:
    """Saves and restores a Graph's variables, optimizer slots, global step and RNG state.

    Args:
        var_list: None (everything ``graph.checkpoint_tensors()`` holds), a list of variable names
            or variables, or a dict ``{checkpoint name: tensor}``.
        max_to_keep: checkpoints kept; the oldest beyond it is deleted on each save. 0 or None
            keeps every file, and the state file then lists only the latest (TF).
        keep_checkpoint_every_n_hours: additionally keep (and stop listing) one checkpoint per N
            hours since ``last_preserved_timestamp``.
        save_relative_paths: store bare names in the state file, so a moved model_dir resumes.
        pad_step_number: write ``model.ckpt-00000010`` instead of ``model.ckpt-10``.
        allow_empty: with nothing to save, ``save`` and ``restore`` do nothing instead of raising.
        clock: the time source for checkpoint timestamps (a fake one in tests).
        reshape, sharded, name, restore_sequentially, saver_def, builder, defer_build,
            write_version, filename: accepted for TF compatibility; they have no effect here.

    >>> import tempfile
    >>> from torch_estimator.contract import EstimatorSpec, ModeKeys
    >>> from torch_estimator.graph import Graph, get_variable
    >>> graph = Graph(lambda features, mode: EstimatorSpec(mode, predictions=get_variable("w", [1])))
    >>> _ = graph(torch.ones(1), None, ModeKeys.PREDICT)
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     saver = Saver(max_to_keep=2)
    ...     paths = [saver.save(graph, os.path.join(model_dir, "model.ckpt"), step) for step in (1, 2, 3)]
    ...     print([os.path.basename(p) for p in saver.last_checkpoints])
    ...     saver.restore(graph, paths[-1]).global_step
    ['model.ckpt-2', 'model.ckpt-3']
    3
    """

    def __init__(
        self,
        var_list: VarList | None = None,
        reshape: bool = False,
        sharded: bool = False,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        name: str | None = None,
        restore_sequentially: bool = False,
        saver_def: Any = None,
        builder: Any = None,
        defer_build: bool = False,
        allow_empty: bool = False,
        write_version: Any = None,
        pad_step_number: bool = False,
        save_relative_paths: bool = True,
        filename: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_to_keep is not None and (isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int)):
            raise TypeError(f"max_to_keep must be an int or None. Received: {max_to_keep!r}.")
        if max_to_keep is not None and max_to_keep < 0:
            raise ValueError(f"max_to_keep must be >= 0 (0 keeps every checkpoint). Received: {max_to_keep}.")
        if not isinstance(keep_checkpoint_every_n_hours, (int, float)) or keep_checkpoint_every_n_hours <= 0:
            raise ValueError(
                "keep_checkpoint_every_n_hours must be a number > 0. "
                f"Received: {keep_checkpoint_every_n_hours!r}."
            )
        if var_list is not None and not isinstance(var_list, (Mapping, list, tuple)):
            raise TypeError(
                "var_list must be None, a list of variable names or variables, or a dict {name: tensor}. "
                f"Received: {type(var_list).__name__}."
            )
        self.var_list = var_list
        self.max_to_keep = max_to_keep
        self.keep_checkpoint_every_n_hours = float(keep_checkpoint_every_n_hours)
        self.allow_empty = allow_empty
        self.pad_step_number = pad_step_number
        self.save_relative_paths = save_relative_paths
        self.sharded = sharded  # Single-file checkpoints here; sharded (FSDP) saving is the engine's.
        self.filename = filename
        self.name = name
        self._clock = clock
        self._last_checkpoints: list[tuple[str, float]] = []
        # TF's CheckpointManager starts one second back, so a checkpoint saved at once can be preserved.
        self._last_preserved_timestamp = clock() - 1.0
        self._directory: str | None = None

    def build(self) -> None:
        """No-op: nothing is built ahead of time (TF compatibility)."""

    # -- what is saved -----------------------------------------------------------------------

    def _tensors(self, graph: Any) -> dict[str, torch.Tensor]:
        if isinstance(self.var_list, Mapping):
            return dict(self.var_list)
        everything = graph.checkpoint_tensors()
        if self.var_list is None:
            return everything
        names = self._names(graph)
        missing = [name for name in names if name not in everything]
        if missing:
            raise ValueError(
                f"Saver var_list names variables the model does not have: {missing}. "
                f"Known variables: {sorted(everything)}."
            )
        return {name: everything[name] for name in names}

    def _names(self, graph: Any) -> list[str]:
        names = []
        for item in self.var_list or ():
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, torch.Tensor) and hasattr(graph, "variable_name"):
                names.append(graph.variable_name(item))
            else:
                raise TypeError(
                    "Saver var_list entries must be variable names or variables of the Graph. "
                    f"Received: {item!r}."
                )
        return names

    # -- the checkpoint list ---------------------------------------------------------------------

    @property
    def last_checkpoints(self) -> list[str]:
        """Checkpoints this saver would delete in turn, oldest first (TF's ``last_checkpoints``)."""
        return [path for path, _ in self._last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: Iterable[tuple[str, float]]) -> None:
        """Replaces the list of ``(prefix, timestamp)`` this saver manages."""
        self._last_checkpoints = [(str(path), float(stamp)) for path, stamp in last_checkpoints_with_time]
        if self._last_checkpoints:
            self._directory = os.path.abspath(os.path.dirname(self._last_checkpoints[-1][0]) or ".")

    def recover_last_checkpoints(self, checkpoint_paths: Iterable[str]) -> None:
        """Adopts existing checkpoints (timestamps from file mtimes; missing ones skipped), as TF."""
        recovered = []
        for path in checkpoint_paths:
            mtimes = get_checkpoint_mtimes([path])
            if mtimes:
                recovered.append((path, mtimes[0]))
        self.set_last_checkpoints_with_time(recovered)

    def _adopt(self, directory: str, latest_filename: str | None) -> None:
        """Continues the state file's list of ``directory`` the first time this saver touches it."""
        key = os.path.abspath(directory)
        if self._directory == key:
            return
        self._directory = key
        self._last_checkpoints = []
        state = get_checkpoint_state(directory, latest_filename)
        if state is None or not self.max_to_keep:
            return
        now = self._clock()
        if state.last_preserved_timestamp:
            self._last_preserved_timestamp = state.last_preserved_timestamp
        stamps = state.all_model_checkpoint_timestamps
        if len(stamps) != len(state.all_model_checkpoint_paths):
            stamps = []
        for position, path in enumerate(state.all_model_checkpoint_paths):
            mtimes = get_checkpoint_mtimes([path])
            if not mtimes:
                continue  # Already gone: nothing to delete later.
            stamp = stamps[position] if stamps else mtimes[0]
            # Timestamps from the future (the clock went back) are capped at now, as TF does.
            self._last_checkpoints.append((path, min(stamp, now)))

    def _record(self, prefix: str, directory: str, latest_filename: str | None) -> None:
        now = self._clock()
        if not self.max_to_keep:
            stamp = self._last_preserved_timestamp
            write_checkpoint_state(
                directory, prefix, [prefix], [now], stamp, latest_filename, self.save_relative_paths
            )
            return
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if not _same(p, prefix)]
        self._last_checkpoints.append((prefix, now))
        to_delete = []
        while len(self._last_checkpoints) > self.max_to_keep:
            path, stamp = self._last_checkpoints.pop(0)
            if stamp - self.keep_checkpoint_every_n_hours * 3600.0 >= self._last_preserved_timestamp:
                # Kept on disk but no longer listed, so the state file does not grow forever (TF).
                self._last_preserved_timestamp = stamp
                continue
            to_delete.append(path)
        write_checkpoint_state(
            directory,
            prefix,
            self.last_checkpoints,
            [stamp for _, stamp in self._last_checkpoints],
            self._last_preserved_timestamp,
            latest_filename,
            self.save_relative_paths,
        )
        # Deleted only once the state file no longer names them: a crash here merely leaks files.
        for path in to_delete:
            try:
                remove_checkpoint(path)
                remove_sharded_checkpoint(path)
            except OSError as err:
                logger.warning("Ignoring: could not delete old checkpoint %s: %s", path, err)

    def checkpoint_path(self, save_path: str, global_step: int | None) -> str:
        """The prefix ``save`` writes for ``global_step``: ``<save_path>-<step>`` (padded if asked)."""
        if global_step is None:
            return save_path
        step = int(global_step)
        return f"{save_path}-{step:08d}" if self.pad_step_number else f"{save_path}-{step}"

    def record_checkpoint(self, prefix: str, latest_filename: str | None = None) -> None:
        """Lists checkpoint ``prefix``, written by another writer (a sharded save), as ``save`` would:
        updates the state file and deletes checkpoints beyond ``max_to_keep``."""
        directory = os.path.dirname(prefix) or "."
        self._adopt(directory, latest_filename)
        self._record(prefix, directory, latest_filename)

    # -- save / restore --------------------------------------------------------------------------

    def save(
        self,
        graph_or_session: Any,
        save_path: str | os.PathLike[str],
        global_step: int | torch.Tensor | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        latest_filename: str | None = None,
        write_state: bool = True,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
    ) -> str | None:
        """Writes ``<save_path>-<global_step>`` and updates the state file; returns that prefix.

        Order: stale temp files of dead writers are removed; the tensor file then the JSON are
        written atomically; the state file is replaced last; checkpoints beyond ``max_to_keep``
        are deleted. Re-saving a step overwrites it. ``metadata`` (JSON-ready) is stored in the
        JSON. ``meta_graph_suffix``, ``write_meta_graph``, ``strip_default_attrs`` and
        ``save_debug_info`` are accepted for TF compatibility and ignored.

        Raises:
            ValueError: the parent directory of ``save_path`` does not exist, or nothing to save.
        """
        graph = _checkpointable(graph_or_session)
        save_path = os.fspath(save_path)
        if isinstance(global_step, torch.Tensor):
            global_step = int(global_step.item())
        prefix = self.checkpoint_path(save_path, global_step)
        directory = os.path.dirname(prefix) or "."
        if not os.path.isdir(directory):
            raise ValueError(
                f"Parent directory of {save_path} doesn't exist, can't save. Create {directory} first."
            )
        tensors = self._tensors(graph)
        if not tensors:
            if self.allow_empty:
                return None
            raise ValueError("No variables to save. Create variables in model_fn, or pass allow_empty=True.")
        if write_state:
            self._adopt(directory, latest_filename)
        remove_stale_temp_files(directory, _is_our_file)
        write_checkpoint(
            prefix, tensors, global_step=global_step, metadata=metadata, rng_state=capture_rng_state()
        )
        if write_state:
            self._record(prefix, directory, latest_filename)
        return prefix

    def restore(
        self,
        graph_or_session: Any,
        save_path: str | os.PathLike[str] | None,
        *,
        restore_rng: bool = False,
    ) -> Checkpoint | None:
        """Loads checkpoint ``save_path`` (a prefix) into the Graph; returns the loaded Checkpoint.

        RNG state is restored only with ``restore_rng=True`` (when resuming training). Afterwards
        this saver continues the checkpoint list of the state file beside ``save_path``.

        Raises:
            ValueError: ``save_path`` is None.
            CheckpointNotFoundError: no checkpoint at ``save_path``.
            CorruptCheckpointError: the checkpoint is truncated or corrupt.
            KeyError: the Graph's variables are missing from the checkpoint or have other shapes.
        """
        if save_path is None:
            raise ValueError(
                "Can't load save_path when it is None. Pass te.train.latest_checkpoint(model_dir)."
            )
        graph = _checkpointable(graph_or_session)
        prefix = checkpoint_prefix(save_path)
        if not checkpoint_exists(prefix):
            raise CheckpointNotFoundError(
                f"The passed save_path is not a valid checkpoint: {prefix}. Pass a checkpoint prefix such as "
                "te.train.latest_checkpoint(model_dir), not a model_dir."
            )
        if not self._tensors(graph):
            if self.allow_empty:
                return None
            raise ValueError(
                "No variables to restore. Create variables in model_fn, or pass allow_empty=True."
            )
        if is_sharded_checkpoint(prefix):
            checkpoint = read_sharded_checkpoint(prefix)
        else:
            checkpoint = read_checkpoint_file(prefix)
        self._load(graph, checkpoint.tensors)
        if restore_rng and checkpoint.rng_state is not None:
            restore_rng_state(checkpoint.rng_state)
        self._adopt(os.path.dirname(prefix) or ".", None)
        return checkpoint

    def _load(self, graph: Any, tensors: dict[str, torch.Tensor]) -> None:
        if self.var_list is None:
            graph.restore_tensors(tensors)
            return
        targets = self._tensors(graph)
        missing = sorted(name for name in targets if name not in tensors)
        if missing:
            raise KeyError(f"Checkpoint is missing variables of this Saver's var_list: {missing}.")
        if isinstance(self.var_list, Mapping):
            mismatched = [
                f"{name}: checkpoint {tuple(tensors[name].shape)} vs model {tuple(target.shape)}"
                for name, target in targets.items()
                if tuple(tensors[name].shape) != tuple(target.shape)
            ]
            if mismatched:
                raise KeyError(f"Checkpoint variables have other shapes than the model's: {mismatched}.")
            with torch.no_grad():
                for name, target in targets.items():
                    target.copy_(tensors[name])
            return
        # Names: everything else keeps its current value; restore_tensors checks shapes and slots.
        merged = graph.checkpoint_tensors()
        merged.update({name: tensors[name] for name in targets})
        graph.restore_tensors(merged)
