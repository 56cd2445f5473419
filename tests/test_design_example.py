"""DESIGN.md's model_fn, unchanged, trained by hand through a Graph: the loss falls."""

from __future__ import annotations

import torch

import torch_estimator as te


def model_fn(features, labels, mode, params):
    net = features["x"]
    for units in params["hidden_units"]:
        net = te.layers.dense(net, units, activation=torch.relu)
    logits = te.layers.dense(net, params["n_classes"])
    classes = logits.argmax(-1)
    if mode == te.ModeKeys.PREDICT:
        return te.EstimatorSpec(mode, predictions={"class_ids": classes, "probabilities": logits.softmax(-1)})
    loss = torch.nn.functional.cross_entropy(logits, labels)
    metrics = {"accuracy": te.metrics.accuracy(labels, classes)}
    if mode == te.ModeKeys.EVAL:
        return te.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    train_op = te.train.AdagradOptimizer(0.1).minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_design_model_fn_trains_by_hand_through_a_graph():
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    graph = te.Graph(model_fn, params={"hidden_units": [16, 16], "n_classes": 3})
    te.graph.create_global_step(graph)
    losses = []
    for _ in range(60):
        spec = graph({"x": x}, y, te.ModeKeys.TRAIN)
        spec.train_op.run()
        losses.append(float(spec.loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert int(graph.state_dict()["global_step"]) == 60
    # TF's names and layouts: kernels are [in, units]; Adagrad's slot is "<var>/Adagrad".
    assert tuple(graph.state_dict()["dense/kernel"].shape) == (4, 16)
    assert "dense_2/kernel/Adagrad" in graph.checkpoint_tensors()

    predictions = graph({"x": x[:3]}, None, te.ModeKeys.PREDICT).predictions
    assert predictions["class_ids"].shape == (3,)
    torch.testing.assert_close(predictions["probabilities"].sum(-1), torch.ones(3))
