"""The command line end to end, through a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

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
    np.testing.assert_allclose(api.params, pooled.params, rtol=1e-9)
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
