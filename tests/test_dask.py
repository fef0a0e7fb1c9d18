"""Out-of-core fits on Dask equal the in-memory fits (priorreg.outofcore).

Most tests run on a ``distributed.LocalCluster`` of two worker processes,
so the designs, coders and partial factors really travel between
processes; a few use the threaded scheduler.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import dask
import dask.array as da
import dask.dataframe as dd
from distributed import Client, LocalCluster

import priorreg as pr
from priorreg import outofcore
from priorreg.base import PriorModel
from priorreg.linalg import factorize, factorize_triangular

pytestmark = [
    pytest.mark.dask,
    pytest.mark.skipif(
        "__new__" not in PriorModel.__dict__,
        reason="the Dask dispatch is not integrated into priorreg.base yet",
    ),
    # The data have a level in 3 of 4000 rows on purpose (one partition only):
    # its dummy's standard deviation is 100x below x2's, so the in-memory fits
    # with the default penalty say so (tested in test_inference.py)
    pytest.mark.filterwarnings("ignore::priorreg.exceptions.PenaltyUnitsWarning"),
]

DATA = Path(__file__).parent / "data" / "nist"
FORMULA = "y ~ x1 + x2 + x3 + C(g)"
#: The selected lam is the argmin of a criterion that is flat at its minimum:
#: both searches end with a parabola step that locates it to ~1e-6 in lam, and
#: rounding (in memory, reversing the order of the rows) moves it about as much.
#: Fits at the same lam agree to rtol 1e-8 and better.
SEARCH_RTOL = 1e-5


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def frame():
    """Data with weights, offset, exposure and a level present in one partition only."""
    rng = np.random.default_rng(20261125)
    n = 4000
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(2.0, 3.0, size=n),
            "x3": rng.uniform(-1, 1, size=n),
            "g": rng.choice(["a", "b", "c"], size=n),
            "w": rng.uniform(0.5, 2.0, size=n),
            "o": rng.normal(scale=0.1, size=n),
            "expo": rng.uniform(0.5, 2.0, size=n),
        }
    )
    df.loc[[2500, 2600, 2700], "g"] = "rare"  # only in partition 2 of 4
    eta = 0.2 + 0.4 * df.x1 - 0.1 * df.x2 + 0.3 * df.x3 + 0.5 * (df.g == "b")
    df["y"] = 1.0 + 2.0 * eta + df.o + rng.normal(size=n)
    df["count"] = rng.poisson(df.expo * np.exp(eta))
    df.loc[7, "x3"] = np.nan  # dropped by the formula, as in memory
    return df


@pytest.fixture(scope="module")
def ddf(frame):
    return dd.from_pandas(frame, npartitions=4, sort=False)


def close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


def summary_lines(res):
    """The summary without the line saying how lam was chosen."""
    return [line for line in str(res.summary()).splitlines() if "Lam chosen by" not in line]


def test_import_does_not_import_dask():
    code = "import sys, priorreg; assert 'dask' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rare_level_only_in_one_partition(client, frame, ddf):
    parts = [set(p["g"].unique()) for p in ddf.partitions]
    assert ["rare" in p for p in parts] == [False, False, True, False]
    res = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=1.0)
    ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=1.0)
    assert list(res.params.index) == list(ref.params.index)
    assert "C(g)[T.rare]" in res.params.index
    assert res.nobs == ref.nobs == len(frame) - 1
    assert res.model.n_dropped == 1
    close(res.params, ref.params, 1e-10)


def test_linear_gcv_equals_pandas(client, frame, ddf):
    kw = {"prior": {"x1": 0.5, "x2": -0.1}, "weights": "w", "offset": "o"}
    mod = pr.PriorRidge.from_formula(FORMULA, ddf, **kw)
    assert isinstance(mod, pr.PriorRidge)
    res = mod.fit(lam="gcv")
    ref = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam="gcv")
    assert isinstance(res._results, pr.PriorRidgeResults)
    assert type(res) is type(ref)
    assert res.lam_method == "gcv"
    close(res.lam, ref.lam, SEARCH_RTOL)
    close(res.params, ref.params, 1e-6)
    close(res.lam_path.to_numpy(), ref.lam_path.to_numpy(), 1e-8)  # the grid: no pass
    # at the selected lam, the Dask fit is the in-memory fit
    same = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=res.lam)
    for name in ("params", "bse", "edf_params", "pvalues"):
        close(getattr(res, name), getattr(same, name), 1e-8)
    for name in ("edf", "scale", "gcv", "reml", "rsquared", "llf", "aic", "df_resid", "nobs"):
        close(getattr(res, name), getattr(same, name), 1e-8)
    close(res.cov_params(), same.cov_params(), 1e-8)
    fitted = res.fittedvalues.compute()
    pd.testing.assert_index_equal(fitted.index, same.fittedvalues.index)
    close(fitted, same.fittedvalues, 1e-8)
    close(res.resid.compute(), same.resid, 1e-7)
    close(res.hat_diag.compute(), same.hat_diag, 1e-8)
    close(res.loocv, same.loocv, 1e-8)


def test_linear_summary_and_loocv_selection(client, frame, ddf):
    kw = {"prior": {"x1": 0.5}, "penalty": {"x2": 4.0}, "standardize": True}
    res = pr.PriorRidge.from_formula(FORMULA, ddf, **kw).fit(lam="loocv")
    ref = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam="loocv")
    close(res.lam, ref.lam, SEARCH_RTOL)
    close(res.params, ref.params, 1e-6)
    close(res.lam_path.to_numpy(), ref.lam_path.to_numpy(), 1e-8)  # the grid: one pass
    close(res.model.penalty_matrix, ref.model.penalty_matrix, 1e-12)
    same = pr.PriorRidge.from_formula(FORMULA, frame, **kw).fit(lam=res.lam)
    close(res.params, same.params, 1e-8)
    close(res.bse, same.bse, 1e-8)
    assert summary_lines(res) == summary_lines(same)


def test_linear_arrays_threads(frame):
    """The array interface (dask Series and DataFrame), on the threaded scheduler."""
    clean = frame.dropna()
    X = clean[["x1", "x2"]].assign(const=1.0)[["const", "x1", "x2"]]
    dX = dd.from_pandas(X, npartitions=3, sort=False)
    dy = dd.from_pandas(clean["y"], npartitions=3, sort=False)
    dw = dd.from_pandas(clean["w"], npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        res = pr.PriorRidge(dy, dX, weights=dw, prior=[0.0, 1.0, 0.0]).fit(lam=3.0)
        ref = pr.PriorRidge(clean["y"], X, weights=clean["w"], prior=[0.0, 1.0, 0.0]).fit(lam=3.0)
        close(res.params, ref.params, 1e-10)
        assert list(res.params.index) == ["const", "x1", "x2"]
        assert res.model.intercept_idx == ref.model.intercept_idx == 0
        close(res.predict().compute(), ref.predict(), 1e-10)


def test_linear_dask_arrays_threads(frame):
    clean = frame.dropna()
    X = np.column_stack([clean.x1, np.ones(len(clean)), clean.x2])
    y = clean.y.to_numpy()
    with dask.config.set(scheduler="threads"):
        dy, dX = da.from_array(y, chunks=1000), da.from_array(X, chunks=(1000, 2))
        res = pr.PriorRidge(dy, dX, prior=[0.7, 1.6, -0.15]).fit(lam="reml")
        ref = pr.PriorRidge(y, X, prior=[0.7, 1.6, -0.15]).fit(lam="reml")
        close(res.lam, ref.lam, SEARCH_RTOL)
        close(res.params, ref.params, 1e-6)
        assert isinstance(res.params, np.ndarray)
        assert res.model.exog_names == ref.model.exog_names == ["x1", "const", "x2"]
        fitted = res.fittedvalues
        assert isinstance(fitted, da.Array)
        close(fitted.compute(), ref.fittedvalues, 1e-8)


def test_glm_poisson_equals_pandas(client, frame, ddf):
    kw = {"family": sm.families.Poisson(), "exposure": "expo", "prior": {"x1": 0.3}}
    formula = "count ~ x1 + x2 + x3 + C(g)"
    mod = pr.PriorGLM.from_formula(formula, ddf, **kw)
    res = mod.fit(lam="gcv")
    ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam="gcv")
    assert isinstance(res._results, pr.PriorGLMResults)
    close(res.lam, ref.lam, SEARCH_RTOL)
    for name in ("params", "bse", "edf_params"):
        close(getattr(res, name), getattr(ref, name), 1e-7)
    for name in ("deviance", "pearson_chi2", "llf", "edf", "gcv", "aic", "reml", "rsquared"):
        close(getattr(res, name), getattr(ref, name), 1e-7)
    assert res.converged
    close(res.lam_path.to_numpy(), ref.lam_path.to_numpy(), 1e-6)
    close(res.mu.compute(), ref.mu, 1e-7)
    close(res.resid_deviance.compute(), ref.resid_deviance, 1e-6)
    fixed = mod.fit(lam=5.0)
    fixed_ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam=5.0)
    close(fixed.params, fixed_ref.params, 1e-9)
    close(fixed.loocv, fixed_ref.loocv, 1e-8)
    assert fixed.iterations == fixed_ref.iterations
    assert str(fixed.summary()) == str(fixed_ref.summary())


def test_glm_binomial_fixed_lam(client, frame, ddf):
    formula = "I(count > 1) ~ x1 + x2 + C(g)"
    kw = {"family": sm.families.Binomial(), "freq_weights": "w"}
    res = pr.PriorGLM.from_formula(formula, ddf, **kw).fit(lam=2.0)
    ref = pr.PriorGLM.from_formula(formula, frame, **kw).fit(lam=2.0)
    close(res.params, ref.params, 1e-9)
    close(res.llf, ref.llf, 1e-10)
    close(res.bse, ref.bse, 1e-9)


def lre(estimate, certified):
    estimate, certified = np.asarray(estimate, float), np.asarray(certified, float)
    err = np.abs(estimate - certified) / np.abs(certified)
    return -np.log10(np.maximum(err, 1e-17))


def test_longley_lam_zero_through_dask(client):
    cert = json.loads((DATA / "certified.json").read_text())["datasets"]["Longley"]
    data = pd.read_csv(DATA / cert["data_file"])
    ddata = dd.from_pandas(data, npartitions=3, sort=False)
    res = pr.PriorRidge.from_formula("y ~ x1 + x2 + x3 + x4 + x5 + x6", ddata).fit(lam=0.0)
    assert lre(res.params, cert["estimates"]).min() >= 9.0
    assert lre(res.bse, cert["std_devs"]).min() >= 9.0
    assert lre(np.sqrt(res.scale), cert["residual_sd"]) >= 9.0
    assert lre(res.rsquared, cert["r_squared"]) >= 9.0
    assert res.edf == pytest.approx(7.0, abs=1e-12)


def test_predict_both_ways(client, frame, ddf):
    res = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=2.0)
    ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=2.0)
    new = frame.dropna().iloc[::37]
    dnew = dd.from_pandas(new, npartitions=2, sort=False)
    close(res.predict(new), ref.predict(new), 1e-10)  # Dask fit, pandas data
    lazy = ref.predict(dnew)  # pandas fit, Dask data
    assert outofcore.is_dask(lazy)
    pd.testing.assert_series_equal(lazy.compute(), ref.predict(new), rtol=1e-12)
    close(res.predict(dnew).compute(), ref.predict(new), 1e-10)
    frame_pred = res.get_prediction(new).summary_frame(alpha=0.1)
    ref_pred = ref.get_prediction(new).summary_frame(alpha=0.1)
    close(frame_pred.to_numpy(), ref_pred.to_numpy(), 1e-8)
    glm = pr.PriorGLM.from_formula(
        "count ~ x1 + x2 + C(g)", frame, family=sm.families.Poisson()
    ).fit(lam=1.0)
    expected = glm.predict(new, exposure=np.full(len(new), 2.0))
    close(glm.predict(dnew, exposure=2.0).compute(), expected, 1e-12)


def test_refine_from_dask_fit_on_pandas(client, frame, ddf):
    old = pr.PriorRidge.from_formula(FORMULA, ddf).fit(lam=0.0)
    small = frame[frame.g != "rare"].dropna().head(40)
    res = old.refine(small, lam=5.0)
    ref = pr.PriorRidge.from_formula(FORMULA, frame).fit(lam=0.0).refine(small, lam=5.0)
    assert type(res.model) is pr.PriorRidge
    close(res.params, ref.params, 1e-7)


def test_glm_arrays_known_categories_and_progress(frame, capsys):
    """Array GLM; known categories (one unused) need no levels pass; progress is shown."""
    df = frame.dropna().head(1500).copy()
    df["h"] = pd.Categorical(df["g"], categories=["a", "b", "c", "rare", "unused"])
    part = dd.from_pandas(df, npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        X = df[["x1", "x2"]].assign(const=1.0)
        dX, dy = (dd.from_pandas(v, npartitions=3, sort=False) for v in (X, df["count"]))
        res = pr.PriorGLM(dy, dX, family=sm.families.Poisson()).fit(lam=1.0)
        ref = pr.PriorGLM(df["count"], X, family=sm.families.Poisson()).fit(lam=1.0)
        close(res.params, ref.params, 1e-10)
        assert res.model.intercept_idx == 2
        formula = "count ~ x1 + C(h)"
        kw = {"family": sm.families.Poisson(), "exposure": "expo"}
        res = pr.PriorGLM.from_formula(formula, part, progress=True, **kw).fit(lam=2.0)
        ref = pr.PriorGLM.from_formula(formula, df, **kw).fit(lam=2.0)
        assert "C(h)[T.unused]" in res.params.index
        close(res.params, ref.params, 1e-9)
        err = capsys.readouterr().err
        assert "IRLS iteration 1" in err
        assert "collect categorical levels" not in err
        # no intercept column: the constant is decided as in memory
        res = pr.PriorRidge.from_formula("y ~ 0 + C(g) + x1", part).fit(lam=1.0)
        ref = pr.PriorRidge.from_formula("y ~ 0 + C(g) + x1", df).fit(lam=1.0)
        assert res.model.k_constant == ref.model.k_constant
        assert res.model.intercept_idx == ref.model.intercept_idx
        close(res.params, ref.params, 1e-10)
        close(res.rsquared, ref.rsquared, 1e-10)


def test_stateful_transform_is_refused(ddf):
    with pytest.raises(NotImplementedError, match="stateful transform"):
        pr.PriorRidge.from_formula("y ~ standardize(x1)", ddf)


def test_triangular_factor_sign_invariance():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(60), rng.normal(size=(60, 3))])
    z = rng.normal(size=60)
    L = np.diag([0.0, 1.0, 2.0, 1.0])
    R = np.linalg.qr(np.column_stack([X, z]), mode="r")
    flipped = np.diag([1.0, -1.0, -1.0, 1.0, -1.0]) @ R
    a = factorize_triangular(R, L, 60, intercept=0)
    b = factorize_triangular(flipped, L, 60, intercept=0)
    ref = factorize(X, z, L, intercept=0)
    lams = np.array([0.1, 1.0, 10.0])
    for fac in (a, b):
        close(fac.coef(1.0), ref.coef(1.0), 1e-12)
        close(fac.reml(lams), ref.reml(lams), 1e-12)
        B = X @ fac.row_map
        k0 = fac.n_unpen
        lev = np.sum(B[:, :k0] ** 2, axis=1)[:, None] + (B[:, k0:] ** 2) @ fac.shrinkage(lams)
        close(lev, ref.leverage(lams), 1e-10)
