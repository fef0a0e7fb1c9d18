"""Several penalties for DaskPriorGLM at fixed lams: the in-memory fit, one pass per iteration.

Oracles: the in-memory ``PriorGLM`` with the same penalties and lams on the
computed rows; statsmodels' score and Hessian of the penalized
log-likelihood, the penalty written out component by component
(``sum_j lam_j P_j (b - b0_j)``, not the combined form the code uses), for
how far apart two estimates of the one penalized MLE may be; the passes of
a one-penalty Dask fit of the same data (``labels``, tests/conftest.py).
"""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, cond, sensitivity, solve_rtol

import priorreg as pr
from priorreg.outofcore import DaskPriorGLM, DaskPriorRidge

F = sm.families
FORMULA = "y ~ x1 + x2 + x3 + x4 + C(g)"
GROUPS = {"old": ["x1", "x2"], "new": "x3 + x4 + C(g)"}
OWN_PRIORS = {"old": {"x1": 0.4, "x2": -0.2}, "new": {"x3": 0.1}}
LAMS = {"old": 2.0, "new": 5.0}

pytestmark = pytest.mark.usefixtures("synchronous")  # tests/conftest.py


def _frame(family, n=600, seed=21):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    df["x4"] *= 30.0  # other units: standardize=True matters
    df["g"] = rng.choice(["a", "b", "c"], size=n)
    eta = 0.2 + 0.5 * df.x1 - 0.3 * df.x2 + 0.2 * (df.g == "b")
    df["expo"] = rng.uniform(0.5, 2.0, n)
    if isinstance(family, F.Poisson):
        df["y"] = rng.poisson(df.expo * np.exp(eta)).astype(float)
    elif isinstance(family, F.Gamma):
        df["y"] = rng.gamma(4.0, np.exp(eta) / 4.0)
    else:
        df["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return df


def _matrices(names):
    """Two explicit k x k penalties: a dense block on x1, x2 and a ridge on the rest."""
    k = len(names)
    P1, P2 = np.zeros((k, k)), np.zeros((k, k))
    i, j = names.index("x1"), names.index("x2")
    P1[np.ix_([i, j], [i, j])] = [[2.0, -0.5], [-0.5, 1.0]]
    for c, name in enumerate(names):
        if name not in ("Intercept", "x1", "x2"):
            P2[c, c] = 1.0
    return [P1, P2]


def _newton_steps(model, lams, *params):
    """Norms of statsmodels' Newton steps of the penalized log-likelihood, and -H at the last.

    ``model``: the in-memory model with several penalties; the penalty's
    gradient and Hessian are summed over its components.
    """
    comps = model.penalty_components
    glm = sm.GLM(model.endog, model.exog, family=model.family, offset=model.offset_total)
    total, info = 0.0, None
    for b in params:
        b = np.asarray(b, dtype=float)
        parts = zip(lams, comps.matrices, comps.priors, strict=True)
        g = glm.score(b, scale=1.0) - sum(lam * P @ (b - b0) for lam, P, b0 in parts)
        info = -glm.hessian(b, scale=1.0) + np.tensordot(lams, comps.matrices, axes=1)
        step = np.linalg.solve(info, g)
        # the step, plus the rounding of solving for it (k eps cond ||b||)
        total += np.linalg.norm(step) + b.size * EPS * cond(info) * np.linalg.norm(b)
    return total, info


CASES = {
    # {group: terms}, one prior per penalty, exposure
    "poisson-groups-own-priors": (F.Poisson(), GROUPS, OWN_PRIORS, {"exposure": "expo"}),
    # the same, standardized: every component is scaled by the columns' sds
    "poisson-groups-standardized": (
        F.Poisson(), GROUPS, OWN_PRIORS, {"exposure": "expo", "standardize": True}
    ),
    # explicit matrices, one shared prior
    "binomial-matrices-shared-prior": (
        F.Binomial(), "matrices", {"x1": 0.3, "x3": -0.1}, {}
    ),
    # a family whose scale is estimated (Pearson), a non-canonical link
    "gamma-log-groups-own-priors": (F.Gamma(F.links.Log()), GROUPS, OWN_PRIORS, {}),
}


def _pair(case, npartitions=3):
    family, penalty, prior, extra = CASES[case]
    df = _frame(family)
    if penalty == "matrices":
        names = list(pr.PriorGLM.from_formula(FORMULA, df, family=family).exog_names)
        penalty = _matrices(names)
    kw = {"family": family, "penalty": penalty, "prior": prior, **extra}
    mem = pr.PriorGLM.from_formula(FORMULA, df, **kw)
    ddf = dd.from_pandas(df, npartitions=npartitions, sort=False)
    return mem, pr.PriorGLM.from_formula(FORMULA, ddf, **kw)


def _lams(model):
    comps = model.penalty_components
    return LAMS if comps.names is not None else [LAMS["old"], LAMS["new"]]


def _assert_same_fit(res, ref, model):
    """The Dask fit is the in-memory fit ``ref`` of ``model``: one penalized MLE, twice."""
    lams = np.asarray(ref.lam, dtype=float)
    X, y = model.exog, model.endog
    n, k = X.shape
    radius, info = _newton_steps(model, lams, res.params, ref.params)
    radius *= MARGIN
    assert np.linalg.norm(np.asarray(res.params) - np.asarray(ref.params)) <= radius
    # working weights W_i move by at most e^|x_i' db| - 1 ~ |x_i| radius (Poisson
    # and Binomial: |d log W / d eta| <= 1; Gamma-log: W = 1), so X'WX + S moves
    # within (1 +- drift) of itself in the Loewner order and so do its inverse,
    # bse^2 and every trace of A^-1 P_j; plus inverting A twice (solve_rtol)
    drift = 2 * float(np.max(np.linalg.norm(X, axis=1))) * radius + solve_rtol(info)
    # the deviance and Pearson chi2: first-order change over the radius, plus
    # summing n terms
    family, offset = model.family, model.offset_total
    b_ref = np.asarray(ref.params, dtype=float)

    def mean(b):
        return family.link.inverse(X @ b + offset)

    def deviance(b):
        return family.deviance(y, mean(b))

    def pearson(b):
        mu_b = mean(b)
        return np.sum((y - mu_b) ** 2 / family.variance(mu_b))

    slack = sensitivity(deviance, b_ref, radius) + MARGIN * n * EPS * ref.deviance
    slack_p = sensitivity(pearson, b_ref, radius) + MARGIN * n * EPS * ref.pearson_chi2
    assert res.deviance == pytest.approx(ref.deviance, abs=slack)
    assert res.pearson_chi2 == pytest.approx(ref.pearson_chi2, abs=slack_p)
    # an estimated scale, Pearson / (n - edf), moves with both (k drift in edf)
    scale_rel = 0.0 if ref.scale == 1.0 else slack_p / ref.pearson_chi2 + k * drift / (n - ref.edf)
    assert res.scale == pytest.approx(ref.scale, rel=scale_rel + 1e-300)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=drift + scale_rel)
    np.testing.assert_allclose(res.edf_params, ref.edf_params, rtol=0, atol=k * drift)
    np.testing.assert_allclose(res.edf_components, ref.edf_components, rtol=0, atol=k * drift)
    assert res.edf == pytest.approx(ref.edf, abs=k * drift)
    mu = np.asarray(ref.mu)
    gcv_rel = slack / ref.deviance + 2 * k * drift / (n - ref.edf)
    assert res.gcv == pytest.approx(ref.gcv, rel=gcv_rel)
    if ref.scale == 1.0:  # known scale: llf = c - D / 2 (the estimated-scale
        # likelihoods move with the scale too; their bounds are not derived here)
        assert res.llf == pytest.approx(ref.llf, abs=slack / 2)
        assert res.aic == pytest.approx(ref.aic, abs=slack + 2 * k * drift)
        assert res.ubre == pytest.approx(ref.ubre, abs=(slack + 2 * k * drift) / n)
        # Laplace REML: D / 2, the penalty / 2 (at the optimum its gradient is
        # minus the deviance's: slack / 2 too) and two log-dets (k drift each)
        assert res.reml == pytest.approx(ref.reml, abs=2 * slack + 2 * k * drift)
    # intervals b +- z bse: the radius plus z bse times its relative change
    ci_a, ci_b = np.asarray(res.conf_int()), np.asarray(ref.conf_int())
    atol = radius + 2 * np.max(ref.bse) * (drift + scale_rel)
    np.testing.assert_allclose(ci_a, ci_b, rtol=0, atol=atol)
    # the means: mu_i = g^-1(eta_i) moves by |x_i' db| relatively (log link) or less
    np.testing.assert_allclose(np.asarray(res.fittedvalues.compute()), mu, rtol=drift)
    # leverages w_i x_i' A^-1 x_i: W and A^-1 each within drift
    np.testing.assert_allclose(
        np.asarray(res.hat_diag.compute()), np.asarray(ref.hat_diag), rtol=3 * drift
    )
    share_a, share_b = res.data_share(), ref.data_share()
    np.testing.assert_allclose(
        share_a.per_component, share_b.per_component, rtol=0, atol=k * drift
    )
    # what the in-memory results say about the lams, word for word
    pd.testing.assert_series_equal(pd.Series(res.lam), pd.Series(ref.lam))
    assert res.lam_method == ref.lam_method == "fixed"
    assert res.lam_path is None
    assert ref.lam_path is None
    assert res.converged
    assert ref.converged
    assert res.iterations == ref.iterations
    np.testing.assert_array_equal(res.prior, ref.prior)  # the combined prior b0*
    text = str(res.summary())
    comps = model.penalty_components
    for label, kind, lam in zip(comps.labels, comps.kinds, lams, strict=True):
        assert f"{label} ({kind}): lam = {lam:.4g}, edf = " in text


