"""Penalized GLM fits: priorreg's PriorGLM against glum and statsmodels, side by side.

What it measures
----------------
One process, the same data, two families (Poisson with log link, binomial
with logit link). The design is an intercept column plus ``k - 1 = 49``
AR(1)-correlated Gaussian predictors (rho = 0.5, unit variance, small
non-zero means); n = 200,000 (``--quick``: n = 20,000). The true
coefficients are drawn once per family; the prior ``b0`` is the truth
perturbed by N(0, 0.05^2) noise. The fixed penalty is ``LAM = n * a`` with
``a = 1e-3``.

Three designs (``--design``): the AR(1) columns above; iid columns
(``rho = 0``), the same means and coefficients otherwise; and ``bars``:
iid standard normal columns scaled by ``1/sqrt(k)``, coefficients drawn
from N(0, 0.25) (standard deviation 0.5), the intercept as above. The bars
design has a small signal per column, so the criteria select a large
``lam`` and the IRLS starts far from the penalized optimum. By default the
AR(1) and bars designs run.

Timed (median of ``--repeats`` rounds, ``time.perf_counter``; each round runs
every candidate once, glum between ours, so all meet the same load; model
construction is included because a model caches nothing across instances):

1. priorreg ``PriorGLM(y, X, family=..., prior=b0).fit(lam=LAM)``;
2. priorreg ``PriorGLM(y, X, family=..., prior=b0).fit(lam="gcv")``: the
   performance-iteration start plus the outer search on converged fits;
   likewise ``lam="reml"`` and ``lam="loocv"``; each selection is timed
   up to and including ``.bse`` (the standard errors are part of what a
   user asks of a selected fit);
3. glum ``GeneralizedLinearRegressor(family=..., alpha=a, l1_ratio=0,
   fit_intercept=True)`` on ``X[:, 1:]``, the same penalty: glum minimises
   ``D / (2n) + a/2 |b|^2`` with an unpenalized intercept, which times ``2n``
   is priorreg's ``D + lam |b - b0|^2`` with ``lam = n a`` and ``b0 = 0``;
4. glum's 20-penalty path (``alpha_search=True, n_alphas=20``);
5. glum ``GeneralizedLinearRegressorCV`` (5-fold CV over 20 penalties; one
   repeat; on by default at full size, off with ``--quick``; ``--cv`` /
   ``--no-cv`` override);
6. statsmodels ``sm.GLM(y, X, family).fit()``, unpenalized (the IRLS floor).

Equivalence check: priorreg with ``prior=None`` at ``lam = n a`` solves
glum's problem exactly, so the coefficients must agree (max |difference|
printed, and the penalized objective of both solutions).

Why ratios
----------
The machine is shared and noisy, so absolute seconds mean little from one
run to the next. Only ratios of times measured side by side, in one process,
on the same data and the same BLAS, are honest. Targets (reported, not
asserted):

- priorreg fixed lam / glum fixed alpha <= 0.8;
- priorreg gcv selection / glum fixed alpha <= 2;
- priorreg reml selection / glum fixed alpha <= 2;
- priorreg loocv selection / glum fixed alpha <= 3;
- priorreg gcv selection / glum 20-penalty path < 1.

Run ``python benchmarks/glm_path.py`` (add ``--quick`` for a run of seconds).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import glum
import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from glum import GeneralizedLinearRegressor, GeneralizedLinearRegressorCV

try:
    import priorreg
except ModuleNotFoundError:  # a source checkout run as `python benchmarks/glm_path.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import priorreg
from _common import ar1_design, median_times, print_environment

RHO = 0.5
K = 50
A_PENALTY = 1e-3
N_ALPHAS = 20
PRIOR_NOISE = 0.05

FAMILIES: dict[str, tuple[Callable[[], Any], str]] = {
    "poisson": (sm.families.Poisson, "poisson"),
    "logistic": (sm.families.Binomial, "binomial"),
}


DESIGNS = {"ar1": RHO, "iid": 0.0, "bars": 0.0}
DEFAULT_DESIGNS = ("ar1", "bars")
BARS_COEF_SD = 0.5
#: Targets of issue 12 (ratio to one glum fit at the same fixed penalty).
TARGETS = {"fixed": 0.8, "gcv": 2.0, "reml": 2.0, "loocv": 3.0}


def make_data(
    family: str, n: int, seed: int, rho: float = RHO, design: str = "ar1"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, X, beta)``: intercept plus ``K - 1`` AR(1) (``rho = 0``: iid) Gaussian columns.

    ``design="bars"``: iid N(0, 1/K) columns with N(0, 0.25) slopes.
    """
    rng = np.random.default_rng(seed)
    if design == "bars":
        X = np.empty((n, K))
        X[:, 0] = 1.0
        X[:, 1:] = rng.standard_normal((n, K - 1)) / np.sqrt(K)
        slopes = rng.normal(scale=BARS_COEF_SD, size=K - 1)
    else:
        X = ar1_design(rng, n, K, rho, 0.5)
        slopes = rng.normal(scale=0.1, size=K - 1)
    if family == "poisson":
        beta = np.concatenate([[0.5], slopes])
        eta = X @ beta
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        beta = np.concatenate([[-0.3], (1.0 if design == "bars" else 2.0) * slopes])
        eta = X @ beta
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return y, X, beta


