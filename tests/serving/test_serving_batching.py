"""Server-side batching: concurrent requests merged into one call up to max_batch_size or the timeout,
then split back so that each gets its own rows (the batcher runs on an event loop, as in the server)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from torch_estimator import saved_model
from torch_estimator.serving import Batcher, BatchingOptions, ModelConfig, read_batching_parameters_file
from torch_estimator.serving.errors import InvalidArgumentError, UnavailableError

LONG = 10_000_000  # 10 s in micros: a batch this test expects to fill must not leave by timeout


class Recorder:
    """A batched function that records the row count of each call: y = 10 * x. With a ``gate``, each call
    sets ``entered`` and then waits for the gate to open (only in a batching thread: inline_max_micros=0)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, tensors):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls.append(int(tensors["x"].shape[0]))
        return {"y": tensors["x"] * 10}


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


async def outcome(future):
    """``(outputs, None)`` or ``(None, error)`` of a submitted request."""
    try:
        return await future, None
    except Exception as err:
        return None, err


@pytest.mark.parametrize("inline_max_micros", [500_000, 0], ids=["on-the-loop", "in-a-thread"])
def test_full_batch_is_merged_into_one_call_and_split_back(inline_max_micros):
    function = Recorder()
    batcher = Batcher(
        function,
        BatchingOptions(max_batch_size=6, batch_timeout_micros=LONG),
        inline_max_micros=inline_max_micros,
    )
    # Requests of 1, 2 and 3 rows (6 in all) fill the batch, so it leaves at once as one call.
    inputs = [torch.full((rows, 2), float(rows)) for rows in (1, 2, 3)]

    async def main():
        return await asyncio.gather(*(batcher.submit({"x": x}) for x in inputs))

    results = run(main())
    batcher.close()
    assert function.calls == [6]
    for x, outputs in zip(inputs, results, strict=True):
        assert torch.equal(outputs["y"], x * 10)


def test_merged_calls_move_onto_the_loop_once_they_are_known_to_be_fast():
    """The first merged call runs in a batching thread (its cost is unknown); once measured under
    inline_max_micros, the next ones run on the event loop's thread."""
    threads = []

    def function(tensors):
        threads.append(threading.current_thread())
        return {"y": tensors["x"]}

    batcher = Batcher(function, BatchingOptions(max_batch_size=2, batch_timeout_micros=LONG))

    async def main():
        for _ in range(2):
            await asyncio.gather(*(batcher.submit({"x": torch.ones(1, 2)}) for _ in range(2)))
        return threading.current_thread()

    loop_thread = run(main())
    batcher.close()
    assert threads[0] is not loop_thread and threads[1] is loop_thread


def test_a_lone_request_leaves_after_the_timeout():
    function = Recorder()
    batcher = Batcher(function, BatchingOptions(max_batch_size=100, batch_timeout_micros=20_000))

    async def main():
        start = time.monotonic()
        await batcher.submit({"x": torch.ones(1, 2)})
        return time.monotonic() - start

    waited = run(main())
    batcher.close()
    assert function.calls == [1]
    assert 0.015 <= waited < 5.0


def test_request_larger_than_max_batch_size_is_refused():
    batcher = Batcher(Recorder(), BatchingOptions(max_batch_size=2))

    async def main():
        with pytest.raises(InvalidArgumentError, match="Task size 3 is larger than maximum batch size 2"):
            batcher.submit({"x": torch.ones(3, 2)})

    run(main())
    batcher.close()


def test_full_queue_is_unavailable():
    """The queue holds max_enqueued_batches * max_batch_size = 2 rows beside the running batch."""
    gate = threading.Event()
    function = Recorder(gate)
    batcher = Batcher(
        function,
        BatchingOptions(max_batch_size=2, batch_timeout_micros=0, max_enqueued_batches=1),
        inline_max_micros=0,
    )

    async def main():
        first = batcher.submit({"x": torch.ones(2, 2)})
        while not function.entered.is_set():  # the first batch runs (held at the gate), the queue is empty
            await asyncio.sleep(0.001)
        second = batcher.submit({"x": torch.ones(2, 2)})  # fills the queue
        with pytest.raises(UnavailableError, match=r"queue .* is full"):
            batcher.submit({"x": torch.ones(1, 2)})
        gate.set()
        await asyncio.gather(first, second)

    run(main())
    batcher.close()
    assert function.calls == [2, 2]


def test_errors_reach_every_request_of_the_batch_and_the_batcher_goes_on():
    calls = []

    def fails_first(tensors):
        calls.append(int(tensors["x"].shape[0]))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return {"y": tensors["x"]}

    batcher = Batcher(fails_first, BatchingOptions(max_batch_size=2, batch_timeout_micros=LONG))

    async def main():
        results = []
        for _ in range(2):
            requests = [batcher.submit({"x": torch.ones(1, 2)}) for _ in range(2)]
            results.append([str(error) for _, error in await asyncio.gather(*map(outcome, requests))])
        return results

    assert run(main()) == [["boom", "boom"], ["None", "None"]]
    batcher.close()
    assert calls == [2, 2]


