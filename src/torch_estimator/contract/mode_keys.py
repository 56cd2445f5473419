"""The three modes a model_fn is called in."""

from __future__ import annotations

__all__ = ["ModeKeys", "is_eval", "is_predict", "is_train"]


class ModeKeys:
    """Standard names for model modes, as tf.estimator spells them.

    ``PREDICT`` is ``"infer"``, not ``"predict"``: code that compares against the string keeps working.

    >>> ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT
    ('train', 'eval', 'infer')
    """

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


# Keras spells the same modes 'train', 'test', 'predict'; both spellings name one mode.
_TRAIN_NAMES = frozenset({"train"})
_EVAL_NAMES = frozenset({"eval", "test"})
_PREDICT_NAMES = frozenset({"infer", "predict"})


def is_train(mode: object) -> bool:
    """True for ``'train'``."""
    return mode in _TRAIN_NAMES


def is_eval(mode: object) -> bool:
    """True for ``'eval'`` or Keras's ``'test'``."""
    return mode in _EVAL_NAMES


def is_predict(mode: object) -> bool:
    """True for ``'infer'`` or Keras's ``'predict'``."""
    return mode in _PREDICT_NAMES
