"""GLM ``fit(scale=...)`` as statsmodels' ``GLM.fit(scale=...)``, and ``fit(disp=...)``.

Oracles: statsmodels' GLM at ``lam = 0`` (each scale option), the scale's
formula evaluated directly from the fitted means, and the UBRE formula.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import DomainWarning

import priorreg as pr
from priorreg.progress import SearchStep, StepPrinter

F = sm.families
#: Canonical links: IRLS is Newton's method and converges quadratically, so
#: once the deviance changes by less than TOL the coefficients are within
#: ~TOL of the optimum (both loops); scale and bse are smooth functions of
#: them, conditioned ~1e2 on these data sets: 1e-12 * 1e2 = 1e-10; 1e-8 is a
#: 100x margin. statsmodels' covariance is that of its last WLS step, at the
#: weights of the iterate before, and its stopping test is on a deviance
#: divided by a fixed scale: it gets TOL / 100 so that its covariance is
#: converged too (at TOL a fixed scale of 0.004 stops it two steps early).
TOL = 1e-12
SM_TOL = 1e-14
SM_RTOL = 1e-8


@pytest.fixture(scope="module")
def scotland():
    data = sm.datasets.scotland.load_pandas()
    return data.endog.to_numpy(), sm.add_constant(data.exog.to_numpy())


@pytest.fixture(scope="module")
def cpunish():
    data = sm.datasets.cpunish.load_pandas()
    X = data.exog.copy()
    X["INCOME"] = np.log(X["INCOME"])
    return data.endog.to_numpy(), sm.add_constant(X.to_numpy())


@pytest.mark.parametrize(
    ("dataset", "family", "scale"),
    [
        ("cpunish", F.Poisson, "x2"),  # quasi-Poisson
        ("cpunish", F.Poisson, "dev"),
        ("cpunish", F.Poisson, 2.5),
        ("cpunish", F.Poisson, None),
        ("scotland", F.Gamma, "dev"),
        ("scotland", F.Gamma, "x2"),
        ("scotland", F.Gamma, 0.004),
        ("scotland", F.Gamma, None),
    ],
)
def test_scale_and_bse_equal_statsmodels_at_lam_zero(request, dataset, family, scale):
    y, X = request.getfixturevalue(dataset)
    # statsmodels warns that the canonical inverse link may leave the Gamma's domain
    expected = pytest.warns(DomainWarning) if family is F.Gamma else contextlib.nullcontext()
    with expected:
        ref = sm.GLM(y, X, family=family()).fit(scale=scale, tol=SM_TOL)
    res = pr.PriorGLM(y, X, family=family()).fit(lam=0.0, scale=scale, tol=TOL)
    np.testing.assert_allclose(res.params, ref.params, rtol=SM_RTOL)
    np.testing.assert_allclose(res.scale, ref.scale, rtol=SM_RTOL)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=SM_RTOL)
    assert res.df_resid == pytest.approx(ref.df_resid, rel=1e-12)  # edf = k at lam = 0
    estimated = isinstance(scale, str) or (scale is None and family is F.Gamma)
    assert res.use_t is estimated


def test_scale_formulas_at_a_penalized_fit(cpunish):
    """At lam > 0 the scale is the statistic over n - edf, evaluated from the means."""
    y, X = cpunish
    mod = pr.PriorGLM(y, X, family=F.Poisson(), standardize=True)
    base = mod.fit(lam=3.0)
    mu = np.asarray(base.mu)
    dfr = len(y) - base.edf
    pearson = np.sum((y - mu) ** 2 / mu)
    deviance = F.Poisson().deviance(y, mu)
    x2 = mod.fit(lam=3.0, scale="x2")
    dev = mod.fit(lam=3.0, scale="dev")
    fixed = mod.fit(lam=3.0, scale=2.5)
    # the estimates do not depend on the scale: same IRLS, same numbers
    for other in (x2, dev, fixed):
        np.testing.assert_array_equal(other.params, base.params)
    # sums over 17 rows: rounding ~1e-15; 1e-12 margin
    np.testing.assert_allclose(x2.scale, pearson / dfr, rtol=1e-12)
    np.testing.assert_allclose(dev.scale, deviance / dfr, rtol=1e-12)
    assert fixed.scale == 2.5
    np.testing.assert_allclose(x2.bse, base.bse * math.sqrt(x2.scale), rtol=1e-12)
    np.testing.assert_allclose(fixed.bse, base.bse * math.sqrt(2.5), rtol=1e-12)
    assert mod.scaletype is None  # fit() does not change the model
    assert x2.model.scaletype == "x2"
    assert x2.scaletype == "x2"


def test_selection_uses_the_scale_consistently(cpunish, scotland):
    y, X = cpunish
    mod = pr.PriorGLM(y, X, family=F.Poisson(), standardize=True)
    with pytest.raises(ValueError, match=r"ubre needs a known scale.*gcv"):
        mod.fit(lam="ubre", scale="x2")
    for criterion in ("aic", "reml"):
        with pytest.raises(ValueError, match=rf"{criterion} needs a likelihood.*gcv"):
            mod.fit(lam=criterion, scale="dev")
    plain = mod.fit(lam="gcv")
    quasi = mod.fit(lam="gcv", scale="x2")
    # GCV does not involve the scale: the same search, the same lam
    assert quasi.lam == plain.lam
    np.testing.assert_array_equal(quasi.params, plain.params)

    yg, Xg = scotland
    gamma = pr.PriorGLM(yg, Xg, family=F.Gamma(), standardize=True)
    with pytest.raises(ValueError, match=r"ubre needs a known scale.*scale=number"):
        gamma.fit(lam="ubre")
    phi = 0.004
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pr.LamOnEdgeWarning)  # the edge is not the point here
        res = gamma.fit(lam="ubre", scale=phi)
    n = len(yg)
    ubre = res.deviance / n + 2 * phi * res.edf / n - phi
    np.testing.assert_allclose(res.ubre, ubre, rtol=1e-12)  # one formula, rounding only
    np.testing.assert_allclose(res.lam_path["ubre"].min(), ubre, rtol=1e-12)


@pytest.mark.parametrize("scale", ["dev", "x2", None])
def test_aic_selection_uses_the_chosen_dispersion(scotland, scale):
    """AIC = -2 llf + 2 edf with the Gamma log-likelihood at the fit's own dispersion."""
    y, X = scotland
    res = pr.PriorGLM(y, X, family=F.Gamma(), standardize=True).fit(lam="aic", scale=scale)
    stat = res.deviance if scale == "dev" else res.pearson_chi2
    phi = stat / (len(y) - res.edf)
    np.testing.assert_allclose(res.scale, phi, rtol=1e-12)  # one division, rounding only
    aic = -2 * F.Gamma().loglike(y, np.asarray(res.mu), scale=phi) + 2 * res.edf
    # statsmodels' Gamma log-likelihood against priorreg's, same means: a sum of
    # 32 terms of size ~10, rounding ~1e-14; 1e-11 margin
    np.testing.assert_allclose(res.lam_path["aic"].min(), aic, rtol=1e-11)


