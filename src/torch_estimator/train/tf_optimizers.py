"""The optimizers of ``tf.compat.v1.train`` with TF's constructor signatures and defaults.

Each is a ``te.train.Optimizer`` over the matching TF update rule of ``update_rules``, so
``minimize`` / ``compute_gradients`` / ``apply_gradients`` and the checkpoint slot names
(``<var>/Adam``, ``<var>/Adam_1``, ``beta1_power``, ...) are TF's. ``learning_rate`` (and any other
hyperparameter) may be a number, a 0-d tensor or a zero-argument callable read again on every step,
such as a decay from ``te.train.exponential_decay``. ``use_locking`` is accepted and ignored: PyTorch
steps never run concurrently. Every class also takes the keyword ``clip_norm`` (clip the global
gradient norm before each step).

model_fn runs on every step and builds a new optimizer each time, so constructors only validate;
the state lives in the Graph.
"""

from __future__ import annotations

from typing import Any

from torch_estimator.train import update_rules
from torch_estimator.train.optimizer import Optimizer

__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "AdamWOptimizer",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "RMSPropOptimizer",
]


def _check_name(name: Any) -> str:
    # TF's Optimizer base: an empty name is an error, not a request for the default.
    if not name or not isinstance(name, str):
        raise ValueError(
            f"Must specify the optimizer name. Received: name={name!r}; pass a non-empty string."
        )
    return name


class GradientDescentOptimizer(Optimizer):
    """``tf.compat.v1.train.GradientDescentOptimizer``: ``var -= learning_rate * grad``.

    >>> GradientDescentOptimizer(0.1).get_slot_names()
    []
    """

    def __init__(
        self,
        learning_rate: Any,
        use_locking: bool = False,
        name: str = "GradientDescent",
        *,
        clip_norm: float | None = None,
    ) -> None:
        hyperparameters = {"lr": learning_rate}
        update_rules.GradientDescent.validate(hyperparameters)
        super().__init__(
            update_rules.GradientDescent, name=_check_name(name), clip_norm=clip_norm, **hyperparameters
        )


class MomentumOptimizer(Optimizer):
    """``tf.compat.v1.train.MomentumOptimizer`` (slot ``<var>/Momentum``).

    >>> MomentumOptimizer(0.1, momentum=0.9).get_slot_names()
    ['momentum']
    """

    def __init__(
        self,
        learning_rate: Any,
        momentum: Any,
        use_locking: bool = False,
        name: str = "Momentum",
        use_nesterov: bool = False,
        *,
        clip_norm: float | None = None,
    ) -> None:
        hyperparameters = {"lr": learning_rate, "momentum": momentum, "use_nesterov": bool(use_nesterov)}
        update_rules.Momentum.validate(hyperparameters)
        super().__init__(
            update_rules.Momentum, name=_check_name(name), clip_norm=clip_norm, **hyperparameters
        )


