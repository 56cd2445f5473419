"""The server's HTTP/1.1: pipelining, Expect: 100-continue, unparsable requests, HTTP/1.0, percent-encoded
paths, app errors, read timeouts, URL and header limits, and a graceful stop that lets running requests
finish."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from torch_estimator.serving import BatchingOptions, ModelConfig, ModelManager, RestApp
from torch_estimator.serving.app import Response, Route
from torch_estimator.serving.http_server import MAX_HEADER_BYTES, MAX_URL_BYTES, HttpServer


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def post(path: str, value, extra: bytes = b"") -> bytes:
    body = json.dumps(value).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


class Reader:
    """Reads HTTP responses (content-length framed) off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"connection closed; buffered {self.buffer!r}"
        self.buffer += chunk

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        return not self.buffer and self.sock.recv(1) == b""


def test_pipelined_requests_are_answered_in_order(start_server, model_base):
    """Three requests in one write: regress sum(x) = 1 and 2, then the model status."""
    server = start_server([ModelConfig("m", model_base(1))])
    path = "/v1/models/m:predict"
    with connect(server) as sock:
        sock.sendall(
            post(path, {"signature_name": "regress", "instances": [[1, 0, 0, 0]]})
            + post(path, {"signature_name": "regress", "instances": [[1, 1, 0, 0]]})
            + b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = Reader(sock)
        answers = [reader.response() for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert [json.loads(body) for _, _, body in answers[:2]] == [
        {"predictions": [1.0]},
        {"predictions": [2.0]},
    ]
    assert "model_version_status" in json.loads(answers[2][2])
    assert answers[0][1]["content-type"] == "application/json"


def test_expect_100_continue_gets_a_continue_before_the_answer(start_server, model_base):
    server = start_server([ModelConfig("m", model_base(1))])
    body = json.dumps({"signature_name": "regress", "instances": [[1, 2, 3, 4]]}).encode()
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        reader = Reader(sock)
        assert reader.response()[0] == 100
        sock.sendall(body)
        status, _, answer = reader.response()
    assert (status, json.loads(answer)) == (200, {"predictions": [10.0]})


def test_an_unparsable_request_gets_400_and_the_connection_closes(start_server, model_base):
    server = start_server([ModelConfig("m", model_base(1))])
    with connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, body, headers["connection"]) == (400, b"Invalid HTTP request received.", "close")
        assert reader.closed()


def test_http_1_0_is_answered_then_closed_and_paths_are_percent_decoded(start_server, model_base):
    server = start_server([ModelConfig("m", model_base(1))])
    with connect(server) as sock:
        sock.sendall(b"GET /v1/%6Dodels/m HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 200 and headers["connection"] == "close"
        assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
        assert reader.closed()


def test_stop_lets_a_waiting_batched_request_finish(start_server, model_base):
    """The request waits 0.3 s for its batch to fill; stopping the server meanwhile still answers it."""
    batching = BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000)
    server = start_server([ModelConfig("m", model_base(1))], batching=batching)
    with connect(server) as sock:
        sock.sendall(post("/v1/models/m:predict", {"signature_name": "regress", "instances": [[1, 2, 3, 4]]}))
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        status, headers, body = Reader(sock).response()
        stopping.join(10)
    assert (status, json.loads(body), headers["connection"]) == (200, {"predictions": [10.0]}, "close")


def test_the_rest_app_is_an_asgi_app_too(model_base):
    """The same answers through the ASGI interface (for any ASGI server): a predict, then a 405."""
    import asyncio

    from torch_estimator.serving import ModelManager, RestApp

    manager = ModelManager([ModelConfig("m", model_base(1))])
    manager.start(poll_wait_seconds=0)
    app = RestApp(manager)

    async def call(method, path, body=b""):
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        headers = [(b"content-length", str(len(body)).encode())]
        await app({"type": "http", "method": method, "path": path, "headers": headers}, receive, send)
        return sent[0]["status"], dict(sent[0]["headers"]), json.loads(sent[1]["body"])

    body = json.dumps({"signature_name": "regress", "instances": [[1, 2, 3, 4]]}).encode()
    try:
        assert asyncio.run(call("POST", "/v1/models/m:predict", body))[::2] == (200, {"predictions": [10.0]})
        status, headers, answer = asyncio.run(call("GET", "/v1/models/m:predict"))
        assert (status, headers[b"allow"]) == (405, b"POST") and "GET" in answer["error"]
    finally:
        app.close()
        manager.stop()


# ---------------------------------------------------------------- HttpServer on a fake app
class SlowApp(RestApp):
    """Routes every request; answers ``{"n": k}`` to the k-th body 0.2 s after it is in (a slow model).
    ``/boom-start`` raises while routed and ``/boom-answer`` while answered, as bugs of an app would."""

    def __init__(self) -> None:
        super().__init__(ModelManager([]), num_threads=1)
        self.answering = threading.Semaphore(0)  # released once per request being answered
        self.count = 0

    def start(self, method: str, path: str, content_length: int | None) -> Route | Response:
        if path == "/boom-start":
            raise RuntimeError("bug in start")
        return Route(method, path, "m", None, None, "predict")

    def answer(self, route, body, reply) -> None:
        if route.path == "/boom-answer":
            raise RuntimeError("bug in answer")
        self.count += 1
        response = Response(200, b'{"n":%d}' % self.count)
        asyncio.get_running_loop().call_later(0.2, reply, response)
        self.answering.release()


@pytest.fixture
def serve():
    """``serve(app, **HttpServer options)`` -> ``(server, port)``, serving on loopback until the test ends."""
    running = []

    def start(app: RestApp, **options) -> tuple[HttpServer, int]:
        sock = socket.create_server(("127.0.0.1", 0))
        server = HttpServer(app, **options)
        thread = threading.Thread(target=server.run, args=(sock,), daemon=True)
        thread.start()
        assert server.started.wait(10)
        running.append((server, thread, app))
        return server, sock.getsockname()[1]

    yield start
    for server, thread, app in running:
        server.shutdown()
        thread.join(10)
        app.close()


def request(path: str, body: bytes = b"{}") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset after its last answer counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_shutdown_answers_every_pipelined_request_in_flight_then_closes(serve):
    """Three pipelined requests are being answered when the server shuts down: all three are answered,
    in order, and only the last one says ``connection: close``."""
    app = SlowApp()
    server, port = serve(app)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("/a") * 3)
        for _ in range(3):
            assert app.answering.acquire(timeout=10)
        server.shutdown()
        reader = Reader(sock)
        answers = [reader.response() for _ in range(3)]
        assert [(status, body) for status, _, body in answers] == [
            (200, b'{"n":1}'),
            (200, b'{"n":2}'),
            (200, b'{"n":3}'),
        ]
        assert [headers.get("connection") for _, headers, _ in answers] == [None, None, "close"]
        assert until_closed(sock) == b""


