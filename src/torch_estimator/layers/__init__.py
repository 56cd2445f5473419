"""``tf.compat.v1.layers`` as functions on the current Graph (``te.layers.dense``, ``conv2d``, ...).

Each call finds its variables by TF-style scoped names (``dense/kernel``, ``dnn/hiddenlayer_0/bias``),
creating them on the first call of model_fn, so a TF model body ports line by line.
"""

from torch_estimator.layers.convolutional import conv1d, conv2d, conv2d_transpose
from torch_estimator.layers.core import dense, dropout, flatten
from torch_estimator.layers.embedding import DEFAULT_EMBEDDING_INITIALIZER, embedding, embedding_lookup
from torch_estimator.layers.normalization import LAYER_NORM_EPSILON, batch_normalization, layer_normalization
from torch_estimator.layers.pooling import average_pooling1d, average_pooling2d, max_pooling1d, max_pooling2d

__all__ = [
    "DEFAULT_EMBEDDING_INITIALIZER",
    "LAYER_NORM_EPSILON",
    "average_pooling1d",
    "average_pooling2d",
    "batch_normalization",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "dense",
    "dropout",
    "embedding",
    "embedding_lookup",
    "flatten",
    "layer_normalization",
    "max_pooling1d",
    "max_pooling2d",
]
