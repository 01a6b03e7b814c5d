"""Documents from chunk hits (pure): best chunk per document, the refill loop, map points per document."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from actors.projection.documents import document_rows, mean_vectors, sampled_chunks
from actors.query.documents import (
    Grouped,
    as_document,
    best_chunks,
    document_vector,
    first_limit,
    next_limit,
    refill,
)
from actors.query.results import Hit
from storage.schema import is_chunked


def test_is_chunked_needs_both_doc_id_and_chunk():
    assert is_chunked(pa.schema([("id", pa.string()), ("doc_id", pa.string()), ("chunk", pa.int32())]))
    assert not is_chunked(pa.schema([("id", pa.string()), ("doc_id", pa.string())]))
    assert not is_chunked(pa.schema([("id", pa.string()), ("chunk", pa.int32())]))


def test_best_chunks_keeps_each_documents_best_in_score_order():
    docs = ["a", "a", "b", "c", "b", "d"]
    scores = [0.9, 0.8, 0.7, 0.6, 0.95, 0.1]  # b's best comes late: candidates need not be sorted
    grouped = best_chunks(docs, scores, 3, asked=6)
    assert grouped.positions.tolist() == [4, 0, 3] and grouped.complete
    short = best_chunks(docs, scores, 5, asked=6)
    assert short.positions.tolist() == [4, 0, 3, 5] and not short.complete  # 6 asked, 6 came: maybe more
    assert best_chunks(docs, scores, 5, asked=10).complete  # fewer came than asked: that is all
    empty = best_chunks([], [], 3, asked=4)
    assert isinstance(empty, Grouped) and len(empty.positions) == 0 and empty.complete


def test_equal_scores_keep_the_search_order():
    grouped = best_chunks(["x", "y", "x", "z"], [0.5, 0.5, 0.5, 0.5], 3, asked=4)
    assert grouped.positions.tolist() == [0, 1, 3]


def test_limits_grow_from_what_the_last_round_yielded_and_stop_at_the_cap():
    assert first_limit(10, 4, 1000) == 40 and first_limit(10, 4, 25) == 25 and first_limit(3, 4, 0) == 1
    assert next_limit(20, 5, 2, 10_000) == 75  # 10 chunks a document so far: 50 for 5, with margin
    assert next_limit(20, 5, 4, 10_000) == 40  # at least doubled
    assert next_limit(20, 5, 0, 10_000) == 80  # nothing yet: a bigger step
    assert next_limit(20, 5, 2, 50) == 50


def ranked_fetch(doc_ids: np.ndarray, scores: np.ndarray, calls: list):
    """A real ranking over in-memory chunks: each query's top `limit` by score (one query column each)."""
    def fetch(indexes, limit):
        calls.append((tuple(indexes), limit))
        out = []
        for i in indexes:
            order = np.argsort(-scores[:, i], kind="stable")[:limit]
            out.append((doc_ids[order].tolist(), scores[order, i], order))
        return out
    return fetch


def brute_force(doc_ids: np.ndarray, column: np.ndarray, k: int) -> list[str]:
    best = {}
    for doc, score in zip(doc_ids.tolist(), column.tolist(), strict=True):
        best[doc] = max(best.get(doc, -np.inf), score)
    return sorted(best, key=lambda d: -best[d])[:k]


def test_refill_finds_k_documents_when_few_documents_hold_the_top_chunks():
    rng = np.random.default_rng(0)
    # 2 documents of 15 chunks each hold every top chunk of query 0; 40 one-chunk documents follow.
    doc_ids = np.array([f"big{i // 15}" for i in range(30)] + [f"d{i}" for i in range(40)])
    scores = np.column_stack([np.r_[np.linspace(0.99, 0.9, 30), rng.uniform(0, 0.8, 40)],
                              rng.uniform(0, 1, 70)])
    calls: list = []
    answers = refill(ranked_fetch(doc_ids, scores, calls), 2, k=5, first=20, cap=70)
    for query, (order, grouped) in enumerate(answers):
        got = doc_ids[order[grouped.positions]].tolist()
        assert got == brute_force(doc_ids, scores[:, query], 5) and grouped.complete
    # Query 1 was done in the first round; only query 0 was asked again, for more chunks.
    assert calls[0] == ((0, 1), 20) and [c[0] for c in calls[1:]] == [(0,)] and calls[1][1] > 20


def test_refill_stops_when_the_table_has_fewer_documents_than_k():
    doc_ids = np.array(["a", "a", "b", "c", "c", "c"])
    scores = np.array([[0.1], [0.9], [0.5], [0.3], [0.2], [0.8]])
    calls: list = []
    (order, grouped), = refill(ranked_fetch(doc_ids, scores, calls), 1, k=10, first=4, cap=6)
    assert doc_ids[order[grouped.positions]].tolist() == ["a", "c", "b"] and grouped.complete
    assert [limit for _, limit in calls] == [4, 6]  # then the cap: the whole table was seen


def test_refill_takes_one_round_when_the_search_says_there_is_no_more():
    calls = []

    def fetch(indexes, limit):
        calls.append(limit)
        return [(["a", "b"], np.array([0.9, 0.1]), None)]  # 2 rows for 8 asked: a narrow filter

    (_, grouped), = refill(fetch, 1, k=5, first=8, cap=1000)
    assert grouped.positions.tolist() == [0, 1] and calls == [8]


def test_refill_of_an_empty_table_asks_once():
    calls = []
    (_, grouped), = refill(lambda i, limit: calls.append(limit) or [([], np.zeros(0), None)], 1, 3, 12, 0)
    assert calls == [1] and len(grouped.positions) == 0


def test_a_chunk_hit_becomes_its_documents_hit():
    hit = Hit("d1#2", 0.5, "the passage", {"doc_id": "d1", "chunk": 2, "start": 10, "end": 21, "year": 3})
    assert as_document(hit) == Hit("d1", 0.5, "the passage", {"chunk": 2, "start": 10, "end": 21, "year": 3})


def test_document_vector_is_the_unit_mean_of_its_chunks():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(document_vector(vectors), [2 ** -0.5, 2 ** -0.5], atol=1e-7)
    assert document_vector(vectors[:1]).tolist() == [1.0, 0.0]


def test_map_points_group_chunks_by_document():
    ids, first, inverse = document_rows(["b", "a", "b", "a", "c"], [1, 1, 0, 0, 0])
    assert ids.tolist() == ["a", "b", "c"] and first.tolist() == [3, 2, 4]
    assert inverse.tolist() == [1, 0, 1, 0, 2]
    rows, groups = sampled_chunks(inverse, np.array([0, 2]))
    assert rows.tolist() == [1, 3, 4] and groups.tolist() == [0, 0, 1]
    vectors = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(mean_vectors(vectors, np.array([0, 0, 1]), 2),
                               [[1.0, 1.0 / 3.0] / np.linalg.norm([1.0, 1.0 / 3.0]), [0.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_refill_equals_brute_force_on_random_chunkings(k):
    rng = np.random.default_rng(k)
    doc_ids = np.array([f"d{i}" for i in rng.integers(0, 12, 80)])
    scores = rng.standard_normal((80, 4))
    answers = refill(ranked_fetch(doc_ids, scores, []), 4, k=k, first=k, cap=80)
    for query, (order, grouped) in enumerate(answers):
        assert doc_ids[order[grouped.positions]].tolist() == brute_force(doc_ids, scores[:, query], k)
