"""priorreg demo: refine a fitted model with a small new group.

Grunfeld's investment data (shipped with statsmodels): a model of
investment on firm value and capital stock is fitted on ten firms, then
refined for the eleventh firm using only its first eight years, with the
penalty weight chosen by GCV. The refined fit is compared with the prior
and with ordinary least squares on the eight years alone, and all three
predict the firm's twelve later years.
"""

from __future__ import annotations

import warnings
from typing import TextIO

import numpy as np
import pandas as pd
import statsmodels.api as sm

from priorreg.exceptions import LamOnEdgeWarning
from priorreg.linear import PriorRidge

__all__ = ["run_demo", "run_glm_demo"]

FORMULA = "invest ~ value + capital"


def _load() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    data = sm.datasets.grunfeld.load_pandas().data
    firm = "Westinghouse"
    others = data[data["firm"] != firm]
    mine = data[data["firm"] == firm].sort_values("year")
    return others, mine.iloc[:8], mine.iloc[8:], firm


def run_demo(out: TextIO) -> dict[str, float]:
    """Print the demo to ``out``; return the key numbers (for tests)."""
    others, small, later, firm = _load()
    write = out.write
    write(__doc__.strip() + "\n\n")
    old = PriorRidge.from_formula(FORMULA, others).fit(lam=0.0)
    write(
        f"1. The prior: OLS on the other {others['firm'].nunique()} firms ({len(others)} rows)\n\n"
    )
    write(str(old.summary(title="Prior model (other firms, lam = 0: OLS)")) + "\n\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refined = old.refine(small, lam="gcv")
    write(f"2. Refined for {firm} with its first {len(small)} years, lam by GCV\n\n")
    write(str(refined.summary(title=f"Refined model ({firm}, {len(small)} years)")) + "\n\n")
    ols = PriorRidge.from_formula(FORMULA, small).fit(lam=0.0)
    table = pd.DataFrame(
        {
            "prior (other firms)": old.params,
            f"OLS ({firm} only)": ols.params,
            "refined": refined.params,
            "refined std err": refined.bse,
            "OLS std err": ols.bse,
        }
    )
    write("3. What changed\n\n")
    write(table.to_string(float_format=lambda v: f"{v:10.4f}") + "\n\n")
    rmse = {
        name: float(np.sqrt(np.mean((later["invest"] - res.predict(later)) ** 2)))
        for name, res in (("prior", old), ("OLS", ols), ("refined", refined))
    }
    write(
        f"Chosen lam = {refined.lam:.4g} (GCV), edf = {refined.edf:.3f} of "
        f"{len(refined.params)} coefficients, residual df = {refined.df_resid:.2f}.\n"
        f"{refined.compatibility_test()}.\n"
        f"Prediction error (RMSE) on {firm}'s {len(later)} later years: "
        f"prior {rmse['prior']:.2f}, OLS on {len(small)} years {rmse['OLS']:.2f}, "
        f"refined {rmse['refined']:.2f}.\n"
    )
    return {
        "lam": float(refined.lam),
        "edf": float(refined.edf),
        **{f"rmse_{k}": v for k, v in rmse.items()},
    }


GLM_FORMULA = "I(affairs > 0) ~ rate_marriage + age + yrs_married + children + religious + educ"
# patsy codes the boolean response as two columns; PriorGLM models P(True).


def run_glm_demo(out: TextIO) -> dict[str, float]:
    """Logistic transfer: refine a model of the other occupations for a small one.

    Fair's affairs survey (shipped with statsmodels): the probability of an
    extramarital affair is modelled on the five large occupation groups, then
    refined for the 109 women in professional occupations with advanced
    degrees using 60 of them, the penalty weight chosen by GCV; the other 49
    judge the three models by their predictive deviance.
    """
    from statsmodels.genmod import families

    from priorreg.glm import PriorGLM

    data = sm.datasets.fair.load_pandas().data
    others = data[data["occupation"] != 6]
    group = data[data["occupation"] == 6].sample(frac=1.0, random_state=0)
    train, test = group.iloc[:60], group.iloc[60:]
    write = out.write
    write((run_glm_demo.__doc__ or "").strip() + "\n\n")
    binomial = families.Binomial()
    old = PriorGLM.from_formula(GLM_FORMULA, others, family=binomial).fit(lam=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refined = old.refine(train, lam="gcv")
        alone = PriorGLM.from_formula(GLM_FORMULA, train, family=binomial).fit(lam=0.0)
    write(str(refined.summary(title="Refined logistic model (60 professionals)")) + "\n\n")
    table = pd.DataFrame(
        {
            "prior (other occupations)": old.params,
            "MLE (60 professionals)": alone.params,
            "refined": refined.params,
        }
    )
    write(table.to_string(float_format=lambda v: f"{v:10.4f}") + "\n\n")
    y = (test["affairs"] > 0).to_numpy(dtype=float)
    dev = {}
    for name, res in (("prior", old), ("MLE", alone), ("refined", refined)):
        p = np.clip(np.asarray(res.predict(test)), 1e-12, 1 - 1e-12)
        dev[name] = float(-2 * np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    for w in caught:
        if issubclass(w.category, LamOnEdgeWarning):
            write(
                f"Note: {w.message}\nHere that is the answer: the 60 professionals agree "
                "with the other occupations' slopes (see the compatibility test), so the "
                "refinement keeps them and updates only the unpenalized intercept.\n"
            )
    write(
        f"Chosen lam = {refined.lam:.4g} (GCV at converged fits), edf = {refined.edf:.3f} of "
        f"{len(refined.params)}, converged = {refined.converged}.\n"
        f"Predictive deviance on the {len(test)} held-out professionals: prior "
        f"{dev['prior']:.2f}, MLE on 60 {dev['MLE']:.2f}, refined {dev['refined']:.2f} "
        "(lower is better).\n"
    )
    return {"lam": float(refined.lam), **{f"dev_{k}": v for k, v in dev.items()}}
