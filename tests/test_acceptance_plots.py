"""Plots of a fit with several penalties, as a user (or ``priorreg fit --plot``) meets them.

DESIGN section 3 promises ``plot_path``, ``plot_criterion`` and
``plot_shrinkage`` on results; with several penalties there is no single
``lam`` to draw against, so the first two say so (naming what to use) and
the shrinkage plot, which needs no path, draws. Oracles: the fitted lams
(each in the title), the drawn artists, and the PNG signature of the file
the command line writes.
"""

from __future__ import annotations

import matplotlib  # in the test extra: missing is a failure, not a skip

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from conftest import fit_groups_cli

import priorreg as pr


@pytest.fixture(scope="module")
def several(groups_frame):
    model = pr.PriorRidge.from_formula(
        "z ~ a + b + c", groups_frame, penalty={"g1": ["a"], "g2": ["b", "c"]}
    )
    return model.fit(lam=[2.0, 30.0])


def test_shrinkage_plot_of_several_penalties_names_each_lam(several):
    fig = several.plot_shrinkage()
    try:
        texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        title = next(t for t in texts if t.startswith("What the new data changed"))
        for name, lam in several.lam.items():
            assert f"{name} = {lam:.3g}" in title, title
        ax = fig.axes[0]
        assert ax.get_xlabel()
        assert ax.get_ylabel()
        # one row per coefficient: the tick labels are the coefficient names
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert [label.split(" ")[0] for label in labels] == list(several.model.exog_names)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("method", ["plot_path", "plot_criterion"])
def test_plots_against_one_lam_refuse_several_clearly(several, method):
    with pytest.raises(ValueError, match="penalties, each with its own lam") as exc:
        getattr(several, method)()
    assert "plot_shrinkage()" in str(exc.value)
    assert "g1 = 2" in str(exc.value)


def test_single_penalty_plots_unchanged(groups_frame):
    res = pr.PriorRidge.from_formula("z ~ a + b + c", groups_frame).fit(lam=3.0)
    for method in ("plot_path", "plot_criterion", "plot_shrinkage"):
        fig = getattr(res, method)()
        try:
            title = " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
            if method == "plot_shrinkage":
                assert "lam = 3" in title
        finally:
            plt.close(fig)


def test_cli_plot_with_several_penalties(tmp_path, groups_frame, capsys):
    out = tmp_path / "out.png"
    rc = fit_groups_cli(tmp_path, groups_frame, "reml", "--plot", str(out))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "error" not in err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
