r"""Bounds on the coefficients: specification and checks.

The bounded estimate minimises the model's usual objective (penalized
least squares or penalized deviance) subject to
:math:`l_j \le b_j \le u_j` for every coefficient ``j``:

.. math::

    \hat b = \arg\min_{l \le b \le u} \; D(b) + \lambda (b - b_0)' L (b - b_0).

Bounds are given as

- ``"nonnegative"``: every coefficient except an unpenalized intercept is
  ``>= 0``;
- a dict ``{name: (lower, upper)}``, ``None`` for an open side (names not
  given are unbounded);
- a sequence of ``(lower, upper)`` pairs, one per column.

The prior may lie outside the bounds: what is bounded is the estimate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from priorreg._typing import FloatArray

__all__ = ["Bounds", "read_bounds", "resolve_bounds", "summary_marks"]


@dataclass(frozen=True)
class Bounds:
    """Lower and upper bounds per coefficient (``-inf``/``inf`` for an open side).

    ``spec`` is what the user gave, in a JSON-friendly form: ``"nonnegative"``
    or ``{name: [lower, upper]}`` with ``None`` for an open side.
    """

    lower: FloatArray
    upper: FloatArray
    names: tuple[str, ...]
    spec: str | dict[str, list[float | None]]

    @property
    def bounded(self) -> np.ndarray:
        """True for the coefficients with at least one finite bound."""
        return np.isfinite(self.lower) | np.isfinite(self.upper)

    def contains(self, params: FloatArray) -> bool:
        """Whether ``params`` satisfy every bound."""
        return bool(np.all(params >= self.lower) and np.all(params <= self.upper))

    def at_bound(self, params: FloatArray) -> np.ndarray:
        """True for the coefficients equal to one of their bounds."""
        return (params == self.lower) | (params == self.upper)

    def snap(self, params: FloatArray, active: np.ndarray) -> FloatArray:
        """``params`` with each ``active`` coefficient set exactly to its nearer bound."""
        out = np.array(params, dtype=float)
        at_lo = active & (np.abs(out - self.lower) <= np.abs(out - self.upper))
        out[at_lo] = self.lower[at_lo]
        out[active & ~at_lo] = self.upper[active & ~at_lo]
        return out

    def as_dict(self) -> dict[str, list[float | None]]:
        """``{name: [lower, upper]}`` for the bounded names, ``None`` for an open side."""
        out: dict[str, list[float | None]] = {}
        for j, name in enumerate(self.names):
            if self.bounded[j]:
                lo, hi = float(self.lower[j]), float(self.upper[j])
                out[name] = [lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None]
        return out

    def describe(self) -> str:
        """One line for a summary: ``b >= 0 except Intercept`` or ``name in [l, u]; ...``."""
        if self.spec == "nonnegative":
            free = [n for j, n in enumerate(self.names) if not self.bounded[j]]
            tail = f" (except {', '.join(free)})" if free else ""
            return f"nonnegative{tail}"
        parts = []
        for name, (lo, hi) in self.as_dict().items():
            left = "-inf" if lo is None else f"{lo:.4g}"
            right = "inf" if hi is None else f"{hi:.4g}"
            parts.append(f"{name} in [{left}, {right}]")
        return "; ".join(parts) if parts else "none"


def _side(value: Any, default: float, what: str) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number or None, not {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a number or None, not {value!r}") from exc
    if np.isnan(out):
        raise ValueError(f"{what} is NaN; give a number, or None for an open side")
    return out


def _pair(value: Any, what: str) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(
            f"bounds for {what} must be a (lower, upper) pair with None for an open side, "
            f"not {value!r}"
        )
    return _side(value[0], -np.inf, f"lower bound of {what}"), _side(
        value[1], np.inf, f"upper bound of {what}"
    )


def resolve_bounds(
    spec: Any,
    names: Sequence[str],
    intercept: int | None,
    penalty_weights: FloatArray,
) -> Bounds | None:
    """Turn a ``bounds=`` argument into per-column lower and upper bounds.

    Parameters
    ----------
    spec : None, "nonnegative", dict or sequence of pairs
        See the module docstring. A dict's keys are design column names
        (the intercept also under ``"Intercept"``/``"const"``).
    names : sequence of str
        Design column names.
    intercept : int or None
        Index of the constant column.
    penalty_weights : ndarray of shape (n_coef,)
        Diagonal of the penalty (``0``: unpenalized), for ``"nonnegative"``.

    Returns
    -------
    Bounds or None
        ``None`` when ``spec`` is ``None``.

    Raises
    ------
    ValueError
        Unknown names (the valid ones are listed), a wrong number of pairs,
        ``lower > upper``, an infinite ``lower == upper`` or a side that no
        finite value satisfies (lower ``inf``, upper ``-inf``).

    Examples
    --------
    >>> import numpy as np
    >>> b = resolve_bounds({"x1": (0, None)}, ["const", "x1", "x2"], 0, np.array([0.0, 1, 1]))
    >>> b.lower.tolist(), b.upper.tolist()
    ([-inf, 0.0, -inf], [inf, inf, inf])
    >>> resolve_bounds("nonnegative", ["const", "x1"], 0, np.array([0.0, 1])).describe()
    'nonnegative (except const)'
    """
    if spec is None:
        return None
    names = [str(n) for n in names]
    k = len(names)
    lower = np.full(k, -np.inf)
    upper = np.full(k, np.inf)
    stored: str | dict[str, list[float | None]]
    if isinstance(spec, str):
        if spec.lower() != "nonnegative":
            raise ValueError(
                f"bounds={spec!r} is not known; use 'nonnegative', a dict "
                "{name: (lower, upper)} or one (lower, upper) pair per column"
            )
        lower[:] = 0.0
        if intercept is not None and penalty_weights[intercept] == 0:
            lower[intercept] = -np.inf
        stored = "nonnegative"
    elif isinstance(spec, Mapping):
        from priorreg.prior import _canonical

        intercept_name = None if intercept is None else names[intercept]
        index = {n: j for j, n in enumerate(names)}
        unknown = []
        for key, value in spec.items():
            name = _canonical(str(key), intercept_name)
            if name not in index:
                unknown.append(str(key))
                continue
            lower[index[name]], upper[index[name]] = _pair(value, repr(str(key)))
        if unknown:
            raise ValueError(
                f"bounds name(s) not in the design: {unknown}. Valid column names: {names}"
            )
        stored = {}
    else:
        try:
            pairs = list(spec)
        except TypeError as exc:
            raise TypeError(
                "bounds must be 'nonnegative', a dict {name: (lower, upper)} or a "
                f"sequence of (lower, upper) pairs, not {type(spec).__name__}"
            ) from exc
        if len(pairs) != k:
            raise ValueError(
                f"bounds has {len(pairs)} (lower, upper) pairs; the design has {k} "
                f"columns {names}: give one pair per column (None for an open side)"
            )
        for j, value in enumerate(pairs):
            lower[j], upper[j] = _pair(value, repr(names[j]))
        stored = {}
    _check(lower, upper, names)
    out = Bounds(lower, upper, tuple(names), stored)
    if isinstance(stored, dict):
        out = Bounds(lower, upper, tuple(names), out.as_dict())
    return out


def _check(lower: FloatArray, upper: FloatArray, names: Sequence[str]) -> None:
    """Each column's bounds must leave a finite feasible value."""
    for j, name in enumerate(names):
        lo, hi = lower[j], upper[j]
        if lo > hi:
            raise ValueError(
                f"bounds of {name!r}: lower {lo:g} > upper {hi:g}; swap them or fix the typo"
            )
        if lo == np.inf or hi == -np.inf:
            raise ValueError(
                f"bounds of {name!r} ({lo:g}, {hi:g}) leave no finite value feasible; "
                "use None for an open side"
            )


