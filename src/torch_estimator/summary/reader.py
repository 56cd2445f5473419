"""Reading event files back: TF's ``summary_iterator`` and the scalar summaries by step."""

from __future__ import annotations

import collections
import glob
import logging
import os
from collections.abc import Iterable, Iterator

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2

# tensorboard's pure-Python TFRecord reader (used by TensorBoard itself when TensorFlow is absent).
from tensorboard.compat.tensorflow_stub import errors as record_errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

__all__ = ["EVENT_FILE_PATTERN", "read_eval_metrics", "read_scalar_summaries", "summary_iterator"]

logger = logging.getLogger("torch_estimator")

EVENT_FILE_PATTERN = "events.out.tfevents.*"


def summary_iterator(path: str) -> Iterator[event_pb2.Event]:
    """Every ``Event`` of one event file, in order.

    A truncated or corrupted record ends the file: the events before it are yielded, then a warning
    is logged (TF raised ``DataLossError`` there; every reader of ours skips the rest of the file).

    >>> import tempfile
    >>> from torch_estimator.summary.writer import FileWriter
    >>> with tempfile.TemporaryDirectory() as logdir:
    ...     writer = FileWriter(logdir)
    ...     writer.write_scalars(3, {"auc": 0.75})
    ...     writer.close()
    ...     events = list(summary_iterator(writer.file_name))
    >>> [(event.step, [value.tag for value in event.summary.value]) for event in events[1:]]
    [(3, ['auc'])]
    """
    reader = PyRecordReader_New(os.fspath(path), 0, None, None)
    while True:
        try:
            reader.GetNext()
            event = event_pb2.Event.FromString(reader.record())
        except record_errors.OutOfRangeError:
            return
        except (record_errors.DataLossError, DecodeError) as error:
            logger.warning(
                "Ignoring data corruption error encountered while reading file: %s; the rest of the file is "
                "skipped. Original error: %s",
                path,
                error,
            )
            return
        yield event


def read_scalar_summaries(paths: Iterable[str]) -> collections.OrderedDict[int, dict[str, float]]:
    """``step -> {tag: value}`` of every scalar summary in the event files ``paths``, sorted by step.

    Events at the same step are merged, later files and events winning; a corrupted file tail is
    skipped with a warning.

    >>> read_scalar_summaries([])
    OrderedDict()
    """
    metrics: dict[int, dict[str, float]] = collections.defaultdict(dict)
    for path in paths:
        for event in summary_iterator(path):
            if not event.HasField("summary"):
                continue
            values = {
                value.tag: value.simple_value
                for value in event.summary.value
                if value.HasField("simple_value")
            }
            if values:
                metrics[event.step].update(values)
    return collections.OrderedDict(sorted(metrics.items()))


def read_eval_metrics(eval_dir: str) -> collections.OrderedDict[int, dict[str, float]]:
    """``step -> {tag: value}`` of every scalar summary in ``eval_dir``'s event files, sorted by step.

    Events at the same step (from several files or evaluations) are merged, later ones winning.
    A missing directory gives an empty dict; a corrupted file tail is skipped with a warning.

    >>> read_eval_metrics("/nonexistent/eval")
    OrderedDict()
    """
    if not os.path.isdir(eval_dir):
        return collections.OrderedDict()
    pattern = os.path.join(glob.escape(os.fspath(eval_dir)), EVENT_FILE_PATTERN)
    return read_scalar_summaries(sorted(glob.glob(pattern)))
