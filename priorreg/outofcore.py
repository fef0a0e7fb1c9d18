r"""Out-of-core fits on Dask: the same estimators, one pass over the partitions at a time.

``PriorRidge`` and ``PriorGLM`` (and their ``from_formula``) accept a
``dask.dataframe.DataFrame`` (the array interface also dask Series and
arrays) and return the results objects of the in-memory fit, with the same
numbers, summary and penalty selection. Everything runs on the active Dask
scheduler: threads, processes or a ``distributed`` cluster.

How the data are reduced
------------------------
*Design.* The patsy design is built once, on the client, from a small
template: real rows of the first partition plus every level of every
categorical factor (known categories of categorical dtypes are read from
the metadata; otherwise one parallel pass over the categorical columns
collects them). Every partition is then coded with these design infos, so
all partitions produce identical columns even when one lacks a level.

*Linear model (TSQR).* One pass: each partition reduces
``[W^1/2 X, W^1/2 (y - o)]`` to its small triangular Householder factor;
the factors are stacked and re-factorized in a tree, giving the factor
``R`` of the whole data (Demmel et al. 2012). The prior enters afterwards,
exactly, as a unit upper-triangular column operation
(``z = (y - o) - X b0``), and :func:`priorreg.linalg.factorize_triangular`
builds the same :class:`~priorreg.linalg.PathFactor` as the in-memory fit:
coefficients, edf, GCV, REML and inference for every ``lam`` follow without
touching the data again. The same pass collects what the in-memory model
reads from its arrays (number of rows, constant columns, weighted column
moments for ``standardize`` and R-squared, ``sum(log w)``). Leverages, and
so LOOCV, need one more pass for all ``lam`` of a grid at once (LOOCV
selection: a second pass on Chebyshev nodes around the grid minimum, on
whose interpolant, exact to rounding there, the zoom of
:func:`priorreg.selection.select_lam` runs).

*GLM.* One pass per penalized IRLS iteration: each partition computes the
linear predictor, the mean, the deviance and the working weights and
response at the candidate coefficients, and reduces the working problem to
its triangular factor. The IRLS steps, step halving, convergence test,
performance iteration and outer selection are those of
:func:`priorreg.irls.penalized_irls` and ``PriorGLM.fit``.

Memory is bounded by a few copies of one partition per worker thread, not
by the data. n-length results (fitted values, residuals, leverages) are
lazy Dask collections; nothing is computed until asked for.

References
----------
Demmel, Grigori, Hoemmen, Langou (2012). Communication-optimal parallel
and sequential QR and LU factorizations. SIAM J. Sci. Comput. 34(1).
"""

from __future__ import annotations

import ast
import math
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import lapack
from scipy.optimize import minimize_scalar
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg._typing import ArrayLike, FloatArray
from priorreg.base import _constant_column, check_finite
from priorreg.glm import GLMFit, PriorGLM, _boolean_response
from priorreg.glm_results import PriorGLMResults, PriorGLMResultsWrapper
from priorreg.irls import working_selector
from priorreg.linalg import PathFactor, factorize_triangular
from priorreg.linear import LinearFit, PriorRidge, _check_lam
from priorreg.prior import check_prior_names
from priorreg.results import PriorRidgeResults, PriorRidgeResultsWrapper
from priorreg.selection import (
    Selection,
    criterion_path,
    default_grid,
    select_lam,
    warn_on_edge,
    zoom_loocv,
)

__all__ = [
    "DaskPriorGLM",
    "DaskPriorGLMResults",
    "DaskPriorRidge",
    "DaskPriorRidgeResults",
    "from_formula",
    "is_dask",
    "model_class",
    "predict",
    "refine",
]

#: Partial factors combined per node of the reduction tree.
_SPLIT_EVERY = 8
#: Rows of the first partition used as the template of the design.
_TEMPLATE_ROWS = 32
#: Chebyshev nodes (in ``log(lam)``) on which LOOCV is interpolated around
#: the grid minimum. Its singularities are a distance pi away in log(lam)
#: (at lam = -d^2), so the interpolant is accurate to rounding there.
_LOOCV_NODES = 32
_NO_ROWS = np.empty(0)
#: Rows per chunk of the QR factorization inside a partition (cache-sized).
_QR_ROWS = 32768


# ---------------------------------------------------------------- dispatch
def is_dask(obj: Any) -> bool:
    """``True`` for a Dask DataFrame, Series or Array (never imports Dask itself)."""
    if not type(obj).__module__.startswith("dask"):
        return False
    try:
        import dask.array as da
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - a dask object without dask
        return False
    return isinstance(obj, (dd.DataFrame, dd.Series, da.Array))


def model_class(cls: type) -> type:
    """The Dask counterpart of a model class (``PriorRidge`` or ``PriorGLM``)."""
    if issubclass(cls, (DaskPriorRidge, DaskPriorGLM)):
        return cls
    if issubclass(cls, PriorGLM):
        return DaskPriorGLM
    if issubclass(cls, PriorRidge):
        return DaskPriorRidge
    raise TypeError(f"{cls.__name__} has no Dask implementation")


def model_class_for(cls: type, args: Sequence[Any], kwargs: dict[str, Any]) -> type:
    """``cls``, or its Dask counterpart when ``endog`` or ``exog`` is a Dask collection.

    Used by ``PriorModel.__new__``, so that ``PriorRidge(dask_y, dask_X)``
    builds a :class:`DaskPriorRidge`.
    """
    data = [*args[:2], kwargs.get("endog"), kwargs.get("exog")]
    if any(is_dask(obj) for obj in data):
        return model_class(cls)
    return cls


def _require_dask() -> Any:
    try:
        import dask
        import dask.dataframe
    except ImportError as exc:  # pragma: no cover - exercised without dask
        raise ImportError(
            'fitting Dask data needs dask[dataframe]: pip install "priorreg[dask]"'
        ) from exc
    return dask


# ------------------------------------------------------------ the passes
def _qr_r(A: FloatArray) -> FloatArray:
    """Householder triangular factor of ``A`` (LAPACK ``geqrf``), ``min(m, n)`` rows.

    ``A`` (Fortran order avoids a copy) is overwritten.
    """
    m, n = A.shape
    if m == 0:
        return np.zeros((0, n))
    qr, _, _, info = lapack.dgeqrf(A, overwrite_a=True)
    if info != 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dgeqrf failed with info={info}")
    return np.triu(qr[: min(m, n)])


def _weighted_qr(X: FloatArray, target: FloatArray, sw: FloatArray | None) -> FloatArray:
    """Triangular factor of ``[sw X, sw target]``, built and factorized in row chunks.

    Each chunk of ``_QR_ROWS`` rows stays in cache while its Householder
    reflectors are applied (a level-2 factorization of the whole partition
    would stream it from memory once per column); the chunk factors are
    stacked and factorized again (TSQR within the partition, no copy of
    the partition).
    """
    n, k = X.shape
    factors = []
    for start in range(0, n, _QR_ROWS):
        stop = min(start + _QR_ROWS, n)
        A = np.empty((stop - start, k + 1), order="F")
        if sw is None:
            A[:, :k] = X[start:stop]
            A[:, k] = target[start:stop]
        else:
            A[:, :k] = X[start:stop] * sw[start:stop, None]
            A[:, k] = target[start:stop] * sw[start:stop]
        factors.append(_qr_r(A))
    if not factors:
        return np.zeros((0, k + 1))
    if len(factors) == 1:
        return factors[0]
    return _qr_r(np.asfortranarray(np.vstack(factors)))


