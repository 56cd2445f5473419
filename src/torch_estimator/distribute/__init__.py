"""Where this process sits in a cluster, and how several processes train together.

RunConfig and TF_CONFIG parsing; the process group a launch (torchrun or TF_CONFIG) asks for;
distribution strategies (DDP); the input context an input_fn uses to shard its data.
"""

from torch_estimator.distribute.input_context import InputContext, shard
from torch_estimator.distribute.launch import ProcessGroupSpec, process_group_spec
from torch_estimator.distribute.process_group import DistributedTrainingError
from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.distribute.strategy import DDPStrategy, FSDPStrategy, SingleProcessStrategy, Strategy
from torch_estimator.distribute.tf_config import TF_CONFIG_ENV, ClusterInfo, TaskType, parse_tf_config

__all__ = [
    "TF_CONFIG_ENV",
    "ClusterInfo",
    "DDPStrategy",
    "DistributedTrainingError",
    "FSDPStrategy",
    "InputContext",
    "ProcessGroupSpec",
    "RunConfig",
    "SingleProcessStrategy",
    "Strategy",
    "TaskType",
    "parse_tf_config",
    "process_group_spec",
    "shard",
]