@pytest.mark.parametrize("case", list(CASES))
def test_fixed_lams_equal_the_in_memory_fit(case):
    mem, dsk = _pair(case)
    lams = _lams(mem)
    ref = mem.fit(lam=lams)
    res = dsk.fit(lam=lams)
    assert isinstance(res._results, pr.PriorGLMResults)
    _assert_same_fit(res, ref, mem)
    # the components the Dask model resolved are the in-memory ones (standardize too)
    a, b = dsk.penalty_components, mem.penalty_components
    # standardize scales P_j by 1 / (sd_i sd_j): each sd a sum of n centred squares
    # (merged over partitions on Dask), relative rounding <= 2 n eps; 10x margin
    sd_rtol = MARGIN * 4 * mem.nobs * EPS
    np.testing.assert_allclose(a.matrices, b.matrices, rtol=sd_rtol, atol=0)
    np.testing.assert_array_equal(a.priors, b.priors)


def test_the_array_interface_and_a_second_fit_equal_the_in_memory_fit():
    """Arrays (scanned when the model is built) and a model fitted twice at other lams."""
    family = F.Binomial()
    df = _frame(family)
    X = np.column_stack([np.ones(len(df)), df[["x1", "x2", "x3", "x4"]].to_numpy()])
    y = df["y"].to_numpy()
    names = ["const", "x1", "x2", "x3", "x4"]
    penalty = _matrices(names)
    priors = [np.array([0.0, 0.3, -0.2, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 0.05, 0.01])]
    kw = {"family": family, "penalty": penalty, "prior": priors}
    mem = pr.PriorGLM(y, X, **kw)
    dsk = pr.PriorGLM(da.from_array(y, chunks=200), da.from_array(X, chunks=(200, 5)), **kw)
    assert isinstance(dsk, DaskPriorGLM)
    for lams in ([3.0, 0.5], [0.0, 20.0]):
        _assert_same_fit(dsk.fit(lam=lams), mem.fit(lam=lams), mem)


