"""Several penalties for GLMs (issue 15): exact outer Hessian, Laplace REML, every criterion.

Oracles: central differences of converged refits (derivatives); a dense
numpy Laplace REML on scipy-minimised penalized deviances, minimised over
``log(lam)`` by Nelder-Mead; the single-penalty criteria of fixed-lam fits
(an independent code path: the combined penalty ``S`` at ``lam = 1``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import central_differences
from scipy.optimize import minimize, minimize_scalar

import priorreg as pr
from priorreg.multi_implicit import fit_derivatives
from priorreg.multi_outer import _evaluate, _irls_at

POISSON = sm.families.Poisson()
PROBIT = sm.families.Binomial(link=sm.families.links.Probit())
LOGIT = sm.families.Binomial()
GAMMA_LOG = sm.families.Gamma(link=sm.families.links.Log())


def _problem(family, n=150, seed=4):
    """Design with an intercept, two overlapping penalties and two priors."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 5))])
    eta = 0.2 + 0.4 * X[:, 1] - 0.5 * X[:, 3] + 0.2 * X[:, 5]
    if isinstance(family, sm.families.Binomial):
        y = (rng.uniform(size=n) < family.link.inverse(eta)).astype(float)
    elif isinstance(family, sm.families.Gamma):
        y = rng.gamma(3.0, np.exp(eta) / 3.0)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    B = rng.normal(size=(4, 3))
    P1 = np.diag([0.0, 1, 1, 0, 0, 0])
    P2 = np.zeros((6, 6))
    P2[2:, 2:] = B @ B.T  # overlaps P1 on column 2, rank 3
    priors = [0.1 * rng.normal(size=6), 0.1 * rng.normal(size=6)]
    return y, X, [P1, P2], priors


def _model(family, **kw):
    y, X, Ps, priors = _problem(family, **kw)
    return pr.PriorGLM(y, X, family=family, penalty=Ps, prior=priors)


@pytest.mark.parametrize(
    ("family", "criterion", "scale"),
    [
        (POISSON, "gcv", None),
        (POISSON, "aic", 1.0),
        (POISSON, "reml", 1.0),
        (PROBIT, "ubre", 1.0),
        (PROBIT, "reml", 1.0),
        (GAMMA_LOG, "gcv", None),
        (GAMMA_LOG, "reml", None),  # the scale profiled out
    ],
)
def test_outer_gradient_and_hessian_against_central_differences(family, criterion, scale):
    model = _model(family)
    comps = model.penalty_components
    rho = np.array([0.5, -0.7])
    start = np.asarray(model.fit(lam=np.exp(rho)).params)

    # tol=0: IRLS runs all its steps, to rounding level (Fisher scoring is
    # only linear for the non-canonical links)
    def at(r):
        return _evaluate(model, comps, r, criterion, scale, start, 80, 0.0)

    point = at(rho)
    fd_g, fd_h = central_differences(at, rho, h=1e-3)
    # central differences: truncation h^2 |V''''| / 6 ~ 1e-6 of the largest entry;
    # rounding of converged fits ~1e-14 |V| / h ~ 1e-11 (values), and the
    # gradients with a profiled scale carry its error (tau to ~1e-11 by Newton
    # on a central difference, see multi_outer._reml_scale) / h ~ 1e-8; w'' and
    # dw_o/deta by central differences ~4e-11: 1e-5, 10x margin
    np.testing.assert_allclose(point.grad, fd_g, rtol=1e-5, atol=1e-5 * np.abs(fd_g).max())
    np.testing.assert_allclose(point.hess, fd_h, rtol=1e-5, atol=1e-5 * np.abs(fd_h).max())


