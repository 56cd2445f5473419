"""TrainSpec and EvalSpec: what train_and_evaluate trains on and how it evaluates and exports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from torch_estimator.contract.hook_types import SessionRunHook
from torch_estimator.contract.spec import check_hooks
from torch_estimator.export.exporters import Exporter
from torch_estimator.hooks import CheckpointSaverListener

__all__ = ["EvalSpec", "TrainSpec"]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """The training half of ``train_and_evaluate``.

    ``hooks`` and ``saving_listeners`` take any iterable (or None) and are stored as tuples.
    ``dataclasses.replace`` checks everything again.

    Raises:
        TypeError: ``input_fn`` not callable, a hook not a ``SessionRunHook``, a listener not a
            ``CheckpointSaverListener``.
        ValueError: ``max_steps`` not positive.

    >>> import torch, torch_estimator as te
    >>> spec = te.TrainSpec(lambda: (torch.ones(4, 2), torch.ones(4, 1)), max_steps=100)
    >>> spec.max_steps, spec.hooks, spec.saving_listeners
    (100, (), ())
    """

    input_fn: Callable[..., Any]
    """Returns the training batches (as for ``Estimator.train``)."""
    max_steps: int | None = None
    """Train until the global step reaches this; None trains until the input ends."""
    hooks: tuple[SessionRunHook, ...] = ()
    """Extra hooks for every ``train`` call."""
    saving_listeners: tuple[CheckpointSaverListener, ...] = ()
    """Listeners run around each checkpoint save (local and chief)."""

    def __post_init__(self) -> None:
        check_input_fn(self.input_fn)
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(
                f"Must specify max_steps > 0, given: {self.max_steps}. Pass None to train until the input "
                "ends."
            )
        object.__setattr__(self, "hooks", check_hooks(self.hooks, "hooks"))
        object.__setattr__(self, "saving_listeners", _check_saving_listeners(self.saving_listeners))


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """The evaluation and export half of ``train_and_evaluate``.

    ``exporters`` takes one Exporter, an iterable of them or None, stored as a tuple; ``hooks`` any
    iterable or None. ``start_delay_secs`` and ``throttle_secs`` pace the ``evaluator`` task;
    locally only ``throttle_secs`` is used (at most one evaluation per that many seconds).

    Raises:
        TypeError: ``input_fn`` not callable, ``name`` not a string, a hook not a ``SessionRunHook``,
            ``exporters`` not an Exporter / iterable of Exporters / None.
        ValueError: ``steps``, ``start_delay_secs`` or ``throttle_secs`` out of range; an exporter
            name empty, not a string or repeated.

    >>> import torch, torch_estimator as te
    >>> spec = te.EvalSpec(lambda: (torch.ones(4, 2), torch.ones(4, 1)), steps=10, throttle_secs=0)
    >>> spec.steps, spec.name, spec.exporters, spec.start_delay_secs, spec.throttle_secs
    (10, None, (), 120, 0)
    """

    input_fn: Callable[..., Any]
    """Returns the evaluation batches (as for ``Estimator.evaluate``)."""
    steps: int | None = 100
    """Batches per evaluation; None evaluates until the input ends."""
    name: str | None = None
    """Evaluation name: results go to ``model_dir/eval_<name>`` (``model_dir/eval`` for None)."""
    hooks: tuple[SessionRunHook, ...] = ()
    """Extra hooks for every ``evaluate`` call."""
    exporters: tuple[Exporter, ...] = ()
    """Run after each evaluation, in order, each into ``model_dir/export/<exporter.name>``."""
    start_delay_secs: float = 120
    """The evaluator task waits this long before its first evaluation."""
    throttle_secs: float = 600
    """At least this many seconds between the starts of two evaluations."""

    def __post_init__(self) -> None:
        check_input_fn(self.input_fn)
        if self.steps is not None and self.steps <= 0:
            raise ValueError(
                f"Must specify steps > 0, given: {self.steps}. Pass None to evaluate until the input ends."
            )
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"`name` must be string, given: {self.name!r}. Pass e.g. name='validation'.")
        object.__setattr__(self, "hooks", check_hooks(self.hooks, "hooks"))
        object.__setattr__(self, "exporters", check_exporters(self.exporters))
        if self.start_delay_secs < 0:
            raise ValueError(f"Must specify start_delay_secs >= 0, given: {self.start_delay_secs}.")
        if self.throttle_secs < 0:
            raise ValueError(f"Must specify throttle_secs >= 0, given: {self.throttle_secs}.")


def check_input_fn(input_fn: Any) -> None:
    """Raises TypeError unless ``input_fn`` is callable."""
    if not callable(input_fn):
        raise TypeError(
            f"`input_fn` must be callable, given: {input_fn!r}. Pass the function itself, not its result."
        )


def _check_saving_listeners(listeners: Any) -> tuple[CheckpointSaverListener, ...]:
    checked = tuple(listeners or ())
    for listener in checked:
        if not isinstance(listener, CheckpointSaverListener):
            raise TypeError(
                f"All saving_listeners must be `CheckpointSaverListener` instances, given: {listener!r}. "
                "Subclass te.CheckpointSaverListener."
            )
    return checked


def check_exporters(exporters: Any) -> tuple[Exporter, ...]:
    """``exporters`` (one, an iterable or None) as a tuple of Exporters with unique, non-empty names."""
    if not exporters:
        return ()
    if isinstance(exporters, Exporter):
        exporters = [exporters]
    try:
        checked = tuple(exporters)
    except TypeError:
        checked = (None,)  # Not iterable: reported by the check below, with TF's message.
    names: list[str] = []
    for exporter in checked:
        if not isinstance(exporter, Exporter):
            raise TypeError(
                f"`exporters` must be an Exporter, an iterable of Exporter, or `None`, found {exporters!r}. "
                "Pass e.g. te.LatestExporter('latest', serving_input_receiver_fn)."
            )
        if not exporter.name:
            raise ValueError(
                "An Exporter cannot have a name that is `None` or empty. All exporter names: "
                f"{[getattr(e, 'name', None) for e in checked]}."
            )
        if not isinstance(exporter.name, str):
            raise ValueError(f"An Exporter must have a string name. Given: {type(exporter.name)}.")
        if exporter.name in names:
            raise ValueError(
                "`exporters` must have unique names. Such a name cannot be `None`. All exporter names: "
                f"{[getattr(e, 'name', None) for e in checked]}."
            )
        names.append(exporter.name)
    return checked
