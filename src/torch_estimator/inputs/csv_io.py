"""``make_csv_dataset``: batches streamed from CSV files of any size, on pyarrow.

The name and the arguments are those of ``tf.data.experimental.make_csv_dataset``, so an input_fn that
returned that dataset ports line by line. The result is a ``FileDataset`` (an iterable of batches, not
a ``tf.data.Dataset``: no ``map``/``batch`` chaining). Files are read in blocks of ``block_size`` bytes
by a background thread; a file is never loaded whole.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any

from torch_estimator.inputs.chunks import Chunk, arrow_chunk
from torch_estimator.inputs.columns import (
    REQUIRED,
    arrow_type_and_default,
    check_label,
    require_pyarrow,
    select_names,
    zero_of,
)
from torch_estimator.inputs.file_dataset import FileDataset, check_positive, resolve_files

__all__ = ["CsvFormat", "make_csv_dataset", "read_csv_chunks"]

PathPatterns = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclasses.dataclass(frozen=True)
class CsvFormat:
    """How to parse every file of one CSV dataset (the columns are fixed from the first file)."""

    column_names: tuple[str, ...]
    """Every column of the files, in file order."""
    selected: tuple[str, ...]
    """The columns read, in file order."""
    types: dict[str, Any]
    """pyarrow type of each selected column."""
    defaults: dict[str, Any]
    """Fill value of each selected column, or REQUIRED."""
    header: bool = True
    """The first line of each file is a header and is skipped."""
    field_delim: str = ","
    use_quote_delim: bool = True
    na_value: str = ""
    compression: str | None = None
    """pyarrow codec ('gzip', 'bz2', 'zstd', ...); None detects it from the file extension."""
    encoding: str = "utf8"
    block_size: int = 1 << 20


def make_csv_dataset(
    file_pattern: PathPatterns,
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[str | int] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int = 4,
    compression_type: str | None = None,
    encoding: str = "utf-8",
    block_size: int = 1 << 20,
) -> FileDataset:
    """Batches of CSV records as ``features`` dicts (or ``(features, label)`` with ``label_name``).

    Defaults follow TF: ``num_epochs=None`` repeats forever and ``shuffle=True`` (pass ``num_epochs=1,
    shuffle=False`` for evaluation). Column types come from ``column_defaults`` (a value makes a column
    optional with that default; a type such as ``float`` makes it required) or are inferred from the
    first block of the first file, with missing fields filled by 0, 0.0 or ''. Floats are float32.
    String columns stay numpy arrays of ``str`` for feature columns.

    Args:
        file_pattern: a path, a glob pattern, or a list of them.
        batch_size: rows per batch; batches span files and epochs, the last one may be smaller.
        column_names: names of every column, in order; required without a header line.
        column_defaults: one per column (or per selected column), each a default value or a type.
        label_name: the column returned as the label.
        select_columns: names or indices of the columns to read (others are skipped while parsing).
        field_delim, use_quote_delim, na_value, header, encoding: how the files are written.
        num_epochs, shuffle, shuffle_buffer_size, shuffle_seed, prefetch_buffer_size: see FileDataset.
        compression_type: None or '' (from the extension, e.g. '.gz'), 'GZIP', or a pyarrow codec name.
        block_size: bytes parsed at a time (bounds memory together with the shuffle buffer).

    Returns:
        A ``FileDataset``; return it from an input_fn.

    Raises:
        ValueError: 'No files match `file_pattern`', unknown columns, a label not among the columns,
            bad column_defaults length; while reading, unparsable or missing required fields.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.csv"
    >>> _ = path.write_text("x,label\\n1.5,0\\n2.5,1\\n3.5,0\\n")
    >>> dataset = make_csv_dataset(str(path), 2, label_name="label", num_epochs=1, shuffle=False)
    >>> [(f["x"].tolist(), y.tolist()) for f, y in dataset]
    [([1.5, 2.5], [0, 1]), ([3.5], [0])]
    """
    require_pyarrow("make_csv_dataset")
    check_positive("block_size", block_size)
    files = resolve_files(file_pattern)
    base = CsvFormat(
        column_names=tuple(column_names or ()),
        selected=(),
        types={},
        defaults={},
        header=header,
        field_delim=field_delim,
        use_quote_delim=use_quote_delim,
        na_value=na_value,
        compression=_codec(compression_type),
        encoding=encoding,
        block_size=block_size,
    )
    if column_names is None:
        if not header:
            raise ValueError(
                f"Cannot infer column names without a header line: header=False was given for {files[0]}. "
                "Pass column_names=[...], or header=True if its first line names the columns."
            )
        base = dataclasses.replace(base, column_names=_header_names(files[0], base))
    selected = select_names(base.column_names, select_columns)
    check_label(label_name, selected)
    types, defaults = _column_types(files[0], base, selected, column_defaults)
    csv_format = dataclasses.replace(base, selected=tuple(selected), types=types, defaults=defaults)
    return FileDataset(
        files=files,
        read_file=functools.partial(read_csv_chunks, csv_format=csv_format),
        batch_size=batch_size,
        label_name=label_name,
        num_epochs=num_epochs,
        shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_seed=shuffle_seed,
        prefetch_buffer_size=prefetch_buffer_size,
    )


def read_csv_chunks(path: str, csv_format: CsvFormat) -> Iterator[Chunk]:
    """One CSV file as a stream of column chunks, one per parsed block, defaults filled in."""
    import pyarrow as pa

    reader = _open(path, csv_format, dict(csv_format.types))
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as err:
                raise ValueError(
                    f"Cannot parse CSV file {path!r}: {err}. Column types are fixed from the first block of "
                    "the first file; pass column_defaults=[...] to set them."
                ) from err
            yield arrow_chunk(_fill_defaults(batch, csv_format, path))
    finally:
        reader.close()


def _fill_defaults(batch: Any, csv_format: CsvFormat, path: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if column.null_count:
            default = csv_format.defaults[name]
            if default is REQUIRED:
                raise ValueError(
                    f"Field {name!r} is required but missing in a record of {path!r}. Give it a default "
                    f"value in column_defaults (e.g. 0.0), or fix the file."
                )
            column = pc.fill_null(column, pa.scalar(default, type=column.type))
        columns.append(column)
    return pa.record_batch(columns, names=batch.schema.names)


def _column_types(
    first_file: str, base: CsvFormat, selected: list[str], column_defaults: Sequence[Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Types and fill values of the selected columns: from column_defaults, else inferred."""
    if column_defaults is None:
        reader = _open(first_file, dataclasses.replace(base, selected=tuple(selected)), {})
        try:
            schema = reader.schema
        finally:
            reader.close()
        types = {name: _model_type(schema.field(name).type) for name in selected}
        return types, {name: zero_of(arrow_type) for name, arrow_type in types.items()}
    if isinstance(column_defaults, (str, bytes)) or not isinstance(column_defaults, Sequence):
        raise TypeError(f"column_defaults must be a list. Received: {column_defaults!r}.")
    if len(column_defaults) == len(base.column_names):
        named = dict(zip(base.column_names, column_defaults, strict=True))
    elif len(column_defaults) == len(selected):
        named = dict(zip(selected, column_defaults, strict=True))
    else:
        raise ValueError(
            f"column_defaults must have one entry per column ({len(base.column_names)}) or per selected "
            f"column ({len(selected)}). Received {len(column_defaults)} entries."
        )
    specs = {name: arrow_type_and_default(named[name], name) for name in selected}
    return {name: spec[0] for name, spec in specs.items()}, {name: spec[1] for name, spec in specs.items()}


