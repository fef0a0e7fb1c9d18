"""Every priorreg warning points at the caller's line, and its advice fits the caller.

The recorded warning's ``filename`` must be this test file (the line that
called ``fit``, ``refine`` or ``summary``), however deep inside the
package it was raised.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import cli

F = sm.families


def frame(n=40, seed=21):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),  # unrelated to x: the prior (zero) is right
            "x": x,
            "sep": (x > 0).astype(float),
            "count": rng.poisson(2.0, size=n).astype(float),
            "mixed": (np.sin(7 * x) > 0).astype(float),
        }
    )


def caught_from(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "expected a warning"
    return caught


def assert_here(caught, category):
    mine = [w for w in caught if issubclass(w.category, category)]
    assert len(mine) == 1, [str(w.message) for w in caught]
    assert mine[0].filename == __file__, (mine[0].filename, mine[0].lineno)
    return str(mine[0].message)


def _ridge(df):
    return pr.PriorRidge.from_formula("y ~ x", df)


def _logit(df, y="sep"):
    return pr.PriorGLM.from_formula(f"{y} ~ x", df, family=F.Binomial())


CASES = [
    ("edge ridge fit", lambda d: _ridge(d).fit(lam="gcv", lams=[1e-3, 1e-2]), pr.LamOnEdgeWarning),
    (
        "edge ridge refine",
        lambda d: _ridge(d).fit(lam=1.0).refine(d, lam="gcv", lams=[1e-3, 1e-2]),
        pr.LamOnEdgeWarning,
    ),
    (
        "edge glm fit",
        lambda d: pr.PriorGLM.from_formula("count ~ x", d, family=F.Poisson()).fit(
            lam="gcv", lams=[1e-4, 1e-3]
        ),
        pr.LamOnEdgeWarning,
    ),
    (
        "convergence glm fit",
        lambda d: _logit(d, "mixed").fit(lam=1e-3, maxiter=1),
        pr.ConvergenceWarning,
    ),
    ("separation fit", lambda d: _logit(d).fit(lam=1.0), pr.SeparationWarning),
    (
        "exact fit",
        lambda d: pr.PriorRidge.from_formula("y ~ x", d.assign(y=2.0)).fit(lam=1.0),
        pr.DegenerateFitWarning,
    ),
    (
        "no residual df in refine",
        lambda d: pr.PriorRidge.from_formula("y ~ x", d).fit(lam=1.0).refine(d.iloc[:1], lam=1.0),
        pr.DegenerateFitWarning,
    ),
]


@pytest.mark.parametrize(("label", "call", "category"), CASES, ids=[c[0] for c in CASES])
def test_warning_points_at_the_callers_line(label, call, category):
    df = frame()
    assert_here(caught_from(lambda: call(df)), category)


def test_separation_in_refine_points_here():
    df = frame()
    old = _logit(df, "mixed").fit(lam=1.0)
    caught = caught_from(lambda: old.refine(df.assign(mixed=df["sep"]), lam="reml"))
    assert_here(caught, pr.SeparationWarning)


def test_summary_of_degenerate_fits_raises_no_warning():
    df = frame()
    with pytest.warns(pr.DegenerateFitWarning):
        res = pr.PriorRidge.from_formula("y ~ x", df.iloc[:1], prior={"x": 1.0}).fit(lam=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = str(res.summary())
    assert "No residual degrees of freedom" in text


def test_edge_advice_names_lams_in_python_and_the_option_on_the_cli(tmp_path, capsys):
    df = frame()
    message = assert_here(
        caught_from(lambda: _ridge(df).fit(lam="gcv", lams=[1e-3, 1e-2])), pr.LamOnEdgeWarning
    )
    assert "upper edge" in message
    assert "lams=" in message
    assert "--lams" not in message
    df.to_csv(tmp_path / "d.csv", index=False)
    rc = cli.main(["fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--lams", "0.001,0.01"])
    assert rc == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("priorreg: warning: gcv is smallest at the upper edge")
    assert "Widen the grid with --lams" in err[0]
    assert "lams=" not in err[0]
    # the context is restored: Python callers get Python advice again
    message = assert_here(
        caught_from(lambda: _ridge(df).fit(lam="gcv", lams=[1e-3, 1e-2])), pr.LamOnEdgeWarning
    )
    assert "lams=" in message


def test_constant_response_does_not_claim_agreement_with_the_prior():
    df = frame().assign(y=1.0)
    caught = caught_from(lambda: _ridge(df).fit(lam="gcv", lams=[1e-2, 1.0, 1e2]))
    assert all("agree" not in str(w.message) for w in caught)
    assert all("no evidence against the prior" not in str(w.message) for w in caught)
    kinds = [w.category for w in caught]
    assert len(kinds) == len(set(kinds))
    for w in caught:
        assert w.filename == __file__
