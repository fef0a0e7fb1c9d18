"""Formula glue: the only module that imports patsy.

A :class:`Design` keeps the patsy design infos of both sides of the
formula, so new data (``predict``, ``refine``) are coded exactly as the
training data: same columns, same categorical coding, same statistics
for stateful transforms such as ``standardize(x)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import patsy

__all__ = ["Design", "build_design", "capture_env", "exog_for", "rebuild_design", "without_pd_na"]


@dataclass(frozen=True)
class Design:
    """Endog and exog from a formula, with what is needed to rebuild them.

    Attributes
    ----------
    endog : pandas.Series or DataFrame
    exog : pandas.DataFrame
    y_info, x_info : patsy.DesignInfo
    formula : str
    rows : ndarray of int
        Positions (in the input data) of the rows kept.
    n_dropped : int
        Rows dropped for missing values.
    source : DataFrame
        The formula's variables on every input row. patsy's design infos
        cannot be pickled, so a pickled ``Design`` keeps this instead and
        rebuilds identical design infos (same columns, levels and
        stateful-transform statistics) when it is loaded. Names from the
        caller's namespace other than ``np``/``numpy`` are not available
        then.
    """

    endog: pd.Series | pd.DataFrame
    exog: pd.DataFrame
    y_info: Any
    x_info: Any
    formula: str
    rows: np.ndarray
    n_dropped: int
    source: pd.DataFrame
    na_action: str = "drop"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            _unpickle_design,
            (
                self.formula,
                self.source,
                self.na_action,
                self.endog,
                self.exog,
                self.rows,
                self.n_dropped,
            ),
        )


def _unpickle_design(
    formula: str,
    source: pd.DataFrame,
    na_action: str,
    endog: Any,
    exog: pd.DataFrame,
    rows: np.ndarray,
    n_dropped: int,
) -> Design:
    env = patsy.EvalEnvironment([{"np": np, "numpy": np}])
    try:
        y, X = patsy.dmatrices(
            formula, source, eval_env=env, NA_action=_na_action(na_action), return_type="dataframe"
        )
    except (patsy.PatsyError, NameError) as exc:
        raise ValueError(
            f"cannot rebuild the design of {formula!r} after unpickling: {exc}. Formulas "
            "that use names from the caller's namespace (other than np) cannot be restored"
        ) from exc
    return Design(
        endog, exog, y.design_info, X.design_info, formula, rows, n_dropped, source, na_action
    )


def _formula_variables(frame: pd.DataFrame, infos: Sequence[Any]) -> pd.DataFrame:
    """The columns of ``frame`` that the formula's factors refer to."""
    try:
        from patsy.eval import ast_names

        names: set[str] = set()
        for info in infos:
            for term in info.terms:
                for factor in term.factors:
                    names.update(ast_names(factor.code))
        cols = [c for c in frame.columns if str(c) in names]
    except Exception:
        cols = list(frame.columns)
    return frame[cols].copy()


def capture_env(depth: int) -> Any:
    """Capture the caller's namespace once, at the public entry point."""
    return patsy.EvalEnvironment.capture(depth + 1)


def _na_action(missing: str) -> patsy.NAAction:
    if missing == "drop":
        return patsy.NAAction(on_NA="drop")
    if missing in ("raise", "none"):
        return patsy.NAAction(on_NA="raise")
    raise ValueError(f"missing must be 'drop', 'raise' or 'none', not {missing!r}")


def _frame(data: Any, *, allow_empty: bool = False) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
    elif isinstance(data, dict):
        frame = pd.DataFrame(data)
    else:
        raise TypeError(
            f"data must be a pandas DataFrame or a dict of columns, not {type(data).__name__}"
        )
    if len(frame) == 0 and not allow_empty:
        raise ValueError("the data have no rows: give at least one observation")
    return _without_pd_na(frame)


def without_pd_na(data: Any) -> Any:
    """A DataFrame or Series with ``pd.NA`` columns as :func:`_without_pd_na` makes them.

    Anything else is returned as it is. Used for the arrays given to a model
    (statsmodels' missing-value handling cannot test ``pd.NA`` either).
    """
    if isinstance(data, pd.Series):
        return _without_pd_na(data.to_frame()).iloc[:, 0].rename(data.name)
    if isinstance(data, pd.DataFrame):
        return _without_pd_na(data)
    return data


