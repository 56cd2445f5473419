"""Input helpers: input_fn results as batch streams."""

from torch_estimator.inputs.batches import iterate_batches, to_device, to_tensors

__all__ = ["iterate_batches", "to_device", "to_tensors"]
