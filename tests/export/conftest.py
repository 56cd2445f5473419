"""Fakes for the export tests: a hand-weighted classifier and a trained Estimator on it.

Test modules reach the fakes through the ``export_fakes`` fixture (pytest runs with
``--import-mode=importlib``, so test modules cannot import a helper module beside them).

The classifier: logits = x @ W + b with W = [[1, 0, -1], [0, 1, 1]] and b = [0, 0, 0.5]
(``params["scale"]`` multiplies W, default 1). Training uses a learning rate of 0, so the weights
stay as written and every expected number can be derived by hand.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_estimator as te
from torch_estimator.graph import require_graph
from torch_estimator.metrics.state import div_no_nan, metric_pair, metric_state
from torch_estimator.summary import clear_writers

KERNEL = [[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]
BIAS = [0.0, 0.0, 0.5]
CLASS_NAMES = ["setosa", "versicolor", "virginica"]


def quiet_config(**overrides: Any) -> te.RunConfig:
    settings: dict[str, Any] = {"log_step_count_steps": None, "save_summary_steps": 0, "device": "cpu"}
    settings.update(overrides)
    return te.RunConfig(**settings)


def default_outputs(predictions: dict[str, torch.Tensor], logits: torch.Tensor) -> dict[str, Any]:
    """classify (serving_default), predict and regress signatures."""
    return {
        "serving_default": te.export.ClassificationOutput(
            scores=predictions["probabilities"], classes=predictions["class_ids"], class_names=CLASS_NAMES
        ),
        "predict": te.export.PredictOutput(predictions),
        "regress": te.export.RegressionOutput(logits[:, 0]),
    }


def correct_fraction(labels: torch.Tensor, predictions: torch.Tensor) -> tuple[Any, Any]:
    """A hand-written (value, update_op) pair: the fraction of labels equal to predictions."""
    graph = require_graph("correct_fraction")
    layout = {"correct": ((), torch.float32), "count": ((), torch.float32)}
    state = metric_state(graph, "correct_fraction", "correct_fraction", None, layout)
    correct, count = state["correct"], state["count"]

    def update() -> None:
        correct.add_((labels == predictions).sum())
        count.add_(labels.numel())

    return metric_pair(graph, "correct_fraction", lambda: div_no_nan(correct, count), update)


def classifier_model_fn(features, labels, mode, params):
    """The hand-weighted classifier; ``params["outputs"](predictions, logits)`` makes export_outputs."""
    x = features["x"] if isinstance(features, dict) else features
    scale = float(params.get("scale", 1.0))
    kernel = te.get_variable("dense/kernel", [2, 3], initializer=torch.tensor(KERNEL) * scale)
    bias = te.get_variable("dense/bias", [3], initializer=torch.tensor(BIAS))
    logits = x @ kernel + bias
    predictions = {"class_ids": logits.argmax(-1), "probabilities": logits.softmax(-1)}
    if mode == te.ModeKeys.PREDICT:
        outputs = params.get("outputs", default_outputs)
        return te.EstimatorSpec(mode, predictions=predictions, export_outputs=outputs(predictions, logits))
    loss = torch.nn.functional.cross_entropy(logits, labels)
    if mode == te.ModeKeys.EVAL:
        metrics = {"accuracy": correct_fraction(labels, predictions["class_ids"])}
        return te.EstimatorSpec(mode, loss=loss, predictions=predictions, eval_metric_ops=metrics)
    train_op = te.train.GradientDescentOptimizer(0.0).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def train_input_fn():
    return {"x": torch.tensor([[1.0, 2.0], [3.0, -1.0]])}, torch.tensor([2, 0])


def raw_receiver_fn() -> Callable[[], te.export.ServingInputReceiver]:
    return te.export.build_raw_serving_input_receiver_fn({"x": torch.zeros(1, 2)})


FAKES = types.SimpleNamespace(
    CLASS_NAMES=CLASS_NAMES,
    classifier_model_fn=classifier_model_fn,
    correct_fraction=correct_fraction,
    default_outputs=default_outputs,
    quiet_config=quiet_config,
    raw_receiver_fn=raw_receiver_fn,
    train_input_fn=train_input_fn,
)


@pytest.fixture
def export_fakes() -> types.SimpleNamespace:
    """The classifier model_fn, its export outputs, receiver fns and input_fn (see the module doc)."""
    return FAKES


@pytest.fixture
def make_trained(tmp_path) -> Callable[..., te.Estimator]:
    """``make_trained(model_fn=classifier_model_fn, params=None, steps=1)``: a trained Estimator."""

    def make(
        model_fn: Callable[..., Any] = classifier_model_fn, params: dict[str, Any] | None = None, steps=1
    ):
        estimator = te.Estimator(
            model_fn,
            model_dir=str(tmp_path / "model"),
            config=quiet_config(),
            params=params or {"scale": 1.0},
        )
        if steps:
            estimator.train(train_input_fn, steps=steps)
        return estimator

    return make


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()