def test_fit_derivatives_of_edf_and_log_det_against_refits():
    """The edf and log|X'WX + S| of converged refits, differentiated twice numerically."""
    model = _model(PROBIT)
    comps = model.penalty_components
    rho = np.array([0.3, 0.4])
    start = np.asarray(model.fit(lam=np.exp(rho)).params)

    def at(r):
        b, _ = _irls_at(model, comps, np.exp(r), start, 80, 0.0)
        return fit_derivatives(model, comps, np.exp(r), b)

    point = at(rho)
    h = 1e-3
    signs = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    fits = {
        (j, k): [at(rho + sj * np.eye(2)[j] * h + sk * np.eye(2)[k] * h) for sj, sk in signs]
        for j in range(2)
        for k in range(j, 2)
    }
    for name in ("edf", "log_det", "deviance", "pen_dev"):
        hess = np.zeros((2, 2))
        for (j, k), four in fits.items():
            v = [getattr(f, name) for f in four]
            hess[j, k] = hess[k, j] = (v[0] - v[1] - v[2] + v[3]) / (4 * h * h)
        # truncation h^2 |f''''| ~ 1e-6 relative; rounding 1e-14 |f| / h^2 ~ 1e-8: 1e-4
        np.testing.assert_allclose(
            getattr(point, "h_" + name), hess, rtol=1e-4, atol=1e-4 * np.abs(hess).max()
        )


# ----------------------------------------------------- Laplace REML oracle
def _dense_fit(family, y, X, Ps, priors, lams):
    """Penalized deviance minimised by scipy (BFGS) from a plain IRLS start."""

    def objective(b):
        with np.errstate(over="ignore"):  # a BFGS trial step far out: a large value
            mu = family.link.inverse(X @ b)
        pen = sum(
            lam * (b - b0) @ P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True)
        )
        return family.deviance(y, mu) + pen

    def gradient(b):
        with np.errstate(over="ignore"):
            mu = family.link.inverse(X @ b)
        u = (y - mu) / (family.variance(mu) * family.link.deriv(mu))
        pen = sum(2 * lam * P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True))
        return -2 * X.T @ u + pen

    b = np.zeros(X.shape[1])
    b[0] = family.link(np.array([np.mean(y)]))[0]
    for _ in range(2):  # BFGS restarted once: its curvature estimate is then fresh
        b = minimize(objective, b, jac=gradient, method="BFGS", options={"gtol": 1e-11}).x
    return b


def _dense_reml(family, y, X, Ps, priors, rho, known_scale):
    lams = np.exp(rho)
    b = _dense_fit(family, y, X, Ps, priors, lams)
    mu = family.link.inverse(X @ b)
    S = sum(lam * P for lam, P in zip(lams, Ps, strict=True))
    pen = sum(lam * (b - b0) @ P @ (b - b0) for lam, P, b0 in zip(lams, Ps, priors, strict=True))
    w = family.weights(mu)  # Fisher weights (statsmodels)
    log_det_a = np.linalg.slogdet(X.T @ (w[:, None] * X) + S)[1]
    ev = np.linalg.eigvalsh(S)
    pos = ev > ev.max() * 1e-10
    log_det_s = np.sum(np.log(ev[pos]))
    k0 = X.shape[1] - int(pos.sum())

    def neg(log_phi):
        phi = np.exp(log_phi)
        return (
            -family.loglike(y, mu, scale=phi)
            + pen / (2 * phi)
            + 0.5 * (log_det_a - log_det_s)
            - 0.5 * k0 * np.log(2 * np.pi * phi)
        )

    if known_scale:
        return neg(0.0)
    return minimize_scalar(neg, bracket=(-3.0, 0.0), tol=1e-12).fun


@pytest.mark.parametrize(("family", "known"), [(POISSON, True), (LOGIT, True), (GAMMA_LOG, False)])
def test_laplace_reml_against_a_dense_oracle_and_nelder_mead(family, known):
    # n = 300: every lam is interior (with n = 100 the logit's run to infinity)
    y, X, Ps, priors = _problem(family, n=300, seed=11)
    model = pr.PriorGLM(y, X, family=family, penalty=Ps, prior=priors)
    rho = np.array([0.4, -0.3])
    fixed = model.fit(lam=np.exp(rho))
    oracle = _dense_reml(family, y, X, Ps, priors, rho, known)
    point = _evaluate(
        model, model.penalty_components, rho, "reml", 1.0 if known else None,
        np.asarray(fixed.params), 100, 1e-12,
    )
    # BFGS to |grad| <= 1e-11: coefficients to ~1e-10, log|A| moves by that;
    # |V| ~ 1e2: 1e-9 relative, 10x margin
    assert point.value == pytest.approx(oracle, rel=1e-9)
    assert fixed.reml == pytest.approx(oracle, rel=1e-9)  # the single-penalty code path

    res = model.fit(lam="reml")
    best = minimize(
        lambda r: _dense_reml(family, y, X, Ps, priors, r, known),
        np.log(np.asarray(res.lam)) + 0.5,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 2000},
    )
    # both at a minimum of the same function: the values agree to the oracle's
    # own accuracy (1e-9 relative, above) and priorreg's is not worse
    assert res.reml <= best.fun + 1e-9 * abs(best.fun)
    assert res.reml == pytest.approx(best.fun, rel=1e-9)
    # a minimum with curvature ~1 in rho: a value error 1e-9 |V| ~ 1e-7 moves rho
    # by sqrt(2e-7) ~ 5e-4
    np.testing.assert_allclose(np.log(np.asarray(res.lam)), best.x, atol=5e-3)
    assert res._results.selection.converged


