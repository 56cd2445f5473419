"""LinearClassifier / LinearRegressor / LinearEstimator: logits, losses and FTRL steps checked by hand.

The numeric tests write tiny weights into a checkpoint (global_step 100) and derive every expected
number in the docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator as te

fc = te.feature_column

AGE = fc.numeric_column("age")
LANGUAGE = fc.categorical_column_with_vocabulary_list("language", ["english", "french", "spanish"])


def test_regressor_predictions_and_loss(tmp_path, batches, quiet_config, write_checkpoint):
    """age weight 10, bias 5: ages [17, 15] predict [175, 155]; labels [176, 159] leave errors
    [-1, -4], loss = (1 + 16) / 2 = 8.5."""
    write_checkpoint(
        tmp_path, {"linear/linear_model/age/weights": [[10.0]], "linear/linear_model/bias_weights": [5.0]}
    )
    est = te.LinearRegressor([AGE], model_dir=tmp_path, config=quiet_config())
    features = {"age": torch.tensor([[17.0], [15.0]])}
    predictions = [p["predictions"].tolist() for p in est.predict(batches(features))]
    assert predictions == [pytest.approx([175.0]), pytest.approx([155.0])]
    metrics = est.evaluate(batches((features, torch.tensor([[176.0], [159.0]]))))
    assert metrics["loss"] == pytest.approx(8.5)
    assert metrics["global_step"] == 100


def test_binary_classifier_with_a_categorical_column(tmp_path, batches, quiet_config, write_checkpoint):
    """age weight .1, language weights [.5, -1, 2], bias -.5:
    (10, french) -> 1 - 1 - .5 = -0.5; (20, spanish) -> 2 + 2 - .5 = 3.5.
    Labels [0, 1]: losses log(1 + e^-0.5) = 0.474077 and log(1 + e^-3.5) = 0.029750, mean 0.251914;
    class ids [0, 1]: accuracy 1."""
    write_checkpoint(
        tmp_path,
        {
            "linear/linear_model/age/weights": [[0.1]],
            "linear/linear_model/language/weights": [[0.5], [-1.0], [2.0]],
            "linear/linear_model/bias_weights": [-0.5],
        },
    )
    est = te.LinearClassifier([AGE, LANGUAGE], model_dir=tmp_path, config=quiet_config())
    features = {"age": torch.tensor([[10.0], [20.0]]), "language": np.array([["french"], ["spanish"]])}
    logits = [float(p["logits"][0]) for p in est.predict(batches(features))]
    assert logits == pytest.approx([-0.5, 3.5], abs=1e-6)
    metrics = est.evaluate(batches((features, torch.tensor([[0], [1]]))))
    assert metrics["loss"] == pytest.approx(0.251914, abs=1e-5)
    assert metrics["accuracy"] == 1.0


def test_multi_class_classifier_has_one_weight_column_per_class(
    tmp_path, batches, quiet_config, write_checkpoint
):
    """age weights [[1, 2, 3]], bias [0, 0, -7]: age 2 gives logits [2, 4, -1], class 1."""
    write_checkpoint(
        tmp_path,
        {
            "linear/linear_model/age/weights": [[1.0, 2.0, 3.0]],
            "linear/linear_model/bias_weights": [0.0, 0.0, -7.0],
        },
    )
    est = te.LinearClassifier([AGE], model_dir=tmp_path, n_classes=3, config=quiet_config())
    prediction = next(est.predict(batches({"age": torch.tensor([[2.0]])})))
    assert prediction["logits"].tolist() == pytest.approx([2.0, 4.0, -1.0])
    assert prediction["class_ids"].tolist() == [1]


@pytest.mark.parametrize(
    ("combiner", "logit"), [("sum", -0.5), ("mean", -0.25), ("sqrtn", -0.5 / math.sqrt(2))]
)
def test_sparse_combiner_combines_a_multivalent_column(
    tmp_path, combiner, logit, batches, quiet_config, write_checkpoint
):
    """language = [english, french]: weights .5 and -1 sum to -0.5, mean -0.25, sqrtn -0.5 / sqrt(2)."""
    write_checkpoint(
        tmp_path,
        {
            "linear/linear_model/language/weights": [[0.5], [-1.0], [2.0]],
            "linear/linear_model/bias_weights": [0.0],
        },
    )
    est = te.LinearRegressor([LANGUAGE], model_dir=tmp_path, sparse_combiner=combiner, config=quiet_config())
    prediction = next(est.predict(batches({"language": np.array([["english", "french"]])})))
    assert prediction["predictions"].tolist() == pytest.approx([logit], abs=1e-6)


def test_default_ftrl_steps_at_rate_0_2(tmp_path, batches, quiet_config):
    """TF's FTRL from w = 0 with gradient g: w = -g * lr / sqrt(0.1 + g^2).

    age 1, label 2, prediction 0: g = 2 * (0 - 2) = -4 for both the bias and the age weight, so
    each becomes 4 * 0.2 / sqrt(16.1) = 0.199378."""
    est = te.LinearRegressor([AGE], model_dir=tmp_path, config=quiet_config())
    est.train(batches(({"age": torch.tensor([[1.0]])}, torch.tensor([[2.0]]))), steps=1)
    assert est.get_variable_value("linear/linear_model/bias_weights").tolist() == pytest.approx(
        [0.199378], abs=1e-6
    )
    assert est.get_variable_value("linear/linear_model/age/weights").tolist() == [
        pytest.approx([0.199378], abs=1e-6)
    ]


def test_optimizer_none_uses_ftrl_at_one_over_sqrt_of_the_column_count(tmp_path, batches, quiet_config):
    """30 columns: rate min(0.2, 1/sqrt(30)) = 0.182574. All-zero features leave only the bias
    gradient g = -4 (label 2), so bias = 4 * 0.182574 / sqrt(16.1) = 0.182006."""
    columns = [fc.numeric_column(f"x{i:02d}") for i in range(30)]
    est = te.LinearRegressor(columns, model_dir=tmp_path, optimizer=None, config=quiet_config())
    features = {f"x{i:02d}": torch.zeros(1, 1) for i in range(30)}
    est.train(batches((features, torch.tensor([[2.0]]))), steps=1)
    assert est.get_variable_value("linear/linear_model/bias_weights").tolist() == pytest.approx(
        [0.182006], abs=1e-6
    )


def test_linear_estimator_takes_any_head(tmp_path, batches, quiet_config, write_checkpoint):
    """A 2-dimensional regression head: age weights [[1, -1]], bias [0, 1], age 3 give [3, -2]."""
    write_checkpoint(
        tmp_path,
        {"linear/linear_model/age/weights": [[1.0, -1.0]], "linear/linear_model/bias_weights": [0.0, 1.0]},
    )
    est = te.LinearEstimator(
        te.RegressionHead(label_dimension=2), [AGE], model_dir=tmp_path, config=quiet_config()
    )
    prediction = next(est.predict(batches({"age": torch.tensor([[3.0]])})))
    assert prediction["predictions"].tolist() == pytest.approx([3.0, -2.0])


def test_features_must_be_a_dict(tmp_path, batches, quiet_config):
    est = te.LinearRegressor([AGE], model_dir=tmp_path, config=quiet_config())
    with pytest.raises(ValueError, match="features should be a dictionary of `Tensor`s"):
        est.train(batches((torch.ones(2, 1), torch.ones(2, 1))), steps=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "Adadelta"}, "Unsupported optimizer name"),
        ({"sparse_combiner": "max"}, "sparse_combiner must be one of"),
        ({"n_classes": 1}, "n_classes must be > 2"),
        ({"label_vocabulary": "abc"}, "label_vocabulary"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        te.LinearClassifier([AGE], **kwargs)


@pytest.mark.integration
def test_train_evaluate_predict_export_smoke(tmp_path, batches, quiet_config):
    """The language id decides the label: a few Ftrl steps learn it."""
    columns = [AGE, fc.categorical_column_with_identity("language_id", 3)]
    est = te.LinearClassifier(
        columns, model_dir=tmp_path / "model", label_vocabulary=["no", "yes"], config=quiet_config()
    )
    features = {"age": torch.tensor([[1.0], [2.0], [3.0]]), "language_id": torch.tensor([[0], [1], [2]])}
    labels = np.array([["no"], ["yes"], ["yes"]])
    est.train(batches(*[(features, labels)] * 30))
    assert est.get_variable_value("global_step") == 30
    assert est.evaluate(batches((features, labels)))["accuracy"] == 1.0
    assert [int(p["class_ids"][0]) for p in est.predict(batches(features))] == [0, 1, 1]
    receiver = te.export.build_raw_serving_input_receiver_fn(
        {"age": torch.zeros(1, 1), "language_id": torch.zeros(1, 1, dtype=torch.int64)}
    )
    exported = est.export_saved_model(tmp_path / "export", receiver)
    outputs = te.saved_model.load(exported).signatures["predict"](**features)
    assert outputs["class_ids"].flatten().tolist() == [0, 1, 1]
