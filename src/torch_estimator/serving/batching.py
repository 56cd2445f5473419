"""Server-side batching: concurrent calls of one signature merged into one call, then split back.

As TF Serving's batch scheduler: a batch is dispatched when it holds ``max_batch_size`` rows or when
its oldest request has waited ``batch_timeout_micros``; a request larger than ``max_batch_size`` is
refused; a full queue refuses new requests (UNAVAILABLE); at most ``num_batch_threads`` batches run at
once. Requests are merged only when their per-example shapes agree (they always do for fixed-shape
signatures).

The queue lives on the server's event loop: a request costs an ``asyncio.Future`` and a deque append,
and its wake-up is the future's callback -- no lock, no thread switch per request. A merged call runs
on the event loop itself while merged calls typically take less than ``inline_max_micros`` of CPU (a
thread switch would cost more than it frees), else in one of ``num_batch_threads`` threads.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
from collections.abc import Callable, Mapping

import torch

from torch_estimator.serving.config import BatchingOptions
from torch_estimator.serving.errors import InvalidArgumentError, UnavailableError
from torch_estimator.serving.timing import DEFAULT_INLINE_MAX_MICROS, CallTimer

__all__ = ["Batcher"]

Tensors = Mapping[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]


@dataclasses.dataclass
class _Task:
    tensors: Tensors
    rows: int
    key: tuple[object, ...]
    future: asyncio.Future[Outputs]
    enqueued: float


class Batcher:
    """Merges concurrent ``submit`` calls into calls of ``function`` of at most ``max_batch_size`` rows.

    ``function`` takes and returns dicts of tensors whose dimension 0 is the batch. ``submit`` is called
    on the event loop's thread and returns a future of the request's own rows of every output. ``close``
    may be called from any thread.

    Args:
        function: the (signature) call to batch.
        options: TF Serving's batching parameters.
        inline_max_micros: run merged calls on the event loop while they typically take less CPU time
            than this (0: always in the batching threads).

    >>> import asyncio
    >>> async def main():
    ...     batcher = Batcher(lambda t: {"y": t["x"] * 2}, BatchingOptions(max_batch_size=4))
    ...     outputs = await asyncio.gather(*(batcher.submit({"x": torch.tensor([v])}) for v in (1.0, 2.0)))
    ...     batcher.close()
    ...     return [out["y"] for out in outputs]
    >>> asyncio.run(main())
    [tensor([2.]), tensor([4.])]
    """

    def __init__(
        self,
        function: Callable[[Tensors], Mapping[str, torch.Tensor]],
        options: BatchingOptions,
        *,
        inline_max_micros: int = DEFAULT_INLINE_MAX_MICROS,
    ) -> None:
        self._function = function
        self._options = options
        self._inline_max_seconds = inline_max_micros / 1e6
        self._timeout = options.batch_timeout_micros / 1e6
        self._timer = CallTimer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._ready_rows = 0  # rows of the queued tasks that can join the first one's batch
        self._running = 0  # batches running in the threads
        self._dispatch_soon = False
        self._wake_up: asyncio.TimerHandle | None = None
        self._wake_up_at = 0.0
        self._closed = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, tensors: Tensors) -> asyncio.Future[Outputs]:
        """Queues one request (on the event loop's thread); the future gets its rows of the outputs.

        Raises:
            InvalidArgumentError: the request has more rows than ``max_batch_size``.
            UnavailableError: the queue is full, or the batcher is closed.
        """
        first = next(iter(tensors.values()))
        rows = int(first.shape[0]) if first.dim() else 1
        options = self._options
        if rows > options.max_batch_size:
            raise InvalidArgumentError(
                f"Task size {rows} is larger than maximum batch size {options.max_batch_size}. "
                "Send fewer instances per request, or raise --max_batch_size."
            )
        if self._closed:
            raise UnavailableError("The batcher is closed (its model version was unloaded).")
        if self._queued_rows + rows > options.max_enqueued_batches * options.max_batch_size:
            raise UnavailableError(
                "The batch scheduling queue to which this task was submitted is full "
                f"({self._queued_rows} rows queued)."
            )
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        key = tuple((name, tensor.shape[1:], tensor.dtype) for name, tensor in tensors.items())
        task = _Task(tensors, rows, key, loop.create_future(), loop.time())
        queue = self._queue
        queue.append(task)
        self._queued_rows += rows
        if len(queue) == 1:
            self._ready_rows = rows
            self._wake_up_by(task.enqueued + self._timeout)
        elif key == queue[0].key:
            self._ready_rows += rows
        if self._ready_rows >= options.max_batch_size and not self._dispatch_soon:
            self._dispatch_soon = True
            loop.call_soon(self._dispatch)
        return task.future

    def close(self) -> None:
        """Refuses new requests; the queued ones still run (on the event loop, if it runs)."""
        self._closed = True
        loop = self._loop
        if loop is not None and loop.is_running():
            # The batching threads stop on the loop's thread, which may be handing them a batch now.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._close_on_loop)
                return
        self._shut_executor_down()  # no loop runs: nothing dispatches, nobody awaits the futures

    def _close_on_loop(self) -> None:
        self._dispatch()  # closed: the queued batches run on the loop
        self._shut_executor_down()

    def _shut_executor_down(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)  # a running batch finishes and reports back

    def _wake_up_by(self, when: float) -> None:
        """Makes sure ``_dispatch`` runs at ``when`` at the latest (an earlier wake-up re-arms itself)."""
        if self._wake_up is not None:
            if self._wake_up_at <= when:
                return
            self._wake_up.cancel()
        assert self._loop is not None
        self._wake_up_at = when
        self._wake_up = self._loop.call_at(when, self._woken)

    def _woken(self) -> None:
        self._wake_up = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Runs every batch that is due (full, timed out, or closing) while a batching thread is free."""
        self._dispatch_soon = False
        queue, options = self._queue, self._options
        while queue:
            inline = self._closed or self._timer.typical_seconds < self._inline_max_seconds
            if not inline and self._running >= options.num_batch_threads:
                return  # the running batch dispatches again when it is done
            deadline = queue[0].enqueued + self._timeout
            if self._ready_rows < options.max_batch_size and not self._closed:
                assert self._loop is not None
                if self._loop.time() < deadline:
                    self._wake_up_by(deadline)
                    return
            batch = self._take_batch()
            if inline:
                try:
                    outputs = self._timer.time(self._call, batch)
                except Exception as err:  # handed to every waiting request; the batcher goes on
                    _fail(batch, err)
                else:
                    _resolve(batch, outputs)
            else:
                self._running += 1
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        options.num_batch_threads, thread_name_prefix="te-serving-batcher"
                    )
                assert self._loop is not None
                try:
                    running = self._loop.run_in_executor(self._executor, self._timer.time, self._call, batch)
                except RuntimeError as err:  # the batching threads were shut down
                    self._running -= 1
                    closed = f"The batcher is closed (its model version was unloaded): {err}"
                    _fail(batch, UnavailableError(closed))
                    continue
                running.add_done_callback(lambda done, batch=batch: self._finished(batch, done))

    def _finished(self, batch: list[_Task], done: asyncio.Future[list[Outputs]]) -> None:
        self._running -= 1
        error = done.exception()
        if error is not None:
            _fail(batch, error)
        else:
            _resolve(batch, done.result())
        self._dispatch()

    def _take_batch(self) -> list[_Task]:
        """Removes from the queue the first task and the later ones of its key, up to max_batch_size."""
        queue, limit = self._queue, self._options.max_batch_size
        first = queue[0]
        if self._ready_rows <= limit and self._ready_rows == self._queued_rows:
            batch = list(queue)  # the common case: every queued task fits
            queue.clear()
        else:
            batch, rows, kept = [], 0, collections.deque()
            for task in queue:
                if task.key == first.key and rows + task.rows <= limit:
                    batch.append(task)
                    rows += task.rows
                else:
                    kept.append(task)
            self._queue = queue = kept
        taken = sum(task.rows for task in batch)
        self._queued_rows -= taken
        self._ready_rows = sum(task.rows for task in queue if task.key == queue[0].key) if queue else 0
        if queue:
            self._wake_up_by(queue[0].enqueued + self._timeout)
        return batch

    def _call(self, batch: list[_Task]) -> list[Outputs]:
        """Runs one merged call and splits its outputs back (in a batching thread or on the loop)."""
        if len(batch) == 1:
            return [dict(self._function(batch[0].tensors))]
        total = sum(task.rows for task in batch)
        names = batch[0].tensors
        merged = self._function({name: torch.cat([task.tensors[name] for task in batch]) for name in names})
        sizes = [task.rows for task in batch]
        columns = {}
        for name, tensor in merged.items():
            if tensor.dim() == 0 or tensor.shape[0] != total:
                raise InvalidArgumentError(
                    f"Batching needs every output to have the batch as dimension 0; output '{name}' "
                    f"has shape {list(tensor.shape)} for {total} rows. Serve this model without "
                    "--enable_batching."
                )
            columns[name] = tensor.split(sizes)
        return [dict(zip(columns, parts, strict=True)) for parts in zip(*columns.values(), strict=True)]


def _resolve(batch: list[_Task], outputs: list[Outputs]) -> None:
    for task, task_outputs in zip(batch, outputs, strict=True):
        if not task.future.done():  # a request whose client went away was cancelled
            task.future.set_result(task_outputs)


def _fail(batch: list[_Task], error: BaseException) -> None:
    for task in batch:
        if not task.future.done():
            task.future.set_exception(error)
