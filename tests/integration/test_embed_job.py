"""The embed job end to end on a real local Ray cluster and real LanceDB tables."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray.data import DataContext

from jobs.embed.sources import SourceError
from jobs.errors import RunError
from jobs.ray_internals import live_actor_ids as live_actors
from storage.provenance import provenance_of
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import dataset, embed, stored, vectors_of, wait_until


@contextmanager
def pool_waits_for_all_actors():
    """Ray Data hands out blocks only once every actor of a pool is up, inside this block.

    Without it an actor whose imports finish seconds before another's (a busy machine) may
    embed every block alone.
    """
    context = DataContext.get_current()
    saved, context.wait_for_min_actors_s = context.wait_for_min_actors_s, 300
    try:
        yield
    finally:
        context.wait_for_min_actors_s = saved


def four_files(folder, rows: int = 400) -> list:
    """The corpus in four JSON-lines files: a pool hands out whole blocks, one file can be one."""
    records = corpus_records(rows)
    size = rows // 4
    return [write_jsonl(folder / f"c{i}.jsonl", records[i * size:(i + 1) * size]) for i in range(4)]


@pytest.fixture(scope="module")
def untruncated_run(ray_cluster, tiny_bert, tmp_path_factory):
    """(summary, db) of one tiny BERT run of 400 rows on two actors, vectors not truncated.

    The untruncated case of the dim test and the model-load test both read it: each model load
    of an actor costs seconds of imports, so one run serves both.
    """
    folder = tmp_path_factory.mktemp("untruncated")
    db = str(folder / "db")
    with pool_waits_for_all_actors():
        return embed(db, four_files(folder), model=tiny_bert, actors=2, batch_size=10), db


@pytest.fixture(scope="module")
def truncated_run(ray_cluster, tiny_bert, tmp_path_factory):
    """(summary, db) of one tiny BERT run of 120 rows truncated to 8 dims, the full 32 kept too.

    The truncated case of the dim test and the keep-full test both read it, like the above.
    """
    db = str(tmp_path_factory.mktemp("truncated") / "db")
    source = write_jsonl(tmp_path_factory.mktemp("truncated-corpus") / "c.jsonl", corpus_records(120))
    return embed(db, source, model=tiny_bert, truncate_dim=8, keep_full=True, batch_size=16), db


@pytest.mark.parametrize("truncate_dim, dim", [(None, 32), (8, 8)])
def test_tiny_bert_vectors_are_unit_length_with_the_right_dim(ray_cluster, tiny_bert, truncate_dim,
                                                              dim, request):
    truncated = truncate_dim is not None
    rows = 120 if truncated else 400
    summary, db = request.getfixturevalue("truncated_run" if truncated else "untruncated_run")
    assert (summary.read, summary.embedded, summary.rejected, summary.version) == (rows, rows, 0, 1)
    data = stored(db)
    assert data.schema.field("vector").type == pa.list_(pa.float32(), dim)
    np.testing.assert_allclose(np.linalg.norm(vectors_of(data), axis=1), 1.0, atol=1e-3)
    full = ["vector_full"] if truncated else []
    assert data.column_names == ["id", "text", "topic", "year", "vector", *full, "content_hash",
                                 "embedded_at"]
    assert data.schema.field("year").type == pa.int64()
    provenance = provenance_of(data.schema)
    assert (provenance.model, provenance.dim, provenance.native_dim) == (tiny_bert, dim, 32)
    assert provenance.truncate_dim == truncate_dim and provenance.normalized
    assert provenance.keep_full == truncated
    assert {"torch", "sentence-transformers", "embedfleet"} <= set(provenance.versions)
    assert summary.tokens > rows and summary.rows_per_s > 0


@pytest.mark.slow
def test_packaged_minilm_matches_plain_sentence_transformers(minilm_sample_db, minilm):
    # The session's sample table is this run: the sample corpus, the default model, batches of 64.
    assert [(r["status"], r["embedded"]) for r in list_runs(minilm_sample_db, "sample")] == [
        ("succeeded", 300)]
    data = stored(minilm_sample_db, "sample")
    ours = vectors_of(data)
    plain = minilm.encode(data.column("text").to_pylist(), normalize_embeddings=True, batch_size=64)
    cosines = np.sum(ours * plain, axis=1)
    assert cosines.min() >= 0.9999, cosines.min()
    assert provenance_of(data.schema).dim == 384


def test_bad_rows_go_to_rejects_with_reason_and_file(ray_cluster, db, tmp_path):
    good = corpus_records(20)
    bad_lines = ['{"id": "e1", "text": ""}', '{"id": "e2", "text": null}', '{"id": "e3", "text": 42}',
                 '{"id": "doc-0003", "text": "same id as a row of good.jsonl"}', "{not json"]
    write_jsonl(tmp_path / "in" / "a_good.jsonl", good)
    (tmp_path / "in" / "b_bad.jsonl").write_text("\n".join(bad_lines) + "\n")
    summary = embed(db, tmp_path / "in", model="fake:16")
    assert (summary.read, summary.embedded, summary.rejected) == (25, 20, 5)
    assert summary.balanced()
    rejects = dataset(db, "docs__rejects").to_table().to_pylist()
    by_id = {r["id"]: r for r in rejects}
    assert by_id["e1"]["reason"] == "empty text"
    assert by_id["e2"]["reason"] == "text is null"
    assert by_id["e3"]["reason"] == "text is an integer, not a string"
    assert by_id["doc-0003"]["reason"].startswith("duplicate id 'doc-0003' (first seen in")
    assert by_id[None]["reason"].startswith("invalid JSON") and by_id[None]["record"] == "{not json"
    assert all(r["source_file"].endswith("b_bad.jsonl") and r["run_id"] == summary.run_id for r in rejects)
    assert by_id["e3"]["source_row"] == 3
    assert sorted(stored(db).column("id").to_pylist()) == sorted(r["id"] for r in good)


def test_input_problems_stop_the_run_before_any_model_loads(ray_cluster, db, tmp_path):
    loader = "python:tests.support.fault_encoders:explodes_on_load"
    write_jsonl(tmp_path / "wrong.jsonl", [{"doc": "a", "body": "x"}])
    with pytest.raises(SourceError, match=r"wrong\.jsonl: no column 'id' \(found: doc, body\)"):
        embed(db, tmp_path / "wrong.jsonl", model=loader)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"broken\.parquet: cannot be read"):
        embed(db, tmp_path / "broken.parquet", model=loader)
    with pytest.raises(SourceError, match="not found"):
        embed(db, tmp_path / "missing.jsonl", model=loader)
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), tmp_path / "cols.parquet")
    with pytest.raises(SourceError, match=r"cols\.parquet: no column 'text'"):
        embed(db, tmp_path / "cols.parquet", model=loader)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(RunError, match="empty corpus"):
        embed(db, tmp_path / "empty.jsonl", model=loader)


def test_a_run_that_fails_midway_leaves_the_previous_version(ray_cluster, db, tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", corpus_records(30))
    embed(db, first, model="fake:16")
    before = stored(db)
    version = dataset(db).version
    more = write_jsonl(tmp_path / "more.jsonl", corpus_records(200, prefix="new"))
    with pytest.raises(Exception, match="simulated device failure on batch 3"):
        embed(db, more, model="python:tests.support.fault_encoders:breaks_on_third_call",
              mode="overwrite", batch_size=10, actors=1)
    after = dataset(db)
    assert after.version == version
    assert after.to_table().equals(before)
    runs = list_runs(db, "docs")
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    assert "batch 3" in runs[-1]["error"]
    # The failed pass's actors are stopped, and their CPUs free for the next run.
    assert wait_until(lambda: live_actors("(Embedder_") == [])
    assert wait_until(lambda: ray_cluster.available_resources().get("CPU") == 4.0)


def test_each_actor_loads_the_model_once(untruncated_run):
    summary, _ = untruncated_run  # 400 rows, two tiny BERT actors, batches of 10
    assert summary.embedded == 400 == sum(summary.actors.values())
    assert 1 <= len(summary.actors) <= 2, summary.actors
    assert all(actor.endswith(":cpu:load1") for actor in summary.actors)


def test_two_actors_each_load_the_model_once_and_share_the_work(ray_cluster, faults, tmp_path):
    # Each actor's first call waits until the other actor has called too, so the pool must
    # hand the idle actor a block while the first one is still busy: sharing, not a race.
    with pool_waits_for_all_actors():
        summary = embed(str(tmp_path / "db"), four_files(tmp_path), actors=2, batch_size=10,
                        model="python:tests.support.fault_encoders:waits_for_a_peer")
    assert summary.embedded == 400 == sum(summary.actors.values())
    assert len(summary.actors) == 2, summary.actors
    assert all(actor.endswith(":cpu:load1") for actor in summary.actors)
    assert all(rows > 0 for rows in summary.actors.values())


def test_modes_create_append_overwrite(ray_cluster, db, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", corpus_records(10))
    b = write_jsonl(tmp_path / "b.jsonl", corpus_records(5, prefix="b"))
    assert embed(db, a, model="fake:16").version == 1
    with pytest.raises(RunError, match="already exists.*append, overwrite or rebuild"):
        embed(db, a, model="fake:16", mode="create")
    assert embed(db, b, model="fake:16", mode="append").version == 2
    assert stored(db).num_rows == 15
    with pytest.raises(RunError, match="made differently.*model"):
        embed(db, b, model="fake:32", mode="append")
    assert embed(db, b, model="fake:32", mode="overwrite").version == 3
    assert stored(db).num_rows == 5
    assert dataset(db, version=2).count_rows() == 15


def test_keep_full_stores_the_untruncated_unit_vector_too(truncated_run):
    _, db = truncated_run
    data = stored(db)
    full = vectors_of(data, "vector_full")
    assert full.shape == (120, 32)
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-3)
    # The stored truncated vector is the normalized head of the full one.
    head = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(vectors_of(data), head, atol=1e-5)


def test_index_is_built_past_the_threshold_then_refreshed(ray_cluster, db, tmp_path):
    from storage.index import index_status

    first = write_jsonl(tmp_path / "a.jsonl", corpus_records(300))
    small = embed(db, first, model="fake:16", index_threshold=1000)
    assert small.index == "none" and index_status(db, "docs") == []
    second = write_jsonl(tmp_path / "b.jsonl", corpus_records(300, prefix="b"))
    built = embed(db, second, model="fake:16", mode="append", index_threshold=500)
    assert built.index == "built"
    assert index_status(db, "docs")[0]["indexed_rows"] == 600
    third = write_jsonl(tmp_path / "c.jsonl", corpus_records(10, prefix="c"))
    refreshed = embed(db, third, model="fake:16", mode="append", index_threshold=500)
    assert refreshed.index == "optimized"
    status = index_status(db, "docs")[0]
    assert (status["indexed_rows"], status["unindexed_rows"]) == (610, 0)


def test_a_pool_bigger_than_the_cluster_fails_at_once(ray_cluster, db, tmp_path):
    from jobs.embed.capacity import CapacityError

    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(5))
    started = time.monotonic()
    with pytest.raises(CapacityError, match=r"8 actor\(s\) x 1 CPU.*cluster has 4"):
        embed(db, source, model="fake:16", actors=8, cpus_per_actor=1)
    assert time.monotonic() - started < 10


def test_a_run_waits_for_cpus_another_actor_is_giving_back(ray_cluster, db, tmp_path):
    @ray_cluster.remote(num_cpus=3.5)
    class Holder:
        def ready(self):
            return True

    holder = Holder.remote()
    ray_cluster.get(holder.ready.remote())
    releaser = threading.Timer(3.0, ray_cluster.kill, args=(holder,))
    releaser.start()
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(20))
    summary = embed(db, source, model="fake:16", cpus_per_actor=1)
    releaser.join()
    assert summary.embedded == 20
