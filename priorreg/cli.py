"""Command line: ``priorreg demo`` and ``priorreg fit FORMULA --data FILE``.

Every user mistake exits with status 2 and one line on stderr that names
the problem; no traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from priorreg.exceptions import grid_option
from priorreg.families import FAMILIES, LINKS, family_from_names, family_to_json
from priorreg.options import ARRAY

__all__ = ["check_args", "main"]

#: Work longer than this (seconds) shows the search for lam on stderr.
PROGRESS_AFTER = 2.0

#: How the demo's advice names a wider grid: the demo itself has no option for
#: it, so the advice names the Python argument and the option of ``priorreg fit``.
DEMO_GRID_OPTION = "lams= of fit() or refine() in Python (--lams of 'priorreg fit')"

#: Python spellings in the models' advice -> the options of ``priorreg fit``
#: (``lams=`` is named through :data:`priorreg.exceptions.grid_option`).
CLI_SPELLINGS = (
    ("pass fit(scale=number)", "pass --scale NUMBER"),
    ("Pass fit(scale=number)", "Pass --scale NUMBER"),
    ("scale='x2'", "--scale x2"),
    ("scale='dev'", "--scale dev"),
    ("lam='gcv' (or 'reml')", "--lam gcv (or reml)"),
    ("lam='gcv'", "--lam gcv"),
    ("pass standardize=True", "pass --standardize"),
    ('penalty="information"', "--penalty information"),
)


def _cli_words(text: str) -> str:
    """``text`` with the Python spellings of :data:`CLI_SPELLINGS` in the CLI's words."""
    for python, option in CLI_SPELLINGS:
        text = text.replace(python, option)
    return text


def _lam(text: str) -> float | list[float] | str:
    """A number, a comma list of numbers (one lam per penalty), or a criterion name."""
    try:
        if "," in text:
            return [float(part) for part in text.split(",")]
        return float(text)
    except ValueError:
        return text


def _lams(text: str) -> np.ndarray:
    """``0.1,1,10`` or ``logspace:a,b,n`` (``10 ** linspace(a, b, n)``) as a grid of lam."""
    spec = text.strip()
    try:
        if spec.lower().startswith("logspace:"):
            a, b, n = spec.split(":", 1)[1].split(",")
            if not float(n).is_integer():
                raise ValueError
            grid = np.logspace(float(a), float(b), int(float(n)))
        else:
            grid = np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a grid: give positive numbers separated by commas "
            "(0.1,1,10) or logspace:a,b,n for n values from 10**a to 10**b"
        ) from None
    if grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} must give at least two finite values > 0 (lam is searched in log(lam))"
        )
    return grid


