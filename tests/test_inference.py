"""What the summary says about its numbers; the units warning; compatibility; unconditional."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.genmod import families

import priorreg as pr
from priorreg.exceptions import PenaltyUnitsWarning


def _dense_share(X, L, lam, w=None):
    """diag((X'WX + lam L)^-1 X'WX), densely."""
    w = np.ones(X.shape[0]) if w is None else w
    G = X.T @ (w[:, None] * X)
    return np.diag(np.linalg.solve(G + lam * L, G))


def _coef_rows(res):
    """The coefficient table's rows of ``res.summary()``, split into cells by name."""
    names = [str(n) for n in res.model.exog_names]
    lines = str(res.summary()).splitlines()
    cells = [line.split() for line in lines]
    return {c[0]: c for c in cells if c and c[0] in names}


# ----------------------------------------------------------- data share notes
@pytest.fixture
def counts(rng):
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.poisson(np.exp(X @ [0.5, 0.3, -0.2, 0.1]))
    return X, y


def test_negligible_share_rows_show_no_statistic_and_are_explained(counts):
    X, y = counts
    L = np.diag([0.0, 1.0, 1.0, 1.0])
    lam = 1e9  # shares ~ 1e-7: far below 1e-3
    res = pr.PriorGLM(y, X, family=families.Poisson(), prior=[0, 0.3, -0.2, 0.1]).fit(lam=lam)
    share = _dense_share(X, L, lam, np.asarray(res.mu))  # Poisson log link: W = mu
    # the dense share is computed at the same converged fit: rounding only, 1e-6 absolute
    np.testing.assert_allclose(res.share_data().per_coefficient, share, atol=1e-6)
    assert list(res.share_data().not_informative()) == list(share < 1e-3)
    text = str(res.summary())
    rows = _coef_rows(res)
    for name in ("x1", "x2", "x3"):
        assert rows[name][4:6] == ["--", "--"], rows[name]
    assert rows["const"][4] != "--"
    flat = " ".join(text.split())
    assert "Data share below 5% for x1, x2, x3: these rows restate the prior" in flat
    assert "z and P are shown as -- where the share is below 0.001 (x1, x2, x3)" in flat


def test_low_share_is_listed_without_hiding_the_statistic(rng):
    n = 50
    X = np.column_stack([np.ones(n), rng.normal(size=n), 0.01 * rng.normal(size=n)])
    y = X @ [1.0, 2.0, 30.0] + rng.normal(size=n)
    L = np.diag([0.0, 1.0, 1.0])
    lam = 1e-2 * n * 3  # x2's information ~ n * 1e-4: share ~ 0.01; x1's ~ 0.99
    res = pr.PriorRidge(y, X, penalty=[0, 1, 1]).fit(lam=lam)
    share = _dense_share(X, L, lam)
    assert 1e-3 < share[2] < 0.05 < share[1]  # the design does what the test needs
    text = " ".join(str(res.summary()).split())
    assert "Data share below 5% for x2:" in text
    assert "shown as --" not in text


def test_no_note_when_every_share_is_large(rng):
    n = 100
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
    res = pr.PriorRidge(y, X).fit(lam=1.0)
    assert np.all(_dense_share(X, np.diag([0.0, 1, 1]), 1.0) > 0.05)
    assert "Data share below" not in str(res.summary())
    assert all("--" not in cells for cells in _coef_rows(res).values())


# ----------------------------------------------------------- units warning
@pytest.fixture
def units_frame(rng):
    n = 60
    df = pd.DataFrame({"small": rng.normal(size=n), "big": 1000.0 * rng.normal(size=n)})
    df["y"] = 1 + df.small + 0.001 * df.big + rng.normal(size=n)
    return df


def test_units_warning_once_at_the_users_line(units_frame):
    ratio = units_frame.big.std(ddof=0) / units_frame.small.std(ddof=0)
    assert ratio > 100
    model = pr.PriorRidge.from_formula("y ~ small + big", units_frame)
    with pytest.warns(PenaltyUnitsWarning, match="standardize=True") as record:
        res = model.fit(lam=1.0)
    assert len(record) == 1
    assert record[0].filename == __file__
    message = str(record[0].message)
    assert f"{ratio:.3g}-fold" in message
    assert "big" in message
    assert 'penalty="information"' in message
    assert "default (raw columns)" in str(res.summary())
    with pytest.warns(PenaltyUnitsWarning) as record:
        old = pr.PriorRidge.from_formula("y ~ small + big", units_frame).fit(lam="gcv")
    assert [r.filename for r in record] == [__file__]
    del old


@pytest.mark.parametrize(
    "kwargs",
    [{"standardize": True}, {"penalty": [0, 1, 1]}, {"penalty": None, "lam": 0.0}],
)
def test_no_units_warning_when_the_penalty_is_units_free_or_absent(units_frame, kwargs):
    kwargs = dict(kwargs)
    lam = kwargs.pop("lam", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pr.PriorRidge.from_formula("y ~ small + big", units_frame, **kwargs).fit(lam=lam)
    label = "default (standardized)" if kwargs.get("standardize") else "(raw columns)"
    assert label in str(res.summary())


def test_units_warning_for_glm_too(units_frame):
    units_frame = units_frame.assign(count=np.arange(len(units_frame)) % 4)
    with pytest.warns(PenaltyUnitsWarning) as record:
        res = pr.PriorGLM.from_formula(
            "count ~ small + big", units_frame, family=sm.families.Poisson()
        ).fit(lam=2.0)
    assert [r.filename for r in record] == [__file__]
    assert "Penalty:" in str(res.summary())
