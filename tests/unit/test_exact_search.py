"""Exact in-memory ranking and reciprocal-rank fusion: pure numpy, checked against full sorts."""

from __future__ import annotations

import numpy as np
import pytest

from actors.query.exact import Snapshot, make_block, top_k
from actors.query.fusion import reciprocal_rank_fusion
from actors.query.similarity import cosine_top_k


def blocks_of(matrix: np.ndarray, sizes: list[int]) -> Snapshot:
    """A snapshot of the matrix cut into fragments of the given sizes, Lance-style row ids."""
    blocks, start = [], 0
    for fragment, size in enumerate(sizes):
        ids = (np.uint64(fragment) << np.uint64(32)) + np.arange(size, dtype=np.uint64)
        blocks.append(make_block((fragment,), ids, matrix[start:start + size]))
        start += size
    return Snapshot(1, blocks)


def test_top_k_breaks_ties_by_position_like_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(np.float32)  # many ties
    for k in (1, 7, 50, 200, 500):
        expected = np.lexsort((np.arange(200), -scores))[:k]
        assert top_k(scores, k).tolist() == expected.tolist()
    allowed = np.flatnonzero(scores != 4)
    expected = allowed[np.lexsort((allowed, -scores[allowed]))][:10]
    assert top_k(scores, 10, allowed).tolist() == expected.tolist()
    assert top_k(scores, 3, np.zeros(0, dtype=np.int64)).tolist() == []
    with pytest.raises(ValueError):
        top_k(scores, 0)


def test_snapshot_search_equals_numpy_brute_force_across_fragments():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((300, 24)).astype(np.float32) * rng.uniform(0.5, 2, (300, 1))
    snapshot = blocks_of(matrix, [100, 0, 150, 50])
    queries = rng.standard_normal((40, 24)).astype(np.float32)
    found = snapshot.search(queries, 12)
    assert len(found) == 40  # more than one product's worth of queries
    for query, (ids, scores) in zip(queries, found, strict=True):
        order, expected = cosine_top_k(matrix, query, 12)
        assert ids.tolist() == snapshot.row_ids[order].tolist()
        np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_filters_restrict_the_ranking_to_allowed_row_ids():
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((120, 8)).astype(np.float32)
    snapshot = blocks_of(matrix, [60, 60])
    wanted = snapshot.row_ids[::7]
    positions = snapshot.positions_of(np.concatenate([wanted[::-1], [np.uint64(1) << 40]]))
    assert positions.tolist() == list(range(0, 120, 7))  # sorted, unknown ids left out
    ids, _ = snapshot.search(matrix[14], 5, positions)[0]
    assert set(ids.tolist()) <= set(wanted.tolist()) and ids[0] == snapshot.row_ids[14]


def test_zero_vectors_and_empty_snapshots_score_nothing():
    snapshot = blocks_of(np.array([[0, 0], [1, 0], [0, 2]], dtype=np.float32), [3])
    ids, scores = snapshot.search(np.array([0, 1], dtype=np.float32), 3)[0]
    assert scores.tolist() == [1.0, 0.0, 0.0] and ids[0] == snapshot.row_ids[2]
    empty = Snapshot(1, [])
    assert empty.rows == 0 and empty.search(np.ones(2, np.float32), 5)[0][0].tolist() == []


def test_unsorted_row_ids_still_map_to_positions():
    ids = np.array([30, 10, 20], dtype=np.uint64)
    snapshot = Snapshot(1, [make_block((0,), ids, np.eye(3, dtype=np.float32))])
    assert snapshot.positions_of(np.array([20, 30], dtype=np.uint64)).tolist() == [0, 2]


def test_reciprocal_rank_fusion_matches_lancedbs_formula_and_tie_order():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]], 10)
    expected = {"a": 1 / 61 + 1 / 63, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert [key for key, _ in fused] == ["a", "c", "b", "d"]  # ties keep first-seen order
    assert all(score == pytest.approx(expected[key]) for key, score in fused)
    assert reciprocal_rank_fusion([["x"], []], 5) == [("x", pytest.approx(1 / 61))]
    assert len(reciprocal_rank_fusion([["a", "b"], ["c"]], 2)) == 2


def test_rescoring_candidates_equals_searching_among_them():
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    snapshot = blocks_of(matrix, [200, 100, 200])
    candidates = np.sort(rng.choice(500, 60, replace=False))
    for query in rng.standard_normal((5, 16)).astype(np.float32):
        ids, scores = snapshot.rescore(query, candidates, 10)
        expected_ids, expected = snapshot.search(query, 10, candidates)[0]
        assert ids.tolist() == expected_ids.tolist()
        np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert snapshot.rescore(matrix[0], np.zeros(0, dtype=np.int64), 5)[0].tolist() == []
