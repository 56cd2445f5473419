"""RegressionHead: numbers derived by hand from TF's definitions, errors, and a whole Estimator flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator import saved_model

LOGITS = [[1.0, 2.0], [3.0, 4.0]]
LABELS = [[0.0, 2.0], [3.0, 2.0]]


def test_weighted_eval_two_targets(run_head):
    """logits [[1, 2], [3, 4]], labels [[0, 2], [3, 2]]: squared errors [[1, 0], [0, 4]].
    Weights [1, 2] per example: weighted sum 1 + 8 = 9 over 4 loss elements -> loss 2.25.
    average_loss = 9 / (1 + 1 + 2 + 2) = 1.5. prediction/mean = (1 + 2 + 2 (3 + 4)) / 6 = 17/6.
    label/mean = (0 + 2 + 2 (3 + 2)) / 6 = 2."""
    head = te.RegressionHead(label_dimension=2, weight_column="w")
    _, spec, values = run_head(head, {"w": torch.tensor([1.0, 2.0])}, torch.tensor(LABELS), "eval", LOGITS)
    assert float(spec.loss) == pytest.approx(2.25)
    assert values == pytest.approx({"average_loss": 1.5, "prediction/mean": 17 / 6, "label/mean": 2.0})


def test_per_logit_weights_and_sum_reduction(run_head):
    """Weights [[1, 0], [0, 1]] keep squared errors 1 and 4: SUM = 5; a named head adds '/price'."""
    head = te.RegressionHead(2, weight_column="w", loss_reduction=te.Reduction.SUM, name="price")
    features = {"w": np.array([[1.0, 0.0], [0.0, 1.0]])}
    _, spec, values = run_head(head, features, np.array(LABELS), "eval", LOGITS)
    assert float(spec.loss) == 5.0
    assert sorted(values) == ["average_loss/price", "label/mean/price", "prediction/mean/price"]
    assert values["average_loss/price"] == 2.5  # 5 / (1 + 0 + 0 + 1)


def test_train_steps_the_logits(run_head):
    """d loss / d logits = 2 (logits - labels) w / 4 = [[0.5, 0], [0, 2]] (weights [1, 2]);
    one SGD step at rate 0.5: [[0.75, 2], [3, 3]]. A 'loss' summary is recorded."""
    head = te.RegressionHead(2, weight_column="w")
    graph, spec, _ = run_head(
        head,
        {"w": torch.tensor([[1.0], [2.0]])},
        torch.tensor(LABELS),
        "train",
        LOGITS,
        optimizer=te.train.GradientDescentOptimizer(0.5),
    )
    assert "loss" in graph.summaries
    spec.train_op.run()
    assert graph.state_dict()["logits"].tolist() == [[0.75, 2.0], [3.0, 3.0]]
    assert int(graph.state_dict()["global_step"]) == 1


def test_predictions_export_outputs_and_inverse_link(run_head):
    """Without a link the prediction is the logits; with exp, predictions = e^logits plus 'logits',
    while the loss still compares logits with labels: (0 - 1)^2 = 1."""
    _, spec, _ = run_head(te.RegressionHead(2), {}, None, "infer", LOGITS)
    assert list(spec.predictions) == ["predictions"]
    assert spec.predictions["predictions"].tolist() == LOGITS
    assert sorted(spec.export_outputs) == ["predict", "regression", "serving_default"]
    assert isinstance(spec.export_outputs["serving_default"], te.export.RegressionOutput)
    assert spec.export_outputs["serving_default"] is spec.export_outputs["regression"]

    head = te.RegressionHead(inverse_link_fn=torch.exp)
    predictions = head.predictions(torch.tensor([[0.0], [1.0]]))
    assert sorted(predictions) == ["logits", "predictions"]
    assert predictions["predictions"].flatten().tolist() == pytest.approx([1.0, np.e])
    assert float(head.loss(torch.tensor([1.0]), torch.tensor([[0.0]]))) == 1.0
    assert list(head.predictions(torch.zeros(1, 1), keys=["logits"])) == ["logits"]
    with pytest.raises(ValueError, match="Prediction key must be in PredictionKeys, given: logits"):
        te.RegressionHead().predictions(torch.zeros(1, 1), keys=["logits"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label_dimension": 0}, "Invalid label_dimension 0"),
        ({"loss_reduction": te.Reduction.NONE}, "Invalid loss_reduction"),
        ({"loss_fn": lambda logits: logits}, "loss_fn must contain argument: labels"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        te.RegressionHead(**kwargs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.zeros(2, 3), "Mismatched label shape. Expected labels dimension=2"),
        (torch.tensor(1.0), "labels must have rank at least 2"),
        (np.array(["a", "b"]), "labels must be a numeric Tensor or array"),
        (None, "You must provide a labels Tensor"),
    ],
)
def test_label_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        te.RegressionHead(2).loss(labels, torch.zeros(2, 2))


def test_weights_shape_error_names_both_shapes():
    head = te.RegressionHead(2, weight_column="w")
    with pytest.raises(
        ValueError, match=r"logits_dimension\], logits_shape: \(2, 2\). weights_shape: \(2, 3\)"
    ):
        head.loss(torch.zeros(2, 2), torch.zeros(2, 2), features={"w": torch.ones(2, 3)})


def regression_model_fn(features, labels, mode):
    head = te.RegressionHead()
    logits = te.layers.dense(features["x"], head.logits_dimension, kernel_initializer=te.initializers.zeros())
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        optimizer=te.train.GradientDescentOptimizer(0.2),
    )


@pytest.mark.integration
def test_estimator_train_evaluate_predict_export(tmp_path):
    """y = 2x + 1 on x in {-1, 0, 1}: SGD fits it, so the average loss is ~0 and the label mean is 1."""
    x = np.array([[-1.0], [0.0], [1.0]], dtype=np.float32)
    y = 2 * x + 1
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(regression_model_fn, model_dir=str(tmp_path / "model"), config=config)
    estimator.train(lambda: ({"x": x}, y), steps=100)
    results = estimator.evaluate(lambda: iter([({"x": x}, y)]))
    assert sorted(results) == ["average_loss", "global_step", "label/mean", "loss", "prediction/mean"]
    assert results["average_loss"] < 1e-4 and results["label/mean"] == pytest.approx(1.0)
    predictions = [float(p["predictions"][0]) for p in estimator.predict(lambda: iter([({"x": x}, None)]))]
    assert predictions == pytest.approx([-1.0, 1.0, 3.0], abs=1e-2)
    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 1)})
    loaded = saved_model.load(estimator.export_saved_model(str(tmp_path / "export"), receiver_fn))
    assert loaded.signatures["regression"](x=torch.tensor(x))["outputs"].flatten().tolist() == pytest.approx(
        predictions, rel=1e-6
    )
