"""Bounded concurrent load: 8 client threads x 200 requests on keep-alive connections, no errors, every
answer right."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from torch_estimator.serving import BatchingOptions, ModelConfig

CLIENTS, REQUESTS = 8, 200


def client(serving, port, index):
    """200 regress requests on one connection; x = [index, request, 0, 0] so the answer, sum(x) = index +
    request, shows that nobody got someone else's rows."""
    connection = serving.keepalive_client(port)
    wrong = []
    try:
        for request in range(REQUESTS):
            body = json.dumps({"signature_name": "regress", "instances": [[index, request, 0, 0]]})
            connection.request("POST", "/v1/models/m:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or answer != {"predictions": [float(index + request)]}:
                wrong.append((response.status, answer))
    finally:
        connection.close()
    return wrong


@pytest.mark.parametrize(
    "options",
    [
        {},  # small requests of a fast signature run on the event loop
        {"inline_max_micros": 0},  # every request in the thread pool
        {"batching": BatchingOptions(max_batch_size=8, batch_timeout_micros=500)},
    ],
    ids=["plain", "thread-pool", "batching"],
)
def test_eight_clients_two_hundred_requests_each_without_errors(start_server, model_base, serving, options):
    server = start_server([ModelConfig("m", model_base(1))], **options)
    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        wrong = [
            error
            for result in pool.map(lambda i: client(serving, server.port, i), range(CLIENTS))
            for error in result
        ]
    elapsed = time.monotonic() - start
    assert wrong == []
    assert elapsed < 60, f"{CLIENTS * REQUESTS} requests took {elapsed:.1f} s"
    # The server still answers status after the load.
    assert serving.request("GET", f"{server.url}/v1/models/m")[0] == 200
