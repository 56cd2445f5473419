"""Graph (DESIGN 2, 4): model_fn runs inside it; the first call creates, later calls reuse."""

import pytest
import torch
from torch import nn

from torch_estimator.contract import EstimatorSpec, ModeKeys, TrainOp, current_graph
from torch_estimator.graph import (
    Graph,
    create_global_step,
    get_global_step,
    get_module,
    get_or_create_global_step,
    get_variable,
    identity,
    require_graph,
    variable_scope,
)
from torch_estimator.graph import initializers as init

PREDICT, TRAIN, EVAL = ModeKeys.PREDICT, ModeKeys.TRAIN, ModeKeys.EVAL


def dense(inputs, units, name=None):
    """A dense layer in te.layers' style: a uniqued scope holding kernel and bias."""
    graph = require_graph("dense")
    with graph.name_scope(graph.unique_name(name or "dense")):
        kernel = get_variable("kernel", [inputs.shape[-1], units])
        bias = get_variable("bias", [units], initializer=init.zeros())
    return inputs @ kernel + bias


def two_layer_model_fn(features, mode):
    hidden = dense(features, 4)
    logits = dense(hidden, 2)
    return EstimatorSpec(mode, predictions={"logits": logits})


# -- create, then reuse -------------------------------------------------------------------------


def test_first_call_creates_later_calls_reuse():
    graph = Graph(two_layer_model_fn)
    assert list(graph.state_dict()) == []
    graph(torch.ones(2, 3), None, PREDICT)
    first = dict(graph.named_parameters())
    graph(torch.zeros(5, 3), None, PREDICT)
    second = dict(graph.named_parameters())
    assert first.keys() == second.keys()
    assert all(first[name] is second[name] for name in first)


def test_state_dict_keys_are_scoped_names_in_call_order():
    graph = Graph(two_layer_model_fn)
    graph(torch.ones(2, 3), None, PREDICT)
    assert list(graph.state_dict()) == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert graph.state_dict()["dense/kernel"].shape == (3, 4)
    assert graph.state_dict()["dense_1/kernel"].shape == (4, 2)


def test_predictions_use_the_stored_variables():
    """With kernel 1 and bias 0: hidden = 3 per unit for ones(1, 3); logits = 4 * 3 = 12."""

    def model_fn(features, mode):
        with variable_scope("ones", initializer=init.ones()):
            logits = dense(dense(features, 4), 2)
        return EstimatorSpec(mode, predictions=logits)

    graph = Graph(model_fn)
    assert graph(torch.ones(1, 3), None, PREDICT).predictions.tolist() == [[12.0, 12.0]]


def test_unique_name_counts_per_scope_and_restarts_each_call():
    seen = []

    def model_fn(features, mode):
        graph = current_graph()
        names = [graph.unique_name("dense"), graph.unique_name("dense")]
        with variable_scope("tower"):
            names += [graph.unique_name("dense"), graph.unique_name("dense")]
        names.append(graph.unique_name("dense"))
        seen.append(names)
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    graph(torch.ones(1), None, PREDICT)
    assert seen == [["dense", "dense_1", "dense", "dense_1", "dense_2"]] * 2


def test_scoped_and_name_scope():
    graph = Graph(two_layer_model_fn)
    assert graph.scoped("w") == "w"
    with graph.name_scope("a") as outer:
        assert outer == "a"
        with graph.name_scope("b") as inner:
            assert inner == "a/b"
            assert graph.scoped("w") == "a/b/w"
        with graph.name_scope("") as same:
            assert same == "a"
    assert graph.scope == ""


# -- variable_scope -----------------------------------------------------------------------------


