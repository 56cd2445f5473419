"""The HTTP/1.1 server of the REST API: an asyncio protocol on ``httptools``' parser, on uvloop when it
is installed.

Each request costs a parse, one ``RestApp.start`` when its headers are in, one ``RestApp.answer`` once
its body is, and one write: no ASGI scope, task or message dicts per request (an ASGI server spends
more time on those than the API spends on a small model's request). HTTP behaviour: keep-alive
(closed after 5 s idle), pipelining (answers in request order, requests of one connection answered
concurrently, reading paused beyond 32 in flight or while the client does not read), chunked request
bodies, ``Expect: 100-continue``; 400 for unparsable requests, 408 for a request not received whole
within 30 s, 414 for a URL over 8 KiB, 431 for headers over 64 KiB (each written after the answers
owed, then the connection closes); an app error raised while a request is routed or run is that
request's 500. A graceful shutdown lets running requests finish (5 s at most): the last answer owed
closes the connection.
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
from typing import NoReturn

from torch_estimator.serving.app import Response, RestApp, Route

__all__ = ["HttpServer"]

logger = logging.getLogger("torch_estimator")

KEEP_ALIVE_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0  # from a request's first byte to its last
GRACEFUL_SHUTDOWN_SECONDS = 5.0
MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 64 * 1024  # the URL and every header name and value, in all
_MAX_IN_FLIGHT = 32  # per connection, before reading pauses

_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in http.HTTPStatus
}
_JSON_HEADERS = b"content-type: application/json\r\ncontent-length: "
_BAD_REQUEST = b"Invalid HTTP request received."


def _closing_answer(status: int, message: bytes) -> bytes:
    """A plain-text answer after which the connection closes (for requests that cannot be routed)."""
    return b"".join(
        [
            _STATUS_LINES[status],
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(message),
            b"connection: close\r\n\r\n",
            message,
        ]
    )


class _Rejected(Exception):
    """Raised in a parser callback to stop parsing a request that got its closing answer already."""


class _State:
    """What the connections of one server share."""

    def __init__(self, app: RestApp, read_timeout_seconds: float) -> None:
        self.app = app
        self.read_timeout_seconds = read_timeout_seconds
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
        self._read_timeout = state.read_timeout_seconds
        self._parser = httptools.HttpRequestParser(self)
        self._parse_url = httptools.parse_url
        self._parser_errors = (httptools.HttpParserError,)
        self._url_errors = (httptools.HttpParserInvalidURLError, UnicodeDecodeError)
        self._upgrade = httptools.HttpParserUpgrade
        self._transport: asyncio.Transport | None = None
        self._pending: collections.deque[_Exchange] = collections.deque()
        self._reading_paused = False
        self._writing_paused = False
        self._closing = False  # the server shuts down: answer what is in flight, then close
        self._last_answer: bytes | None = None  # an error to write after the answers owed, then close
        self.last_active = time.monotonic()
        self._chunk_size = 0  # of the data being parsed
        # The request being read.
        self._in_message = False
        self._in_head = False
        self._read_by = 0.0  # its deadline
        self._head_size = 0  # its URL, header names and values
        self._head_unparsed = 0  # bytes received since its first chunk while its head was incomplete
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
        if self._last_answer is not None:
            return  # the connection closes after its last answer: later requests are not read
        self._chunk_size = len(data)
        try:
            self._parser.feed_data(data)
        except self._parser_errors:
            if self._last_answer is None:  # else a callback rejected the request (a _Rejected)
                self._end(400, _BAD_REQUEST)
            return
        except self._upgrade:
            return  # no protocol upgrades: the request was answered as a plain HTTP request
        if self._in_head:
            # httptools buffers a header until it is complete: bound what it holds before on_header.
            self._head_unparsed += len(data)
            if self._head_unparsed > MAX_HEADER_BYTES:
                self._end(431, b"Request headers longer than %d bytes." % MAX_HEADER_BYTES)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # ------------------------------------------------------------------ httptools callbacks
    def on_message_begin(self) -> None:
        self._in_message = self._in_head = True
        self._read_by = self.last_active + self._read_timeout
        self._head_size = 0
        self._head_unparsed = -self._chunk_size  # the head's part of this chunk is unknown: counted later
        self._url = b""
        self._content_length = None
        self._expect_continue = False
        self._route = None
        self._exchange = None
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if len(self._url) > MAX_URL_BYTES:
            self._reject(414, b"Request URL longer than %d bytes." % MAX_URL_BYTES)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > MAX_HEADER_BYTES:
            self._reject(431, b"Request headers longer than %d bytes." % MAX_HEADER_BYTES)
        name = name.lower()
        if name == b"content-length":
            self._content_length = int(value) if value.isdigit() else None
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        try:
            method = parser.get_method().decode("ascii")
            path = self._parse_url(self._url).path.decode("ascii")
        except self._url_errors:
            self._reject(400, _BAD_REQUEST)
        if "%" in path:
            path = urllib.parse.unquote(path)
        exchange = _Exchange(self, parser.should_keep_alive())
        self._pending.append(exchange)
        if len(self._pending) >= _MAX_IN_FLIGHT:
            self._update_reading()
        try:
            started = self._app.start(method, path, self._content_length)
        except Exception as err:  # a bug of the app: a 500 for this request, the connection goes on
            started = self._app.error(err, method, path)
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
            if self._exchange is not None:
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
        try:
            self._app.answer(route, body, exchange.reply)
        except Exception as err:  # a bug of the app: a 500 for this request, the connection goes on
            if exchange.response is None:
                exchange.reply(self._app.error(err, route.method, route.path))

    # ------------------------------------------------------------------ answers
    def flush(self) -> None:
        """Writes the answers that are in, in request order."""
        pending, transport = self._pending, self._transport
        while pending:
            response = pending[0].response
            if response is None:
                break
            exchange = pending.popleft()
            if transport is None or transport.is_closing():
                continue
            # Shutting down, the last answer owed closes the connection (unless an error answer follows).
            keep_alive = exchange.keep_alive and not (
                self._closing and not pending and not self._in_message and self._last_answer is None
            )
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
        if pending or transport is None or transport.is_closing():
            return
        if self._last_answer is not None:
            transport.write(self._last_answer)
            transport.close()
        elif self._closing and not self._in_message:
            transport.close()

    def _end(self, status: int, message: bytes) -> None:
        """Stops reading: the connection closes after the answers owed and then this error's."""
        exchange, pending = self._exchange, self._pending
        if exchange is not None and exchange.response is None and pending and pending[-1] is exchange:
            pending.pop()  # the request being read, which is answered with the error instead
        self._in_message = self._in_head = False
        self._route = self._exchange = None
        self._body = []
        self._last_answer = _closing_answer(status, message)
        self._read_by = time.monotonic() + self._read_timeout  # for the answers owed to leave
        self.flush()

    def _reject(self, status: int, message: bytes) -> NoReturn:
        """Ends the connection from a parser callback, stopping the parser."""
        self._end(status, message)
        raise _Rejected(status)

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

    def expire(self, now: float) -> None:
        """Ends a request read for longer than the read timeout (408), and an idle connection after
        ``KEEP_ALIVE_SECONDS`` (called every second)."""
        if self._last_answer is not None:
            if now > self._read_by:  # the client does not read the answers owed
                self.close()
        elif self._in_message:
            if now > self._read_by:
                self._end(408, b"Request not received within %g seconds." % self._read_timeout)
        elif not self._pending and now - self.last_active > KEEP_ALIVE_SECONDS:
            self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def shutdown(self) -> None:
        """Closes now if idle, else after the answers in flight (the last one gets ``connection: close``)."""
        self._closing = True
        if self.idle():
            self.close()


class HttpServer:
    """Serves a ``RestApp`` on a bound, listening socket from ``run()`` (blocking: call it in a thread)
    until ``shutdown()`` (from any thread).

    Args:
        app: the API.
        read_timeout_seconds: a request not received whole this long after its first byte gets 408
            and its connection closes (checked every second).

    >>> from torch_estimator.serving.manager import ModelManager
    >>> server = HttpServer(RestApp(ModelManager([])))
    >>> server.started.is_set()
    False
    """

    def __init__(self, app: RestApp, *, read_timeout_seconds: float = READ_TIMEOUT_SECONDS) -> None:
        if not read_timeout_seconds > 0:
            raise ValueError(f"read_timeout_seconds must be > 0, got {read_timeout_seconds!r}.")
        self.app = app
        self.read_timeout_seconds = read_timeout_seconds
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
        state = _State(self.app, self.read_timeout_seconds)
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
            now = time.monotonic()
            for connection in list(state.connections):
                connection.expire(now)
        server.close()
        for connection in list(state.connections):
            connection.shutdown()
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS
        while state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(state.connections):
            connection.close()
        await server.wait_closed()
