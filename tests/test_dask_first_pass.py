"""The Dask GLM's scan inside its first fit's first IRLS pass (priorreg.outofcore.first_pass).

Passes are counted by the labels of every ``dask.compute`` the model makes
(``passes._compute``), from its construction on. Oracles: the in-memory
model on the same rows (its attributes, estimates, iteration count,
separation); statsmodels' score and Hessian for how far apart two estimates
of the same penalized MLE may be (their Newton steps); direct numpy counts
for the separation screen.
"""

from __future__ import annotations

import warnings

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from bounds import MARGIN, glm_newton_step

import priorreg as pr
from priorreg.outofcore.irls_pass import _SeparationCounts
from priorreg.outofcore.separation import counts_exact
from priorreg.separation import _TOL

F = sm.families


pytestmark = pytest.mark.usefixtures("synchronous")  # tests/conftest.py


def _poisson_frame(n=6000, seed=3):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": 500.0 * rng.normal(size=n) + 10.0})
    df["y"] = rng.poisson(np.exp(0.2 + 0.3 * df["x1"] - 4e-4 * df["x2"])).astype(float)
    df.loc[[5, 700, 4000], "x1"] = np.nan  # dropped rows: n_dropped = 3
    return df


def _same_mle(res, ref, lam):
    """Both estimates of one penalized MLE: within 10x their Newton steps (statsmodels)."""
    memory = ref.model
    kw = {"lam": lam, "L": memory.penalty_matrix, "b0": memory.prior_values}
    X, y = memory.exog, memory.endog
    radius = sum(
        float(np.linalg.norm(glm_newton_step(memory.family, X, y, b, **kw)[0]))
        for b in (np.asarray(res.params), np.asarray(ref.params))
    )
    assert np.linalg.norm(np.asarray(res.params) - np.asarray(ref.params)) <= MARGIN * radius


PRIOR = {"Intercept": 0.1, "x1": 0.25, "x2": 0.0}


def test_a_formula_glm_reads_the_data_once_per_irls_point(labels):
    """No pass to build the model; the fit: the start (with the scan), then one per iteration."""
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    kw = {"family": F.Poisson(), "prior": PRIOR}
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, **kw)
    assert labels == []
    with pytest.warns(pr.PenaltyUnitsWarning):  # x2's sd is 500 x x1's
        res = model.fit(lam=3.0)
    assert labels == [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]
    assert res.model.passes == res.iterations + 1
    assert not model._scanned_apart
    with pytest.warns(pr.PenaltyUnitsWarning):
        ref = pr.PriorGLM.from_formula("y ~ x1 + x2", df, **kw).fit(lam=3.0)
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 3.0)
    # the scan's attributes, set by that pass, are the in-memory model's
    memory = ref.model
    assert model.nobs == memory.nobs == len(df) - 3
    assert model.n_dropped == 3
    assert model.exog_names == memory.exog_names
    assert model.k_constant == memory.k_constant == 1
    np.testing.assert_array_equal(model.prior_values, memory.prior_values)
    np.testing.assert_array_equal(model.penalty_weights, memory.penalty_weights)
    assert model.units_message == memory.units_message is not None
    # a second fit reads the data once per point too (no scan)
    labels.clear()
    with pytest.warns(pr.PenaltyUnitsWarning):
        again = model.fit(lam=3.0)
    assert labels == [f"IRLS pass {i}" for i in range(1, again.iterations + 2)]


def test_attributes_read_before_the_fit_make_the_scan_then(labels):
    """The scan on first use (one pass), the same attributes; the fit then makes its points only."""
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    kw = {"family": F.Poisson(), "prior": PRIOR, "standardize": True}
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, **kw)
    memory = pr.PriorGLM.from_formula("y ~ x1 + x2", df, **kw)
    assert model.nobs == memory.nobs
    assert labels == ["scan the data"]
    assert model._scanned_apart
    assert model.exog_names == memory.exog_names
    # standardize: the penalty scaled by the column sds, from the scan's moments;
    # sd from n-term sums: relative error ~ n eps, squared in L; 10x margin
    rtol = MARGIN * 2 * len(df) * np.finfo(float).eps
    np.testing.assert_allclose(model.penalty_matrix, memory.penalty_matrix, rtol=rtol)
    labels.clear()
    res = model.fit(lam=2.0)
    assert labels == [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]
    ref = memory.fit(lam=2.0)
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 2.0)