def test_explicit_scope_names_are_shared_default_names_uniqued():
    made = {}

    def model_fn(features, mode):
        with variable_scope("shared"):
            made["first"] = get_variable("w", [2])
        with variable_scope("shared"):
            made["second"] = get_variable("w", [2])
        for index in range(2):
            with variable_scope(default_name="block") as scope:
                made[scope] = get_variable("w", [2])
                made[f"scope_{index}"] = scope
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    assert made["first"] is made["second"]
    assert (made["scope_0"], made["scope_1"]) == ("block", "block_1")
    assert list(graph.state_dict()) == ["shared/w", "block/w", "block_1/w"]
    # The second call finds the same variables under the same uniqued names.
    previous = {name: made[name] for name in ("block", "block_1", "first")}
    graph(torch.ones(1), None, PREDICT)
    assert all(made[name] is previous[name] for name in previous)
    assert len(graph.state_dict()) == 3


def test_leaving_a_named_scope_forgets_the_names_opened_inside_it():
    """TF 2.15's names (dense as te.layers names its layers): scope a re-entered after b starts over,
    a/dense then a/dense_1; a default-named scope inside a re-entered enc is enc/block both times;
    "enc/inner" entered in one step, then as "enc" and "inner", is one scope. Five layers in all."""

    def model_fn(features, mode):
        for scope in ("a", "b", "a"):
            with variable_scope(scope):
                dense(features, 1)
        with variable_scope("a"):
            dense(features, 1)
            dense(features, 1)
        for _ in range(2):
            with variable_scope("enc"), variable_scope(default_name="block"):
                dense(features, 1)
        with variable_scope("enc/inner"):
            dense(features, 1)
        with variable_scope("enc"), variable_scope("inner"):
            dense(features, 1)
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1, 2), None, PREDICT)
    assert sorted({name.rpartition("/")[0] for name in graph.state_dict()}) == [
        "a/dense",
        "a/dense_1",
        "b/dense",
        "enc/block/dense",
        "enc/inner/dense",
    ]


def test_variable_scope_needs_a_name():
    def model_fn(features, mode):
        with variable_scope():
            pass
        return EstimatorSpec(mode, predictions=features)

    with pytest.raises(ValueError, match="needs name_or_scope or default_name"):
        Graph(model_fn)(torch.ones(1), None, PREDICT)


def test_variable_scope_initializer_applies_inside_and_nests():
    def model_fn(features, mode):
        with variable_scope("outer", initializer=init.ones()):
            get_variable("a", [2])
            with variable_scope("inner"):
                get_variable("inherited", [2])
            with variable_scope("inner2", initializer=init.constant(3.0)):
                get_variable("overridden", [2])
                get_variable("explicit", [2], initializer=init.constant(5.0))
            get_variable("b", [2])  # the outer initializer is back
        get_variable("int_default", [2], dtype=torch.int64)
        with variable_scope("zeros", initializer=init.zeros()):
            pass
        with variable_scope("outer"):
            get_variable("later", [2])  # the scope's initializer ended with its block
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    values = {name: tensor.tolist() for name, tensor in graph.state_dict().items()}
    assert values["outer/a"] == [1.0, 1.0]
    assert values["outer/inner/inherited"] == [1.0, 1.0]
    assert values["outer/inner2/overridden"] == [3.0, 3.0]
    assert values["outer/inner2/explicit"] == [5.0, 5.0]
    assert values["outer/b"] == [1.0, 1.0]
    assert values["int_default"] == [0, 0]
    assert values["outer/later"] != [1.0, 1.0]  # glorot-uniform again
    assert graph.scope_initializers == {}


def test_variable_scope_takes_tf_arguments_in_tf_order():
    """TF1 library code passes ``values`` third: ``variable_scope(scope, "default", [inputs])``.
    The scope yielded has TF's ``.name``."""
    seen = {}

    def model_fn(features, mode):
        with variable_scope("given", "default", [features]) as scope:
            seen["given"] = (scope, scope.name, scope.original_name_scope)
            get_variable("w", [1])
        with variable_scope(None, "default", [features]) as scope:
            seen["default"] = scope.name
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    assert seen == {"given": ("given", "given", "given/"), "default": "default"}
    assert list(graph.state_dict()) == ["given/w"]


