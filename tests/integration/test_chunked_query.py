"""Queries on a chunked table (one row per chunk) answer with documents scored by their best chunk.

The table is built here with LanceDB and pyarrow: random unit vectors (vector_full 32-d, `vector`
its first 16 dims renormalized, as --truncate-dim 16 --keep-full writes them), 48 documents of
1-6 chunks plus 2 of 12 chunks that hold every top chunk of one query direction ("hot").
Every answer is checked against numpy brute force: max over a document's chunks.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from actors.config import ModelConfig
from actors.query.actor import QueryActor, start_query_actor
from actors.query.defaults import CHUNK_OVERSAMPLE
from actors.query.fusion import reciprocal_rank_fusion
from jobs.service.app import Tables, build_app
from storage.index import build_index, build_text_index
from storage.provenance import Provenance, with_provenance
from tests.support.embedding import copy_db

DIM, FULL = 16, 32
HEAVY = ("doc-005", "doc-017")  # 12 chunks each, all near HOT
TOPICS = ["astronomy", "cooking", "music", "football"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def chunked_rows(seed: int = 0):
    """The chunk rows (shuffled), the documents' texts, and the 'hot' full-size direction."""
    rng = np.random.default_rng(seed)
    hot = unit(rng.standard_normal(FULL))
    rows, texts = [], {}
    for d in range(50):
        doc_id = f"doc-{d:03d}"
        chunks = 12 if doc_id in HEAVY else int(rng.integers(1, 7))
        topic = TOPICS[d % 4]
        pieces = [f"Document {d} passage {j} on {topic} and {TOPICS[(d + j) % 4]}." for j in range(chunks)]
        texts[doc_id] = " ".join(pieces)
        start = 0
        for j, piece in enumerate(pieces):
            near = doc_id in HEAVY
            full = unit(hot + 0.05 * rng.standard_normal(FULL)) if near else unit(rng.standard_normal(FULL))
            rows.append({"id": f"{doc_id}#{j}", "doc_id": doc_id, "chunk": j, "start": start,
                         "end": start + len(piece), "text": piece, "year": 2000 + d % 10,
                         "topic": topic, "vector": unit(full[:DIM]).tolist(),
                         "vector_full": full.tolist(), "content_hash": f"h{d}", "embedded_at": None})
            start += len(piece) + 1
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], texts, hot


def chunked_schema() -> pa.Schema:
    schema = pa.schema([
        ("id", pa.string()), ("doc_id", pa.string()), ("chunk", pa.int32()), ("start", pa.int64()),
        ("end", pa.int64()), ("text", pa.string()), ("year", pa.int64()), ("topic", pa.string()),
        ("vector", pa.list_(pa.float32(), DIM)), ("vector_full", pa.list_(pa.float32(), FULL)),
        ("content_hash", pa.string()), ("embedded_at", pa.timestamp("us", tz="UTC"))])
    built = Provenance.build(ModelConfig(model=f"fake:{FULL}", truncate_dim=DIM, keep_full=True),
                             DIM, FULL)
    # The chunk settings as the job records them (set here too where ModelConfig predates them).
    provenance = dataclasses.replace(built, settings={**built.settings, "chunk": True,
                                                      "chunk_tokens": 32, "chunk_overlap": 8})
    return with_provenance(schema, provenance)


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """The chunked table 'chunks' (two fragments), its rows, texts and hot direction."""
    import lancedb

    db = str(tmp_path_factory.mktemp("chunked") / "db")
    rows, texts, hot = chunked_rows()
    schema = chunked_schema()
    half = len(rows) // 2
    table = lancedb.connect(db).create_table("chunks", data=pa.Table.from_pylist(rows[:half], schema=schema))
    table.add(pa.Table.from_pylist(rows[half:], schema=schema))
    return db, rows, texts, hot


def matrix(rows, column="vector") -> np.ndarray:
    return np.asarray([r[column] for r in rows], dtype=np.float64)


def holds(row, filters) -> bool:
    ops = {"=": lambda a, b: a == b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
           "in": lambda a, b: a in b, "!=": lambda a, b: a != b}
    return all(ops[op](row[column], value) for column, op, value in filters or [])