def test_a_zero_prior_start_from_the_response_mean_scans_first(labels):
    """Poisson's starting means (y + mean(y)) / 2 need the scan: it is a pass of its own."""
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, family=F.Poisson(), penalty=[0, 1, 1])
    res = model.fit(lam=1.0)
    assert labels == ["scan the data"] + [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]
    ref = pr.PriorGLM.from_formula("y ~ x1 + x2", df, family=F.Poisson(), penalty=[0, 1, 1])
    ref = ref.fit(lam=1.0)
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 1.0)


def test_a_zero_prior_binomial_start_folds_the_scan(labels):
    """Binomial's starting means (y + 1/2) / 2 need no scan: the scan rides on the start."""
    df = _poisson_frame()
    df["y"] = (df["y"] > 1).astype(float)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, family=F.Binomial(), penalty=[0, 1, 1])
    res = model.fit(lam=1.0)
    assert labels == [f"IRLS pass {i}" for i in range(1, res.iterations + 2)]
    ref = pr.PriorGLM.from_formula("y ~ x1 + x2", df, family=F.Binomial(), penalty=[0, 1, 1])
    ref = ref.fit(lam=1.0)
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 1.0)


def test_the_units_warning_is_issued_once_at_the_users_line():
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, family=F.Poisson(), prior=PRIOR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(lam=3.0)
    units = [w for w in caught if issubclass(w.category, pr.PenaltyUnitsWarning)]
    assert len(units) == 1
    assert units[0].filename == __file__


def test_no_rows_is_the_same_error_at_the_first_use():
    df = _poisson_frame()
    df["x1"] = np.nan  # every row dropped
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf.partitions[1:], family=F.Poisson(),
                                     prior=PRIOR)  # fmt: skip
    with pytest.raises(ValueError, match="no observations"):
        model.fit(lam=1.0)
    with pytest.raises(ValueError, match="no observations"):
        model.nobs  # noqa: B018 - the attribute's scan raises


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(prior={"x3": 1.0}), "prior names not in the design"),
        (dict(prior=[0.1, 0.2, 0.3, 0.4]), "prior has shape"),
        (dict(prior=PRIOR, bounds={"x1": (1.0, 0.0)}), "lower 1 > upper 0"),
    ],
)
def test_bad_input_is_refused_when_the_model_is_built_before_any_pass(labels, kw, message):
    """As the in-memory model (the oracle): the constructor raises the same error, before a pass."""
    df = _poisson_frame()
    with pytest.raises(ValueError, match=message):
        pr.PriorGLM.from_formula("y ~ x1 + x2", df, family=F.Poisson(), **kw)
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    with pytest.raises(ValueError, match=message):
        pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, family=F.Poisson(), **kw)
    assert labels == []


def test_separation_counted_with_the_template_scales_is_checked_again_when_they_differ(labels):
    """The template rows' scale (about 1) counts rows the data's (1e7) calls zero: one more pass.

    ``x`` separates ``y`` (every non-zero row on its bound's side). Its rows
    in ``[-1, 1]`` are non-zero on the template's scale and zero on the
    data's (``|x| / 1e7 <= tol``), so the single-column screen's row count
    differs: only the 10 rows at ``1e7`` count. The in-memory check on the
    same rows is the oracle.
    """
    rng = np.random.default_rng(4)
    n = 3000
    x = rng.uniform(-1, 1, size=n)
    x[100:110] = 1e7 * np.sign(x[100:110])
    df = pd.DataFrame({"x": x, "z": rng.normal(size=n), "y": (x > 0).astype(float)})
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    kw = {"family": F.Binomial(), "prior": {"Intercept": 0.1, "x": 1e-7}, "penalty": [0, 1, 1]}
    model = pr.PriorGLM.from_formula("y ~ x + z", ddf, **kw)
    with pytest.warns(pr.SeparationWarning) as warned:
        res = model.fit(lam=1.0)
    # the start with the scan, the separation check's own pass, then one per iteration
    assert res.model.passes == res.iterations + 2
    assert labels == [f"IRLS pass {i}" for i in range(1, res.model.passes + 1)]
    with pytest.warns(pr.SeparationWarning) as warned_ref:
        ref = pr.PriorGLM.from_formula("y ~ x + z", df, **kw).fit(lam=1.0)
    assert [str(w.message) for w in warned] == [str(w.message) for w in warned_ref]
    assert res.separation.n_rows == ref.separation.n_rows == 10
    np.testing.assert_array_equal(res.separation.direction, ref.separation.direction)