def test_variable_scope_dtype_and_constraint_are_get_variables_defaults():
    """As TF 2.15: inside ``variable_scope(dtype=float64, constraint=c)``, get_variable makes a float64
    variable constrained by c (an explicit constraint wins); a layer's kernel stays float32 and
    unconstrained."""
    from torch_estimator.constraints import NonNeg
    from torch_estimator.layers import dense

    constraint = NonNeg()

    def own(value):
        return value

    def model_fn(features, mode):
        with variable_scope("s", dtype=torch.float64, constraint=constraint):
            get_variable("v", [2])
            get_variable("w", [2], constraint=own)
            out = dense(features, 2)
        return EstimatorSpec(mode, predictions=out)

    graph = Graph(model_fn)
    graph(torch.ones(1, 3), None, PREDICT)
    state = graph.state_dict()
    assert state["s/v"].dtype == torch.float64
    assert state["s/dense/kernel"].dtype == torch.float32
    assert graph.variable_constraints == {"s/v": constraint, "s/w": own}
    assert graph.scope_dtypes == {} and graph.scope_constraints == {}


def test_custom_getters_wrap_get_variable_and_layer_variables():
    """TF 2.15's results: a scope getter doubling what it gets gives get_variable [2.] and, on a ones
    kernel, a dense output of 6 for three ones; it is called on every call with the full name and
    TF's keywords. Nested getters run inner first (inner(outer(variable)): (1 + 1) * 10 = 20); a
    getter given to get_variable replaces the scope's (1 - 5 = -4)."""
    calls = []

    def double(getter, name, *args, **kwargs):
        calls.append((name, tuple(sorted(kwargs))))
        return getter(name, *args, **kwargs) * 2.0

    def outer(getter, name, *args, **kwargs):
        calls.append(("outer", name))
        return getter(name, *args, **kwargs) + 1.0

    def inner(getter, name, *args, **kwargs):
        calls.append(("inner", name))
        return getter(name, *args, **kwargs) * 10.0

    def own(getter, name, *args, **kwargs):
        calls.append(("own", name))
        return getter(name, *args, **kwargs) - 5.0

    from torch_estimator.layers import dense

    def model_fn(features, mode):
        with variable_scope("cg", custom_getter=double):
            z = get_variable("z", [1], initializer=init.ones())
            out = dense(features, 1, kernel_initializer=init.ones(), name="dd")
        with variable_scope("o", custom_getter=outer), variable_scope("i", custom_getter=inner):
            v = get_variable("v", [1], initializer=init.ones())
            w = get_variable("w", [1], initializer=init.ones(), custom_getter=own)
        return EstimatorSpec(mode, predictions={"z": z, "out": out, "v": v, "w": w})

    graph = Graph(model_fn)
    for _ in range(2):
        calls.clear()
        predictions = graph(torch.ones(1, 3), None, PREDICT).predictions
        assert {key: value.tolist() for key, value in predictions.items()} == {
            "z": [2.0],
            "out": [[6.0]],
            "v": [20.0],
            "w": [-4.0],
        }
    keywords = (
        "aggregation", "caching_device", "collections", "constraint", "dtype", "initializer",
        "partitioner", "regularizer", "reuse", "shape", "synchronization", "trainable",
        "use_resource", "validate_shape",
    )  # fmt: skip
    assert calls == [
        ("cg/z", keywords),
        ("cg/dd/kernel", keywords),
        ("cg/dd/bias", keywords),
        ("inner", "o/i/v"),
        ("outer", "o/i/v"),
        ("own", "o/i/w"),
    ]
    assert sorted(graph.state_dict()) == ["cg/dd/bias", "cg/dd/kernel", "cg/z", "o/i/v", "o/i/w"]
    assert graph.state_dict()["cg/z"].tolist() == [1.0]  # the variable itself is unchanged


