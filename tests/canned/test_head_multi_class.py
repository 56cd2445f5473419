"""MultiClassHead: numbers derived by hand from TF's definitions, errors, and a whole Estimator flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator as te
from torch_estimator import saved_model

LN2, LN3 = math.log(2.0), math.log(3.0)
LOGITS = [[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]]


def test_weighted_eval(run_head):
    """logits [0, 0, 0] with label 2: CE = ln 3; [ln 2, 0, 0] (softmax [1/2, 1/4, 1/4]) with label 0:
    CE = ln 2. Weights [2, 1]: weighted sum 2 ln 3 + ln 2 = 2.89037.
    loss (SUM_OVER_BATCH_SIZE) = 2.89037 / 2 = 1.44519; average_loss = 2.89037 / 3 = 0.96346.
    class ids: argmax of a tie is the first class, 0 (wrong, weight 2); 0 (right, weight 1):
    accuracy = 1 / 3."""
    head = te.MultiClassHead(n_classes=3, weight_column="w")
    features = {"w": torch.tensor([[2.0], [1.0]])}
    _, spec, values = run_head(head, features, torch.tensor([2, 0]), te.ModeKeys.EVAL, LOGITS)
    weighted_sum = 2 * LN3 + LN2
    assert float(spec.loss) == pytest.approx(weighted_sum / 2, rel=1e-6)
    assert values == pytest.approx({"average_loss": weighted_sum / 3, "accuracy": 1 / 3}, rel=1e-6)


def test_named_head_sum_reduction_with_regularization(run_head):
    """SUM without weights: ln 3 + ln 2 = ln 6, plus regularization 1 -> ln 6 + 1; keys get '/animal'."""
    head = te.MultiClassHead(3, loss_reduction=te.Reduction.SUM, name="animal")
    _, spec, values = run_head(
        head, {}, np.array([[2], [0]]), "eval", LOGITS, regularization_losses=[torch.tensor(1.0)]
    )
    assert float(spec.loss) == pytest.approx(math.log(6.0) + 1.0, rel=1e-6)
    assert sorted(values) == ["accuracy/animal", "average_loss/animal", "regularization_loss/animal"]
    assert values["average_loss/animal"] == pytest.approx(math.log(6.0) / 2, rel=1e-6)
    assert values["regularization_loss/animal"] == 1.0


def test_train_steps_the_logits_and_the_global_step(run_head):
    """d loss / d logits = w (softmax - onehot) / B: [1/3, 1/3, -2/3] (w 2, B 2) and
    [-1/4, 1/8, 1/8] (w 1). One SGD step at rate 1 subtracts them."""
    head = te.MultiClassHead(3, weight_column="w")
    graph, spec, _ = run_head(
        head,
        {"w": torch.tensor([2.0, 1.0])},
        torch.tensor([[2], [0]]),
        "train",
        LOGITS,
        optimizer=te.train.GradientDescentOptimizer(1.0),
        trainable_variables=None,
    )
    assert "loss" in graph.summaries
    spec.train_op.run()
    state = graph.state_dict()
    expected = [-1 / 3, -1 / 3, 2 / 3, LN2 + 0.25, -0.125, -0.125]
    assert state["logits"].flatten().tolist() == pytest.approx(expected, rel=1e-6)
    assert int(state["global_step"]) == 1


def test_predictions_and_export_outputs(run_head):
    """probabilities: [1/3, 1/3, 1/3] and [1/2, 1/4, 1/4]; class ids [0, 0]; all ids [0, 1, 2]."""
    head = te.MultiClassHead(3, label_vocabulary=["cat", "dog", "eel"])
    _, spec, _ = run_head(head, {}, None, te.ModeKeys.PREDICT, LOGITS)
    predictions = spec.predictions
    assert sorted(predictions) == sorted(
        ["logits", "probabilities", "class_ids", "classes", "all_class_ids", "all_classes"]
    )
    assert predictions["probabilities"].flatten().tolist() == pytest.approx([1 / 3] * 3 + [0.5, 0.25, 0.25])
    assert predictions["class_ids"].tolist() == [[0], [0]]
    assert predictions["all_classes"].tolist() == [[0, 1, 2], [0, 1, 2]]
    outputs = spec.export_outputs
    assert sorted(outputs) == ["classification", "predict", "serving_default"]
    assert outputs["serving_default"] is outputs["classification"]
    assert outputs["classification"].class_names == ["cat", "dog", "eel"]
    with pytest.raises(ValueError, match="Prediction key must be in PredictionKeys, given: logistic"):
        head.predictions(torch.zeros(1, 3), keys=["logistic"])


def test_string_labels_and_custom_loss_fn():
    """['eel', 'cat'] -> ids [2, 0]: the same loss as the ids. A loss_fn receives int64 ids [B, 1]."""
    head = te.MultiClassHead(3, label_vocabulary=("cat", "dog", "eel"))
    loss = head.loss(["eel", "cat"], torch.tensor(LOGITS))
    assert float(loss) == pytest.approx((LN3 + LN2) / 2, rel=1e-6)

    def loss_fn(labels, logits):
        assert labels.dtype == torch.int64 and labels.shape == (2, 1)
        return labels.float()

    assert float(te.MultiClassHead(3, loss_fn=loss_fn).loss(torch.tensor([2, 0]), torch.zeros(2, 3))) == 1.0
    with pytest.raises(ValueError, match=r"loss_fn must return Tensor of shape \[D0, D1, ... DN, 1\]"):
        te.MultiClassHead(3, loss_fn=lambda labels, logits: logits).loss(
            torch.tensor([2, 0]), torch.zeros(2, 3)
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_classes": None}, "n_classes cannot be None"),
        ({"n_classes": 2}, "n_classes must be > 2: 2"),
        (
            {"n_classes": 3, "label_vocabulary": ["a", "b"]},
            '"label_vocabulary" does not have "n_classes" items',
        ),
        (
            {"n_classes": 3, "label_vocabulary": {"a", "b", "c"}},
            "label_vocabulary should be a list or a tuple",
        ),
        ({"n_classes": 3, "loss_reduction": "none"}, "Invalid loss_reduction"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        te.MultiClassHead(**kwargs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([[3], [0]]), r"Labels must be <= 3 - 1. Received a label of 3"),
        (torch.tensor([[0], [-1]]), r"Labels must be >= 0. Received a label of -1"),
        (torch.tensor([[0.0], [1.0]]), "Labels dtype should be integer. Instead got torch.float32"),
        (torch.zeros(2, 3, dtype=torch.int64), "Mismatched label shape. Expected labels dimension=1"),
        (None, "You must provide a labels Tensor"),
    ],
)
def test_label_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        te.MultiClassHead(3).loss(labels, torch.zeros(2, 3))


def test_training_needs_exactly_one_of_optimizer_and_train_op_fn(run_head):
    with pytest.raises(ValueError, match="train_op_fn and optimizer cannot both be None"):
        run_head(te.MultiClassHead(3), {}, torch.tensor([2, 0]), "train", LOGITS)
    with pytest.raises(ValueError, match="train_op_fn and optimizer cannot both be set"):
        run_head(
            te.MultiClassHead(3),
            {},
            torch.tensor([2, 0]),
            "train",
            LOGITS,
            optimizer=te.train.GradientDescentOptimizer(0.1),
            train_op_fn=lambda loss: None,
        )


NAMES = ["low", "mid", "high"]
X = np.array([[-2.0], [0.0], [2.0], [-2.0], [0.0], [2.0]], dtype=np.float32)
Y = np.array(["low", "mid", "high", "low", "mid", "high"])


def multi_class_model_fn(features, labels, mode):
    head = te.MultiClassHead(3, label_vocabulary=NAMES)
    net = te.layers.dense(features["x"], 8, activation=torch.tanh, name="hidden")
    logits = te.layers.dense(net, head.logits_dimension, name="logits")
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels, optimizer=te.train.AdamOptimizer(0.05)
    )


@pytest.mark.integration
def test_estimator_train_evaluate_predict_export(tmp_path):
    """Three separable points; training to accuracy 1, then predict and an exported classify signature."""
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=1)
    estimator = te.Estimator(multi_class_model_fn, model_dir=str(tmp_path / "model"), config=config)
    estimator.train(lambda: ({"x": X}, Y), steps=150)
    results = estimator.evaluate(lambda: iter([({"x": X}, Y)]))
    assert sorted(results) == ["accuracy", "average_loss", "global_step", "loss"]
    assert results["accuracy"] == 1.0 and results["global_step"] == 150
    predictions = list(estimator.predict(lambda: iter([({"x": X}, None)])))
    assert [int(p["class_ids"][0]) for p in predictions] == [0, 1, 2, 0, 1, 2]
    assert [p["classes"].tolist() for p in predictions] == [[name.encode()] for name in NAMES * 2]
    assert predictions[0]["all_classes"].tolist() == [name.encode() for name in NAMES]

    receiver_fn = te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 1)})
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), receiver_fn)
    loaded = saved_model.load(export_dir).signatures
    assert {"serving_default", "classification", "predict"} <= set(loaded)
    assert loaded["classification"].class_names == NAMES
    outputs = loaded["classification"](x=torch.tensor(X))
    assert outputs["classes"].tolist() == [[0, 1, 2]] * 6
    assert outputs["scores"].argmax(-1).tolist() == [0, 1, 2, 0, 1, 2]
