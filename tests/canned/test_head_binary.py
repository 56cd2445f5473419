"""BinaryClassHead: numbers derived by hand from TF's definitions, errors, and a whole Estimator flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator as te

LN3 = math.log(3.0)


def test_tf_docstring_example_loss_and_metrics(run_head):
    """TF's own example: logits [[45], [-41]], labels [[1], [1]].

    sigmoid CE: log(1 + e^-45) ~ 0 and log(1 + e^41) ~ 41, so SUM_OVER_BATCH_SIZE = 41 / 2 = 20.5.
    class ids (logit > 0): [1, 0] -> accuracy 0.5, precision 1/1 = 1, recall 1/2 = 0.5;
    prediction/mean = (1 + 0) / 2 = 0.5; label/mean = 1; accuracy_baseline = max(1, 0) = 1;
    auc = 0 (no negatives: the false-positive rate is 0 at every threshold); auc_pr = 1.
    """
    head = te.BinaryClassHead()
    labels = np.array([[1], [1]], dtype=np.int32)
    _, spec, values = run_head(head, {}, labels, te.ModeKeys.EVAL, [[45.0], [-41.0]])
    assert float(spec.loss) == pytest.approx(20.5)
    expected = {
        "accuracy": 0.5,
        "accuracy_baseline": 1.0,
        "auc": 0.0,
        "auc_precision_recall": 1.0,
        "average_loss": 20.5,
        "label/mean": 1.0,
        "precision": 1.0,
        "prediction/mean": 0.5,
        "recall": 0.5,
    }
    assert values == pytest.approx(expected, abs=1e-5)


def test_auc_without_positive_labels_is_zero_as_keras_computes_it(run_head):
    """TF's heads take auc from tf.keras.metrics.AUC: with labels [0, 0] the recall tp / (tp + fn)
    is 0 / 0 -> 0 at every threshold (divide_no_nan), so the area is 0. (tf.compat.v1.metrics.auc
    adds 1e-6 to both sides of the recall instead, which makes it 1 and the area about 1.)"""
    labels = np.array([[0], [0]], dtype=np.int32)
    _, _, values = run_head(te.BinaryClassHead(), {}, labels, te.ModeKeys.EVAL, [[1.0], [-1.0]])
    assert values["auc"] == 0.0
    assert values["auc_precision_recall"] == 0.0


def test_accuracy_baseline_without_weight_is_zero(run_head):
    """All weights 0: label/mean is 0 / 0 -> 0, and TF 2.15's baseline max(total, count - total) /
    count is 0 too (max(mean, 1 - mean) would say 1)."""
    head = te.BinaryClassHead(weight_column="w")
    features = {"w": torch.tensor([0.0, 0.0])}
    _, _, values = run_head(head, features, torch.tensor([[1], [0]]), te.ModeKeys.EVAL, [[1.0], [-1.0]])
    assert values["label/mean"] == 0.0
    assert values["accuracy_baseline"] == 0.0


WEIGHTED_LOGITS = [[0.0], [LN3]]


def test_weighted_eval_with_thresholds(run_head):
    """logits [0, ln 3] -> logistic [0.5, 0.75]; labels [0, 1]; weights [1, 3]; thresholds 0.4, 0.6.

    losses: -ln(1 - 0.5) = ln 2; -ln 0.75 = ln(4/3). Weighted sum ln 2 + 3 ln(4/3) = 1.55619;
    SUM_OVER_BATCH_SIZE: / 2 = 0.77810. average_loss = weighted mean = 1.55619 / 4 = 0.38905.
    class ids: argmax([0, 0]) = 0 (a tie goes to class 0), argmax([0, ln 3]) = 1: all right ->
    accuracy = precision = recall = 1. prediction/mean = (0.5 * 1 + 0.75 * 3) / 4 = 0.6875.
    label/mean = 3 / 4 = 0.75 = accuracy_baseline. auc = 1 and auc_pr = 1 (perfectly separated).
    Threshold 0.4: both positive -> accuracy 3/4, precision 3/4, recall 1. Threshold 0.6: all 1.
    """
    head = te.BinaryClassHead(weight_column="w", thresholds=[0.4, 0.6])
    features = {"w": torch.tensor([1.0, 3.0])}
    labels = torch.tensor([0.0, 1.0])  # shape [B] is accepted and gains a last axis
    _, spec, values = run_head(head, features, labels, te.ModeKeys.EVAL, WEIGHTED_LOGITS)
    weighted_sum = math.log(2.0) + 3 * math.log(4.0 / 3.0)
    assert float(spec.loss) == pytest.approx(weighted_sum / 2, rel=1e-6)
    expected = {
        "average_loss": weighted_sum / 4,
        "accuracy": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "prediction/mean": 0.6875,
        "label/mean": 0.75,
        "accuracy_baseline": 0.75,
        "auc": 1.0,
        "auc_precision_recall": 1.0,
        "accuracy/positive_threshold_0.4": 0.75,
        "precision/positive_threshold_0.4": 0.75,
        "recall/positive_threshold_0.4": 1.0,
        "accuracy/positive_threshold_0.6": 1.0,
        "precision/positive_threshold_0.6": 1.0,
        "recall/positive_threshold_0.6": 1.0,
    }
    assert values == pytest.approx(expected, rel=1e-5)


def test_sum_reduction_and_regularization(run_head):
    """SUM: ln 2 + 3 ln(4/3) = 1.55619; plus regularization 0.5 + 0.25 -> 2.30619. The metric
    regularization_loss is 0.75, and a named head suffixes every key with '/ctr'."""
    head = te.BinaryClassHead(weight_column="w", loss_reduction=te.Reduction.SUM, name="ctr")
    features = {"w": torch.tensor([[1.0], [3.0]])}
    regularization = [torch.tensor(0.5), torch.tensor(0.25)]
    _, spec, values = run_head(
        head,
        features,
        torch.tensor([[0], [1]]),
        "eval",
        WEIGHTED_LOGITS,
        regularization_losses=regularization,
    )
    assert float(spec.loss) == pytest.approx(math.log(2.0) + 3 * math.log(4.0 / 3.0) + 0.75, rel=1e-6)
    assert values["regularization_loss/ctr"] == pytest.approx(0.75)
    assert all(name.endswith("/ctr") for name in values)


def test_train_steps_the_logits_and_the_global_step(run_head):
    """d loss / d logit_i = w_i (sigmoid(logit_i) - y_i) / B: (1)(0.5 - 0) / 2 = 0.25 and
    (3)(0.75 - 1) / 2 = -0.375. One SGD step at rate 1: logits [-0.25, ln 3 + 0.375]."""
    head = te.BinaryClassHead(weight_column="w")
    optimizer = te.train.GradientDescentOptimizer(1.0)
    graph, spec, _ = run_head(
        head,
        {"w": torch.tensor([1.0, 3.0])},
        torch.tensor([0, 1]),
        "train",
        WEIGHTED_LOGITS,
        optimizer=optimizer,
    )
    assert graph.summaries["loss"][0] == "scalar"
    assert float(graph.summaries["loss"][1]) == pytest.approx(float(spec.loss.detach()))
    spec.train_op.run()
    state = graph.state_dict()
    assert state["logits"].flatten().tolist() == pytest.approx([-0.25, LN3 + 0.375], rel=1e-6)
    assert int(state["global_step"]) == 1


def test_train_op_fn_and_update_ops_run_in_order(run_head):
    calls = []
    head = te.BinaryClassHead()
    _, spec, _ = run_head(
        head,
        {},
        torch.tensor([0, 1]),
        "train",
        WEIGHTED_LOGITS,
        train_op_fn=lambda loss: lambda: calls.append(("train", round(float(loss.detach()), 5))),
        update_ops=[lambda: calls.append(("update", None))],
    )
    spec.train_op()
    assert calls == [("train", round((math.log(2.0) + math.log(4.0 / 3.0)) / 2, 5)), ("update", None)]


def test_predictions_and_export_outputs(run_head):
    """logits [0, ln 3]: logistic [0.5, 0.75]; probabilities softmax([0, l]) = [1 - p, p];
    class_ids [0, 1]; all_class_ids [[0, 1], [0, 1]]; classes are ids named by the vocabulary."""
    head = te.BinaryClassHead(label_vocabulary=["no", "yes"])
    _, spec, _ = run_head(head, {}, None, te.ModeKeys.PREDICT, WEIGHTED_LOGITS)
    predictions = spec.predictions
    assert sorted(predictions) == sorted(
        ["logits", "logistic", "probabilities", "class_ids", "classes", "all_class_ids", "all_classes"]
    )
    assert predictions["logistic"].flatten().tolist() == pytest.approx([0.5, 0.75])
    assert predictions["probabilities"].flatten().tolist() == pytest.approx([0.5, 0.5, 0.25, 0.75])
    assert predictions["class_ids"].tolist() == [[0], [1]]
    assert predictions["class_ids"].dtype == torch.int64
    assert predictions["all_class_ids"].tolist() == [[0, 1], [0, 1]]
    outputs = spec.export_outputs
    assert sorted(outputs) == ["classification", "predict", "regression", "serving_default"]
    assert outputs["serving_default"] is outputs["classification"]
    assert isinstance(outputs["classification"], te.export.ClassificationOutput)
    assert outputs["classification"].class_names == ["no", "yes"]
    assert outputs["classification"].classes.tolist() == [[0, 1], [0, 1]]
    assert isinstance(outputs["regression"], te.export.RegressionOutput)
    assert isinstance(outputs["predict"], te.export.PredictOutput)
    assert head.predictions(torch.tensor([[1.0]]), keys=[te.PredictionKeys.LOGISTIC]).keys() == {"logistic"}


def test_string_labels_through_the_vocabulary():
    """labels ['yes', 'no'] -> ids [1, 0]; logits [0, ln 3] -> losses ln 2 (label 1 at p 0.5) and
    -ln(1 - 0.75) = ln 4: mean (ln 2 + ln 4) / 2 = 1.5 ln 2."""
    head = te.BinaryClassHead(label_vocabulary=("no", "yes"))
    loss = head.loss(np.array(["yes", "no"]), torch.tensor(WEIGHTED_LOGITS))
    assert float(loss) == pytest.approx(1.5 * math.log(2.0), rel=1e-6)
    assert float(head.loss([b"yes", b"no"], torch.tensor(WEIGHTED_LOGITS))) == pytest.approx(float(loss))


def test_custom_loss_fn_gets_float_labels_and_features():
    seen = {}

    def loss_fn(labels, logits, features):
        seen["labels"] = labels
        seen["features"] = features
        return (logits - labels) ** 2

    head = te.BinaryClassHead(loss_fn=loss_fn)
    loss = head.loss(torch.tensor([1, 0]), torch.tensor([[3.0], [1.0]]), features={"x": 1})
    assert float(loss) == pytest.approx((4.0 + 1.0) / 2)
    assert seen["labels"].dtype == torch.float32 and seen["features"] == {"x": 1}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"thresholds": [0.0]}, ValueError, r"thresholds not in \(0, 1\)"),
        ({"thresholds": [1.5]}, ValueError, r"thresholds not in \(0, 1\)"),
        ({"label_vocabulary": "ab"}, ValueError, "label_vocabulary should be a list or a tuple"),
        ({"label_vocabulary": ["a", "b", "c"]}, ValueError, "exactly 2 entries"),
        ({"loss_reduction": te.Reduction.NONE}, ValueError, "Invalid loss_reduction"),
        ({"loss_reduction": "mean"}, ValueError, "Invalid loss_reduction"),
        ({"loss_fn": lambda labels: labels}, ValueError, "loss_fn must contain argument: logits"),
        ({"loss_fn": lambda labels, logits, other: labels}, ValueError, "loss_fn has unexpected args"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        te.BinaryClassHead(**kwargs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([[2.0], [0.0]]), r"Labels must be <= 2 - 1. Received a label of 2.0"),
        (torch.tensor([[-1.0], [0.0]]), r"Labels must be >= 0. Received a label of -1.0"),
        (None, "You must provide a labels Tensor. Given: None"),
        (torch.zeros(2, 2), "Mismatched label shape. Expected labels dimension=1"),
        (torch.zeros(3, 1), r"labels shape must be \[D0, D1, ... DN, 1\]"),
        (np.array(["a", "b"]), "Labels are strings but the head has no label_vocabulary"),
    ],
)
def test_label_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        te.BinaryClassHead().loss(labels, torch.zeros(2, 1))


def test_vocabulary_label_errors_name_the_value():
    head = te.BinaryClassHead(label_vocabulary=["no", "yes"])
    with pytest.raises(ValueError, match=r"Label 'maybe' is not in label_vocabulary \['no', 'yes'\]"):
        head.loss(np.array(["yes", "maybe"]), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="Labels dtype should be string if there is a vocabulary"):
        head.loss(torch.tensor([0, 1]), torch.zeros(2, 1))


def test_logits_and_weight_errors():
    head = te.BinaryClassHead(weight_column="w")
    with pytest.raises(ValueError, match="logits must have rank at least 2"):
        head.loss(torch.tensor([0, 1]), torch.zeros(2), features={"w": torch.ones(2)})
    with pytest.raises(ValueError, match=r"logits shape must be \[D0, D1, ... DN, logits_dimension\]"):
        head.loss(torch.tensor([0, 1]), torch.zeros(2, 2), features={"w": torch.ones(2)})
    with pytest.raises(
        ValueError, match=r"weights shape must be \[D0, D1, ... DN\] or \[D0, D1, ... DN, 1\]"
    ):
        head.loss(torch.tensor([0, 1]), torch.zeros(2, 1), features={"w": torch.ones(3)})
    with pytest.raises(ValueError, match="The weight column 'w' is not in features"):
        head.loss(torch.tensor([0, 1]), torch.zeros(2, 1), features={"x": torch.ones(2)})
    with pytest.raises(TypeError, match="Weight column must be either a string or NumericColumn"):
        te.BinaryClassHead(weight_column=3).loss(torch.tensor([0, 1]), torch.zeros(2, 1), features={})
    with pytest.raises(ValueError, match="Prediction key must be in PredictionKeys, given: predictions"):
        head.predictions(torch.zeros(2, 1), keys=["predictions"])


def test_weight_column_object_with_key_and_normalizer():
    """A numeric column (anything with .key): weights [1, 3] normalized by x / 2 -> [0.5, 1.5];
    SUM of [ln 2 * 0.5, ln(4/3) * 1.5]."""

    class Column:
        key = "w"
        normalizer_fn = staticmethod(lambda x: x / 2)

    head = te.BinaryClassHead(weight_column=Column(), loss_reduction="sum")
    loss = head.loss(
        torch.tensor([0, 1]), torch.tensor(WEIGHTED_LOGITS), features={"w": np.array([1.0, 3.0])}
    )
    assert float(loss) == pytest.approx(0.5 * math.log(2.0) + 1.5 * math.log(4.0 / 3.0), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "train_op_fn and optimizer cannot both be None"),
        (
            {"optimizer": te.train.GradientDescentOptimizer(0.1), "train_op_fn": lambda loss: None},
            "train_op_fn and optimizer cannot both be set",
        ),
        ({"optimizer": object()}, "The given optimizer is not a te.train optimizer"),
        (
            {"train_op_fn": lambda loss: lambda: None, "update_ops": lambda: None},
            "update_ops should be a list",
        ),
        (
            {"optimizer": te.train.GradientDescentOptimizer(0.1), "trainable_variables": "all"},
            "trainable_variables should be a list or a tuple",
        ),
    ],
)
def test_train_op_errors(kwargs, match, run_head):
    with pytest.raises(ValueError, match=match):
        run_head(te.BinaryClassHead(), {}, torch.tensor([0, 1]), "train", WEIGHTED_LOGITS, **kwargs)


def binary_model_fn(features, labels, mode):
    """logits = x @ w + b with w, b starting at 0, trained by the head with SGD."""
    head = te.BinaryClassHead(label_vocabulary=["neg", "pos"], thresholds=[0.5])
    logits = te.layers.dense(features["x"], head.logits_dimension, kernel_initializer=te.initializers.zeros())
    return head.create_estimator_spec(
        features=features,
        mode=mode,
        logits=logits,
        labels=labels,
        optimizer=te.train.GradientDescentOptimizer(0.5),
    )


@pytest.mark.integration
def test_estimator_train_evaluate_predict(tmp_path):
    """x = +1 is 'pos', x = -1 is 'neg': a few SGD steps separate them, so accuracy is 1."""
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype=np.float32)
    labels = np.array(["pos", "neg", "pos", "neg"])
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu")
    estimator = te.Estimator(binary_model_fn, model_dir=str(tmp_path), config=config)
    estimator.train(lambda: ({"x": x}, labels), steps=10)
    results = estimator.evaluate(lambda: iter([({"x": x}, labels)]))
    assert results["global_step"] == 10
    assert results["accuracy"] == 1.0
    assert results["auc"] == pytest.approx(1.0, abs=1e-5)
    assert results["label/mean"] == 0.5 and results["accuracy_baseline"] == 0.5
    assert results["loss"] == pytest.approx(results["average_loss"], rel=1e-5)
    assert "accuracy/positive_threshold_0.5" in results
    predictions = list(estimator.predict(lambda: iter([({"x": x}, None)])))
    assert [int(p["class_ids"][0]) for p in predictions] == [1, 0, 1, 0]
    assert predictions[0]["probabilities"].shape == (2,)
    assert predictions[0]["all_class_ids"].tolist() == [0, 1]
    # TF yields string outputs as bytes: the vocabulary's names for classes and all_classes.
    assert [p["classes"].tolist() for p in predictions] == [[b"pos"], [b"neg"], [b"pos"], [b"neg"]]
    assert predictions[0]["all_classes"].tolist() == [b"neg", b"pos"]
    assert predictions[0]["classes"].dtype == object


def test_heads_take_numpy_integers_as_tf_did():
    """TF 2.15 built RegressionHead(label_dimension=np.int64(2)) and MultiLabelHead(np.int64(3))."""
    assert te.RegressionHead(label_dimension=np.int64(2)).logits_dimension == 2
    assert te.MultiLabelHead(n_classes=np.int64(3)).logits_dimension == 3
    assert te.MultiClassHead(n_classes=np.int32(4)).logits_dimension == 4
