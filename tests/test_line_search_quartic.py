"""The Newton search's step to the minimum of the quartic through two fits."""

from __future__ import annotations

import math

import pytest

from priorreg.line_search import XATOL, newton_search, quartic_zero


def _cubic(r: float) -> tuple[float, float, float]:
    # V' = (r - 0.2)(r + 1)(r - 3) = r^3 - 2.2 r^2 - 2.6 r + 0.6: it rises
    # through -1 and 3 (minima of V) and falls through 0.2 (a maximum)
    v = r**4 / 4 - 2.2 * r**3 / 3 - 1.3 * r**2 + 0.6 * r
    return v, r**3 - 2.2 * r**2 - 2.6 * r + 0.6, 3 * r**2 - 4.4 * r - 2.6


def test_quartic_zero_reproduces_a_quartic_criterion():
    # V is a quartic: its own interpolant, whichever end holds the curvature.
    # The coefficients carry eps * |V| / delta^4 * 12 ~ 1e-14 of rounding and
    # the zeros move by that over V'' (>= 4.8 at -1 and 3): 1e-12 is 100x that
    for r0, r1 in ((-1.5, -0.5), (-0.5, -1.5)):
        got = quartic_zero(r0, *_cubic(r0), r1, *_cubic(r1)[:2], 0.0)
        assert got is not None
        assert got[0] == pytest.approx(-1.0, abs=1e-12)
        assert got[1] == 0.0  # values known exactly: no uncertainty
        assert got[2] == pytest.approx(_cubic(r1)[2], rel=1e-12)  # V'' at r1
    # both minima inside: the lower one (V(3) = -9.45 < V(-1) = -0.92);
    # delta = 5 scales the rounding by 5^4 / 5 in the zero: 1e-10 is ~100x it
    got = quartic_zero(-1.5, *_cubic(-1.5), 3.5, *_cubic(3.5)[:2], 0.0)
    assert got is not None
    assert got[0] == pytest.approx(3.0, abs=1e-10)
    # a falling zero only (a maximum of V) between the points: none
    assert quartic_zero(0.0, *_cubic(0.0), 0.5, *_cubic(0.5)[:2], 0.0) is None
    # no exact positive curvature at r0: none
    v, g, _ = _cubic(-1.5)
    assert quartic_zero(-1.5, v, g, -1.0, -0.5, *_cubic(-0.5)[:2], 0.0) is None


def test_quartic_zero_uncertainty_is_the_shift_from_a_perturbed_value():
    # the zero's sensitivity to v1 - v0, against a central difference of the
    # zero itself: the difference errs by O(dv^2) (relative dv * |d2 zero /
    # d dv^2| / |d zero / d dv| ~ 1e-5 * O(1)); 1e-3 relative is 100x that
    r0, r1 = -1.6, -0.4
    v0, g0, h0 = _cubic(r0)
    v1, g1, _ = _cubic(r1)
    noise = 1e-5
    got = quartic_zero(r0, v0, g0, h0, r1, v1, g1, noise)
    up = quartic_zero(r0, v0, g0, h0, r1, v1 + noise, g1, 0.0)
    down = quartic_zero(r0, v0, g0, h0, r1, v1 - noise, g1, 0.0)
    assert got is not None
    assert up is not None
    assert down is not None
    assert got[1] == pytest.approx(abs(up[0] - down[0]) / 2.0, rel=1e-3)
    assert got[1] > 0


def _exp_criterion(calls: list[float]):
    # V = exp(r) - 2r: V' = exp(r) - 2 is convex (V'' grows along the
    # step), minimum at log 2; the exact V'' = 1 is given at r = 0 only
    def f(r: float) -> tuple[float, ...]:
        calls.append(r)
        v, g = math.exp(r) - 2.0 * r, math.exp(r) - 2.0
        return (v, g, math.exp(r)) if r == 0.0 else (v, g)

    return f


def test_newton_search_steps_to_the_quartic_minimum_after_a_sign_change():
    # Newton from 0 with V'' = 1 overshoots to r = 1 (V' = e - 2 > 0). The
    # quartic Q through V, V' at 0 and 1 and V''(0): V - Q has a triple zero
    # at 0 and a double one at 1, so V' - Q' vanishes at 0 (twice), at 1 and
    # (Rolle) at some xi in (0, 1): |V' - Q'| <= max|V'''''| / 4! * s^2 (1 - s)
    # <= e / 24 * 4 / 27 on [0, 1]. At Q's zero t, |V'(t)| is below that, so
    # |t - log 2| <= bound / min V'' there (V'' = e^r >= 2 - bound).
    dv = math.e / 24.0 * 4.0 / 27.0
    bound = dv / (2.0 - dv)  # 8.5e-3
    calls: list[float] = []
    assert newton_search(_exp_criterion(calls), 0.0, -10.0, 10.0, skip_rtol=1e-10, quartic=True)
    assert calls[:2] == [0.0, 1.0]
    assert abs(calls[2] - math.log(2.0)) <= bound
    assert abs(calls[-1] - math.log(2.0)) <= XATOL
    # the parabola in V' (the step without the values) lands outside the
    # bound and needs one point more
    plain: list[float] = []
    assert newton_search(_exp_criterion(plain), 0.0, -10.0, 10.0, skip_rtol=1e-10)
    assert plain[:2] == [0.0, 1.0]
    assert abs(plain[2] - math.log(2.0)) > bound
    assert len(calls) < len(plain)


def test_newton_search_keeps_the_parabola_when_the_values_do_not_resolve_the_quartic():
    # values resolved only to 1e-2 (relative): the quartic's zero is uncertain
    # by about 1e-2 * |V| * 12 s^2 (1 - s) / V'' ~ 1.5e-2 there, over XATOL,
    # so the points are those without the quartic step
    v0, v1 = 1.0, math.e - 2.0  # V(0), V(1)
    got = quartic_zero(0.0, v0, -1.0, 1.0, 1.0, v1, math.e - 2.0, 1e-2 * (v0 + v1))
    assert got is not None
    assert got[1] > XATOL
    runs = []
    for quartic in (False, True):
        calls: list[float] = []
        newton_search(_exp_criterion(calls), 0.0, -10.0, 10.0, skip_rtol=1e-2, quartic=quartic)
        runs.append(calls)
    assert len(runs[0]) >= 3
    assert runs[0] == runs[1]
