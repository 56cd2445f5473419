"""The one timer every periodic hook uses: trigger every N steps or every N seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["NeverTriggerTimer", "SecondOrStepTimer"]


class SecondOrStepTimer:
    """Triggers at most once per ``every_secs`` seconds or once per ``every_steps`` steps (exactly one).

    ``should_trigger_for_step(step)`` is True if the timer never triggered, False for the step it
    last triggered at, else True once ``every_secs`` have passed or ``step >= last + every_steps``.
    ``update_last_triggered_step(step)`` records a trigger and returns ``(elapsed_secs,
    elapsed_steps)`` since the previous one, ``(None, None)`` the first time. ``clock`` is
    injectable for tests.

    Raises:
        ValueError: both or neither of ``every_secs`` / ``every_steps`` given.

    >>> timer = SecondOrStepTimer(every_steps=10)
    >>> timer.should_trigger_for_step(0), timer.update_last_triggered_step(0)
    (True, (None, None))
    >>> timer.should_trigger_for_step(9), timer.should_trigger_for_step(10)
    (False, True)
    """

    def __init__(
        self,
        every_secs: float | None = None,
        every_steps: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_secs is None and every_steps is None:
            raise ValueError(
                "Either every_secs or every_steps should be provided. Received every_secs=None and "
                "every_steps=None; pass one of them."
            )
        if every_secs is not None and every_steps is not None:
            raise ValueError(
                f"Can not provide both every_secs and every_steps. Received every_secs={every_secs!r} and "
                f"every_steps={every_steps!r}; pass only one."
            )
        self.every_secs = every_secs
        self.every_steps = every_steps
        self.clock = clock
        self._last_triggered_step: int | None = None
        self._last_triggered_time: float | None = None

    def reset(self) -> None:
        """Forgets the last trigger: the next ``should_trigger_for_step`` is True."""
        self._last_triggered_step = None
        self._last_triggered_time = None

    def should_trigger_for_step(self, step: int) -> bool:
        """Whether the periodic action is due at ``step``."""
        last_step = self._last_triggered_step
        if last_step is None:
            return True
        if last_step == step:
            return False
        if self.every_secs is not None and self.clock() >= self._last_triggered_time + self.every_secs:
            return True
        return self.every_steps is not None and step >= last_step + self.every_steps

    def update_last_triggered_step(self, step: int) -> tuple[float | None, int | None]:
        """Records a trigger at ``step``; returns ``(elapsed_secs, elapsed_steps)`` since the last one."""
        now = self.clock()
        if self._last_triggered_time is None:
            elapsed: tuple[float | None, int | None] = (None, None)
        else:
            elapsed = (now - self._last_triggered_time, step - self._last_triggered_step)
        self._last_triggered_time = now
        self._last_triggered_step = step
        return elapsed

    def last_triggered_step(self) -> int | None:
        """The step of the last trigger, or None."""
        return self._last_triggered_step


class NeverTriggerTimer:
    """A timer that never triggers (a hook that acts only at the end).

    >>> NeverTriggerTimer().should_trigger_for_step(0)
    False
    """

    def reset(self) -> None:
        """Nothing to forget."""

    def should_trigger_for_step(self, step: int) -> bool:
        """Always False."""
        return False

    def update_last_triggered_step(self, step: int) -> tuple[None, None]:
        """Always ``(None, None)``."""
        return (None, None)

    def last_triggered_step(self) -> None:
        """Always None."""
        return None
