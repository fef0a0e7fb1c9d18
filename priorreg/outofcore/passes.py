"""The passes over the partitions: per-partition reductions and how they combine.

Householder (TSQR) factors and weighted moments of each partition, merged in a
reduction tree; ``dask.compute`` with an optional progress bar; the coded
partition (:class:`_Block`) and the source that codes and reduces partitions.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from priorreg._typing import FloatArray
from priorreg.blas_threads import one_blas_thread
from priorreg.separation import distinct_rows

#: Partial factors combined per node of the reduction tree.
_SPLIT_EVERY = 8
#: Rows per chunk of a partition: 4096 x (k + 1) doubles stay in a core's L2
#: cache for k up to about 30 while the Householder reflectors (level-2 BLAS,
#: one sweep of the chunk per column) are applied; 32768-row chunks streamed
#: from L3/memory and took 1.5x as long for k = 20.
_QR_ROWS = 4096


#: Block size of the compact-WY Householder QR (``geqrt``): for the thin
#: chunks of a pass (4096 x 22) its level-3 updates took 0.7x the time of
#: ``geqrf``, which factorizes panels narrower than 32 columns unblocked.
_QR_BLOCK = 8


def _qr_r(A: FloatArray) -> FloatArray:
    """Householder triangular factor of ``A`` (LAPACK ``geqrt``), ``min(m, n)`` rows.

    The same reflectors as ``geqrf``, applied in blocks of :data:`_QR_BLOCK`
    (level-3 BLAS). ``A`` (Fortran order avoids a copy) is overwritten.
    """
    m, n = A.shape
    if m == 0 or n == 0:
        return np.zeros((0 if m == 0 else min(m, n), n))
    qr, _, info = lapack.dgeqrt(min(_QR_BLOCK, m, n), A, overwrite_a=True)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dgeqrt failed with info={info}")
    return np.triu(qr[: min(m, n)])


def _chunks(
    X: FloatArray | tuple[Column, ...],
    target: FloatArray | None,
    ones: bool = False,
    n: int | None = None,
    size: int | None = None,
) -> Iterator[tuple[slice, FloatArray]]:
    """Row chunks ``[X, target]`` (``[1, X, target]`` with ``ones``) of ``size`` rows.

    ``size`` defaults to ``_QR_ROWS`` (Householder QR's chunks).

    ``X`` is a matrix or its columns (then ``n``, the number of rows, is
    needed when no column is an array). Each chunk is copied into one
    reused Fortran-ordered buffer (what LAPACK wants, so no further copy)
    and is overwritten by the next: consume it before advancing.
    """
    if isinstance(X, np.ndarray):
        n = X.shape[0]
        columns: tuple[Column, ...] = tuple(X[:, j] for j in range(X.shape[1]))
    else:
        columns = X
        if n is None:
            n = next(c.shape[0] for c in (*columns, target) if isinstance(c, np.ndarray))
    layout = ((1.0,) if ones else ()) + columns + (() if target is None else (target,))
    size = _QR_ROWS if size is None else size
    buf = np.empty((min(size, n), len(layout)), order="F")
    for start in range(0, n, size):
        stop = min(start + size, n)
        shape = (stop - start, len(layout))
        a = buf if shape == buf.shape else np.empty(shape, order="F")
        for j, col in enumerate(layout):
            a[:, j] = col[start:stop] if isinstance(col, np.ndarray) else col
        yield slice(start, stop), a


def _stack_factors(factors: list[FloatArray], p: int) -> FloatArray:
    """One triangular factor from the factors of row chunks (TSQR within a partition)."""
    if not factors:
        return np.zeros((0, p))
    if len(factors) == 1:
        return factors[0]
    return _qr_r(np.asfortranarray(np.vstack(factors)))


def _weighted_qr(X: FloatArray, target: FloatArray, sw: FloatArray | None) -> FloatArray:
    """Triangular factor of ``[sw X, sw target]``, built and factorized in row chunks.

    Each chunk of ``_QR_ROWS`` rows stays in cache while its Householder
    reflectors are applied (a level-2 factorization of the whole partition
    would stream it from memory once per column); the chunk factors are
    stacked and factorized again (TSQR within the partition, no copy of
    the partition).
    """
    factors = []
    for rows, a in _chunks(X, target):
        if sw is not None:
            a *= sw[rows, None]
        factors.append(_qr_r(a))
    return _stack_factors(factors, X.shape[1] + 1)


def _column_scan(
    X: FloatArray | tuple[Column, ...],
    target: FloatArray | None,
    w: FloatArray | None,
    n: int | None = None,
) -> dict[str, Any]:
    r"""Extrema and weighted moments of the columns, or their TSQR factor, in one sweep.

    ``X`` is a matrix or its columns (:attr:`_Block.columns`, ``n`` rows). Every chunk of
    rows is read from the partition once and, while it is in cache, gives
    the extrema of the columns of ``X`` and either

    - without ``target``: the weighted moments of ``X`` (``x_mom``, merged
      over chunks as :func:`_chan`); or
    - with ``target``: the Householder factor ``scan_R`` of
      ``W^{1/2} [1, X, target]``, from which :func:`split_scan_factor` reads
      the moments and the factor of ``W^{1/2} [X, target]`` after the merge.

    Returns
    -------
    dict
        ``x_min``, ``x_max`` and ``x_mom`` or ``scan_R``.
    """
    k = X.shape[1] if isinstance(X, np.ndarray) else len(X)
    stats = ColumnStats(k, moments=target is None)
    sw = None if w is None or target is None else np.sqrt(w)
    factors = []
    for rows, a in _chunks(X, target, ones=target is not None, n=n):
        if target is None:
            stats.add(a, None if w is None else w[rows])
            continue
        stats.add(a[:, 1 : k + 1], None)
        if sw is not None:
            a *= sw[rows, None]
        factors.append(_qr_r(a))
    out = stats.sums()
    if target is not None:
        out["scan_R"] = _stack_factors(factors, k + 2)
    return out


class ColumnStats:
    """Extrema and (optionally) weighted moments of the design's columns, chunk by chunk.

    What the first pass over the data learns of the columns: the model's
    constant column and the separation check's scales from the extrema, the
    column sds of ``standardize`` and of the units check from the moments
    (merged over chunks as :func:`_chan`). :func:`_column_scan` and the GLM's
    first IRLS pass (:mod:`priorreg.outofcore.irls_pass`) both feed it the
    chunks they read anyway.
    """

    def __init__(self, k: int, moments: bool = True) -> None:
        self.x_min, self.x_max = np.full(k, np.inf), np.full(k, -np.inf)
        self.moments: tuple[Any, Any, Any] | None = None
        if moments:
            self.moments = (0.0, np.zeros(k), np.zeros(k))
        self._squares: FloatArray | None = None  # the chunks' squared deviations, reused

    def add(self, cols: FloatArray, w: FloatArray | None) -> None:
        """A chunk of rows of the columns (unweighted) and their weights."""
        np.minimum(self.x_min, cols.min(axis=0), out=self.x_min)  # NaN propagates, as X.min()
        np.maximum(self.x_max, cols.max(axis=0), out=self.x_max)
        if self.moments is not None:
            self.moments = _chan(self.moments, self._chunk_moments(cols, w))

    def _chunk_moments(self, cols: FloatArray, w: FloatArray | None) -> tuple[float, Any, Any]:
        """:func:`_moments` of a chunk, its squared deviations written into one reused buffer.

        A chunk-sized temporary per chunk would be a fresh ``mmap`` in
        Dask's workers (:class:`priorreg.outofcore.irls_pass._Sweep`).
        """
        m = cols.shape[0]
        if self._squares is None or self._squares.shape[0] < m:
            self._squares = np.empty(cols.shape, order="F")
        return _moments(cols, w, self._squares[:m])

    def sums(self) -> dict[str, Any]:
        """``x_min``, ``x_max`` and, when counted, ``x_mom`` (merged by :func:`_merge`)."""
        out: dict[str, Any] = {"x_min": self.x_min, "x_max": self.x_max}
        if self.moments is not None:
            out["x_mom"] = self.moments
        return out


def split_scan_factor(scan: dict[str, Any]) -> dict[str, Any]:
    r"""Moments and the fit's factor from ``scan_R``, the factor of ``W^{1/2} [1, X, t]``.

    With ``R`` that factor (``R^T R = [1, X, t]^T W [1, X, t]``), the
    first row holds the total weight and the weighted sums, and the rest
    the centred part:

    .. math::

        \sum_i w_i = R_{00}^2, \qquad
        m_j = R_{0j} / R_{00}, \qquad
        S_j = \sum_i w_i (a_{ij} - m_j)^2 = \sum_{l \ge 1} R_{lj}^2,

    and the factor of ``W^{1/2} [X, t]`` is the triangular factor of
    ``R[:, 1:]`` (both have the Gram matrix ``[X, t]^T W [X, t]``).
    Householder's backward error bounds the error of ``sqrt(S_j)`` by a
    small multiple of ``eps * ||W^{1/2} a_j||``, the accuracy of the fit
    itself; a column whose extrema agree is constant and gets ``S_j = 0``
    exactly, as :func:`priorreg.penalty.column_sd`.

    Returns
    -------
    dict
        ``scan`` without ``scan_R`` and with ``x_mom``, ``y_mom`` (the
        target's moments, one column) and ``fit_R``.
    """
    out = dict(scan)
    R = np.asarray(out.pop("scan_R"), dtype=float)
    k = R.shape[1] - 2
    if R.shape[0] == 0:
        total, mean, m2 = 0.0, np.zeros(k + 1), np.zeros(k + 1)
    else:
        total = float(R[0, 0] ** 2)
        mean = R[0, 1:] / R[0, 0]
        m2 = np.einsum("ij,ij->j", R[1:, 1:], R[1:, 1:])
        m2[:k][out["x_min"] == out["x_max"]] = 0.0
    out["x_mom"] = (total, mean[:k], m2[:k])
    out["y_mom"] = (total, mean[k:], m2[k:])
    out["fit_R"] = _qr_r(np.asfortranarray(R[:, 1:]))
    return out


def _chan(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """Combine weighted (total weight, mean, sum of squared deviations) (Chan et al. 1979)."""
    wa, ma, sa = a
    wb, mb, sb = b
    w = wa + wb
    if w <= 0:
        return w, ma, sa
    delta = mb - ma
    return w, ma + delta * (wb / w), sa + sb + delta**2 * (wa * wb / w)


def _moments(
    values: FloatArray, w: FloatArray | None, squares: FloatArray | None = None
) -> tuple[float, Any, Any]:
    """Weighted moments of the rows of ``values`` (columns independent).

    ``squares``, an array of ``values``' shape, receives the squared
    deviations instead of a new array.
    """
    if values.shape[0] == 0:
        zero = np.zeros(values.shape[1:])
        return 0.0, zero, zero
    w = np.ones(values.shape[0]) if w is None else w
    total = float(w.sum())
    mean = (w @ values) / total
    deviations = np.subtract(values, mean, out=squares)
    return total, mean, w @ np.square(deviations, out=deviations)


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Combine partial reductions: factors, extrema, moments, sums, lists, distinct rows."""
    out = dict(parts[0])
    for part in parts[1:]:
        for key, value in part.items():
            mine = out[key]
            if key.endswith("_R"):
                out[key] = _qr_r(np.vstack([mine, value]))
            elif key.endswith("_min"):
                out[key] = np.fmin(mine, value)
            elif key.endswith("_max"):
                out[key] = np.fmax(mine, value)
            elif key.endswith("_mom"):
                out[key] = _chan(mine, value)
            elif key.endswith("_list"):
                out[key] = [*mine, *value]
            elif key.endswith("_distinct"):
                out[key] = _pool_distinct(mine, value)
            else:
                out[key] = mine + value
    return out


def _pool_distinct(a: Any, b: Any) -> Any:
    """Pool two ``(rows, counts, max_rows)`` of distinct rows; ``None`` once there are too many."""
    if a is None or b is None:
        return None
    pooled = distinct_rows(np.vstack([a[0], b[0]]), a[2], np.concatenate([a[1], b[1]]))
    return None if pooled is None else (*pooled, a[2])


def _tree(leaves: list[Any], split_every: int = _SPLIT_EVERY) -> Any:
    """Reduce delayed partial results in a tree of ``_merge`` nodes."""
    import dask

    level = list(leaves)
    while len(level) > 1:
        level = [
            dask.delayed(_merge, pure=False)(*level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    return level[0]


def _distributed_client() -> Any:
    """The ``distributed`` client that ``dask.compute`` would use, if any."""
    import dask.base

    scheduler = dask.base.get_scheduler()
    client = getattr(scheduler, "__self__", None)
    if client is not None and type(client).__name__ == "Client":
        return client
    return None


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread in this process while a pass runs (:mod:`priorreg.blas_threads`).

    Dask already runs the partitions in parallel; a partition's Householder
    QR is level-2 BLAS on a thin matrix, where two BLAS threads per task
    contend with the other tasks' and, on a busy machine, made an IRLS pass
    on the threaded scheduler 20 to 80 times slower (distributed's workers
    start with ``OPENBLAS_NUM_THREADS=1`` for the same reason).
    """
    return one_blas_thread()


def _compute(obj: Any, progress: bool, label: str) -> Any:
    """``dask.compute`` on the active scheduler, with a progress bar when asked."""
    with _one_blas_thread():
        return _compute_now(obj, progress, label)


def _compute_now(obj: Any, progress: bool, label: str) -> Any:
    import dask

    if not progress:
        return dask.compute(obj)[0]
    start = time.perf_counter()
    print(f"priorreg: {label}", file=sys.stderr, flush=True)
    client = _distributed_client()
    if client is not None:
        from distributed import progress as show_progress

        future = client.compute(obj)
        show_progress(future)
        out = future.result()
    else:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            out = dask.compute(obj)[0]
    print(f"priorreg: {label} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


#: A design column: its values, or one number for a constant column.
Column = FloatArray | float


class _Block:
    """One partition coded as arrays: the model's view of those rows.

    The design is given as the matrix ``X`` or as its ``columns``; then
    ``X`` is built on first use, and a pass that reads the columns chunk
    by chunk (:func:`_column_scan`) never writes the n x k matrix.
    """

    def __init__(
        self,
        y: FloatArray,
        X: FloatArray | None = None,
        rows: dict[str, FloatArray | None] | None = None,
        index: Any = None,
        dropped: int = 0,
        *,
        columns: tuple[Column, ...] | None = None,
    ) -> None:
        if (X is None) == (columns is None):
            raise TypeError("give the design as X or as columns")
        self.y = y
        self.rows = {} if rows is None else rows
        self.index = index
        self.dropped = dropped
        self._X = X
        self._columns = columns

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(np.shape(self.y)[0])

    @property
    def X(self) -> FloatArray:  # noqa: N802 - the design matrix, as statsmodels names it
        """The design matrix (Fortran order), built from the columns on first use."""
        if self._X is None:
            self._X = _matrix(self.columns, self.n)
        return self._X

    @property
    def columns(self) -> tuple[Column, ...]:
        """The design's columns (views of ``X`` when it was given)."""
        if self._columns is None:
            X = self._X
            self._columns = tuple(X[:, j] for j in range(X.shape[1]))
        return self._columns


def _matrix(columns: tuple[Column, ...], n: int) -> FloatArray:
    """The n x k Fortran-ordered matrix of ``columns``."""
    X = np.empty((n, len(columns)), order="F")
    for j, col in enumerate(columns):
        X[:, j] = col
    return X


def _apply(coder: Any, number: int, fn: Callable[..., Any], args: tuple[Any, ...], *pieces: Any):
    """Read (:class:`_Read`), code partition ``number`` and reduce it with ``fn`` (one task)."""
    pieces = tuple(p.compute() if isinstance(p, _Read) else p for p in pieces)
    return fn(coder(number, *pieces), *args)


class _Read:
    """A partition's read (a Parquet row group, ...) done inside the task that uses it.

    A partition whose task depends on no other (what ``read_parquet``,
    ``from_pandas`` and ``from_delayed`` give, after Dask's optimization) is
    computed by the pass's own task rather than by a task of its own: the
    partition (a whole DataFrame) is never held in a worker's memory between
    two tasks nor sent from one worker to another, and each pass schedules
    one task per partition instead of two. The graph of the read is the one
    Dask built; it is run as it is, by the synchronous scheduler, in the worker,
    unless it is a plain Parquet read that pyarrow does without the copies of
    Dask's task (:mod:`priorreg.outofcore.parquet_read`).
    """

    __slots__ = ("direct", "key", "task")

    def __init__(self, key: Any, task: Any) -> None:
        from priorreg.outofcore.parquet_read import direct_reader

        self.key, self.task = key, task
        #: a plain Parquet read done by pyarrow, without Dask's task (None: Dask's task)
        self.direct = direct_reader(task)

    def compute(self) -> Any:
        import dask

        if self.direct is not None:
            try:
                return self.direct()
            except Exception:  # whatever the direct read cannot do, Dask's task does
                pass
        return dask.get({self.key: self.task}, self.key)


def _inlined(piece: Any) -> Any:
    """``piece`` as a :class:`_Read` when its task depends on no other, else as it is."""
    from dask.core import get_dependencies
    from dask.delayed import Delayed

    if not isinstance(piece, Delayed):
        return piece
    graph, key = piece.__dask_graph__(), piece.key
    try:
        task = graph[key]
        if get_dependencies(graph, key):
            return piece
    except (KeyError, TypeError):  # not a graph we can read a task from: leave it to Dask
        return piece
    return _Read(key, task)


class _Source:
    """The partitions of a Dask dataset and how to code each into a :class:`_Block`.

    Nothing is kept between passes: every pass reads and codes each
    partition again, so memory stays bounded by a partition. A partition
    that depends on nothing else is read inside the pass's task (:class:`_Read`).
    """

    def __init__(self, parts: list[tuple[Any, ...]], coder: Any, kind: str, divisions: Any):
        import dask

        self.parts = parts
        #: the reads done inside the pass's tasks, by the key of their partition
        self._reads = {
            read.key: read
            for part in parts
            for read in map(_inlined, part)
            if isinstance(read, _Read)
        }
        self.coder = coder
        self.kind = kind  # "frame" (pandas index kept), "series" or "array"
        self.divisions = divisions
        self._coder = dask.delayed(coder, name=f"priorreg-coder-{uuid.uuid4().hex}", traverse=False)
        self.counts: list[int] | None = None

    def tasks(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        import dask

        return [
            dask.delayed(_apply, pure=False)(self._coder, i, fn, args, *map(self._read, pieces))
            for i, pieces in enumerate(self.parts)
        ]

    def _read(self, piece: Any) -> Any:
        """``piece``, or its read when that is done inside the pass's task (:class:`_Read`)."""
        key = getattr(piece, "key", None)
        read = self._reads.get(key) if isinstance(key, (str, tuple)) else None
        return piece if read is None else read

    def reduce(self, fn: Callable[..., Any], *args: Any, progress: bool = False, label: str = ""):
        """One pass: ``fn(block, *args)`` per partition, combined by :func:`_merge`."""
        return _compute(_tree(self.tasks(fn, *args)), progress, label or fn.__name__)

    def rows(self, fn: Callable[..., FloatArray], *args: Any, name: str) -> Any:
        """A lazy n-length result: ``fn(block, *args)`` per partition."""
        import dask.array as da
        import dask.dataframe as dd

        if self.kind == "array":
            if self.counts is None:
                raise RuntimeError("the row counts of the partitions are not known yet")
            arrays = [
                da.from_delayed(task, shape=(count,), dtype=float)
                for task, count in zip(self.tasks(fn, *args), self.counts, strict=True)
            ]
            return da.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        series = self.tasks(_RowsAsSeries(fn, name), *args)
        meta = pd.Series(np.zeros(0), name=name, dtype=float)
        return dd.from_delayed(series, meta=meta, divisions=self.divisions, verify_meta=False)


@dataclass(frozen=True)
class _RowsAsSeries:
    """``fn(block, *args)`` as a Series labelled with the block's row index."""

    fn: Callable[..., FloatArray]
    name: str

    def __call__(self, block: _Block, *args: Any) -> pd.Series:
        values = np.asarray(self.fn(block, *args), dtype=float)
        return pd.Series(values, index=block.index, name=self.name)
