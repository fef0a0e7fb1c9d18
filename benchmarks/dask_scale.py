"""Out-of-core fits on Dask: time per pass relative to a plain read, peak memory.

Writes a synthetic dataset (default 20 million rows x 20 predictors, about
3.5 GB of Parquet partitions; put it under /tmp, never in the repository),
then on a ``distributed.LocalCluster`` (default 2 worker processes x 1
thread, this machine's 2 cores) measures, ``--repeat`` times interleaved
(the machine may be shared: medians are reported, with the spread):

- the floor, a plain read: ``ddf[columns].sum()`` over the columns the
  model uses. It reads and decodes every byte the fit must read into
  float64 and reduces each partition to one number, so it is the least
  any pass can cost. (``ddf.map_partitions(len)`` is printed for
  reference only: Dask may answer it from the Parquet footers or one
  column, which no fit can do.)
- ``PriorRidge.from_formula(...).fit(lam="gcv")``: one TSQR pass, then GCV
  over the whole path in memory;
- ``PriorGLM.from_formula(..., family=Poisson()).fit(lam=...)``: one pass
  at the start (which also carries the model's scan and the separation
  check) and one per penalized IRLS iteration;

and prints wall time, rows per second, passes over the data, time per pass
and per IRLS iteration relative to the plain read with issue 12's targets,
and the peak resident memory of the client and the workers together
(sampled every 0.1 s), which stays far below the data size. A breakdown of
one partition in this process (one BLAS thread, as each Dask worker) shows
where a pass's time goes: reading, coding the design (the numeric coder and
patsy for comparison), the scan's sweep and one IRLS pass's work, under the
workers' allocation setting (``MALLOC_TRIM_THRESHOLD_``), with the page faults
each step makes.

Usage::

    python benchmarks/dask_scale.py                       # full size
    python benchmarks/dask_scale.py --rows 2000000        # a quick run
    python benchmarks/dask_scale.py --keep                # keep the files
    python benchmarks/dask_scale.py --scheduler threads   # one process
    python benchmarks/dask_scale.py --scan-apart          # + the GLM scanning first

On a multi-machine cluster the same code runs unchanged: point
``--scheduler`` at the scheduler's address (``tcp://host:8786``) and
``--path`` at storage every worker can read (e.g. ``s3://bucket/prefix``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

#: Issue 12's target for a selection and for one IRLS pass, relative to a plain read.
TARGET_READ_RATIO = 1.5


def coefficients(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True coefficients of the linear (``y``) and Poisson (``count``) responses."""
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.5, size=k), rng.normal(scale=0.1, size=k)


def write_data(path: Path, rows: int, k: int, partitions: int, seed: int = 0) -> float:
    """Parquet partitions of ``y`` (linear), ``count`` (Poisson) and ``x1..xk``; GB written."""
    path.mkdir(parents=True, exist_ok=True)
    beta, gamma = coefficients(k, seed)
    per = -(-rows // partitions)
    for i in range(partitions):
        n = min(per, rows - i * per)
        if n <= 0:
            break
        part = np.random.default_rng([seed, i])
        X = part.normal(size=(n, k))
        frame = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(k)])
        frame["y"] = 1.0 + X @ beta + part.normal(size=n)
        frame["count"] = part.poisson(np.exp(0.5 + X @ gamma))
        frame.to_parquet(path / f"part-{i:04d}.parquet", index=False)
    return sum(f.stat().st_size for f in path.glob("*.parquet")) / 1e9


