"""Small data sets bundled with the package (the demo's iris CSV)."""

from torch_estimator.data.iris import IRIS_CLASSES, IRIS_FEATURES, load_iris

__all__ = ["IRIS_CLASSES", "IRIS_FEATURES", "load_iris"]
