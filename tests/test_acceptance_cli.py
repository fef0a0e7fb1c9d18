"""The command line as a new user meets it: the demos' advice names options that exist.

Oracles: the signatures of the Python methods and the argument parser of
``priorreg`` itself (an option the advice names must be accepted where the
advice says, and refused where it does not).
"""

from __future__ import annotations

import inspect
import re

import pytest

import priorreg as pr
from priorreg import cli
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
    import pandas as pd

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