# ------------------------------------------------ each criterion x family
_CASES = [
    (POISSON, "gcv"), (POISSON, "ubre"), (POISSON, "aic"), (POISSON, "reml"),
    (LOGIT, "gcv"), (LOGIT, "ubre"), (LOGIT, "aic"), (LOGIT, "reml"),
    (GAMMA_LOG, "gcv"), (GAMMA_LOG, "reml"),
]


@pytest.mark.parametrize(("family", "criterion"), _CASES)
def test_selected_lams_minimise_the_criterion_of_fixed_lam_fits(family, criterion):
    model = _model(family, n=200, seed=21)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(lam=criterion)
    lam = np.log(np.asarray(res.lam))
    value = getattr(res, criterion)
    sel = res._results.selection
    assert sel.converged
    assert sel.path["stage"].iloc[-1] == "outer"
    # a lam at the edge of the range is said once, and only then
    edge = [w for w in caught if issubclass(w.category, pr.LamOnEdgeWarning)]
    assert len(edge) == int(sel.on_edge)
    assert len(caught) == len(edge)
    # the reported value is that of the fixed-lam fit at the selected lams
    # (the single-penalty criterion of the combined penalty): to the IRLS
    # tolerance 1e-8 of the final fit, 10x margin on 1e-8
    fixed = model.fit(lam=np.exp(lam))
    assert getattr(fixed, criterion) == pytest.approx(value, rel=1e-7)
    # brute force: no fixed-lam fit on a ring of radius 0.05 around the
    # optimum (within the range searched) is lower; a minimum of curvature c
    # lies below its ring by c 1e-3 / 2
    lo, hi = sel.extra["bounds"]
    for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        trial = np.clip(lam + 0.05 * np.array([np.cos(angle), np.sin(angle)]), lo, hi)
        other = getattr(model.fit(lam=np.exp(trial)), criterion)
        assert other >= value - 1e-9 * abs(value)


def test_unknown_scale_rejects_ubre_and_points_to_gcv_or_reml():
    model = _model(GAMMA_LOG)
    with pytest.raises(ValueError, match=r"known scale.*gcv"):
        model.fit(lam="ubre")


