"""DNNLinearCombined{Classifier,Regressor,Estimator}: summed logits, one optimizer per part, errors.

The shared weights, written into a checkpoint at global_step 100:

    linear/linear_model/age/weights [[2.]], linear/linear_model/bias_weights [1.]
    dnn/hiddenlayer_0/kernel [[1., -1.]], bias [0., 0.]; dnn/logits/kernel [[1.], [1.]], bias [.5]

age = 1: linear logit 2 + 1 = 3; dnn: relu([1, -1]) = [1, 0], logit 1 + .5 = 1.5; sum 4.5.
"""

from __future__ import annotations

import math

import pytest
import torch

import torch_estimator as te
from torch_estimator.canned.dnn_linear_combined import linear_learning_rate

fc = te.feature_column
AGE = [fc.numeric_column("age")]
WEIGHTS = {
    "linear/linear_model/age/weights": [[2.0]],
    "linear/linear_model/bias_weights": [1.0],
    "dnn/hiddenlayer_0/kernel": [[1.0, -1.0]],
    "dnn/hiddenlayer_0/bias": [0.0, 0.0],
    "dnn/logits/kernel": [[1.0], [1.0]],
    "dnn/logits/bias": [0.5],
}
AGE_1 = {"age": torch.tensor([[1.0]])}


@pytest.fixture
def regressor(quiet_config):
    def make(model_dir, **kwargs):
        arguments = {
            "linear_feature_columns": AGE,
            "dnn_feature_columns": AGE,
            "dnn_hidden_units": [2],
            "config": quiet_config(),
            **kwargs,
        }
        return te.DNNLinearCombinedRegressor(model_dir=model_dir, **arguments)

    return make


def test_logits_of_the_two_parts_are_summed(tmp_path, batches, write_checkpoint, regressor):
    """3 + 1.5 = 4.5; label 5: loss (4.5 - 5)^2 = 0.25."""
    write_checkpoint(tmp_path, WEIGHTS)
    est = regressor(tmp_path)
    assert next(est.predict(batches(AGE_1)))["predictions"].tolist() == pytest.approx([4.5])
    metrics = est.evaluate(batches((AGE_1, torch.tensor([[5.0]]))))
    assert metrics["loss"] == pytest.approx(0.25)
    assert metrics["global_step"] == 100


def test_each_part_is_trained_by_its_own_optimizer_and_the_step_advances_once(
    tmp_path, batches, write_checkpoint, regressor
):
    """d loss / d logit = 2 (4.5 - 5) = -1 for both parts' logits.

    dnn SGD(0.1): dnn/logits/bias = .5 + .1 = 0.6. linear SGD(0.01): bias = 1 + .01 = 1.01,
    age weight = 2 + .01 * 1 = 2.01. One train step advances global_step once: 100 -> 101.
    """
    write_checkpoint(tmp_path, WEIGHTS)
    est = regressor(
        tmp_path,
        dnn_optimizer=te.train.GradientDescentOptimizer(0.1),
        linear_optimizer=lambda: te.train.GradientDescentOptimizer(0.01),
    )
    est.train(batches((AGE_1, torch.tensor([[5.0]]))), steps=1)
    assert est.get_variable_value("global_step") == 101
    assert est.get_variable_value("dnn/logits/bias").tolist() == pytest.approx([0.6])
    assert est.get_variable_value("linear/linear_model/bias_weights").tolist() == pytest.approx([1.01])
    assert est.get_variable_value("linear/linear_model/age/weights").tolist() == [pytest.approx([2.01])]


