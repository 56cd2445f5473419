"""EstimatorSpec (SEMANTICS (b)): fields, per-mode requirements, validation order and defaults."""

import functools

import numpy as np
import pytest
import torch

from torch_estimator.contract import (
    ClassificationOutput,
    EstimatorSpec,
    MetricValue,
    ModeKeys,
    PredictOutput,
    RegressionOutput,
    Scaffold,
    SessionRunHook,
    TrainOp,
    UpdateOp,
    graph_context,
)

TRAIN, EVAL, PREDICT = ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT


class Hook(SessionRunHook):
    pass


def noop():
    return None


def scalar(value=1.0):
    return torch.tensor(value)


# -- shape of the type ------------------------------------------------------------------------


def test_eleven_fields_in_tf_order():
    assert EstimatorSpec._fields == (
        "mode",
        "predictions",
        "loss",
        "train_op",
        "eval_metric_ops",
        "export_outputs",
        "training_chief_hooks",
        "training_hooks",
        "scaffold",
        "evaluation_hooks",
        "prediction_hooks",
    )


def test_is_an_immutable_tuple():
    spec = EstimatorSpec(EVAL, loss=scalar())
    assert isinstance(spec, tuple)
    assert len(spec) == 11
    with pytest.raises(AttributeError):
        spec.loss = scalar(2.0)
    with pytest.raises(TypeError):
        spec[2] = scalar(2.0)


def test_positional_arguments_follow_field_order():
    loss, op, predictions = scalar(), TrainOp(noop), {"p": torch.ones(2)}
    spec = EstimatorSpec(TRAIN, predictions, loss, op)
    assert spec.predictions is predictions
    assert spec.loss is loss
    assert spec.train_op is op


# -- per-mode requirements ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kwargs", "phrase"),
    [
        (TRAIN, {"loss": scalar()}, "Missing train_op"),
        (TRAIN, {"train_op": noop}, "Missing loss"),
        (EVAL, {}, "Missing loss"),
        (EVAL, {"train_op": noop}, "Missing loss"),
        (PREDICT, {"loss": scalar()}, "Missing predictions"),
    ],
)
def test_required_fields_per_mode(mode, kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        EstimatorSpec(mode, **kwargs)


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        (TRAIN, {"loss": scalar(), "train_op": noop}),
        (EVAL, {"loss": scalar()}),
        (PREDICT, {"predictions": {"p": torch.ones(1)}}),
        # Any field may be given in any mode.
        (PREDICT, {"predictions": torch.ones(1), "loss": scalar(), "train_op": noop}),
        (EVAL, {"loss": scalar(), "train_op": noop, "predictions": {"p": torch.ones(1)}}),
    ],
)
def test_minimal_valid_specs(mode, kwargs):
    spec = EstimatorSpec(mode, **kwargs)
    assert spec.mode == mode


# -- validation order: first failure wins --------------------------------------------------------


def test_train_op_is_checked_before_loss():
    with pytest.raises(ValueError, match="Missing train_op"):
        EstimatorSpec(TRAIN, train_op=None, loss=None)


@pytest.mark.parametrize(
    ("kwargs", "error", "phrase"),
    [
        # train_op, then loss
        ({"train_op": torch.ones(()), "loss": "bad"}, TypeError, "train_op must be Operation or Tensor"),
        # loss, then predictions
        ({"loss": 1.0, "predictions": {"k": 1}}, TypeError, "loss must be Tensor"),
        ({"loss": torch.ones(2), "predictions": {"k": 1}}, ValueError, "Loss must be scalar"),
        # predictions, then export_outputs
        ({"predictions": {"k": 1}, "export_outputs": "bad"}, TypeError, r"predictions\['k'\] must be Tensor"),
        # export_outputs, then hooks
        ({"export_outputs": "bad", "training_hooks": [1]}, TypeError, "export_outputs must be dict"),
        # hooks, then eval_metric_ops
        ({"training_hooks": [1], "eval_metric_ops": [1]}, TypeError, "All hooks must be SessionRunHook"),
        # eval_metric_ops, then scaffold
        ({"eval_metric_ops": [1], "scaffold": "bad"}, TypeError, "eval_metric_ops must be a dict"),
        ({"scaffold": "bad"}, TypeError, r"scaffold must be tf\.train\.Scaffold"),
    ],
)
def test_validation_order(kwargs, error, phrase):
    base = {"predictions": {"p": torch.ones(1)}}
    with pytest.raises(error, match=phrase):
        EstimatorSpec(PREDICT, **{**base, **kwargs})


