"""Prior coefficients: alignment by name and the JSON prior file.

A prior may be ``None`` (zero: plain ridge), a 1-D array of length ``k``, a
pandas Series or dict keyed by design column names (names not given are
0), a fitted results object with ``.params`` (priorreg's or statsmodels'),
a fitted scikit-learn linear model (``coef_``, ``intercept_``,
``feature_names_in_``) or a :class:`PriorFile` from :func:`load_prior`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from priorreg._typing import FloatArray
from priorreg.checks import as_float_array
from priorreg.options import ModelOptions, model_options, options_from_json, options_to_json

__all__ = ["PriorFile", "align_prior", "load_prior", "save_prior"]

_FORMAT = "priorreg-prior"
#: The newest prior-file version this code writes and reads.
_VERSION = 2
_INTERCEPT_ALIASES = ("Intercept", "const", "intercept", "(Intercept)")


@dataclass(frozen=True)
class PriorFile:
    """A prior read from JSON: names, estimates and normalized covariance.

    It stands in for the results object it was saved from, so it can be
    passed as ``prior=`` and used with ``penalty="information"``.
    ``options`` records how that model was built (per-row options as
    column names, family and link names, missing policy, standardize,
    scale option; see :class:`priorreg.options.ModelOptions`), so that
    ``priorreg fit --prior`` can reapply them; ``None`` for files written
    before they were recorded.
    """

    params: pd.Series
    normalized_cov_params: pd.DataFrame | None
    meta: Mapping[str, Any]
    options: ModelOptions | None = None


def _canonical(name: str, intercept_name: str | None) -> str:
    if intercept_name is not None and name in _INTERCEPT_ALIASES:
        return intercept_name
    return name


def _names_error(unknown: Sequence[str], names: Sequence[str], what: str) -> ValueError:
    hint = ""
    if any("[T." in u or "[" in u for u in unknown):
        hint = (
            " Categorical levels differ between the prior and this design: "
            "use the old results' refine(newdata), which rebuilds the design "
            "with the old columns."
        )
    return ValueError(
        f"{what} names not in the design: {list(unknown)}. Valid column names: {list(names)}.{hint}"
    )


def _named_values(
    values: Mapping[str, Any] | pd.Series, names: Sequence[str], intercept_name: str | None
) -> tuple[dict[str, float], list[str]]:
    """Map names (with intercept aliases) to design columns; report unknowns."""
    out: dict[str, float] = {}
    unknown: list[str] = []
    valid = set(names)
    for key, val in dict(values).items():
        name = _canonical(str(key), intercept_name)
        if name not in valid:
            unknown.append(str(key))
            continue
        out[name] = val
    return out, unknown


def _as_finite(b0: FloatArray, names: Sequence[str], what: str = "prior") -> FloatArray:
    bad = ~np.isfinite(b0)
    if bad.any():
        culprits = [names[i] for i in np.flatnonzero(bad)]
        raise ValueError(f"{what} has non-finite values for {culprits}; give finite numbers")
    return b0


def _params_of(obj: Any) -> pd.Series | np.ndarray | None:
    """``.params`` of a results object as a Series when names are known."""
    params = getattr(obj, "params", None)
    if params is None:
        return None
    if isinstance(params, pd.Series):
        return params
    names = getattr(getattr(obj, "model", None), "exog_names", None)
    arr = np.asarray(params, dtype=float)
    if names is not None and len(names) == arr.size:
        return pd.Series(arr, index=list(names))
    return arr


def _sklearn_params(obj: Any) -> pd.Series | np.ndarray:
    coef = np.ravel(np.asarray(obj.coef_, dtype=float))
    names = getattr(obj, "feature_names_in_", None)
    intercept = float(np.ravel(getattr(obj, "intercept_", 0.0))[0])
    if names is None:
        raise ValueError(
            "this scikit-learn model was fitted on an array, so its coefficients "
            "have no names: refit it on a pandas DataFrame with the design's "
            "column names, or pass prior=model.coef_ (and the intercept) as an array"
        )
    s = pd.Series(coef, index=[str(n) for n in names])
    if intercept != 0.0 or getattr(obj, "fit_intercept", False):
        s["Intercept"] = intercept
    return s


def align_prior(prior: Any, names: Sequence[str], intercept_name: str | None = None) -> FloatArray:
    """Prior coefficients as an array aligned with the design columns.

    Parameters
    ----------
    prior : None, array-like, Series, dict, results object, sklearn model or PriorFile
        The prior specification (see the module docstring).
    names : sequence of str
        The design's column names.
    intercept_name : str, optional
        Name of the design's constant column; ``"const"``, ``"Intercept"``
        and ``"(Intercept)"`` in the prior are matched to it.

    Returns
    -------
    ndarray of shape (k,)

    Raises
    ------
    ValueError
        Unknown names (listing the valid ones), wrong length or
        non-finite values.

    Examples
    --------
    >>> align_prior({"x": 2.0, "const": 1.0}, ["Intercept", "x", "z"], "Intercept")
    array([1., 2., 0.])
    """
    names = list(names)
    k = len(names)
    if prior is None:
        return np.zeros(k)
    if hasattr(prior, "coef_") and not hasattr(prior, "params"):
        prior = _sklearn_params(prior)
    elif hasattr(prior, "params") and not isinstance(prior, (pd.Series, Mapping)):
        prior = _params_of(prior)
    if isinstance(prior, (pd.Series, Mapping)):
        values, unknown = _named_values(prior, names, intercept_name)
        if unknown:
            raise _names_error(unknown, names, "prior")
        b0 = np.zeros(k)
        for i, name in enumerate(names):
            if name in values:
                try:
                    b0[i] = float(values[name])
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"prior value for {name!r} is not a number: {values[name]!r}"
                    ) from exc
        return _as_finite(b0, names)
    if isinstance(prior, str):
        raise TypeError(
            f"prior={prior!r} is a string; pass load_prior({prior!r}) to read a prior file"
        )
    arr = as_float_array(
        prior,
        "prior must be None, an array, a Series/dict keyed by column names, a "
        f"fitted results object or a PriorFile; got {type(prior).__name__}",
    )
    if arr.ndim != 1 or arr.size != k:
        raise ValueError(
            f"prior has shape {arr.shape}; expected ({k},), one value per design column: {names}"
        )
    return _as_finite(arr.copy(), names)


def _differences(names: Sequence[str], prior_names: Sequence[str]) -> tuple[list, list]:
    """Design columns missing from the prior, and prior names not in the design."""
    return [n for n in names if n not in prior_names], [n for n in prior_names if n not in names]


def check_prior_names(prior: Any, names: Sequence[str]) -> None:
    """A fitted prior (results object or prior file) must have the design's columns.

    Raises
    ------
    ValueError
        Listing the columns missing on either side and pointing to ``refine``.
    """
    params = _params_of(prior) if hasattr(prior, "params") else None
    if not isinstance(params, pd.Series):
        return
    intercept = next((n for n in names if n in _INTERCEPT_ALIASES), None)
    prior_names = [_canonical(str(n), intercept) for n in params.index]
    missing, extra = _differences(names, prior_names)
    if missing or extra:
        raise ValueError(
            "the prior fit's coefficients differ from this design's columns; "
            f"not in the prior: {missing}; not in the design: {extra}. To refine a "
            "fitted model on new data with its own columns and coding, use "
            "results.refine(newdata); to give a partial prior, pass a dict or Series."
        )


def prior_information(
    prior: Any, names: Sequence[str], intercept_name: str | None = None
) -> FloatArray:
    """Inverse of the prior fit's ``normalized_cov_params``, aligned by name.

    This is the old data's information matrix (``X'WX``, or the posterior
    precision ``X'WX + lam L`` of a priorreg fit), used by
    ``penalty="information"``.
    """
    ncov = getattr(prior, "normalized_cov_params", None)
    if ncov is None:
        raise ValueError(
            'penalty="information" needs a prior that carries its covariance: a '
            "fitted results object (statsmodels or priorreg) or load_prior(file)"
        )
    params = _params_of(prior)
    ncov_arr = np.asarray(ncov, dtype=float)
    if isinstance(params, pd.Series):
        prior_names = [_canonical(str(n), intercept_name) for n in params.index]
    elif ncov_arr.shape[0] == len(names):
        prior_names = list(names)
    else:
        raise ValueError("the prior's covariance has no names and the wrong size")
    missing, extra = _differences(names, prior_names)
    if missing or extra:
        raise ValueError(
            'penalty="information" needs the prior to have exactly the design\'s '
            f"columns; missing from the prior: {missing}, not in the design: "
            f"{extra}. Use the old results' refine(newdata) to reuse its design."
        )
    if not np.all(np.isfinite(ncov_arr)):
        raise ValueError("the prior's normalized_cov_params has non-finite values")
    _refuse_separated(prior)
    pos = [prior_names.index(n) for n in names]
    return _inverse_pd(ncov_arr[np.ix_(pos, pos)])


#: A covariance whose eigenvalues span more than this has no usable inverse
#: (its inverse would carry ~eps * cond relative error, i.e. none correct).
_MAX_COND = 1e14


def _inverse_pd(ncov: FloatArray) -> FloatArray:
    """Inverse of a symmetric positive definite covariance, or a clear error."""
    sym = 0.5 * (ncov + ncov.T)
    evals, evecs = np.linalg.eigh(sym)
    if not evals[0] > 0 or evals[-1] > _MAX_COND * evals[0]:
        raise ValueError(
            "the prior's normalized_cov_params is singular or nearly so (eigenvalues "
            f"from {evals[0]:.3g} to {evals[-1]:.3g}), so it has no information matrix: "
            'use penalty=None (or weights) with this prior instead of "information"'
        )
    info = (evecs / evals) @ evecs.T
    return 0.5 * (info + info.T)


def _refuse_separated(prior: Any) -> None:
    """A prior fit on separated data has no information matrix in that direction."""
    separation = getattr(prior, "separation", None)
    columns = getattr(separation, "columns", None)
    if columns is None:
        columns = (getattr(prior, "meta", None) or {}).get("separated")
    if columns:
        raise ValueError(
            f"the prior fit's data separate the outcomes along {list(columns)}: its estimates "
            "there were set by its own penalty (or grew without bound), not by data, so its "
            'covariance is no information matrix. Use penalty=None (or weights) with this '
            'prior instead of "information", or refit the prior on data that do not separate.'
        )


def _bounds_record(bounds: Any) -> Any:
    """``"nonnegative"``, ``{name: [lower, upper]}`` (None: open side) or None."""
    if bounds is None:
        return None
    return "nonnegative" if bounds.spec == "nonnegative" else bounds.as_dict()


def _lam_json(lam: Any) -> float | dict[str, float] | list[float]:
    """``lam`` for a prior file: a number, or one per penalty (by group name if named)."""
    if np.ndim(lam) == 0:
        return float(lam)
    if isinstance(lam, pd.Series):
        return {str(k): float(v) for k, v in lam.items()}
    return [float(v) for v in np.ravel(lam)]


def save_prior(results: Any, path: str | Path) -> None:
    """Write names, estimates and normalized covariance as plain JSON.

    Floats are written with Python's shortest round-trip representation,
    so :func:`load_prior` restores them bit for bit. For a priorreg fit the
    file also records how the model was built (``options``: per-row
    options as column names, family and link names, missing policy,
    standardize, scale option); a per-row option given as an array is
    recorded only as such.
    """
    params = _params_of(results)
    if not isinstance(params, pd.Series):
        raise ValueError("cannot save a prior without coefficient names")
    ncov = getattr(results, "normalized_cov_params", None)
    ncov_list = None if ncov is None else np.asarray(ncov, dtype=float).tolist()
    model = getattr(results, "model", None)
    doc = {
        "format": _FORMAT,
        "version": _VERSION,
        "names": [str(n) for n in params.index],
        "params": [float(v) for v in params.to_numpy()],
        "normalized_cov_params": ncov_list,
        "scale": float(getattr(results, "scale", math.nan)),
        "nobs": float(getattr(results, "nobs", math.nan)),
        "lam": _lam_json(getattr(results, "lam", 0.0)),
        "formula": getattr(model, "formula", None),
        "separated": getattr(getattr(results, "separation", None), "columns", None),
        "bounds": _bounds_record(getattr(model, "bounds", None)),
    }
    if hasattr(model, "_row_sources"):  # a priorreg model: how it was built
        doc["options"] = options_to_json(model_options(results))
    Path(path).write_text(json.dumps(doc, indent=1, allow_nan=True))


def load_prior(path: str | Path) -> PriorFile:
    """Read a prior written by ``results.save_prior(path)``.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    PriorFile
        Usable as ``prior=`` (and with ``penalty="information"``); its
        ``options`` say how the model was built (``None`` for older files).

    Raises
    ------
    ValueError
        If the file is not a priorreg prior or is inconsistent, or its
        options are not plain names and numbers from the known tables.

    Notes
    -----
    A prior file is data from elsewhere: nothing in it is evaluated. The
    formula is only stored, column names are looked up in the data later,
    family and link names in fixed tables (:mod:`priorreg.options`).
    """
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"prior file not found: {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a priorreg prior file (format {_FORMAT!r})")
    version = doc.get("version", 1)
    if not (isinstance(version, int) and 1 <= version <= _VERSION):
        raise ValueError(
            f"{path} has prior-file version {version!r}; this priorreg reads versions 1 to "
            f"{_VERSION}: upgrade priorreg to read it, or save the prior again with this one"
        )
    names, values = doc.get("names"), doc.get("params")
    if not isinstance(names, list) or not isinstance(values, list):
        raise ValueError(f"{path}: 'names' and 'params' must be lists; write it with save_prior")
    names = [str(n) for n in names]
    if len(values) != len(names):
        raise ValueError(
            f"{path}: 'names' has {len(names)} entries but 'params' has {len(values)}; "
            "give one value per name"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: 'names' repeats a name; give each coefficient once")
    try:
        params = pd.Series(np.asarray(values, dtype=float), index=names)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: 'params' must be numbers: {exc}") from exc
    ncov = doc.get("normalized_cov_params")
    ncov_df = None
    if ncov is not None:
        try:
            arr = np.asarray(ncov, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: 'normalized_cov_params' must be numbers: {exc}") from exc
        if arr.shape != (len(names), len(names)):
            raise ValueError(
                f"{path}: normalized_cov_params has shape {arr.shape}; expected "
                f"({len(names)}, {len(names)}), one row and column per name"
            )
        ncov_df = pd.DataFrame(arr, index=names, columns=names)
    keys = ("scale", "nobs", "lam", "formula", "version", "separated", "bounds")
    meta = {key: doc.get(key) for key in keys}
    options = options_from_json(doc.get("options"), path)
    return PriorFile(params=params, normalized_cov_params=ncov_df, meta=meta, options=options)
