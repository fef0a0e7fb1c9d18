"""The summary table of a fit: renders numbers computed elsewhere."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.table import SimpleTable
from statsmodels.iolib.tableformatting import fmt_params

from priorreg.bounds import summary_marks
from priorreg.degenerate import summary_notes
from priorreg.inference import LOW_SHARE, NEGLIGIBLE_SHARE

#: the coefficient table has two more columns than statsmodels': narrower cells
_FMT = {**fmt_params, "colwidths": 8, "data_fmts": ["%s"]}

#: One row of the header: a label and its cell.
_Row = tuple[str, list[str]]

#: Width of the wrapped notes under the table.
_NOTE_WIDTH = 88

__all__ = ["coef_table_rows", "penalty_label", "results_summary"]


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"


def _penalized_names(res: Any) -> str:
    names = list(res.model.exog_names)
    weights = res.model.penalty_weights
    pen = [n for n, p in zip(names, weights > 0, strict=True) if p]
    unpen = [n for n, p in zip(names, weights > 0, strict=True) if not p]
    if not unpen:
        return "all coefficients are penalized"
    if not pen:
        return "no coefficient is penalized"
    return "unpenalized: " + ", ".join(unpen)


def coef_table_rows(res: Any, alpha: float = 0.05) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the coefficient table: estimate, prior, SE, t, p, CI, share."""
    params = np.asarray(res.params)
    prior = np.asarray(res.prior)
    bse = np.asarray(res.bse)
    tval = np.asarray(res.tvalues)
    pval = np.asarray(res.pvalues)
    ci = np.asarray(res.conf_int(alpha=alpha))
    share = np.asarray(res.edf_params)
    # statistics of coefficients the data do not inform restate the prior
    quiet = res.data_share().not_informative()
    lo, hi = alpha / 2, 1 - alpha / 2
    header = ["coef", "prior", "std err", "t", "P>|t|", f"[{lo:g}", f"{hi:g}]", "share"]
    rows = [
        [
            _fmt(params[i]),
            _fmt(prior[i]),
            _fmt(bse[i]),
            "--" if quiet[i] else f"{tval[i]:.3f}",
            "--" if quiet[i] else f"{pval[i]:.3f}",
            _fmt(ci[i, 0]),
            _fmt(ci[i, 1]),
            f"{share[i]:.3f}",
        ]
        for i in range(params.size)
    ]
    return header, rows


def _finish(res: Any, smry: Summary, xname: list[str] | None, alpha: float) -> Summary:
    header, rows = coef_table_rows(res, alpha)
    if not res.use_t:
        header = [
            h.replace("P>|t|", "P>|z|") if h == "P>|t|" else ("z" if h == "t" else h)
            for h in header
        ]
    stubs = list(xname or res.model.exog_names)
    bound_notes: list[str] = []
    if getattr(res.model, "bounds", None) is not None:  # mark coefficients at a bound
        stubs, bound_notes = summary_marks(res.model.bounds, np.asarray(res.active_bounds), stubs)
    smry.tables.append(SimpleTable(rows, header, stubs, txt_fmt=_FMT))
    compat = res.compatibility_test()
    share = res.data_share()
    lines = [
        f"Penalty: lam * (b - prior)' L (b - prior); {_penalized_names(res)}.",
        str(compat) + ".",
        f"Share of information from the data: {share.overall:.3f} overall "
        "(column 'share': 1 = data only, 0 = prior only).",
        *_share_notes(share, "t" if res.use_t else "z"),
        *summary_notes(res),
        *bound_notes,
        *_search_notes(res),
    ]
    several = getattr(res, "components", None) is not None  # their own note, per lam
    if res.lam_method != "fixed" and res.cov_type != "unconditional" and not several:
        lines.append(
            f"Standard errors, tests and intervals treat lam, chosen by "
            f"{res.lam_method.upper()}, as known; cov_type=\"unconditional\" allows for "
            "the uncertainty of that choice."
        )
    smry.add_extra_txt([textwrap.fill(line, width=_NOTE_WIDTH) for line in lines])
    return smry


def _share_notes(share: Any, stat: str) -> list[str]:
    """Say which rows restate the prior (data share < 5%, < 0.1%), and shares off [0, 1]."""
    notes = _mixed_share_notes(share)
    low = share.low(LOW_SHARE)
    if not low:
        return notes
    measure = (
        "Data share"
        if share.diagonal
        else "Data share (here, with a non-diagonal penalty: the data's part of the "
        "posterior variance)"
    )
    notes += [
        f"{measure} below {LOW_SHARE:.0%} for {', '.join(low)}: these rows restate "
        "the prior; their standard errors, tests and intervals are not evidence "
        "from these data."
    ]
    names = share.per_coefficient.index
    quiet = [str(n) for n, q in zip(names, share.not_informative(), strict=True) if q]
    if quiet:
        notes.append(
            f"{stat} and P are shown as -- where the share is below {NEGLIGIBLE_SHARE:g} "
            f"({', '.join(quiet)}): the prior holds over 99.9% of the information, so "
            f"a {stat} would only measure the prior's distance from 0 in units of its "
            "own spread."
        )
    return notes


