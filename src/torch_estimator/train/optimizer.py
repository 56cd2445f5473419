"""Optimizers in TF's shape: ``minimize(loss)`` returns a TrainOp the engine runs after model_fn."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from torch_estimator.contract.train_op import TrainOp
from torch_estimator.graph.graph import Graph, require_graph

__all__ = ["Optimizer", "OptimizerState", "group"]


class OptimizerState:
    """The persistent half of an optimizer: a ``torch.optim.Optimizer`` owned by the Graph.

    A model_fn builds a new ``te.train.*Optimizer`` object on every call (as it did once per graph
    in TF); each finds this state by name and pushes its current hyperparameters into it. Slots are
    named like TF's (``<variable>/<optimizer name><suffix>``) so checkpoints hold them.
    """

    def __init__(self, name: str, torch_optimizer: torch.optim.Optimizer, variable_names: dict[int, str]):
        self.name = name
        self.optimizer = torch_optimizer
        self.variable_names = variable_names

    def slot_name(self, variable_name: str, key: str) -> str:
        """The checkpoint name of slot ``key`` of ``variable_name``."""
        suffixes: dict[str, str] | None = getattr(self.optimizer, "slot_names", None)
        if suffixes is not None and key in suffixes:
            return f"{variable_name}/{self.name}{suffixes[key]}"
        return f"{variable_name}/{self.name}/{key}"

    def non_slot_name(self, key: str) -> str:
        """The checkpoint name of an optimizer-wide value (TF's ``beta1_power``)."""
        default = getattr(self.optimizer, "default_name", None)
        return key if self.name == default else f"{self.name}/{key}"

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every slot and optimizer-wide tensor, by checkpoint name."""
        tensors: dict[str, torch.Tensor] = {}
        for param, state in self.optimizer.state.items():
            variable = self.variable_names.get(id(param))
            if variable is None:
                continue
            for key, value in state.items():
                tensors[self.slot_name(variable, key)] = _as_tensor(value)
        for key in getattr(self.optimizer, "non_slot_names", ()):
            value = self.optimizer.param_groups[0].get(key)
            if value is not None:
                tensors[self.non_slot_name(key)] = _as_tensor(value)
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Installs the slots found in ``tensors``; slots not found start fresh on the next step."""
        suffixes: dict[str, str] = getattr(self.optimizer, "slot_names", None) or {}
        names = {
            (name, key): self.slot_name(name, key)
            for key in suffixes
            for name in self.variable_names.values()
        }
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                variable = self.variable_names.get(id(param))
                if variable is None:
                    continue
                prefix = f"{variable}/{self.name}"
                found: dict[str, torch.Tensor] = {}
                for key in suffixes:
                    value = tensors.get(names[(variable, key)])
                    if value is not None:
                        found[key] = value
                generic = f"{prefix}/"
                for name, value in tensors.items():
                    if name.startswith(generic) and "/" not in name[len(generic) :]:
                        found[name[len(generic) :]] = value
                if found:
                    self.optimizer.state[param] = {
                        # torch keeps "step" on the CPU unless the optimizer is capturable or fused.
                        key: value.to("cpu" if key == "step" else param.device, copy=True)
                        for key, value in found.items()
                    }
        for key in getattr(self.optimizer, "non_slot_names", ()):
            value = tensors.get(self.non_slot_name(key))
            if value is not None:
                for group in self.optimizer.param_groups:
                    group[key] = value.clone()


def _as_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


class Optimizer:
    """Wraps any ``torch.optim.Optimizer`` class in TF's optimizer interface.

    ``hyperparameters`` go to the torch class (``lr=...``); a tensor or a zero-argument callable
    (a learning-rate schedule) is read again on every step. ``clip_norm`` clips the global gradient
    norm before each step.

    >>> import torch_estimator as te
    >>> def model_fn(features, labels, mode):
    ...     loss = ((te.layers.dense(features, 1) - labels) ** 2).mean()
    ...     optimizer = te.train.Optimizer(torch.optim.SGD, lr=0.1)
    ...     train_op = optimizer.minimize(loss, global_step=te.train.get_or_create_global_step())
    ...     return te.EstimatorSpec(mode, loss=loss, train_op=train_op)
    >>> graph = te.Graph(model_fn)
    >>> spec = graph(torch.ones(4, 2), torch.zeros(4, 1), te.ModeKeys.TRAIN)
    >>> spec.train_op.run(); int(graph.state_dict()["global_step"])
    1
    """

    def __init__(
        self,
        optimizer_class: type[torch.optim.Optimizer],
        *,
        name: str | None = None,
        clip_norm: float | None = None,
        **hyperparameters: Any,
    ) -> None:
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
            raise TypeError(
                "te.train.Optimizer needs a torch.optim.Optimizer subclass, e.g. torch.optim.AdamW. "
                f"Received: {optimizer_class!r}."
            )
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip_norm must be > 0 or None. Received: {clip_norm}.")
        self.optimizer_class = optimizer_class
        self.name = name or getattr(optimizer_class, "default_name", None) or optimizer_class.__name__
        self.clip_norm = clip_norm
        self.hyperparameters = hyperparameters

    # -- TF's interface --------------------------------------------------------------------------

    def minimize(
        self,
        loss: torch.Tensor,
        global_step: torch.Tensor | None = None,
        var_list: Sequence[torch.Tensor] | None = None,
        name: str | None = None,
    ) -> TrainOp:
        """A TrainOp that backpropagates ``loss``, steps, and adds 1 to ``global_step`` if given.

        As in TF, the global step advances only when it is passed: pass
        ``te.train.get_global_step()`` for ``train(steps=...)`` / ``max_steps`` to stop.
        """
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"minimize needs the loss as a torch.Tensor. Received: {type(loss).__name__}.")
        graph = require_graph("optimizer.minimize")
        state = self._state(graph, var_list)
        params = [param for group in state.optimizer.param_groups for param in group["params"]]
        self._push_hyperparameters(state)
        clip_norm, scaler = self.clip_norm, graph.grad_scaler

        optimizer = state.optimizer
        # Our TF rules expose update(): step() without torch's per-call profiler wrapper.
        apply_update = getattr(optimizer, "update", optimizer.step)

        def step() -> None:
            if not loss.requires_grad:
                raise ValueError(
                    "No gradients provided for any variable: the loss does not depend on any trainable "
                    f"variable of {self.name}'s var_list. Check that model_fn builds the loss from its "
                    "variables."
                )
            # zero_grad(set_to_none=True) by hand: torch's zero_grad adds a profiler record per call.
            for param in params:
                param.grad = None
            if scaler is not None:
                scaler.scale(loss).backward()
                if clip_norm is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, clip_norm)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip_norm)
                apply_update()
            if global_step is not None:
                _advance(global_step)

        return TrainOp(step, name=name or f"{self.name}/minimize", graph=graph)

    def compute_gradients(
        self, loss: torch.Tensor, var_list: Sequence[torch.Tensor] | None = None
    ) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
        """``[(gradient, variable), ...]`` computed now; a variable the loss does not reach gets None.

        During the Graph's build pass (no gradients are taken) every gradient is zeros.
        """
        graph = require_graph("optimizer.compute_gradients")
        variables = list(var_list) if var_list is not None else graph.trainable_variables()
        if graph.building or not loss.requires_grad:
            return [(torch.zeros_like(variable), variable) for variable in variables]
        grads = torch.autograd.grad(loss, variables, allow_unused=True)
        return list(zip(grads, variables, strict=True))

    def apply_gradients(
        self,
        grads_and_vars: Iterable[tuple[torch.Tensor | None, torch.Tensor]],
        global_step: torch.Tensor | None = None,
        name: str | None = None,
    ) -> TrainOp:
        """A TrainOp that applies the given gradients and adds 1 to ``global_step`` if given."""
        graph = require_graph("optimizer.apply_gradients")
        pairs = list(grads_and_vars)
        if not any(grad is not None for grad, _ in pairs):
            raise ValueError(
                "No gradients provided for any variable: every gradient in grads_and_vars is None. "
                f"Variables: {[tuple(variable.shape) for _, variable in pairs]}."
            )
        state = self._state(graph, [variable for _, variable in pairs])
        self._push_hyperparameters(state)

        apply_update = getattr(state.optimizer, "update", state.optimizer.step)

        def step() -> None:
            for grad, variable in pairs:
                variable.grad = grad
            apply_update()
            if global_step is not None:
                _advance(global_step)

        return TrainOp(step, name=name or f"{self.name}/apply_gradients", graph=graph)

    def get_slot_names(self) -> list[str]:
        """TF's slot names of this optimizer (``['Adam', 'Adam_1']``, say)."""
        suffixes = getattr(self.optimizer_class, "slot_names", None) or {}
        return [f"{self.name}{suffix}" for suffix in suffixes.values()]

    # -- the persistent state --------------------------------------------------------------------

    def _state(self, graph: Graph, var_list: Sequence[torch.Tensor] | None) -> OptimizerState:
        unique = graph.unique_object_name(self.name)

        def create() -> OptimizerState:
            variables = list(var_list) if var_list is not None else graph.trainable_variables()
            if not variables:
                raise ValueError(
                    f"{self.name} has no variables to optimize: model_fn created no trainable variable "
                    "before calling minimize, and no var_list was given."
                )
            names = {id(param): name for name, param in graph.named_parameters()}
            torch_optimizer = self.optimizer_class(variables, **self._resolved_hyperparameters())
            return OptimizerState(unique, torch_optimizer, names)

        return graph.get_object(f"optimizer:{unique}", create)

    def _resolved_hyperparameters(self) -> dict[str, Any]:
        return {key: _resolve(value) for key, value in self.hyperparameters.items()}

    def _push_hyperparameters(self, state: OptimizerState) -> None:
        # Hyperparameters can change between steps (a decayed learning rate); set them every call.
        values = self._resolved_hyperparameters()
        for group in state.optimizer.param_groups:
            group.update(values)


def _resolve(value: Any) -> Any:
    if callable(value) and not isinstance(value, torch.Tensor):
        value = value()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def _advance(global_step: torch.Tensor) -> None:
    # global_step never requires grad, so an in-place add needs no no_grad() context.
    global_step.add_(1)


def group(*ops: TrainOp | Callable[[], Any], name: str = "group") -> TrainOp:
    """One TrainOp running ``ops`` in order (TF's ``tf.group`` of train ops).

    >>> calls = []
    >>> op = group(lambda: calls.append(1), lambda: calls.append(2))
    >>> op.run(); calls
    [1, 2]
    """
    flat: list[Callable[[], Any]] = []
    for op in ops:
        if isinstance(op, (list, tuple)):
            flat.extend(op)
        elif op is not None:
            flat.append(op)
    for op in flat:
        if not callable(op):
            raise TypeError(f"group takes TrainOps or zero-argument callables. Received: {op!r}.")

    def run_all() -> None:
        for op in flat:
            op()

    return TrainOp(run_all, name=name)