def test_custom_getter_may_pass_every_argument_by_keyword():
    """TF's getters are called with keywords only; a getter forwarding them as keywords (name too)
    works for get_variable and for a layer's variables: a ones kernel on three ones gives 3."""
    from torch_estimator.layers import dense

    def forward(getter, **kwargs):
        return getter(**kwargs)

    def model_fn(features, mode):
        with variable_scope("k", custom_getter=forward):
            z = get_variable("z", [1], initializer=init.ones())
            out = dense(features, 1, kernel_initializer=init.ones())
        return EstimatorSpec(mode, predictions={"z": z, "out": out})

    predictions = Graph(model_fn)(torch.ones(1, 3), None, PREDICT).predictions
    assert {key: value.tolist() for key, value in predictions.items()} == {"z": [1.0], "out": [[3.0]]}


# -- get_variable -------------------------------------------------------------------------------


def test_shape_mismatch_is_trying_to_share_variable():
    def model_fn(features, mode):
        get_variable("w", [features.shape[-1], 2])
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1, 3), None, PREDICT)
    with pytest.raises(ValueError, match="Trying to share variable w") as info:
        graph(torch.ones(1, 4), None, PREDICT)
    assert "(4, 2)" in str(info.value) and "(3, 2)" in str(info.value)


def test_default_initializers_glorot_uniform_for_float_zeros_for_int():
    """glorot_uniform on [20, 30]: limit = sqrt(6 / (20 + 30)) = 0.3464."""

    def model_fn(features, mode):
        get_variable("kernel", [20, 30])
        get_variable("count", [3], dtype=torch.int64)
        return EstimatorSpec(mode, predictions=features)

    torch.manual_seed(0)
    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    kernel, count = graph.state_dict()["kernel"], graph.state_dict()["count"]
    limit = (6 / 50) ** 0.5
    assert kernel.abs().max() <= limit
    # 600 uniform draws: all below 0.9 * limit has probability 0.9 ** 600 ~ 1e-28.
    assert kernel.abs().max() > 0.9 * limit
    assert count.dtype == torch.int64 and count.tolist() == [0, 0, 0]
    assert [name for name, _ in graph.named_buffers()] == ["count"]  # an int variable cannot train


def test_tensor_and_number_initializers():
    source = torch.tensor([1.0, 2.0])

    def model_fn(features, mode):
        get_variable("from_tensor", initializer=source)
        get_variable("as_float", initializer=torch.tensor([1, 2]), dtype=torch.float32)
        get_variable("filled", [2, 2], initializer=3.0)
        get_variable("number", initializer=5)
        get_variable("broadcast", [2, 2], initializer=torch.tensor(7.0))
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    state = graph.state_dict()
    assert state["from_tensor"].tolist() == [1.0, 2.0]
    source.add_(10)  # the variable holds a copy
    assert state["from_tensor"].tolist() == [1.0, 2.0]
    assert state["as_float"].dtype == torch.float32
    assert state["filled"].tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert state["number"].shape == () and state["number"].item() == 5
    assert state["broadcast"].tolist() == [[7.0, 7.0], [7.0, 7.0]]


def test_callable_initializer_needs_a_shape():
    def model_fn(features, mode):
        get_variable("w", initializer=init.ones())
        return EstimatorSpec(mode, predictions=features)

    with pytest.raises(ValueError, match="needs a shape"):
        Graph(model_fn)(torch.ones(1), None, PREDICT)


def test_untrainable_variable_is_a_buffer():
    def model_fn(features, mode):
        get_variable("trained", [2])
        get_variable("frozen", [2], trainable=False)
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    assert list(graph.state_dict()) == ["trained", "frozen"]
    assert [name for name, _ in graph.named_parameters()] == ["trained"]
    assert graph.trainable_variables() == [graph.find_variable("trained")]
    assert not graph.find_variable("frozen").requires_grad