def _counts(X, side, scale, max_rows=0):
    counts = _SeparationCounts(side, scale, max_rows)
    counts.add(slice(None), X)
    return counts.sums()


def _verdicts(sums):
    """What the check reads of the counts: columns that separate alone, any row at a bound."""
    nz, up, lo = sums["sep_nonzero"], sums["sep_upper"], sums["sep_lower"]
    alone = (nz > 0) & ((up == nz) | (lo == nz))
    return alone, nz[alone], bool(np.any(up + lo))


def test_counts_exact_says_when_other_scales_decide_alike():
    """Oracle: the counts made with the data's scale, in the same numpy arithmetic.

    Columns mix exact zeros, values near the threshold of either scale and
    large values; the rows' sides are drawn (odd draws: the first column's
    every non-zero row on its side). Whenever :func:`counts_exact` says yes,
    the screen's verdicts (columns separating alone, their row counts, any
    row at a bound) are those of the data's scale; the draws give both answers.
    """
    answers = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n, k = 40, 4
        magnitude = 10.0 ** rng.uniform(-9, 1, size=(n, k))
        X = np.where(rng.random((n, k)) < 0.3, 0.0, magnitude * rng.choice([-1, 1], size=(n, k)))
        side = np.sign(X[:, 0]) if seed % 2 else rng.choice([-1.0, 0.0, 1.0], size=n)
        data_scale = np.maximum(np.abs(X).max(axis=0), 1e-300)
        template = data_scale * 10.0 ** rng.uniform(-3, 0, size=k)
        made = _counts(X, side, template)
        truth = _counts(X, side, data_scale)
        answers.append(counts_exact(made, data_scale))
        if answers[-1]:
            a, b = _verdicts(made), _verdicts(truth)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
            assert a[2] == b[2]
        # with the data's own scale the counts are always alike
        assert counts_exact(truth, data_scale)
    assert 10 <= sum(answers) <= 190


def test_counts_exact_refuses_a_row_between_the_thresholds():
    X = np.array([[1.0], [-2.0], [5e-6]])  # 5e-6 / 1 > tol, 5e-6 / 10 <= tol
    side = np.array([1.0, -1.0, 1.0])  # every non-zero row on its side: can separate
    made = _counts(X, side, np.array([1.0]))
    assert 5e-6 > _TOL >= 5e-7
    assert not counts_exact(made, np.array([10.0]))
    assert counts_exact(made, np.array([1.0]))


# dask's Parquet reader calls reset_index(inplace=True), deprecated in pandas 3.1
@pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning")
def test_a_parquet_partition_is_read_inside_the_pass_task(tmp_path):
    """One task per partition (plus the merge tree), the read inside it; results unchanged.

    Oracle: the in-memory model on the same rows (attributes and the fit).
    """
    from priorreg.outofcore.passes import _Read, _tree

    df = _poisson_frame().dropna()
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    ddf = dd.read_parquet(str(tmp_path))
    kw = {"family": F.Poisson(), "prior": PRIOR, "penalty": [0, 1, 1]}
    model = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, **kw)
    parts = model.source.parts
    assert len(parts) == 3
    assert all(isinstance(model.source._read(piece), _Read) for (piece,) in parts)
    graph = dict(_tree(model.source.tasks(len)).__dask_graph__())
    reads = [key for key in graph if "read" in str(key).lower()]
    assert reads == []
    assert len(graph) == 3 + 1 + 1  # the pass's tasks, the merge, the coder
    res = model.fit(lam=1.0)
    ref = pr.PriorGLM.from_formula("y ~ x1 + x2", df, **kw).fit(lam=1.0)
    assert model.nobs == ref.model.nobs
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 1.0)