@pytest.mark.parametrize("bad", ["x3", -1.0, 0.0, float("nan"), float("inf"), True, [1.0]])
def test_bad_scale_is_a_clear_error(cpunish, bad):
    y, X = cpunish
    with pytest.raises((ValueError, TypeError), match="scale"):
        pr.PriorGLM(y, X, family=F.Poisson(), standardize=True).fit(lam=1.0, scale=bad)


def test_model_level_scale_is_deprecated_but_works(scotland):
    y, X = scotland
    with pytest.warns(FutureWarning, match=r"fit\(scale=0.004\)") as record:
        mod = pr.PriorGLM(y, X, family=F.Gamma(), scale=0.004, standardize=True)
    assert record[0].filename == __file__  # points at the user's line
    old = mod.fit(lam=1.0)
    new = pr.PriorGLM(y, X, family=F.Gamma(), standardize=True).fit(lam=1.0, scale=0.004)
    np.testing.assert_array_equal(old.bse, new.bse)
    frame = pd.DataFrame(X[:, 1:3], columns=["a", "b"]).assign(y=y)
    with pytest.warns(FutureWarning) as record:
        pr.PriorGLM.from_formula("y ~ a + b", frame, family=F.Gamma(), scale=0.004)
    assert record[0].filename == __file__


def test_dask_glm_scale_equals_in_memory():
    import dask
    import dask.dataframe as dd

    data = sm.datasets.cpunish.load_pandas()
    frame = data.exog.assign(EXECUTIONS=data.endog)
    formula = "EXECUTIONS ~ np.log(INCOME) + PERPOVERTY + PERBLACK + SOUTH"
    with dask.config.set(scheduler="synchronous"):
        ddf = dd.from_pandas(frame, npartitions=2, sort=False)
        for scale in ("x2", "dev", 2.0):
            res = pr.PriorGLM.from_formula(formula, ddf, family=F.Poisson()).fit(
                lam=1.0, scale=scale
            )
            ref = pr.PriorGLM.from_formula(formula, frame, family=F.Poisson()).fit(
                lam=1.0, scale=scale
            )
            # TSQR factor against the in-memory one, IRLS to tol 1e-8 both: the
            # fits agree to ~1e-10 (quadratic convergence); 1e-8 margin
            np.testing.assert_allclose(res.scale, ref.scale, rtol=1e-8)
            np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-8)


