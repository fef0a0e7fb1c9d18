"""One pass over the design for the model's column checks and the separation screen.

Oracles: numpy's two-pass weighted standard deviation and ``max |x|`` on the
whole array; the single-column screen computed by brute force from its
definition on every row (no blocks, no early stop).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import priorreg as pr
from priorreg import checks
from priorreg import separation as sep

F = sm.families


def two_pass_sd(X, w):
    mean = np.average(X, axis=0, weights=w)
    return np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w))


@pytest.mark.parametrize("weighted", [False, True])
def test_column_stats_against_two_pass_numpy(rng, weighted):
    n = 5 * checks._STATS_ROWS + 37  # several blocks and a short last one
    X = np.column_stack(
        [
            np.ones(n),
            rng.normal(size=n),
            1e6 + rng.normal(size=n),  # mean far from 0: a one-pass sum of squares would cancel
            -3.0 * rng.exponential(size=n),
            np.full(n, 2.5),
        ]
    )
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    stats = checks.column_stats(X, w)
    np.testing.assert_array_equal(stats.peak, np.max(np.abs(X), axis=0))  # exact: max of values
    assert stats.sd[0] == 0.0
    assert stats.sd[4] == 0.0
    expected = two_pass_sd(X, np.ones(n) if w is None else w)
    # deviations from a mean near 1e6 carry eps * 1e6 ~ 2e-10 absolute (sd = 1) in
    # either route: 1e-8 is a 50x margin there
    np.testing.assert_allclose(stats.sd[1:4], expected[1:4], rtol=1e-8)
    # elsewhere: a block's sum of <= 1024 squares (BLAS) errs by <= 1024 eps ~ 2.3e-13,
    # the pooling of 6 blocks and numpy's pairwise oracle by a few eps: 3e-12 is > 10x
    np.testing.assert_allclose(stats.sd[[1, 3]], expected[[1, 3]], rtol=3e-12)


def test_column_stats_of_one_row_and_of_rows_fewer_than_a_block(rng):
    X = rng.normal(size=(1, 3))
    stats = checks.column_stats(X)
    np.testing.assert_array_equal(stats.sd, np.zeros(3))
    X = rng.normal(size=(10, 3))
    np.testing.assert_allclose(
        checks.column_stats(X).sd, X.std(axis=0), rtol=1e-13  # n eps ~ 2e-15; 50x
    )


def test_model_keeps_the_column_maxima_and_the_units_message(rng):
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n), 1000.0 * rng.normal(size=n)])
    y = X[:, 1] + rng.normal(size=n)
    model = pr.PriorRidge(y, X)
    np.testing.assert_array_equal(model._column_stats.peak, np.max(np.abs(X), axis=0))
    # the same message as from the two-pass standard deviations
    from priorreg.units import penalty_units_message

    penalized = np.array([False, True, True])
    expected = penalty_units_message(X, None, penalized, ["const", "x1", "x2"])
    assert model.units_message == expected
    assert model.units_message is not None
    assert "differ" in model.units_message


def brute_screen(X, side, free):
    """The single-column screen from its definition, on every row at once."""
    scale = np.max(np.abs(X), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Xs = X / scale
    nz = np.abs(Xs) > sep._TOL
    for sign in (1.0, -1.0):
        ok = free & nz.any(axis=0) & np.all((sign * side[:, None] * Xs > 0) | ~nz, axis=0)
        if ok.any():
            d = np.zeros(X.shape[1])
            d[int(np.flatnonzero(ok)[0])] = sign
            return d
    return None


def test_column_screen_counts_add_over_blocks(rng):
    X = rng.normal(size=(500, 4))
    X[:, 2] = np.where(X[:, 2] > 1, 1.0, 0.0)
    side = np.where(rng.uniform(size=500) < 0.5, 1.0, -1.0)
    whole = sep.ColumnScreen.of_block(X, side)
    parts = sep.ColumnScreen.of_block(X[:123], side[:123]).merged(
        sep.ColumnScreen.of_block(X[123:], side[123:])
    )
    for name in ("nonzero", "upper", "lower"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name))


@pytest.mark.parametrize("where", ["first", "last"])
def test_screen_stops_early_only_when_no_column_can_separate(rng, where):
    """A column non-zero only in the last block (all y = 1 there) is still found.

    The screen stops reading once every column has rows on both sides; a column
    that is zero so far stays open, so the result equals the whole-data screen.
    """
    n = 3 * sep._BLOCK_ROWS + 11
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 0.5).astype(float)
    d = np.zeros(n)
    rows = slice(0, 40) if where == "first" else slice(n - 40, n)
    d[rows] = 1.0
    y[rows] = 1.0
    X = np.column_stack([np.ones(n), x, d])
    L = np.array([0.0, 1.0, 1.0])
    found = sep.find_separation(X, y, F.Binomial(), ["I", "x", "d"], L)
    side = np.where(y >= 1, 1.0, -1.0)
    expected = brute_screen(X, side, np.ones(3, dtype=bool))
    assert found is not None
    assert found.columns == ["d"]
    np.testing.assert_array_equal(found.direction * np.max(np.abs(X), axis=0), expected)
    assert found.n_rows == 40
    # given the column maxima (as the model does), the same answer
    peak = np.max(np.abs(X), axis=0)
    again = sep.find_separation(X, y, F.Binomial(), ["I", "x", "d"], L, peak=peak)
    assert again is not None
    assert again.columns == found.columns
    assert again.n_rows == found.n_rows
    assert again.unbounded == found.unbounded
    np.testing.assert_array_equal(again.direction, found.direction)


def test_continuous_design_is_cleared_from_its_first_block(rng, monkeypatch):
    n = 4 * sep._BLOCK_ROWS
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = (rng.uniform(size=n) < 0.5).astype(float)
    read = []
    original = sep.ColumnScreen.of_block.__func__

    def counting(cls, Xs, side):
        read.append(Xs.shape[0])
        return original(cls, Xs, side)

    monkeypatch.setattr(sep.ColumnScreen, "of_block", classmethod(counting))
    L = np.array([0.0, 1, 1, 1])
    assert sep.find_separation(X, y, F.Binomial(), ["I", "a", "b", "c"], L) is None
    assert brute_screen(X, np.where(y >= 1, 1.0, -1.0), np.ones(4, dtype=bool)) is None
    assert sum(read) <= sep._BLOCK_ROWS  # the empty start and one block


def test_model_separation_warning_unchanged_with_known_maxima(rng):
    """The fit's separation warning names the same column as the whole-data check."""
    n = 2 * sep._BLOCK_ROWS
    x = rng.normal(size=n)
    d = (np.arange(n) >= n - 25).astype(float)
    y = (rng.uniform(size=n) < 0.4).astype(float)
    y[d == 1] = 0.0
    X = np.column_stack([np.ones(n), x, d])
    model = pr.PriorGLM(y, X, family=F.Binomial())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(lam=1.0)
    assert [w.category for w in caught] == [pr.SeparationWarning]
    assert res.separation.columns == ["x2"]
    assert res.separation.n_rows == 25
    assert np.all(y[d == 1] == 0)  # oracle: the definition


@pytest.mark.parametrize(
    "columns",
    [
        ["x", "one"],  # a column of ones
        ["two", "x", "one"],  # ones preferred to another constant
        ["zero", "two", "x"],  # a zero column is no intercept
        ["x", "y"],  # none
    ],
)
def test_constant_column_from_the_extremes_equals_the_full_scan(rng, columns):
    from priorreg.base import _constant_column

    n = 3 * checks._STATS_ROWS + 3
    values = {
        "x": rng.normal(size=n),
        "y": rng.normal(size=n),
        "one": np.ones(n),
        "two": np.full(n, 2.0),
        "zero": np.zeros(n),
    }
    X = np.column_stack([values[c] for c in columns])
    stats = checks.column_stats(X, rng.uniform(0.5, 2.0, n))
    assert _constant_column(stats.extremes) == _constant_column(X)  # oracle: every row
    model = pr.PriorRidge(rng.normal(size=n), X)
    assert model.data.const_idx == _constant_column(X)
