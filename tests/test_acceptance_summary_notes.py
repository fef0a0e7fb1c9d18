"""The notes under a summary: each cause said once, in lines a terminal shows whole.

A selected lam is treated as known by the standard errors, tests and
intervals; the summary must say so once, whether there is one penalty or
several (DESIGN section 5), and say nothing of it at fixed lams. Oracle:
the text itself (a count of the sentence), and the notes' width of 88
characters that the single-penalty notes are wrapped to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr

NOTE_WIDTH = 88


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(2)
    n = 100
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    df["y"] = 1 + df.x1 - df.x2 + 0.5 * df.x3 + rng.normal(size=n)
    return df


def _notes(res) -> list[str]:
    return (res.summary().extra_txt or "").split("\n")


def _models(frame):
    groups = {"old": ["x1", "x2"], "new": ["x3", "x4"]}
    binomial = sm.families.Binomial()
    formula = "y ~ x1 + x2 + x3 + x4"
    return {
        "ridge": pr.PriorRidge.from_formula(formula, frame),
        "ridge, two penalties": pr.PriorRidge.from_formula(formula, frame, penalty=groups),
        "glm": pr.PriorGLM.from_formula("I(y > 1) ~ x1 + x2 + x3 + x4", frame, family=binomial),
        "glm, two penalties": pr.PriorGLM.from_formula(
            "I(y > 1) ~ x1 + x2 + x3 + x4", frame, family=binomial, penalty=groups
        ),
    }


@pytest.mark.parametrize(
    "label", ["ridge", "ridge, two penalties", "glm", "glm, two penalties"]
)
def test_selected_lam_is_said_to_be_treated_as_known_once(frame, label):
    model = _models(frame)[label]
    res = model.fit(lam="reml")
    text = " ".join(_notes(res))
    assert text.count("as known") == 1, text
    assert "chosen by REML" in text
    assert text.count('cov_type="unconditional"') == 1, text
    for line in _notes(res):
        assert len(line) <= NOTE_WIDTH, line
    fixed = model.fit(lam=[1.0, 2.0] if "two" in label else 1.0)
    assert "as known" not in " ".join(_notes(fixed))


def test_share_column_off_unit_interval_is_explained():
    import statsmodels.formula.api as smf

    data = sm.datasets.fair.load_pandas().data
    data["affair"] = (data["affairs"] > 0).astype(float)
    formula = "affair ~ rate_marriage + age + yrs_married + children + religious + educ"
    others = data[data["occupation"] != 6]
    new = data[data["occupation"] == 6].sample(frac=1.0, random_state=0).iloc[:60]
    binomial = sm.families.Binomial()
    old = smf.glm(formula, others, family=binomial).fit()
    res = pr.PriorGLM.from_formula(
        formula, new, family=binomial, prior=old, penalty="information"
    ).fit(lam=0.0864)
    # oracle: S = (X'WX + lam L)^-1 X'WX = I - lam A^-1 L, densely
    A_inv = np.asarray(res.normalized_cov_params)
    L = np.asarray(res.model.penalty_matrix)
    S = np.eye(len(A_inv)) - res.lam * A_inv @ L
    share = np.diag(S)
    # entries well off [0, 1] (by more than 1e-6, far above the rounding of S)
    off = [n for n, v in zip(res.model.exog_names, share, strict=True) if v < -1e-6 or v > 1 + 1e-6]
    assert off, share  # these data do give shares off [0, 1]
    text = " ".join(_notes(res))
    assert f"The column 'share' leaves [0, 1] for {', '.join(off)}:" in text
    # a diagonal penalty keeps every share in [0, 1]: no such note
    plain = pr.PriorGLM.from_formula(formula, new, family=binomial, prior=old).fit(lam=5.0)
    assert "leaves [0, 1]" not in " ".join(_notes(plain))