# ------------------------------------------------------------------ progress
def test_disp_prints_each_outer_step(cpunish, capsys):
    y, X = cpunish
    res = pr.PriorGLM(y, X, family=F.Poisson(), standardize=True).fit(lam="gcv", disp=True)
    out = capsys.readouterr().out.splitlines()
    steps = [line for line in out if line.startswith("gcv step")]
    assert len(steps) == len(res.lam_path)  # one line per converged fit of the search
    assert out[-1].startswith("chosen lam (gcv)")
    assert f"lam = {res.lam:.6g}" in out[-1]
    assert f"edf = {res.edf:.4f}" in out[-1]
    pr.PriorGLM(y, X, family=F.Poisson(), standardize=True).fit(lam=1.0, disp=True)
    assert capsys.readouterr().out == ""  # a fixed lam has no search


def test_ridge_disp_reports_the_grid_and_the_choice(scotland, capsys):
    y, X = scotland
    res = pr.PriorRidge(y, X, standardize=True).fit(lam="reml", disp=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(res.lam_path) + 1
    assert out[-1].startswith("chosen lam (reml)")
    with pytest.raises(TypeError, match="disp"):
        pr.PriorRidge(y, X, standardize=True).fit(lam="gcv", disp="yes")


def test_step_printer_waits_then_flushes_history():
    stream = io.StringIO()
    printer = StepPrinter(stream, after=2.0, prefix="priorreg: ")
    quick = [SearchStep(i, "gcv", 10.0**i, 1.0 / i, 3.0, 0.5 * i) for i in (1, 2, 3)]
    for step in quick:
        printer(step)
    assert stream.getvalue() == ""  # 1.5 s so far: quiet
    printer(SearchStep(4, "gcv", 1e4, 0.25, 2.0, 2.5))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # the history and the step that crossed the threshold
    assert all(line.startswith("priorreg: gcv step") for line in lines)


def test_heartbeat_only_for_long_work():
    import time

    from priorreg.progress import Heartbeat

    stream = io.StringIO()
    with Heartbeat(stream, after=0.5, every=0.5):
        pass
    assert stream.getvalue() == ""  # quick work: nothing
    with Heartbeat(stream, after=0.05, every=0.05, prefix="priorreg: "):
        time.sleep(0.5)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2  # a sleep of 10 periods; a loaded machine may drop some
    assert all(line.startswith("priorreg: still working (") for line in lines)
    quiet = io.StringIO()
    printer = StepPrinter(io.StringIO())
    printer(SearchStep(1, "gcv", 1.0, 1.0, 1.0, 0.0))  # a step was just printed
    with Heartbeat(quiet, after=0.05, every=60.0, printer=printer):
        time.sleep(0.3)
    assert quiet.getvalue() == ""  # the steps show progress already


def test_cli_scale_and_progress(tmp_path, monkeypatch, capsys):
    from priorreg import cli

    data = sm.datasets.cpunish.load_pandas()
    data.exog.assign(EXECUTIONS=data.endog).to_csv(tmp_path / "d.csv", index=False)
    args = ["fit", "EXECUTIONS ~ PERPOVERTY + SOUTH", "--data", str(tmp_path / "d.csv"),
            "--family", "poisson", "--lam", "gcv", "--scale", "x2", "--format", "json"]  # fmt: skip
    monkeypatch.setattr(cli, "PROGRESS_AFTER", 0.0)  # as if the work were slow
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert "priorreg: gcv step 1" in captured.err
    assert "priorreg: chosen lam (gcv)" in captured.err
    import json

    frame = data.exog.assign(EXECUTIONS=data.endog)
    ref = pr.PriorGLM.from_formula(
        "EXECUTIONS ~ PERPOVERTY + SOUTH", frame, family=F.Poisson()
    ).fit(lam="gcv", scale="x2")
    assert json.loads(captured.out)["scale"] == pytest.approx(ref.scale, rel=1e-12)
    monkeypatch.setattr(cli, "PROGRESS_AFTER", 2.0)
    for bad, match in [(["--scale", "x3"], "scale='x3' is not known"),
                       (["--scale", "-2"], "positive")]:  # fmt: skip
        assert cli.main(args[:-4] + bad) == 2
        err = capsys.readouterr().err
        assert match in err
        assert len(err.strip().splitlines()) == 1
    ridge = ["fit", "EXECUTIONS ~ SOUTH", "--data", str(tmp_path / "d.csv"), "--scale", "x2"]
    assert cli.main(ridge) == 2
    assert "--scale need a GLM --family" in capsys.readouterr().err
