"""The partition's working factor (priorreg.outofcore.working): Gram route, Householder fallback.

Oracles: the dense Gram matrix ``A'A`` of the weighted working problem and
numpy's least-squares solution (SVD) of the dense ``min ||A_X b - a_t||``;
the route actually taken is observed by counting the Householder chunk
factorizations (``_qr_r``). A Dask fit whose every partition takes the Gram
route runs the in-memory fit's iterations (one pass each) and ends at the
same optimum (statsmodels' score and Hessian: the Newton step there).
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, cond, lstsq_rtol

import priorreg as pr
from priorreg.outofcore import passes as _passes
from priorreg.outofcore import working as _working
from priorreg.outofcore.working import WorkingFactor

N = 2 * _passes._QR_ROWS + 77


def _factor(X, t, sw, monkeypatch):
    """``R`` of ``diag(sw) [X, t]`` through :class:`WorkingFactor`, and the Householder calls."""
    n, k = X.shape
    columns = tuple(X[:, j].copy() for j in range(k))
    calls = []
    original = _working._qr_r

    def counting(a):
        calls.append(a.shape)
        return original(a)

    monkeypatch.setattr(_working, "_qr_r", counting)
    def weighted():  # as glm_point weighs a chunk
        for rows, a in _passes._chunks(columns, t, n=n):
            a *= sw[rows, None]
            yield rows, a

    work = WorkingFactor(k + 1)
    for _, a in weighted():
        work.add(a)
    return work.factor(weighted(), n), calls


def _problem(rng, n=N, k=5):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) + 2.0])  # uncentred
    t = X @ rng.normal(size=k) + rng.normal(size=n)
    sw = np.sqrt(rng.uniform(0.2, 3.0, n))
    return X, t, sw


def _gram_bound(A):
    # |fl(A'A) - A'A| <= n eps |A|'|A| (sums of n products); Cholesky of the
    # computed G: R'R = G + E, |E| <= (p + 1) eps |R'||R|, |R'||R| <= p ||A||_F^2
    # (Higham Thm 10.3); both <= (n + p^2) eps ||A||_F^2; 10x margin
    n, p = A.shape
    return MARGIN * (n + p * p) * EPS * np.linalg.norm(A) ** 2


def test_well_conditioned_partition_takes_the_gram_route(monkeypatch):
    X, t, sw = _problem(np.random.default_rng(1))
    R, calls = _factor(X, t, sw, monkeypatch)
    assert calls == []  # no Householder QR: syrk and one small Cholesky
    A = sw[:, None] * np.column_stack([X, t])
    assert np.allclose(R, np.triu(R), rtol=0, atol=0)
    assert np.max(np.abs(R.T @ R - A.T @ A)) <= _gram_bound(A)
    # the least-squares solution from R against numpy's SVD solution of the
    # dense problem: normal equations lose eps cond(A_X)^2 (Higham 20.4),
    # p eps cond^2 per solve; plus the QR-class bound of the oracle
    k = X.shape[1]
    coef = np.linalg.solve(R[:k, :k], R[:k, k])
    ref = np.linalg.lstsq(A[:, :k], A[:, k], rcond=None)[0]
    resid = A[:, k] - A[:, :k] @ ref
    rtol = MARGIN * N * (k + 1) * EPS * cond(A[:, :k]) ** 2 + lstsq_rtol(A[:, :k], ref, resid)
    assert np.linalg.norm(coef - ref) <= rtol * np.linalg.norm(ref)
    # the residual: R[k, k]^2 is the residual sum of squares, G_tt - r'r;
    # absolute error <= the Gram bound (its (k, k) entry)
    assert abs(R[k, k] ** 2 - resid @ resid) <= _gram_bound(A)


def _householder_bound(A):
    # Householder QR of row chunks, then stacked: R'R = (A + dA)'(A + dA),
    # ||dA||_F <= p n eps ||A||_F, so |R'R - A'A| <= 3 p n eps ||A||_F^2; 10x margin
    n, p = A.shape
    return MARGIN * 3 * p * n * EPS * np.linalg.norm(A) ** 2


@pytest.mark.parametrize("case", ["collinear", "zero-column", "exact-fit", "few-rows"])
def test_ill_conditioned_partition_falls_back_to_householder(case, monkeypatch):
    rng = np.random.default_rng(2)
    X, t, sw = _problem(rng)
    if case == "collinear":  # cond(A) ~ 1e5, so rcond(D A'A D) ~ 1e-10 < 1e-6;
        # an almost exact fit, so that the QR-class bound below is small
        X[:, 2] = X[:, 1] + 1e-4 * rng.normal(size=N)
        t = X @ rng.normal(size=X.shape[1]) + 1e-6 * rng.normal(size=N)
    elif case == "zero-column":  # a dummy absent from the partition
        X[:, 3] = 0.0
    elif case == "exact-fit":  # t in the span of X: [X, t] singular
        t = X @ rng.normal(size=X.shape[1])
    else:
        X, t, sw = X[:3], t[:3], sw[:3]
    R, calls = _factor(X, t, sw, monkeypatch)
    n = X.shape[0]
    assert len(calls) == -(-n // _passes._QR_ROWS)  # every chunk once, then the stacking
    A = sw[:, None] * np.column_stack([X, t])
    assert R.shape == (min(n, A.shape[1]), A.shape[1])
    assert np.max(np.abs(R.T @ R - A.T @ A)) <= _householder_bound(A)
    if case == "collinear":  # a QR-class solution, not the squared condition number
        k = X.shape[1]
        coef = np.linalg.solve(R[:k, :k], R[:k, k])
        ref = np.linalg.lstsq(A[:, :k], A[:, k], rcond=None)[0]
        resid = A[:, k] - A[:, :k] @ ref
        rtol = lstsq_rtol(A[:, :k], ref, resid)
        assert rtol < 1e-3  # the bound says something
        assert np.linalg.norm(coef - ref) <= rtol * np.linalg.norm(ref)


def test_dask_fit_on_the_gram_route_is_the_memory_fit(monkeypatch):
    from bounds import glm_newton_step

    rng = np.random.default_rng(7)
    n = 3 * _passes._QR_ROWS
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n) + 2.0})
    eta = -0.3 + 0.8 * df["x1"] - 0.4 * df["x2"]
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    X = df[["x1", "x2"]].assign(const=1.0)
    fam = sm.families.Binomial()
    memory = pr.PriorGLM(df["y"], X, family=fam)
    dX, dy = (dd.from_pandas(v, npartitions=3, sort=False) for v in (X, df["y"]))
    lazy = pr.PriorGLM(dy, dX, family=fam)

    def refuse(a):
        raise AssertionError("a well-conditioned partition took the Householder route")

    monkeypatch.setattr(_working, "_qr_r", refuse)
    with dask.config.set(scheduler="sync"):
        res = lazy.fit(lam=2.0)
    ref = memory.fit(lam=2.0)
    # the same loop: as many iterations, one pass each, + the start
    assert res.converged
    assert res.iterations == ref.iterations
    assert res.model.passes == res.iterations + 1
    # both at the penalized MLE: within 10x the Newton steps statsmodels'
    # score and Hessian give from each estimate
    kw = {"lam": 2.0, "L": memory.penalty_matrix, "b0": memory.prior_values}
    radius = sum(
        float(np.linalg.norm(glm_newton_step(fam, memory.exog, memory.endog, b, **kw)[0]))
        for b in (np.asarray(res.params), np.asarray(ref.params))
    )
    assert np.linalg.norm(np.asarray(res.params) - np.asarray(ref.params)) <= MARGIN * radius
