"""refine() carries the whole model; prior files record it; the command line reapplies it.

Oracles: ``old.refine(new, lam=...)`` against ``Model.from_formula(formula, new,
<same options>, prior=old).fit(lam=...)`` (the contract of refine), and at
``lam = 0`` against statsmodels' GLM / WLS with the same options (the prior
then has no weight, so the refined fit is the maximum-likelihood fit).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr

F = sm.families
#: ``refine`` and its oracle run the same computation on the same inputs, so
#: they agree to the last bits; 1e-12 leaves room for BLAS reduction order.
SAME_RTOL = 1e-12
#: At lam = 0 both IRLS loops (priorreg's and statsmodels') stop when the
#: relative change of the deviance is below TOL. The deviance is quadratic at
#: its minimum, so the coefficients are then within about sqrt(TOL) = 1e-7
#: (relative) of the optimum; 1e-6 is a 10x margin.
TOL = 1e-14
MLE_RTOL = 1e-6


def counts_frame(rng, n, shift=0.0):
    df = pd.DataFrame(
        {
            "age": rng.uniform(20, 70, n),
            "smokes": rng.integers(0, 2, n).astype(float),
            "months": rng.uniform(1, 60, n),
            "trials": rng.integers(1, 20, n).astype(float),
            "w": rng.uniform(0.5, 2.0, n),
            "o": rng.normal(scale=0.3, size=n),
        }
    )
    eta = -3.0 + (0.02 + shift / 50) * df.age + (0.4 - shift) * df.smokes
    df["deaths"] = rng.poisson(df.months * np.exp(eta))
    df["share"] = rng.binomial(df.trials.astype(int), 1 / (1 + np.exp(-(eta + 2.5)))) / df.trials
    df["cost"] = rng.gamma(2.0, np.exp(1.0 + 0.01 * df.age) / 2.0)
    mean = 1.0 + (0.05 + shift / 10) * df.age - (0.5 + 2 * shift) * df.smokes + df.o
    df["y"] = mean + rng.normal(size=n) / np.sqrt(df.w)
    return df


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261130)
    # the new data come from a shifted model, so that lam is chosen inside the grid
    return counts_frame(rng, 300), counts_frame(rng, 100, shift=0.3)


def assert_same(a, b, rtol=SAME_RTOL):
    for name in ("params", "bse"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0)
    np.testing.assert_allclose(a.lam, b.lam, rtol=rtol)
    np.testing.assert_allclose(a.scale, b.scale, rtol=rtol)


# ---------------------------------------------------------------- in memory
def test_ridge_offset_and_weights_are_reapplied(data):
    old_df, new_df = data
    kw = {"offset": "o", "weights": "w"}
    old = pr.PriorRidge.from_formula("y ~ age + smokes", old_df, **kw).fit(lam=0.0)
    for lam in (3.0, "gcv"):
        res = old.refine(new_df, lam=lam)
        ref = pr.PriorRidge.from_formula("y ~ age + smokes", new_df, prior=old, **kw).fit(lam=lam)
        assert_same(res, ref)
    # lam = 0: weighted least squares of y - offset on the new rows (statsmodels)
    res0 = old.refine(new_df, lam=0.0)
    wls = sm.WLS(new_df.y - new_df.o, sm.add_constant(new_df[["age", "smokes"]]), weights=new_df.w)
    # QR-class solves of a design with cond ~ 1e2: agreement ~1e-13; 1e-10 margin
    np.testing.assert_allclose(res0.params, wls.fit().params.to_numpy(), rtol=1e-10)


def test_poisson_exposure_is_reapplied(data):
    """The case of issue 10: without the exposure the intercept was 0.777, not -1.375."""
    old_df, new_df = data
    kw = {"family": F.Poisson(), "exposure": "months"}
    old = pr.PriorGLM.from_formula("deaths ~ age + smokes", old_df, **kw).fit(lam=0.0)
    res = old.refine(new_df, lam=2.0)
    ref = pr.PriorGLM.from_formula("deaths ~ age + smokes", new_df, prior=old, **kw).fit(lam=2.0)
    assert_same(res, ref)
    sm_fit = sm.GLM.from_formula(
        "deaths ~ age + smokes", new_df, family=F.Poisson(), exposure=new_df.months
    ).fit(tol=TOL)
    res0 = old.refine(new_df, lam=0.0, tol=TOL)
    np.testing.assert_allclose(res0.params, sm_fit.params.to_numpy(), rtol=MLE_RTOL)
    # dropping the exposure on purpose gives the other (wrong) model
    dropped = old.refine(new_df, lam=0.0, exposure=None)
    assert abs(dropped.params.iloc[0] - res0.params.iloc[0]) > 1.0


def test_binomial_var_weights_and_gamma_link_are_reapplied(data):
    old_df, new_df = data
    kw = {"family": F.Binomial(), "var_weights": "trials"}
    old = pr.PriorGLM.from_formula("share ~ age + smokes", old_df, **kw).fit(lam=0.0)
    res = old.refine(new_df, lam="gcv")
    ref = pr.PriorGLM.from_formula("share ~ age + smokes", new_df, prior=old, **kw).fit(lam="gcv")
    assert_same(res, ref)
    sm_fit = sm.GLM.from_formula(
        "share ~ age + smokes", new_df, family=F.Binomial(), var_weights=new_df.trials
    ).fit(tol=TOL)
    res0 = old.refine(new_df, lam=0.0, tol=TOL)
    np.testing.assert_allclose(res0.params, sm_fit.params, rtol=MLE_RTOL)

    gamma = F.Gamma(link=F.links.Log())
    old = pr.PriorGLM.from_formula("cost ~ age", old_df, family=gamma).fit(lam=0.0)
    res = old.refine(new_df, lam=5.0)
    assert isinstance(res.family, F.Gamma)
    assert isinstance(res.family.link, F.links.Log)
    ref = pr.PriorGLM.from_formula("cost ~ age", new_df, family=gamma, prior=old).fit(lam=5.0)
    assert_same(res, ref)
    sm_fit = sm.GLM.from_formula("cost ~ age", new_df, family=gamma).fit(tol=TOL)
    res0 = old.refine(new_df, lam=0.0, tol=TOL)
    np.testing.assert_allclose(res0.params, sm_fit.params, rtol=MLE_RTOL)


def test_scale_standardize_and_missing_are_reapplied(data):
    old_df, new_df = data
    kw = {"family": F.Poisson(), "exposure": "months", "standardize": True}
    old = pr.PriorGLM.from_formula("deaths ~ age + smokes", old_df, **kw).fit(lam=1.0, scale="x2")
    res = old.refine(new_df, lam=1.0)
    assert res.scaletype == "x2"
    ref = pr.PriorGLM.from_formula("deaths ~ age + smokes", new_df, prior=old, **kw).fit(
        lam=1.0, scale="x2"
    )
    assert_same(res, ref)
    assert res.model.standardize
    # an explicit fit option overrides the carried one
    assert old.refine(new_df, lam=1.0, scale=None).scale == 1.0

    holes = new_df.copy()
    holes.loc[3, "age"] = np.nan
    strict = pr.PriorRidge.from_formula("y ~ age", old_df, missing="raise").fit(lam=0.0)
    with pytest.raises(ValueError, match="missing"):
        strict.refine(holes, lam=1.0)
    assert strict.refine(holes, lam=1.0, missing="drop").nobs == len(new_df) - 1
    lenient = pr.PriorRidge.from_formula("y ~ age", old_df).fit(lam=0.0)
    assert lenient.refine(holes, lam=1.0).nobs == len(new_df) - 1


def test_array_option_must_be_passed_again(data):
    old_df, new_df = data
    old = pr.PriorGLM.from_formula(
        "deaths ~ age + smokes", old_df, family=F.Poisson(), exposure=old_df.months
    ).fit(lam=0.0)
    with pytest.raises(ValueError, match=r"exposure was given as an array.*pass it again"):
        old.refine(new_df, lam=1.0)
    by_array = old.refine(new_df, lam=1.0, exposure=new_df["months"])
    by_name = old.refine(new_df, lam=1.0, exposure="months")
    assert_same(by_array, by_name)
    ridge = pr.PriorRidge.from_formula("y ~ age", old_df, weights=old_df.w.to_numpy()).fit(lam=0.0)
    with pytest.raises(ValueError, match="weights was given as an array"):
        ridge.refine(new_df, lam=1.0)


def test_explicit_options_override_and_user_data_untouched(data):
    old_df, new_df = data
    before = new_df.copy()
    old = pr.PriorRidge.from_formula("y ~ age", old_df, offset="o").fit(lam=0.0)
    new_df = new_df.assign(o2=2.0 * new_df.o)
    res = old.refine(new_df, lam=2.0, offset="o2")
    ref = pr.PriorRidge.from_formula("y ~ age", new_df, offset="o2", prior=old).fit(lam=2.0)
    assert_same(res, ref)
    pd.testing.assert_frame_equal(new_df.drop(columns="o2"), before)
    glm = pr.PriorGLM.from_formula("deaths ~ age", old_df, family=F.Poisson()).fit(lam=0.0)
    other = glm.refine(new_df, lam=1.0, family=F.Poisson(link=F.links.Sqrt()))
    assert isinstance(other.family.link, F.links.Sqrt)


def test_disp_passes_through_refine(data, capsys):
    old_df, new_df = data
    old = pr.PriorGLM.from_formula("deaths ~ age", old_df, family=F.Poisson()).fit(lam=0.0)
    steps = []
    res = old.refine(new_df, lam="gcv", disp=steps.append)
    assert steps[-1].chosen
    assert steps[-1].lam == res.lam
    assert len(steps) >= 3  # the start, at least one search fit, the chosen one


# ---------------------------------------------------------------- prior files
def test_prior_file_records_options_and_reapplies_them(data, tmp_path):
    old_df, _ = data
    gamma = F.Gamma(link=F.links.Log())
    old = pr.PriorGLM.from_formula(
        "cost ~ age", old_df, family=gamma, var_weights="w", offset=old_df.o, standardize=True
    ).fit(lam=0.5, scale="dev")
    path = tmp_path / "prior.json"
    old.save_prior(path)
    doc = json.loads(path.read_text())
    assert doc["options"]["family"]["name"] == "gamma"
    assert doc["options"]["family"]["link"] == "log"
    assert doc["options"]["rows"] == {"var_weights": "w", "offset": {"array": True}}
    assert doc["options"]["scale"] == "dev"
    loaded = pr.load_prior(path)
    opts = loaded.options
    assert isinstance(opts.family, F.Gamma)
    assert isinstance(opts.family.link, F.links.Log)
    assert opts.standardize
    assert opts.missing == "drop"


def test_old_prior_files_still_load(tmp_path):
    doc = {
        "format": "priorreg-prior",
        "version": 1,
        "names": ["Intercept", "x"],
        "params": [1.0, 2.0],
        "normalized_cov_params": None,
        "scale": 1.0,
        "nobs": 10.0,
        "lam": 0.0,
        "formula": "y ~ x",
    }
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(doc))
    loaded = pr.load_prior(path)
    assert loaded.options is None
    np.testing.assert_array_equal(loaded.params, [1.0, 2.0])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": "PriorGLM", "family": {"name": "os.system", "link": "log"}}, "unknown family"),
        ({"model": "PriorGLM", "family": {"name": "poisson", "link": "eval"}}, "unknown link"),
        ({"model": "PriorRidge", "rows": {"weights": ["w"]}}, "column name"),
        ({"model": "PriorRidge", "rows": {"__class__": "w"}}, "unknown row option"),
        ({"model": "Popen"}, "model"),
        ({"model": "PriorRidge", "scale": "exec"}, "scale"),
        ({"model": "PriorRidge", "standardize": "yes"}, "standardize"),
    ],
)
def test_prior_file_options_are_whitelisted(tmp_path, options, match):
    doc = {
        "format": "priorreg-prior",
        "version": 2,
        "names": ["Intercept", "x"],
        "params": [1.0, 2.0],
        "normalized_cov_params": None,
        "options": options,
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        pr.load_prior(path)


# ---------------------------------------------------------------- command line
def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "priorreg", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_prior_file_reapplies_family_and_exposure(data, tmp_path):
    old_df, new_df = data
    old_df.to_csv(tmp_path / "old.csv", index=False)
    new_df.to_csv(tmp_path / "new.csv", index=False)
    prior = tmp_path / "old.json"
    formula = "deaths ~ age + smokes"
    first = run(
        "fit", formula, "--data", str(tmp_path / "old.csv"), "--family", "poisson",
        "--exposure", "months", "--lam", "0", "--save-prior", str(prior), "--format", "json",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = run(
        "fit", formula, "--data", str(tmp_path / "new.csv"), "--prior", str(prior),
        "--lam", "2", "--format", "json",
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    got = json.loads(second.stdout)
    assert got["model"] == "PriorGLM"
    ref = pr.PriorGLM.from_formula(
        formula, new_df, family=F.Poisson(), exposure="months", prior=pr.load_prior(prior)
    ).fit(lam=2.0)
    coef = [got["coefficients"][name]["coef"] for name in ref.params.index]
    np.testing.assert_allclose(coef, ref.params, rtol=SAME_RTOL)

    # flags override: another link, and the scale
    third = run(
        "fit", formula, "--data", str(tmp_path / "new.csv"), "--prior", str(prior),
        "--lam", "2", "--link", "sqrt", "--scale", "x2", "--format", "json",
    )  # fmt: skip
    assert third.returncode == 0, third.stderr
    ref = pr.PriorGLM.from_formula(
        formula,
        new_df,
        family=F.Poisson(link=F.links.Sqrt()),
        exposure="months",
        prior=pr.load_prior(prior),
    ).fit(lam=2.0, scale="x2")
    got = json.loads(third.stdout)
    np.testing.assert_allclose(got["scale"], ref.scale, rtol=SAME_RTOL)


def test_cli_never_evaluates_a_prior_file(data, tmp_path):
    _, new_df = data
    marker = tmp_path / "evaluated"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    doc = {
        "format": "priorreg-prior",
        "version": 2,
        "names": ["Intercept", "age"],
        "params": [1.0, 0.05],
        "normalized_cov_params": None,
        "formula": f"y ~ I({code})",  # stored and shown only
        "options": {"model": "PriorRidge", "rows": {"offset": code}},
    }
    (tmp_path / "p.json").write_text(json.dumps(doc))
    new_df.to_csv(tmp_path / "new.csv", index=False)
    proc = run("fit", "y ~ age", "--data", str(tmp_path / "new.csv"), "--prior",
               str(tmp_path / "p.json"))  # fmt: skip
    assert proc.returncode == 2
    assert "is not a column of data" in proc.stderr  # looked up, not evaluated
    assert not marker.exists()


def test_family_outside_the_tables_is_named_not_guessed(data, tmp_path):
    old_df, new_df = data
    odd = F.Tweedie(var_power=1.5, link=F.links.Power(0.3))  # no name in the link table
    old = pr.PriorGLM.from_formula("deaths ~ age", old_df, family=odd).fit(lam=0.0)
    old.save_prior(tmp_path / "old.json")
    assert pr.load_prior(tmp_path / "old.json").options.family is None
    new_df.to_csv(tmp_path / "new.csv", index=False)
    proc = run("fit", "deaths ~ age", "--data", str(tmp_path / "new.csv"), "--prior",
               str(tmp_path / "old.json"))  # fmt: skip
    assert proc.returncode == 2
    assert "Tweedie(link=Power) cannot be rebuilt" in proc.stderr
    assert "--family" in proc.stderr


def test_cli_array_option_in_prior_file_is_a_clear_error(data, tmp_path):
    old_df, new_df = data
    old = pr.PriorRidge.from_formula("y ~ age", old_df, offset=old_df.o.to_numpy()).fit(lam=0.0)
    old.save_prior(tmp_path / "old.json")
    new_df.to_csv(tmp_path / "new.csv", index=False)
    proc = run("fit", "y ~ age", "--data", str(tmp_path / "new.csv"), "--prior",
               str(tmp_path / "old.json"))  # fmt: skip
    assert proc.returncode == 2
    assert "offset given as an array" in proc.stderr
    assert "--offset COLUMN" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("fit", "y ~ age", "--data", str(tmp_path / "new.csv"), "--prior",
               str(tmp_path / "old.json"), "--offset", "o")  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_cli_quiet_for_quick_fits(data, tmp_path, capsys):
    from priorreg import cli

    _, new_df = data
    new_df.to_csv(tmp_path / "new.csv", index=False)
    # ~10 ms of work against the 2 s threshold of cli.PROGRESS_AFTER: 200x margin
    args = ["fit", "deaths ~ age", "--data", str(tmp_path / "new.csv"), "--family", "poisson"]
    assert cli.main([*args, "--lam", "1"]) == 0
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- Dask
def test_dask_refine_carries_options(data):
    import dask
    import dask.dataframe as dd

    old_df, new_df = data
    kw = {"family": F.Poisson(), "exposure": "months", "offset": "o"}
    formula = "deaths ~ age + smokes"
    with dask.config.set(scheduler="synchronous"):
        dold = dd.from_pandas(old_df, npartitions=3, sort=False)
        old = pr.PriorGLM.from_formula(formula, dold, **kw).fit(lam=0.0)
        res = old.refine(new_df, lam=2.0)  # Dask fit, pandas data
        ref = pr.PriorGLM.from_formula(formula, new_df, prior=old, **kw).fit(lam=2.0)
        # the Dask fit's prior equals the in-memory one to IRLS tolerance, and
        # both refinements then agree to rounding of that prior
        np.testing.assert_allclose(res.params, ref.params, rtol=1e-10)
        mem = pr.PriorGLM.from_formula(formula, old_df, **kw).fit(lam=0.0)
        lazy = mem.refine(dd.from_pandas(new_df, npartitions=2, sort=False), lam=2.0)
        ref = pr.PriorGLM.from_formula(formula, new_df, prior=mem, **kw).fit(lam=2.0)
        # one-pass TSQR factor against the in-memory factor: ~1e-13; 1e-9 margin
        np.testing.assert_allclose(lazy.params, ref.params, rtol=1e-9)
        np.testing.assert_allclose(lazy.bse, ref.bse, rtol=1e-9)


def test_pickled_results_refine_with_their_options(data):
    import pickle

    old_df, new_df = data
    kw = {"family": F.Poisson(), "exposure": "months"}
    old = pr.PriorGLM.from_formula("deaths ~ age + smokes", old_df, **kw).fit(lam=0.5, scale="x2")
    back = pickle.loads(pickle.dumps(old))
    assert back.scaletype == "x2"
    assert back.scale == old.scale
    assert_same(back.refine(new_df, lam=2.0), old.refine(new_df, lam=2.0))


def test_cli_flags_override_the_prior_file(data, tmp_path, capsys):
    from priorreg import cli

    old_df, new_df = data
    old = pr.PriorRidge.from_formula("y ~ age + smokes", old_df, offset="o", weights="w",
                                     standardize=True).fit(lam=0.0)  # fmt: skip
    old.save_prior(tmp_path / "old.json")
    new_df = new_df.assign(o2=0.5 * new_df.o)
    new_df.to_csv(tmp_path / "new.csv", index=False)
    base = ["fit", "y ~ age + smokes", "--data", str(tmp_path / "new.csv"),
            "--prior", str(tmp_path / "old.json"), "--lam", "3", "--format", "json"]  # fmt: skip
    prior = pr.load_prior(tmp_path / "old.json")
    for flags, kw in [
        ([], {"offset": "o", "weights": "w", "standardize": True}),
        (["--no-standardize", "--offset", "o2"], {"offset": "o2", "weights": "w"}),
    ]:
        assert cli.main(base + flags) == 0
        got = json.loads(capsys.readouterr().out)
        ref = pr.PriorRidge.from_formula("y ~ age + smokes", new_df, prior=prior, **kw).fit(lam=3.0)
        coef = [got["coefficients"][name]["coef"] for name in ref.params.index]
        np.testing.assert_allclose(coef, ref.params, rtol=SAME_RTOL)
