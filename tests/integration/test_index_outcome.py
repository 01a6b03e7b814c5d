"""A run's outcome is its commit: an index build that fails afterwards is a warning, not a failure."""

from __future__ import annotations

from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import embed


def test_a_failed_index_build_leaves_the_committed_run_succeeded(ray_cluster, db, tmp_path,
                                                                  monkeypatch):
    import jobs.embed.run

    def broken_index(*args, **kwargs):
        raise RuntimeError("lance error: simulated index failure")

    # Fault injection: the index step runs in this (driver) process after the commit.
    monkeypatch.setattr(jobs.embed.run, "refresh_index", broken_index)
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(30))
    summary = embed(db, source, model="fake:8", index_threshold=1)
    assert (summary.status, summary.version, summary.embedded) == ("succeeded", 1, 30)
    assert summary.index == "failed: RuntimeError: lance error: simulated index failure"
    assert "warning: index failed" in summary.line()
    run = list_runs(db, "docs")[-1]
    assert (run["status"], run["version"]) == ("succeeded", 1)
