"""A model_fn built from te.layers trains: the engine's build pass, then SGD steps; bf16 autocast."""

from __future__ import annotations

import torch

from torch_estimator.contract import EstimatorSpec, ModeKeys
from torch_estimator.graph import Graph, variable_scope
from torch_estimator.layers import (
    batch_normalization,
    conv2d,
    dense,
    dropout,
    embedding,
    flatten,
    layer_normalization,
    max_pooling2d,
)
from torch_estimator.train import Optimizer


def model_fn(features, labels, mode):
    training = mode == ModeKeys.TRAIN
    net = conv2d(features["image"], 4, 3, padding="same", activation=torch.relu)
    net = max_pooling2d(net, 2, 2, padding="same")
    net = batch_normalization(net, training=training)
    net = flatten(net)
    words = embedding(features["word"], vocab_size=5, dimension=3).sum(1)
    net = torch.cat([net, words], dim=1)
    with variable_scope("dnn"):
        for index, units in enumerate((16, 8)):
            net = dense(net, units, activation="relu", name=f"hiddenlayer_{index}")
            net = dropout(net, 0.1, training=training)
    net = layer_normalization(net)
    logits = dense(net, 1, name="logits")
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=logits)
    loss = ((logits - labels) ** 2).mean()
    train_op = Optimizer(torch.optim.SGD, lr=0.05).minimize(loss)
    return EstimatorSpec(mode, loss=loss, train_op=train_op)


def batch():
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(32, 5, 5, 2, generator=generator)
    word = torch.randint(0, 5, (32, 2), generator=generator)
    labels = image.mean(dim=(1, 2, 3)).unsqueeze(1) * 3 + word[:, :1].float() * 0.5
    return {"image": image, "word": word}, labels


def test_multi_layer_model_loss_falls_and_moving_stats_move():
    torch.manual_seed(0)
    graph = Graph(model_fn)
    features, labels = batch()
    with graph.build(), torch.no_grad():  # what the engine does on the first batch
        graph(features, labels, ModeKeys.TRAIN)
    assert torch.equal(graph.find_variable("batch_normalization/moving_mean"), torch.zeros(4))
    assert "dnn/hiddenlayer_1/kernel" in graph.state_dict()
    losses = []
    for _ in range(30):
        spec = graph(features, labels, ModeKeys.TRAIN)
        spec.train_op.run()
        losses.append(spec.loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert graph.find_variable("batch_normalization/moving_mean").abs().sum() > 0
    graph.eval()
    predictions = graph(features, None, ModeKeys.PREDICT).predictions
    assert predictions.shape == (32, 1) and torch.isfinite(predictions).all()


def test_layers_run_under_bf16_autocast_with_float32_variables():
    torch.manual_seed(0)
    graph = Graph(model_fn)
    features, labels = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spec = graph(features, labels, ModeKeys.TRAIN)
        spec.train_op.run()
        predictions = graph(features, None, ModeKeys.PREDICT).predictions
    assert torch.isfinite(spec.loss) and torch.isfinite(predictions.float()).all()
    assert {value.dtype for value in graph.state_dict().values()} == {torch.float32}
    for name in ("conv2d/kernel", "dnn/hiddenlayer_0/kernel", "LayerNorm/gamma", "embedding/embeddings"):
        assert graph.find_variable(name).grad is not None


def test_bf16_inputs_outside_autocast_meet_float32_variables():
    graph = Graph(lambda features, mode: EstimatorSpec(mode, predictions=_all_layers(features)))
    out = graph(torch.randn(2, 4, 4, 3, dtype=torch.bfloat16), None, ModeKeys.PREDICT).predictions
    assert torch.isfinite(out.float()).all()
    assert {value.dtype for value in graph.state_dict().values()} == {torch.float32}


def _all_layers(x):
    x = conv2d(x, 2, 2, padding="same")
    x = batch_normalization(x, training=True)
    x = batch_normalization(flatten(x), training=True)
    return layer_normalization(dense(x, 3))
