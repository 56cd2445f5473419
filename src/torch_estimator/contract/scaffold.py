"""Scaffold: how a session's state is initialised, checked and saved."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["Scaffold"]

_FIELDS = (
    "init_op",
    "init_feed_dict",
    "init_fn",
    "ready_op",
    "ready_for_local_init_op",
    "local_init_op",
    "summary_op",
    "saver",
)


class Scaffold:
    """Initialisation and saving choices for a training, evaluation or prediction session.

    The ops of TF's Scaffold are zero- or one-argument callables here:

    * ``init_op()``: runs when the variables were **not** restored from a checkpoint (after the
      Graph's own initialisers).
    * ``init_fn(scaffold, session)``: extra initialisation, also only when not restored (loading
      pretrained weights, say). Exposed as ``scaffold.init_fn(session)``.
    * ``local_init_op()``: runs after restore-or-init, on both paths.
    * ``ready_op()`` / ``ready_for_local_init_op()``: return a list of names that are not ready;
      empty means ready.
    * ``saver``: a ``te.train.Saver`` used to restore and by the checkpoint saver hook.
    * ``init_feed_dict`` and ``summary_op`` are kept for source compatibility.

    ``copy_from_scaffold`` fills every field not given here from another Scaffold.

    >>> base = Scaffold(init_fn=lambda scaffold, session: None)
    >>> Scaffold(copy_from_scaffold=base).init_fn is not None
    True
    """

    def __init__(
        self,
        init_op: Callable[[], Any] | None = None,
        init_feed_dict: Any = None,
        init_fn: Callable[[Scaffold, Any], Any] | None = None,
        ready_op: Callable[[], Any] | None = None,
        ready_for_local_init_op: Callable[[], Any] | None = None,
        local_init_op: Callable[[], Any] | None = None,
        summary_op: Any = None,
        saver: Any = None,
        copy_from_scaffold: Scaffold | None = None,
    ) -> None:
        if copy_from_scaffold is not None:
            if not isinstance(copy_from_scaffold, Scaffold):
                raise TypeError(
                    f"copy_from_scaffold is not a Scaffold instance. Received: {copy_from_scaffold!r}."
                )
            # Copy the user's original init_fn, not the bound one-argument form.
            init_fn = init_fn or copy_from_scaffold.user_init_fn
            init_op = init_op or copy_from_scaffold.init_op
            init_feed_dict = init_feed_dict or copy_from_scaffold.init_feed_dict
            ready_op = ready_op or copy_from_scaffold.ready_op
            ready_for_local_init_op = ready_for_local_init_op or copy_from_scaffold.ready_for_local_init_op
            local_init_op = local_init_op or copy_from_scaffold.local_init_op
            summary_op = summary_op or copy_from_scaffold.summary_op
            saver = saver or copy_from_scaffold.saver
        for name, value in (
            ("init_op", init_op),
            ("init_fn", init_fn),
            ("ready_op", ready_op),
            ("ready_for_local_init_op", ready_for_local_init_op),
            ("local_init_op", local_init_op),
        ):
            if value is not None and not callable(value):
                raise TypeError(f"Scaffold {name} must be callable or None. Received: {value!r}.")
        self.user_init_fn = init_fn
        self.init_fn = functools.partial(init_fn, self) if init_fn is not None else None
        self.init_op = init_op
        self.init_feed_dict = init_feed_dict
        self.ready_op = ready_op
        self.ready_for_local_init_op = ready_for_local_init_op
        self.local_init_op = local_init_op
        self.summary_op = summary_op
        self.saver = saver

    def __repr__(self) -> str:
        given = [name for name in _FIELDS if getattr(self, name) is not None]
        return f"Scaffold({', '.join(given)})"