def _writable(option: str, path: str) -> Path:
    """``path`` can be created: its folder exists and is writable, and it is no folder."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{option} {path}: no permission to write there; choose another path")
    return p


def _plot_formats() -> list[str]:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:
        raise ValueError('--plot needs matplotlib: pip install "priorreg[plot]"') from exc
    del matplotlib
    return sorted(FigureCanvasAgg.get_supported_filetypes())


def check_args(args: argparse.Namespace) -> None:
    """Option combinations and output paths, checked before any data are read or fitted.

    Raises
    ------
    ValueError
        One sentence naming the option and the fix.
    """
    glm = args.family is not None or args.prior is not None  # a prior file may name one
    if args.link is not None and not glm:
        raise ValueError("--link needs --family (e.g. --family binomial --link probit)")
    if (args.exposure or args.freq_weights or args.scale is not None) and not glm:
        raise ValueError("--exposure, --freq-weights and --scale need a GLM --family")
    if args.lams is not None and not isinstance(args.lam, str):
        raise ValueError(
            "--lams is a grid to search; it needs a criterion for --lam (gcv, loocv, reml, "
            "...), not a fixed number"
        )
    if isinstance(args.lam, str):
        from priorreg.glm import GLM_CRITERIA
        from priorreg.selection import CRITERIA

        allowed = GLM_CRITERIA if glm else CRITERIA
        if args.lam.lower() not in allowed:
            raise ValueError(
                f"unknown lam criterion {args.lam!r}; use a number >= 0 or one of "
                f"{', '.join(allowed)}" + ("" if glm else " (GLM families add ubre, aic)")
            )
    if args.prior and not Path(args.prior).is_file():
        raise ValueError(f"prior file not found: {args.prior}")
    if args.save_prior:
        _writable("--save-prior", args.save_prior)
    if args.plot:
        p = _writable("--plot", args.plot)
        formats = _plot_formats()
        suffix = p.suffix.lower().lstrip(".")
        if suffix not in formats:
            raise ValueError(
                f"--plot {args.plot}: unknown image format {suffix!r}; end the name with "
                f"one of {', '.join('.' + f for f in formats)}"
            )


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
    try:
        return pd.read_csv(p)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"data file {path} is empty: give a header line and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ValueError(f"cannot read data file {path} as CSV ({reason}); fix the file") from exc


def _penalty(spec: str | None) -> Any:
    """``information``, ``none`` (default ridge) or a file of weights/matrix."""
    if spec is None or spec.lower() in ("none", "ridge", "default"):
        return None
    if spec.lower() == "information":
        return "information"
    p = Path(spec)
    if not p.exists():
        raise ValueError(f"penalty {spec!r} is neither 'information', 'none' nor an existing file")
    shape = "a penalty file is JSON {name: weight} or {names, matrix}, or CSV name,weight"
    try:
        if p.suffix.lower() == ".json":
            doc = json.loads(p.read_text())
            if isinstance(doc, dict) and "components" in doc:  # several penalties
                from priorreg.multi import components_from_json

                return components_from_json(doc["components"], spec)
            if isinstance(doc, dict) and "matrix" in doc:
                names = doc.get("names")
                matrix = np.asarray(doc["matrix"], dtype=float)
                if names is None or matrix.shape != (len(names), len(names)):
                    raise ValueError("its matrix needs one row and column per name in 'names'")
                return pd.DataFrame(matrix, index=names, columns=names)
            if isinstance(doc, dict):
                return {str(k): float(v) for k, v in doc.items()}
            raise ValueError(shape)
        frame = pd.read_csv(p, index_col=0)
        if frame.shape[1] == 1:  # name,weight
            return frame.iloc[:, 0].astype(float)
        return frame.astype(float)
    except (ValueError, TypeError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"penalty file {spec}: {reason} ({shape} or a k x k matrix)") from exc


def _family(name: str | None, link: str | None) -> Any:
    if name is None or (name == "gaussian" and link is None):
        return None
    return family_from_names(name, link)


def _scale(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"priorreg: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        description="Fit FORMULA on a CSV or Parquet file and print the summary. Options and "
        "output paths are checked before anything is read or fitted; an error is one line "
        "on stderr with exit status 2, warnings follow the output as 'priorreg: warning:' "
        "lines.",
    )
    fit.add_argument("formula", help='R-style formula, e.g. "y ~ x1 + C(g)"')
    fit.add_argument("--data", required=True, help="CSV or Parquet file (by extension)")
    fit.add_argument(
        "--prior",
        help="JSON prior file written by --save-prior; its family, link, weights, offset "
        "and exposure columns, standardize and scale are reapplied unless given here",
    )
    fit.add_argument(
        "--penalty",
        default=None,
        help="'none' (ridge, intercept unpenalized; default), 'information' (the prior's "
        "precision: lam=1 pools the data) or a file: JSON {name: weight} or "
        "{names, matrix}, or CSV of name,weight or a labelled k x k matrix; several "
        'penalties, each with its own lam: JSON {"components": {name: spec}} with spec '
        '"information", "none", formula terms such as "x3 + C(g)", a list of column '
        "names, {name: weight} or {names, matrix}",
    )
    fit.add_argument(
        "--lam",
        type=_lam,
        default="gcv",
        help="a number >= 0, or gcv | loocv | reml (GLM also ubre | aic); default gcv; "
        "with several penalty components (--penalty FILE) one number each: 1,10",
    )
    fit.add_argument(
        "--lams",
        type=_lams,
        default=None,
        help="grid of lam to search with a criterion: a comma list (0.1,1,10) or "
        "logspace:a,b,n for n values from 10**a to 10**b (e.g. logspace:-3,3,25); "
        "widen it when a warning says lam is on the edge of the grid",
    )
    fit.add_argument(
        "--family", choices=sorted(FAMILIES), help="GLM family (default: linear model)"
    )
    fit.add_argument(
        "--link", help=f"GLM link (needs --family): {', '.join(sorted(LINKS))}"
    )
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
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale the penalty by each column's variance (default: as the --prior, else no)",
    )
    fit.add_argument(
        "--scale",
        type=_scale,
        help="GLM dispersion: x2 (Pearson, e.g. quasi-Poisson), dev (deviance) or a number; "
        "default 1 for binomial/poisson/negative_binomial, else Pearson",
    )
    fit.add_argument(
        "--bounds",
        help="'nonnegative' (all but an unpenalized intercept >= 0) or a JSON file "
        "{name: [lower, upper]} (null: open side); default: those of --prior, if any",
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
        "lam": float(res.lam) if np.ndim(res.lam) == 0 else pd.Series(res.lam).to_dict(),
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


def _with_progress(fit: Any) -> Any:
    """Run ``_fit`` with a search printer and a heartbeat on stderr for long work."""

    @functools.wraps(fit)
    def run(args: argparse.Namespace) -> None:
        from priorreg.progress import Heartbeat, StepPrinter

        printer = StepPrinter(sys.stderr, after=PROGRESS_AFTER, prefix="priorreg: ")
        beat = Heartbeat(sys.stderr, after=PROGRESS_AFTER, prefix="priorreg: ", printer=printer)
        with beat:
            fit(args, printer)

    return run


@_with_progress
def _fit(args: argparse.Namespace, progress: Any) -> None:
    from priorreg.bounds import read_bounds
    from priorreg.glm import PriorGLM
    from priorreg.linear import PriorRidge
    from priorreg.prior import load_prior

    check_args(args)
    data = _read(args.data)
    prior = load_prior(args.prior) if args.prior else None
    family, rows, options = _carried(args, None if prior is None else prior.options)
    common = dict(prior=prior, penalty=_penalty(args.penalty), **options)
    bounds = read_bounds(args.bounds) if args.bounds else (prior and prior.meta.get("bounds"))
    if bounds is not None:
        common["bounds"] = bounds
    fit_kwargs: dict[str, Any] = {"disp": progress}
    if family is None:
        if args.exposure or args.freq_weights or args.scale is not None:
            raise ValueError("--exposure, --freq-weights and --scale need a GLM --family")
        model = PriorRidge.from_formula(args.formula, data, **rows, **common)
    else:
        model = PriorGLM.from_formula(args.formula, data, family=family, **rows, **common)
        fit_kwargs["scale"] = args.scale if args.scale is not None else _options_scale(prior)
    components = getattr(model, "penalty_components", None)
    several = components is not None
    if not isinstance(args.lam, str) and several != isinstance(args.lam, list):
        labels = ", ".join(map(str, components.labels)) if several else ""
        raise ValueError(
            f"--lam: the penalty has {components.m} components ({labels}): give one lam "
            "each, e.g. --lam 1,10, or a criterion (--lam reml)"
            if several
            else "--lam: a comma list gives one lam per penalty component, and this model "
            "has one penalty: give one number, or several components with --penalty FILE"
        )
    res = model.fit(lam=args.lam, lams=args.lams, cov_type=args.cov_type, **fit_kwargs)
    print(_output(res, args.format))
    if args.save_prior:
        res.save_prior(args.save_prior)
    if args.plot:
        _plot(res, args.plot)


def _options_scale(prior: Any) -> Any:
    """The scale option recorded in a prior file (None without one)."""
    options = None if prior is None else prior.options
    return None if options is None else options.scale


def _carried(args: argparse.Namespace, carried: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Family, per-row options and model options: the flags, else the prior file's.

    A prior file's family and link are names from fixed tables and its
    per-row options column names, looked up in the data; nothing in it is
    evaluated.
    """
    family = _family(args.family, args.link)
    if args.family is None and carried is not None and carried.model == "PriorGLM":
        if carried.family is None:
            raise ValueError(
                f"the prior file's family {carried.family_text} cannot be rebuilt from "
                "a file: pass --family (and --link)"
            )
        family = carried.family
        if args.link is not None:
            family = family_from_names(family_to_json(family)["name"], args.link)
    if args.link is not None and family is None:
        raise ValueError("--link needs --family (e.g. --family binomial --link probit)")
    flags = {"weights": args.weights, "offset": args.offset}
    if family is not None:
        flags = {
            "var_weights": args.weights,
            "offset": args.offset,
            "exposure": args.exposure,
            "freq_weights": args.freq_weights,
        }
    cli_names = {"weights": "--weights", "var_weights": "--weights"}
    rows: dict[str, Any] = {}
    for key, flag in flags.items():
        value = flag
        if value is None and carried is not None:
            value = carried.rows.get(key)
            if value is ARRAY:
                option = cli_names.get(key, "--" + key.replace("_", "-"))
                raise ValueError(
                    f"the prior was fitted with {key} given as an array, which cannot be "
                    f"reapplied: pass {option} COLUMN"
                )
        if value is not None:
            rows[key] = value
    standardize = args.standardize
    if standardize is None:
        standardize = bool(carried is not None and carried.standardize)
    missing = "drop" if carried is None else carried.missing
    return family, rows, {"standardize": standardize, "missing": missing}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``priorreg`` command."""
    args = _parser().parse_args(argv)
    # warnings of any step (reading, building, fitting, writing) are recorded and
    # printed after the output, each cause once; their advice names --lams. The
    # demo has no grid option: its advice names both ways of giving one.
    token = grid_option.set("--lams" if args.command == "fit" else DEMO_GRID_OPTION)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.command == "demo":
                from priorreg.demo import run_demo, run_glm_demo

                (run_glm_demo if args.which == "glm" else run_demo)(sys.stdout)
            else:
                _fit(args)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if args.command == "fit":
            first = _cli_words(first)
        print(f"priorreg: error: {first}", file=sys.stderr)
        return 2
    finally:
        grid_option.reset(token)
    words = _cli_words if args.command == "fit" else str
    for message in dict.fromkeys(words(str(w.message)) for w in caught):
        print(f"priorreg: warning: {message}", file=sys.stderr)
    return 0
