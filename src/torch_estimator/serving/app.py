"""TF Serving's REST API as a plain ASGI application (served by uvicorn; no web framework).

Routes::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model version status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     instances/inputs -> predictions/outputs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify    examples -> results
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress     examples -> results

Errors are ``{"error": message}`` with TF Serving's HTTP codes (400, 404, 405, 413, 500, 503).
Without batching, a request (decoding, the model call, encoding) runs in a thread pool, so that the
event loop keeps accepting requests while a model works -- except when its signature is known to
answer in under ``inline_max_micros`` and the body is small: then it runs on the event loop, which
saves two thread switches (about 0.1 ms and a third of the throughput for a small MLP on 2 cores).
With batching, the loop decodes and encodes and the requests to one signature meet in its
``Batcher``, whose threads run the merged calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import torch

from torch_estimator.serving.batching import Batcher
from torch_estimator.serving.config import BatchingOptions
from torch_estimator.serving.errors import (
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServingError,
)
from torch_estimator.serving.handlers import model_metadata, model_status, prepare_call, run_signature
from torch_estimator.serving.manager import ModelManager, ServedVersion

__all__ = ["DEFAULT_INLINE_MAX_MICROS", "DEFAULT_MAX_BODY_BYTES", "RestApp"]

logger = logging.getLogger("torch_estimator")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_INLINE_MAX_MICROS = 500
_INLINE_MAX_BODY_BYTES = 64 * 1024

_ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:/(?P<metadata>metadata)|:(?P<verb>predict|classify|regress))?/?"
)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _ClientDisconnected(Exception):
    pass


class RestApp:
    """The ASGI app over a ``ModelManager``.

    Args:
        manager: the served models (started by the caller).
        batching: merge concurrent requests per signature with these options; None (default) = off.
        max_body_bytes: larger request bodies get 413.
        num_threads: threads that decode, run and encode requests.
        inline_max_micros: answer on the event loop the requests of signatures that typically take
            less than this (0: never).

    >>> app = RestApp(ModelManager([]))
    >>> callable(app)
    True
    >>> app.close()
    """

    def __init__(
        self,
        manager: ModelManager,
        *,
        batching: BatchingOptions | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        num_threads: int = 8,
        inline_max_micros: int = DEFAULT_INLINE_MAX_MICROS,
    ) -> None:
        self.manager = manager
        self.batching = batching
        self.max_body_bytes = max_body_bytes
        self.inline_max_seconds = inline_max_micros / 1e6
        self._executor = concurrent.futures.ThreadPoolExecutor(num_threads, thread_name_prefix="te-serving")

    def close(self) -> None:
        """Stops the worker threads (after the requests they are running)."""
        self._executor.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers: list[tuple[bytes, bytes]] = []
        try:
            status, body = 200, await self._dispatch(scope, receive)
        except _ClientDisconnected:
            return
        except ServingError as err:
            status, body = err.http_status, _json({"error": err.message})
            if isinstance(err, MethodNotAllowedError):
                headers.append((b"allow", err.allowed.encode()))
        except Exception as err:  # the server keeps serving whatever one request does
            logger.exception("Unexpected error serving %s %s", scope["method"], scope["path"])
            status, body = 500, _json({"error": f"Internal error: {type(err).__name__}: {err}"})
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(self, scope: Scope, receive: Receive) -> bytes:
        """The JSON body of the answer to one request."""
        method, path = scope["method"], scope["path"]
        route = _ROUTE.fullmatch(path)
        if route is None:
            raise NotFoundError(f"Malformed request: {method} {path}")
        name, verb, label = route["name"], route["verb"], route["label"]
        version = int(route["version"]) if route["version"] is not None else None
        allowed = "GET" if verb is None else "POST"
        if method != allowed:
            raise MethodNotAllowedError(f"Method {method} not allowed for {path}: use {allowed}.", allowed)
        if verb is None:
            if route["metadata"]:
                return _json(model_metadata(self.manager.get(name, version, label)))
            return _json(model_status(self.manager, name, version, label))
        body = await self._read_body(scope, receive)
        served = self.manager.get(name, version, label)
        loop = asyncio.get_running_loop()
        if self.batching is None:
            signature_name = _signature_name(body)
            if signature_name not in served.model.signatures:  # bounded: one timer per real signature
                signature_name = ""
            timer = served.resource(f"timer:{verb}:{signature_name}", _CallTimer)
            if len(body) <= _INLINE_MAX_BODY_BYTES and timer.typical_seconds < self.inline_max_seconds:
                return timer.time(_answer, served, verb, body)
            return await loop.run_in_executor(self._executor, timer.time, _answer, served, verb, body)
        prepared = prepare_call(served, verb, body)
        batcher = served.resource(
            f"batcher:{prepared.signature.name}", self._batcher_factory(prepared.signature)
        )
        future: asyncio.Future[dict[str, torch.Tensor]] = loop.create_future()

        def done(outputs: dict[str, torch.Tensor] | None, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
                loop.call_soon_threadsafe(_resolve, future, outputs, error)

        batcher.submit(prepared.call.tensors, done)
        return _json(prepared.encode(await future))

    def _batcher_factory(self, signature: Any) -> Callable[[], Batcher]:
        options = self.batching or BatchingOptions()
        return lambda: Batcher(functools.partial(run_signature, signature), options)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                raise PayloadTooLargeError(
                    f"Request body of {int(value)} bytes exceeds the limit of {self.max_body_bytes} bytes "
                    "(--max_body_bytes)."
                )
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientDisconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLargeError(
                    f"Request body exceeds the limit of {self.max_body_bytes} bytes (--max_body_bytes)."
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _CallTimer:
    """A moving average of how long one kind of request takes to answer (infinite until measured)."""

    def __init__(self) -> None:
        self.typical_seconds = float("inf")

    def time(self, function: Callable[..., bytes], *args: Any) -> bytes:
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            elapsed = time.perf_counter() - start
            typical = self.typical_seconds
            self.typical_seconds = elapsed if typical == float("inf") else 0.9 * typical + 0.1 * elapsed

    def close(self) -> None:
        """Nothing to release (resources of a served version are closed when it is unloaded)."""


_SIGNATURE_NAME = re.compile(rb'"signature_name"\s*:\s*"([^"\\]*)"')


def _signature_name(body: bytes) -> str:
    """The signature a body names, read without parsing it (only to pick the request's timer)."""
    found = _SIGNATURE_NAME.search(body)
    return found.group(1).decode("utf-8", "replace") if found else ""


def _json(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode("utf-8")


def _answer(served: ServedVersion, verb: str, body: bytes) -> bytes:
    """Decode, run and encode one request (in a worker thread: all of it may take a while)."""
    prepared = prepare_call(served, verb, body)
    return _json(prepared.encode(run_signature(prepared.signature, prepared.call.tensors)))


def _resolve(future: asyncio.Future[Any], outputs: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outputs)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
