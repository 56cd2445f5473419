"""Iris species from four flower measurements with a DNNClassifier (TF's premade-estimator tutorial).

The bundled iris data (150 flowers, 3 species) is split into 120 training and 30 test flowers; a
[10, 10] ReLU network is trained with numpy_input_fn batches and evaluated on the held-out flowers.

    python examples/iris_dnn.py
"""

from __future__ import annotations

import tempfile

import numpy as np

import torch_estimator as te
from torch_estimator.data import IRIS_CLASSES, IRIS_FEATURES, load_iris

SEED = 0
TRAIN_STEPS = 1000
ROUNDS = 4


def split(seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """120 training and 30 test flowers, drawn at random with ``seed``."""
    features, labels = load_iris()
    order = np.random.default_rng(seed).permutation(len(labels))
    train, test = order[:120], order[120:]
    return (
        {name: column[train] for name, column in features.items()},
        labels[train],
        {name: column[test] for name, column in features.items()},
        labels[test],
    )


def main(model_dir: str | None = None) -> dict[str, float]:
    """Trains and evaluates the classifier; returns the final evaluation metrics."""
    train_x, train_y, test_x, test_y = split(SEED)
    with tempfile.TemporaryDirectory() as scratch:
        classifier = te.DNNClassifier(
            hidden_units=[10, 10],
            feature_columns=[te.feature_column.numeric_column(name) for name in IRIS_FEATURES],
            n_classes=len(IRIS_CLASSES),
            optimizer=te.train.AdagradOptimizer(learning_rate=0.1),
            model_dir=model_dir or scratch,
            config=te.RunConfig(tf_random_seed=SEED, log_step_count_steps=None),
        )
        train_input_fn = te.inputs.numpy_input_fn(
            train_x, train_y, batch_size=32, num_epochs=None, shuffle=True
        )
        test_input_fn = te.inputs.numpy_input_fn(test_x, test_y, batch_size=32, shuffle=False)
        metrics: dict[str, float] = {}
        for _ in range(ROUNDS):
            classifier.train(train_input_fn, steps=TRAIN_STEPS // ROUNDS)
            metrics = {key: float(value) for key, value in classifier.evaluate(test_input_fn).items()}
            print(
                f"step {int(metrics['global_step'])}: accuracy {metrics['accuracy']:.3f}, "
                f"loss {metrics['loss']:.4f}"
            )
        predict_input_fn = te.inputs.numpy_input_fn(
            {name: test_x[name][:3] for name in IRIS_FEATURES}, shuffle=False
        )
        for prediction, label in zip(classifier.predict(predict_input_fn), test_y[:3], strict=True):
            class_id = int(prediction["class_ids"][0])
            probability = float(prediction["probabilities"][class_id])
            print(f"predicted {IRIS_CLASSES[class_id]} ({probability:.2f}), was {IRIS_CLASSES[label]}")
    return metrics


if __name__ == "__main__":
    main()