class AdamOptimizer(Optimizer):
    """``tf.compat.v1.train.AdamOptimizer`` (TF's epsilon placement; slots ``Adam``, ``Adam_1``).

    >>> AdamOptimizer(0.1).get_slot_names()
    ['m', 'v']
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta1: Any = 0.9,
        beta2: Any = 0.999,
        epsilon: Any = 1e-08,
        use_locking: bool = False,
        name: str = "Adam",
        *,
        clip_norm: float | None = None,
    ) -> None:
        hyperparameters = {"lr": learning_rate, "beta1": beta1, "beta2": beta2, "epsilon": epsilon}
        update_rules.Adam.validate(hyperparameters)
        super().__init__(update_rules.Adam, name=_check_name(name), clip_norm=clip_norm, **hyperparameters)


class AdagradOptimizer(Optimizer):
    """``tf.compat.v1.train.AdagradOptimizer`` (slot ``<var>/Adagrad``, starting at 0.1).

    >>> AdagradOptimizer(0.1).get_slot_names()
    ['accumulator']
    """

    def __init__(
        self,
        learning_rate: Any,
        initial_accumulator_value: float = 0.1,
        use_locking: bool = False,
        name: str = "Adagrad",
        *,
        clip_norm: float | None = None,
    ) -> None:
        hyperparameters = {"lr": learning_rate, "initial_accumulator_value": initial_accumulator_value}
        update_rules.Adagrad.validate(hyperparameters)
        super().__init__(update_rules.Adagrad, name=_check_name(name), clip_norm=clip_norm, **hyperparameters)


class RMSPropOptimizer(Optimizer):
    """``tf.compat.v1.train.RMSPropOptimizer`` (TF1: the mean square starts at ones).

    ``keras=True`` (keyword only) gives ``tf.keras.optimizers.legacy.RMSprop``'s maths instead
    (``update_rules.RMSProp``); the canned estimators' ``'RMSProp'`` is that, with epsilon 1e-7.

    >>> RMSPropOptimizer(0.1).get_slot_names(), RMSPropOptimizer(0.1, centered=True).get_slot_names()
    (['momentum', 'rms'], ['mg', 'momentum', 'rms'])
    """

    def __init__(
        self,
        learning_rate: Any,
        decay: Any = 0.9,
        momentum: Any = 0.0,
        epsilon: Any = 1e-10,
        use_locking: bool = False,
        centered: bool = False,
        name: str = "RMSProp",
        *,
        clip_norm: float | None = None,
        keras: bool = False,
    ) -> None:
        hyperparameters = {
            "lr": learning_rate,
            "decay": decay,
            "momentum": momentum,
            "epsilon": epsilon,
            "centered": bool(centered),
            "keras": bool(keras),
        }
        update_rules.RMSProp.validate(hyperparameters)
        super().__init__(update_rules.RMSProp, name=_check_name(name), clip_norm=clip_norm, **hyperparameters)
        self.centered = bool(centered)

    def get_slot_names(self) -> list[str]:
        """TF's slot names, sorted; a centered RMSProp has three (``mg`` too)."""
        rule = update_rules.RMSProp
        return sorted(rule.centered_slot_names if self.centered else rule.slot_names)


class FtrlOptimizer(Optimizer):
    """``tf.compat.v1.train.FtrlOptimizer`` (FTRL-proximal; slots ``Ftrl``, ``Ftrl_1``).

    ``beta=None`` means 0.0, as in TF. ``accum_name`` and ``linear_name`` are accepted and ignored:
    the slot variables are always ``<variable>/<name>`` and ``<variable>/<name>_1``.

    >>> FtrlOptimizer(0.1, l1_regularization_strength=0.01).get_slot_names()
    ['accum', 'linear']
    """

    def __init__(
        self,
        learning_rate: Any,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: Any = 0.0,
        l2_regularization_strength: Any = 0.0,
        use_locking: bool = False,
        name: str = "Ftrl",
        accum_name: str | None = None,
        linear_name: str | None = None,
        l2_shrinkage_regularization_strength: Any = 0.0,
        beta: Any = None,
        *,
        clip_norm: float | None = None,
    ) -> None:
        del accum_name, linear_name  # the slot variables keep TF's default names (class docstring)
        hyperparameters = {
            "lr": learning_rate,
            "learning_rate_power": learning_rate_power,
            "initial_accumulator_value": initial_accumulator_value,
            "l1": l1_regularization_strength,
            "l2": l2_regularization_strength,
            "l2_shrinkage": l2_shrinkage_regularization_strength,
            "beta": 0.0 if beta is None else beta,
        }
        update_rules.Ftrl.validate(hyperparameters)
        super().__init__(update_rules.Ftrl, name=_check_name(name), clip_norm=clip_norm, **hyperparameters)


class AdamWOptimizer(Optimizer):
    """``tf.contrib.opt.AdamWOptimizer``: ``var -= weight_decay * var``, then TF's Adam step.

    The decay is not scaled by the learning rate (unlike ``torch.optim.AdamW``): when the learning
    rate decays, decay ``weight_decay`` too, as TF's documentation asks.

    >>> AdamWOptimizer(weight_decay=1e-4, learning_rate=0.1).get_slot_names()
    ['m', 'v']
    """

    def __init__(
        self,
        weight_decay: Any,
        learning_rate: Any = 0.001,
        beta1: Any = 0.9,
        beta2: Any = 0.999,
        epsilon: Any = 1e-8,
        use_locking: bool = False,
        name: str = "AdamW",
        *,
        clip_norm: float | None = None,
    ) -> None:
        hyperparameters = {
            "weight_decay": weight_decay,
            "lr": learning_rate,
            "beta1": beta1,
            "beta2": beta2,
            "epsilon": epsilon,
        }
        update_rules.AdamW.validate(hyperparameters)
        super().__init__(update_rules.AdamW, name=_check_name(name), clip_norm=clip_norm, **hyperparameters)
