"""Canned estimators and heads: each only builds a model_fn from a head and a network."""

from torch_estimator.canned import baseline, dnn, dnn_linear_combined, heads, linear
from torch_estimator.canned.baseline import *  # noqa: F403
from torch_estimator.canned.dnn import *  # noqa: F403
from torch_estimator.canned.dnn_linear_combined import *  # noqa: F403
from torch_estimator.canned.heads import *  # noqa: F403
from torch_estimator.canned.linear import *  # noqa: F403

__all__ = [*baseline.__all__, *dnn.__all__, *dnn_linear_combined.__all__, *heads.__all__, *linear.__all__]