def test_named_optimizers_get_tf_learning_rates(tmp_path, batches, write_checkpoint, regressor):
    """Default Ftrl (linear) at min(0.005, 1/sqrt(1)) = 0.005 and Adagrad (dnn) at 0.001, from zeros.

    Zero weights: prediction 0, label 2, d loss / d logit = -4. Linear FTRL: bias and age weight
    (age 1) become 4 * 0.005 / sqrt(0.1 + 16) = 0.0049845. DNN Adagrad: only dnn/logits/bias has a
    gradient: 0.001 * 4 / sqrt(0.1 + 16) = 0.00099690.
    """
    zeros = {name: torch.zeros(torch.tensor(value).shape).tolist() for name, value in WEIGHTS.items()}
    write_checkpoint(tmp_path, zeros, global_step=0)
    est = regressor(tmp_path)
    est.train(batches((AGE_1, torch.tensor([[2.0]]))), steps=1)
    expected_linear = 4 * 0.005 / math.sqrt(16.1)
    assert est.get_variable_value("linear/linear_model/bias_weights").tolist() == pytest.approx(
        [expected_linear]
    )
    assert est.get_variable_value("dnn/logits/bias").tolist() == pytest.approx([0.001 * 4 / math.sqrt(16.1)])
    names = est.get_variable_names()
    assert "dnn/logits/bias/Adagrad" in names
    assert any(name.startswith("linear/linear_model/bias_weights/Ftrl") for name in names)


def test_linear_learning_rate_shrinks_with_many_columns():
    assert linear_learning_rate(1) == 0.005
    assert linear_learning_rate(1_000_000) == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("kwargs", "variables"),
    [
        ({"dnn_feature_columns": None, "dnn_hidden_units": None}, {"linear/linear_model/age/weights"}),
        ({"linear_feature_columns": []}, {"dnn/logits/kernel"}),
    ],
)
def test_one_part_alone_trains(tmp_path, kwargs, variables, batches, regressor):
    est = regressor(tmp_path, **kwargs)
    est.train(batches(*[(AGE_1, torch.tensor([[2.0]]))] * 2), steps=2)
    names = set(est.get_variable_names())
    assert variables <= names
    assert not any(name.startswith("dnn/" if "linear/linear_model/age/weights" in variables else "linear/")
                   for name in names)  # fmt: skip
    assert est.get_variable_value("global_step") == 2


def test_classifier_and_estimator_with_a_head(tmp_path, batches, quiet_config, write_checkpoint):
    """Binary: logit 4.5, logistic sigmoid(4.5) = 0.989013, class 1."""
    write_checkpoint(tmp_path, WEIGHTS)
    for est in (
        te.DNNLinearCombinedClassifier(
            model_dir=tmp_path, linear_feature_columns=AGE, dnn_feature_columns=AGE, dnn_hidden_units=[2],
            config=quiet_config(),
        ),
        te.DNNLinearCombinedEstimator(
            te.BinaryClassHead(), model_dir=tmp_path, linear_feature_columns=AGE, dnn_feature_columns=AGE,
            dnn_hidden_units=[2], config=quiet_config(),
        ),
    ):  # fmt: skip
        prediction = next(est.predict(batches(AGE_1)))
        assert prediction["logistic"].tolist() == pytest.approx([0.989013], abs=1e-6)
        assert prediction["class_ids"].tolist() == [1]


def test_features_must_be_a_dict(tmp_path, batches, regressor):
    est = regressor(tmp_path)
    with pytest.raises(ValueError, match="features should be a dictionary of `Tensor`s"):
        est.train(batches((torch.ones(2, 1), torch.ones(2, 1))), steps=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"linear_feature_columns": None, "dnn_feature_columns": []},
            "Either linear_feature_columns or dnn_feature_columns must be defined.",
        ),
        ({"dnn_hidden_units": None}, "dnn_hidden_units must be defined"),
        ({"dnn_hidden_units": []}, "dnn_hidden_units must be defined"),
        ({"dnn_optimizer": "Adadelta"}, "Unsupported optimizer name"),
        ({"linear_optimizer": "adam"}, "Unsupported optimizer name"),
        ({"linear_sparse_combiner": "max"}, "linear_sparse_combiner must be one of"),
        ({"dnn_dropout": -0.1}, "dropout must be None or a probability"),
        ({"n_classes": 1}, "n_classes must be > 2"),
    ],
)
def test_constructor_errors(kwargs, message):
    arguments = {"linear_feature_columns": AGE, "dnn_feature_columns": AGE, "dnn_hidden_units": [2], **kwargs}
    with pytest.raises(ValueError, match=message):
        te.DNNLinearCombinedClassifier(**arguments)