def summary_marks(
    bounds: Bounds, active: np.ndarray, stubs: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Row labels with ``*`` on coefficients at a bound, and the note for under the table."""
    marked = [f"{s} *" if a else str(s) for s, a in zip(stubs, active, strict=True)]
    note = (
        f"Bounds: {bounds.describe()}. "
        + (
            f"* at a bound ({int(np.sum(active))}): held there, no std err, t or p. "
            if np.any(active)
            else "No coefficient is at a bound. "
        )
        + "Standard errors, tests and intervals are conditional on which bounds are active."
    )
    return marked, [note]


def read_bounds(spec: str) -> str | dict[str, list[float | None]]:
    """``"nonnegative"``, or the bounds in a JSON file ``{name: [lower, upper]}`` (null: open).

    Raises
    ------
    ValueError
        When ``spec`` is neither ``"nonnegative"`` nor a readable JSON object.
    """
    if spec.lower() == "nonnegative":
        return "nonnegative"
    try:
        doc = json.loads(Path(spec).read_text())
    except OSError as exc:
        raise ValueError(f"bounds {spec!r} is neither 'nonnegative' nor a readable file") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{spec} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(
            f"{spec}: bounds must be a JSON object {{name: [lower, upper]}} (null: open side)"
        )
    return doc


def refuse_several_penalties(bounds: Bounds | None, components: Any) -> None:
    """Bounds are not combined with several penalties (one ``lam`` each) yet: say so."""
    if bounds is not None and components is not None:
        raise ValueError(
            "bounds= with several penalties is not available: fit with one penalty, "
            "or without bounds"
        )
