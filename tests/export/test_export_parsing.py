"""Parsing receivers: the program takes the parsed features and the signature file keeps the spec."""

from __future__ import annotations

import json
import os

import torch

import torch_estimator as te


def test_feature_spec_is_written_for_the_server(make_trained, tmp_path):
    spec = {"x": te.export.FixedLenFeature([2], torch.float32, default_value=[0.0, 0.0])}
    path = make_trained().export_saved_model(
        str(tmp_path / "export"), te.export.build_parsing_serving_input_receiver_fn(spec)
    )
    with open(os.path.join(path, "saved_model.json")) as f:
        entry = json.load(f)["signatures"]["serving_default"]
    assert entry["inputs"] == {"x": {"dtype": "float32", "shape": [-1, 2]}}
    assert entry["feature_spec"] == {
        "x": {"kind": "fixed_len", "dtype": "float32", "shape": [2], "default_value": [0.0, 0.0]}
    }
    signature = te.saved_model.load(path).signatures["serving_default"]
    assert signature.feature_spec == entry["feature_spec"]
    assert signature(x=torch.tensor([[1.0, 2.0]]))["classes"].tolist() == [1]


def total_model_fn(features, labels, mode):
    """predictions: total = sum of the (padded) ids per example, times w = 1."""
    w = te.get_variable("w", [], initializer=1.0)
    total = features["ids"].float().sum(1) * w
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"total": total})
    loss = total.mean()
    train_op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_var_len_features_take_any_length(tmp_path):
    estimator = te.Estimator(
        total_model_fn,
        model_dir=str(tmp_path / "model"),
        config=te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu"),
    )
    estimator.train(lambda: {"ids": torch.ones(2, 3, dtype=torch.int64)}, steps=1)
    spec = {"ids": te.export.VarLenFeature(torch.int64)}
    path = estimator.export_saved_model(
        str(tmp_path / "export"), te.export.build_parsing_serving_input_receiver_fn(spec)
    )
    signature = te.saved_model.load(path).signatures["serving_default"]
    assert signature.inputs == {"ids": te.saved_model.TensorSpec(torch.int64, (None, None))}
    assert signature.feature_spec == {"ids": {"kind": "var_len", "dtype": "int64"}}
    # Padded with zeros to the longest example: [1, 2, 3] and [4, 0, 0].
    ids = torch.tensor([[1, 2, 3], [4, 0, 0]])
    assert signature(ids=ids)["total"].tolist() == [6.0, 4.0]
    assert signature(ids=torch.tensor([[5]]))["total"].tolist() == [5.0]
