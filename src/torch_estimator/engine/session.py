"""The session object hooks receive: the last step's values by name, and the global step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.graph.global_step import GLOBAL_STEP_NAME
from torch_estimator.graph.graph import Graph

__all__ = ["Session"]


class Session:
    """What TF's hooks got as ``session``: ``run(fetches)`` and ``global_step``.

    ``run`` resolves names against the last step: ``"loss"``, ``"global_step"``, prediction keys,
    metric names, summary tags, names given with ``te.identity``, and variable names (a TF-style
    ``:0`` suffix is accepted). Callables are called. Dicts, lists and tuples are mirrored.
    Tensors come back detached, still on their device: converting them is the caller's choice, so
    asking for a value costs no device sync.
    """

    def __init__(
        self,
        graph: Graph,
        model_dir: str | None = None,
        default_saver: Any = None,
        add_loss_summary: bool = False,
    ) -> None:
        self.graph = graph
        self.model_dir = model_dir
        self.default_saver = default_saver
        # Training adds TF's automatic 'loss' summary when model_fn recorded none.
        self.add_loss_summary = add_loss_summary
        self.spec: Any = None
        self.metric_values: Mapping[str, Any] = {}
        self._global_step = graph.find_variable(GLOBAL_STEP_NAME)
        self._step_value: int | None = None
        self._step_start: int | None = None
        # Checks that hooks put off to spare a device sync (a GPU loss's NaN check). Whatever writes
        # the model's state calls flush_checks first, so a failing check is never saved.
        self.deferred_checks: list[Callable[[], None]] = []

    def flush_checks(self) -> None:
        """Runs the deferred checks now (each may raise, e.g. ``NanLossDuringTrainingError``)."""
        for check in self.deferred_checks:
            check()

    def refresh(self) -> int:
        """Reads the global step once and caches it for every hook of this step (it lives on the CPU,
        so reading it waits for no device work)."""
        self._step_value = int(self._global_step) if self._global_step is not None else 0
        return self._step_value

    def start_step(self) -> None:
        """Notes the global step before this step's train op: what a ``"global_step"`` fetch returns.

        TF read the variable in the same run as the train op, before the increment.
        """
        self._step_start = self._step_value

    def record_step(self, spec: Any, metric_values: Mapping[str, Any] | None = None) -> None:
        """The step's EstimatorSpec (and, in evaluate, its metric values by name) for fetches."""
        self.spec = spec
        if metric_values is not None:
            self.metric_values = metric_values

    def finish_steps(self) -> None:
        """Ends the loop: a ``"global_step"`` fetch in ``end()`` reads the value after the last step."""
        self._step_start = None

    @property
    def global_step(self) -> int:
        """The global step now: read after each step's train op, so every hook reads the real value
        without another device sync. Call ``refresh()`` after changing the variable elsewhere."""
        if self._step_value is None:
            return self.refresh()
        return self._step_value

    def summaries(self) -> dict[str, tuple[str, Any]]:
        """``tag -> (kind, value)`` recorded by ``te.summary`` during the last step.

        In training, a scalar ``loss`` is added when model_fn recorded none (TF's automatic summary).
        """
        summaries = self.graph.summaries
        spec = self.spec
        if "loss" not in summaries and spec is not None and spec.loss is not None and self.add_loss_summary:
            summaries["loss"] = ("scalar", spec.loss.detach())
        return summaries

    def run(self, fetches: Any) -> Any:
        """The values of ``fetches`` at the last step, in the same structure."""
        if fetches is None:
            return None
        if isinstance(fetches, str):
            return self.lookup(fetches)
        if isinstance(fetches, Mapping):
            return {key: self.run(value) for key, value in fetches.items()}
        if isinstance(fetches, (list, tuple)):
            return type(fetches)(self.run(value) for value in fetches)
        if isinstance(fetches, torch.Tensor):
            return fetches.detach()
        if callable(fetches):
            return fetches()
        raise TypeError(
            "Fetches must be names, callables, tensors, or dicts/lists/tuples of them. "
            f"Received: {type(fetches).__name__} {fetches!r}."
        )

    def lookup(self, name: str) -> Any:
        """One named value of the last step."""
        spec = self.spec
        if name == "loss" and spec is not None and spec.loss is not None:
            return spec.loss.detach()
        if name == GLOBAL_STEP_NAME:
            return self._step_start if self._step_start is not None else self.global_step
        found = self.graph.named_tensors.get(name)
        if found is not None:
            return found.detach()
        if spec is not None and isinstance(spec.predictions, Mapping) and name in spec.predictions:
            return spec.predictions[name].detach()
        if name in self.metric_values:
            return self.metric_values[name]
        summary = self.graph.summaries.get(name)
        if summary is not None:
            return summary[1]
        variable = self.graph.find_variable(name.removesuffix(":0"))
        if variable is not None:
            return variable.detach()
        raise KeyError(
            f"Fetch {name!r} names no value of this step. Known names: {sorted(self.known_names())}. "
            "Name a tensor in model_fn with te.identity(tensor, name=...)."
        )

    def known_names(self) -> set[str]:
        """Every name ``run`` can resolve now."""
        names = {GLOBAL_STEP_NAME, *self.graph.named_tensors, *self.graph.summaries, *self.metric_values}
        spec = self.spec
        if spec is not None:
            if spec.loss is not None:
                names.add("loss")
            if isinstance(spec.predictions, Mapping):
                names.update(spec.predictions)
        return names
