"""EstimatorSpec: everything model_fn returns for one mode, validated on construction."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from torch_estimator.contract.current import current_graph
from torch_estimator.contract.describe import describe
from torch_estimator.contract.export_output import ExportOutput, PredictOutput
from torch_estimator.contract.hook_types import SessionRunHook
from torch_estimator.contract.metric_types import is_metric_object
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.scaffold import Scaffold
from torch_estimator.contract.train_op import TrainOp

__all__ = ["DEFAULT_SERVING_KEY", "EstimatorSpec", "check_hooks"]

DEFAULT_SERVING_KEY = "serving_default"

_FIELDS = (
    "mode",
    "predictions",
    "loss",
    "train_op",
    "eval_metric_ops",
    "export_outputs",
    "training_chief_hooks",
    "training_hooks",
    "scaffold",
    "evaluation_hooks",
    "prediction_hooks",
)


class EstimatorSpec(collections.namedtuple("EstimatorSpec", _FIELDS)):
    """What ``model_fn`` returns: the ops and objects the Estimator runs for one mode.

    Required per mode: TRAIN needs ``loss`` and ``train_op``; EVAL needs ``loss``; PREDICT needs
    ``predictions``. Fields are checked in tf.estimator's order and the first failure raises.
    ``loss`` is a one-element ``torch.Tensor`` (reshaped to a scalar); ``train_op`` a
    ``te.train.TrainOp`` or any zero-argument callable; ``eval_metric_ops`` values are
    ``(value, update_op)`` tuples or Metric objects updated in this call.

    >>> loss = torch.tensor([0.5])
    >>> spec = EstimatorSpec(ModeKeys.EVAL, loss=loss)
    >>> spec.loss.shape, spec.predictions, spec.training_hooks
    (torch.Size([]), {}, ())
    """

    __slots__ = ()

    def __new__(
        cls,
        mode: str | None,
        predictions: Any = None,
        loss: Any = None,
        train_op: Any = None,
        eval_metric_ops: Mapping[str, Any] | None = None,
        export_outputs: Mapping[str, ExportOutput] | None = None,
        training_chief_hooks: Iterable[SessionRunHook] | None = None,
        training_hooks: Iterable[SessionRunHook] | None = None,
        scaffold: Scaffold | None = None,
        evaluation_hooks: Iterable[SessionRunHook] | None = None,
        prediction_hooks: Iterable[SessionRunHook] | None = None,
    ) -> EstimatorSpec:
        graph = current_graph()
        train_op = _check_train_op(train_op, mode, graph)
        loss = _check_loss(loss, mode)
        predictions = _check_predictions(predictions, mode)
        if mode == ModeKeys.PREDICT:
            export_outputs = _check_export_outputs(export_outputs, predictions)
        training_hooks = check_hooks(training_hooks, "training_hooks")
        evaluation_hooks = check_hooks(evaluation_hooks, "evaluation_hooks")
        prediction_hooks = check_hooks(prediction_hooks, "prediction_hooks")
        training_chief_hooks = check_hooks(training_chief_hooks, "training_chief_hooks")
        eval_metric_ops = _check_metrics(eval_metric_ops, graph)
        scaffold = _check_scaffold(scaffold)
        return super().__new__(
            cls,
            mode=mode,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metric_ops=eval_metric_ops,
            export_outputs=export_outputs,
            training_chief_hooks=training_chief_hooks,
            training_hooks=training_hooks,
            scaffold=scaffold,
            evaluation_hooks=evaluation_hooks,
            prediction_hooks=prediction_hooks,
        )

    def _replace(self, **kwds: Any) -> EstimatorSpec:
        """A new spec with some fields changed; every check runs again. The mode cannot change."""
        if "mode" in kwds and self.mode != kwds["mode"]:
            raise ValueError(
                f"mode of EstimatorSpec cannot be changed. Received: mode={kwds['mode']!r}, "
                f"the spec's mode is {self.mode!r}. Build a new EstimatorSpec instead."
            )
        fields = self._asdict()
        fields.update(kwds)
        return EstimatorSpec(**fields)


def _check_train_op(train_op: Any, mode: Any, graph: Any) -> Any:
    if train_op is None:
        if mode == ModeKeys.TRAIN:
            raise ValueError(
                "Missing train_op: EstimatorSpec(mode='train') needs a train_op. Received: train_op=None. "
                "Return the op from optimizer.minimize(loss, global_step=...)."
            )
        return None
    if isinstance(train_op, TrainOp):
        if graph is not None and train_op.graph is not None and train_op.graph is not graph:
            raise ValueError(
                f"train_op {train_op!r} must be from the default graph: it was made in an earlier call "
                "(another Graph). Create the train_op inside model_fn on every call."
            )
        return train_op
    if callable(train_op) and not isinstance(train_op, torch.Tensor):
        return train_op
    raise TypeError(
        "train_op must be Operation or Tensor: here a te.train.TrainOp (from optimizer.minimize or "
        f"te.train.group) or a zero-argument callable. Received: {describe(train_op)}."
    )


def _check_loss(loss: Any, mode: Any) -> Any:
    if loss is None:
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            raise ValueError(
                f"Missing loss: EstimatorSpec(mode={mode!r}) needs a loss. Received: loss=None. "
                "Return the scalar loss tensor of the batch."
            )
        return None
    if not isinstance(loss, torch.Tensor) or loss.layout != torch.strided:
        raise TypeError(
            f"loss must be Tensor: a dense torch.Tensor with one element. Received: {describe(loss)}."
        )
    if loss.numel() != 1:
        raise ValueError(
            f"Loss must be scalar: it needs exactly one element. Received: {describe(loss)}. "
            "Reduce it, for example with loss.mean()."
        )
    return loss.reshape(()) if loss.dim() != 0 else loss


def _check_predictions(predictions: Any, mode: Any) -> Any:
    if predictions is None:
        if mode == ModeKeys.PREDICT:
            raise ValueError(
                "Missing predictions: EstimatorSpec(mode='infer') needs predictions. Received: "
                "predictions=None. Return a tensor or a dict of tensors."
            )
        return {}
    if isinstance(predictions, Mapping):
        for key, value in predictions.items():
            if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
                raise TypeError(
                    f"predictions[{key!r}] must be Tensor: a dense torch.Tensor. Received: {describe(value)}."
                )
        return predictions
    if not isinstance(predictions, torch.Tensor) or predictions.layout != torch.strided:
        raise TypeError(
            f"predictions must be Tensor, or a dict of tensors. Received: {describe(predictions)}."
        )
    return predictions


def _check_export_outputs(export_outputs: Any, predictions: Any) -> dict[str, ExportOutput]:
    if export_outputs is None:
        return {DEFAULT_SERVING_KEY: PredictOutput(predictions)}
    if not isinstance(export_outputs, dict):
        raise TypeError(
            "export_outputs must be dict of signature names to ExportOutput objects. "
            f"Received: {describe(export_outputs)}."
        )
    for key, value in export_outputs.items():
        if not isinstance(value, ExportOutput):
            raise TypeError(
                "Values in export_outputs must be ExportOutput objects (ClassificationOutput, "
                f"RegressionOutput, PredictOutput). Received for {key!r}: {describe(value)}."
            )
    if len(export_outputs) == 1:
        # As in TF, the dict is changed in place: the one output is also the default signature.
        (only,) = export_outputs.values()
        export_outputs.setdefault(DEFAULT_SERVING_KEY, only)
    elif DEFAULT_SERVING_KEY not in export_outputs:
        raise ValueError(
            "Multiple export_outputs were provided, but none of them is specified as the default. "
            f"Received keys: {sorted(export_outputs)}. Key one of them {DEFAULT_SERVING_KEY!r}."
        )
    return export_outputs


def check_hooks(hooks: Any, field: str) -> tuple[SessionRunHook, ...]:
    """``hooks`` (an iterable or None) as a tuple; ``field`` names the argument in the error.

    Raises:
        TypeError: an element is not a SessionRunHook.

    >>> check_hooks(None, "hooks")
    ()
    """
    checked = tuple(hooks or ())
    for hook in checked:
        if not isinstance(hook, SessionRunHook):
            raise TypeError(
                f"All hooks must be SessionRunHook instances. Received in {field}: {describe(hook)}. "
                "Subclass te.train.SessionRunHook."
            )
    return checked


def _check_metrics(eval_metric_ops: Any, graph: Any) -> dict[str, Any]:
    if eval_metric_ops is None:
        return {}
    if not isinstance(eval_metric_ops, Mapping):
        raise TypeError(
            "eval_metric_ops must be a dict of metric names to metrics. "
            f"Received: {describe(eval_metric_ops)}."
        )
    known = getattr(graph, "metric_pairs", {})  # graph is None outside model_fn
    if all(map(known.__contains__, map(id, eval_metric_ops.values()))):
        return dict(eval_metric_ops)  # pairs te.metrics functions returned in this Graph: all accepted
    for name, metric in eval_metric_ops.items():
        if id(metric) in known:
            continue  # a pair a te.metrics function returned in this Graph: what the checks accept
        if isinstance(metric, tuple):
            if len(metric) != 2:
                raise TypeError(
                    "Values of eval_metric_ops must be (metric_value, update_op) tuples. "
                    f"Received for {name!r} a tuple of length {len(metric)}."
                )
            if not callable(metric[1]) or isinstance(metric[1], torch.Tensor):
                raise TypeError(
                    f"eval_metric_ops[{name!r}] update_op must be a te.metrics.UpdateOp or a zero-argument "
                    f"callable run once per batch. Received: {describe(metric[1])}."
                )
            for part in metric:
                part_graph = getattr(part, "graph", None)
                if graph is not None and part_graph is not None and part_graph is not graph:
                    raise ValueError(
                        f"eval_metric_ops[{name!r}] must be from the default graph: its {part!r} was made "
                        "in an earlier call. Create metrics inside model_fn on every call."
                    )
        elif is_metric_object(metric):
            if graph is None:
                # Outside a Graph there is no "this call": only a metric never updated can be caught.
                updated = getattr(metric, "_update_count", None) != 0
            else:
                updated = graph.metric_was_updated(metric)
            if not updated:
                raise ValueError(
                    f'Please call update_state(...) on the "{name}" metric: eval_metric_ops may hold a '
                    "Metric object only after metric.update(...) was called in this model_fn call."
                )
        else:
            raise TypeError(
                "Values of eval_metric_ops must be (metric_value, update_op) tuples or Metric objects. "
                f"Received for {name!r}: {describe(metric)}."
            )
    return dict(eval_metric_ops)


def _check_scaffold(scaffold: Any) -> Scaffold:
    if scaffold is None:
        return Scaffold()
    if not isinstance(scaffold, Scaffold):
        raise TypeError(
            f"scaffold must be tf.train.Scaffold (te.train.Scaffold). Received: {describe(scaffold)}."
        )
    return scaffold
