"""Plots of a fit (matplotlib, imported lazily; ``pip install "priorreg[plot]"``).

Each function takes a results object and returns the matplotlib ``Figure``.
Without ``ax=`` each draws a new figure with constrained layout, sized to the
number of coefficients, so long coefficient names and the legend (always
outside the data area) stay inside the figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from priorreg.linalg import SingularSystemError
from priorreg.selection import default_grid

__all__ = ["plot_criterion", "plot_overview", "plot_path", "plot_shrinkage"]

# 10 colours x 4 line styles: 40 curves that differ in colour or style;
# the markers (8, a period prime to 10) also tell curves apart in grey print.
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_CRITERION_SIZE = (8.5, 4.5)


def _lam_text(res: Any) -> str:
    """``lam = 2.5``, or ``lams: old = 1.2, new = 30`` for several penalties."""
    lam = res.lam
    if np.ndim(lam) == 0:
        return f"lam = {float(lam):.3g}"
    labels = getattr(lam, "index", range(1, np.size(lam) + 1))
    return "lams: " + ", ".join(
        f"{name} = {float(v):.3g}" for name, v in zip(labels, np.ravel(lam), strict=True)
    )


def _one_lam(res: Any, what: str) -> None:
    """A ``ValueError`` for a plot against one ``lam`` of a fit with several penalties."""
    if np.ndim(res.lam) > 0:
        raise ValueError(
            f"{what} draws the fit against one lam, and this fit has {np.size(res.lam)} "
            f"penalties, each with its own lam ({_lam_text(res)}): use plot_shrinkage(), "
            "or res.lam_path for the search over the lams"
        )


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib: pip install "priorreg[plot]"') from exc
    return plt


def _axes(ax: Any, figsize: tuple[float, float] = (7.0, 4.5)) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _legend_outside(ax: Any, handles: Any = None, labels: Any = None, **kwargs: Any) -> Any:
    """A legend to the right of the axes, off the data; constrained layout makes room."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize="small",
        **kwargs,
    )


