"""Fakes for the train_and_evaluate tests: a tiny regression model, a fake clock, recording exporters.

Test modules reach the fakes through the ``tfakes`` fixture (pytest runs with
``--import-mode=importlib``, so test modules cannot import a helper module beside them).

The model: ``y = x @ w`` with ``w`` ([2, 1], initialised to 0) and plain SGD at rate 0.1 on the batch
x = [[1, 1]], label [[1]]. With w = [[a], [a]]: pred = 2a, loss = (2a - 1)^2 and one step gives
a' = a - 0.2 (2a - 1) = 0.6 a + 0.2, so the loss shrinks every step (a -> 0.5).
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_estimator as te
from torch_estimator.saved_model.format import SIGNATURE_FILENAME
from torch_estimator.summary import clear_writers


def quiet_config(**overrides: Any) -> te.RunConfig:
    """CPU, no step logging, no training summaries; ``overrides`` win."""
    settings: dict[str, Any] = {"log_step_count_steps": None, "save_summary_steps": 0, "device": "cpu"}
    settings.update(overrides)
    return te.RunConfig(**settings)


def model_fn(features, labels, mode):
    """The regression model of the module docstring (features may be ``{"x": x}`` when served)."""
    x = features["x"] if isinstance(features, dict) else features
    w = te.get_variable("linear/w", [2, 1], initializer=0.0)
    pred = x @ w
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": pred})
    loss = ((pred - labels) ** 2).mean()
    train_op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
    """One batch, repeated forever: x = [[1, 1]], label = [[1]]."""
    return torch.ones(1, 2), torch.ones(1, 1)


def serving_input_receiver_fn():
    return te.export.build_raw_serving_input_receiver_fn({"x": torch.ones(1, 2)})()


class FakeClock:
    """Seconds that move only when ``sleep`` or ``advance`` is called; ``sleeps`` records each sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingExporter:
    """An Exporter that records each call and exports nothing.

    ``calls``: ``(global_step, is_the_final_export)``; ``checkpoints``, ``export_paths`` and
    ``results`` (the eval_result dicts) in the same order.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.calls: list[tuple[int, bool]] = []
        self.checkpoints: list[str] = []
        self.export_paths: list[str] = []
        self.results: list[dict[str, Any]] = []

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        self.calls.append((eval_result["global_step"], is_the_final_export))
        self.checkpoints.append(checkpoint_path)
        self.export_paths.append(export_path)
        self.results.append(dict(eval_result))
        return f"{self.name}-{eval_result['global_step']}"


class FakeExportingEstimator:
    """Stands in for an Estimator in exporter tests: each export makes ``<base>/<next timestamp>/``."""

    def __init__(self, model_dir: str, first_version: int = 1_700_000_000) -> None:
        self.model_dir = model_dir
        self.next_version = first_version
        self.exported_checkpoints: list[str | None] = []

    def export_saved_model(
        self,
        export_dir_base,
        serving_input_receiver_fn,
        assets_extra=None,
        as_text=False,
        checkpoint_path=None,
    ):
        path = os.path.join(export_dir_base, str(self.next_version))
        os.makedirs(path)
        # The signature file makes it a finished export (te.saved_model.list_versions lists it).
        with open(os.path.join(path, SIGNATURE_FILENAME), "w") as f:
            f.write("{}")
        self.next_version += 1
        self.exported_checkpoints.append(checkpoint_path)
        return path


FAKES = types.SimpleNamespace(
    quiet_config=quiet_config,
    model_fn=model_fn,
    input_fn=input_fn,
    serving_input_receiver_fn=serving_input_receiver_fn,
    FakeClock=FakeClock,
    RecordingExporter=RecordingExporter,
    FakeExportingEstimator=FakeExportingEstimator,
)


@pytest.fixture
def tfakes() -> types.SimpleNamespace:
    """The fakes of this conftest."""
    return FAKES


@pytest.fixture
def make_estimator(model_dir) -> Callable[..., te.Estimator]:
    """``make_estimator(**config overrides)``: the model of this conftest on ``model_dir``."""

    def make(**config: Any) -> te.Estimator:
        return te.Estimator(model_fn, model_dir=model_dir, config=quiet_config(**config))

    return make


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()
