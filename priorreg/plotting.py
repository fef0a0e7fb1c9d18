"""Plots of a fit (matplotlib, imported lazily; ``pip install "priorreg[plot]"``).

Each function takes a results object and returns the matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg.linalg import SingularSystemError
from priorreg.selection import default_grid

__all__ = ["plot_criterion", "plot_path", "plot_shrinkage"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib: pip install "priorreg[plot]"') from exc
    return plt


def _axes(ax: Any, figsize: tuple[float, float] = (7.0, 4.5)) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(figsize=figsize)
    return fig, ax


def _grid(res: Any) -> np.ndarray:
    path = res.lam_path
    if path is not None and len(path) >= 5:
        return np.asarray(path["lam"], dtype=float)
    factor = getattr(res.model, "factor", None)
    if factor is None:  # GLM: a grid around the fitted lam
        return res.lam * np.logspace(-3, 3, 25) if res.lam > 0 else np.logspace(-3, 3, 25)
    return default_grid(factor, num=60)


def plot_path(res: Any, ax: Any = None) -> Any:
    """Coefficients against ``lam`` (log scale), each converging to its prior.

    The priors are dashed horizontal lines in the coefficient's colour; the
    fitted ``lam`` is a vertical dotted line.
    """
    fig, ax = _axes(ax)
    model = res.model
    lams = _grid(res)
    coefs = model.coef_path(lams)
    names = list(model.exog_names)
    penalized = model.penalty_weights > 0
    for j, name in enumerate(names):
        if not penalized[j] and model.penalty_kind != "information":
            continue
        (line,) = ax.plot(lams, coefs[:, j], label=name)
        ax.axhline(model.prior_values[j], color=line.get_color(), linestyle="--", linewidth=1)
    ax.axvline(res.lam, color="black", linestyle=":", label=f"lam = {res.lam:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("penalty weight lam")
    ax.set_ylabel("coefficient")
    ax.set_title("Coefficient path (dashed: prior)")
    ax.legend(fontsize="small")
    return fig


def plot_criterion(res: Any, criterion: str | None = None, ax: Any = None) -> Any:
    """The selection criterion against ``lam`` with edf on a second axis."""
    fig, ax = _axes(ax)
    criterion = criterion or (res.lam_method if res.lam_method != "fixed" else "gcv")
    lams = _grid(res)
    table = res.model.path(lams, criterion=criterion)
    ax.plot(lams, table[criterion], color="C0", label=criterion.upper())
    best = int(np.argmin(table[criterion]))
    ax.plot(lams[best], table[criterion][best], "o", color="C0", label="grid minimum")
    ax.axvline(res.lam, color="black", linestyle=":", label=f"lam = {res.lam:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("penalty weight lam")
    ax.set_ylabel(criterion.upper())
    ax2 = ax.twinx()
    ax2.plot(lams, table["edf"], color="C1", linestyle="--", label="edf")
    ax2.set_ylabel("effective degrees of freedom")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], fontsize="small")
    ax.set_title(f"{criterion.upper()} and edf against lam")
    return fig


def plot_shrinkage(res: Any, alpha: float = 0.05, ax: Any = None) -> Any:
    """Prior, data-only estimate and refined estimate (with interval) per coefficient."""
    model = res.model
    names = list(model.exog_names)
    k = len(names)
    fig, ax = _axes(ax, figsize=(7.0, 0.6 * k + 1.5))
    ypos = np.arange(k)[::-1]
    params = np.asarray(res.params)
    ci = np.asarray(res.conf_int(alpha=alpha))
    ax.errorbar(
        params,
        ypos,
        xerr=[params - ci[:, 0], ci[:, 1] - params],
        fmt="o",
        color="C0",
        capsize=3,
        label=f"refined ({100 * (1 - alpha):.0f}% interval)",
    )
    ax.plot(model.prior_values, ypos + 0.2, "s", color="C2", label="prior")
    try:
        data_only = model.coef_path([0.0])[0]
        if np.all(np.isfinite(data_only)):
            ax.plot(data_only, ypos - 0.2, "^", color="C3", label="new data only (lam = 0)")
    except (SingularSystemError, ValueError, FloatingPointError):
        pass  # the new data alone do not identify every coefficient
    ax.set_yticks(ypos)
    ax.set_yticklabels(names)
    ax.set_xlabel("coefficient")
    ax.set_title(f"What the new data changed (lam = {res.lam:.3g})")
    ax.legend(fontsize="small")
    return fig
