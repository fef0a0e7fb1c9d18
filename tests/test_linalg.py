"""The kernel against dense oracles: three routes, edf, leverages, covariance, REML.

Tolerances: the kernel and the dense solves are both backward stable, so
they agree within solve_rtol(A) (2 k eps cond(A), x 10; tests/bounds.py),
A = X'WX + lam L computed for each problem and lam; what is built from the
solution inherits that bound as stated at each check.
"""

from __future__ import annotations

import numpy as np
import pytest
from bounds import EPS, MARGIN, cond, solve_rtol
from conftest import augmented_ols, dense_solution, random_problem
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from priorreg.linalg import SingularSystemError, factorize

KINDS = ["default", "dense", "difference", "pd"]
SHAPES = [(60, 5), (25, 8), (9, 14)]  # tall, moderately tall, more coefficients than rows
LAMS = [0.0, 0.05, 3.0, 400.0]


def _setup(rng, n, k, kind):
    X, y, b0, w, offset, L = random_problem(rng, n, k, kind=kind, intercept=kind != "pd")
    z = y - offset - X @ b0
    intercept = None if kind == "pd" else 0
    return X, y, b0, w, offset, L, z, factorize(X, z, L, w, intercept)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_three_routes_agree(rng, kind, n, k):
    X, y, b0, w, offset, L, z, fac = _setup(rng, n, k, kind)
    for lam in LAMS:
        if n <= k and lam == 0:
            continue
        b_closed, _ = dense_solution(X, y - offset, L, w, lam)
        b_closed = np.linalg.solve(
            X.T @ (w[:, None] * X) + lam * L, X.T @ (w * (y - offset)) + lam * L @ b0
        )
        delta_resid, _ = dense_solution(X, z, L, w, lam)  # residual route
        b_aug = augmented_ols(X, y, L, w, lam, b0, offset)
        b_kernel = b0 + fac.coef(lam)
        # each route solves A d = c backward stably (the QR ones with the
        # smaller cond([W^1/2 X; sqrt(lam) R]) = sqrt(cond(A))): solve_rtol(A)
        # of the largest vector involved (b, b0 or d), normwise
        tol = solve_rtol(X.T @ (w[:, None] * X) + lam * L)
        scale = max(np.max(np.abs(b_closed)), np.max(np.abs(b0)) + np.max(np.abs(delta_resid)))
        np.testing.assert_allclose(b_kernel, b_closed, rtol=0, atol=tol * scale)
        np.testing.assert_allclose(b0 + delta_resid, b_closed, rtol=0, atol=tol * scale)
        np.testing.assert_allclose(b_aug, b_closed, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_edf_leverage_rss_cov_against_dense_hat_matrix(rng, kind, n, k):
    X, _, _, w, _, L, z, fac = _setup(rng, n, k, kind)
    for lam in LAMS:
        if n <= k and lam == 0:
            continue
        delta, A = dense_solution(X, z, L, w, lam)
        Ainv = np.linalg.inv(A)
        H = X @ Ainv @ X.T @ np.diag(w)
        r = z - X @ delta
        tol = solve_rtol(A)
        # tr(H) and h_ii: entries of A^-1 X'WX (eigenvalues in [0, 1]), k of
        # them summed: absolute error <= k tol
        assert fac.edf(lam) == pytest.approx(np.trace(H), abs=k * tol)
        np.testing.assert_allclose(fac.leverage(lam), np.diag(H), rtol=0, atol=tol)
        # residuals: W^1/2 X d within tol ||W^1/2 X|| ||d||; rss = |r|^2: twice
        sw = np.sqrt(w)
        r_err = tol * np.linalg.norm(sw[:, None] * X, 2) * np.linalg.norm(delta)
        rss = np.sum(w * r**2)
        assert fac.rss(lam) == pytest.approx(rss, abs=2 * r_err * np.sqrt(rss) + r_err**2)
        # d'L d: 2 ||L d|| ||dd||
        pen_err = 2 * np.linalg.norm(L @ delta) * tol * np.linalg.norm(delta)
        assert fac.penalty_norm(lam) == pytest.approx(delta @ L @ delta, abs=pen_err + EPS)
        K = fac.cov_factor(lam)
        # ||d A^-1|| <= tol ||A^-1||, and ||A^-1|| <= k max |entry|
        np.testing.assert_allclose(K @ K.T, Ainv, rtol=0, atol=k * tol * np.abs(Ainv).max())
        np.testing.assert_allclose(
            fac.weighted_resid(z * sw, lam), sw * r, rtol=0, atol=r_err + tol * np.abs(sw * z).max()
        )


def test_vectorized_path_equals_scalar_calls(rng):
    *_, fac = _setup(rng, 40, 6, "dense")
    lams = np.logspace(-3, 3, 7)
    # the same terms summed in another order (a matrix product against one
    # vector per lam): sums of at most n = 40 same-sign terms, n eps (x 10)
    rtol = MARGIN * 40 * EPS
    np.testing.assert_allclose(fac.edf(lams), [fac.edf(v) for v in lams], rtol=rtol)
    np.testing.assert_allclose(fac.rss(lams), [fac.rss(v) for v in lams], rtol=rtol)
    np.testing.assert_allclose(fac.reml(lams), [fac.reml(v) for v in lams], rtol=rtol)
    lev = fac.leverage(lams)
    for j, v in enumerate(lams):
        np.testing.assert_allclose(lev[:, j], fac.leverage(v), rtol=rtol)


def dense_reml(X, z, L, w, lam):
    """Negative restricted log-likelihood by direct dense evaluation.

    z ~ N(X N a, s2 (W^-1 + X (lam L)^+ X')) with N an orthonormal basis of
    null(L), flat prior on a (Harville's REML); s2 profiled numerically.
    """
    evals, evecs = np.linalg.eigh(L)
    tol = evals.max() * L.shape[0] * 1e-13
    N = evecs[:, evals <= tol]
    Lplus = np.linalg.pinv(L, hermitian=True)
    V = np.diag(1 / w) + X @ (Lplus / lam) @ X.T
    Vinv = np.linalg.inv(V)
    X0 = X @ N
    k0 = X0.shape[1]
    n = len(z)
    if k0:
        C = X0.T @ Vinv @ X0
        P = Vinv - Vinv @ X0 @ np.linalg.solve(C, X0.T @ Vinv)
        logdet_c = np.linalg.slogdet(C)[1]
    else:
        P, logdet_c = Vinv, 0.0
    quad = z @ P @ z
    logdet_v = np.linalg.slogdet(V)[1]

    def neg(log_s2):
        s2 = np.exp(log_s2)
        return 0.5 * (
            (n - k0) * np.log(2 * np.pi)
            + n * log_s2
            + logdet_v
            - k0 * log_s2
            + logdet_c
            + quad / s2
        )

    guess = np.log(quad / (n - k0))
    return minimize_scalar(neg, bracket=(guess - 1, guess + 1), tol=1e-12).fun, V


def dense_reml_bound(V, value):
    """What rounding can change in dense_reml: log det V within n cond(V) eps (per
    log-det, Higham 14.4), the profile over s2 (Brent, ~sqrt(eps) in log s2 at a
    quadratic minimum: ~n eps), sums n eps |value|; 10x margin."""
    n = V.shape[0]
    return MARGIN * (n * cond(V) * EPS + n * EPS * (1 + abs(value)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), [(30, 5), (12, 7)])
def test_reml_equals_dense_marginal_likelihood(rng, kind, n, k):
    X, _, _, w, _, L, z, fac = _setup(rng, n, k, kind)
    for lam in [0.01, 1.0, 50.0]:
        value, V = dense_reml(X, z, L, w, lam)
        # the kernel's log-dets (k eps cond(A) each) and its quadratic form
        # (relative 2 tol, times n/2 in n/2 log(quad)); 10x margin
        A = X.T @ (w[:, None] * X) + lam * L
        kernel = MARGIN * k * cond(A) * EPS + n * solve_rtol(A)
        assert fac.reml(lam) == pytest.approx(value, abs=dense_reml_bound(V, value) + kernel)


def test_collinear_unpenalized_columns_raise(rng):
    X = np.column_stack([np.ones(20), rng.normal(size=(20, 2))])
    X = np.column_stack([X[:, :2], 2 * X[:, 1], X[:, 2]])
    L = np.diag([0.0, 0.0, 0.0, 1.0])
    with pytest.raises(SingularSystemError, match="unpenalized columns are collinear"):
        factorize(X, rng.normal(size=20), L, None, 0)


def test_lam_zero_with_unidentified_coefficients_raises(rng):
    X = rng.normal(size=(5, 8))
    fac = factorize(X, rng.normal(size=5), np.eye(8))
    with pytest.raises(SingularSystemError, match="lam > 0"):
        fac.coef(0.0)
    assert np.all(np.isfinite(fac.coef(1.0)))


def test_ill_conditioned_design_uses_stable_path_and_stays_accurate(rng):
    # columns scaled 1e-8 .. 1e8 and nearly collinear: the whole path stays finite
    n = 50
    base = rng.normal(size=n)
    X = np.column_stack([np.ones(n), base * 1e-8, (base + 1e-7 * rng.normal(size=n)) * 1e8])
    z = rng.normal(size=n)
    L = np.diag([0.0, 1.0, 1.0])
    fac = factorize(X, z, L, None, 0)
    lams = np.logspace(-45, 30, 76)  # the columns span 16 orders of magnitude
    edf = fac.edf(lams)
    assert np.all(np.isfinite(edf))
    # edf = sum of k shrinkage factors d / (d + lam) in [0, 1]: each decreasing
    # in lam exactly, each rounded to eps: the sum may rise by k eps (x 10)
    assert np.all(np.diff(edf) <= MARGIN * 3 * EPS)
    # the near-collinear direction has singular value 7e-15 (1e-23 of the
    # largest) but the column-scaled design has condition 1e7: the data
    # identify it, and the Jacobi SVD resolves it to relative accuracy
    # (eps cond(X D) ~ 1e-9 relative per singular value, so ~1e-9 per
    # shrinkage factor at the ends of the grid, where each factor is within
    # lam / d^2 (or d^2 / lam) of 1 (or 0), < 1e-8 here): 1e-6 is > 10x both
    assert edf[0] == pytest.approx(3.0, abs=1e-6)
    assert edf[-1] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.isfinite(fac.coef(1e-10)))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 40),
    k=st.integers(2, 12),
    kind=st.sampled_from(KINDS),
    log_lam=st.floats(-4, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_routes_and_edf_bounds(n, k, kind, log_lam, seed):
    rng = np.random.default_rng(seed)
    X, y, b0, w, offset, L, _, fac = _setup(rng, n, k, kind)
    lam = 10.0**log_lam
    b_aug = augmented_ols(X, y, L, w, lam, b0, offset)
    b_kernel = b0 + fac.coef(lam)
    # both backward stable: solve_rtol(A) of the problem drawn (x 10), normwise
    A = X.T @ (w[:, None] * X) + lam * L
    tol = solve_rtol(A)
    scale = np.abs(b_aug).max() + np.abs(b0).max()
    np.testing.assert_allclose(b_kernel, b_aug, rtol=0, atol=tol * scale)
    # edf and leverages are eigenvalue sums / entries in [0, k] and [0, 1]:
    # absolute error <= k tol at each lam (tol of the smallest lam, the worst)
    A_small = X.T @ (w[:, None] * X) + lam / 10 * L
    slack = k * solve_rtol(A_small)
    edf = fac.edf(np.array([lam / 10, lam, lam * 10]))
    assert fac.n_unpen - slack <= edf[1] <= min(n, k) + slack
    assert edf[0] >= edf[1] - slack >= edf[2] - 2 * slack
    lev = fac.leverage(lam)
    assert np.all(lev >= -slack)
    assert np.all(lev <= 1 + slack)


def test_gram_of_the_caller_data_is_centred_without_a_copy(rng):
    # the Gram matrix is formed from row blocks of the caller's X, shifted by
    # a sample mean and centred algebraically: no copy of X, whatever the
    # column means; the factor still matches the dense solve
    n, k = 300, 6
    L = np.diag([0.0] + [1.0] * (k - 1))
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) + rng.uniform(-2, 2, k - 1)])
    z = X @ rng.normal(size=k) + rng.normal(size=n)
    fac = factorize(X, z, L, None, 0)
    assert fac.method == "cholesky"
    assert fac._row_basis_inputs[0].A is X
    for lam in (0.0, 2.0, 300.0):
        delta, A = dense_solution(X, z, L, np.ones(n), lam)
        # two backward-stable solves (solve_rtol, x 10), normwise
        tol = solve_rtol(A)
        np.testing.assert_allclose(fac.coef(lam), delta, rtol=0, atol=tol * np.abs(delta).max())
        H = X @ np.linalg.solve(A, X.T)
        np.testing.assert_allclose(fac.leverage(lam), np.diag(H), rtol=0, atol=tol)  # in [0, 1]
    # means 1e4 standard deviations: centring the raw Gram matrix would cost
    # eps * 1e8; the shift removes the means before the product (and before
    # the row products of the leverages), so no copy is made and the
    # estimate keeps its digits
    X[:, 1:] += 1e4
    fac = factorize(X, z, L, None, 0)
    assert fac._row_basis_inputs[0].A is X
    Xc = X - np.r_[0.0, X[:, 1:].mean(axis=0)]  # exact centring, rounding 1e-12
    delta_c, _ = dense_solution(Xc, z, L, np.ones(n), 2.0)
    slopes = fac.coef(2.0)[1:]
    # the centred problem's solve (solve_rtol of its A, x 10) plus the
    # centring: the means carry n eps 1e4 absolute, moving the slopes by
    # ||A^-1 Xc'|| times that shift of the columns
    _, A_c = dense_solution(Xc, z, L, np.ones(n), 2.0)
    shift = MARGIN * n * EPS * 1e4 * np.sqrt(n)
    gain = np.linalg.norm(np.linalg.solve(A_c, Xc.T), 2)
    gain *= np.linalg.norm(z) + np.linalg.norm(Xc @ delta_c)
    tol = solve_rtol(A_c) * np.abs(delta_c).max() + shift * gain / np.sqrt(n)
    np.testing.assert_allclose(slopes, delta_c[1:], rtol=0, atol=tol)
    # leverages (in [0, 1]): the solve, plus rows shifted with rounding
    # eps 1e4 per entry on unit-scale entries, k of them per row (x 10)
    H = Xc @ np.linalg.solve(A_c, Xc.T)
    tol = solve_rtol(A_c) + MARGIN * k * EPS * 1e4
    np.testing.assert_allclose(fac.leverage(2.0), np.diag(H), rtol=0, atol=tol)


