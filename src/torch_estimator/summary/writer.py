"""TensorBoard event files: one ``FileWriter`` per directory, shared by every hook that writes there."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from torch_estimator.summary.protos import scalar_values, summary_values, text_value

__all__ = ["FileWriter", "clear_writers", "writer_for"]

logger = logging.getLogger("torch_estimator")


class FileWriter:
    """Writes summaries to ``<logdir>/events.out.tfevents.*``, readable by TensorBoard.

    Built on tensorboard's own ``EventFileWriter`` (records are queued and written by a background
    thread). Values may be tensors: they are converted here, when written, never per step.
    Prefer ``writer_for(logdir)``, which shares one writer per directory as TF's
    ``FileWriterCache`` did.

    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as logdir:
    ...     writer = FileWriter(logdir)
    ...     writer.write_scalars(1, {"loss": torch.tensor(0.5)})
    ...     writer.close()
    ...     [name.startswith("events.out.tfevents.") for name in os.listdir(logdir)]
    [True]
    """

    def __init__(
        self, logdir: str, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = ""
    ) -> None:
        self.logdir = str(logdir)
        self._writer = EventFileWriter(
            self.logdir, max_queue_size=max_queue, flush_secs=flush_secs, filename_suffix=filename_suffix
        )
        self.closed = False

    @property
    def file_name(self) -> str:
        """The path of the event file this writer appends to."""
        return self._writer._file_name  # tensorboard keeps it private; it is the only way to know it.

    def get_logdir(self) -> str:
        """The directory this writer writes to (TF's name)."""
        return self.logdir

    def add_event(self, event: event_pb2.Event) -> None:
        """Queues one ``Event`` proto."""
        self._writer.add_event(event)

    def add_summary(self, values: list[summary_pb2.Summary.Value], step: int) -> None:
        """Writes ``Summary.Value`` protos as one event at ``step`` (nothing if the list is empty)."""
        if values:
            summary = summary_pb2.Summary(value=values)
            self.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Writes ``tag -> number or 0-d tensor`` at ``step`` as ``simple_value`` summaries."""
        self.add_summary(scalar_values(scalars), step)

    def write_summaries(self, step: int, summaries: Mapping[str, tuple[str, Any]]) -> None:
        """Writes ``tag -> (kind, value)`` as recorded by ``te.summary.*`` (see ``Graph.summaries``)."""
        self.add_summary(summary_values(summaries), step)

    def write_text(self, step: int, tag: str, text: Any) -> None:
        """Writes a text summary (a str, or a list/array of them) at ``step``."""
        self.add_summary([text_value(tag, text)], step)

    def write_session_start(self, step: int) -> None:
        """Writes a ``SessionLog.START`` at ``step``; TensorBoard then drops older events past ``step``."""
        session_log = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), session_log=session_log))

    def flush(self) -> None:
        """Blocks until every queued event is written to the file."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and stops the background thread; the writer cannot be used afterwards."""
        if not self.closed:
            self.closed = True
            self._writer.close()


_WRITERS: dict[str, FileWriter] = {}
_LOCK = threading.Lock()
_ATEXIT_REGISTERED = False


def writer_for(logdir: str) -> FileWriter:
    """The shared ``FileWriter`` of ``logdir``, created on first use (TF's ``FileWriterCache.get``).

    A writer whose event file has disappeared (the directory was removed) is replaced by a new one.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as logdir:
    ...     same = writer_for(logdir) is writer_for(logdir)
    ...     clear_writers()
    >>> same
    True
    """
    global _ATEXIT_REGISTERED
    key = os.path.abspath(os.fspath(logdir))
    with _LOCK:
        writer = _WRITERS.get(key)
        if writer is not None and (writer.closed or not os.path.exists(writer.file_name)):
            _close_quietly(writer)
            writer = None
        if writer is None:
            writer = FileWriter(key)
            _WRITERS[key] = writer
            if not _ATEXIT_REGISTERED:
                # Queued events of a still-open writer would be lost at exit without this.
                atexit.register(clear_writers)
                _ATEXIT_REGISTERED = True
        return writer


def clear_writers() -> None:
    """Flushes and closes every shared writer (TF's ``FileWriterCache.clear``).

    >>> clear_writers()
    """
    with _LOCK:
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for writer in writers:
        _close_quietly(writer)


def _close_quietly(writer: FileWriter) -> None:
    try:
        writer.close()
    except Exception as error:  # A writer whose directory vanished fails to flush; nothing is left to save.
        logger.debug("Closing the event writer of %s failed: %s", writer.logdir, error)
