"""The command line end to end, through a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import EPS, MARGIN, assert_close_normwise, cond, lstsq_rtol, solve_rtol

import priorreg as pr


def run(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "priorreg", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_demo_runs_and_explains():
    out = run("demo").stdout
    for needle in [
        "Prior model",
        "Refined model",
        "What changed",
        "Chosen lam",
        "edf",
        "prior (other firms)",
        "OLS (Westinghouse only)",
        "RMSE",
    ]:
        assert needle in out


def test_demo_refined_beats_prior_and_ols_out_of_sample():
    import io

    from priorreg.demo import run_demo

    numbers = run_demo(io.StringIO())
    assert numbers["rmse_refined"] < min(numbers["rmse_prior"], numbers["rmse_OLS"])


def test_fit_save_prior_and_refine_from_file(tmp_path):
    data = sm.datasets.grunfeld.load_pandas().data
    big, small = data[data.firm != "IBM"], data[data.firm == "IBM"]
    big.to_csv(tmp_path / "big.csv", index=False)
    small.to_csv(tmp_path / "small.csv", index=False)
    prior_file = tmp_path / "prior.json"
    out = run(
        "fit",
        "invest ~ value + capital",
        "--data",
        str(tmp_path / "big.csv"),
        "--lam",
        "0",
        "--save-prior",
        str(prior_file),
    ).stdout
    assert "PriorRidge" in out
    assert json.loads(prior_file.read_text())["names"] == ["Intercept", "value", "capital"]
    out = run(
        "fit",
        "invest ~ value + capital",
        "--data",
        str(tmp_path / "small.csv"),
        "--prior",
        str(prior_file),
        "--penalty",
        "information",
        "--lam",
        "1",
    ).stdout
    pooled = sm.OLS.from_formula("invest ~ value + capital", pd.concat([big, small])).fit()
    api = pr.PriorRidge.from_formula(
        "invest ~ value + capital", small, prior=pr.load_prior(prior_file), penalty="information"
    ).fit(lam=1.0)
    # exact in exact arithmetic; rounding: the pooled fit within lstsq_rtol,
    # the prior fit's information (X1'X1) inverted twice, n k eps cond(X1)^2
    # (x 10), as in test_linear.test_information_prior_reproduces_pooled_ols
    X = pooled.model.exog
    X1 = X[: len(big)]
    tol = lstsq_rtol(X, pooled.params, pooled.resid) + MARGIN * 2 * X1.size * EPS * cond(X1) ** 2
    assert_close_normwise(api.params, pooled.params, tol)
    assert f"{api.params['value']:.4f}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "y ~ x", "--data", "/nonexistent.csv"], "data file not found"),
        (["fit", "invest ~ nothere", "--data", "DATA"], "cannot build the design"),
        (["fit", "invest ~ value", "--data", "DATA", "--lam", "-3"], "lam must be"),
        (["fit", "invest ~ value", "--data", "DATA", "--lam", "aicc"], "unknown lam"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(tmp_path, args, message):
    data = sm.datasets.grunfeld.load_pandas().data
    data.to_csv(tmp_path / "d.csv", index=False)
    args = [str(tmp_path / "d.csv") if a == "DATA" else a for a in args]
    proc = run(*args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_glm_demo_runs_and_refined_predicts_best():
    import io

    from priorreg.demo import run_glm_demo

    buf = io.StringIO()
    numbers = run_glm_demo(buf)
    assert "Binomial" in buf.getvalue()
    assert numbers["dev_refined"] <= min(numbers["dev_prior"], numbers["dev_MLE"])
    assert "PriorGLM" in run("demo", "glm").stdout


def test_glm_fit_json_csv_plot_and_penalty_file(tmp_path):
    rng = np.random.default_rng(7)
    n = 150
    df = pd.DataFrame(
        {"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n), "expo": rng.uniform(1, 3, n)}
    )
    df["y"] = rng.poisson(df.expo * np.exp(0.2 + 0.5 * df.x))
    df.to_csv(tmp_path / "d.csv", index=False)
    out = run(
        "fit",
        "y ~ x + C(g)",
        "--data",
        str(tmp_path / "d.csv"),
        "--family",
        "poisson",
        "--exposure",
        "expo",
        "--lam",
        "2",
        "--format",
        "json",
    ).stdout
    doc = json.loads(out)
    api = pr.PriorGLM.from_formula(
        "y ~ x + C(g)", df, family=sm.families.Poisson(), exposure="expo"
    ).fit(lam=2.0)
    assert doc["model"] == "PriorGLM"
    # the same data (CSV round trip of floats is exact) and code in another
    # process: the same operations, or at most another BLAS blocking of the
    # last IRLS solve: solve_rtol(A) of the estimates (A the information)
    A = np.linalg.inv(np.asarray(api.normalized_cov_params))
    slack = solve_rtol(A) * np.linalg.norm(api.params)
    assert doc["coefficients"]["x"]["coef"] == pytest.approx(api.params["x"], abs=slack)
    csv = run(
        "fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--lam", "1", "--format", "csv"
    ).stdout
    table = pd.read_csv(__import__("io").StringIO(csv), index_col=0)
    assert list(table.columns) == [
        "coef",
        "prior",
        "std_err",
        "statistic",
        "pvalue",
        "ci_lower",
        "ci_upper",
        "data_share",
    ]
    (tmp_path / "pen.json").write_text(json.dumps({"x": 0.0}))  # x unpenalized
    out = run(
        "fit",
        "y ~ x + C(g)",
        "--data",
        str(tmp_path / "d.csv"),
        "--penalty",
        str(tmp_path / "pen.json"),
        "--lam",
        "5",
        "--plot",
        str(tmp_path / "p.png"),
        "--format",
        "json",
    ).stdout
    doc = json.loads(out)
    # x is unpenalized (weight 0 in pen.json): its share 1 - lam (A^-1 L)_jj
    # has row j of L zero, so it is 1 up to the rounding of one subtraction
    assert doc["coefficients"]["x"]["data_share"] == pytest.approx(1.0, abs=1e-12)
    assert (tmp_path / "p.png").stat().st_size > 10_000
    import pyarrow as pq  # in the test extra
    del pq
    df.to_parquet(tmp_path / "d.parquet")
    out = run("fit", "y ~ x", "--data", str(tmp_path / "d.parquet"), "--lam", "1").stdout
    assert "PriorRidge" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "y ~ x", "--data", "D", "--family", "poisson", "--link", "nope"], "unknown link"),
        (["fit", "y ~ x", "--data", "D", "--family", "gamma", "--lam", "ubre"], "known scale"),
        (["fit", "y ~ x", "--data", "D", "--exposure", "x"], "need a GLM --family"),
        (["fit", "y ~ x", "--data", "D", "--penalty", "nofile.json"], "neither"),
        (["fit", "y ~ x", "--data", "D", "--prior", "nofile.json"], "prior file not found"),
    ],
)
def test_more_bad_input(tmp_path, args, message):
    pd.DataFrame({"y": [1.0, 2.0, 3.0, 2.5, 4.0], "x": [0.1, 0.5, 0.9, 1.2, 2.0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    args = [str(tmp_path / "d.csv") if a == "D" else a for a in args]
    proc = run(*args, check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr


def test_help_is_complete():
    out = run("--help").stdout
    assert "demo" in out
    assert "fit" in out
    out = run("fit", "--help").stdout
    for flag in [
        "--prior",
        "--penalty",
        "--lam",
        "--family",
        "--link",
        "--weights",
        "--offset",
        "--exposure",
        "--cov-type",
        "--save-prior",
        "--plot",
        "--format",
    ]:
        assert flag in out