# ------------------------------------------------------------------ LOOCV
def test_glm_loocv_against_brute_force_refits_and_a_general_optimizer():
    from priorreg.multi_loo import loo_deviance

    y, X, Ps, priors = _problem(POISSON, n=80, seed=8)
    model = pr.PriorGLM(y, X, family=POISSON, penalty=Ps, prior=priors)
    comps = model.penalty_components
    res = model.fit(lam="loocv")
    lams = np.asarray(res.lam)
    # the selection's criterion is the single-penalty one of the fixed-lam fit
    # (the combined penalty): both at converged fits, tol 1e-8 -> 1e-7, 10x margin
    fixed = model.fit(lam=lams, tol=1e-12)
    assert loo_deviance(model, comps, lams, np.asarray(fixed.params)) == pytest.approx(
        fixed.loocv, rel=1e-10  # the same estimate: eps cond(A) ~ 1e-13
    )
    assert res.loocv == pytest.approx(fixed.loocv, rel=1e-7)

    # brute force: n refits without row i, each predicting its row
    devs = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        fit_i = pr.PriorGLM(y[keep], X[keep], family=POISSON, penalty=Ps, prior=priors).fit(
            lam=lams, tol=1e-12
        )
        mu_i = np.exp(X[i] @ np.asarray(fit_i.params))
        devs.append(POISSON.deviance(np.array([y[i]]), np.array([mu_i])))
    W = np.exp(X @ np.asarray(fixed.params))
    A = X.T @ (W[:, None] * X) + sum(lam * P for lam, P in zip(lams, Ps, strict=True))
    h = W * np.einsum("ij,ij->i", X, np.linalg.solve(A, X.T).T)
    # one Newton step from the full fit: error O(h_ii) relative per row; 10x max(h)^2
    assert fixed.loocv == pytest.approx(np.mean(devs), rel=10 * h.max() ** 2)

    # a general optimizer from elsewhere on the criterion of fixed-lam fits
    opt = minimize(
        lambda r: model.fit(lam=np.exp(r), tol=1e-12).loocv,
        np.log(lams) + np.array([0.5, -0.5]),
        method="Powell",
        options={"xtol": 1e-5, "ftol": 1e-12},
    )
    # Nelder-Mead stops at simplex size 1e-4 in rho: the value within c 1e-8 / 2
    # (curvature c ~ 5e-3 here) of the minimum, ~1e-11; 1e-8 relative, >10x margin
    assert res.loocv <= opt.fun * (1 + 1e-8)
    assert res.loocv == pytest.approx(opt.fun, rel=1e-8)


# --------------------------------------------------- unconditional covariance
def test_glm_unconditional_covariance_from_refits():
    model = _model(POISSON, n=200, seed=21)
    res = model.fit(lam="reml", cov_type="unconditional")
    rho = np.log(np.asarray(res.lam))
    base = model.fit(lam=np.exp(rho), tol=1e-12)
    h = 1e-4
    J = np.zeros((6, 2))
    for j in range(2):
        e = np.eye(2)[j] * h
        up = model.fit(lam=np.exp(rho + e), tol=1e-12).params
        down = model.fit(lam=np.exp(rho - e), tol=1e-12).params
        J[:, j] = (np.asarray(up) - np.asarray(down)) / (2 * h)
    # the REML Hessian from second differences of fixed-lam fits' res.reml
    # (the single-penalty Laplace REML of the combined penalty)
    H = np.zeros((2, 2))
    g = 1e-3
    for j in range(2):
        for k in range(2):
            ej, ek = np.eye(2)[j] * g, np.eye(2)[k] * g
            v = [
                model.fit(lam=np.exp(rho + a * ej + b * ek), tol=1e-12).reml
                for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            H[j, k] = (v[0] - v[1] - v[2] + v[3]) / (4 * g * g)
    expected = base.cov_params() + J @ np.linalg.inv(H) @ J.T
    # J: truncation h^2 ~ 1e-8, IRLS at tol 1e-12 / h ~ 1e-8; H: truncation
    # g^2 ~ 1e-6, rounding 1e-14 |V| / g^2 ~ 1e-6 relative: 1e-4 is 10x+
    np.testing.assert_allclose(
        res.cov_params(), expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max()
    )
    assert np.all(np.asarray(res.bse) >= np.asarray(base.bse))


def test_a_lam_run_to_infinity_is_held_and_the_other_still_minimises():
    # logit, n = 100: the data barely move the first component off its prior
    y, X, Ps, priors = _problem(LOGIT, n=100, seed=11)
    model = pr.PriorGLM(y, X, family=LOGIT, penalty=Ps, prior=priors)
    with pytest.warns(pr.LamOnEdgeWarning, match="penalty 1"):
        res = model.fit(lam="reml")
    lam = np.asarray(res.lam)
    assert lam[0] > 1e8  # at "infinity": the criterion is flat in it
    assert res._results.selection.converged

    def oracle(r):
        return _dense_reml(LOGIT, y, X, Ps, priors, r, True)

    # Nelder-Mead on the dense oracle from far inside, towards the old stop
    best = minimize(
        oracle, np.log(lam) + np.array([-12.0, 1.0]), method="Nelder-Mead",
        options={"xatol": 1e-5, "fatol": 1e-11, "maxiter": 1000},
    )
    # the oracle's own accuracy is 1e-9 relative (test above)
    assert res.reml <= best.fun + 1e-9 * abs(best.fun)
    # the interior lam: the oracle minimised over it with the first held at
    # 1e8 (already "infinity": the first component's coefficients sit at
    # their prior to ~1e-8; far beyond, the oracle's BFGS fit loses accuracy)
    inner = minimize_scalar(lambda t: oracle(np.array([np.log(1e8), t])),
                            bracket=(np.log(lam[1]) - 1, np.log(lam[1]) + 1), tol=1e-10)
    assert res.reml <= inner.fun + 1e-9 * abs(inner.fun)
    # a minimum of curvature ~1: value error 1e-9 |V| ~ 1e-7 -> rho within 5e-4;
    # holding lam_1 at 1e8 instead of its optimum moves rho_2 by O(1/lam_1 n)
    assert np.log(lam[1]) == pytest.approx(inner.x, abs=5e-3)


def _weighted_models():
    """Exposure, binomial trials, frequency weights and a canonical Gamma."""
    rng = np.random.default_rng(5)
    _, X, Ps, priors = _problem(POISSON, n=150, seed=4)
    n = X.shape[0]
    eta = 0.2 + 0.4 * X[:, 1]
    expo = rng.uniform(0.5, 2, n)
    trials = rng.integers(1, 6, n).astype(float)
    succ = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta)))
    gamma_priors = [np.r_[1.0, 0.01 * p[1:]] for p in priors]  # inverse link: eta > 0
    return {
        "poisson exposure": pr.PriorGLM(
            rng.poisson(expo * np.exp(eta)).astype(float), X, family=POISSON, exposure=expo,
            penalty=Ps, prior=priors,
        ),
        "binomial trials": pr.PriorGLM(
            succ / trials, X, family=LOGIT, var_weights=trials, penalty=Ps, prior=priors
        ),
        "poisson freq_weights": pr.PriorGLM(
            rng.poisson(np.exp(eta)).astype(float), X, family=POISSON,
            freq_weights=rng.integers(1, 3, n).astype(float), penalty=Ps, prior=priors,
        ),
        "gamma inverse": pr.PriorGLM(
            rng.gamma(3.0, 1 / (1.0 + 0.1 * X[:, 1]) / 3.0), X, family=sm.families.Gamma(),
            penalty=Ps, prior=gamma_priors,
        ),
    }