def _chan(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """Combine weighted (total weight, mean, sum of squared deviations) (Chan et al. 1979)."""
    wa, ma, sa = a
    wb, mb, sb = b
    w = wa + wb
    if w <= 0:
        return w, ma, sa
    delta = mb - ma
    return w, ma + delta * (wb / w), sa + sb + delta**2 * (wa * wb / w)


def _moments(values: FloatArray, w: FloatArray | None) -> tuple[float, Any, Any]:
    """Weighted moments of the rows of ``values`` (columns independent)."""
    if values.shape[0] == 0:
        zero = np.zeros(values.shape[1:])
        return 0.0, zero, zero
    w = np.ones(values.shape[0]) if w is None else w
    total = float(w.sum())
    mean = (w @ values) / total
    return total, mean, w @ (values - mean) ** 2


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Combine partial reductions: triangular factors, extrema, moments, sums, lists."""
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
            else:
                out[key] = mine + value
    return out


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


def _compute(obj: Any, progress: bool, label: str) -> Any:
    """``dask.compute`` on the active scheduler, with a progress bar when asked."""
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


@dataclass(frozen=True)
class _Block:
    """One partition coded as arrays: the model's view of those rows."""

    y: FloatArray
    X: FloatArray
    rows: dict[str, FloatArray | None]
    index: Any
    dropped: int


def _apply(coder: Any, number: int, fn: Callable[..., Any], args: tuple[Any, ...], *pieces: Any):
    """Code partition ``number`` and reduce it with ``fn`` (one task)."""
    return fn(coder(number, *pieces), *args)


class _Source:
    """The partitions of a Dask dataset and how to code each into a :class:`_Block`.

    Nothing is kept between passes: every pass reads and codes each
    partition again, so memory stays bounded by a partition.
    """

    def __init__(self, parts: list[tuple[Any, ...]], coder: Any, kind: str, divisions: Any):
        import dask

        self.parts = parts
        self.coder = coder
        self.kind = kind  # "frame" (pandas index kept), "series" or "array"
        self.divisions = divisions
        self._coder = dask.delayed(coder, name=f"priorreg-coder-{uuid.uuid4().hex}", traverse=False)
        self.counts: list[int] | None = None

    def tasks(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        import dask

        return [
            dask.delayed(_apply, pure=False)(self._coder, i, fn, args, *pieces)
            for i, pieces in enumerate(self.parts)
        ]

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


# ------------------------------------------------------------- coding
def _check_rows(block: _Block, number: int, positive: Sequence[str]) -> _Block:
    """In-memory checks on one partition: finite values, positive weights."""
    try:
        check_finite("endog", block.y)
        check_finite("exog", block.X)
        for key, arr in block.rows.items():
            check_finite(key, arr)
            if key in positive and arr is not None and np.any(arr <= 0):
                bad = np.flatnonzero(arr <= 0)
                raise ValueError(
                    f"{key} must be > 0; {bad.size} are not (first at position "
                    f"{int(bad[0])}). Drop those rows instead of giving them weight 0"
                )
    except ValueError as exc:
        raise ValueError(f"{exc} (position within partition {number})") from None
    return block


def _drop_missing(y: FloatArray, X: FloatArray, rows: dict[str, Any]) -> np.ndarray:
    """Rows without NaN in any array (``missing="drop"``)."""
    arrays = [np.asarray(y, dtype=float), np.asarray(X, dtype=float)]
    arrays += [a for a in rows.values() if a is not None]
    keep = np.ones(arrays[0].shape[0], dtype=bool)
    for arr in arrays:
        bad = np.isnan(arr)
        keep &= ~(bad.any(axis=tuple(range(1, arr.ndim))) if arr.ndim > 1 else bad)
    return keep


@dataclass(frozen=True)
class _Plain:
    """A design whose columns are the intercept and numeric data columns as they are.

    Coding it needs no formula evaluation: ``columns`` names the data column
    of each design column (``None`` for the intercept), ``response`` the
    response's. Checked against patsy on the template rows before use.
    """

    response: str
    columns: tuple[str | None, ...]

    def code(self, frame: pd.DataFrame, missing: str) -> tuple[FloatArray, FloatArray, Any]:
        """``(y, X, rows)`` of one partition, rows with a missing value dropped."""
        used = dict.fromkeys([self.response, *(c for c in self.columns if c is not None)])
        values = {col: frame[col].to_numpy(dtype=float) for col in used}
        n = len(frame)
        keep = np.ones(n, dtype=bool)
        for arr in values.values():
            keep &= ~np.isnan(arr)
        if keep.all():
            rows: Any = np.arange(n)
            take = slice(None)
        else:
            if missing != "drop":
                raise ValueError(
                    f"{int((~keep).sum())} row(s) with missing values in the formula's "
                    "variables; pass missing='drop'"
                )
            rows = take = np.flatnonzero(keep)
        X = np.empty((rows.size, len(self.columns)), order="F")
        for j, col in enumerate(self.columns):
            X[:, j] = 1.0 if col is None else values[col][take]
        return values[self.response][take], X, rows


def _plain_plan(design: _formula.Design, template: pd.DataFrame) -> _Plain | None:
    """The :class:`_Plain` coding of a design, if it reproduces patsy on ``template``."""
    numeric = {str(c) for c in template.columns if pd.api.types.is_numeric_dtype(template[c])}
    numeric -= {str(c) for c in template.columns if pd.api.types.is_bool_dtype(template[c])}

    def plain(info: Any) -> list[str | None] | None:
        out: list[str | None] = []
        for term in info.terms:
            if not term.factors:
                out.append(None)
                continue
            if len(term.factors) != 1:
                return None
            factor = term.factors[0]
            fi = info.factor_infos[factor]
            code = getattr(factor, "code", "")
            if fi.type != "numerical" or fi.num_columns != 1 or code not in numeric:
                return None
            out.append(code)
        return out

    columns, response = plain(design.x_info), plain(design.y_info)
    if columns is None or response is None or len(response) != 1 or response[0] is None:
        return None
    plan = _Plain(response[0], tuple(columns))
    try:
        y, X, rows = plan.code(template, "drop")
        coded = _formula.rebuild_design(design, template, "drop")
    except Exception:
        return None
    same = (
        np.array_equal(rows, coded.rows)
        and np.array_equal(X, coded.exog.to_numpy(dtype=float))
        and np.array_equal(y, np.asarray(coded.endog, dtype=float))
    )
    return plan if same else None


@dataclass(frozen=True)
class _FormulaCoder:
    """Codes a pandas partition with fixed patsy design infos."""

    design: _formula.Design
    row_columns: dict[str, str | float]
    missing: str
    positive: tuple[str, ...]
    boolean_response: bool
    plain: _Plain | None = None

    def __call__(self, number: int, frame: pd.DataFrame) -> _Block:
        try:
            if self.plain is not None:
                y, X, rows = self.plain.code(frame, self.missing)
            else:
                coded = _formula.rebuild_design(self.design, frame, self.missing)
                endog = coded.endog
                if self.boolean_response:
                    endog = _boolean_response(endog)
                y, rows = endog.to_numpy(dtype=float), coded.rows
                X = coded.exog.to_numpy(dtype=float)
        except ValueError as exc:
            raise ValueError(f"partition {number}: {exc}") from None
        arrays: dict[str, FloatArray | None] = {}
        for key, column in self.row_columns.items():
            if isinstance(column, str):
                arrays[key] = frame[column].to_numpy(dtype=float)[rows]
            else:
                arrays[key] = np.full(rows.size, float(column))
        block = _Block(
            y=y,
            X=X,
            rows=arrays,
            index=frame.index[rows],
            dropped=len(frame) - rows.size,
        )
        return _check_rows(block, number, self.positive)


@dataclass(frozen=True)
class _ArrayCoder:
    """Codes aligned partitions of dask arrays/Series given to the model constructor."""

    row_keys: tuple[str, ...]
    scalars: dict[str, float]
    missing: str
    positive: tuple[str, ...]
    boolean_response: bool

    def __call__(self, number: int, endog: Any, exog: Any, *row_parts: Any) -> _Block:
        index = endog.index if isinstance(endog, (pd.Series, pd.DataFrame)) else None
        if self.boolean_response:
            endog = _boolean_response(endog)
        y = np.asarray(endog, dtype=float)
        X = np.asarray(exog, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        rows: dict[str, Any] = dict(zip(self.row_keys, row_parts, strict=True))
        rows = {k: np.asarray(v, dtype=float) for k, v in rows.items()}
        n = y.shape[0]
        for key, value in self.scalars.items():
            rows[key] = np.full(n, value)
        for name, arr in [("exog", X), *rows.items()]:
            if arr.shape[0] != n:
                raise ValueError(
                    f"partition {number}: {name} has {arr.shape[0]} rows and endog {n}; "
                    "the Dask collections must be partitioned alike"
                )
        dropped = 0
        if self.missing == "drop":
            keep = _drop_missing(y, X, rows)
            dropped = int(n - keep.sum())
            y, X = y[keep], X[keep]
            rows = {k: v[keep] for k, v in rows.items()}
            index = None if index is None else index[keep]
        block = _Block(y=y, X=X, rows=rows, index=index, dropped=dropped)
        return _check_rows(block, number, self.positive)


def _parts_of(obj: Any) -> tuple[list[Any], str, Any]:
    """Delayed partitions of a dask collection; for 2-D arrays one column block."""
    import dask.array as da

    if isinstance(obj, da.Array):
        if obj.ndim == 2:
            obj = obj.rechunk({1: -1})
            return list(obj.to_delayed()[:, 0]), "array", None
        return list(obj.to_delayed()), "array", None
    kind = "series"
    divisions = obj.divisions if obj.known_divisions else None
    return list(obj.to_delayed(optimize_graph=True)), kind, divisions


# ------------------------------------------------------------- formulas
def _names_in(code: str) -> set[str]:
    """Variable names (and quoted column names) used by a patsy factor's code."""
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names


def _factor_items(design: _formula.Design) -> list[tuple[Any, Any]]:
    return [
        (factor, info)
        for design_info in (design.y_info, design.x_info)
        for factor, info in design_info.factor_infos.items()
    ]


def _quiet_design(formula: str, frame: pd.DataFrame, env: Any, missing: str) -> _formula.Design:
    """Build a design on template rows (their warnings are not the data's)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _formula.build_design(formula, frame, env, missing)


def _head(ddf: Any) -> pd.DataFrame:
    """Rows of the first non-empty partition (of at most the first four)."""
    for number in range(min(ddf.npartitions, 4)):
        part = ddf.partitions[number].compute()
        if len(part):
            return part.head(1000)
    return ddf._meta_nonempty


def _partition_levels(frame: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Distinct values (or the categories) of each column in one partition."""
    out: dict[str, Any] = {}
    for col in columns:
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[col] = ("categories", [list(values.cat.categories)])
        else:
            out[col] = ("values", list(pd.unique(values.dropna())))
    return out


def _merge_levels(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for col, (kind, values) in part.items():
            if col not in out:
                out[col] = (kind, list(values))
            elif kind == "categories":
                out[col][1].extend(v for v in values if v not in out[col][1])
            else:
                seen = dict.fromkeys(out[col][1])
                seen.update(dict.fromkeys(values))
                out[col] = (kind, list(seen))
    return out


def _collect_levels(ddf: Any, columns: list[str], progress: bool) -> dict[str, Any]:
    """One parallel pass over the categorical columns: the levels of each.

    Returns, per column, ``("categorical", categories)`` when the column is
    categorical with the same categories in every partition (in memory it
    would stay categorical), else the list of distinct values.
    """
    import dask

    if not columns:
        return {}
    parts = ddf[columns].to_delayed(optimize_graph=True)
    level = [dask.delayed(_partition_levels, pure=False)(p, columns) for p in parts]
    while len(level) > 1:
        level = [
            dask.delayed(_merge_levels, pure=False)(*level[i : i + _SPLIT_EVERY])
            for i in range(0, len(level), _SPLIT_EVERY)
        ]
    raw = _compute(level[0], progress, "collect categorical levels")
    out: dict[str, Any] = {}
    for col, (kind, values) in raw.items():
        if kind == "categories" and len(values) == 1:
            out[col] = ("categorical", values[0])
        elif kind == "categories":  # categories differ: in memory an object column
            out[col] = list(dict.fromkeys(v for cats in values for v in cats))
        else:
            out[col] = values
    return out


def _template(base: pd.DataFrame, levels: dict[str, Any]) -> pd.DataFrame:
    """Real rows plus every level: patsy sniffs the full data's levels from it."""
    sizes = [len(v[1]) if isinstance(v, tuple) else len(v) for v in levels.values()]
    m = max([len(base), *sizes, 1])
    frame = base.iloc[np.arange(m) % len(base)].reset_index(drop=True).copy()
    for col, values in levels.items():
        if isinstance(values, tuple):  # categorical dtype, same categories everywhere
            cats = values[1]
            codes = np.arange(m) % max(len(cats), 1)
            frame[col] = pd.Categorical.from_codes(codes, categories=cats)
        elif values:
            cycled = [values[i % len(values)] for i in range(m)]
            dtype = base[col].dtype
            keep = not isinstance(dtype, pd.CategoricalDtype)
            frame[col] = pd.Series(cycled, dtype=dtype if keep else object)
    return frame


@dataclass(frozen=True)
class _DaskDesign:
    """The design (coded template rows and patsy infos) and the columns it reads."""

    design: _formula.Design
    columns: list[str]


def build_dask_design(
    formula: str, ddf: Any, env: Any, missing: str, progress: bool = False
) -> _DaskDesign:
    """Patsy design infos valid for every partition of ``ddf``.

    Built once on a template frame: complete rows of the first partition,
    extended so that every categorical factor sees all of its levels
    (categories of categorical dtypes come from the metadata when known;
    the rest from one parallel pass over those columns). Stateful
    transforms (``center``, ``standardize``, splines) would need the whole
    data's statistics before coding and are refused.

    Parameters
    ----------
    formula : str
        The patsy formula.
    ddf : dask.dataframe.DataFrame
        The data.
    env : patsy.EvalEnvironment
        Namespace in which the formula is evaluated.
    missing : {"drop", "raise", "none"}
        Missing-value handling of the formula's variables.
    progress : bool
        Show a progress bar for the pass that collects levels.

    Returns
    -------
    _DaskDesign
    """
    all_columns = [str(c) for c in ddf.columns]
    raw = _head(ddf)
    first = _quiet_design(formula, raw.head(_TEMPLATE_ROWS), env, missing)
    used: set[str] = set()
    categorical: set[str] = set()
    for factor, info in _factor_items(first):
        names = _names_in(getattr(factor, "code", str(factor))) & set(all_columns)
        used |= names
        if info.type == "categorical":
            categorical |= names
        state = info.state if isinstance(info.state, dict) else {}
        if state.get("transforms"):
            raise NotImplementedError(
                f"the formula term {factor.name()!r} uses a stateful transform "
                f"({', '.join(sorted(state['transforms']))}), whose statistics would "
                "have to be computed over the whole Dask data before coding. Compute "
                "the variable in the DataFrame first (e.g. ddf.assign(...)); for a "
                "units-free penalty use standardize=True"
            )
    columns = [c for c in all_columns if c in used]
    meta = ddf._meta
    need = []
    known: dict[str, Any] = {}
    for col in sorted(categorical):
        dtype = meta[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cats = list(dtype.categories)
            if cats != ["__UNKNOWN_CATEGORIES__"]:
                known[col] = ("categorical", cats)
                continue
        if pd.api.types.is_bool_dtype(dtype):
            continue
        need.append(col)
    levels = {**known, **_collect_levels(ddf, need, progress)}
    base = raw[columns].dropna().head(_TEMPLATE_ROWS)
    if len(base) == 0:
        base = ddf._meta_nonempty[columns]
    design = _quiet_design(formula, _template(base, levels), env, missing)
    return _DaskDesign(design, columns)


# ------------------------------------------------------------- the scan
def _scan(block: _Block, kind: str, std_key: str | None, family: Any) -> dict[str, Any]:
    """First pass: sizes, extrema and moments; for the linear model also the TSQR factor."""
    X, y = block.X, block.y
    n, k = X.shape
    std_w = block.rows.get(std_key) if std_key else None
    out: dict[str, Any] = {
        "n": n,
        "counts_list": [n],
        "dropped": block.dropped,
        "x_min": X.min(axis=0) if n else np.full(k, np.inf),
        "x_max": X.max(axis=0) if n else np.full(k, -np.inf),
    }
    if std_key is not None:
        out["x_mom"] = _moments(X, std_w)
    if kind == "linear":
        w = block.rows.get("weights")
        o = block.rows.get("offset")
        if y.ndim != 1:
            raise ValueError(f"endog has shape {y.shape}; PriorRidge needs 1 column(s)")
        target = y if o is None else y - o
        out["fit_R"] = _weighted_qr(X, target, None if w is None else np.sqrt(w))
        out["log_w"] = 0.0 if w is None else float(np.sum(np.log(w)))
        out["y_mom"] = _moments(y[:, None], w)
        out["y_sq"] = float(np.sum((1.0 if w is None else w) * y**2))
    else:
        resp, var_w, _, freq_w = _glm_arrays(block, family)
        out["y_sum"] = float(np.sum(resp))
        out["wnobs"] = float(np.sum(freq_w))
        out["iw_y"] = float(np.sum(freq_w * var_w * resp))
        out["iw"] = float(np.sum(freq_w * var_w))
    return out


def _constant(xmin: FloatArray, xmax: FloatArray) -> int | None:
    """The in-memory model's constant column, decided on the full data's column ranges.

    ``priorreg.base._constant_column`` applied to the two rows
    ``[min; max]``: a column is constant exactly when they agree.
    """
    return _constant_column(np.vstack([xmin, xmax]))


# ------------------------------------------------------------ the model
def _rows_as_is(result: Any) -> Any:
    return result


def _model_data(endog: Any, exog: Any, names: list[str] | None, k_constant: int, const: Any):
    """Statsmodels' data object (names and labelling) built from template rows."""
    from statsmodels.base.data import handle_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = handle_data(endog, exog, missing="none", hasconst=False)
    if names is not None:
        data.xnames = names
    data.k_constant = k_constant
    data.const_idx = const
    data.attach_rows = _rows_as_is  # n-length results stay lazy Dask collections
    return data


def _array_names(k: int, const: int | None) -> list[str]:
    """Names of array columns, as the in-memory model: ``x1, ...`` and ``const``."""
    names = [f"x{i}" for i in range(1, k + (const is None))]
    if const is not None:
        names.insert(const, "const")
    return names


class _DaskModel:
    """What the Dask models share: the source, the first pass and the model data.

    The in-memory attributes ``endog``, ``exog`` and the per-row arrays are
    ``None``: they would be n-length. ``nobs``, ``exog_names``, the prior, the
    penalty and the constant column are those of the in-memory model.
    """

    _std_key: str | None = None
    _kind = ""
    source: _Source
    progress: bool

    def _setup_dask(
        self,
        source: _Source,
        endog_t: Any,
        exog_t: Any,
        *,
        design: _formula.Design | None,
        prior: Any,
        penalty: Any,
        standardize: bool,
        progress: bool,
        array_names: bool,
        family: Any = None,
    ) -> None:
        self.source = source
        self.progress = bool(progress)
        std_key = self._std_key if standardize else None
        scan = source.reduce(
            _scan, self._kind, std_key, family, progress=self.progress, label="scan the data"
        )
        source.counts = list(scan["counts_list"])
        self._scan = scan
        n = int(scan["n"])
        if n == 0:
            raise ValueError("no observations: the data are empty")
        xmin, xmax = scan["x_min"], scan["x_max"]
        const = _constant(xmin, xmax)
        k_constant = int(const is not None)
        names = _array_names(xmin.size, const) if array_names else None
        self.data = _model_data(endog_t, exog_t, names, k_constant, const)
        self.k_constant = k_constant
        self.endog = None
        self.exog = None
        self.design = design
        self.formula = None if design is None else design.formula
        self.n_dropped = int(scan["dropped"])
        self.nobs = float(n)
        self.k_params = xmin.size
        self._init_keys: list[str] = []
        self._data_attr: list[str] = []
        self.standardize = False  # the column scales come from the scan, below
        self._setup_prior_penalty(prior, penalty)
        self.standardize = bool(standardize)
        if standardize:  # as priorreg.penalty.standardize_penalty
            total, _, m2 = scan["x_mom"]
            sd = np.sqrt(m2 / total)
            sd = np.where(sd > 0, sd, 1.0)
            self.penalty_matrix = sd[:, None] * self.penalty_matrix * sd[None, :]

    @classmethod
    def _from_design(cls, design: _formula.Design, frame: Any, **kwargs: Any) -> Any:
        """``refine`` on in-memory data gives the in-memory model (and results)."""
        if is_dask(frame):
            return _formula_model(cls, design, frame, **kwargs)
        memory = PriorGLM if issubclass(cls, PriorGLM) else PriorRidge
        return memory._from_design(design, frame, **kwargs)

    @property
    def _weighted_data(self) -> Any:
        raise NotImplementedError(
            "the weighted data are n-length and stay in the Dask partitions; "
            "per-row quantities are available lazily on the results"
        )


def _split_rows(
    rows: dict[str, Any], frame: Any | None
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Per-row options: column names, scalars, or dask collections aligned with the data."""
    columns: dict[str, Any] = {}
    scalars: dict[str, float] = {}
    collections: dict[str, Any] = {}
    for key, value in rows.items():
        if value is None:
            continue
        if isinstance(value, str):
            if frame is None or value not in frame.columns:
                raise ValueError(f"{key}={value!r} is not a column of data")
            columns[key] = value
        elif is_dask(value):
            collections[key] = value
        elif np.ndim(value) == 0:
            scalars[key] = float(value)
        else:
            raise TypeError(
                f"{key} must be a column name of the Dask data, a scalar or a Dask "
                f"collection partitioned like the data, not {type(value).__name__}"
            )
    return columns, scalars, collections


def _formula_model(
    cls: type,
    design: _formula.Design,
    ddf: Any,
    *,
    columns: list[str] | None = None,
    missing: str | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> Any:
    """A Dask model on ``ddf`` coded with ``design``."""
    cls = model_class(cls)
    keys = cls._row_keys
    rows = {key: kwargs.pop(key, None) for key in keys}
    columns_of, scalars, collections = _split_rows(rows, ddf)
    for key, value in collections.items():
        name = f"__priorreg_{key}"
        ddf = ddf.assign(**{name: value})
        columns_of[key] = name
    needed = list(columns or _design_columns(design, ddf))
    needed += [c for c in columns_of.values() if c not in needed]
    ddf = ddf[needed]
    row_columns: dict[str, Any] = {**columns_of, **scalars}
    coder = _FormulaCoder(
        design=design,
        row_columns=row_columns,
        missing=missing or design.na_action,
        positive=tuple(cls._positive_keys),
        boolean_response=issubclass(cls, PriorGLM),
        plain=_plain_plan(design, design.source),
    )
    divisions = ddf.divisions if ddf.known_divisions else None
    parts = [(p,) for p in ddf.to_delayed(optimize_graph=True)]
    source = _Source(parts, coder, "frame", divisions)
    endog_t, exog_t = design.endog.iloc[:_TEMPLATE_ROWS], design.exog.iloc[:_TEMPLATE_ROWS]
    if issubclass(cls, PriorGLM):
        endog_t = _boolean_response(endog_t)
    model = cls.__new__(cls)
    model._setup_from_source(source, endog_t, exog_t, design, progress=progress, **kwargs)
    return model


def _design_columns(design: _formula.Design, ddf: Any) -> list[str]:
    used: set[str] = set()
    for factor, _ in _factor_items(design):
        used |= _names_in(getattr(factor, "code", str(factor)))
    return [str(c) for c in ddf.columns if str(c) in used]


def from_formula(
    cls: type,
    formula: str,
    data: Any,
    env: Any,
    *,
    subset: Any = None,
    prior: Any = None,
    penalty: Any = None,
    standardize: bool = False,
    missing: str = "drop",
    progress: bool = False,
    **kwargs: Any,
) -> Any:
    """``cls.from_formula`` on a Dask DataFrame (called by ``PriorModel.from_formula``).

    Parameters
    ----------
    cls : type
        ``PriorRidge`` or ``PriorGLM`` (or a subclass).
    formula : str
        The patsy formula.
    data : dask.dataframe.DataFrame
        The data, read partition by partition.
    env : patsy.EvalEnvironment
        Namespace of the caller (captured by ``from_formula``).
    subset : dask Series of bool, optional
        Rows to use, aligned with ``data``.
    prior, penalty, standardize, missing
        As for the in-memory ``from_formula``.
    progress : bool
        Show a progress bar for every pass over the data.
    **kwargs
        Per-row options (``weights``, ``offset``, ...) as column names of
        ``data``, scalars or Dask Series aligned with it; model options
        (``family``, ``scale``).

    Returns
    -------
    DaskPriorRidge or DaskPriorGLM
    """
    _require_dask()
    if subset is not None:
        if not is_dask(subset):
            raise TypeError("subset= for Dask data must be a Dask Series of bool aligned with it")
        data = data[subset]
    if missing not in ("drop", "raise", "none"):
        raise ValueError(f"missing must be 'drop', 'raise' or 'none', not {missing!r}")
    built = build_dask_design(formula, data, env, missing, progress)
    check_prior_names(prior, list(built.design.exog.columns))
    return _formula_model(
        cls,
        built.design,
        data,
        columns=built.columns,
        missing=missing,
        progress=progress,
        prior=prior,
        penalty=penalty,
        standardize=standardize,
        **kwargs,
    )


def _array_source(
    cls: type, endog: Any, exog: Any, rows: dict[str, Any], missing: str
) -> tuple[_Source, Any, Any]:
    """Source and template rows for the array interface ``Model(endog, exog, ...)``."""
    import dask.array as da

    if missing not in ("none", "drop", "raise"):
        raise ValueError(f"missing must be 'none', 'drop' or 'raise', not {missing!r}")
    if not (is_dask(endog) and is_dask(exog)):
        raise TypeError("endog and exog must both be Dask collections (partitioned alike)")
    _, scalars, collections = _split_rows(rows, None)
    endog_parts, kind, divisions = _parts_of(endog)
    exog_parts, _, _ = _parts_of(exog)
    row_parts = [_parts_of(v)[0] for v in collections.values()]
    for name, parts in [("exog", exog_parts), *zip(collections, row_parts, strict=True)]:
        if len(parts) != len(endog_parts):
            raise ValueError(
                f"{name} has {len(parts)} partitions and endog {len(endog_parts)}; "
                "the Dask collections must be partitioned alike"
            )
    parts = [tuple(p) for p in zip(endog_parts, exog_parts, *row_parts, strict=True)]
    coder = _ArrayCoder(
        row_keys=tuple(collections),
        scalars=scalars,
        missing=missing,
        positive=tuple(cls._positive_keys),
        boolean_response=issubclass(cls, PriorGLM),
    )
    source = _Source(parts, coder, "array" if isinstance(endog, da.Array) else kind, divisions)
    return source, *_array_templates(endog, exog)


def _array_templates(endog: Any, exog: Any) -> tuple[Any, Any]:
    """Two rows of the types of ``endog`` and ``exog``, for statsmodels' names and labels."""
    import dask.array as da

    def rows(obj: Any) -> Any:
        if isinstance(obj, da.Array):
            return np.ones((2, *obj.shape[1:]))
        return obj._meta_nonempty.iloc[:2].reset_index(drop=True)

    exog_t, endog_t = rows(exog), rows(endog)
    if isinstance(exog_t, pd.Series):
        exog_t = exog_t.to_frame()
    if np.ndim(exog_t) == 1:
        exog_t = exog_t[:, None]
    return endog_t, exog_t


# ----------------------------------------------------------- the linear model
def _fitted(block: _Block, params: FloatArray) -> FloatArray:
    out = block.X @ params
    o = block.rows.get("offset")
    return out if o is None else out + o


def _resid(block: _Block, params: FloatArray) -> FloatArray:
    return block.y - _fitted(block, params)


def _leverage(block: _Block, row_map: FloatArray, k0: int, phi: FloatArray) -> FloatArray:
    w = block.rows.get("weights")
    Xw = block.X if w is None else block.X * np.sqrt(w)[:, None]
    B = Xw @ row_map
    return np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi


def _loocv_pass(
    block: _Block,
    row_map: FloatArray,
    k0: int,
    g0: FloatArray,
    fphi: FloatArray,
    phi: FloatArray,
    b0: FloatArray,
) -> dict[str, Any]:
    """Sum over the rows of ``(r_i / (1 - h_ii))^2`` for every ``lam`` at once."""
    w = block.rows.get("weights")
    sw = None if w is None else np.sqrt(w)
    z = _resid(block, b0)
    Xw = block.X if sw is None else block.X * sw[:, None]
    zw = z if sw is None else z * sw
    B = Xw @ row_map
    B0, Bu = B[:, :k0], B[:, k0:]
    resid = (zw - B0 @ g0)[:, None] - Bu @ fphi
    lev = np.einsum("ij,ij->i", B0, B0)[:, None] + (Bu * Bu) @ phi
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"loo": np.sum((resid / (1.0 - lev)) ** 2, axis=0)}


class DaskPriorRidge(_DaskModel, PriorRidge):  # type: ignore[misc]
    r"""``PriorRidge`` on Dask data: one TSQR pass, then every ``lam`` in memory.

    Built by ``PriorRidge(dask_endog, dask_exog, ...)`` or
    ``PriorRidge.from_formula(formula, dask_dataframe, ...)``; the arguments
    are those of :class:`priorreg.PriorRidge`, per-row options being column
    names of the data (formula), scalars, or Dask collections partitioned
    like the data. ``progress=True`` shows a progress bar for each pass.

    ``fit`` returns a :class:`DaskPriorRidgeResults` (a
    ``PriorRidgeResults``): the same estimates, inference, criteria and
    summary as in memory; ``fittedvalues``, ``resid`` and ``hat_diag`` are
    lazy Dask collections, and ``loocv`` costs one more pass.
    """

    _std_key = "weights"
    _kind = "linear"

    def __init__(
        self,
        endog: Any,
        exog: Any,
        *,
        prior: Any = None,
        penalty: Any = None,
        weights: Any = None,
        offset: Any = None,
        standardize: bool = False,
        missing: str = "none",
        design: _formula.Design | None = None,
        progress: bool = False,
    ) -> None:
        _require_dask()
        rows = {"weights": weights, "offset": offset}
        source, endog_t, exog_t = _array_source(type(self), endog, exog, rows, missing)
        self._setup_from_source(
            source,
            endog_t,
            exog_t,
            design,
            prior=prior,
            penalty=penalty,
            standardize=standardize,
            progress=progress,
            array_names=not hasattr(exog, "columns"),
        )

    def _setup_from_source(
        self,
        source: _Source,
        endog_t: Any,
        exog_t: Any,
        design: _formula.Design | None,
        *,
        prior: Any = None,
        penalty: Any = None,
        standardize: bool = False,
        progress: bool = False,
        array_names: bool = False,
    ) -> None:
        self.weights = None
        self.offset = None
        self._setup_dask(
            source,
            endog_t,
            exog_t,
            design=design,
            prior=prior,
            penalty=penalty,
            standardize=standardize,
            progress=progress,
            array_names=array_names,
        )
        if np.ndim(self._scan["y_mom"][1]) and np.size(self._scan["y_mom"][1]) != 1:
            raise ValueError("PriorRidge needs a response with one column")

    @cached_property
    def factor(self) -> PathFactor:
        """The factor of the whole data, from the TSQR factor of the first pass.

        ``R`` of ``[W^1/2 X, W^1/2 (y - o)]`` times the unit upper-triangular
        ``[[I, -b0], [0, 1]]`` is the factor of ``[W^1/2 X, W^1/2 z]`` with
        ``z = y - o - X b0``.
        """
        R = np.array(self._scan["fit_R"], dtype=float)
        k = self.k_params
        if R.shape[0] < k + 1:  # fewer rows than columns: complete with zeros
            R = np.vstack([R, np.zeros((k + 1 - R.shape[0], k + 1))])
        R[:, k] -= R[:, :k] @ self.prior_values
        return factorize_triangular(
            R,
            self.penalty_matrix,
            int(self.nobs),
            self.intercept_idx,
            float(self._scan["log_w"]),
        )

    def solve(self, lam: float) -> LinearFit:
        """Estimates and their normalized covariance at a fixed ``lam``.

        The TSQR factor is a Householder factor of the whole data, so the
        estimate has QR accuracy without the in-memory refinement steps.
        """
        factor = self.factor
        L = self.penalty_matrix
        K = factor.cov_factor(lam)
        params = self.prior_values + factor.coef(lam)
        ncov = K @ K.T
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, L)
        return LinearFit(
            lam=lam,
            params=params,
            normalized_cov=ncov,
            edf=float(factor.edf(lam)),
            edf_params=edf_params,
            fittedvalues=self.source.rows(_fitted, params, name="fittedvalues"),
            resid=self.source.rows(_resid, params, name="resid"),
            rss=float(factor.rss(lam)),
        )

    def loocv_path(self, lams: ArrayLike) -> FloatArray:
        """Exact LOOCV for every ``lam`` of ``lams`` in one pass over the data."""
        lams = np.atleast_1d(np.asarray(lams, dtype=float))
        factor = self.factor
        phi = factor.shrinkage(lams)
        if phi.ndim == 1:
            phi = phi[:, None]
        total = self.source.reduce(
            _loocv_pass,
            factor.row_map,
            factor.n_unpen,
            factor.g0,
            phi * factor.f[:, None],
            phi,
            self.prior_values,
            progress=self.progress,
            label="LOOCV pass",
        )["loo"]
        out = np.asarray(total, dtype=float) / factor.n_obs
        return np.where(np.isfinite(out), out, np.inf)

    def _select_loocv(self, lams: FloatArray | None) -> Selection:
        """LOOCV selection as ``select_lam``: the grid in one pass, the bracket in another."""
        factor = self.factor
        grid = default_grid(factor) if lams is None else np.sort(np.asarray(lams, dtype=float))
        if grid.ndim != 1 or grid.size < 2:
            raise ValueError("lams must be a 1-D grid of at least two penalty weights")
        if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError("lams must be finite and > 0 (the grid is searched in log(lam))")
        path = criterion_path(factor, _NO_ROWS, grid, "gcv")
        path["loocv"] = values = self.loocv_path(grid)
        if not np.any(np.isfinite(values)):
            raise ValueError("loocv is not finite anywhere on the grid")
        i = int(np.nanargmin(values))
        on_edge = i in (0, grid.size - 1)
        best_lam, best_val = float(grid[i]), float(values[i])
        if on_edge:
            warn_on_edge("loocv", best_lam, upper=i > 0, stacklevel=4)
            return Selection(best_lam, "loocv", best_val, path, on_edge)
        # the zoom of select_lam, on an interpolant of LOOCV over the bracket
        # computed in one pass
        lo, hi = float(np.log(grid[i - 1])), float(np.log(grid[i + 1]))
        nodes = np.cos(np.pi * (np.arange(_LOOCV_NODES) + 0.5) / _LOOCV_NODES)
        t = 0.5 * (lo + hi) + 0.5 * (hi - lo) * nodes
        curve = np.polynomial.Chebyshev.fit(
            t, self.loocv_path(np.exp(t)), _LOOCV_NODES - 1, domain=[lo, hi]
        )
        lam, value = zoom_loocv(lambda lams: curve(np.log(lams)), lo, hi)
        if value <= best_val:
            best_lam, best_val = lam, value
        return Selection(best_lam, "loocv", best_val, path, on_edge)

    def fit(  # type: ignore[override]
        self,
        lam: float | str = "gcv",
        lams: ArrayLike | None = None,
        cov_type: str = "bayes",
    ) -> Any:
        """Fit at a fixed ``lam`` or select it (see :meth:`priorreg.PriorRidge.fit`).

        GCV and REML selection need no pass over the data; LOOCV needs two.

        Returns
        -------
        PriorRidgeResultsWrapper
            Wrapping a :class:`DaskPriorRidgeResults`.
        """
        if cov_type not in ("bayes", "sandwich"):
            raise ValueError(f"cov_type must be 'bayes' or 'sandwich', not {cov_type!r}")
        lam_value = _check_lam(lam)
        selection: Selection | None = None
        if isinstance(lam_value, str):
            grid = None if lams is None else np.asarray(lams, dtype=float)
            if lam_value == "loocv":
                selection = self._select_loocv(grid)
            else:
                selection = select_lam(self.factor, _NO_ROWS, lam_value, grid)
            lam_value = selection.lam
        elif lams is not None:
            raise ValueError("lams= is a grid to search; it needs lam='gcv', 'loocv' or 'reml'")
        fit = self.solve(float(lam_value))
        res = DaskPriorRidgeResults(self, fit, selection=selection, cov_type=cov_type)
        return PriorRidgeResultsWrapper(res)

    def path(self, lams: ArrayLike, criterion: str = "gcv") -> pd.DataFrame:
        """Criteria and edf on a grid of ``lam`` (LOOCV: one pass)."""
        lams_arr = np.asarray(lams, dtype=float)
        table = criterion_path(self.factor, _NO_ROWS, lams_arr, "gcv")
        if criterion == "loocv":
            table["loocv"] = self.loocv_path(lams_arr)
        return pd.DataFrame(table)

    def predict(  # type: ignore[override]
        self, params: ArrayLike, exog: ArrayLike | None = None, offset: ArrayLike | None = None
    ) -> Any:
        """Linear prediction; without ``exog``, a lazy Dask collection for the data's rows."""
        if exog is not None:
            return PriorRidge.predict(self, params, exog, offset)
        return self.source.rows(_fitted, np.asarray(params, dtype=float), name="predicted")


class DaskPriorRidgeResults(PriorRidgeResults):
    """``PriorRidgeResults`` of a Dask fit: n-length attributes are lazy.

    ``fittedvalues``, ``resid`` and ``hat_diag`` are Dask collections;
    ``loocv`` costs one pass; ``predict`` takes pandas or Dask data.
    """

    @cached_property
    def loocv(self) -> float:
        """Exact leave-one-out mean squared weighted error at ``lam`` (one pass)."""
        return float(self.model.loocv_path([self.lam])[0])

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages ``h_ii`` (lazy)."""
        factor = self.model.factor
        phi = factor.shrinkage(self.lam)
        return self.model.source.rows(
            _leverage, factor.row_map, factor.n_unpen, phi, name="hat_diag"
        )

    @cached_property
    def rsquared(self) -> float:
        """``1 - RSS_w / TSS_w`` (TSS from the first pass)."""
        scan = self.model._scan
        tss = float(np.ravel(scan["y_mom"][2])[0]) if self.model.k_constant else scan["y_sq"]
        return 1.0 - self.ssr / tss

    @cached_property
    def llf(self) -> float:
        r"""Gaussian log-likelihood, as :attr:`PriorRidgeResults.llf`."""
        n = self.nobs
        out = -n / 2 * (np.log(2 * np.pi * self.ssr / n) + 1)
        return float(out + 0.5 * float(self.model._scan["log_w"]))

    def predict(  # type: ignore[override]
        self, exog: Any = None, offset: ArrayLike | None = None, transform: bool = True
    ) -> Any:
        """Predicted mean: lazy for the training rows or Dask data, else as in memory."""
        if exog is None:
            if offset is not None:
                raise ValueError("the offset of the training rows comes from the data")
            return self.fittedvalues
        if is_dask(exog):
            return predict(self, exog, offset=offset)
        return super().predict(exog, offset=offset, transform=transform)

    def get_prediction(self, exog: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As in memory, for new in-memory data (intervals are n-length)."""
        if exog is None or is_dask(exog):
            raise NotImplementedError(
                "get_prediction needs in-memory new data (a pandas DataFrame); for the "
                "Dask rows use predict(), which is lazy"
            )
        return super().get_prediction(exog, *args, **kwargs)


# -------------------------------------------------------------- the GLM
def _glm_arrays(block: _Block, family: Any) -> tuple[FloatArray, FloatArray, FloatArray, Any]:
    """Response, var weights (times trials), offset total and freq weights of a block."""
    n = block.y.shape[0]
    var_w = block.rows.get("var_weights")
    var_w = np.ones(n) if var_w is None else var_w
    if block.y.ndim == 2:
        succ, fail = block.y[:, 0], block.y[:, 1]
        if not isinstance(family, smf.Binomial):
            raise ValueError("a two-column response is only for the Binomial family")
        if np.any(succ < 0) or np.any(fail < 0) or np.any(succ + fail <= 0):
            raise ValueError(
                "two-column binomial response needs successes >= 0, failures >= 0 "
                "and at least one trial per row"
            )
        trials = succ + fail
        resp = succ / trials
        var_w = var_w * trials
    else:
        resp = block.y
    _families.check_response(family, resp)
    offset = np.zeros(n)
    if block.rows.get("offset") is not None:
        offset = offset + block.rows["offset"]
    if block.rows.get("exposure") is not None:
        offset = offset + np.log(block.rows["exposure"])
    freq_w = block.rows.get("freq_weights")
    freq_w = np.ones(n) if freq_w is None else freq_w
    return resp, var_w, offset, freq_w


def _starting_mu(family: Any, y: FloatArray, y_mean: float) -> FloatArray:
    """``family.starting_mu`` with the mean of the whole response (not the block's)."""
    if type(family).starting_mu is smf.Family.starting_mu:
        return (y + y_mean) / 2.0
    return family.starting_mu(y)


@dataclass(frozen=True)
class _PointSpec:
    """Where to evaluate: coefficients, or the family's starting means (``params=None``)."""

    params: FloatArray | None
    y_mean: float = 0.0


@dataclass(frozen=True)
class _GLMRows:
    """The GLM's per-row arrays of one block at one point."""

    resp: FloatArray
    var_w: FloatArray
    offset: FloatArray
    freq_w: FloatArray
    eta: FloatArray
    mu: FloatArray

    def hat(self, X: FloatArray, family: Any, row_map: FloatArray, k0: int, phi: Any) -> Any:
        """Leverages of the working linear model (see ``PathFactor.row_map``)."""
        W = self.freq_w * self.var_w * family.weights(self.mu)
        B = (X * np.sqrt(W)[:, None]) @ row_map
        return np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi


def _at(block: _Block, family: Any, spec: _PointSpec) -> _GLMRows:
    resp, var_w, offset, freq_w = _glm_arrays(block, family)
    if spec.params is None:
        mu = _starting_mu(family, resp, spec.y_mean)
        eta = family.link(mu) + 0.0
    else:
        eta = block.X @ spec.params + offset
        mu = family.link.inverse(eta)
    return _GLMRows(resp, var_w, offset, freq_w, eta, mu)


def _glm_point(
    block: _Block, family: Any, spec: _PointSpec, b0: FloatArray, gaussian: bool
) -> dict[str, Any]:
    """Deviance, Pearson chi2, log-likelihood sums and the working factor at one point."""
    r = _at(block, family, spec)
    n, k = block.X.shape
    iw = r.freq_w * r.var_w
    with np.errstate(all="ignore"):
        dev = family.deviance(r.resp, r.mu, var_weights=r.var_w, freq_weights=r.freq_w, scale=1.0)
        out: dict[str, Any] = {
            "dev": float(dev),
            "pearson": float(np.sum(iw * (r.resp - r.mu) ** 2 / family.variance(r.mu))),
        }
        if _families.is_known_scale(family):
            out["ll1"] = _families.loglike(family, r.resp, r.mu, r.var_w, r.freq_w, 1.0)
        if gaussian:
            out["g_rss"] = float(np.sum(iw * (r.resp - r.mu) ** 2))
            out["g_logv"] = float(np.sum(r.freq_w * np.log(r.var_w)))
        W = iw * family.weights(r.mu)
        z = (r.eta - r.offset) + family.link.deriv(r.mu) * (r.resp - r.mu)
    valid = np.isfinite(W) & (W > 0) & np.isfinite(z)
    out["bad_w"] = int(np.count_nonzero(~valid))
    if out["bad_w"]:  # not a point IRLS can step from; it fails if it gets there
        out["log_w"] = 0.0
        out["work_R"] = np.zeros((min(n, k + 1), k + 1))
    else:
        out["log_w"] = float(np.sum(np.log(W)))
        out["work_R"] = _weighted_qr(block.X, z - block.X @ b0, np.sqrt(W))
    return out


def _glm_loglike(block: _Block, family: Any, params: FloatArray, scale: float) -> dict[str, Any]:
    r = _at(block, family, _PointSpec(params))
    with np.errstate(all="ignore"):
        return {"ll": _families.loglike(family, r.resp, r.mu, r.var_w, r.freq_w, scale)}


def _glm_null_deviance(block: _Block, family: Any, mean: float) -> dict[str, Any]:
    resp, var_w, _, freq_w = _glm_arrays(block, family)
    null = np.full_like(resp, mean)
    with np.errstate(all="ignore"):
        dev = family.deviance(resp, null, var_weights=var_w, freq_weights=freq_w, scale=1.0)
    return {"dev": float(dev)}


def _glm_loo(
    block: _Block, family: Any, params: FloatArray, row_map: FloatArray, k0: int, phi: Any
) -> dict[str, Any]:
    """Approximate leave-one-out deviance sum (as ``PriorGLM._loo_deviance``)."""
    r = _at(block, family, _PointSpec(params))
    with np.errstate(all="ignore"):
        h = r.hat(block.X, family, row_map, k0, phi)
        e = family.link.deriv(r.mu) * (r.resp - r.mu)
        mu_loo = family.link.inverse(r.eta - e * h / (1.0 - h))
        dev = family.resid_dev(r.resp, mu_loo, var_weights=r.var_w) ** 2
        return {"loo": float(np.sum(r.freq_w * dev))}


def _glm_rows(block: _Block, family: Any, params: FloatArray, what: str) -> FloatArray:
    """An n-length GLM quantity of one block: ``mu``, ``eta``, residuals."""
    r = _at(block, family, _PointSpec(params))
    if what == "mu":
        return r.mu
    if what == "eta":
        return r.eta
    if what == "resid_response":
        return r.resp - r.mu
    if what == "resid_pearson":
        return (r.resp - r.mu) * np.sqrt(r.var_w / family.variance(r.mu))
    if what == "resid_deviance":
        return np.asarray(family.resid_dev(r.resp, r.mu, var_weights=r.var_w))
    raise ValueError(f"unknown row quantity {what!r}")


def _glm_leverage(
    block: _Block, family: Any, params: FloatArray, row_map: FloatArray, k0: int, phi: Any
) -> FloatArray:
    return _at(block, family, _PointSpec(params)).hat(block.X, family, row_map, k0, phi)


@dataclass
class _Point:
    """Sums over the data at one point of the IRLS path, and its working factor."""

    params: FloatArray | None
    sums: dict[str, Any]
    _factor: PathFactor | None = None

    @property
    def deviance(self) -> float:
        return float(self.sums["dev"])


@dataclass(frozen=True)
class _IRLS:
    """An IRLS fit (as :class:`priorreg.irls.IRLSResult`, with the point's sums)."""

    params: FloatArray
    point: _Point
    deviance: float
    lam: float
    converged: bool
    iterations: int


def _valid(dev: float) -> bool:
    return bool(np.isfinite(dev))


class DaskPriorGLM(_DaskModel, PriorGLM):  # type: ignore[misc]
    r"""``PriorGLM`` on Dask data: one pass over the partitions per IRLS iteration.

    Built by ``PriorGLM(dask_endog, dask_exog, family=...)`` or
    ``PriorGLM.from_formula(formula, dask_dataframe, family=...)``. Each
    pass evaluates, per partition, the deviance at the candidate
    coefficients and the triangular factor of the working problem there,
    so an accepted IRLS step costs exactly one pass (a halved step one more).
    Penalty selection follows ``PriorGLM.fit`` step for step (performance
    iteration, then warm-started converged fits in a bounded search).
    """

    _std_key = "freq_weights"
    _kind = "glm"

    def __init__(
        self,
        endog: Any,
        exog: Any,
        family: Any = None,
        *,
        prior: Any = None,
        penalty: Any = None,
        offset: Any = None,
        exposure: Any = None,
        freq_weights: Any = None,
        var_weights: Any = None,
        scale: float | None = None,
        standardize: bool = False,
        missing: str = "none",
        design: _formula.Design | None = None,
        progress: bool = False,
    ) -> None:
        _require_dask()
        rows = {
            "offset": offset,
            "exposure": exposure,
            "freq_weights": freq_weights,
            "var_weights": var_weights,
        }
        source, endog_t, exog_t = _array_source(type(self), endog, exog, rows, missing)
        self._setup_from_source(
            source,
            endog_t,
            exog_t,
            design,
            family=family,
            prior=prior,
            penalty=penalty,
            scale=scale,
            standardize=standardize,
            progress=progress,
            array_names=not hasattr(exog, "columns"),
        )

    def _setup_from_source(
        self,
        source: _Source,
        endog_t: Any,
        exog_t: Any,
        design: _formula.Design | None,
        *,
        family: Any = None,
        prior: Any = None,
        penalty: Any = None,
        scale: float | None = None,
        standardize: bool = False,
        progress: bool = False,
        array_names: bool = False,
    ) -> None:
        family = _families.check_family(smf.Gaussian() if family is None else family)
        self.family = family
        for key in self._row_keys:
            setattr(self, key, None)
        self._setup_dask(
            source,
            endog_t,
            exog_t,
            design=design,
            prior=prior,
            penalty=penalty,
            standardize=standardize,
            progress=progress,
            array_names=array_names,
            family=family,
        )
        if scale is not None and (not np.isfinite(scale) or scale <= 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.fixed_scale = None if scale is None else float(scale)
        self.wnobs = float(self._scan["wnobs"])
        self._y_mean = float(self._scan["y_sum"]) / self.nobs
        self._points: dict[bytes, _Point] = {}
        self._passes = 0

    @property
    def problem(self) -> Any:
        """Not available: the IRLS arrays are n-length and stay in the partitions."""
        raise NotImplementedError("a Dask GLM has no in-memory IRLS problem")

    @property
    def passes(self) -> int:
        """Number of IRLS passes over the data so far."""
        return self._passes

    def _penalty_value(self, params: FloatArray) -> float:
        delta = params - self.prior_values
        return float(delta @ self.penalty_matrix @ delta)

    # --------------------------------------------------------- passes
    def _evaluate(self, params: FloatArray | None) -> _Point:
        key = b"start" if params is None else np.asarray(params, dtype=float).tobytes()
        if key in self._points:
            return self._points[key]
        spec = _PointSpec(None if params is None else np.asarray(params, dtype=float), self._y_mean)
        gaussian = isinstance(self.family, smf.Gaussian)
        self._passes += 1
        sums = self.source.reduce(
            _glm_point,
            self.family,
            spec,
            self.prior_values,
            gaussian,
            progress=self.progress,
            label=f"IRLS pass {self._passes}",
        )
        point = _Point(spec.params, sums)
        self._points[key] = point
        return point

    def _factor_at(self, point: _Point) -> PathFactor:
        if point._factor is None:
            if point.sums["bad_w"]:
                raise FloatingPointError("working weights are not finite and positive")
            R = np.array(point.sums["work_R"], dtype=float)
            k = self.k_params
            if R.shape[0] < k + 1:
                R = np.vstack([R, np.zeros((k + 1 - R.shape[0], k + 1))])
            point._factor = factorize_triangular(
                R,
                self.penalty_matrix,
                int(self.nobs),
                self.intercept_idx,
                float(point.sums["log_w"]),
            )
        return point._factor

    def _run_irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        select: Callable[[PathFactor, FloatArray], float] | None = None,
    ) -> _IRLS:
        """Penalized IRLS as :func:`priorreg.irls.penalized_irls`, one pass per point."""
        b0 = self.prior_values
        params: FloatArray | None = None
        if start is not None:
            params = np.asarray(start, dtype=float)
        elif np.any(b0):
            params = b0.copy()
        point: _Point | None = None
        if params is not None:
            point = self._evaluate(params)
            if not _valid(point.deviance):
                params = None
        if params is None:
            point = self._evaluate(None)
        assert point is not None
        dev = point.deviance
        pen_old = np.inf
        converged = False
        iterations = 0
        clock = time.perf_counter()
        for iterations in range(1, maxiter + 1):
            factor = self._factor_at(point)
            if select is not None:
                lam = select(factor, _NO_ROWS)
            if params is not None:
                pen_old = dev + lam * self._penalty_value(params)
            new = b0 + factor.coef(lam)
            cand = self._evaluate(new)
            new_pen = cand.deviance + lam * self._penalty_value(new)
            halvings = 0
            while (
                params is not None
                and halvings < 40
                and (not _valid(new_pen) or new_pen > pen_old + 1e-12 * abs(pen_old))
            ):
                new = 0.5 * (params + new)
                cand = self._evaluate(new)
                new_pen = cand.deviance + lam * self._penalty_value(new)
                halvings += 1
            if not _valid(new_pen):
                break
            change = abs(new_pen - pen_old) / (abs(new_pen) + 0.1)
            params, point, dev = new, cand, cand.deviance
            if self.progress:
                print(
                    f"priorreg: IRLS iteration {iterations}: lam={lam:.4g}, deviance={dev:.8g}, "
                    f"change={change:.2e} ({time.perf_counter() - clock:.1f} s)",
                    file=sys.stderr,
                )
            if change < tol:
                converged = True
                break
        if params is None:
            raise FloatingPointError("penalized IRLS failed at its starting values")
        return _IRLS(params, point, dev, float(lam), converged, iterations)

    def _loglike_at(self, point: _Point, scale: float) -> float:
        """Full log-likelihood at a point (no pass for Binomial, Poisson, Gaussian)."""
        family = self.family
        if _families.is_known_scale(family) and scale == 1.0:
            return float(point.sums["ll1"])
        if isinstance(family, smf.Gaussian):
            s = point.sums
            return float(
                -0.5 * s["g_rss"] / scale
                - 0.5 * self.wnobs * np.log(2 * np.pi * scale)
                + 0.5 * s["g_logv"]
            )
        return float(
            self.source.reduce(
                _glm_loglike,
                family,
                point.params,
                scale,
                progress=self.progress,
                label="log-likelihood pass",
            )["ll"]
        )

    def _finish_dask(self, r: _IRLS) -> GLMFit:
        """Covariance, edf, scale and likelihood at a converged fit (no pass)."""
        factor = self._factor_at(r.point)
        lam = r.lam
        K = factor.cov_factor(lam)
        ncov = K @ K.T
        edf_params = 1.0 - lam * np.einsum("ij,ji->i", ncov, self.penalty_matrix)
        edf = float(factor.edf(lam))
        pearson = float(r.point.sums["pearson"])
        scale = self._scale_for(None, edf, pearson)
        if isinstance(self.family, smf.Gaussian) and isinstance(
            self.family.link, smf.links.Identity
        ):
            llf = self._loglike_at(r.point, float(r.point.sums["g_rss"]) / self.wnobs)
        else:
            llf = self._loglike_at(r.point, scale)
        rows = self.source.rows
        params = r.params
        return GLMFit(
            lam=lam,
            params=params,
            normalized_cov=ncov,
            edf=edf,
            edf_params=edf_params,
            fittedvalues=rows(_glm_rows, self.family, params, "mu", name="mu"),
            resid=rows(_glm_rows, self.family, params, "resid_response", name="resid"),
            rss=pearson,
            scale=scale,
            eta=rows(_glm_rows, self.family, params, "eta", name="eta"),
            deviance=r.deviance,
            pearson_chi2=pearson,
            llf=llf,
            converged=r.converged,
            iterations=r.iterations,
            factor=factor,
            zw=_NO_ROWS,
        )

    def _irls(
        self,
        lam: float,
        start: FloatArray | None,
        maxiter: int,
        tol: float,
        start_fit: GLMFit | None = None,
    ) -> GLMFit:
        if start_fit is not None:
            start = np.asarray(start_fit.params, dtype=float)
        return self._finish_dask(self._run_irls(lam, start, maxiter, tol))

    # --------------------------------------------------------- criteria
    def _point_of(self, fit: GLMFit) -> _Point:
        return self._evaluate(np.asarray(fit.params, dtype=float))

    def _loo_deviance(self, fit: GLMFit) -> float:
        factor = fit.factor
        phi = factor.shrinkage(fit.lam)
        total = self.source.reduce(
            _glm_loo,
            self.family,
            np.asarray(fit.params, dtype=float),
            factor.row_map,
            factor.n_unpen,
            phi,
            progress=self.progress,
            label="leave-one-out pass",
        )["loo"]
        total = float(total) / self.wnobs
        return total if np.isfinite(total) else math.inf

    def _laplace_reml(self, fit: GLMFit) -> float:
        lam = fit.lam
        if lam <= 0 and fit.factor.n_pen:
            return math.inf
        factor = fit.factor
        k0 = factor.n_unpen
        pen = lam * self._penalty_value(np.asarray(fit.params, dtype=float))
        log_det = float(factor.log_det_ratio(lam)) if factor.n_pen else float(factor.log_det_const)
        point = self._point_of(fit)

        def neg(log_phi: float) -> float:
            phi = math.exp(log_phi)
            ll = self._loglike_at(point, phi)
            return -ll + pen / (2 * phi) + 0.5 * log_det - 0.5 * k0 * math.log(2 * math.pi * phi)

        if _families.is_known_scale(self.family):
            return neg(0.0)
        if self.fixed_scale is not None:
            return neg(math.log(self.fixed_scale))
        guess = math.log(max(fit.pearson_chi2 / max(self.wnobs - k0, 1.0), 1e-300))
        opt = minimize_scalar(neg, bracket=(guess - 0.5, guess + 0.5), tol=1e-10)
        return float(opt.fun)

    # ------------------------------------------------------------- fit
    def _performance_iteration(self, criterion: str, maxiter: int, tol: float) -> GLMFit:
        pi = self._run_irls(1.0, None, maxiter, tol, select=working_selector(criterion))
        return self._finish_dask(pi)

    def _results(self, fit: GLMFit, selection: Any, cov_type: str) -> Any:
        res = DaskPriorGLMResults(self, fit, selection=selection, cov_type=cov_type)
        return PriorGLMResultsWrapper(res)

    def predict(  # type: ignore[override]
        self,
        params: ArrayLike,
        exog: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
    ) -> Any:
        """Mean or linear predictor; without ``exog`` lazy for the data's rows."""
        if exog is not None:
            return PriorGLM.predict(self, params, exog, offset, exposure, which)
        if offset is not None or exposure is not None:
            raise ValueError("offset/exposure for the training rows come from the data")
        what = "eta" if which == "linear" else "mu"
        if which not in ("mean", "linear"):
            raise ValueError(f"which must be 'mean' or 'linear', not {which!r}")
        params = np.asarray(params, dtype=float)
        return self.source.rows(_glm_rows, self.family, params, what, name="predicted")


class DaskPriorGLMResults(PriorGLMResults):
    """``PriorGLMResults`` of a Dask fit: n-length attributes are lazy.

    ``mu``, ``fittedvalues``, the residuals and ``hat_diag`` are Dask
    collections; ``rsquared`` and ``loocv`` cost one pass each.
    """

    @cached_property
    def hat_diag(self) -> Any:
        """Leverages of the working linear model at convergence (lazy)."""
        factor = self._glm_fit.factor
        return self.model.source.rows(
            _glm_leverage,
            self.family,
            np.asarray(self.params, dtype=float),
            factor.row_map,
            factor.n_unpen,
            factor.shrinkage(self.lam),
            name="hat_diag",
        )

    @cached_property
    def rsquared(self) -> float:
        """Deviance explained, ``1 - D / D_null`` (one pass for the null deviance)."""
        model = self.model
        mean = model._scan["iw_y"] / model._scan["iw"]
        null_dev = model.source.reduce(
            _glm_null_deviance, model.family, mean, progress=model.progress, label="null deviance"
        )["dev"]
        return 1.0 - self.deviance / null_dev if null_dev > 0 else float("nan")

    def _rows(self, what: str) -> Any:
        params = np.asarray(self.params, dtype=float)
        return self.model.source.rows(_glm_rows, self.family, params, what, name=what)

    @cached_property
    def resid_response(self) -> Any:
        """``y - mu`` (lazy)."""
        return self._rows("resid_response")

    @cached_property
    def resid_pearson(self) -> Any:
        """``(y - mu) sqrt(var_weights / V(mu))`` (lazy)."""
        return self._rows("resid_pearson")

    @cached_property
    def resid_deviance(self) -> Any:
        """Signed square roots of the unit deviances (lazy)."""
        return self._rows("resid_deviance")

    def predict(  # type: ignore[override]
        self,
        exog: Any = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
        which: str = "mean",
        transform: bool = True,
    ) -> Any:
        """Predictions: lazy for the training rows or Dask data, else as in memory."""
        if exog is None:
            return self.model.predict(self.params, None, offset, exposure, which)
        if is_dask(exog):
            return predict(self, exog, offset=offset, exposure=exposure, which=which)
        return super().predict(exog, offset, exposure, which, transform)

    def get_prediction(self, exog: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As in memory, for new in-memory data (intervals are n-length)."""
        if exog is None or is_dask(exog):
            raise NotImplementedError(
                "get_prediction needs in-memory new data (a pandas DataFrame); for the "
                "Dask rows use predict(), which is lazy"
            )
        return super().get_prediction(exog, *args, **kwargs)


# ------------------------------------------------ results on Dask data
@dataclass(frozen=True)
class _Predictor:
    """Codes a pandas partition with a fit's design and predicts it."""

    design: _formula.Design | None
    params: FloatArray
    family: Any
    which: str

    def __call__(self, frame: Any, offset: Any, exposure: Any) -> pd.Series:
        if self.design is not None and isinstance(frame, pd.DataFrame):
            X = _formula.exog_for(self.design, frame).to_numpy(dtype=float)
        else:
            X = np.asarray(frame, dtype=float)
        eta = X @ self.params
        if offset is not None:
            eta = eta + np.asarray(offset, dtype=float)
        if exposure is not None:
            eta = eta + np.log(np.asarray(exposure, dtype=float))
        out = eta
        if self.family is not None and self.which == "mean":
            out = self.family.link.inverse(eta)
        index = frame.index if hasattr(frame, "index") else None
        return pd.Series(np.asarray(out, dtype=float), index=index, name="predicted")


def predict(
    results: Any,
    data: Any,
    *,
    offset: Any = None,
    exposure: Any = None,
    which: str = "mean",
) -> Any:
    """Lazy predictions of any priorreg results object on Dask data.

    Each partition is coded with the fit's formula design (a DataFrame) or
    taken as the design matrix (an array); ``offset``/``exposure`` are
    scalars or Dask collections partitioned like ``data``.

    Returns
    -------
    dask Series (or dask Array for array data)
    """
    import dask
    import dask.array as da
    import dask.dataframe as dd

    res = getattr(results, "_results", results)
    model = res.model
    if which not in ("mean", "linear"):
        raise ValueError(f"which must be 'mean' or 'linear', not {which!r}")
    family = getattr(model, "family", None)
    predictor = _Predictor(model.design, np.asarray(res.params, dtype=float), family, which)
    if isinstance(data, da.Array):
        if data.ndim != 2 or data.shape[1] != model.k_params:
            raise ValueError(f"exog has shape {data.shape}; expected (n, {model.k_params})")
        if is_dask(offset) or is_dask(exposure):
            raise TypeError("offset/exposure for a Dask array must be scalars")
        return da.map_blocks(
            _predict_block,
            data.rechunk({1: -1}),
            predictor,
            offset,
            exposure,
            drop_axis=1,
            dtype=float,
        )
    if model.design is None and len(data.columns) != model.k_params:
        raise ValueError(
            f"exog has {len(data.columns)} columns; expected {model.k_params}: "
            f"{list(model.exog_names)}"
        )
    parts = data.to_delayed(optimize_graph=True)

    def aligned(value: Any) -> list[Any]:
        if not is_dask(value):
            if np.ndim(value) != 0:
                raise TypeError("offset/exposure for Dask data must be scalars or Dask collections")
            return [value] * len(parts)
        pieces = _parts_of(value)[0]
        if len(pieces) != len(parts):
            raise ValueError("offset/exposure must be partitioned like the data")
        return pieces

    fn = dask.delayed(predictor, name=f"priorreg-predictor-{uuid.uuid4().hex}", traverse=False)
    series = [
        dask.delayed(_call, pure=False)(fn, p, o, e)
        for p, o, e in zip(parts, aligned(offset), aligned(exposure), strict=True)
    ]
    meta = pd.Series(np.zeros(0), name="predicted", dtype=float)
    divisions = data.divisions if data.known_divisions else None
    return dd.from_delayed(series, meta=meta, divisions=divisions, verify_meta=False)


def _predict_block(x: FloatArray, predictor: _Predictor, offset: Any, exposure: Any) -> Any:
    return predictor(x, offset, exposure).to_numpy()


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def refine(
    results: Any,
    newdata: Any,
    *,
    lam: float | str = "gcv",
    lams: ArrayLike | None = None,
    cov_type: str = "bayes",
    missing: str = "drop",
    **model_kwargs: Any,
) -> Any:
    """``results.refine(newdata)`` for Dask ``newdata``: the fit's design, a Dask model.

    The new data are coded with the fit's design infos (same columns and
    levels); a level the fit has not seen is an error, as in memory.
    """
    res = getattr(results, "_results", results)
    design = res.model.design
    if design is None:
        raise TypeError(
            "refine(newdata) needs a model built with from_formula; for arrays "
            "refit the model class with prior=results on the new arrays"
        )
    kwargs = {**res.model._refine_kwargs(), **model_kwargs}
    model = _formula_model(
        type(res.model),
        design,
        newdata,
        missing=missing,
        prior=res._results_wrapper(),
        **kwargs,
    )
    return model.fit(lam=lam, lams=lams, cov_type=cov_type)
