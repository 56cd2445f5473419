"""torch.compile on a Graph (DESIGN 2): after a build call, the compiled Graph trains like the eager one.

The whole model_fn call compiles into one graph: no graph break, and no recompilation per step (which
would exhaust Dynamo's recompile limit of 8 and fall back to eager), and the results match eager. The
backend is aot_eager: it traces forward and backward through AOTAutograd as inductor does, without
inductor's C++ code generation, which takes ~15 s for this model on a 2-core CPU.
"""

import pytest
import torch
from torch._dynamo.utils import counters

from torch_estimator import metrics as te_metrics
from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, get_or_create_global_step, get_variable
from torch_estimator.graph import initializers as init
from torch_estimator.metrics.state import UpdateOps
from torch_estimator.train import Optimizer

pytestmark = [
    pytest.mark.slow,
    # Dynamo probes .grad on the non-leaf loss inside torch._logging.hide_warnings, which hides the
    # warning by patching showwarning and so cannot hide it when warnings are errors.
    pytest.mark.filterwarnings(
        "ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning"
    ),
]

STEPS = 12  # more than Dynamo's recompile limit


def model_fn(features, labels, mode):
    w = get_variable("linear/w", [3, 1])
    b = get_variable("linear/b", [1], initializer=init.zeros())
    predictions = torch.tanh(features @ w) + b
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions={"y": predictions})
    loss = ((predictions - labels) ** 2).mean()
    train_op = Optimizer(torch.optim.SGD, lr=0.1).minimize(loss, global_step=get_or_create_global_step())
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def data():
    generator = torch.Generator().manual_seed(7)
    return torch.randn(8, 3, generator=generator), torch.randn(8, 1, generator=generator)


def train(compile_graph):
    features, labels = data()
    torch.manual_seed(0)
    graph = Graph(model_fn)
    with graph.build(), torch.no_grad():
        graph(features, labels, ModeKeys.TRAIN)
    runner = torch.compile(graph, backend="aot_eager") if compile_graph else graph
    losses = []
    for _ in range(STEPS):
        spec = runner(features, labels, ModeKeys.TRAIN)
        assert isinstance(spec, EstimatorSpec)
        losses.append(spec.loss.item())
        spec.train_op.run()
    predictions = runner(features, None, ModeKeys.PREDICT).predictions["y"]
    return losses, graph.state_dict(), predictions


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def test_compiled_graph_matches_eager():
    eager_losses, eager_state, eager_predictions = train(compile_graph=False)
    losses, state, predictions = train(compile_graph=True)
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    assert eager_losses[-1] < eager_losses[0]  # it did train
    assert state["global_step"].item() == STEPS
    torch.testing.assert_close(state, eager_state)
    torch.testing.assert_close(predictions, eager_predictions)
    # One graph for TRAIN, one more once the optimizer's first step adds its state, one for PREDICT.
    assert counters["stats"]["unique_graphs"] == 3
    assert not counters["graph_break"]


def metrics_model_fn(features, labels, mode):
    w = get_variable("linear/w", [3, 1])
    probabilities = torch.sigmoid(features @ w).squeeze(-1)
    positive = labels.squeeze(-1) > 0
    metrics = {
        "auc": te_metrics.auc(positive, probabilities),
        "accuracy": te_metrics.accuracy(positive, probabilities > 0.5),
        "mean": te_metrics.mean(probabilities),
    }
    return EstimatorSpec(mode, loss=probabilities.mean(), eval_metric_ops=metrics)


def evaluate(compile_graph):
    generator = torch.Generator().manual_seed(3)
    batches = [
        (torch.randn(8, 3, generator=generator), torch.randn(8, 1, generator=generator)) for _ in range(STEPS)
    ]
    torch.manual_seed(0)
    graph = Graph(metrics_model_fn)
    with graph.build(), torch.no_grad():
        graph(*batches[0], ModeKeys.EVAL)
    runner = torch.compile(graph, backend="aot_eager") if compile_graph else graph
    update_ops = UpdateOps()
    with torch.no_grad():
        for features, labels in batches:
            spec = runner(features, labels, ModeKeys.EVAL)
            update_ops(spec.eval_metric_ops)
    return {name: float(value.compute()) for name, (value, _) in spec.eval_metric_ops.items()}


def test_compiled_graph_evaluates_te_metrics_as_eager():
    """A metric function returns its Graph's one pair and records the batch on its state: traced,
    that is a side effect Dynamo replays, so every batch reaches the metrics, without a graph break
    or a recompilation per batch."""
    eager = evaluate(compile_graph=False)
    assert evaluate(compile_graph=True) == pytest.approx(eager, rel=1e-6)
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"]