class PeakMemory:
    """Peak of the summed resident memory of this process and its children."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn) -> tuple[float, int, object]:
    """Wall time, peak resident memory of all processes and the result of ``fn()``."""
    with PeakMemory() as mem:
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
    return elapsed, mem.peak, out


def spread(values: list[float]) -> str:
    """Median and range of repeated timings."""
    return f"{np.median(values):7.2f} s (range {min(values):.2f}-{max(values):.2f})"


def partition_breakdown(
    ridge, glm, path: Path, columns: list[str], repeat: int, setting: str | None
) -> None:
    """Where one partition's CPU time goes, in this process with one BLAS thread.

    ``setting``: the workers' malloc setting, applied in this process already
    (:func:`workers_malloc`), or ``None``.
    """
    import statsmodels.api as sm
    from threadpoolctl import threadpool_limits

    from priorreg import formula as _formula
    from priorreg.outofcore.model import _scan

    first = sorted(path.glob("*.parquet"))[0]
    frame = pd.read_parquet(first, columns=columns)
    block, gblock = ridge.source.coder(0, frame), glm.source.coder(0, frame)
    family = sm.families.Poisson()
    b0 = np.asarray(glm.prior_values, dtype=float)
    steps = [
        ("read the model's columns (pandas)", lambda: pd.read_parquet(first, columns=columns)),
        ("  + sum (the floor's work)", lambda: pd.read_parquet(first, columns=columns).sum()),
        ("code the design, numeric coder", lambda: ridge.source.coder(0, frame)),
        ("code the design, patsy", lambda: _formula.rebuild_design(ridge.design, frame, "drop")),
        ("linear scan: extrema + TSQR", lambda: _scan(block, "linear", "weights", None)),
        ("GLM scan: extrema + moments", lambda: _scan(gblock, "glm", "freq_weights", family)),
    ]
    read = next(iter(glm.source._reads.values()), None)
    if read is not None:  # the GLM's own read of a partition (its first), both ways
        import dask

        def by_dask():
            return dask.get({read.key: read.task}, read.key)

        steps.insert(2, ("  read by Dask's read task (GLM)", by_dask))
        if read.direct is not None:
            steps.insert(3, ("  read directly by pyarrow (GLM)", read.direct))
    try:  # the IRLS pass's per-partition work (its name may change with the IRLS loop)
        from priorreg.outofcore.irls_pass import Asks, PointSpec, glm_point
    except ImportError:
        print("(the IRLS pass's kernel is not priorreg.outofcore.irls_pass.glm_point: not timed)")
    else:
        from priorreg.separation import _max_lp_rows

        xmin, xmax = glm._scan["x_min"], glm._scan["x_max"]
        scale = np.fmax(np.abs(xmin), np.abs(xmax))
        first_asks = Asks(loglike=True, separation=(scale, _max_lp_rows(scale.size)), scan=True)
        steps += [
            ("one IRLS pass's work", lambda: glm_point(gblock, family, PointSpec(b0), b0, Asks())),
            (
                "  the first (+ scan, separation, ll)",
                lambda: glm_point(gblock, family, PointSpec(b0), b0, first_asks),
            ),
        ]
    out = []
    with threadpool_limits(limits=1, user_api="blas"):
        for label, fn in steps:
            times = []
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(repeat):
                start = time.process_time()  # CPU: a loaded machine inflates wall time
                fn()
                times.append(time.process_time() - start)
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat
            out.append((label, float(np.median(times)), faults))
    floor = out[1][1]
    print(
        f"one partition ({len(frame):,} rows, {first.name}), one BLAS thread, CPU time medians"
        f" and page faults per call; allocation as in Dask's workers ({setting}):"
        if setting
        else f"one partition ({len(frame):,} rows, {first.name}), one BLAS thread, CPU time "
        "medians and page faults per call (this process's allocation, not the workers'):"
    )
    for label, seconds, faults in out:
        print(
            f"  {label:<36} {seconds * 1e3:8.1f} ms  {seconds / floor:5.2f}x the floor"
            f"  {faults:7.0f} faults"
        )


def workers_malloc() -> str | None:
    """Give this process the malloc setting Dask's nanny starts its workers with, if any.

    ``distributed.nanny.pre-spawn-environ`` sets ``MALLOC_TRIM_THRESHOLD_`` (65536
    by default), which also turns off glibc's adaptive mmap threshold: in the
    workers every array of 128 KiB or more is a fresh ``mmap`` whose pages fault
    on first touch. The breakdown is timed under the same setting (glibc only).
    """
    import ctypes
    import ctypes.util

    import dask

    value = (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).get(
        "MALLOC_TRIM_THRESHOLD_"
    )
    name = ctypes.util.find_library("c")
    if value is None or name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold = -1  # glibc's malloc.h
        if libc.mallopt(m_trim_threshold, int(value)) != 1:
            return None
    except (OSError, AttributeError, ValueError):
        return None
    return f"MALLOC_TRIM_THRESHOLD_={value}"


@contextlib.contextmanager
def dasks_read():
    """Models built inside read each Parquet partition by Dask's own read task."""
    from priorreg.outofcore import parquet_read

    original = parquet_read.direct_reader
    parquet_read.direct_reader = lambda task: None
    try:
        yield
    finally:
        parquet_read.direct_reader = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--predictors", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=80)
    parser.add_argument("--path", default="/tmp/priorreg_dask_scale")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument(
        "--scheduler",
        default="local-cluster",
        help="'local-cluster', 'threads', or a distributed scheduler address",
    )
    parser.add_argument("--lam", type=float, default=10.0, help="fixed lam of the GLM fit")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--keep", action="store_true", help="keep the Parquet files")
    parser.add_argument("--progress", action="store_true", help="progress bar per pass")
    parser.add_argument(
        "--dask-read",
        action="store_true",
        help="also time the GLM with each partition read by Dask's own read task",
    )
    parser.add_argument(
        "--scan-apart",
        action="store_true",
        help="also time the GLM with its scan as a pass of its own (read before the fit)",
    )
    args = parser.parse_args()

    import dask
    import dask.dataframe as dd
    import statsmodels.api as sm

    import priorreg as pr

    path = Path(args.path)
    if not path.exists() or not any(path.glob("*.parquet")):
        start = time.perf_counter()
        size = write_data(path, args.rows, args.predictors, args.partitions)
        print(
            f"wrote {args.rows:,} rows x {args.predictors} predictors: {size:.2f} GB "
            f"in {args.partitions} Parquet files ({time.perf_counter() - start:.0f} s)"
        )
    size = sum(f.stat().st_size for f in path.glob("*.parquet")) / 1e9

    client = cluster = None
    if args.scheduler == "threads":
        dask.config.set(scheduler="threads", num_workers=args.workers * args.threads)
    else:
        from distributed import Client, LocalCluster

        if args.scheduler == "local-cluster":
            cluster = LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads,
                dashboard_address=None,
                memory_limit=None,
            )
            client = Client(cluster)
        else:
            client = Client(args.scheduler)
    print(
        f"data: {size:.2f} GB on disk; scheduler: {args.scheduler} "
        f"({args.workers} x {args.threads}); {os.cpu_count()} cores; "
        f"{psutil.virtual_memory().total / 1e9:.0f} GB memory; load average "
        f"{os.getloadavg()[0]:.1f} (a shared machine inflates every time below alike)"
    )

    idle = PeakMemory()._sample()
    print(f"resident memory of the idle client and workers: {idle / 1e9:.2f} GB")
    ddf = dd.read_parquet(str(path))
    rows = len(ddf)
    names = [f"x{j + 1}" for j in range(args.predictors)]
    predictors = " + ".join(names)

    # an old model that is nearly right: GCV then chooses an interior lam
    beta, gamma = coefficients(args.predictors)
    noise = np.random.default_rng(1).normal(scale=0.002, size=args.predictors)

    def ridge():
        model = pr.PriorRidge.from_formula(
            f"y ~ {predictors}",
            ddf,
            prior=dict(zip(names, beta + noise, strict=True)),
            progress=args.progress,
        )
        return model, model.fit(lam="gcv")

    def glm(apart: bool = False, dask_read: bool = False):
        with dasks_read() if dask_read else contextlib.nullcontext():
            model = pr.PriorGLM.from_formula(
                f"count ~ {predictors}",
                ddf,
                family=sm.families.Poisson(),
                prior=dict(zip(names, gamma + noise, strict=True)),
                progress=args.progress,
            )
        if apart:
            _ = model.nobs  # the scan, now: a pass of its own (as before it rode on the fit)
        return model, model.fit(lam=args.lam)

    keys = ["len", "read_y", "read_count", "ridge", "glm"] + ["glm_apart"] * args.scan_apart
    keys += ["glm_dask_read"] * args.dask_read
    times: dict[str, list[float]] = {k: [] for k in keys}
    peaks: list[int] = []
    for rep in range(args.repeat):
        for key, fn in (
            ("len", lambda: ddf.map_partitions(len).compute()),
            ("read_y", lambda: ddf[["y", *names]].sum().compute()),
            ("ridge", ridge),
            ("read_count", lambda: ddf[["count", *names]].sum().compute()),
            ("glm", glm),
            *([("glm_apart", lambda: glm(apart=True))] if args.scan_apart else []),
            *([("glm_dask_read", lambda: glm(dask_read=True))] if args.dask_read else []),
        ):
            elapsed, peak, out = timed(fn)
            times[key].append(elapsed)
            peaks.append(peak)
            if key == "ridge":
                ridge_model, res = out
            elif key == "glm":
                glm_model, gres = out
            elif key == "glm_apart":
                apart_passes = out[1].model.passes + int(out[0]._scanned_apart)
        print(
            f"repeat {rep + 1}: "
            + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
            flush=True,
        )

    med = {k: float(np.median(v)) for k, v in times.items()}
    # the fit's passes (the IRLS points; the scan and the separation check
    # ride on the first), and the scan when it was a pass of its own
    passes = gres.model.passes + int(glm_model._scanned_apart)
    iterations = gres.iterations
    print(f"\n{rows:,} rows, medians of {args.repeat}:")
    print(f"map_partitions(len) (reference, not a floor) {spread(times['len'])}")
    print(f"plain read of y, x (floor for PriorRidge)    {spread(times['read_y'])}")
    print(f"plain read of count, x (floor for the GLM)   {spread(times['read_count'])}")
    print(
        f"PriorRidge GCV (1 pass)                      {spread(times['ridge'])}  "
        f"{rows / med['ridge'] / 1e6:.2f} M rows/s"
    )
    print(f"    lam={res.lam:.4g}, edf={res.edf:.3f}, scale={res.scale:.5f}, R2={res.rsquared:.5f}")
    print(
        f"PriorGLM Poisson lam={args.lam:g} ({passes} passes)  {spread(times['glm'])}  "
        f"{rows / med['glm'] / 1e6:.2f} M rows/s"
    )
    print(
        f"    {iterations} IRLS iterations, deviance={gres.deviance:.6g}, "
        f"converged={gres.converged}"
    )
    # each repeat's fit against the read just before it (the load drifts less
    # within a repeat than across), then the median over the repeats
    ridge_r = np.divide(times["ridge"], times["read_y"])
    glm_r = np.divide(times["glm"], times["read_count"])
    ratios = [
        ("PriorRidge GCV / read", ridge_r),
        ("GLM per IRLS iteration / read", glm_r / iterations),
        ("GLM per pass / read", glm_r / passes),
    ]
    variants = [("scan apart", "glm_apart", apart_passes if args.scan_apart else 0)]
    variants += [("Dask's read task", "glm_dask_read", passes)]
    for name, key, n_passes in variants:
        if key not in times:
            continue
        r = np.divide(times[key], times["read_count"])
        print(f"PriorGLM, {name} ({n_passes} passes)  {spread(times[key])}")
        ratios += [
            (f"  {name}: per iteration", r / iterations),
            (f"  {name}: per pass", r / n_passes),
        ]
    print("ratios: median over the repeats of (fit / the read in the same repeat)")
    for label, values in ratios:
        ratio = float(np.median(values))
        verdict = "met" if ratio <= TARGET_READ_RATIO else "NOT met"
        print(
            f"issue 12 target: {label:32s}{ratio:6.2f} <= {TARGET_READ_RATIO:g}: {verdict}"
            f"  (range {min(values):.2f}-{max(values):.2f})"
        )

    peak = max(peaks)
    print(
        f"peak resident memory, all processes: {peak / 1e9:.2f} GB "
        f"({peak / 1e9 / size:.2f} of the data on disk; "
        f"{(peak - idle) / 1e9:.2f} GB above the idle cluster)"
    )
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()
    # after the client is closed: its threads' CPU would count in process_time
    columns = ["y", "count", *names]
    # worker processes (not the threaded scheduler's threads) allocate as Dask's nanny says
    setting = workers_malloc() if args.scheduler != "threads" else None
    partition_breakdown(ridge_model, glm_model, path, columns, max(args.repeat, 5), setting)
    if not args.keep:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
