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
