"""Metric state in the Graph: names, reuse across model_fn calls, never checkpointed, read-only values."""

from __future__ import annotations

import pytest
import torch
import torchmetrics

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, variable_scope
from torch_estimator.metrics import (
    MetricState,
    accuracy,
    auc,
    get_metric,
    mean,
    metric_objects,
    metric_states,
    precision,
)

EVAL = ModeKeys.EVAL


def three_metrics(features, labels):
    return {
        "accuracy": accuracy(labels, features),
        "accuracy_again": accuracy(labels, features),
        "named": mean(features, name="my_mean"),
    }


def test_names_are_uniqued_in_call_order_and_the_same_on_every_call(run_metrics):
    batches = [(torch.tensor([1, 0]), torch.tensor([1, 1])), (torch.tensor([1, 1]), torch.tensor([1, 1]))]
    values = run_metrics(three_metrics, batches)
    graph = run_metrics.graph
    assert sorted(graph.objects) == ["metric:accuracy", "metric:accuracy_1", "metric:my_mean"]
    # Two calls through one Graph found the same states: accuracy = 3 correct / 4.
    assert float(values["accuracy"]) == pytest.approx(0.75)
    assert float(values["accuracy_again"]) == pytest.approx(0.75)
    assert float(values["named"]) == pytest.approx(0.75)  # mean of 1, 0, 1, 1


def test_value_names_and_scopes():
    def model_fn(features, labels, mode):
        with variable_scope("head"):
            metrics = {"acc": accuracy(labels, features), "p": precision(labels, features)}
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops=metrics)

    graph = Graph(model_fn)
    spec = graph(torch.ones(2), torch.ones(2), EVAL)
    value, update_op = spec.eval_metric_ops["acc"]
    assert (value.name, update_op.name) == ("head/accuracy", "head/accuracy/update_op")
    assert sorted(graph.objects) == ["metric:head/accuracy", "metric:head/precision"]


def test_state_is_not_in_state_dict_nor_in_checkpoints(run_metrics):
    run_metrics(three_metrics, [(torch.tensor([1, 0]), torch.tensor([1, 1]))])
    graph = run_metrics.graph
    assert list(graph.state_dict()) == []
    assert graph.checkpoint_tensors() == {}
    assert len(list(metric_states(graph))) == 3


def test_calling_the_function_and_reading_the_value_never_update():
    """Only update_op changes the state: 2 calls, 3 reads, 1 update -> the mean of one batch."""

    def model_fn(features, labels, mode):
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"m": mean(features)})

    graph = Graph(model_fn)
    graph(torch.tensor([4.0, 6.0]), None, EVAL)
    value, update_op = graph(torch.tensor([4.0, 6.0]), None, EVAL).eval_metric_ops["m"]
    (state,) = metric_states(graph)
    assert [float(t) for t in state.tensors()] == [0.0, 0.0]
    assert float(value.compute()) == 0.0  # div_no_nan before any update
    assert update_op.run() is None
    for _ in range(3):
        assert float(value.compute()) == 5.0
    assert [float(t) for t in state.tensors()] == [10.0, 2.0]  # total, count


def test_state_lives_on_the_graph_device_and_a_fresh_graph_starts_from_zero(run_metrics):
    batch = [(torch.tensor([1, 0]), torch.tensor([1, 1]))]
    run_metrics(three_metrics, batch)
    first = run_metrics.graph
    run_metrics(three_metrics, batch)
    assert run_metrics.graph is not first
    for state in metric_states(run_metrics.graph):
        assert all(tensor.device == run_metrics.graph.device for tensor in state.tensors())
        assert isinstance(state, MetricState)
    counts = [float(state["count"]) for state in metric_states(run_metrics.graph)]
    assert counts == [2.0, 2.0, 2.0]  # one batch of 2, not 4


