"""te.summary.scalar / histogram / image / text inside model_fn: tags, stored values, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, variable_scope
from torch_estimator.summary import histogram, image, scalar, text


def _run(body, features=None):
    """Runs ``body(features)`` as a model_fn in a fresh Graph; returns the Graph."""

    def model_fn(features, mode):
        body(features)
        return EstimatorSpec(mode, predictions={"x": torch.zeros(1)})

    graph = Graph(model_fn)
    graph(features if features is not None else torch.ones(2), None, ModeKeys.PREDICT)
    return graph


@pytest.mark.parametrize(
    ("op", "args"),
    [(scalar, (1.0,)), (histogram, (torch.ones(2),)), (image, (torch.ones(1, 2, 2, 1),)), (text, ("hi",))],
)
def test_summary_ops_outside_model_fn_are_runtime_errors(op, args):
    with pytest.raises(RuntimeError, match=r"must be called inside model_fn"):
        op("name", *args)


def test_values_stay_tensors_detached_and_unconverted():
    features = torch.ones(3, requires_grad=True)
    recorded = {}

    def body(features):
        total = (features * 2).sum()
        recorded["total"] = total
        scalar("total", total)
        histogram("features", features)

    graph = _run(body, features)
    kind, value = graph.summaries["total"]
    assert kind == "scalar"
    assert isinstance(value, torch.Tensor) and not value.requires_grad
    # Same storage as the model_fn's tensor: no copy, no conversion to Python.
    assert value.data_ptr() == recorded["total"].data_ptr()
    assert graph.summaries["features"][0] == "histogram"


def test_tags_follow_scope_family_and_are_uniqued_within_a_call():
    """TF 1: scope 'outer', family 'family', name 'inner' -> 'family/outer/family/inner', then '_1'."""

    def body(features):
        scalar("loss", 1.0)
        scalar("loss", 2.0)
        with variable_scope("outer"):
            scalar("inner", 3.0, family="family")
            scalar("inner", 4.0, family="family")
            histogram("weights", features)
        scalar("bad name!", 5.0)

    graph = _run(body)
    assert list(graph.summaries) == [
        "loss",
        "loss_1",
        "family/outer/family/inner",
        "family/outer/family/inner_1",
        "outer/weights",
        "bad_name_",
    ]
    assert graph.summaries["loss_1"] == ("scalar", 2.0)


def test_summaries_are_reset_on_every_model_fn_call():
    calls = []

    def model_fn(features, mode):
        calls.append(1)
        if len(calls) == 1:
            scalar("only_first", 1.0)
        return EstimatorSpec(mode, predictions={"x": features})

    graph = Graph(model_fn)
    graph(torch.ones(1), None, ModeKeys.PREDICT)
    assert list(graph.summaries) == ["only_first"]
    graph(torch.ones(1), None, ModeKeys.PREDICT)
    assert graph.summaries == {}


def test_ops_return_the_tag():
    tags = []
    _run(lambda features: tags.append(scalar("a", 1.0, family="f")))
    assert tags == ["f/f/a"]


def test_scalar_rejects_non_scalars():
    with pytest.raises(ValueError, match=r"needs a scalar \(0-d\) tensor. Received shape \(3,\)"):
        _run(lambda features: scalar("s", torch.ones(3)))
    with pytest.raises(TypeError, match=re.escape("needs a tensor or a number. Received: str")):
        _run(lambda features: scalar("s", "1.0"))
    # One element of any rank is a scalar, as is a numpy number.
    graph = _run(lambda features: (scalar("one", torch.ones(1, 1)), scalar("np", np.float32(2.0))))
    assert set(graph.summaries) == {"one", "np"}


def test_image_validation_and_max_outputs():
    with pytest.raises(ValueError, match=r"needs a 4-D tensor .* Received: \(2, 2, 3\)"):
        _run(lambda features: image("i", torch.ones(2, 2, 3)))
    with pytest.raises(ValueError, match=r"with 1, 3 or 4 channels .* Received: \(1, 3, 4, 2\)"):
        _run(lambda features: image("i", torch.ones(1, 3, 4, 2)))
    with pytest.raises(ValueError, match=re.escape("needs uint8 or float pixels. Received torch.int64")):
        _run(lambda features: image("i", torch.ones(1, 2, 2, 3, dtype=torch.int64)))
    with pytest.raises(ValueError, match=re.escape("needs max_outputs >= 1. Received: 0")):
        _run(lambda features: image("i", torch.ones(1, 2, 2, 3), max_outputs=0))
    graph = _run(lambda features: image("i", torch.zeros(5, 2, 2, 1, dtype=torch.uint8)))
    assert graph.summaries["i"][1].shape == (3, 2, 2, 1)  # max_outputs defaults to 3


def test_text_accepts_strings_and_arrays_of_them():
    graph = _run(lambda features: (text("a", "hello"), text("b", ["x", "y"]), text("c", np.array([b"z"]))))
    assert graph.summaries["a"] == ("text", "hello")
    assert graph.summaries["b"] == ("text", ["x", "y"])
    with pytest.raises(
        TypeError, match=re.escape("needs a str, bytes, or a list / numpy array of them. Received: int")
    ):
        _run(lambda features: text("d", 3))


def test_histogram_rejects_complex_values():
    with pytest.raises(TypeError, match="needs real values"):
        _run(lambda features: histogram("h", torch.ones(2, dtype=torch.complex64)))
