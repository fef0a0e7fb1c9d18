"""Separation: found by the linear programme, warned at every lam and criterion.

Oracles: the definition itself (the deviance does not increase along the
direction found, and every row sits on its side of it), statsmodels' own
unpenalized fit for data that do not separate (its MLE exists and is
finite), and brute force over the rows for the column screen.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import separation as sep

F = sm.families


def separated_frame(n=40, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    return pd.DataFrame({"y": (x > 0).astype(float), "x": x, "z": z})


def record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, caught


def only_separation(caught, column):
    assert [w.category for w in caught] == [pr.SeparationWarning], [str(w.message) for w in caught]
    assert f"[{column}]" in str(caught[0].message)
    return str(caught[0].message)


@pytest.mark.parametrize("lam", [0.0, 0.1, 10.0, "gcv", "ubre", "aic", "loocv", "reml"])
def test_separation_is_warned_at_every_lam_and_criterion(lam):
    df = separated_frame()
    res, caught = record(
        lambda: pr.PriorGLM.from_formula("y ~ x + z", df, family=F.Binomial()).fit(lam=lam)
    )
    message = only_separation(caught, "x")
    if res.lam > 0:
        assert "set by the prior and lam alone" in message
    else:
        assert "maximum-likelihood estimate does not exist" in message
    assert res.separation.columns == ["x"]
    assert "Separation along ['x']" in str(res.summary())


def test_direction_found_satisfies_the_definition():
    df = separated_frame()
    X = np.column_stack([np.ones(40), df.x, df.z])
    y = df.y.to_numpy()
    found = sep.find_separation(X, y, F.Binomial(), ["I", "x", "z"], np.array([0.0, 1, 1]))
    assert found is not None
    eta = X @ found.direction
    assert np.all(eta[y == 1] >= 0)
    assert np.all(eta[y == 0] <= 0)
    # moving along d never raises the deviance, from any start
    fam = F.Binomial()
    b = np.array([0.1, 0.5, -0.3])
    devs = [fam.deviance(y, fam.link.inverse(X @ (b + t * found.direction))) for t in (0, 1, 10)]
    assert devs[0] >= devs[1] >= devs[2]


def test_quasi_complete_separation_with_ties_is_found():
    x = np.array([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0])
    X = np.column_stack([np.ones(6), x])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])  # the two rows at x = 0 disagree
    found = sep.find_separation(X, y, F.Binomial(), ["I", "x"], np.array([0.0, 1.0]))
    assert found is not None
    assert found.columns == ["x"]
    assert found.n_rows == 4  # the tied rows are not pushed to a bound


def test_overlapping_data_and_interior_proportions_are_not_separated():
    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    X = np.column_stack([np.ones(200), x])
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-x))).astype(float)
    L = np.array([0.0, 1.0])
    assert sep.find_separation(X, y, F.Binomial(), ["I", "x"], L) is None
    mle = sm.GLM(y, X, family=F.Binomial()).fit()  # oracle: a finite MLE exists
    assert mle.converged
    assert np.all(np.abs(mle.params) < 10)
    # proportions: rows strictly inside (0, 1) pin x'd = 0, so nothing separates
    Xp = np.column_stack([np.ones(4), [-2.0, -1.0, 1.0, 2.0]])
    yp = np.array([0.0, 0.5, 0.5, 1.0])
    assert sep.find_separation(Xp, yp, F.Binomial(), ["I", "x"], L) is None


def test_all_ones_response_separates_along_the_unpenalized_intercept():
    df = separated_frame().assign(y=1.0)
    res, caught = record(
        lambda: pr.PriorGLM.from_formula("y ~ x", df, family=F.Binomial()).fit(lam="gcv")
    )
    message = only_separation(caught, "Intercept")  # no LamOnEdgeWarning, no "agree"
    assert "no finite value at any lam" in message
    assert res.separation.unbounded


def test_poisson_zero_group_and_all_zero_counts():
    rng = np.random.default_rng(8)
    g = np.array(["a", "b", "c", "d"])[np.arange(60) % 4]
    y = rng.poisson(3.0, size=60).astype(float)
    y[g == "d"] = 0.0
    df = pd.DataFrame({"y": y, "g": g})
    res, caught = record(
        lambda: pr.PriorGLM.from_formula("y ~ C(g)", df, family=F.Poisson()).fit(lam=1.0)
    )
    only_separation(caught, "C(g)[T.d]")
    assert np.all(np.isfinite(res.params))
    # the zero group's coefficient is pulled towards -inf by the data and held by the prior
    assert res.params["C(g)[T.d]"] < 0
    with pytest.raises(ValueError, match=r"along \[Intercept\].*no finite value at any lam"):
        pr.PriorGLM.from_formula("y ~ C(g)", df.assign(y=0.0), family=F.Poisson()).fit(lam=1.0)


def test_column_screen_for_large_designs(monkeypatch):
    """Above the LP size limit a single separating column is still found."""
    monkeypatch.setattr(sep, "LP_MAX_ENTRIES", 10)
    rng = np.random.default_rng(9)
    n = 80
    d = (np.arange(n) % 5 == 0).astype(float)
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 0.5).astype(float)
    y[d == 1] = 1.0
    X = np.column_stack([np.ones(n), x, d])
    found = sep.find_separation(X, y, F.Binomial(), ["I", "x", "d"], np.array([0.0, 1, 1]))
    assert found is not None
    assert found.columns == ["d"]
    # brute force: every row with d = 1 has y = 1
    assert np.all(y[d == 1] == 1)


def test_information_prior_from_a_separated_fit_is_refused(tmp_path):
    df = separated_frame()
    with pytest.warns(pr.SeparationWarning):
        old = pr.PriorGLM.from_formula("y ~ x + z", df, family=F.Binomial()).fit(lam="gcv")
    new = separated_frame(seed=4)
    new["y"] = (np.random.default_rng(1).uniform(size=40) < 0.5).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"separate the outcomes along \['x'\].*penalty=None"):
            old.refine(new, penalty="information", lam="gcv")
    assert not caught  # refused before any fit: no overflow, no other warning
    path = tmp_path / "prior.json"
    old.save_prior(path)
    with pytest.raises(ValueError, match=r"separate the outcomes along \['x'\]"):
        pr.PriorGLM.from_formula(
            "y ~ x + z", new, family=F.Binomial(), prior=pr.load_prior(path), penalty="information"
        )


def test_programme_runs_on_few_distinct_rows_of_a_large_design():
    """Above 2e6 entries a separation of two columns is still found (no single one separates).

    ``y = a and b`` over indicators: rows with ``a = 0`` (or ``b = 0``) all have
    ``y = 0``, so ``Intercept`` with ``a`` (or ``b``) separates; no column alone does.
    """
    rng = np.random.default_rng(12)
    n = 600_000
    a, b, c = (rng.integers(0, 2, size=n).astype(float) for _ in range(3))
    y = a * b
    X = np.column_stack([np.ones(n), a, b, c])
    assert X.size > 2_000_000  # above the old limit for reducing to distinct rows
    found = sep.find_separation(X, y, F.Binomial(), ["I", "a", "b", "c"], np.array([0.0, 1, 1, 1]))
    assert found is not None
    assert len(found.columns) >= 2
    eta = X @ found.direction  # oracle: the definition, on every row
    tol = 1e-9 * np.max(np.abs(eta))
    assert np.all(eta[y == 1] >= -tol)
    assert np.all(eta[y == 0] <= tol)
    assert found.n_rows == np.sum(np.abs(eta) > tol) > 0


def test_distinct_rows_gives_up_on_continuous_designs():
    rng = np.random.default_rng(13)
    rows = rng.normal(size=(5000, 3))
    assert sep.distinct_rows(rows, 100) is None
    few = np.repeat(np.eye(3), [5, 7, 9], axis=0)
    got = sep.distinct_rows(few, 3)
    assert got is not None
    uniq, counts = got
    np.testing.assert_array_equal(uniq, np.unique(few, axis=0))
    assert sorted(counts) == [5, 7, 9]
