"""The standard SessionRunHooks (TF's ``tf.compat.v1.train.*Hook``), the hook list and the timer."""

from torch_estimator.contract.hook_types import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from torch_estimator.hooks.basic_hooks import (
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    LoggingTensorHook,
    NanTensorHook,
    StopAtStepHook,
)
from torch_estimator.hooks.checkpoint_hook import CheckpointSaverHook, CheckpointSaverListener
from torch_estimator.hooks.early_stopping import StopAtCheckpointStepHook, StopOnPredicateHook
from torch_estimator.hooks.errors import NanLossDuringTrainingError
from torch_estimator.hooks.hook_list import HookList, overrides
from torch_estimator.hooks.profiler_hook import ProfilerHook
from torch_estimator.hooks.protocols import HookSession, SaverLike, SummaryWriterLike
from torch_estimator.hooks.summary_hooks import StepCounterHook, SummarySaverHook
from torch_estimator.hooks.timer import NeverTriggerTimer, SecondOrStepTimer

__all__ = [
    "CheckpointSaverHook",
    "CheckpointSaverListener",
    "FeedFnHook",
    "FinalOpsHook",
    "GlobalStepWaiterHook",
    "HookList",
    "HookSession",
    "LoggingTensorHook",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "NeverTriggerTimer",
    "ProfilerHook",
    "SaverLike",
    "SecondOrStepTimer",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepCounterHook",
    "StopAtCheckpointStepHook",
    "StopAtStepHook",
    "StopOnPredicateHook",
    "SummarySaverHook",
    "SummaryWriterLike",
    "overrides",
]
