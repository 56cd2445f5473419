"""Metric objects in eval_metric_ops (SEMANTICS (b) 6, DESIGN 4): accepted only if updated in this call."""

import pytest
import torch
import torchmetrics

from torch_estimator.contract import EstimatorSpec, ModeKeys, current_graph
from torch_estimator.graph import Graph


def test_metric_created_and_updated_in_model_fn_is_accepted():
    def model_fn(features, labels, mode):
        metric = torchmetrics.MeanMetric()
        metric.update(features)
        return EstimatorSpec(mode, loss=features.mean(), eval_metric_ops={"mean": metric})

    spec = Graph(model_fn)(torch.tensor([1.0, 3.0]), None, ModeKeys.EVAL)
    assert spec.eval_metric_ops["mean"].compute().item() == 2.0  # (1 + 3) / 2


def test_metric_never_updated_is_rejected():
    def model_fn(features, labels, mode):
        metric = torchmetrics.MeanMetric()
        return EstimatorSpec(mode, loss=features.mean(), eval_metric_ops={"mean": metric})

    with pytest.raises(ValueError, match=r'Please call update_state\(...\) on the "mean" metric'):
        Graph(model_fn)(torch.ones(2), None, ModeKeys.EVAL)


def test_persistent_metric_must_be_updated_in_every_call():
    """Updated in call 1 and not in call 2: call 2 fails although the metric has an update."""

    def model_fn(features, labels, mode, params):
        metric = current_graph().get_object("metric:mean", torchmetrics.MeanMetric)
        if params["update"]:
            metric.update(features)
        return EstimatorSpec(mode, loss=features.mean(), eval_metric_ops={"mean": metric})

    graph = Graph(model_fn, params={"update": True})
    graph(torch.ones(2), None, ModeKeys.EVAL)
    graph(torch.ones(2), None, ModeKeys.EVAL)
    graph.params["update"] = False
    with pytest.raises(ValueError, match=r'Please call update_state\(\.\.\.\) on the "mean" metric'):
        graph(torch.ones(2), None, ModeKeys.EVAL)
    graph.params["update"] = True
    spec = graph(torch.tensor([4.0]), None, ModeKeys.EVAL)
    assert spec.eval_metric_ops["mean"].compute().item() == pytest.approx(1.6)  # (1 + 1 + 1 + 1 + 4) / 5


def test_same_metric_twice_in_one_call_and_replace():
    """Checking the metric again in the same call (two keys, or _replace) does not count as stale."""

    def model_fn(features, labels, mode):
        metric = current_graph().get_object("metric:mean", torchmetrics.MeanMetric)
        metric.update(features)
        spec = EstimatorSpec(mode, loss=features.mean(), eval_metric_ops={"a": metric, "b": metric})
        return spec._replace(loss=features.sum())

    graph = Graph(model_fn)
    graph(torch.ones(2), None, ModeKeys.EVAL)
    spec = graph(torch.ones(2), None, ModeKeys.EVAL)
    assert set(spec.eval_metric_ops) == {"a", "b"}


def test_metric_outside_a_graph_needs_an_update():
    metric = torchmetrics.MeanMetric()
    with pytest.raises(ValueError, match=r'Please call update_state\(\.\.\.\) on the "m" metric'):
        EstimatorSpec(ModeKeys.EVAL, loss=torch.ones(()), eval_metric_ops={"m": metric})
    metric.update(torch.ones(1))
    spec = EstimatorSpec(ModeKeys.EVAL, loss=torch.ones(()), eval_metric_ops={"m": metric})
    assert spec.eval_metric_ops["m"] is metric