def documents_brute_force(rows, query, k, filters=None, column="vector", exclude=None):
    """(doc_id, score, best row) of the k documents with the best chunk cosine, numpy only."""
    scores = matrix(rows, column) @ (query / np.linalg.norm(query))
    best: dict[str, tuple[float, dict]] = {}
    for row, score in zip(rows, scores, strict=True):
        doc = row["doc_id"]
        if holds(row, filters) and doc != exclude and score > best.get(doc, (-2.0, None))[0]:
            best[doc] = (float(score), row)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    return [(doc, score, row) for doc, (score, row) in ranked]


def chunks_brute_force(rows, query, k, filters=None):
    scores = matrix(rows) @ (query / np.linalg.norm(query))
    kept = [(float(s), r["id"]) for r, s in zip(rows, scores, strict=True) if holds(r, filters)]
    return sorted(kept, key=lambda item: -item[0])[:k]


def assert_documents(hits, expected, texts):
    """Same documents, order and scores; each hit carries its best chunk's passage and offsets."""
    assert [h.id for h in hits] == [doc for doc, _, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s, _ in expected], atol=1e-5)
    for hit, (_, _, row) in zip(hits, expected, strict=True):
        assert (hit.text, hit.columns["chunk"], hit.columns["start"], hit.columns["end"]) == \
            (row["text"], row["chunk"], row["start"], row["end"])
        assert texts[hit.id][hit.columns["start"]:hit.columns["end"]] == hit.text
        assert "doc_id" not in hit.columns and hit.columns["year"] == row["year"]


FILTERS = [None, [("year", ">=", 2005)], [("topic", "in", ["music", "cooking"]), ("year", "<", 2008)]]


@pytest.mark.parametrize("filters", FILTERS)
def test_search_equals_brute_force_max_over_chunks(chunked, filters):
    db, rows, texts, hot = chunked
    actor = QueryActor(db, "chunks")
    assert actor.chunked
    docs = len({r["doc_id"] for r in rows if holds(r, filters)})
    rng = np.random.default_rng(1)
    for query in [unit(hot[:DIM]), *unit(rng.standard_normal((3, DIM)))]:
        for k in (1, 5, 10, docs, 200):
            hits = actor.search(query.tolist(), k, filters)
            assert len(hits) == min(k, docs) == len({h.id for h in hits})
            assert_documents(hits, documents_brute_force(rows, query, k, filters), texts)
    assert actor.memory_bytes > 0  # answered by the in-memory exact path


def test_k_documents_come_back_when_two_documents_hold_the_top_chunks(chunked):
    db, rows, texts, hot = chunked
    actor = QueryActor(db, "chunks")
    query = unit(hot[:DIM])
    # The first round asks for k * CHUNK_OVERSAMPLE chunks: all of them from the 2 heavy documents.
    first = actor.search(query.tolist(), 5 * CHUNK_OVERSAMPLE, group_by_document=False)
    assert 5 * CHUNK_OVERSAMPLE <= 24 and {h.columns["doc_id"] for h in first} == set(HEAVY)
    hits = actor.search(query.tolist(), 5)
    assert len({h.id for h in hits}) == 5 and set(HEAVY) == {h.id for h in hits[:2]}
    assert_documents(hits, documents_brute_force(rows, query, 5), texts)
    batch = actor.search_batch(["astronomy passage", "music and football"], 5)
    assert [len({h.id for h in hs}) for hs in batch] == [5, 5]
    target = actor.embed_query("astronomy") - actor.embed_query("music") + actor.embed_query("football")
    arithmetic = actor.arithmetic("astronomy - music + football", 6)
    assert_documents(arithmetic, documents_brute_force(rows, target, 6), texts)


@pytest.mark.parametrize("filters", [None, [("year", ">=", 2005)]])
def test_passages_equal_chunk_level_brute_force(chunked, filters):
    db, rows, _, hot = chunked
    actor = QueryActor(db, "chunks")
    for query in (unit(hot[:DIM]), unit(np.random.default_rng(2).standard_normal(DIM))):
        for k in (1, 10, 60):
            hits = actor.search(query.tolist(), k, filters, group_by_document=False)
            expected = chunks_brute_force(rows, query, k, filters)
            assert [h.id for h in hits] == [i for _, i in expected]
            np.testing.assert_allclose([h.score for h in hits], [s for s, _ in expected], atol=1e-5)
            assert all(h.id == f"{h.columns['doc_id']}#{h.columns['chunk']}" for h in hits)


