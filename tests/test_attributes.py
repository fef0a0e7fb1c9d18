"""statsmodels' attribute names: equal to statsmodels at lam = 0, brute force at lam > 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.genmod import families as F  # noqa: N812 - short, as in statsmodels tests
from statsmodels.stats.outliers_influence import OLSInfluence

import priorreg as pr

LINEAR_NAMES = [
    "rsquared",
    "rsquared_adj",
    "fvalue",
    "f_pvalue",
    "ess",
    "centered_tss",
    "uncentered_tss",
    "ssr",
    "mse_resid",
    "mse_model",
    "mse_total",
    "condition_number",
    "df_resid",
    "df_model",
]


@pytest.fixture
def frame(rng):
    n = 60
    df = pd.DataFrame(
        {
            "x1": rng.normal(2, 3, n),
            "x2": rng.uniform(0, 10, n),
            "g": rng.choice(["a", "b", "c"], n),
            "w": rng.uniform(0.5, 2, n),
            "o": rng.normal(size=n),
            "t": rng.uniform(1, 5, n),
        }
    )
    df["y"] = 1 + 0.5 * df.x1 - 0.3 * df.x2 + df.g.map({"a": 0, "b": 1, "c": -1})
    df["y"] += rng.normal(size=n)
    df["count"] = rng.poisson(df.t * np.exp(0.2 + 0.1 * df.x1 - 0.05 * df.x2))
    df["pos"] = rng.gamma(2.0, np.exp(0.5 + 0.05 * df.x1) / 2.0)
    df["yo"] = df.y - df.o
    return df


@pytest.mark.parametrize(
    ("formula", "weighted", "offset"),
    [
        ("y ~ x1 + x2 + C(g)", False, False),
        ("y ~ x1 + x2 + C(g)", True, False),
        ("y ~ x1 + x2 + C(g)", True, True),
        ("y ~ x1 + x2 - 1", False, False),
        ("y ~ x1 + x2 - 1", True, True),
    ],
)
def test_linear_attributes_equal_statsmodels_at_lam_zero(frame, formula, weighted, offset):
    w = frame["w"] if weighted else None
    ours = pr.PriorRidge.from_formula(
        formula, frame, weights=w, offset=frame["o"] if offset else None
    ).fit(lam=0.0)
    # OLS with an offset o is OLS of y - o (R's lm reports R^2 of y - o likewise)
    ref_formula = formula.replace("y ~", "yo ~") if offset else formula
    ref = (
        smf.wls(ref_formula, frame, weights=frame["w"]) if weighted else smf.ols(ref_formula, frame)
    ).fit()
    # both QR-class on a design with cond ~ 1e2: eps * cond^2 ~ 1e-12; 100x margin
    for name in LINEAR_NAMES:
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), rel=1e-10), name


def test_influence_equals_statsmodels_olsinfluence_at_lam_zero(frame):
    formula = "y ~ x1 + x2 + C(g)"
    ours = pr.PriorRidge.from_formula(formula, frame).fit(lam=0.0).get_influence()
    ref = OLSInfluence(smf.ols(formula, frame).fit())
    # hat values of cond ~ 1e2 designs: eps * cond^2 * n ~ 1e-11; 10x margin
    np.testing.assert_allclose(ours.hat_matrix_diag, ref.hat_matrix_diag, rtol=1e-9)
    np.testing.assert_allclose(
        ours.resid_studentized_internal, ref.resid_studentized_internal, rtol=1e-9
    )
    np.testing.assert_allclose(
        ours.resid_studentized_external, ref.resid_studentized_external, rtol=1e-9
    )
    np.testing.assert_allclose(ours.sigma2_not_obsi, ref.sigma2_not_obsi, rtol=1e-9)
    np.testing.assert_allclose(ours.cooks_distance[0], ref.cooks_distance[0], rtol=1e-9)
    np.testing.assert_allclose(ours.cooks_distance[1], ref.cooks_distance[1], rtol=1e-8)
    assert list(ours.summary_frame().columns) == [
        "cooks_d",
        "standard_resid",
        "hat_diag",
        "student_resid",
    ]


def test_influence_at_positive_lam_equals_brute_force_refits(rng):
    n, k, lam = 25, 4, 3.0
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) * [1.0, 3.0, 0.5]])
    y = X @ [1.0, 0.5, -0.2, 2.0] + rng.normal(size=n)
    w, o, b0 = rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=k)
    res = pr.PriorRidge(y, X, prior=b0, weights=w, offset=o).fit(lam=lam)
    infl = res.get_influence()
    fitted = X @ res.params
    cooks, rss_loo = np.empty(n), np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        loo = pr.PriorRidge(y[keep], X[keep], prior=b0, weights=w[keep], offset=o[keep]).fit(
            lam=lam
        )
        change = X @ loo.params - fitted
        cooks[i] = np.sum(w * change**2) / (res.edf * res.scale)
        rss_loo[i] = loo.ssr
    # closed forms vs refits of a system with cond ~ 1e2: eps * cond^2 * n ~ 1e-11; 10x margin
    np.testing.assert_allclose(infl.cooks_distance[0], cooks, rtol=1e-9)
    np.testing.assert_allclose(infl.sigma2_not_obsi * (res.df_resid - 1), rss_loo, rtol=1e-9)
    np.testing.assert_allclose(infl.hat_matrix_diag, res.hat_diag, rtol=1e-12)


def _glm_pair(frame, kind):
    """(ours, statsmodels) at lam = 0 for a few families, weights and offsets."""
    if kind == "poisson-exposure":
        kw = {"exposure": frame["t"], "freq_weights": np.round(frame["w"] * 2)}
        formula, fam = "count ~ x1 + x2 + C(g)", F.Poisson()
    elif kind == "poisson-offset-var":
        kw = {"offset": frame["o"] * 0.1, "var_weights": frame["w"]}
        formula, fam = "count ~ x1 + x2", F.Poisson()
    elif kind == "gamma":
        kw = {"var_weights": frame["w"]}
        formula, fam = "pos ~ x1 + x2", F.Gamma(F.links.Log())
    else:  # binomial
        kw = {}
        formula, fam = "I(y > 1) ~ x1 + x2", F.Binomial()
    ours = pr.PriorGLM.from_formula(formula, frame, family=fam, **kw).fit(lam=0.0, tol=1e-13)
    ref = smf.glm(formula, frame, family=fam, **kw).fit(tol=1e-13)
    if kind == "binomial":
        ref = sm.GLM(ours.model.endog, ours.model.exog, family=fam).fit(tol=1e-13)
    return ours, ref


@pytest.mark.parametrize("kind", ["poisson-exposure", "poisson-offset-var", "gamma", "binomial"])
def test_glm_attributes_equal_statsmodels_at_lam_zero(frame, kind):
    ours, ref = _glm_pair(frame, kind)
    # IRLS to a relative deviance change of 1e-13 on both sides: the deviance is
    # quadratic at its minimum, so the estimates agree to ~sqrt(1e-13) ~ 3e-7 and
    # values at the optimum (deviance, llf) to ~1e-13: rel 1e-8 for those, and
    # 3e-6 (10x) for residuals, which move with the estimates
    for name in ["null_deviance", "llnull", "bic_llf", "bic_deviance", "deviance", "llf"]:
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), rel=1e-8), name
    for kind_r2 in ["cs", "mcf"]:
        assert ours.pseudo_rsquared(kind_r2) == pytest.approx(
            ref.pseudo_rsquared(kind_r2), rel=1e-8
        )
    for crit in ["aic", "bic"]:
        assert ours.info_criteria(crit) == pytest.approx(ref.info_criteria(crit), rel=1e-8)
    if kind.startswith("poisson"):
        assert ours.info_criteria("qaic", scale=1.7) == pytest.approx(
            ref.info_criteria("qaic", scale=1.7), rel=1e-8
        )
    for name in ["resid_pearson", "resid_deviance", "resid_response", "resid_working"]:
        np.testing.assert_allclose(
            getattr(ours, name), getattr(ref, name), rtol=3e-6, atol=3e-6, err_msg=name
        )
    np.testing.assert_allclose(ours.resid_anscombe, ref.resid_anscombe, rtol=3e-6, atol=3e-6)


def test_glm_bad_kinds_are_clear_errors(frame):
    ours, _ = _glm_pair(frame, "binomial")
    with pytest.raises(ValueError, match="'cs'"):
        ours.pseudo_rsquared("r2")
    with pytest.raises(ValueError, match="'aic'"):
        ours.info_criteria("hqic")
    with pytest.raises(ValueError, match="scale="):
        ours.info_criteria("qaic")


def test_linear_only_attributes_are_absent_on_glm_results(frame):
    ours, ref = _glm_pair(frame, "binomial")
    for name in ["rsquared_adj", "fvalue", "ess", "mse_resid"]:
        assert not hasattr(ref, name)  # statsmodels' GLM results do not have them either
        with pytest.raises(AttributeError, match="for a GLM use deviance"):
            getattr(ours, name)
    with pytest.raises(AttributeError, match="PriorRidge results"):
        ours.get_influence()  # not (yet) for GLMs: no silent linear-model answer