def _legend_and_title_above(
    ax: Any, title: str, ncols: int, handles: Any = None, labels: Any = None
) -> None:
    """A legend in one row between the axes and the title, off the data, and the title."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=ncols,
        fontsize="small",
        borderaxespad=0.3,
        frameon=False,
    )
    ax.set_title(title, pad=22)


def _grid(res: Any) -> np.ndarray:
    path = res.lam_path
    if path is not None and len(path) >= 5:
        return np.asarray(path["lam"], dtype=float)
    factor = getattr(res.model, "factor", None)
    if factor is None:  # GLM: a grid around the fitted lam
        return res.lam * np.logspace(-3, 3, 25) if res.lam > 0 else np.logspace(-3, 3, 25)
    return default_grid(factor, num=60)


def _path_terms(res: Any) -> list[int]:
    """Columns drawn by :func:`plot_path`: the penalized ones (all, for ``"information"``)."""
    model = res.model
    penalized = model.penalty_weights > 0
    everything = model.penalty_kind == "information"
    return [j for j in range(len(penalized)) if penalized[j] or everything]


def _legend_columns(n_terms: int) -> int:
    return 1 + (n_terms + 1) // 22


def _path_size(res: Any) -> tuple[float, float]:
    n_terms = len(_path_terms(res))
    ncol = _legend_columns(n_terms)
    return 7.0 + 2.2 * ncol, max(4.5, 0.19 * (n_terms + 2) / ncol + 1.2)


def _shrinkage_size(res: Any) -> tuple[float, float]:
    return 8.0, 0.32 * len(res.model.exog_names) + 1.8


def _term_style(j: int) -> dict[str, Any]:
    """Colour, line style and marker of the ``j``-th curve; distinct for ``j < 40``."""
    return {
        "color": f"C{j % 10}",
        "linestyle": _STYLES[(j // 10) % len(_STYLES)],
        "marker": _MARKERS[j % len(_MARKERS)],
    }


def _round_ticks(ax: Any, values: np.ndarray) -> None:
    """Ticks at 0, ±1, ±2, ±5, ±10, ... covering ``values``, printed plainly."""
    from matplotlib.ticker import NullLocator, StrMethodFormatter

    finite = np.abs(values[np.isfinite(values)])
    reach = max(3.0, float(finite.max()) if finite.size else 3.0)
    steps = [m * 10.0**e for e in range(0, 7) for m in (1.0, 2.0, 5.0)]
    span = np.arcsinh(reach / 3.0)  # the axis is asinh(x / 3): keep ticks a quarter apart
    ticks: list[float] = []
    for t in steps:
        last = max(ticks, default=0.0)
        if t <= reach * 1.05 and np.arcsinh(t / 3.0) - np.arcsinh(last / 3.0) >= span / 4:
            ticks.append(t)
    ax.set_xticks([-t for t in reversed(ticks)] + [0.0] + ticks)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.set_xlim(-reach * 1.15, reach * 1.15)


def plot_path(res: Any, ax: Any = None) -> Any:
    r"""Coefficients against ``lam`` (log scale), each converging to its prior.

    Each penalized coefficient is one curve :math:`\hat b_j(\lambda)`; its
    prior :math:`b_{0j}` is a triangle of the same colour at the right edge,
    where the curve ends up as :math:`\lambda \to \infty`. The fitted
    ``lam`` is a vertical dotted line. Curves differ by colour, line style and
    marker (distinct up to 40 terms); the legend sits to the right of the axes.
    """
    _one_lam(res, "plot_path")
    model = res.model
    names = list(model.exog_names)
    shown = _path_terms(res)
    ncol = _legend_columns(len(shown))
    fig, ax = _axes(ax, figsize=_path_size(res))
    lams = _grid(res)
    coefs = model.coef_path(lams)
    edge = lams[-1] * (lams[-1] / lams[0]) ** 0.04  # just right of the last grid point
    markevery = max(1, len(lams) // 6)
    for rank, j in enumerate(shown):
        style = _term_style(rank)
        ax.plot(lams, coefs[:, j], label=names[j], markevery=markevery, markersize=4, **style)
        ax.plot(
            [edge],
            [model.prior_values[j]],
            marker="<",
            linestyle="none",
            color=style["color"],
            markersize=6,
        )
    ax.axvline(res.lam, color="black", linestyle=":", label=f"fitted lam = {res.lam:.3g}")
    ax.plot([], [], marker="<", linestyle="none", color="grey", label="prior (right edge)")
    ax.set_xscale("log")
    ax.set_xlabel("penalty weight lam (log scale)")
    ax.set_ylabel("coefficient")
    ax.set_title("Coefficient path: each estimate moves to its prior as lam grows")
    _legend_outside(ax, ncols=ncol)
    return fig


def plot_criterion(res: Any, criterion: str | None = None, ax: Any = None) -> Any:
    r"""The selection criterion against ``lam`` with edf on a second axis.

    The criterion (left axis) is drawn over the grid of ``res.lam_path`` (or a
    default grid) with its grid minimum marked; the effective degrees of
    freedom :math:`\mathrm{tr}\,H(\lambda)` are dashed on the right axis.
    """
    _one_lam(res, "plot_criterion")
    fig, ax = _axes(ax, figsize=_CRITERION_SIZE)
    criterion = criterion or (res.lam_method if res.lam_method != "fixed" else "gcv")
    lams = _grid(res)
    table = res.model.path(lams, criterion=criterion)
    ax.plot(lams, table[criterion], color="C0", label=criterion.upper())
    best = int(np.argmin(table[criterion]))
    ax.plot(lams[best], table[criterion][best], "o", color="C0", label="grid minimum")
    ax.axvline(res.lam, color="black", linestyle=":", label=f"fitted lam = {res.lam:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("penalty weight lam (log scale)")
    ax.set_ylabel(f"{criterion.upper()} (smaller is better)")
    ax2 = ax.twinx()
    ax2.plot(lams, table["edf"], color="C1", linestyle="--", label="edf (right axis)")
    ax2.set_ylabel("effective degrees of freedom")
    handles, labels = ax.get_legend_handles_labels()
    handles2, labels2 = ax2.get_legend_handles_labels()
    title = f"{criterion.upper()} and edf against lam"
    _legend_and_title_above(ax, title, 4, handles + handles2, labels + labels2)
    return fig


def plot_shrinkage(res: Any, alpha: float = 0.05, ax: Any = None) -> Any:
    r"""What the new data changed: each coefficient's move from its prior, in standard errors.

    One row per coefficient, all on the same scale: the refined estimate
    :math:`\hat b_j` with its :math:`100(1-\alpha)\%` interval, and the
    estimate from the new data alone (``lam = 0``, when the new data identify
    every coefficient), each drawn as

    .. math::

        z_j = \frac{b_j - b_{0j}}{\mathrm{se}(\hat b_j)},

    so the prior is the vertical line at 0 whatever the units of the column.
    The right-hand labels give the refined estimate and the prior in the
    column's own units.
    """
    model = res.model
    names = list(model.exog_names)
    k = len(names)
    fig, ax = _axes(ax, figsize=_shrinkage_size(res))
    ypos = np.arange(k)[::-1].astype(float)
    params = np.asarray(res.params, dtype=float)
    prior = np.asarray(model.prior_values, dtype=float)
    se = np.asarray(res.bse, dtype=float)
    usable = np.isfinite(se) & (se > 0)
    scale = np.where(usable, se, np.nan)  # no standard error: the row stays empty
    ci = np.asarray(res.conf_int(alpha=alpha), dtype=float)
    z = (params - prior) / scale
    lo, hi = (ci[:, 0] - prior) / scale, (ci[:, 1] - prior) / scale
    ax.axvline(0.0, color="C2", linewidth=2, label="prior (z = 0)")
    ax.errorbar(
        z,
        ypos,
        xerr=[z - lo, hi - z],
        fmt="o",
        color="C0",
        capsize=3,
        label=f"refined, {100 * (1 - alpha):.0f}% interval",
    )
    try:
        data_only = model.coef_path([0.0])[0]
        if np.all(np.isfinite(data_only)):
            ax.plot(
                (data_only - prior) / scale,
                ypos - 0.25,
                "^",
                color="C3",
                label="new data only (lam = 0)",
            )
    except (SingularSystemError, ValueError, FloatingPointError):
        pass  # the new data alone do not identify every coefficient
    ax.set_yticks(ypos)
    # the prior of an unpenalized column pulls nothing: say so where the name is
    free = (model.penalty_weights == 0) & (model.penalty_kind != "information")
    labels = [
        n + (" (unpenalized)" if f else "") + ("" if ok else " (no std err)")
        for n, f, ok in zip(names, free, usable, strict=True)
    ]
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_ylabel("coefficient")
    ax.set_xlabel(
        "(estimate - prior) / std err of the refined estimate\n(asinh scale: linear within ±3)"
    )
    # An unpenalized intercept may sit tens of standard errors from its prior
    # while the slopes move by one or two; asinh keeps both readable.
    ax.set_xscale("asinh", linear_width=3.0)
    _round_ticks(ax, np.concatenate([lo, hi, z, [0.0]]))
    right = ax.secondary_yaxis("right")
    right.set_yticks(ypos)
    right.set_yticklabels([f"{b:.4g} (prior {p:.4g})" for b, p in zip(params, prior, strict=True)])
    right.tick_params(labelsize="small")
    right.set_ylabel("refined estimate (prior), own units")
    _legend_and_title_above(ax, f"What the new data changed ({_lam_text(res)})", 3)
    return fig


def plot_overview(res: Any) -> Any:
    """The three plots stacked in one figure (what ``priorreg fit --plot`` saves).

    Path, criterion and shrinkage each get a sub-figure with its own
    constrained layout, so one plot's legend or long names do not squeeze
    the others. With several penalties (no path against one lam) it is the
    shrinkage plot alone.
    """
    if np.ndim(res.lam) > 0:
        return plot_shrinkage(res, alpha=0.05)
    sizes = [_path_size(res), _CRITERION_SIZE, _shrinkage_size(res)]
    width = max(w for w, _ in sizes)
    heights = [h for _, h in sizes]
    fig = _pyplot().figure(figsize=(width, sum(heights)), layout="constrained")
    panels = fig.subfigures(3, 1, height_ratios=heights)
    plot_path(res, ax=panels[0].subplots())
    plot_criterion(res, ax=panels[1].subplots())
    plot_shrinkage(res, alpha=0.05, ax=panels[2].subplots())
    return fig
