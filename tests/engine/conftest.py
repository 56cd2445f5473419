"""Fakes and fixtures for the Estimator tests: tiny model_fns, a quiet RunConfig, recording hooks.

Test modules reach the fakes through the ``fakes`` fixture (pytest runs with
``--import-mode=importlib``, so test modules cannot import a helper module beside them). Every
model here is small enough that a ``train(steps=5)`` takes a few milliseconds; the expected
numbers in the tests are derived by hand from these definitions.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_estimator as te
from torch_estimator.summary import clear_writers

LOGGER = logging.getLogger("torch_estimator")


def quiet_config(**overrides: Any) -> te.RunConfig:
    """A RunConfig on the CPU without step logging and summaries (fast, silent); ``overrides`` win.

    The CPU is pinned so that the hand-derived numbers hold on a CUDA machine too ("auto" would pick
    the GPU); test_estimator_device.py covers CUDA.
    """
    settings: dict[str, Any] = {"log_step_count_steps": None, "save_summary_steps": 0, "device": "cpu"}
    settings.update(overrides)
    return te.RunConfig(**settings)


def linear_model_fn(features, labels, mode, params):
    """``y = x @ w`` with ``w`` ([2, 1], initialised to ``params.get("w0", 0)``), squared error, plain SGD.

    With x = [[1, 1]] and label 1 (the ``ones_input_fn`` batch) and w = [[a], [a]]: pred = 2a,
    loss = (2a - 1)^2, d loss / d w_i = 2 (2a - 1), so one SGD step with rate r gives
    a' = a - 2 r (2a - 1).
    """
    w = te.get_variable("linear/w", [2, 1], initializer=float(params.get("w0", 0.0)))
    pred = features @ w
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"y": pred})
    loss = ((pred - labels) ** 2).mean()
    optimizer = te.train.GradientDescentOptimizer(params.get("learning_rate", 0.1))
    train_op = optimizer.minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def ones_input_fn():
    """One batch, repeated forever: x = [[1, 1]], label = [[1]]."""
    return torch.ones(1, 2), torch.ones(1, 1)


class RecordingHook(te.SessionRunHook):
    """Appends ``(name, method)`` to a shared ``log`` list for every hook call.

    With ``announce=True`` it also logs ``"<name> <method>"`` on the torch_estimator logger, so its
    calls interleave with the built-in hooks' log lines in ``caplog`` (their relative order).
    ``after_run_steps`` and ``stop_requested_seen`` keep, per step, the global step after the step
    and whether an earlier hook of the list had requested a stop.
    """

    def __init__(self, name: str, log: list[tuple[str, str]], announce: bool = False) -> None:
        self.name = name
        self.log = log
        self.announce = announce
        self.after_run_steps: list[int] = []
        self.stop_requested_seen: list[bool] = []

    def _record(self, method: str) -> None:
        self.log.append((self.name, method))
        if self.announce:
            LOGGER.info("%s %s", self.name, method)

    def begin(self) -> None:
        self._record("begin")

    def after_create_session(self, session, coord) -> None:
        self._record("after_create_session")

    def before_run(self, run_context):
        self._record("before_run")
        return None

    def after_run(self, run_context, run_values) -> None:
        self.after_run_steps.append(run_context.session.global_step)
        self.stop_requested_seen.append(run_context.stop_requested)
        self._record("after_run")

    def end(self, session) -> None:
        self._record("end")


class RecordingListener(te.CheckpointSaverListener):
    """Records ``(method, global_step)`` of every listener call; ``stop_after`` makes after_save stop."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.stop_after = stop_after

    def begin(self) -> None:
        self.calls.append(("begin", None))

    def before_save(self, session, global_step_value) -> None:
        self.calls.append(("before_save", global_step_value))

    def after_save(self, session, global_step_value) -> bool:
        self.calls.append(("after_save", global_step_value))
        return self.stop_after is not None and global_step_value >= self.stop_after

    def end(self, session, global_step_value) -> None:
        self.calls.append(("end", global_step_value))

    def steps(self, method: str) -> list[int | None]:
        return [step for name, step in self.calls if name == method]


FAKES = types.SimpleNamespace(
    quiet_config=quiet_config,
    linear_model_fn=linear_model_fn,
    ones_input_fn=ones_input_fn,
    RecordingHook=RecordingHook,
    RecordingListener=RecordingListener,
)


@pytest.fixture
def fakes() -> types.SimpleNamespace:
    """``quiet_config``, ``linear_model_fn``, ``ones_input_fn``, ``RecordingHook``, ``RecordingListener``."""
    return FAKES


@pytest.fixture
def make_estimator(model_dir) -> Callable[..., te.Estimator]:
    """``make_estimator(model_fn=linear_model_fn, params=None, **config overrides)`` on ``model_dir``."""

    def make(model_fn: Callable[..., Any] = linear_model_fn, params: dict[str, Any] | None = None, **config):
        return te.Estimator(model_fn, model_dir=model_dir, config=quiet_config(**config), params=params)

    return make


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()
