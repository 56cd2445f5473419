"""Input helpers: input_fn results as batch streams; input_fns over numpy, pandas, CSV and Parquet data."""

from torch_estimator.inputs.batches import iterate_batches, to_device, to_tensors
from torch_estimator.inputs.csv_io import make_csv_dataset
from torch_estimator.inputs.file_dataset import FileDataset
from torch_estimator.inputs.numpy_io import numpy_input_fn
from torch_estimator.inputs.pandas_io import pandas_input_fn
from torch_estimator.inputs.parquet_io import make_parquet_dataset

__all__ = [
    "FileDataset",
    "iterate_batches",
    "make_csv_dataset",
    "make_parquet_dataset",
    "numpy_input_fn",
    "pandas_input_fn",
    "to_device",
    "to_tensors",
]
