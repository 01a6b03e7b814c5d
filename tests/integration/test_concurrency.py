"""Readers and writers at once: whole versions only, one winner per conflicting pair of runs."""

from __future__ import annotations

import threading

from actors.query.actor import QueryActor
from storage.commit import CommitConflictError
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import dataset, embed

ONE_ACTOR = {"batch_size": 10, "actors": 1, "cpus_per_actor": 1}


def ids(db):
    return dataset(db).to_table(columns=["id"]).column("id").to_pylist()


def run_at_once(runs: dict) -> tuple[dict, dict]:
    """Start every run in its own thread at the same moment; their summaries and errors."""
    results, errors, start = {}, {}, threading.Barrier(len(runs))

    def go(name, call):
        start.wait()
        try:
            results[name] = call()
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors[name] = exc

    threads = [threading.Thread(target=go, args=item) for item in runs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_two_writers_one_wins_the_other_fails_clearly(ray_cluster, db, tmp_path, faults):
    base = corpus_records(40)
    embed(db, write_jsonl(tmp_path / "base.jsonl", base), model=faults.model, **ONE_ACTOR)
    faults.set_delay(0.15)  # both runs are still embedding when the first one commits
    version = 1
    for mode in ("overwrite", "append", "incremental"):
        rows = {name: (base if mode == "incremental" else []) + corpus_records(30, f"{mode}-{name}")
                for name in ("a", "b")}
        sources = {name: write_jsonl(tmp_path / mode / f"{name}.jsonl", rows[name]) for name in rows}
        before = set(ids(db))
        results, errors = run_at_once({name: lambda s=source, m=mode: embed(
            db, s, mode=m, model=faults.model, **ONE_ACTOR) for name, source in sources.items()})
        new = {name: {r["id"] for r in records} for name, records in rows.items()}
        statuses = sorted(r["status"] for r in list_runs(db, "docs")[-2:])
        if errors:
            assert len(results) == 1 and len(errors) == 1, (mode, results, errors)
            (winner, summary), (error,) = next(iter(results.items())), errors.values()
            assert isinstance(error, CommitConflictError), (mode, repr(error))
            assert f"moved from version {version} to {version + 1}" in str(error)
            expected = new[winner] | (set() if mode == "overwrite" else before)
            version += 1
            assert summary.version == version
            assert statuses == ["failed", "succeeded"]
        else:
            # Only changes Lance can apply one after the other may both land: two appends, or
            # two upserts of different rows, each whole, as if run in turn.
            assert mode != "overwrite", results
            expected = before | new["a"] | new["b"]
            version += 2
            assert statuses == ["succeeded", "succeeded"]
        assert dataset(db).version == version, mode
        assert sorted(ids(db)) == sorted(expected), mode  # every id once, none of a loser's


def test_a_reader_in_a_loop_sees_only_whole_versions_and_picks_up_new_ones(ray_cluster, db,
                                                                            tmp_path, faults):
    records = corpus_records(40)
    source = write_jsonl(tmp_path / "c.jsonl", records)
    embed(db, source, model=faults.model, **ONE_ACTOR)
    actor = QueryActor(db, "docs")  # opened once, never restarted
    seen, errors, done = set(), [], threading.Event()

    def read():
        hits = actor.search("note", k=1000)
        return len(hits), sum(h.text.startswith("rewritten") for h in hits)

    def reader():
        while not done.is_set():
            try:
                seen.add(read())
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    faults.set_delay(0.1)  # the writes take long enough for many reads to overlap them
    try:
        embed(db, write_jsonl(tmp_path / "more.jsonl", corpus_records(60, prefix="more")),
              model=faults.model, mode="append", **ONE_ACTOR)
        for r in records[:10]:
            r["text"] = f"rewritten {r['text']}"
        write_jsonl(source, records)
        embed(db, source, model=faults.model, **ONE_ACTOR)  # incremental: 10 rows updated in one version
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert read() == (100, 10)
    assert seen <= {(40, 0), (100, 0), (100, 10)}, seen  # never part of an append or an update
    assert (40, 0) in seen and len(seen) >= 2
