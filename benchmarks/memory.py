"""Peak memory of a fixed-lam ``PriorGLM`` fit beyond the design, and its time against glum.

What it measures
----------------
A Poisson GLM (log link) on an intercept plus ``k - 1`` AR(1) columns
(rho = 0.5, small non-zero means: the design of ``benchmarks/glm_path.py``),
prior = truth + N(0, 0.05^2), ``lam = n * 1e-3``:

1. the peak of the memory allocated during ``PriorGLM(y, X, ...).fit(lam)``
   followed by ``res.bse``, above what was allocated before (``tracemalloc``:
   NumPy reports its buffers to it), as a multiple of the size of ``X``
   (``n k 8`` bytes). The model and its results hold n-vectors (means,
   residuals, linear predictor): about ``8 n / (n k 8) = 1/k`` of ``X`` each.
   Issue 12's target: <= 0.25 X at n = 1,000,000, k = 100 (the ratio does not
   depend on n, so a smaller n shows it);
2. the median time of the fit against one glum fit of the same penalty
   (glum's ``alpha = 1e-3``, ``l1_ratio = 0``; target <= 0.8), unless
   ``--no-time``.

Run ``python benchmarks/memory.py`` (n = 200,000, k = 100) or
``--n 20000`` for a run of seconds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ar1_design

import priorreg

A = 1e-3


def make_data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, X, b0)``: Poisson counts on an AR(1) design, prior near the truth."""
    rng = np.random.default_rng(seed)
    X = ar1_design(rng, n, k, 0.5, 0.5)
    beta = np.concatenate([[0.5], rng.normal(scale=0.1, size=k - 1)])
    y = rng.poisson(np.exp(X @ beta)).astype(float)
    return y, X, beta + rng.normal(scale=0.05, size=k)


def fit(y: np.ndarray, X: np.ndarray, b0: np.ndarray) -> np.ndarray:
    """The fixed-lam fit and its standard errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = priorreg.PriorGLM(y, X, family=sm.families.Poisson(), prior=b0).fit(
            lam=A * X.shape[0]
        )
    return np.asarray(res.bse)


def peak_beyond(fn, *args) -> int:
    """Peak bytes allocated while ``fn(*args)`` runs, above the allocations before it."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def glum_time(y: np.ndarray, X: np.ndarray, repeats: int) -> float:
    """Median time of one glum fit of the same penalty (intercept not in the columns)."""
    from glum import GeneralizedLinearRegressor

    Xs = np.ascontiguousarray(X[:, 1:])  # glum's input, prepared outside the timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        GeneralizedLinearRegressor(
            family="poisson", alpha=A, l1_ratio=0, fit_intercept=True
        ).fit(Xs, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-time", action="store_true")
    args = parser.parse_args(argv)
    y, X, b0 = make_data(args.n, args.k)
    fit(y[:1000], X[:1000], b0)  # warm up imports and BLAS
    peak = peak_beyond(fit, y, X, b0)
    size = X.nbytes / 2**20
    print(f"PriorGLM Poisson fixed lam + bse, n={args.n} k={args.k}: X = {size:.0f} MiB")
    verdict = "ok" if peak <= 0.25 * X.nbytes else "above target"
    print(f"  peak memory beyond X: {peak / 2**20:.0f} MiB = {peak / X.nbytes:.3f} X "
          f"(target <= 0.25 X: {verdict})")  # fmt: skip
    if args.no_time:
        return
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit(y, X, b0)
        times.append(time.perf_counter() - t0)
    mine = statistics.median(times)
    theirs = glum_time(y, X, args.repeats)
    ratio = mine / theirs
    print(f"  fixed-lam time {mine:.3f} s, one glum fit {theirs:.3f} s: ratio {ratio:.2f} "
          f"(target <= 0.8: {'ok' if ratio <= 0.8 else 'above target'})")  # fmt: skip


if __name__ == "__main__":
    main()
