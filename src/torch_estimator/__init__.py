"""torch-estimator: TensorFlow's Estimator system (model_fn -> EstimatorSpec -> Estimator) on PyTorch.

>>> import torch_estimator as te
>>> te.ModeKeys.PREDICT
'infer'
"""

from torch_estimator import canned as _canned
from torch_estimator import (
    constraints,
    distribute,
    experimental,
    export,
    feature_column,
    graph,
    initializers,
    inputs,
    layers,
    losses,
    metrics,
    regularizers,
    saved_model,
    summary,
    train,
)
from torch_estimator import training as _training
from torch_estimator.canned import *  # noqa: F403
from torch_estimator.checkpoint import CheckpointNotFoundError, CorruptCheckpointError, ModelDirLockedError
from torch_estimator.checkpoint import warm_start as _warm_start
from torch_estimator.checkpoint.warm_start import *  # noqa: F403
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
from torch_estimator.training import *  # noqa: F403

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
    "losses",
    "metrics",
    "regularizers",
    "constraints",
    "saved_model",
    "summary",
    "train",
    "variable_scope",
    "distribute",
    "feature_column",
    "inputs",
    *_canned.__all__,
    *_training.__all__,
    *_warm_start.__all__,
]
