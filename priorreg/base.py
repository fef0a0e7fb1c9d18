"""What every priorreg model shares: data checks, prior, penalty and formulas.

Models subclass :class:`PriorModel`; it holds the data (through statsmodels'
data handling, which also attaches pandas labels to results) and never
changes after construction: ``fit()`` returns new results objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from statsmodels.base.model import Model

from priorreg import backends
from priorreg import formula as _formula
from priorreg._typing import ArrayLike, FloatArray
from priorreg.bounds import refuse_several_penalties, resolve_bounds
from priorreg.checks import (
    check_column_scale,
    check_formula_response,
    check_formula_rows,
    column_stats,
)
from priorreg.multi import (
    component_count,
    is_multi_penalty,
    resolve_components,
    single_component,
)
from priorreg.options import row_sources
from priorreg.penalty import Penalty, resolve_penalty, standardize_penalty
from priorreg.prior import align_prior, check_prior_names, prior_information
from priorreg.rowlabels import keep_row_dtype
from priorreg.units import units_message_from_sd

__all__ = ["PriorModel", "check_finite"]


def check_finite(name: str, arr: FloatArray | None, fix: str | None = None) -> None:
    """Raise a ``ValueError`` naming ``name``, the first bad row and ``fix``."""
    if arr is None:
        return
    with np.errstate(all="ignore"):
        if np.isfinite(np.sum(arr)):  # one pass, no copy: a NaN or inf propagates
            return
    fix = fix or "remove them or pass missing='drop'"
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=tuple(range(1, arr.ndim))) if arr.ndim > 1 else bad)
        raise ValueError(
            f"{name} has {rows.size} row(s) with NaN or inf (first at position "
            f"{int(rows[0])}); {fix}"
        )


def _precheck(name: str, values: Any, missing: str) -> None:
    """Infinite values are always an error; NaN unless ``missing="drop"``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be numeric ({exc}); convert it to numbers first, e.g. 0/1 for "
            "two classes"
        ) from exc
    if missing == "drop":
        arr = np.where(np.isnan(arr), 0.0, arr)
    check_finite(name, arr)


def _constant_column(X: FloatArray) -> int | None:
    """Index of the first non-zero constant column (a column of ones preferred)."""
    if X.ndim != 2 or X.shape[0] == 0:
        return None
    head = X[: min(X.shape[0], 64)]
    candidates = np.flatnonzero(np.all(head == head[0], axis=0) & (head[0] != 0))
    found = [int(j) for j in candidates if np.all(X[:, j] == X[0, j])]
    if not found:
        return None
    ones = [j for j in found if X[0, j] == 1.0]
    return ones[0] if ones else found[0]


def _row_values(value: Any, frame: Any, rows: np.ndarray, name: str) -> FloatArray | None:
    """A per-row array given as a column name or one value per data row."""
    if value is None:
        return None
    if isinstance(value, str):
        if not isinstance(frame, pd.DataFrame) or value not in frame.columns:
            raise ValueError(f"{name}={value!r} is not a column of data")
        arr = frame[value].to_numpy(dtype=float)
    else:
        arr = np.asarray(value, dtype=float)
    n = len(frame)
    if arr.ndim == 0:  # a constant (e.g. a recorded one, reapplied by refine)
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n},), one per row of data")
    return arr[rows]


def _row_keys_init(cls: type[PriorModel]) -> Any:
    """``PriorModel.__init__`` for ``cls``, its ``_row_keys`` stated in the signature.

    ``PriorModel.__init__`` takes the per-row arrays as ``**rows``; the
    returned method is the same call, and its ``__signature__`` names each
    row key as a keyword-only ``ArrayLike | None = None`` after ``penalty``,
    so ``help()``, :func:`inspect.signature` and the API page show every
    parameter the model takes.
    """
    base = inspect.signature(PriorModel.__init__)
    kept = [p for p in base.parameters.values() if p.kind is not p.VAR_KEYWORD]
    at = [p.name for p in kept].index("penalty") + 1
    keyword = inspect.Parameter.KEYWORD_ONLY
    rows = [
        inspect.Parameter(key, keyword, default=None, annotation="ArrayLike | None")
        for key in cls._row_keys
    ]

    def init(self: PriorModel, endog: ArrayLike, exog: ArrayLike, **options: Any) -> None:
        PriorModel.__init__(self, endog, exog, **options)

    signature = base.replace(parameters=[*kept[:at], *rows, *kept[at:]])
    init.__signature__ = signature  # type: ignore[attr-defined]
    init.__name__ = "__init__"
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = f"Set up the model (parameters: :class:`{cls.__name__}`)."
    return init


