"""Progress of the search for ``lam``: ``fit(disp=True)`` and the command line.

Each outer step of a search (one converged fit at one ``lam`` and its
criterion value) is a :class:`SearchStep`. ``fit(disp=...)`` takes ``True``
(print every step to standard output, as statsmodels' ``disp``), ``False``
(silent) or any callable taking a :class:`SearchStep`, such as a
:class:`StepPrinter` that writes elsewhere or only once the work has taken
a while.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["Heartbeat", "SearchStep", "StepPrinter", "report_selection", "reporter"]


@dataclass(frozen=True)
class SearchStep:
    """One outer step of the search for ``lam``.

    Attributes
    ----------
    step : int
        1, 2, ... in the order evaluated (0 for the chosen ``lam``).
    criterion : str
        ``"gcv"``, ``"reml"``, ...
    lam, value, edf : float
        The penalty weight, the criterion there and the fit's edf.
    elapsed : float
        Seconds since the fit started.
    chosen : bool
        True for the final report of the selected ``lam``.
    """

    step: int
    criterion: str
    lam: float
    value: float
    edf: float
    elapsed: float
    chosen: bool = False

    def __str__(self) -> str:
        head = f"{self.criterion} step {self.step}"
        if self.chosen:
            head = f"chosen lam ({self.criterion})"
        return (
            f"{head}: lam = {self.lam:.6g}, {self.criterion} = {self.value:.10g}, "
            f"edf = {self.edf:.4f} ({self.elapsed:.1f} s)"
        )


class StepPrinter:
    """Print search steps to ``stream``; with ``after > 0`` only once work lasts that long.

    Steps made before ``after`` seconds are kept and printed together when
    the threshold passes, so a quick fit prints nothing and a slow one shows
    its whole history.

    Parameters
    ----------
    stream : file-like, optional
        Default standard output (read when printing).
    after : float
        Seconds of work before the first line.
    prefix : str
        Put before each line (e.g. ``"priorreg: "``).
    """

    def __init__(
        self, stream: TextIO | None = None, *, after: float = 0.0, prefix: str = ""
    ) -> None:
        self.stream = stream
        self.after = float(after)
        self.prefix = prefix
        self._pending: list[SearchStep] = []
        self._started = False
        #: ``time.monotonic()`` of the last line printed (None: nothing yet)
        self.last_printed: float | None = None

    def __call__(self, step: SearchStep) -> None:
        """Report one step."""
        if not self._started and step.elapsed < self.after:
            self._pending.append(step)
            return
        self._started = True
        out = self.stream if self.stream is not None else sys.stdout
        for item in [*self._pending, step]:
            print(f"{self.prefix}{item}", file=out, flush=True)
        self._pending.clear()
        self.last_printed = time.monotonic()


class Heartbeat:
    """Say "still working" on ``stream`` while a block runs longer than ``after`` seconds.

    A background thread prints ``<prefix>still working (N s)`` at ``after``
    seconds and every ``every`` seconds after that, except when ``printer``
    (a :class:`StepPrinter`) has printed a step within the last ``every``
    seconds; nothing for a block that ends sooner. Use as a context manager.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        after: float = 2.0,
        every: float = 10.0,
        prefix: str = "",
        printer: StepPrinter | None = None,
    ) -> None:
        self.stream = stream
        self.after = float(after)
        self.every = float(every)
        self.prefix = prefix
        self.printer = printer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        start = time.monotonic()
        wait = self.after
        while not self._stop.wait(wait):
            now = time.monotonic()
            last = None if self.printer is None else self.printer.last_printed
            if last is None or now - last >= self.every:
                line = f"{self.prefix}still working ({now - start:.0f} s)"
                print(line, file=self.stream, flush=True)
            wait = self.every

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name="priorreg-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Clock:
    """Numbers the steps and times them from the start of the fit."""

    def __init__(self, sink: Callable[[SearchStep], Any], criterion: str) -> None:
        self.sink = sink
        self.criterion = criterion
        self.start = time.perf_counter()
        self.count = 0

    def __call__(self, lam: float, value: float, edf: float, *, chosen: bool = False) -> None:
        if not chosen:
            self.count += 1
        elapsed = time.perf_counter() - self.start
        step = SearchStep(
            0 if chosen else self.count, self.criterion, lam, value, edf, elapsed, chosen
        )
        self.sink(step)


def reporter(
    disp: bool | Callable[[SearchStep], Any], criterion: str
) -> Callable[..., None] | None:
    """The step reporter of ``fit(disp=...)`` for a search by ``criterion`` (None: silent).

    Raises
    ------
    TypeError
        ``disp`` neither a bool nor a callable.
    """
    if disp is False or disp is None:
        return None
    if disp is True:
        return _Clock(StepPrinter(), criterion)
    if callable(disp):
        return _Clock(disp, criterion)
    raise TypeError(
        f"disp must be True, False or a callable taking a SearchStep, not {type(disp).__name__}"
    )


def report_selection(report: Callable[..., None], selection: Any, edf: float) -> None:
    """Report a finished search from its path, then the chosen ``lam`` (of ``edf``)."""
    path = selection.path
    name = selection.criterion
    for lam, step_edf, value in zip(path["lam"], path["edf"], path[name], strict=True):
        report(float(lam), float(value), float(step_edf))
    report(selection.lam, selection.value, edf, chosen=True)
