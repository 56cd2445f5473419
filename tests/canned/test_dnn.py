"""DNNClassifier / DNNRegressor / DNNEstimator: logits, losses and one training step checked by hand.

The numeric tests write tiny weights into a checkpoint (global_step 100), as tf.estimator's
dnn_testing_utils did, and derive every expected number in the docstring. The shared network
(hidden_units [2, 2], one numeric feature ``age``):

    hiddenlayer_0: kernel [[.6, .5]],              bias [.1, -.1]
    hiddenlayer_1: kernel [[1., .8], [-.8, -1.]],  bias [.2, -.2]
    logits:        kernel [[-1.], [1.]],           bias [.3]

age = 10: hidden_0 = relu([6 + .1, 5 - .1]) = [6.1, 4.9];
hidden_1 = relu([6.1 - 3.92 + .2, 4.88 - 4.9 - .2]) = relu([2.38, -.22]) = [2.38, 0];
logits = -2.38 + 0 + .3 = -2.08.
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as te

fc = te.feature_column

HIDDEN_WEIGHTS = {
    "dnn/hiddenlayer_0/kernel": [[0.6, 0.5]],
    "dnn/hiddenlayer_0/bias": [0.1, -0.1],
    "dnn/hiddenlayer_1/kernel": [[1.0, 0.8], [-0.8, -1.0]],
    "dnn/hiddenlayer_1/bias": [0.2, -0.2],
}
ONE_LOGIT = {**HIDDEN_WEIGHTS, "dnn/logits/kernel": [[-1.0], [1.0]], "dnn/logits/bias": [0.3]}
AGE_10 = {"age": torch.tensor([[10.0]])}


AGE = [fc.numeric_column("age")]


def test_binary_classifier_logits_loss_and_predictions(tmp_path, batches, quiet_config, write_checkpoint):
    """logit -2.08, label 1: loss = log(1 + e^2.08) = 2.197721; logistic = sigmoid(-2.08) = 0.111056,
    class 0, so accuracy 0."""
    write_checkpoint(tmp_path, ONE_LOGIT)
    est = te.DNNClassifier([2, 2], AGE, model_dir=tmp_path, config=quiet_config())
    metrics = est.evaluate(batches((AGE_10, torch.tensor([[1]]))))
    assert metrics["loss"] == pytest.approx(2.197721, abs=1e-5)
    assert metrics["accuracy"] == 0.0
    assert metrics["global_step"] == 100
    prediction = next(est.predict(batches(AGE_10)))
    assert prediction["logits"].tolist() == pytest.approx([-2.08], abs=1e-5)
    assert prediction["logistic"].tolist() == pytest.approx([0.111056], abs=1e-5)
    assert prediction["probabilities"].tolist() == pytest.approx([0.888944, 0.111056], abs=1e-5)
    assert prediction["class_ids"].tolist() == [0]


def test_multi_class_classifier_softmax(tmp_path, batches, quiet_config, write_checkpoint):
    """logits kernel [[-1, 1, .5], [1, -1, .5]], bias [.3, -.3, 0] on hidden_1 = [2.38, 0]:
    logits = [-2.08, 2.08, 1.19], softmax = [0.010943, 0.701133, 0.287924]; label 1: loss =
    -log(0.701133) = 0.355058."""
    weights = {**HIDDEN_WEIGHTS, "dnn/logits/kernel": [[-1.0, 1.0, 0.5], [1.0, -1.0, 0.5]]}
    write_checkpoint(tmp_path, {**weights, "dnn/logits/bias": [0.3, -0.3, 0.0]})
    est = te.DNNClassifier([2, 2], AGE, model_dir=tmp_path, n_classes=3, config=quiet_config())
    prediction = next(est.predict(batches(AGE_10)))
    assert prediction["logits"].tolist() == pytest.approx([-2.08, 2.08, 1.19], abs=1e-5)
    assert prediction["probabilities"].tolist() == pytest.approx([0.010943, 0.701133, 0.287924], abs=1e-5)
    assert prediction["class_ids"].tolist() == [1]
    metrics = est.evaluate(batches((AGE_10, torch.tensor([[1]]))))
    assert metrics["loss"] == pytest.approx(0.355058, abs=1e-5)
    assert metrics["accuracy"] == 1.0


def test_regressor_loss_and_one_sgd_step(tmp_path, batches, quiet_config, write_checkpoint):
    """Prediction -2.08, label 1: loss = (-3.08)^2 = 9.4864, d loss / d logit = 2 * -3.08 = -6.16.

    One SGD(0.1) step: logits/bias = .3 + .1 * 6.16 = 0.916; logits/kernel = [-1 + .1 * 2.38 * 6.16,
    1 - .1 * 0 * 6.16] = [0.46608, 1]; d loss / d hidden_1 = kernel * -6.16 = [6.16, -6.16], relu
    passes only the first unit, so hiddenlayer_1/bias = [.2 - .616, -.2] = [-0.416, -0.2].
    """
    write_checkpoint(tmp_path, ONE_LOGIT)
    est = te.DNNRegressor(
        [2, 2],
        AGE,
        model_dir=tmp_path,
        optimizer=te.train.GradientDescentOptimizer(0.1),
        config=quiet_config(),
    )
    assert est.evaluate(batches((AGE_10, torch.tensor([[1.0]]))))["loss"] == pytest.approx(9.4864, abs=1e-4)
    est.train(batches((AGE_10, torch.tensor([[1.0]]))), steps=1)
    assert est.get_variable_value("global_step") == 101
    assert est.get_variable_value("dnn/logits/bias").tolist() == pytest.approx([0.916], abs=1e-5)
    assert est.get_variable_value("dnn/logits/kernel").flatten().tolist() == pytest.approx(
        [0.46608, 1.0], abs=1e-5
    )
    assert est.get_variable_value("dnn/hiddenlayer_1/bias").tolist() == pytest.approx(
        [-0.416, -0.2], abs=1e-5
    )


def test_embedding_column_feeds_the_first_layer(tmp_path, batches, quiet_config, write_checkpoint):
    """Columns sorted by name: age (1) then id_embedding (row 2 of [[1, 2], [3, 4], [5, 6]] = [5, 6]):
    input [1, 5, 6]; kernel [[1, 0], [0, 1], [1, -1]] gives relu([7, -1]) = [7, 0]; logits kernel
    [[1], [1]] gives 7."""
    write_checkpoint(
        tmp_path,
        {
            "dnn/input_from_feature_columns/input_layer/id_embedding/embedding_weights": [
                [1.0, 2.0], [3.0, 4.0], [5.0, 6.0],
            ],
            "dnn/hiddenlayer_0/kernel": [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]],
            "dnn/hiddenlayer_0/bias": [0.0, 0.0],
            "dnn/logits/kernel": [[1.0], [1.0]],
            "dnn/logits/bias": [0.0],
        },
    )  # fmt: skip
    columns = [fc.embedding_column(fc.categorical_column_with_identity("id", 3), 2), fc.numeric_column("age")]
    est = te.DNNRegressor([2], columns, model_dir=tmp_path, config=quiet_config())
    features = {"age": torch.tensor([[1.0]]), "id": torch.tensor([[2]])}
    assert next(est.predict(batches(features)))["predictions"].tolist() == pytest.approx([7.0])


def test_dnn_estimator_takes_any_head(tmp_path, batches, quiet_config, write_checkpoint):
    """A 2-dimensional regression head: logits kernel [[-1, 1], [1, -1]], bias [.3, 0] give [-2.08, 2.38]."""
    write_checkpoint(tmp_path, {**HIDDEN_WEIGHTS, "dnn/logits/kernel": [[-1.0, 1.0], [1.0, -1.0]],
                                "dnn/logits/bias": [0.3, 0.0]})  # fmt: skip
    est = te.DNNEstimator(
        te.RegressionHead(label_dimension=2), [2, 2], AGE, model_dir=tmp_path, config=quiet_config()
    )
    assert next(est.predict(batches(AGE_10)))["predictions"].tolist() == pytest.approx(
        [-2.08, 2.38], abs=1e-5
    )


def test_default_optimizer_is_adagrad_at_rate_0_001(tmp_path, batches, quiet_config, write_checkpoint):
    """TF2 Adagrad from accumulator 0.1: acc = 0.1 + g^2, w -= 0.001 * g / sqrt(acc).

    Zero weights make every logit the logits bias 0 and every hidden gradient 0, so only
    dnn/logits/bias moves: label 1, g = sigmoid(0) - 1 = -0.5, bias = 0.001 * 0.5 / sqrt(0.35).
    """
    zeros = {name: torch.zeros(torch.tensor(value).shape).tolist() for name, value in ONE_LOGIT.items()}
    write_checkpoint(tmp_path, zeros, global_step=0)
    est = te.DNNClassifier([2, 2], AGE, model_dir=tmp_path, config=quiet_config())
    est.train(batches((AGE_10, torch.tensor([[1]]))), steps=1)
    assert est.get_variable_value("dnn/logits/bias").tolist() == pytest.approx([0.001 * 0.5 / 0.35**0.5])
    assert "dnn/logits/bias/Adagrad" in est.get_variable_names()


def test_dropout_and_batch_norm_train_and_are_off_in_predict(tmp_path, batches, quiet_config):
    est = te.DNNRegressor(
        [4, 3], AGE, model_dir=tmp_path, dropout=0.5, batch_norm=True, config=quiet_config()
    )
    data = ({"age": torch.arange(8.0).unsqueeze(1)}, torch.arange(8.0).unsqueeze(1))
    est.train(batches(*[data] * 3))
    names = est.get_variable_names()
    for suffix in ("gamma", "beta", "moving_mean", "moving_variance"):
        assert f"dnn/hiddenlayer_1/batchnorm_1/{suffix}" in names
    first = [float(p["predictions"][0]) for p in est.predict(batches(data[0]))]
    second = [float(p["predictions"][0]) for p in est.predict(batches(data[0]))]
    assert first == second  # no dropout outside TRAIN, moving statistics in PREDICT


def test_activation_fn_is_applied_to_hidden_layers(tmp_path, batches, quiet_config, write_checkpoint):
    """With the identity activation hidden_1 = [2.38, -.22] and logits = -2.38 - .22 + .3 = -2.3."""
    write_checkpoint(tmp_path, ONE_LOGIT)
    est = te.DNNRegressor([2, 2], AGE, model_dir=tmp_path, activation_fn=lambda x: x, config=quiet_config())
    assert next(est.predict(batches(AGE_10)))["predictions"].tolist() == pytest.approx([-2.3], abs=1e-5)


def test_features_must_be_a_dict(tmp_path, batches, quiet_config):
    est = te.DNNRegressor([2], AGE, model_dir=tmp_path, config=quiet_config())
    with pytest.raises(ValueError, match="features should be a dictionary of `Tensor`s"):
        est.train(batches((torch.ones(2, 1), torch.ones(2, 1))), steps=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"optimizer": "Adadelta"}, ValueError, "Unsupported optimizer name"),
        ({"optimizer": 3}, ValueError, "must be an optimizer name"),
        ({"dropout": 1.0}, ValueError, "dropout must be None or a probability"),
        ({"hidden_units": None}, ValueError, "hidden_units must be a list"),
        ({"hidden_units": [4, 0]}, ValueError, "positive integers"),
        ({"n_classes": 1}, ValueError, "n_classes must be > 2"),
        ({"feature_columns": fc.numeric_column("age")}, ValueError, "list of feature columns"),
    ],
)
def test_constructor_errors(kwargs, error, message):
    arguments = {"hidden_units": [2], "feature_columns": AGE, **kwargs}
    with pytest.raises(error, match=message):
        te.DNNClassifier(**arguments)


def test_a_bad_optimizer_callable_fails_when_training(tmp_path, batches, quiet_config):
    est = te.DNNRegressor([2], AGE, model_dir=tmp_path, optimizer=lambda: "SGD", config=quiet_config())
    with pytest.raises(ValueError, match=r"not a te\.train\.Optimizer instance"):
        est.train(batches(({"age": torch.ones(2, 1)}, torch.ones(2, 1))), steps=1)


@pytest.mark.integration
def test_train_evaluate_predict_export_smoke(tmp_path, batches, quiet_config):
    """Two separable classes of ``age``: a few hundred Adam steps classify them all."""
    columns = [fc.numeric_column("age"), fc.embedding_column(fc.categorical_column_with_identity("id", 4), 2)]
    est = te.DNNClassifier(
        [8], columns, model_dir=tmp_path / "model", optimizer="Adam", config=quiet_config()
    )
    features = {"age": torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]), "id": torch.tensor([[0], [1], [2], [3]])}
    labels = torch.tensor([[0], [0], [1], [1]])
    est.train(batches(*[(features, labels)] * 5))
    est = te.DNNClassifier(
        [8], columns, model_dir=tmp_path / "model", optimizer=lambda: te.train.AdamOptimizer(0.05),
        config=quiet_config(),
    )  # fmt: skip
    est.train(batches(*[(features, labels)] * 100))
    assert est.get_variable_value("global_step") == 105
    assert est.evaluate(batches((features, labels)))["accuracy"] == 1.0
    assert [int(p["class_ids"][0]) for p in est.predict(batches(features))] == [0, 0, 1, 1]
    receiver = te.export.build_raw_serving_input_receiver_fn(
        {"age": torch.zeros(1, 1), "id": torch.zeros(1, 1, dtype=torch.int64)}
    )
    exported = est.export_saved_model(tmp_path / "export", receiver)
    outputs = te.saved_model.load(exported).signatures["predict"](**features)
    assert outputs["class_ids"].flatten().tolist() == [0, 0, 1, 1]