@pytest.mark.parametrize("prior", [{"x1": 0.3}, OWN_PRIORS], ids=["shared", "own"])
def test_passes_are_those_of_one_penalty_fit(labels, prior):
    """The fit reads the data as a one-penalty fit with S and b0* does, pass for pass."""
    family = F.Poisson()
    df = _frame(family)
    kw = {"family": family, "exposure": "expo"}
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    several = pr.PriorGLM.from_formula(FORMULA, ddf, penalty=GROUPS, prior=prior, **kw)
    memory = pr.PriorGLM.from_formula(FORMULA, df, penalty=GROUPS, prior=prior, **kw)
    S, b0 = memory.penalty_components.combined(np.array([LAMS["old"], LAMS["new"]]))
    names = list(memory.exog_names)
    one = pr.PriorGLM.from_formula(
        FORMULA, ddf, penalty=pd.DataFrame(S, index=names, columns=names),
        prior=pd.Series(b0, index=names), **kw,
    )
    assert labels == []  # building the models reads no data (their scans are pending)
    res = several.fit(lam=LAMS)
    seen = list(labels)
    labels.clear()
    ref = one.fit(lam=1.0)
    assert seen == labels
    assert res.iterations == ref.iterations
    # the scan rode on the first IRLS point: iterations + 1 passes
    assert seen == [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]
    assert res.model.passes == res.iterations + 1
    # the model keeps its components and prior (the fit worked on a copy)
    assert several.penalty_kind == "several"
    np.testing.assert_array_equal(several.penalty_components.matrices,
                                  memory.penalty_components.matrices)
    np.testing.assert_array_equal(several.prior_values, memory.prior_values)
    # a second fit of each: the start, then one pass per iteration (no scan)
    labels.clear()
    res2 = several.fit(lam=LAMS)
    seen = list(labels)
    labels.clear()
    one.fit(lam=1.0)
    assert seen == labels == [f"IRLS pass {i}" for i in range(1, res2.iterations + 2)]
    np.testing.assert_array_equal(res2.params, res.params)  # the same passes, the same numbers


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lam": "gcv"}, r"lam='gcv' with several penalties is not available on Dask data.*"
                         r"fixed lam per penalty.*in memory"),
        ({"lam": "reml"}, r"lam='reml' .*not available on Dask data"),
        ({"lam": "loocv"}, r"lam='loocv' .*not available on Dask data"),
        ({"lam": "gcv", "lams": [0.1, 1.0]}, r"lams= is a grid for a single penalty"),
        ({"lam": LAMS, "cov_type": "unconditional"}, r"unconditional.*not available on Dask"),
        ({"lam": [1.0, 2.0, 3.0]}, r"give 2 values, one per penalty component"),
        ({"lam": LAMS, "disp": True}, r"disp= is not available with several penalties"),
    ],
)
def test_what_is_refused_is_refused_before_any_pass(labels, options, match):
    _, dsk = _pair("poisson-groups-own-priors")
    assert labels == []
    with pytest.raises(ValueError, match=match):
        dsk.fit(**options)
    assert labels == []  # no pass: not even the scan
    # the model still fits (the refusal left it as it was)
    res = dsk.fit(lam=LAMS)
    assert res.converged


