"""Plots drawn headless; the artists are inspected, not just a file written.

Readability is checked geometrically after a draw with the Agg backend: every
label exists, legends lie outside the axes' data area, and every text (and the
tight bounding box of everything drawn) lies inside the figure.
"""

from __future__ import annotations

import matplotlib  # in the test extra: missing is a failure, not a skip
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import statsmodels.api as sm

import priorreg as pr
from priorreg.plotting import plot_overview

pytestmark = pytest.mark.plots

MARGIN = 10.0
EPS = np.finfo(float).eps
LONG = "a_rather_long_predictor_name_number_"


@pytest.fixture(scope="module")
def res():
    data = sm.datasets.grunfeld.load_pandas().data
    old = pr.PriorRidge.from_formula("invest ~ value + capital", data[data.firm != "IBM"]).fit(
        lam=0
    )
    return old.refine(data[data.firm == "IBM"], lam="gcv")


@pytest.fixture(scope="module")
def res3():
    """README's example: an intercept at -36 next to slopes near 0."""
    data = sm.datasets.grunfeld.load_pandas().data
    others, firm = data[data.firm != "Westinghouse"], data[data.firm == "Westinghouse"]
    old = pr.PriorRidge.from_formula("invest ~ value + capital", others).fit(lam=0)
    return old.refine(firm.head(8), lam="gcv")


@pytest.fixture(scope="module")
def res25():
    """25 terms with long names; intercept near -36, slopes near 0."""
    rng = np.random.default_rng(0)
    n, k = 60, 25
    names = [f"{LONG}{j:02d}" for j in range(k - 1)]
    X = rng.normal(size=(n, k - 1))
    df = pd.DataFrame(X, columns=names)
    df["y"] = -36 + X @ rng.normal(scale=0.05, size=k - 1) + rng.normal(size=n)
    prior = dict(zip(names, rng.normal(scale=0.05, size=k - 1), strict=True))
    prior["Intercept"] = -30.0
    return pr.PriorRidge.from_formula("y ~ " + " + ".join(names), df, prior=prior).fit(lam="gcv")


