"""MultiLabelHead: numbers derived by hand from TF's definitions, errors, and a whole Estimator flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator as te

LN3 = math.log(3.0)
LOGITS = [[0.0, LN3], [-LN3, 0.0]]  # sigmoid: [[0.5, 0.75], [0.25, 0.5]]
INDICATOR = [[1, 1], [0, 1]]
# Each example's loss: class CEs ln 2 and ln(4/3) (first), ln(4/3) and ln 2 (second), averaged.
EXAMPLE_LOSS = (math.log(2.0) + math.log(4.0 / 3.0)) / 2


def test_weighted_eval_with_thresholds_and_class_metrics(run_head):
    """probabilities [[0.5, 0.75], [0.25, 0.5]], labels [[1, 1], [0, 1]], weights [1, 2].

    Both examples' loss is L = (ln 2 + ln(4/3)) / 2 = 0.49041: loss = 3L / 2 (2 loss elements),
    average_loss = 3L / 3 = L. The positives (0.5, 0.75, 0.5) all score above the negative (0.25):
    auc = auc_precision_recall = 1. Threshold 0.4: every prediction right -> 1, 1, 1. Threshold 0.6:
    only 0.75 is positive: accuracy (w 1 + w 2 right of 6) = 0.5, precision 1, recall 1 / 4.
    Class 0: probability_mean (0.5 + 2 * 0.25) / 3 = 1/3, separated -> auc 1, auc_pr 1.
    Class 1: probability_mean (0.75 + 2 * 0.5) / 3 = 7/12; no negatives -> auc 0, auc_pr 1.
    """
    head = te.MultiLabelHead(
        2, weight_column="w", thresholds=[0.4, 0.6], classes_for_class_based_metrics=[0, 1]
    )
    _, spec, values = run_head(head, {"w": torch.tensor([1.0, 2.0])}, torch.tensor(INDICATOR), "eval", LOGITS)
    assert float(spec.loss) == pytest.approx(1.5 * EXAMPLE_LOSS, rel=1e-6)
    expected = {
        "average_loss": EXAMPLE_LOSS,
        "auc": 1.0,
        "auc_precision_recall": 1.0,
        "accuracy/positive_threshold_0.4": 1.0,
        "precision/positive_threshold_0.4": 1.0,
        "recall/positive_threshold_0.4": 1.0,
        "accuracy/positive_threshold_0.6": 0.5,
        "precision/positive_threshold_0.6": 1.0,
        "recall/positive_threshold_0.6": 0.25,
        "probability_mean/class0": 1 / 3,
        "auc/class0": 1.0,
        "auc_precision_recall/class0": 1.0,
        "probability_mean/class1": 7 / 12,
        "auc/class1": 0.0,
        "auc_precision_recall/class1": 1.0,
    }
    assert values == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(
    "labels",
    [
        torch.tensor(INDICATOR),
        np.array(INDICATOR),
        [[1, 1], [0, 1]],  # equal-length lists of 0/1: a dense indicator
        [[0, 1], [1]],  # ragged lists of class ids
        [["a", "b"], ["b"]],  # lists of names
        np.array([["a", "b"], ["b", "b"]]),  # a string array of names (repeats allowed)
        torch.sparse_coo_tensor(
            [[0, 0, 1], [0, 1, 0]], [0, 1, 1], (2, 2), check_invariants=True
        ),  # TF's SparseTensor of ids
    ],
)
def test_label_forms_give_the_same_loss(labels):
    """Every form is the indicator [[1, 1], [0, 1]]: mean loss L (no weights, SUM_OVER_BATCH_SIZE)."""
    head = te.MultiLabelHead(2, label_vocabulary=["a", "b"])
    assert float(head.loss(labels, torch.tensor(LOGITS))) == pytest.approx(EXAMPLE_LOSS, rel=1e-6)


def test_named_head_vocabulary_metric_keys_and_regularization(run_head):
    head = te.MultiLabelHead(
        2,
        label_vocabulary=["a", "b"],
        classes_for_class_based_metrics=["b"],
        name="tags",
        loss_reduction="sum",
    )
    _, spec, values = run_head(
        head, {}, torch.tensor(INDICATOR), "eval", LOGITS, regularization_losses=[torch.tensor(0.5)]
    )
    assert float(spec.loss) == pytest.approx(2 * EXAMPLE_LOSS + 0.5, rel=1e-6)
    assert sorted(values) == [
        "auc/b/tags",
        "auc/tags",
        "auc_precision_recall/b/tags",
        "auc_precision_recall/tags",
        "average_loss/tags",
        "probability_mean/b/tags",
        "regularization_loss/tags",
    ]


def test_train_steps_the_logits(run_head):
    """d loss / d logit = (sigmoid - label) / (n_classes * B) with B = 2, n_classes = 2:
    [[-0.5, -0.25], [0.25, -0.5]] / 4. One SGD step at rate 4 adds [[0.5, 0.25], [-0.25, 0.5]]."""
    head = te.MultiLabelHead(2)
    graph, spec, _ = run_head(
        head, {}, torch.tensor(INDICATOR), "train", LOGITS, optimizer=te.train.GradientDescentOptimizer(4.0)
    )
    spec.train_op.run()
    expected = [0.5, LN3 + 0.25, -LN3 - 0.25, 0.5]
    assert graph.state_dict()["logits"].flatten().tolist() == pytest.approx(expected, rel=1e-6)
    assert int(graph.state_dict()["global_step"]) == 1


def test_predictions_and_export_outputs(run_head):
    head = te.MultiLabelHead(2, label_vocabulary=["a", "b"])
    _, spec, _ = run_head(head, {}, None, "infer", LOGITS)
    assert sorted(spec.predictions) == ["classes", "logits", "probabilities"]
    assert spec.predictions["probabilities"].flatten().tolist() == pytest.approx([0.5, 0.75, 0.25, 0.5])
    assert spec.predictions["classes"].tolist() == [[0, 1], [0, 1]]
    assert sorted(spec.export_outputs) == ["classification", "predict", "serving_default"]
    assert spec.export_outputs["classification"].class_names == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_classes": 1}, "n_classes must be > 1 for multi-label classification. Given: 1"),
        ({"n_classes": 2, "thresholds": [1.0]}, r"thresholds not in \(0, 1\)"),
        ({"n_classes": 2, "label_vocabulary": ["a"]}, '"label_vocabulary" does not have "n_classes" items'),
        ({"n_classes": 2, "classes_for_class_based_metrics": [2]}, r"must be in range \[0, 1\]. Given: 2"),
        ({"n_classes": 2, "classes_for_class_based_metrics": ["a"]}, "label_vocabulary must be provided"),
        ({"n_classes": 2, "loss_reduction": "none"}, "Invalid loss_reduction"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        te.MultiLabelHead(**kwargs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (
            torch.tensor([[2, 0], [0, 1]]),
            r"Labels must be <= 2 - 1. Received a label of 2 \(labels must be an",
        ),
        ([[0, 5], [1]], r"values in \[0, 2\). Received class id 5"),
        ([["a"], ["z"]], "Label 'z' is not in label_vocabulary"),
        (torch.zeros(2, 3), "Mismatched label shape. Expected labels dimension=2"),
        (None, "You must provide a labels Tensor"),
        (  # TF 2.15: "Labels dtype should be integer. Instead got <dtype: 'float32'>."
            torch.sparse_coo_tensor([[0, 0, 1], [0, 1, 0]], [0.0, 1.0, 1.0], (2, 2), check_invariants=True),
            "Labels dtype should be integer. Instead got torch.float32",
        ),
    ],
)
def test_label_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        te.MultiLabelHead(2, label_vocabulary=["a", "b"]).loss(labels, torch.zeros(2, 2))


def multi_label_model_fn(features, labels, mode):
    head = te.MultiLabelHead(3, thresholds=[0.5])
    logits = te.layers.dense(features["x"], head.logits_dimension, name="logits")
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels, optimizer=te.train.AdamOptimizer(0.1)
    )


@pytest.mark.integration
def test_estimator_train_evaluate_predict(tmp_path):
    """Label k is on exactly when feature k is: a linear layer learns it, so auc is 1."""
    x = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32)
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=2)
    estimator = te.Estimator(multi_label_model_fn, model_dir=str(tmp_path), config=config)
    estimator.train(lambda: ({"x": x}, x.astype(np.int64)), steps=60)
    results = estimator.evaluate(lambda: iter([({"x": x}, x.astype(np.int64))]))
    assert results["auc"] == pytest.approx(1.0, abs=1e-5)
    assert results["accuracy/positive_threshold_0.5"] == 1.0
    predictions = list(estimator.predict(lambda: iter([({"x": x}, None)])))
    assert np.array_equal(np.stack([p["probabilities"] > 0.5 for p in predictions]), x > 0)
    # Without a label_vocabulary the class names are str(id), as bytes like TF's string tensors.
    assert predictions[0]["classes"].tolist() == [b"0", b"1", b"2"]
