"""Optimizers, train ops, learning-rate schedules, hooks and savers (``tf.compat.v1.train``)."""

from torch_estimator.graph.global_step import get_global_step, get_or_create_global_step
from torch_estimator.train.optimizer import Optimizer, OptimizerState, group

__all__ = ["Optimizer", "OptimizerState", "get_global_step", "get_or_create_global_step", "group"]
