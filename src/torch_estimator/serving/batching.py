"""Server-side batching: concurrent calls of one signature merged into one call, then split back.

As TF Serving's batch scheduler: a batch is dispatched when it holds ``max_batch_size`` rows or when
its oldest request has waited ``batch_timeout_micros``; a request larger than ``max_batch_size`` is
refused; a full queue refuses new requests (UNAVAILABLE). Requests are merged only when their
per-example shapes agree (they always do for fixed-shape signatures).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping

import torch

from torch_estimator.serving.config import BatchingOptions
from torch_estimator.serving.errors import InvalidArgumentError, UnavailableError

__all__ = ["Batcher", "DoneCallback"]

Tensors = Mapping[str, torch.Tensor]
DoneCallback = Callable[[dict[str, torch.Tensor] | None, BaseException | None], None]


@dataclasses.dataclass
class _Task:
    tensors: Tensors
    rows: int
    key: tuple[object, ...]
    done: DoneCallback
    enqueued: float


class Batcher:
    """Merges concurrent ``submit`` calls into calls of ``function`` of at most ``max_batch_size`` rows.

    ``function`` takes and returns dicts of tensors whose dimension 0 is the batch. Each ``submit``
    gets its own rows of every output through ``done(outputs, None)``, or ``done(None, error)``.

    >>> import threading
    >>> batcher = Batcher(lambda t: {"y": t["x"] * 2}, BatchingOptions(max_batch_size=4))
    >>> got = threading.Event()
    >>> batcher.submit({"x": torch.tensor([1.0, 2.0])}, lambda out, err: (print(out["y"]), got.set()))
    >>> _ = got.wait(5)
    tensor([2., 4.])
    >>> batcher.close()
    """

    def __init__(
        self,
        function: Callable[[Tensors], Mapping[str, torch.Tensor]],
        options: BatchingOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function = function
        self._options = options
        self._clock = clock
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._condition = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []

    def submit(self, tensors: Tensors, done: DoneCallback) -> None:
        """Queues one request; ``done`` is called from a batching thread when its batch has run.

        Raises:
            InvalidArgumentError: the request has more rows than ``max_batch_size``.
            UnavailableError: the queue is full, or the batcher is closed.
        """
        first = next(iter(tensors.values()))
        rows = int(first.shape[0]) if first.dim() else 1
        if rows > self._options.max_batch_size:
            raise InvalidArgumentError(
                f"Task size {rows} is larger than maximum batch size {self._options.max_batch_size}. "
                "Send fewer instances per request, or raise --max_batch_size."
            )
        key = tuple((name, tuple(tensor.shape[1:]), tensor.dtype) for name, tensor in tensors.items())
        with self._condition:
            if self._closed:
                raise UnavailableError("The batcher is closed (its model version was unloaded).")
            limit = self._options.max_enqueued_batches * self._options.max_batch_size
            if self._queued_rows + rows > limit:
                raise UnavailableError(
                    "The batch scheduling queue to which this task was submitted is full "
                    f"({self._queued_rows} rows queued)."
                )
            self._queue.append(_Task(tensors, rows, key, done, self._clock()))
            self._queued_rows += rows
            if len(self._threads) < self._options.num_batch_threads:
                thread = threading.Thread(target=self._work, name="te-serving-batcher", daemon=True)
                self._threads.append(thread)
                thread.start()
            # Wake a batching thread only when it has something new to do: start the timeout of a first
            # request, or send a batch that is now full. Waking it on every request would make it
            # fight the event loop for the GIL once per request.
            if len(self._queue) == 1 or self._queued_rows >= self._options.max_batch_size:
                self._condition.notify()

    def close(self) -> None:
        """Stops the threads once the queued requests have run."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)

    def _next_batch(self) -> list[_Task] | None:
        """Waits for a full batch or the oldest request's deadline; None when closed and drained."""
        with self._condition:
            while True:
                if not self._queue:
                    if self._closed:
                        return None
                    self._condition.wait()
                    continue
                first = self._queue[0]
                ready = sum(task.rows for task in self._queue if task.key == first.key)
                remaining = first.enqueued + self._options.batch_timeout_micros / 1e6 - self._clock()
                if ready >= self._options.max_batch_size or remaining <= 0 or self._closed:
                    break
                self._condition.wait(remaining)
            batch, rows, kept = [], 0, collections.deque()
            for task in self._queue:
                if task.key == first.key and rows + task.rows <= self._options.max_batch_size:
                    batch.append(task)
                    rows += task.rows
                else:
                    kept.append(task)
            self._queue = kept
            self._queued_rows -= rows
            return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Task]) -> None:
        total = sum(task.rows for task in batch)
        try:
            if len(batch) == 1:
                outputs = dict(self._function(batch[0].tensors))
            else:
                names = batch[0].tensors
                outputs = dict(
                    self._function({name: torch.cat([t.tensors[name] for t in batch]) for name in names})
                )
                for name, tensor in outputs.items():
                    if tensor.dim() == 0 or tensor.shape[0] != total:
                        raise InvalidArgumentError(
                            f"Batching needs every output to have the batch as dimension 0; output '{name}' "
                            f"has shape {list(tensor.shape)} for {total} rows. Serve this model without "
                            "--enable_batching."
                        )
        except Exception as err:  # handed to every waiting request; the thread keeps serving
            for task in batch:
                task.done(None, err)
            return
        if len(batch) == 1:
            batch[0].done(outputs, None)
            return
        start = 0
        for task in batch:
            task.done({name: tensor[start : start + task.rows] for name, tensor in outputs.items()}, None)
            start += task.rows
