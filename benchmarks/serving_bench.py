"""REST serving vs calling the loaded signature in-process, on the W1 model (MLP 64-256-256-10).

    python benchmarks/serving_bench.py [--seconds 3] [--concurrency 1,8,32] [--repeats 1]

Trains the W1 MLP for a few steps, exports it with ``Estimator.export_saved_model`` and measures one-row
``:predict`` requests (``{"instances": [[64 floats]]}``) at each concurrency C, each cell ``--repeats``
times (the table shows the median run's figures and the best requests/s). The rows:

* ``in-process``: C threads each calling ``loaded.signatures["serving_default"](x=row)`` in a loop
  (the ceiling of ``HTTP``: the same calls without HTTP, JSON or the server's code).
* ``in-process + batching``: C callers (coroutines on one uvloop event loop, as the server's requests
  are) each awaiting ``Batcher.submit({"x": row})`` in a loop -- the server's own ``Batcher``, with the
  server's function (``run_signature`` on the signature) and the same settings (max_batch_size 32,
  batch_timeout_micros 1000, the default num_batch_threads and inline_max_micros): the ceiling of
  ``HTTP + batching``, i.e. the same batching without HTTP, JSON or tensor building. (Coroutines, not
  threads: the batcher lives on an event loop, and thread hand-offs are no part of the server's path.)
* ``HTTP``: ``torch-estimator serve`` in a subprocess; C keep-alive connections driven from one
  ``selectors`` loop (a minimal raw-socket HTTP/1.1 client, so that the client costs little), each
  sending its next request as soon as its answer is in.
* ``HTTP + batching``: the same with ``--enable_batching --max_batch_size 32 --batch_timeout_micros
  1000``.
* ``in-process, one call of 32 rows``: one thread calling the signature on a 32-row batch, in rows/s
  (the strict batched ceiling: no batcher, no queueing, no splitting).

requests/s counts one-row requests (= rows/s); p50/p99 are per-request latencies. ``vs in-process`` is
each HTTP row's requests/s over its in-process counterpart's (same C, same batching setting). Then the
two targets: p50 overhead at concurrency 1 under 1 ms over the in-process call; with batching at
concurrency 32, >= 50% of the in-process batched throughput -- printed against both ceilings (the
batcher in-process at C = 32, and the one 32-row call). Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import torch_estimator as te
from torch_estimator.serving import Batcher, BatchingOptions
from torch_estimator.serving.handlers import run_signature

MODEL = "w1"
BATCH_FLAGS = ["--enable_batching", "--max_batch_size", "32", "--batch_timeout_micros", "1000"]
BATCHING = BatchingOptions(max_batch_size=32, batch_timeout_micros=1000)  # the same, in-process


def mlp_model_fn(features: dict[str, torch.Tensor], labels: torch.Tensor, mode: str) -> te.EstimatorSpec:
    net = te.layers.dense(features["x"], 256, activation=torch.relu)
    net = te.layers.dense(net, 256, activation=torch.relu)
    logits = te.layers.dense(net, 10)
    predictions = {"class_ids": logits.argmax(1), "probabilities": logits.softmax(1)}
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions=predictions)
    loss = F.cross_entropy(logits, labels)
    train_op = te.train.AdamOptimizer(1e-3).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def export_w1(root: str) -> str:
    """A trained (20 steps) W1 export as version 1 of ``<root>/w1``; returns the base path."""
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=0)
    estimator = te.Estimator(mlp_model_fn, model_dir=os.path.join(root, "model"), config=config)

    def input_fn():
        generator = torch.Generator().manual_seed(0)
        while True:
            yield (
                {"x": torch.randn(256, 64, generator=generator)},
                torch.randint(0, 10, (256,), generator=generator),
            )

    estimator.train(input_fn, steps=20)
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 64)})
    exported = estimator.export_saved_model(os.path.join(root, "exports"), receiver_fn)
    base = os.path.join(root, MODEL)
    os.makedirs(base)
    os.rename(exported, os.path.join(base, "1"))
    return base


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def drive(
    concurrency: int, seconds: float, make_worker: Callable[[], Callable[[], None]]
) -> dict[str, float]:
    """Runs ``concurrency`` threads calling their worker for ``seconds`` (after a short warm-up)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    start_line = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def loop(index: int) -> None:
        call = make_worker()
        for _ in range(20):  # warm-up
            call()
        start_line.wait()
        mine = latencies[index]
        while True:
            begin = time.perf_counter()
            call()
            end = time.perf_counter()
            if end > stop_at[0]:
                return
            mine.append(end - begin)

    threads = [threading.Thread(target=loop, args=(index,)) for index in range(concurrency)]
    for thread in threads:
        thread.start()
    stop_at[0] = float("inf")
    start_line.wait()
    begin = time.perf_counter()
    stop_at[0] = begin + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    flat = [value for values in latencies for value in values]
    p50, p99 = percentiles(flat)
    return {"rps": len(flat) / elapsed, "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3}


def drive_batcher(concurrency: int, seconds: float, signature: object, row: torch.Tensor) -> dict[str, float]:
    """``concurrency`` coroutines on one event loop (uvloop when installed, as in the server), each
    awaiting the server's ``Batcher`` on one row in a loop, with the server's batching settings."""
    batcher = Batcher(functools.partial(run_signature, signature), BATCHING)
    latencies: list[float] = []

    async def caller(warm_until: float, stop_at: float) -> None:
        tensors = {"x": row}
        while True:
            begin = time.perf_counter()
            await batcher.submit(tensors)
            end = time.perf_counter()
            if end > stop_at:
                return
            if begin >= warm_until:
                latencies.append(end - begin)

    async def main() -> None:
        warm_until = time.perf_counter() + min(1.0, seconds / 4)
        stop_at = warm_until + seconds
        await asyncio.gather(*(caller(warm_until, stop_at) for _ in range(concurrency)))

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    batcher.close()
    p50, p99 = percentiles(latencies)
    return {"rps": len(latencies) / seconds, "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3}


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load generator, with its request in flight."""

    def __init__(self, port: int, request: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = request
        self.sent_at = 0.0
        self.buffer = b""

    def send(self) -> None:
        self.buffer = b""
        self.sent_at = time.perf_counter()
        self.sock.sendall(self.request)

    def receive(self) -> bool:
        """Reads what arrived; True once the whole response is in (checked to be a 200)."""
        self.buffer += self.sock.recv(65536)
        head, found, body = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return False
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"request failed: {head[:80]!r} {body[:200]!r}")
        length = int(re.search(rb"content-length: *(\d+)", head, re.IGNORECASE).group(1))
        return len(body) >= length


def drive_http(port: int, path: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """``concurrency`` connections each sending the request again as soon as its answer is in, from one
    thread with ``selectors`` (a threaded Python client would measure its own GIL more than the server)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    connections = [_Connection(port, request) for _ in range(concurrency)]
    selector = selectors.DefaultSelector()
    for connection in connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
    latencies: list[float] = []
    warm_until = time.perf_counter() + min(1.0, seconds / 4)
    stop_at = warm_until + seconds
    for connection in connections:
        connection.send()
    in_flight = concurrency
    while in_flight:
        for key, _ in selector.select(timeout=30):
            connection = key.data
            if not connection.receive():
                continue
            now = time.perf_counter()
            if connection.sent_at >= warm_until and now <= stop_at:
                latencies.append(now - connection.sent_at)
            if now < stop_at:
                connection.send()
            else:
                in_flight -= 1
    for connection in connections:
        selector.unregister(connection.sock)
        connection.sock.close()
    p50, p99 = percentiles(latencies)
    return {"rps": len(latencies) / seconds, "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3}


def start_server(base: str, batching: bool, threads: int, extra: list[str]) -> tuple[subprocess.Popen, int]:
    flags = ["--model_name", MODEL, "--model_base_path", base, "--rest_api_port", "0"]
    flags += ["--tensorflow_intra_op_parallelism", str(threads), *extra]
    if batching:
        flags += BATCH_FLAGS
    process = subprocess.Popen(
        [sys.executable, "-m", "torch_estimator.cli.main", "serve", *flags],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    for line in process.stderr:
        found = re.search(r"Exporting HTTP/REST API at:http://127\.0\.0\.1:(\d+)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, int(found.group(1))
    raise RuntimeError(f"serve exited with {process.wait()}")


def repeated(repeats: int, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """The median run (by requests/s) of ``repeats``, with the best requests/s beside it."""
    runs = sorted((measure() for _ in range(repeats)), key=lambda cell: cell["rps"])
    return {**runs[(len(runs) - 1) // 2], "best_rps": runs[-1]["rps"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell (median and best shown)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads, in-process and in the server (default 1)",
    )
    parser.add_argument(
        "--server_flags", default="", help="more `serve` flags, e.g. '--rest_api_num_threads 2'"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    levels = [int(level) for level in args.concurrency.split(",")]
    seconds, repeats = args.seconds, args.repeats

    root = tempfile.mkdtemp(prefix="serving_bench_")
    base = export_w1(root)
    signature = te.saved_model.load(os.path.join(base, "1")).signatures["serving_default"]
    row = torch.randn(1, 64, generator=torch.Generator().manual_seed(1))
    body = json.dumps({"instances": row.tolist()}).encode()

    results: dict[tuple[str, int], dict[str, float]] = {}
    for level in levels:
        results[("in-process", level)] = repeated(
            repeats, lambda level=level: drive(level, seconds, lambda: lambda: signature(x=row))
        )
    for level in levels:
        results[("in-process + batching", level)] = repeated(
            repeats, lambda level=level: drive_batcher(level, seconds, signature, row)
        )
    batch = torch.randn(32, 64)
    batched = repeated(repeats, lambda: drive(1, seconds, lambda: lambda: signature(x=batch)))
    batched_rows, batched_best = batched["rps"] * 32, batched["best_rps"] * 32
    for mode, batching in (("HTTP", False), ("HTTP + batching", True)):
        process, port = start_server(base, batching, args.threads, args.server_flags.split())
        try:
            for level in levels:
                results[(mode, level)] = repeated(
                    repeats,
                    lambda port=port, level=level: drive_http(
                        port, f"/v1/models/{MODEL}:predict", body, level, seconds
                    ),
                )
        finally:
            process.terminate()
            process.wait(timeout=30)

    print(
        f"\nW1 MLP 64-256-256-10, one-row :predict requests, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, {seconds:g} s per cell, {repeats} run(s) per cell\n"
    )
    print(
        "| mode | concurrency | requests/s (median) | requests/s (best) | p50 ms | p99 ms | vs in-process |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (mode, level), cell in results.items():
        counterpart = {"HTTP": "in-process", "HTTP + batching": "in-process + batching"}.get(mode)
        share = f"{100 * cell['rps'] / results[(counterpart, level)]['rps']:.1f}%" if counterpart else ""
        print(
            f"| {mode} | {level} | {cell['rps']:,.0f} | {cell['best_rps']:,.0f} | {cell['p50_ms']:.3f} | "
            f"{cell['p99_ms']:.3f} | {share} |"
        )
    print(
        f"| in-process, one call of 32 rows | 1 | {batched_rows:,.0f} rows/s | {batched_best:,.0f} rows/s | "
        f"{batched['p50_ms']:.3f} | {batched['p99_ms']:.3f} | |"
    )
    if 1 in levels:
        overhead = results[("HTTP", 1)]["p50_ms"] - results[("in-process", 1)]["p50_ms"]
        print(f"\np50 overhead at concurrency 1: {overhead:.3f} ms (target < 1 ms)")
    if 32 in levels:
        http_rows = results[("HTTP + batching", 32)]["rps"]
        in_process = results[("in-process + batching", 32)]["rps"]
        print(
            f"batching at concurrency 32: {http_rows:,.0f} rows/s (median) = "
            f"{100 * http_rows / in_process:.1f}% "
            f"of the in-process batcher at concurrency 32 ({in_process:,.0f} rows/s), "
            f"{100 * http_rows / batched_rows:.1f}% of one in-process call of 32 rows ({batched_rows:,.0f} "
            "rows/s) (target >= 50%)"
        )


if __name__ == "__main__":
    main()
