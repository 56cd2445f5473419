"""train_and_evaluate without a cluster: evaluate and export after each checkpoint (SEMANTICS (k) local)."""

from __future__ import annotations

import json
import logging
import os

import pytest

import torch_estimator as te
from torch_estimator.training.evaluator import ContinuousEvalListener
from torch_estimator.training.roles import TrainingExecutor, run_local


class AdvanceClock(te.SessionRunHook):
    """Moves a fake clock by ``seconds_per_step`` after every training step."""

    def __init__(self, clock, seconds_per_step: float) -> None:
        self.clock = clock
        self.seconds_per_step = seconds_per_step

    def after_run(self, run_context, run_values) -> None:
        self.clock.advance(self.seconds_per_step)


class RecordingListener(te.CheckpointSaverListener):
    def __init__(self, log):
        self.log = log

    def after_save(self, session, global_step_value):
        self.log.append(("listener", global_step_value))


def test_worked_example_three_evaluations_and_exports_the_last_final(tfakes, make_estimator):
    """save_checkpoints_steps=10, max_steps=22, throttle_secs=0 (SEMANTICS (k) 5).

    Saves at 0 (session start, skipped), 10, 20 and 22 (end): 3 evaluations, 3 exports, only the
    last with is_the_final_export. The model of conftest has loss 0.36^n after n steps, so the
    evaluation at step 10 reports 0.36^10 = 3.656e-5.
    """
    estimator = make_estimator(save_checkpoints_steps=10)
    exporter = tfakes.RecordingExporter()
    metrics, exports = te.train_and_evaluate(
        estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=22),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=exporter, throttle_secs=0),
    )
    assert exporter.calls == [(10, False), (20, False), (22, True)]
    assert [os.path.basename(path) for path in exporter.checkpoints] == [
        "model.ckpt-10",
        "model.ckpt-20",
        "model.ckpt-22",
    ]
    assert exporter.export_paths == [os.path.join(estimator.model_dir, "export", "recording")] * 3
    assert exporter.results[0]["loss"] == pytest.approx(0.36**10, rel=1e-3)
    assert metrics["global_step"] == 22 and metrics == exporter.results[-1]
    assert exports == ["recording-22"]


def test_max_steps_on_a_save_step_evaluates_twice(tfakes, make_estimator):
    """max_steps=20: saves at 0 (skipped), 10 and 20; the end save is the step-20 one, already evaluated."""
    exporter = tfakes.RecordingExporter()
    te.train_and_evaluate(
        make_estimator(save_checkpoints_steps=10),
        te.TrainSpec(tfakes.input_fn, max_steps=20),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], throttle_secs=0),
    )
    assert exporter.calls == [(10, False), (20, True)]


def test_max_steps_twelve_evaluates_twice(tfakes, make_estimator):
    exporter = tfakes.RecordingExporter()
    te.train_and_evaluate(
        make_estimator(save_checkpoints_steps=10),
        te.TrainSpec(tfakes.input_fn, max_steps=12),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], throttle_secs=0),
    )
    assert exporter.calls == [(10, False), (12, True)]


def test_throttle_secs_skips_saves_until_enough_time_passed(tfakes, make_estimator, caplog):
    """Each step takes 40 fake seconds; throttle_secs=600; saves every 10 steps; max_steps=35.

    Save 10 (t=400): the first evaluation (the timer never triggered). Save 20 (t=800): 400 s since
    the last evaluation < 600, skipped. Save 30 (t=1200): 800 s >= 600, evaluated. End save 35:
    not evaluated yet, so the final evaluation runs whatever the throttle.
    """
    clock = tfakes.FakeClock()
    exporter = tfakes.RecordingExporter()
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        te.train_and_evaluate(
            make_estimator(save_checkpoints_steps=10),
            te.TrainSpec(tfakes.input_fn, max_steps=35, hooks=[AdvanceClock(clock, 40)]),
            te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], throttle_secs=600),
            clock=clock,
            sleep=clock.sleep,
        )
    assert exporter.calls == [(10, False), (30, False), (35, True)]
    assert "Skip the current checkpoint eval due to throttle secs (600 secs)" in caplog.text
    assert clock.sleeps == []  # local mode never waits


def test_throttle_with_a_still_clock_evaluates_first_and_final_only(tfakes, make_estimator):
    clock = tfakes.FakeClock()
    exporter = tfakes.RecordingExporter()
    te.train_and_evaluate(
        make_estimator(save_checkpoints_steps=10),
        te.TrainSpec(tfakes.input_fn, max_steps=22),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter]),
        clock=clock,
        sleep=clock.sleep,
    )
    assert exporter.calls == [(10, False), (22, True)]


