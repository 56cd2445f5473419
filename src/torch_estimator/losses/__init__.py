"""``te.losses``: ``tf.compat.v1.losses``, the loss functions and collections of TF1 model_fns.

Each loss function takes TF's arguments, returns TF's number (``Reduction.SUM_BY_NONZERO_WEIGHTS``
by default: the weighted sum over the count of nonzero weights) and, inside model_fn, adds it to
the ``LOSSES`` collection of the call, so that ``get_total_loss()`` gives the sum of the losses and
of ``get_regularization_losses()`` (what the ``regularizer=`` arguments of ``te.get_variable``,
``te.variable_scope`` and the layers added), as a TF model_fn did::

    te.losses.sparse_softmax_cross_entropy(labels, logits)
    loss = te.losses.get_total_loss()

``te.losses.Reduction`` is ``tf.compat.v1.losses.Reduction``; ``te.Reduction`` is TF2's, for heads.
"""

from torch_estimator.graph.regularization import get_regularization_loss, get_regularization_losses
from torch_estimator.losses.collection import (
    LOSSES,
    REGULARIZATION_LOSSES,
    add_loss,
    get_losses,
    get_total_loss,
)
from torch_estimator.losses.functions import (
    absolute_difference,
    cosine_distance,
    hinge_loss,
    huber_loss,
    log_loss,
    mean_pairwise_squared_error,
    mean_squared_error,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    sparse_softmax_cross_entropy,
)
from torch_estimator.losses.reduction import Reduction, compute_weighted_loss

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "Reduction",
    "absolute_difference",
    "add_loss",
    "compute_weighted_loss",
    "cosine_distance",
    "get_losses",
    "get_regularization_loss",
    "get_regularization_losses",
    "get_total_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_pairwise_squared_error",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]
