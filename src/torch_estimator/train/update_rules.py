"""TF 1.x update rules (``tf.compat.v1.train.*Optimizer``) as ``torch.optim.Optimizer`` classes.

Each class applies exactly the formula of TF's training kernel, vectorised with ``torch._foreach_*``
ops over the parameters that received a gradient (a parameter whose ``grad`` is None is skipped, as
TF skipped variables without a gradient). Class attributes describe the state for checkpoints:

* ``default_name``: TF's optimizer name (``"Adam"``), the prefix of slot names;
* ``slot_names``: per-parameter state key -> TF slot suffix (``{"m": "", "v": "_1"}`` names the
  slots ``<var>/Adam`` and ``<var>/Adam_1``);
* ``non_slot_names``: optimizer-wide tensors kept in ``param_groups[0]`` (``beta1_power``).

Slots are created on the first step unless a checkpoint restore installed them before it.

Row-sparse gradients (a COO ``.grad``, as embedding lookups produce) are applied row by row by the
rules whose sparse update equals their dense one: ``GradientDescent`` and ``Adagrad`` (a row whose
gradient is zero does not change in the dense update either) and ``Ftrl`` (TF's
``SparseApplyFtrl``, which TF runs for embedding tables; see ``Ftrl``). Those set
``accepts_sparse_gradients``. ``Momentum``, ``RMSProp`` and the Adams densify the gradient first:
TF's sparse kernels of the first two update only the touched rows ("lazily") and so differ from
the dense rule, and the dense numbers are the ones kept here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "Ftrl",
    "GradientDescent",
    "Momentum",
    "RMSProp",
    "UpdateRule",
    "clip_by_global_norm",
    "dense_gradient",
    "slot_shape_error",
    "unique_rows",
]

Tensor = torch.Tensor

# TF's argument names, for error messages about our shorter parameter-group keys.
_TF_ARGUMENT_NAMES = {
    "lr": "learning_rate",
    "l1": "l1_regularization_strength",
    "l2": "l2_regularization_strength",
    "l2_shrinkage": "l2_shrinkage_regularization_strength",
}


class UpdateRule(torch.optim.Optimizer):
    """Base of the TF update rules: lazy slots, skipping of missing gradients, TF's ``_finish``.

    Subclasses implement ``apply_dense(group, params, grads)`` and may override ``finish()``
    (run once per step after every group, as TF's ``Optimizer._finish``).
    """

    default_name: str = "UpdateRule"
    slot_names: Mapping[str, str] = {}
    non_slot_names: tuple[str, ...] = ()
    accepts_sparse_gradients: bool = False

    def __init__(self, params: Iterable[Any], **hyperparameters: Any) -> None:
        self.validate(hyperparameters)
        super().__init__(params, hyperparameters)
        # Storage tensor -> its FusedRows while update() applies the storage's gradient.
        self.fused_storages: dict[Tensor, Any] = {}

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        """Raises ValueError for an invalid numeric hyperparameter; tensors and callables pass.

        The learning rate must be >= 0 for every rule; subclasses add their own checks.
        """
        _require(cls, hyperparameters, "lr", lambda lr: lr >= 0, "must be >= 0")

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Applies one update to every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.update()
        return loss

    @torch.no_grad()
    def update(self, fused: Sequence[tuple[Any, dict[str, Any]]] = ()) -> None:
        """The update of ``step()`` without torch's per-call profiler and hook wrapper.

        torch wraps every optimizer's ``step`` in a ``record_function`` and a check for step hooks;
        a TrainOp calls this instead, since it runs once per training step.

        ``fused``: ``(FusedRows, param group)`` pairs whose members this rule trains with that
        group's hyperparameters; each storage's gradient is applied once, as one variable whose
        slots are the members' slots side by side (``train.fused_rows``). Only rules with
        ``accepts_sparse_gradients`` take them.
        """
        applied = False
        for group in self.param_groups:
            params, grads, sparse = _params_with_grads(group, self.accepts_sparse_gradients)
            if params:
                self.apply_dense(group, params, grads)
                applied = True
            for param, grad in sparse:
                self.apply_sparse(group, param, *unique_rows(grad))
                applied = True
        if fused:
            applied = self._update_fused(fused) or applied
        if applied:
            self.finish()

    def _update_fused(self, fused: Sequence[tuple[Any, dict[str, Any]]]) -> bool:
        applied = False
        self.fused_storages = {table.storage: table for table, _ in fused}
        try:
            for table, group in fused:
                storage = table.storage
                grad = storage.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    self.apply_sparse(group, storage, *unique_rows(grad))
                else:
                    self.apply_dense(group, [storage], [grad])
                applied = True
        finally:
            self.fused_storages = {}
        return applied

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        """Updates ``params`` in place from ``grads`` with ``group``'s hyperparameters."""
        raise NotImplementedError

    def apply_sparse(self, group: dict[str, Any], param: Tensor, rows: Tensor, values: Tensor) -> None:
        """Updates rows ``rows`` (unique) of ``param`` from their gradient ``values``.

        Only rules with ``accepts_sparse_gradients`` are called; the others get dense gradients.
        """
        raise NotImplementedError

    def finish(self) -> None:
        """Optimizer-wide work after all groups were updated (TF's ``_finish``); nothing by default."""

    def slots(self, params: list[Tensor], key: str, initial: Callable[[Tensor], Tensor]) -> list[Tensor]:
        """Slot ``key`` of each parameter, made by ``initial(param)`` where a restore did not install it."""
        found = []
        for param in params:
            table = self.fused_storages.get(param) if self.fused_storages else None
            if table is not None:
                found.append(table.slot(self.state, self, key, initial))
                continue
            state = self.state[param]
            slot = state.get(key)
            if slot is None:
                slot = initial(param)
            elif slot.shape != param.shape:
                raise slot_shape_error(f"{self.default_name} slot {key!r}", slot, param)
            elif slot.device != param.device or slot.dtype != param.dtype:
                slot = slot.to(device=param.device, dtype=param.dtype)
            state[key] = slot
            found.append(slot)
        return found


def slot_shape_error(slot_name: str, slot: Tensor, variable: Tensor) -> ValueError:
    """The error for a restored optimizer slot whose shape is not its variable's."""
    return ValueError(
        f"{slot_name} has shape {tuple(slot.shape)} but its variable has shape {tuple(variable.shape)}. "
        "The checkpoint was written for another model; restore one written by this model_fn."
    )


def _params_with_grads(
    group: dict[str, Any], accepts_sparse: bool
) -> tuple[list[Tensor], list[Tensor], list[tuple[Tensor, Tensor]]]:
    """The dense ``(params, grads)`` and the sparse ``(param, grad)`` pairs of ``group``.

    A sparse gradient is densified for a rule that does not take sparse gradients.
    """
    params, grads, sparse = [], [], []
    for param in group["params"]:
        grad = param.grad
        if grad is None:
            continue
        if grad.is_sparse:
            if accepts_sparse:
                sparse.append((param, grad))
                continue
            grad = dense_gradient(grad)
        params.append(param)
        grads.append(grad)
    return params, grads, sparse


def dense_gradient(grad: Tensor) -> Tensor:
    """A sparse COO gradient as a dense tensor.

    Not ``grad.to_dense()`` as it comes: torch 2.13's embedding backward gives one looked-up row of
    width 1 as values of stride 0, which ``to_dense`` turns into zeros (the update would silently do
    nothing). The values are copied into contiguous memory first.

    >>> table = torch.nn.Parameter(torch.ones(2, 1))
    >>> torch.nn.functional.embedding(torch.tensor([1]), table, sparse=True).sum().backward()
    >>> dense_gradient(table.grad).flatten().tolist()
    [0.0, 1.0]
    """
    values = grad._values().clone(memory_format=torch.contiguous_format)
    rebuilt = torch.sparse_coo_tensor(
        grad._indices(), values, grad.shape, check_invariants=False, is_coalesced=grad.is_coalesced()
    )  # torch's own indices: nothing to check
    return rebuilt.to_dense()


def clip_by_global_norm(grads: Sequence[Tensor], clip_norm: float) -> None:
    """TF's ``clip_by_global_norm``, in place: every gradient times ``clip_norm / max(global_norm,
    clip_norm)``, all NaN when the global norm is not finite (no device sync).

    (``torch.nn.utils.clip_grad_norm_`` divides by ``global_norm + 1e-6`` instead.)

    >>> grads = [torch.tensor([3e-4, 4e-4])]
    >>> clip_by_global_norm(grads, 1e-4); [round(value, 9) for value in grads[0].tolist()]
    [6e-05, 8e-05]
    """
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    global_norm = torch.linalg.vector_norm(torch.stack([norm.to(grads[0].device) for norm in norms]))
    scale = clip_norm / torch.clamp(global_norm, min=clip_norm)
    scale = torch.where(torch.isfinite(global_norm), scale, torch.full_like(scale, float("nan")))
    torch._foreach_mul_(grads, scale)


def unique_rows(grad: Tensor) -> tuple[Tensor, Tensor]:
    """``(rows, values)`` of a row-sparse gradient: each row once, in order, duplicates summed.

    The same as ``grad.coalesce()`` without its sort: a row mask over the table finds the rows.
    Duplicates add in their original order, as the dense gradient's ``index_add`` adds them.

    >>> grad = torch.sparse_coo_tensor([[2, 0, 2]], [1.0, 2.0, 3.0], (4,), check_invariants=True)
    >>> [t.tolist() for t in unique_rows(grad)]
    [[0, 2], [2.0, 4.0]]
    """
    if grad.is_coalesced():
        return grad.indices()[0], grad.values()
    # torch's names for the stored (uncoalesced) indices and values.
    ids, values = grad._indices()[0], grad._values()
    num_rows = grad.shape[0]
    seen = torch.zeros(num_rows, dtype=torch.bool, device=ids.device)
    seen[ids] = True
    rows = seen.nonzero().squeeze(1)
    position = torch.empty(num_rows, dtype=torch.long, device=ids.device)
    position[rows] = torch.arange(rows.shape[0], device=ids.device)
    summed = values.new_zeros((rows.shape[0], *values.shape[1:])).index_add_(0, position[ids], values)
    return rows, summed


def _rows(tensor: Tensor, rows: Tensor) -> Tensor:
    return tensor.index_select(0, rows)


def _require(
    rule: type, values: Mapping[str, Any], key: str, ok: Callable[[float], bool], expected: str
) -> None:
    value = values.get(key)
    if isinstance(value, (int, float)) and not ok(value):
        name = _TF_ARGUMENT_NAMES.get(key, key)
        raise ValueError(f"{rule.__name__}: {name} {value} {expected}. Received: {name}={value!r}.")


def _zeros(param: Tensor) -> Tensor:
    return torch.zeros_like(param, memory_format=torch.preserve_format)


def _ones(param: Tensor) -> Tensor:
    return torch.ones_like(param, memory_format=torch.preserve_format)


class GradientDescent(UpdateRule):
    """``var -= lr * grad`` (TF's ``GradientDescentOptimizer``). No slots.

    >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    >>> w.grad = torch.tensor([0.5, -1.0])
    >>> GradientDescent([w], lr=0.1).step(); [round(x, 4) for x in w.tolist()]
    [0.95, 2.1]
    """

    default_name = "GradientDescent"
    accepts_sparse_gradients = True

    def __init__(self, params: Iterable[Any], lr: float = 0.01) -> None:
        super().__init__(params, lr=lr)

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        torch._foreach_add_(params, grads, alpha=-group["lr"])

    def apply_sparse(self, group: dict[str, Any], param: Tensor, rows: Tensor, values: Tensor) -> None:
        param.index_copy_(0, rows, _rows(param, rows).add_(values, alpha=-group["lr"]))


class Momentum(UpdateRule):
    """TF's ``MomentumOptimizer``: ``accum = momentum * accum + grad``; ``var -= lr * accum``.

    With ``use_nesterov``: ``var -= lr * grad + lr * momentum * accum`` (the updated accum).
    Slot ``momentum`` -> ``<var>/Momentum``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> rule = Momentum([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     w.grad = torch.tensor([1.0]); rule.step()
    >>> round(w.item(), 4)  # 1 - 0.1 * 1 - 0.1 * (0.9 + 1)
    0.71
    """

    default_name = "Momentum"
    slot_names: Mapping[str, str] = {"momentum": ""}

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0, use_nesterov: bool = False
    ):
        super().__init__(params, lr=lr, momentum=momentum, use_nesterov=use_nesterov)

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        super().validate(hyperparameters)
        _require(cls, hyperparameters, "momentum", lambda m: m >= 0, "must be >= 0")

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        lr, momentum = group["lr"], group["momentum"]
        accums = self.slots(params, "momentum", _zeros)
        torch._foreach_mul_(accums, momentum)
        torch._foreach_add_(accums, grads)
        if group["use_nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, accums, alpha=-lr * momentum)
        else:
            torch._foreach_add_(params, accums, alpha=-lr)


def _validate_adam(rule: type, hyperparameters: Mapping[str, Any]) -> None:
    for beta in ("beta1", "beta2"):
        _require(rule, hyperparameters, beta, lambda b: 0 <= b < 1, "must be in [0, 1)")
    _require(rule, hyperparameters, "epsilon", lambda e: e >= 0, "must be >= 0")


def _create_beta_powers(rule: UpdateRule) -> None:
    # TF creates beta1_power/beta2_power once per optimizer, starting at beta1 and beta2.
    group = rule.param_groups[0]
    for key, beta in (("beta1_power", "beta1"), ("beta2_power", "beta2")):
        if group.get(key) is None:
            power = torch.tensor(float(group[beta]), dtype=torch.float32)
            for each in rule.param_groups:
                each[key] = power


def _beta_powers(rule: UpdateRule) -> tuple[float, float]:
    group = rule.param_groups[0]
    return float(group["beta1_power"]), float(group["beta2_power"])


def _advance_beta_powers(rule: UpdateRule) -> None:
    # TF's Adam._finish: beta1_power *= beta1, beta2_power *= beta2, in float32, after all updates.
    group = rule.param_groups[0]
    for key, beta in (("beta1_power", "beta1"), ("beta2_power", "beta2")):
        # Kept on the CPU: a restore may hand us a device tensor, and reading it each step would sync.
        power = group[key].detach().to("cpu", torch.float32) * float(group[beta])
        for each in rule.param_groups:
            each[key] = power


def _apply_adam(rule: UpdateRule, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
    beta1, beta2, epsilon = group["beta1"], group["beta2"], group["epsilon"]
    beta1_power, beta2_power = _beta_powers(rule)
    if params[0].dtype == torch.float32:
        # TF's kernel works out its scalars in the variable's dtype: 1 - 0.9 is 0.10000002 there.
        one = np.float32(1)
        one_minus_beta1, one_minus_beta2 = float(one - np.float32(beta1)), float(one - np.float32(beta2))
        lr_t = float(
            np.float32(group["lr"]) * np.sqrt(one - np.float32(beta2_power)) / (one - np.float32(beta1_power))
        )
    else:
        one_minus_beta1, one_minus_beta2 = 1 - beta1, 1 - beta2
        lr_t = group["lr"] * math.sqrt(1 - beta2_power) / (1 - beta1_power)
    ms = rule.slots(params, "m", _zeros)
    vs = rule.slots(params, "v", _zeros)
    # TF's kernel: m += (g - m) * (1 - beta1); v += (g^2 - v) * (1 - beta2): a lerp.
    torch._foreach_lerp_(ms, grads, one_minus_beta1)
    torch._foreach_lerp_(vs, torch._foreach_mul(grads, grads), one_minus_beta2)
    denominators = torch._foreach_sqrt(vs)
    torch._foreach_add_(denominators, epsilon)
    torch._foreach_addcdiv_(params, ms, denominators, value=-lr_t)


class Adam(UpdateRule):
    """TF's ``AdamOptimizer``, with TF's "epsilon hat" (``torch.optim.Adam`` puts epsilon elsewhere).

    ``lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)``; ``m = beta1 * m + (1 - beta1) * g``;
    ``v = beta2 * v + (1 - beta2) * g^2``; ``var -= lr_t * m / (sqrt(v) + epsilon)``; then
    ``beta1_power *= beta1``, ``beta2_power *= beta2`` (they start at beta1, beta2).
    Slots ``m`` -> ``<var>/Adam``, ``v`` -> ``<var>/Adam_1``; non-slots ``beta1_power``, ``beta2_power``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> w.grad = torch.tensor([0.5])
    >>> Adam([w], lr=0.1).step(); round(w.item(), 4)  # the first step moves by ~lr
    0.9
    """

    default_name = "Adam"
    slot_names: Mapping[str, str] = {"m": "", "v": "_1"}
    non_slot_names = ("beta1_power", "beta2_power")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon)
        _create_beta_powers(self)

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        super().validate(hyperparameters)
        _validate_adam(cls, hyperparameters)

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        _apply_adam(self, group, params, grads)

    def finish(self) -> None:
        _advance_beta_powers(self)


class AdamW(UpdateRule):
    """TF's ``tf.contrib.opt.AdamWOptimizer``: ``var -= weight_decay * var``, then TF's Adam update.

    Unlike ``torch.optim.AdamW`` the decay is *not* multiplied by the learning rate (TF's
    ``DecoupledWeightDecayExtension``: decay a decayed learning rate's ``weight_decay`` yourself),
    and Adam's epsilon is TF's "epsilon hat". Slots ``<var>/AdamW``, ``<var>/AdamW_1``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> w.grad = torch.tensor([0.5])
    >>> AdamW([w], weight_decay=0.1, lr=0.1).step(); round(w.item(), 4)  # 1 - 0.1 * 1 - ~0.1
    0.8
    """

    default_name = "AdamW"
    slot_names: Mapping[str, str] = {"m": "", "v": "_1"}
    non_slot_names = ("beta1_power", "beta2_power")

    def __init__(
        self,
        params: Iterable[Any],
        weight_decay: float = 0.0,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(params, weight_decay=weight_decay, lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon)
        _create_beta_powers(self)

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        super().validate(hyperparameters)
        _validate_adam(cls, hyperparameters)
        _require(cls, hyperparameters, "weight_decay", lambda d: d >= 0, "must be >= 0")

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        # The gradient was taken at the undecayed variable, as in TF (decay runs before the update).
        torch._foreach_add_(params, params, alpha=-group["weight_decay"])
        _apply_adam(self, group, params, grads)

    def finish(self) -> None:
        _advance_beta_powers(self)


class Adagrad(UpdateRule):
    """TF's ``AdagradOptimizer``: ``accum += g^2``; ``var -= lr * g / sqrt(accum)``.

    The accumulator starts at ``initial_accumulator_value`` (TF: must be positive). Slot
    ``accumulator`` -> ``<var>/Adagrad``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> w.grad = torch.tensor([0.3])
    >>> Adagrad([w], lr=0.1).step(); round(w.item(), 4)  # 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09)
    0.9312
    """

    default_name = "Adagrad"
    slot_names: Mapping[str, str] = {"accumulator": ""}
    accepts_sparse_gradients = True

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, initial_accumulator_value: float = 0.1
    ) -> None:
        super().__init__(params, lr=lr, initial_accumulator_value=initial_accumulator_value)

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        super().validate(hyperparameters)
        _require(cls, hyperparameters, "initial_accumulator_value", lambda v: v > 0, "must be positive")

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        initial = float(group["initial_accumulator_value"])
        accums = self.slots(params, "accumulator", lambda param: torch.full_like(param, initial))
        torch._foreach_addcmul_(accums, grads, grads)
        torch._foreach_addcdiv_(params, grads, torch._foreach_sqrt(accums), value=-group["lr"])

    def apply_sparse(self, group: dict[str, Any], param: Tensor, rows: Tensor, values: Tensor) -> None:
        # Rows without a gradient keep accum (+0) and var (-lr * 0 / sqrt(accum)): the dense result.
        initial = float(group["initial_accumulator_value"])
        (accum,) = self.slots([param], "accumulator", lambda param: torch.full_like(param, initial))
        accum_rows = _rows(accum, rows).addcmul_(values, values)
        accum.index_copy_(0, rows, accum_rows)
        param_rows = _rows(param, rows).addcdiv_(values, accum_rows.sqrt(), value=-group["lr"])
        param.index_copy_(0, rows, param_rows)


class RMSProp(UpdateRule):
    """TF 1.x's ``RMSPropOptimizer``; the mean-square slot starts at ONES (TF2/Keras start at zeros).

    ``ms = decay * ms + (1 - decay) * g^2``; centered: ``mg = decay * mg + (1 - decay) * g`` and
    ``denom = ms - mg^2 + epsilon``, else ``denom = ms + epsilon``;
    ``mom = momentum * mom + lr * g / sqrt(denom)``; ``var -= mom``.
    Slots as TF names them: ``rms`` -> ``<var>/RMSProp``, then (centered only) ``mg`` ->
    ``<var>/RMSProp_1``, then ``momentum`` -> ``<var>/RMSProp_1`` (``_2`` when centered).

    ``keras=True`` is ``tf.keras.optimizers.legacy.RMSprop`` instead (what TF2's canned estimators
    build for ``'RMSProp'``): ``ms`` starts at zeros, and without momentum the step is
    ``lr * g / (sqrt(ms) + epsilon)`` (``ms - mg^2`` when centered), epsilon outside the root (with
    momentum Keras runs TF1's kernel).

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> w.grad = torch.tensor([1.0])
    >>> RMSProp([w], lr=0.1).step(); round(w.item(), 4)  # ms = 1 -> 1 - 0.1 * 1 / sqrt(1)
    0.9
    """

    default_name = "RMSProp"
    slot_names: Mapping[str, str] = {"rms": "", "momentum": "_1"}
    centered_slot_names: Mapping[str, str] = {"rms": "", "mg": "_1", "momentum": "_2"}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        decay: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-10,
        centered: bool = False,
        keras: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, decay=decay, momentum=momentum, epsilon=epsilon, centered=centered, keras=keras
        )
        if centered:
            self.slot_names = self.centered_slot_names

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        super().validate(hyperparameters)
        _require(cls, hyperparameters, "decay", lambda d: 0 <= d <= 1, "must be in [0, 1]")
        _require(cls, hyperparameters, "momentum", lambda m: m >= 0, "must be >= 0")
        _require(cls, hyperparameters, "epsilon", lambda e: e >= 0, "must be >= 0")

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        weight = 1 - group["decay"]
        mean_squares = self.slots(params, "rms", _zeros if group["keras"] else _ones)
        moms = self.slots(params, "momentum", _zeros)
        torch._foreach_lerp_(mean_squares, torch._foreach_mul(grads, grads), weight)
        variances = mean_squares
        if group["centered"]:
            mean_grads = self.slots(params, "mg", _zeros)
            torch._foreach_lerp_(mean_grads, grads, weight)
            variances = torch._foreach_addcmul(mean_squares, mean_grads, mean_grads, value=-1)
        if group["keras"] and group["momentum"] == 0:  # Keras' own step: epsilon added after the root
            denominators = torch._foreach_sqrt(variances)
            torch._foreach_add_(denominators, group["epsilon"])
        else:
            denominators = torch._foreach_add(variances, group["epsilon"])
            torch._foreach_sqrt_(denominators)
        torch._foreach_mul_(moms, group["momentum"])
        torch._foreach_addcdiv_(moms, grads, denominators, value=group["lr"])
        torch._foreach_sub_(params, moms)


