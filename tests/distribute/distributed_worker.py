"""One training process of the multi-process tests, run as a script (by a test or by torchrun).

    python distributed_worker.py MODEL_DIR REPORT_DIR --max-steps N [--strategy ddp]
        [--kill-at-step K] [--timeout S]

The process group comes from the environment (TF_CONFIG or torchrun's variables), as for any
user script. The model is ``y = x @ w + b`` with squared error and plain SGD (rate 0.1); batch ``i``
of the data stream is ``batch(i)`` and each rank reads every ``world_size``-th batch through its
input_context. At the end every rank saves its variables (``REPORT_DIR/rank<r>.pt``); the chief-only
hook leaves ``REPORT_DIR/chief_hook_rank<r>`` behind.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
from pathlib import Path

import torch

import torch_estimator as te

LEARNING_RATE = 0.1


def batch(index):
    """Batch ``index`` of the stream: 4 examples, 3 features, one target."""
    generator = torch.Generator().manual_seed(1000 + index)
    return torch.randn(4, 3, generator=generator), torch.randn(4, 1, generator=generator)


def rank():
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


class ChiefMarkerHook(te.SessionRunHook):
    def __init__(self, report_dir):
        self.report_dir = report_dir

    def begin(self):
        Path(self.report_dir, f"chief_hook_rank{rank()}").touch()


class ReportHook(te.SessionRunHook):
    """Saves this rank's variables at the end, and the restored ones at session creation."""

    def __init__(self, report_dir, kill_at_step):
        self.report_dir = report_dir
        self.kill_at_step = kill_at_step

    def after_create_session(self, session, coord):
        state = {name: value.detach().clone() for name, value in session.graph.state_dict().items()}
        torch.save(state, Path(self.report_dir, f"restored_rank{rank()}.pt"))

    def after_run(self, run_context, run_values):
        if (
            self.kill_at_step is not None
            and rank() == 1
            and run_context.session.global_step >= self.kill_at_step
        ):
            os.kill(os.getpid(), signal.SIGKILL)

    def end(self, session):
        state = {name: value.detach().clone() for name, value in session.graph.state_dict().items()}
        torch.save(state, Path(self.report_dir, f"rank{rank()}.pt"))


def make_model_fn(report_dir):
    def model_fn(features, labels, mode):
        w = te.get_variable("linear/w", [3, 1])
        b = te.get_variable("linear/b", [1], initializer=te.initializers.zeros())
        loss = ((features @ w + b - labels) ** 2).mean()
        optimizer = te.train.GradientDescentOptimizer(LEARNING_RATE)
        train_op = optimizer.minimize(loss, global_step=te.train.get_global_step())
        return te.EstimatorSpec(
            mode, loss=loss, train_op=train_op, training_chief_hooks=[ChiefMarkerHook(report_dir)]
        )

    return model_fn


def input_fn(input_context):
    return input_context.shard(batch(index) for index in itertools.count())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("report_dir")
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--strategy", default=None)
    parser.add_argument("--kill-at-step", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = te.RunConfig(
        model_dir=args.model_dir,
        tf_random_seed=7,
        save_checkpoints_steps=2,
        save_summary_steps=1,
        log_step_count_steps=None,
        device="cpu",
        train_distribute=args.strategy,
        collective_timeout_secs=args.timeout,
    )
    estimator = te.Estimator(make_model_fn(args.report_dir), config=config)
    estimator.train(
        input_fn, max_steps=args.max_steps, hooks=[ReportHook(args.report_dir, args.kill_at_step)]
    )


if __name__ == "__main__":
    main()
