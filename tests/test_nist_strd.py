"""All eleven NIST StRD linear least-squares datasets at lam = 0, against certified values.

LRE = -log10(|estimate - certified| / |certified|) is the number of correct
significant digits; where the certified value is 0 (the Wampler1/2 standard
errors and residual SD) the absolute error is used, -log10(|estimate|).
Values are clipped to [0, 15]: NIST prints 15 digits.

Targets are the issue's coefficient targets per dataset; the standard
errors, residual SD and R-squared must meet the same target, the standard
errors at most 9 digits. Data and certified values: ``tests/data/nist/``
(see its README). ``benchmarks/accuracy.py`` prints the same numbers next to
numpy and statsmodels.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import priorreg as pr

DATA = Path(__file__).parent / "data" / "nist"

#: Target coefficient LRE per dataset.
TARGETS = {
    "Norris": 11.0,
    "Pontius": 11.0,
    "NoInt1": 11.0,
    "NoInt2": 11.0,
    "Filip": 9.0,
    "Longley": 10.9,
    "Wampler1": 9.6,
    "Wampler2": 11.0,
    "Wampler3": 9.6,
    "Wampler4": 7.9,
    "Wampler5": 5.9,
}

#: Datasets that cannot meet their target, and why.
XFAIL = {
    "Filip": (
        "target out of reach from a float64 design: rounding x**p to double moves the exact "
        "least-squares solution to 7.6 correct digits of NIST's values (checked by "
        "test_filip_target_is_beyond_float64_data), so even an exact solver gets coefficient "
        "and standard-error LREs of about 7.6 < 9; priorreg reaches that limit "
        "(tests/test_nist.py checks >= 7.3)"
    ),
}


def lre(estimate, certified):
    est = np.asarray(estimate, dtype=float)
    cert = np.asarray(certified, dtype=float)
    err = np.abs(est - cert)
    rel = np.where(cert != 0, err / np.where(cert != 0, np.abs(cert), 1.0), err)
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = -np.log10(rel)
    return np.clip(np.nan_to_num(digits, nan=0.0, posinf=15.0), 0.0, 15.0)


def load(cert):
    """Response and design of the certified model (ones first when it has an intercept)."""
    frame = pd.read_csv(DATA / cert["data_file"])
    cols = []
    for term in cert["terms"]:
        if term == "1":
            cols.append(np.ones(len(frame)))
        elif "^" in term:
            var, power = term.split("^")
            cols.append(frame[var].to_numpy(dtype=float) ** int(power))
        else:
            cols.append(frame[term].to_numpy(dtype=float))
    return frame["y"].to_numpy(dtype=float), np.column_stack(cols)


def exact_lstsq(X, y):
    """Exact least-squares solution of the float64 data (rational normal equations)."""
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    yf = [Fraction(float(v)) for v in y]
    k = X.shape[1]
    A = [
        [sum((row[a] * row[b] for row in Xf), Fraction(0)) for b in range(k)]
        + [sum((row[a] * yi for row, yi in zip(Xf, yf, strict=True)), Fraction(0))]
        for a in range(k)
    ]
    for c in range(k):
        pivot = next(r for r in range(c, k) if A[r][c] != 0)
        A[c], A[pivot] = A[pivot], A[c]
        for r in range(k):
            if r != c and A[r][c] != 0:
                factor = A[r][c] / A[c][c]
                A[r] = [a - factor * b for a, b in zip(A[r], A[c], strict=True)]
    return np.array([float(A[i][k] / A[i][i]) for i in range(k)])


@pytest.fixture(scope="module")
def certified():
    return json.loads((DATA / "certified.json").read_text())["datasets"]


def test_all_datasets_have_targets(certified):
    assert set(certified) == set(TARGETS)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else [],
        )
        for name in TARGETS
    ],
)
def test_certified_lre_at_lam_zero(certified, name):
    cert = certified[name]
    y, X = load(cert)
    model = pr.PriorRidge(y, X)
    res = model.fit(lam=0.0)
    target = TARGETS[name]
    got = {
        "coefficients": lre(res.params, cert["estimates"]).min(),
        "standard errors": lre(res.bse, cert["std_devs"]).min(),
        "residual SD": lre(np.sqrt(res.scale), cert["residual_sd"]),
        "R-squared": lre(res.rsquared, cert["r_squared"]),
    }
    need = {
        "coefficients": target,
        "standard errors": min(target, 9.0),
        "residual SD": target,
        "R-squared": target,
    }
    short = {key: f"{got[key]:.2f} < {need[key]}" for key in got if not got[key] >= need[key]}
    assert not short, f"{name} ({model.factor.method}): LRE below target: {short}"


def test_filip_target_is_beyond_float64_data(certified):
    # the reason for Filip's xfail: the exact least-squares solution of the
    # float64 design (powers of x rounded to double) is 7-8 digits from the
    # certified values, which are for the exact decimal data
    cert = certified["Filip"]
    y, X = load(cert)
    digits = lre(exact_lstsq(X, y), cert["estimates"]).min()
    assert 7.0 < digits < TARGETS["Filip"]
