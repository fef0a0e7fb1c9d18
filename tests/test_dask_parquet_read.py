"""A plain Parquet partition read by pyarrow inside the pass: the frame Dask's read gives.

Oracle: Dask's own read task for the same partition (``dask.get`` of the task
``read_parquet`` built), compared exactly (values, dtypes, index, column
order); the fit through the direct read against the in-memory fit on the
same rows.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import statsmodels.api as sm
from test_dask_first_pass import _same_mle

import priorreg as pr
from priorreg.outofcore import parquet_read
from priorreg.outofcore.passes import _inlined, _Read

# dask's Parquet reader calls reset_index(inplace=True), deprecated in pandas 3.1
pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning"),
    pytest.mark.usefixtures("synchronous"),  # tests/conftest.py
]

F = sm.families


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Every column kind a model reads: int, float with NaN, bool, nullable with NA, categorical."""
    rng = np.random.default_rng(seed)
    levels = ["lo", "mid", "hi"]
    x = rng.normal(size=n)
    x[::17] = np.nan
    frame = pd.DataFrame(
        {
            "i": rng.integers(-5, 5, size=n),
            "x": x,
            "b": rng.random(n) < 0.4,
            "ni": pd.array(rng.integers(0, 9, size=n), dtype="Int64"),
            "nf": pd.array(rng.normal(size=n), dtype="Float64"),
            "c": pd.Categorical(rng.choice(levels, size=n), categories=levels),
        }
    )
    frame.loc[frame.index[3::29], "ni"] = pd.NA
    frame.loc[frame.index[5::31], "nf"] = pd.NA
    frame["y"] = rng.poisson(np.exp(0.3 + 0.2 * np.nan_to_num(x) + 0.1 * frame["b"])).astype(float)
    return frame


def _write(path, n_files: int = 3, rows: int = 900, row_group: int = 250) -> pd.DataFrame:
    """``n_files`` files of ``rows`` rows in row groups of ``row_group`` rows; the whole frame."""
    parts = []
    for i in range(n_files):
        part = _frame(rows, seed=i)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path / f"part-{i}.parquet",
                       row_group_size=row_group)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _reads(ddf) -> list[_Read]:
    reads = [_inlined(piece) for piece in ddf.to_delayed()]
    assert all(isinstance(read, _Read) for read in reads)
    return reads


def _dask_read(read: _Read) -> pd.DataFrame:
    return dask.get({read.key: read.task}, read.key)


@pytest.mark.parametrize("split_row_groups", [False, True, 2])
@pytest.mark.parametrize("columns", [None, ["y", "x", "c"], ["nf", "b", "ni", "i", "y", "x"]])
def test_the_direct_read_is_the_frame_dasks_read_gives(tmp_path, split_row_groups, columns):
    _write(tmp_path)
    ddf = dd.read_parquet(str(tmp_path), split_row_groups=split_row_groups)
    if columns is not None:
        ddf = ddf[columns]
    reads = _reads(ddf)
    parts = {False: 3, True: 12, 2: 6}[split_row_groups]  # 4 row groups per file
    if columns is None:
        assert len(reads) == parts
        assert all(isinstance(read.direct, parquet_read.DirectRead) for read in reads)
    else:  # a column subset: a read and a selection fused into one task
        assert all(isinstance(read.direct, parquet_read.FusedRead) for read in reads)
    if columns is not None and len(columns) == 3:  # 3 of 7 columns: Dask also fuses partitions
        assert len(reads) < parts
        assert any(read.direct.concat is not None for read in reads)
    for read in reads:
        assert read.direct is not None
        direct, oracle = read.direct(), _dask_read(read)
        pd.testing.assert_frame_equal(direct, oracle, check_exact=True)
        assert list(direct.columns) == list(columns or oracle.columns)
    whole = pd.concat([read.compute() for read in reads], ignore_index=True)
    pd.testing.assert_frame_equal(whole, ddf.compute().reset_index(drop=True), check_exact=True)


def test_filters_are_left_to_dask(tmp_path):
    _write(tmp_path)
    ddf = dd.read_parquet(str(tmp_path), filters=[("i", ">", 0)])[["x", "i"]]
    for read in _reads(ddf):
        assert read.direct is None
        assert (read.compute()["i"] > 0).all()


def test_a_filtered_frame_is_left_to_dask(tmp_path):
    _write(tmp_path)
    ddf = dd.read_parquet(str(tmp_path))
    ddf = ddf[ddf.x > 0][["x", "y"]]
    for piece in ddf.to_delayed():
        read = _inlined(piece)
        assert not isinstance(read, _Read) or read.direct is None
        frame = read.compute()
        assert (frame["x"] > 0).all()


