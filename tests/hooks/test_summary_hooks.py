"""StepCounterHook and SummarySaverHook, writing real event files read back with tensorboard."""

from __future__ import annotations

import glob
import io
import logging
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2

from torch_estimator.contract.scaffold import Scaffold
from torch_estimator.hooks import StepCounterHook, SummarySaverHook
from torch_estimator.summary import clear_writers, summary_iterator


def _accumulator(logdir):
    clear_writers()  # flushes and closes the shared writers
    accumulator = EventAccumulator(
        str(logdir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}
    )
    accumulator.Reload()
    return accumulator


class FakeWriter:
    def __init__(self):
        self.calls = []

    def write_scalars(self, step, scalars):
        self.calls.append(("scalars", step, dict(scalars)))

    def write_summaries(self, step, summaries):
        self.calls.append(("summaries", step, sorted(summaries)))

    def write_session_start(self, step):
        self.calls.append(("start", step))

    def flush(self):
        self.calls.append(("flush",))


# -- StepCounterHook ---------------------------------------------------------------------------


def test_step_counter_argument_rule():
    # every_n_steps defaults to 100, so every_n_secs alone gives both (TF's quirk).
    with pytest.raises(ValueError, match="exactly one of every_n_steps and every_n_secs should be provided"):
        StepCounterHook(every_n_secs=5)
    with pytest.raises(ValueError, match="exactly one of every_n_steps and every_n_secs should be provided"):
        StepCounterHook(every_n_steps=None)
    assert StepCounterHook(every_n_steps=None, every_n_secs=5).timer.every_secs == 5


def test_step_counter_writes_and_logs_global_step_per_sec(make_session, run_hooks, clock, tmp_path, caplog):
    """every 2 steps, 0.5 s per step: the first trigger (step 1) starts the clock; steps 3 and 5
    each come 2 steps and 1.0 s later: 2 / 1.0 = 2.0 steps per second."""
    caplog.set_level(logging.INFO, logger="torch_estimator")
    hook = StepCounterHook(every_n_steps=2, output_dir=str(tmp_path), clock=clock)

    run_hooks([hook], make_session(), max_iterations=5, on_step=lambda session, i: clock.advance(0.5))

    events = _accumulator(tmp_path).Scalars("global_step/sec")
    assert [(event.step, event.value) for event in events] == [(3, 2.0), (5, 2.0)]
    assert [r.getMessage() for r in caplog.records] == ["global_step/sec: 2", "global_step/sec: 2"]


def test_step_counter_with_an_explicit_writer_and_seconds(make_session, run_hooks, clock):
    """every 3 s, 1 s per step: triggers at steps 1 (start), 4 and 7: 3 steps / 3 s = 1.0."""
    writer = FakeWriter()
    hook = StepCounterHook(every_n_steps=None, every_n_secs=3, summary_writer=writer, clock=clock)
    run_hooks([hook], make_session(), max_iterations=7, on_step=lambda session, i: clock.advance(1))
    assert writer.calls == [
        ("scalars", 4, {"global_step/sec": 1.0}),
        ("scalars", 7, {"global_step/sec": 1.0}),
    ]


def test_step_counter_warns_at_most_five_times_when_the_step_does_not_increase(
    make_session, run_hooks, caplog
):
    hook = StepCounterHook(every_n_steps=100)
    run_hooks([hook], make_session(), max_iterations=8, increment=0)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 5
    assert "global step (te.train.get_global_step) has not been increased" in warnings[0].getMessage()


# -- SummarySaverHook --------------------------------------------------------------------------


def test_summary_saver_argument_errors():
    with pytest.raises(
        ValueError, match=re.escape("Exactly one of scaffold or summary_op must be provided.")
    ):
        SummarySaverHook(save_steps=1)
    with pytest.raises(
        ValueError, match=re.escape("Exactly one of scaffold or summary_op must be provided.")
    ):
        SummarySaverHook(save_steps=1, scaffold=Scaffold(), summary_op=["loss"])
    with pytest.raises(ValueError, match="Either every_secs or every_steps should be provided"):
        SummarySaverHook(scaffold=Scaffold())
    with pytest.raises(ValueError, match="Can not provide both"):
        SummarySaverHook(save_steps=1, save_secs=1, scaffold=Scaffold())


def _record_all_kinds(session, iteration):
    step = session.global_step
    session.recorded_summaries = {
        "loss": ("scalar", torch.tensor(0.25 * step)),
        "weights": ("histogram", torch.tensor([1.0, 2.0, 2.0, float(step)])),
        "inputs": ("image", torch.ones(2, 3, 4, 3)),
        "note": ("text", f"step {step}"),
    }


