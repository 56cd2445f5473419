"""Estimator: checks its arguments as tf.estimator did, then delegates to the engine."""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from torch_estimator import engine
from torch_estimator.checkpoint import global_step_of, latest_checkpoint, list_variables, load_variable
from torch_estimator.checkpoint.warm_start import warm_start_settings_from
from torch_estimator.contract.convert import to_numpy
from torch_estimator.contract.fn_args import call_model_fn, verify_model_fn_args
from torch_estimator.contract.hook_types import SessionRunHook
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec, check_hooks
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.export.saved_model_export import export_all_saved_models
from torch_estimator.hooks import CheckpointSaverListener

__all__ = ["Estimator"]

logger = logging.getLogger("torch_estimator")

# Members a subclass may override (TF's list); anything else of Estimator's is off limits.
_OVERRIDABLE = frozenset(
    {"model_fn", "latest_checkpoint", "__init__", "__doc__", "__module__", "__qualname__"}
)


class Estimator:
    """Trains, evaluates and predicts with a ``model_fn``; owns checkpoints and summaries in ``model_dir``.

    ``model_fn(features, labels, mode, params, config)`` returns an EstimatorSpec for the mode; it
    runs on every batch inside a fresh Graph per call, which holds the variables it creates. Each
    verb restores the latest checkpoint of ``model_dir`` first.

    >>> import torch, torch_estimator as te
    >>> def model_fn(features, labels, mode):
    ...     pred = te.layers.dense(features, 1)
    ...     if mode == te.ModeKeys.PREDICT:
    ...         return te.EstimatorSpec(mode, predictions={"y": pred})
    ...     loss = ((pred - labels) ** 2).mean()
    ...     op = te.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    ...     return te.EstimatorSpec(mode, loss=loss, train_op=op)
    >>> est = te.Estimator(model_fn, config=te.RunConfig(log_step_count_steps=None, save_summary_steps=0))
    >>> _ = est.train(lambda: (torch.ones(8, 2), torch.ones(8, 1)), steps=3)
    >>> est.get_variable_value("global_step")
    3
    """

    def __init__(
        self,
        model_fn: Callable[..., EstimatorSpec],
        model_dir: str | os.PathLike[str] | None = None,
        config: RunConfig | None = None,
        params: dict[str, Any] | None = None,
        warm_start_from: Any = None,
    ) -> None:
        self._check_overrides()
        if config is None:
            config = RunConfig()
        elif not isinstance(config, RunConfig):
            raise ValueError(
                f"config must be an instance of `RunConfig`, but provided {config!r}. Pass te.RunConfig(...)."
            )
        if model_dir is not None:
            model_dir = os.fspath(model_dir)
        if model_dir and config.model_dir and model_dir != config.model_dir:
            raise ValueError(
                "`model_dir` are set both in constructor and `RunConfig`, but with different values. In "
                f"constructor: '{model_dir}', in `RunConfig`: '{config.model_dir}'. Set it in one place."
            )
        if model_dir:
            config = config.replace(model_dir=model_dir)
        elif not config.model_dir:
            config = config.replace(model_dir=tempfile.mkdtemp())
            logger.warning("Using temporary folder as model directory: %s", config.model_dir)
        if model_fn is None:
            raise ValueError("model_fn must be provided to Estimator. Received: model_fn=None.")
        verify_model_fn_args(model_fn, params)
        self._warm_start_settings = warm_start_settings_from(warm_start_from)
        self._model_fn = model_fn
        self._config = config
        self._params = copy.deepcopy(params or {})

    def _check_overrides(self) -> None:
        cls = type(self)
        if cls is Estimator:
            return
        overridden = sorted(
            name
            for klass in cls.__mro__
            if klass is not Estimator and issubclass(klass, Estimator)
            for name in vars(klass)
            # Dunder names are Python's own (3.13 adds __firstlineno__ to every class), as TF skipped them.
            if name in vars(Estimator) and name not in _OVERRIDABLE and not name.startswith("__")
        )
        if overridden:
            raise ValueError(
                "Subclasses of Estimator cannot override members of Estimator. "
                f"{cls} does override {overridden}. "
                "Add new methods instead, or wrap the Estimator."
            )

    # -- properties ------------------------------------------------------------------------------

    @property
    def model_dir(self) -> str:
        """Where checkpoints, summaries and evaluation results live."""
        return str(self._config.model_dir)

    @property
    def config(self) -> RunConfig:
        """A copy of the RunConfig."""
        return copy.deepcopy(self._config)

    @property
    def params(self) -> dict[str, Any]:
        """A deep copy of params."""
        return copy.deepcopy(self._params)

    @property
    def model_fn(self) -> Callable[..., EstimatorSpec]:
        """model_fn with the fixed signature ``(features, labels, mode, config)``; params bound."""

        def public_model_fn(features: Any, labels: Any, mode: Any, config: Any) -> EstimatorSpec:
            return call_model_fn(self._model_fn, features, labels, mode, self.params, config)

        return public_model_fn

    def __getattr__(self, name: str) -> Any:
        if name == "export_savedmodel":
            raise AttributeError("Please use `export_saved_model`: export_savedmodel was removed.")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- model_dir queries -----------------------------------------------------------------------

    def eval_dir(self, name: str | None = None) -> str:
        """``model_dir/eval`` or ``model_dir/eval_<name>``."""
        return os.path.join(self.model_dir, "eval" if not name else "eval_" + name)

    def latest_checkpoint(self) -> str | None:
        """The path prefix of the newest valid checkpoint in model_dir, or None."""
        return latest_checkpoint(self.model_dir)

    def get_variable_names(self) -> list[str]:
        """Names of every variable in the latest checkpoint (``global_step`` included)."""
        return [name for name, _, _ in list_variables(self._require_checkpoint())]

    def get_variable_value(self, name: str) -> Any:
        """The value of ``name`` in the latest checkpoint, as a numpy array (an int for global_step)."""
        value = to_numpy(load_variable(self._require_checkpoint(), name))
        return value.item() if name == "global_step" else value

    def _require_checkpoint(self) -> str:
        path = self.latest_checkpoint()
        if path is None:
            raise ValueError(
                f"Could not find trained model in model_dir: {self.model_dir}. Train first, or point "
                "model_dir at a directory with checkpoints."
            )
        return path

    # -- verbs -----------------------------------------------------------------------------------

    def train(
        self,
        input_fn: Callable[..., Any],
        hooks: Iterable[SessionRunHook] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Iterable[CheckpointSaverListener] | None = None,
    ) -> Estimator:
        """Trains on input_fn's batches; returns self.

        ``steps`` counts from the restored global step; ``max_steps`` is absolute (a no-op once
        reached: input_fn is not even called). Neither: until the input ends.
        """
        if self._config.task_type in ("evaluator", "ps"):
            raise ValueError(
                "Train has been called wrong configuration. Please use tf.estimator.train_and_evaluate which "
                f"calls proper API according to given configuration. Current configuration: {self._config!r}."
            )
        _check_steps(steps, max_steps)
        if max_steps is not None and max_steps <= global_step_of(self.model_dir):
            logger.info("Skipping training since max_steps has already saved.")
            return self
        hooks = list(check_hooks(hooks, "hooks"))
        listeners = list(saving_listeners or [])
        for listener in listeners:
            if not isinstance(listener, CheckpointSaverListener):
                raise TypeError(
                    "saving_listeners must be a list of CheckpointSaverListener, given: "
                    f"{type(listener).__name__} {listener!r}."
                )
        engine.train(self._setup(), input_fn, hooks, steps, max_steps, listeners)
        return self

    def evaluate(
        self,
        input_fn: Callable[..., Any],
        steps: int | None = None,
        hooks: Iterable[SessionRunHook] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Evaluates the latest (or given) checkpoint; returns metrics, ``loss`` and ``global_step``.

        ``loss`` is the mean of the per-batch losses. ``steps``: None runs until the input ends.
        """
        hooks = list(check_hooks(hooks, "hooks"))
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        return engine.evaluate(self._setup(), input_fn, steps, hooks, checkpoint_path, self.eval_dir(name))

    def predict(
        self,
        input_fn: Callable[..., Any],
        predict_keys: Sequence[str] | str | None = None,
        hooks: Iterable[SessionRunHook] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[Any]:
        """Yields predictions (numpy) per example, or per batch with ``yield_single_examples=False``.

        A generator: nothing, not even argument checking, runs until the first ``next()``.
        """
        checked = list(check_hooks(hooks, "hooks"))
        yield from engine.predict(
            self._setup(), input_fn, predict_keys, checked, checkpoint_path, yield_single_examples
        )

    def export_saved_model(
        self,
        export_dir_base: str | os.PathLike[str],
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: str = ModeKeys.PREDICT,
    ) -> str:
        """Exports the latest (or given) checkpoint to ``<export_dir_base>/<timestamp>/``; returns that path.

        One torch.export program per signature (each ``export_outputs`` key, and
        ``'<alternative>:<key>'`` per receiver alternative), loadable with ``te.saved_model.load``.
        ``experimental_mode=ModeKeys.EVAL`` exports an ``'eval'`` signature (loss, predictions,
        metrics of the batch passed in); TRAIN cannot be exported (NotImplementedError).
        """
        if not serving_input_receiver_fn:
            raise ValueError(
                "An input_receiver_fn must be defined. Received: serving_input_receiver_fn="
                f"{serving_input_receiver_fn!r}. Pass e.g. "
                "te.export.build_raw_serving_input_receiver_fn(...)."
            )
        return self.experimental_export_all_saved_models(
            export_dir_base,
            {experimental_mode: serving_input_receiver_fn},
            assets_extra,
            as_text,
            checkpoint_path,
        )

    def experimental_export_all_saved_models(
        self,
        export_dir_base: str | os.PathLike[str],
        input_receiver_fn_map: Mapping[str, Callable[[], Any]],
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
    ) -> str:
        """Exports one directory holding the signatures of every mode in ``input_receiver_fn_map``.

        ``input_receiver_fn_map`` maps ``ModeKeys.EVAL`` / ``ModeKeys.PREDICT`` to receiver fns.
        """
        return export_all_saved_models(
            self._setup(), export_dir_base, input_receiver_fn_map, assets_extra, as_text, checkpoint_path
        )

    def _setup(self) -> engine.EstimatorSetup:
        return engine.EstimatorSetup(
            self._model_fn, self.model_dir, self._config, self._params, self._warm_start_settings
        )


def _check_steps(steps: int | None, max_steps: int | None) -> None:
    if steps is not None and max_steps is not None:
        raise ValueError(
            f"Can not provide both steps and max_steps. Received: steps={steps}, max_steps={max_steps}."
        )
    if steps is not None and steps <= 0:
        raise ValueError(f"Must specify steps > 0, given: {steps}")
    if max_steps is not None and max_steps <= 0:
        raise ValueError(f"Must specify max_steps > 0, given: {max_steps}")
