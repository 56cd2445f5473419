"""The evaluator task: follows a trainer's checkpoints with a fake clock (SEMANTICS (k) evaluator).

The "trainer" is a real Estimator training into the same model_dir between the evaluator's sleeps,
so the evaluator reads checkpoints written by Estimator.train exactly as a second process would.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

import torch_estimator as te
from torch_estimator.checkpoint import ModelDirLock, remove_checkpoint
from torch_estimator.training.evaluator import ContinuousEvalListener, EvalResult, EvalStatus, Evaluator
from torch_estimator.training.roles import TrainingExecutor, run_evaluator

EVALUATOR = te.distribute.parse_tf_config(
    {
        "TF_CONFIG": json.dumps(
            {"cluster": {"chief": ["localhost:2222"]}, "task": {"type": "evaluator", "index": 0}}
        )
    }
)


class ScriptedSleep:
    """A fake clock whose n-th sleep runs ``actions[n]`` (a callable or None) before time moves on."""

    def __init__(self, clock, actions) -> None:
        self.clock = clock
        self.actions = list(actions)
        self.calls = 0

    def __call__(self, seconds: float) -> None:
        action = self.actions[self.calls] if self.calls < len(self.actions) else None
        self.calls += 1
        if action is not None:
            action()
        self.clock.sleep(seconds)


@pytest.fixture
def evaluator_estimator(tfakes, model_dir) -> te.Estimator:
    return te.Estimator(tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=EVALUATOR))


@pytest.fixture
def trainer(tfakes, model_dir) -> te.Estimator:
    return te.Estimator(tfakes.model_fn, model_dir, tfakes.quiet_config(save_checkpoints_steps=10))


def train_to(trainer, tfakes, step):
    return lambda: trainer.train(tfakes.input_fn, max_steps=step)


def test_evaluator_follows_new_checkpoints_until_max_steps(tfakes, trainer, evaluator_estimator, caplog):
    """Passes: no checkpoint yet; step 10; step 20; nothing new; step 30 (final) -> stop.

    Sleeps: the start delay (120), then after each pass the rest of throttle_secs (60: passes take
    no fake time), six in all; training happens "during" the 2nd, 3rd and 5th sleep.
    """
    clock = tfakes.FakeClock()
    sleep = ScriptedSleep(
        clock,
        [
            None,
            train_to(trainer, tfakes, 10),
            train_to(trainer, tfakes, 20),
            None,
            train_to(trainer, tfakes, 30),
        ],
    )
    exporter = tfakes.RecordingExporter()
    with caplog.at_level(logging.INFO, logger="torch_estimator"):
        result = te.train_and_evaluate(
            evaluator_estimator,
            te.TrainSpec(tfakes.input_fn, max_steps=30),
            te.EvalSpec(
                tfakes.input_fn, steps=1, exporters=[exporter], start_delay_secs=120, throttle_secs=60
            ),
            clock=clock,
            sleep=sleep,
        )
    assert result is None
    assert exporter.calls == [(10, False), (20, False), (30, True)]
    assert [os.path.basename(path) for path in exporter.checkpoints] == [
        "model.ckpt-10",
        "model.ckpt-20",
        "model.ckpt-30",
    ]
    assert clock.sleeps == [120, 60, 60, 60, 60, 60]
    assert "Estimator is not trained yet" in caplog.text
    assert "No new checkpoint ready for evaluation" in caplog.text
    assert "Exiting evaluation, global_step=30 >= train max_steps=30" in caplog.text
    assert list(te.summary.read_eval_metrics(evaluator_estimator.eval_dir())) == [10, 20, 30]


def test_evaluator_evaluates_each_checkpoint_once_and_only_the_newest(tfakes, trainer, evaluator_estimator):
    """Checkpoints 0, 10, 20 exist before the evaluator starts: it evaluates 20 only, then 30 (final)."""
    trainer.train(tfakes.input_fn, max_steps=20)
    clock = tfakes.FakeClock()
    exporter = tfakes.RecordingExporter()
    te.train_and_evaluate(
        evaluator_estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=30),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], start_delay_secs=0, throttle_secs=5),
        clock=clock,
        sleep=ScriptedSleep(clock, [train_to(trainer, tfakes, 30)]),
    )
    assert exporter.calls == [(20, False), (30, True)]
    assert clock.sleeps == [5, 5]


def test_evaluator_throttle_counts_the_evaluation_time(tfakes, trainer, evaluator_estimator):
    """An evaluation taking 25 fake seconds leaves 60 - 25 = 35 s to wait; one longer than 60 s, none."""
    trainer.train(tfakes.input_fn, max_steps=10)
    clock = tfakes.FakeClock()
    durations = iter([25, 70])

    class SlowEvaluation(te.SessionRunHook):
        def end(self, session):
            clock.advance(next(durations))

    te.train_and_evaluate(
        evaluator_estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=20),
        te.EvalSpec(tfakes.input_fn, steps=1, hooks=[SlowEvaluation()], start_delay_secs=0, throttle_secs=60),
        clock=clock,
        sleep=ScriptedSleep(clock, [train_to(trainer, tfakes, 20)]),
    )
    assert clock.sleeps == [35]


def test_evaluator_reads_while_the_trainer_holds_the_model_dir_lock(tfakes, trainer, evaluator_estimator):
    """Evaluation and export never take the training lock: they succeed while a trainer holds it."""
    trainer.train(tfakes.input_fn, max_steps=10)
    clock = tfakes.FakeClock()
    exporter = te.LatestExporter("latest", tfakes.serving_input_receiver_fn)
    with ModelDirLock(evaluator_estimator.model_dir):
        te.train_and_evaluate(
            evaluator_estimator,
            te.TrainSpec(tfakes.input_fn, max_steps=10),
            te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], start_delay_secs=0, throttle_secs=0),
            clock=clock,
            sleep=clock.sleep,
        )
    assert len(os.listdir(os.path.join(evaluator_estimator.model_dir, "export", "latest"))) == 1


def test_evaluator_skips_a_checkpoint_deleted_before_it_was_read(
    tfakes, trainer, evaluator_estimator, caplog
):
    """The eval input_fn deletes checkpoint 30 (as keep_checkpoint_max would) the first time it runs.

    That pass reports a missing checkpoint instead of failing; the trainer then resumes from 20 and
    reaches 40, which the next pass evaluates (final).
    """
    trainer.train(tfakes.input_fn, max_steps=30)
    deleted = []

    def eval_input_fn():
        if not deleted:
            deleted.append(trainer.latest_checkpoint())
            remove_checkpoint(deleted[0])
        return tfakes.input_fn()

    clock = tfakes.FakeClock()
    exporter = tfakes.RecordingExporter()
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        te.train_and_evaluate(
            evaluator_estimator,
            te.TrainSpec(tfakes.input_fn, max_steps=40),
            te.EvalSpec(eval_input_fn, steps=1, exporters=[exporter], start_delay_secs=0, throttle_secs=1),
            clock=clock,
            sleep=ScriptedSleep(clock, [train_to(trainer, tfakes, 40)]),
        )
    assert os.path.basename(deleted[0]) == "model.ckpt-30"
    assert "was deleted before it could be evaluated" in caplog.text
    assert exporter.calls == [(40, True)]


def test_evaluator_does_not_hide_a_broken_checkpoint_that_still_exists(tfakes, trainer, evaluator_estimator):
    trainer.train(tfakes.input_fn, max_steps=10)

    def failing_input_fn():
        raise te.CheckpointNotFoundError("not about a vanished checkpoint")

    executor = TrainingExecutor(
        evaluator_estimator,
        te.TrainSpec(tfakes.input_fn, max_steps=10),
        te.EvalSpec(failing_input_fn, steps=1, start_delay_secs=0, throttle_secs=0),
    )
    with pytest.raises(te.CheckpointNotFoundError, match="not about a vanished checkpoint"):
        run_evaluator(executor)


def test_evaluator_without_max_steps_runs_until_the_listener_stops_it(tfakes, trainer, evaluator_estimator):
    trainer.train(tfakes.input_fn, max_steps=10)
    statuses = []

    class ThreePasses(ContinuousEvalListener):
        def after_eval(self, eval_result):
            statuses.append(eval_result.status)
            return len(statuses) < 3

    clock = tfakes.FakeClock()
    executor = TrainingExecutor(
        evaluator_estimator,
        te.TrainSpec(tfakes.input_fn),
        te.EvalSpec(tfakes.input_fn, steps=1, start_delay_secs=0, throttle_secs=0),
        continuous_eval_listener=ThreePasses(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert run_evaluator(executor) is None
    assert statuses == [EvalStatus.EVALUATED, EvalStatus.NO_NEW_CHECKPOINT, EvalStatus.NO_NEW_CHECKPOINT]
    assert clock.sleeps == []  # throttle_secs=0: no waiting (a warning instead)


def test_evaluator_repeats_its_warnings_at_most_every_ten_minutes(tfakes, evaluator_estimator, caplog):
    clock = tfakes.FakeClock()
    evaluator = Evaluator(
        evaluator_estimator, te.EvalSpec(tfakes.input_fn), max_training_steps=10, clock=clock
    )
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        for advance in (0, 300, 299, 2):
            clock.advance(advance)
            result, exports = evaluator.evaluate_and_export()
            assert result.status == EvalStatus.MISSING_CHECKPOINT and exports == []
    assert caplog.text.count("Estimator is not trained yet") == 2  # at t=0 and t=601


def test_an_export_of_a_checkpoint_deleted_after_its_evaluation_is_skipped(
    tfakes, trainer, evaluator_estimator, caplog
):
    """The checkpoint vanishes between evaluate and export: that exporter's result is None, no crash."""
    trainer.train(tfakes.input_fn, max_steps=10)
    latest = te.LatestExporter("latest", tfakes.serving_input_receiver_fn)

    class DeleteThenExport:
        name = "latest"

        def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
            remove_checkpoint(checkpoint_path)
            return latest.export(estimator, export_path, checkpoint_path, eval_result, is_the_final_export)

    spec = te.EvalSpec(tfakes.input_fn, steps=1, exporters=[DeleteThenExport()])
    evaluator = Evaluator(evaluator_estimator, spec, max_training_steps=10)
    with caplog.at_level(logging.WARNING, logger="torch_estimator"):
        result, exports = evaluator.evaluate_and_export()
    assert result.status == EvalStatus.EVALUATED and result.metrics["global_step"] == 10
    assert exports == [None]
    assert "was deleted before exporter 'latest' could export it" in caplog.text


@pytest.mark.parametrize(
    ("metrics", "checkpoint_path", "error", "phrase"),
    [
        ({}, "c", RuntimeError, "should never return empty metrics"),
        ([("loss", 1.0)], "c", TypeError, "should return dict"),
        ({"loss": 1.0}, "c", RuntimeError, "should have `global_step` in result"),
        ({"loss": 1.0, "global_step": 3}, None, RuntimeError, "`checkpoint_path` should be non-empty"),
    ],
)
def test_an_evaluated_result_is_checked(metrics, checkpoint_path, error, phrase):
    with pytest.raises(error, match=phrase):
        EvalResult(EvalStatus.EVALUATED, metrics, checkpoint_path)
    assert EvalResult(EvalStatus.NO_NEW_CHECKPOINT).metrics is None
