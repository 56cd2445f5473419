"""BaselineClassifier / BaselineRegressor / BaselineEstimator: a learned bias, checked by hand.

Each numeric test writes ``baseline/bias`` (and global_step 100) into a checkpoint, then evaluates,
predicts or trains one step from it; the expected numbers are derived in the docstrings.
"""

from __future__ import annotations

import math

import pytest
import torch

import torch_estimator as te

AGE = {"age": torch.tensor([[17.0], [42.0]])}


def test_binary_classifier_evaluates_and_predicts_the_checkpointed_bias(
    tmp_path, batches, quiet_config, write_checkpoint
):
    """bias = -1: every logit is -1, logistic = sigmoid(-1) = 0.268941.

    Labels [1, 0]: losses log(1 + e) = 1.313262 and log(1 + e^-1) = 0.313262, mean 0.813262;
    class_ids are 0, so accuracy 0.5.
    """
    write_checkpoint(tmp_path, {"baseline/bias": [-1.0]})
    est = te.BaselineClassifier(model_dir=tmp_path, config=quiet_config())
    metrics = est.evaluate(batches((AGE, torch.tensor([[1], [0]]))))
    assert metrics["loss"] == pytest.approx(0.813262, abs=1e-5)
    assert metrics["average_loss"] == pytest.approx(0.813262, abs=1e-5)
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["global_step"] == 100
    predictions = list(est.predict(batches(AGE)))
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["logits"].tolist() == pytest.approx([-1.0])
        assert prediction["logistic"].tolist() == pytest.approx([0.268941], abs=1e-6)
        assert prediction["probabilities"].tolist() == pytest.approx([0.731059, 0.268941], abs=1e-6)
        assert prediction["class_ids"].tolist() == [0]


def test_multi_class_classifier_predicts_the_softmax_of_the_bias(
    tmp_path, batches, quiet_config, write_checkpoint
):
    """bias = [1, 0, -1]: softmax = e^[1, 0, -1] / (e + 1 + 1/e) = [0.665241, 0.244728, 0.090031].

    Label 2: loss = -log(0.090031) = 2.407606.
    """
    write_checkpoint(tmp_path, {"baseline/bias": [1.0, 0.0, -1.0]})
    est = te.BaselineClassifier(model_dir=tmp_path, n_classes=3, config=quiet_config())
    prediction = next(est.predict(batches({"age": torch.tensor([[3.0]])})))
    assert prediction["probabilities"].tolist() == pytest.approx([0.665241, 0.244728, 0.090031], abs=1e-6)
    assert prediction["class_ids"].tolist() == [0]
    metrics = est.evaluate(batches(({"age": torch.tensor([[3.0]])}, torch.tensor([[2]]))))
    assert metrics["loss"] == pytest.approx(2.407606, abs=1e-5)


def test_regressor_evaluates_the_squared_error_of_the_bias(tmp_path, batches, quiet_config, write_checkpoint):
    """bias = 2, labels [1, 4]: squared errors 1 and 4, mean 2.5; prediction/mean 2, label/mean 2.5."""
    write_checkpoint(tmp_path, {"baseline/bias": [2.0]})
    est = te.BaselineRegressor(model_dir=tmp_path, config=quiet_config())
    metrics = est.evaluate(batches((AGE, torch.tensor([[1.0], [4.0]]))))
    assert metrics["loss"] == pytest.approx(2.5)
    assert metrics["average_loss"] == pytest.approx(2.5)
    assert metrics["prediction/mean"] == pytest.approx(2.0)
    assert metrics["label/mean"] == pytest.approx(2.5)
    assert next(est.predict(batches(AGE)))["predictions"].tolist() == pytest.approx([2.0])


def test_named_optimizer_trains_at_learning_rate_0_3(tmp_path, batches, quiet_config):
    """SGD at TF's baseline rate 0.3 from bias 0, labels [1, 3]: loss = mean((b - y)^2),
    d loss / d b = 2 (b - mean(y)) = -4, so b = 0 - 0.3 * -4 = 1.2 after one step."""
    est = te.BaselineRegressor(model_dir=tmp_path, optimizer="SGD", config=quiet_config())
    est.train(batches((AGE, torch.tensor([[1.0], [3.0]]))), steps=1)
    assert est.get_variable_value("baseline/bias").tolist() == pytest.approx([1.2])
    assert est.get_variable_value("global_step") == 1


