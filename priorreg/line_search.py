r"""One-dimensional minimisers on :math:`\rho = \log\lambda` for the GLM penalty search.

:func:`newton_search` takes Newton steps from values and exact derivatives
(safeguarded by a bracket); :func:`brent` is the derivative-free fallback.
Both read the criterion through a callable, so they know nothing of GLMs;
:class:`priorreg.glm_search.GLMSearch` evaluates it at converged fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["XATOL", "brent", "newton_search"]

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


def newton_search(
    f: Callable[[float], tuple[float, ...]],
    rho0: float,
    lo: float,
    hi: float,
    xatol: float = XATOL,
    skip_rtol: float = _ROUNDING_RTOL,
    skip_xatol: float | None = None,
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
            t = rb - gb / c
        else:
            t = rb - math.copysign(step, gb)
            step *= 4.0
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
