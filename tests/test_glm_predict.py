"""``PriorGLM.predict`` (the model's): new rows, the model's rows, offset and exposure.

The oracle is statsmodels' ``GLM.predict`` at the same ``params``: it
applies the same rules where both models state them (the model's offset
and exposure for its own rows; only those given for new rows).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr


def _models():
    rng = np.random.default_rng(11)
    X = sm.add_constant(rng.normal(size=(60, 2)))
    offset = rng.normal(scale=0.1, size=60)
    exposure = rng.uniform(0.5, 2.0, size=60)
    y = rng.poisson(exposure * np.exp(offset + X @ [0.2, 0.4, -0.3])).astype(float)
    family = sm.families.Poisson()
    ours = pr.PriorGLM(y, X, family, offset=offset, exposure=exposure)
    theirs = sm.GLM(y, X, family=family, offset=offset, exposure=exposure)
    return ours, theirs, X


@pytest.mark.parametrize("which", ["mean", "linear"])
def test_predict_follows_statsmodels_rules_for_own_and_new_rows(which):
    ours, theirs, X = _models()
    params = np.array([0.1, 0.5, -0.2])
    new = X[:7] + 0.3
    off, expo = np.linspace(-0.2, 0.2, 7), np.linspace(0.5, 3.0, 7)
    new_rows = [  # only what is given enters, as statsmodels does
        {"exog": new},
        {"exog": new, "offset": off},
        {"exog": new, "exposure": expo},
        {"exog": new, "offset": off, "exposure": expo},
    ]
    cases = [
        ({}, {}),  # the model's rows with its offset and exposure
        ({"offset": ours.offset, "exposure": ours.exposure}, {}),  # the same, given again
        *((kw, kw) for kw in new_rows),
    ]
    for mine, sms in cases:
        got = ours.predict(params, which=which, **mine)
        want = theirs.predict(params, which=which, **sms)
        # the same 3-term sums and link inverse, in another order: eps * |terms| * few ~ 1e-15
        # relative to exp(eta) ~ 10; rtol 1e-13 is a 10x+ margin
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_predict_refuses_an_unknown_which():
    ours, _, _ = _models()
    with pytest.raises(ValueError, match="which must be 'mean' or 'linear'"):
        ours.predict(np.zeros(3), which="variance")
