"""Optimizers in TF's shape: ``minimize(loss)`` returns a TrainOp the engine runs after model_fn."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from torch_estimator.contract.train_op import TrainOp
from torch_estimator.graph.graph import Graph, require_graph
from torch_estimator.graph.regularization import Constraint, apply_constraints
from torch_estimator.train.fused_rows import FusedRows, FusedRowsRegistry, fused_rows_registry
from torch_estimator.train.update_rules import UpdateRule, clip_by_global_norm, dense_gradient

__all__ = ["FusedTables", "MinimizeStep", "Optimizer", "OptimizerState", "accepts_sparse_gradients", "group"]


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
        self._fused: tuple[int, FusedTables] = (-1, FusedTables([], []))

    def constraints(self, graph: Graph) -> list[tuple[str, torch.Tensor, Constraint]]:
        """``(name, variable, constraint)`` for this optimizer's variables made with a constraint."""
        found = graph.variable_constraints
        pairs: list[tuple[str, torch.Tensor, Constraint]] = []
        if not found:
            return pairs
        # A plain loop: torch.compile breaks its graph on an assignment expression in a comprehension.
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                name = self.variable_names.get(id(param))
                if name in found:
                    pairs.append((name, param, found[name]))
        return pairs

    def fused_tables(self, registry: FusedRowsRegistry) -> FusedTables:
        """The fused tables (``train.fused_rows``) with members among this optimizer's variables.

        Worked out again only when the Graph made new tables: model_fn asks on every step.
        """
        generation, tables = self._fused
        if generation != registry.generation:
            tables = _fused_tables(self.optimizer, registry)
            self._fused = (registry.generation, tables)
        return tables

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

    def rebind_variables(
        self,
        parameters: dict[str, torch.Tensor],
        convert_slot: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        """Points the optimizer at new parameter objects of the same names (a sharding wrapper
        replaced them); each slot becomes ``convert_slot(slot, new_parameter)``."""
        renamed: dict[int, str] = {}
        for group in self.optimizer.param_groups:
            for position, old in enumerate(group["params"]):
                name = self.variable_names.get(id(old))
                new = parameters.get(name) if name is not None else None
                if new is None or new is old:
                    continue
                group["params"][position] = new
                renamed[id(new)] = name  # type: ignore[assignment]
                state = self.optimizer.state.pop(old, None)
                if state:
                    converted = {key: convert_slot(value, new) for key, value in state.items()}
                    self.optimizer.state[new] = converted
        self.variable_names.update(renamed)


def _as_tensor(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


@dataclass(frozen=True)
class FusedTables:
    """The fused tables one optimizer meets: those it applies whole, and every one it touches."""

    owned: list[tuple[FusedRows, dict[str, Any]]]
    """Tables whose members all sit in one param group: ``(table, group)``."""
    touched: list[FusedRows]
    """Tables with at least one member among the optimizer's variables (``owned`` included)."""


def _fused_tables(optimizer: torch.optim.Optimizer, registry: FusedRowsRegistry) -> FusedTables:
    groups = {id(param): group for group in optimizer.param_groups for param in group["params"]}
    touched = registry.touching(param for group in optimizer.param_groups for param in group["params"])
    owned = []
    for table in touched:
        member_groups = [groups.get(id(member)) for member in table.members]
        first = member_groups[0]
        if first is not None and all(group is first for group in member_groups):
            owned.append((table, first))
    return FusedTables(owned, touched)


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
        self._last_state: OptimizerState | None = None  # the state minimize/apply_gradients last used

    # -- TF's interface --------------------------------------------------------------------------

    def minimize(
        self,
        loss: torch.Tensor,
        global_step: torch.Tensor | None = None,
        var_list: Sequence[torch.Tensor] | None = None,
        gate_gradients: int = 1,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        name: str | None = None,
        grad_loss: torch.Tensor | None = None,
    ) -> TrainOp:
        """A TrainOp that backpropagates ``loss``, steps, and adds 1 to ``global_step`` if given.

        TF's arguments, in TF's order. As in TF, the global step advances only when it is passed: pass
        ``te.train.get_global_step()`` for ``train(steps=...)`` / ``max_steps`` to stop. ``grad_loss``
        is the gradient of ``loss`` to back-propagate (default ones). ``gate_gradients``,
        ``aggregation_method`` and ``colocate_gradients_with_ops`` concern TF's graph and are ignored.
        """
        del gate_gradients, aggregation_method, colocate_gradients_with_ops
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"minimize needs the loss as a torch.Tensor. Received: {type(loss).__name__}.")
        graph = require_graph("optimizer.minimize")
        state = self._state(graph, var_list)
        params = [param for group in state.optimizer.param_groups for param in group["params"]]
        self._push_hyperparameters(state)

        step = MinimizeStep(
            loss=loss,
            optimizer=state.optimizer,
            params=params,
            clip_norm=self.clip_norm,
            scaler=graph.grad_scaler,
            global_step=global_step,
            owner=self.name,
            fused=state.fused_tables(fused_rows_registry(graph)),
            constraints=state.constraints(graph),
            grad_loss=grad_loss,
        )
        return TrainOp(step, name=name or f"{self.name}/minimize", graph=graph)

    def compute_gradients(
        self,
        loss: torch.Tensor,
        var_list: Sequence[torch.Tensor] | None = None,
        gate_gradients: int = 1,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        grad_loss: torch.Tensor | None = None,
    ) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
        """``[(gradient, variable), ...]`` computed now; a variable the loss does not reach gets None.

        TF's arguments, in TF's order: ``grad_loss`` is the gradient of ``loss`` (default ones);
        ``gate_gradients``, ``aggregation_method`` and ``colocate_gradients_with_ops`` are ignored.

        During the Graph's build pass (no gradients are taken) every gradient is zeros. The gradients
        are taken with ``torch.autograd.grad``, which does not fire DDP's all-reduce hooks: under
        ``DDPStrategy`` each rank would apply its own gradients. To train several optimizers on one
        loss, ``group`` their ``minimize`` ops instead (one backward, reduced by DDP).
        """
        del gate_gradients, aggregation_method, colocate_gradients_with_ops
        graph = require_graph("optimizer.compute_gradients")
        variables = list(var_list) if var_list is not None else graph.trainable_variables()
        if graph.building or not loss.requires_grad:
            return [(torch.zeros_like(variable), variable) for variable in variables]
        tables = [
            table for table in fused_rows_registry(graph).touching(variables) if table.storage.requires_grad
        ]
        storages = [table.storage for table in tables]
        grads = list(
            torch.autograd.grad(loss, variables + storages, grad_outputs=grad_loss, allow_unused=True)
        )
        # A fused lookup differentiates the storage: hand each variable its block of that gradient.
        positions = {id(variable): index for index, variable in enumerate(variables)}
        for table, grad in zip(tables, grads[len(variables) :], strict=True):
            if grad is None:
                continue
            for member, piece in zip(table.members, table.member_gradients(grad), strict=True):
                index = positions.get(id(member))
                if index is not None and piece is not None:
                    found = grads[index]
                    grads[index] = piece if found is None else found + piece
        return list(zip(grads[: len(variables)], variables, strict=True))

    def apply_gradients(
        self,
        grads_and_vars: Iterable[tuple[torch.Tensor | None, torch.Tensor]],
        global_step: torch.Tensor | None = None,
        name: str | None = None,
        skip_gradients_aggregation: bool = False,
    ) -> TrainOp:
        """A TrainOp that applies the given gradients and adds 1 to ``global_step`` if given.

        ``skip_gradients_aggregation`` concerns TF's distribution strategies and is ignored."""
        del skip_gradients_aggregation
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

        clip_norm = self.clip_norm
        sparse_ok = clip_norm is None and accepts_sparse_gradients(state.optimizer)
        constraints = state.constraints(graph)

        def step() -> None:
            for grad, variable in pairs:
                as_given = sparse_ok or grad is None or not grad.is_sparse
                variable.grad = grad if as_given else dense_gradient(grad)
            if clip_norm is not None:
                clip_by_global_norm(_gradients(variable for _, variable in pairs), clip_norm)
            apply_update()
            if constraints:
                apply_constraints(constraints)
            if global_step is not None:
                _advance(global_step)

        return TrainOp(step, name=name or f"{self.name}/apply_gradients", graph=graph)

    def get_slot_names(self) -> list[str]:
        """TF's slot names of this optimizer, sorted (``['m', 'v']`` for Adam); the slot variables
        are named ``<variable>/<optimizer name>`` with TF's suffixes (``dense/kernel/Adam_1``)."""
        return sorted(getattr(self.optimizer_class, "slot_names", None) or {})

    def get_slot(self, var: torch.Tensor, name: str) -> torch.Tensor | None:
        """TF's ``get_slot``: slot ``name`` (one of ``get_slot_names()``) of variable ``var``, or None
        before this optimizer's first step (which makes the slots, unless a checkpoint restored them)
        or for a variable it does not train."""
        state = self._last_state
        if state is None:
            return None
        return state.optimizer.state.get(var, {}).get(name)

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

        state = graph.get_object(f"optimizer:{unique}", create)
        self._last_state = state
        return state

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


def _gradients(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    return [param.grad for param in params if param.grad is not None]


def _found_inf(scaler: Any, optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``scaler.step(optimizer)`` just skipped the step for inf or NaN gradients."""
    return any(bool(found) for found in scaler._found_inf_per_device(optimizer).values())


def _advance(global_step: torch.Tensor) -> None:
    # global_step never requires grad, so an in-place add needs no no_grad() context.
    global_step.add_(1)


def accepts_sparse_gradients(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` takes row-sparse (COO) gradients; other optimizers get them densified.

    The TF update rules say so with a class attribute; a plain ``torch.optim`` class is assumed not to.

    >>> accepts_sparse_gradients(torch.optim.Adam([torch.nn.Parameter(torch.ones(1))]))
    False
    """
    return bool(getattr(optimizer, "accepts_sparse_gradients", False))


class MinimizeStep:
    """The work of one ``minimize`` TrainOp, in two halves that ``group`` can share.

    ``backward()`` clears the gradients of ``params`` and back-propagates ``loss`` (scaled when the
    Graph trains in mixed precision); ``apply()`` clips, steps the optimizer and advances the global
    step. Calling the object runs both. Gradients land in ``.grad`` through ``loss.backward()``, so
    DDP's all-reduce hooks average them across ranks.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> step = MinimizeStep((2 * w).sum(), torch.optim.SGD([w], lr=0.1), [w])
    >>> step(); round(w.item(), 4)
    0.8
    """

    def __init__(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        params: list[torch.Tensor],
        *,
        clip_norm: float | None = None,
        scaler: Any = None,
        global_step: torch.Tensor | None = None,
        owner: str = "Optimizer",
        fused: FusedTables | None = None,
        constraints: Sequence[tuple[str, torch.Tensor, Constraint]] = (),
        grad_loss: torch.Tensor | None = None,
    ) -> None:
        self.loss = loss
        self.grad_loss = grad_loss  # the gradient of the loss (TF's grad_loss); None: ones
        self.optimizer = optimizer
        self.params = params
        self.clip_norm = clip_norm
        self.scaler = scaler
        self.global_step = global_step
        self.owner = owner
        self.constraints = constraints  # applied after each update, as TF1's optimizers did
        # Our TF rules expose update(): step() without torch's per-call profiler wrapper.
        self.apply_update = getattr(optimizer, "update", optimizer.step)
        self.densify = clip_norm is not None or not accepts_sparse_gradients(optimizer)
        # Fused storages (train.fused_rows): the rule applies one whole when it can, else each
        # storage's gradient is split into its members' gradients first.
        fused = fused or FusedTables([], [])
        whole = scaler is None and not self.densify and isinstance(optimizer, UpdateRule)
        self.fused_whole = fused.owned if whole else []
        whole_ids = {id(table) for table, _ in self.fused_whole}
        self.fused_split = [table for table in fused.touched if id(table) not in whole_ids]
        self.fused_storages = [table.storage for table in fused.touched]

    def __call__(self) -> None:
        self.backward()
        self.apply()
        self.finish()

    def check_loss(self) -> None:
        """Raises TF's "No gradients provided" error when the loss reaches no trainable variable."""
        if not self.loss.requires_grad:
            raise ValueError(
                "No gradients provided for any variable: the loss does not depend on any trainable "
                f"variable of {self.owner}'s var_list. Check that model_fn builds the loss from its "
                "variables."
            )

    def backward(self, params: Iterable[torch.Tensor] | None = None) -> None:
        """Clears the gradients of ``params`` (default: this step's, with their fused storages) and
        back-propagates the loss once."""
        self.check_loss()
        # zero_grad(set_to_none=True) by hand: torch's zero_grad adds a profiler record per call.
        for param in self.params + self.fused_storages if params is None else params:
            param.grad = None
        if self.scaler is not None:
            self.scaler.scale(self.loss).backward(self.grad_loss)
        else:
            self.loss.backward(self.grad_loss)

    def apply(self) -> None:
        """Clips and applies the gradients now in ``.grad``, applies the variables' constraints, then
        advances the global step if given."""
        updated = True
        for table in self.fused_split:
            table.split_gradient()
        if self.densify:
            for param in self.params:
                if param.grad is not None and param.grad.is_sparse:
                    param.grad = dense_gradient(param.grad)
        if self.scaler is not None:
            if self.clip_norm is not None:
                self.scaler.unscale_(self.optimizer)
                clip_by_global_norm(_gradients(self.params), self.clip_norm)
            self.scaler.step(self.optimizer)
            # A step the scaler skipped (inf gradients) updated nothing: nothing to constrain either.
            updated = not self.constraints or not _found_inf(self.scaler, self.optimizer)
        else:
            if self.clip_norm is not None:
                clip_by_global_norm(_gradients(self.params), self.clip_norm)
            if self.fused_whole:
                self.optimizer.update(self.fused_whole)  # type: ignore[call-arg]
            else:
                self.apply_update()
        if self.constraints and updated:
            apply_constraints(self.constraints)
        if self.global_step is not None:
            _advance(self.global_step)

    def finish(self) -> None:
        """Updates the loss scale after every optimizer sharing the backward has stepped."""
        if self.scaler is not None:
            self.scaler.update()


def _minimize_step(op: Any) -> MinimizeStep | None:
    fn = op.fn if isinstance(op, TrainOp) else op
    return fn if isinstance(fn, MinimizeStep) else None


def _run_minimize_steps(steps: list[MinimizeStep]) -> None:
    # One backward for every step on this loss, then each optimizer applies its own gradients.
    steps[0].backward([param for step in steps for param in step.params + step.fused_storages])
    for step in steps:
        step.apply()
    steps[0].finish()


def _share_backward(ops: list[Callable[[], Any]]) -> list[Callable[[], Any]]:
    """``ops`` with every run of ``minimize`` ops on one loss merged into one shared-backward call."""
    merged: list[Callable[[], Any]] = []
    index = 0
    while index < len(ops):
        first = _minimize_step(ops[index])
        end = index + 1
        if first is not None:
            while end < len(ops):
                other = _minimize_step(ops[end])
                if other is None or other.loss is not first.loss or other.scaler is not first.scaler:
                    break
                end += 1
        if end - index > 1:
            steps = [_minimize_step(op) for op in ops[index:end]]
            merged.append(functools.partial(_run_minimize_steps, steps))
        else:
            merged.append(ops[index])
        index = end
    return merged


def group(*ops: TrainOp | Callable[[], Any], name: str = "group") -> TrainOp:
    """One TrainOp running ``ops`` in order (TF's ``tf.group`` of train ops).

    Consecutive ``minimize`` ops on the same loss share ONE backward pass: the gradients of all
    their variables are taken together (through ``.grad``, so DDP averages them), then each
    optimizer applies its own. This is how several optimizers train one model (TF's wide-and-deep
    ``tf.group(linear_opt.minimize(loss, var_list=...), dnn_opt.minimize(loss, var_list=...))``);
    back-propagating the same loss twice would fail.

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
    runs = _share_backward(flat)

    def run_all() -> None:
        for op in runs:
            op()

    return TrainOp(run_all, name=name)
