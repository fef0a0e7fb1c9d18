"""IRLS iteration counts of a GLM fit with several penalties.

As with one penalty (tests/test_acceptance_glm_iterations.py),
``res.iterations_total`` and ``res.search_fits`` give the cost of the whole
``fit`` call. The several-penalty search runs its own loops, so the oracle
counts each loop's iterations as they happen, by the one operation every
iteration performs once:

* the performance iteration: one working model per pass
  (``multi_fit._working_problem``), one run;
* each fit at fixed lams of the outer Newton or LOOCV search: one inverse of
  the penalized Gram matrix per pass (``multi_outer._inverse``), one run per
  call of ``_irls_at``;
* the final fit at the selected lams: the accepted steps of
  :func:`priorreg.irls.irls_loop` through its ``report`` hook, one run per loop.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import gram_irls, irls, multi_fit, multi_loo, multi_outer


@pytest.fixture
def counted(monkeypatch):
    """``{"iterations": [...], "runs": [...]}``: every IRLS pass, and one entry per loop."""
    tally: dict[str, list[int]] = {"passes": [], "runs": []}

    def counting(module, name, key):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            tally[key].append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    counting(multi_fit, "_working_problem", "passes")
    counting(multi_outer, "_inverse", "passes")
    counting(multi_outer, "_irls_at", "runs")
    counting(multi_loo, "_irls_at", "runs")
    original_loop = irls.irls_loop

    def loop(*args, report=None, **kwargs):
        def count(iteration, lam, deviance, change):
            tally["passes"].append(1)
            if report is not None:
                report(iteration, lam, deviance, change)

        tally["runs"].append(1)
        return original_loop(*args, report=count, **kwargs)

    monkeypatch.setattr(irls, "irls_loop", loop)
    monkeypatch.setattr(gram_irls, "irls_loop", loop)
    return tally


def _model(family):
    # lams of both penalties inside the range searched (no edge warning)
    rng = np.random.default_rng(1)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    if isinstance(family, sm.families.Binomial):
        eta = X @ [0.3, 0.8, -0.6, 0.6, -0.4]
        y = (rng.uniform(size=n) < family.link.inverse(eta)).astype(float)
    else:
        y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.3, 0.3, -0.2])).astype(float)
    P1 = np.diag([0.0, 1.0, 1.0, 0.0, 0.0])
    P2 = np.diag([0.0, 0.0, 0.0, 1.0, 1.0])
    priors = [np.array([0, 0.2, -0.2, 0, 0]), np.array([0.0, 0.0, 0.0, 0.1, 0.1])]
    return pr.PriorGLM(y, X, family=family, penalty=[P1, P2], prior=priors)


@pytest.mark.parametrize("family", [sm.families.Poisson(), sm.families.Binomial()])
@pytest.mark.parametrize("criterion", ["gcv", "reml", "aic", "loocv"])
def test_several_penalty_search_reports_its_iterations(counted, family, criterion):
    model = _model(family)
    res = model.fit(lam=criterion)
    # +1 run: the performance iteration, counted by its passes only
    assert res.search_fits == len(counted["runs"]) + 1
    assert res.iterations_total == len(counted["passes"])
    assert res.iterations_total > res.iterations  # the search fits more than one lam
    assert res.search_fits > 1
    text = str(res.summary())
    assert f"{res.iterations_total} over the {res.search_fits} fits" in text


def test_unconditional_covariance_fit_is_counted(counted):
    res = _model(sm.families.Poisson()).fit(lam="reml", cov_type="unconditional")
    assert res.search_fits == len(counted["runs"]) + 1
    assert res.iterations_total == len(counted["passes"])


def test_fixed_lams_count_one_fit(counted):
    res = _model(sm.families.Poisson()).fit(lam=[2.0, 3.0])
    assert counted["runs"] == [1]  # the combined single-penalty fit alone
    assert res.iterations_total == res.iterations == len(counted["passes"])
    assert res.search_fits == 1
