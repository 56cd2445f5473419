"""The iris data set (Fisher, 1936), bundled as ``iris.csv``: 150 flowers, 4 measurements, 3 species."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

__all__ = ["IRIS_CLASSES", "IRIS_FEATURES", "load_iris"]

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def load_iris() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``(features, labels)``: a dict of float32 columns and int64 class ids (index into IRIS_CLASSES).

    >>> features, labels = load_iris()
    >>> features["petal_length"].shape, int(labels.max())
    ((150,), 2)
    """
    text = resources.files("torch_estimator.data").joinpath("iris.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    features = {
        name: np.array([float(row[name]) for row in rows], dtype=np.float32) for name in IRIS_FEATURES
    }
    labels = np.array([IRIS_CLASSES.index(row["species"]) for row in rows], dtype=np.int64)
    return features, labels