# -- train_op -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "train_op",
    [TrainOp(noop), noop, lambda: None, functools.partial(print, end=""), Hook().begin],
    ids=["TrainOp", "function", "lambda", "partial", "bound method"],
)
def test_train_op_accepts_train_ops_and_zero_arg_callables(train_op):
    spec = EstimatorSpec(TRAIN, loss=scalar(), train_op=train_op)
    assert spec.train_op is train_op


@pytest.mark.parametrize(
    "train_op",
    [torch.ones(()), torch.nn.Parameter(torch.ones(2)), 1, 0.5, "train", np.float32(1.0)],
    ids=["tensor", "parameter", "int", "float", "str", "numpy"],
)
def test_train_op_rejects_tensors_numbers_and_strings(train_op):
    with pytest.raises(TypeError, match="train_op must be Operation or Tensor") as info:
        EstimatorSpec(TRAIN, loss=scalar(), train_op=train_op)
    assert "Received" in str(info.value)


def test_train_op_from_another_graph_is_rejected():
    """A TrainOp belongs to the Graph current when it was made; another Graph's call refuses it."""
    earlier, current = object(), object()
    with graph_context(earlier):
        op = TrainOp(noop)
    assert op.graph is earlier
    with graph_context(current), pytest.raises(ValueError, match="must be from the default graph"):
        EstimatorSpec(TRAIN, loss=scalar(), train_op=op)
    with graph_context(earlier):
        assert EstimatorSpec(TRAIN, loss=scalar(), train_op=op).train_op is op


def test_train_op_in_another_graph_is_fine_outside_any_graph():
    with graph_context(object()):
        op = TrainOp(noop)
    assert EstimatorSpec(TRAIN, loss=scalar(), train_op=op).train_op is op


def test_train_op_not_required_outside_train():
    assert EstimatorSpec(EVAL, loss=scalar()).train_op is None


# -- loss ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        1.0,
        1,
        np.float32(1.0),
        np.array(1.0),
        [1.0],
        torch.tensor([1.0]).to_sparse(),
    ],
    ids=["float", "int", "numpy scalar", "numpy array", "list", "sparse"],
)
def test_loss_must_be_dense_tensor(loss):
    with pytest.raises(TypeError, match="loss must be Tensor"):
        EstimatorSpec(EVAL, loss=loss)


@pytest.mark.parametrize("shape", [(2,), (1, 2), (0,), (2, 2)])
def test_loss_must_have_one_element(shape):
    with pytest.raises(ValueError, match="Loss must be scalar"):
        EstimatorSpec(EVAL, loss=torch.ones(shape))


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
def test_one_element_loss_is_reshaped_to_scalar(shape):
    loss = torch.full(shape, 0.25)
    spec = EstimatorSpec(EVAL, loss=loss)
    assert spec.loss.shape == ()
    assert spec.loss.item() == 0.25


def test_reshaped_loss_keeps_gradient():
    """d(2w)/dw = 2, through the [1] -> [] reshape."""
    weight = torch.ones(1, requires_grad=True)
    spec = EstimatorSpec(EVAL, loss=(2 * weight).reshape(1, 1))
    spec.loss.backward()
    assert weight.grad.tolist() == [2.0]


def test_scalar_loss_is_kept_as_is():
    loss = scalar(3.0)
    assert EstimatorSpec(EVAL, loss=loss).loss is loss


# -- predictions --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [TRAIN, EVAL, None])
def test_missing_predictions_become_empty_dict_outside_predict(mode):
    spec = EstimatorSpec(mode, loss=scalar(), train_op=noop)
    assert spec.predictions == {}


@pytest.mark.parametrize(
    "value",
    [1.0, np.ones(2), [1.0], torch.tensor([1.0, 0.0]).to_sparse()],
    ids=["float", "numpy", "list", "sparse"],
)
def test_prediction_values_must_be_dense_tensors(value):
    with pytest.raises(TypeError, match=r"predictions\['k'\] must be Tensor"):
        EstimatorSpec(PREDICT, predictions={"ok": torch.ones(1), "k": value})


def test_non_dict_predictions_must_be_a_tensor():
    with pytest.raises(TypeError, match="predictions must be Tensor"):
        EstimatorSpec(PREDICT, predictions=[torch.ones(1)])


def test_tensor_predictions_are_kept():
    predictions = torch.arange(3.0)
    spec = EstimatorSpec(PREDICT, predictions=predictions)
    assert spec.predictions is predictions
    assert spec.export_outputs["serving_default"].outputs["output"] is predictions


# -- export_outputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [TRAIN, EVAL])
@pytest.mark.parametrize("garbage", [None, "garbage", {"a": 1}, [1, 2]])
def test_export_outputs_are_kept_untouched_outside_predict(mode, garbage):
    spec = EstimatorSpec(mode, loss=scalar(), train_op=noop, export_outputs=garbage)
    assert spec.export_outputs is garbage


