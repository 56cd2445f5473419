"""``te.losses``: the regularization losses of ``tf.compat.v1.losses``.

``get_regularization_losses()`` gives what the ``regularizer=`` arguments of ``te.get_variable``,
``te.variable_scope`` and the layers added in this model_fn call; add ``get_regularization_loss()``
to the loss, as a TF model_fn did.
"""

from torch_estimator.graph.regularization import get_regularization_loss, get_regularization_losses

__all__ = ["get_regularization_loss", "get_regularization_losses"]
