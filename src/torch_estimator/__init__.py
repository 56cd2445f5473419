"""torch-estimator: TensorFlow's Estimator system (model_fn -> EstimatorSpec -> Estimator) on PyTorch.

>>> import torch_estimator as te
>>> te.ModeKeys.PREDICT
'infer'
"""

from torch_estimator import (
    experimental,
    export,
    graph,
    initializers,
    layers,
    metrics,
    saved_model,
    summary,
    train,
)
from torch_estimator.checkpoint import CheckpointNotFoundError, CorruptCheckpointError, ModelDirLockedError
from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import EstimatorSpec
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.estimator import Estimator
from torch_estimator.graph import Graph, get_module, get_variable, identity, variable_scope
from torch_estimator.hooks import (
    CheckpointSaverHook,
    CheckpointSaverListener,
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    LoggingTensorHook,
    NanLossDuringTrainingError,
    NanTensorHook,
    ProfilerHook,
    SecondOrStepTimer,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from torch_estimator.metrics import get_metric

__version__ = "0.1.0"

__all__ = [
    "CheckpointNotFoundError",
    "CheckpointSaverHook",
    "CheckpointSaverListener",
    "CorruptCheckpointError",
    "Estimator",
    "EstimatorSpec",
    "FeedFnHook",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "Graph",
    "LoggingTensorHook",
    "ModeKeys",
    "ModelDirLockedError",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "ProfilerHook",
    "RunConfig",
    "SecondOrStepTimer",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepCounterHook",
    "StopAtStepHook",
    "SummarySaverHook",
    "experimental",
    "export",
    "get_metric",
    "get_module",
    "get_variable",
    "graph",
    "identity",
    "initializers",
    "layers",
    "metrics",
    "saved_model",
    "summary",
    "train",
    "variable_scope",
]
