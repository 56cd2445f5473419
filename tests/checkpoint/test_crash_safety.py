"""A writer SIGKILLed at random moments never leaves the model_dir without a usable checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from torch_estimator.checkpoint import Saver, latest_checkpoint, load_checkpoint
from torch_estimator.checkpoint.atomic import is_temp_file

# A fork server: imports torch once, then forks one writer per input line until it is killed.
# Line "1": max_to_keep=1, so the previous checkpoint is deleted on every save and only the write
# order (files, then state file, then deletion) keeps one valid. Line "3": max_to_keep=3, and
# every 3rd step is saved twice to cover overwrites. Every tensor of step k holds k, so a loaded
# checkpoint proves its own consistency.
SERVER = textwrap.dedent(
    """
    import os, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    torch.set_num_threads(1)
    from torch_estimator.checkpoint import Saver, global_step_of

    model_dir = sys.argv[1]
    base = os.path.join(model_dir, "model.ckpt")

    class Store:
        step = 0
        def checkpoint_tensors(self):
            return {
                "global_step": torch.tensor(self.step),
                "w": torch.full((256, 256), float(self.step)),
                "b": torch.arange(1000) + self.step,
            }

    def write_forever(keep):
        store, saver = Store(), Saver(max_to_keep=keep)
        step = global_step_of(model_dir)
        while True:
            step += 1
            store.step = step
            saver.save(store, base, step, metadata={"step": step})
            if keep > 1 and step % 3 == 0:
                saver.save(store, base, step, metadata={"step": step})

    store = Store()
    Saver(max_to_keep=3).save(store, base, 0, metadata={"step": 0})
    print("ready", flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                write_forever(int(line))
            finally:
                os._exit(1)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)
    """
)


def _check(checkpoint) -> None:
    step = checkpoint.global_step
    assert checkpoint.metadata == {"step": step}
    assert torch.equal(checkpoint.tensors["w"], torch.full((256, 256), float(step)))
    assert torch.equal(checkpoint.tensors["b"], torch.arange(1000) + step)
    assert int(checkpoint.tensors["global_step"]) == step


@pytest.mark.timeout(120)
def test_sigkilled_writer_always_leaves_a_valid_latest_checkpoint(tmp_path):
    model_dir = str(tmp_path)
    chooser = random.Random(20240601)
    with open(tmp_path.parent / f"{tmp_path.name}-server.err", "w") as errors:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, model_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    kills, steps_seen, temp_files_seen = 0, set(), 0
    try:
        assert server.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20.0
        while kills < 25 and time.monotonic() < deadline:
            server.stdin.write("1\n" if kills % 2 else "3\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            time.sleep(chooser.uniform(0.0, 0.05))
            os.kill(pid, signal.SIGKILL)
            status = int(server.stdout.readline())
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                "the writer died by itself"
            )
            kills += 1
            temp_files_seen += sum(is_temp_file(name) for name in os.listdir(model_dir))
            latest = latest_checkpoint(model_dir)
            assert latest is not None, f"no valid checkpoint after kill {kills}"
            checkpoint = load_checkpoint(latest)
            _check(checkpoint)
            steps_seen.add(checkpoint.global_step)
    finally:
        server.kill()
        server.wait(timeout=30)
        server.stdin.close()
        server.stdout.close()
    assert kills >= 20
    assert len(steps_seen) > 1, "the writers made progress between kills"

    class Store:
        def checkpoint_tensors(self):
            return {"global_step": torch.tensor(10**6), "w": torch.zeros(1)}

    # The next save removes every temp file the killed writers left behind.
    Saver().save(Store(), os.path.join(model_dir, "model.ckpt"), 10**6)
    assert not [name for name in os.listdir(model_dir) if is_temp_file(name)]
    print(f"{kills} kills, {temp_files_seen} temp files seen, steps {sorted(steps_seen)[:5]}...")
