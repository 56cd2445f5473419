"""te.summary: summary ops for model_fn, TensorBoard event writing, and reading events back."""

from torch_estimator.summary.ops import clean_tag, histogram, image, scalar, text
from torch_estimator.summary.reader import EVENT_FILE_PATTERN, read_eval_metrics, summary_iterator
from torch_estimator.summary.writer import FileWriter, clear_writers, writer_for

__all__ = [
    "EVENT_FILE_PATTERN",
    "FileWriter",
    "clean_tag",
    "clear_writers",
    "histogram",
    "image",
    "read_eval_metrics",
    "scalar",
    "summary_iterator",
    "text",
    "writer_for",
]
