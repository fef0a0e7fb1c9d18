"""A Dask IRLS pass makes no n-length temporary (priorreg.outofcore.irls_pass).

Dask's worker processes run with ``MALLOC_TRIM_THRESHOLD_`` set, which makes
every allocation of 128 KiB or more a fresh ``mmap`` whose pages fault on
first touch, so a pass that built its means, weights and working response as
n-length arrays spent a large part of its time in page faults. The oracle is
tracemalloc (NumPy reports its data buffers to it): the peak of the memory a
pass allocates, beyond the block it is given, must stay below one n-length
array of doubles. Its chunk-sized buffers and temporaries (the chunk
``[X_c, t_c]``, its product with the coefficients and some twenty vectors of
:data:`~priorreg.outofcore.irls_pass._PASS_ROWS` doubles) come to about
``_PASS_ROWS * (k + 24) * 8`` bytes, a tenth of that bound for the sizes here
(N is chosen so); the arrays the pass made before (means, weights, working
response, their square roots, unit weights) were several columns.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import allocated_peak

from priorreg.outofcore.irls_pass import _PASS_ROWS, Asks, PointSpec, glm_point
from priorreg.outofcore.passes import _Block

F = sm.families
K = 4
N = 10 * (K + 24) * _PASS_ROWS + 123  # the chunks' estimate is a tenth of a column


def _block(family, rows):
    rng = np.random.default_rng(11)
    columns = (1.0, *(rng.normal(size=N) for _ in range(K - 1)))
    eta = 0.2 + 0.3 * columns[1]
    if isinstance(family, F.Binomial):
        y = (rng.uniform(size=N) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    elif isinstance(family, F.Gamma):
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    extra = {}
    if rows:
        extra = {
            "freq_weights": rng.integers(1, 4, N).astype(float),
            "offset": 0.1 * rng.normal(size=N),
        }
    return _Block(y, rows=extra, columns=columns)


@pytest.mark.parametrize(
    ("family", "rows"),
    [
        (F.Poisson(), False),
        (F.Binomial(), False),
        (F.Gamma(F.links.Log()), True),
        (F.Poisson(), True),
    ],
    ids=["poisson", "logit", "gamma-log-weights-offset", "poisson-weights-offset"],
)
@pytest.mark.parametrize("start", [False, True], ids=["at-params", "starting-means"])
def test_pass_allocates_less_than_one_column(family, rows, start):
    block = _block(family, rows)
    b0 = np.zeros(K)
    params = None if start else np.array([0.1, 0.25, 0.0, -0.05])
    spec = PointSpec(params, float(np.mean(block.y)))
    out = glm_point(block, family, spec, b0, Asks())  # warm: imports and caches
    assert out["bad_w"] == 0
    assert np.isfinite(out["dev"])
    peak = allocated_peak(lambda: glm_point(block, family, spec, b0, Asks()))
    one_column = N * 8
    assert peak < one_column, f"a pass allocated {peak} bytes, one column is {one_column}"
