"""The tables a replica serves: one QueryActor and one search batcher per open table."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future
from functools import partial

from actors.query.actor import QueryActor
from jobs.errors import user_message
from jobs.service.batching import BatcherClosed, MicroBatcher
from jobs.service.defaults import DEFAULT_MAX_BATCH, DEFAULT_WAIT_MS
from jobs.service.searches import ActorCall, SearchRequest, answer_searches
from storage.db import list_tables
from storage.errors import ConfigError
from storage.names import validate_table_name

log = logging.getLogger("embedfleet.service")


class Tables:
    """One QueryActor per table, opened on first use; the least recently used closes first.

    Every call on a table's actor runs on that table's one worker thread, its micro-batcher
    (batching.py): searches queued together are embedded together, other calls (similar, info)
    run between batches. A QueryActor is single-threaded (a Ray actor's methods run one at a
    time, and its tokenizer cannot be shared by threads); tables never wait for each other.
    """

    def __init__(self, db: str, max_open: int = 4, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_WAIT_MS):
        if max_open < 1 or max_batch < 1 or max_wait_ms < 0:
            raise ConfigError("max tables and max batch must be at least 1, the batch wait >= 0 ms")
        self.db, self.max_open, self.max_batch, self.max_wait_ms = db, max_open, max_batch, max_wait_ms
        self._open: OrderedDict[str, tuple[QueryActor, MicroBatcher]] = OrderedDict()
        self._lock = threading.Lock()  # guards the dict only, never a query

    def names(self) -> list[str]:
        """The user tables in the database folder."""
        return list_tables(self.db)

    def get(self, name: str) -> QueryActor:
        """The table's query actor, opened (model loaded) on first use; call it via `call`."""
        return self._entry(name)[0]

    def _entry(self, name: str) -> tuple[QueryActor, MicroBatcher]:
        validate_table_name(name)
        with self._lock:
            if name in self._open:
                self._open.move_to_end(name)
                return self._open[name]
        actor = QueryActor(self.db, name)  # loads the model: outside the lock
        with self._lock:
            if name not in self._open:
                batcher = MicroBatcher(partial(answer_searches, actor), self.max_batch,
                                       self.max_wait_ms / 1000, name=f"search-{name}")
                self._open[name] = (actor, batcher)
            self._open.move_to_end(name)
            entry = self._open[name]
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)[1][1].close()  # answers what it holds, then ends
            return entry

    def call(self, name: str, method: str, *args, **kwargs):
        """Run one QueryActor method on the table's thread and wait for its value."""
        return self.submit(name, ActorCall(method, args, kwargs)).result()

    def submit(self, name: str, request: SearchRequest | ActorCall) -> Future:
        """Queue a search (or call) on the table's batcher; the future holds its hit lists."""
        while True:
            try:
                return self._entry(name)[1].submit(request)
            except BatcherClosed:  # the table was closed between lookup and submit: reopen it
                continue

    def submit_if_open(self, name: str, request: SearchRequest | ActorCall) -> Future | None:
        """Queue on an open table's batcher without blocking; None when the table must be opened."""
        with self._lock:
            entry = self._open.get(name)
            if entry is None:
                return None
            self._open.move_to_end(name)
        try:
            return entry[1].submit(request)
        except BatcherClosed:
            return None

    def search(self, name: str, request: SearchRequest) -> list:
        """A search's hit lists, waiting on this thread (for callers without an event loop)."""
        return self.submit(name, request).result()

    def preload(self) -> list[str]:
        """Open up to max_open tables and answer one query on each, so no user pays for it."""
        opened = []
        for name in self.names()[:self.max_open]:
            try:
                self.search(name, SearchRequest(texts=("warm up",), k=1))
                opened.append(name)
            except Exception as exc:  # noqa: BLE001 - one broken table must not stop the service
                log.warning("could not open table %r at start: %s", name, user_message(exc))
        return opened