def _draw(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _inside(inner, outer):
    # exact geometry, no tolerance: the layout engine pads by points, not by rounding
    return (
        inner.x0 >= outer.x0
        and inner.y0 >= outer.y0
        and inner.x1 <= outer.x1
        and inner.y1 <= outer.y1
    )


def _all_axes(fig):
    out = []
    for ax in fig.get_axes():
        out.append(ax)
        out.extend(ax.child_axes)  # secondary axes
    return out


def _assert_readable(fig):
    """Labels present, legends off the data, no text cut at the figure edge."""
    renderer = _draw(fig)
    figbox = fig.bbox
    # everything drawn (tick labels of the ticks in view included)
    tight = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    assert _inside(tight, figbox), (tight, figbox)
    for ax in _all_axes(fig):
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.yaxis.get_major_locator().__class__.__name__ == "FixedLocator":
            texts += ax.get_yticklabels()  # the coefficient names: all in view
        legend = ax.get_legend()
        if legend is not None:
            texts += legend.get_texts()
            box = legend.get_window_extent(renderer)
            for data_ax in fig.get_axes():
                assert not box.overlaps(data_ax.get_window_extent(renderer)), legend
        for text in texts:
            if text.get_visible() and text.get_text():
                extent = text.get_window_extent(renderer)
                assert _inside(extent, figbox), (text.get_text(), extent, figbox)


def _term_lines(ax, names):
    return [line for line in ax.get_lines() if line.get_label() in names]


def _dense_path_point(model, lam):
    """(X'X + lam L)^-1 (X'y + lam L b0), dense; with the relative error bound."""
    X, y, b0 = model.exog, model.endog, np.asarray(model.prior_values)
    L = np.diag(model.penalty_weights)
    A = X.T @ X + lam * L
    b = np.linalg.solve(A, X.T @ y + lam * L @ b0)
    # both solves are backward stable: relative error <= k * eps * cond(A) each
    bound = MARGIN * 2 * X.shape[1] * EPS * np.linalg.cond(A)
    return b, bound


def test_plot_path(res):
    fig = res.plot_path()
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "value" in labels
    assert "capital" in labels
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    lams = ax.get_lines()[0].get_xdata()
    # the curves are the penalized solution: dense closed form at both ends
    for i in (0, len(lams) - 1):
        b, bound = _dense_path_point(res.model, lams[i])
        for line in _term_lines(ax, ["value", "capital"]):
            j = list(res.model.exog_names).index(line.get_label())
            assert abs(line.get_ydata()[i] - b[j]) <= bound * np.linalg.norm(b)
    # ... and it converges to the prior: each prior is drawn at the right edge
    edge_marks = [ln for ln in ax.get_lines() if ln.get_marker() == "<" and len(ln.get_xdata())]
    assert sorted(m.get_ydata()[0] for m in edge_marks) == sorted(res.prior[["value", "capital"]])
    assert all(m.get_xdata()[0] > lams[-1] for m in edge_marks)
    _assert_readable(fig)
    plt.close(fig)


def test_plot_path_converges_to_the_prior(res):
    """||b_p(lam) - b0_p|| <= ||X_p' M r0|| / lam, M: residual maker of the unpenalized columns."""
    fig = res.plot_path()
    ax = fig.axes[0]
    model = res.model
    X, y, b0 = model.exog, model.endog, np.asarray(model.prior_values)
    pen = model.penalty_weights > 0
    r0 = y - X @ b0
    Xu = X[:, ~pen]
    Mr0 = r0 - Xu @ np.linalg.lstsq(Xu, r0, rcond=None)[0]
    lam = ax.get_lines()[0].get_xdata()[-1]
    # d_p = (X_p'M X_p + lam I)^-1 X_p'M r0 and every eigenvalue of that matrix is >= lam
    bound = np.linalg.norm(X[:, pen].T @ Mr0) / lam
    names = list(model.exog_names)
    d = [ln.get_ydata()[-1] - b0[names.index(ln.get_label())] for ln in _term_lines(ax, names)]
    b, rounding = _dense_path_point(model, lam)
    assert np.linalg.norm(d) <= bound + rounding * np.linalg.norm(b)
    plt.close(fig)


def test_plot_path_tells_25_terms_apart_and_keeps_the_legend_off_the_data(res25):
    fig = res25.plot_path()
    ax = fig.axes[0]
    names = list(res25.model.exog_names)[1:]  # the intercept is unpenalized: no path
    lines = _term_lines(ax, names)
    assert len(lines) == 24
    styles = {(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(styles) == len(lines)  # no two curves look alike
    colours_and_dashes = {(ln.get_color(), ln.get_linestyle()) for ln in lines}
    assert len(colours_and_dashes) == len(lines)  # even without the markers
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(names) <= set(legend)
    _assert_readable(fig)
    plt.close(fig)


def test_plot_criterion(res):
    fig = res.plot_criterion()
    ax, ax2 = fig.axes
    assert ax.get_ylabel().startswith("GCV")
    assert ax.get_xlabel()
    crit = next(line for line in ax.get_lines() if line.get_label() == "GCV")
    np.testing.assert_allclose(crit.get_xdata(), res.lam_path["lam"], rtol=0, atol=0)
    # the same criterion recomputed by model.path on the same grid, from the
    # same factor: GCV = n RSS / (n - edf)^2 with RSS and edf sums over the
    # factor's n entries: n eps relative each, three of them (x 10)
    n = res.nobs
    np.testing.assert_allclose(crit.get_ydata(), res.lam_path["gcv"], rtol=MARGIN * 3 * n * EPS)
    assert ax2.get_ylabel() == "effective degrees of freedom"
    _assert_readable(fig)
    plt.close(fig)


@pytest.mark.parametrize("fixture", ["res", "res3", "res25"])
def test_plot_shrinkage_puts_every_coefficient_on_one_scale(fixture, request):
    res = request.getfixturevalue(fixture)
    fig = res.plot_shrinkage()
    ax = fig.axes[0]
    names = list(res.model.exog_names)
    texts = [t.get_text() for t in ax.get_yticklabels()]
    free = res.model.penalty_weights == 0
    assert texts == [n + (" (unpenalized)" if f else "") for n, f in zip(names, free, strict=True)]
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("prior" in t for t in legend)
    assert any("new data only" in t for t in legend)
    # the refined estimates are drawn as (b - b0) / se, one row each
    z = (np.asarray(res.params) - np.asarray(res.model.prior_values)) / np.asarray(res.bse)
    refined = ax.containers[0].lines[0]
    # the same subtraction and division of the same numbers (equal in IEEE
    # arithmetic); 2 eps relative each way if evaluated otherwise, 10x margin
    np.testing.assert_allclose(refined.get_xdata(), z, rtol=20 * EPS, atol=0)
    # every penalized coefficient's interval is visible: at least 10 pixels
    # wide, even next to an (unpenalized) intercept tens of standard errors from its prior
    _draw(fig)
    ci = np.asarray(res.conf_int())
    prior = np.asarray(res.model.prior_values)
    se = np.asarray(res.bse)
    ends = np.column_stack([(ci[:, 0] - prior) / se, (ci[:, 1] - prior) / se])
    y = np.asarray(refined.get_ydata())
    left = ax.transData.transform(np.column_stack([ends[:, 0], y]))[:, 0]
    right = ax.transData.transform(np.column_stack([ends[:, 1], y]))[:, 0]
    assert np.all((right - left)[~free] >= 10), right - left
    lo, hi = ax.get_xlim()
    assert np.all(ends >= lo)  # nothing drawn off the axes
    assert np.all(ends <= hi)
    _assert_readable(fig)
    plt.close(fig)


def test_overview_figure_keeps_each_plot_readable(res25):
    fig = plot_overview(res25)
    assert len(fig.subfigs) == 3
    _assert_readable(fig)
    plt.close(fig)


def _poisson_newton_decrement(X, y, b, b0, L, lam):
    """g' H^-1 g of the penalized Poisson objective D(b)/2 + lam/2 (b-b0)'L(b-b0)."""
    mu = np.exp(X @ b)
    g = -X.T @ (y - mu) + lam * L @ (b - b0)
    H = X.T @ (mu[:, None] * X) + lam * L
    return g @ np.linalg.solve(H, g)


def test_glm_plots_draw_converged_paths():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(120), rng.normal(size=(120, 2))])
    y = rng.poisson(np.exp(X @ [0.2, 0.4, -0.3]))
    b0 = np.array([0.2, 0.3, -0.2])
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(lam=5.0)
    fig = res.plot_path()
    ax = fig.axes[0]
    lines = _term_lines(ax, ["x1", "x2"])
    lams = lines[0].get_xdata()
    L = np.diag([0.0, 1.0, 1.0])
    fits = {lam: pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(lam=lam)
            for lam in (lams[0], lams[-1])}
    for i, lam in ((0, lams[0]), (len(lams) - 1, lams[-1])):
        b = np.array(fits[lam].params, dtype=float)
        b[1:] = [line.get_ydata()[i] for line in lines]
        # IRLS (Newton for the canonical link) stops when the relative change of
        # the penalized deviance Q is below tol = 1e-8; a Newton step lowers Q by
        # about the decrement, so at the drawn point g'H^-1 g <= tol * Q (10x margin)
        mu = np.exp(X @ b)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = 2 * np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
        Q = dev + lam * (b - b0) @ L @ (b - b0)
        assert _poisson_newton_decrement(X, y, b, b0, L, lam) <= 10 * 1e-8 * Q
    # the GLM path also converges to the prior: it ends nearer the prior than it starts
    for line, j in zip(lines, (1, 2), strict=True):
        assert abs(line.get_ydata()[-1] - b0[j]) < abs(line.get_ydata()[0] - b0[j])
    _assert_readable(fig)
    plt.close(fig)
    fig = res.plot_criterion()
    assert fig.axes[0].get_ylabel().startswith("GCV")
    _assert_readable(fig)
    plt.close(fig)
    fig = res.plot_shrinkage()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("new data only" in t for t in legend)
    _assert_readable(fig)
    plt.close(fig)
