"""A re-iterable stream of batches read from files in a background thread (under the CSV/Parquet readers)."""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from torch_estimator.inputs.batches import to_tensors
from torch_estimator.inputs.chunks import Chunk, chunk_rows, rebatch, shuffle_buffer
from torch_estimator.inputs.epochs import check_batching, draw_seed
from torch_estimator.inputs.prefetch import prefetch

__all__ = ["FileDataset", "check_positive", "resolve_files"]


@dataclasses.dataclass(frozen=True)
class FileDataset:
    """Batches of the rows of ``files``, each a dict of tensors (strings stay numpy arrays).

    Iterating starts a reader thread that reads, shuffles and batches ahead of the consumer, up to
    ``prefetch_buffer_size`` batches; stopping early (closing the iterator) stops and joins it. Every
    iteration reads the files again, so an input_fn may return the dataset itself.
    """

    files: tuple[str, ...]
    """The files, read in this order (shuffled per epoch when ``shuffle``)."""
    read_file: Callable[[str], Iterator[Chunk]]
    """Reads one file as a stream of column chunks, never the whole file at once."""
    batch_size: int
    """Rows per batch; the last batch of a finite run may be smaller."""
    label_name: str | None = None
    """Column returned as the label: elements are ``(features, label)``; None: features alone."""
    num_epochs: int | None = None
    """Passes over the files; None repeats forever, 0 yields nothing. Batches span epochs."""
    shuffle: bool = True
    """Shuffle the file order per epoch and the rows through a buffer of ``shuffle_buffer_size``."""
    shuffle_buffer_size: int = 10000
    """Rows held for shuffling: larger mixes better, costs memory."""
    shuffle_seed: int | None = None
    """Seeds shuffling (every iteration the same order); None draws a seed from numpy's global RNG
    when iteration starts, which ``RunConfig(tf_random_seed=...)`` makes reproducible."""
    prefetch_buffer_size: int = 4
    """Batches made ahead of the consumer."""

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.num_epochs)
        check_positive("shuffle_buffer_size", self.shuffle_buffer_size)
        check_positive("prefetch_buffer_size", self.prefetch_buffer_size)
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be a bool. Received: shuffle={self.shuffle!r}.")
        if not self.files:
            raise ValueError("FileDataset needs at least one file. Received: files=().")

    def __iter__(self) -> Iterator[Any]:
        # The seed is drawn here, in the caller's thread, right after the Estimator seeded numpy.
        seed = draw_seed(self.shuffle_seed) if self.shuffle else 0
        return prefetch(functools.partial(self.batches, seed), self.prefetch_buffer_size)

    def batches(self, seed: int) -> Iterator[Any]:
        """The batches, made in the calling thread (``__iter__`` runs this in the reader thread)."""
        rng = np.random.default_rng(seed)
        chunks = self.chunks(rng)
        if self.shuffle:
            chunks = shuffle_buffer(chunks, self.shuffle_buffer_size, rng)
        for batch in rebatch(chunks, self.batch_size):
            yield self.element(batch)

    def chunks(self, rng: np.random.Generator) -> Iterator[Chunk]:
        """Every file's chunks, epoch after epoch; ends early if an epoch holds no rows."""
        epoch = 0
        while self.num_epochs is None or epoch < self.num_epochs:
            order = rng.permutation(len(self.files)) if self.shuffle else range(len(self.files))
            rows = 0
            for index in order:
                for chunk in self.read_file(self.files[index]):
                    rows += chunk_rows(chunk)
                    yield chunk
            if rows == 0:
                return  # repeating empty files forever would hang the consumer
            epoch += 1

    def element(self, batch: Chunk) -> Any:
        """``features`` or ``(features, label)`` as tensors."""
        if self.label_name is None:
            return to_tensors(batch)
        features = dict(batch)
        label = features.pop(self.label_name)
        return to_tensors(features), to_tensors(label)


def resolve_files(file_pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> tuple[str, ...]:
    """The sorted files each glob pattern matches, in pattern order.

    Raises:
        ValueError: 'No files match `file_pattern`' naming the pattern that matched nothing.

    >>> resolve_files([__file__]) == (__file__,)
    True
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
    if not patterns:
        raise ValueError("file_pattern must name at least one file or glob pattern. Received: [].")
    files: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, (str, os.PathLike)):
            raise TypeError(f"file_pattern must be a str, a path or a list of them. Received: {pattern!r}.")
        matches = sorted(path for path in glob.glob(os.fspath(pattern)) if os.path.isfile(path))
        if not matches:
            raise ValueError(
                f"No files match `file_pattern` {os.fspath(pattern)!r}. Check the path (relative paths are "
                f"resolved from {os.getcwd()!r})."
            )
        files.extend(matches)
    return tuple(files)


def check_positive(name: str, value: object) -> None:
    """ValueError unless ``value`` is a positive int.

    >>> check_positive("block_size", 1 << 20)
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}.")