class PriorModel(Model):  # type: ignore[misc]
    """Data, prior ``b0`` and penalty ``L`` of a prior-centred model.

    Subclasses name their per-observation arrays in ``_row_keys`` and those
    that must be positive in ``_positive_keys``; ``_penalty_weights_key``
    names the array used to weight column variances for ``standardize``.
    A subclass without an ``__init__`` of its own gets this one with its
    row keys as keyword-only parameters (:func:`_row_keys_init`).
    """

    _row_keys: ClassVar[tuple[str, ...]] = ()
    _positive_keys: ClassVar[tuple[str, ...]] = ()
    _endog_columns: ClassVar[tuple[int, ...]] = (1,)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # ``__new__`` below takes ``*args, **kwargs``; tools that read the
        # signature from ``__new__`` first (Sphinx's autodoc) would show that
        # instead of the real parameters, so state them: ``__init__``'s, less ``self``.
        super().__init_subclass__(**kwargs)
        if cls.__init__ is PriorModel.__init__:
            cls.__init__ = _row_keys_init(cls)  # type: ignore[method-assign]
        init = inspect.signature(cls.__init__)
        cls.__signature__ = init.replace(parameters=list(init.parameters.values())[1:])

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """The class that serves the data and options (:func:`priorreg.backends.model_class`).

        Dask collections as ``endog``/``exog`` give the model of their backend
        (:mod:`priorreg.outofcore`); ``bounds=`` turns ``PriorGLM`` into the
        bounded GLM (also for ``bounds=None``).
        """
        if args or kwargs:
            cls = backends.model_class(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        endog: ArrayLike,
        exog: ArrayLike,
        *,
        prior: Any = None,
        penalty: Any = None,
        standardize: bool = False,
        missing: str = "none",
        design: _formula.Design | None = None,
        bounds: Any = None,
        **rows: ArrayLike | None,
    ) -> None:
        if exog is None:
            raise ValueError("exog is required: pass the design matrix")
        # nullable pandas columns (Int64, Float64): pd.NA as NaN, for the missing policy
        endog, exog = _formula.without_pd_na(endog), _formula.without_pd_na(exog)
        if missing not in ("none", "drop", "raise"):
            raise ValueError(f"missing must be 'none', 'drop' or 'raise', not {missing!r}")
        n_in = np.shape(endog)[0] if np.ndim(endog) else 0
        arrays: dict[str, FloatArray | None] = {}
        for name in self._row_keys:
            value = rows.pop(name, None)
            arr = None if value is None else np.asarray(value, dtype=float)
            if arr is not None and arr.ndim == 0:
                arr = np.full(n_in, float(arr))
            if arr is not None and (arr.ndim != 1 or arr.shape[0] != n_in):
                raise ValueError(
                    f"{name} has shape {arr.shape}; expected ({n_in},), one per observation"
                )
            arrays[name] = arr
        if rows:
            raise TypeError(f"unexpected keyword arguments: {sorted(rows)}")
        if np.size(endog) == 0 or np.size(exog) == 0:
            raise ValueError("no observations: the data are empty")
        _precheck("endog", endog, missing)
        _precheck("exog", exog, missing)
        # the constant is detected here in one cheap pass; statsmodels' own
        # detection computes variances, ranges and (without a constant) the
        # rank of the augmented design, an SVD of the whole data
        super().__init__(endog, exog, missing=missing, hasconst=False, **arrays)
        keep_row_dtype(self.data)  # a single row's fitted values stay float
        self.endog = np.asarray(self.endog, dtype=float)
        self.exog = np.asarray(self.exog, dtype=float)
        # one pass over X for every column check (constants, scale, units, separation)
        stats = None
        if self.exog.ndim == 2 and self.endog.ndim and len(self.exog) == len(self.endog):
            stats = column_stats(self.exog, self._penalty_scale_weights())
        const_idx = _constant_column(self.exog if stats is None else stats.extremes)
        self.k_constant = self.data.k_constant = int(const_idx is not None)
        self.data.const_idx = const_idx
        if not isinstance(self.data.orig_exog, pd.DataFrame) and self.exog.ndim == 2:
            names = [f"x{i}" for i in range(1, self.exog.shape[1] + (const_idx is None))]
            if const_idx is not None:
                names.insert(const_idx, "const")
            self.data.xnames = names
        n = self.endog.shape[0] if self.endog.ndim else 0
        if n == 0:
            raise ValueError(
                f"no observations: all {n_in} rows were dropped for missing values; fill "
                "them in or drop the variables that are missing everywhere"
            )
        ncols = 1 if self.endog.ndim == 1 else self.endog.shape[1]
        if self.endog.ndim > 2 or ncols not in self._endog_columns:
            raise ValueError(
                f"endog has shape {self.endog.shape}; {type(self).__name__} needs "
                + " or ".join(f"{c} column(s)" for c in self._endog_columns)
                + ": pass the response as one column (a binomial GLM also takes two: "
                "successes, failures)"
            )
        if self.exog.ndim != 2 or self.exog.shape[0] != n:
            raise ValueError(f"exog has shape {self.exog.shape}; expected ({n}, k)")
        assert stats is not None  # the shapes agree
        self._column_stats = stats
        check_column_scale("exog", self.exog, list(self.exog_names), peak=stats.peak)
        check_column_scale("endog", self.endog)
        # endog and exog were checked before missing-value handling
        fix = None if design is None else "fill them in or drop those rows from the data"
        for name in self._row_keys:
            arr = getattr(self, name, None)
            check_finite(name, arr, fix)
            if arr is not None and name != "exposure":  # exposure enters as its log
                check_column_scale(name, arr, tiny=False)
            if name in self._positive_keys and arr is not None and np.any(arr <= 0):
                bad = np.flatnonzero(arr <= 0)
                raise ValueError(
                    f"{name} must be > 0; {bad.size} are not (first at position "
                    f"{int(bad[0])}). Drop those rows instead of giving them weight 0"
                )
        self.design = design
        self.formula = None if design is None else design.formula
        self.n_dropped = n_in - n if design is None else design.n_dropped
        self.standardize = bool(standardize)
        self.nobs = float(n)
        self.k_params = self.exog.shape[1]
        self._setup_prior_penalty(prior, penalty)
        # bounds on the estimates (priorreg.bounds); None: unbounded
        names, weights = self.exog_names, self.penalty_weights
        self.bounds = resolve_bounds(bounds, names, self.intercept_idx, weights)
        refuse_several_penalties(self.bounds, getattr(self, "penalty_components", None))

    def _refine_kwargs(self) -> dict[str, Any]:
        """Model options that ``refine`` carries over to the new data."""
        return {}

    #: How each per-row option was given to ``from_formula`` (column name,
    #: constant or array; see :mod:`priorreg.options`); empty for arrays.
    _row_sources: Mapping[str, Any] = MappingProxyType({})

    def _penalty_scale_weights(self) -> FloatArray | None:
        """Observation weights for the column variances of ``standardize``."""
        return None

    def _setup_prior_penalty(self, prior: Any, penalty: Any) -> None:
        names = list(self.exog_names)
        self.intercept_idx = self._find_intercept()
        intercept_name = None if self.intercept_idx is None else names[self.intercept_idx]
        self.prior_spec = prior
        self.units_message: str | None = None
        self.penalty_components = None
        if is_multi_penalty(penalty):  # several penalties: priorreg.multi
            if component_count(penalty) > 1:
                self._setup_components(prior, penalty, names)
                return
            penalty, prior = single_component(penalty, prior, names, self.design)
        self.prior_values = align_prior(prior, names, intercept_name)
        check_column_scale("prior", self.prior_values[None, :], names, tiny=False)
        if isinstance(penalty, str) and penalty == "information":
            L = prior_information(prior, names, intercept_name)
            self.penalty_kind = "information"
        else:
            L = resolve_penalty(penalty, names, self.intercept_idx)
            self.penalty_kind = "default" if penalty is None else "user"
            if penalty is None and not self.standardize and isinstance(self.exog, np.ndarray):
                # the default penalty is the diagonal (0 on the intercept); said
                # by the results of a fit with lam > 0
                self.units_message = units_message_from_sd(self._column_stats.sd, L > 0, names)
        if self.standardize:
            L = standardize_penalty(L, self.exog, self._penalty_scale_weights())
        # a penalty given by weights is kept as its diagonal: no k x k matrix
        # is formed or scanned unless asked for
        self.penalty = Penalty(L)

    def _setup_components(self, prior: Any, penalty: Any, names: list[str]) -> None:
        """Penalty components and priors (:func:`priorreg.multi.resolve_components`)."""
        scale = (self.exog, self._penalty_scale_weights()) if self.standardize else None
        comps = resolve_components(
            penalty, prior, names, self.intercept_idx, design=self.design, scale=scale
        )
        self.penalty_components = comps
        self.prior_values = comps.combined(np.ones(comps.m))[1]
        self.penalty_kind = "several"
        self.penalty = Penalty(comps.total)

    #: The penalty ``L`` (:class:`priorreg.penalty.Penalty`): weights or a matrix.
    penalty: Penalty

    @property
    def penalty_matrix(self) -> FloatArray:
        """The penalty matrix ``L`` (``k x k``; formed on first use from weights)."""
        return self.penalty.matrix()

    @penalty_matrix.setter
    def penalty_matrix(self, L: FloatArray) -> None:
        self.penalty = Penalty(np.asarray(L, dtype=float))

    @property
    def penalty_weights(self) -> FloatArray:
        """The diagonal of ``L`` (what each coefficient's penalty weighs)."""
        return self.penalty.diagonal()

    def _find_intercept(self) -> int | None:
        idx = getattr(self.data, "const_idx", None)
        if idx is None or self.k_constant == 0:
            return None
        if np.ndim(idx):
            return int(np.ravel(idx)[0])
        return int(idx)

    # ------------------------------------------------------------ formula
    @classmethod
    def from_formula(  # type: ignore[override]
        cls,
        formula: str,
        data: Any,
        subset: Any = None,
        *,
        prior: Any = None,
        penalty: Any = None,
        standardize: bool = False,
        missing: str = "drop",
        eval_env: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Build the model from an R-style formula (patsy).

        Parameters
        ----------
        formula : str
            E.g. ``"y ~ x1 + C(g) + standardize(x2)"``.
        data : DataFrame
            The data; never modified.
        subset : array-like of bool, optional
            Rows to use.
        prior, penalty, standardize
            As for the model class. A fitted prior (results object or prior
            file) whose names differ from the design's columns is an error
            that lists the differences and points to ``refine``.
        missing : {"drop", "raise"}
            Rows with missing values in the formula's variables are dropped
            (and counted in the summary) or raise.
        eval_env : int
            Frames above the caller in which to look up names in the formula.
        **kwargs
            Per-row arrays of the model (``weights``, ``offset``, ...), each a
            column name of ``data`` or one value per row of ``data``; and
            other model options (e.g. ``family``).

        Returns
        -------
        model
        """
        env = _formula.capture_env(eval_env + 1)
        backend = backends.backend_for(data)
        if backend is not None:
            return backend.implementation().from_formula(
                cls,
                formula,
                data,
                env,
                subset=subset,
                prior=prior,
                penalty=penalty,
                standardize=standardize,
                missing=missing,
                **kwargs,
            )
        frame = data if subset is None else data.loc[np.asarray(subset)]
        design = _formula.build_design(formula, frame, env, missing)
        if not is_multi_penalty(penalty):  # components may cover part of the design
            check_prior_names(prior, list(design.exog.columns))
        return cls._from_design(
            design, frame, prior=prior, penalty=penalty, standardize=standardize, **kwargs
        )

    @classmethod
    def _from_design(cls, design: _formula.Design, frame: Any, **kwargs: Any) -> Any:
        check_formula_rows(frame, design)
        check_formula_response(design, cls._endog_columns)
        index = frame.index[design.rows] if isinstance(frame, pd.DataFrame) else None
        sources = row_sources({key: kwargs.get(key) for key in cls._row_keys})
        for key in cls._row_keys:
            if key in kwargs:
                kwargs[key] = _row_values(kwargs[key], frame, design.rows, key)
        endog = design.endog.copy()
        exog = design.exog.copy()
        if index is not None:
            endog.index = index
            exog.index = index
        model = cls(endog, exog, design=design, missing="none", **kwargs)
        model._row_sources = sources  # how each per-row option was given, for refine
        return model
