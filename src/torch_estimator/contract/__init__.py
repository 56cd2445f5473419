"""The model_fn contract: modes, EstimatorSpec, export outputs, and the types the spec checks."""

from torch_estimator.contract.current import current_graph, graph_context
from torch_estimator.contract.export_output import (
    ClassificationOutput,
    EvalOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
    TrainOutput,
)
from torch_estimator.contract.fn_args import (
    call_input_fn,
    call_model_fn,
    fn_args,
    split_input_fn_result,
    verify_model_fn_args,
)
from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.contract.metric_types import MetricLike, MetricValue, UpdateOp, is_metric_object
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.scaffold import Scaffold
from torch_estimator.contract.spec import DEFAULT_SERVING_KEY, EstimatorSpec
from torch_estimator.contract.train_op import TrainOp

__all__ = [
    "DEFAULT_SERVING_KEY",
    "ClassificationOutput",
    "EstimatorSpec",
    "EvalOutput",
    "ExportOutput",
    "MetricLike",
    "MetricValue",
    "ModeKeys",
    "PredictOutput",
    "RegressionOutput",
    "Scaffold",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "TrainOp",
    "TrainOutput",
    "UpdateOp",
    "call_input_fn",
    "call_model_fn",
    "current_graph",
    "fn_args",
    "graph_context",
    "is_metric_object",
    "split_input_fn_result",
    "verify_model_fn_args",
]
