"""Warm starting: WarmStartSettings and VocabInfo, applied when model_dir has no checkpoint.

A warm start copies variable values from another model's checkpoint (or export) into a freshly
built Graph, after model_fn created the variables and before the first step, overriding their
initial values (TF's ``tf.compat.v1.train.warm_start``). It runs only when the call restores no
checkpoint: once model_dir has one, that checkpoint always wins. ``global_step`` is never warm
started.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from torch_estimator.checkpoint.format import checkpoint_files, checkpoint_prefix, verify_checkpoint
from torch_estimator.checkpoint.reader import latest_checkpoint, list_variables
from torch_estimator.saved_model.format import VARIABLES_DIRECTORY, VARIABLES_FILENAME

__all__ = ["VocabInfo", "WarmStartSettings", "warm_start_checkpoint"]

logger = logging.getLogger("torch_estimator")

_GLOBAL_STEP = "global_step"
_TF_SAVED_MODEL_VARIABLES = os.path.join(VARIABLES_DIRECTORY, "variables")


@dataclasses.dataclass(frozen=True)
class VocabInfo:
    """How to warm start a variable whose rows (or columns) follow a vocabulary that changed.

    Row ``i`` of the new variable (``axis=0``; columns with ``axis=1``) belongs to line ``i`` of
    ``new_vocab``. If that word is among the first ``old_vocab_size`` lines of ``old_vocab`` (-1 =
    all), the row is copied from the old variable's row of that line; other rows, and the
    ``num_oov_buckets`` rows after the vocabulary, get ``backup_initializer`` (zeros by default).

    >>> info = VocabInfo("new_vocab.txt", new_vocab_size=3, num_oov_buckets=1, old_vocab="old_vocab.txt")
    >>> info.old_vocab_size, info.axis
    (-1, 0)
    """

    new_vocab: str
    """Path of the new vocabulary file, one word per line."""
    new_vocab_size: int
    """How many lines of ``new_vocab`` the variable has rows for."""
    num_oov_buckets: int
    """Rows after the vocabulary (out-of-vocabulary buckets); they get ``backup_initializer``."""
    old_vocab: str
    """Path of the vocabulary file the checkpointed variable was trained with."""
    old_vocab_size: int = -1
    """How many lines of ``old_vocab`` to use; -1 uses every line."""
    backup_initializer: Callable[..., torch.Tensor] | None = None
    """``initializer(shape, dtype=...)`` for rows not found in the old vocabulary; None = zeros."""
    axis: int = 0
    """0 remaps rows, 1 remaps columns."""

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise ValueError(
                "The only supported values for the axis argument are 0 and 1.  Provided axis: "
                f"{self.axis}. Use 0 to remap rows, 1 to remap columns."
            )
        if not (self.new_vocab and self.new_vocab_size and self.old_vocab):
            raise ValueError(
                "Invalid args: Must provide all of [new_vocab, new_vocab_size, old_vocab]. Received: "
                f"new_vocab={self.new_vocab!r}, new_vocab_size={self.new_vocab_size!r}, "
                f"old_vocab={self.old_vocab!r}."
            )
        if self.num_oov_buckets < 0:
            raise ValueError(f"num_oov_buckets must be >= 0. Received: {self.num_oov_buckets}.")

    def replace(self, **changes: Any) -> VocabInfo:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Which variables to copy from which checkpoint when a model starts without one.

    ``vars_to_warm_start``: a regex string selects the **trainable** variables whose names match
    it from the start (``re.match``; the default ``'.*'`` is every trainable variable); a list of
    strings selects, for each, every variable (optimizer slots included) matching it; a list of
    variables selects those; None selects only the variables named in ``var_name_to_vocab_info``.
    ``var_name_to_prev_var_name`` maps a variable's name to its name in the old checkpoint.
    ``ckpt_to_initialize_from`` is a checkpoint prefix, a model_dir (its latest checkpoint) or an
    export directory (its variables).

    >>> settings = WarmStartSettings("/old/model_dir", vars_to_warm_start="dnn/.*")
    >>> settings.var_name_to_prev_var_name
    {}
    """

    ckpt_to_initialize_from: str
    """A checkpoint prefix, a model_dir, or an export directory."""
    vars_to_warm_start: str | Sequence[Any] | None = ".*"
    """A regex over trainable variable names, a list of regexes / variables, or None."""
    var_name_to_vocab_info: Mapping[str, VocabInfo] = dataclasses.field(default_factory=dict)
    """Variable name -> VocabInfo for variables whose rows follow a vocabulary."""
    var_name_to_prev_var_name: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Variable name -> its name in the old checkpoint."""

    def __post_init__(self) -> None:
        if not self.ckpt_to_initialize_from:
            raise ValueError(
                "`ckpt_to_initialize_from` MUST be set in WarmStartSettings. Received: "
                f"{self.ckpt_to_initialize_from!r}. Pass a checkpoint path, a model_dir or an export dir."
            )
        path = self.ckpt_to_initialize_from
        if isinstance(path, (bytes, os.PathLike)):
            object.__setattr__(self, "ckpt_to_initialize_from", os.fsdecode(path))
        elif not isinstance(path, str):
            raise TypeError(
                f"ckpt_to_initialize_from must be a path (str). Received: {type(path).__name__} {path!r}."
            )
        # None means empty, as in TF's namedtuple.
        object.__setattr__(self, "var_name_to_vocab_info", dict(self.var_name_to_vocab_info or {}))
        object.__setattr__(self, "var_name_to_prev_var_name", dict(self.var_name_to_prev_var_name or {}))
        _check_selection_type(self.vars_to_warm_start)
        for name, info in self.var_name_to_vocab_info.items():
            if not isinstance(info, VocabInfo):
                raise TypeError(
                    f"var_name_to_vocab_info[{name!r}] must be a VocabInfo. Received: {type(info).__name__}."
                )

    def replace(self, **changes: Any) -> WarmStartSettings:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)


def _check_selection_type(selection: Any) -> None:
    if selection is None or isinstance(selection, str):
        return
    if not isinstance(selection, (list, tuple)):
        raise ValueError(
            "`vars_to_warm_start must be a `list` or `str`.  Given type is "
            f"{type(selection).__name__}. Pass a regex such as '.*' or a list of names."
        )
    strings = all(isinstance(item, str) for item in selection)
    tensors = all(isinstance(item, torch.Tensor) for item in selection)
    if not (strings or tensors):
        raise ValueError(
            "If `vars_to_warm_start` is a list, it must be all `Variable` or all `str`.  Given types are "
            f"{[type(item).__name__ for item in selection]}."
        )


def warm_start_settings_from(warm_start_from: Any) -> WarmStartSettings | None:
    """The Estimator's ``warm_start_from`` as settings (TF's rule), or None.

    A path whose ``variables/`` holds an export's variables warm starts from the export; any other
    path from a checkpoint (a model_dir means its latest checkpoint) with every trainable variable.

    Raises:
        ValueError: neither a path nor a WarmStartSettings.

    >>> warm_start_settings_from("/old/model_dir").vars_to_warm_start
    '.*'
    """
    if warm_start_from is None:
        return None
    if isinstance(warm_start_from, (str, bytes, os.PathLike)):
        path = os.fsdecode(warm_start_from)
        if os.path.isfile(os.path.join(path, VARIABLES_DIRECTORY, VARIABLES_FILENAME)):
            logger.info("Warm-starting from a SavedModel")
            return WarmStartSettings(ckpt_to_initialize_from=os.path.join(path, _TF_SAVED_MODEL_VARIABLES))
        return WarmStartSettings(ckpt_to_initialize_from=path)
    if isinstance(warm_start_from, WarmStartSettings):
        return warm_start_from
    raise ValueError(
        "warm_start_from must be a string or a WarmStartSettings, instead got "
        f"{type(warm_start_from)}. Pass a model_dir, a checkpoint path, an export dir or "
        "te.WarmStartSettings."
    )


# -- where the old values come from ------------------------------------------------------------


def warm_start_checkpoint(settings: WarmStartSettings) -> str | None:
    """The checkpoint prefix ``settings`` warm start from (a directory: its latest checkpoint), or None
    when the source is an export's variables, which a checkpoint restore cannot read.

    An export with no checkpoint in model_dir restores this checkpoint directly (TF's rule).

    Raises:
        ValueError: a directory without checkpoints, or a path that is no checkpoint.
    """
    path = settings.ckpt_to_initialize_from
    if _export_variables_file(path) is not None:
        return None
    return _open_source(path).path


@dataclasses.dataclass(frozen=True)
class _Source:
    """A safetensors file of old values and the variable names it holds."""

    path: str
    tensor_file: str
    names: frozenset[str]

    def read(self, name: str) -> torch.Tensor:
        with safe_open(self.tensor_file, framework="pt") as f:
            return f.get_tensor(name)


def _open_source(path: str) -> _Source:
    """The old values at ``path``: an export, a model_dir's latest checkpoint, or a checkpoint prefix."""
    exported = _export_variables_file(path)
    if exported is not None:
        with safe_open(exported, framework="pt") as f:
            names = frozenset(f.keys())
        return _Source(path, exported, names)
    prefix = path
    if os.path.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(
                f"Couldn't find 'checkpoint' file or checkpoints in given directory {path} to warm start "
                "from. Train that model first, or pass a checkpoint prefix such as "
                "<model_dir>/model.ckpt-100."
            )
        prefix = found
    prefix = checkpoint_prefix(prefix)
    verify_checkpoint(prefix)
    names = frozenset(name for name, _, _ in list_variables(prefix))
    return _Source(prefix, checkpoint_files(prefix)[0], names)


def _export_variables_file(path: str) -> str | None:
    candidates = [
        os.path.join(path, VARIABLES_DIRECTORY, VARIABLES_FILENAME),  # the export directory
        os.path.join(path, VARIABLES_FILENAME),  # its variables/ directory
        path + ".safetensors" if path.endswith(_TF_SAVED_MODEL_VARIABLES) else None,  # TF's variables prefix
        path if path.endswith(os.sep + VARIABLES_FILENAME) else None,
    ]
    return next((c for c in candidates if c is not None and os.path.isfile(c)), None)


# -- what gets warm started ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Target:
    """One variable (or optimizer slot) that may be warm started."""

    name: str
    value: torch.Tensor
    trainable: bool
    # Slots are installed through their optimizer's load_state_tensors, not written in place.
    owner: Any = None


def _targets(graph: nn.Module) -> dict[str, _Target]:
    """Every variable and optimizer slot of ``graph`` by name, global_step excluded."""
    saved = graph.state_dict(keep_vars=True)  # persistent buffers only, as checkpoints hold
    targets: dict[str, _Target] = {}
    for name, parameter in graph.named_parameters():
        targets[name] = _Target(name, parameter, parameter.requires_grad)
    for name, buffer in graph.named_buffers():
        if name != _GLOBAL_STEP and name in saved:
            targets[name] = _Target(name, buffer, False)
    for owner in getattr(graph, "objects", {}).values():
        targets.update({target.name: target for target in _slot_targets(owner, graph)})
    return targets


def _slot_targets(owner: Any, graph: nn.Module) -> Iterator[_Target]:
    # The slots a te.train optimizer will create: known by name before its first step.
    optimizer = getattr(owner, "optimizer", None)
    variable_names = getattr(owner, "variable_names", None)
    if optimizer is None or not isinstance(variable_names, dict) or not hasattr(owner, "load_state_tensors"):
        return
    parameters = dict(graph.named_parameters())
    for key in getattr(optimizer, "slot_names", None) or {}:
        for variable in variable_names.values():
            if variable in parameters:
                yield _Target(owner.slot_name(variable, key), parameters[variable], False, owner)
    for key in getattr(optimizer, "non_slot_names", ()):
        yield _Target(owner.non_slot_name(key), torch.zeros(()), False, owner)


def _select(targets: Mapping[str, _Target], selection: Any) -> list[_Target]:
    """TF's selection: a regex over trainable variables, a list of regexes over all, or variables."""
    if selection is None or isinstance(selection, str):
        pattern = re.compile(selection or "")
        return [t for t in targets.values() if t.trainable and t.owner is None and pattern.match(t.name)]
    if all(isinstance(item, str) for item in selection):
        chosen: dict[str, _Target] = {}
        for regex in selection:
            pattern = re.compile(regex)
            chosen.update({name: t for name, t in targets.items() if pattern.match(name)})
        return list(chosen.values())
    by_identity = {id(t.value): t for t in targets.values() if t.owner is None}
    missing = [tuple(item.shape) for item in selection if id(item) not in by_identity]
    if missing:
        raise ValueError(
            f"vars_to_warm_start lists tensors that are not variables of this model (shapes {missing}). "
            "List variable names (regexes) instead."
        )
    return [by_identity[id(item)] for item in selection]


# -- applying ----------------------------------------------------------------------------------


def warm_start(graph: nn.Module, settings: WarmStartSettings) -> list[str]:
    """Copies the selected variables of ``graph`` from ``settings.ckpt_to_initialize_from``.

    Returns the names of the variables warm started.

    Raises:
        ValueError: a selected variable is missing from the checkpoint or has another shape, or an
            entry of ``var_name_to_vocab_info`` / ``var_name_to_prev_var_name`` names no selected
            variable.
    """
    source = _open_source(settings.ckpt_to_initialize_from)
    logger.info("Warm-starting from: %s", source.path)
    selected = _select(_targets(graph), settings.vars_to_warm_start)
    prev_names, vocab_infos = settings.var_name_to_prev_var_name, settings.var_name_to_vocab_info
    started: list[str] = []
    slots: dict[int, tuple[Any, dict[str, torch.Tensor]]] = {}
    for target in selected:
        prev_name = prev_names.get(target.name) or target.name
        info = vocab_infos.get(target.name)
        if info is None and not settings.vars_to_warm_start:
            continue  # vars_to_warm_start=None: only variables with a vocabulary
        old = _read(source, target.name, prev_name)
        if info is not None:
            value = remap_vocab_rows(target.name, old, target.value, info)
        else:
            value = _check_shape(target.name, old, target.value, prev_name)
        if target.owner is not None:
            slots.setdefault(id(target.owner), (target.owner, {}))[1][target.name] = value
        else:
            with torch.no_grad():
                target.value.copy_(value.to(device=target.value.device, dtype=target.value.dtype))
        started.append(target.name)
    for owner, tensors in slots.values():
        owner.load_state_tensors(tensors)
    _check_all_used(prev_names, vocab_infos, [t.name for t in selected])
    logger.info("Warm-started %d variables.", len(started))
    return started


def _read(source: _Source, name: str, prev_name: str) -> torch.Tensor:
    if prev_name not in source.names:
        shown = sorted(source.names)
        listed = ", ".join(shown[:20]) + (", ..." if len(shown) > 20 else "")
        raise ValueError(
            f"Tensor {prev_name} is not found in {source.path} checkpoint (needed to warm start variable "
            f"{name}). It holds: {listed}. Map the name with var_name_to_prev_var_name, or narrow "
            "vars_to_warm_start."
        )
    return source.read(prev_name)


def _check_shape(name: str, old: torch.Tensor, current: torch.Tensor, prev_name: str) -> torch.Tensor:
    if tuple(old.shape) != tuple(current.shape):
        raise ValueError(
            f"Shape of variable {name} ({tuple(current.shape)}) doesn't match with shape of tensor "
            f"{prev_name} ({tuple(old.shape)}) from checkpoint reader. Warm start only variables of the "
            "same shape, or give a VocabInfo for a vocabulary-sized variable."
        )
    return old


def _check_all_used(prev_names: Mapping[str, str], vocab_infos: Mapping[str, Any], viable: list[str]) -> None:
    for field, given in (("var_name_to_prev_var_name", prev_names), ("var_name_to_vocab_info", vocab_infos)):
        unused = sorted(set(given) - set(viable))
        if unused:
            raise ValueError(
                f"You provided the following variables in {field} that were not used: {unused}.  Perhaps "
                f"you misspelled them?  Here is the list of viable variable names: {sorted(viable)}"
            )


def remap_vocab_rows(name: str, old: torch.Tensor, current: torch.Tensor, info: VocabInfo) -> torch.Tensor:
    """The new value of ``current``: rows (``info.axis``) of words also in the old vocabulary copied.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "old").write_text("a\\nb\\nc\\n")
    ...     _ = pathlib.Path(d, "new").write_text("c\\nx\\na\\n")
    ...     info = VocabInfo(os.path.join(d, "new"), 3, 1, os.path.join(d, "old"))
    ...     old = torch.tensor([[1.0], [2.0], [3.0]])
    ...     remap_vocab_rows("emb", old, torch.empty(4, 1), info).flatten().tolist()
    [3.0, 0.0, 1.0, 0.0]
    """
    axis = info.axis
    if current.dim() <= axis:
        raise ValueError(
            f"VocabInfo(axis={axis}) for variable {name} needs a variable with at least {axis + 1} "
            "dimensions. "
            f"Received shape {tuple(current.shape)}."
        )
    new_words = _read_vocab(info.new_vocab, info.new_vocab_size, "new_vocab")
    old_words = _read_vocab(info.old_vocab, info.old_vocab_size, "old_vocab")
    expected = list(current.shape)
    expected[axis] = info.new_vocab_size + info.num_oov_buckets
    other = [size for dim, size in enumerate(old.shape) if dim != axis]
    if (
        tuple(current.shape) != tuple(expected)
        or old.dim() != current.dim()
        or other != [size for dim, size in enumerate(current.shape) if dim != axis]
    ):
        raise ValueError(
            f"Shape of variable {name} ({tuple(current.shape)}) doesn't match its VocabInfo and the "
            "checkpoint "
            f"tensor ({tuple(old.shape)}): expected {info.new_vocab_size} + {info.num_oov_buckets} OOV "
            f"entries along axis {axis} and the other dimensions of the old tensor."
        )
    if len(old_words) > old.shape[axis]:
        raise ValueError(
            f"old_vocab {info.old_vocab} has {len(old_words)} entries in use but the checkpoint tensor for "
            f"{name} has only {old.shape[axis]} along axis {axis}. Pass old_vocab_size={old.shape[axis]}."
        )
    if info.backup_initializer is None:
        value = torch.zeros(tuple(current.shape), dtype=current.dtype)
    else:
        value = info.backup_initializer(tuple(current.shape), dtype=current.dtype).detach().clone().cpu()
    old_index: dict[str, int] = {}
    for index, word in enumerate(old_words):
        old_index.setdefault(word, index)
    pairs = [(new, old_index[word]) for new, word in enumerate(new_words) if word in old_index]
    if pairs:
        new_rows = torch.tensor([new for new, _ in pairs])
        old_rows = torch.tensor([prev for _, prev in pairs])
        value.index_copy_(axis, new_rows, old.index_select(axis, old_rows).to(value.dtype))
    logger.info(
        "Warm-started %s with vocabulary remapping: %d of %d entries found in the old vocabulary.",
        name,
        len(pairs),
        info.new_vocab_size,
    )
    return value


def _read_vocab(path: str, size: int, field: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            words = [line.rstrip("\r\n") for line in f]
    except OSError as err:
        raise ValueError(f"Could not read the {field} file {path!r}: {err}.") from err
    if size is None or size < 0:
        return words
    if len(words) < size:
        raise ValueError(
            f"{field} file {path} has {len(words)} entries but its vocab size is {size}. Pass a size of at "
            f"most {len(words)}."
        )
    return words[:size]