@pytest.mark.parametrize(
    ("case", "criterion", "scale"),
    [
        ("poisson exposure", "reml", 1.0),
        ("binomial trials", "reml", 1.0),
        ("binomial trials", "gcv", None),
        ("poisson freq_weights", "reml", 1.0),
        ("gamma inverse", "reml", None),
    ],
)
def test_outer_derivatives_with_weights_and_offsets(case, criterion, scale):
    model = _weighted_models()[case]
    comps = model.penalty_components
    rho = np.array([0.5, -0.7])
    fixed = model.fit(lam=np.exp(rho), tol=1e-12)
    start = np.asarray(fixed.params)

    def at(r):
        return _evaluate(model, comps, r, criterion, scale, start, 80, 0.0)

    point = at(rho)
    # the value is the fixed-lam fit's criterion (single-penalty code path):
    # both at converged fits to 1e-12, criterion rounding ~1e-14 |V|
    assert point.value == pytest.approx(getattr(fixed, criterion), rel=1e-10)
    h = 1e-3
    fd_g, fd_h = np.zeros(2), np.zeros((2, 2))
    for j in range(2):
        e = np.eye(2)[j] * h
        up, dn = at(rho + e), at(rho - e)
        fd_g[j] = (up.value - dn.value) / (2 * h)
        fd_h[j] = (up.grad - dn.grad) / (2 * h)
    # as in the test above: truncation ~1e-6 of the largest entry: 1e-5
    np.testing.assert_allclose(point.grad, fd_g, rtol=1e-5, atol=1e-5 * np.abs(fd_g).max())
    np.testing.assert_allclose(point.hess, fd_h, rtol=1e-5, atol=1e-5 * np.abs(fd_h).max())
