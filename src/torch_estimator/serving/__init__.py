"""``torch-estimator serve``: TF Serving's REST API over exports loaded with ``te.saved_model``.

Reads only the export format (``torch_estimator.saved_model``), never the engine or the model's code.
"""

from torch_estimator.serving.app import RestApp
from torch_estimator.serving.batching import Batcher
from torch_estimator.serving.config import (
    BatchingOptions,
    ModelConfig,
    VersionPolicy,
    read_batching_parameters_file,
    read_model_config_file,
)
from torch_estimator.serving.errors import (
    InternalError,
    InvalidArgumentError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServingError,
    UnavailableError,
)
from torch_estimator.serving.manager import ModelManager, ServedVersion, VersionStatus
from torch_estimator.serving.server import ModelServer, ServerOptions, serve

__all__ = [
    "Batcher",
    "BatchingOptions",
    "InternalError",
    "InvalidArgumentError",
    "MethodNotAllowedError",
    "ModelConfig",
    "ModelManager",
    "ModelServer",
    "NotFoundError",
    "PayloadTooLargeError",
    "RestApp",
    "ServedVersion",
    "ServerOptions",
    "ServingError",
    "UnavailableError",
    "VersionPolicy",
    "VersionStatus",
    "read_batching_parameters_file",
    "read_model_config_file",
    "serve",
]