def test_default_ftrl_takes_one_tf_ftrl_step_at_rate_0_3(tmp_path, batches, quiet_config):
    """TF's FTRL (power -0.5, accumulator 0.1, no regularisation) from w = 0 with gradient g:
    accum = 0.1 + g^2, linear = g, w = -g * lr / sqrt(accum).

    Labels [1, 1], logit 0: g = mean(sigmoid(0) - 1) = -0.5, so w = 0.5 * 0.3 / sqrt(0.35) = 0.253546.
    """
    est = te.BaselineClassifier(model_dir=tmp_path, config=quiet_config())
    est.train(batches((AGE, torch.tensor([[1], [1]]))), steps=1)
    assert est.get_variable_value("baseline/bias").tolist() == pytest.approx([0.5 * 0.3 / math.sqrt(0.35)])
    names = est.get_variable_names()
    assert "baseline/bias/Ftrl" in names
    assert "baseline/bias/Ftrl_1" in names


def test_baseline_estimator_takes_any_head_and_an_optimizer_instance(tmp_path, batches, quiet_config):
    """Binary head, SGD(1.0), labels [1, 1] from bias 0: g = -0.5, so b = 0.5 after one step."""
    est = te.BaselineEstimator(
        te.BinaryClassHead(), model_dir=tmp_path, optimizer=te.train.GradientDescentOptimizer(1.0),
        config=quiet_config(),
    )  # fmt: skip
    est.train(batches((AGE, torch.tensor([[1], [1]]))), steps=1)
    assert est.get_variable_value("baseline/bias").tolist() == pytest.approx([0.5])


def test_weight_column_is_not_needed_to_size_the_batch(tmp_path, batches, quiet_config, write_checkpoint):
    """Weights [1, 3] on labels [0, 1] with bias 0 (loss log 2 each) still average to log 2; the
    prediction batch without the weight feature has its own size."""
    est = te.BaselineClassifier(model_dir=tmp_path, weight_column="w", config=quiet_config())
    features = {"age": torch.tensor([[1.0], [2.0]]), "w": torch.tensor([[1.0], [3.0]])}
    write_checkpoint(tmp_path, {"baseline/bias": [0.0]})
    metrics = est.evaluate(batches((features, torch.tensor([[0], [1]]))))
    assert metrics["average_loss"] == pytest.approx(math.log(2.0), abs=1e-6)
    assert len(list(est.predict(batches({"age": torch.ones(3, 1)})))) == 3


def test_features_must_be_a_dict(tmp_path, batches, quiet_config):
    est = te.BaselineRegressor(model_dir=tmp_path, config=quiet_config())
    with pytest.raises(ValueError, match="features should be a dictionary of `Tensor`s"):
        est.train(batches((torch.ones(2, 1), torch.ones(2, 1))), steps=1)


def test_features_with_different_batch_sizes_are_rejected(tmp_path, batches, quiet_config):
    est = te.BaselineRegressor(model_dir=tmp_path, config=quiet_config())
    features = {"a": torch.ones(2, 1), "b": torch.ones(3, 1)}
    with pytest.raises(ValueError, match="share their first"):
        est.train(batches((features, torch.ones(2, 1))), steps=1)


@pytest.mark.parametrize("n_classes", [0, 1])
def test_fewer_than_two_classes_are_rejected(n_classes):
    with pytest.raises(ValueError, match="n_classes must be > 2"):
        te.BaselineClassifier(n_classes=n_classes)


def test_unknown_optimizer_name_is_rejected_at_construction():
    with pytest.raises(ValueError, match="Unsupported optimizer name"):
        te.BaselineRegressor(optimizer="Adadelta")


def test_head_must_be_a_head():
    with pytest.raises(TypeError, match="head must be a head"):
        te.BaselineEstimator("binary")


@pytest.mark.integration
def test_train_evaluate_predict_export_smoke(tmp_path, batches, quiet_config):
    est = te.BaselineClassifier(model_dir=tmp_path / "model", n_classes=3, config=quiet_config())
    assert est.model_dir == str(tmp_path / "model")
    assert est.config.tf_random_seed == 1
    data = ({"age": torch.tensor([[1.0], [2.0], [3.0]])}, torch.tensor([[0], [2], [2]]))
    est.train(batches(*[data] * 20))
    assert est.get_variable_value("global_step") == 20
    assert est.evaluate(batches(data))["accuracy"] == pytest.approx(2 / 3)
    predictions = list(est.predict(batches(data[0])))
    assert [int(p["class_ids"][0]) for p in predictions] == [2, 2, 2]
    receiver = te.export.build_raw_serving_input_receiver_fn({"age": torch.zeros(1, 1)})
    exported = est.export_saved_model(tmp_path / "export", receiver)
    outputs = te.saved_model.load(exported).signatures["predict"](age=data[0]["age"])
    assert outputs["class_ids"].flatten().tolist() == [2, 2, 2]
