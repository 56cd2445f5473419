"""A training process SIGKILLed at random moments always leaves a checkpoint to resume from (DESIGN.md 6).

A fork server imports torch once and forks one trainer per round; the test kills each trainer after
a random delay, then checks the model_dir with a fresh Estimator, as a user restarting would.
"""

from __future__ import annotations

import logging
import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import torch_estimator as te
from torch_estimator.checkpoint import load_checkpoint

# Each "go <max_steps>" line forks a trainer that calls train(max_steps=...) in chunks of 7 steps
# until the checkpointed global step reaches max_steps; the server answers "pid <pid>", then
# "exit <wait status>" once the trainer is gone.
SERVER = textwrap.dedent(
    """
    import os, sys, tempfile, traceback, warnings
    warnings.simplefilter("ignore")
    import torch
    torch.set_num_threads(1)
    import torch_estimator as te

    model_dir = sys.argv[1]

    def model_fn(features, labels, mode):
        hidden = te.layers.dense(features, 16, activation=torch.relu)
        hidden = te.layers.dense(hidden, 16, activation=torch.relu)
        logits = te.layers.dense(hidden, 1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        train_op = te.train.AdamOptimizer(0.01).minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    x = torch.linspace(-1.0, 1.0, 64).reshape(32, 2)
    y = (x.sum(1, keepdim=True) > 0).float()
    config = te.RunConfig(
        save_checkpoints_steps=5, keep_checkpoint_max=3, log_step_count_steps=None, save_summary_steps=0,
        device="cpu",  # forked children cannot use a CUDA context made by the server
    )

    def train_until(directory, max_steps):
        estimator = te.Estimator(model_fn, model_dir=directory, config=config)
        step = 0
        while step < max_steps:
            estimator.train(lambda: (x, y), max_steps=min(step + 7, max_steps))
            step = estimator.get_variable_value("global_step")

    train_until(tempfile.mkdtemp(), 3)  # warm up once, so that every trainer starts warm
    print("ready", flush=True)
    for line in sys.stdin:
        max_steps = int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            try:
                train_until(model_dir, max_steps)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)
    """
)

KILLS = 20
TIME_BUDGET_SECS = 45.0
NEVER_REACHED = 10**7


def model_fn_never_called(features):
    raise AssertionError("only checkpoint queries here")


def read_reply(server: subprocess.Popen, prefix: str, log_path: str) -> int:
    line = server.stdout.readline()
    if not line.startswith(prefix):
        raise AssertionError(f"fork server said {line!r}; its stderr:\n{pathlib.Path(log_path).read_text()}")
    return int(line.split()[1])


def checked_step(model_dir: str) -> int | None:
    """The global step of the latest checkpoint after loading every variable of it, or None."""
    estimator = te.Estimator(model_fn_never_called, model_dir=model_dir)
    latest = estimator.latest_checkpoint()
    if latest is None:
        return None
    load_checkpoint(latest)  # verifies the checksums too
    for name in estimator.get_variable_names():
        estimator.get_variable_value(name)
    return estimator.get_variable_value("global_step")


@pytest.mark.slow
@pytest.mark.integration
def test_sigkilled_training_always_resumes_and_reaches_max_steps(tmp_path, caplog):
    model_dir = str(tmp_path / "model")
    log_path = str(tmp_path / "server.log")  # a file, not a pipe: a full pipe would block the trainers
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, model_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            # The warm-up's backward would start autograd's GPU threads on a CUDA machine, and
            # autograd cannot run in a child forked after that.
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        )
    rng = random.Random(20240607)
    kills, last_step = 0, None
    try:
        assert server.stdout.readline().strip() == "ready", pathlib.Path(log_path).read_text()
        deadline = time.monotonic() + TIME_BUDGET_SECS
        with caplog.at_level(logging.WARNING, logger="torch_estimator"):
            while kills < KILLS and time.monotonic() < deadline:
                server.stdin.write(f"go {NEVER_REACHED}\n")
                server.stdin.flush()
                pid = read_reply(server, "pid", log_path)
                time.sleep(rng.uniform(0.02, 0.4))
                os.kill(pid, signal.SIGKILL)  # a zombie until the server reaps it: never another process
                status = read_reply(server, "exit", log_path)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
                kills += 1
                step = checked_step(model_dir)
                if last_step is not None:
                    # Once a checkpoint exists there is always one, and it never goes back.
                    assert step is not None and step >= last_step
                last_step = step
        assert kills >= KILLS, f"only {kills} kills in {TIME_BUDGET_SECS} s"
        # Atomic saves: no kill ever left a listed checkpoint truncated (no fallback was needed).
        assert "Skipping checkpoint" not in caplog.text
        assert last_step is not None and last_step > 0, "the trainers never got to save"

        # A last trainer runs to the end: 30 steps past where the kills left off.
        target = last_step + 30
        server.stdin.write(f"go {target}\n")
        server.stdin.flush()
        read_reply(server, "pid", log_path)
        status = read_reply(server, "exit", log_path)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, pathlib.Path(log_path).read_text()
        assert checked_step(model_dir) == target
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
