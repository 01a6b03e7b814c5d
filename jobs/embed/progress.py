"""Progress a person can read: one bar with a fixed total on a terminal, a line every 10 s in logs.

Ray Data's own bars grow their totals and show no ETA, so the run counts rows itself: each
embedder actor adds its batches to a small counter actor, and a driver thread shows the sums
against the total the plan fixed before the pass began.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

LOG_EVERY_S = 10.0  # at most one plain line this often when the output is not a terminal
POLL_S = 0.5


@dataclass(frozen=True)
class Counts:
    """Rows through the embedder so far (rejects included), their tokens, and the rejects."""

    rows: int = 0
    tokens: int = 0
    rejected: int = 0


def progress_line(counts: Counts, total: int, elapsed: float) -> str:
    """'embedding: 1,200/4,000 rows (30%), 95 rows/s, 2,100 tokens/s, 3 rejected, ETA 29s'."""
    done = min(counts.rows, total)
    rate = done / elapsed if elapsed > 0 else 0.0
    share = f" ({100 * done / total:.0f}%)" if total else ""
    eta = f", ETA {format_seconds((total - done) / rate)}" if rate > 0 and done < total else ""
    tokens = counts.tokens / elapsed if elapsed > 0 else 0.0
    return (f"embedding: {done:,}/{total:,} rows{share}, {rate:,.0f} rows/s, {tokens:,.0f} tokens/s, "
            f"{counts.rejected:,} rejected{eta}")


def format_seconds(seconds: float) -> str:
    """75 -> '1m15s', 3725 -> '1h02m', 9 -> '9s'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LineThrottle:
    """Says when a plain progress line is due: the first, then at most one every `every` seconds."""

    def __init__(self, every: float = LOG_EVERY_S):
        self.every, self.last = every, None

    def due(self, now: float) -> bool:
        """True (and remember now) when a line may be printed at `now`."""
        if self.last is not None and now - self.last < self.every:
            return False
        self.last = now
        return True


def quiet_ray_data(verbose: bool) -> None:
    """Ray Data's operator bars and INFO logs only when asked for: they are noise to a person."""
    import logging
    import warnings

    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = verbose
    context.enable_operator_progress_bars = verbose
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.WARNING)
    # Its one warning that the bars are off is this very setting, not news to the user.
    logging.getLogger("ray.data._internal.progress").setLevel(
        logging.INFO if verbose else logging.ERROR)
    # The I/O stages' task caps (capacity.py) are upper bounds for big corpora; a small one
    # that cannot reach them is expected, not something to warn a user about.
    warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks for",
                            category=UserWarning)
    if not verbose:
        # Its memory detector suggests per-operator `memory=` settings every 30 s: advice for
        # whoever tunes the pipeline (--verbose), not for a person watching a run.
        context.issue_detectors_config.high_memory_detector_config.detection_time_interval_s = -1


class ProgressCounter:
    """The run's row counter, a Ray actor: embedders add, the driver reads."""

    def __init__(self):
        self.rows = self.tokens = self.rejected = 0

    def add(self, rows: int, tokens: int, rejected: int) -> None:
        """Count one embedded batch."""
        self.rows += rows
        self.tokens += tokens
        self.rejected += rejected

    def counts(self) -> Counts:
        """The sums so far."""
        return Counts(self.rows, self.tokens, self.rejected)


class ProgressReporter:
    """Shows the embedding pass: a tqdm bar on a terminal, plain lines otherwise, or nothing."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True, verbose: bool = False):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.verbose = verbose  # Ray Data's own operator logs and bars too
        self.counter = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, text: str) -> None:
        """One short line (the planning pass, the commit)."""
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def start(self, total: int) -> object | None:
        """Start showing a pass of `total` rows; the counter handle embedders report to."""
        import ray

        if not self.enabled or total <= 0:
            return None
        self.counter = ray.remote(num_cpus=0)(ProgressCounter).remote()
        self._stop.clear()
        self._thread = threading.Thread(target=self._show, args=(total,), daemon=True,
                                        name="embedfleet-progress")
        self._thread.start()
        return self.counter

    def stop(self) -> None:
        """Show the last figures and end the display."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        import ray

        ray.kill(self.counter)
        self.counter = None

    def _counts(self) -> Counts:
        import ray

        try:
            return ray.get(self.counter.counts.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - a slow counter must not stop the run
            return Counts()

    def _show(self, total: int) -> None:
        started = time.monotonic()
        if self.stream.isatty():
            self._show_bar(total, started)
        else:
            self._show_lines(total, started)

    def _show_bar(self, total: int, started: float) -> None:
        from tqdm import tqdm

        # A terminal that reports no size (a fresh pseudo-terminal) would get no bar at all.
        size = shutil.get_terminal_size((100, 24))
        with tqdm(total=total, unit="rows", file=self.stream, desc="embedding",
                  ncols=size.columns or 100, nrows=size.lines or 24, smoothing=0.1) as bar:
            while True:
                stopping = self._stop.wait(POLL_S)
                counts = self._counts()
                bar.update(min(counts.rows, total) - bar.n)
                elapsed = max(time.monotonic() - started, 1e-9)
                bar.set_postfix_str(f"{counts.tokens / elapsed:,.0f} tokens/s, "
                                    f"{counts.rejected:,} rejected", refresh=True)
                if stopping:
                    return

    def _show_lines(self, total: int, started: float) -> None:
        throttle = LineThrottle()
        while True:
            stopping = self._stop.wait(POLL_S)
            now = time.monotonic()
            if stopping or throttle.due(now):
                counts = self._counts()
                # Once every row is in, the line at the stop says so: one 100% line, not two.
                if stopping or counts.rows < total:
                    print(progress_line(counts, total, now - started), file=self.stream,
                          flush=True)
            if stopping:
                return