def test_lancedb_flat_scan_path_gives_the_same_documents(chunked):
    db, rows, texts, hot = chunked
    actor = QueryActor(db, "chunks")
    actor._memory.budget = 1000  # over the budget: LanceDB's own flat search answers
    for filters in FILTERS:
        for k in (5, 20):
            hits = actor.search(unit(hot[:DIM]).tolist(), k, filters)
            assert_documents(hits, documents_brute_force(rows, unit(hot[:DIM]), k, filters), texts)
    assert actor.memory_bytes == 0


def test_similar_uses_the_documents_mean_vector_and_leaves_it_out(chunked):
    db, rows, texts, _ = chunked
    actor = QueryActor(db, "chunks")
    for doc in ("doc-005", "doc-010", "doc-033"):
        mean = unit(matrix([r for r in rows if r["doc_id"] == doc]).mean(axis=0))
        hits = actor.similar(doc, 6)
        assert doc not in {h.id for h in hits}
        assert_documents(hits, documents_brute_force(rows, mean, 6, exclude=doc), texts)
        passages = actor.similar(doc, 30, group_by_document=False)
        assert len(passages) == 30 and doc not in {h.columns["doc_id"] for h in passages}
    filtered = actor.similar("doc-005", 50, [("year", "=", 2003)])
    assert {h.columns["year"] for h in filtered} == {2003} and len(filtered) == 5
    with pytest.raises(Exception, match="no document with id 'doc-005#1'"):
        actor.similar("doc-005#1", 3)


def test_rerank_scores_documents_by_their_best_full_size_chunk(chunked):
    db, rows, texts, _ = chunked
    actor = QueryActor(db, "chunks")
    query = "astronomy and music"
    full = actor._encoder.embed_queries([query], full=True)[0]
    # With every chunk a candidate, the two-stage search is exact full-size search.
    hits = actor.search(query, 8, rerank=True, refine=100)
    assert_documents(hits, documents_brute_force(rows, full, 8, column="vector_full"), texts)
    few = actor.search(query, 8, rerank=True, refine=1)  # few candidates: refilled to 8 documents
    assert len({h.id for h in few}) == 8
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_allclose([h.score for h in few], [
        np.dot(by_id[f"{h.id}#{h.columns['chunk']}"]["vector_full"], full) for h in few], atol=1e-5)


def test_bm25_and_hybrid_rank_documents(chunked, tmp_path):
    db, rows, _, _ = chunked
    db = copy_db(db, tmp_path)
    build_text_index(db, "chunks")
    actor = QueryActor(db, "chunks")
    query = "astronomy passage football"
    best = {}
    for hit in actor.bm25_search(query, 1000, group_by_document=False):
        best[hit.columns["doc_id"]] = max(best.get(hit.columns["doc_id"], -1.0), hit.score)
    documents = actor.bm25_search(query, 7, [])
    # Many chunks score alike (same words): compare scores, and each document's own best.
    assert len({h.id for h in documents}) == 7
    np.testing.assert_allclose([h.score for h in documents], sorted(best.values(), reverse=True)[:7],
                               rtol=1e-6)
    np.testing.assert_allclose([h.score for h in documents], [best[h.id] for h in documents], rtol=1e-6)
    hybrid = actor.search(query, 7, hybrid=True)
    dense = [h.id for h in actor.search(query, 7)]
    assert [(h.id, pytest.approx(h.score)) for h in hybrid] == \
        reciprocal_rank_fusion([dense, [h.id for h in documents]], 7)
    assert len({h.id for h in hybrid}) == 7


def test_ann_index_paths_give_k_distinct_documents(chunked, tmp_path):
    db, rows, _, hot = chunked
    db = copy_db(db, tmp_path)
    build_index(db, "chunks", "ivf_pq", num_partitions=4, num_sub_vectors=4)
    by_id = {r["id"]: r for r in rows}
    in_memory, from_lancedb = QueryActor(db, "chunks"), QueryActor(db, "chunks")
    from_lancedb._memory.budget = 1000  # LanceDB's ANN search with its refine factor
    assert in_memory._indexed and from_lancedb._indexed
    rng = np.random.default_rng(3)
    for actor in (in_memory, from_lancedb):
        for query in [unit(hot[:DIM]), *unit(rng.standard_normal((2, DIM)))]:
            for k, filters in ((5, None), (10, None), (12, [("year", ">=", 2005)]),
                               (10, [("year", "=", 2003)])):
                hits = actor.search(query.tolist(), k, filters, nprobes=1, refine=1)
                docs = len({r["doc_id"] for r in rows if holds(r, filters)})
                assert len({h.id for h in hits}) == len(hits) == min(k, docs)
                assert all(holds(by_id[f"{h.id}#{h.columns['chunk']}"], filters) for h in hits)
                # Candidates are re-scored exactly: each score is its passage's true cosine.
                np.testing.assert_allclose([h.score for h in hits], [
                    np.dot(by_id[f"{h.id}#{h.columns['chunk']}"]["vector"], query) for h in hits],
                    atol=1e-5)
    assert in_memory.memory_bytes > 0 and from_lancedb.memory_bytes == 0


