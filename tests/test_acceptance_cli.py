"""The command line as a new user meets it: the demos' advice names options that exist.

Oracles: the signatures of the Python methods and the argument parser of
``priorreg`` itself (an option the advice names must be accepted where the
advice says, and refused where it does not).
"""

from __future__ import annotations

import ast
import inspect
import re

import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.genmod.families as smf

import priorreg as pr
from priorreg import cli
from priorreg.families import FAMILIES, LINKS
from priorreg.results import PriorRidgeResults


@pytest.fixture(scope="module")
def glm_demo_output():
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["demo", "glm"])
    assert rc == 0, err.getvalue()
    return out.getvalue()


def test_glm_demo_edge_note_names_real_parameters(glm_demo_output):
    note = next(line for line in glm_demo_output.splitlines() if line.startswith("Note:"))
    assert "upper edge" in note
    # the Python advice: `lams=` of fit() or refine(), both of which take it
    python_names = re.findall(r"(\w+)= of (\w+)\(\) or (\w+)\(\)", note)
    assert python_names == [("lams", "fit", "refine")], note
    assert "lams" in inspect.signature(pr.PriorGLM.fit).parameters
    assert "lams" in inspect.signature(PriorRidgeResults.refine).parameters
    # the command-line advice: an option of `priorreg fit`, which the demo does not take
    option = re.search(r"(--\w+) of 'priorreg fit'", note)
    assert option is not None, note
    args = cli._parser().parse_args(
        ["fit", "y ~ x", "--data", "d.csv", "--lam", "gcv", option.group(1), "1,10"]
    )
    assert list(args.lams) == [1.0, 10.0]
    with pytest.raises(SystemExit) as exc:
        cli._parser().parse_args(["demo", "glm", option.group(1), "1,10"])
    assert exc.value.code == 2


def test_fit_command_edge_warning_names_the_option(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    pd.DataFrame({"y": 2.0 * x + rng.normal(size=40), "x": x}).to_csv(
        tmp_path / "d.csv", index=False
    )
    # a grid of tiny lams: GCV (which wants little shrinkage of a strong slope) is
    # smallest at its lower edge, so the edge warning must name --lams
    rc = cli.main(
        ["fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--lam", "gcv",
         "--lams", "1e-8,1e-7"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0
    edge = [line for line in err.splitlines() if "edge" in line]
    assert edge, err
    assert all("--lams" in line and "lams=" not in line for line in edge), err


@pytest.fixture
def small_csv(tmp_path):
    data = sm.datasets.grunfeld.load_pandas().data
    path = tmp_path / "small.csv"
    data[data.firm == "IBM"].head(8).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_wrong_link_lists_the_links_that_fit(small_csv, family, capsys):
    cls = getattr(smf, FAMILIES[family])
    wrong = next(
        name
        for name in ("logit", "probit", "inverse_squared")
        if not isinstance(getattr(smf.links, LINKS[name])(), tuple(cls.links))
    ) if family != "binomial" else "inverse_squared"  # fmt: skip
    rc = cli.main(["fit", "invest ~ value", "--data", small_csv, "--family", family,
                   "--link", wrong])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"priorreg: error: link '{wrong}' does not suit"), err
    assert " object at 0x" not in err  # no object reprs from inside statsmodels
    listed = re.search(r"use one of (\[.*?\])", err)
    assert listed is not None, err
    names = ast.literal_eval(listed.group(1))
    # oracle: statsmodels' own check (isinstance against the family's links)
    expected = sorted(
        name for name, cls_name in LINKS.items()
        if isinstance(getattr(smf.links, cls_name)(), tuple(cls.links))
    )  # fmt: skip
    assert names == expected


def test_response_outside_the_family_names_the_value_plainly(small_csv, capsys):
    rc = cli.main(["fit", "invest ~ value", "--data", small_csv, "--family", "binomial"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "np.float64" not in err
    first = pd.read_csv(small_csv)["invest"].iloc[0]
    assert f"first at position 0: {first:g}" in err


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (
            ["--family", "poisson", "--lam", "ubre", "--scale", "x2"],
            ["--lam gcv", "--scale NUMBER"],
        ),
        (["--family", "gamma", "--lam", "ubre"], ["--scale NUMBER", "--lam gcv (or reml)"]),
    ],
)
def test_cli_errors_give_cli_advice(small_csv, capsys, extra, needles):
    rc = cli.main(["fit", "invest ~ value", "--data", small_csv, *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    for python in ("fit(", "lam='", "scale='"):
        assert python not in err, err
    # the advice is runnable: the parser takes the options it names
    args = cli._parser().parse_args(
        ["fit", "y ~ x", "--data", "d.csv", "--lam", "gcv", "--scale", "2.5"]
    )
    assert (args.lam, args.scale) == ("gcv", 2.5)


def test_cli_units_warning_gives_cli_advice(tmp_path, capsys):
    data = sm.datasets.grunfeld.load_pandas().data
    frame = data[data.firm == "IBM"].assign(cents=lambda d: d["capital"] * 1e5)
    frame.to_csv(tmp_path / "units.csv", index=False)
    rc = cli.main(["fit", "invest ~ value + cents", "--data", str(tmp_path / "units.csv"),
                   "--lam", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0
    warning = [line for line in err.splitlines() if "standard deviations" in line]
    assert len(warning) == 1, err
    assert "pass --standardize" in warning[0]
    assert "--penalty information" in warning[0]
    assert "standardize=True" not in warning[0]
    args = cli._parser().parse_args(
        ["fit", "y ~ x", "--data", "d.csv", "--standardize", "--penalty", "information"]
    )
    assert args.standardize is True
    assert args.penalty == "information"