def test_an_app_error_is_that_requests_500_in_order_and_the_connection_goes_on(serve):
    """A request is answered (0.2 s later); the next two hit bugs of the app while routed and while
    answered: each gets a 500 in TF Serving's error form, after the first answer; the connection serves
    a fourth request."""
    _, port = serve(SlowApp())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("/a") + request("/boom-start") + request("/boom-answer"))
        reader = Reader(sock)
        answers = [reader.response() for _ in range(3)]
        assert [(status, body) for status, _, body in answers[:1]] == [(200, b'{"n":1}')]
        assert [(status, json.loads(body)) for status, _, body in answers[1:]] == [
            (500, {"error": "Internal error: RuntimeError: bug in start"}),
            (500, {"error": "Internal error: RuntimeError: bug in answer"}),
        ]
        sock.sendall(request("/a"))
        assert reader.response()[::2] == (200, b'{"n":2}')


def test_an_unparsable_request_is_answered_400_after_the_answers_owed(serve):
    _, port = serve(SlowApp())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request("/a") + b"NOT HTTP AT ALL\r\n\r\n")
        data = until_closed(sock)
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK") and first.endswith(b'{"n":1}')
    assert second.startswith(b"400 Bad Request") and b"connection: close" in second


@pytest.mark.parametrize(
    "sent",
    [b"POST /a HTTP/1.1\r\nHost: x\r\n", b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}"],
    ids=["headers", "body"],
)
def test_a_request_not_received_within_the_read_timeout_gets_408_and_the_connection_closes(serve, sent):
    """The client stalls in the middle of its request: past the read timeout (0.2 s, checked every
    second) the server answers 408 and closes, though the connection is not idle."""
    _, port = serve(SlowApp(), read_timeout_seconds=0.2)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"connection: close" in data


def test_read_timeout_must_be_positive():
    with pytest.raises(ValueError, match="read_timeout_seconds must be > 0, got 0"):
        HttpServer(SlowApp(), read_timeout_seconds=0)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /a?" + b"u" * MAX_URL_BYTES + b" HTTP/1.1\r\n\r\n", b"414 Request-URI Too Long"),
        (
            b"GET /a HTTP/1.1\r\n"
            + b"".join(b"x-%d: %s\r\n" % (i, b"v" * 1024) for i in range(70))
            + b"\r\n",
            b"431 Request Header Fields Too Large",
        ),
    ],
    ids=["url", "headers"],
)
def test_a_url_or_headers_over_the_limit_get_414_or_431_and_the_connection_closes(serve, head, status):
    """A URL just over 8 KiB; 70 headers of 1 KiB each (over 64 KiB in all)."""
    _, port = serve(SlowApp())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 " + status + b"\r\n") and b"connection: close" in data


def test_a_header_growing_without_end_gets_431_before_it_is_complete(serve):
    """One header value sent 16 KiB at a time, up to 4 MiB: the server answers 431 and closes once
    more than 64 KiB of the unfinished header are in (it does not buffer the whole value)."""
    _, port = serve(SlowApp())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nX-Big: ")
        try:
            for _ in range(256):
                sock.sendall(b"v" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed by the server
        data = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"longer than %d bytes" % MAX_HEADER_BYTES in data
