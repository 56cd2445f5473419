"""The Graph that runs model_fn, and TF's variable API on it."""

from torch_estimator.graph.global_step import (
    GLOBAL_STEP_NAME,
    create_global_step,
    get_global_step,
    get_or_create_global_step,
)
from torch_estimator.graph.graph import Graph, require_graph, set_output_vocabulary
from torch_estimator.graph.variables import get_module, get_variable, identity, variable_scope

__all__ = [
    "GLOBAL_STEP_NAME",
    "Graph",
    "create_global_step",
    "get_global_step",
    "get_module",
    "get_or_create_global_step",
    "get_variable",
    "identity",
    "require_graph",
    "set_output_vocabulary",
    "variable_scope",
]
