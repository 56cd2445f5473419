"""Batches and variables on the configured device (DESIGN.md 4: RunConfig.device). Needs CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_train_evaluate_predict_on_cuda_resuming_a_cpu_checkpoint(tmp_path, fakes):
    """linear_model_fn from a = 0 at rate 0.1: a = 0.2 after the CPU step, 0.32 after the CUDA step;
    then the loss is (2 * 0.32 - 1)^2 = 0.1296 and the prediction on [1, 1] is 0.64."""
    devices: list[str] = []

    def model_fn(features, labels, mode, params):
        devices.append(features.device.type)
        return fakes.linear_model_fn(features, labels, mode, params)

    model_dir = str(tmp_path / "model")
    on_cpu = te.Estimator(model_fn, model_dir=model_dir, config=fakes.quiet_config(device="cpu"), params={})
    on_cpu.train(fakes.ones_input_fn, steps=1)
    devices.clear()

    on_cuda = te.Estimator(model_fn, model_dir=model_dir, config=fakes.quiet_config(device="cuda"), params={})
    on_cuda.train(fakes.ones_input_fn, steps=1)  # CPU batches, moved to the GPU by the Estimator
    assert on_cuda.get_variable_value("linear/w").ravel() == pytest.approx([0.32, 0.32], rel=1e-5)
    results = on_cuda.evaluate(lambda: [fakes.ones_input_fn()])
    assert results["loss"] == pytest.approx(0.1296, rel=1e-4)
    assert results["global_step"] == 2
    rows = list(on_cuda.predict(lambda: iter([torch.ones(2, 2)])))
    assert all(isinstance(row["y"], np.ndarray) for row in rows)
    assert [row["y"].tolist() for row in rows] == [pytest.approx([0.64], rel=1e-5)] * 2
    assert set(devices) == {"cuda"}


def test_global_step_stays_on_the_cpu_so_hooks_read_it_without_a_device_sync(tmp_path, fakes):
    estimator = te.Estimator(
        fakes.linear_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fakes.quiet_config(device="cuda"),
        params={},
    )
    seen: list[tuple[str, str]] = []

    class DeviceHook(te.SessionRunHook):
        def after_create_session(self, session, coord):
            graph = session.graph
            seen.append(
                (graph.find_variable("global_step").device.type, graph.find_variable("linear/w").device.type)
            )

    estimator.train(fakes.ones_input_fn, steps=2, hooks=[DeviceHook()])
    assert seen == [("cpu", "cuda")]
    assert estimator.get_variable_value("global_step") == 2


def test_a_nan_gpu_loss_stops_training_before_it_is_checkpointed(tmp_path, fakes):
    """Batch 3 holds a NaN: the loss of step 3 is NaN. TF raised at step 3 and never saved step 4. The
    GPU check is read one step late, but the checkpoint hook saving step 4 flushes it first and raises:
    the newest checkpoint is step 2's, as in TF."""

    def input_fn():
        for step in range(1, 10):
            features = torch.full((1, 2), float("nan")) if step == 3 else torch.ones(1, 2)
            yield features, torch.ones(1, 1)

    model_dir = str(tmp_path / "model")
    estimator = te.Estimator(
        fakes.linear_model_fn,
        model_dir=model_dir,
        config=fakes.quiet_config(device="cuda", save_checkpoints_steps=2),
        params={},
    )
    with pytest.raises(te.NanLossDuringTrainingError):
        estimator.train(input_fn)
    assert te.train.latest_checkpoint(model_dir).endswith("model.ckpt-2")


def test_a_nan_gpu_loss_without_a_checkpoint_is_caught_one_step_late(tmp_path, fakes):
    """No checkpoint saves between: the NaN of step 3 is read after step 4 was queued; end() would
    have caught it too."""

    def input_fn():
        for step in range(1, 10):
            features = torch.full((1, 2), float("nan")) if step == 3 else torch.ones(1, 2)
            yield features, torch.ones(1, 1)

    steps: list[int] = []

    class StepHook(te.SessionRunHook):
        def after_run(self, run_context, run_values):
            steps.append(run_context.session.global_step)

    estimator = te.Estimator(
        fakes.linear_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fakes.quiet_config(device="cuda", save_checkpoints_steps=1000),
        params={},
    )
    with pytest.raises(te.NanLossDuringTrainingError):
        estimator.train(input_fn, hooks=[StepHook()])
    assert steps == [1, 2, 3, 4]  # the user hook runs before the NaN hook, which raises at step 4
