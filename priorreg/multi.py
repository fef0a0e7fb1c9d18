r"""Several penalties, each with its own ``lam``, and several priors.

The objective of a model with ``m`` penalty components is

.. math::

    D(b) + \sum_{j=1}^m \lambda_j (b - b_{0,j})' P_j (b - b_{0,j})

(``D`` the weighted residual sum of squares of the linear model, or the
deviance of a GLM). At fixed ``lam`` it is one penalty with one prior:

.. math::

    \sum_j \lambda_j (b - b_{0,j})' P_j (b - b_{0,j})
    = (b - b_0^*)' S (b - b_0^*) + \text{const},\qquad
    S = \sum_j \lambda_j P_j,\quad S b_0^* = \sum_j \lambda_j P_j b_{0,j},

so a fit at fixed ``lam`` reuses the single-penalty machinery with the
penalty matrix ``S`` at weight 1 and the prior ``b0*``
(:meth:`Components.combined`). This module resolves the specification
(:func:`resolve_components`); :mod:`priorreg.multi_kernel` evaluates the
criteria and their derivatives in ``log(lam)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from priorreg._typing import FloatArray
from priorreg.checks import as_float_array
from priorreg.penalty import Penalty, resolve_penalty, standardize_penalty
from priorreg.prior import _params_of, align_prior, prior_information

__all__ = ["Components", "is_multi_penalty", "resolve_components"]

_COMPONENT_TYPES = (np.ndarray, pd.Series, pd.DataFrame, Mapping, str, type(None))


def _is_group_dict(penalty: Any) -> bool:
    """``{group: component}``: some value is not a number (a weights dict has only numbers)."""
    if not isinstance(penalty, Mapping) or isinstance(penalty, pd.Series) or not penalty:
        return False
    return not all(isinstance(v, numbers.Real) for v in penalty.values())


def is_multi_penalty(penalty: Any) -> bool:
    """True for several penalty components (a list of specifications or ``{group: terms}``).

    A list is read as components when one of its entries is an array,
    Series, DataFrame, dict, string (``"information"`` or formula terms),
    ``None`` or a list of column names; a list of plain numbers (weights) or
    of lists of numbers (a matrix) keeps its single-penalty meaning.

    Examples
    --------
    >>> is_multi_penalty([None, "information"]), is_multi_penalty([1.0, 2.0])
    (True, False)
    >>> is_multi_penalty({"old": "information", "new": ["x3"]}), is_multi_penalty({"x": 2.0})
    (True, False)
    """
    if _is_group_dict(penalty):
        return True
    if isinstance(penalty, (list, tuple)) and penalty:
        return any(
            isinstance(p, _COMPONENT_TYPES)
            or (isinstance(p, (list, tuple)) and p and all(isinstance(t, str) for t in p))
            for p in penalty
        )
    return False


@dataclass(frozen=True)
class Components:
    r"""Penalty matrices ``P_j`` and priors ``b0_j`` of an ``m``-component penalty.

    Attributes
    ----------
    names : list of str or None
        Group names (``{group: terms}``); ``None`` for an unnamed list.
    matrices : ndarray of shape (m, k, k)
        The PSD penalty matrices ``P_j`` (after ``standardize``).
    priors : ndarray of shape (m, k)
        The prior of each component (rows equal for a shared prior).
    kinds : list of str
        ``"default"``, ``"user"``, ``"information"`` or ``"group"``.
    """

    names: list[str] | None
    matrices: FloatArray
    priors: FloatArray
    kinds: list[str]

    @property
    def m(self) -> int:
        """Number of components."""
        return int(self.matrices.shape[0])

    @property
    def labels(self) -> list[str]:
        """Group names, or ``"penalty 1"``, ..., ``"penalty m"``."""
        return self.names if self.names is not None else [f"penalty {j + 1}" for j in range(self.m)]

    @property
    def shared_prior(self) -> bool:
        """All components pull towards the same prior."""
        return bool(np.all(self.priors == self.priors[0]))

    @property
    def total(self) -> FloatArray:
        """``sum_j P_j / max|P_j|``: its null space is that of ``S`` at any ``lam > 0``."""
        scales = np.maximum(np.max(np.abs(self.matrices), axis=(1, 2)), 1e-300)
        return np.asarray(np.tensordot(1.0 / scales, self.matrices, axes=1))

    def support(self) -> FloatArray:
        """``(m, k)`` booleans: the columns each component penalizes (non-zero diagonal)."""
        return np.diagonal(self.matrices, axis1=1, axis2=2) > 0

    def combined(self, lams: FloatArray) -> tuple[FloatArray, FloatArray]:
        r"""``(S, b0*)``: the one penalty and prior equivalent at ``lams``.

        ``S = sum_j lam_j P_j`` and ``b0*`` solves ``S b0* = sum_j lam_j P_j b0_j``;
        on the null space of ``S`` (where the prior does not matter) it keeps
        the first component's prior.
        """
        lams = np.asarray(lams, dtype=float)
        S = np.tensordot(lams, self.matrices, axes=1)
        S = 0.5 * (S + S.T)
        b0 = self.priors[0].copy()
        if self.shared_prior:
            return S, b0
        # block by block (connected columns of S): a block that one component
        # alone penalizes takes that component's prior exactly
        n_blocks, block_of = connected_components(sparse.csr_array(S != 0), directed=False)
        touched = np.abs(self.matrices).sum(axis=2) > 0  # (m, k)
        for block in range(n_blocks):
            cols = np.flatnonzero(block_of == block)
            owners = [j for j in range(self.m) if lams[j] > 0 and touched[j, cols].any()]
            if len(owners) == 1:
                b0[cols] = self.priors[owners[0], cols]
            elif owners:
                Sb = S[np.ix_(cols, cols)]
                rhs = np.einsum(
                    "j,jkl,jl->k",
                    lams,
                    self.matrices[:, cols][:, :, cols],
                    self.priors[:, cols] - b0[cols],
                )
                b0[cols] += np.linalg.lstsq(Sb, rhs, rcond=None)[0]
        return S, b0

    def lam_series(self, lams: FloatArray) -> Any:
        """``lams`` as a Series by group name when named, else an array."""
        lams = np.asarray(lams, dtype=float)
        if self.names is None:
            return lams
        return pd.Series(lams, index=self.names, name="lam")


def _term_columns(design: Any, terms: Any, names: Sequence[str], group: str) -> list[int]:
    """Columns of the design that belong to ``terms`` (term string or column names)."""
    if isinstance(terms, str):
        slices = getattr(getattr(design, "x_info", None), "term_name_slices", None)
        if slices is None:
            raise ValueError(
                f"penalty component {group}: terms {terms!r} need a formula model; "
                "give the columns as a list of names"
            )
        cols: list[int] = []
        for term in (t.strip() for t in terms.split("+")):
            key = "".join(term.split())
            found = [s for name, s in slices.items() if "".join(name.split()) == key]
            if not found:
                raise ValueError(
                    f"penalty component {group}: {term!r} is not a term of the formula; "
                    f"terms are {list(slices)}"
                )
            cols.extend(range(found[0].start, found[0].stop))
        return cols
    unknown = [t for t in terms if t not in names]
    if unknown:
        raise ValueError(
            f"penalty component {group}: columns not in the design: {unknown}. "
            f"Valid column names: {list(names)}"
        )
    return [list(names).index(t) for t in terms]


def _information_matrix(prior: Any, names: Sequence[str], intercept_name: str | None) -> FloatArray:
    """The prior fit's information, on its own columns, zero on the design's others."""
    params = _params_of(prior) if hasattr(prior, "params") else None
    if not isinstance(params, pd.Series) or getattr(prior, "normalized_cov_params", None) is None:
        return prior_information(prior, names, intercept_name)
    aliases = ("Intercept", "const", "intercept", "(Intercept)")
    own = [
        intercept_name if intercept_name is not None and str(n) in aliases else str(n)
        for n in params.index
    ]
    unknown = [n for n in own if n not in names]
    if unknown:
        raise ValueError(
            f'penalty "information": the prior has columns not in the design: {unknown}. '
            f"Valid column names: {list(names)}"
        )
    info = prior_information(prior, own, intercept_name)
    pos = [list(names).index(n) for n in own]
    out = np.zeros((len(names), len(names)))
    out[np.ix_(pos, pos)] = info
    return out


def _component_priors(prior: Any, m: int, group_names: list[str] | None) -> list[Any]:
    """One prior specification per component (a shared prior repeated)."""
    if isinstance(prior, (list, tuple)) and len(prior) == m and not all(
        isinstance(p, numbers.Real) for p in prior
    ):
        return list(prior)
    if (
        group_names is not None
        and isinstance(prior, Mapping)
        and prior
        and set(map(str, prior)) <= set(group_names)
    ):
        return [prior.get(g) for g in group_names]
    return [prior] * m


def resolve_components(
    penalty: Any,
    prior: Any,
    names: Sequence[str],
    intercept_idx: int | None,
    *,
    design: Any = None,
    scale: tuple[FloatArray, FloatArray | None] | None = None,
) -> Components:
    """Resolve ``penalty=[P_1, ..., P_m]`` or ``{group: terms}`` and the priors.

    Parameters
    ----------
    penalty : list or dict
        Components, each anything ``penalty=`` accepts (``None``, weights,
        a PSD matrix, ``"information"``) or a group of columns (formula
        terms as a string, or a list of column names; the identity on
        them); or the same as ``{group: component}`` (named components;
        e.g. ``{"old": "information", "new": "x3 + C(g)"}``).
    prior : any prior specification, or a list of ``m`` of them
        One shared prior, or one per component (a dict keyed by group
        names also works for named groups).
    names : sequence of str
        Design column names.
    intercept_idx : int, optional
        Index of the constant column.
    design : Design, optional
        The formula design (needed for term strings).
    scale : (X, weights), optional
        With ``standardize=True``: every component is scaled by the columns'
        standard deviations.

    Returns
    -------
    Components

    Raises
    ------
    ValueError
        As for a single penalty or prior, naming the component.
    """
    names = list(names)
    k = len(names)
    intercept_name = None if intercept_idx is None else names[intercept_idx]
    group_names: list[str] | None = None
    if _is_group_dict(penalty):
        group_names = [str(g) for g in penalty]
        specs: list[Any] = list(penalty.values())
    else:
        specs = list(penalty)
    kinds: list[str] = []
    m = len(specs)
    priors_in = _component_priors(prior, m, group_names)
    matrices = np.empty((m, k, k))
    priors = np.empty((m, k))
    for j, (spec, pj) in enumerate(zip(specs, priors_in, strict=True)):
        label = j + 1 if group_names is None else group_names[j]
        where = f"penalty component {j + 1}" if group_names is None else f"group {label!r}"
        try:
            priors[j] = align_prior(pj, names, intercept_name)
            if isinstance(spec, str) and spec == "information":
                L = _information_matrix(pj, names, intercept_name)
                kind = "information"
            elif isinstance(spec, str) or (
                isinstance(spec, (list, tuple)) and spec and all(isinstance(t, str) for t in spec)
            ):  # terms or column names: the identity on those columns
                L = np.zeros(k)
                L[_term_columns(design, spec, names, str(label))] = 1.0
                kind = "group"
            else:
                L = np.asarray(resolve_penalty(spec, names, intercept_idx))
                kind = "default" if spec is None else "user"
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        if scale is not None:
            L = standardize_penalty(L, scale[0], scale[1])
        matrices[j] = Penalty(L).matrix()
        kinds.append(kind)
    return Components(group_names, matrices, priors, kinds)


def check_lams(lam: Any, comps: Components) -> FloatArray:
    """``fit(lam=[...])`` or ``{group: lam}`` as a checked array of ``m`` values >= 0."""
    if isinstance(lam, Mapping):
        if comps.names is None:
            raise ValueError("lam given by name, but the penalty components have no names")
        unknown = [str(g) for g in lam if str(g) not in comps.names]
        missing = [g for g in comps.names if g not in map(str, lam)]
        if unknown or missing:
            raise ValueError(
                f"lam names must be the penalty groups {comps.names}; unknown: {unknown}, "
                f"missing: {missing}"
            )
        lam = [lam[g] for g in comps.names]
    message = f"lam must be {comps.m} numbers >= 0 (one per penalty component) or a criterion name"
    arr = as_float_array(lam, message)
    if arr.shape != (comps.m,):
        raise ValueError(
            f"lam has shape {arr.shape}; give {comps.m} values, one per penalty component "
            f"({comps.labels})"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"every lam must be finite and >= 0, got {arr.tolist()}")
    return arr


def component_edf(comps: Components, lams: FloatArray, ncov: FloatArray) -> FloatArray:
    r"""Effective degrees of freedom attributed to each component.

    .. math::

        \mathrm{edf}_j = n_j - \lambda_j \operatorname{tr}\big((X'WX + S)^{-1} P_j\big),

    ``n_j`` the number of columns component ``j`` penalizes, a column that
    several components penalize counted as ``1/c`` in each of its ``c``
    components. As ``edf = k - sum_j lam_j tr(A^-1 P_j)``, the ``edf_j``
    plus the number of unpenalized columns sum to ``edf``; for components
    on disjoint columns ``edf_j`` is the sum of ``edf_params`` over its
    columns (mgcv's edf per smooth).
    """
    support = comps.support()
    count = support.sum(axis=0)
    own = np.where(count > 0, support / np.maximum(count, 1), 0.0).sum(axis=1)
    shrink = np.array([lam * np.sum(ncov * P) for lam, P in zip(lams, comps.matrices, strict=True)])
    return np.asarray(own - shrink)


def single_component(
    penalty: Any, prior: Any, names: Sequence[str], design: Any
) -> tuple[Any, Any]:
    """A one-component list or dict as the plain ``(penalty, prior)`` of one penalty."""
    if _is_group_dict(penalty):
        group, spec = next(iter(penalty.items()))
        if isinstance(prior, Mapping) and set(map(str, prior)) == {str(group)}:
            prior = prior[group]
    else:
        spec = penalty[0]
        if isinstance(prior, (list, tuple)) and len(prior) == 1 and not isinstance(
            prior[0], numbers.Real
        ):
            prior = prior[0]
    if (isinstance(spec, str) and spec != "information") or (
        isinstance(spec, (list, tuple)) and spec and all(isinstance(t, str) for t in spec)
    ):
        diag = np.zeros(len(names))
        diag[_term_columns(design, spec, names, str(spec))] = 1.0
        return diag, prior
    return spec, prior


def component_count(penalty: Any) -> int:
    """Number of components of a several-penalty specification."""
    return len(penalty)


def components_from_json(doc: Any, source: str) -> Any:
    """Penalty components from JSON (the command line's ``--penalty file.json``).

    ``{"components": {name: spec}}`` (or a list of specs), each spec
    ``"information"``, ``"none"``, formula terms (``"x3 + C(g)"``), a list of
    column names, ``{name: weight}`` or ``{"names": [...], "matrix": [[...]]}``.
    """

    def one(spec: Any) -> Any:
        if isinstance(spec, str) and spec.lower() in ("none", "ridge", "default"):
            return None
        if isinstance(spec, Mapping) and "matrix" in spec:
            names = spec.get("names")
            return pd.DataFrame(np.asarray(spec["matrix"], dtype=float), index=names, columns=names)
        if isinstance(spec, Mapping):
            return {str(k): float(v) for k, v in spec.items()}
        return spec

    if isinstance(doc, Mapping) and len(doc) >= 2:
        return {str(name): one(spec) for name, spec in doc.items()}
    if isinstance(doc, list) and len(doc) >= 2:
        return [one(spec) for spec in doc]
    raise ValueError(
        f'{source}: "components" must name at least two penalties, as {{name: spec}} or a list'
    )