def test_add_variable_refuses_an_existing_name():
    graph = Graph(two_layer_model_fn)
    graph.add_variable("w", torch.zeros(1), trainable=True)
    with pytest.raises(ValueError, match="Variable w already exists"):
        graph.add_variable("w", torch.zeros(1), trainable=False)


# -- get_module ---------------------------------------------------------------------------------


def test_get_module_makes_once_and_names_keys():
    made = []

    def factory():
        made.append(1)
        return nn.Linear(3, 1)

    def model_fn(features, mode):
        net = get_module("net", factory)
        with variable_scope("tower"):
            tower = get_module("net", factory)
        return EstimatorSpec(mode, predictions=net(features) + tower(features))

    graph = Graph(model_fn)
    graph(torch.ones(2, 3), None, PREDICT)
    net = graph.get_module("net", factory)
    graph(torch.ones(2, 3), None, PREDICT)
    assert len(made) == 2
    assert graph.get_module("net", factory) is net
    assert list(graph.state_dict()) == ["net.weight", "net.bias", "tower/net.weight", "tower/net.bias"]


def test_get_module_factory_must_return_a_module():
    def model_fn(features, mode):
        get_module("net", lambda: torch.ones(1))
        return EstimatorSpec(mode, predictions=features)

    with pytest.raises(TypeError, match=r"needs factory\(\) to return an nn\.Module") as info:
        Graph(model_fn)(torch.ones(1), None, PREDICT)
    assert "Tensor" in str(info.value)


def test_get_module_and_variable_names_do_not_mix():
    def model_fn(features, mode):
        get_variable("x", [1])
        get_module("x", lambda: nn.Linear(1, 1))
        return EstimatorSpec(mode, predictions=features)

    with pytest.raises(ValueError, match="x is a variable in this Graph, not a module"):
        Graph(model_fn)(torch.ones(1), None, PREDICT)


def test_modules_made_in_eval_mode_graph_are_in_eval_mode():
    graph = Graph(lambda features, mode: EstimatorSpec(mode, predictions=features))
    graph.eval()
    assert not graph.get_module("drop", lambda: nn.Dropout(0.5)).training


def test_get_object_is_persistent():
    graph = Graph(two_layer_model_fn)
    first = graph.get_object("metric:m", list)
    assert graph.get_object("metric:m", dict) is first


def test_what_a_graph_makes_in_inference_mode_outlives_it():
    """evaluate runs model_fn in inference mode, but a variable, module or object the Graph keeps
    is made outside it: afterwards it can still be trained (w * 3 has gradient 3) and changed in place."""

    def model_fn(features, mode):
        w = get_variable("w", [], initializer=init.ones())
        net = get_module("net", lambda: nn.Linear(1, 1))
        total = current_graph().get_object("total", lambda: torch.zeros(()))
        total.add_(features.sum())
        return EstimatorSpec(mode, loss=(features * w + net(features[:, None])[:, 0]).mean())

    graph = Graph(model_fn)
    with torch.inference_mode():
        graph(torch.tensor([1.0, 2.0]), None, EVAL)
    w, total = graph.find_variable("w"), graph.get_object("total", list)
    assert not any(t.is_inference() for t in (w, total, *graph.get_module("net", list).parameters()))
    (w * 3).backward()
    assert float(w.grad) == 3.0
    total.add_(1.0)
    assert float(total) == 4.0


# -- te.identity --------------------------------------------------------------------------------


def test_identity_registers_scoped_names_reset_every_call():
    def model_fn(features, mode, params):
        if params["name_it"]:
            with variable_scope("head"):
                identity(features * 2, name="doubled")
            identity(features, name="raw")
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn, params={"name_it": True})
    graph(torch.ones(2), None, PREDICT)
    assert sorted(graph.named_tensors) == ["head/doubled", "raw"]
    assert graph.named_tensors["head/doubled"].tolist() == [2.0, 2.0]
    graph.params["name_it"] = False
    graph(torch.ones(2), None, PREDICT)
    assert graph.named_tensors == {}