def fit_priorreg(
    y: np.ndarray, X: np.ndarray, family: Callable[[], Any], prior: Any, lam: Any
) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return priorreg.PriorGLM(y, X, family=family(), prior=prior).fit(lam=lam)


def select_priorreg(
    y: np.ndarray, X: np.ndarray, family: Callable[[], Any], prior: Any, criterion: str
) -> Any:
    """A selection as a user runs it: the fit and its standard errors."""
    res = fit_priorreg(y, X, family, prior, criterion)
    res.bse  # noqa: B018 (the standard errors are part of the timing)
    return res


def fit_glum(y: np.ndarray, Xs: np.ndarray, family: str, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GeneralizedLinearRegressor(family=family, l1_ratio=0, fit_intercept=True, **kwargs)
        return model.fit(Xs, y)


def fit_glum_cv(y: np.ndarray, Xs: np.ndarray, family: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GeneralizedLinearRegressorCV(
            family=family, l1_ratio=0, fit_intercept=True, n_alphas=N_ALPHAS, cv=5
        )
        return model.fit(Xs, y)


def fit_statsmodels(y: np.ndarray, X: np.ndarray, family: Callable[[], Any]) -> Any:
    return sm.GLM(y, X, family=family()).fit()


def penalized_objective(
    y: np.ndarray, X: np.ndarray, family: Callable[[], Any], params: np.ndarray, lam: float
) -> float:
    """priorreg's objective ``D(b) + lam |b[1:]|^2`` (zero prior, intercept free)."""
    mu = family().link.inverse(X @ params)
    return float(family().deviance(y, mu)) + lam * float(params[1:] @ params[1:])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run_family(
    name: str, n: int, repeats: int, cv: bool, seed: int, design: str = "ar1"
) -> dict[str, float]:
    family, glum_family = FAMILIES[name]
    rho = DESIGNS[design]
    y, X, beta = make_data(name, n, seed, rho, design)
    rng = np.random.default_rng(seed + 100)
    b0 = beta + rng.normal(scale=PRIOR_NOISE, size=K)
    lam = n * A_PENALTY
    Xs = np.ascontiguousarray(X[:, 1:])  # glum's design (copy made outside the timing)
    print(
        f"\n=== {name}, {design}: n = {n:,}, k = {K} (intercept + {K - 1} "
        f"{'iid / sqrt(k)' if design == 'bars' else f'AR(1) rho={rho}'}), "
        f"a = {A_PENALTY:g}, LAM = n a = {lam:g}, mean y = {y.mean():.3f} ==="
    )

    # round-robin: every candidate meets the same load (glum between ours)
    timed = median_times(
        {
            "fixed": lambda: fit_priorreg(y, X, family, b0, lam),
            "glum": lambda: fit_glum(y, Xs, glum_family, alpha=A_PENALTY),
            "gcv": lambda: select_priorreg(y, X, family, b0, "gcv"),
            "reml": lambda: select_priorreg(y, X, family, b0, "reml"),
            "glum path": lambda: fit_glum(
                y, Xs, glum_family, alpha_search=True, n_alphas=N_ALPHAS
            ),
            "loocv": lambda: select_priorreg(y, X, family, b0, "loocv"),
            "statsmodels": lambda: fit_statsmodels(y, X, family),
        },
        repeats,
    )
    t_fix, r_fix = timed["fixed"]
    t_gcv, r_gcv = timed["gcv"]
    t_reml, r_reml = timed["reml"]
    t_loo, r_loo = timed["loocv"]
    t_glum, g_fix = timed["glum"]
    t_path, g_path = timed["glum path"]
    t_sm, s_fit = timed["statsmodels"]
    t_cv = float("nan")
    if cv:
        t_cv, g_cv = median_times({"cv": lambda: fit_glum_cv(y, Xs, glum_family)}, 1)["cv"]
    rows = [
        ("priorreg fit(lam=LAM)", t_fix),
        ("priorreg fit(lam='gcv')", t_gcv),
        ("priorreg fit(lam='reml')", t_reml),
        ("priorreg fit(lam='loocv')", t_loo),
        ("glum alpha=a", t_glum),
        (f"glum path ({N_ALPHAS} alphas)", t_path),
        (f"glum CV (5-fold, {N_ALPHAS} alphas, 1 rep)", t_cv),
        ("statsmodels GLM (unpenalized)", t_sm),
    ]
    print(f"{'':42s}{'median s':>10s}{'/ glum':>9s}")
    for label, t in rows:
        if np.isnan(t):
            print(f"{label:42s}{'skipped':>10s}")
        else:
            print(f"{label:42s}{t:10.3f}{t / t_glum:9.2f}")

    ratios = {
        "fixed / glum fixed": (t_fix / t_glum, TARGETS["fixed"], "<="),
        "gcv / glum fixed": (t_gcv / t_glum, TARGETS["gcv"], "<="),
        "reml / glum fixed": (t_reml / t_glum, TARGETS["reml"], "<="),
        "loocv / glum fixed": (t_loo / t_glum, TARGETS["loocv"], "<="),
        "gcv / glum path": (t_gcv / t_path, 1.0, "<"),
    }
    for label, (ratio, target, op) in ratios.items():
        ok = ratio <= target if op == "<=" else ratio < target
        print(f"priorreg {label:26s}{ratio:8.2f}   {op} {target:g}: {verdict(ok)}")

    sel = r_gcv.selection
    print(
        f"priorreg IRLS iterations: fixed {r_fix.iterations}, gcv final fit "
        f"{r_gcv.iterations}; gcv selected lam {r_gcv.lam:.6g} (= n * {r_gcv.lam / n:.3g}) "
        f"after {len(sel.path['lam'])} converged fits{' (on edge)' if sel.on_edge else ''}"
    )
    for label, r in (("reml", r_reml), ("loocv", r_loo)):
        print(
            f"priorreg {label}: selected lam {r.lam:.6g} after "
            f"{len(r.selection.path['lam'])} converged fits "
            f"(the last warm-started: {r.iterations} IRLS iterations)"
        )
    print(
        f"glum iterations (fixed alpha): {g_fix.n_iter_}; statsmodels iterations: "
        f"{s_fit.fit_history.get('iteration', '?')}; "
        f"glum path fitted {len(g_path.coef_path_)} alphas"
    )
    if cv:
        print(f"glum CV chose alpha {float(g_cv.alpha_):.4g} (= lam {float(g_cv.alpha_) * n:.4g})")

    # Same problem with a zero prior: priorreg's solution against glum's.
    r_zero = fit_priorreg(y, X, family, None, lam)
    g_params = np.concatenate([[g_fix.intercept_], g_fix.coef_])
    diff = float(np.max(np.abs(r_zero.params - g_params)))
    obj_p = penalized_objective(y, X, family, np.asarray(r_zero.params), lam)
    obj_g = penalized_objective(y, X, family, g_params, lam)
    print(
        f"prior=None vs glum alpha=a: max |coef diff| {diff:.2e}; "
        f"objective D + lam|b|^2: priorreg {obj_p:.10g}, glum {obj_g:.10g} "
        f"(rel. diff {(obj_g - obj_p) / abs(obj_p):+.1e})"
    )
    sm_diff = float(np.max(np.abs(np.asarray(s_fit.params) - np.asarray(r_zero.params))))
    print(f"(for scale: max |statsmodels unpenalized - priorreg penalized| = {sm_diff:.2e})")
    return {label: ratio for label, (ratio, _, _) in ratios.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 20,000: runs in seconds")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per timing")
    parser.add_argument(
        "--cv",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time glum's 5-fold CV (default: yes at full size, no with --quick)",
    )
    parser.add_argument(
        "--family", choices=[*FAMILIES, "both"], default="both", help="which family to run"
    )
    parser.add_argument(
        "--design",
        choices=[*DESIGNS, "both", "all"],
        default="both",
        help="which design to run (both: ar1 and bars; all: ar1, iid and bars)",
    )
    parser.add_argument("--n", type=int, default=None, help="rows (overrides --quick)")
    args = parser.parse_args(argv)
    print_environment(
        {
            "priorreg": getattr(priorreg, "__version__", "?"),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "glum": glum.__version__,
            "statsmodels": statsmodels.__version__,
        }
    )
    n = args.n or (20_000 if args.quick else 200_000)
    repeats = args.repeats or (5 if args.quick else 3)
    names = list(FAMILIES) if args.family == "both" else [args.family]
    cv = not args.quick if args.cv is None else args.cv
    designs = {"both": list(DEFAULT_DESIGNS), "all": list(DESIGNS)}.get(args.design, [args.design])
    summary = {}
    for design in designs:
        for i, name in enumerate(names):
            summary[f"{name}, {design}"] = run_family(
                name, n, repeats, cv=cv, seed=10 + i, design=design
            )
    targets = ", ".join(f"{key}/glum <= {value:g}" for key, value in TARGETS.items())
    print(f"\nSummary of ratios to one glum fit (targets: {targets}; gcv/path < 1):")
    for name, ratios in summary.items():
        cells = ", ".join(f"{label} {ratio:.2f}" for label, ratio in ratios.items())
        print(f"  {name:15s} {cells}")


if __name__ == "__main__":
    main()
