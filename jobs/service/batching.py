"""Micro-batching of concurrent requests: whatever arrives within a few ms runs as one call.

Pure Python (threads and futures, no Ray): `jobs.service.app` gives each open table one
`MicroBatcher` whose handler embeds a batch of queries in one model call.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

_STOP = object()


class BatcherClosed(RuntimeError):
    """The batcher was closed (its table was closed) before the item was submitted."""


class MicroBatcher:
    """Hands submitted items to `handler` in batches of at most `max_batch`, on one worker thread.

    A batch closes when it is full or `max_wait` seconds after its first item arrived. Items
    that arrive while a batch runs queue up and form the next batch, so under load batches fill
    without waiting, and a lone request waits at most `max_wait`. `max_batch=1` turns batching off.
    """

    # One worker thread rather than Ray Serve's @serve.batch: that runs the batch on the
    # replica's event loop (a blocking model call would stall every other request), needs Ray
    # in the app module, and batches per method, not per table. One thread per table also keeps
    # a tokenizer from being used by two threads at once (Rust tokenizers raise "Already borrowed").
    def __init__(self, handler: Callable[[list], list], max_batch: int = 32, max_wait: float = 0.005,
                 name: str = "batcher"):
        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait >= 0, got {max_batch}, {max_wait}")
        self.handler, self.max_batch, self.max_wait = handler, max_batch, max_wait
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed, self._lock = False, threading.Lock()
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def submit(self, item) -> Future:
        """Queue one item; the future gets its result, or the exception the handler gave it."""
        future: Future = Future()
        with self._lock:  # held for a put only: an item never lands behind the stop marker
            if self._closed:
                raise BatcherClosed("batcher is closed")
            self._queue.put((item, future, time.monotonic()))
        return future

    def close(self) -> None:
        """Stop taking items; the worker answers those already queued, then ends."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = collect_batch(self._queue, first, self.max_batch, first[2] + self.max_wait)
            run_batch(self.handler, batch)
            if stop:
                return


def collect_batch(source: queue.SimpleQueue, first, max_batch: int, deadline: float):
    """The first entry plus what else arrives before the deadline, up to max_batch; and stop?"""
    batch = [first]
    while len(batch) < max_batch:
        left = deadline - time.monotonic()
        try:
            # Entries queued while the last batch ran are past their deadline: take them now.
            entry = source.get(timeout=left) if left > 0 else source.get_nowait()
        except queue.Empty:
            break
        if entry is _STOP:
            return batch, True
        batch.append(entry)
    return batch, False


def run_batch(handler: Callable[[list], list], batch: list) -> None:
    """Call the handler on the batch's items and settle each entry's future."""
    live = [(item, future) for item, future, _ in batch if future.set_running_or_notify_cancel()]
    if not live:
        return
    try:
        outcomes = handler([item for item, _ in live])
        if len(outcomes) != len(live):
            raise RuntimeError(f"batch handler gave {len(outcomes)} results for {len(live)} items")
    except BaseException as exc:  # noqa: BLE001 - every caller gets the failure, the worker lives on
        for _, future in live:
            future.set_exception(exc)
        return
    for (_, future), outcome in zip(live, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