def test_identity_outside_model_fn_only_returns():
    tensor = torch.ones(1)
    assert identity(tensor, name="x") is tensor


# -- global step --------------------------------------------------------------------------------


def test_global_step_int64_scalar_named_global_step():
    seen = {}

    def model_fn(features, mode):
        seen["before"] = get_global_step()
        step = get_or_create_global_step()
        seen["again"] = get_or_create_global_step() is step
        seen["get"] = get_global_step() is step
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    assert seen == {"before": None, "again": True, "get": True}
    step = graph.state_dict()["global_step"]
    assert (step.dtype, step.shape, step.item()) == (torch.int64, (), 0)
    assert [name for name, _ in graph.named_buffers()] == ["global_step"]
    assert create_global_step(graph) is graph.find_variable("global_step")
    graph(torch.ones(1), None, PREDICT)
    assert seen["before"] is graph.find_variable("global_step")


def test_global_step_is_none_outside_model_fn():
    assert get_global_step() is None


# -- outside model_fn ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: get_variable("w", [1]), "te.get_variable"),
        (lambda: get_module("net", nn.ReLU), "te.get_module"),
        (lambda: variable_scope("s").__enter__(), "te.variable_scope"),
        (get_or_create_global_step, "te.train.get_or_create_global_step"),
    ],
)
def test_graph_functions_outside_model_fn_raise(call, name):
    with pytest.raises(RuntimeError, match="must be called inside model_fn") as info:
        call()
    assert str(info.value).startswith(name)


def test_current_graph_only_while_model_fn_runs():
    seen = []

    def model_fn(features, mode):
        seen.append(current_graph())
        return EstimatorSpec(mode, predictions=features)

    graph = Graph(model_fn)
    graph(torch.ones(1), None, PREDICT)
    assert seen == [graph]
    assert current_graph() is None


def test_current_graph_reset_when_model_fn_raises():
    def model_fn(features, mode):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Graph(model_fn)(torch.ones(1), None, PREDICT)
    assert current_graph() is None


def test_build_flag():
    graph = Graph(two_layer_model_fn)
    assert not graph.building
    with graph.build():
        assert graph.building
    with pytest.raises(KeyError), graph.build():
        raise KeyError("x")
    assert not graph.building


# -- train ops and metrics belong to one Graph ----------------------------------------------------


def test_train_op_from_another_graph_call_is_rejected():
    kept = []

    def model_fn(features, mode):
        w = get_variable("w", [1])
        loss = (w * features).sum()
        op = kept[0] if kept else TrainOp(lambda: None)
        kept.append(op)
        return EstimatorSpec(mode, loss=loss, train_op=op)

    Graph(model_fn)(torch.ones(1), None, TRAIN)
    with pytest.raises(ValueError, match="must be from the default graph"):
        Graph(model_fn)(torch.ones(1), None, TRAIN)


# -- checkpoint tensors -------------------------------------------------------------------------


def linear_model_fn(features, labels, mode, params):
    from torch_estimator.train import Optimizer

    w = get_variable("linear/w", [params.get("inputs", 2), 1])
    b = get_variable("linear/b", [1], initializer=init.zeros())
    predictions = features @ w + b
    loss = ((predictions - labels) ** 2).mean()
    optimizer = Optimizer(torch.optim.SGD, lr=0.1, momentum=0.9)
    train_op = optimizer.minimize(loss, global_step=get_or_create_global_step())
    return EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=predictions)


def trained_graph(steps=2):
    torch.manual_seed(0)
    graph = Graph(linear_model_fn)
    for _ in range(steps):
        graph(torch.ones(4, 2), torch.zeros(4, 1), TRAIN).train_op.run()
    return graph


