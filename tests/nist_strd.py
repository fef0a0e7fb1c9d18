"""NIST StRD linear least squares: certified values, designs and log relative errors.

Shared by the accuracy tests and ``benchmarks/accuracy.py``. Data and
certified values are in ``tests/data/nist/`` (see its README).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data" / "nist"

#: NIST prints 15 significant digits: LREs are capped there.
CAP = 15.0

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


def certified() -> dict[str, Any]:
    """Certified values of every dataset, by name."""
    return json.loads((DATA / "certified.json").read_text())["datasets"]


def lre(estimate: Any, certified: Any) -> np.ndarray:
    """Log relative error ``-log10(|est - cert| / |cert|)``, absolute where ``cert == 0``.

    The number of correct significant digits, clipped to ``[0, CAP]``.
    """
    est = np.asarray(estimate, dtype=float)
    cert = np.asarray(certified, dtype=float)
    err = np.abs(est - cert)
    rel = np.where(cert != 0, err / np.where(cert != 0, np.abs(cert), 1.0), err)
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = -np.log10(rel)
    return np.clip(np.nan_to_num(digits, nan=0.0, posinf=CAP), 0.0, CAP)


def load(cert: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
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


def exact_lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
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
