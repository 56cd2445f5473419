"""The ExportOutput family (SEMANTICS (b), "ExportOutput family"; DESIGN 4 "Strings")."""

import pytest
import torch

from torch_estimator.contract import (
    ClassificationOutput,
    EvalOutput,
    ExportOutput,
    MetricValue,
    PredictOutput,
    RegressionOutput,
    TrainOutput,
    UpdateOp,
)

# -- ClassificationOutput -----------------------------------------------------------------------


def test_classification_needs_scores_or_classes():
    with pytest.raises(ValueError, match="At least one of scores and classes must be set"):
        ClassificationOutput()


def test_classification_outputs():
    scores, classes = torch.tensor([[0.2, 0.8]]), torch.tensor([[1, 0]])
    both = ClassificationOutput(scores=scores, classes=classes, class_names=("no", "yes"))
    assert both.outputs == {"scores": scores, "classes": classes}
    assert both.class_names == ["no", "yes"]
    assert both.method_name == "tensorflow/serving/classify"
    assert isinstance(both, ExportOutput)
    assert list(ClassificationOutput(classes=classes).outputs) == ["classes"]
    assert ClassificationOutput(scores=scores).class_names is None


@pytest.mark.parametrize(
    "scores", [torch.tensor([[1, 2]]), [[0.2, 0.8]], torch.tensor([True])], ids=["int", "list", "bool"]
)
def test_classification_scores_must_be_float_tensor(scores):
    with pytest.raises(ValueError, match="scores must be a float Tensor"):
        ClassificationOutput(scores=scores)


@pytest.mark.parametrize(
    "classes",
    [torch.tensor([[0.0, 1.0]]), ["a", "b"], torch.tensor([1j])],
    ids=["float", "strings", "complex"],
)
def test_classification_classes_must_be_integer_ids(classes):
    with pytest.raises(ValueError, match="classes must be an integer Tensor"):
        ClassificationOutput(classes=classes)


# -- RegressionOutput ---------------------------------------------------------------------------


def test_regression_output():
    value = torch.tensor([1.5, 2.5], dtype=torch.float64)
    output = RegressionOutput(value)
    assert output.outputs == {"outputs": value}
    assert output.method_name == "tensorflow/serving/regress"


@pytest.mark.parametrize("value", [torch.tensor([1]), [1.5], 1.5], ids=["int", "list", "float"])
def test_regression_value_must_be_float_tensor(value):
    with pytest.raises(ValueError, match="must be a float Tensor"):
        RegressionOutput(value)


# -- PredictOutput ------------------------------------------------------------------------------


def test_predict_output_wraps_a_tensor():
    tensor = torch.ones(2)
    assert PredictOutput(tensor).outputs == {"output": tensor}
    assert PredictOutput(tensor).method_name == "tensorflow/serving/predict"


def test_predict_output_joins_tuple_keys():
    a, b = torch.ones(1), torch.zeros(1)
    outputs = PredictOutput({("head", "logits"): a, "probabilities": b}).outputs
    assert outputs == {"head/logits": a, "probabilities": b}


def test_predict_outputs_is_a_copy():
    output = PredictOutput({"a": torch.ones(1)})
    output.outputs["b"] = torch.ones(1)
    assert list(output.outputs) == ["a"]


@pytest.mark.parametrize(
    ("outputs", "phrase"),
    [
        ({1: torch.ones(1)}, "key must be a string"),
        ({"a": 1.0}, "value must be a Tensor"),
        ({"a": [1.0]}, "value must be a Tensor"),
        ([1.0], "value must be a Tensor"),
    ],
)
def test_predict_output_rejects_bad_keys_and_values(outputs, phrase):
    with pytest.raises(ValueError, match=phrase):
        PredictOutput(outputs)


# -- TrainOutput / EvalOutput -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_class", "method"),
    [(TrainOutput, "tensorflow/supervised/training"), (EvalOutput, "tensorflow/supervised/eval")],
)
def test_supervised_output_key_layout(output_class, method):
    loss, prediction = torch.tensor(0.5), torch.ones(2)
    value, update = MetricValue(lambda: 1.0), UpdateOp(lambda: None)
    output = output_class(loss=loss, predictions={"p": prediction}, metrics={"acc": (value, update)})
    assert output.method_name == method
    assert output.outputs == {
        "loss": loss,
        "predictions/p": prediction,
        "metrics/acc/value": value,
        "metrics/acc/update_op": update,
    }


def test_supervised_output_dict_loss_and_tensor_predictions():
    first, second, prediction = torch.tensor(1.0), torch.tensor(2.0), torch.ones(2)
    output = EvalOutput(loss={"a": first, "b": second}, predictions=prediction)
    assert output.outputs == {"loss/a": first, "loss/b": second, "predictions": prediction}
    assert EvalOutput().outputs == {}


class Mean:
    def update(self, value):
        pass

    def compute(self):
        return 0.0

    def reset(self):
        pass


def test_supervised_output_takes_metric_objects():
    metric = Mean()
    outputs = TrainOutput(metrics={"mean": metric}).outputs
    assert outputs["metrics/mean/value"] == metric.compute
    assert outputs["metrics/mean/update_op"] == metric.update


@pytest.mark.parametrize(
    ("metrics", "phrase"),
    [([1], "Metrics must be a dict"), ({"m": (1, 2, 3)}, "must be a .metric_value, update_op. tuple")],
)
def test_supervised_output_rejects_bad_metrics(metrics, phrase):
    with pytest.raises(ValueError, match=phrase):
        EvalOutput(metrics=metrics)