class Ftrl(UpdateRule):
    """TF 1.x's ``FtrlOptimizer`` (FTRL-proximal), with TF's argument checks.

    With ``p = learning_rate_power`` and ``n^(-p)`` read as ``sqrt(n)`` when ``p == -0.5``::

        g_shr = g + 2 * l2_shrinkage * var
        accum_new = accum + g^2
        linear += g_shr - (accum_new^(-p) - accum^(-p)) / lr * var
        quadratic = accum_new^(-p) / lr + 2 * (l2 + beta / (2 * lr))
        var = (sign(linear) * l1 - linear) / quadratic if |linear| > l1 else 0
        accum = accum_new

    Slots ``accum`` -> ``<var>/Ftrl`` (starts at ``initial_accumulator_value``), ``linear`` ->
    ``<var>/Ftrl_1``.

    A sparse gradient updates only its rows (TF's ``SparseApplyFtrl``, what TF applies to embedding
    and linear-model tables). A dense zero gradient leaves ``accum`` and ``linear`` alone but
    recomputes ``var`` from them, so the two agree whenever ``var`` already is that value: for
    tables starting at zero (``linear`` 0 gives ``var`` 0) with a fixed learning rate, l1, l2 and
    beta and no ``l2_shrinkage`` (which moves ``linear`` by ``2 * l2_shrinkage * var`` even at g=0).

    >>> w = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    >>> w.grad = torch.tensor([0.5, -2.0])
    >>> Ftrl([w], lr=0.1, l1=1.0).step(); [round(x, 4) for x in w.tolist()]  # |linear| <= l1 -> 0
    [0.0, 0.0494]
    """

    default_name = "Ftrl"
    slot_names: Mapping[str, str] = {"accum": "", "linear": "_1"}
    accepts_sparse_gradients = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1: float = 0.0,
        l2: float = 0.0,
        l2_shrinkage: float = 0.0,
        beta: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            learning_rate_power=learning_rate_power,
            initial_accumulator_value=initial_accumulator_value,
            l1=l1,
            l2=l2,
            l2_shrinkage=l2_shrinkage,
            beta=beta,
        )

    @classmethod
    def validate(cls, hyperparameters: Mapping[str, Any]) -> None:
        # Ftrl divides by the learning rate, so zero is rejected too (TF would produce inf/nan).
        _require(cls, hyperparameters, "lr", lambda lr: lr > 0, "must be > 0")
        # TF's checks, in TF's order and with TF's phrases.
        non_negative, non_positive = "needs to be positive or zero", "needs to be negative or zero"
        _require(cls, hyperparameters, "initial_accumulator_value", lambda v: v >= 0, non_negative)
        _require(cls, hyperparameters, "learning_rate_power", lambda p: p <= 0, non_positive)
        for key in ("l1", "l2", "l2_shrinkage"):
            _require(cls, hyperparameters, key, lambda s: s >= 0, non_negative)

    def apply_dense(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        initial = float(group["initial_accumulator_value"])
        accums = self.slots(params, "accum", lambda param: torch.full_like(param, initial))
        linears = self.slots(params, "linear", _zeros)
        for var, accum, linear, grad in zip(params, accums, linears, grads, strict=True):
            _ftrl_update(var, accum, linear, grad, group)

    def apply_sparse(self, group: dict[str, Any], param: Tensor, rows: Tensor, values: Tensor) -> None:
        initial = float(group["initial_accumulator_value"])
        (accum,) = self.slots([param], "accum", lambda param: torch.full_like(param, initial))
        (linear,) = self.slots([param], "linear", _zeros)
        var_rows, accum_rows, linear_rows = _rows(param, rows), _rows(accum, rows), _rows(linear, rows)
        _ftrl_update(var_rows, accum_rows, linear_rows, values, group)
        for tensor, updated in ((param, var_rows), (accum, accum_rows), (linear, linear_rows)):
            tensor.index_copy_(0, rows, updated)


def _ftrl_update(var: Tensor, accum: Tensor, linear: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
    lr, power = group["lr"], group["learning_rate_power"]
    l1, l2, shrinkage = group["l1"], group["l2"], group["l2_shrinkage"]
    # TF folds beta into l2 so that its kernels need no beta argument.
    adjusted_l2 = l2 + group["beta"] / (2.0 * max(lr, 1e-36))
    shrunk_grad = grad + (2.0 * shrinkage) * var if shrinkage > 0 else grad
    new_accum = accum + grad * grad
    if power == -0.5:
        new_root, old_root = new_accum.sqrt(), accum.sqrt()
    else:
        new_root, old_root = new_accum.pow(-power), accum.pow(-power)
    linear.add_(shrunk_grad - (new_root - old_root) / lr * var)
    quadratic = new_root / lr + 2.0 * adjusted_l2
    # clamp(linear, -l1, l1) - linear == sign(linear) * l1 - linear wherever |linear| > l1.
    proximal = (linear.clamp(-l1, l1) - linear) / quadratic
    var.copy_(torch.where(linear.abs() > l1, proximal, torch.zeros_like(proximal)))
    accum.copy_(new_accum)
