"""One writer at a time per table on a local or shared POSIX filesystem."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def table_write_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside the table while a run checks its version and commits.

    Lance rebases a commit over a concurrent one when their operations do not conflict, and two
    upserts that insert the same new ids do not: both land and the ids are doubled. Checking the
    version and committing under one lock makes that check hold. Object stores have no such
    lock; there, keep to one writer per table (the scheduler never overlaps its runs).
    """
    if "://" in uri and not uri.startswith("file://"):
        log.debug("no write lock on %s: not a local path", uri)
        yield
        return
    path = uri.removeprefix("file://").rstrip("/") + ".lock"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
