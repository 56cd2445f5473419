"""The HTTP/1.1 server of the REST API: an asyncio protocol on ``httptools``' parser, on uvloop when it
is installed.

Each request costs a parse, one ``RestApp.start`` when its headers are in, one ``RestApp.answer`` once
its body is, and one write: no ASGI scope, task or message dicts per request (an ASGI server spends
more time on those than the API spends on a small model's request). HTTP behaviour: keep-alive
(closed after 5 s idle), pipelining (answers in request order, requests of one connection answered
concurrently, reading paused beyond 32 in flight or while the client does not read), chunked request
bodies, ``Expect: 100-continue``, 400 for unparsable requests; a graceful shutdown lets running requests
finish (5 s at most).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import http
import logging
import socket
import threading
import time
import urllib.parse

from torch_estimator.serving.app import Response, RestApp, Route

__all__ = ["HttpServer"]

logger = logging.getLogger("torch_estimator")

KEEP_ALIVE_SECONDS = 5.0
GRACEFUL_SHUTDOWN_SECONDS = 5.0
_MAX_IN_FLIGHT = 32  # per connection, before reading pauses

_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in http.HTTPStatus
}
_JSON_HEADERS = b"content-type: application/json\r\ncontent-length: "
_BAD_REQUEST = b"Invalid HTTP request received."


class _State:
    """What the connections of one server share."""

    def __init__(self, app: RestApp) -> None:
        self.app = app
        self.connections: set[HttpProtocol] = set()
        self.date = b""
        self.tick()

    def tick(self) -> None:
        self.date = b"date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"


class _Exchange:
    """One request of a connection, waiting for its answer (answers leave in request order)."""

    __slots__ = ("connection", "keep_alive", "response")

    def __init__(self, connection: HttpProtocol, keep_alive: bool) -> None:
        self.connection = connection
        self.keep_alive = keep_alive
        self.response: Response | None = None

    def reply(self, response: Response) -> None:
        self.response = response
        self.connection.flush()


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses its requests and writes their answers."""

    def __init__(self, state: _State) -> None:
        import httptools  # the optional "serve" dependency, checked by HttpServer

        self._state = state
        self._app = state.app
        self._parser = httptools.HttpRequestParser(self)
        self._parse_url = httptools.parse_url
        self._parser_errors = (httptools.HttpParserError,)
        self._upgrade = httptools.HttpParserUpgrade
        self._transport: asyncio.Transport | None = None
        self._pending: collections.deque[_Exchange] = collections.deque()
        self._reading_paused = False
        self._writing_paused = False
        self._closing = False  # the server shuts down: answer what is in flight, then close
        self.last_active = time.monotonic()
        # The request being read.
        self._in_message = False
        self._url = b""
        self._content_length: int | None = None
        self._expect_continue = False
        self._route: Route | None = None  # None: the request is answered already, its body is dropped
        self._exchange: _Exchange | None = None
        self._body: list[bytes] = []
        self._body_size = 0

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self._state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._transport = None
        self._pending.clear()  # answers still to come have nobody to go to

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            self._parser.feed_data(data)
        except self._parser_errors:
            self._bad_request()
        except self._upgrade:
            pass  # no protocol upgrades: the request was answered as a plain HTTP request

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # ------------------------------------------------------------------ httptools callbacks
    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = b""
        self._content_length = None
        self._expect_continue = False
        self._route = None
        self._exchange = None
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self._content_length = int(value) if value.isdigit() else None
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True

    def on_headers_complete(self) -> None:
        parser = self._parser
        method = parser.get_method().decode("ascii")
        path = self._parse_url(self._url).path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        exchange = _Exchange(self, parser.should_keep_alive() and not self._closing)
        self._pending.append(exchange)
        if len(self._pending) >= _MAX_IN_FLIGHT:
            self._update_reading()
        started = self._app.start(method, path, self._content_length)
        if isinstance(started, Response):
            exchange.reply(started)
            return
        self._route, self._exchange = started, exchange
        if self._expect_continue and len(self._pending) == 1 and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._route is None:
            return
        self._body_size += len(body)
        if self._body_size > self._app.max_body_bytes:
            self._route, self._body = None, []
            assert self._exchange is not None
            self._exchange.reply(self._app.too_large())
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        route, exchange = self._route, self._exchange
        if route is None or exchange is None:
            return
        self._route = self._exchange = None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        self._app.answer(route, body, exchange.reply)

    # ------------------------------------------------------------------ answers
    def flush(self) -> None:
        """Writes the answers that are in, in request order."""
        pending, transport = self._pending, self._transport
        while pending and pending[0].response is not None:
            exchange = pending.popleft()
            if transport is None or transport.is_closing():
                continue
            response = exchange.response
            assert response is not None
            keep_alive = exchange.keep_alive and not self._closing
            head = [_STATUS_LINES[response.status], _JSON_HEADERS, b"%d\r\n" % len(response.body)]
            for name, value in response.headers:
                head += [name, b": ", value, b"\r\n"]
            if not keep_alive:
                head.append(b"connection: close\r\n")
            head += [self._state.date, b"\r\n", response.body]
            transport.write(b"".join(head))
            if not keep_alive:
                transport.close()
                pending.clear()
        self.last_active = time.monotonic()
        if self._reading_paused:
            self._update_reading()
        if self._closing and self.idle():
            self.close()

    def _bad_request(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(
            b"".join(
                [
                    _STATUS_LINES[400],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(_BAD_REQUEST),
                    b"connection: close\r\n\r\n",
                    _BAD_REQUEST,
                ]
            )
        )
        transport.close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pause = self._writing_paused or len(self._pending) >= _MAX_IN_FLIGHT
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # ------------------------------------------------------------------ server side
    def idle(self) -> bool:
        """No request being read or answered."""
        return not self._pending and not self._in_message

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def shutdown(self) -> None:
        """Closes now if idle, else after the answers in flight (new requests get ``connection: close``)."""
        self._closing = True
        if self.idle():
            self.close()


class HttpServer:
    """Serves a ``RestApp`` on a bound, listening socket from ``run()`` (blocking: call it in a thread)
    until ``shutdown()`` (from any thread).

    >>> from torch_estimator.serving.manager import ModelManager
    >>> server = HttpServer(RestApp(ModelManager([])))
    >>> server.started.is_set()
    False
    """

    def __init__(self, app: RestApp) -> None:
        self.app = app
        self.started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False

    def run(self, sock: socket.socket) -> None:
        """Serves ``sock`` until ``shutdown()``; then lets running requests finish and closes it."""
        try:
            import uvloop
        except ImportError:
            loop = asyncio.new_event_loop()
        else:
            loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(self._serve(sock))
        finally:
            loop.close()

    def shutdown(self) -> None:
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has finished already
                loop.call_soon_threadsafe(stop.set)

    async def _serve(self, sock: socket.socket) -> None:
        import httptools  # noqa: F401 - fail here, before serving, when the "serve" extra is missing

        loop = asyncio.get_running_loop()
        state = _State(self.app)
        self._stop = stop = asyncio.Event()
        self._loop = loop
        server = await loop.create_server(lambda: HttpProtocol(state), sock=sock)
        self.started.set()
        if self._stop_requested:
            stop.set()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            state.tick()
            idle_since = time.monotonic() - KEEP_ALIVE_SECONDS
            for connection in list(state.connections):
                if connection.idle() and connection.last_active < idle_since:
                    connection.close()
        server.close()
        for connection in list(state.connections):
            connection.shutdown()
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS
        while state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(state.connections):
            connection.close()
        await server.wait_closed()