def test_an_index_read_from_the_files_is_left_to_dask(tmp_path):
    frame = _frame(300, seed=0).set_index("i")
    frame.to_parquet(tmp_path / "part-0.parquet")
    ddf = dd.read_parquet(str(tmp_path), index="i")
    (read,) = _reads(ddf)
    assert read.direct is None


def test_an_error_of_the_direct_read_falls_back_to_dasks_read(tmp_path):
    _write(tmp_path, n_files=1)
    (read,) = _reads(dd.read_parquet(str(tmp_path))[["x", "c"]])

    def broken():
        raise OSError("not this way")

    read.direct = broken
    pd.testing.assert_frame_equal(read.compute(), _dask_read(read), check_exact=True)


def test_a_stored_index_column_falls_back_when_read(tmp_path):
    """A file whose pandas metadata lists an index column: Dask drops it, the direct read defers."""
    _write(tmp_path, n_files=1)
    (read,) = _reads(dd.read_parquet(str(tmp_path))[["x", "y"]])
    assert read.direct is not None
    # the file replaced by one storing an unnamed, non-range index, after the graph was built
    stored = _frame(900, seed=0)
    stored.index = np.arange(900) * 2
    stored.to_parquet(tmp_path / "part-0.parquet", row_group_size=250)
    with pytest.raises(parquet_read.NotPlainError):
        read.direct()
    pd.testing.assert_frame_equal(read.compute(), _dask_read(read), check_exact=True)


def test_unknown_tasks_are_not_recognised():
    from dask._task_spec import Task

    assert parquet_read.direct_reader(object()) is None
    assert parquet_read.direct_reader(Task("k", len, [1, 2])) is None


def test_a_fit_through_the_direct_read_is_the_in_memory_fit(tmp_path, monkeypatch):
    """Several files and row groups, NaN/NA rows dropped, a categorical: the in-memory fit."""
    frame = _write(tmp_path)
    calls = []
    original = parquet_read.DirectRead.__call__

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(parquet_read.DirectRead, "__call__", counted)
    formula = "y ~ x + nf + ni + b + c"
    kw = {"family": F.Poisson(), "prior": {"x": 0.1}}
    ddf = dd.read_parquet(str(tmp_path), split_row_groups=True)
    res = pr.PriorGLM.from_formula(formula, ddf, **kw).fit(lam=1.0)
    memory = frame.astype({"nf": float, "ni": float})
    ref = pr.PriorGLM.from_formula(formula, memory, **kw).fit(lam=1.0)
    assert res.model.nobs == ref.model.nobs < len(frame)
    assert res.iterations == ref.iterations
    assert len(calls) >= res.model.passes * 12  # every partition of every pass read directly
    _same_mle(res, ref, 1.0)


@pytest.mark.parametrize("dtype_backend", ["numpy_nullable", "pyarrow"])
def test_a_dtype_backend_is_converted_by_dasks_conversion(tmp_path, dtype_backend):
    _write(tmp_path, n_files=2)
    ddf = dd.read_parquet(str(tmp_path), dtype_backend=dtype_backend)
    for read in _reads(ddf):
        assert isinstance(read.direct, parquet_read.DirectRead)
        pd.testing.assert_frame_equal(read.direct(), _dask_read(read), check_exact=True)


def test_hive_partitions_are_left_to_dask(tmp_path):
    frame = _frame(600, seed=1)
    frame["g"] = np.repeat(["a", "b"], 300)
    frame.to_parquet(tmp_path, partition_cols=["g"], index=False)
    ddf = dd.read_parquet(str(tmp_path))
    for read in _reads(ddf[["x", "g"]]):
        assert read.direct is None
    assert sorted(ddf["g"].compute().astype(str).unique()) == ["a", "b"]


def test_the_reads_travel_to_worker_processes(tmp_path):
    """Pickled as a distributed worker receives them, they read the same frame."""
    import pickle

    _write(tmp_path, n_files=2)
    ddf = dd.read_parquet(str(tmp_path), split_row_groups=True)
    for columns in (list(ddf.columns), ["y", "x", "c"]):
        for read in _reads(ddf[columns]):
            travelled = pickle.loads(pickle.dumps(read))
            assert type(travelled.direct) is type(read.direct)
            pd.testing.assert_frame_equal(travelled.compute(), _dask_read(read), check_exact=True)
