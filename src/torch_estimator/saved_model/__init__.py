"""``te.saved_model``: load an export and call its signatures, with torch only.

Nothing here imports the engine or the model's code: an export is a signature file plus one
``torch.export`` program per signature (see :mod:`torch_estimator.saved_model.format`).
"""

from torch_estimator.saved_model.loader import (
    SavedModel,
    Signature,
    TensorSpec,
    is_export_dir,
    list_versions,
    load,
)

__all__ = ["SavedModel", "Signature", "TensorSpec", "is_export_dir", "list_versions", "load"]