def test_evaluation_results_are_written_under_eval_name(tfakes, make_estimator):
    estimator = make_estimator(save_checkpoints_steps=10)
    te.train_and_evaluate(
        estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=20),
        te.EvalSpec(tfakes.input_fn, steps=1, name="holdout", throttle_secs=0),
    )
    written = te.summary.read_eval_metrics(estimator.eval_dir("holdout"))
    assert list(written) == [10, 20]
    assert written[10]["loss"] == pytest.approx(0.36**10, rel=1e-3)


def test_train_spec_listeners_run_before_the_evaluation(tfakes, make_estimator):
    log: list[tuple[str, int]] = []

    class LoggingExporter(tfakes.RecordingExporter):
        def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
            log.append(("export", eval_result["global_step"]))
            return super().export(estimator, export_path, checkpoint_path, eval_result, is_the_final_export)

    te.train_and_evaluate(
        make_estimator(save_checkpoints_steps=10),
        te.TrainSpec(tfakes.input_fn, max_steps=10, saving_listeners=[RecordingListener(log)]),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[LoggingExporter()], throttle_secs=0),
    )
    assert log == [("listener", 0), ("listener", 10), ("export", 10)]


def test_real_exporters_in_the_local_loop(tfakes, make_estimator):
    """LatestExporter exports each evaluation; FinalExporter only the last (its result is None before)."""
    estimator = make_estimator(save_checkpoints_steps=10)
    latest = te.LatestExporter("latest", tfakes.serving_input_receiver_fn)
    final = te.FinalExporter("final", tfakes.serving_input_receiver_fn)
    metrics, exports = te.train_and_evaluate(
        estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=20),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[latest, final], throttle_secs=0),
    )
    latest_dir = os.path.join(estimator.model_dir, "export", "latest")
    final_dir = os.path.join(estimator.model_dir, "export", "final")
    assert len(os.listdir(latest_dir)) == 2 and len(os.listdir(final_dir)) == 1
    assert [os.path.dirname(path) for path in exports] == [latest_dir, final_dir]
    with open(os.path.join(exports[1], "saved_model.json")) as f:
        assert json.load(f)["global_step"] == 20
    served = te.saved_model.load(exports[1])
    assert served is not None
    assert metrics["global_step"] == 20


def test_no_evaluation_when_max_steps_already_reached(tfakes, make_estimator):
    estimator = make_estimator(save_checkpoints_steps=10)
    estimator.train(tfakes.input_fn, max_steps=10)
    result = te.train_and_evaluate(
        estimator, te.TrainSpec(tfakes.input_fn, max_steps=10), te.EvalSpec(tfakes.input_fn, steps=1)
    )
    assert result == (None, None)


def test_disabled_checkpointing_cannot_evaluate(tfakes, make_estimator):
    estimator = make_estimator(save_checkpoints_steps=None, save_checkpoints_secs=None)
    with pytest.raises(ValueError, match="There should be a CheckpointSaverHook to use saving_listeners"):
        te.train_and_evaluate(
            estimator, te.TrainSpec(tfakes.input_fn, max_steps=5), te.EvalSpec(tfakes.input_fn, steps=1)
        )


class StopAfterEvaluations(ContinuousEvalListener):
    def __init__(self, evaluations: int) -> None:
        self.evaluations = evaluations
        self.seen: list[int] = []

    def after_eval(self, eval_result) -> bool:
        self.seen.append(eval_result.metrics["global_step"])
        return len(self.seen) < self.evaluations


def test_continuous_eval_listener_stops_training(tfakes, make_estimator):
    """after_eval False at the step-10 evaluation stops training right there: step 10 is the last one."""
    estimator = make_estimator(save_checkpoints_steps=10)
    listener = StopAfterEvaluations(1)
    executor = TrainingExecutor(
        estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=100),
        te.EvalSpec(tfakes.input_fn, steps=1, throttle_secs=0),
        continuous_eval_listener=listener,
    )
    metrics, _ = run_local(executor)
    assert estimator.get_variable_value("global_step") == 10
    assert listener.seen == [10] and metrics["global_step"] == 10


def test_continuous_eval_listener_before_eval_false_stops_without_evaluating(tfakes, make_estimator):
    class Never(ContinuousEvalListener):
        def before_eval(self) -> bool:
            return False

    estimator = make_estimator(save_checkpoints_steps=10)
    exporter = tfakes.RecordingExporter()
    executor = TrainingExecutor(
        estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=100),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], throttle_secs=0),
        continuous_eval_listener=Never(),
    )
    assert run_local(executor) == (None, None)
    assert exporter.calls == [] and estimator.get_variable_value("global_step") == 10
