"""A prior file from a newer priorreg is refused with a sentence, not half-read.

The file records its format version; this code writes version 2 and reads
1 and 2. A newer file may hold fields whose meaning this code does not know,
so reading only the ones it knows would fit silently with a different prior
specification. Oracle: the version written by ``save_prior`` itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import priorreg as pr
from priorreg import cli


def _file(tmp_path, version):
    doc = {"format": "priorreg-prior", "names": ["Intercept", "x"], "params": [1.0, 2.0]}
    if version is not None:
        doc["version"] = version
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("version", [None, 1, 2])
def test_known_versions_are_read(tmp_path, version):
    prior = pr.load_prior(_file(tmp_path, version))
    assert prior.params.to_dict() == {"Intercept": 1.0, "x": 2.0}


@pytest.mark.parametrize("version", [3, 99, 0, "2"])
def test_other_versions_are_refused(tmp_path, version):
    with pytest.raises(ValueError, match="prior-file version") as exc:
        pr.load_prior(_file(tmp_path, version))
    assert "upgrade priorreg" in str(exc.value)


def test_save_prior_writes_a_version_it_reads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    res = pr.PriorRidge(x + rng.normal(size=20), np.column_stack([np.ones(20), x])).fit(lam=1.0)
    res.save_prior(tmp_path / "saved.json")
    version = json.loads((tmp_path / "saved.json").read_text())["version"]
    assert version == 2
    np.testing.assert_array_equal(pr.load_prior(tmp_path / "saved.json").params, res.params)


def test_cli_refuses_a_newer_prior_file_in_one_line(tmp_path, capsys):
    path = _file(tmp_path, 99)
    (tmp_path / "d.csv").write_text("y,x\n1,2\n2,3\n3,5\n")
    rc = cli.main(["fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--prior", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "prior-file version 99" in err
