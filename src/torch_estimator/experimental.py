"""``te.experimental``: tf.estimator.experimental's names."""

from torch_estimator.summary.reader import read_eval_metrics

__all__ = ["read_eval_metrics"]