def test_default_export_output_is_predict_output_of_predictions():
    predictions = {"a": torch.ones(2), "b": torch.zeros(2)}
    spec = EstimatorSpec(PREDICT, predictions=predictions)
    assert list(spec.export_outputs) == ["serving_default"]
    default = spec.export_outputs["serving_default"]
    assert isinstance(default, PredictOutput)
    assert default.outputs.keys() == predictions.keys()
    assert all(default.outputs[key] is predictions[key] for key in predictions)


def test_single_non_default_output_is_also_the_default_and_dict_is_mutated():
    output = RegressionOutput(torch.ones(2))
    given = {"regress": output}
    spec = EstimatorSpec(PREDICT, predictions={"p": torch.ones(2)}, export_outputs=given)
    assert given == {"regress": output, "serving_default": output}
    assert spec.export_outputs is given
    assert spec.export_outputs["serving_default"] is spec.export_outputs["regress"]


def test_single_default_output_stays_single():
    output = PredictOutput(torch.ones(1))
    spec = EstimatorSpec(PREDICT, predictions=torch.ones(1), export_outputs={"serving_default": output})
    assert spec.export_outputs == {"serving_default": output}


def test_multiple_outputs_need_a_default():
    outputs = {"a": PredictOutput(torch.ones(1)), "b": RegressionOutput(torch.ones(1))}
    with pytest.raises(
        ValueError, match="Multiple export_outputs were provided, but none of them is specified"
    ):
        EstimatorSpec(PREDICT, predictions=torch.ones(1), export_outputs=outputs)
    outputs["serving_default"] = ClassificationOutput(scores=torch.ones(1, 2))
    spec = EstimatorSpec(PREDICT, predictions=torch.ones(1), export_outputs=outputs)
    assert len(spec.export_outputs) == 3


@pytest.mark.parametrize("outputs", [[PredictOutput(torch.ones(1))], "serving_default", (1,)])
def test_export_outputs_must_be_a_dict(outputs):
    with pytest.raises(TypeError, match="export_outputs must be dict"):
        EstimatorSpec(PREDICT, predictions=torch.ones(1), export_outputs=outputs)


def test_export_output_values_must_be_export_outputs_before_default_check():
    """TF checks the value types first, so a bad value wins over a missing default."""
    outputs = {"a": PredictOutput(torch.ones(1)), "b": torch.ones(1)}
    with pytest.raises(TypeError, match="Values in export_outputs must be ExportOutput objects"):
        EstimatorSpec(PREDICT, predictions=torch.ones(1), export_outputs=outputs)


# -- hooks --------------------------------------------------------------------------------------

HOOK_FIELDS = ("training_hooks", "evaluation_hooks", "prediction_hooks", "training_chief_hooks")


@pytest.mark.parametrize("field", HOOK_FIELDS)
def test_hooks_default_to_empty_tuple(field):
    assert getattr(EstimatorSpec(EVAL, loss=scalar()), field) == ()


@pytest.mark.parametrize("field", HOOK_FIELDS)
def test_hook_iterables_become_tuples(field):
    first, second = Hook(), Hook()
    for given in ([first, second], (first, second), iter([first, second])):
        spec = EstimatorSpec(EVAL, loss=scalar(), **{field: given})
        assert getattr(spec, field) == (first, second)
        assert type(getattr(spec, field)) is tuple


@pytest.mark.parametrize("field", HOOK_FIELDS)
@pytest.mark.parametrize("bad", [object(), "hook", lambda: None])
def test_hooks_must_be_session_run_hooks(field, bad):
    with pytest.raises(TypeError, match="All hooks must be SessionRunHook instances") as info:
        EstimatorSpec(EVAL, loss=scalar(), **{field: [Hook(), bad]})
    assert field in str(info.value)


def test_hook_fields_are_checked_in_tf_order():
    """training_hooks, evaluation_hooks, prediction_hooks, training_chief_hooks."""
    bad = {field: [f"bad {field}"] for field in HOOK_FIELDS}
    for field in HOOK_FIELDS:
        with pytest.raises(TypeError, match=f"Received in {field}:"):
            EstimatorSpec(EVAL, loss=scalar(), **bad)
        del bad[field]


# -- eval_metric_ops ----------------------------------------------------------------------------


def metric_pair(name="m"):
    return MetricValue(lambda: 1.0, name=name), UpdateOp(noop, name=name)


def test_eval_metric_ops_default_to_empty_dict():
    assert EstimatorSpec(EVAL, loss=scalar()).eval_metric_ops == {}