@pytest.mark.integration
def test_train_evaluate_predict_export_smoke(tmp_path, batches, quiet_config):
    """An id column (wide) and its embedding plus age (deep) learn a separable label."""
    ids = fc.categorical_column_with_identity("id", 4)
    est = te.DNNLinearCombinedClassifier(
        model_dir=tmp_path / "model", linear_feature_columns=[ids],
        dnn_feature_columns=[fc.numeric_column("age"), fc.embedding_column(ids, 2)], dnn_hidden_units=[4],
        dnn_optimizer=lambda: te.train.AdamOptimizer(0.05), linear_optimizer="SGD", config=quiet_config(),
    )  # fmt: skip
    features = {"age": torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]), "id": torch.tensor([[0], [1], [2], [3]])}
    labels = torch.tensor([[0], [0], [1], [1]])
    est.train(batches(*[(features, labels)] * 80))
    assert est.get_variable_value("global_step") == 80
    assert est.evaluate(batches((features, labels)))["accuracy"] == 1.0
    assert [int(p["class_ids"][0]) for p in est.predict(batches(features))] == [0, 0, 1, 1]
    receiver = te.export.build_raw_serving_input_receiver_fn(
        {"age": torch.zeros(1, 1), "id": torch.zeros(1, 1, dtype=torch.int64)}
    )
    exported = est.export_saved_model(tmp_path / "export", receiver)
    outputs = te.saved_model.load(exported).signatures["predict"](**features)
    assert outputs["class_ids"].flatten().tolist() == [0, 0, 1, 1]


@pytest.fixture
def train_categorical(quiet_config, batches):
    def train(model_dir, linear_optimizer, dnn_optimizer):
        """Three steps on a hashed column: its linear weights and embedding get row-sparse gradients."""
        colour = fc.categorical_column_with_hash_bucket("colour", 7)
        est = te.DNNLinearCombinedRegressor(
            model_dir=model_dir,
            linear_feature_columns=[colour],
            dnn_feature_columns=[fc.embedding_column(colour, 3)],
            dnn_hidden_units=[4],
            linear_optimizer=linear_optimizer,
            dnn_optimizer=dnn_optimizer,
            config=quiet_config(),
        )
        batch = (
            {"colour": [["red"], ["blue"], ["red"], ["green"]]},
            torch.tensor([[1.0], [0.0], [2.0], [1.0]]),
        )
        est.train(batches(batch, batch, batch))
        return {name: est.get_variable_value(name) for name in est.get_variable_names()}

    return train


@pytest.mark.parametrize(
    "optimizers", [("Ftrl", "Adagrad"), ("Adagrad", "Adagrad"), ("SGD", "SGD"), ("Adam", "Adam")]
)
def test_sparse_table_gradients_train_as_dense_ones(tmp_path, monkeypatch, optimizers, train_categorical):
    """Every variable and slot equals a run whose lookups back-propagate dense gradients.

    (Ftrl trains the zero-initialised linear table only: on the randomly initialised embedding,
    dense Ftrl would reset rows without a gradient, see te.train.FtrlOptimizer.)"""
    sparse = train_categorical(tmp_path / "sparse", *optimizers)
    monkeypatch.setattr("torch_estimator.feature_column.ids.sparse_gradients_apply", lambda table: False)
    dense = train_categorical(tmp_path / "dense", *optimizers)
    assert sparse.keys() == dense.keys()
    for name, value in dense.items():
        torch.testing.assert_close(torch.as_tensor(sparse[name]), torch.as_tensor(value), msg=name)
