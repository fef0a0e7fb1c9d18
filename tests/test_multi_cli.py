"""Several penalties on the command line: ``--penalty components.json``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

import priorreg as pr


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "priorreg", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_components_file_equals_the_api(tmp_path):
    rng = np.random.default_rng(4)
    old_df = pd.DataFrame(rng.normal(size=(200, 2)), columns=["x1", "x2"])
    old_df["y"] = 1 + old_df.x1 + rng.normal(size=200)
    new_df = pd.DataFrame(rng.normal(size=(60, 3)), columns=["x1", "x2", "x3"])
    new_df["y"] = 1.5 + 0.6 * new_df.x1 + 0.5 * new_df.x3 + rng.normal(size=60)
    old = pr.PriorRidge.from_formula("y ~ x1 + x2", old_df).fit(lam=0)
    old.save_prior(tmp_path / "old.json")
    new_df.to_csv(tmp_path / "new.csv", index=False)
    spec = {"components": {"old": "information", "new": ["x3"]}}
    (tmp_path / "pen.json").write_text(json.dumps(spec))
    proc = _run(
        "fit", "y ~ x1 + x2 + x3", "--data", str(tmp_path / "new.csv"),
        "--prior", str(tmp_path / "old.json"), "--penalty", str(tmp_path / "pen.json"),
        "--lam", "reml", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    api = pr.PriorRidge.from_formula(
        "y ~ x1 + x2 + x3",
        new_df,
        prior=pr.load_prior(tmp_path / "old.json"),
        penalty={"old": "information", "new": ["x3"]},
    ).fit(lam="reml")
    # the same computation twice, through JSON text (17 significant digits)
    assert doc["lam"] == {k: float(v) for k, v in api.lam.items()}
    got = [doc["coefficients"][name]["coef"] for name in api.params.index]
    np.testing.assert_allclose(got, api.params.to_numpy(), rtol=1e-12)


def test_cli_components_file_errors_in_one_line(tmp_path):
    pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1]}).to_csv(tmp_path / "d.csv")
    (tmp_path / "pen.json").write_text(json.dumps({"components": ["none"]}))
    proc = _run("fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--penalty",
                str(tmp_path / "pen.json"))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "at least two penalties" in proc.stderr
