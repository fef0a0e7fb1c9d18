"""What the Dask models share: the first pass, the model data and the model builders.

The scan (sizes, column ranges, moments and, for the linear model, the TSQR
factor), :class:`_DaskModel`, ``from_formula`` on a Dask DataFrame and the
sources of the array interface.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.genmod import families as smf

from priorreg import families as _families
from priorreg import formula as _formula
from priorreg._typing import FloatArray
from priorreg.base import _constant_column
from priorreg.bounded_glm import model_class as bounded_model_class
from priorreg.bounds import resolve_bounds
from priorreg.glm import PriorGLM, _boolean_response
from priorreg.linear import PriorRidge
from priorreg.multi_dask import standardize_components
from priorreg.options import row_sources
from priorreg.outofcore.coding import (
    _TEMPLATE_ROWS,
    _ArrayCoder,
    _design_columns,
    _FormulaCoder,
    _parts_of,
    _plain_plan,
    build_dask_design,
)
from priorreg.outofcore.dispatch import _require_dask, is_dask, model_class
from priorreg.outofcore.passes import _Block, _column_scan, _Source, split_scan_factor
from priorreg.prior import check_prior_names
from priorreg.units import units_message_from_sd

_NO_ROWS = np.empty(0)

#: The attributes the scan sets on a model: :meth:`_DaskModel._setup_from_scan`,
#: the prior and penalty setup it calls (``priorreg.base``) and the models'
#: ``_scanned`` (the GLM's ``wnobs`` and ``_y_mean``). Before the scan, reading
#: one of them (or a property computed from them: ``exog_names``,
#: ``penalty_matrix``, ...) makes the scan; any other missing name is an
#: ``AttributeError`` at once, with no pass (:meth:`_DaskModel.__getattr__`).
SCAN_ATTRIBUTES = frozenset({
    "_scan", "_y_mean", "bounds", "data", "intercept_idx", "k_constant", "k_params",
    "n_dropped", "nobs", "penalty", "penalty_components", "penalty_kind", "prior_spec",
    "prior_values", "standardize", "units_message", "wnobs",
})  # fmt: skip


# ------------------------------------------------------------- the scan
def _glm_arrays(block: _Block, family: Any) -> tuple[FloatArray, FloatArray, FloatArray, Any]:
    """Response, var weights (times trials), offset total and freq weights of a block.

    Weights and offsets the block does not have are read-only broadcast views
    of one number (no n-length array is written: see
    :class:`priorreg.outofcore.irls_pass._Sweep` on what that costs in Dask's
    workers).
    """
    n = block.y.shape[0]
    var_w = block.rows.get("var_weights")
    var_w = np.broadcast_to(1.0, (n,)) if var_w is None else var_w
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
    parts = [block.rows.get("offset")]
    if block.rows.get("exposure") is not None:
        parts.append(np.log(block.rows["exposure"]))
    parts = [part for part in parts if part is not None]
    offset = np.broadcast_to(0.0, (n,)) if not parts else parts[0]
    if len(parts) == 2:
        offset = parts[0] + parts[1]
    freq_w = block.rows.get("freq_weights")
    freq_w = np.broadcast_to(1.0, (n,)) if freq_w is None else freq_w
    return resp, var_w, offset, freq_w


def _scan(block: _Block, kind: str, std_key: str | None, family: Any) -> dict[str, Any]:
    """First pass: sizes, extrema and moments; for the linear model also the TSQR factor.

    One sweep over the partition's rows (:func:`_column_scan`) gives them all;
    the linear model's moments come from its factor (:func:`split_scan_factor`).
    """
    y, n = block.y, block.n
    out: dict[str, Any] = {"n": n, "counts_list": [n], "dropped": block.dropped}
    if kind == "linear":
        w = block.rows.get("weights")
        o = block.rows.get("offset")
        if y.ndim != 1:
            raise ValueError(f"endog has shape {y.shape}; PriorRidge needs 1 column(s)")
        target = y if o is None else y - o
        # the total sum of squares of R^2 is that of y - offset (as R's lm)
        out.update(_column_scan(block.columns, target, w, n))
        out["log_w"] = 0.0 if w is None else float(np.sum(np.log(w)))
        out["y_sq"] = float(np.sum((1.0 if w is None else w) * target**2))
    else:
        std_w = block.rows.get(std_key) if std_key else None
        out.update(_column_scan(block.columns, None, std_w, n))
        resp, var_w, _, freq_w = _glm_arrays(block, family)
        out.update(glm_totals(resp, var_w, freq_w))
    return out


def glm_totals(resp: FloatArray, var_w: FloatArray, freq_w: FloatArray) -> dict[str, float]:
    """The GLM scan's sums of the response and weights (the start's and null model's means)."""
    return {
        "y_sum": float(np.sum(resp)),
        "wnobs": float(np.sum(freq_w)),
        "iw_y": float(np.sum(freq_w * var_w * resp)),
        "iw": float(np.sum(freq_w * var_w)),
    }


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