def test_a_partition_that_depends_on_other_tasks_is_left_to_dask():
    import dask.array as da

    from priorreg.outofcore.passes import _inlined

    whole = da.from_array(np.arange(12.0), chunks=4) + 1.0
    (piece, *_) = whole.to_delayed()
    assert _inlined(piece) is piece
    assert _inlined(3.0) == 3.0


def test_a_start_the_scan_does_not_confirm_is_evaluated_again(labels, monkeypatch):
    """The template's prior taken as another (as a constant column the template rows hid).

    The pass's working problem was formed about that prior (``X (b - b0)``),
    so it serves the scan alone and the fit evaluates its real start: one
    pass more, the same fit (oracle: the in-memory fit).
    """
    from priorreg.outofcore import first_pass

    original = first_pass.template_start

    def shifted(model):
        start, b0, scan = original(model)
        return start, b0 + 0.01, scan

    monkeypatch.setattr(first_pass, "template_start", shifted)
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    kw = {"family": F.Poisson(), "prior": PRIOR, "penalty": [0, 1, 1]}
    res = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, **kw).fit(lam=1.0)
    assert res.model.passes == res.iterations + 2
    assert labels == [f"IRLS pass {i}" for i in range(1, res.model.passes + 1)]
    ref = pr.PriorGLM.from_formula("y ~ x1 + x2", df, **kw).fit(lam=1.0)
    assert res.iterations == ref.iterations
    _same_mle(res, ref, 1.0)


def test_progress_shows_the_first_pass_as_the_fits_first(capsys):
    """``progress=True``: a bar per pass, labelled; no scan of its own, iterations reported."""
    df = _poisson_frame()
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    kw = {"family": F.Poisson(), "prior": PRIOR, "penalty": [0, 1, 1]}
    res = pr.PriorGLM.from_formula("y ~ x1 + x2", ddf, progress=True, **kw).fit(lam=1.0)
    err = capsys.readouterr().err
    assert "scan the data" not in err
    for i in range(1, res.model.passes + 1):
        assert f"priorreg: IRLS pass {i}\n" in err
        assert f"priorreg: IRLS pass {i} done in" in err
    assert f"IRLS iteration {res.iterations}:" in err


def test_counts_of_a_live_column_cover_the_whole_first_chunk():
    """Oracle: dense numpy counts over every row of one 8192-row chunk.

    The first chunk is screened in two pieces (:data:`_SCREEN_ROWS` or more
    rows, then the rest). A continuous column leaves the screen on the first
    piece; a column that separates (non-zero only on the lower side, and only
    after row 3000) stays counted, so its counts must be those of all the rows.
    """
    from priorreg.outofcore.irls_pass import _SCREEN_ROWS

    rng = np.random.default_rng(5)
    n = 8192
    side = np.where(rng.uniform(size=n) < 0.4, -1.0, 0.0)
    continuous = rng.normal(size=n)
    late = np.where((np.arange(n) >= 3000) & (side < 0), rng.uniform(1.0, 2.0, n), 0.0)
    X = np.asfortranarray(np.column_stack([continuous, late]))
    assert _SCREEN_ROWS < 3000  # the separating rows lie beyond the first piece
    scale = np.ones(2)
    sums = _counts(X, side, scale)
    nz = np.abs(late) > _TOL
    assert sums["sep_nonzero"][1] == np.count_nonzero(nz)
    assert sums["sep_lower"][1] == np.count_nonzero(nz & (side < 0))
    assert sums["sep_upper"][1] == 0
    alone, counts, _ = _verdicts(sums)
    assert alone.tolist() == [False, True]
    assert counts.tolist() == [np.count_nonzero(nz)]
