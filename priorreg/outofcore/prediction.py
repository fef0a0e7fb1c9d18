"""Results on Dask data: lazy predictions, intervals for in-memory new data, ``refine``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from priorreg import formula as _formula
from priorreg._typing import FloatArray
from priorreg.outofcore.coding import _parts_of
from priorreg.outofcore.dispatch import is_dask
from priorreg.outofcore.model import _formula_model


class DaskResultsRows:
    """What both Dask results do with rows; a mixin before the in-memory results.

    The training rows have no in-memory design rows or labels, so the
    in-memory ``predict`` passes ``exog=None`` on to the model's (lazy)
    prediction; ``get_prediction`` serves in-memory new data only, since its
    intervals are n-length arrays.
    """

    def _exog_for(self, exog: Any, transform: bool = True) -> tuple[Any, Any]:
        if exog is None:  # the model predicts its rows lazily
            return None, None
        return super()._exog_for(exog, transform)  # type: ignore[misc]

    def get_prediction(self, exog: Any = None, *args: Any, **kwargs: Any) -> Any:
        """As in memory, for new in-memory data (intervals are n-length)."""
        if exog is None or is_dask(exog):
            raise NotImplementedError(
                "get_prediction needs in-memory new data (a pandas DataFrame); for the "
                "Dask rows use predict(), which is lazy"
            )
        return super().get_prediction(exog, *args, **kwargs)  # type: ignore[misc]


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
    missing: str,
    fit_kwargs: dict[str, Any],
    **model_kwargs: Any,
) -> Any:
    """``results.refine(newdata)`` for Dask ``newdata``: the fit's design, a Dask model.

    ``model_kwargs`` and ``fit_kwargs`` are the options that
    :meth:`priorreg.PriorRidgeResults.refine` resolved (carried over and
    overridden). The new data are coded with the fit's design infos (same
    columns and levels); a level the fit has not seen is an error, as in
    memory.
    """
    res = getattr(results, "_results", results)
    model = _formula_model(
        type(res.model),
        res.model.design,
        newdata,
        missing=missing,
        prior=res._results_wrapper(),
        **model_kwargs,
    )
    return model.fit(**fit_kwargs)