def test_a_ray_actor_and_the_cli_answer_with_documents(chunked, ray_cluster, capsys):
    from jobs.cli.main import main

    db, rows, texts, hot = chunked
    remote = start_query_actor(db, "chunks")
    query = unit(hot[:DIM]).tolist()
    hits = ray_cluster.get(remote.search.remote(query, 5))
    assert [h.id for h in hits] == [h.id for h in QueryActor(db, "chunks").search(query, 5)]
    ray_cluster.kill(remote)
    capsys.readouterr()
    assert main(["query", "chunks", "music passage", "-k", "6", "--json", "--db", db]) == 0
    documents = json.loads(capsys.readouterr().out)
    assert len({h["id"] for h in documents}) == 6 and all("#" not in h["id"] for h in documents)
    assert all(texts[h["id"]][h["start"]:h["end"]] == h["text"] for h in documents)
    assert main(["query", "chunks", "music passage", "-k", "6", "--passages", "--json", "--db", db]) == 0
    passages = json.loads(capsys.readouterr().out)
    assert all(h["id"] == f"{h['doc_id']}#{h['chunk']}" for h in passages)
    assert main(["similar", "chunks", "doc-005", "-k", "3", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 3 and lines[0].split()[2] == "doc-017"
    assert re.search(r"\[\d+:\d+\] Document 17 passage", lines[0])  # where the passage lies


def test_the_map_has_one_point_per_document(chunked, tmp_path):
    db, rows, texts, _ = chunked
    db = copy_db(db, tmp_path)
    made = QueryActor(db, "chunks").project(n=40, seed=0, color_by="topic")
    first = {r["doc_id"]: r for r in rows if r["chunk"] == 0}
    assert len(made.ids) == len(set(made.ids)) == 40 and set(made.ids) <= set(texts)
    assert made.rows == 50 and made.to_dict()["points_are"] == "documents"
    assert made.texts == [first[i]["text"] for i in made.ids]
    assert made.colors["values"] == [first[i]["topic"] for i in made.ids]
    again = QueryActor(db, "chunks").project(n=40, seed=0, color_by="topic")
    assert again.cached and again.ids == made.ids and again.rows == 50


def test_http_search_returns_documents_with_passages_and_offsets(chunked):
    db, rows, texts, hot = chunked
    client = TestClient(build_app(Tables(db, max_open=1)), raise_server_exceptions=False)
    assert client.get("/tables/chunks").json()["chunked"] is True
    query = unit(hot[:DIM])
    got = client.post("/tables/chunks/search", json={"query": query.tolist(), "k": 5}).json()["hits"]
    expected = documents_brute_force(rows, query, 5)
    assert [h["id"] for h in got] == [doc for doc, _, _ in expected]
    for hit, (_, score, row) in zip(got, expected, strict=True):
        assert abs(hit["score"] - score) < 1e-5 and hit["chunk"] == row["chunk"]
        assert texts[hit["id"]][hit["start"]:hit["end"]] == hit["text"] == row["text"]
    passages = client.post("/tables/chunks/search", json={"query": query.tolist(), "k": 5,
                                                          "group_by_document": False}).json()["hits"]
    assert {h["doc_id"] for h in passages} == set(HEAVY)
    by_text = client.get("/tables/chunks/search", params={"q": "music", "k": 4}).json()["hits"]
    assert len({h["id"] for h in by_text}) == 4
    similar = client.get("/tables/chunks/similar/doc-005", params={"k": 3}).json()["hits"]
    assert len(similar) == 3 and "doc-005" not in {h["id"] for h in similar}
    assert client.get("/tables/chunks/similar/doc-005%231").status_code == 404
