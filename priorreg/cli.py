"""Command line: ``priorreg demo`` and ``priorreg fit FORMULA --data FILE``.

Every user mistake exits with status 2 and one line on stderr that names
the problem; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["main"]

FAMILIES = {
    "gaussian": "Gaussian",
    "binomial": "Binomial",
    "poisson": "Poisson",
    "gamma": "Gamma",
    "inverse_gaussian": "InverseGaussian",
    "negative_binomial": "NegativeBinomial",
    "tweedie": "Tweedie",
}
LINKS = {
    "identity": "Identity",
    "log": "Log",
    "logit": "Logit",
    "probit": "Probit",
    "cloglog": "CLogLog",
    "loglog": "LogLog",
    "cauchy": "Cauchy",
    "inverse": "InversePower",
    "inverse_squared": "InverseSquared",
    "sqrt": "Sqrt",
}


def _lam(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _read(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"data file not found: {path}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(p)
        except ImportError as exc:
            raise ValueError(
                'reading Parquet needs pyarrow: pip install "priorreg[parquet]"'
            ) from exc
    if suffix not in (".csv", ".txt", ".gz"):
        raise ValueError(f"unknown data format {suffix!r}: use a .csv or .parquet file")
    return pd.read_csv(p)


def _penalty(spec: str | None) -> Any:
    """``information``, ``none`` (default ridge) or a file of weights/matrix."""
    if spec is None or spec.lower() in ("none", "ridge", "default"):
        return None
    if spec.lower() == "information":
        return "information"
    p = Path(spec)
    if not p.exists():
        raise ValueError(f"penalty {spec!r} is neither 'information', 'none' nor an existing file")
    if p.suffix.lower() == ".json":
        doc = json.loads(p.read_text())
        if isinstance(doc, dict) and "matrix" in doc:
            names = doc.get("names")
            return pd.DataFrame(np.asarray(doc["matrix"], dtype=float), index=names, columns=names)
        if isinstance(doc, dict):
            return {str(k): float(v) for k, v in doc.items()}
        raise ValueError(f"{spec}: a penalty JSON is {{name: weight}} or {{names, matrix}}")
    frame = pd.read_csv(p, index_col=0)
    if frame.shape[1] == 1:  # name,weight
        return frame.iloc[:, 0].astype(float)
    return frame.astype(float)


def _family(name: str | None, link: str | None) -> Any:
    if name is None or (name == "gaussian" and link is None):
        return None
    from statsmodels.genmod import families

    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; use one of {sorted(FAMILIES)}")
    kwargs = {}
    if link is not None:
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; use one of {sorted(LINKS)}")
        kwargs["link"] = getattr(families.links, LINKS[link])()
    try:
        return getattr(families, FAMILIES[name])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"link {link!r} does not suit the {name} family: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="priorreg",
        description=(
            "Regression with an L2 penalty centred on prior coefficients: refine a "
            "fitted model with new data, choosing the penalty weight lam by GCV, "
            "LOOCV or REML."
        ),
        epilog='Example: priorreg fit "y ~ x1 + C(g)" --data new.csv --prior old.json '
        "--penalty information --lam reml --save-prior new.json",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="refine a fitted model with a small new group (shipped data)",
        description="A tour on data shipped with statsmodels: fit, refine, compare.",
    )
    demo.add_argument(
        "which",
        nargs="?",
        default="linear",
        choices=["linear", "glm"],
        help="linear: Grunfeld investment (default); glm: logistic, Fair's affairs",
    )
    fit = sub.add_parser(
        "fit",
        help="fit a formula on a CSV/Parquet file",
        description="Fit FORMULA on a CSV or Parquet file and print the summary.",
    )
    fit.add_argument("formula", help='R-style formula, e.g. "y ~ x1 + C(g)"')
    fit.add_argument("--data", required=True, help="CSV or Parquet file (by extension)")
    fit.add_argument("--prior", help="JSON prior file written by --save-prior")
    fit.add_argument(
        "--penalty",
        default=None,
        help="'none' (ridge, intercept unpenalized; default), 'information' (the prior's "
        "precision: lam=1 pools the data) or a file: JSON {name: weight} or "
        "{names, matrix}, or CSV of name,weight or a labelled k x k matrix",
    )
    fit.add_argument(
        "--lam",
        type=_lam,
        default="gcv",
        help="a number >= 0, or gcv | loocv | reml (GLM also ubre | aic); default gcv",
    )
    fit.add_argument(
        "--family", choices=sorted(FAMILIES), help="GLM family (default: linear model)"
    )
    fit.add_argument("--link", help=f"GLM link: {', '.join(sorted(LINKS))}")
    fit.add_argument(
        "--cov-type",
        default="bayes",
        choices=["bayes", "sandwich", "unconditional"],
        help="posterior (bayes, default), sampling (sandwich) covariance, or "
        "posterior allowing for the choice of lam (unconditional)",
    )
    fit.add_argument("--weights", help="column of observation (GLM: variance) weights")
    fit.add_argument("--freq-weights", help="GLM: column of frequency weights")
    fit.add_argument("--offset", help="column of offsets")
    fit.add_argument("--exposure", help="GLM: column of exposures (log is added)")
    fit.add_argument(
        "--standardize", action="store_true", help="scale the penalty by each column's variance"
    )
    fit.add_argument("--save-prior", help="write the fit as a JSON prior file")
    fit.add_argument("--plot", help="write path, criterion and shrinkage plots (PNG, PDF)")
    fit.add_argument(
        "--format",
        default="text",
        choices=["text", "json", "csv"],
        help="text summary (default) or the coefficient table as JSON/CSV",
    )
    return parser


def _table(res: Any) -> pd.DataFrame:
    ci = np.asarray(res.conf_int())
    return pd.DataFrame(
        {
            "coef": np.asarray(res.params),
            "prior": np.asarray(res.prior),
            "std_err": np.asarray(res.bse),
            "statistic": np.asarray(res.tvalues),
            "pvalue": np.asarray(res.pvalues),
            "ci_lower": ci[:, 0],
            "ci_upper": ci[:, 1],
            "data_share": np.asarray(res.edf_params),
        },
        index=list(res.model.exog_names),
    )


def _output(res: Any, fmt: str) -> str:
    if fmt == "text":
        return str(res.summary())
    table = _table(res)
    if fmt == "csv":
        return table.to_csv(index_label="term")
    doc = {
        "model": type(res.model).__name__,
        "formula": res.model.formula,
        "nobs": float(res.nobs),
        "lam": float(res.lam),
        "lam_method": res.lam_method,
        "edf": float(res.edf),
        "df_resid": float(res.df_resid),
        "scale": float(res.scale),
        "gcv": float(res.gcv),
        "llf": float(res.llf),
        "aic": float(res.aic),
        "coefficients": {name: row.to_dict() for name, row in table.iterrows()},
    }
    return json.dumps(doc, indent=1)


def _plot(res: Any, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ValueError('--plot needs matplotlib: pip install "priorreg[plot]"') from exc
    from priorreg.plotting import plot_overview

    fig = plot_overview(res)
    fig.savefig(path)
    plt.close(fig)


def _fit(args: argparse.Namespace) -> None:
    from priorreg.glm import PriorGLM
    from priorreg.linear import PriorRidge
    from priorreg.prior import load_prior

    data = _read(args.data)
    prior = load_prior(args.prior) if args.prior else None
    family = _family(args.family, args.link)
    common = dict(
        prior=prior,
        penalty=_penalty(args.penalty),
        offset=args.offset,
        standardize=args.standardize,
    )
    if family is None:
        if args.exposure or args.freq_weights:
            raise ValueError("--exposure and --freq-weights need a GLM --family")
        model = PriorRidge.from_formula(args.formula, data, weights=args.weights, **common)
    else:
        model = PriorGLM.from_formula(
            args.formula,
            data,
            family=family,
            var_weights=args.weights,
            freq_weights=args.freq_weights,
            exposure=args.exposure,
            **common,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(lam=args.lam, cov_type=args.cov_type)
    print(_output(res, args.format))
    for w in caught:
        print(f"priorreg: warning: {w.message}", file=sys.stderr)
    if args.save_prior:
        res.save_prior(args.save_prior)
    if args.plot:
        _plot(res, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``priorreg`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from priorreg.demo import run_demo, run_glm_demo

            (run_glm_demo if args.which == "glm" else run_demo)(sys.stdout)
        else:
            _fit(args)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"priorreg: error: {first}", file=sys.stderr)
        return 2
    return 0
