"""A partition of a plain Parquet read, read by pyarrow without Dask's task.

``dask.dataframe.read_parquet`` builds one task per partition that opens the
file through fsspec, reads the row groups into an Arrow table, converts it to
pandas in one consolidated block and then resets the index and selects the
columns. When that task is recognised with certainty as a plain read (local
files, no filters, no hive partitions, no index, no per-piece options; alone
or as Dask fuses several with a column selection), :func:`direct_reader`
returns a reader that reads the same columns and row groups with
:class:`pyarrow.parquet.ParquetFile` (one thread, as Dask's task) and
converts them with Dask's own Arrow-to-pandas conversion, leaving each
column in its own block (``split_blocks``, no consolidating copy). The frame
has the same columns, values, dtypes and index as Dask's. Anything not
recognised, and any error while reading this way, is left to Dask's task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

#: The options of Dask's Parquet reader a plain read may carry, all checked below.
_KNOWN_OPTIONS = frozenset(
    {"partitions", "categories", "filters", "schema", "dataset", "convert_string", "read"}
    | {"dtype_backend"}
)


class NotPlainError(Exception):
    """The read is not one :class:`DirectRead` reproduces: Dask's task does it."""


class DirectRead:
    """Read row groups of local Parquet files as Dask's read task would.

    Parameters
    ----------
    pieces : list of (str, list of int or None)
        The file paths and their row groups (``None``: the whole file), in order.
    columns : list of str
        The columns, in the order of Dask's partition.
    engine : type
        Dask's Arrow engine, whose Arrow-to-pandas conversion is used.
    convert : dict
        The conversion options of Dask's task (``categories``, ``dtype_backend``,
        ``convert_string``).
    """

    __slots__ = ("columns", "convert", "engine", "pieces")

    def __init__(
        self,
        pieces: list[tuple[str, list[int] | None]],
        columns: list[str],
        engine: Any,
        convert: dict,
    ) -> None:
        self.pieces, self.columns, self.engine, self.convert = pieces, columns, engine, convert

    def __call__(self) -> pd.DataFrame:
        """The partition; :class:`NotPlainError` when its files store an index."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for path, row_groups in self.pieces:
            pf = pq.ParquetFile(path)
            meta = pf.schema_arrow.pandas_metadata or {}
            if any(not isinstance(ix, dict) for ix in meta.get("index_columns", [])):
                # Dask reads the stored index and drops it: left to Dask's task
                raise NotPlainError("the file stores an index column")
            if row_groups is None:
                tables.append(pf.read(columns=self.columns, use_threads=False))
            else:
                table = pf.read_row_groups(row_groups, columns=self.columns, use_threads=False)
                tables.append(table)
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        frame = self.engine._arrow_table_to_pandas(
            table,
            self.convert["categories"],
            dtype_backend=self.convert["dtype_backend"],
            convert_string=self.convert["convert_string"],
            arrow_to_pandas={"split_blocks": True},
        )
        if list(frame.index.names) != [None]:
            raise NotPlainError("the pandas metadata names an index")
        frame.index = pd.RangeIndex(len(frame))  # Dask's reset_index(drop=True)
        if list(frame.columns) != self.columns:
            frame = frame[self.columns]
        return frame


def _piece(piece: Any) -> tuple[str, list[int] | None]:
    """``(path, row groups)`` of one piece of Dask's task, or :class:`NotPlainError`."""
    if type(piece) is dict and set(piece) <= {"piece", "kwargs"} and not piece.get("kwargs"):
        piece = piece["piece"]
    else:
        raise NotPlainError("a piece with options")
    if type(piece) is str:
        return piece, None
    if type(piece) not in (tuple, list) or len(piece) != 3:
        raise NotPlainError("an unknown piece")
    path, row_groups, keys = piece
    if type(path) is not str or keys:
        raise NotPlainError("a hive-partitioned piece")
    if row_groups is None:
        return path, None
    if type(row_groups) is int:
        return path, [row_groups]
    if type(row_groups) in (tuple, list) and all(type(r) is int for r in row_groups):
        return path, list(row_groups)
    raise NotPlainError("unknown row groups")


