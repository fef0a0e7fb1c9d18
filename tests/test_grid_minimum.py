"""The grid search step shared by the linear and the bounded linear lam searches."""

from __future__ import annotations

import numpy as np
import pytest

from priorreg.selection import GridMinimum, lam_grid


def _criterion(lam):
    """A smooth criterion in log(lam) with its minimum at lam = 3 (value 1)."""
    return (np.log(lam) - np.log(3.0)) ** 2 + 1.0


def test_inner_minimum_is_refined_to_the_true_one():
    grid = np.logspace(-3, 3, 13)
    best = GridMinimum.of(grid, _criterion(grid), "gcv")
    assert not best.on_edge
    assert best.lam == grid[int(np.argmin(_criterion(grid)))]
    lam, value = best.refine(lambda lam: float(_criterion(lam)))
    # the bounded search stops within xatol = 1e-6 in log(lam): |dlam/lam| <= ~1e-6; 10x margin
    np.testing.assert_allclose(lam, 3.0, rtol=1e-5)
    assert value <= best.value
    np.testing.assert_allclose(value, 1.0, rtol=0, atol=1e-10)  # (1e-5)^2, 10x margin


def test_edges_and_non_finite_values():
    grid = np.logspace(-2, 2, 9)
    rising = GridMinimum.of(grid, grid.copy(), "reml")
    assert rising.on_edge
    assert rising.index == 0
    falling = GridMinimum.of(grid, np.where(grid > 50, np.nan, -grid), "reml")
    assert falling.on_edge is False
    assert falling.index == 7
    with pytest.raises(ValueError, match="reml is not finite anywhere on the grid"):
        GridMinimum.of(grid, np.full(grid.size, np.inf), "reml")


def test_a_grid_point_beats_a_worse_search_result():
    grid = np.array([1.0, 2.0, 4.0])
    best = GridMinimum.of(grid, np.array([3.0, 1.0, 2.0]), "gcv")
    # a criterion that is worse everywhere off the grid point: the grid point stays
    assert best.refine(lambda lam: 5.0) == (2.0, 1.0)


def test_lam_grid_sorts_and_checks():
    class Factor:  # lam_grid reads the factor only for its default grid
        pass

    np.testing.assert_array_equal(lam_grid(Factor(), [4.0, 1.0, 2.0]), [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="at least two"):
        lam_grid(Factor(), [1.0])
    with pytest.raises(ValueError, match="finite and > 0"):
        lam_grid(Factor(), [0.0, 1.0])
    with pytest.raises(ValueError, match="finite and > 0"):
        lam_grid(Factor(), [1.0, np.inf])
