"""Plots drawn headless; the artists are inspected, not just a file written."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import statsmodels.api as sm  # noqa: E402

import priorreg as pr  # noqa: E402

pytestmark = pytest.mark.plots


@pytest.fixture(scope="module")
def res():
    data = sm.datasets.grunfeld.load_pandas().data
    old = pr.PriorRidge.from_formula("invest ~ value + capital", data[data.firm != "IBM"]).fit(
        lam=0
    )
    return old.refine(data[data.firm == "IBM"], lam="gcv")


def test_plot_path(res):
    fig = res.plot_path()
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "value" in labels
    assert "capital" in labels
    assert ax.get_xscale() == "log"
    # the path converges to the prior: last point of each curve near its dashed line
    value_line = next(line for line in ax.get_lines() if line.get_label() == "value")
    assert value_line.get_ydata()[-1] == pytest.approx(res.prior["value"], rel=1e-2)
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())
    plt.close(fig)


def test_plot_criterion(res):
    fig = res.plot_criterion()
    ax, ax2 = fig.axes
    assert ax.get_ylabel() == "GCV"
    crit = next(line for line in ax.get_lines() if line.get_label() == "GCV")
    np.testing.assert_allclose(crit.get_xdata(), res.lam_path["lam"])
    np.testing.assert_allclose(crit.get_ydata(), res.lam_path["gcv"], rtol=1e-12)
    assert ax2.get_ylabel() == "effective degrees of freedom"
    plt.close(fig)


def test_plot_shrinkage(res):
    fig = res.plot_shrinkage()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_yticklabels()]
    assert texts == ["Intercept", "value", "capital"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "prior" in legend
    assert any("new data only" in t for t in legend)
    plt.close(fig)


def test_glm_plots_draw_converged_paths():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(120), rng.normal(size=(120, 2))])
    y = rng.poisson(np.exp(X @ [0.2, 0.4, -0.3]))
    res = pr.PriorGLM(y, X, family=sm.families.Poisson(), prior=[0.2, 0.3, -0.2]).fit(lam=5.0)
    fig = res.plot_path()
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "x1")
    # the GLM path also converges to the prior for large lam
    assert line.get_ydata()[-1] == pytest.approx(0.3, abs=0.02)
    plt.close(fig)
    fig = res.plot_criterion()
    assert fig.axes[0].get_ylabel() == "GCV"
    plt.close(fig)
    fig = res.plot_shrinkage()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("new data only" in t for t in legend)
    plt.close(fig)
