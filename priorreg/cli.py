"""Command line: ``priorreg demo`` and ``priorreg fit FORMULA --data FILE``."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["main"]


def _lam(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _read(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"data file not found: {path}")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    return pd.read_csv(p)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="priorreg",
        description="Regression with an L2 penalty centred on prior coefficients.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="refine a fitted model with a small new group (shipped data)"
    )
    demo.add_argument(
        "which",
        nargs="?",
        default="linear",
        choices=["linear", "glm"],
        help="linear: Grunfeld investment (default); glm: logistic, Fair's affairs",
    )
    fit = sub.add_parser("fit", help="fit a formula on a CSV/Parquet file")
    fit.add_argument("formula", help='R-style formula, e.g. "y ~ x1 + C(g)"')
    fit.add_argument("--data", required=True, help="CSV or Parquet file")
    fit.add_argument("--prior", help="JSON prior file written by --save-prior")
    fit.add_argument(
        "--penalty",
        default=None,
        help='"information" (use the prior\'s precision) or omit for ridge',
    )
    fit.add_argument(
        "--lam", type=_lam, default="gcv", help="a number, or gcv | loocv | reml (default gcv)"
    )
    fit.add_argument("--cov-type", default="bayes", choices=["bayes", "sandwich"])
    fit.add_argument("--weights", help="column of observation weights")
    fit.add_argument("--offset", help="column of offsets")
    fit.add_argument(
        "--standardize", action="store_true", help="scale the penalty by each column's variance"
    )
    fit.add_argument("--save-prior", help="write the fit as a JSON prior file")
    return parser


def _fit(args: argparse.Namespace) -> None:
    from priorreg.linear import PriorRidge
    from priorreg.prior import load_prior

    data = _read(args.data)
    prior = load_prior(args.prior) if args.prior else None
    model = PriorRidge.from_formula(
        args.formula,
        data,
        prior=prior,
        penalty=args.penalty,
        weights=args.weights,
        offset=args.offset,
        standardize=args.standardize,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(lam=args.lam, cov_type=args.cov_type)
    print(res.summary())
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.save_prior:
        res.save_prior(args.save_prior)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``priorreg`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from priorreg.demo import run_demo, run_glm_demo

            (run_glm_demo if args.which == "glm" else run_demo)(sys.stdout)
        else:
            _fit(args)
    except (ValueError, TypeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"priorreg: error: {first}", file=sys.stderr)
        return 2
    return 0
