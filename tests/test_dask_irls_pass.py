"""One Dask IRLS pass (priorreg.outofcore.irls_pass) against dense oracles.

Oracles: statsmodels' family functions (``weights``, ``link.deriv``,
``deviance``, ``loglike``) on the whole arrays, and the dense weighted design
``[W^1/2 X, W^1/2 (z - X b0)]`` whose Gram matrix the pass's Householder
factor must reproduce; the log-likelihood of a converged Dask fit (taken from
the deviance and a constant measured in the fit's first pass) against
statsmodels' log-likelihood at that fit's own means.
"""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN

import priorreg as pr
from priorreg import families as _families
from priorreg.outofcore import passes as _passes
from priorreg.outofcore.irls_pass import Asks, PointSpec, glm_point, unit_working
from priorreg.outofcore.passes import _Block

F = sm.families
L = sm.families.links


pytestmark = pytest.mark.usefixtures("synchronous")  # tests/conftest.py


CASES = [
    ("poisson-log", F.Poisson()),
    ("logit", F.Binomial()),
    ("gaussian-identity", F.Gaussian()),
    ("poisson-sqrt", F.Poisson(L.Sqrt())),
    ("gamma-log", F.Gamma(L.Log())),
    ("probit", F.Binomial(L.Probit())),  # a subclass of the Logit link in statsmodels
    ("cloglog", F.Binomial(L.CLogLog())),
]


def _means(family, rng, n):
    if isinstance(family, F.Binomial):  # including means at the clipping of statsmodels
        return np.concatenate([rng.uniform(0.01, 0.99, n - 4), [1e-20, 1e-17, 1 - 1e-17, 1.0]])
    if isinstance(family, F.Gaussian):
        return rng.normal(size=n)
    return rng.uniform(0.05, 20.0, n)


@pytest.mark.parametrize(("name", "family"), CASES, ids=[c[0] for c in CASES])
def test_unit_working_is_statsmodels(name, family):
    from priorreg.canonical import canonical_pair

    mu = _means(family, np.random.default_rng(3), 500)
    w, gprime = unit_working(family, mu, canonical_pair(family))
    # each side is a few (<= 6) correctly rounded operations on the same mu:
    # relative difference <= 12 eps; 10x margin
    rtol = MARGIN * 12 * EPS
    np.testing.assert_allclose(np.broadcast_to(w, mu.shape), family.weights(mu), rtol=rtol)
    np.testing.assert_allclose(
        np.broadcast_to(gprime, mu.shape), family.link.deriv(mu), rtol=rtol
    )


