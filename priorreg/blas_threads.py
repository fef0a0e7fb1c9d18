"""One BLAS thread for work made of many small BLAS calls.

A pass over row blocks calls ``syrk`` once per block of 4096 rows, and a
search solves many ``k x k`` systems. Each call is too small for a second
BLAS thread to pay for its hand-off: with two threads, a blockwise Gram
pass of ``n = 200,000`` rows and ``k = 200`` columns took twice as long as
with one on an idle two-core machine (0.55 s against 0.27 s; one ``X.T @ X``
is 0.17 s with two threads), and on a busy machine the spin-waiting threads
cost far more. The limit is process-wide while it lasts (threadpoolctl sets
the BLAS library's thread count) and applies only when threadpoolctl is
installed (it comes with scikit-learn and with the ``dask`` extra).
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["one_blas_thread"]


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """A context with one BLAS thread (when threadpoolctl is there), the caller's after it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up only
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
