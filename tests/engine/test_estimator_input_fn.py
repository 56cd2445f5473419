"""What an input_fn may return and what it receives (SEMANTICS.md (c), DESIGN.md 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import torch_estimator as te


class BatchRecorder:
    """A model_fn that records each (features, labels) it trains on (not the build pass)."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, object]] = []

    def __call__(self, features, labels, mode):
        x = features["x"] if isinstance(features, dict) else features
        if not te.graph.require_graph("BatchRecorder").building:
            self.seen.append((x, labels))
        w = te.get_variable("w", [], initializer=0.0)
        loss = (x.float() * w).mean() if labels is None else ((x.float() * w - labels.float()) ** 2).mean()
        train_op = te.train.GradientDescentOptimizer(0.01).minimize(
            loss, global_step=te.train.get_global_step()
        )
        return te.EstimatorSpec(mode, loss=loss, train_op=train_op)

    def sizes(self) -> list[int]:
        return [len(x) for x, _ in self.seen]


def test_a_tensor_pair_is_one_batch_repeated(make_estimator):
    recorder = BatchRecorder()
    estimator = make_estimator(recorder)
    estimator.train(lambda: (torch.ones(4), torch.zeros(4)), steps=3)
    assert recorder.sizes() == [4, 4, 4]
    assert estimator.get_variable_value("global_step") == 3


def test_a_list_of_batches(make_estimator):
    recorder = BatchRecorder()
    batches = [
        (torch.ones(2), torch.zeros(2)),
        (torch.ones(3), torch.zeros(3)),
        (torch.ones(1), torch.zeros(1)),
    ]
    make_estimator(recorder).train(lambda: batches)
    assert recorder.sizes() == [2, 3, 1]


def test_a_generator(make_estimator):
    recorder = BatchRecorder()

    def input_fn():
        for size in (1, 2, 3, 4):
            yield torch.ones(size), torch.zeros(size)

    make_estimator(recorder).train(input_fn, steps=10)
    assert recorder.sizes() == [1, 2, 3, 4]


def test_a_data_loader(make_estimator):
    recorder = BatchRecorder()
    dataset = TensorDataset(torch.arange(10.0), torch.zeros(10))
    estimator = make_estimator(recorder)
    estimator.train(lambda: DataLoader(dataset, batch_size=4))
    # 10 rows in batches of 4: sizes 4, 4, 2, in order.
    assert recorder.sizes() == [4, 4, 2]
    assert torch.cat([x for x, _ in recorder.seen]).tolist() == list(range(10))
    assert estimator.get_variable_value("global_step") == 3


def test_features_only(make_estimator):
    recorder = BatchRecorder()

    def model_fn(features, mode):
        return recorder(features, None, mode)

    make_estimator(model_fn).train(lambda: {"x": torch.ones(3)}, steps=2)
    assert recorder.sizes() == [3, 3]
    assert recorder.seen[0][1] is None


def test_an_iterable_of_features_only(make_estimator):
    recorder = BatchRecorder()
    make_estimator(recorder).train(lambda: iter([{"x": torch.ones(2)}, {"x": torch.ones(5)}]))
    assert recorder.sizes() == [2, 5]
    assert [labels for _, labels in recorder.seen] == [None, None]


def test_numpy_arrays_become_tensors(make_estimator):
    recorder = BatchRecorder()
    make_estimator(recorder).train(lambda: ({"x": np.arange(3, dtype=np.float32)}, np.zeros(3)), steps=1)
    features, labels = recorder.seen[0]
    assert isinstance(features, torch.Tensor) and features.tolist() == [0.0, 1.0, 2.0]
    assert isinstance(labels, torch.Tensor) and labels.dtype == torch.float64


def test_input_fn_gets_mode_params_and_config_when_declared(make_estimator):
    received = []

    def input_fn(mode, params, config):
        received.append((mode, params, config))
        return torch.ones(2), torch.zeros(2)

    def model_fn(features, labels, mode, params):
        return BatchRecorder()(features, labels, mode)

    estimator = make_estimator(model_fn, params={"batch_size": 2})
    estimator.train(input_fn, steps=1)
    estimator.evaluate(input_fn, steps=1)
    assert [mode for mode, _, _ in received] == [te.ModeKeys.TRAIN, te.ModeKeys.EVAL]
    assert all(params == {"batch_size": 2} for _, params, _ in received)
    assert all(isinstance(config, te.RunConfig) for _, _, config in received)
    assert received[0][2].model_dir == estimator.model_dir


def test_input_fn_params_are_a_copy(make_estimator):
    def input_fn(params):
        params["batch_size"] = 999
        return torch.ones(2), torch.zeros(2)

    def model_fn(features, labels, mode, params):
        return BatchRecorder()(features, labels, mode)

    estimator = make_estimator(model_fn, params={"batch_size": 2})
    estimator.train(input_fn, steps=1)
    assert estimator.params == {"batch_size": 2}


def test_a_three_tuple_is_a_value_error(make_estimator):
    with pytest.raises(ValueError, match=r"input_fn should return \(features, labels\) as a len 2 tuple"):
        make_estimator(BatchRecorder()).train(
            lambda: (torch.ones(2), torch.zeros(2), torch.zeros(2)), steps=1
        )


def test_a_three_tuple_element_is_a_value_error(make_estimator):
    batches = [(torch.ones(2), torch.zeros(2), torch.zeros(2))]
    with pytest.raises(ValueError, match=r"input_fn should return \(features, labels\) as a len 2 tuple"):
        make_estimator(BatchRecorder()).train(lambda: batches, steps=1)


def test_labels_for_a_model_fn_without_labels_is_a_value_error(make_estimator):
    def model_fn(features, mode):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="model_fn does not take labels, but input_fn returns labels"):
        make_estimator(model_fn).train(lambda: (torch.ones(2), torch.zeros(2)), steps=1)


def test_input_fn_returning_a_number_is_a_type_error(make_estimator):
    with pytest.raises(TypeError, match="input_fn must return"):
        make_estimator(BatchRecorder()).train(lambda: 3, steps=1)