def _model_type(arrow_type: Any) -> Any:
    """Inferred types as models want them: float32 for floats, strings for all-empty columns."""
    import pyarrow as pa

    if pa.types.is_floating(arrow_type):
        return pa.float32()
    if pa.types.is_null(arrow_type):
        return pa.string()
    return arrow_type


def _header_names(path: str, base: CsvFormat) -> tuple[str, ...]:
    reader = _open(path, base, {})
    try:
        return tuple(reader.schema.names)
    finally:
        reader.close()


def _open(path: str, csv_format: CsvFormat, types: dict[str, Any]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    named = bool(csv_format.column_names)
    read_options = pa_csv.ReadOptions(
        column_names=list(csv_format.column_names) if named else None,
        skip_rows=1 if named and csv_format.header else 0,
        block_size=csv_format.block_size,
        encoding=csv_format.encoding,
    )
    parse_options = pa_csv.ParseOptions(
        delimiter=csv_format.field_delim, quote_char='"' if csv_format.use_quote_delim else False
    )
    convert_options = pa_csv.ConvertOptions(
        column_types=types,
        include_columns=list(csv_format.selected),
        null_values=[csv_format.na_value],
        strings_can_be_null=True,
    )
    source: Any = path
    if csv_format.compression is not None:
        source = pa.input_stream(path, compression=csv_format.compression)
    try:
        return pa_csv.open_csv(source, read_options, parse_options, convert_options)
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        raise ValueError(f"Cannot read CSV file {path!r}: {err}") from err


def _codec(compression_type: str | None) -> str | None:
    if not compression_type:
        return None
    if compression_type.upper() == "ZLIB":
        raise ValueError(
            "compression_type='ZLIB' (raw zlib streams) is not supported; use 'GZIP' or another pyarrow "
            "codec."
        )
    return compression_type.lower()