def test_requests_of_different_shapes_are_not_merged():
    function = Recorder()
    batcher = Batcher(function, BatchingOptions(max_batch_size=8, batch_timeout_micros=50_000))

    async def main():
        return await asyncio.gather(*(batcher.submit({"x": x}) for x in (torch.ones(1, 2), torch.ones(1, 3))))

    results = run(main())
    batcher.close()
    assert sorted(function.calls) == [1, 1]
    assert [outputs["y"].shape[1] for outputs in results] == [2, 3]


def test_a_closed_batcher_runs_what_is_queued_and_refuses_more():
    function = Recorder()
    batcher = Batcher(function, BatchingOptions(max_batch_size=8, batch_timeout_micros=LONG))

    async def main():
        queued = batcher.submit({"x": torch.ones(1, 2)})
        threading.Thread(target=batcher.close).start()  # as a version unload does, from another thread
        outputs = await queued
        with pytest.raises(UnavailableError, match="closed"):
            batcher.submit({"x": torch.ones(1, 2)})
        return outputs

    assert torch.equal(run(main())["y"], torch.full((1, 2), 10.0))
    assert function.calls == [1]


class ClosingLoop(asyncio.SelectorEventLoop):
    """An event loop on which ``close_in_dispatch`` closes a batcher from another thread at the worst
    moment: after the batcher chose a batching thread for a batch, before it hands the batch over."""

    close_in_dispatch = None

    def run_in_executor(self, executor, func, *args):
        batcher, self.close_in_dispatch = self.close_in_dispatch, None
        if batcher is not None:
            closing = threading.Thread(target=batcher.close)
            closing.start()
            closing.join(10)
        return super().run_in_executor(executor, func, *args)


def test_closing_from_another_thread_while_a_batch_is_handed_to_a_thread_still_answers_it():
    function = Recorder()
    batcher = Batcher(function, BatchingOptions(max_batch_size=1), inline_max_micros=0)
    loop = ClosingLoop()
    loop.close_in_dispatch = batcher

    async def main():
        return await asyncio.wait_for(batcher.submit({"x": torch.ones(1, 2)}), 10)

    try:
        outputs = loop.run_until_complete(main())
    finally:
        loop.close()
    assert torch.equal(outputs["y"], torch.full((1, 2), 10.0))
    assert function.calls == [1]


def test_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 0 }\nnum_batch_threads { value: 2 }\n"
    )
    options = read_batching_parameters_file(path, BatchingOptions(max_enqueued_batches=7))
    assert options == BatchingOptions(
        max_batch_size=64, batch_timeout_micros=0, num_batch_threads=2, max_enqueued_batches=7
    )


def counting_loader(calls):
    """Loads exports with te.saved_model, recording the batch size of each serving_default call."""

    def load(path):
        loaded = saved_model.load(path)
        signature = loaded.signatures["serving_default"]
        original = signature.run

        class Counted:
            def __getattr__(self, name):
                return getattr(signature, name)

            def run(self, tensors):
                calls.append(int(tensors["x"].shape[0]))
                return original(tensors)

        loaded.signatures["serving_default"] = Counted()
        return loaded

    return load


def test_concurrent_http_requests_are_batched_and_get_their_own_answers(model_base, serving, export_versions):
    from torch_estimator.serving import ModelServer, ServerOptions

    calls: list[int] = []
    options = ServerOptions(
        models=(ModelConfig("m", model_base(1)),),
        port=0,
        batching=BatchingOptions(max_batch_size=8, batch_timeout_micros=LONG),
    )
    reference = saved_model.load(export_versions[1]).signatures["serving_default"]
    rows = [[float(i), float(2 * i % 5), float(i % 3), 1.0] for i in range(8)]
    with ModelServer(options, loader=counting_loader(calls)) as server:
        url = f"{server.url}/v1/models/m:predict"
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda row: serving.request("POST", url, {"instances": [row]}), rows))
    # Eight one-row requests fill the batch of 8: one call (the 10 s timeout never fires).
    assert calls == [8]
    for row, (status, body) in zip(rows, answers, strict=True):
        assert status == 200, body
        expected = reference(x=torch.tensor([row]))
        assert body["predictions"][0]["class_ids"] == int(expected["class_ids"][0])
        assert torch.equal(
            torch.tensor(body["predictions"][0]["probabilities"]), expected["probabilities"][0]
        )


def test_a_large_batched_request_is_answered_and_a_large_malformed_one_gets_400(
    start_server, model_base, serving
):
    """Bodies over 64 KiB (padded with spaces) are decoded and encoded in the thread pool: regress
    sum(x) = 1 + 2 + 3 + 4 = 10; a large body that is no JSON gets TF Serving's 400."""
    batching = BatchingOptions(max_batch_size=8, batch_timeout_micros=1000)
    server = start_server([ModelConfig("m", model_base(1))], batching=batching)
    url = f"http://127.0.0.1:{server.port}/v1/models/m:predict"
    body = b'{"signature_name": "regress", "instances": [[1, 2, 3, 4]]}' + b" " * 70_000
    assert serving.request("POST", url, body) == (200, {"predictions": [10.0]})
    status, answer = serving.request("POST", url, b"{" + b" " * 70_000)
    assert status == 400 and "error" in answer
