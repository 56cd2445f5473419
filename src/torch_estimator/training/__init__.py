"""train_and_evaluate: TrainSpec, EvalSpec, the roles chosen from the task type, and exporters.

>>> import torch_estimator as te
>>> te.EvalSpec(lambda: None, exporters=te.LatestExporter("latest", lambda: None)).exporters[0].name
'latest'
"""

from torch_estimator.export.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
from torch_estimator.training.dispatch import train_and_evaluate
from torch_estimator.training.specs import EvalSpec, TrainSpec

__all__ = [
    "BestExporter",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "LatestExporter",
    "TrainSpec",
    "train_and_evaluate",
]
