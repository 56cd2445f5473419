"""The demo: a custom model_fn classifier on the bundled iris data, end to end.

It trains with a progress bar (or log lines when not on a terminal), evaluates, predicts, trains
again to show that the second call resumes from the checkpoint, exports the model with serving
signatures, serves the export over TF Serving's REST API on a loopback port and queries it, and says
where TensorBoard logs are.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

import torch_estimator as te
from torch_estimator.data import IRIS_CLASSES, IRIS_FEATURES, load_iris
from torch_estimator.serving import ModelConfig, ModelServer, ServerOptions

__all__ = ["iris_input_fn", "iris_model_fn", "run_demo"]

logger = logging.getLogger("torch_estimator")


def iris_model_fn(
    features: dict[str, torch.Tensor], labels: Any, mode: str, params: dict[str, Any]
) -> te.EstimatorSpec:
    """A DNN classifier written as a TF user would, with torch maths."""
    net = torch.stack([features[name] for name in IRIS_FEATURES], dim=1)
    with te.variable_scope("dnn"):
        for index, units in enumerate(params["hidden_units"]):
            net = te.layers.dense(net, units, activation=torch.relu, name=f"hiddenlayer_{index}")
        logits = te.layers.dense(net, params["n_classes"], name="logits")
    classes = logits.argmax(-1)
    if mode == te.ModeKeys.PREDICT:
        predictions = {"class_ids": classes, "probabilities": logits.softmax(-1), "logits": logits}
        export_outputs = {
            "serving_default": te.export.ClassificationOutput(
                scores=predictions["probabilities"], classes=classes, class_names=list(IRIS_CLASSES)
            ),
            "predict": te.export.PredictOutput(predictions),
        }
        return te.EstimatorSpec(mode, predictions=predictions, export_outputs=export_outputs)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    metrics = {"accuracy": te.metrics.accuracy(labels, classes)}
    if mode == te.ModeKeys.EVAL:
        return te.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    te.summary.scalar("accuracy", (classes == labels).float().mean())
    optimizer = te.train.AdagradOptimizer(learning_rate=params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=te.train.get_global_step())
    return te.EstimatorSpec(mode, loss=loss, train_op=train_op)


def iris_input_fn(
    features: dict[str, np.ndarray],
    labels: np.ndarray | None,
    batch_size: int,
    epochs: int | None,
    shuffle: bool,
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor | None]]:
    """Batches of the given rows, reshuffled each epoch; ``epochs=None`` repeats forever."""
    rows = len(next(iter(features.values())))
    rng = np.random.default_rng(0)
    epoch = 0
    while epochs is None or epoch < epochs:
        order = rng.permutation(rows) if shuffle else np.arange(rows)
        for start in range(0, rows, batch_size):
            index = order[start : start + batch_size]
            batch = {name: torch.from_numpy(column[index]) for name, column in features.items()}
            yield batch, (torch.from_numpy(labels[index]) if labels is not None else None)
        epoch += 1


def _split(features: dict[str, np.ndarray], labels: np.ndarray) -> tuple[Any, Any, Any, Any]:
    order = np.random.default_rng(42).permutation(len(labels))
    train, test = order[:120], order[120:]
    return (
        {k: v[train] for k, v in features.items()},
        labels[train],
        {k: v[test] for k, v in features.items()},
        labels[test],
    )


def run_demo(model_dir: str, steps: int = 400) -> dict[str, Any]:
    """Trains, evaluates, predicts and resumes; returns the final evaluation."""
    features, labels = load_iris()
    train_x, train_y, test_x, test_y = _split(features, labels)
    config = te.RunConfig(
        model_dir=model_dir, tf_random_seed=0, save_checkpoints_steps=100, log_step_count_steps=100
    )
    params = {"hidden_units": [16, 16], "n_classes": 3, "learning_rate": 0.1}
    estimator = te.Estimator(iris_model_fn, config=config, params=params)

    print(f"== Training for {steps} steps (model_dir: {model_dir})")
    estimator.train(lambda: iris_input_fn(train_x, train_y, 16, None, True), steps=steps)
    print("== Evaluating on the 30 held-out flowers")
    metrics = estimator.evaluate(lambda: iris_input_fn(test_x, test_y, 30, 1, False))
    print("   " + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(metrics.items())))

    print("== Predicting three flowers")
    sample = {k: v[:3] for k, v in test_x.items()}
    for row, prediction in enumerate(estimator.predict(lambda: iris_input_fn(sample, None, 3, 1, False))):
        name = IRIS_CLASSES[int(prediction["class_ids"])]
        probability = float(prediction["probabilities"].max())
        print(f"   flower {row}: {name} (p={probability:.3f}; true: {IRIS_CLASSES[int(test_y[row])]})")

    print(f"== Training {steps // 4} more steps: the second call resumes from the checkpoint")
    before = estimator.get_variable_value("global_step")
    estimator.train(lambda: iris_input_fn(train_x, train_y, 16, None, True), steps=steps // 4)
    after = estimator.get_variable_value("global_step")
    print(f"   global_step {before} -> {after}")
    metrics = estimator.evaluate(lambda: iris_input_fn(test_x, test_y, 30, 1, False))
    print("   " + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(metrics.items())))
    export_and_serve(estimator, os.path.join(model_dir, "export"), {k: v[:2] for k, v in test_x.items()})
    print(f"== TensorBoard logs: tensorboard --logdir {os.path.abspath(model_dir)}")
    return metrics


def export_and_serve(estimator: te.Estimator, export_base: str, flowers: dict[str, np.ndarray]) -> None:
    """Exports the model, serves it on a free loopback port and asks it about two flowers."""
    receiver_fn = te.export.build_raw_serving_input_receiver_fn(
        {name: torch.zeros(1, dtype=torch.float32) for name in IRIS_FEATURES}
    )
    export_dir = estimator.export_saved_model(export_base, receiver_fn)
    print(f"== Exported to {export_dir}")
    with ModelServer(ServerOptions(models=(ModelConfig("iris", export_base),), port=0)) as server:
        print(f"== Serving at {server.url}/v1/models/iris (TF Serving's REST API)")
        examples = [{name: float(column[row]) for name, column in flowers.items()} for row in range(2)]
        answer = _post(f"{server.url}/v1/models/iris:classify", {"examples": examples})
        print(f"   POST :classify -> {json.dumps(answer['results'][0][:3])} ...")
        answer = _post(
            f"{server.url}/v1/models/iris:predict",
            {"signature_name": "predict", "instances": examples},
        )
        print(f"   POST :predict  -> class_ids {[row['class_ids'] for row in answer['predictions']]}")


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