def test_checkpoint_round_trip_into_a_fresh_graph():
    trained = trained_graph()
    tensors = trained.checkpoint_tensors()
    assert tensors["global_step"].item() == 2
    # SGD's momentum slot is saved as <variable>/<optimizer name>/<state key>.
    assert set(tensors) == {
        "linear/w",
        "linear/b",
        "global_step",
        "linear/w/SGD/momentum_buffer",
        "linear/b/SGD/momentum_buffer",
    }
    torch.manual_seed(1)
    fresh = Graph(linear_model_fn)
    with fresh.build(), torch.no_grad():
        fresh(torch.ones(4, 2), torch.zeros(4, 1), TRAIN)
    fresh.restore_tensors({name: tensor.clone() for name, tensor in tensors.items()})
    restored = fresh.checkpoint_tensors()
    assert restored.keys() == tensors.keys()
    for name, tensor in tensors.items():
        torch.testing.assert_close(restored[name], tensor, msg=name)
    # Training continues identically from the restored state.
    trained(torch.ones(4, 2), torch.zeros(4, 1), TRAIN).train_op.run()
    fresh(torch.ones(4, 2), torch.zeros(4, 1), TRAIN).train_op.run()
    torch.testing.assert_close(fresh.state_dict(), trained.state_dict())


def test_restore_missing_variable_names_it():
    tensors = trained_graph().checkpoint_tensors()
    del tensors["linear/b"]
    fresh = trained_graph(steps=0)
    with fresh.build(), torch.no_grad():
        fresh(torch.ones(4, 2), torch.zeros(4, 1), TRAIN)
    with pytest.raises(KeyError, match="missing variables of this model: \\['linear/b'\\]"):
        fresh.restore_tensors(tensors)


def test_restore_shape_mismatch_names_it():
    tensors = trained_graph().checkpoint_tensors()
    fresh = Graph(linear_model_fn, params={"inputs": 3})
    with fresh.build(), torch.no_grad():
        fresh(torch.ones(4, 3), torch.zeros(4, 1), TRAIN)
    with pytest.raises(KeyError, match="other shapes") as info:
        fresh.restore_tensors(tensors)
    assert "linear/w: checkpoint (2, 1) vs model (3, 1)" in str(info.value)


# -- model_fn and params ------------------------------------------------------------------------


class ModuleModelFn(nn.Module):
    """A model_fn that is itself an nn.Module with its own (unused) submodule."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Linear(2, 2)

    def forward(self, features, labels, mode):
        w = get_variable("w", [2, 1], initializer=init.ones())
        return EstimatorSpec(mode, loss=((features @ w - labels) ** 2).mean(), train_op=lambda: None)


def test_module_model_fn_is_not_a_submodule():
    """ones(3, 2) @ ones(2, 1) = 2 per row; loss against labels 1 is (2 - 1) ** 2 = 1."""
    model_fn = ModuleModelFn()
    graph = Graph(model_fn)
    spec = graph(torch.ones(3, 2), torch.ones(3, 1), TRAIN)
    assert spec.loss.item() == 1.0
    assert list(graph.state_dict()) == ["w"]
    assert list(graph.children()) == []
    assert graph.model_fn is model_fn


def test_params_are_deep_copied_once_per_graph():
    seen = []

    def model_fn(features, mode, params):
        params["calls"] += 1
        seen.append((params["calls"], list(params["units"])))
        return EstimatorSpec(mode, predictions=features)

    params = {"calls": 0, "units": [4]}
    graph = Graph(model_fn, params=params)
    params["units"].append(8)  # the Graph copied at construction
    graph(torch.ones(1), None, PREDICT)
    graph(torch.ones(1), None, PREDICT)
    assert seen == [(1, [4]), (2, [4])]  # model_fn's own copy persists across calls
    assert params == {"calls": 0, "units": [4, 8]}
    assert Graph(model_fn).params == {}


def test_config_is_passed_when_declared():
    seen = []

    def model_fn(features, mode, config):
        seen.append(config)
        return EstimatorSpec(mode, predictions=features)

    config = object()
    Graph(model_fn, config=config)(torch.ones(1), None, PREDICT)
    assert seen == [config]