def _block_data(family, n=3 * _passes._QR_ROWS + 57, k=4, seed=5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    b = np.concatenate([[0.3], rng.normal(scale=0.2, size=k - 1)])
    eta = X @ b
    if isinstance(family, F.Binomial):
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    elif isinstance(family, F.Poisson):
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    offset = rng.normal(scale=0.1, size=n)
    var_w = rng.uniform(0.5, 2.0, n)
    return X, y, offset, var_w


@pytest.mark.parametrize(
    ("name", "family"), CASES[:3] + CASES[5:], ids=[c[0] for c in CASES[:3] + CASES[5:]]
)
@pytest.mark.parametrize("at", ["params", "start"])
def test_pass_is_the_dense_working_problem(name, family, at):
    X, y, offset, var_w = _block_data(family)
    n, k = X.shape
    columns = (1.0, *(X[:, j].copy() for j in range(1, k)))  # the coder's form
    rows = {"offset": offset}
    if not isinstance(family, F.Binomial):
        rows["var_weights"] = var_w
    block = _Block(y, rows=rows, columns=columns)
    b0 = np.array([0.0, 0.1, -0.1, 0.05])
    params = None if at == "start" else np.array([0.25, 0.15, -0.05, 0.1])
    y_mean = float(np.mean(y))
    out = glm_point(block, family, PointSpec(params, y_mean), b0, Asks(loglike=True))
    vw = rows.get("var_weights", np.ones(n))
    fw = np.ones(n)
    if params is None:  # the family's starting means (statsmodels' own formula)
        mu = family.starting_mu(y) if isinstance(family, F.Binomial) else (y + y_mean) / 2
        eta = family.link(mu)
    else:
        eta = X @ params + offset
        mu = family.link.inverse(eta)
    W = vw * family.weights(mu)
    z = (eta - offset) + family.link.deriv(mu) * (y - mu)
    A = np.column_stack([X, z - X @ b0]) * np.sqrt(W)[:, None]
    R = out["work_R"]
    # Householder QR (row chunks, then stacked) is backward stable:
    # R'R = (A + dA)'(A + dA), ||dA||_F <= k n eps ||A||_F (a pessimistic
    # constant); so |R'R - A'A| <= 3 k n eps ||A||_F^2; 10x margin
    G = A.T @ A
    bound = MARGIN * 3 * (k + 1) * n * EPS * np.linalg.norm(A) ** 2
    assert np.max(np.abs(R.T @ R - G)) <= bound
    dev = family.deviance(y, mu, var_weights=vw, freq_weights=fw, scale=1.0)
    # sums of n terms (and the terms' few roundings): n eps |terms|; 10x margin
    assert out["dev"] == pytest.approx(dev, rel=MARGIN * n * EPS)
    pearson = np.sum(vw * (y - mu) ** 2 / family.variance(mu))
    assert out["pearson"] == pytest.approx(pearson, rel=MARGIN * n * EPS)
    log_w = np.log(W)
    tol = MARGIN * n * EPS * np.sum(np.abs(log_w))
    assert out["log_w"] == pytest.approx(np.sum(log_w), abs=tol)
    if isinstance(family, (F.Poisson, F.Binomial)):
        ll = _families.loglike(family, y, mu, vw, fw, 1.0)
        assert out["ll1"] == pytest.approx(ll, rel=MARGIN * n * EPS)
    assert out["bad_w"] == 0


def test_converged_loglike_comes_from_the_deviance():
    """``ll = c - D/2``: the first pass measures ``c``; the converged point reads no ``ll1``."""
    rng = np.random.default_rng(8)
    n = 2000
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = rng.poisson(np.exp(0.3 + 0.4 * df["x1"] - 0.2 * df["x2"])).astype(float)
    df["w"] = rng.integers(1, 4, n).astype(float)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    for family, formula in [(F.Poisson(), "y ~ x1 + x2"), (F.Binomial(), "I(y > 1) ~ x1 + x2")]:
        res = pr.PriorGLM.from_formula(formula, ddf, family=family, freq_weights="w").fit(lam=2.0)
        state = res.model._state
        assert state.ll_const is not None
        last = state.points[np.asarray(res.params, dtype=float).tobytes()]
        assert "ll1" not in last.sums  # only the fit's first pass computed it
        memory = pr.PriorGLM.from_formula(formula, df, family=family, freq_weights="w")
        y = np.asarray(memory.endog_response, dtype=float)
        mu = np.asarray(res.mu.compute())
        w = df["w"].to_numpy()
        ll = _families.loglike(family, y, mu, np.ones(n), w, 1.0)
        # c and D/2 are sums of n terms each: n eps (|ll| + D) rounding; 10x margin
        tol = MARGIN * n * EPS * (abs(ll) + res.deviance)
        assert res.llf == pytest.approx(ll, abs=tol)


def test_separation_rides_on_the_first_irls_pass(monkeypatch):
    """No pass of its own: the distinct rows (many chunks per partition) reach the LP.

    ``y = a and b`` over 30,000 rows of two indicators: no single column
    separates, ``a + b`` does (Konis' programme on the 4 distinct rows);
    the in-memory check on the same rows is the oracle.
    """
    rng = np.random.default_rng(21)
    n = 30_000  # 10,000 rows per partition: 3 chunks of the pass each
    a = rng.integers(0, 2, size=n).astype(float)
    b = rng.integers(0, 2, size=n).astype(float)
    df = pd.DataFrame({"y": a * b, "a": a, "b": b})
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    calls: list[str] = []
    original = _passes._compute

    def counting(obj, progress, label):
        calls.append(label)
        return original(obj, progress, label)

    model = pr.PriorGLM.from_formula("y ~ a + b", ddf, family=F.Binomial())
    monkeypatch.setattr(_passes, "_compute", counting)
    with pytest.warns(pr.SeparationWarning) as warned:
        res = model.fit(lam=1.0)
    assert calls == [f"IRLS pass {i}" for i in range(1, res.model.passes + 1)]
    assert res.model.passes == res.iterations + 1  # the start, then one per iteration
    with pytest.warns(pr.SeparationWarning) as warned_ref:
        ref = pr.PriorGLM.from_formula("y ~ a + b", df, family=F.Binomial()).fit(lam=1.0)
    assert [str(w.message) for w in warned] == [str(w.message) for w in warned_ref]
    assert res.separation.columns == ref.separation.columns
    assert res.separation.n_rows == ref.separation.n_rows
    np.testing.assert_array_equal(res.separation.direction, ref.separation.direction)


def test_separation_counts_stop_only_where_the_screen_cannot_pass():
    """Columns still able to separate are counted in full; the others keep the facts.

    Oracle: the counts over every row, in numpy, of ``|x/scale| > tol`` on
    each side (the in-memory screen's definition).
    """
    from priorreg.outofcore.irls_pass import _SeparationCounts
    from priorreg.separation import _TOL

    rng = np.random.default_rng(31)
    n = 3 * _passes._QR_ROWS + 11
    y = (rng.uniform(size=n) < 0.4).astype(float)
    rare = np.zeros(n)
    rare[rng.choice(np.flatnonzero(y == 0), 5, replace=False)] = 1.0  # only y = 0 rows
    late = np.zeros(n)
    late[-3:] = 1.0  # non-zero only in the last chunk, on both sides
    y[-3:] = [0.0, 1.0, 0.0]
    X = np.column_stack([rng.normal(size=n), rare, np.zeros(n), late, np.ones(n)])
    side = np.where(y >= 1, 1.0, -1.0)
    scale = np.maximum(np.abs(X).max(axis=0), 1.0)
    counts = _SeparationCounts(side, scale, max_rows=1)  # no distinct rows: the screen alone
    for start in range(0, n, _passes._QR_ROWS):
        rows = slice(start, min(start + _passes._QR_ROWS, n))
        counts.add(rows, X[rows])
    got = counts.sums()
    Xs = X / scale
    nonzero = np.sum(np.abs(Xs) > _TOL, axis=0)
    upper = np.sum((np.abs(Xs) > _TOL) & (side[:, None] * Xs > 0), axis=0)
    lower = np.sum((np.abs(Xs) > _TOL) & (side[:, None] * Xs < 0), axis=0)
    full = (nonzero, upper, lower)
    part = (got["sep_nonzero"], got["sep_upper"], got["sep_lower"])
    can_pass = (upper == nonzero) | (lower == nonzero) | (upper + lower == 0)
    for f, p in zip(full, part, strict=True):
        np.testing.assert_array_equal(p[can_pass], f[can_pass])
    nz, up, lo = part
    assert np.all((up[~can_pass] < nz[~can_pass]) & (lo[~can_pass] < nz[~can_pass]))
    assert np.all(up[~can_pass] + lo[~can_pass] > 0)
    # the screen's decisions: rare separates (lower side); x, late and const do not
    assert list(can_pass) == [False, True, True, False, False]
    assert counts.live.tolist() == [1, 2]  # x and const stopped in the first chunk


def test_a_point_where_a_floor_applies_computes_its_own_loglike():
    """Binomial means beyond ``1 - 1e-16`` (loglike's clip): ``c - D/2`` would not hold."""
    from priorreg.outofcore.irls_pass import loglike_constant

    n = 200
    X = np.column_stack([np.ones(n), np.linspace(-1.0, 1.0, n)])
    y = (X[:, 1] > 0).astype(float)
    y[0] = 1.0  # a row on the wrong side: a finite deviance at any finite eta
    block = _Block(y, rows={}, columns=(1.0, X[:, 1].copy()))
    family = F.Binomial()
    b0 = np.zeros(2)
    mild = glm_point(block, family, PointSpec(np.array([0.1, 2.0])), b0, Asks())
    assert "ll1" not in mild
    assert mild["ll_floored"] == 0
    steep = np.array([0.0, 60.0])  # eta up to 60: means of exactly 1 - 2^-53 and 1
    far = glm_point(block, family, PointSpec(steep), b0, Asks())
    mu = family.link.inverse(X @ steep)
    assert far["ll_floored"] == 1
    assert far["ll1"] == _families.loglike(family, y, mu, np.ones(n), np.ones(n), 1.0)
    assert loglike_constant(family, far) is None
