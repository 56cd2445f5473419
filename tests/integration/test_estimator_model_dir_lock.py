"""Two trainers on one model_dir: the second gets a clear error, not interleaved files (DESIGN.md 6)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import torch_estimator as te
from torch_estimator.checkpoint import ModelDirLock

# Trains slowly (50 ms per step) and says "training" once it holds the model_dir.
SLOW_TRAINER = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("ignore")
    import torch
    import torch_estimator as te

    class Slow(te.SessionRunHook):
        def after_create_session(self, session, coord):
            print("training", flush=True)

        def after_run(self, run_context, run_values):
            time.sleep(0.05)

    def model_fn(features, labels, mode):
        w = te.get_variable("w", [2, 1], initializer=0.0)
        loss = ((features @ w - labels) ** 2).mean()
        step = te.train.get_global_step()
        train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(model_fn, model_dir=sys.argv[1], config=config)
    estimator.train(lambda: (torch.ones(1, 2), torch.ones(1, 1)), steps=2000, hooks=[Slow()])
    """
)


def model_fn(features, labels, mode):
    w = te.get_variable("w", [2, 1], initializer=0.0)
    loss = ((features @ w - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
    return torch.ones(1, 2), torch.ones(1, 1)


@pytest.mark.integration
def test_second_trainer_in_another_process_gets_model_dir_locked_error(tmp_path):
    model_dir = str(tmp_path / "model")
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(model_fn, model_dir=model_dir, config=config)
    other = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAINER, model_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "training", other.stderr.read()
        with pytest.raises(te.ModelDirLockedError, match=r"\.torch_estimator\.lock") as info:
            estimator.train(input_fn, steps=1)
        message = str(info.value)
        assert "another Estimator is training into this model_dir" in message
        assert f"pid {other.pid}" in message
        # Evaluation needs no lock: it reads the checkpoint saved at the other trainer's start.
        assert estimator.evaluate(lambda: [input_fn()])["global_step"] == 0
    finally:
        other.kill()
        other.wait()
        other.stdout.close()
        other.stderr.close()
    # The kernel dropped the dead trainer's lock: training here works now, and releases it after.
    estimator.train(input_fn, steps=1)
    assert estimator.get_variable_value("global_step") == 1
    lock = ModelDirLock(model_dir).acquire()
    lock.release()
