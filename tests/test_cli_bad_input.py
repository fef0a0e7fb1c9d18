"""The bad-input matrix on the command line.

Every case: exit status 2, exactly one line on stderr that starts with
``priorreg: error:`` and names the problem, no traceback, and nothing on
stdout: options and output paths are checked before anything is fitted
or printed. Most cases run ``priorreg.cli.main`` in-process (an uncaught
exception would fail the test); a few run the installed entry point in a
subprocess to see exactly what a user sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from priorreg import cli


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(2)
    n = 30
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "y": 1 + x + rng.normal(size=n),
            "x": x,
            "g": np.array(["a", "b", "c"])[np.arange(n) % 3],
            "count": rng.poisson(2.0, size=n),
            "neg": -np.ones(n),
            "huge": x * 1e300,
            "allna": np.nan,
        }
    )
    paths = {"DATA": tmp_path / "d.csv", "DIR": tmp_path}
    df.to_csv(paths["DATA"], index=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("y,x\n")
    (tmp_path / "broken.csv").write_text('y,x\n1,2\n"3,4\n')
    (tmp_path / "short.json").write_text(
        json.dumps({"format": "priorreg-prior", "names": ["Intercept", "x"], "params": [1.0]})
    )
    (tmp_path / "pen.json").write_text("{not json")
    (tmp_path / "pen.csv").write_text("name,weight\nx,heavy\n")
    (tmp_path / "penmat.json").write_text(json.dumps({"names": ["x"], "matrix": [[1, 2], [3, 4]]}))
    for name in ("empty.csv", "header.csv", "broken.csv", "short.json", "pen.json", "pen.csv"):
        paths[name] = tmp_path / name
    paths["penmat.json"] = tmp_path / "penmat.json"
    return paths


CASES = [
    ("empty csv", ["--data", "empty.csv"], "data file .*empty.csv is empty"),
    ("header only", ["--data", "header.csv"], "the data have no rows"),
    ("broken csv", ["--data", "broken.csv"], "cannot read data file .* as CSV"),
    ("missing data file", ["--data", "nope.csv"], "data file not found"),
    ("link without family", ["--link", "logit"], "--link needs --family"),
    ("exposure without family", ["--exposure", "x"], "need a GLM --family"),
    ("save-prior no folder", ["--save-prior", "DIR/nodir/x.json"], "folder .*nodir does not exist"),
    ("save-prior is a folder", ["--save-prior", "DIR"], "is a folder"),
    ("plot unknown format", ["--plot", "DIR/out.xyz"], "unknown image format 'xyz'.*png"),
    ("plot no folder", ["--plot", "DIR/nodir/p.png"], "does not exist"),
    ("lams one value", ["--lams", "1"], "at least two"),
    ("lams bad text", ["--lams", "a,b"], "is not a grid"),
    ("lams logspace short", ["--lams", "logspace:1,2"], "logspace:a,b,n"),
    ("lams negative", ["--lams=-1,2"], "> 0"),
    ("lams with fixed lam", ["--lam", "1", "--lams", "1,10"], "--lams is a grid to search"),
    ("lam nan", ["--lam", "nan"], "lam must be finite"),
    ("ubre for a linear model", ["--lam", "ubre"], "unknown lam criterion 'ubre'.*GLM families"),
    ("unknown family", ["--family", "weibull"], "invalid choice"),
    ("text response", ["FORMULA=g ~ x"], "response 'g' is not numeric"),
    ("huge column", ["FORMULA=y ~ huge"], "'huge' has values of magnitude"),
    ("all rows missing", ["FORMULA=y ~ x + allna"], r"all 30 rows were dropped.*\['allna'\]"),
    ("poisson negative", ["FORMULA=neg ~ x", "--family", "poisson"], "needs a response >= 0"),
    ("weights negative", ["--weights", "neg"], "weights must be > 0"),
    ("prior lengths differ", ["--prior", "short.json"], "'names' has 2 entries but 'params' has 1"),
    ("prior missing", ["--prior", "nope.json"], "prior file not found"),
    ("penalty bad json", ["--penalty", "pen.json"], "penalty file .*pen.json"),
    ("penalty bad csv", ["--penalty", "pen.csv"], "penalty file .*pen.csv"),
    ("penalty bad matrix", ["--penalty", "penmat.json"], "one row and column per name"),
    ("unknown column", ["FORMULA=y ~ nothere"], "cannot build the design"),
]


def _argv(args, files):
    formula = "y ~ x"
    out = []
    for a in args:
        if a.startswith("FORMULA="):
            formula = a.split("=", 1)[1]
            continue
        for key, path in files.items():
            if a == key or a.startswith(key + "/"):
                a = str(path) + a[len(key) :]
        out.append(a)
    if "--data" not in out:
        out = ["--data", str(files["DATA"]), *out]
    return ["fit", formula, *out]


@pytest.mark.parametrize(("label", "args", "match"), CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input_is_one_line_exit_2_before_any_output(files, capsys, label, args, match):
    import re

    try:
        rc = cli.main(_argv(args, files))
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""  # nothing fitted or printed before the error
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("priorreg: error: ")
    assert re.search(match, lines[0]), lines[0]


def test_output_paths_are_checked_before_the_fit(files, capsys):
    """A bad --plot used to fail only after the summary had been printed."""
    rc = cli.main(_argv(["--plot", "DIR/out.xyz", "--save-prior", "DIR/ok.json"], files))
    assert rc == 2
    assert capsys.readouterr().out == ""
    assert not (files["DIR"] / "ok.json").exists()


def test_lams_grid_is_used(files, capsys):
    rc = cli.main(_argv(["--lams", "logspace:-2,2,9", "--format", "json"], files))
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["lam_method"] == "gcv"
    assert 1e-2 <= doc["lam"] <= 1e2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--data", "empty.csv"], "is empty"),
        (["--link", "logit"], "--link needs --family"),
        (["--lams", "x"], "is not a grid"),
    ],
)
def test_entry_point_prints_no_traceback(files, args, match):
    proc = subprocess.run(
        [sys.executable, "-m", "priorreg", *_argv(args, files)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert match in lines[0]
