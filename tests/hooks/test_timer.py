"""SecondOrStepTimer and NeverTriggerTimer (SEMANTICS (g) SecondOrStepTimer), with a fake clock."""

from __future__ import annotations

import pytest

from torch_estimator.hooks import NeverTriggerTimer, SecondOrStepTimer


def test_exactly_one_of_secs_and_steps():
    with pytest.raises(ValueError, match="Either every_secs or every_steps should be provided"):
        SecondOrStepTimer()
    with pytest.raises(ValueError, match="Can not provide both every_secs and every_steps"):
        SecondOrStepTimer(every_secs=1, every_steps=1)


def test_step_timer():
    timer = SecondOrStepTimer(every_steps=10)
    assert timer.last_triggered_step() is None
    assert timer.should_trigger_for_step(3)  # never triggered
    assert timer.update_last_triggered_step(3) == (None, None)
    assert not timer.should_trigger_for_step(3)  # the step it last triggered at
    assert not timer.should_trigger_for_step(12)  # 12 < 3 + 10
    assert timer.should_trigger_for_step(13)
    assert timer.last_triggered_step() == 3


def test_step_timer_elapsed(clock):
    timer = SecondOrStepTimer(every_steps=5, clock=clock)
    timer.update_last_triggered_step(0)
    clock.advance(2.5)
    assert timer.update_last_triggered_step(5) == (2.5, 5)


def test_secs_timer(clock):
    timer = SecondOrStepTimer(every_secs=10, clock=clock)
    timer.update_last_triggered_step(0)
    clock.advance(9.9)
    assert not timer.should_trigger_for_step(100)
    clock.advance(0.1)
    assert timer.should_trigger_for_step(100)
    # Even when the time is up, the step it last triggered at never triggers again.
    assert not timer.should_trigger_for_step(0)


def test_reset_makes_the_next_step_trigger():
    timer = SecondOrStepTimer(every_steps=100)
    timer.update_last_triggered_step(7)
    timer.reset()
    assert timer.should_trigger_for_step(7)
    assert timer.last_triggered_step() is None


def test_never_trigger_timer():
    timer = NeverTriggerTimer()
    assert not timer.should_trigger_for_step(0)
    assert timer.update_last_triggered_step(5) == (None, None)
    assert timer.last_triggered_step() is None