def init_like(memory_model: type) -> Any:
    """An ``__init__`` taking ``memory_model``'s parameters and ``progress``.

    The Dask models take the options of their in-memory model, by the same
    names and defaults, plus ``progress=True`` (a progress bar for each pass).
    The returned method binds the call to the in-memory signature (so an
    unknown or missing option is the same ``TypeError``), splits off the
    per-row options and sets the model up from the arrays; its
    ``__signature__`` is the in-memory one with ``progress``, which is what
    ``help()`` and the API page show.
    """
    memory = inspect.signature(memory_model.__init__)

    def init(
        self: Any, endog: Any, exog: Any, *args: Any, progress: bool = False, **options: Any
    ) -> None:
        bound = memory.bind(self, endog, exog, *args, **options)
        bound.apply_defaults()
        kwargs = dict(bound.arguments)
        for name in ("self", "endog", "exog"):
            del kwargs[name]
        rows = {key: kwargs.pop(key) for key in self._row_keys}
        self._setup_arrays(endog, exog, rows, kwargs.pop("missing"), progress=progress, **kwargs)

    progress = inspect.Parameter(
        "progress", inspect.Parameter.KEYWORD_ONLY, default=False, annotation="bool"
    )
    init.__signature__ = memory.replace(  # type: ignore[attr-defined]
        parameters=[*memory.parameters.values(), progress]
    )
    init.__name__ = "__init__"
    return init


