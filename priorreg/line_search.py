r"""One-dimensional minimisers on :math:`\rho = \log\lambda` for the GLM penalty search.

:func:`newton_search` takes Newton steps from values and exact derivatives
(safeguarded by a bracket); :func:`brent` is the derivative-free fallback.
Both read the criterion through a callable, so they know nothing of GLMs;
:class:`priorreg.glm_search.GLMSearch` evaluates it at converged fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from priorreg.shrinkage_step import shrinkage_step

__all__ = ["XATOL", "brent", "newton_search", "quartic_zero"]

#: Tolerance of the search on ``log(lam)``. The criteria are flat at their
#: minimum: rounding of the deviance (about 1e-14 relative for 1e5 terms)
#: already moves the argmin by about 1e-3 on ``log(lam)`` in the benchmark of
#: ``benchmarks/glm_path.py``, and the criterion changes there by ~1e-13.
XATOL = 1e-3
#: The last Newton step (below ``XATOL``) is skipped only when the predicted
#: change of the criterion is at the rounding of the deviance (~1e-14 relative).
_ROUNDING_RTOL = 1e-13
#: A criterion still falling at the outermost fit, with a convex tail, falls by
#: about ``V'^2 / V''`` more (exactly so for an exponential tail, where Newton
#: steps of constant length would walk to the bound). Below this (relative),
#: and with a Newton step at least half the last spacing (near a minimum the
#: step is a small fraction of it), the search evaluates the bound at once: if
#: the tail is monotone the bound is the minimum the walk would reach; if not,
#: the search goes on from the best fit.
_TAIL_RTOL = 1e-6
#: First step on ``log(lam)`` (no curvature known yet), and the largest.
_FIRST_STEP = math.log(1.5)
_MAX_STEP = 2.0 * math.log(10.0)


def brent(
    f: Callable[[float], float], ts: list[float], values: list[float], xatol: float
) -> tuple[float, float]:
    """Minimise ``f`` inside a bracket ``ts[0] < ts[1] < ts[2]`` (``f(ts[1])`` smallest).

    Brent's (1973) method: parabolic interpolation through the best three
    points, golden-section steps when the parabola is not trusted; the values
    at the bracket are known, so the first step is the parabola through them.
    Stops when the minimum is located to within ``xatol``.
    """
    golden = 0.3819660112501051
    lo, hi = ts[0], ts[2]
    x, fx = ts[1], values[1]
    (w, fw), (v, fv) = sorted([(ts[0], values[0]), (ts[2], values[2])], key=lambda p: p[1])
    e = d = hi - lo  # the bracket stands for the earlier steps: parabolas allowed
    tol1 = 0.5 * xatol
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if max(x - lo, hi - x) <= 2 * tol1:
            break
        parabolic = False
        if abs(e) > tol1 and all(math.isfinite(val) for val in (fx, fw, fv)):
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (lo - x) < p < q * (hi - x):
                e, d = d, p / q
                parabolic = True
                if (x + d) - lo < 2 * tol1 or hi - (x + d) < 2 * tol1:
                    d = tol1 if mid >= x else -tol1
        if not parabolic:
            e = (hi - x) if x < mid else (lo - x)
            d = golden * e
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = f(u)
        if fu <= fx:
            if u >= x:
                lo = x
            else:
                hi = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                lo = u
            else:
                hi = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x, fx


def quartic_zero(
    r0: float, v0: float, g0: float, h0: float, r1: float, v1: float, g1: float,
    noise: float,
) -> tuple[float, float, float] | None:
    r"""The minimum between ``r0`` and ``r1`` of the quartic through two points' values and slopes.

    The quartic :math:`Q` with :math:`Q = V`, :math:`Q' = V'` at both
    points and :math:`Q'' = V''` (exact) at ``r0``; its derivative is the
    cubic (:math:`s = r - r_0`, :math:`\delta = r_1 - r_0`)

    .. math::

        Q'(s) = g_0 + h_0 s + p s^2 + q s^3, \qquad
        p = \frac{12 e_2}{\delta^3} - \frac{3 e_1}{\delta^2}, \quad
        q = \frac{4 e_1}{\delta^3} - \frac{12 e_2}{\delta^4},

    :math:`e_1 = g_1 - g_0 - h_0\delta`, :math:`e_2 = v_1 - v_0 - g_0\delta
    - h_0\delta^2/2`. Of its zeros strictly between the points where it
    rises, the one with the lowest :math:`Q`. The values enter through
    :math:`v_1 - v_0` only, known to ``noise``; the zero moves by
    :math:`\partial Q'(s)/\partial(v_1 - v_0) = 12 s^2(\delta - s)/\delta^4`
    per unit of it, divided by :math:`Q''(s)`. Returns the zero, that
    uncertainty and :math:`Q''` at ``r1``; ``None`` without such a zero.
    """
    d = r1 - r0
    if d == 0 or not h0 > 0:
        return None
    e1 = g1 - g0 - h0 * d
    e2 = v1 - v0 - g0 * d - 0.5 * h0 * d * d
    p = 12.0 * e2 / d**3 - 3.0 * e1 / d**2
    q = 4.0 * e1 / d**3 - 12.0 * e2 / d**4
    coef = np.trim_zeros(np.array([q, p, h0, g0]), "f")
    if coef.size < 2 or not np.all(np.isfinite(coef)):
        return None

    def slope(s: float) -> float:  # Q''(s)
        return h0 + 2.0 * p * s + 3.0 * q * s * s

    def value(s: float) -> float:  # Q(s) - v0
        return s * (g0 + s * (h0 / 2.0 + s * (p / 3.0 + s * q / 4.0)))

    zeros = [float(z.real) for z in np.roots(coef) if abs(z.imag) <= 1e-8 * abs(d)]
    rising = [s for s in zeros if 0.0 < s / d < 1.0 and slope(s) > 0]
    if not rising:
        return None
    s = min(rising, key=value)
    uncertainty = noise * abs(12.0 * s * s * (d - s) / d**4) / slope(s)
    return r0 + s, uncertainty, slope(d)


def newton_search(
    f: Callable[[float], tuple[float, ...]],
    rho0: float,
    lo: float,
    hi: float,
    xatol: float = XATOL,
    skip_rtol: float = _ROUNDING_RTOL,
    skip_xatol: float | None = None,
    quartic: bool = False,
    shrinkage: Callable[[float], float | None] | None = None,
) -> bool:
    r"""Locate a minimum of ``V(rho)`` on ``[lo, hi]`` from values and exact derivatives.

    ``f(rho) -> (V, V')``, ``(V, V', V'')`` or ``(V, V', c, False)``
    (``V = inf`` and ``V' = nan`` where no converged fit exists: a wall).
    Steps :math:`-V'/c` from the best point, ``c`` its exact :math:`V''`
    when ``f`` gave a positive one, else the secant slope of :math:`V'`
    between it and the nearest other point (corrected to the slope at the
    best point of the parabola in :math:`V'` through the two derivatives and
    the nearest point's exact :math:`V''` when it has one); with no other point, an
    approximate curvature ``c`` flagged ``False`` (used for that step only,
    never to stop), else a first step of ``log 1.5`` downhill, growing x4
    while ``c <= 0``; at most
    ``log(100)`` long, kept inside the bracket of the largest point with
    :math:`V' < 0` and the smallest with :math:`V' > 0` (bisection
    otherwise). At the outermost point, still falling outwards with a
    remaining fall :math:`V'^2/c` below ``1e-6`` relative and a Newton step
    at least half the last spacing (a plateau, not a minimum close by), it
    evaluates the bound (or wall) at once rather than walking to it. Stops after a step
    below ``xatol``, or without taking a step below ``skip_xatol`` (default
    ``xatol``) whose predicted fall :math:`cs^2/2` is at most ``skip_rtol`` of
    :math:`|V|` (below what the values resolve; ``c`` exact or a secant).
    With ``quartic``, when :math:`V'` changes sign between the best point
    and the nearest other and one of them has an exact :math:`V''`, the step
    goes to the minimum of the quartic through both values, both
    derivatives and that curvature (:func:`quartic_zero`; a derivative whose
    curvature changes over the step, where the parabola in :math:`V'`
    overshoots), unless the values' resolution (``skip_rtol``) leaves that
    minimum uncertain by more than ``xatol``; it needs no curvature beyond
    the one given.
    With ``shrinkage`` (``rho -> u``, the mean shrinkage of the fit at a
    point), a step from the curvature ``f`` gave at the best point is
    Newton's on ``u`` instead (:func:`priorreg.shrinkage_step.shrinkage_step`),
    where that is defined; a secant, which spans the interval already, is
    used as it is.
    The caller reads the points from the memo behind ``f``.
    Returns True when it stopped on a step below ``xatol`` (a located
    minimum or bound), False when it stopped for another reason (no finite
    value, a zero or non-finite derivative, a repeated point, 60 steps).
    """
    pts: dict[float, tuple[float, float, float]] = {}
    approximate: set[float] = set()  # points whose curvature is only a guide
    skip_xatol = xatol if skip_xatol is None else skip_xatol

    def at(rho: float) -> tuple[float, float, float]:
        if rho not in pts:
            got = f(rho)
            pts[rho] = (got[0], got[1], got[2] if len(got) > 2 else math.nan)
            if len(got) > 3 and not got[3]:
                approximate.add(rho)
        return pts[rho]

    at(rho0)
    step = _FIRST_STEP
    for _ in range(60):
        finite = {r: vg for r, vg in pts.items() if math.isfinite(vg[0])}
        if not finite:
            return False
        rb = min(finite, key=lambda r: finite[r][0])
        vb, gb, hb = finite[rb]
        if gb == 0 or not math.isfinite(gb):
            return False
        walls = [r for r, vg in pts.items() if not math.isfinite(vg[0])]
        left = [r for r, vg in finite.items() if vg[1] < 0] + [r for r in walls if r < rb]
        right = [r for r, vg in finite.items() if vg[1] > 0] + [r for r in walls if r > rb]
        a = max([lo, *(r for r in left if r <= rb)])
        b = min([hi, *(r for r in right if r >= rb)])
        others = sorted(
            (r for r in finite if r != rb and math.isfinite(finite[r][1])),
            key=lambda r: abs(r - rb),
        )
        c = -1.0
        if others:
            ro = others[0]
            c = c_secant = (gb - finite[ro][1]) / (rb - ro)
            if len(others) > 1:  # slope at rb of the parabola through three derivatives
                r2 = others[1]
                c2 = (finite[ro][1] - finite[r2][1]) / (ro - r2)
                c_quad = c + (c - c2) * (rb - ro) / (rb - r2)
                c = c_quad if c_quad > 0 else c
        trusted = bool(others)
        if others and not math.isfinite(hb):
            ho = finite[others[0]][2]
            if ho > 0 and others[0] not in approximate:
                # the slope at rb of the parabola in V' with the exact V'' at the other end
                c_herm = 2.0 * c_secant - ho
                c = c_herm if c_herm > 0 else c
        if hb > 0 and (rb not in approximate or not others):
            c, trusted = hb, rb not in approximate  # the curvature given at the best point
        edge = b if gb < 0 else a
        outermost = rb == (max(finite) if gb < 0 else min(finite))
        # a plateau, not a minimum nearby: the Newton step (1/kappa on an
        # exponential tail) is as long as the last spacing, not a fraction of it
        long_step = bool(others) and c > 0 and abs(gb / c) >= 0.5 * abs(rb - others[0])
        if long_step and outermost and edge not in pts and gb * gb / c <= _TAIL_RTOL * abs(vb):
            at(edge)  # evaluate the plateau's end instead of walking there
            continue
        if c > 0:
            # the curvature at rb itself: a secant already spans the step's interval
            at_point = shrinkage is not None and c == hb
            warped = shrinkage_step(gb, c, shrinkage(rb)) if at_point else None
            t = rb - gb / c if warped is None else rb + warped
        else:
            t = rb - math.copysign(step, gb)
            step *= 4.0
        exact = [r for r in (rb, *others[:1]) if finite[r][2] > 0 and r not in approximate]
        if quartic and others and exact and finite[others[0]][1] * gb < 0:
            # V' changes sign next to a point with the exact V'': the zero of
            # the quartic through both values and slopes and that curvature,
            # unless the values' resolution leaves it uncertain by over xatol
            r0, r1 = exact[0], others[0] if exact[0] == rb else rb
            noise = skip_rtol * (abs(finite[r0][0]) + abs(finite[r1][0]))
            got = quartic_zero(r0, *finite[r0], r1, *finite[r1][:2], noise)
            if got is not None and got[1] <= xatol:
                t, trusted = got[0], True
                c = hb if r0 == rb else got[2]
        t = min(max(t, rb - _MAX_STEP), rb + _MAX_STEP)
        if not a < t < b:
            inner = a if t <= a else b
            bounded = inner in (lo, hi) and inner not in pts
            t = inner if bounded else 0.5 * (rb + inner)
        flat = trusted and c > 0 and 0.5 * c * (t - rb) ** 2 <= skip_rtol * abs(vb)
        if abs(t - rb) < xatol or (flat and abs(t - rb) < skip_xatol):
            if abs(t - rb) > 1e-6 and not flat and t not in pts:
                at(t)
            return True
        if t in pts:
            return False
        at(t)
    return False
