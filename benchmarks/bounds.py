"""A bounded linear fit at a fixed lam against the unbounded one and lsq_linear.

What it measures
----------------
Issue 14 asks that a bounded ``PriorRidge`` fit at a fixed ``lam`` cost no more
than 2x the unbounded fit on n = 200,000, k = 200. In one process, on the same
data (``--quick``: n = 20,000):

1. ``PriorRidge(y, X).fit(lam=lam)``, model construction included;
2. ``PriorRidge(y, X, bounds="nonnegative").fit(lam=lam)``, the same;
3. ``scipy.optimize.lsq_linear(method="bvls")`` on the augmented system
   ``[X; sqrt(lam) I_0]`` (n + k rows), the direct route (one repeat: it is slow).

The design is AR(1)-correlated (rho = 0.5) with an intercept; the true
coefficients alternate in sign so that about half of the bounds are active.
The bounded estimates of 2 and 3 are compared (max abs difference printed).

Why ratios
----------
The machine is shared; only ratios of times measured side by side mean
something. The target (bounded / unbounded <= 2) is printed, not asserted.

Run ``python benchmarks/bounds.py`` (add ``--quick`` for a run of seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import lsq_linear

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ar1_design, print_environment

import priorreg as pr


def _best_of(repeats: int, func) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    """Time the three routes and print the ratios against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 20,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print_environment({"numpy": np.__version__, "scipy": scipy.__version__})
    n, k = (20_000, 200) if args.quick else (200_000, 200)
    rng = np.random.default_rng(0)
    X = ar1_design(rng, n, k, rho=0.5, mean_range=1.0)
    beta = np.where(np.arange(k) % 2 == 0, 0.3, -0.3)
    y = X @ beta + rng.standard_normal(n)
    lam = 10.0
    print(f"n = {n:,}, k = {k}, lam = {lam}")

    t_free, _ = _best_of(args.repeats, lambda: pr.PriorRidge(y, X).fit(lam=lam))
    t_bounded, bounded = _best_of(
        args.repeats, lambda: pr.PriorRidge(y, X, bounds="nonnegative").fit(lam=lam)
    )
    active = int(np.asarray(bounded.active_bounds).sum())

    lower = np.r_[-np.inf, np.zeros(k - 1)]
    A = np.vstack([X, np.sqrt(lam) * np.eye(k)[1:]])
    c = np.r_[y, np.zeros(k - 1)]
    t_lsq, ref = _best_of(
        1, lambda: lsq_linear(A, c, bounds=(lower, np.inf), method="bvls", tol=1e-12)
    )
    diff = float(np.max(np.abs(np.asarray(bounded.params) - ref.x)))  # type: ignore[attr-defined]

    print(f"active bounds: {active} of {k - 1}")
    print(f"unbounded fit          {t_free:8.3f} s")
    print(f"bounded fit            {t_bounded:8.3f} s")
    print(f"lsq_linear (bvls)      {t_lsq:8.3f} s")
    ratio = t_bounded / t_free
    verdict = "met" if ratio <= 2 else "MISSED"
    print(f"bounded / unbounded    {ratio:8.2f}x   (target <= 2x: {verdict})")
    print(f"lsq_linear / bounded   {t_lsq / t_bounded:8.1f}x")
    print(f"max |b_priorreg - b_lsq_linear| = {diff:.2e}")


if __name__ == "__main__":
    main()
