"""HookList: drives a list of SessionRunHooks around each step, skipping what a hook leaves unused."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

__all__ = ["HookList", "overrides"]

_NO_RESULTS = SessionRunValues(results=None)


def overrides(hook: Any, method: str) -> bool:
    """Whether ``hook`` defines ``method`` itself rather than inheriting SessionRunHook's no-op.

    >>> class Counter(SessionRunHook):
    ...     def after_run(self, run_context, run_values):
    ...         pass
    >>> overrides(Counter(), "after_run"), overrides(Counter(), "before_run")
    (True, False)
    """
    if method in getattr(hook, "__dict__", {}):
        return True
    own = getattr(type(hook), method, None)
    return own is not None and own is not getattr(SessionRunHook, method)


class HookList:
    """Calls hooks in list order, once per phase; per step it only touches hooks that override a method.

    The engine drives it as follows (TF's MonitoredSession order)::

        hook_list = HookList(hooks)
        hook_list.begin()
        (variables restored or initialised)
        hook_list.after_create_session(session, coord=None)
        loop:
            run_context = SessionRunContext(SessionRunArgs(fetches), session)
            requests = hook_list.before_run(run_context)   # each hook's SessionRunArgs, remembered
            (the step runs: model_fn, train_op)
            hook_list.after_run(run_context, resolve)      # every hook, even after a stop request
            if run_context.stop_requested: break
        hook_list.end(session)

    ``resolve(fetches)`` returns values mirroring ``fetches`` (the session's ``run``); each hook's
    ``after_run`` gets ``SessionRunValues(results=resolve(its own fetches))``, or ``results=None``
    when it asked for nothing. The lists of hooks overriding ``before_run`` and ``after_run`` are
    computed once here, so a hook that only has ``begin``/``end`` costs nothing per step.
    Feeds (``SessionRunArgs.feed_dict``) have no PyTorch meaning; they are merged into
    ``feed_dict`` with TF's conflict checks and otherwise unused.

    >>> class Stop(SessionRunHook):
    ...     def before_run(self, run_context):
    ...         return SessionRunArgs("loss")
    ...     def after_run(self, run_context, run_values):
    ...         if run_values.results > 1:
    ...             run_context.request_stop()
    >>> hook_list = HookList([Stop()])
    >>> context = SessionRunContext(SessionRunArgs(None), session=None)
    >>> hook_list.before_run(context)
    [SessionRunArgs(fetches='loss', feed_dict=None, options=None)]
    >>> hook_list.after_run(context, lambda fetches: {"loss": 2.0}[fetches])
    >>> context.stop_requested
    True
    """

    def __init__(self, hooks: Iterable[SessionRunHook]) -> None:
        self.hooks: tuple[SessionRunHook, ...] = tuple(hooks)
        self._begin = [hook.begin for hook in self.hooks if overrides(hook, "begin")]
        self._after_create_session = [
            hook.after_create_session for hook in self.hooks if overrides(hook, "after_create_session")
        ]
        self._end = [hook.end for hook in self.hooks if overrides(hook, "end")]
        before = [hook for hook in self.hooks if overrides(hook, "before_run")]
        self._before_run: list[tuple[SessionRunHook, Callable[[SessionRunContext], Any]]] = [
            (hook, hook.before_run) for hook in before
        ]
        position = {id(hook): index for index, hook in enumerate(before)}
        # Each after_run hook with the index of its request in the before_run results (-1: none).
        self._after_run: list[tuple[Callable[[SessionRunContext, SessionRunValues], Any], int]] = [
            (hook.after_run, position.get(id(hook), -1))
            for hook in self.hooks
            if overrides(hook, "after_run")
        ]
        self._requests: list[SessionRunArgs | None] = []
        self.feed_dict: dict[Any, Any] | None = None

    def __len__(self) -> int:
        return len(self.hooks)

    def __iter__(self) -> Iterator[SessionRunHook]:
        return iter(self.hooks)

    def begin(self) -> None:
        """``hook.begin()`` for each hook, in order."""
        for call in self._begin:
            call()

    def after_create_session(self, session: Any, coord: Any = None) -> None:
        """``hook.after_create_session(session, coord)`` for each hook, in order."""
        for call in self._after_create_session:
            call(session, coord)

    def before_run(self, run_context: SessionRunContext) -> list[SessionRunArgs | None]:
        """Asks each hook for its SessionRunArgs and remembers them for ``after_run``.

        Returns one entry per hook that overrides ``before_run`` (None where it asked nothing).

        Raises:
            TypeError: a hook returned something other than SessionRunArgs or None.
            RuntimeError: two hooks (or a hook and the caller) feed the same key.
        """
        requests: list[SessionRunArgs | None] = []
        feeds = None
        for hook, call in self._before_run:
            request = call(run_context)
            if request is not None:
                if not isinstance(request, SessionRunArgs):
                    raise TypeError(
                        f"{type(hook).__name__}.before_run must return SessionRunArgs or None. "
                        f"Received: {type(request).__name__} {request!r}."
                    )
                if request.feed_dict:
                    feeds = self._merge_feeds(feeds, request.feed_dict, run_context)
            requests.append(request)
        self._requests = requests
        self.feed_dict = feeds
        return requests

    def after_run(self, run_context: SessionRunContext, resolve: Callable[[Any], Any]) -> None:
        """``hook.after_run`` for every hook, each with the values of its own fetches."""
        requests = self._requests
        for call, index in self._after_run:
            request = requests[index] if index >= 0 else None
            if request is None or request.fetches is None:
                call(run_context, _NO_RESULTS)
            else:
                call(run_context, SessionRunValues(results=resolve(request.fetches), options=request.options))

    def end(self, session: Any) -> None:
        """``hook.end(session)`` for each hook, in order."""
        for call in self._end:
            call(session)

    @staticmethod
    def _merge_feeds(
        feeds: dict[Any, Any] | None, new: dict[Any, Any], run_context: SessionRunContext
    ) -> dict[Any, Any]:
        feeds = {} if feeds is None else feeds
        for key in new:
            if key in feeds:
                raise RuntimeError(
                    f"Same tensor is fed by two hooks. Key: {key!r}; feed it from one hook only."
                )
        user_feeds = run_context.original_args.feed_dict or {}
        for key in new:
            if key in user_feeds:
                raise RuntimeError(
                    f"Same tensor is fed by a SessionRunHook and user. Key: {key!r}; feed it in one place."
                )
        feeds.update(new)
        return feeds
