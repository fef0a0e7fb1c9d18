"""A fit with several penalties saved as a prior file, and used again.

``save_prior`` wrote ``float(res.lam)`` and raised ``TypeError`` when ``lam``
is a Series (one per penalty); ``priorreg fit --penalty components.json
--save-prior out.json`` failed the same way. Oracles: the results object
itself (the file must restore its estimates and covariance bit for bit, and
refining from the file must equal refining from the object).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import GROUPS, fit_groups_cli

import priorreg as pr


def test_save_prior_of_several_penalties_round_trips(tmp_path, groups_frame):
    res = pr.PriorRidge.from_formula("z ~ a + b + c", groups_frame, penalty=GROUPS).fit(lam="reml")
    path = tmp_path / "p.json"
    res.save_prior(path)
    doc = json.loads(path.read_text())
    assert doc["lam"] == {name: float(v) for name, v in res.lam.items()}
    loaded = pr.load_prior(path)
    np.testing.assert_array_equal(loaded.params.to_numpy(), np.asarray(res.params))
    np.testing.assert_array_equal(
        loaded.normalized_cov_params.to_numpy(), np.asarray(res.normalized_cov_params)
    )
    new = groups_frame.iloc[:40]
    from_file = pr.PriorRidge.from_formula(
        "z ~ a + b + c", new, prior=loaded, penalty="information"
    ).fit(lam=1.0)
    from_object = pr.PriorRidge.from_formula(
        "z ~ a + b + c", new, prior=res, penalty="information"
    ).fit(lam=1.0)
    np.testing.assert_array_equal(np.asarray(from_file.params), np.asarray(from_object.params))


def test_cli_save_prior_with_several_penalties(tmp_path, groups_frame, capsys):
    out = tmp_path / "out.json"
    rc = fit_groups_cli(tmp_path, groups_frame, "1,1", "--save-prior", str(out))
    err = capsys.readouterr().err
    assert rc == 0, err
    model = pr.PriorRidge.from_formula("z ~ a + b + c", groups_frame, penalty=GROUPS)
    api = model.fit(lam=[1.0, 1.0])
    saved = pr.load_prior(out)
    # the same data and code: the same floats (CSV round trip of floats is exact)
    np.testing.assert_allclose(saved.params.to_numpy(), np.asarray(api.params), rtol=1e-12)
    assert saved.meta["lam"] == {"g1": 1.0, "g2": 1.0}


@pytest.mark.parametrize(
    ("penalty", "lam", "needle"),
    [(True, "1", "give one lam each, e.g. --lam 1,10"), (False, "1,2", "has one penalty")],
)
def test_cli_lam_count_must_match_the_penalties(
    tmp_path, groups_frame, capsys, penalty, lam, needle
):
    rc = fit_groups_cli(tmp_path, groups_frame, lam, penalty=penalty)
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err
