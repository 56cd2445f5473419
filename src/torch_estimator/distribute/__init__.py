"""Where this process sits in a cluster, and how an Estimator runs: RunConfig and TF_CONFIG parsing."""

from torch_estimator.distribute.run_config import RunConfig
from torch_estimator.distribute.tf_config import TF_CONFIG_ENV, ClusterInfo, TaskType, parse_tf_config

__all__ = ["TF_CONFIG_ENV", "ClusterInfo", "RunConfig", "TaskType", "parse_tf_config"]
