"""The server's HTTP/1.1: pipelining, Expect: 100-continue, unparsable requests, HTTP/1.0, percent-encoded
paths, and a graceful stop that lets a running request finish."""

from __future__ import annotations

import json
import socket
import threading

from torch_estimator.serving import BatchingOptions, ModelConfig


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
