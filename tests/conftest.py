"""Fixtures shared across test directories: a model directory, free ports, and two-rank gloo runs.

Test modules reach them as fixtures (pytest runs with ``--import-mode=importlib``, so test modules
cannot import a helper module).
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch.multiprocessing as mp


def pick_free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_ranks(
    run_rank: Callable[..., None], args: Sequence[Any], out_dir: Any, nprocs: int = 2, timeout_s: float = 120
) -> list[Any]:
    """Spawns ``run_rank(rank, free port, *args)`` in ``nprocs`` processes; returns their reports.

    Each rank pickles its report to ``out_dir/rank{rank}.pkl``. A rank that fails raises here with
    the child's traceback; processes still running after ``timeout_s`` fail the test.
    """
    context = mp.start_processes(
        run_rank, args=(pick_free_port(), *args), nprocs=nprocs, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout_s
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the {nprocs} processes did not finish within {timeout_s} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    reports = []
    for rank in range(nprocs):
        with open(os.path.join(str(out_dir), f"rank{rank}.pkl"), "rb") as file:
            reports.append(pickle.load(file))
    return reports


@pytest.fixture
def model_dir(tmp_path) -> str:
    return str(tmp_path / "model")


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    return pick_free_port


@pytest.fixture(scope="session")
def run_gloo_ranks() -> Callable[..., list[Any]]:
    """``run_gloo_ranks(run_rank, args, out_dir, nprocs=2, timeout_s=120)``: see ``spawn_ranks``."""
    return spawn_ranks