@pytest.mark.parametrize(("n", "k", "weighted"), [(500, 7, False), (500, 7, True), (9, 14, False)])
def test_row_blocks_equal_the_row_basis(rng, n, k, weighted):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    fac = factorize(X, rng.normal(size=n), np.diag([0.0] + [1.0] * (k - 1)), w, 0)
    for _ in range(2):  # computed from the data, then read from the cache
        right = rng.normal(size=(fac.d.size, 3))
        blocks = [[np.copy(part) for part in b] for b in fac.row_blocks(block=128, right=right)]
        h0, Bu, fit0 = fac.row_basis
        # the same rows times the same matrices, blocked differently: each
        # entry a k-term dot product, rounding k eps sum |terms| (x 10); the
        # basis rows have norm <= 1 (leverages), so |terms| <= |right| per row
        def bound(M):
            return MARGIN * k * EPS * np.abs(M).max()

        np.testing.assert_allclose(
            np.vstack([b[4] for b in blocks]), Bu @ right, rtol=0, atol=bound(right) * k
        )
        squares = [np.copy(b[2]) for b in fac.row_blocks(block=128, squared=True)]
        np.testing.assert_allclose(np.vstack(squares), Bu**2, rtol=0, atol=bound(Bu))
        np.testing.assert_allclose(
            np.concatenate([b[1] for b in blocks]), h0, rtol=0, atol=bound(np.ones(1))
        )
        np.testing.assert_allclose(np.vstack([b[2] for b in blocks]), Bu, rtol=0, atol=bound(Bu))
        np.testing.assert_allclose(
            np.concatenate([b[3] for b in blocks]), fit0, rtol=0, atol=bound(fit0) * k
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_cov_times_and_diagonal_equal_the_dense_inverse(rng, kind, n, k):
    # the structured products (no k x k matrix) against a dense inverse:
    # both within solve_rtol(A) of A^-1 normwise (x 10); a diagonal entry of
    # A^-1 is >= 1 / lambda_max(A), so relative to it cond(A) times that
    X, _, _, w, _, L, z, fac = _setup(rng, n, k, kind)
    Y = rng.normal(size=(k, 3))
    for lam in LAMS:
        if n <= k and lam == 0:
            continue
        _, A = dense_solution(X, z, L, w, lam)
        Ainv = np.linalg.inv(A)
        norm_inv = np.linalg.norm(Ainv, 2)
        tol = solve_rtol(A) * norm_inv
        np.testing.assert_allclose(
            fac.cov_times(lam, Y), Ainv @ Y, rtol=0, atol=tol * np.linalg.norm(Y, 2)
        )
        np.testing.assert_allclose(
            fac.cov_times(lam, Y[:, 0]), Ainv @ Y[:, 0], rtol=0, atol=tol * np.linalg.norm(Y[:, 0])
        )
        np.testing.assert_allclose(fac.cov_diagonal(lam), np.diag(Ainv), rtol=0, atol=tol)


@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_diagonal_penalty_given_as_its_diagonal_is_the_same_problem(rng, n, k):
    X, _, _, w, _, L, z, fac = _setup(rng, n, k, "default")
    by_diagonal = factorize(X, z, np.diagonal(L).copy(), w, 0)
    for lam in (0.05, 3.0):
        # one problem, the penalty stored two ways: at worst two backward-
        # stable factorizations of it (solve_rtol, x 10)
        A = X.T @ (w[:, None] * X) + lam * L
        tol = solve_rtol(A)
        coef = fac.coef(lam)
        atol = tol * np.abs(coef).max()
        np.testing.assert_allclose(by_diagonal.coef(lam), coef, rtol=0, atol=atol)
        assert by_diagonal.edf(lam) == pytest.approx(fac.edf(lam), abs=k * tol)
        assert by_diagonal.reml(lam) == pytest.approx(fac.reml(lam), abs=n * tol + k * tol)
        cov = fac.cov_diagonal(lam)
        atol = tol * np.linalg.norm(np.linalg.inv(A), 2)
        np.testing.assert_allclose(by_diagonal.cov_diagonal(lam), cov, rtol=0, atol=atol)


def test_triangular_factor_of_fewer_rows_than_columns(rng):
    # QR of 4 rows and 7 columns gives a 4 x 7 "R": the missing rows are zeros
    from priorreg.linalg import factorize_triangular

    X = np.column_stack([np.ones(4), rng.normal(size=(4, 5))])
    z = rng.normal(size=4)
    L = np.diag([0.0] + [1.0] * 5)
    R = np.linalg.qr(np.column_stack([X, z]), mode="r")
    assert R.shape == (4, 7)
    short = factorize_triangular(R, L, 4, intercept=0)
    for lam in (0.3, 30.0):
        delta, A = dense_solution(X, z, L, np.ones(4), lam)
        atol = solve_rtol(A) * np.abs(delta).max()  # two backward-stable solves, x 10
        np.testing.assert_allclose(short.coef(lam), delta, rtol=0, atol=atol)
