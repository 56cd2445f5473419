"""Fakes for hook tests: a session, a saver, a clock, and a loop that drives hooks like the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from torch_estimator.contract.hook_types import SessionRunArgs, SessionRunContext, SessionRunHook
from torch_estimator.hooks import HookList
from torch_estimator.summary import clear_writers


class FakeSession:
    """What hooks see: ``global_step``, ``run(fetches)`` over ``values``, ``summaries()``, a saver."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        global_step: int = 0,
        default_saver: Any = None,
        model_dir: str | None = None,
    ) -> None:
        self.graph = None
        self.values = dict(values or {})
        self.global_step = global_step
        self.recorded_summaries: dict[str, tuple[str, Any]] = {}
        self.default_saver = default_saver
        self.model_dir = model_dir

    def run(self, fetches: Any) -> Any:
        if isinstance(fetches, str):
            return self.global_step if fetches == "global_step" else self.values[fetches]
        if isinstance(fetches, Mapping):
            return {key: self.run(value) for key, value in fetches.items()}
        if isinstance(fetches, (list, tuple)):
            return type(fetches)(self.run(value) for value in fetches)
        return fetches()

    def summaries(self) -> dict[str, tuple[str, Any]]:
        return self.recorded_summaries


class FakeSaver:
    """Records the global step of every save."""

    def __init__(self) -> None:
        self.saved_steps: list[int] = []
        self.save_paths: list[str] = []

    def save(self, session: Any, save_path: str, global_step: int | None = None) -> str:
        self.saved_steps.append(global_step)
        self.save_paths.append(save_path)
        return f"{save_path}-{global_step}"


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drive(
    hooks: Sequence[SessionRunHook],
    session: FakeSession,
    max_iterations: int,
    on_step: Callable[[FakeSession, int], None] | None = None,
    increment: int = 1,
) -> int:
    """The engine's loop: begin, after_create_session, then per step before_run / step / after_run, end.

    Each step adds ``increment`` to the global step and calls ``on_step(session, iteration)``
    (to change fetchable values or advance a clock). Returns the number of steps run.
    """
    hook_list = HookList(hooks)
    hook_list.begin()
    hook_list.after_create_session(session, None)
    steps = 0
    while steps < max_iterations:
        run_context = SessionRunContext(SessionRunArgs(["train_op", "loss"]), session)
        hook_list.before_run(run_context)
        session.global_step += increment
        if on_step is not None:
            on_step(session, steps)
        hook_list.after_run(run_context, session.run)
        steps += 1
        if run_context.stop_requested:
            break
    hook_list.end(session)
    return steps


@pytest.fixture
def make_session() -> Callable[..., FakeSession]:
    return FakeSession


@pytest.fixture
def saver() -> FakeSaver:
    return FakeSaver()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run_hooks() -> Callable[..., int]:
    return drive


@pytest.fixture(autouse=True)
def _close_event_writers():
    yield
    clear_writers()