def _mixed_share_notes(share: Any) -> list[str]:
    """With a non-diagonal penalty a column 'share' entry may leave [0, 1]: say why."""
    per = share.per_coefficient
    off = [str(n) for n, v in per.items() if not -1e-9 <= v <= 1 + 1e-9]
    if share.diagonal or not off:
        return []
    return [
        f"The column 'share' leaves [0, 1] for {', '.join(off)}: with a non-diagonal "
        "penalty each entry is diag((X'WX + lam L)^-1 X'WX), which mixes the information "
        "of correlated coefficients; the overall share (edf/k) reads as a fraction, and so "
        "does each entry of res.data_share().variance_share."
    ]


def penalty_label(model: Any) -> str:
    """``default (raw columns)``, ``user (standardized)``, ``information``, ..."""
    if model.penalty_kind == "information":
        return "information"
    scale = "standardized" if model.standardize else "raw columns"
    return f"{model.penalty_kind} ({scale})"


@dataclass(frozen=True)
class _Head:
    """What the header of one kind of model shows beyond the rows all share."""

    name: str
    title: str
    gright: list[_Row]
    before: tuple[_Row, ...] = ()
    after: tuple[_Row, ...] = ()


def _header(
    res: Any,
    head: _Head,
    *,
    title: str,
    yname: str | None = None,
    xname: list[str] | None = None,
    alpha: float = 0.05,
) -> Summary:
    """The two-column header shared by every model, then the coefficient table."""
    model = res.model
    how = "fixed" if res.lam_method == "fixed" else f"min {res.lam_method.upper()}"
    gleft = [
        ("Dep. Variable:", None),
        ("Model:", [head.name]),
        *head.before,
        ("Penalty weight lam:", [_fmt(res.lam) if np.ndim(res.lam) == 0 else "several"]),
        ("Lam chosen by:", [how]),
        *head.after,
        ("No. Observations:", [f"{int(res.nobs)}"]),
        ("Rows dropped (NA):", [f"{model.n_dropped}"]),
        ("Covariance Type:", [res.cov_type]),
    ]
    smry = Summary()
    smry.add_table_2cols(
        res,
        gleft=gleft,
        gright=head.gright,
        yname=yname or model.endog_names,
        xname=xname,
        title=title,
    )
    return _finish(res, smry, xname, alpha)


def _glm_head(res: Any) -> _Head:
    """The header rows of a ``PriorGLM`` fit."""
    family = res.model.family
    return _Head(
        name="PriorGLM",
        title="Prior-centred penalized GLM results",
        gright=[
            ("Effective df (edf):", [_df(res.edf)]),
            ("Df Residuals:", [_df(res.df_resid)]),
            ("Scale:", [_fmt(res.scale)]),
            ("Deviance:", [_fmt(res.deviance)]),
            ("Pearson chi2:", [_fmt(res.pearson_chi2)]),
            ("Log-Likelihood:", [_fmt(res.llf)]),
            ("GCV:", [_fmt(res.gcv)]),
            ("Converged:", [f"{res.converged} ({res.iterations} it.)"]),
            ("AIC (edf):", [_fmt(res.aic)]),
            ("BIC (edf):", [_fmt(res.bic)]),
        ],
        before=(
            ("Family:", [type(family).__name__]),
            ("Link:", [type(family.link).__name__]),
            ("Penalty:", [penalty_label(res.model)]),
        ),
    )


def _df(value: float) -> str:
    """A degree-of-freedom count to 3 decimals; rounding below 0 reads 0.000, not -0.000."""
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def _search_notes(res: Any) -> list[str]:
    """What ``iterations`` counts at a selected lam, and the cost of the search (GLM)."""
    total, fits = getattr(res, "iterations_total", None), getattr(res, "search_fits", None)
    if res.selection is None or total is None or fits is None:
        return []
    return [
        f"IRLS iterations: {res.iterations} for the reported fit (each fit of the search "
        f"for lam starts from its neighbour's estimate); {total} over the {fits} fits of "
        "the search (res.iterations_total, res.search_fits)."
    ]


def _ridge_head(res: Any) -> _Head:
    """The header rows of a ``PriorRidge`` fit."""
    return _Head(
        name="PriorRidge",
        title="Prior-centred ridge regression results",
        gright=[
            ("R-squared:", [f"{res.rsquared:.4f}"]),
            ("Adj. R-squared:", [f"{res.rsquared_adj:.4f}"]),
            ("Effective df (edf):", [_df(res.edf)]),
            ("Df Residuals:", [_df(res.df_resid)]),
            ("Scale:", [_fmt(res.scale)]),
            ("GCV:", [_fmt(res.gcv)]),
            ("LOOCV:", [_fmt(res.loocv)]),
            ("Log-Likelihood:", [_fmt(res.llf)]),
            ("AIC (edf):", [_fmt(res.aic)]),
            ("BIC (edf):", [_fmt(res.bic)]),
        ],
        after=(("Penalty:", [penalty_label(res.model)]),),
    )


def results_summary(
    res: Any,
    yname: str | None = None,
    xname: list[str] | None = None,
    title: str | None = None,
    alpha: float = 0.05,
) -> Summary:
    """Build the statsmodels ``Summary`` of a ``PriorGLM`` or ``PriorRidge`` fit.

    The header names the family and link of a GLM (deviance, Pearson
    chi-square, convergence) or the R-squared of a linear fit; the rest is
    the same for both.
    """
    head = _glm_head(res) if hasattr(res.model, "family") else _ridge_head(res)
    return _header(res, head, title=title or head.title, yname=yname, xname=xname, alpha=alpha)
