"""Property: an exported signature returns what Estimator.predict returns for the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import torch_estimator as te


def dnn_model_fn(features, labels, mode):
    """x (3 columns) -> dense(8, relu) -> dense(4) logits; class ids, probabilities and logits."""
    hidden = te.layers.dense(features["x"], 8, activation=torch.relu)
    logits = te.layers.dense(hidden, 4)
    predictions = {"class_ids": logits.argmax(-1), "probabilities": logits.softmax(-1), "logits": logits}
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions=predictions)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


@pytest.fixture(scope="module")
def trained_and_exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("matches_predict")
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=7)
    estimator = te.Estimator(dnn_model_fn, model_dir=str(directory / "model"), config=config)
    x = torch.linspace(-2, 2, 24).reshape(8, 3)
    estimator.train(lambda: ({"x": x}, torch.arange(8) % 4), steps=3)
    path = estimator.export_saved_model(
        str(directory / "export"), te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 3)})
    )
    return estimator, te.saved_model.load(path).signatures["serving_default"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=arrays(np.float32, st.tuples(st.integers(1, 6), st.just(3)), elements=st.floats(-10, 10, width=32))
)
def test_exported_predictions_equal_estimator_predict(trained_and_exported, rows):
    estimator, signature = trained_and_exported
    x = torch.from_numpy(rows)
    exported = signature(x=x)
    (predicted,) = estimator.predict(lambda: iter([{"x": x}]), yield_single_examples=False)
    torch.testing.assert_close(exported["logits"], torch.from_numpy(predicted["logits"]))
    torch.testing.assert_close(exported["probabilities"], torch.from_numpy(predicted["probabilities"]))
    # argmax agrees wherever the two largest logits are not within rounding of each other.
    top2 = exported["logits"].topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4
    assert exported["class_ids"][clear].tolist() == torch.from_numpy(predicted["class_ids"])[clear].tolist()