@pytest.mark.parametrize("metrics", [[metric_pair()], "accuracy", metric_pair()])
def test_eval_metric_ops_must_be_a_dict(metrics):
    with pytest.raises(TypeError, match="eval_metric_ops must be a dict"):
        EstimatorSpec(EVAL, loss=scalar(), eval_metric_ops=metrics)


@pytest.mark.parametrize(
    "value",
    [list(metric_pair()), (*metric_pair(), noop), (metric_pair()[0],), torch.ones(()), 1.0],
    ids=["list", "3-tuple", "1-tuple", "tensor", "float"],
)
def test_metric_values_must_be_pairs(value):
    with pytest.raises(TypeError, match=r"\(metric_value, update_op\) tuples"):
        EstimatorSpec(EVAL, loss=scalar(), eval_metric_ops={"m": value})


def test_metric_pairs_of_any_value_structure_are_kept():
    nested = ((torch.ones(()), torch.zeros(())), torch.ones(()))
    metrics = {
        "pair": metric_pair(),
        "callables": (lambda: 2.0, noop),
        "nested": (nested, noop),
        "loss": metric_pair("loss"),  # allowed here; Estimator.evaluate rejects it later
    }
    spec = EstimatorSpec(EVAL, loss=scalar(), eval_metric_ops=metrics)
    assert spec.eval_metric_ops == metrics
    assert spec.eval_metric_ops["nested"][0] is nested


def test_metric_pair_from_another_graph_is_rejected():
    with graph_context(object()):
        pair = metric_pair()
    with graph_context(object()), pytest.raises(ValueError, match="must be from the default graph"):
        EstimatorSpec(EVAL, loss=scalar(), eval_metric_ops={"m": pair})


class CountlessMetric:
    """A hand-written metric: update/compute/reset, no update count, so it cannot be checked."""

    def update(self, value):
        pass

    def compute(self):
        return 0.0

    def reset(self):
        pass


def test_metric_object_without_update_count_is_trusted():
    metric = CountlessMetric()
    spec = EstimatorSpec(EVAL, loss=scalar(), eval_metric_ops={"m": metric})
    assert spec.eval_metric_ops["m"] is metric


# -- scaffold -----------------------------------------------------------------------------------


def test_missing_scaffold_is_a_fresh_default_scaffold():
    first = EstimatorSpec(EVAL, loss=scalar()).scaffold
    second = EstimatorSpec(EVAL, loss=scalar()).scaffold
    assert isinstance(first, Scaffold)
    assert first is not second
    assert first.init_fn is None and first.saver is None


def test_given_scaffold_is_kept():
    scaffold = Scaffold(init_op=noop)
    assert EstimatorSpec(EVAL, loss=scalar(), scaffold=scaffold).scaffold is scaffold


@pytest.mark.parametrize("scaffold", [object(), {"init_op": noop}, "scaffold"])
def test_scaffold_must_be_a_scaffold(scaffold):
    with pytest.raises(TypeError, match=r"scaffold must be tf\.train\.Scaffold"):
        EstimatorSpec(EVAL, loss=scalar(), scaffold=scaffold)


# -- _replace -----------------------------------------------------------------------------------


def test_replace_builds_a_new_validated_spec():
    spec = EstimatorSpec(EVAL, loss=scalar(1.0))
    replaced = spec._replace(loss=torch.tensor([[2.0]]))
    assert isinstance(replaced, EstimatorSpec)
    assert replaced.loss.shape == ()  # reshaped again: validation re-ran
    assert replaced.loss.item() == 2.0
    assert spec.loss.item() == 1.0


def test_replace_runs_every_check_again():
    spec = EstimatorSpec(EVAL, loss=scalar())
    with pytest.raises(ValueError, match="Loss must be scalar"):
        spec._replace(loss=torch.ones(2))
    with pytest.raises(TypeError, match="All hooks must be SessionRunHook instances"):
        spec._replace(evaluation_hooks=[object()])
    with pytest.raises(ValueError, match="Missing loss"):
        spec._replace(loss=None)


def test_replace_refuses_a_mode_change():
    spec = EstimatorSpec(EVAL, loss=scalar())
    with pytest.raises(ValueError, match="mode of EstimatorSpec cannot be changed"):
        spec._replace(mode=TRAIN, train_op=noop)
    assert spec._replace(mode=EVAL).mode == EVAL


def test_replace_in_predict_keeps_export_outputs():
    spec = EstimatorSpec(PREDICT, predictions=torch.ones(1))
    replaced = spec._replace(predictions=torch.zeros(1))
    assert replaced.export_outputs is spec.export_outputs