def test_metric_states_merge_by_summing_like_an_all_reduce(run_metrics):
    """Two ranks' states summed tensor by tensor give the value of one run over both halves."""
    halves = [
        (torch.tensor([0.1, 0.9, 0.4]), torch.tensor([0, 1, 1])),
        (torch.tensor([0.8, 0.3, 0.2]), torch.tensor([0, 0, 1])),
    ]

    def metrics_fn(features, labels):
        return {"auc": auc(labels, features), "accuracy": accuracy(labels, features > 0.5)}

    expected = run_metrics(metrics_fn, halves)
    run_metrics(metrics_fn, halves[1:])
    rank1 = run_metrics.graph
    run_metrics(metrics_fn, halves[:1])
    rank0 = run_metrics.graph
    for mine, theirs in zip(metric_states(rank0), metric_states(rank1), strict=True):
        for tensor, other in zip(mine.tensors(), theirs.tensors(), strict=True):
            tensor.add_(other)
    merged = run_metrics.values()  # rank 0's value objects, read after the merge
    assert float(merged["auc"]) == pytest.approx(float(expected["auc"]))
    assert float(merged["accuracy"]) == pytest.approx(float(expected["accuracy"]))


def test_the_same_name_for_another_kind_of_metric_is_an_error():
    def model_fn(features, labels, mode, params):
        metric = mean(features, name="m") if params["first"] else auc(labels, features, name="m")
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"m": metric})

    graph = Graph(model_fn, params={"first": True})
    graph(torch.tensor([0.5]), torch.tensor([1]), EVAL)
    graph.params["first"] = False
    with pytest.raises(ValueError, match="Metric 'm' already exists in this Graph as mean"):
        graph(torch.tensor([0.5]), torch.tensor([1]), EVAL)


def test_metric_functions_need_a_graph():
    with pytest.raises(RuntimeError, match="must be called inside model_fn"):
        accuracy(torch.ones(2), torch.ones(2))


def test_update_ops_detach_their_inputs():
    def model_fn(features, labels, mode):
        scores = features * torch.ones((), requires_grad=True)
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"m": mean(scores)})

    value, update_op = Graph(model_fn)(torch.tensor([1.0, 3.0]), None, EVAL).eval_metric_ops["m"]
    update_op.run()
    assert not value.compute().requires_grad


# -- Metric objects -------------------------------------------------------------------------------


def test_get_metric_keeps_one_object_across_calls_outside_state_dict():
    """MAE over two batches: |1 - 2| and |0 - 3| -> (1 + 3) / 2 = 2."""

    def model_fn(features, labels, mode):
        with variable_scope("head"):
            metric = get_metric("mae", torchmetrics.MeanAbsoluteError)
        metric.update(features, labels)
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"mae": metric})

    graph = Graph(model_fn)
    graph(torch.tensor([1.0]), torch.tensor([2.0]), EVAL)
    spec = graph(torch.tensor([0.0]), torch.tensor([3.0]), EVAL)
    assert float(spec.eval_metric_ops["mae"].compute()) == 2.0
    assert [name for name, _ in metric_objects(graph)] == ["head/mae"]
    assert list(graph.state_dict()) == []
    assert graph.checkpoint_tensors() == {}


class CountingMetric:
    """A hand-written metric object: anything with update, compute and reset works."""

    def __init__(self) -> None:
        self.count = 0

    def update(self, batch: torch.Tensor) -> None:
        self.count += batch.numel()

    def compute(self) -> torch.Tensor:
        return torch.tensor(self.count)

    def reset(self) -> None:
        self.count = 0


def test_get_metric_accepts_any_update_compute_reset_object():
    def model_fn(features, labels, mode):
        metric = get_metric("count", CountingMetric)
        metric.update(features)
        return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops={"count": metric})

    graph = Graph(model_fn)
    graph(torch.ones(3), None, EVAL)
    spec = graph(torch.ones(2), None, EVAL)
    assert int(spec.eval_metric_ops["count"].compute()) == 5


def test_get_metric_rejects_a_factory_that_makes_no_metric():
    def model_fn(features, labels, mode):
        get_metric("bad", lambda: torch.nn.Linear(1, 1))
        return EstimatorSpec(mode, loss=torch.zeros(()))

    with pytest.raises(TypeError, match=r"needs factory\(\) to return a Metric object.*Linear"):
        Graph(model_fn)(torch.ones(1), None, EVAL)
