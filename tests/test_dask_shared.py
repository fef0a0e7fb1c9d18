"""What the Dask models share with the in-memory ones: prediction rules, the LOOCV grid search."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr


def _data():
    rng = np.random.default_rng(3)
    X = sm.add_constant(rng.normal(size=(80, 2)))
    counts = rng.poisson(np.exp(X @ [0.2, 0.3, -0.3])).astype(float)
    return X, counts


@pytest.mark.parametrize("glm", [False, True])
def test_dask_get_prediction_refuses_the_dask_rows_and_serves_new_rows(glm):
    X, y = _data()
    model = (lambda y_, X_: pr.PriorGLM(y_, X_, sm.families.Poisson())) if glm else pr.PriorRidge
    dres = model(da.from_array(y, chunks=30), da.from_array(X, chunks=(30, 3))).fit(lam=2.0)
    mres = model(y, X).fit(lam=2.0)
    for rows in (None, da.from_array(X[:4], chunks=2)):
        with pytest.raises(NotImplementedError, match="in-memory new data"):
            dres.get_prediction(rows)
    new = X[:4] + 0.25
    got = dres.get_prediction(new).summary_frame(alpha=0.1).to_numpy()
    want = mres.get_prediction(new).summary_frame(alpha=0.1).to_numpy()
    # the oracle is the in-memory fit: TSQR vs direct QR of an 80 x 3 design,
    # eps * cond(X)^2 * n ~ 1e-12 on params and covariance; 1e-9 is a 100x+ margin
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_dask_glm_predicts_its_training_rows_lazily_as_in_memory():
    X, y = _data()
    dres = pr.PriorGLM(
        da.from_array(y, chunks=30), da.from_array(X, chunks=(30, 3)), sm.families.Poisson()
    ).fit(lam=2.0)
    mres = pr.PriorGLM(y, X, sm.families.Poisson()).fit(lam=2.0)
    for which in ("mean", "linear"):
        lazy = dres.predict(which=which)
        assert hasattr(lazy, "compute")  # a Dask collection, not n-length numbers
        # oracle: the in-memory fit; estimates agree to the IRLS tolerance 1e-8 times
        # cond(X)^2 ~ 10, the means to that times |mu|; 1e-6 is a 10x+ margin
        np.testing.assert_allclose(
            np.asarray(lazy.compute()), mres.predict(which=which), rtol=1e-6
        )
    with pytest.raises(ValueError, match="come from the data"):
        dres.predict(offset=np.zeros(80))
    with pytest.raises(ValueError, match="which must be"):
        dres.predict(which="variance")


def test_dask_loocv_selection_checks_its_grid_and_edge_as_in_memory():
    """The Dask LOOCV search uses the grid checks and the grid minimum of select_lam."""
    X, _ = _data()
    y = X @ [1.0, 0.5, -0.5] + np.random.default_rng(4).normal(size=80)
    dmod = pr.PriorRidge(da.from_array(y, chunks=30), da.from_array(X, chunks=(30, 3)))
    mod = pr.PriorRidge(y, X)
    for bad in ([1.0], [0.0, 1.0], [1.0, np.inf]):
        with pytest.raises(ValueError, match="lams must"):
            dmod.fit(lam="loocv", lams=bad)
    # heavy penalties only: LOOCV grows with lam here, so its minimum is the first point
    grid = [1e4, 1e5, 1e6]
    with pytest.warns(pr.LamOnEdgeWarning):
        got = dmod.fit(lam="loocv", lams=grid).lam
    with pytest.warns(pr.LamOnEdgeWarning):
        want = mod.fit(lam="loocv", lams=grid).lam
    assert got == want == 1e4  # grid points, picked from the same minimum
