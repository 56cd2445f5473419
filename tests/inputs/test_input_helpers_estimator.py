"""Each input helper drives Estimator.train / evaluate / predict; file readers leave no thread behind."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import torch_estimator as te
from torch_estimator.inputs.prefetch import READER_THREAD_NAME

# 20 rows on the line y = 2x + 1.
X = np.linspace(-1.0, 1.0, 20, dtype=np.float32)
Y = 2.0 * X + 1.0


def line_model_fn(features, labels, mode):
    """``pred = w * x + b`` (both start at 0), squared error, SGD with rate 0.1."""
    w = te.get_variable("w", [], initializer=0.0)
    b = te.get_variable("b", [], initializer=0.0)
    pred = w * features["x"].float() + b
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": pred})
    loss = ((pred - labels.float()) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


@pytest.fixture
def estimator(tmp_path):
    config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=1)
    return te.Estimator(line_model_fn, model_dir=str(tmp_path / "model"), config=config)


def reader_threads():
    gc.collect()
    return [thread for thread in threading.enumerate() if thread.name == READER_THREAD_NAME]


def check_fit(estimator, train_input_fn, eval_input_fn, steps):
    """20 rows in batches of 5 over ``steps`` / 4 epochs: global_step = steps; the line is learnt."""
    estimator.train(train_input_fn)
    assert estimator.get_variable_value("global_step") == steps
    metrics = estimator.evaluate(eval_input_fn)
    assert metrics["global_step"] == steps
    assert metrics["loss"] < 0.05
    assert abs(estimator.get_variable_value("w") - 2.0) < 0.3


def test_numpy_input_fn(estimator):
    train = te.inputs.numpy_input_fn({"x": X}, Y, batch_size=5, num_epochs=50, shuffle=True)
    evaluate = te.inputs.numpy_input_fn({"x": X}, Y, batch_size=5, shuffle=False)
    check_fit(estimator, train, evaluate, steps=200)
    predict = te.inputs.numpy_input_fn({"x": X}, batch_size=6, shuffle=False)
    predictions = [p["y"] for p in estimator.predict(predict)]
    assert len(predictions) == 20
    assert abs(predictions[-1] - 3.0) < 0.3


def test_pandas_input_fn(estimator):
    frame = pd.DataFrame({"x": X})
    train = te.inputs.pandas_input_fn(frame, pd.Series(Y), batch_size=5, num_epochs=50, shuffle=True)
    evaluate = te.inputs.pandas_input_fn(frame, pd.Series(Y), batch_size=5, shuffle=False)
    check_fit(estimator, train, evaluate, steps=200)


def test_make_csv_dataset(estimator, tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in zip(X.tolist(), Y.tolist(), strict=True)))

    def train():
        return te.inputs.make_csv_dataset(str(path), 5, label_name="y", num_epochs=50, shuffle_buffer_size=8)

    def evaluate():
        return te.inputs.make_csv_dataset(str(path), 5, label_name="y", num_epochs=1, shuffle=False)

    check_fit(estimator, train, evaluate, steps=200)
    assert reader_threads() == []


def test_make_parquet_dataset(estimator, tmp_path):
    path = str(tmp_path / "line.parquet")
    pq.write_table(pa.table({"x": X, "y": Y}), path)
    dataset = te.inputs.make_parquet_dataset(path, 5, label_name="y", num_epochs=50, shuffle_buffer_size=8)
    evaluation = te.inputs.make_parquet_dataset(path, 5, label_name="y", num_epochs=1, shuffle=False)
    check_fit(estimator, lambda: dataset, lambda: evaluation, steps=200)
    assert reader_threads() == []


def test_training_stopped_by_steps_stops_an_endless_reader(estimator, tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,y\n1.0,3.0\n2.0,5.0\n")
    estimator.train(lambda: te.inputs.make_csv_dataset(str(path), 2, label_name="y"), steps=3)
    assert estimator.get_variable_value("global_step") == 3
    assert reader_threads() == []


def test_seeded_config_makes_shuffled_training_reproducible(tmp_path):
    def final_w(name):
        config = te.RunConfig(log_step_count_steps=None, save_summary_steps=0, device="cpu", tf_random_seed=7)
        estimator = te.Estimator(line_model_fn, model_dir=str(tmp_path / name), config=config)
        estimator.train(te.inputs.numpy_input_fn({"x": X}, Y, batch_size=3, num_epochs=1, shuffle=True))
        return estimator.get_variable_value("w")

    assert final_w("a") == final_w("b")
