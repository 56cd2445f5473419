"""Named errors of the checkpoint layer."""

from __future__ import annotations

__all__ = ["CheckpointNotFoundError", "CorruptCheckpointError", "ModelDirLockedError"]


class CheckpointNotFoundError(ValueError):
    """No checkpoint at the given path (TF: "The passed save_path is not a valid checkpoint").

    ``reason`` is the short cause (which file is missing), for log lines.

    >>> CheckpointNotFoundError("... not a valid checkpoint: d/m", "d/m.json is missing").reason
    'd/m.json is missing'
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class CorruptCheckpointError(ValueError):
    """A checkpoint's files exist but are truncated, mismatched or unreadable.

    ``reason`` is the short cause, for log lines.

    >>> issubclass(CorruptCheckpointError, ValueError)
    True
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class ModelDirLockedError(RuntimeError):
    """Another Estimator (in this or another process) is training into the same model_dir.

    >>> issubclass(ModelDirLockedError, RuntimeError)
    True
    """
