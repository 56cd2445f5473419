"""``te.export``: serving input receivers, receiver fn builders, feature specs and signature outputs.

``Estimator.export_saved_model`` writes ``<export_dir_base>/<timestamp>/`` (one torch.export program
per signature); ``te.saved_model.load`` reads it back with torch only.
"""

from torch_estimator.contract.export_output import (
    ClassificationOutput,
    EvalOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
    TrainOutput,
)
from torch_estimator.export.assets import add_asset
from torch_estimator.export.parsing import FixedLenFeature, VarLenFeature
from torch_estimator.export.receiver_fns import (
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
    build_raw_supervised_input_receiver_fn,
)
from torch_estimator.export.receivers import (
    ServingInputReceiver,
    SupervisedInputReceiver,
    TensorServingInputReceiver,
    UnsupervisedInputReceiver,
)

__all__ = [
    "ClassificationOutput",
    "EvalOutput",
    "ExportOutput",
    "FixedLenFeature",
    "PredictOutput",
    "RegressionOutput",
    "ServingInputReceiver",
    "SupervisedInputReceiver",
    "TensorServingInputReceiver",
    "TrainOutput",
    "UnsupervisedInputReceiver",
    "VarLenFeature",
    "add_asset",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "build_raw_supervised_input_receiver_fn",
]
