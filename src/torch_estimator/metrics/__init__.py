"""``te.metrics``: the ``tf.compat.v1.metrics`` functions, and Metric objects for eval_metric_ops.

Each function takes TF's arguments, keeps its state in the current Graph (named like layers:
``accuracy``, ``accuracy_1``, ... in call order, so every call of model_fn finds it again), and
returns ``(value, update_op)``: the Estimator runs ``update_op`` once per eval batch and reads
``value`` once at the end. Calling the function or reading the value never updates the state.
State is zero in each ``evaluate``, never checkpointed, and made of sums, so ranks merge it by
summing (``metric_states(graph)`` lists it; ``state.tensors()`` returns it). An update op queues
its batch, and the state folds queued batches in bulk, before anything reads it (``state.py``):
tensors given to a metric must not be modified in place afterwards.

>>> import torch
>>> from torch_estimator.graph import Graph
>>> from torch_estimator.contract.spec import EstimatorSpec
>>> def model_fn(features, labels, mode):
...     metrics = {"accuracy": accuracy(labels, features.argmax(-1))}
...     return EstimatorSpec(mode, loss=torch.zeros(()), eval_metric_ops=metrics)
>>> graph = Graph(model_fn)
>>> for scores, labels in [(torch.eye(2), torch.tensor([0, 0])), (torch.eye(2), torch.tensor([0, 1]))]:
...     value, update_op = graph(scores, labels, "eval").eval_metric_ops["accuracy"]
...     update_op.run()
>>> value.compute()
tensor(0.7500)
"""

from torch_estimator.contract.metric_types import MetricValue, UpdateOp
from torch_estimator.metrics.at_thresholds import (
    false_negatives_at_thresholds,
    false_positives_at_thresholds,
    precision_at_thresholds,
    recall_at_thresholds,
    true_negatives_at_thresholds,
    true_positives_at_thresholds,
)
from torch_estimator.metrics.confusion import (
    false_negatives,
    false_positives,
    precision,
    recall,
    true_negatives,
    true_positives,
)
from torch_estimator.metrics.core import accuracy, mean, mean_tensor, percentage_below
from torch_estimator.metrics.curves import auc, sensitivity_at_specificity, specificity_at_sensitivity
from torch_estimator.metrics.get_metric import get_metric, metric_objects
from torch_estimator.metrics.iou import mean_iou, mean_per_class_accuracy
from torch_estimator.metrics.ranking import (
    average_precision_at_k,
    precision_at_k,
    precision_at_top_k,
    recall_at_k,
    recall_at_top_k,
)
from torch_estimator.metrics.regression import (
    mean_absolute_error,
    mean_cosine_distance,
    mean_relative_error,
    mean_squared_error,
    root_mean_squared_error,
)
from torch_estimator.metrics.state import MetricState, metric_states

# TF1's deprecated names for the same functions (tf.compat.v1.metrics still has them).
sparse_precision_at_k = precision_at_k
sparse_average_precision_at_k = average_precision_at_k

__all__ = [
    "MetricState",
    "MetricValue",
    "UpdateOp",
    "accuracy",
    "auc",
    "average_precision_at_k",
    "false_negatives",
    "false_negatives_at_thresholds",
    "false_positives",
    "false_positives_at_thresholds",
    "get_metric",
    "mean",
    "mean_absolute_error",
    "mean_cosine_distance",
    "mean_iou",
    "mean_per_class_accuracy",
    "mean_relative_error",
    "mean_squared_error",
    "mean_tensor",
    "metric_objects",
    "metric_states",
    "percentage_below",
    "precision",
    "precision_at_k",
    "precision_at_thresholds",
    "precision_at_top_k",
    "recall",
    "recall_at_k",
    "recall_at_thresholds",
    "recall_at_top_k",
    "root_mean_squared_error",
    "sensitivity_at_specificity",
    "sparse_average_precision_at_k",
    "sparse_precision_at_k",
    "specificity_at_sensitivity",
    "true_negatives",
    "true_negatives_at_thresholds",
    "true_positives",
    "true_positives_at_thresholds",
]