def test_a_criterion_on_a_scanned_model_makes_no_pass(labels):
    family = F.Binomial()
    df = _frame(family)
    X = np.column_stack([np.ones(len(df)), df[["x1", "x2", "x3", "x4"]].to_numpy()])
    dsk = pr.PriorGLM(
        da.from_array(df["y"].to_numpy(), chunks=300), da.from_array(X, chunks=(300, 5)),
        family=family, penalty=_matrices(["const", "x1", "x2", "x3", "x4"]),
    )
    built = len(labels)
    with pytest.raises(ValueError, match=r"not available on Dask data.*fixed lam"):
        dsk.fit(lam="aic")
    assert len(labels) == built


def test_bounds_with_several_penalties_stay_refused():
    df = _frame(F.Poisson())
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    with pytest.raises(ValueError, match=r"bounds= with several penalties is not available"):
        pr.PriorGLM.from_formula(
            FORMULA, ddf, family=F.Poisson(), penalty=GROUPS, bounds={"x1": (0, None)}
        )


def test_dask_ridge_standardizes_every_component():
    """DaskPriorRidge with standardize=True scales each component as in memory."""
    df = _frame(F.Poisson())
    kw = {"penalty": GROUPS, "prior": OWN_PRIORS, "standardize": True}
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    a = pr.PriorRidge.from_formula(FORMULA, df, **kw).fit(lam=LAMS)
    dsk = pr.PriorRidge.from_formula(FORMULA, ddf, **kw)
    assert isinstance(dsk, DaskPriorRidge)
    b = dsk.fit(lam=LAMS)
    # two QR factorizations of the same rows: eps cond(A) k ~ 1e-13; 1e-10
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.edf_components, a.edf_components, rtol=1e-10)


_UNPICKLE = """
import pickle, sys
res = pickle.loads(sys.stdin.buffer.read())
out = {"cls": type(res._results).__name__, "params": res.params.tolist(),
       "bse": res.bse.tolist(), "edf": float(res.edf), "summary": str(res.summary())}
sys.stdout.buffer.write(pickle.dumps(out))
"""


@pytest.mark.parametrize("kind", ["glm", "ridge"])
def test_several_penalty_dask_results_pickle_into_a_fresh_process(kind):
    """Oracle: the results before pickling, read back in a new interpreter.

    The results classes of several penalties on Dask are made at run time
    (``priorreg.multi_results.out_of_core_class``), so the new interpreter,
    which has not made them, must rebuild them from their Dask base class.
    Pickling copies floats exactly: the values must be equal.
    """
    import pickle
    import subprocess
    import sys

    family = F.Poisson()
    ddf = dd.from_pandas(_frame(family, n=300), npartitions=3)
    if kind == "glm":
        model = pr.PriorGLM.from_formula(FORMULA, ddf, family=family, penalty=GROUPS)
    else:
        model = pr.PriorRidge.from_formula(FORMULA, ddf, penalty=GROUPS)
    res = model.fit(lam=LAMS)
    done = subprocess.run(
        [sys.executable, "-c", _UNPICKLE],
        input=pickle.dumps(res),
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    back = pickle.loads(done.stdout)
    assert back["cls"] == type(res._results).__name__
    assert back["params"] == res.params.tolist()
    assert back["bse"] == res.bse.tolist()
    assert back["edf"] == float(res.edf)
    assert back["summary"] == str(res.summary())
