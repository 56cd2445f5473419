"""HookList: call order, skipping of unused methods, per-hook fetches, feed conflicts."""

from __future__ import annotations

import re

import pytest

from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.hooks import FeedFnHook, HookList, overrides


class RecordingHook(SessionRunHook):
    """Appends ``(name, method)`` to a shared list; optionally fetches and stops at a local step."""

    def __init__(self, name, calls, fetches=None, stop_at_iteration=None):
        self.name = name
        self.calls = calls
        self.fetches = fetches
        self.stop_at_iteration = stop_at_iteration
        self.results = []
        self.iteration = 0

    def begin(self):
        self.calls.append((self.name, "begin"))

    def after_create_session(self, session, coord):
        self.calls.append((self.name, "after_create_session"))

    def before_run(self, run_context):
        self.calls.append((self.name, "before_run"))
        return SessionRunArgs(self.fetches) if self.fetches is not None else None

    def after_run(self, run_context, run_values):
        self.calls.append((self.name, "after_run"))
        self.results.append(run_values.results)
        if self.iteration == self.stop_at_iteration:
            run_context.request_stop()
        self.iteration += 1

    def end(self, session):
        self.calls.append((self.name, "end"))


def test_hooks_are_called_in_list_order_and_all_after_runs_run_after_a_stop(make_session, run_hooks):
    """h1 asks to stop on its second iteration; h2 still gets that after_run, then both get end."""
    calls = []
    hooks = [RecordingHook("h1", calls, stop_at_iteration=1), RecordingHook("h2", calls)]

    steps = run_hooks(hooks, make_session(), max_iterations=10)

    assert steps == 2
    step = [("h1", "before_run"), ("h2", "before_run"), ("h1", "after_run"), ("h2", "after_run")]
    assert calls == [
        ("h1", "begin"),
        ("h2", "begin"),
        ("h1", "after_create_session"),
        ("h2", "after_create_session"),
        *step,
        *step,
        ("h1", "end"),
        ("h2", "end"),
    ]


def test_each_hook_gets_results_mirroring_its_own_fetches(make_session, run_hooks):
    calls = []
    by_dict = RecordingHook("a", calls, fetches={"l": "loss", "s": "global_step"})
    by_list = RecordingHook("b", calls, fetches=["loss"])
    nothing = RecordingHook("c", calls)
    session = make_session(values={"loss": 0.5})

    run_hooks([by_dict, by_list, nothing], session, max_iterations=2)

    # The global step is read after each step: 1, then 2.
    assert by_dict.results == [{"l": 0.5, "s": 1}, {"l": 0.5, "s": 2}]
    assert by_list.results == [[0.5], [0.5]]
    assert nothing.results == [None, None]


class AfterRunOnly(SessionRunHook):
    def __init__(self):
        self.results = []

    def after_run(self, run_context, run_values):
        self.results.append(run_values.results)


def test_a_hook_without_before_run_gets_no_results():
    hook = AfterRunOnly()
    hook_list = HookList([hook])
    context = SessionRunContext(SessionRunArgs(None), session=None)
    assert hook_list.before_run(context) == []
    hook_list.after_run(context, resolve=lambda fetches: pytest.fail("nothing should be resolved"))
    assert hook.results == [None]


class WatchedNoOpHook(SessionRunHook):
    """Overrides nothing; records every attribute looked up on it once watching starts."""

    def __init__(self):
        self.watching = False
        self.lookups = []

    def __getattribute__(self, name):
        if object.__getattribute__(self, "watching"):
            object.__getattribute__(self, "lookups").append(name)
        return object.__getattribute__(self, name)


def test_hook_list_never_touches_methods_a_hook_does_not_override(make_session):
    hook = WatchedNoOpHook()
    hook_list = HookList([hook])
    hook.watching = True
    session = make_session()

    hook_list.begin()
    hook_list.after_create_session(session, None)
    for _ in range(3):
        context = SessionRunContext(SessionRunArgs(None), session)
        hook_list.before_run(context)
        hook_list.after_run(context, session.run)
    hook_list.end(session)

    hook.watching = False
    assert hook.lookups == []


def test_overrides_compares_with_the_base_class_and_sees_instance_attributes():
    hook = SessionRunHook()
    assert not any(overrides(hook, name) for name in ("begin", "before_run", "after_run", "end"))
    hook.end = lambda session: None
    assert overrides(hook, "end")
    assert overrides(AfterRunOnly(), "after_run")
    assert not overrides(AfterRunOnly(), "before_run")


class ReturnsDict(SessionRunHook):
    def before_run(self, run_context):
        return {"loss": "loss"}


def test_before_run_must_return_session_run_args():
    hook_list = HookList([ReturnsDict()])
    with pytest.raises(TypeError, match=r"ReturnsDict.before_run must return SessionRunArgs or None"):
        hook_list.before_run(SessionRunContext(SessionRunArgs(None), session=None))


def test_feeds_are_merged_and_conflicts_rejected():
    context = SessionRunContext(SessionRunArgs(None), session=None)
    hook_list = HookList([FeedFnHook(lambda: {"x": 1}), FeedFnHook(lambda: {"y": 2})])
    hook_list.before_run(context)
    assert hook_list.feed_dict == {"x": 1, "y": 2}

    clash = HookList([FeedFnHook(lambda: {"x": 1}), FeedFnHook(lambda: {"x": 2})])
    with pytest.raises(RuntimeError, match=re.escape("Same tensor is fed by two hooks.")):
        clash.before_run(context)

    user_context = SessionRunContext(SessionRunArgs(None, feed_dict={"x": 0}), session=None)
    with pytest.raises(RuntimeError, match=re.escape("Same tensor is fed by a SessionRunHook and user.")):
        HookList([FeedFnHook(lambda: {"x": 1})]).before_run(user_context)


class Explodes(SessionRunHook):
    def after_run(self, run_context, run_values):
        raise ValueError("boom")


def test_an_exception_in_after_run_skips_later_hooks_and_end(make_session, run_hooks):
    calls = []
    later = RecordingHook("later", calls)
    with pytest.raises(ValueError, match="boom"):
        run_hooks([Explodes(), later], make_session(), max_iterations=3)
    assert ("later", "after_run") not in calls
    assert ("later", "end") not in calls


def test_session_run_values_carry_the_request_options(make_session):
    class WithOptions(SessionRunHook):
        def before_run(self, run_context):
            return SessionRunArgs("loss", options="trace")

        def after_run(self, run_context, run_values):
            self.seen = run_values

    hook = WithOptions()
    hook_list = HookList([hook])
    session = make_session(values={"loss": 1.0})
    context = SessionRunContext(SessionRunArgs(None), session)
    hook_list.before_run(context)
    hook_list.after_run(context, session.run)
    assert hook.seen == SessionRunValues(results=1.0, options="trace")
    assert len(hook_list) == 1
    assert list(hook_list) == [hook]
