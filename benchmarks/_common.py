"""What the benchmarks share: the environment report, the AR(1) design, round-robin timing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info


def print_environment(versions: dict[str, str]) -> None:
    """Package versions, visible CPUs and the BLAS/OpenMP thread pools."""
    print(" | ".join(f"{name} {version}" for name, version in versions.items()))
    print(f"CPUs visible: {os.cpu_count()}")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    print(
        f"OPENBLAS_CORETYPE = {coretype!r}" if coretype is not None else "OPENBLAS_CORETYPE not set"
    )
    pools = threadpool_info()
    print("BLAS/OpenMP thread pools (threadpoolctl):" if pools else "no thread pools reported")
    for pool in pools:
        print(
            f"  {pool.get('user_api')}: {pool.get('internal_api')} "
            f"{pool.get('version')} threads={pool.get('num_threads')} "
            f"arch={pool.get('architecture', '-')} ({Path(pool.get('filepath', '')).name})"
        )


def ar1_design(
    rng: np.random.Generator, n: int, k: int, rho: float, mean_range: float
) -> np.ndarray:
    """Intercept column plus ``k - 1`` AR(1)-correlated unit-variance Gaussian columns.

    Column ``j`` is ``rho`` times column ``j - 1`` plus independent noise, shifted
    by a mean drawn from ``U(-mean_range, mean_range)``.
    """
    X = np.empty((n, k))
    X[:, 0] = 1.0
    col = rng.standard_normal(n)
    innovation_sd = np.sqrt(1.0 - rho**2)
    means = rng.uniform(-mean_range, mean_range, size=k)
    for j in range(1, k):
        if j > 1:
            col = rho * col + innovation_sd * rng.standard_normal(n)
        X[:, j] = col + means[j]
    return X


def median_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Median wall time of each callable, run round-robin.

    Interleaving the candidates (floor, then each fit, then the floor again, ...)
    exposes them all to the same load on a shared machine, so their ratios
    stay honest even when the load drifts during the run.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    last: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            last[name] = None  # drop the previous result before timing again
            t0 = time.perf_counter()
            last[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), last[name]) for name in fns}
