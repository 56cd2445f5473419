"""The train / evaluate / predict loops (one module per verb) behind the Estimator façade."""

from torch_estimator.engine.evaluate import evaluate
from torch_estimator.engine.predict import predict
from torch_estimator.engine.session import Session
from torch_estimator.engine.setup import EstimatorSetup
from torch_estimator.engine.train import train

__all__ = ["EstimatorSetup", "Session", "evaluate", "predict", "train"]
