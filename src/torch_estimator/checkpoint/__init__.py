"""The on-disk checkpoint format in one place: save (atomic), restore, latest, list, state file, lock.

A model_dir holds ``checkpoint`` (TF's text state file), and per saved step
``model.ckpt-N.safetensors`` (tensors) + ``model.ckpt-N.json`` (index, checksum, non-tensor state).
"""

from torch_estimator.checkpoint.errors import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    ModelDirLockedError,
)
from torch_estimator.checkpoint.format import (
    FORMAT_VERSION,
    Checkpoint,
    checkpoint_files,
    remove_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)
from torch_estimator.checkpoint.lock import ModelDirLock
from torch_estimator.checkpoint.reader import (
    checkpoint_exists,
    get_checkpoint_mtimes,
    global_step_of,
    latest_checkpoint,
    list_variables,
    load_checkpoint,
    load_variable,
)
from torch_estimator.checkpoint.rng import RngState, capture_rng_state, restore_rng_state
from torch_estimator.checkpoint.saver import Saver
from torch_estimator.checkpoint.state_file import (
    STATE_FILENAME,
    CheckpointState,
    get_checkpoint_state,
    write_checkpoint_state,
)

__all__ = [
    "FORMAT_VERSION",
    "STATE_FILENAME",
    "Checkpoint",
    "CheckpointNotFoundError",
    "CheckpointState",
    "CorruptCheckpointError",
    "ModelDirLock",
    "ModelDirLockedError",
    "RngState",
    "Saver",
    "capture_rng_state",
    "checkpoint_exists",
    "checkpoint_files",
    "get_checkpoint_mtimes",
    "get_checkpoint_state",
    "global_step_of",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "remove_checkpoint",
    "restore_rng_state",
    "verify_checkpoint",
    "write_checkpoint",
    "write_checkpoint_state",
]
