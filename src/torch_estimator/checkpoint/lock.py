"""An exclusive lock on a model_dir for the duration of training."""

from __future__ import annotations

import contextlib
import os
import socket
from types import TracebackType

from torch_estimator.checkpoint.errors import ModelDirLockedError

try:
    import fcntl
except ImportError:  # Not on Windows: the lock becomes advisory bookkeeping only.
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILENAME", "ModelDirLock"]

LOCK_FILENAME = ".torch_estimator.lock"


class ModelDirLock:
    """Holds ``<model_dir>/.torch_estimator.lock`` (``flock``, exclusive, non-blocking) while training.

    A second holder, in another process or another Estimator of this process, gets a
    ``ModelDirLockedError`` at once. The kernel drops the lock when the holder exits or dies, so a
    killed trainer never leaves the model_dir locked. The lock file stays; its content (the holder's
    pid and host) is only for the error message.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as model_dir:
    ...     with ModelDirLock(model_dir):
    ...         try:
    ...             ModelDirLock(model_dir).acquire()
    ...         except ModelDirLockedError as err:
    ...             print("another Estimator is training into this model_dir" in str(err))
    True
    """

    def __init__(self, model_dir: str | os.PathLike[str]) -> None:
        self.model_dir = os.fspath(model_dir)
        self.path = os.path.join(self.model_dir, LOCK_FILENAME)
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read().strip()
        except OSError:
            text = ""
        return text or "unknown pid"

    def acquire(self) -> ModelDirLock:
        """Takes the lock; creates model_dir if needed.

        Raises:
            ModelDirLockedError: another Estimator holds it.
            RuntimeError: this object already holds it.
        """
        if self._fd is not None:
            raise RuntimeError(f"ModelDirLock({self.model_dir!r}) is already held by this object.")
        os.makedirs(self.model_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise ModelDirLockedError(
                    f"Cannot train into model_dir {self.model_dir}: another Estimator is training into this "
                    f"model_dir (lock file {self.path} is held by {self._holder()}). Two trainers writing "
                    "one model_dir would overwrite each other's checkpoints. Wait for the other training to "
                    "finish (or stop it), or give this Estimator another model_dir."
                ) from err
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        except OSError:
            pass  # The content only improves the message a rival gets.
        self._fd = fd
        return self

    def release(self) -> None:
        """Drops the lock (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> ModelDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # An Estimator dropped without leaving its `with` block must not keep the model_dir locked.
        with contextlib.suppress(Exception):
            self.release()
