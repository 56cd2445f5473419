"""One mode of an export: a fresh Graph restored from the checkpoint, and one program per signature.

Order, as tf.estimator's ``_add_meta_graph_for_mode`` (SEMANTICS (l) 4-5):

    graph = fresh Graph (global step, seed); receiver = receiver_fn()   # torch calls recorded
    spec = model_fn(receiver.features, receiver.labels, mode)            # build pass
    output vocabularies: graph.output_vocabularies of the build pass, per signature output
    restore the checkpoint with the scaffold's saver (missing variables -> ValueError)
    export outputs: PREDICT spec.export_outputs; EVAL {'eval': EvalOutput(loss, predictions, metrics)}
    for each signature (output key, then '<alternative>:<key>'):
        torch.export of: inputs -> replayed features -> model_fn -> the output's tensors
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.contract.current import graph_context
from torch_estimator.contract.describe import describe
from torch_estimator.contract.export_output import ClassificationOutput, EvalOutput
from torch_estimator.contract.metric_types import MetricValue, is_metric_object
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.engine.setup import (
    EstimatorSetup,
    build,
    build_graph,
    default_saver,
    restore_or_initialize,
)
from torch_estimator.export.assets import registered_assets
from torch_estimator.export.parsing import VarLenFeature, feature_spec_entry
from torch_estimator.export.program import SignatureModule, check_input_names, input_spec, trace_program
from torch_estimator.export.receivers import (
    ServingInputReceiver,
    SupervisedInputReceiver,
    TensorServingInputReceiver,
)
from torch_estimator.export.replay import ReceiverRecording, record_receiver_fn
from torch_estimator.export.signatures import SignaturePlan, plan_signatures
from torch_estimator.graph.global_step import GLOBAL_STEP_NAME
from torch_estimator.graph.graph import Graph
from torch_estimator.metrics.state import metric_states
from torch_estimator.train.fused_rows import fused_rows_registry

__all__ = ["ExportedSignature", "ModeExport", "export_mode"]

EVAL_SIGNATURE_KEY = "eval"
_RECEIVER_TYPES = (ServingInputReceiver, TensorServingInputReceiver, SupervisedInputReceiver)


@dataclasses.dataclass
class ExportedSignature:
    """One traced signature and what the signature file says about it."""

    name: str
    method_name: str
    mode: str
    program: torch.export.ExportedProgram
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    class_names: list[str] | None
    feature_spec: dict[str, Any] | None
    # Signature output name -> the vocabulary naming its class ids (None: str(id)).
    output_vocabularies: dict[str, list[str] | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ModeExport:
    """Everything one mode contributes to the export directory."""

    mode: str
    global_step: int
    variables: dict[str, torch.Tensor]
    assets: list[str]
    signatures: list[ExportedSignature]


def export_mode(
    setup: EstimatorSetup, mode: str, receiver_fn: Callable[[], Any], checkpoint_path: str | None
) -> ModeExport:
    """Builds, restores and traces every signature of ``mode`` (EVAL or PREDICT).

    ``checkpoint_path=None`` warm starts fresh variables with ``setup.warm_start`` instead.
    """
    graph = build_graph(setup)
    graph.eval()
    # torch.export saves each variable on its own: the build pass must not fuse tables into one storage.
    fused_rows_registry(graph).unfuse()
    with graph_context(graph):
        receiver, recording = record_receiver_fn(receiver_fn)
    if not isinstance(receiver, _RECEIVER_TYPES):
        raise TypeError(
            f"The input_receiver_fn for mode {mode!r} must return a ServingInputReceiver, "
            f"TensorServingInputReceiver or SupervisedInputReceiver. Received: {describe(receiver)}."
        )
    features, labels = receiver.features, getattr(receiver, "labels", None)
    spec = build(graph, graph, features, labels, mode)
    vocabularies = dict(graph.output_vocabularies)
    _restore(graph, spec, setup, checkpoint_path, mode)
    if mode == ModeKeys.PREDICT:
        export_outputs = spec.export_outputs
    else:
        export_outputs = {EVAL_SIGNATURE_KEY: EvalOutput(spec.loss, spec.predictions, spec.eval_metric_ops)}
    alternatives = getattr(receiver, "receiver_tensors_alternatives", None) or {}
    plans = plan_signatures(export_outputs, alternatives, serving_only=mode == ModeKeys.PREDICT)
    tracer = _SignatureTracer(
        graph, mode, receiver, recording, spec, getattr(receiver_fn, "feature_spec", None), vocabularies
    )
    signatures = [tracer.export(plan, export_outputs[plan.output_key]) for plan in plans]
    return ModeExport(
        mode=mode,
        global_step=int(graph.find_variable(GLOBAL_STEP_NAME)),
        variables=dict(graph.state_dict()),
        assets=registered_assets(graph),
        signatures=signatures,
    )


class _SignatureTracer:
    """Traces the signatures of one mode; an output shared by two keys is traced once."""

    def __init__(
        self,
        graph: Graph,
        mode: str,
        receiver: Any,
        recording: ReceiverRecording,
        spec: EstimatorSpec,
        parse_spec: Any,
        vocabularies: Mapping[str, Any],
    ) -> None:
        self.graph = graph
        self.mode = mode
        self.receiver = receiver
        self.recording = recording
        self.spec = spec
        self.parse_spec = parse_spec
        self.vocabularies = vocabularies
        self.traced: dict[tuple[str | None, int], tuple[torch.export.ExportedProgram, dict[str, Any]]] = {}

    def export(self, plan: SignaturePlan, output: Any) -> ExportedSignature:
        receiver = self.receiver
        if plan.alternative is None:
            sources, parse_spec = receiver.receiver_tensors, self.parse_spec
        else:
            sources, parse_spec = receiver.receiver_tensors_alternatives[plan.alternative], None
        check_input_names(plan.name, list(sources))
        free_dims = _var_len_dims(parse_spec)
        # 'serving_default' often is the same output object as another key: trace it once.
        key = (plan.alternative, id(output))
        if key not in self.traced:
            labels = getattr(receiver, "labels", None)
            compute = _compute_fn(
                self.graph,
                self.mode,
                self.recording,
                sources,
                receiver.features,
                labels,
                plan.output_key,
                self.spec,
            )
            module = SignatureModule(self.graph, list(sources), compute, _metric_tensors(self.graph))
            self.traced[key] = _trace(plan, module, sources, free_dims, self.mode, _hint(self.spec))
        program, outputs = self.traced[key]
        return ExportedSignature(
            name=plan.name,
            method_name=plan.method_name,
            mode=self.mode,
            program=program,
            inputs={name: input_spec(tensor, free_dims.get(name, ())) for name, tensor in sources.items()},
            outputs=outputs,
            class_names=_class_names(output),
            feature_spec=_feature_spec_json(parse_spec),
            output_vocabularies=_output_vocabularies(output, self.spec.predictions, self.vocabularies),
        )


def _restore(
    graph: Graph, spec: EstimatorSpec, setup: EstimatorSetup, checkpoint_path: str | None, mode: str
) -> None:
    saver = default_saver(setup.config, spec.scaffold)
    try:
        restore_or_initialize(
            graph, spec.scaffold, saver, checkpoint_path, None, warm_start_settings=setup.warm_start
        )
    except KeyError as err:
        raise ValueError(
            "Could not load all requested variables from checkpoint. Please make sure your model_fn does not "
            "expect variables that were not saved in the checkpoint.\n\nEncountered error with mode "
            f"`{mode}` while restoring checkpoint from: `{checkpoint_path}`. "
            f"{err.args[0] if err.args else err}"
        ) from err


def _compute_fn(
    graph: Graph,
    mode: str,
    recording: ReceiverRecording,
    sources: Mapping[str, torch.Tensor],
    features: Any,
    labels: Any,
    output_key: Any,
    build_spec: EstimatorSpec,
) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """The traced function: inputs -> features (replayed) -> model_fn -> the signature's tensors."""
    targets = {"features": features, "labels": labels}
    metric_objects = [m for m in build_spec.eval_metric_ops.values() if is_metric_object(m)]

    def compute(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        replayed = recording.replay(sources, inputs, targets)
        if mode == ModeKeys.PREDICT:
            spec = graph(replayed["features"], replayed["labels"], mode)
            return _checked(spec.export_outputs[output_key].outputs)
        # Each call evaluates its own batch: accumulators start from zero (TF's local variables
        # started at zero in each new session).
        for state in metric_states(graph):
            state.reset()
        for metric in metric_objects:
            metric.reset()
            graph.metric_was_updated(metric)
        spec = graph(replayed["features"], replayed["labels"], mode)
        return _checked(_eval_outputs(spec))

    return compute


def _eval_outputs(spec: EstimatorSpec) -> dict[str, Any]:
    """EvalOutput's keys; a metric's ``value`` and ``update_op`` are both its value after this batch."""
    metrics = spec.eval_metric_ops
    for name in sorted(metrics):
        if isinstance(metrics[name], tuple):
            metrics[name][1]()
    values = {name: _metric_value(metric) for name, metric in metrics.items()}
    outputs = {}
    for key, value in EvalOutput(spec.loss, spec.predictions, metrics).outputs.items():
        if key.startswith("metrics/"):
            name, _, part = key[len("metrics/") :].rpartition("/")
            # Two outputs may not alias one tensor in a program: update_op returns a copy.
            value = values[name] if part == "value" else _copy(values[name])
        outputs[key] = value
    return outputs


def _metric_value(metric: Any) -> Any:
    if is_metric_object(metric):
        return metric.compute()
    value = metric[0]
    if isinstance(value, MetricValue):
        return value.compute()
    if callable(value) and not isinstance(value, torch.Tensor):
        return value()
    return value


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value


def _checked(outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"Signature output {name!r} must be a Tensor to be exported. Received: {describe(value)}. "
                "Return tensors (a metric's value as one tensor)."
            )
    return dict(outputs)


def _trace(
    plan: SignaturePlan,
    module: SignatureModule,
    sources: Mapping[str, torch.Tensor],
    free_dims: Mapping[str, tuple[int, ...]],
    mode: str,
    hint: str,
) -> tuple[torch.export.ExportedProgram, dict[str, Any]]:
    examples = {name: _example(plan.name, name, tensor) for name, tensor in sources.items()}
    try:
        return trace_program(module, examples, free_dims)
    except Exception as err:
        first_line = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
        raise RuntimeError(
            f"torch.export could not trace signature {plan.name!r} (mode {mode!r}): {first_line}. "
            "model_fn must run on any batch size without Python branches on tensor values "
            f"(.item(), if tensor: ...){hint}; see the chained error for where tracing stopped."
        ) from err


def _hint(spec: EstimatorSpec) -> str:
    objects = sorted(name for name, metric in spec.eval_metric_ops.items() if is_metric_object(metric))
    if not objects:
        return ""
    return (
        f". Metric objects ({objects}) often read tensor values in update/compute and cannot be traced: "
        "use te.metrics functions (value, update_op pairs) in EVAL exports"
    )


def _example(signature_name: str, name: str, tensor: torch.Tensor) -> torch.Tensor:
    """Two rows of ``tensor``: torch.export specialises a batch of 0 or 1 to that size."""
    if tensor.dim() == 0:
        raise ValueError(
            f"Signature {signature_name!r} input {name!r} needs a batch dimension (dim 0). Received a scalar "
            "receiver tensor; give it shape (batch, ...)."
        )
    if tensor.shape[0] >= 2:
        return tensor[:2].clone()
    if tensor.shape[0] == 1:
        return tensor.expand(2, *tensor.shape[1:]).clone()
    return torch.zeros((2, *tensor.shape[1:]), dtype=tensor.dtype)


def _metric_tensors(graph: Graph) -> dict[str, torch.Tensor]:
    return {
        f"metric_state_{index}__{entry}": tensor
        for index, state in enumerate(metric_states(graph))
        for entry, tensor in state.named_tensors.items()
    }


def _class_names(output: Any) -> list[str] | None:
    if isinstance(output, ClassificationOutput) and output.classes is not None:
        return output.class_names
    return None


def _output_vocabularies(
    output: Any, predictions: Any, vocabularies: Mapping[str, Any]
) -> dict[str, list[str] | None]:
    """The outputs of ``output`` that carry a named prediction (key ``k`` or ``predictions/k`` holding
    the very tensor ``predictions[k]``), each with its vocabulary. A classify signature's ``classes``
    are named by its ``class_names`` instead.
    """
    if isinstance(output, ClassificationOutput) or not isinstance(predictions, Mapping):
        return {}
    outputs = output.outputs
    named: dict[str, list[str] | None] = {}
    for key, vocabulary in vocabularies.items():
        for name in (key, f"predictions/{key}"):
            if name in outputs and key in predictions and outputs[name] is predictions[key]:
                named[name] = None if vocabulary is None else list(vocabulary)
    return named


def _var_len_dims(parse_spec: Any) -> dict[str, tuple[int, ...]]:
    if not isinstance(parse_spec, Mapping):
        return {}
    return {name: (1,) for name, feature in parse_spec.items() if isinstance(feature, VarLenFeature)}


def _feature_spec_json(parse_spec: Any) -> dict[str, Any] | None:
    if not isinstance(parse_spec, Mapping):
        return None
    return {name: feature_spec_entry(feature) for name, feature in parse_spec.items()}