def test_summary_saver_writes_every_kind_on_the_first_step_then_every_n(make_session, run_hooks, tmp_path):
    """save_steps=2 over 5 steps: written at the real global steps 1 (first run), 3 and 5."""
    hook = SummarySaverHook(save_steps=2, output_dir=str(tmp_path), scaffold=Scaffold())

    run_hooks([hook], make_session(), max_iterations=5, on_step=_record_all_kinds)

    accumulator = _accumulator(tmp_path)
    tags = accumulator.Tags()
    assert tags["scalars"] == ["loss"]
    assert tags["histograms"] == ["weights"]
    assert sorted(tags["images"]) == ["inputs/image/0", "inputs/image/1"]
    assert tags["tensors"] == ["note"]
    assert [(e.step, e.value) for e in accumulator.Scalars("loss")] == [(1, 0.25), (3, 0.75), (5, 1.25)]
    # Histogram at step 3 of [1, 2, 2, 3]: num 4, min 1, max 3, sum 8, sum of squares 1+4+4+9 = 18.
    histogram = accumulator.Histograms("weights")[1]
    assert histogram.step == 3
    value = histogram.histogram_value
    assert (value.num, value.min, value.max, value.sum, value.sum_squares) == (4, 1, 3, 8, 18)
    image = accumulator.Images("inputs/image/1")[0]
    assert (image.step, image.width, image.height) == (1, 4, 3)
    pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    assert pixels.shape == (3, 4, 3) and (pixels == 255).all()  # 1.0 is the largest value: 255
    assert [e.tensor_proto.string_val for e in accumulator.Tensors("note")] == [
        [b"step 1"],
        [b"step 3"],
        [b"step 5"],
    ]


def test_summary_saver_starts_with_a_session_log(make_session, run_hooks, tmp_path):
    hook = SummarySaverHook(save_steps=10, output_dir=str(tmp_path), summary_op=["loss"])
    run_hooks([hook], make_session(global_step=7), max_iterations=1, on_step=_record_all_kinds)
    clear_writers()
    (path,) = glob.glob(os.path.join(tmp_path, "events.out.tfevents.*"))
    events = list(summary_iterator(path))
    starts = [event.step for event in events if event.session_log.status == event_pb2.SessionLog.START]
    assert starts == [8]


def test_summary_op_selects_tags_and_skips_missing_ones(make_session, run_hooks):
    writer = FakeWriter()
    hook = SummarySaverHook(save_steps=1, summary_writer=writer, summary_op=["loss", "note", "absent"])
    run_hooks([hook], make_session(), max_iterations=2, on_step=_record_all_kinds)
    assert writer.calls == [
        ("start", 1),
        ("summaries", 1, ["loss", "note"]),
        ("summaries", 2, ["loss", "note"]),
        ("flush",),
    ]


def test_summary_op_may_be_a_callable_or_the_scaffold_summary_op(make_session, run_hooks):
    writer = FakeWriter()
    hook = SummarySaverHook(save_steps=1, summary_writer=writer, summary_op=lambda: {"x": ("scalar", 1.0)})
    run_hooks([hook], make_session(), max_iterations=1)
    assert ("summaries", 1, ["x"]) in writer.calls

    writer = FakeWriter()
    scaffold = Scaffold(summary_op="weights")
    hook = SummarySaverHook(save_steps=1, summary_writer=writer, scaffold=scaffold)
    run_hooks([hook], make_session(), max_iterations=1, on_step=_record_all_kinds)
    assert ("summaries", 1, ["weights"]) in writer.calls


def test_summary_saver_with_seconds_cadence(make_session, run_hooks, clock):
    """save_secs=5, the clock starts at 100 and moves 2 s during each step.

    The first run writes (step 1; timer set at t=102). The timer is checked in before_run, at
    t=102, 104, 106 for steps 2-4 (< 107) and t=108 for step 5: written at steps 1 and 5.
    """
    writer = FakeWriter()
    hook = SummarySaverHook(save_secs=5, summary_writer=writer, scaffold=Scaffold(), clock=clock)

    def on_step(session, iteration):
        clock.advance(2)
        _record_all_kinds(session, iteration)

    run_hooks([hook], make_session(), max_iterations=5, on_step=on_step)
    assert [call[1] for call in writer.calls if call[0] == "summaries"] == [1, 5]


def test_summary_saver_without_a_writer_does_nothing(make_session, run_hooks):
    session = make_session()
    session.summaries = lambda: pytest.fail("no writer: summaries must not be read")
    hook = SummarySaverHook(save_steps=1, scaffold=Scaffold())
    assert run_hooks([hook], session, max_iterations=3) == 3
