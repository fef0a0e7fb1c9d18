"""The Dask GLM's leave-one-out pass, row chunk by row chunk, against a dense evaluation.

Oracle: the same criterion written out on the whole arrays with numpy, as
the in-memory :meth:`priorreg.irls.ArrayData.loo_deviance_at` defines it:
``B = W^1/2 X G``, ``h = sum_{j<k0} B_j^2 + B_{k0:}^2 phi``, the leave-one-out
predictor ``eta - e h / (1 - h)`` with the working residual ``e``, and the
frequency-weighted sum of squared deviance residuals there. The partition
spans several chunks of :data:`~priorreg.outofcore.irls_pass._PASS_ROWS` rows
(the last one partial), so a chunk left out or counted twice shows; the pass
must also allocate less than one n-length column (tracemalloc), as the IRLS
pass (tests/test_dask_pass_memory.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN
from conftest import allocated_peak

from priorreg.glm_loocv_rows import working_residual
from priorreg.outofcore.glm import _glm_loo
from priorreg.outofcore.irls_pass import _PASS_ROWS
from priorreg.outofcore.passes import _Block

F = sm.families
N = 3 * _PASS_ROWS + 77
K = 5


def _case(family, rows, n=N, seed=3):
    rng = np.random.default_rng(seed)
    columns = (1.0, *(rng.normal(size=n) for _ in range(K - 1)))
    X = np.column_stack([np.ones(n), *columns[1:]])
    params = np.array([0.3, 0.2, -0.1, 0.05, 0.0])
    offset = 0.1 * rng.normal(size=n) if rows else np.zeros(n)
    mu = family.link.inverse(X @ params + offset)
    if isinstance(family, F.Binomial):
        y = (rng.uniform(size=n) < mu).astype(float)
    else:
        y = rng.poisson(mu).astype(float)
    extra = {}
    fw = vw = np.ones(n)
    if rows:
        fw, vw = rng.integers(1, 4, n).astype(float), rng.uniform(0.5, 2.0, n)
        extra = {"freq_weights": fw, "var_weights": vw, "offset": offset}
    block = _Block(y, rows=extra, columns=columns)
    # a row map and phi of the shape the path factor gives (k0 unpenalized directions)
    k0 = 1
    G = rng.normal(size=(K, K)) / (4.0 * np.sqrt(n))
    phi = rng.uniform(0.1, 1.0, K - k0)
    return block, X, y, fw, vw, offset, params, G, k0, phi


def _dense(family, X, y, fw, vw, offset, params, G, k0, phi):
    eta = X @ params + offset
    mu = family.link.inverse(eta)
    B = (X * np.sqrt(fw * vw * family.weights(mu))[:, None]) @ G
    h = np.einsum("ij,ij->i", B[:, :k0], B[:, :k0]) + (B[:, k0:] ** 2) @ phi
    e = working_residual(family.link, y, eta, mu)
    mu_loo = family.link.inverse(eta - e * h / (1.0 - h))
    return float(np.sum(fw * family.resid_dev(y, mu_loo, var_weights=vw) ** 2)), h


@pytest.mark.parametrize("rows", [False, True], ids=["plain", "weights-offset"])
@pytest.mark.parametrize(
    "family",
    [F.Poisson(), F.Binomial(), F.Poisson(F.links.Sqrt())],
    ids=["poisson", "logit", "poisson-sqrt"],
)
def test_chunked_loo_pass_equals_the_dense_criterion(family, rows):
    block, X, y, fw, vw, offset, params, G, k0, phi = _case(family, rows)
    want, h = _dense(family, X, y, fw, vw, offset, params, G, k0, phi)
    got = _glm_loo(block, family, params, G, k0, phi)["loo"]
    # each row's B, h and eta are the same sums in another blocking: rounding
    # ~(K + K) eps relative per row, amplified by 1 / (1 - h)^2 through the
    # predictor; the sum over N rows adds N eps; 10x margin
    bound = MARGIN * (N + 2 * K) * EPS / (1.0 - float(np.max(h))) ** 2
    assert got == pytest.approx(want, rel=bound)
    assert np.isfinite(got)


def test_loo_pass_allocates_less_than_one_column():
    family = F.Poisson()
    n = 10 * (2 * K + 12) * _PASS_ROWS + 123  # the chunks' estimate is a tenth of a column
    block, *_, params, G, k0, phi = _case(family, True, n=n)
    _glm_loo(block, family, params, G, k0, phi)  # warm
    peak = allocated_peak(lambda: _glm_loo(block, family, params, G, k0, phi))
    # chunk buffers: [X_c] and B (_PASS_ROWS x K each) and some ten chunk vectors,
    # about _PASS_ROWS * (2 K + 12) * 8 bytes: a tenth of a column here; the
    # whole-array pass made the n x K design and several columns
    assert peak < n * 8, f"the pass allocated {peak} bytes; one column is {n * 8}"
