"""Heads: a loss, predictions, export outputs and eval metrics from logits, per problem type.

``te.Reduction`` is ``tf.losses.Reduction``; ``te.PredictionKeys`` names the prediction keys.

>>> import torch_estimator as te
>>> te.MultiClassHead(n_classes=3).logits_dimension
3
"""

from torch_estimator.canned.heads.binary_class_head import BinaryClassHead
from torch_estimator.canned.heads.keys import PredictionKeys
from torch_estimator.canned.heads.losses import Reduction
from torch_estimator.canned.heads.multi_class_head import MultiClassHead
from torch_estimator.canned.heads.multi_label_head import MultiLabelHead
from torch_estimator.canned.heads.protocol import Head
from torch_estimator.canned.heads.regression_head import RegressionHead

__all__: list[str] = [
    "BinaryClassHead",
    "Head",
    "MultiClassHead",
    "MultiLabelHead",
    "PredictionKeys",
    "Reduction",
    "RegressionHead",
]
