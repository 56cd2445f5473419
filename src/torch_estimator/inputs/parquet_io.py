"""``make_parquet_dataset``: batches streamed from Parquet files of any size, on pyarrow.

Named and shaped after ``make_csv_dataset`` (TF had no Parquet reader of its own): the same batching,
epochs, shuffling, labels and background reading, over ``pyarrow.parquet.ParquetFile.iter_batches``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence

from torch_estimator.inputs.chunks import Chunk, arrow_chunk
from torch_estimator.inputs.columns import check_label, require_pyarrow, select_names
from torch_estimator.inputs.file_dataset import FileDataset, check_positive, resolve_files

__all__ = ["make_parquet_dataset", "read_parquet_chunks"]


def make_parquet_dataset(
    file_pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    batch_size: int,
    label_name: str | None = None,
    select_columns: Sequence[str | int] | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int = 4,
    read_batch_size: int = 65536,
) -> FileDataset:
    """Batches of Parquet rows as ``features`` dicts (or ``(features, label)`` with ``label_name``).

    Columns come from the first file's schema; every file must hold the selected columns. Files are
    read ``read_batch_size`` rows at a time in a background thread, never whole. float64 columns
    arrive as float32, nulls in numeric columns as NaN, strings as numpy arrays of ``str``.

    Args:
        file_pattern: a path, a glob pattern, or a list of them.
        batch_size: rows per batch; batches span files and epochs, the last one may be smaller.
        label_name: the column returned as the label.
        select_columns: names or indices of the columns to read (others are never decoded).
        num_epochs, shuffle, shuffle_buffer_size, shuffle_seed, prefetch_buffer_size: see FileDataset
            (TF's defaults: repeat forever, shuffled).
        read_batch_size: rows decoded at a time.

    Returns:
        A ``FileDataset``; return it from an input_fn.

    Raises:
        ValueError: 'No files match `file_pattern`', unknown columns, a label not among the columns,
            an unreadable file.

    >>> import pathlib, tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> path = str(pathlib.Path(tempfile.mkdtemp()) / "data.parquet")
    >>> pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]}), path)
    >>> dataset = make_parquet_dataset(path, 2, label_name="y", num_epochs=1, shuffle=False)
    >>> [(f["x"].tolist(), y.tolist()) for f, y in dataset]
    [([1.0, 2.0], [0, 1]), ([3.0], [0])]
    """
    require_pyarrow("make_parquet_dataset")
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_positive("read_batch_size", read_batch_size)
    files = resolve_files(file_pattern)
    try:
        names = pq.read_schema(files[0]).names
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"Cannot read the schema of Parquet file {files[0]!r}: {err}") from err
    selected = select_names(names, select_columns)
    check_label(label_name, selected)
    read_file = functools.partial(
        read_parquet_chunks, columns=tuple(selected), read_batch_size=read_batch_size
    )
    return FileDataset(
        files=files,
        read_file=read_file,
        batch_size=batch_size,
        label_name=label_name,
        num_epochs=num_epochs,
        shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_seed=shuffle_seed,
        prefetch_buffer_size=prefetch_buffer_size,
    )


def read_parquet_chunks(path: str, columns: tuple[str, ...], read_batch_size: int) -> Iterator[Chunk]:
    """One Parquet file as a stream of column chunks of up to ``read_batch_size`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet_file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"Cannot read Parquet file {path!r}: {err}") from err
    try:
        missing = [name for name in columns if name not in parquet_file.schema_arrow.names]
        if missing:
            raise ValueError(
                f"Parquet file {path!r} lacks the columns {missing} that the first file has. "
                f"Its columns: {parquet_file.schema_arrow.names}."
            )
        for batch in parquet_file.iter_batches(batch_size=read_batch_size, columns=list(columns)):
            yield arrow_chunk(batch, float64_as_float32=True)
    finally:
        parquet_file.close()
