"""What the benchmarks share: the environment report and the AR(1) design."""

from __future__ import annotations

import os
from pathlib import Path

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