def _without_pd_na(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose missing value is ``pd.NA`` in a form patsy reads (a new frame).

    patsy tests ``value != value``, which ``pd.NA`` refuses ("boolean value of
    NA is ambiguous"): nullable numbers (``Int64``, ``Float64``, ...) become
    float64 with NaN, other nullable columns (``boolean``, ``string``) objects
    with None; both are missing values to patsy. Nothing else changes.
    """
    converted = {}
    for name, dtype in frame.dtypes.items():
        if getattr(dtype, "na_value", None) is not pd.NA:
            continue
        column = frame[name]
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            converted[name] = column.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = column.to_numpy(dtype=object, na_value=None)
            converted[name] = pd.Series(values, index=column.index, dtype=object)
    return frame.assign(**converted) if converted else frame


def _endog_series(y: pd.DataFrame, formula: str) -> pd.Series | pd.DataFrame:
    """One response column as a Series; several (e.g. successes, failures) as a frame."""
    return y.iloc[:, 0] if y.shape[1] == 1 else y


def build_design(formula: str, data: Any, eval_env: Any, missing: str = "drop") -> Design:
    """Evaluate ``formula`` on ``data`` with patsy.

    Raises
    ------
    ValueError
        A formula that patsy cannot evaluate (unknown column, bad syntax,
        missing values with ``missing="raise"``), with patsy's explanation.
    """
    frame = _frame(data)
    with _patsy_errors(
        f"build the design for {formula!r}", f"Available columns: {list(frame.columns)}"
    ):
        y, X = patsy.dmatrices(
            formula, frame, eval_env, NA_action=_na_action(missing), return_type="dataframe"
        )
    source = _formula_variables(frame, [y.design_info, X.design_info])
    return _coded(y, X, formula, len(frame), source, missing)


def _coded(
    y: pd.DataFrame, X: pd.DataFrame, formula: str, n_in: int, source: pd.DataFrame, missing: str
) -> Design:
    """The ``Design`` of patsy's coded ``y`` and ``X`` (they carry their design infos)."""
    rows = np.asarray(X.index, dtype=int)
    return Design(
        endog=_endog_series(y, formula),
        exog=X,
        y_info=y.design_info,
        x_info=X.design_info,
        formula=formula,
        rows=rows,
        n_dropped=n_in - len(rows),
        source=source,
        na_action=missing,
    )


def _patsy_reason(exc: Exception) -> str:
    """Patsy's explanation without the caret drawing under the formula."""
    return str(getattr(exc, "message", exc)).strip().splitlines()[0]


@contextmanager
def _patsy_errors(what: str, fix: str) -> Iterator[None]:
    """Errors of patsy, and a name the formula uses that is nowhere, as one ``ValueError``.

    Its message: ``cannot <what>: <patsy's reason>. <fix>``.
    """
    try:
        yield
    except (patsy.PatsyError, NameError) as exc:
        raise ValueError(f"cannot {what}: {_patsy_reason(exc)}. {fix}") from exc


def _check_new_types(design: Design, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the fit's numeric variables numeric (a copy when one is converted).

    A column that holds only numbers and missing values as objects (e.g.
    ``None``) is converted; any other value is a ``ValueError``.
    """
    out = frame
    for name in design.source.columns:
        if name not in frame.columns or not pd.api.types.is_numeric_dtype(design.source[name]):
            continue
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna() & column.notna()
        if bad.any():
            raise ValueError(
                f"the new data's column {name!r} is not numeric (e.g. {column[bad].iloc[0]!r}) "
                "but was numeric in the fit: convert it to numbers"
            )
        if out is frame:
            out = frame.copy()
        out[name] = numbers.astype(float)
    return out


def rebuild_design(design: Design, data: Any, missing: str = "drop") -> Design:
    """Code new data with the design infos of an existing fit (for ``refine``)."""
    frame = _frame(data)
    frame = _check_new_types(design, frame)
    with _patsy_errors(
        f"code the new data with the fitted design of {design.formula!r}",
        "Keep only rows whose values the fit knows (a new categorical level needs a new "
        "fit with that level)",
    ):
        y, X = patsy.build_design_matrices(
            [design.y_info, design.x_info],
            frame,
            NA_action=_na_action(missing),
            return_type="dataframe",
        )
    # patsy attaches the design infos it coded with: those of the fit
    return _coded(y, X, design.formula, len(frame), design.source, missing)


def exog_for(design: Design, data: Any) -> pd.DataFrame:
    """Design matrix for new data (prediction); keeps the data's row labels.

    Missing values in the predictors are an error: a prediction for every
    row requested, or a message naming the problem.
    """
    if isinstance(data, pd.Series):
        data = data.to_frame().T
    index = data.index if isinstance(data, pd.DataFrame) else None
    frame = _frame(data, allow_empty=True)
    frame = _check_new_types(design, frame)
    try:
        (X,) = patsy.build_design_matrices(
            [design.x_info],
            frame,
            NA_action=patsy.NAAction(on_NA="raise"),
            return_type="dataframe",
        )
    except patsy.PatsyError as exc:
        raise ValueError(
            f"cannot code new data with the fitted design of {design.formula!r}: "
            f"{_patsy_reason(exc)}. Predict only for rows with every variable present "
            "and categorical levels the fit knows (a new level has no coefficient)"
        ) from exc
    if index is not None:
        X.index = index
    return X


def column_names(design: Design) -> Sequence[str]:
    """Names of the design columns."""
    return list(design.x_info.column_names)
