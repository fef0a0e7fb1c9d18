"""Design coding of Dask partitions: formula and array coders and the shared design.

The patsy design is built once from template rows holding every categorical
level (collected from the metadata or in one pass); each partition is then
coded with it into a :class:`~priorreg.outofcore.passes._Block`.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from priorreg import formula as _formula
from priorreg._typing import FloatArray
from priorreg.base import check_finite
from priorreg.exceptions import quietly
from priorreg.glm import _boolean_response
from priorreg.outofcore.passes import _SPLIT_EVERY, Column, _Block, _compute, _matrix

#: Rows of the first partition used as the template of the design.
_TEMPLATE_ROWS = 32


def _check_rows(
    block: _Block, number: int, positive: Sequence[str], coded_finite: bool = False
) -> _Block:
    """In-memory checks on one partition: finite values, positive weights.

    ``coded_finite``: the coding already found the response and every
    column finite (:meth:`_Plain.code`), so they are not summed again.
    """
    try:
        if not coded_finite:
            check_finite("endog", block.y)
            with np.errstate(all="ignore"):  # one sum per column, no n x k matrix
                finite = all(np.isfinite(np.sum(col)) for col in block.columns)
            if not finite:
                check_finite("exog", block.X)  # names the rows
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


def _factor_states(design: _formula.Design) -> dict[str, tuple[Any, Any]]:
    """``code -> (factor, state)`` of every factor of the design."""
    return {
        str(getattr(factor, "code", factor)): (factor, info.state)
        for factor, info in _factor_items(design)
    }


@dataclass(frozen=True)
class _Plain:
    r"""A design whose every column is a product of numeric one-column factors.

    ``columns`` gives, per design column, the codes of the factors whose
    product it is (none: the intercept), and ``response`` the response's
    code. Coding a partition evaluates each factor once, vectorized (a data
    column is read as it is; other code as patsy evaluates it), drops the
    rows where one is missing and multiplies, in patsy's order:

    .. math::

        X_{ij} = 1 \cdot f_{j1}(x_i) \cdot f_{j2}(x_i) \cdots

    patsy's per-row machinery (NA detection per factor, building and
    indexing DataFrames) is not run. Checked against patsy on the
    template rows before use (:func:`_plain_plan`).
    """

    response: str
    columns: tuple[tuple[str, ...], ...]

    def code(
        self, frame: pd.DataFrame, missing: str, design: _formula.Design
    ) -> tuple[FloatArray, tuple[Column, ...], Any, bool]:
        """``(y, columns, rows, finite)`` of one partition, rows with a missing value dropped.

        ``rows``: the positions of the rows kept, ``None`` when every row is.

        ``finite``: every row kept, and the response and every column are
        the data's values (no product of them) whose sums are finite, so
        each value is finite (a NaN or inf makes the sum non-finite).

        A column is an array (or the number 1.0 for the intercept); the
        design matrix is written only by a pass that needs it
        (:class:`~priorreg.outofcore.passes._Block`).
        """
        used = dict.fromkeys([self.response, *(c for col in self.columns for c in col)])
        n = len(frame)
        states: dict[str, tuple[Any, Any]] | None = None
        values = {}
        for code in used:
            if code in frame.columns:
                values[code] = frame[code].to_numpy(dtype=float)
                continue
            states = _factor_states(design) if states is None else states
            factor, state = states[code]
            values[code] = np.asarray(factor.eval(state, frame), dtype=float).reshape(n)
        keep = None  # no mask is written unless a value is missing
        finite = all(len(factors) <= 1 for factors in self.columns)
        for arr in values.values():
            with np.errstate(all="ignore"):
                total = np.sum(arr)
                if not np.isnan(total):  # one pass, no mask: a NaN propagates
                    finite = finite and bool(np.isfinite(total))
                    continue
            finite = False
            keep = ~np.isnan(arr) if keep is None else keep & ~np.isnan(arr)
        if keep is None or keep.all():
            rows: Any = None
            take: Any = slice(None)
        else:
            if missing != "drop":
                raise ValueError(
                    f"{int((~keep).sum())} row(s) with missing values in the formula's "
                    "variables; pass missing='drop'"
                )
            rows = take = np.flatnonzero(keep)
        columns: list[Column] = []
        for factors in self.columns:
            if len(factors) == 1:  # the data's values, not copied (nothing writes to them)
                columns.append(values[factors[0]][take])
                continue
            col: Column = 1.0  # the intercept stays a number
            for code in factors:
                col = col * values[code][take]
            columns.append(col)
        return values[self.response][take], tuple(columns), rows, finite


def _plain_plan(design: _formula.Design, template: pd.DataFrame) -> _Plain | None:
    """The :class:`_Plain` coding of a design, if it reproduces patsy on ``template``."""

    def plain(info: Any) -> list[tuple[str, ...]] | None:
        out: list[tuple[str, ...]] = []
        for term in info.terms:
            codes = []
            for factor in term.factors:
                fi = info.factor_infos[factor]
                state = fi.state if isinstance(fi.state, dict) else {}
                code = getattr(factor, "code", None)
                if fi.type != "numerical" or fi.num_columns != 1 or code is None:
                    return None
                if state.get("transforms"):  # stateful: patsy applies the statistics
                    return None
                codes.append(str(code))
            out.append(tuple(codes))
        return out

    columns, response = plain(design.x_info), plain(design.y_info)
    if columns is None or response is None or len(response) != 1 or len(response[0]) != 1:
        return None
    plan = _Plain(response[0][0], tuple(columns))
    try:
        y, columns, rows, _ = plan.code(template, "drop", design)
        rows = np.arange(len(template)) if rows is None else rows
        X = _matrix(columns, rows.size)
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
            columns: tuple[Column, ...] | None = None
            X, finite = None, False
            if self.plain is not None:
                y, columns, rows, finite = self.plain.code(frame, self.missing, self.design)
            else:
                coded = _formula.rebuild_design(self.design, frame, self.missing)
                endog = coded.endog
                if self.boolean_response:
                    endog = _boolean_response(endog)
                y, rows = endog.to_numpy(dtype=float), coded.rows
                rows = None if rows.size == len(frame) else rows
                X = coded.exog.to_numpy(dtype=float)
        except ValueError as exc:
            raise ValueError(f"partition {number}: {exc}") from None
        # every row kept (rows None): views, not copies
        take = slice(None) if rows is None else rows
        kept = len(frame) if rows is None else rows.size
        arrays: dict[str, FloatArray | None] = {}
        for key, column in self.row_columns.items():
            if isinstance(column, str):
                arrays[key] = frame[column].to_numpy(dtype=float)[take]
            else:
                arrays[key] = np.full(kept, float(column))
        block = _Block(
            y=y,
            X=X,
            rows=arrays,
            index=frame.index[take],
            dropped=len(frame) - kept,
            columns=columns,
        )
        return _check_rows(block, number, self.positive, finite)


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
    with quietly():
        return _formula.build_design(formula, frame, env, missing)


#: Rows of a partition brought to the client for the template.
_HEAD_ROWS = 1000


def _first_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(_HEAD_ROWS)


def _head(ddf: Any) -> pd.DataFrame:
    """Rows of the first non-empty partition (of at most the first four).

    The head is taken where the partition is read: only its first rows
    travel to the client, not the whole partition.
    """
    for number in range(min(ddf.npartitions, 4)):
        part = ddf.partitions[number].map_partitions(_first_rows, meta=ddf._meta).compute()
        if len(part):
            return part
    return ddf._meta_nonempty


def _formula_columns(formula: str, ddf: Any, env: Any, missing: str) -> list[Any] | None:
    """The data columns the formula reads, from its parsed terms (None if unsure).

    Reading only these for the template saves reading every column of a
    partition when the data are wider than the model. The formula is parsed,
    not evaluated (patsy's ``ModelDesc``): the names in each factor's code.
    """
    import patsy

    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except Exception:  # patsy explains the formula's error when it builds the design
        return None
    used: set[str] = set()
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            used |= _names_in(getattr(factor, "code", str(factor)))
    return [c for c in ddf.columns if str(c) in used] or None


def _design_columns(design: _formula.Design, columns: list[str]) -> list[str]:
    """The columns, of ``columns``, that the design's factors read (in that order)."""
    used: set[str] = set()
    for factor, _ in _factor_items(design):
        used |= _names_in(getattr(factor, "code", str(factor)))
    return [c for c in columns if c in used]


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
    narrow = _formula_columns(formula, ddf, env, missing)
    try:
        raw = _head(ddf if narrow is None else ddf[narrow])
        first = _quiet_design(formula, raw.head(_TEMPLATE_ROWS), env, missing)
    except (ValueError, KeyError):
        if narrow is None:
            raise
        raw = _head(ddf)  # the formula reads a column its codes do not name
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
    if not levels and base.equals(raw[columns].head(_TEMPLATE_ROWS)):
        # no level to add: the template is the first design's own rows
        return _DaskDesign(first, columns)
    design = _quiet_design(formula, _template(base, levels), env, missing)
    return _DaskDesign(design, columns)
