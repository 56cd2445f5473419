"""train_and_evaluate's argument checks and the role chosen from the task type (SEMANTICS (k))."""

from __future__ import annotations

import json

import pytest

import torch_estimator as te
from torch_estimator.training.dispatch import choose_role
from torch_estimator.training.roles import (
    TrainingExecutor,
    run_chief,
    run_evaluator,
    run_local,
    run_master,
    run_worker,
    worker_start_delay_secs,
)


def cluster(task_type: str, index: int = 0, jobs: dict | None = None) -> te.distribute.ClusterInfo:
    jobs = (
        jobs
        if jobs is not None
        else {"chief": ["localhost:2222"], "worker": ["localhost:2223", "localhost:2224"]}
    )
    tf_config = {"cluster": jobs, "task": {"type": task_type, "index": index}}
    return te.distribute.parse_tf_config({"TF_CONFIG": json.dumps(tf_config)})


def specs(tfakes, **eval_kwargs):
    return te.TrainSpec(tfakes.input_fn, max_steps=5), te.EvalSpec(tfakes.input_fn, steps=1, **eval_kwargs)


def test_eval_spec_is_checked_first(tfakes):
    with pytest.raises(TypeError, match=r"`eval_spec` must have type `tf.estimator.EvalSpec`"):
        te.train_and_evaluate(object(), object(), object())


def test_estimator_must_be_an_estimator(tfakes):
    train_spec, eval_spec = specs(tfakes)
    with pytest.raises(TypeError, match=r"`estimator` must have type `tf.estimator.Estimator`"):
        te.train_and_evaluate(object(), train_spec, eval_spec)


def test_train_spec_must_be_a_train_spec(tfakes, make_estimator):
    _, eval_spec = specs(tfakes)
    with pytest.raises(TypeError, match=r"`train_spec` must have type `tf.estimator.TrainSpec`"):
        te.train_and_evaluate(make_estimator(), object(), eval_spec)


def test_only_one_evaluator(tfakes, model_dir):
    estimator = te.Estimator(tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=cluster("evaluator", 1)))
    with pytest.raises(ValueError, match="there can only be one `evaluator` task"):
        te.train_and_evaluate(estimator, *specs(tfakes))


@pytest.mark.parametrize(
    ("info", "role"),
    [
        (te.distribute.parse_tf_config({}), run_local),
        (cluster("chief"), run_chief),
        (cluster("worker", 1), run_worker),
        (cluster("evaluator"), run_evaluator),
        (cluster("master", jobs={"master": ["localhost:2222"]}), run_master),
    ],
)
def test_role_is_chosen_from_the_task_type(info, role):
    assert choose_role(te.RunConfig(cluster=info)) is role


def test_ps_is_rejected_with_a_clear_message(tfakes, model_dir):
    info = cluster("ps", jobs={"chief": ["localhost:2222"], "ps": ["localhost:2223"]})
    estimator = te.Estimator(tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=info))
    with pytest.raises(ValueError, match=r"Task type ps is not supported.*no parameter servers"):
        te.train_and_evaluate(estimator, *specs(tfakes))


def test_local_task_type_in_a_cluster_is_rejected():
    info = cluster("local", jobs={"chief": ["localhost:2222"], "local": ["localhost:2223"]})
    with pytest.raises(ValueError, match=r"`task.type` in TF_CONFIG cannot be `local`"):
        choose_role(te.RunConfig(cluster=info))


def test_unknown_task_type_lists_the_supported_ones():
    info = cluster("trainer", jobs={"chief": ["localhost:2222"], "trainer": ["localhost:2223"]})
    with pytest.raises(
        ValueError, match=r"Task type trainer is not supported. Supported task types are \['chief', "
    ):
        choose_role(te.RunConfig(cluster=info))


def test_missing_task_type_in_a_cluster_is_rejected():
    info = te.distribute.ClusterInfo(cluster_spec={"chief": ["localhost:2222"]}, task_type=None)
    with pytest.raises(ValueError, match=r"`estimator.config` must have task_type set"):
        choose_role(te.RunConfig(cluster=info))


@pytest.mark.parametrize(
    ("task_type", "index", "max_delay", "expected"),
    [
        ("worker", 0, None, 5),
        ("worker", 1, None, 10),
        ("worker", 20, None, 60),
        ("worker", 1, 7, 7),
        ("worker", 1, 0, 0),
        ("chief", 0, None, 0),
        ("evaluator", 0, None, 0),
    ],
)
def test_worker_start_delay(task_type, index, max_delay, expected):
    """min(max_delay or 60, 5 * (index + 1)) for workers only."""
    jobs = {"chief": ["localhost:2222"], "worker": [f"localhost:{3000 + i}" for i in range(21)]}
    config = te.RunConfig(
        cluster=cluster(task_type, index, jobs), experimental_max_worker_delay_secs=max_delay
    )
    assert worker_start_delay_secs(config) == expected


def test_worker_waits_its_delay_then_trains(tfakes, make_estimator, model_dir):
    """Task worker:1 sleeps 10 s (fake) before train; max_steps already reached, so train returns at once."""
    make_estimator(save_checkpoints_steps=10).train(tfakes.input_fn, max_steps=5)
    clock = tfakes.FakeClock()
    worker = te.Estimator(tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=cluster("worker", 1)))
    result = te.train_and_evaluate(worker, *specs(tfakes), clock=clock, sleep=clock.sleep)
    assert result is None and clock.sleeps == [10]
    assert worker.get_variable_value("global_step") == 5


def test_chief_trains_with_the_train_spec_listeners_and_does_not_evaluate(tfakes, model_dir):
    """A one-node cluster (the chief alone) trains to max_steps; no evaluation happens on the chief."""
    saves: list[int] = []

    class Listener(te.CheckpointSaverListener):
        def after_save(self, session, global_step_value):
            saves.append(global_step_value)

    info = cluster("chief", jobs={"chief": ["localhost:2222"]})
    chief = te.Estimator(
        tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=info, save_checkpoints_steps=2)
    )
    exporter = tfakes.RecordingExporter()
    clock = tfakes.FakeClock()
    result = te.train_and_evaluate(
        chief,
        te.TrainSpec(tfakes.input_fn, max_steps=5, saving_listeners=[Listener()]),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter]),
        clock=clock,
        sleep=clock.sleep,
    )
    assert result is None and clock.sleeps == []
    assert saves == [0, 2, 4, 5] and exporter.calls == []
    assert chief.get_variable_value("global_step") == 5


def test_master_trains_and_evaluates_like_local(tfakes, model_dir):
    info = cluster("master", jobs={"master": ["localhost:2222"]})
    master = te.Estimator(
        tfakes.model_fn, model_dir, tfakes.quiet_config(cluster=info, save_checkpoints_steps=10)
    )
    exporter = tfakes.RecordingExporter()
    result = te.train_and_evaluate(
        master,
        te.TrainSpec(tfakes.input_fn, max_steps=22),
        te.EvalSpec(tfakes.input_fn, steps=1, exporters=[exporter], throttle_secs=0),
    )
    assert result is None and exporter.calls == [(10, False), (20, False), (22, True)]


def test_executor_rejects_a_bad_continuous_eval_listener(tfakes, make_estimator):
    train_spec, eval_spec = specs(tfakes)
    with pytest.raises(TypeError, match=r"`continuous_eval_listener` must have type"):
        TrainingExecutor(make_estimator(), train_spec, eval_spec, continuous_eval_listener=object())