class _DaskModel:
    """What the Dask models share: the source, the first pass and the model data.

    The in-memory attributes ``endog``, ``exog`` and the per-row arrays are
    ``None``: they would be n-length. ``nobs``, ``exog_names``, the prior, the
    penalty and the constant column are those of the in-memory model. They
    come from the scan, made when the model is built or, for a GLM from a
    formula, in its first fit's first pass (or on first use, before a fit).
    """

    _std_key: str | None = None
    _kind = ""
    source: _Source
    progress: bool

    def _setup_arrays(
        self, endog: Any, exog: Any, rows: dict[str, Any], missing: str, **options: Any
    ) -> None:
        """The array interface ``Model(dask_endog, dask_exog, ...)``: the source, then the setup.

        ``rows`` are the per-row options (scalars or Dask collections
        partitioned like the data); ``options`` go to ``_setup_from_source``.
        """
        _require_dask()
        source, endog_t, exog_t = _array_source(type(self), endog, exog, rows, missing)
        array_names = not hasattr(exog, "columns")
        self._setup_from_source(source, endog_t, exog_t, array_names=array_names, **options)

    def _setup_dask(
        self,
        source: _Source,
        endog_t: Any,
        exog_t: Any,
        *,
        design: _formula.Design | None,
        prior: Any = None,
        penalty: Any = None,
        standardize: bool = False,
        progress: bool = False,
        array_names: bool = False,
        family: Any = None,
        bounds: Any = None,
        defer: bool = False,
    ) -> None:
        """The source, then the scan's attributes: now, or with ``defer`` on first use.

        A deferred model makes no pass here: its first ``fit()`` computes the
        scan in the same pass as its first IRLS point
        (:mod:`priorreg.outofcore.first_pass`), and reading an attribute that
        comes from the scan before that (``nobs``, ``exog_names``, ...) makes
        the scan then (:meth:`__getattr__`).
        """
        self.source = source
        self.progress = bool(progress)
        self.endog = None
        self.exog = None
        self.design = design
        self.formula = None if design is None else design.formula
        self._init_keys: list[str] = []
        self._data_attr: list[str] = []
        self._pending: dict[str, Any] | None = {
            "endog_t": endog_t,
            "exog_t": exog_t,
            "prior": prior,
            "penalty": penalty,
            "standardize": standardize,
            "array_names": array_names,
            "family": family,
            "bounds": bounds,
        }
        #: whether the scan was a pass of its own (not folded into a fit's first pass)
        self._scanned_apart = False
        if not defer:
            self._scan_now()

    def __getattr__(self, name: str) -> Any:
        """An attribute of the scan read before the scan: the scan, now (one pass).

        Only the names the scan sets (:data:`SCAN_ATTRIBUTES`), and so the
        properties computed from them, make the scan. Any other missing name
        (a typo, or the probes of ``hasattr``, ``copy``, ``pickle``, IPython
        and numpy: ``_repr_html_``, ``__array__``, ...) is an
        ``AttributeError`` at once, without reading the data.
        """
        if name not in SCAN_ATTRIBUTES or self.__dict__.get("_pending") is None:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )
        self._scan_now()
        return getattr(self, name)

    def _scan_now(self) -> None:
        """The scan as a pass of its own, then the attributes that come from it."""
        pending = self.__dict__.get("_pending")
        if pending is None:  # set up already
            return
        family = pending["family"]
        scan = self.source.reduce(
            _scan, self._kind, self._std_key, family, progress=self.progress, label="scan the data"
        )
        if "scan_R" in scan:
            scan = split_scan_factor(scan)
        self._scanned_apart = True
        self._apply_scan(scan)

    def _apply_scan(self, scan: dict[str, Any]) -> None:
        """Sizes, constant column, names, prior, penalty and bounds from the scan's results.

        While they are set, a missing attribute is an ``AttributeError`` (no
        second scan); if the setup fails (empty data, a bad prior), the model
        stays without its scan and raises the same error on the next use.
        """
        pending = self.__dict__["_pending"]
        if pending is None:  # set up already (by a fit in another thread)
            return
        self._pending = None
        try:
            self._setup_from_scan(scan, pending)
        except BaseException:
            self._pending = pending
            raise

    def _setup_from_scan(self, scan: dict[str, Any], pending: dict[str, Any]) -> None:
        standardize, penalty = pending["standardize"], pending["penalty"]
        n = int(scan["n"])
        if n == 0:
            raise ValueError("no observations: the data are empty")
        self.source.counts = list(scan["counts_list"])
        self._scan = scan
        xmin, xmax = scan["x_min"], scan["x_max"]
        const = _constant(xmin, xmax)
        k_constant = int(const is not None)
        names = _array_names(xmin.size, const) if pending["array_names"] else None
        self.data = _model_data(pending["endog_t"], pending["exog_t"], names, k_constant, const)
        self.k_constant = k_constant
        self.n_dropped = int(scan["dropped"])
        self.nobs = float(n)
        self.k_params = xmin.size
        self.standardize = False  # the column scales come from the scan, below
        self._setup_prior_penalty(pending["prior"], penalty)
        self.standardize = bool(standardize)
        total, _, m2 = scan["x_mom"]
        sd = np.sqrt(m2 / total) if total > 0 else np.zeros(self.k_params)
        if standardize:  # as priorreg.penalty.standardize_penalty
            sd = np.where(sd > 0, sd, 1.0)
            if self.penalty_components is not None:  # each component, as in memory
                standardize_components(self, sd)
            else:
                self.penalty_matrix = sd[:, None] * self.penalty_matrix * sd[None, :]
        elif penalty is None:  # as the in-memory model (priorreg.base)
            names = [str(n) for n in self.exog_names]
            self.units_message = units_message_from_sd(sd, self.penalty_weights > 0, names)
        names, weights = self.exog_names, self.penalty_weights
        self.bounds = resolve_bounds(pending["bounds"], names, self.intercept_idx, weights)
        self._scanned()

    def _scanned(self) -> None:
        """What a model adds once its scan is known (nothing here)."""

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
    bounds = kwargs.pop("bounds", None)
    if bounds is not None:  # a clear error for models without bounds
        cls = bounded_model_class(cls)
        kwargs["bounds"] = bounds
    keys = cls._row_keys
    rows = {key: kwargs.pop(key, None) for key in keys}
    sources = row_sources(rows)
    columns_of, scalars, collections = _split_rows(rows, ddf)
    for key, value in collections.items():
        name = f"__priorreg_{key}"
        ddf = ddf.assign(**{name: value})
        columns_of[key] = name
    needed = list(columns or _design_columns(design, [str(c) for c in ddf.columns]))
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
    model._setup_from_source(source, endog_t, exog_t, design=design, progress=progress, **kwargs)
    model._row_sources = sources  # how each per-row option was given, for refine
    return model


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
