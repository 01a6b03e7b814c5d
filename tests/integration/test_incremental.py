"""Incremental runs, rebuilds, versions and restore, on a real local Ray and real LanceDB tables."""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest

from jobs.errors import RunError
from storage.provenance import provenance_of
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import dataset, embed


def by_id(data):
    return {r["id"]: r for r in data.to_pylist()}


def leftovers(db):
    return sorted(n for n in os.listdir(db) if "__staging_" in n)


@pytest.fixture(scope="module")
def first_run(ray_cluster, tmp_path_factory) -> str:
    """A 200-document table made by a first (create) run; each test changes a copy of it."""
    folder = tmp_path_factory.mktemp("incremental")
    first = embed(str(folder / "db"), write_jsonl(folder / "c.jsonl", corpus_records(200)),
                  model="fake:16")
    assert (first.mode, first.embedded, first.version) == ("create", 200, 1)
    return str(folder / "db")


@pytest.fixture
def corpus(first_run, db, tmp_path):
    """This test's copy of the first run's table, and a source file holding its 200 documents."""
    shutil.copytree(first_run, db)
    records = corpus_records(200)
    return records, write_jsonl(tmp_path / "c.jsonl", records)


def test_unchanged_corpus_embeds_nothing_and_adds_no_version(corpus, db):
    records, source = corpus
    before = dataset(db).to_table()
    again = embed(db, source, model="fake:16")  # no mode: incremental on a table
    assert again.mode == "incremental"
    assert (again.read, again.embedded, again.skipped_unchanged, again.rejected) == (200, 0, 200, 0)
    assert (again.updated, again.inserted, again.deleted) == (0, 0, 0)
    assert again.balanced() and again.version == 1
    assert dataset(db).version == 1 and dataset(db).to_table().equals(before)
    assert again.actors == {}  # no model was loaded for it
    assert leftovers(db) == []
    assert [r["skipped_unchanged"] for r in list_runs(db, "docs")] == [0, 200]


def test_editing_three_of_two_hundred_reembeds_exactly_three(corpus, db, tmp_path):
    records, source = corpus
    before = by_id(dataset(db).to_table())
    edited = {records[i]["id"] for i in (3, 77, 150)}
    for r in records:
        if r["id"] in edited:
            r["text"] = f"rewritten: {r['text']} with new words entirely"
    write_jsonl(source, records)
    summary = embed(db, source, model="fake:16", mode="incremental")
    assert (summary.embedded, summary.skipped_unchanged, summary.rejected) == (3, 197, 0)
    assert (summary.updated, summary.inserted, summary.deleted) == (3, 0, 0)
    assert summary.version == 2 and dataset(db).version == 2
    after = by_id(dataset(db).to_table())
    assert len(after) == 200
    for doc_id, row in after.items():
        old = before[doc_id]
        if doc_id in edited:
            assert row["content_hash"] != old["content_hash"] and row["text"].startswith("rewritten")
            assert row["embedded_at"] > old["embedded_at"]
        else:  # untouched rows keep their vectors and their embedding time
            assert (row["vector"], row["embedded_at"]) == (old["vector"], old["embedded_at"])
    assert provenance_of(dataset(db).schema).model == "fake:16"
    assert leftovers(db) == []


def test_new_ids_are_inserted_and_missing_ones_deleted_only_when_asked(corpus, db, tmp_path):
    records, source = corpus
    gone = {r["id"] for r in records[10:15]}
    kept = [r for r in records if r["id"] not in gone]
    write_jsonl(source, kept)
    plain = embed(db, source, model="fake:16")
    assert (plain.embedded, plain.deleted, plain.version) == (0, 0, 1)
    assert dataset(db).count_rows() == 200  # without --delete-missing nothing is removed
    summary = embed(db, source, model="fake:16", delete_missing=True)
    assert (summary.read, summary.embedded, summary.deleted) == (195, 0, 5)
    assert summary.version == 2
    ids = set(dataset(db).to_table(columns=["id"]).column("id").to_pylist())
    assert len(ids) == 195 and not ids & gone
    more = kept + corpus_records(4, prefix="new")
    write_jsonl(source, more)
    added = embed(db, source, model="fake:16", delete_missing=True)
    assert (added.embedded, added.inserted, added.updated, added.deleted) == (4, 4, 0, 0)
    assert dataset(db).count_rows() == 199 and added.version == 3


def test_a_model_or_setting_change_is_refused_without_rebuild(corpus, db):
    records, source = corpus
    with pytest.raises(RunError, match=r"model: 'fake:16' != 'fake:32'.*--mode rebuild"):
        embed(db, source, model="fake:32")
    with pytest.raises(RunError, match=r"doc_prefix: '' != 'passage: '"):
        embed(db, source, model="fake:16", doc_prefix="passage: ", mode="incremental")
    assert dataset(db).version == 1


def test_a_failed_incremental_run_leaves_the_table_and_only_its_resumable_records(
        ray_cluster, db, tmp_path):
    model = "python:tests.support.fault_encoders:breaks_on_third_call"
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(10))
    embed(db, source, model=model, batch_size=10)
    write_jsonl(source, corpus_records(60, prefix="other"))
    with pytest.raises(Exception, match="batch 3"):
        embed(db, source, model=model, batch_size=5, actors=1)
    assert dataset(db).version == 1 and dataset(db).count_rows() == 10
    # What the failed run wrote stays for a resume (`embedfleet cleanup` discards it); its
    # plan files and any private commit are gone.
    [area] = leftovers(db)
    left = set(os.listdir(os.path.join(db, area)))
    assert "run.json" in left and left <= {"lock", "rows.lance", "run.json", "written"}
    assert not os.path.exists(os.path.join(db, area, "rows.lance", "_versions"))
    assert list_runs(db, "docs")[-1]["status"] == "failed"


def test_rebuild_switches_atomically_while_readers_keep_reading_then_restore(corpus, db, capsys):
    from jobs.cli.main import main

    records, source = corpus
    old_vectors = dataset(db).to_table(columns=["id", "vector"])
    seen, errors, done = [], [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                snapshot = dataset(db)  # one version, whatever commits meanwhile
                dim = provenance_of(snapshot.schema).dim
                query = np.full(dim, 1 / np.sqrt(dim), dtype=np.float32)
                hits = snapshot.to_table(nearest={"column": "vector", "q": query, "k": 5},
                                         columns=["id"])
                assert hits.num_rows == 5
                seen.append((snapshot.version, dim))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        rebuilt = embed(db, source, model="fake:32", mode="rebuild")
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert (rebuilt.mode, rebuilt.embedded, rebuilt.version) == ("rebuild", 200, 2)
    assert (1, 16) in seen and set(seen) <= {(1, 16), (2, 32)}
    assert provenance_of(dataset(db).schema).dim == 32

    assert main(["versions", "docs", "--db", db, "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["dim"], v["mode"]) for v in versions] == [(1, 16, "create"),
                                                                        (2, 32, "rebuild")]
    assert main(["restore", "docs", "1", "--db", db]) == 0
    assert "version 1 restored as version 3" in capsys.readouterr().out
    restored = dataset(db)
    assert restored.version == 3 and provenance_of(restored.schema).model == "fake:16"
    assert restored.to_table(columns=["id", "vector"]).sort_by("id").equals(
        old_vectors.sort_by("id"))
    assert dataset(db, version=2).count_rows() == 200  # the rebuild stays restorable too
    assert embed(db, source, model="fake:16").embedded == 0
    assert main(["restore", "docs", "99", "--db", db]) == 2
