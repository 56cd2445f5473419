"""Streams of column chunks (dicts of equal-length numpy arrays): shuffle buffer, rebatching, from Arrow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["Chunk", "arrow_chunk", "chunk_rows", "rebatch", "shuffle_buffer"]

Chunk = dict[str, np.ndarray]


def chunk_rows(chunk: Chunk) -> int:
    """The number of rows of a chunk (0 for a chunk without columns).

    >>> chunk_rows({"a": np.zeros(3)})
    3
    """
    for array in chunk.values():
        return len(array)
    return 0


def rebatch(chunks: Iterable[Chunk], batch_size: int) -> Iterator[Chunk]:
    """Chunks of exactly ``batch_size`` rows cut from a stream of chunks of any size; the last may be smaller.

    Rows are concatenated once per incoming group, then cut into views: no per-row Python.

    >>> [b["a"].tolist() for b in rebatch([{"a": np.arange(3)}, {"a": np.arange(3, 5)}], 2)]
    [[0, 1], [2, 3], [4]]
    """
    pending: list[Chunk] = []
    pending_rows = 0
    for chunk in chunks:
        rows = chunk_rows(chunk)
        if rows == 0:
            continue
        pending.append(chunk)
        pending_rows += rows
        if pending_rows < batch_size:
            continue
        merged = _concatenate(pending)
        full = pending_rows - pending_rows % batch_size
        for start in range(0, full, batch_size):
            yield _rows(merged, slice(start, start + batch_size))
        rest = _rows(merged, slice(full, pending_rows))
        pending, pending_rows = ([rest], pending_rows - full) if pending_rows > full else ([], 0)
    if pending_rows:
        yield _concatenate(pending)


def shuffle_buffer(chunks: Iterable[Chunk], buffer_size: int, rng: np.random.Generator) -> Iterator[Chunk]:
    """Shuffles a stream through a buffer of ``buffer_size`` rows, as ``tf.data.Dataset.shuffle`` did.

    Each arriving chunk joins the buffer; the rows above ``buffer_size`` leave it, drawn uniformly at
    random from everything buffered. Memory stays bounded by the buffer plus one chunk. At the end the
    rest leaves in random order. Every row comes out exactly once.

    >>> out = shuffle_buffer([{"a": np.arange(4)}, {"a": np.arange(4, 8)}], 3, np.random.default_rng(0))
    >>> sorted(np.concatenate([c["a"] for c in out]).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    buffer: Chunk | None = None
    for chunk in chunks:
        buffer = chunk if buffer is None else _concatenate([buffer, chunk])
        excess = chunk_rows(buffer) - buffer_size
        if excess <= 0:
            continue
        order = rng.permutation(chunk_rows(buffer))
        yield _rows(buffer, order[:excess])
        buffer = _rows(buffer, order[excess:])
    if buffer is not None and chunk_rows(buffer):
        yield _rows(buffer, rng.permutation(chunk_rows(buffer)))


def arrow_chunk(batch: Any, float64_as_float32: bool = False) -> Chunk:
    """A pyarrow RecordBatch (or Table) as writable numpy columns.

    Dictionary-encoded columns are decoded; strings become object arrays of ``str``;
    ``float64_as_float32`` narrows doubles to the dtype of model weights.

    >>> import pyarrow as pa
    >>> chunk = arrow_chunk(pa.record_batch({"x": [1.5, 2.5], "s": ["a", "b"]}), float64_as_float32=True)
    >>> chunk["x"].dtype, chunk["s"].tolist()
    (dtype('float32'), ['a', 'b'])
    """
    import pyarrow as pa

    columns: Chunk = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        # Arrow memory is immutable; torch.from_numpy needs a writable array.
        array = column.to_numpy(zero_copy_only=False, writable=True)
        if float64_as_float32 and array.dtype == np.float64:
            array = array.astype(np.float32)
        columns[name] = array
    return columns


def _concatenate(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}


def _rows(chunk: Chunk, selector: slice | np.ndarray) -> Chunk:
    return {name: array[selector] for name, array in chunk.items()}
