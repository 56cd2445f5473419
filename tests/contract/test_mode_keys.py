"""ModeKeys (SEMANTICS (a)): TF's strings, Keras spellings, and modes the spec does not validate."""

import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.contract.mode_keys import is_eval, is_predict, is_train


def test_mode_strings_are_tf_strings():
    # PREDICT is 'infer', not 'predict': code comparing against the string keeps working.
    assert (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT) == ("train", "eval", "infer")


@pytest.mark.parametrize(
    ("mode", "train", "eval_", "predict"),
    [
        ("train", True, False, False),
        ("eval", False, True, False),
        ("test", False, True, False),  # Keras's name for eval
        ("infer", False, False, True),
        ("predict", False, False, True),  # Keras's name for infer
        ("training", False, False, False),
        (None, False, False, False),
    ],
)
def test_is_mode_accepts_both_spellings(mode, train, eval_, predict):
    assert (is_train(mode), is_eval(mode), is_predict(mode)) == (train, eval_, predict)


@pytest.mark.parametrize("mode", [None, "not-a-mode", "predict"])
def test_spec_does_not_validate_mode(mode):
    """Rules key off equality with TRAIN/EVAL/PREDICT, so an unknown mode requires no field."""
    spec = EstimatorSpec(mode)
    assert spec.mode == mode
    assert spec.predictions == {}
    # export_outputs are only defaulted for ModeKeys.PREDICT ('infer'); Keras's 'predict' is not it.
    assert spec.export_outputs is None


def test_mode_none_keeps_any_field():
    loss = torch.tensor([2.0])
    spec = EstimatorSpec(None, loss=loss, train_op=lambda: None)
    assert spec.loss.shape == ()
