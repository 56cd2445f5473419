"""What training logs and writes for TensorBoard: loss lines, steps/sec, te.summary (SEMANTICS (d), (g))."""

from __future__ import annotations

import glob
import io
import logging
import os
import re
import sys
from collections import defaultdict

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torch_estimator as te
from torch_estimator.summary import summary_iterator

LOSS_LINE = re.compile(r"^loss = (\S+), step = (\d+)( \(\d+\.\d{3} sec\))?$")


def scalar_events(model_dir: str) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of every scalar summary in model_dir's own event files."""
    found: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(model_dir, "events.out.tfevents.*"))):
        for event in summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    found[value.tag].append((event.step, value.simple_value))
    return found


def numbered_batches():
    """Batch k (k = 1, 2, ...) has features [[k, k]]: the summary at step k shows k."""
    for k in range(1, 1000):
        yield torch.full((1, 2), float(k)), torch.ones(1, 1)


def test_loss_lines_and_final_loss_are_logged(make_estimator, fakes, caplog):
    """linear_model_fn from a = 0 at rate 0.1: a = 0, 0.2, 0.32, 0.392, 0.4352 before steps 0..4,
    loss (2a - 1)^2 = 1, 0.36, 0.1296, 0.046656, 0.01679616. Logged every 2 iterations from 0:
    steps 0, 2, 4; the step is the global step before the step (TF)."""
    estimator = make_estimator(log_step_count_steps=2)
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        estimator.train(fakes.ones_input_fn, steps=5)
    lines = [LOSS_LINE.match(record.getMessage()) for record in caplog.records]
    lines = [match for match in lines if match]
    assert [int(match.group(2)) for match in lines] == [0, 2, 4]
    assert [float(match.group(1)) for match in lines] == pytest.approx([1.0, 0.1296, 0.01679616], rel=1e-5)
    # No elapsed time on the first line, then " (x.xxx sec)".
    assert [match.group(3) is not None for match in lines] == [False, True, True]
    final = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("Loss for final step")
    ]
    assert len(final) == 1
    assert float(re.search(r"Loss for final step: (\S+?)\.?$", final[0]).group(1)) == pytest.approx(
        0.01679616, rel=1e-5
    )


def test_no_loss_lines_when_log_step_count_steps_is_none(make_estimator, fakes, caplog):
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        make_estimator(log_step_count_steps=None).train(fakes.ones_input_fn, steps=3)
    assert not any(LOSS_LINE.match(record.getMessage()) for record in caplog.records)
    assert "global_step/sec" not in caplog.text


def test_loss_and_summaries_follow_save_summary_steps(make_estimator, model_dir):
    """SummarySaverHook writes on the first step (at global step 1), then whenever the step reaches
    the last written one + 3: steps 1, 4, 7, 10. The value at step k comes from batch k."""

    def model_fn(features, labels, mode):
        te.summary.scalar("batch_id", features[0, 0])
        w = te.get_variable("w", [2, 1], initializer=0.0)
        loss = ((features @ w - labels) ** 2).mean()  # w stays 0 (rate 0): loss is 1 every step
        train_op = te.train.GradientDescentOptimizer(0.0).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    make_estimator(model_fn, save_summary_steps=3, log_step_count_steps=5).train(numbered_batches, steps=10)
    events = scalar_events(model_dir)
    assert events["batch_id"] == [(1, 1.0), (4, 4.0), (7, 7.0), (10, 10.0)]
    assert events["loss"] == [(1, 1.0), (4, 1.0), (7, 1.0), (10, 1.0)]
    # The step counter's first trigger (step 1) only starts its clock; it writes at step 6.
    assert [step for step, _ in events["global_step/sec"]] == [6]
    assert events["global_step/sec"][0][1] > 0


def test_a_loss_summary_from_model_fn_is_kept(make_estimator, model_dir, fakes):
    def model_fn(features, labels, mode):
        spec = fakes.linear_model_fn(features, labels, mode, {"learning_rate": 0.0})
        te.summary.scalar("loss", spec.loss * 2)  # the Estimator adds no 'loss' of its own then (TF)
        return spec

    make_estimator(model_fn, save_summary_steps=1).train(fakes.ones_input_fn, steps=2)
    assert scalar_events(model_dir)["loss"] == [(1, 2.0), (2, 2.0)]


def test_tensorboard_reads_the_training_events(make_estimator, model_dir, fakes):
    make_estimator(save_summary_steps=2, log_step_count_steps=2).train(fakes.ones_input_fn, steps=6)
    accumulator = EventAccumulator(model_dir)
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert "loss" in tags and "global_step/sec" in tags
    assert [event.step for event in accumulator.Scalars("loss")] == [1, 3, 5]
    # The first loss is (2 * 0 - 1)^2 = 1 (linear_model_fn from a = 0).
    assert accumulator.Scalars("loss")[0].value == pytest.approx(1.0)


def test_no_training_events_when_summaries_and_step_logging_are_off(make_estimator, model_dir, fakes):
    make_estimator(save_summary_steps=0, log_step_count_steps=None).train(fakes.ones_input_fn, steps=3)
    assert scalar_events(model_dir) == {}


class FakeTerminal(io.StringIO):
    """stderr as a terminal: the loops then show a tqdm progress bar instead of relying on logs."""

    def isatty(self) -> bool:
        return True


def test_progress_bars_on_a_terminal(make_estimator, fakes, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    estimator = make_estimator()
    estimator.train(fakes.ones_input_fn, steps=5)
    estimator.evaluate(lambda: [fakes.ones_input_fn()] * 3)
    list(estimator.predict(lambda: iter([torch.ones(2, 2)] * 2)))
    shown = terminal.getvalue()
    assert re.search(r"train: .*5/5", shown), shown
    assert re.search(r"evaluate: .*3", shown), shown
    assert re.search(r"predict: .*2", shown), shown
