"""The per-table write lock: one holder at a time, across threads and processes."""

from __future__ import annotations

import fcntl
import threading
import time

import pytest

from storage.locks import table_write_lock


def test_a_second_writer_waits_for_the_first(tmp_path):
    uri = str(tmp_path / "docs.lance")
    order = []

    def writer(name):
        with table_write_lock(uri):
            order.append(f"{name} in")
            time.sleep(0.3)
            order.append(f"{name} out")

    with table_write_lock(uri):
        threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        time.sleep(0.2)
        assert order == []  # both wait while the lock is held here
    for t in threads:
        t.join()
    # Whoever went first left before the other came in.
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    assert (tmp_path / "docs.lance.lock").exists()


@pytest.mark.parametrize("uri, locked", [
    ("s3://bucket/db/docs.lance", False), ("gs://bucket/docs.lance", False),
    ("az://container/db/docs.lance", False), ("file://{tmp}/docs.lance", True),
    ("{tmp}/docs.lance", True),
])
def test_object_store_uris_are_not_locked(tmp_path, monkeypatch, uri, locked):
    # A lock on "s3://..." taken as a local path would create s3:/bucket/... under the cwd.
    monkeypatch.chdir(tmp_path)
    taken, real_flock = [], fcntl.flock
    monkeypatch.setattr(fcntl, "flock", lambda handle, op: taken.append(op) or real_flock(handle, op))
    with table_write_lock(uri.format(tmp=tmp_path)):
        pass
    assert taken == ([fcntl.LOCK_EX, fcntl.LOCK_UN] if locked else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == (["docs.lance.lock"] if locked else [])