def _recognise(task: Any) -> DirectRead:
    """The :class:`DirectRead` of Dask's read ``task``, or :class:`NotPlainError`."""
    from dask._task_spec import Task
    from dask.dataframe.io.parquet.arrow import ArrowDatasetEngine
    from dask.dataframe.io.parquet.core import ParquetFunctionWrapper
    from fsspec.implementations.local import LocalFileSystem

    if type(task) is not Task or task.kwargs or len(task.args) != 1:
        raise NotPlainError("not a one-argument task")
    func = task.func
    if type(func) is not ParquetFunctionWrapper or func.engine is not ArrowDatasetEngine:
        raise NotPlainError("not Dask's Arrow Parquet reader")
    if type(func.fs) is not LocalFileSystem:
        raise NotPlainError("not a local file system")
    if func.index not in (None, False) or func.meta.columns.name is not None:
        raise NotPlainError("an index is set")
    columns = func.columns
    if type(columns) is not list or not columns or len(set(columns)) != len(columns):
        raise NotPlainError("no plain list of columns")
    if not all(type(c) is str for c in columns):
        raise NotPlainError("a column name that is not a string")
    options = func.common_kwargs
    if not set(options) <= _KNOWN_OPTIONS:
        raise NotPlainError("an option of the reader")
    if options.get("partitions") or options.get("filters") is not None:
        raise NotPlainError("hive partitions or filters")
    categories = options.get("categories") or []
    if type(categories) is not list or not all(type(c) is str for c in categories):
        raise NotPlainError("categories not given as column names")
    if options.get("read", {}) not in ({}, {"open_file_options": {}}):
        raise NotPlainError("read options")
    dataset = options.get("dataset", {})
    partitioning = dataset.get("partitioning")
    if not set(dataset) <= {"partitioning", "format"} or not isinstance(partitioning, str | None):
        raise NotPlainError("dataset options")
    (arg,) = task.args
    pieces = [_piece(p) for p in (arg if type(arg) is list else [arg])]
    if not pieces:
        raise NotPlainError("no pieces")
    convert = {
        "categories": categories,
        "dtype_backend": options.get("dtype_backend"),
        "convert_string": options.get("convert_string", False),
    }
    return DirectRead(pieces, list(columns), ArrowDatasetEngine, convert)


class FusedRead:
    """Dask's fusion of reads, ``concat([read, ...])[columns]``, on the direct reads.

    Dask's own ``concat`` is applied (``None``: one read), so the index (each
    piece's own ``0..n-1``) and the columns are the ones Dask's task gives.
    """

    __slots__ = ("columns", "concat", "reads")

    def __init__(
        self, reads: list[DirectRead], concat: Callable[..., Any] | None, columns: list[str]
    ) -> None:
        self.reads, self.concat, self.columns = reads, concat, columns

    def __call__(self) -> pd.DataFrame:
        """The partition, as Dask's fused task gives it."""
        frames = [read() for read in self.reads]
        frame = frames[0] if self.concat is None else self.concat(frames)
        return frame[self.columns]


def _recognise_fused(task: Any) -> FusedRead:
    """The :class:`FusedRead` of one task ``concat([read, ...])[columns]`` or ``read[columns]``."""
    import operator

    from dask._task_spec import List, Task, TaskRef, _execute_subgraph
    from dask.dataframe.dispatch import concat

    if type(task) is not Task or task.func is not _execute_subgraph:
        raise NotPlainError("not a fused subgraph")
    if task.kwargs or len(task.args) != 3:
        raise NotPlainError("not a fused subgraph")
    inner, out, inkeys = task.args
    if type(inner) is not dict or len(inner) != 2 or inkeys != ():
        raise NotPlainError("not a subgraph of two tasks")
    select = inner[out]
    if type(select) is not Task or select.func is not operator.getitem:
        raise NotPlainError("not a column selection")
    if select.kwargs or len(select.args) != 2:
        raise NotPlainError("not a column selection")
    ref, columns = select.args
    if type(ref) is not TaskRef or ref.key == out or type(columns) is not list:
        raise NotPlainError("not a column selection of a read")
    if not all(type(c) is str for c in columns):
        raise NotPlainError("a column name that is not a string")
    read = inner[ref.key]
    if type(read) is Task and read.func is concat and not read.kwargs and len(read.args) == 1:
        (parts,) = read.args
        if type(parts) is not List or not parts.args:
            raise NotPlainError("not a list of reads")
        return FusedRead([_recognise(part) for part in parts.args], concat, list(columns))
    return FusedRead([_recognise(read)], None, list(columns))


def direct_reader(task: Any) -> DirectRead | FusedRead | None:
    """A reader of Dask's Parquet read ``task`` without Dask, or None when not recognised."""
    try:
        try:
            return _recognise(task)
        except NotPlainError:
            return _recognise_fused(task)
    except Exception:  # anything unknown (another Dask's layout) is left to Dask's task
        return None
