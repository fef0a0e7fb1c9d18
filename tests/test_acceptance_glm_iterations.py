"""IRLS iteration counts of a GLM fit, as a statsmodels/R user reads them.

``res.iterations`` is the count of the reported fit (R's ``iter``); at a
selected ``lam`` that fit starts from a neighbouring fit of the search, so
``res.iterations_total`` and ``res.search_fits`` give the cost of the
search. Oracle: every accepted IRLS step of the fit call, counted as it
happens through the loop's ``report`` hook (every route, Gram or path,
runs :func:`priorreg.irls.irls_loop`), and the number of loops run.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import gram_irls, irls


@pytest.fixture
def counted(monkeypatch):
    """Accepted IRLS steps of each loop run while the fixture is active."""
    loops: list[int] = []
    original = irls.irls_loop

    def loop(*args, report=None, **kwargs):
        steps = [0]

        def count(iteration, lam, deviance, change):
            steps[0] += 1
            if report is not None:
                report(iteration, lam, deviance, change)

        result = original(*args, report=count, **kwargs)
        loops.append(steps[0])
        return result

    monkeypatch.setattr(irls, "irls_loop", loop)
    monkeypatch.setattr(gram_irls, "irls_loop", loop)
    return loops


def _data(family_name: str):
    rng = np.random.default_rng(0)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    if family_name == "poisson":
        y = rng.poisson(np.exp(X @ [0.3, 0.2, -0.1, 0.3, 0.0])).astype(float)
        return X, y, sm.families.Poisson()
    p = 1 / (1 + np.exp(-X @ [0.3, 0.8, -0.5, 0.3, 0.0]))
    return X, (rng.uniform(size=n) < p).astype(float), sm.families.Binomial()


@pytest.mark.parametrize("family_name", ["poisson", "binomial"])
@pytest.mark.parametrize("criterion", ["gcv", "reml", "loocv", "aic"])
def test_selected_fit_reports_the_whole_search(counted, family_name, criterion):
    X, y, family = _data(family_name)
    model = pr.PriorGLM(y, X, family=family, prior=[0, 0.1, 0, 0, 0])
    res = model.fit(lam=criterion)
    loops = list(counted)
    assert res.iterations_total == sum(loops)
    assert res.search_fits == len(loops)
    path = res.lam_path
    assert int(path["iterations"].sum()) == sum(loops)
    # the reported fit is the path's row at the chosen lam
    assert res.iterations == int(path.loc[path["lam"] == res.lam, "iterations"].iloc[0])
    assert res.iterations_total > res.iterations  # the search fits more than one lam
    text = str(res.summary())
    assert f"IRLS iterations: {res.iterations} for the reported fit" in text
    assert f"{res.iterations_total} over the {res.search_fits} fits" in text


@pytest.mark.parametrize("family_name", ["poisson", "binomial"])
def test_fixed_lam_counts_one_fit(counted, family_name):
    X, y, family = _data(family_name)
    res = pr.PriorGLM(y, X, family=family).fit(lam=2.0)
    assert counted == [res.iterations]
    assert res.iterations_total == res.iterations
    assert res.search_fits == 1
    assert "IRLS iterations:" not in str(res.summary())


def test_gamma_aic_search_by_brent_is_counted(counted):
    # an estimated scale: AIC is searched by a bracket and Brent's method
    rng = np.random.default_rng(3)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    mu = np.exp(X @ [1.0, 0.3, -0.2, 0.1])
    y = rng.gamma(shape=5.0, scale=mu / 5.0)
    family = sm.families.Gamma(link=sm.families.links.Log())
    res = pr.PriorGLM(y, X, family=family).fit(lam="aic")
    assert res.iterations_total == sum(counted)
    assert res.search_fits == len(counted)
