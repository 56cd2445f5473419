"""TF Serving's REST API: routing and answering, for the server's HTTP protocol and as an ASGI app.

Routes::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model version status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     instances/inputs -> predictions/outputs
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify    examples -> results
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress     examples -> results

Errors are ``{"error": message}`` with TF Serving's HTTP codes (400, 404, 405, 413, 500, 503).
A request is answered in two steps: ``start`` routes it when its headers are in (status and metadata
are answered at once, a declared body over the limit gets 413), ``answer`` runs it once its body is in.
Without batching, a request (decoding, the model call, encoding) runs in a thread pool, so that the
event loop keeps accepting requests while a model works -- except when its signature is known to
answer in under ``inline_max_micros`` and the body is small: then it runs on the event loop, which
saves two thread switches (about 0.1 ms and a third of the throughput for a small MLP on 2 cores).
With batching, the requests to one signature meet in its ``Batcher``; the loop decodes and encodes
them, except large bodies (over 64 KiB), which are decoded and encoded in the thread pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from torch_estimator.serving.batching import Batcher
from torch_estimator.serving.config import BatchingOptions
from torch_estimator.serving.errors import (
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServingError,
)
from torch_estimator.serving.handlers import (
    PreparedCall,
    model_metadata,
    model_status,
    prepare_call,
    run_signature,
)
from torch_estimator.serving.jsonio import dump_json
from torch_estimator.serving.manager import ModelManager, ServedVersion
from torch_estimator.serving.timing import DEFAULT_INLINE_MAX_MICROS, CallTimer

__all__ = ["DEFAULT_INLINE_MAX_MICROS", "DEFAULT_MAX_BODY_BYTES", "Response", "RestApp", "Route"]

logger = logging.getLogger("torch_estimator")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_INLINE_MAX_BODY_BYTES = 64 * 1024

_ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:/(?P<metadata>metadata)|:(?P<verb>predict|classify|regress))?/?"
)

Headers = Sequence[tuple[bytes, bytes]]


@dataclasses.dataclass(frozen=True)
class Response:
    """An answer: HTTP status, JSON body, and headers beyond content-type/length (``allow`` for 405)."""

    status: int
    body: bytes
    headers: Headers = ()


@dataclasses.dataclass(frozen=True)
class Route:
    """A ``:predict``/``:classify``/``:regress`` request whose body is to be read."""

    method: str
    path: str
    name: str
    version: int | None
    label: str | None
    verb: str


Reply = Callable[[Response], None]
Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _ClientDisconnected(Exception):
    pass


class RestApp:
    """The REST API over a ``ModelManager`` (an ASGI app too: ``await app(scope, receive, send)``).

    Args:
        manager: the served models (started by the caller).
        batching: merge concurrent requests per signature with these options; None (default) = off.
        max_body_bytes: larger request bodies get 413.
        num_threads: threads that decode, run and encode requests.
        inline_max_micros: answer on the event loop the requests of signatures (and run the batches)
            that typically take less CPU time than this (0: never).

    >>> app = RestApp(ModelManager([]))
    >>> app.start("GET", "/v1/models/m", None).status
    404
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
        self.inline_max_micros = inline_max_micros
        self.inline_max_seconds = inline_max_micros / 1e6
        self._executor = concurrent.futures.ThreadPoolExecutor(num_threads, thread_name_prefix="te-serving")

    def close(self) -> None:
        """Stops the worker threads (after the requests they are running)."""
        self._executor.shutdown(wait=True)

    def start(self, method: str, path: str, content_length: int | None) -> Route | Response:
        """Routes a request whose headers are in: its ``Route`` when its body is to be read, else its
        answer (status, metadata, routing errors, a declared body over the limit)."""
        route = _ROUTE.fullmatch(path)
        try:
            if route is None:
                raise NotFoundError(f"Malformed request: {method} {path}")
            name, verb, label = route["name"], route["verb"], route["label"]
            version = int(route["version"]) if route["version"] is not None else None
            allowed = "GET" if verb is None else "POST"
            if method != allowed:
                raise MethodNotAllowedError(
                    f"Method {method} not allowed for {path}: use {allowed}.", allowed
                )
            if verb is None:
                if route["metadata"]:
                    return Response(200, dump_json(model_metadata(self.manager.get(name, version, label))))
                return Response(200, dump_json(model_status(self.manager, name, version, label)))
            if content_length is not None and content_length > self.max_body_bytes:
                raise PayloadTooLargeError(
                    f"Request body of {content_length} bytes exceeds the limit of {self.max_body_bytes} "
                    "bytes (--max_body_bytes)."
                )
        except Exception as err:
            return self.error(err, method, path)
        return Route(method, path, name, version, label, verb)

    def too_large(self) -> Response:
        """The answer to a body that went over the limit while it was read."""
        return self.error(
            PayloadTooLargeError(
                f"Request body exceeds the limit of {self.max_body_bytes} bytes (--max_body_bytes)."
            )
        )

    def error(self, err: BaseException, method: str = "", path: str = "") -> Response:
        """The answer to a request that failed with ``err``."""
        if isinstance(err, ServingError):
            headers = [(b"allow", err.allowed.encode())] if isinstance(err, MethodNotAllowedError) else []
            return Response(err.http_status, dump_json({"error": err.message}), headers)
        logger.error("Unexpected error serving %s %s", method, path, exc_info=err)
        return Response(500, dump_json({"error": f"Internal error: {type(err).__name__}: {err}"}))

    def answer(self, route: Route, body: bytes, reply: Reply) -> None:
        """Runs a routed request on its whole body; ``reply`` gets the answer, at once or later (on the
        event loop's thread, which this is called on)."""
        try:
            served = self.manager.get(route.name, route.version, route.label)
            if self.batching is None:
                self._answer_alone(route, served, body, reply)
            else:
                self._answer_batched(route, served, body, reply)
        except Exception as err:
            reply(self.error(err, route.method, route.path))

    def _answer_alone(self, route: Route, served: ServedVersion, body: bytes, reply: Reply) -> None:
        signature_name = _signature_name(body)
        if signature_name not in served.model.signatures:  # bounded: one timer per real signature
            signature_name = ""
        timer = served.resource(f"timer:{route.verb}:{signature_name}", CallTimer)
        if len(body) <= _INLINE_MAX_BODY_BYTES and timer.typical_seconds < self.inline_max_seconds:
            reply(Response(200, timer.time(_answer, served, route.verb, body)))
            return
        running = asyncio.get_running_loop().run_in_executor(
            self._executor, timer.time, _answer, served, route.verb, body
        )
        running.add_done_callback(functools.partial(self._reply_when_done, route, reply, None))

    def _answer_batched(self, route: Route, served: ServedVersion, body: bytes, reply: Reply) -> None:
        if len(body) <= _INLINE_MAX_BODY_BYTES:
            self._submit(route, served, reply, prepare_call(served, route.verb, body), inline=True)
            return
        # A large body is decoded (and its answer encoded) in the thread pool: the loop goes on meanwhile.
        preparing = asyncio.get_running_loop().run_in_executor(
            self._executor, prepare_call, served, route.verb, body
        )
        preparing.add_done_callback(functools.partial(self._submit_when_prepared, route, served, reply))

    def _submit_when_prepared(
        self, route: Route, served: ServedVersion, reply: Reply, done: asyncio.Future[PreparedCall]
    ) -> None:
        try:
            self._submit(route, served, reply, done.result(), inline=False)
        except Exception as err:
            reply(self.error(err, route.method, route.path))

    def _submit(
        self, route: Route, served: ServedVersion, reply: Reply, prepared: PreparedCall, *, inline: bool
    ) -> None:
        """Queues a decoded request in its signature's batcher; ``inline``: encode its answer on the loop."""
        batcher = served.resource(
            f"batcher:{prepared.signature.name}", self._batcher_factory(prepared.signature)
        )
        running = batcher.submit(prepared.call.tensors)
        when_done = self._reply_when_done if inline else self._encode_when_done
        running.add_done_callback(functools.partial(when_done, route, reply, prepared))

    def _encode_when_done(
        self, route: Route, reply: Reply, prepared: PreparedCall, done: asyncio.Future[Any]
    ) -> None:
        """Encodes the outputs of a large batched request in the thread pool, then replies."""
        try:
            encoding = asyncio.get_running_loop().run_in_executor(
                self._executor, prepared.answer, done.result()
            )
        except Exception as err:
            reply(self.error(err, route.method, route.path))
            return
        encoding.add_done_callback(functools.partial(self._reply_when_done, route, reply, None))

    def _reply_when_done(
        self, route: Route, reply: Reply, prepared: PreparedCall | None, done: asyncio.Future[Any]
    ) -> None:
        """Replies with the result of a request that ran in a thread or in a batch (``prepared``: the
        batched request, whose outputs are encoded here)."""
        try:
            result = done.result()
            reply(Response(200, result if prepared is None else prepared.answer(result)))
        except Exception as err:
            reply(self.error(err, route.method, route.path))

    def _batcher_factory(self, signature: Any) -> Callable[[], Batcher]:
        options = self.batching or BatchingOptions()
        function = functools.partial(run_signature, signature)
        return lambda: Batcher(function, options, inline_max_micros=self.inline_max_micros)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI interface (lifespan and http), for serving the API from any ASGI server."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        content_length = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit():
                content_length = int(value)
        started = self.start(scope["method"], scope["path"], content_length)
        if isinstance(started, Route):
            try:
                body = await self._read_body(receive)
            except _ClientDisconnected:
                return
            if body is None:
                response = self.too_large()
            else:
                answered: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
                self.answer(started, body, answered.set_result)
                response = await answered
        else:
            response = started
        headers = [
            *response.headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(response.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The request body; None once it goes over the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientDisconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


_SIGNATURE_NAME = re.compile(rb'"signature_name"\s*:\s*"([^"\\]*)"')


def _signature_name(body: bytes) -> str:
    """The signature a body names, read without parsing it (only to pick the request's timer)."""
    if b"signature_name" not in body:  # the common case, without a regex scan of the whole body
        return ""
    found = _SIGNATURE_NAME.search(body)
    return found.group(1).decode("utf-8", "replace") if found else ""


def _answer(served: ServedVersion, verb: str, body: bytes) -> bytes:
    """Decode, run and encode one request (in a worker thread: all of it may take a while)."""
    prepared = prepare_call(served, verb, body)
    return prepared.answer(run_signature(prepared.signature, prepared.call.tensors))


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
