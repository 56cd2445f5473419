"""A model trained on CUDA exports CPU programs (exports always run on the CPU). Needs CUDA."""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_a_cuda_trained_model_exports_programs_that_run_on_cpu(export_fakes, tmp_path):
    """The classifier's weights stay as written (rate 0): x = [1, 2] -> logits [1, 2, 1.5], class 1."""
    config = export_fakes.quiet_config(device="cuda")
    model_dir = str(tmp_path / "model")
    estimator = te.Estimator(export_fakes.classifier_model_fn, model_dir=model_dir, config=config, params={})
    estimator.train(export_fakes.train_input_fn, steps=1)
    path = estimator.export_saved_model(str(tmp_path / "export"), export_fakes.raw_receiver_fn())
    classify = te.saved_model.load(path).signatures["serving_default"]
    result = classify(x=torch.tensor([[1.0, 2.0]]))
    assert result["classes"].device.type == "cpu"
    assert result["classes"].tolist() == [1]
