"""te.saved_model: loading an export, calling signatures, input checks, versions.

The exported model: y = x @ w with w = [[1], [2], [3]] (so x = [1, 1, 1] gives 6), and
``label_id`` = 1 where y > 0 else 0, exported as a classify signature with classes ["neg", "pos"].
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import torch_estimator as te


def linear_model_fn(features, labels, mode):
    w = te.get_variable("w", [3, 1], initializer=torch.tensor([[1.0], [2.0], [3.0]]))
    y = (features["x"] @ w).squeeze(-1)
    predictions = {"y": y, "label_id": (y > 0).long()}
    if mode == te.ModeKeys.PREDICT:
        scores = torch.stack([-y, y], dim=-1).softmax(-1)
        outputs = {
            "serving_default": te.export.ClassificationOutput(
                scores=scores, classes=predictions["label_id"], class_names=["neg", "pos"]
            ),
            "predict": te.export.PredictOutput(predictions),
        }
        return te.EstimatorSpec(mode, predictions=predictions, export_outputs=outputs)
    loss = (y**2).mean()
    train_op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


@pytest.fixture(scope="module")
def export_path(tmp_path_factory):
    directory = tmp_path_factory.mktemp("loader")
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(linear_model_fn, model_dir=str(directory / "model"), config=config)
    estimator.train(lambda: {"x": torch.ones(2, 3)}, steps=2)
    fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 3)})
    return estimator.export_saved_model(str(directory / "export"), fn)


def test_load_reads_metadata_and_signatures(export_path):
    loaded = te.saved_model.load(export_path)
    assert loaded.path == export_path
    assert loaded.global_step == 2 and loaded.default_signature == "serving_default"
    assert loaded.metadata["format"] == "torch-estimator-saved-model"
    assert sorted(loaded.signatures) == ["predict", "serving_default"]
    classify = loaded.signatures["serving_default"]
    assert classify.name == "serving_default" and classify.method_name == "tensorflow/serving/classify"
    assert classify.inputs == {"x": te.saved_model.TensorSpec(torch.float32, (None, 3))}
    assert classify.outputs == {
        "scores": te.saved_model.TensorSpec(torch.float32, (None, 2)),
        "classes": te.saved_model.TensorSpec(torch.int64, (None,)),
    }
    assert classify.class_names == ["neg", "pos"] and classify.feature_spec is None


def test_signatures_compute_the_model(export_path):
    predict = te.saved_model.load(export_path).signatures["predict"]
    result = predict(x=torch.tensor([[1.0, 1.0, 1.0], [-1.0, 0.0, 0.0]]))
    assert result["y"].tolist() == [6.0, -1.0]
    assert result["label_id"].tolist() == [1, 0]
    assert predict(x=torch.zeros(0, 3))["y"].shape == (0,)


def test_the_program_file_takes_keyword_inputs(export_path):
    # The format's call convention, for readers that use torch.export directly.
    program = torch.export.load(os.path.join(export_path, "programs", "predict.pt2")).module()
    assert program(x=torch.ones(1, 3))["y"].tolist() == [6.0]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, r"takes inputs \['x'\]. Missing: \['x'\]; unexpected: \[\]"),
        ({"x": torch.ones(1, 3), "z": torch.ones(1)}, r"Missing: \[\]; unexpected: \['z'\]"),
        (
            {"x": torch.ones(1, 3, dtype=torch.float64)},
            "input 'x' has the wrong dtype: received a torch.float64",
        ),
        (
            {"x": torch.ones(2, 4)},
            r"wrong shape: received a torch.float32 tensor of shape \(2, 4\), expected",
        ),
        ({"x": torch.ones(3)}, r"wrong rank.*expected a torch.float32 tensor of shape \(batch, 3\)"),
        ({"x": [[1.0, 1.0, 1.0]]}, "wrong dtype: received a list"),
    ],
)
def test_bad_inputs_name_the_problem(export_path, inputs, message):
    signature = te.saved_model.load(export_path).signatures["predict"]
    with pytest.raises(ValueError, match=message):
        signature(**inputs)


def test_inputs_must_share_the_batch_size(tmp_path):
    def two_inputs_fn(features, labels, mode):
        w = te.get_variable("w", [], initializer=1.0)
        total = features["a"].sum(1) + features["b"] * w
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"total": total})
        loss = total.mean()
        train_op = te.train.GradientDescentOptimizer(0.0).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(two_inputs_fn, model_dir=str(tmp_path / "model"), config=config)
    estimator.train(lambda: {"a": torch.ones(2, 2), "b": torch.ones(2)}, steps=1)
    fn = te.export.build_raw_serving_input_receiver_fn({"a": torch.zeros(2, 2), "b": torch.zeros(2)})
    signature = te.saved_model.load(estimator.export_saved_model(str(tmp_path / "export"), fn)).signatures[
        "serving_default"
    ]
    assert signature(a=torch.ones(1, 2), b=torch.ones(1)).get("total").tolist() == [3.0]
    with pytest.raises(ValueError, match=r"same batch size.*has 3 rows, an earlier input has 1"):
        signature(a=torch.ones(1, 2), b=torch.ones(3))


def test_list_versions_lists_finished_numeric_exports_only(export_path, tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    for name in ("7", "12"):
        os.symlink(export_path, base / name)
    (base / "13").mkdir()  # no signature file: not (yet) an export
    (base / "temp-14-abcd").mkdir()
    (base / "latest").mkdir()
    assert te.saved_model.list_versions(base) == [7, 12]
    assert te.saved_model.is_export_dir(base / "7") and not te.saved_model.is_export_dir(base / "13")


def test_load_rejects_what_is_not_an_export(tmp_path):
    with pytest.raises(ValueError, match=r"No export found in .*saved_model.json is missing"):
        te.saved_model.load(tmp_path)
    (tmp_path / "saved_model.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="is not a torch-estimator export"):
        te.saved_model.load(tmp_path)
    (tmp_path / "saved_model.json").write_text(
        json.dumps({"format": "torch-estimator-saved-model", "format_version": 99, "signatures": {}})
    )
    with pytest.raises(ValueError, match=r"format_version 99.*reads versions up to 2"):
        te.saved_model.load(tmp_path)


MODEL_SOURCE = """
import torch
import torch_estimator as te


def model_fn(features, labels, mode):
    w = te.get_variable("w", [2, 1], initializer=torch.tensor([[2.0], [-1.0]]))
    y = features["x"] @ w
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": y})
    loss = y.mean()
    op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=op)
"""

LOADER_SOURCE = """
import sys
import torch
import torch_estimator as te

loaded = te.saved_model.load(sys.argv[1])
y = loaded.signatures["serving_default"](x=torch.tensor([[1.0, 1.0], [3.0, 2.0]]))["y"]
assert "export_test_model" not in sys.modules
print(y.flatten().tolist())
"""


def test_loading_needs_neither_the_model_module_nor_its_file(tmp_path, monkeypatch):
    source = tmp_path / "export_test_model.py"
    source.write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import export_test_model

    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(export_test_model.model_fn, model_dir=str(tmp_path / "model"), config=config)
    estimator.train(lambda: {"x": torch.ones(2, 2)}, steps=1)
    fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 2)})
    path = estimator.export_saved_model(str(tmp_path / "export"), fn)
    source.unlink()
    sys.modules.pop("export_test_model")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOADER_SOURCE), path],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # y = 2 x0 - x1: [1, 1] -> 1, [3, 2] -> 4.
    assert result.stdout.strip() == "[1.0, 4.0]"
