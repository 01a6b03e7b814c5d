"""Commit steps run in a Ray task: their result comes back, their own error is re-raised as is."""

from __future__ import annotations

import os

import pytest

from jobs.embed.on_cluster import on_cluster
from storage.commit import CommitConflictError


def pid_and_sum(a: int, b: int) -> tuple[int, int]:
    return os.getpid(), a + b


def conflict(table: str) -> None:
    raise CommitConflictError(f"table {table!r} moved from version 1 to 2 during the run")


def test_a_step_runs_in_a_worker_and_its_own_error_comes_back(ray_cluster):
    pid, total = on_cluster(pid_and_sum, 2, 3)
    assert total == 5 and pid != os.getpid()  # a worker did it, not the driver
    with pytest.raises(CommitConflictError) as raised:
        on_cluster(conflict, "docs")
    assert str(raised.value) == "table 'docs' moved from version 1 to 2 during the run"
