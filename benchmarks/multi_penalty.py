"""Several penalties chosen jointly against one penalty chosen alone, on the same data.

What it measures
----------------
One process, the same data. The design is an intercept column plus
AR(1)-correlated Gaussian predictors (rho = 0.5, unit variance, small
non-zero means; :func:`_common.ar1_design`):

- linear: n = 200,000, k = 200, y = X b + N(0, 1), b ~ N(0, 0.1^2);
- Poisson (log link): n = 200,000, k = 50, y ~ Poisson(exp(X b)), b ~ N(0, 0.05^2).

``--quick`` divides n by 10. For m = 2, 3, 5 the non-intercept columns are
split into m consecutive blocks, each penalized by the identity with its
own lam (the intercept unpenalized), and selected jointly:
``PriorRidge(y, X, penalty=[...]).fit(lam="gcv")`` and ``lam="reml"``;
``PriorGLM(y, X, family=Poisson(), penalty=[...]).fit(lam="ubre")`` and
``lam="reml"`` (Laplace). ``--only linear|poisson`` runs one part. The
reference is the same model with one penalty (``penalty=None``) and the
same criterion. Times are medians of ``--repeats`` runs
(``time.perf_counter``), model construction included.

Why ratios
----------
The machine is shared and noisy; only ratios of times measured side by
side in one process are honest. Target (reported, not asserted): joint
selection of 2-5 lams costs at most 3x a single-lam selection.

Run ``python benchmarks/multi_penalty.py`` (add ``--quick`` for seconds).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import numpy as np
import statsmodels
import statsmodels.api as sm
from _common import ar1_design, print_environment

import priorreg as pr


def _blocks(k: int, m: int) -> list[np.ndarray]:
    """``m`` diagonal penalties on consecutive blocks of the non-intercept columns."""
    edges = np.linspace(1, k, m + 1).astype(int)
    out = []
    for lo, hi in itertools.pairwise(edges):
        diag = np.zeros(k)
        diag[lo:hi] = 1.0
        out.append(diag.copy())
    return out


def _time(make, repeats: int) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # edge warnings are not what is timed
            res = make()
        times.append(time.perf_counter() - start)
    return statistics.median(times), res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n / 10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("linear", "poisson"), default=None)
    args = parser.parse_args()
    print_environment(
        {
            "priorreg": pr.__version__,
            "numpy": np.__version__,
            "statsmodels": statsmodels.__version__,
        }
    )
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(20261130)

    if args.only != "poisson":
        _linear(rng, 200_000 // scale, args.repeats)
    if args.only != "linear":
        _poisson(rng, 200_000 // scale, args.repeats)


def _linear(rng: np.random.Generator, n: int, repeats: int) -> None:
    k = 200
    X = ar1_design(rng, n, k, 0.5, 0.5)
    y = X @ rng.normal(scale=0.1, size=k) + rng.standard_normal(n)
    print(f"\nlinear: n = {n}, k = {k}")
    for criterion in ("gcv", "reml"):
        base, _ = _time(lambda c=criterion: pr.PriorRidge(y, X).fit(lam=c), repeats)
        print(f"  one lam, {criterion}: {base:.3f} s")
        for m in (2, 3, 5):
            Ps = [np.diag(d) for d in _blocks(k, m)]
            t, res = _time(
                lambda Ps=Ps, c=criterion: pr.PriorRidge(y, X, penalty=Ps).fit(lam=c),
                repeats,
            )
            steps = len(res.lam_path)
            print(f"  {m} lams, {criterion}: {t:.3f} s  ratio {t / base:.2f}  ({steps} steps)")



def _poisson(rng: np.random.Generator, n: int, repeats: int) -> None:
    k = 50
    X = ar1_design(rng, n, k, 0.5, 0.5)
    counts = rng.poisson(np.exp(X @ rng.normal(scale=0.05, size=k)))
    fam = sm.families.Poisson()
    print(f"\nPoisson: n = {n}, k = {k}")
    for criterion in ("ubre", "reml"):
        base, _ = _time(
            lambda c=criterion: pr.PriorGLM(counts, X, family=fam).fit(lam=c), repeats
        )
        print(f"  one lam, {criterion}: {base:.3f} s")
        for m in (2, 3, 5):
            Ps = [np.diag(d) for d in _blocks(k, m)]
            t, res = _time(
                lambda Ps=Ps, c=criterion: pr.PriorGLM(
                    counts, X, family=fam, penalty=Ps
                ).fit(lam=c),
                repeats,
            )
            stages = res.lam_path["stage"].value_counts().to_dict()
            print(
                f"  {m} lams, {criterion}: {t:.3f} s  ratio {t / base:.2f}  (steps {stages})"
            )


if __name__ == "__main__":
    main()
